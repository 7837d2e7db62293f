"""The custom op attngen::attention: eager results equal the kernel's on numpy, the run-time tensors,
torch.library.opcheck (schema, fake implementation), and one torch.compile(fullgraph=True) graph
(compiling takes seconds: one compile covers the op, the SDPA helper and a dict spec)."""

import json

import numpy as np
import pytest
from torch_helpers import assert_close_to_torch_sdpa, attngen_torch, randn, torch

import attngen

SPEC = {"dtype": "f32", "head_dim": 64, "num_heads": 8, "num_kv_heads": 2, "return_lse": True,
        "mask": [{"type": "causal", "align": "bottom_right"}]}

SPEC_TEXT = json.dumps(SPEC)


def problem(seed, dtype=torch.float32, sq=19, skv=41):
    g = torch.Generator().manual_seed(seed)
    return randn(g, (2, 8, sq, 64), dtype), randn(g, (2, 2, skv, 64), dtype), randn(g, (2, 2, skv, 64), dtype)


def test_eager_equals_the_kernel_on_numpy():
    q, k, v = problem(1)
    o, lse = attngen_torch.attention(q, k, v, SPEC)
    o_np, lse_np = attngen.compile(SPEC)(q.numpy(), k.numpy(), v.numpy())
    assert isinstance(o, torch.Tensor) and o.shape == (2, 8, 19, 64) and lse.shape == (2, 8, 19)
    np.testing.assert_array_equal(o.numpy(), o_np)
    np.testing.assert_array_equal(lse.numpy(), lse_np)
    # JSON text and no LSE: O alone.
    no_lse = json.dumps({**SPEC, "return_lse": False})
    np.testing.assert_array_equal(attngen_torch.attention(q, k, v, no_lse).numpy(), o_np)


def test_bf16_and_bshd():
    q, k, v = problem(2, torch.bfloat16)
    spec = {**SPEC, "dtype": "bf16", "layout": "bshd"}
    qs, ks, vs = (t.transpose(1, 2) for t in (q, k, v))  # [B, S, H, D] views
    o, lse = attngen_torch.attention(qs, ks, vs, spec)
    assert o.dtype == torch.bfloat16 and o.shape == (2, 19, 8, 64) and lse.shape == (2, 8, 19)
    o_ref, lse_ref = attngen_torch.attention(q, k, v, {**SPEC, "dtype": "bf16"})
    assert torch.equal(o.transpose(1, 2), o_ref)
    assert torch.equal(lse, lse_ref)


def test_run_time_tensors():
    q, k, v = problem(3)
    spec = {**SPEC, "mask": [{"type": "padding"}], "return_lse": False}
    kv_lens = torch.tensor([41, 9], dtype=torch.int32)
    o = attngen_torch.attention(q, k, v, spec, kv_lens=kv_lens)
    assert torch.equal(o[1], attngen_torch.attention(q[1:], k[1:, :, :9], v[1:, :, :9],
                                                     {**spec, "mask": []})[0])


def test_opcheck():
    q, k, v = problem(4)
    spec = json.dumps({**SPEC, "mask": [{"type": "padding"}, *SPEC["mask"]]})
    args = (q, k, v, spec, None, torch.tensor([41, 30], dtype=torch.int32), None, None, None, None, None, "auto", 1,
            "")
    torch.library.opcheck(torch.ops.attngen.attention.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_static"))


def test_errors_come_through_the_op():
    q, k, v = problem(5)
    with pytest.raises(attngen.InvalidArgumentError, match="^k: expected dtype f32, got f16"):
        attngen_torch.attention(q, k.half(), v, SPEC)
    with pytest.raises(attngen.InvalidSpecError, match="head_dim"):
        attngen_torch.attention(q, k, v, {**SPEC, "head_dim": 0})
    with pytest.raises(attngen.InvalidArgumentError, match="^q: expected a rank-4 tensor, got shape"):
        attngen_torch.attention(q[0], k, v, SPEC)
    # The cuda backend's schedule is for CUDA tensors only; a wrong type is named.
    with pytest.raises(attngen.InvalidArgumentError, match="^cuda_tile: a schedule of the cuda backend, for CUDA "
                       "tensors; got '16x32k4' with tensors on cpu"):
        attngen_torch.attention(q, k, v, SPEC, cuda_tile="16x32k4")
    with pytest.raises(attngen.InvalidArgumentError, match="^cuda_tile: a schedule of the cuda backend"):
        attngen_torch.scaled_dot_product_attention(q, k, v, enable_gqa=True, cuda_tile="16x32k4")
    with pytest.raises(attngen.InvalidArgumentError, match="^cuda_tile: expected None or a string"):
        attngen_torch.attention(q, k, v, SPEC, cuda_tile=4)


def test_forward_only():
    """Inputs that require grad run (the kernel gets detached views); a backward is torch's error."""
    q, k, v = problem(7)
    o = attngen_torch.attention(q.requires_grad_(), k, v, {**SPEC, "return_lse": False})
    assert torch.equal(o, attngen_torch.attention(q.detach(), k, v, {**SPEC, "return_lse": False}))
    with pytest.raises(RuntimeError, match="no autograd formula"):
        o.sum().backward()


def test_torch_compile_fullgraph():
    """One graph, no breaks (fullgraph=True raises on any): the SDPA helper, the op with a JSON
    spec and with a dict spec, mixed with torch ops; equal to eager."""
    q, k, v = problem(6, sq=41)

    def layer(q, k, v):
        a = attngen_torch.scaled_dot_product_attention(q * 0.5, k, v, is_causal=True, enable_gqa=True)
        o, lse = attngen_torch.attention(q, k, v, SPEC_TEXT)
        b = attngen_torch.attention(q, k, v, {**SPEC, "return_lse": False})
        halves = [attngen_torch.attention(q, k[:, :, lo:hi], v[:, :, lo:hi], {**SPEC, "mask": []})
                  for lo, hi in ((0, 20), (20, 41))]
        m, _ = attngen_torch.merge_states([h[0] for h in halves], [h[1] for h in halves])
        return a + o + b + m, lse.exp()

    compiled = torch.compile(layer, fullgraph=True)
    got, got_lse = compiled(q, k, v)
    want, want_lse = layer(q, k, v)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(got_lse, want_lse, rtol=1e-6, atol=0)
    a = attngen_torch.scaled_dot_product_attention(q * 0.5, k, v, is_causal=True, enable_gqa=True)
    assert_close_to_torch_sdpa(a, q * 0.5, k, v, "f32", is_causal=True, enable_gqa=True)


def test_merge_states_op_equals_the_merge_on_numpy():
    """attngen::merge_states: eager equals attngen.merge_states on numpy (and the kernel over all
    keys), bshd parts, opcheck (schema, fake implementation)."""
    q, k, v = problem(7)
    spec = {**SPEC, "mask": []}
    halves = [attngen_torch.attention(q, k[:, :, lo:hi], v[:, :, lo:hi], spec) for lo, hi in ((0, 13), (13, 41))]
    o, lse = attngen_torch.merge_states([h[0] for h in halves], [h[1] for h in halves])
    want_o, want_lse = attngen.merge_states([h[0].numpy() for h in halves], [h[1].numpy() for h in halves])
    np.testing.assert_array_equal(o.numpy(), want_o)
    np.testing.assert_array_equal(lse.numpy(), want_lse)
    full_o, full_lse = attngen_torch.attention(q, k, v, spec)
    torch.testing.assert_close(o, full_o, rtol=0, atol=2e-5)
    bshd = attngen_torch.merge_states([h[0].transpose(1, 2) for h in halves], [h[1] for h in halves], layout="bshd")
    assert bshd[0].shape == (2, 19, 8, 64)
    assert torch.equal(bshd[0].transpose(1, 2), o) and torch.equal(bshd[1], lse)
    torch.library.opcheck(torch.ops.attngen.merge_states.default,
                          ([h[0] for h in halves], [h[1] for h in halves], "bhsd"))
    with pytest.raises(attngen.InvalidArgumentError, match="lse_parts"):
        attngen_torch.merge_states([halves[0][0]], [halves[0][1].double()])

