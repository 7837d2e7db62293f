"""Device arrays on the test suite's fake CUDA driver (tests/fake_cuda/fake_cuda.h): its "device
memory" is host memory it hands out, and with FAKE_NVRTC_EMULATE its launches run the kernels in
the block emulator (tests/cuda_host/). Two kinds of array reach attngen's cuda backend from
Python the ways real ones do: one with __cuda_array_interface__ (as CuPy, Numba) and one that
is a DLPack producer on a CUDA device (as JAX)."""

import ctypes
import os
import pathlib

import ml_dtypes
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def fake_libraries():
    """(driver, NVRTC) paths of the fakes the C++ build made, or None."""
    folder = pathlib.Path(os.environ.get("ATTNGEN_TEST_FAKE_CUDA_DIR", REPO / "build" / "tests"))
    driver, nvrtc = folder / "libfake_cuda_driver.so", folder / "libfake_nvrtc.so"
    return (driver, nvrtc) if driver.exists() and nvrtc.exists() else None


class FakeLaunch(ctypes.Structure):  # the start of struct FakeCudaLaunch
    _fields_ = [("entry", ctypes.c_char * 128), ("arch", ctypes.c_char * 16), ("grid", ctypes.c_uint * 3),
                ("block", ctypes.c_uint * 3), ("shared_bytes", ctypes.c_uint), ("stream", ctypes.c_void_p),
                ("rest", ctypes.c_char * 4096)]


class FakeDriver:
    """The fake driver attngen loads (one copy per process: dlopen of the same file)."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(str(path))
        ctx = ctypes.c_void_p()
        assert self.lib.cuInit(0) == 0
        assert self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), 0) == 0
        assert self.lib.cuCtxSetCurrent(ctx) == 0

    def alloc(self, nbytes):
        p = ctypes.c_uint64()
        assert self.lib.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(max(nbytes, 1))) == 0
        return p.value

    def free(self, address):
        self.lib.cuMemFree_v2(ctypes.c_uint64(address))

    def last_launch(self):
        launch = FakeLaunch()
        return launch if self.lib.fake_cuda_last_launch(ctypes.byref(launch)) else None


class DeviceArray:
    """A strided view of fake device memory, readable through __cuda_array_interface__."""

    def __init__(self, driver, host=None, *, shape=None, dtype=None, base=None, offset=0, strides=None):
        self.driver = driver
        if base is None:
            host = np.ascontiguousarray(host) if host is not None else np.zeros(shape, dtype)
            self.address = driver.alloc(host.nbytes)
            ctypes.memmove(self.address, host.ctypes.data, host.nbytes)
            self.owner, self.shape, self.dtype = self, host.shape, host.dtype
            self.strides = tuple(s // host.itemsize for s in host.strides)  # elements
            self.extent = host.size
        else:
            self.owner, self.dtype, self.shape, self.strides = base.owner, base.dtype, tuple(shape), tuple(strides)
            self.address = base.address + offset * base.dtype.itemsize
            self.extent = base.extent
        self.read_only = False
        self.stream = None

    def __del__(self):
        if self.owner is self:
            self.driver.free(self.address)

    def view(self, offset, shape, strides):
        """Elements offset, shape, strides (in elements) into this array's memory."""
        return DeviceArray(self.driver, base=self, offset=offset, shape=shape, strides=strides)

    def to_host(self):
        """A numpy copy of the viewed elements."""
        base = (ctypes.c_char * (self.owner.extent * self.dtype.itemsize)).from_address(self.owner.address)
        flat = np.frombuffer(base, self.dtype)
        start = (self.address - self.owner.address) // self.dtype.itemsize
        return np.lib.stride_tricks.as_strided(flat[start:], self.shape,
                                               [s * self.dtype.itemsize for s in self.strides]).copy()

    @property
    def __cuda_array_interface__(self):
        typestr = "<V2" if self.dtype == ml_dtypes.bfloat16 else self.dtype.str
        return {"shape": self.shape, "typestr": typestr, "data": (self.address, self.read_only), "version": 3,
                "strides": tuple(s * self.dtype.itemsize for s in self.strides), "stream": self.stream}


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_DLManagedTensor))
_DLManagedTensor._fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]
_NO_DELETE = _DELETER(lambda _: None)  # the DLPackArray keeps the structures alive
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype, _capsule_new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_DL_CODES = {np.dtype(np.float32): (2, 32), np.dtype(np.float16): (2, 16), np.dtype(ml_dtypes.bfloat16): (4, 16),
             np.dtype(np.int32): (0, 32), np.dtype(np.uint8): (1, 8), np.dtype(np.bool_): (6, 8)}


class DLPackArray:
    """A DeviceArray seen only through DLPack (__dlpack__, __dlpack_device__: CUDA device 0)."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self._kept = []

    def __dlpack_device__(self):
        return 2, 0  # kDLCUDA

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        a = self.array
        shape = (ctypes.c_int64 * len(a.shape))(*a.shape)
        strides = (ctypes.c_int64 * len(a.strides))(*a.strides)
        code, bits = _DL_CODES[a.dtype]
        managed = _DLManagedTensor(_DLTensor(ctypes.c_void_p(a.address), _DLDevice(2, 0), len(a.shape),
                                             _DLDataType(code, bits, 1), shape, strides, 0), None, _NO_DELETE)
        self._kept.append((shape, strides, managed))
        return _capsule_new(ctypes.addressof(managed), b"dltensor", None)
