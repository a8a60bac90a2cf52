"""Exceptions: one SpcnnError subclass per spcnn_status, plus ClosedError.

SPCNN_ERR_IO is refined by the system error the library reported: its message ends with the
strerror text of the failed call ("model: m.spcnn: No such file or directory"), from which
``errno`` is recovered, and the calls that take a file name set ``filename``. A missing file
raises SpcnnFileNotFoundError, which is both an SpcnnIOError and a FileNotFoundError, as
``open`` would; likewise PermissionError, IsADirectoryError and NotADirectoryError.
"""

import contextlib
import errno as _errno
import os

__all__ = [
    "SpcnnError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "BufferTooSmallError",
    "SpcnnIOError",
    "SpcnnFileNotFoundError",
    "SpcnnPermissionError",
    "SpcnnIsADirectoryError",
    "SpcnnNotADirectoryError",
    "FormatError",
    "VersionError",
    "UnsupportedError",
    "BackendError",
    "NumericError",
    "CancelledError",
    "InternalError",
    "CommunicationError",
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
    """SPCNN_ERR_IO: a file could not be opened, read or written.

    As an OSError it carries ``errno`` and ``strerror`` when the library's message ends with a
    system error text (None otherwise, e.g. for libpng's own read errors) and ``filename``, the
    path given to load, save, read_png, write_png or read_idx (None for other calls). The
    subclasses below are raised for the errno values Python maps to OSError subclasses.
    """

    status = 4

    def __init__(self, status, status_string, message, errno=None, filename=None):
        super().__init__(status, status_string, message)
        if errno is not None:
            self.errno = errno
            self.strerror = os.strerror(errno)
        self.filename = filename

    def __reduce__(self):
        return (type(self),
                (self.status, self.status_string, self.message, self.errno, self.filename))


class SpcnnFileNotFoundError(SpcnnIOError, FileNotFoundError):
    """SPCNN_ERR_IO with ENOENT: the file, or a directory of its path, does not exist."""


class SpcnnPermissionError(SpcnnIOError, PermissionError):
    """SPCNN_ERR_IO with EACCES or EPERM: the file or its directory may not be read or written."""


class SpcnnIsADirectoryError(SpcnnIOError, IsADirectoryError):
    """SPCNN_ERR_IO with EISDIR: the path names a directory."""


class SpcnnNotADirectoryError(SpcnnIOError, NotADirectoryError):
    """SPCNN_ERR_IO with ENOTDIR: a component of the path is not a directory."""


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


class CommunicationError(SpcnnError):
    """SPCNN_ERR_COMMUNICATION: an MPI call failed, or another rank's part of a collective
    call did (since 0.5; the bindings do not attach models to a communicator)."""

    status = 12


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
        CommunicationError,
    )
}


_IO_BY_ERRNO = {
    _errno.ENOENT: SpcnnFileNotFoundError,
    _errno.EACCES: SpcnnPermissionError,
    _errno.EPERM: SpcnnPermissionError,
    _errno.EISDIR: SpcnnIsADirectoryError,
    _errno.ENOTDIR: SpcnnNotADirectoryError,
}


def errno_in_message(message):
    """The errno whose strerror text ends the library's message, or None.

    The library reports a failed system call as "...: <strerror>" or "... (<strerror>)"
    (lib/io). The texts come from os.strerror, the same C strerror in the same locale as the
    library's; the longest text that ends the message wins.
    """
    text = message.rstrip()
    opening = ": "
    if text.endswith(")"):
        text, opening = text[:-1], "("
    best, best_len = None, 0
    for code in sorted(_errno.errorcode):
        reason = os.strerror(code)
        if (len(reason) > best_len and text.endswith(reason)
                and text[:-len(reason)].endswith(opening)):
            best, best_len = code, len(reason)
    return best


def error_for_status(status, status_string, message):
    """The exception instance for a failing status (SpcnnError itself for unknown values)."""
    if status == SpcnnIOError.status:
        code = errno_in_message(message)
        return _IO_BY_ERRNO.get(code, SpcnnIOError)(status, status_string, message, code)
    cls = _BY_STATUS.get(status, SpcnnError)
    return cls(status, status_string, message)


@contextlib.contextmanager
def naming_file(path):
    """Set ``filename`` of an SpcnnIOError raised inside to ``path``, as the caller gave it."""
    try:
        yield
    except SpcnnIOError as exc:
        if exc.filename is None:
            exc.filename = os.fspath(path)
        raise
