"""Marshalling between Python values and the C arguments: images, float maps, paths.

numpy is optional. With it, images come back as uint8 arrays and float maps as float32 arrays;
without it (not installed, or SPCNN_PY_NO_NUMPY=1 in the environment at import), they come
back as ``Raw(data, shape)``: bytes for pixels, array.array('f') for floats. Inputs may be a
numpy uint8 array, a Raw, or any bytes-like object (bytes, bytearray, memoryview) together
with an explicit ``shape=``. Every type and shape is checked here, before C is called.
"""

import array
import collections
import ctypes
import operator
import os

from ._ffi import _float_p, _u8_p


def _import_numpy():
    if os.environ.get("SPCNN_PY_NO_NUMPY", "") not in ("", "0"):
        return None
    try:
        import numpy
    except ImportError:
        return None
    return numpy


#: The numpy module, or None when the package runs without it (tests switch it off here).
np = _import_numpy()


class Raw(collections.namedtuple("Raw", ["data", "shape"])):
    """Pixels or a float map without numpy.

    ``data`` is bytes (8-bit pixels, row-major) or array.array('f') (float32 values),
    ``shape`` the tuple of sizes: (h, w) for one image, (n, h, w) for a batch.
    """

    __slots__ = ()


def _prod(dims):
    total = 1
    for d in dims:
        total *= d
    return total


def _check_shape(shape, ndim, name):
    if not isinstance(shape, (tuple, list)) or len(shape) != ndim:
        raise ValueError("%s: shape must be a tuple of %d sizes %s, got %r"
                         % (name, ndim, _dims_text(ndim), shape))
    dims = []
    for d in shape:
        try:
            if isinstance(d, bool):
                raise TypeError
            d = operator.index(d)  # int and numpy integers, not floats
        except TypeError:
            raise TypeError("%s: sizes must be integers, got %r" % (name, shape)) from None
        if d < 1:
            raise ValueError("%s: every size must be 1 or more, got %r" % (name, tuple(shape)))
        dims.append(d)
    return tuple(dims)


def _dims_text(ndim):
    return "(n, h, w)" if ndim == 3 else "(h, w)"


class PixelsIn:
    """A borrowed view of input pixels: ``ptr`` for C, ``shape``; keeps its source alive."""

    def __init__(self, obj, ndim, shape=None, name="images"):
        self._keep = None
        if shape is not None:
            self.shape = _check_shape(shape, ndim, name)
            self.ptr = self._from_bytes_like(obj, name)
        elif isinstance(obj, Raw):
            self.shape = _check_shape(obj.shape, ndim, name)
            self.ptr = self._from_bytes_like(obj.data, name)
        elif np is not None and isinstance(obj, np.ndarray):
            if obj.dtype != np.uint8:
                raise TypeError("%s: expected a numpy uint8 array, got dtype %s"
                                % (name, obj.dtype))
            if obj.ndim != ndim:
                raise ValueError("%s: expected %d dimensions %s, got shape %r"
                                 % (name, ndim, _dims_text(ndim), obj.shape))
            self.shape = _check_shape(tuple(int(d) for d in obj.shape), ndim, name)
            arr = np.ascontiguousarray(obj)
            self._keep = arr
            self.ptr = arr.ctypes.data_as(_u8_p)
        else:
            if _is_bytes_like(obj):
                raise TypeError("%s: a bytes-like object needs shape=%s"
                                % (name, _dims_text(ndim)))
            expected = ("a numpy uint8 array of shape %s, " % _dims_text(ndim)
                        if np is not None else "")
            raise TypeError("%s: expected %sa Raw, or bytes-like data with shape=%s; got %s"
                            % (name, expected, _dims_text(ndim), type(obj).__name__))

    def _from_bytes_like(self, obj, name):
        if not _is_bytes_like(obj):
            raise TypeError("%s: expected bytes, bytearray or memoryview data, got %s"
                            % (name, type(obj).__name__))
        view = memoryview(obj)
        if view.itemsize != 1 or view.format not in ("B", "c"):
            raise TypeError("%s: expected unsigned bytes, got a buffer of format %r"
                            % (name, view.format))
        need = _prod(self.shape)
        if view.nbytes != need:
            raise ValueError("%s: %d bytes given for shape %r, which needs %d"
                             % (name, view.nbytes, self.shape, need))
        if not view.readonly and view.c_contiguous:
            buf = (ctypes.c_uint8 * need).from_buffer(view.cast("B"))
        else:
            # Read-only (bytes) or strided: one copy, the library only reads it.
            buf = (ctypes.c_uint8 * need).from_buffer_copy(view.tobytes())
        self._keep = (view, buf)
        return ctypes.cast(buf, _u8_p)


def _is_bytes_like(obj):
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return True
    if isinstance(obj, (str, int, float)) or obj is None:
        return False
    try:
        memoryview(obj)
    except TypeError:
        return False
    return True


class PixelsOut:
    """A caller-owned uint8 output buffer of a given shape, handed back by ``result()``."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.size = _prod(self.shape)
        if np is not None:
            self._arr = np.empty(self.shape, dtype=np.uint8)
            self.ptr = self._arr.ctypes.data_as(_u8_p)
        else:
            self._buf = (ctypes.c_uint8 * self.size)()
            self.ptr = ctypes.cast(self._buf, _u8_p)

    def result(self):
        if np is not None:
            return self._arr
        return Raw(bytes(self._buf), self.shape)


class FloatsOut:
    """A float32 output buffer; ``result()`` is a numpy array or Raw(array('f'), shape)."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.size = _prod(self.shape)
        if np is not None:
            self._arr = np.empty(self.shape, dtype=np.float32)
            self.ptr = self._arr.ctypes.data_as(_float_p)
        else:
            self._arr = array.array("f", bytes(4 * self.size))
            address, _ = self._arr.buffer_info()
            self.ptr = ctypes.cast(address, _float_p)

    def result(self):
        if np is not None:
            return self._arr
        return Raw(self._arr, self.shape)

    def values(self):
        """A flat list of Python floats (the no-numpy form of a vector)."""
        return [float(v) for v in self._arr.reshape(-1)] if np is not None else list(self._arr)


def floats_in(values, size, name):
    """A ctypes float array from a sequence (list, array, numpy vector) of ``size`` numbers."""
    if isinstance(values, (str, bytes)):
        raise TypeError("%s: expected a sequence of %d floats, got %s"
                        % (name, size, type(values).__name__))
    try:
        items = [float(v) for v in values]
    except TypeError:
        raise TypeError("%s: expected a flat sequence of %d floats, got %s"
                        % (name, size, type(values).__name__)) from None
    if len(items) != size:
        raise ValueError("%s: expected %d floats, got %d" % (name, size, len(items)))
    return (ctypes.c_float * size)(*items)


def latents_in(z, n, size, name="z"):
    """A ctypes array of n × size floats from z: an (n, size) numpy array, a sequence of n
    vectors of size numbers (what ``encode`` returns), or a flat sequence of n × size numbers."""
    if np is not None and isinstance(z, np.ndarray):
        if z.ndim not in (1, 2) or (z.ndim == 2 and tuple(z.shape) != (n, size)):
            raise ValueError("%s: expected shape (%d, %d) or %d floats, got shape %r"
                             % (name, n, size, n * size, tuple(z.shape)))
        return floats_in(z.reshape(-1), n * size, name)
    if isinstance(z, (str, bytes)):
        raise TypeError("%s: expected %d × %d floats, got %s" % (name, n, size, type(z).__name__))
    try:
        items = list(z)
    except TypeError:
        raise TypeError("%s: expected a sequence of %d × %d floats, got %s"
                        % (name, n, size, type(z).__name__)) from None
    if items and all(_is_vector(v) for v in items):
        if len(items) != n or any(len(v) != size for v in items):
            raise ValueError("%s: expected %d vectors of %d floats, got lengths %r"
                             % (name, n, size, [len(v) for v in items]))
        items = [v for vector in items for v in vector]
    return floats_in(items, n * size, name)


def _is_vector(obj):
    if isinstance(obj, (list, tuple, array.array)):
        return True
    return np is not None and isinstance(obj, np.ndarray) and obj.ndim == 1


def size_arg(value, name, minimum=1):
    """A size or position for a size_t parameter: an int (numpy ints too) of at least minimum.

    Checked here because ctypes would silently wrap a negative value around."""
    if isinstance(value, bool):
        raise TypeError("%s must be an int, got bool" % name)
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError("%s must be an int, got %s" % (name, type(value).__name__)) from None
    if value < minimum or value >= 1 << 64:
        raise ValueError("%s must be at least %d, got %d" % (name, minimum, value))
    return value


def seed_arg(seed):
    """A generation seed: an int in [0, 2**64 - 1], the range of the C uint64_t."""
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, got bool")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError("seed must be an int, got %s" % type(seed).__name__) from None
    if not 0 <= seed < 1 << 64:
        raise ValueError("seed must lie in [0, 2**64 - 1], got %d" % seed)
    return seed


def path_arg(path, name="path"):
    """A file name as the bytes C receives: str, bytes or os.PathLike; no NUL inside."""
    try:
        raw = os.fsencode(path)
    except TypeError:
        raise TypeError("%s: expected str, bytes or os.PathLike, got %s"
                        % (name, type(path).__name__)) from None
    if b"\0" in raw:
        raise ValueError("%s: embedded NUL character in %r" % (name, path))
    if not raw:
        raise ValueError("%s: empty file name" % name)
    return raw
