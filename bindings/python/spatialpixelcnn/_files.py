"""PNG and IDX files through the library (spcnn_png_read, spcnn_png_write, spcnn_idx_read).

A failure to open, read or write raises SpcnnIOError with ``filename`` set to the path given
and, where the library reported a system error, ``errno``: a missing file is an
SpcnnFileNotFoundError, also a FileNotFoundError.
"""

import ctypes

from . import _marshal
from ._errors import naming_file
from ._ffi import lib


def read_png(path):
    """Read a PNG file as 8-bit grayscale (colour is converted, alpha composited over black).

    Returns a (h, w) numpy uint8 array, or Raw(bytes, (h, w)) without numpy.
    Raises SpcnnIOError (missing or unreadable file), FormatError (not a PNG, corrupt).
    """
    raw = _marshal.path_arg(path)
    height, width = ctypes.c_size_t(), ctypes.c_size_t()
    # Query the size first, then read into a buffer of exactly that size.
    with naming_file(path):
        lib.spcnn_png_read(raw, None, 0, ctypes.byref(height), ctypes.byref(width))
        out = _marshal.PixelsOut((height.value, width.value))
        lib.spcnn_png_read(raw, out.ptr, out.size, ctypes.byref(height), ctypes.byref(width))
    return out.result()


def write_png(path, image, shape=None):
    """Write an 8-bit grayscale PNG atomically (temporary file, then rename).

    ``image`` is a (h, w) numpy uint8 array, a Raw, or bytes-like data with shape=(h, w).
    """
    raw = _marshal.path_arg(path)
    pixels = _marshal.PixelsIn(image, 2, shape, name="image")
    with naming_file(path):
        lib.spcnn_png_write(raw, pixels.ptr, pixels.shape[0], pixels.shape[1])


def read_idx(path):
    """Read an IDX file of unsigned bytes (the MNIST format; decompress .gz files first).

    Returns an (n, h, w) numpy uint8 array, or Raw(bytes, (n, h, w)) without numpy; a file of
    fewer dimensions reads with h (and w) equal to 1, so a label file is (n, 1, 1).
    Raises SpcnnIOError, FormatError (bad magic, not unsigned bytes, wrong length).
    """
    raw = _marshal.path_arg(path)
    n, h, w = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
    with naming_file(path):
        lib.spcnn_idx_read(raw, None, 0, ctypes.byref(n), ctypes.byref(h), ctypes.byref(w))
        out = _marshal.PixelsOut((n.value, h.value, w.value))
        lib.spcnn_idx_read(raw, out.ptr, out.size, ctypes.byref(n), ctypes.byref(h),
                           ctypes.byref(w))
    return out.result()
