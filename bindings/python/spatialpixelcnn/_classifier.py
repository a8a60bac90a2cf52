"""The Classifier class: one spcnn_classifier handle, its lock, and the calls on it."""

import ctypes
import numbers
import threading

from . import _marshal
from ._errors import ClosedError, naming_file
from ._ffi import _ClassifierPtr, _u8_p, lib

_PRIVATE = object()


def _labels_in(labels, n):
    """A ctypes uint8 array of the n labels: a numpy integer array (any shape with n values),
    a Raw (what read_idx returns for a label file), bytes-like data, or a sequence of ints."""
    np = _marshal.np
    if isinstance(labels, _marshal.Raw):
        labels = labels.data
    if np is not None and isinstance(labels, np.ndarray):
        if labels.dtype.kind not in "ui":
            raise TypeError("labels: expected an integer numpy array, got dtype %s"
                            % labels.dtype)
        flat = labels.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() > 255):
            raise ValueError("labels: values must lie in [0, 255]")
        data = flat.astype(np.uint8).tobytes()
    elif isinstance(labels, (str, int, float)) or labels is None:
        raise TypeError("labels: expected a sequence of ints, got %s" % type(labels).__name__)
    else:
        try:
            data = bytes(labels)  # bytes-like data as it is; a sequence of ints in [0, 255]
        except TypeError:
            raise TypeError("labels: expected a sequence of ints, got %s"
                            % type(labels).__name__) from None
        except ValueError:
            raise ValueError("labels: values must lie in [0, 255]") from None
    if len(data) != n:
        raise ValueError("labels: %d labels given for %d images" % (len(data), n))
    return (ctypes.c_uint8 * n).from_buffer_copy(data)


class Classifier:
    """The LeNet-5 classifier that judges generated images (include/spatialpixelcnn.h,
    "Classifier").

    Create one with ``Classifier.create(height, width, classes, seed=0)`` or
    ``Classifier.load(path)``; release it with ``close()`` or a ``with`` block. Calls on one
    Classifier are serialised by a lock; distinct ones run concurrently.
    """

    def __init__(self, ptr, token=None):
        if token is not _PRIVATE:
            raise TypeError("use Classifier.create(height, width, classes) or "
                            "Classifier.load(path)")
        self._ptr = ptr
        self._lock = threading.Lock()
        try:
            h, w, k = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
            lib.spcnn_classifier_shape(ptr, ctypes.byref(h), ctypes.byref(w), ctypes.byref(k))
            self._shape = (h.value, w.value, k.value)
        except BaseException:
            self.close()
            raise

    # ---- Construction and lifetime --------------------------------------------------------------

    @classmethod
    def create(cls, height, width, classes, seed=0):
        """A classifier of height × width images (12 to 1024) into classes (2 to 256) classes,
        its initial weights drawn from the seed."""
        height = _marshal.size_arg(height, "height")
        width = _marshal.size_arg(width, "width")
        classes = _marshal.size_arg(classes, "classes")
        seed = _marshal.seed_arg(seed)
        ptr = _ClassifierPtr()
        lib.spcnn_classifier_create(height, width, classes, seed, ctypes.byref(ptr))
        return cls(ptr, _PRIVATE)

    @classmethod
    def load(cls, path):
        """Load a classifier saved by ``save`` (models/lenet-mnist.spcls, ...)."""
        raw = _marshal.path_arg(path)
        ptr = _ClassifierPtr()
        with naming_file(path):
            lib.spcnn_classifier_load(raw, ctypes.byref(ptr))
        return cls(ptr, _PRIVATE)

    def save(self, path):
        """Save atomically: the shape and the averaged weights that ``predict`` uses."""
        raw = _marshal.path_arg(path)
        with self._calling() as ptr, naming_file(path):
            lib.spcnn_classifier_save(ptr, raw)

    def close(self):
        """Release the classifier. Idempotent; later calls raise ClosedError."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
            if ptr:
                lib.spcnn_classifier_destroy(ptr)

    @property
    def closed(self):
        return not self._ptr

    def __enter__(self):
        if self.closed:
            raise ClosedError("operation on a closed Classifier")
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        ptr = getattr(self, "_ptr", None)
        if ptr and lib is not None:
            try:
                lib.spcnn_classifier_destroy(ptr)
            except Exception:  # interpreter shutdown: nothing sensible left to do
                pass
            self._ptr = None

    def __repr__(self):
        if self.closed:
            return "<spatialpixelcnn.Classifier (closed)>"
        return "<spatialpixelcnn.Classifier %dx%d images, %d classes>" % self._shape

    # ---- Shape and settings ---------------------------------------------------------------------

    @property
    def shape(self):
        """(height, width, classes)."""
        return self._shape

    @property
    def height(self):
        return self._shape[0]

    @property
    def width(self):
        return self._shape[1]

    @property
    def classes(self):
        return self._shape[2]

    def set_threads(self, threads):
        """oneDNN/OpenMP threads used inside this classifier's calls (1 to 256)."""
        if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
            raise TypeError("threads must be an int, got %s" % type(threads).__name__)
        with self._calling() as ptr:
            lib.spcnn_classifier_set_threads(ptr, int(threads))

    # ---- Training and prediction ----------------------------------------------------------------

    def _images(self, images, shape):
        pixels = _marshal.PixelsIn(images, 3, shape, name="images")
        n, h, w = pixels.shape
        if (h, w) != self._shape[:2]:
            raise ValueError("images: this classifier takes %dx%d images, got %dx%d"
                             % (self._shape[0], self._shape[1], h, w))
        return pixels, n

    def train_step(self, images, labels, shape=None):
        """One Adam step on a labelled batch; returns {"loss": ..., "accuracy": ...}.

        ``images``: an (n, h, w) numpy uint8 array, a Raw, or bytes-like data with
        ``shape=(n, h, w)``; ``labels``: n class numbers (a numpy integer array, a Raw from
        ``read_idx``, bytes, or a list of ints). The loss (mean cross-entropy in nats) and the
        accuracy are the batch's before the step. A label not below ``classes`` raises
        InvalidArgumentError; NumericError leaves the classifier unchanged.
        """
        pixels, n = self._images(images, shape)
        label_buf = _labels_in(labels, n)
        loss, accuracy = ctypes.c_double(), ctypes.c_double()
        with self._calling() as ptr:
            lib.spcnn_classifier_train_step(ptr, pixels.ptr, ctypes.cast(label_buf, _u8_p), n,
                                            ctypes.byref(loss), ctypes.byref(accuracy))
        return {"loss": loss.value, "accuracy": accuracy.value}

    def predict(self, images, shape=None):
        """Class probabilities of a batch: an (n, classes) float32 numpy array, or without
        numpy a list of n lists of floats. ``images`` as for ``train_step``.

        An image's probabilities do not depend on the other images of the call.
        """
        pixels, n = self._images(images, shape)
        k = self._shape[2]
        out = _marshal.FloatsOut((n, k))
        with self._calling() as ptr:
            lib.spcnn_classifier_predict(ptr, pixels.ptr, n, out.ptr, out.size)
        if _marshal.np is not None:
            return out.result()
        values = out.values()
        return [values[i * k:(i + 1) * k] for i in range(n)]

    # ---- Call plumbing --------------------------------------------------------------------------

    class _Calling:
        __slots__ = ("owner",)

        def __init__(self, owner):
            self.owner = owner

        def __enter__(self):
            self.owner._lock.acquire()
            if not self.owner._ptr:
                self.owner._lock.release()
                raise ClosedError("operation on a closed Classifier")
            return self.owner._ptr

        def __exit__(self, *exc):
            self.owner._lock.release()

    def _calling(self):
        """Hold the handle's lock for one call; yields the pointer, ClosedError if closed."""
        return Classifier._Calling(self)
