"""Configuration keys and the owned spcnn_config handle used while creating a model."""

import collections
import ctypes
import numbers

from ._ffi import _ConfigPtr, _key, lib

#: One configuration key as the library describes it.
KeyInfo = collections.namedtuple("KeyInfo", ["key", "name", "lower", "upper", "is_integer"])

# Keys are explicit numbers that may have gaps; the library names the ones it knows.
_KEY_SCAN_LIMIT = 256


def _scan_keys():
    keys = []
    for key in range(1, _KEY_SCAN_LIMIT):
        name = lib.spcnn_config_key_name(key)
        if name is None:
            continue
        lower, upper = ctypes.c_double(), ctypes.c_double()
        is_integer = ctypes.c_int()
        lib.spcnn_config_bounds(key, ctypes.byref(lower), ctypes.byref(upper),
                                ctypes.byref(is_integer))
        keys.append(KeyInfo(key, name.decode("ascii"), lower.value, upper.value,
                            bool(is_integer.value)))
    return tuple(keys)


#: Every configuration key of the loaded library, in key order.
KEYS = _scan_keys()
_BY_KEY = {info.key: info for info in KEYS}


def key_from_name(name):
    """The KeyInfo of a lower-case key name; TypeError names an unknown key."""
    if not isinstance(name, str):
        raise TypeError("configuration key names are str, got %r" % (name,))
    key = _key()
    try:
        lib.spcnn_config_key_from_name(name.encode("utf-8", "replace"), ctypes.byref(key))
    except ValueError:  # InvalidArgumentError: unknown name
        raise TypeError("unknown configuration key %r (known: %s)"
                        % (name, ", ".join(k.name for k in KEYS))) from None
    return _BY_KEY[key.value]


def python_value(info, value):
    """A configuration value as Python shows it: int for integer keys, else float."""
    return int(value) if info.is_integer else value


class Config:
    """An owned spcnn_config; used as a context manager so it is always destroyed."""

    def __init__(self):
        self._ptr = _ConfigPtr()
        lib.spcnn_config_create(ctypes.byref(self._ptr))

    @property
    def ptr(self):
        return self._ptr

    def set(self, name, value):
        info = key_from_name(name)
        # bool is a number here (use_latent=False); anything else non-real is a TypeError.
        if not isinstance(value, numbers.Real):
            raise TypeError("configuration key %r takes a number, got %s"
                            % (name, type(value).__name__))
        # Range, integrality and finiteness are the library's to judge (InvalidArgumentError
        # with its message); integers beyond 2**53 round up past the largest bound.
        lib.spcnn_config_set(self._ptr, info.key, float(value))

    def get(self, info):
        value = ctypes.c_double()
        lib.spcnn_config_get(self._ptr, info.key, ctypes.byref(value))
        return python_value(info, value.value)

    def as_dict(self):
        return {info.name: self.get(info) for info in KEYS}

    def close(self):
        if self._ptr:
            lib.spcnn_config_destroy(self._ptr)
            self._ptr = _ConfigPtr()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
