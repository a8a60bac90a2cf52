"""Python bindings of libspatialpixelcnn (ctypes; numpy optional).

    import spatialpixelcnn as sp
    with sp.Model.create(patch_size=8, image_size=28) as model:
        stats = model.train_step(images)          # (n, h, w) uint8
        print(stats["bits_per_dim"])
        model.fit_prior(images, components=10)    # z for random samples: a fitted mixture
        model.save("model.spcnn")

    with sp.Classifier.load("models/lenet-mnist.spcls") as lenet:
        probs = lenet.predict(images)             # (n, 10) float32

The C library is found through $SPCNN_LIBRARY, next to the package, where `cmake --install`
put it beside the package, the source tree's build/ directory or the system (see _ffi.py and
README.md). Failures of the library raise SpcnnError
subclasses carrying the status and the library's message.
"""

from ._errors import (
    BackendError,
    BufferTooSmallError,
    CancelledError,
    ClosedError,
    CommunicationError,
    FormatError,
    InternalError,
    InvalidArgumentError,
    NumericError,
    OutOfMemoryError,
    SpcnnError,
    SpcnnFileNotFoundError,
    SpcnnIOError,
    SpcnnIsADirectoryError,
    SpcnnNotADirectoryError,
    SpcnnPermissionError,
    UnsupportedError,
    VersionError,
)
from ._ffi import ABI_MAJOR, lib as _lib
from ._config import KEYS as CONFIG_KEYS, KeyInfo
from ._files import read_idx, read_png, write_png
from ._marshal import Raw
from ._model import LIKELIHOOD_Z, PRECISIONS, PRIORS, SCHEDULES, STATS, Likelihood, Model, Prior
from ._quality import msssim, msssim_pairs, resize_area
from ._classifier import Classifier

__version__ = "0.6.0"

#: "MAJOR.MINOR.PATCH" of the loaded C library (spcnn_version_string).
library_version = _lib.spcnn_version_string().decode("ascii")
#: MAJOR * 10000 + MINOR * 100 + PATCH of the loaded C library (spcnn_version_number).
library_version_number = _lib.spcnn_version_number()
#: The file the C library was loaded from.
library_path = _lib.path


def has_numpy():
    """True when images and maps are exchanged as numpy arrays, False when as Raw."""
    from . import _marshal

    return _marshal.np is not None


__all__ = [
    "ABI_MAJOR",
    "BackendError",
    "BufferTooSmallError",
    "CONFIG_KEYS",
    "CancelledError",
    "Classifier",
    "ClosedError",
    "CommunicationError",
    "FormatError",
    "InternalError",
    "InvalidArgumentError",
    "KeyInfo",
    "LIKELIHOOD_Z",
    "Likelihood",
    "Model",
    "NumericError",
    "OutOfMemoryError",
    "PRIORS",
    "Prior",
    "Raw",
    "SCHEDULES",
    "PRECISIONS",
    "STATS",
    "SpcnnError",
    "SpcnnFileNotFoundError",
    "SpcnnIOError",
    "SpcnnIsADirectoryError",
    "SpcnnNotADirectoryError",
    "SpcnnPermissionError",
    "UnsupportedError",
    "VersionError",
    "has_numpy",
    "library_path",
    "library_version",
    "library_version_number",
    "msssim",
    "msssim_pairs",
    "read_idx",
    "read_png",
    "resize_area",
    "write_png",
]
