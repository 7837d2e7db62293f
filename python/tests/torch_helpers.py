"""Shared helpers of the PyTorch tests: torch is imported or the module is skipped, with the reason."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (scripts/python-env.sh installs it unless "
                                            "ATTNGEN_PY_TORCH=0): the attngen.torch tests need it")
import attngen.torch as attngen_torch  # noqa: E402, F401 - after the skip; the tests import it from here
import torch.nn.functional as F  # noqa: E402

from conftest import TOLERANCE, rel_err  # noqa: E402

SDPA_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def randn(gen, shape, dtype=torch.float32):
    return torch.randn(shape, generator=gen).to(dtype)


def assert_close_to_torch_sdpa(got, q, k, v, dtype_name, **kwargs):
    """got vs torch's own scaled_dot_product_attention on the same inputs, computed in float64
    (so the figure is attngen's error alone); f32 also vs torch's f32 result."""
    ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), **_double_mask(kwargs))
    assert got.dtype == q.dtype
    assert got.shape == ref.shape
    assert rel_err(got.double().numpy(), ref.numpy()) <= TOLERANCE[dtype_name]
    if q.dtype == torch.float32:
        same = F.scaled_dot_product_attention(q, k, v, **kwargs)
        assert rel_err(got.numpy(), same.numpy()) <= TOLERANCE["f32"]


def _double_mask(kwargs):
    m = kwargs.get("attn_mask")
    if type(m) is torch.Tensor and m.is_floating_point():  # not a CausalBias (a Tensor subclass)
        return {**kwargs, "attn_mask": m.double()}
    return kwargs
