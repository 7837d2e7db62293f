"""The cuda backend from Python on a real GPU (scripts/gpu-check.sh runs this file with
ATTNGEN_PYTEST_REAL_CUDA=1): torch CUDA tensors (kernels, the torch op with run-time tensors,
scaled_dot_product_attention, torch.compile, streams, CUDA graph capture), CuPy arrays
(__cuda_array_interface__) and JAX arrays (DLPack), each against the float64 reference backend
on host copies. Skipped where
there is no GPU, or where conftest.py pointed attngen at the fake driver."""

import os
import re

import ml_dtypes
import numpy as np
import pytest

import attngen
from conftest import FAKE_CUDA_DRIVER, REPO, TOLERANCE, rel_err

torch = pytest.importorskip("torch")
if FAKE_CUDA_DRIVER is not None or not torch.cuda.is_available():
    pytest.skip("no GPU here (or attngen runs on the fake driver: ATTNGEN_PYTEST_REAL_CUDA=1 on a GPU)",
                allow_module_level=True)

import attngen.torch as attngen_torch  # noqa: E402

TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def host(t):
    """A numpy copy of a torch tensor (bf16 as ml_dtypes.bfloat16)."""
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def reference(spec, *arrays, **tensors):
    tensors = {name: host(t) for name, t in tensors.items()}
    return attngen.compile(spec, backend="reference")(*(host(a) for a in arrays), **tensors)


def close(spec, got, want):
    return rel_err(host(got).astype(np.float32), np.asarray(want).astype(np.float32)) <= TOLERANCE[spec["dtype"]]


def randn(shape, dtype, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return torch.randn(shape, generator=g, device="cuda", dtype=torch.float32).to(TORCH_DTYPE[dtype])


@pytest.mark.parametrize("dtype", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("mask", [[], [{"type": "causal", "align": "bottom_right"}]])
def test_kernel_on_torch_tensors(dtype, mask):
    spec = {"dtype": dtype, "head_dim": 128, "num_heads": 8, "num_kv_heads": 2, "mask": mask}
    q, k, v = randn((2, 8, 129, 128), dtype, 1), randn((2, 2, 300, 128), dtype, 2), randn((2, 2, 300, 128), dtype, 3)
    o = attngen.compile(spec, backend="cuda")(q, k, v)  # on torch's current stream
    assert o.device == q.device and o.dtype == q.dtype and o.shape == (2, 8, 129, 128)
    torch.cuda.synchronize()
    assert close(spec, o, reference(spec, q, k, v))


def test_torch_op_with_run_time_tensors_on_a_side_stream():
    spec = {"dtype": "bf16", "head_dim": 64, "num_heads": 4, "num_kv_heads": 4, "return_lse": True,
            "mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}]}
    q, k, v = randn((3, 4, 17, 64), "bf16", 4), randn((3, 4, 1000, 64), "bf16", 5), randn((3, 4, 1000, 64), "bf16", 6)
    kv_lens = torch.tensor([1000, 333, 1], dtype=torch.int32, device="cuda")
    k[1, :, 333:] = v[1, :, 333:] = float("nan")  # past the length: never read
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        o, lse = attngen_torch.attention(q, k, v, spec, kv_lens=kv_lens)
    side.synchronize()
    want_o, want_lse = reference(spec, q, k, v, kv_lens=kv_lens)
    assert close(spec, o, want_o)
    assert np.allclose(host(lse), want_lse, atol=1e-3, rtol=0, equal_nan=False)


def test_decoding_schedule_through_the_torch_op_and_sdpa():
    """cuda_tile="16x32k4" (key-split warps) on decoding steps of a GQA group, as an engine passes
    it: the op and the SDPA helper against the reference, and the same as the default schedule
    within the tolerance."""
    spec = {"dtype": "bf16", "head_dim": 128, "num_heads": 16, "num_kv_heads": 4, "mask": [{"type": "padding"}]}
    q = randn((3, 16, 1, 128), "bf16", 20)
    k, v = randn((3, 4, 2000, 128), "bf16", 21), randn((3, 4, 2000, 128), "bf16", 22)
    kv_lens = torch.tensor([2000, 777, 1], dtype=torch.int32, device="cuda")
    o = attngen_torch.attention(q, k, v, spec, kv_lens=kv_lens, cuda_tile="16x32k4")
    o_default = attngen_torch.attention(q, k, v, spec, kv_lens=kv_lens)
    torch.cuda.synchronize()
    want = reference(spec, q, k, v, kv_lens=kv_lens)
    assert close(spec, o, want) and close(spec, o_default, want)
    full = {**spec, "mask": []}
    got = attngen_torch.scaled_dot_product_attention(q, k, v, enable_gqa=True, cuda_tile="16x32k4")
    torch.cuda.synchronize()
    assert close(full, got, reference(full, q, k, v))


def test_sdpa_matches_torch_and_compiles():
    q, k, v = randn((2, 8, 200, 128), "f16", 7), randn((2, 8, 200, 128), "f16", 8), randn((2, 8, 200, 128), "f16", 9)
    want = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=True)
    got = attngen_torch.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert rel_err(host(got).astype(np.float64), host(want)) <= TOLERANCE["f16"]
    compiled = torch.compile(lambda a, b, c: attngen_torch.scaled_dot_product_attention(a, b, c, is_causal=True),
                             fullgraph=True)
    assert torch.equal(compiled(q, k, v), got)


def test_cuda_graph_capture_and_replay():
    """Decoding under a CUDA graph, as LLM servers run it: after one call (which loads the module),
    the launch is captured, split-KV's workspace and merge included, and replays on new inputs."""
    spec = {"dtype": "bf16", "head_dim": 128, "num_heads": 32, "num_kv_heads": 8, "mask": [{"type": "padding"}]}
    kernel = attngen.compile(spec, backend="cuda")
    q = randn((2, 32, 1, 128), "bf16", 20)
    k, v = randn((2, 8, 8192, 128), "bf16", 21), randn((2, 8, 8192, 128), "bf16", 22)
    kv_lens = torch.tensor([8192, 3000], dtype=torch.int32, device="cuda")
    out = torch.empty_like(q)
    kernel(q, k, v, kv_lens=kv_lens, out=out)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        kernel(q, k, v, kv_lens=kv_lens, out=out)
    q.copy_(randn(q.shape, "bf16", 23))
    kv_lens.copy_(torch.tensor([5000, 1], dtype=torch.int32))
    graph.replay()
    torch.cuda.synchronize()
    assert close(spec, out, reference(spec, q, k, v, kv_lens=kv_lens))


def test_opcheck_on_cuda_tensors():
    spec = ('{"dtype": "f16", "head_dim": 64, "num_heads": 4, "num_kv_heads": 2, "return_lse": true, '
            '"mask": [{"type": "padding"}, {"type": "causal", "align": "bottom_right"}]}')
    q, k, v = randn((2, 4, 9, 64), "f16", 10), randn((2, 2, 41, 64), "f16", 11), randn((2, 2, 41, 64), "f16", 12)
    kv_lens = torch.tensor([41, 30], dtype=torch.int32, device="cuda")
    args = (q, k, v, spec, None, kv_lens, None, None, None, None, None, "auto", 0, "")
    torch.library.opcheck(torch.ops.attngen.attention.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_static"))
    o, lse = torch.ops.attngen.attention(*args)
    assert o.device == q.device and lse.device == q.device and lse.shape == (2, 4, 9)


def test_cpu_tensors_are_refused_by_a_cuda_kernel():
    kernel = attngen.compile({"dtype": "f16", "head_dim": 64, "num_heads": 2}, backend="cuda")
    q = randn((1, 2, 3, 64), "f16")
    with pytest.raises(attngen.InvalidArgumentError, match="k: expected a CUDA tensor"):
        kernel(q, q.cpu(), q)


def test_cupy_arrays():
    cupy = pytest.importorskip("cupy")
    spec = {"dtype": "f16", "head_dim": 64, "num_heads": 4, "num_kv_heads": 1}
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float16) for s in ((2, 4, 65, 64), (2, 1, 129, 64), (2, 1, 129, 64)))
    out = cupy.empty((2, 4, 65, 64), cupy.float16)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        dq, dk, dv = cupy.asarray(q), cupy.asarray(k), cupy.asarray(v)
        attngen.compile(spec, backend="cuda")(dq, dk, dv, out=out, stream=stream)
    stream.synchronize()
    want = attngen.compile(spec, backend="reference")(q, k, v)
    assert rel_err(cupy.asnumpy(out).astype(np.float32), want.astype(np.float32)) <= TOLERANCE["f16"]


def test_jax_arrays_through_dlpack():
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave the GPU's memory to the others
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    if not any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("JAX sees no GPU")
    spec = {"dtype": "bf16", "head_dim": 128, "num_heads": 2}
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 2, 70, 128)).astype(ml_dtypes.bfloat16) for _ in range(3))
    dq, dk, dv = (jax.device_put(jnp.asarray(x), jax.devices("gpu")[0]) for x in (q, k, v))
    for x in (dq, dk, dv):
        x.block_until_ready()

    class DLPackOnly:  # JAX arrays also have __cuda_array_interface__, which attngen would read first
        def __init__(self, x):
            self.x = x

        def __dlpack__(self, **kwargs):
            return self.x.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.x.__dlpack_device__()

    out = torch.empty((1, 2, 70, 128), dtype=torch.bfloat16, device="cuda")
    attngen.compile(spec, backend="cuda")(DLPackOnly(dq), DLPackOnly(dk), DLPackOnly(dv), out=out)
    torch.cuda.synchronize()
    want = attngen.compile(spec, backend="reference")(q, k, v)
    assert close(spec, out, want)


@pytest.mark.parametrize("dtype", ["bf16", "f32"])
def test_merge_states_on_torch_tensors(dtype):
    """Split-KV on the GPU: two halves of the keys, merged by attngen_merge_states_cuda on a side
    stream (bshd parts), equal the kernel over all keys; the custom op attngen::merge_states gives
    the same; in place into the first half."""
    spec = {"dtype": dtype, "head_dim": 128, "num_heads": 8, "num_kv_heads": 2, "return_lse": True, "layout": "bshd"}
    q, k, v = randn((3, 17, 8, 128), dtype, 21), randn((3, 500, 2, 128), dtype, 22), randn((3, 500, 2, 128), dtype, 23)
    kernel = attngen.compile(spec, backend="cuda")
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        parts = [kernel(q, k[:, lo:hi], v[:, lo:hi]) for lo, hi in ((0, 123), (123, 500))]
        o, lse = attngen.merge_states([p[0] for p in parts], [p[1] for p in parts], layout="bshd")
        full_o, full_lse = kernel(q, k, v)
        op_o, op_lse = attngen_torch.merge_states([p[0] for p in parts], [p[1] for p in parts], layout="bshd")
        attngen.merge_states([p[0] for p in parts], [p[1] for p in parts], out=parts[0][0], lse_out=parts[0][1],
                             layout="bshd")
    side.synchronize()
    assert torch.equal(op_o, o) and torch.equal(op_lse, lse)  # the custom op, on the same stream
    assert o.shape == q.shape and lse.shape == (3, 8, 17)
    assert close(spec, o, host(full_o)) and torch.allclose(lse, full_lse, rtol=1e-5, atol=1e-5)
    assert torch.equal(parts[0][0], o) and torch.equal(parts[0][1], lse)


def test_docs_cuda_examples_run():
    """docs/python.md's ```py blocks (the CUDA section), as written."""
    pytest.importorskip("cupy")
    blocks = re.findall(r"```py\n(.*?)```", (REPO / "docs" / "python.md").read_text(), re.S)
    assert blocks
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)  # noqa: S102 - our own documentation
    torch.cuda.synchronize()
    assert namespace["o"].shape == (4, 32, 1, 128) and bool(torch.isfinite(namespace["o"]).all())
