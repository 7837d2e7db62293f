"""attngen.merge_states: split-KV states merge into the full kernel's result; empty states; NaN; errors."""

import ml_dtypes
import numpy as np
import pytest

import attngen
from conftest import TOLERANCE, randn, rel_err

SPEC = {"dtype": "f32", "head_dim": 32, "num_heads": 4, "num_kv_heads": 2, "return_lse": True}


@pytest.mark.parametrize("backend", ["auto", "reference"])
@pytest.mark.parametrize("cuts", [(16,), (1, 30), (5, 6, 20)])
def test_split_kv_merges_into_the_full_kernel(backend, cuts, rng):
    kernel = attngen.compile(SPEC, backend=backend)
    q, k, v = randn(rng, (2, 4, 5, 32)), randn(rng, (2, 2, 37, 32)), randn(rng, (2, 2, 37, 32))
    full_o, full_lse = kernel(q, k, v)
    bounds = (0, *cuts, 37)
    parts = [kernel(q, k[:, :, lo:hi], v[:, :, lo:hi]) for lo, hi in zip(bounds, bounds[1:])]
    o, lse = attngen.merge_states([p[0] for p in parts], [p[1] for p in parts])
    assert rel_err(o, full_o) <= TOLERANCE["f32"] and rel_err(lse, full_lse) <= TOLERANCE["f32"]
    # In place, into the first part.
    o0, l0 = parts[0]
    attngen.merge_states([p[0] for p in parts], [p[1] for p in parts], out=o0, lse_out=l0)
    np.testing.assert_array_equal(o0, o)
    np.testing.assert_array_equal(l0, lse)


def test_bshd_parts(rng):
    kernel = attngen.compile(dict(SPEC, layout="bshd"))
    q, k, v = randn(rng, (1, 5, 4, 32)), randn(rng, (1, 40, 2, 32)), randn(rng, (1, 40, 2, 32))
    full_o, full_lse = kernel(q, k, v)
    a, b = kernel(q, k[:, :17], v[:, :17]), kernel(q, k[:, 17:], v[:, 17:])
    o, lse = attngen.merge_states([a[0], b[0]], [a[1], b[1]], layout="bshd")
    assert o.shape == (1, 5, 4, 32)
    assert rel_err(o, full_o) <= TOLERANCE["f32"] and rel_err(lse, full_lse) <= TOLERANCE["f32"]


def test_empty_states_give_zero_and_minus_infinity():
    o = np.full((2, 3, 8), np.nan, np.float32)  # an empty part's O is never read
    lse = np.full((2, 3), -np.inf, np.float32)
    out, out_lse = attngen.merge_states([o, o.copy()], [lse, lse.copy()])
    assert (out == 0).all() and (out_lse == -np.inf).all()


def test_an_empty_part_leaves_the_other(rng):
    o, lse = randn(rng, (3, 8)), randn(rng, (3,))
    out, out_lse = attngen.merge_states([np.zeros_like(o), o], [np.full(3, -np.inf, np.float32), lse])
    np.testing.assert_array_equal(out, o)
    np.testing.assert_array_equal(out_lse, lse)


def test_nan_stays_nan(rng):
    o, lse = [randn(rng, (4, 8)) for _ in range(2)], [randn(rng, (4,)) for _ in range(2)]
    lse[0][1] = np.nan
    o[1][2, 3] = np.nan
    out, out_lse = attngen.merge_states(o, lse)
    assert np.isnan(out[1]).all() and np.isnan(out_lse[1])
    assert np.isnan(out[2, 3]) and not np.isnan(out[2, :3]).any() and not np.isnan(out_lse[2])
    assert not np.isnan(out[[0, 3]]).any()


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_parts_and_output(dtype, rng):
    o = [randn(rng, (2, 3, 16)) for _ in range(3)]
    lse = [randn(rng, (2, 3)) for _ in range(3)]
    want, want_lse = attngen.merge_states(o, lse)
    half = [x.astype(ml_dtypes.bfloat16 if dtype == "bf16" else np.float16) for x in o]
    got, got_lse = attngen.merge_states(half, lse)
    assert got.dtype == half[0].dtype
    assert rel_err(got, want) <= TOLERANCE[dtype]
    # f32 parts into a half output.
    out = np.empty_like(half[0])
    attngen.merge_states(o, lse, out=out)
    assert rel_err(out, want) <= TOLERANCE[dtype]


def test_bad_arguments_name_the_tensor(rng):
    o, lse = [randn(rng, (2, 3, 4)) for _ in range(2)], [randn(rng, (2, 3)) for _ in range(2)]
    with pytest.raises(attngen.InvalidArgumentError, match=r"^o_parts\[1\]: expected shape \[2, 3, 4\] \(that of o\), got \[2, 4, 3\]"):
        attngen.merge_states([o[0], randn(rng, (2, 4, 3))], lse)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^lse_parts\[0\]: expected dtype f32, got f16"):
        attngen.merge_states(o, [lse[0].astype(np.float16), lse[1]])
    with pytest.raises(attngen.InvalidArgumentError, match=r"^lse_parts: expected 2 arrays"):
        attngen.merge_states(o, lse[:1])
    with pytest.raises(attngen.InvalidArgumentError, match=r"^o_parts: at least one"):
        attngen.merge_states([], [])
    with pytest.raises(attngen.InvalidArgumentError, match=r"^lse_out: expected shape \[2, 3\]"):
        attngen.merge_states(o, lse, lse_out=np.empty((3, 2), np.float32))
