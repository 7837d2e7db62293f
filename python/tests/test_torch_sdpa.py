"""attngen.torch.scaled_dot_product_attention against torch's own, on the conventions they share
(no mask, causal top-left and bottom-right, bool and additive masks, GQA, scale, 3-D), strided
inputs, fully masked rows, and the errors of what it does not cover."""

import pytest
from torch_helpers import SDPA_DTYPES, assert_close_to_torch_sdpa, attngen_torch, randn, torch

import attngen
from torch.nn.attention.bias import causal_lower_right, causal_upper_left

sdpa = attngen_torch.scaled_dot_product_attention


def qkv(seed, dtype, b=2, hq=4, hkv=4, sq=37, skv=53, d=64, dv=64):
    g = torch.Generator().manual_seed(seed)
    return randn(g, (b, hq, sq, d), dtype), randn(g, (b, hkv, skv, d), dtype), randn(g, (b, hkv, skv, dv), dtype)


def keep_mask(seed, shape):
    """A random bool mask (True = takes part) with key 0 always kept, so no row is fully masked."""
    m = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.6
    m[..., 0] = True
    return m


CASES = {
    "no_mask": lambda q, k, v: {},
    "is_causal": lambda q, k, v: {"is_causal": True},
    "causal_upper_left": lambda q, k, v: {"attn_mask": causal_upper_left(q.shape[-2], k.shape[-2])},
    "causal_lower_right": lambda q, k, v: {"attn_mask": causal_lower_right(q.shape[-2], k.shape[-2])},
    "bool_mask_2d": lambda q, k, v: {"attn_mask": keep_mask(1, (q.shape[-2], k.shape[-2]))},
    "bool_mask_b1ls": lambda q, k, v: {"attn_mask": keep_mask(2, (q.shape[0], 1, q.shape[-2], k.shape[-2]))},
    "additive_f32": lambda q, k, v: {"attn_mask": torch.randn(q.shape[-2], k.shape[-2])},
    "additive_query_dtype": lambda q, k, v: {"attn_mask": torch.randn(q.shape[1], q.shape[-2], k.shape[-2]).to(q.dtype)},
    "scale": lambda q, k, v: {"scale": 0.3, "is_causal": True},
}


@pytest.mark.parametrize("dtype", sorted(SDPA_DTYPES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_equals_torch_sdpa(case, dtype):
    q, k, v = qkv(7, SDPA_DTYPES[dtype])
    kwargs = CASES[case](q, k, v)
    assert_close_to_torch_sdpa(sdpa(q, k, v, **kwargs), q, k, v, dtype, **kwargs)


@pytest.mark.parametrize("dtype", sorted(SDPA_DTYPES))
def test_gqa_and_head_dim_v(dtype):
    q, k, v = qkv(8, SDPA_DTYPES[dtype], hq=8, hkv=2, dv=32)
    assert_close_to_torch_sdpa(sdpa(q, k, v, is_causal=True, enable_gqa=True), q, k, v, dtype, is_causal=True,
                               enable_gqa=True)
    # One K/V head broadcasts without enable_gqa, as in torch.
    assert_close_to_torch_sdpa(sdpa(q, k[:, :1], v[:, :1]), q, k[:, :1], v[:, :1], dtype)


def test_rank_3():
    q, k, v = (t[0] for t in qkv(9, torch.float32))
    o = sdpa(q, k, v, is_causal=True)
    assert o.shape == (4, 37, 64)
    assert_close_to_torch_sdpa(o, q, k, v, "f32", is_causal=True)


def test_strided_views():
    """Slices of a fused QKV tensor [B, S, 3H, D] seen as [B, H, S, D], and a transposed view."""
    g = torch.Generator().manual_seed(10)
    fused = randn(g, (2, 45, 3 * 4, 64))
    q, k, v = (fused[:, :, i * 4:(i + 1) * 4].transpose(1, 2) for i in range(3))
    assert not q.is_contiguous()
    assert_close_to_torch_sdpa(sdpa(q, k, v, is_causal=True), q, k, v, "f32", is_causal=True)
    kt = randn(g, (2, 4, 64, 45)).transpose(-1, -2)  # [B, H, S, D] with D the slow axis
    assert_close_to_torch_sdpa(sdpa(q, kt, v), q, kt, v, "f32")
    mask = keep_mask(3, (45, 1)).expand(45, 45)  # zero strides
    assert_close_to_torch_sdpa(sdpa(q, k, v, attn_mask=mask), q, k, v, "f32", attn_mask=mask)


@pytest.mark.parametrize("dtype", sorted(SDPA_DTYPES))
def test_fully_masked_rows_give_zero(dtype):
    """attngen: O = 0 on a row with no allowed key (spec v1). torch 2.5+ on the CPU gives 0 too."""
    q, k, v = qkv(11, SDPA_DTYPES[dtype], sq=20, skv=20)
    keep = keep_mask(4, (20, 20))
    keep[3] = False
    additive = torch.zeros(20, 20)
    additive[5] = float("-inf")
    for mask in (keep, additive):
        o = sdpa(q, k, v, attn_mask=mask)
        row = 3 if mask.dtype == torch.bool else 5
        assert torch.equal(o[:, :, row], torch.zeros_like(o[:, :, row]))
        assert torch.isfinite(o).all()
    with pytest.warns(UserWarning, match="NaN"):  # torch's warning; attngen (and torch 2.15 on the CPU) give 0
        bias = causal_lower_right(12, 5)  # rows 0..6 see no key
    lr = sdpa(randn(torch.Generator(), (1, 2, 12, 64), q.dtype), k[:1, :2, :5], v[:1, :2, :5], attn_mask=bias)
    assert torch.equal(lr[:, :, :7], torch.zeros_like(lr[:, :, :7]))


def test_bf16_output_is_torch_bfloat16():
    q, k, v = qkv(12, torch.bfloat16)
    assert sdpa(q, k, v).dtype == torch.bfloat16


def _err(fn):
    with pytest.raises(attngen.InvalidArgumentError) as e:
        fn()
    return str(e.value)


def test_errors_name_the_argument():
    q, k, v = qkv(13, torch.float32)
    assert _err(lambda: sdpa(q, k, v, dropout_p=0.1)) == "dropout_p: expected 0.0 (attngen has no dropout), got 0.1"
    assert _err(lambda: sdpa(q.double(), k, v)).startswith("query: expected dtype float32, float16 or bfloat16, "
                                                            "got torch.float64")
    assert _err(lambda: sdpa(q, k.half(), v)) == "key: expected dtype torch.float32 (query's), got torch.float16"
    assert "query: expected a CPU or CUDA tensor" in _err(lambda: sdpa(q.to("meta"), k, v))
    assert "got device meta" in _err(lambda: sdpa(q, k, v.to("meta")))
    assert _err(lambda: sdpa(q[0, 0], k[0, 0], v[0, 0])) == (
        "query: expected rank 4 [B, H, L, E] or 3 [H, L, E], got shape (37, 64)")
    assert _err(lambda: sdpa(q, k[0], v)) == "key: expected rank 4 (query's), got shape (4, 53, 64)"
    assert _err(lambda: sdpa(q, k[..., :32], v)) == "key: expected head dim 64 (query's last extent), got 32"
    assert _err(lambda: sdpa(q, k[:1], v[:1])) == "key: expected batch 2 (query's), got 1"
    assert _err(lambda: sdpa(q, k, v[:, :, :50])) == "value: expected 4 heads and 53 keys (key's), got 4 and 50"
    assert _err(lambda: sdpa(q, k[:, :2], v[:, :2])).startswith("key: expected 4 heads (query's) or 1, got 2")
    assert _err(lambda: sdpa(q, k[:, :3], v[:, :3], enable_gqa=True)).startswith(
        "key: expected a number of heads that divides query's 4")
    assert _err(lambda: sdpa(q, k, v, scale=-1.0)) == "scale: expected None or a finite number > 0, got -1.0"
    assert _err(lambda: sdpa(q, k, v, attn_mask=keep_mask(0, (37, 53)), is_causal=True)).startswith(
        "attn_mask: expected None when is_causal=True")
    assert _err(lambda: sdpa(q, k, v, attn_mask=torch.ones(37, 53, dtype=torch.int32))) == (
        "attn_mask: expected dtype bool, float32 or torch.float32 (query's), got torch.int32")
    assert "attn_mask: expected a CausalBias for 37 queries and 53 keys, got 37 and 52" in _err(
        lambda: sdpa(q, k, v, attn_mask=causal_lower_right(37, 52)))
    # Shapes only the kernel can check: its message, naming the tensor.
    assert _err(lambda: sdpa(q, k, v, attn_mask=keep_mask(0, (3, 37, 53)))).startswith("mask:")
    assert "query: expected a torch.Tensor, got ndarray" == _err(lambda: sdpa(q.numpy(), k, v))


def test_enable_gqa_without_groups_changes_nothing():
    """enable_gqa with Hkv = Hq (no grouping) changes nothing."""
    q, k, v = qkv(14, torch.float32)
    torch.testing.assert_close(sdpa(q, k, v, enable_gqa=True), sdpa(q, k, v), rtol=0, atol=0)
