"""The Python API: compile, kernel properties and errors, strided and non-contiguous inputs, DLPack,
out=, threads and the GIL, the one-call form."""

import json
import threading

import ml_dtypes
import numpy as np
import pytest

import attngen
from conftest import TOLERANCE, randn, rel_err

CAUSAL = {"dtype": "f32", "head_dim": 32, "num_heads": 4, "num_kv_heads": 2,
          "mask": [{"type": "causal", "align": "bottom_right"}], "return_lse": True}


def reference_numpy(q, k, v, causal_bottom_right=False):
    """Attention in float64 numpy, bhsd, GQA by repeating K/V heads."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    rep = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
    s = q @ np.swapaxes(k, 2, 3) / np.sqrt(q.shape[3])
    if causal_bottom_right:
        sq, skv = q.shape[2], k.shape[2]
        i, j = np.arange(sq)[:, None], np.arange(skv)[None, :]
        s = np.where(j <= i + skv - sq, s, -np.inf)
    m = s.max(axis=3, keepdims=True)
    p = np.exp(s - m)
    lse = (m + np.log(p.sum(axis=3, keepdims=True)))[..., 0]
    return p @ v / p.sum(axis=3, keepdims=True), lse


def problem(rng, dtype="f32", b=2, sq=7, skv=19):
    return randn(rng, (b, 4, sq, 32), dtype), randn(rng, (b, 2, skv, 32), dtype), randn(rng, (b, 2, skv, 32), dtype)


def test_compile_properties():
    kernel = attngen.compile(CAUSAL)
    assert len(kernel.key) == 16 and kernel.backend in ("x86", "reference") and kernel.isa
    canonical = json.loads(kernel.spec)
    assert canonical["scale"] == pytest.approx(32 ** -0.5) and canonical["layout"] == "bhsd"
    assert (kernel.dtype, kernel.num_heads, kernel.num_kv_heads, kernel.head_dim, kernel.head_dim_v) == ("f32", 4, 2, 32, 32)
    assert kernel.writes_lse and kernel.layout == "bhsd"
    assert attngen.compile(json.dumps(CAUSAL)).key == kernel.key  # JSON text too
    assert attngen.compile(CAUSAL, backend="reference").backend == "reference"
    assert kernel.key in repr(kernel) and attngen.__version__


def test_compile_errors_carry_the_library_message():
    with pytest.raises(attngen.InvalidSpecError, match=r"head_dim: .*got 0") as e:
        attngen.compile({"dtype": "f32", "head_dim": 0, "num_heads": 4})
    assert isinstance(e.value, attngen.Error) and isinstance(e.value, ValueError)
    with pytest.raises(attngen.InvalidSpecError):
        attngen.compile("{not json")
    with pytest.raises(attngen.BackendError, match="nosuch"):
        attngen.compile(CAUSAL, backend="nosuch")
    with pytest.raises(attngen.InvalidArgumentError, match="threads"):
        attngen.compile(CAUSAL, threads=-1)


def test_run_matches_numpy_and_lse(rng):
    q, k, v = problem(rng)
    o, lse = attngen.compile(CAUSAL)(q, k, v)
    want_o, want_lse = reference_numpy(q, k, v, causal_bottom_right=True)
    assert o.shape == (2, 4, 7, 32) and o.dtype == np.float32 and lse.shape == (2, 4, 7)
    assert rel_err(o, want_o) <= TOLERANCE["f32"]
    assert rel_err(lse, want_lse) <= TOLERANCE["f32"]


def test_fused_qkv_slices_and_transposed_views(rng):
    """Q, K, V as slices of one fused bshd QKV array and a transposed (bhsd view of bshd) array: no copies."""
    spec = {"dtype": "f32", "head_dim": 32, "num_heads": 4, "num_kv_heads": 2}
    b, s = 2, 11
    qkv = randn(rng, (b, s, 4 + 2 + 2, 32))  # [B, S, Hq + 2 Hkv, D]
    q, k, v = (np.swapaxes(qkv[:, :, lo:hi], 1, 2) for lo, hi in ((0, 4), (4, 6), (6, 8)))
    assert not q.flags.c_contiguous and np.shares_memory(q, qkv)
    kernel = attngen.compile(spec)
    o = kernel(q, k, v)
    want = kernel(*(np.ascontiguousarray(x) for x in (q, k, v)))
    np.testing.assert_array_equal(o, want)
    assert rel_err(o, reference_numpy(q, k, v)[0]) <= TOLERANCE["f32"]
    # A transposed output view and the bshd layout over the same buffers.
    out = np.empty((b, s, 4, 32), np.float32)
    kernel(q, k, v, out=np.swapaxes(out, 1, 2))
    np.testing.assert_array_equal(np.swapaxes(out, 1, 2), want)
    bshd = attngen.compile(dict(spec, layout="bshd"))
    np.testing.assert_array_equal(np.swapaxes(bshd(qkv[:, :, 0:4], qkv[:, :, 4:6], qkv[:, :, 6:8]), 1, 2), want)
    # Negative and zero strides (a reversed view, a broadcast K/V).
    kr = k[:, :, ::-1]
    assert rel_err(kernel(q, kr, v[:, :, ::-1]), reference_numpy(q, kr, v[:, :, ::-1])[0]) <= TOLERANCE["f32"]


class DLPackOnly:
    """A producer that offers nothing but __dlpack__ (as PyTorch tensors and other frameworks do)."""

    def __init__(self, array):
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype

    def __dlpack__(self, **kwargs):
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


def test_dlpack_producers_without_copies(rng):
    q, k, v = problem(rng)
    kernel = attngen.compile(CAUSAL)
    want_o, want_lse = kernel(q, k, v)
    out, lse = np.zeros_like(want_o), np.zeros_like(want_lse)
    got = kernel(DLPackOnly(q), DLPackOnly(k[:, :, 2:]), DLPackOnly(v[:, :, 2:]), out=DLPackOnly(out),
                 lse_out=DLPackOnly(lse))
    assert got[0].array is out  # out= comes back as given
    assert rel_err(out, reference_numpy(q, k[:, :, 2:], v[:, :, 2:], True)[0]) <= TOLERANCE["f32"]
    o2, _ = kernel(DLPackOnly(q), DLPackOnly(k), DLPackOnly(v))
    np.testing.assert_array_equal(o2, want_o)


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_half_dtypes(dtype, rng):
    spec = dict(CAUSAL, dtype=dtype)
    q, k, v = problem(rng, dtype)
    o, lse = attngen.compile(spec)(q, k, v)
    assert o.dtype == q.dtype
    assert rel_err(o, reference_numpy(q, k, v, True)[0]) <= TOLERANCE[dtype]


def test_wrong_dtype_shape_and_arguments_name_the_tensor(rng):
    kernel = attngen.compile(CAUSAL)
    q, k, v = problem(rng)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^k: expected dtype f32, got f16"):
        kernel(q, k.astype(np.float16), v)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^v: dtype float64 is not supported"):
        kernel(q, k, v.astype(np.float64))
    with pytest.raises(attngen.InvalidArgumentError, match=r"^q: dtype float8_e4m3fn is not supported"):
        kernel(q.astype(ml_dtypes.float8_e4m3fn), k, v)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^k: dimension 1 \(num_kv_heads\) must be 2, got 3"):
        kernel(q, randn(rng, (2, 3, 19, 32)), v)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^q: expected a rank-4 array, got shape \(4, 7, 32\)"):
        kernel(q[0], k, v)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^v: expected an array .*got list"):
        kernel(q, k, [1.0])
    with pytest.raises(attngen.InvalidArgumentError, match=r"^kv_lens: given, but the spec has no padding"):
        kernel(q, k, v, kv_lens=np.array([3, 4], np.int32))
    with pytest.raises(attngen.InvalidArgumentError, match=r"^out: the output array is read-only"):
        out = np.empty((2, 4, 7, 32), np.float32)
        out.flags.writeable = False
        kernel(q, k, v, out=out)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^out: dimension 3 \(head_dim_v\) must be 32, got 16"):
        kernel(q, k, v, out=np.empty((2, 4, 7, 16), np.float32))
    with pytest.raises(attngen.InvalidArgumentError, match="threads"):
        kernel(q, k, v, threads=-2)
    with pytest.raises(TypeError):
        kernel(q, k, v, bogus=1)


def test_padding_lengths_are_checked():
    kernel = attngen.compile({"dtype": "f32", "head_dim": 8, "num_heads": 1, "mask": [{"type": "padding"}]})
    q = k = v = np.zeros((2, 1, 3, 8), np.float32)
    with pytest.raises(attngen.InvalidArgumentError, match=r"kv_lens\[1\]: must be in \[0, 3\]"):
        kernel(q, k, v, kv_lens=np.array([1, 9], np.int32))
    o = kernel(q, k, v, kv_lens=np.array([0, 3], np.int32))
    assert not np.isnan(o).any() and (o[0] == 0).all()


def test_threads_and_concurrent_calls_release_the_gil(rng):
    q, k, v = problem(rng, b=4, sq=33, skv=300)
    kernel = attngen.compile(CAUSAL, threads=2)
    want_o, want_lse = kernel(q, k, v, threads=1)
    results, errors = [None] * 8, []

    def work(i):
        try:
            results[i] = kernel(q, k, v, threads=1 + i % 2)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    for o, lse in results:
        np.testing.assert_allclose(o, want_o, rtol=0, atol=1e-6)
        np.testing.assert_allclose(lse, want_lse, rtol=0, atol=1e-6)


def test_gil_is_released_while_a_kernel_runs(rng):
    """A Python thread makes progress while the main thread runs long kernels."""
    q, k, v = problem(rng, b=8, sq=256, skv=1024)
    kernel = attngen.compile(dict(CAUSAL, return_lse=False), backend="reference")
    ticks, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        before = ticks[0]
        kernel(q[:, :, :64], k[:, :, :256], v[:, :, :256], threads=1)
        during = ticks[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 1000


def test_one_call_form_builds_and_caches_the_spec(rng):
    attngen.clear_cache()
    q, k, v = problem(rng)
    o = attngen.attention(q, k, v, mask=[{"type": "causal", "align": "bottom_right"}])
    assert rel_err(o, reference_numpy(q, k, v, True)[0]) <= TOLERANCE["f32"]
    o2, lse = attngen.attention(q, k, v, mask=[{"type": "causal", "align": "bottom_right"}], return_lse=True)
    np.testing.assert_array_equal(o, o2)
    assert lse.shape == (2, 4, 7)
    from attngen import _kernel
    assert len(_kernel._cache) == 2
    attngen.attention(q, k, v, mask=[{"type": "causal", "align": "bottom_right"}])
    assert len(_kernel._cache) == 2
    # bshd, a scale, a run-time tensor, bf16 from ml_dtypes.
    qb, kb, vb = (np.ascontiguousarray(np.swapaxes(x, 1, 2)) for x in (q, k, v))
    ob = attngen.attention(qb, kb, vb, layout="bshd", scale=0.5, mask=[{"type": "padding"}],
                           kv_lens=np.array([19, 5], np.int32))
    assert ob.shape == (2, 7, 4, 32)
    h = attngen.attention(*(x.astype(ml_dtypes.bfloat16) for x in (q, k, v)))
    assert h.dtype == ml_dtypes.bfloat16
    with pytest.raises(attngen.InvalidArgumentError, match=r"^q: dtype float64 is not supported"):
        attngen.attention(q.astype(np.float64), k, v)
    with pytest.raises(attngen.InvalidArgumentError, match=r"^layout: expected"):
        attngen.attention(q, k, v, layout="sbhd")
    with pytest.raises(attngen.InvalidArgumentError, match=r"^kvlens: unknown argument"):
        attngen.attention(q, k, v, kvlens=np.array([1, 2], np.int32))


def test_one_call_form_keys_masks_by_content(rng):
    """Two masks whose repr() is the same are two kernels; numpy scalars are numbers; what is not
    JSON is named."""
    class Quiet(dict):
        def __repr__(self):
            return "Quiet()"

    attngen.clear_cache()
    q, k, v = problem(rng)

    def window(left):
        return {"type": "sliding_window", "left": left, "right": 0, "align": "bottom_right"}

    for left in (2, 9):
        o = attngen.attention(q, k, v, mask=[Quiet(window(left))])
        spec = {"dtype": "f32", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32, "mask": [window(left)]}
        np.testing.assert_array_equal(o, attngen.compile(spec)(q, k, v))
    np.testing.assert_array_equal(attngen.attention(q, k, v, mask=[window(np.int64(9))]),
                                  attngen.attention(q, k, v, mask=[window(9)]))
    # Keys in another order: the same spec, the same kernel.
    from attngen import _kernel
    n = len(_kernel._cache)
    attngen.attention(q, k, v, mask=[dict(reversed(list(window(9).items())))])
    assert len(_kernel._cache) == n
    with pytest.raises(attngen.InvalidArgumentError, match=r"^spec: expected JSON text or a dict of JSON values "
                                                           r"\(docs/spec.md\): object .* is not a JSON value"):
        attngen.attention(q, k, v, mask=[{"type": "padding", "x": object()}])
