"""attngen.torch.scaled_dot_product_attention: torch.nn.functional.scaled_dot_product_attention's
signature and semantics for the cases attngen covers, refusing the rest by name (docs/python.md)."""

import math

import torch

from .._errors import InvalidArgumentError
from ._op import attention_op, tile_argument

_SPEC_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
_ALIGN = {"UPPER_LEFT": "top_left", "LOWER_RIGHT": "bottom_right"}


def _causal_bias_align(attn_mask):
    """'top_left' / 'bottom_right' for torch.nn.attention.bias.CausalBias, else None."""
    variant = getattr(attn_mask, "variant", None)
    name = getattr(variant, "name", None)
    if name in _ALIGN and hasattr(attn_mask, "seq_len_q") and hasattr(attn_mask, "seq_len_kv"):
        return _ALIGN[name]
    return None


def _check_tensor(name, x, rank, dtype, device):
    if not isinstance(x, torch.Tensor):
        raise InvalidArgumentError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if device is None and x.device.type not in ("cpu", "cuda"):
        raise InvalidArgumentError(f"{name}: expected a CPU or CUDA tensor, got device {x.device}")
    if device is not None and x.device != device:
        raise InvalidArgumentError(f"{name}: expected a tensor on {device} (query's), got device {x.device}")
    if dtype is None and x.dtype not in _SPEC_DTYPES:
        raise InvalidArgumentError(f"{name}: expected dtype float32, float16 or bfloat16, got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise InvalidArgumentError(f"{name}: expected dtype {dtype} (query's), got {x.dtype}")
    if x.dim() != rank:
        want = "rank 4 [B, H, L, E] or 3 [H, L, E]" if name == "query" else f"rank {rank} (query's)"
        raise InvalidArgumentError(f"{name}: expected {want}, got shape {tuple(x.shape)}")


def _check_shapes(q, k, v, enable_gqa):
    (b, hq, _, e), (bk, hk, sk, ek), (bv, hv, sv, _) = q.shape, k.shape, v.shape
    if bk != b or bv != b:
        bad, got = ("key", bk) if bk != b else ("value", bv)
        raise InvalidArgumentError(f"{bad}: expected batch {b} (query's), got {got}")
    if ek != e:
        raise InvalidArgumentError(f"key: expected head dim {e} (query's last extent), got {ek}")
    if hv != hk or sv != sk:
        raise InvalidArgumentError(f"value: expected {hk} heads and {sk} keys (key's), got {hv} and {sv}")
    if hq != hk and hk != 1 and not enable_gqa:  # one K/V head broadcasts, as in torch
        raise InvalidArgumentError(f"key: expected {hq} heads (query's) or 1, got {hk} (grouped-query "
                                   "attention needs enable_gqa=True)")
    if hq != hk and (hk == 0 or hq % hk):
        raise InvalidArgumentError(f"key: expected a number of heads that divides query's {hq} (enable_gqa), "
                                   f"got {hk}")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, threads=0, cuda_tile=None):
    """torch.nn.functional.scaled_dot_product_attention on attngen's kernels, the CPU's or, for
    CUDA tensors, the cuda backend's on the current stream (through the custom op
    attngen::attention, so it traces under torch.compile(fullgraph=True)).

    Covers: [B, H, S, D] or [H, S, D] CPU or CUDA tensors in float32, float16 or bfloat16 (strided views
    welcome); no mask; is_causal (top-left); attn_mask bool (True = takes part), additive float
    (float32 or query's dtype) broadcastable to [B, Hq, L, S], or a torch.nn.attention.bias.CausalBias
    (causal_upper_left / causal_lower_right); scale > 0; enable_gqa. Refuses dropout_p != 0, other
    devices, dtypes and ranks with attngen.InvalidArgumentError. Fully masked rows give 0, as torch
    2.15 on the CPU does (earlier releases gave NaN on some paths: docs/python.md). threads: the CPU
    kernels' threads (0: all); cuda_tile: with CUDA tensors, the cuda backend's schedule, as
    attngen.compile's ("16x32k4" for decoding steps)."""
    if dropout_p != 0.0:
        raise InvalidArgumentError(f"dropout_p: expected 0.0 (attngen has no dropout), got {dropout_p}")
    rank = query.dim() if isinstance(query, torch.Tensor) and query.dim() in (3, 4) else 4
    _check_tensor("query", query, rank, None, None)
    _check_tensor("key", key, rank, query.dtype, query.device)
    _check_tensor("value", value, rank, query.dtype, query.device)
    q, k, v = (query, key, value) if rank == 4 else (query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0))
    _check_shapes(q, k, v, enable_gqa)
    _, hq, sq, e = q.shape
    hkv, skv, ev = k.shape[1], k.shape[2], v.shape[3]
    if scale is not None and not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise InvalidArgumentError(f"scale: expected None or a finite number > 0, got {scale!r}")

    mask_json, mask = "", None
    if attn_mask is not None:
        if is_causal:
            raise InvalidArgumentError("attn_mask: expected None when is_causal=True (as torch), got a mask")
        align = _causal_bias_align(attn_mask)
        if align is not None:
            if (attn_mask.seq_len_q, attn_mask.seq_len_kv) != (sq, skv):
                raise InvalidArgumentError(f"attn_mask: expected a CausalBias for {sq} queries and {skv} keys, got "
                                           f"{attn_mask.seq_len_q} and {attn_mask.seq_len_kv}")
            mask_json = f'{{"type": "causal", "align": "{align}"}}'
        else:
            if not isinstance(attn_mask, torch.Tensor):
                raise InvalidArgumentError(f"attn_mask: expected None, a torch.Tensor or a CausalBias, "
                                           f"got {type(attn_mask).__name__}")
            if attn_mask.device != query.device:
                raise InvalidArgumentError(f"attn_mask: expected a tensor on {query.device} (query's), got "
                                           f"device {attn_mask.device}")
            if attn_mask.dtype == torch.bool:
                fmt = "bool"
            elif attn_mask.dtype in (torch.float32, query.dtype):
                fmt = "additive"
            else:
                raise InvalidArgumentError(f"attn_mask: expected dtype bool, float32 or {query.dtype} (query's), "
                                           f"got {attn_mask.dtype}")
            if not 1 <= attn_mask.dim() <= rank:
                raise InvalidArgumentError(f"attn_mask: expected rank 1 to {rank}, broadcastable to "
                                           f"{tuple(query.shape[:-1]) + (skv,)}, got shape {tuple(attn_mask.shape)}")
            mask_json = f'{{"type": "custom", "format": "{fmt}"}}'
            mask = attn_mask
    elif is_causal:
        mask_json = '{"type": "causal", "align": "top_left"}'

    scale_json = "" if scale is None else f', "scale": {float(scale)!r}'
    spec = (f'{{"dtype": "{_SPEC_DTYPES[query.dtype]}", "layout": "bhsd", "num_heads": {int(hq)}, '
            f'"num_kv_heads": {int(hkv)}, "head_dim": {int(e)}, "head_dim_v": {int(ev)}, '
            f'"mask": [{mask_json}]{scale_json}}}')
    o, _ = attention_op(q, k, v, spec, None, None, None, None, mask, None, None, "auto", int(threads),
                        tile_argument(cuda_tile))
    return o if rank == 4 else o.squeeze(0)
