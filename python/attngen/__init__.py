"""attngen: a run-time compiler for fused masked attention (docs/python.md).

    import attngen, numpy as np
    kernel = attngen.compile({"dtype": "f32", "head_dim": 64, "num_heads": 8,
                              "mask": [{"type": "causal"}]})
    o = kernel(q, k, v)                      # numpy or any DLPack producer, strided
    o = attngen.attention(q, k, v, mask=[{"type": "causal"}])   # spec from the arrays
"""

from ._attngen import version as _version
from ._errors import (BackendError, CompileError, Error, FileError, InternalError, InvalidArgumentError,
                      InvalidHandleError, InvalidSpecError, JitDisabledError, OutOfMemoryError)
from ._kernel import Kernel, attention, clear_cache, compile, merge_states

__version__ = _version()

__all__ = ["Kernel", "compile", "attention", "merge_states", "clear_cache", "Error", "InvalidArgumentError",
           "InvalidSpecError", "BackendError", "JitDisabledError", "InvalidHandleError", "FileError",
           "CompileError", "OutOfMemoryError", "InternalError"]
