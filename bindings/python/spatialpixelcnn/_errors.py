"""Exceptions: one SpcnnError subclass per spcnn_status, plus ClosedError."""

__all__ = [
    "SpcnnError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "BufferTooSmallError",
    "SpcnnIOError",
    "FormatError",
    "VersionError",
    "UnsupportedError",
    "BackendError",
    "NumericError",
    "CancelledError",
    "InternalError",
    "ClosedError",
]


class SpcnnError(Exception):
    """A libspatialpixelcnn call returned a status other than SPCNN_OK.

    Attributes: ``status`` (the spcnn_status number), ``status_string`` (spcnn_status_string)
    and ``message`` (spcnn_last_error_message() read right after the failing call).
    """

    status = None  # set on each subclass; the instance attribute overrides it

    def __init__(self, status, status_string, message):
        self.status = status
        self.status_string = status_string
        self.message = message
        text = "%s [%s]" % (message, status_string) if message else status_string
        # OSError and MemoryError take their message as the only argument too.
        super().__init__(text)

    def __reduce__(self):
        return (type(self), (self.status, self.status_string, self.message))

    def __str__(self):
        return self.args[0] if self.args else ""


# The built-in bases let callers catch errors the Python way too (except ValueError, OSError).
class InvalidArgumentError(SpcnnError, ValueError):
    """SPCNN_ERR_INVALID_ARGUMENT: NULL, zero, out-of-range or inconsistent argument."""

    status = 1


class OutOfMemoryError(SpcnnError, MemoryError):
    """SPCNN_ERR_OUT_OF_MEMORY: an allocation failed; nothing was changed."""

    status = 2


class BufferTooSmallError(SpcnnError):
    """SPCNN_ERR_BUFFER_TOO_SMALL: an output buffer's capacity is below what is needed."""

    status = 3


class SpcnnIOError(SpcnnError, OSError):
    """SPCNN_ERR_IO: a file could not be opened, read or written."""

    status = 4


class FormatError(SpcnnError, ValueError):
    """SPCNN_ERR_FORMAT: a file's content is malformed, truncated or corrupt."""

    status = 5


class VersionError(SpcnnError):
    """SPCNN_ERR_VERSION: a file was written by a newer, unknown format version."""

    status = 6


class UnsupportedError(SpcnnError):
    """SPCNN_ERR_UNSUPPORTED: a valid request this build or model cannot carry out."""

    status = 7


class BackendError(SpcnnError):
    """SPCNN_ERR_BACKEND: oneDNN reported a failure."""

    status = 8


class NumericError(SpcnnError, ArithmeticError):
    """SPCNN_ERR_NUMERIC: a non-finite value appeared; the model is unchanged."""

    status = 9


class CancelledError(SpcnnError):
    """SPCNN_ERR_CANCELLED: the progress callback asked to stop."""

    status = 10


class InternalError(SpcnnError):
    """SPCNN_ERR_INTERNAL: a bug in the library; please report it."""

    status = 11


class ClosedError(ValueError):
    """A method was called on a Model after close()."""


_BY_STATUS = {
    cls.status: cls
    for cls in (
        InvalidArgumentError,
        OutOfMemoryError,
        BufferTooSmallError,
        SpcnnIOError,
        FormatError,
        VersionError,
        UnsupportedError,
        BackendError,
        NumericError,
        CancelledError,
        InternalError,
    )
}


def error_for_status(status, status_string, message):
    """The exception instance for a failing status (SpcnnError itself for unknown values)."""
    cls = _BY_STATUS.get(status, SpcnnError)
    return cls(status, status_string, message)
