"""Every spec of specs/regression/ through Python, in every dtype: the default (x86) backend against
the float64 reference backend on small random problems with odd lengths and every run-time tensor
the spec needs."""

import json

import numpy as np
import pytest

import attngen
from conftest import REGRESSION_SPECS, TOLERANCE, randn, rel_err

B, SQ, SKV = 2, 13, 29


def run_time_tensors(spec, rng):
    """The run-time tensors a spec needs, random but valid (docs/spec.md, "Tensors")."""
    hq = spec["num_heads"]
    t = {}
    for m in spec.get("mask") or []:
        kind = m["type"]
        if kind == "padding":
            t["q_lens"] = np.array([SQ, 7], np.int32)
            t["kv_lens"] = np.array([SKV - 3, 0], np.int32)  # an entry with no keys: O = 0
        elif kind == "document":
            t["q_doc"] = np.sort(rng.integers(0, 3, (B, SQ))).astype(np.int32)
            t["kv_doc"] = np.sort(rng.integers(0, 3, (B, SKV))).astype(np.int32)
        elif kind == "custom" and m.get("format") == "bool":
            t["mask"] = rng.random((B, 1, SQ, SKV)) < 0.7  # broadcast over heads
        elif kind == "custom":
            additive = rng.standard_normal((B, hq, SQ, SKV)).astype(np.float32)
            additive[rng.random(additive.shape) < 0.2] = -np.inf
            t["mask"] = additive
        elif kind == "prefix_lm" and m.get("prefix") is None:
            t["prefix_lens"] = np.array([4, SKV + 2], np.int32)
    for s in spec.get("score_mod") or []:
        if s["type"] == "alibi":
            t["alibi_slopes"] = (2.0 ** (-8.0 * np.arange(1, hq + 1) / hq)).astype(np.float32)
    return t


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("path", REGRESSION_SPECS, ids=lambda p: p.stem)
def test_regression_spec_matches_reference(path, dtype, rng):
    spec = json.loads(path.read_text())
    spec["dtype"] = dtype
    kernel = attngen.compile(spec)
    reference = attngen.compile(spec, backend="reference")
    assert reference.backend == "reference"
    h, hkv, d = spec["num_heads"], spec.get("num_kv_heads", spec["num_heads"]), spec["head_dim"]
    q, k, v = randn(rng, (B, h, SQ, d), dtype), randn(rng, (B, hkv, SKV, d), dtype), randn(rng, (B, hkv, SKV, d), dtype)
    tensors = run_time_tensors(spec, rng)
    got, want = kernel(q, k, v, **tensors), reference(q, k, v, **tensors)
    if spec.get("return_lse"):
        (got, got_lse), (want, want_lse) = got, want
        assert got_lse.dtype == np.float32 and got_lse.shape == (B, h, SQ)
        assert rel_err(got_lse, want_lse) <= TOLERANCE["f32"] * 10
    assert got.dtype == q.dtype and got.shape == (B, h, SQ, d)
    assert not np.isnan(np.asarray(got, np.float32)).any()
    assert rel_err(got, want) <= TOLERANCE[dtype]
