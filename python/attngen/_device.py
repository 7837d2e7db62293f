"""Device arrays for the cuda backend (docs/python.md, "CUDA"): views (address, dtype, shape,
strides in elements) of torch CUDA tensors, of objects with __cuda_array_interface__ (CuPy,
Numba, ...) and of DLPack producers on a CUDA device; the stream a call is launched on; outputs
allocated beside torch inputs. Nothing is copied and nothing waits: the call returns once the
kernel is launched, as attngen_kernel_run_cuda does."""

import contextlib

from . import _attngen
from ._errors import InvalidArgumentError

_TORCH_DTYPES = {"torch.float32": "f32", "torch.float16": "f16", "torch.bfloat16": "bf16", "torch.int32": "i32",
                 "torch.uint8": "u8", "torch.bool": "bool"}
# __cuda_array_interface__ has no bf16 typestr: bf16 comes as its bits, uint16 (or ml_dtypes'
# "<V2"), as numpy bf16 arrays do on the host.
_CAI_DTYPES = {"<f4": "f32", "<f2": "f16", "<u2": "bf16", "<V2": "bf16", "<i4": "i32", "|u1": "u8", "|b1": "bool"}
_ITEM_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "u8": 1, "bool": 1}
_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged
_EXPECTED = ("a CUDA array (a torch CUDA tensor, an object with __cuda_array_interface__ or a DLPack producer "
             "on a CUDA device)")


def _is_torch(x):
    return type(x).__module__.split(".", 1)[0] == "torch" and hasattr(x, "data_ptr")


def _dlpack_device_type(x):
    device = getattr(x, "__dlpack_device__", None)
    try:
        return device()[0] if device is not None else None
    except Exception:  # noqa: BLE001 - a producer that cannot say is not on a device we read
        return None


def is_device_array(x):
    """Whether x lives in device memory (then only the cuda backend reads it)."""
    if _is_torch(x):
        return x.device.type == "cuda"
    return hasattr(x, "__cuda_array_interface__") or _dlpack_device_type(x) in _DLPACK_CUDA


def _interface_view(name, cai, writable):
    try:
        shape = tuple(int(n) for n in cai["shape"])
        typestr = cai["typestr"]
        address, read_only = cai["data"]
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{name}: a malformed __cuda_array_interface__ ({e!r})") from None
    dtype = _CAI_DTYPES.get(typestr)
    if dtype is None:
        raise InvalidArgumentError(f"{name}: dtype {typestr} is not supported (expected the "
                                   "__cuda_array_interface__ typestr <f4, <f2, <u2 or <V2 for bfloat16 bits, <i4, "
                                   "|u1 or |b1)")
    if cai.get("mask") is not None:
        raise InvalidArgumentError(f"{name}: masked arrays are not supported")
    if writable and read_only:
        raise InvalidArgumentError(f"{name}: the output array is read-only")
    item = _ITEM_BYTES[dtype]
    byte_strides = cai.get("strides")
    if byte_strides is None:  # C order
        strides, step = [], 1
        for n in reversed(shape):
            strides.append(step)
            step *= n
        strides.reverse()
    else:
        if len(byte_strides) != len(shape) or any(int(s) % item for s in byte_strides):
            raise InvalidArgumentError(f"{name}: strides {tuple(byte_strides)} (bytes) are not whole elements of "
                                       f"{item} bytes, one per extent of {shape}")
        strides = [int(s) // item for s in byte_strides]
    return int(address or 0), dtype, shape, tuple(strides)


def device_view(name, x, writable=False, device=None):
    """(address, dtype, shape, strides in elements) of device array x, or None for None. device:
    the torch device every torch tensor of the call must be on (q's)."""
    if x is None:
        return None
    if _is_torch(x):
        if x.device.type != "cuda":
            raise InvalidArgumentError(f"{name}: expected a CUDA tensor (a cuda kernel reads device memory), got "
                                       f"device {x.device}")
        if device is not None and x.device != device:
            raise InvalidArgumentError(f"{name}: expected a tensor on {device} (q's), got {x.device}")
        dtype = _TORCH_DTYPES.get(str(x.dtype))
        if dtype is None:
            raise InvalidArgumentError(f"{name}: dtype {str(x.dtype).removeprefix('torch.')} is not supported "
                                       "(expected float32, float16, bfloat16, int32, uint8 or bool)")
        return x.data_ptr(), dtype, tuple(x.shape), x.stride()
    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is not None:
        return _interface_view(name, cai, writable)
    if _dlpack_device_type(x) in _DLPACK_CUDA:
        return _attngen._dlpack_device_view(name, x)
    where = " in host memory" if hasattr(x, "__array_interface__") or hasattr(x, "__dlpack__") else ""
    raise InvalidArgumentError(f"{name}: expected {_EXPECTED}, got {type(x).__name__}{where} (a cuda kernel reads "
                               "device memory)")


def stream_handle(stream, q):
    """The CUstream (an integer) a call on q is launched on. None: torch's current stream for torch
    tensors, the stream of q's __cuda_array_interface__ if it names one, else the default stream."""
    if stream is None:
        if _is_torch(q):
            import torch

            return torch.cuda.current_stream(q.device).cuda_stream
        cai = getattr(q, "__cuda_array_interface__", None)
        named = cai.get("stream") if isinstance(cai, dict) else None
        return int(named) if named else 0
    if isinstance(stream, int) and not isinstance(stream, bool):
        if stream < 0:
            raise InvalidArgumentError(f"stream: expected a CUstream handle >= 0, got {stream}")
        return stream
    protocol = getattr(stream, "__cuda_stream__", None)
    if protocol is not None:
        return int(protocol()[1])
    for attr in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        handle = getattr(stream, attr, None)
        if isinstance(handle, int):
            return handle
    raise InvalidArgumentError(f"stream: expected None, a CUstream handle (an integer) or a stream object "
                               f"(torch.cuda.Stream, an object with __cuda_stream__), got {type(stream).__name__}")


def empty_beside(name, q, shape, dtype):
    """A new output array of `shape` and dtype name `dtype` on q's device (torch tensors only)."""
    if not _is_torch(q):
        raise InvalidArgumentError(f"{name}: pass {name}= (a device array to write into): a cuda kernel makes its "
                                   f"outputs only beside torch tensors, got q of type {type(q).__name__}")
    import torch

    return torch.empty(shape, dtype=getattr(torch, {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype]),
                       device=q.device)


def torch_device(q):
    """q's torch device, or None when q is not a torch tensor."""
    return q.device if _is_torch(q) else None


def device_of(q):
    """A context in which q's device is the current one (torch tensors), else nothing to do."""
    if _is_torch(q):
        import torch

        return torch.cuda.device(q.device)
    return contextlib.nullcontext()
