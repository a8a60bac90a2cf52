"""Image quality measures through the library (spcnn_msssim, spcnn_msssim_pairs) and the area
resize (spcnn_image_resize_area). The header's "Image quality measures" section is the
reference: MS-SSIM as the GAN literature computes it, 5 scales, images of at least 16 x 16.
"""

import ctypes
import numbers

from . import _marshal
from ._ffi import lib


def msssim(a, b, shape=None):
    """MS-SSIM of two 8-bit gray images of the same size: a float in [0, 1], 1 when equal.

    ``a`` and ``b`` are (h, w) numpy uint8 arrays, Raws, or bytes-like data with
    shape=(h, w) (the same shape for both); h and w must be at least 16.
    Raises InvalidArgumentError (too small), ValueError/TypeError (shapes, types).
    """
    pa = _marshal.PixelsIn(a, 2, shape, name="a")
    pb = _marshal.PixelsIn(b, 2, shape, name="b")
    if pa.shape != pb.shape:
        raise ValueError("a and b differ in shape: %r and %r" % (pa.shape, pb.shape))
    value = ctypes.c_double()
    lib.spcnn_msssim(pa.ptr, pb.ptr, pa.shape[0], pa.shape[1], ctypes.byref(value))
    return value.value


def msssim_pairs(images, threads=1, shape=None):
    """Mean and population standard deviation of MS-SSIM over all pairs of n >= 2 images.

    ``images`` is an (n, h, w) numpy uint8 array, a Raw, or bytes-like data with
    shape=(n, h, w). ``threads``: OpenMP threads for this call, 1 to 256 (0 means 1); the
    result is the same with any thread count. Returns the tuple (mean, std).
    """
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError("threads must be an int, got %s" % type(threads).__name__)
    if not -(1 << 31) <= threads < 1 << 31:
        raise ValueError("threads must lie in [0, 256], got %d" % threads)
    pixels = _marshal.PixelsIn(images, 3, shape, name="images")
    n, h, w = pixels.shape
    mean, std = ctypes.c_double(), ctypes.c_double()
    lib.spcnn_msssim_pairs(pixels.ptr, n, h, w, int(threads), ctypes.byref(mean),
                           ctypes.byref(std))
    return mean.value, std.value


def resize_area(image, height, width, shape=None):
    """Resize an 8-bit gray image to height x width with an area (box) filter.

    Downscaling averages the covered source area exactly (the block mean for an integer
    factor), rounded to nearest; upscaling repeats pixels. ``image`` is an (h, w) numpy uint8
    array, a Raw, or bytes-like data with shape=(h, w). Returns an (height, width) uint8 array,
    or Raw(bytes, (height, width)) without numpy.
    """
    pixels = _marshal.PixelsIn(image, 2, shape, name="image")
    height = _marshal.size_arg(height, "height")
    width = _marshal.size_arg(width, "width")
    out = _marshal.PixelsOut((height, width))
    lib.spcnn_image_resize_area(pixels.ptr, pixels.shape[0], pixels.shape[1], out.ptr, height,
                                width)
    return out.result()
