"""Kernels, the one-call form and the merge of partial states (docs/python.md)."""

import json
import threading

import numpy as np

from . import _attngen, _device
from ._errors import InvalidArgumentError

_NUMPY_DTYPES = {"f32": np.float32, "f16": np.float16}
try:
    import ml_dtypes

    _attngen._register_numpy_bfloat16(np.ndarray, np.dtype(ml_dtypes.bfloat16))
except ImportError:  # pragma: no cover - ml_dtypes is a dependency; bf16 numpy arrays then take a slower path
    pass
_SPEC_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def _numpy_dtype(name):
    if name == "bf16":
        try:
            import ml_dtypes
        except ImportError as e:  # pragma: no cover - ml_dtypes is a dependency
            raise InvalidArgumentError("out: a bf16 output from numpy needs ml_dtypes (or pass out=)") from e
        return ml_dtypes.bfloat16
    return _NUMPY_DTYPES[name]


def _shape(name, x, rank):
    shape = getattr(x, "shape", None)
    if shape is None:
        raise InvalidArgumentError(f"{name}: expected an array (numpy, or an object with __dlpack__), "
                                   f"got {type(x).__name__}")
    if len(shape) != rank:
        raise InvalidArgumentError(f"{name}: expected a rank-{rank} array, got shape {tuple(shape)}")
    return shape


def _json_scalar(x):
    """json.dumps' fallback: numpy scalars (a window computed with numpy) as Python numbers."""
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        return x.item()
    raise TypeError(f"{type(x).__name__} {x!r} is not a JSON value")


def _spec_text(spec):
    if isinstance(spec, str):
        return spec
    try:
        return json.dumps(spec, default=_json_scalar)
    except (TypeError, ValueError) as e:  # ValueError: a circular reference
        raise InvalidArgumentError(f"spec: expected JSON text or a dict of JSON values (docs/spec.md): {e}") from e


class Kernel:
    """A compiled kernel (attngen.compile). Call it on q, k, v; immutable, usable from any thread."""

    __slots__ = ("_k", "_run", "_o_dtype", "_bshd", "_dv", "_lse", "_cuda", "key", "backend", "isa", "spec",
                 "dtype", "layout", "num_heads", "num_kv_heads", "head_dim", "head_dim_v", "writes_lse")

    def __init__(self, spec, backend="auto", threads=None, arch=None, cuda_tile=None):
        text = _spec_text(spec)
        if arch is not None and (backend != "cuda" or not isinstance(arch, str)):
            raise InvalidArgumentError(f"arch: expected None, or a string such as 'sm_90a' with backend='cuda', "
                                       f"got {arch!r} with backend={backend!r}")
        if cuda_tile is not None and (backend != "cuda" or not isinstance(cuda_tile, str)):
            raise InvalidArgumentError(f"cuda_tile: expected None, or a string such as '16x32k4' with backend='cuda', "
                                       f"got {cuda_tile!r} with backend={backend!r}")
        self._k = _attngen._Kernel(text, backend or "auto", _threads(threads), arch or "", cuda_tile or "")
        self._run = self._k.run
        k = self._k
        self.key, self.backend, self.isa, self.spec = k.key, k.backend, k.isa, k.spec
        self.dtype, self.layout, self.writes_lse = k.dtype, k.layout, k.writes_lse
        self.num_heads, self.num_kv_heads, self.head_dim, self.head_dim_v = (
            k.num_heads, k.num_kv_heads, k.head_dim, k.head_dim_v)
        self._o_dtype = _numpy_dtype(self.dtype)
        self._bshd = self.layout == "bshd"
        self._dv = self.head_dim_v
        self._lse = self.writes_lse
        self._cuda = self.backend == "cuda"

    def __repr__(self):
        return f"attngen.Kernel(key={self.key!r}, backend={self.backend!r}, isa={self.isa!r}, spec={self.spec})"

    def __call__(self, q, k, v, *, q_lens=None, kv_lens=None, q_doc=None, kv_doc=None, mask=None,
                 alibi_slopes=None, prefix_lens=None, out=None, lse_out=None, threads=None, stream=None):
        """Runs the kernel. Returns O, or (O, LSE) when the spec has return_lse; writes into
        out= / lse_out= when given (any writable array or DLPack producer), else into new numpy arrays.
        A cuda kernel takes device arrays and returns once launched on `stream` (docs/python.md)."""
        if self._cuda:
            return self._launch(q, k, v, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens, out,
                                lse_out, threads, stream)
        if stream is not None:
            raise InvalidArgumentError(f"stream: only a cuda kernel takes a stream (this one is {self.backend}), "
                                       f"got {stream!r}")
        if out is None or (self._lse and lse_out is None):
            o_shape, lse_shape = self._output_shapes(q)
            if out is None:
                out = np.empty(o_shape, self._o_dtype)
            if self._lse and lse_out is None:
                lse_out = np.empty(lse_shape, np.float32)
        self._run(q, k, v, out, lse_out, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens,
                  threads or 0)
        return (out, lse_out) if self._lse else out

    def _output_shapes(self, q):
        """O's shape (q's with Dv last) and LSE's ([B, Hq, Sq]) for query array q."""
        s = q.shape if hasattr(q, "shape") else _shape("q", q, 4)
        if len(s) != 4:
            _shape("q", q, 4)
        return (s[0], s[1], s[2], self._dv), ((s[0], s[2], s[1]) if self._bshd else (s[0], s[1], s[2]))

    def _launch(self, q, k, v, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens, out, lse_out,
                threads, stream):
        if threads:
            raise InvalidArgumentError(f"threads: a cuda kernel runs on the GPU; expected None or 0, got {threads!r}")
        device = _device.torch_device(q)

        def view(name, x, writable=False):
            return _device.device_view(name, x, writable, device)

        if out is None or (self._lse and lse_out is None):
            o_shape, lse_shape = self._output_shapes(q)
            if out is None:
                out = _device.empty_beside("out", q, o_shape, self.dtype)
            if self._lse and lse_out is None:
                lse_out = _device.empty_beside("lse_out", q, lse_shape, "f32")
        handle = _device.stream_handle(stream, q)
        with _device.device_of(q):
            self._k.run_cuda(view("q", q), view("k", k), view("v", v), view("out", out, True),
                             view("lse_out", lse_out, True), view("q_lens", q_lens), view("kv_lens", kv_lens),
                             view("q_doc", q_doc), view("kv_doc", kv_doc), view("mask", mask),
                             view("alibi_slopes", alibi_slopes), view("prefix_lens", prefix_lens), handle)
        return (out, lse_out) if self._lse else out


def _threads(threads):
    if threads is None:
        return 0
    if not isinstance(threads, int) or threads < 0:
        raise InvalidArgumentError(f"threads: must be None or an integer >= 0, got {threads!r}")
    return threads


def compile(spec, backend="auto", threads=None, *, arch=None, cuda_tile=None):  # noqa: A001 - the package's verb
    """Compiles a spec (a dict or JSON text, docs/spec.md), or finds it in the kernel cache.

    backend: "auto" (the best CPU backend), "x86", "reference" or "cuda" (NVRTC; the kernel
    runs on device arrays). threads: the default thread count of its runs (None or 0: all
    hardware threads). arch: with backend="cuda", the GPU to compile for ("sm_80", "sm_86",
    "sm_89", "sm_90a"; None: device 0's). cuda_tile: with backend="cuda", the f16/bf16
    schedule as ATTNGEN_CUDA_TILE spells it ("16x32k4": decoding, 4 warps splitting the keys
    of 16 rows; None: the per-spec tile or ATTNGEN_CUDA_TILE's), e.g. a decoding kernel beside
    the prefill one of the same spec. Raises attngen.Error subclasses."""
    return Kernel(spec, backend, threads, arch, cuda_tile)


_cache = {}
_cache_lock = threading.Lock()


def clear_cache():
    """Forgets the kernels of attngen.attention (the library's own cache is kept)."""
    with _cache_lock:
        _cache.clear()


def _spec_dtype(name, x):
    dtype = getattr(x, "dtype", None)
    text = str(dtype).removeprefix("torch.")
    if text not in _SPEC_DTYPES:
        raise InvalidArgumentError(f"{name}: dtype {text} is not supported (expected float32, float16 or bfloat16)")
    return _SPEC_DTYPES[text]


def attention(q, k, v, *, mask=(), score_mod=(), layout="bhsd", scale=None, return_lse=False, backend="auto",
              threads=None, out=None, lse_out=None, arch=None, cuda_tile=None, **tensors):
    """One call: builds the spec from the arrays (dtype, heads, head dims) and the arguments,
    compiles it once (kernels are cached by spec) and runs it. `tensors`: q_lens, kv_lens,
    q_doc, kv_doc, mask_tensor (the custom mask), alibi_slopes, prefix_lens, and stream (cuda).
    backend "auto" is "cuda" for device arrays (a torch CUDA tensor, __cuda_array_interface__,
    DLPack on a CUDA device). arch, cuda_tile: as compile()'s (cuda_tile="16x32k4" for
    decoding steps)."""
    # The cache key holds what the spec is built from; the spec itself only on a miss.
    head_axis = 2 if layout == "bshd" else 1
    qs, ks, vs = _shape("q", q, 4), _shape("k", k, 4), _shape("v", v, 4)
    if backend in (None, "auto") and _device.is_device_array(q):
        backend = "cuda"
    # Masks and score mods by content (JSON, keys sorted), never by repr(),
    # which a dict subclass may make say anything; what is not JSON is not
    # cached (building its spec says why).
    try:
        mods = json.dumps([mask or (), score_mod or ()], sort_keys=True, default=_json_scalar)
        key = (str(getattr(q, "dtype", None)), layout, qs[head_axis], ks[head_axis], qs[3], vs[3], mods, scale,
               return_lse, backend, threads, arch, cuda_tile)
        hash(key)
    except (TypeError, ValueError):
        key = None
    kernel = _cache.get(key) if key is not None else None
    if kernel is None:
        if layout not in ("bhsd", "bshd"):
            raise InvalidArgumentError(f"layout: expected 'bhsd' or 'bshd', got {layout!r}")
        spec = {"dtype": _spec_dtype("q", q), "layout": layout, "num_heads": int(qs[head_axis]),
                "num_kv_heads": int(ks[head_axis]), "head_dim": int(qs[3]), "head_dim_v": int(vs[3]),
                "mask": list(mask or ()), "score_mod": list(score_mod or ()), "return_lse": bool(return_lse)}
        if scale is not None:
            spec["scale"] = float(scale)
        kernel = Kernel(spec, backend, threads, arch, cuda_tile)
        if key is not None:
            with _cache_lock:
                _cache[key] = kernel
    custom = tensors.pop("mask_tensor", None)
    unknown = set(tensors) - {"q_lens", "kv_lens", "q_doc", "kv_doc", "alibi_slopes", "prefix_lens", "stream"}
    if unknown:
        raise InvalidArgumentError(f"{sorted(unknown)[0]}: unknown argument (expected q_lens, kv_lens, q_doc, "
                                   "kv_doc, mask_tensor, alibi_slopes, prefix_lens or stream)")
    return kernel(q, k, v, mask=custom, out=out, lse_out=lse_out, threads=threads, **tensors)


def _swap_heads_and_rows(name, x):
    if not isinstance(x, np.ndarray):
        try:
            x = np.from_dlpack(x)
        except Exception as e:
            raise InvalidArgumentError(f"{name}: layout 'bshd' needs a numpy array or a CPU DLPack producer "
                                       f"({e})") from e
    if x.ndim != 4:
        raise InvalidArgumentError(f"{name}: layout 'bshd' expects a rank-4 array [B, S, H, Dv], "
                                   f"got shape {x.shape}")
    return np.swapaxes(x, 1, 2)


def merge_states(o_parts, lse_parts, *, out=None, lse_out=None, layout="bhsd", stream=None):
    """Merges partial states (O_i, LSE_i) over disjoint key sets into the state over their union.

    O_i: [..., Dv] (f32, f16 or bf16), LSE_i: f32 [...] (its leading extents), as kernels with
    return_lse write them ([B, Hq, Sq, Dv] and [B, Hq, Sq]); layout="bshd": O_i are [B, Sq, Hq, Dv].
    Returns (O, LSE); O has the dtype of o_parts[0] unless out= is given. Empty parts (LSE -inf)
    are skipped; all empty: O = 0, LSE = -inf. out / lse_out may be o_parts[0] / lse_parts[0].
    Device arrays (torch CUDA tensors, __cuda_array_interface__, DLPack on CUDA) merge on the GPU,
    at most 32 parts a call, launched on `stream` (as a cuda kernel's call) without waiting."""
    o_parts, lse_parts = list(o_parts), list(lse_parts)
    if not o_parts:
        raise InvalidArgumentError("o_parts: at least one part is needed, got none")
    if layout not in ("bhsd", "bshd"):
        raise InvalidArgumentError(f"layout: expected 'bhsd' or 'bshd', got {layout!r}")
    if _device.is_device_array(o_parts[0]):
        return _merge_states_cuda(o_parts, lse_parts, out, lse_out, layout == "bshd", stream)
    if stream is not None:
        raise InvalidArgumentError(f"stream: only a merge of device arrays takes a stream, got {stream!r}")
    result = out
    if out is None:
        first = o_parts[0]
        dtype = first.dtype if isinstance(first, np.ndarray) else np.float32
        out = result = np.empty(tuple(_shape("o_parts[0]", first, len(getattr(first, "shape", ())))), dtype)
    if lse_out is None:
        lead = tuple(_shape("lse_parts[0]", lse_parts[0], len(getattr(lse_parts[0], "shape", ()))))
        lse_out = np.empty(lead, np.float32)
    if layout == "bshd":
        o_parts = [_swap_heads_and_rows(f"o_parts[{i}]", o) for i, o in enumerate(o_parts)]
        out = _swap_heads_and_rows("out", out)
    _attngen.merge_states(o_parts, lse_parts, out, lse_out)
    return result, lse_out


def _merge_states_cuda(o_parts, lse_parts, out, lse_out, bshd, stream):
    first = o_parts[0]
    device = _device.torch_device(first)

    def view(name, x, writable=False):
        v = _device.device_view(name, x, writable, device)
        if v is None or not (bshd and name.startswith(("o_parts", "out"))):
            return v
        address, dtype, shape, strides = v
        if len(shape) != 4:
            raise InvalidArgumentError(f"{name}: layout 'bshd' expects a rank-4 array [B, S, H, Dv], "
                                       f"got shape {tuple(shape)}")
        return address, dtype, (shape[0], shape[2], shape[1], shape[3]), (strides[0], strides[2], strides[1],
                                                                          strides[3])

    o_views = [view(f"o_parts[{i}]", o) for i, o in enumerate(o_parts)]
    if out is None:
        out = _device.empty_beside("out", first, tuple(getattr(first, "shape", ())), o_views[0][1])
    if lse_out is None:
        lse_out = _device.empty_beside("lse_out", first, tuple(o_views[0][2][:-1]), "f32")
    lse_views = [view(f"lse_parts[{i}]", x) for i, x in enumerate(lse_parts)]
    handle = _device.stream_handle(stream, first)
    with _device.device_of(first):
        _attngen.merge_states_cuda(o_views, lse_views, view("out", out, True), view("lse_out", lse_out, True), handle)
    return out, lse_out

