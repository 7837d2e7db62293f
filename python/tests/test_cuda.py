"""The cuda backend from Python on device arrays: __cuda_array_interface__ and DLPack producers,
strided views, run-time tensors in device memory, out=, the stream a call is launched on, the
one-call form, and the errors. Runs on the fake CUDA driver (conftest.py), which runs each
kernel in the block emulator: the results are the kernels' own, compared with the float64
reference backend. (torch CUDA tensors: test_torch_cuda.py, on a GPU.)"""

import json

import numpy as np
import pytest

import attngen
from conftest import FAKE_CUDA_DRIVER, TOLERANCE, randn, rel_err

if FAKE_CUDA_DRIVER is None:
    pytest.skip("no fake CUDA driver selected (none built in build/tests, or ATTNGEN_PYTEST_REAL_CUDA=1)",
                allow_module_level=True)

from fake_cuda import DeviceArray, DLPackArray, FakeDriver  # noqa: E402

PADDED_CAUSAL = {"head_dim": 64, "num_heads": 4, "num_kv_heads": 2, "return_lse": True,
                 "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}]}


@pytest.fixture(scope="module")
def driver():
    return FakeDriver(FAKE_CUDA_DRIVER)


def reference(spec, q, k, v, **tensors):
    return attngen.compile(spec, backend="reference")(q, k, v, **tensors)


def check(spec, got, want):
    o, lse = got
    ref_o, ref_lse = want
    assert rel_err(o.astype(np.float32), ref_o.astype(np.float32)) <= TOLERANCE[spec["dtype"]]
    finite = np.isfinite(ref_lse)
    assert np.array_equal(finite, np.isfinite(lse)) and np.all(lse[~finite] == -np.inf)
    assert np.max(np.abs(lse[finite] - ref_lse[finite])) <= 1e-3


@pytest.mark.parametrize("dtype", ["f16", "bf16", "f32"])
def test_matches_reference_through_the_array_interface(driver, rng, dtype):
    spec = dict(PADDED_CAUSAL, dtype=dtype)
    q, k, v = randn(rng, (2, 4, 17, 64), dtype), randn(rng, (2, 2, 33, 64), dtype), randn(rng, (2, 2, 33, 64), dtype)
    kv_lens = np.array([33, 5], np.int32)
    k[1, :, 5:] = v[1, :, 5:] = np.nan  # past the length: never read
    kernel = attngen.compile(spec, backend="cuda")
    assert kernel.backend == "cuda"
    out = DeviceArray(driver, shape=(2, 4, 17, 64), dtype=q.dtype)
    lse = DeviceArray(driver, shape=(2, 4, 17), dtype=np.float32)
    result = kernel(DeviceArray(driver, q), DeviceArray(driver, k), DeviceArray(driver, v),
                    kv_lens=DeviceArray(driver, kv_lens), out=out, lse_out=lse)
    assert result == (out, lse)
    check(spec, (out.to_host(), lse.to_host()), reference(spec, q, k, v, kv_lens=kv_lens))


def test_matches_reference_through_dlpack(driver, rng):
    spec = dict(PADDED_CAUSAL, dtype="bf16", return_lse=False)
    q, k, v = randn(rng, (1, 4, 40, 64), "bf16"), randn(rng, (1, 2, 40, 64), "bf16"), randn(rng, (1, 2, 40, 64), "bf16")
    lens = np.array([40], np.int32)
    out = DeviceArray(driver, shape=(1, 4, 40, 64), dtype=q.dtype)
    kernel = attngen.compile(spec, backend="cuda")
    kernel(DLPackArray(DeviceArray(driver, q)), DLPackArray(DeviceArray(driver, k)),
           DLPackArray(DeviceArray(driver, v)), q_lens=DLPackArray(DeviceArray(driver, lens - 3)),
           kv_lens=DLPackArray(DeviceArray(driver, lens)), out=DLPackArray(out))
    want = reference(spec, q, k, v, q_lens=lens - 3, kv_lens=lens)
    assert rel_err(out.to_host().astype(np.float32), want.astype(np.float32)) <= TOLERANCE["bf16"]


def test_strided_views_of_a_fused_qkv_buffer(driver, rng):
    """bshd slices of one [B, S, Hq + 2 Hkv, D] buffer, and a bhsd output written through strides."""
    spec = {"dtype": "f16", "layout": "bshd", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2}
    qkv = randn(rng, (2, 29, 8, 64), "f16")
    buffer = DeviceArray(driver, qkv)
    s = buffer.strides
    q = buffer.view(0, (2, 29, 4, 64), s)
    k = buffer.view(4 * 64, (2, 29, 2, 64), s)
    v = buffer.view(6 * 64, (2, 29, 2, 64), s)
    o_bhsd = DeviceArray(driver, shape=(2, 4, 29, 64), dtype=np.float16)
    out = o_bhsd.view(0, (2, 29, 4, 64), (4 * 29 * 64, 64, 29 * 64, 1))  # bshd seen through bhsd memory
    attngen.compile(spec, backend="cuda")(q, k, v, out=out)
    want = attngen.compile(spec, backend="reference")(qkv[:, :, :4], qkv[:, :, 4:6], qkv[:, :, 6:])
    got = np.swapaxes(o_bhsd.to_host(), 1, 2)
    assert rel_err(got.astype(np.float32), want.astype(np.float32)) <= TOLERANCE["f16"]


def test_custom_mask_and_alibi_in_device_memory(driver, rng):
    spec = {"dtype": "f16", "head_dim": 64, "num_heads": 2, "mask": [{"type": "custom", "format": "bool"}],
            "score_mod": [{"type": "alibi"}]}
    q, k, v = randn(rng, (1, 2, 9, 64), "f16"), randn(rng, (1, 2, 21, 64), "f16"), randn(rng, (1, 2, 21, 64), "f16")
    keep = rng.random((1, 1, 9, 21)) < 0.6
    keep[0, 0, 3] = False  # a fully masked row: O = 0
    slopes = np.array([0.5, 0.25], np.float32)
    out = DeviceArray(driver, shape=(1, 2, 9, 64), dtype=np.float16)
    attngen.compile(spec, backend="cuda")(DeviceArray(driver, q), DeviceArray(driver, k), DeviceArray(driver, v),
                                          mask=DeviceArray(driver, keep), alibi_slopes=DeviceArray(driver, slopes),
                                          out=out)
    got = out.to_host()
    want = attngen.compile(spec, backend="reference")(q, k, v, mask=keep, alibi_slopes=slopes)
    assert np.all(got[0, :, 3] == 0)
    assert rel_err(got.astype(np.float32), want.astype(np.float32)) <= TOLERANCE["f16"]


def test_the_launch_takes_the_stream_given(driver, rng):
    spec = {"dtype": "f16", "head_dim": 64, "num_heads": 2}
    q = DeviceArray(driver, randn(rng, (1, 2, 3, 64), "f16"))
    out = DeviceArray(driver, shape=(1, 2, 3, 64), dtype=np.float16)
    kernel = attngen.compile(spec, backend="cuda")

    class Stream:  # the __cuda_stream__ protocol: (version, handle)
        def __cuda_stream__(self):
            return 0, 0x5150

    for stream, handle in ((0x1234, 0x1234), (Stream(), 0x5150), (None, 0)):
        kernel(q, q, q, out=out, stream=stream)
        assert driver.last_launch().stream == (handle or None)
    q.stream = 0x4321  # the producer's stream, named by its __cuda_array_interface__
    kernel(q, q, q, out=out)
    assert driver.last_launch().stream == 0x4321
    with pytest.raises(attngen.InvalidArgumentError, match="stream: expected None, a CUstream handle"):
        kernel(q, q, q, out=out, stream="default")
    with pytest.raises(attngen.InvalidArgumentError, match="stream: only a cuda kernel takes a stream"):
        attngen.compile(spec)(*(randn(rng, (1, 2, 3, 64), "f16"),) * 3, stream=1)


def test_one_call_picks_the_cuda_backend_for_device_arrays(driver, rng):
    q = randn(rng, (1, 2, 5, 64), "f16")
    out = DeviceArray(driver, shape=(1, 2, 5, 64), dtype=np.float16)
    d = DeviceArray(driver, q)
    assert attngen.attention(d, d, d, mask=[{"type": "causal", "align": "top_left"}], out=out) is out
    want = attngen.attention(q, q, q, mask=[{"type": "causal", "align": "top_left"}], backend="reference")
    assert rel_err(out.to_host().astype(np.float32), want.astype(np.float32)) <= TOLERANCE["f16"]


def test_arch_is_a_compile_option():
    spec = {"dtype": "bf16", "head_dim": 64, "num_heads": 2}
    assert attngen.compile(spec, backend="cuda", arch="sm_80").isa == "sm_80"
    assert json.loads(attngen.compile(spec, backend="cuda", arch="sm_90a").spec)["dtype"] == "bf16"
    with pytest.raises(attngen.InvalidArgumentError, match="arch: expected None, or a string"):
        attngen.compile(spec, arch="sm_80")
    with pytest.raises(attngen.BackendError, match="sm_70"):
        attngen.compile(spec, backend="cuda", arch="sm_70")


def test_cuda_tile_picks_the_schedule_of_one_kernel(driver, rng):
    """A decoding kernel (4 warps splitting the keys of 16 rows) beside the default one of the same
    spec: two keys, the same results."""
    spec = {"dtype": "bf16", "head_dim": 64, "num_heads": 8, "num_kv_heads": 2, "return_lse": True}
    default, decode = attngen.compile(spec, backend="cuda"), attngen.compile(spec, backend="cuda", cuda_tile="16x32k4")
    assert decode.key != default.key
    q, k, v = randn(rng, (2, 8, 1, 64), "bf16"), randn(rng, (2, 2, 300, 64), "bf16"), randn(rng, (2, 2, 300, 64), "bf16")
    want = reference(spec, q, k, v)
    for kernel in (default, decode):
        o, lse = (DeviceArray(driver, shape=s, dtype=d) for s, d in (((2, 8, 1, 64), q.dtype), ((2, 8, 1), np.float32)))
        kernel(*(DeviceArray(driver, x) for x in (q, k, v)), out=o, lse_out=lse)
        assert driver.last_launch().block[0] == (128 if kernel is decode else 256)
        check(spec, (o.to_host(), lse.to_host()), want)
    # The one-call form takes it too, and keys its kernels by it.
    o, lse = attngen.attention(*(DeviceArray(driver, x) for x in (q, k, v)), return_lse=True, cuda_tile="16x32k4",
                               out=DeviceArray(driver, shape=(2, 8, 1, 64), dtype=q.dtype),
                               lse_out=DeviceArray(driver, shape=(2, 8, 1), dtype=np.float32))
    assert driver.last_launch().block[0] == 128
    check(spec, (o.to_host(), lse.to_host()), want)
    attngen.attention(*(DeviceArray(driver, x) for x in (q, k, v)), return_lse=True,
                      out=DeviceArray(driver, shape=(2, 8, 1, 64), dtype=q.dtype),
                      lse_out=DeviceArray(driver, shape=(2, 8, 1), dtype=np.float32))
    assert driver.last_launch().block[0] == 256
    with pytest.raises(attngen.InvalidArgumentError, match="cuda_tile: expected None, or a string"):
        attngen.compile(spec, cuda_tile="16x32k4")
    with pytest.raises(attngen.InvalidArgumentError, match="cuda_tile: expected None, or a string"):
        attngen.attention(q, k, v, cuda_tile="16x32k4")
    with pytest.raises(attngen.InvalidArgumentError, match=r"^options.cuda_tile: expected 64x32, .* got '16x16k4'"):
        attngen.compile(spec, backend="cuda", cuda_tile="16x16k4")


def test_errors_name_the_array(driver, rng):
    spec = {"dtype": "f16", "head_dim": 64, "num_heads": 2, "return_lse": True}
    kernel = attngen.compile(spec, backend="cuda")
    host = randn(rng, (1, 2, 3, 64), "f16")
    d = DeviceArray(driver, host)
    out = DeviceArray(driver, shape=(1, 2, 3, 64), dtype=np.float16)
    lse = DeviceArray(driver, shape=(1, 2, 3), dtype=np.float32)
    with pytest.raises(attngen.InvalidArgumentError, match=r"k: expected a CUDA array .* got ndarray in host memory"):
        kernel(d, host, d, out=out, lse_out=lse)
    with pytest.raises(attngen.InvalidArgumentError, match="out: pass out= .* beside torch tensors"):
        kernel(d, d, d)
    with pytest.raises(attngen.InvalidArgumentError, match="lse_out: pass lse_out="):
        kernel(d, d, d, out=out)
    lse.read_only = True
    with pytest.raises(attngen.InvalidArgumentError, match="lse_out: the output array is read-only"):
        kernel(d, d, d, out=out, lse_out=lse)
    lse.read_only = False
    wrong = DeviceArray(driver, host.astype(np.float32))
    with pytest.raises(attngen.InvalidArgumentError, match="v: .*f16"):
        kernel(d, d, wrong, out=out, lse_out=lse)
    with pytest.raises(attngen.InvalidArgumentError, match="q: dtype <i8 is not supported"):
        kernel(DeviceArray(driver, np.zeros((1, 2, 3, 64), np.int64)), d, d, out=out, lse_out=lse)
    with pytest.raises(attngen.InvalidArgumentError, match="threads: a cuda kernel runs on the GPU"):
        kernel(d, d, d, out=out, lse_out=lse, threads=2)
    with pytest.raises(attngen.InvalidArgumentError, match=r"q: the array is on a device .* backend=\"cuda\""):
        attngen.compile(spec)(DLPackArray(d), d, d)
    foreign = d.view(0, d.shape, d.strides)
    foreign.address = 0x10  # memory the driver does not know
    with pytest.raises(attngen.InvalidArgumentError, match="k"):
        kernel(d, foreign, d, out=out, lse_out=lse)


@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
def test_merge_states_on_device_arrays_equals_the_host_merge(driver, rng, layout):
    """Split-KV states of the cuda kernel merged on the device: the host merge's result, and the full
    kernel's within its tolerance; launched on the stream given; in place; bshd parts."""
    spec = {"dtype": "bf16", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2, "return_lse": True, "layout": layout}
    bshd = layout == "bshd"
    q_shape, kv_shape = ((1, 9, 4, 64), (1, 45, 2, 64)) if bshd else ((1, 4, 9, 64), (1, 2, 45, 64))
    q, k, v = randn(rng, q_shape, "bf16"), randn(rng, kv_shape, "bf16"), randn(rng, kv_shape, "bf16")
    kernel = attngen.compile(spec, backend="cuda")
    keys = (lambda x, lo, hi: x[:, lo:hi]) if bshd else (lambda x, lo, hi: x[:, :, lo:hi])
    parts = []
    for lo, hi in ((0, 20), (20, 45)):
        o = DeviceArray(driver, shape=q_shape, dtype=q.dtype)
        lse = DeviceArray(driver, shape=(1, 4, 9), dtype=np.float32)
        kernel(DeviceArray(driver, q), DeviceArray(driver, keys(k, lo, hi)), DeviceArray(driver, keys(v, lo, hi)),
               out=o, lse_out=lse)
        parts.append((o, lse))
    want_o, want_lse = attngen.merge_states([p[0].to_host() for p in parts], [p[1].to_host() for p in parts],
                                            layout=layout)
    out = DeviceArray(driver, shape=q_shape, dtype=q.dtype)
    out_lse = DeviceArray(driver, shape=(1, 4, 9), dtype=np.float32)
    result = attngen.merge_states([p[0] for p in parts], [p[1] for p in parts], out=out, lse_out=out_lse,
                                  layout=layout, stream=0x777)
    assert result == (out, out_lse)
    assert driver.last_launch().stream == 0x777
    got = out.to_host().astype(np.float32)
    # One f32 merge against one double merge, each rounded once to bf16: at most an ulp apart.
    assert np.all(np.abs(got - want_o.astype(np.float32)) <= 2.0 ** -7 * np.abs(want_o.astype(np.float32)) + 1e-6)
    np.testing.assert_allclose(out_lse.to_host(), want_lse, rtol=1e-6, atol=1e-6)
    full = attngen.compile(spec, backend="reference")(q, k, v)
    assert rel_err(got, full[0].astype(np.float32)) <= TOLERANCE["bf16"]
    # In place, into the second part.
    attngen.merge_states([p[0] for p in parts], [p[1] for p in parts], out=parts[1][0], lse_out=parts[1][1],
                         layout=layout)
    np.testing.assert_array_equal(parts[1][0].to_host(), out.to_host())


def test_merge_states_on_device_arrays_errors(driver, rng):
    o = DeviceArray(driver, randn(rng, (2, 3, 8), "f16"))
    lse = DeviceArray(driver, randn(rng, (2, 3), "f32"))
    with pytest.raises(attngen.InvalidArgumentError, match="out: pass out= "):
        attngen.merge_states([o], [lse])
    out = DeviceArray(driver, shape=(2, 3, 8), dtype=np.float16)
    with pytest.raises(attngen.InvalidArgumentError, match="lse_out: pass lse_out= "):
        attngen.merge_states([o], [lse], out=out)
    with pytest.raises(attngen.InvalidArgumentError, match=r"lse_parts\[1\]: expected a CUDA array .* host memory"):
        attngen.merge_states([o, o], [lse, lse.to_host()], out=out, lse_out=lse)
    with pytest.raises(attngen.InvalidArgumentError, match=r"num_parts: at most 32 on a CUDA device, got 33"):
        attngen.merge_states([o] * 33, [lse] * 33, out=out, lse_out=lse)
    with pytest.raises(attngen.InvalidArgumentError, match="layout 'bshd' expects a rank-4 array"):
        attngen.merge_states([o], [lse], out=out, lse_out=lse, layout="bshd")
    with pytest.raises(attngen.InvalidArgumentError, match="stream: only a merge of device arrays takes a stream"):
        attngen.merge_states([o.to_host()], [lse.to_host()], stream=1)
