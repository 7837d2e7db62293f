"""attngen's exceptions: one class per status of the C ABI (attngen.h)."""

from . import _attngen


class Error(Exception):
    """A failed attngen call; the message names the argument, what was expected and what came."""

    status = 0


class InvalidArgumentError(Error, ValueError):
    """A bad option or a tensor that does not match the spec (dtype, shape, device)."""

    status = 1


class InvalidSpecError(Error, ValueError):
    """The spec is malformed or invalid (every problem is listed)."""

    status = 2


class BackendError(Error):
    """Unknown backend, unavailable here, or it cannot compile this spec."""

    status = 3


class JitDisabledError(Error):
    """ATTNGEN_DISABLE_JIT=1 and no cache holds the kernel."""

    status = 4


class InvalidHandleError(Error):
    status = 5


class FileError(Error, OSError):
    status = 6


class CompileError(Error):
    """Code generation failed."""

    status = 7


class OutOfMemoryError(Error, MemoryError):
    status = 8


class InternalError(Error):
    status = 9


for _cls in (InvalidArgumentError, InvalidSpecError, BackendError, JitDisabledError, InvalidHandleError,
             FileError, CompileError, OutOfMemoryError, InternalError):
    _attngen._register_error(_cls.status, _cls)
