"""The custom op attngen::attention (torch.library) and its fake implementation.

The spec travels as a JSON string argument, not as a key into a Python-side registry: a string is
a constant of the traced graph, so torch.compile (fullgraph) sees one op with all it needs, the
fake implementation reads the output shapes from it, and a graph saved or run in another process
(torch.export, a compile cache) needs no registry filled in first. Kernels are cached per
(spec, backend, threads, cuda_tile) here and by the library, so the string costs one dict look-up per
call."""

import atexit
import json
import threading
from typing import Optional

import torch

from .._errors import InvalidArgumentError
from .._kernel import Kernel, merge_states as _merge_states

_kernels = {}
_kernels_lock = threading.Lock()
atexit.register(_kernels.clear)  # kernels released before the interpreter tears the extension down


def kernel_for(spec: str, backend: str = "auto", threads: int = 0, cuda_tile: str = "") -> Kernel:
    """The compiled kernel of a spec (JSON text), compiled on first use."""
    key = (spec, backend, threads, cuda_tile)
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = Kernel(spec, backend, threads or None, cuda_tile=cuda_tile or None)
        with _kernels_lock:
            _kernels[key] = kernel
    return kernel


def _output_shapes(q, spec):
    """(O's shape, LSE's shape or None) for q and the spec (JSON text): O has q's shape with
    Dv last in both layouts; LSE is [B, Hq, Sq]."""
    if q.dim() != 4:
        raise InvalidArgumentError(f"q: expected a rank-4 tensor, got shape {tuple(q.shape)}")
    s = _spec_fields(spec)
    dv = s.get("head_dim_v") or s.get("head_dim")
    if not isinstance(dv, int):
        raise InvalidArgumentError(f"spec: head_dim: expected an integer, got {dv!r}")
    o_shape = (q.shape[0], q.shape[1], q.shape[2], dv)
    if not s.get("return_lse", False):
        return o_shape, None
    bshd = s.get("layout", "bhsd") == "bshd"
    return o_shape, ((q.shape[0], q.shape[2], q.shape[1]) if bshd else (q.shape[0], q.shape[1], q.shape[2]))


_fields = {}


def _spec_fields(spec):
    fields = _fields.get(spec)
    if fields is None:
        try:
            fields = json.loads(spec)
        except ValueError as e:
            raise InvalidArgumentError(f"spec: expected JSON text, got {spec[:60]!r} ({e})") from e
        if not isinstance(fields, dict):
            raise InvalidArgumentError(f"spec: expected a JSON object, got {spec[:60]!r}")
        _fields[spec] = fields
    return fields


@torch.library.custom_op("attngen::attention", mutates_args=(), device_types=("cpu", "cuda"))
def attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spec: str, q_lens: Optional[torch.Tensor],
                 kv_lens: Optional[torch.Tensor], q_doc: Optional[torch.Tensor], kv_doc: Optional[torch.Tensor],
                 mask: Optional[torch.Tensor], alibi_slopes: Optional[torch.Tensor],
                 prefix_lens: Optional[torch.Tensor], backend: str, threads: int,
                 cuda_tile: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs the spec's kernel on CPU tensors (DLPack views, no copies), or on CUDA tensors with the
    cuda backend, launched on the current stream (cuda_tile: its schedule, "" for the default).
    Returns (O, LSE); LSE is an empty f32 tensor when the spec has no return_lse."""
    o_shape, lse_shape = _output_shapes(q, spec)
    o = torch.empty(o_shape, dtype=q.dtype, device=q.device)
    lse = torch.empty(lse_shape if lse_shape is not None else (0,), dtype=torch.float32, device=q.device)
    if q.device.type == "cuda":
        if backend not in ("auto", "cuda"):
            raise InvalidArgumentError(f"backend: CUDA tensors run on the 'cuda' backend ('auto' picks it), got "
                                       f"{backend!r}")
        backend, threads = "cuda", 0
    elif cuda_tile:
        raise InvalidArgumentError(f"cuda_tile: a schedule of the cuda backend, for CUDA tensors; got {cuda_tile!r} "
                                   f"with tensors on {q.device}")
    kernel = kernel_for(spec, backend, threads, cuda_tile)
    # detach(): DLPack refuses tensors that require grad; the op has no backward.
    d = [None if t is None else t.detach()
         for t in (q, k, v, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens)]
    kernel(d[0], d[1], d[2], q_lens=d[3], kv_lens=d[4], q_doc=d[5], kv_doc=d[6], mask=d[7], alibi_slopes=d[8],
           prefix_lens=d[9], out=o, lse_out=lse if lse_shape is not None else None, threads=threads)
    return o, lse


@attention_op.register_fake
def _attention_fake(q, k, v, spec, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens, backend,
                    threads, cuda_tile):
    o_shape, lse_shape = _output_shapes(q, spec)
    return (q.new_empty(o_shape),
            q.new_empty(lse_shape if lse_shape is not None else (0,), dtype=torch.float32))


# Run by torch.compile at trace time, not traced (Dynamo cannot trace the json module): the spec is
# a constant of the graph either way.
@torch.compiler.assume_constant_result
def _spec_text(spec):
    return spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)


@torch.compiler.assume_constant_result
def _returns_lse(spec_text):
    return bool(_spec_fields(spec_text).get("return_lse", False))


def tile_argument(cuda_tile):
    """The op's cuda_tile string ("" for the default schedule) from a user's None or string."""
    if cuda_tile is not None and not isinstance(cuda_tile, str):
        raise InvalidArgumentError(f"cuda_tile: expected None or a string such as '16x32k4', got {cuda_tile!r}")
    return cuda_tile or ""


def attention(q, k, v, spec, *, q_lens=None, kv_lens=None, q_doc=None, kv_doc=None, mask=None, alibi_slopes=None,
              prefix_lens=None, backend="auto", threads=0, cuda_tile=None):
    """Runs a spec (a dict or JSON text, docs/spec.md) on torch CPU or CUDA tensors through the custom
    op torch.ops.attngen.attention: eager, or inside torch.compile(fullgraph=True). cuda_tile: with
    CUDA tensors, the cuda backend's schedule, as attngen.compile's ("16x32k4" for decoding steps).
    Returns O, or (O, LSE) when the spec has return_lse."""
    text = _spec_text(spec)
    o, lse = torch.ops.attngen.attention(q, k, v, text, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes,
                                         prefix_lens, backend, threads, tile_argument(cuda_tile))
    return (o, lse) if _returns_lse(text) else o


@torch.library.custom_op("attngen::merge_states", mutates_args=(), device_types=("cpu", "cuda"))
def merge_states_op(o_parts: list[torch.Tensor], lse_parts: list[torch.Tensor],
                    layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """attngen.merge_states on torch tensors: on the host for CPU tensors, on the GPU for CUDA
    tensors (launched on the current stream). Returns (O, LSE), O in o_parts[0]'s dtype."""
    o, lse = _merge_outputs(o_parts, lse_parts)
    _merge_states([t.detach() for t in o_parts], [t.detach() for t in lse_parts], out=o, lse_out=lse, layout=layout)
    return o, lse


def _merge_outputs(o_parts, lse_parts):
    if not o_parts or not lse_parts:
        raise InvalidArgumentError("o_parts: at least one part is needed, got none")
    return torch.empty_like(o_parts[0], memory_format=torch.contiguous_format), \
        lse_parts[0].new_empty(lse_parts[0].shape, dtype=torch.float32)


@merge_states_op.register_fake
def _merge_states_fake(o_parts, lse_parts, layout):
    return _merge_outputs(o_parts, lse_parts)


def merge_states(o_parts, lse_parts, *, layout="bhsd"):
    """Merges partial states (O_i, LSE_i) of torch tensors through the custom op
    torch.ops.attngen.merge_states: eager, or inside torch.compile(fullgraph=True). Returns
    (O, LSE); the semantics are attngen.merge_states' (docs/python.md)."""
    return torch.ops.attngen.merge_states(list(o_parts), list(lse_parts), layout)

