"""The Model class: one spcnn_model handle, its lock, and the calls on it."""

import collections
import ctypes
import math
import numbers
import threading

from . import _marshal
from ._config import Config, key_from_name
from ._errors import ClosedError, SpcnnError, naming_file
from ._ffi import PROGRESS_FN, ROW_FN, _ModelPtr, lib

# spcnn_stat values by name (include/spatialpixelcnn.h).
STATS = {
    "step": 1,
    "images_seen": 2,
    "bits_per_dim": 3,
    "reconstruction": 4,
    "kl": 5,
    "learning_rate": 6,
    "grad_norm": 7,
    "parameters": 8,
    "training_state": 9,
    "prior_components": 10,
    "rank": 11,
    "ranks": 12,
}
_INTEGER_STATS = frozenset(("step", "images_seen", "parameters", "training_state",
                            "prior_components", "rank", "ranks"))
_TRAIN_STATS = ("reconstruction", "kl", "learning_rate", "grad_norm", "step")
_REPR_KEYS = ("patch_size", "nr_filters", "nr_resnet", "nr_mix", "latent_size", "image_size",
              "use_coords", "use_latent")

#: Values of the schedule setting by name: 0 raster, 1 wavefront (spcnn_config_key).
SCHEDULES = ("raster", "wavefront")
PRECISIONS = ("fp32", "bf16")

#: Values of draw_latents' prior by name: 0 the model's, 1 N(0, I) (spcnn_prior_choice).
PRIORS = ("model", "standard")


class Prior(collections.namedtuple("Prior", ["weights", "means", "variances"])):
    """A latent prior: a mixture of k Gaussians with diagonal covariances over z (L values).

    ``weights``: k positive values summing to 1; ``means`` and ``variances``: k × L. float32
    numpy arrays of shapes (k,), (k, L), (k, L), or without numpy a list of k floats and two
    lists of k lists of L floats. ``Model.prior`` returns a copy; ``Model.set_prior`` takes one
    back (or any (weights, means, variances) tuple).
    """

    __slots__ = ()


class Likelihood(collections.namedtuple("Likelihood", ["map", "bits_per_dim", "total_bits"])):
    """What ``Model.likelihood_map`` returns for one image of h × w pixels.

    ``map``: the per-pixel negative log-likelihood in bits, as ``log_prob`` returns it (an
    (h, w) float32 numpy array, or Raw(array('f'), (h, w)) without numpy); ``bits_per_dim``:
    the mean of the map; ``total_bits``: its sum, the negative log-likelihood of the whole
    image (both Python floats, summed exactly with math.fsum).
    """

    __slots__ = ()


#: What ``Model.likelihood_map`` takes as z by name: the encoder mean, or a draw from the prior.
LIKELIHOOD_Z = ("encode", "prior")

_PRIVATE = object()
_NO_PROGRESS = PROGRESS_FN()  # a NULL spcnn_progress_fn


class _Progress:
    """A Python progress callable wrapped as a spcnn_progress_fn.

    The callable gets the fraction done (0 to 1); a true result cancels the call. An exception
    raised inside it cancels too and is kept here, to be raised again once the C call has
    returned: ctypes would otherwise print it and carry on.
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("progress must be callable, got %s" % type(fn).__name__)
        self.fn = fn
        self.error = None
        self.c_fn = PROGRESS_FN(self._call)  # referenced until the call has returned

    def _call(self, fraction, _user):
        if self.error is not None:
            return 1
        try:
            return 1 if self.fn(fraction) else 0
        except BaseException as exc:  # KeyboardInterrupt too: it must not vanish in ctypes
            self.error = exc
            return 1


class _Rows:
    """A Python row callable wrapped as a spcnn_row_fn, for generate_stream.

    The callable gets (image_index, y, row) with row a copy of the finished row: a uint8 numpy
    vector, or bytes without numpy. A true result cancels the generation; an exception cancels
    too and is raised again once the C call has returned (as for _Progress).
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("rows must be callable, got %s" % type(fn).__name__)
        self.fn = fn
        self.error = None
        self.np = _marshal.np  # fixed for the call: tests switch numpy off on the module
        self.c_fn = ROW_FN(self._call)  # referenced until the call has returned

    def _call(self, row, image, y, width, _user):
        if self.error is not None:
            return 1
        try:
            # The row is valid during this call only: hand out a copy.
            data = ctypes.string_at(row, width)
            if self.np is not None:
                data = self.np.frombuffer(bytearray(data), dtype=self.np.uint8)
            return 1 if self.fn(image, y, data) else 0
        except BaseException as exc:  # KeyboardInterrupt too: it must not vanish in ctypes
            self.error = exc
            return 1


class Model:
    """A Spatial PixelCNN with its VAE, parameters and optimiser state.

    Create one with ``Model.create(**config)`` or ``Model.load(path)``; release it with
    ``close()`` or a ``with`` block. Calls on one Model are serialised by a lock, so a Model may
    be shared between threads; distinct Models run concurrently (ctypes releases the GIL during
    each C call).
    """

    def __init__(self, ptr, token=None):
        if token is not _PRIVATE:
            raise TypeError("use Model.create(**config) or Model.load(path)")
        self._ptr = ptr
        self._lock = threading.Lock()
        self._owner = None  # ident of the thread inside a call, to refuse re-entry
        try:
            self._config = self._read_config()
        except BaseException:
            self.close()
            raise

    # ---- Construction and lifetime --------------------------------------------------------------

    @classmethod
    def create(cls, **config):
        """A freshly initialised model; keywords are configuration keys (``patch_size=8``).

        Unknown keys raise TypeError; values out of range raise InvalidArgumentError with the
        library's message. Keys not given keep the library's defaults.
        """
        with Config() as cfg:
            for name, value in config.items():
                cfg.set(name, value)
            ptr = _ModelPtr()
            lib.spcnn_model_create(cfg.ptr, ctypes.byref(ptr))
        return cls(ptr, _PRIVATE)

    @classmethod
    def load(cls, path):
        """Load a model saved by ``save``; SpcnnIOError, FormatError or VersionError on failure.

        A missing file raises SpcnnFileNotFoundError, also a FileNotFoundError (see SpcnnIOError).
        """
        raw = _marshal.path_arg(path)
        ptr = _ModelPtr()
        with naming_file(path):
            lib.spcnn_model_load(raw, ctypes.byref(ptr))
        return cls(ptr, _PRIVATE)

    def save(self, path, training_state=False):
        """Save atomically; ``training_state=True`` also keeps raw weights and optimiser state."""
        raw = _marshal.path_arg(path)
        with self._calling() as ptr, naming_file(path):
            lib.spcnn_model_save(ptr, raw, 1 if training_state else 0)

    def close(self):
        """Release the model. Idempotent; later calls on the model raise ClosedError."""
        if self._owner == threading.get_ident():
            raise RuntimeError("Model.close() called from inside a call on the same model")
        with self._lock:
            ptr, self._ptr = self._ptr, None
            if ptr:
                lib.spcnn_model_destroy(ptr)

    @property
    def closed(self):
        return not self._ptr

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        ptr = getattr(self, "_ptr", None)
        if ptr and lib is not None:
            try:
                lib.spcnn_model_destroy(ptr)
            except Exception:  # interpreter shutdown: nothing sensible left to do
                pass
            self._ptr = None

    def __repr__(self):
        if self.closed:
            return "<spatialpixelcnn.Model (closed)>"
        params = " ".join("%s=%s" % (k, self._config[k]) for k in _REPR_KEYS if k in self._config)
        return "<spatialpixelcnn.Model %s>" % params

    # ---- Configuration and statistics -----------------------------------------------------------

    @property
    def config(self):
        """Every hyper-parameter as a dict (ints for integer keys), from spcnn_model_get_config.

        The values are the C library's numbers, key by key: ``config["schedule"]`` is 0 for
        raster and 1 for wavefront, i.e. ``SCHEDULES[config["schedule"]] == model.schedule``.
        """
        with self._calling():
            return dict(self._config)

    def _read_config(self):
        with Config() as cfg:
            with self._calling() as ptr:
                lib.spcnn_model_get_config(ptr, cfg.ptr)
            return cfg.as_dict()

    def stat(self, name):
        """One statistic by name (see STATS): step, images_seen, bits_per_dim, ... ."""
        with self._calling() as ptr:
            return self._stat(ptr, name)

    def _stat(self, ptr, name):
        if isinstance(name, str):
            if name not in STATS:
                raise ValueError("unknown statistic %r (known: %s)" % (name, ", ".join(STATS)))
            which = STATS[name]
        else:
            raise TypeError("statistic names are str, got %s" % type(name).__name__)
        value = ctypes.c_double()
        lib.spcnn_model_stat(ptr, which, ctypes.byref(value))
        return int(value.value) if name in _INTEGER_STATS else value.value

    @property
    def step(self):
        """Optimiser steps taken."""
        return self.stat("step")

    @property
    def images_seen(self):
        """Images trained on."""
        return self.stat("images_seen")

    @property
    def parameters(self):
        """Number of trainable parameters."""
        return self.stat("parameters")

    def set_threads(self, threads):
        """oneDNN/OpenMP threads used inside this model's calls (1 to 256; docs/threading.md)."""
        if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
            raise TypeError("threads must be an int, got %s" % type(threads).__name__)
        with self._calling() as ptr:
            lib.spcnn_model_set_threads(ptr, int(threads))
        self._config = self._read_config()

    def set_option(self, name, value):
        """Change a setting of this model: ``threads``, ``temperature`` or ``schedule``, or
        (library 0.6) ``precision`` and the scale-aware training settings
        ``train_scale_min``, ``train_scale_max`` and ``train_native_share`` (fine-tuning at
        other scales), and (library 0.7) the training loss's ``kl_weight`` and the training
        arithmetic ``train_precision``.

        ``name`` is a configuration key name; an unknown name raises TypeError, a key fixed at
        creation (``nr_filters``, ...) or a value out of range InvalidArgumentError with the
        library's message. ``schedule`` also takes "raster" or "wavefront", ``precision`` and
        ``train_precision`` "fp32" or "bf16" (UnsupportedError on a CPU without AVX-512 BF16).
        """
        info = key_from_name(name)
        if info.name == "schedule" and isinstance(value, str):
            value = self._schedule_number(value)
        if info.name in ("precision", "train_precision") and isinstance(value, str):
            if value not in PRECISIONS:
                raise ValueError("unknown precision %r (known: %s)"
                                 % (value, ", ".join(PRECISIONS)))
            value = PRECISIONS.index(value)
        if not isinstance(value, numbers.Real):
            raise TypeError("option %r takes a number, got %s" % (name, type(value).__name__))
        with self._calling() as ptr:
            lib.spcnn_model_set_option(ptr, info.key, float(value))
        self._config = self._read_config()

    @property
    def temperature(self):
        """Scale of the logistic draws when sampling: 1 samples the model exactly, smaller values
        sharpen, 0 takes the component means."""
        return self.config["temperature"]

    @temperature.setter
    def temperature(self, value):
        self.set_option("temperature", value)

    @property
    def schedule(self):
        """Sampling order, "raster" or "wavefront"; both give the same bytes."""
        return SCHEDULES[int(self.config["schedule"])]

    @schedule.setter
    def schedule(self, value):
        if not isinstance(value, str):
            raise TypeError("schedule is %s, got %s"
                            % (" or ".join(repr(s) for s in SCHEDULES), type(value).__name__))
        self.set_option("schedule", value)

    @property
    def precision(self):
        """Arithmetic of sampling and evaluation: "fp32", or "bf16" (the convolutions in
        bfloat16 with fp32 sums, on CPUs with AVX-512 BF16; not the same bytes as fp32)."""
        return PRECISIONS[int(self.config["precision"])]

    @precision.setter
    def precision(self, value):
        if not isinstance(value, str):
            raise TypeError("precision is %s, got %s"
                            % (" or ".join(repr(s) for s in PRECISIONS), type(value).__name__))
        self.set_option("precision", value)

    @staticmethod
    def _schedule_number(name):
        if name not in SCHEDULES:
            raise ValueError("unknown schedule %r (known: %s)" % (name, ", ".join(SCHEDULES)))
        return SCHEDULES.index(name)

    # ---- Training and scoring -------------------------------------------------------------------

    def train_step(self, images, shape=None):
        """One optimiser step on a batch; returns the step's statistics as a dict.

        ``images``: an (n, h, w) numpy uint8 array, a Raw, or bytes-like data with
        ``shape=(n, h, w)``. The dict holds bits_per_dim, reconstruction, kl, learning_rate,
        grad_norm and step. NumericError leaves the model unchanged.
        """
        pixels = _marshal.PixelsIn(images, 3, shape, name="images")
        n, h, w = pixels.shape
        bpd = ctypes.c_double()
        with self._calling() as ptr:
            lib.spcnn_model_train_step(ptr, pixels.ptr, n, h, w, ctypes.byref(bpd))
            stats = {"bits_per_dim": bpd.value}
            for name in _TRAIN_STATS:
                stats[name] = self._stat(ptr, name)
        return stats

    def train_step_mixed(self, images):
        """One optimiser step on a batch of images of different sizes; returns the step's
        statistics as train_step does.

        ``images``: a sequence of images, each an (h, w) numpy uint8 array, a Raw, or a pair
        (bytes-like data, (h, w)); each side at least patch_size. Each image's window is
        conditioned on its own image's coordinate grid; the VAE sees each image resampled to
        image_size. On images of one size it gives exactly what train_step gives.
        """
        if isinstance(images, (bytes, bytearray, memoryview, str)) or (
                _marshal.np is not None and isinstance(images, _marshal.np.ndarray)
                and images.ndim != 1 and images.dtype != object):
            raise TypeError("images: expected a sequence of (h, w) images, got %s"
                            % type(images).__name__)
        views = []
        for i, image in enumerate(images):
            name = "images[%d]" % i
            if isinstance(image, tuple) and not isinstance(image, _marshal.Raw):
                if len(image) != 2:
                    raise TypeError("%s: expected a pair (data, (h, w))" % name)
                views.append(_marshal.PixelsIn(image[0], 2, image[1], name=name))
            else:
                views.append(_marshal.PixelsIn(image, 2, None, name=name))
        n = len(views)
        if n == 0:
            raise ValueError("images: an empty batch")
        ptrs = (ctypes.POINTER(ctypes.c_uint8) * n)(*(v.ptr for v in views))
        heights = (ctypes.c_size_t * n)(*(v.shape[0] for v in views))
        widths = (ctypes.c_size_t * n)(*(v.shape[1] for v in views))
        bpd = ctypes.c_double()
        with self._calling() as ptr:
            lib.spcnn_model_train_step_mixed(ptr, ptrs, heights, widths, n, ctypes.byref(bpd))
            stats = {"bits_per_dim": bpd.value}
            for name in _TRAIN_STATS:
                stats[name] = self._stat(ptr, name)
        return stats

    def encode(self, image, shape=None):
        """The mean of q(z|image): a float32 numpy vector, or a list of floats without numpy.

        ``image``: (h, w) numpy uint8 array, Raw, or bytes-like with ``shape=(h, w)``.
        UnsupportedError for a model without latent code.
        """
        pixels = _marshal.PixelsIn(image, 2, shape, name="image")
        h, w = pixels.shape
        z = _marshal.FloatsOut((self._config["latent_size"],))
        with self._calling() as ptr:
            lib.spcnn_model_encode(ptr, pixels.ptr, h, w, z.ptr, z.size)
        return z.result() if _marshal.np is not None else z.values()

    def decode(self, z):
        """The VAE decoder's image of a code ``z`` (latent_size floats): the mean of its
        per-pixel Bernoulli distributions, an (image_size, image_size) numpy uint8 array, or
        Raw without numpy. ``decode(encode(x))`` is the VAE's own, blurry reconstruction of x.
        UnsupportedError for a model without latent code.
        """
        z_in = _marshal.floats_in(z, self._config["latent_size"], "z")
        side = self._config["image_size"]
        out = _marshal.PixelsOut((side, side))
        with self._calling() as ptr:
            lib.spcnn_model_decode(ptr, z_in, out.ptr, out.size)
        return out.result()

    def log_prob(self, image, z=None, shape=None, progress=None):
        """Per-pixel negative log-likelihood of a whole image, in bits: an (h, w) float32 map.

        ``z``: latent_size floats, or None for the encoder mean. ``progress(fraction)`` may
        cancel by returning True (CancelledError) or by raising (that exception is re-raised).
        Without numpy the map is Raw(array('f'), (h, w)).
        """
        pixels = _marshal.PixelsIn(image, 2, shape, name="image")
        h, w = pixels.shape
        z_in = None
        if z is not None:
            z_in = _marshal.floats_in(z, self._config["latent_size"], "z")
        nll = _marshal.FloatsOut((h, w))
        with self._calling() as ptr:
            self._with_progress(ptr, progress, lib.spcnn_model_log_prob, pixels.ptr, h, w,
                                z_in, nll.ptr, nll.size)
        return nll.result()

    def likelihood_map(self, image, z=None, seed=0, shape=None, progress=None):
        """The per-pixel negative log-likelihood of an image in bits, with its summary: a
        ``Likelihood(map, bits_per_dim, total_bits)`` (what ``spcnn likelihood`` prints).

        ``image`` as for ``encode`` (each side at least patch_size). ``z``: None or "encode"
        for the encoder mean of the image; "prior" for the code the model's prior gives
        ``seed`` (``draw_latents(1, seed)[0]``, the z of ``generate(1, h, w, seed)``); or
        latent_size floats. A model without latent code has no z: "prior" then changes
        nothing. ``progress`` as for log_prob.
        """
        seed = _marshal.seed_arg(seed)
        if isinstance(z, str):
            if z not in LIKELIHOOD_Z:
                raise ValueError("unknown z %r (known: %s, or latent_size floats)"
                                 % (z, ", ".join(LIKELIHOOD_Z)))
            if z == "prior" and self._config["use_latent"]:
                z = self.draw_latents(1, seed=seed)[0]
            else:
                z = None
        nll = self.log_prob(image, z=z, shape=shape, progress=progress)
        values = nll.data if isinstance(nll, _marshal.Raw) else nll.reshape(-1).tolist()
        total = math.fsum(values)
        return Likelihood(nll, total / len(values), total)

    def evaluate(self, images, shape=None, progress=None):
        """Test metrics on a set of images: dict(bpd_patches, bpd_image, kl).

        ``images`` as for train_step; ``progress`` as for log_prob.
        """
        pixels = _marshal.PixelsIn(images, 3, shape, name="images")
        n, h, w = pixels.shape
        out = [ctypes.c_double() for _ in range(3)]
        with self._calling() as ptr:
            self._with_progress(ptr, progress, lib.spcnn_model_evaluate, pixels.ptr, n, h, w,
                                *(ctypes.byref(v) for v in out))
        return dict(zip(("bpd_patches", "bpd_image", "kl"), (v.value for v in out)))

    # ---- Generation -----------------------------------------------------------------------------
    # The bytes depend on the model, seed, z, size and temperature only: not on the schedule, n
    # or the thread count (include/spatialpixelcnn.h, "Generation").

    def _latents(self, z, n):
        if z is None:
            return None
        return _marshal.latents_in(z, n, self._config["latent_size"], "z")

    def generate(self, n, height, width, seed=0, z=None, progress=None):
        """Generate n images of height × width pixels (each side at least patch_size).

        ``z``: n × latent_size floats (an (n, L) array, n vectors, or a flat sequence), or None
        to draw each image's z from the model's prior with the seed (the mixture of
        ``fit_prior``, or N(0, I) without one): the codes of ``draw_latents(n, seed)``.
        Image i is the same whatever n is.
        Returns an (n, height, width) numpy uint8 array, or Raw(bytes, (n, height, width)).
        ``progress`` as for log_prob.
        """
        n = _marshal.size_arg(n, "n")
        height = _marshal.size_arg(height, "height")
        width = _marshal.size_arg(width, "width")
        seed = _marshal.seed_arg(seed)
        z_in = self._latents(z, n)
        out = _marshal.PixelsOut((n, height, width))
        with self._calling() as ptr:
            self._with_progress(ptr, progress, lib.spcnn_model_generate_images, n, z_in, height,
                                width, seed, out.ptr, out.size)
        return out.result()

    def generate_stream(self, n, height, width, rows, seed=0, z=None, progress=None):
        """Generate like ``generate``, handing each finished row to ``rows(image, y, row)``.

        Memory is bounded by a band of rows, not the images; ``z=None`` draws from the model's
        prior as ``generate`` does. ``row`` is a copy of the row: a uint8 numpy vector, or bytes
        without numpy; each image's rows arrive in order. A true result of ``rows`` cancels
        (CancelledError); an exception raised inside it cancels and is raised again after the
        call. ``progress`` as for log_prob.
        """
        n = _marshal.size_arg(n, "n")
        height = _marshal.size_arg(height, "height")
        width = _marshal.size_arg(width, "width")
        seed = _marshal.seed_arg(seed)
        z_in = self._latents(z, n)
        sink = _Rows(rows)
        with self._calling() as ptr:
            self._with_progress(ptr, progress, lib.spcnn_model_generate_stream, n, z_in, height,
                                width, seed, sink.c_fn, None, callbacks=(sink,))

    def sample_patch(self, grid_height, grid_width, top, left, seed=0, z=None):
        """One patch_size × patch_size patch at (top, left) of a grid_height × grid_width grid.

        Every pixel is drawn from the window at (top, left) itself; the patch at (0, 0) is the
        top-left corner of ``generate(1, grid_height, grid_width, seed, z)``. ``z``:
        latent_size floats, or None to draw z from the model's prior with the seed (the code of
        ``draw_latents(1, seed)``). Returns an (m, m) numpy uint8 array or Raw.
        """
        grid_height = _marshal.size_arg(grid_height, "grid_height")
        grid_width = _marshal.size_arg(grid_width, "grid_width")
        top = _marshal.size_arg(top, "top", minimum=0)
        left = _marshal.size_arg(left, "left", minimum=0)
        seed = _marshal.seed_arg(seed)
        z_in = self._latents(z, 1)
        m = self._config["patch_size"]
        out = _marshal.PixelsOut((m, m))
        with self._calling() as ptr:
            lib.spcnn_model_sample_patch(ptr, z_in, grid_height, grid_width, top, left, seed,
                                         out.ptr, out.size)
        return out.result()

    def reconstruct(self, image, height, width, seed=0, shape=None, progress=None):
        """Encode an image and regenerate it at height × width: reconstruction and upscaling.

        The same as ``generate(1, height, width, seed, z=encode(image))[0]``. ``image``: (h, w)
        numpy uint8 array, Raw, or bytes-like with ``shape=(h, w)``. Returns a (height, width)
        numpy uint8 array or Raw. UnsupportedError for a model without latent code.
        """
        pixels = _marshal.PixelsIn(image, 2, shape, name="image")
        in_h, in_w = pixels.shape
        height = _marshal.size_arg(height, "height")
        width = _marshal.size_arg(width, "width")
        seed = _marshal.seed_arg(seed)
        out = _marshal.PixelsOut((height, width))
        with self._calling() as ptr:
            self._with_progress(ptr, progress, lib.spcnn_model_reconstruct, pixels.ptr, in_h,
                                in_w, height, width, seed, out.ptr, out.size)
        return out.result()

    # ---- Latent prior ---------------------------------------------------------------------------
    # What generation draws z from when it is given none: N(0, I), or a Gaussian mixture fitted
    # to the encoder's codes of training images (include/spatialpixelcnn.h, "Latent prior").
    # Saved with the model; a train_step clears it.

    def fit_prior(self, images, components=100, seed=1, shape=None, progress=None):
        """Fit the model's prior to images: a mixture of ``components`` diagonal Gaussians
        fitted by EM to the encoder's posteriors q(z|x) of the images.

        ``images`` as for train_step (at least ``components`` of them, each side at least
        patch_size); ``components`` 1 to 1024; ``seed`` picks EM's starting centres (the fit is
        deterministic). ``progress`` as for log_prob: it sees mostly the encoding and may
        cancel. On any failure the previous prior is kept. UnsupportedError for a model
        without latent code. The result is in ``prior``.
        """
        pixels = _marshal.PixelsIn(images, 3, shape, name="images")
        n, h, w = pixels.shape
        components = _marshal.size_arg(components, "components")
        seed = _marshal.seed_arg(seed)
        with self._calling() as ptr:
            self._with_progress(ptr, progress, lib.spcnn_model_fit_prior, pixels.ptr, n, h, w,
                                components, seed)

    @property
    def prior(self):
        """The model's prior: None for N(0, I), else a ``Prior(weights, means, variances)``
        (a copy: changing it does not change the model)."""
        size = self._config["latent_size"]
        k = ctypes.c_size_t()
        with self._calling() as ptr:
            lib.spcnn_model_get_prior(ptr, ctypes.byref(k), None, None, None, 0)
            if k.value == 0:
                return None
            weights = _marshal.FloatsOut((k.value,))
            means = _marshal.FloatsOut((k.value, size))
            variances = _marshal.FloatsOut((k.value, size))
            lib.spcnn_model_get_prior(ptr, ctypes.byref(k), weights.ptr, means.ptr,
                                      variances.ptr, means.size)
        if _marshal.np is not None:
            return Prior(weights.result(), means.result(), variances.result())
        return Prior(weights.values(), _rows(means.values(), size),
                     _rows(variances.values(), size))

    def set_prior(self, prior):
        """Set the model's prior: None for N(0, I), or a Prior or (weights, means, variances).

        ``weights``: k numbers (normalised to sum 1); ``means`` and ``variances``: k × L
        numbers each, as a (k, L) array, k vectors or a flat sequence. Shapes are checked here
        (TypeError, ValueError); values by the library: a weight or variance that is not
        positive, a value that is not finite or more than 1024 components raise
        InvalidArgumentError, which names the value, and keep the previous prior.
        UnsupportedError for a mixture on a model without latent code.
        """
        if prior is None:
            with self._calling() as ptr:
                lib.spcnn_model_set_prior(ptr, 0, None, None, None)
            return
        if not isinstance(prior, (tuple, list)):
            raise TypeError("prior: expected None, a Prior or a (weights, means, variances) "
                            "tuple, got %s" % type(prior).__name__)
        if len(prior) != 3:
            raise ValueError("prior: expected (weights, means, variances), got %d items"
                             % len(prior))
        weights, means, variances = prior
        k = _prior_components(weights)
        size = self._config["latent_size"]
        weights_in = _marshal.floats_in(weights, k, "prior weights")
        means_in = _marshal.latents_in(means, k, size, "prior means")
        variances_in = _marshal.latents_in(variances, k, size, "prior variances")
        with self._calling() as ptr:
            lib.spcnn_model_set_prior(ptr, k, weights_in, means_in, variances_in)

    def draw_latents(self, n, seed=0, prior="model"):
        """The n codes z that ``generate(n, h, w, seed)`` draws when it is given none.

        ``prior``: "model" (the model's prior: its fitted mixture, or N(0, I) without one) or
        "standard" (N(0, I), the VAE's prior, as the paper samples). Code i is keyed by
        (seed, i), so ``generate(n, h, w, seed=s, z=draw_latents(n, seed=s))`` equals
        ``generate(n, h, w, seed=s)``. Returns an (n, latent_size) float32 numpy array, or a
        list of n lists of floats without numpy. UnsupportedError for a model without latent
        code; n is 1 to 1000000.
        """
        n = _marshal.size_arg(n, "n")
        seed = _marshal.seed_arg(seed)
        choice = self._prior_number(prior)
        size = self._config["latent_size"]
        z = _marshal.FloatsOut((n, size))
        with self._calling() as ptr:
            lib.spcnn_model_draw_latents(ptr, choice, n, seed, z.ptr, z.size)
        if _marshal.np is not None:
            return z.result()
        return _rows(z.values(), size)

    @staticmethod
    def _prior_number(name):
        if not isinstance(name, str):
            raise TypeError("prior is %s, got %s"
                            % (" or ".join(repr(p) for p in PRIORS), type(name).__name__))
        if name not in PRIORS:
            raise ValueError("unknown prior %r (known: %s)" % (name, ", ".join(PRIORS)))
        return PRIORS.index(name)

    # ---- Call plumbing --------------------------------------------------------------------------

    def _check_open(self):
        if not self._ptr:
            raise ClosedError("operation on a closed Model")

    class _Calling:
        __slots__ = ("model",)

        def __init__(self, model):
            self.model = model

        def __enter__(self):
            model = self.model
            if model._owner == threading.get_ident():
                raise RuntimeError("re-entrant call on the same Model (from a progress "
                                   "callback?); the handle is busy")
            model._lock.acquire()
            if not model._ptr:
                model._lock.release()
                raise ClosedError("operation on a closed Model")
            model._owner = threading.get_ident()
            return model._ptr

        def __exit__(self, *exc):
            self.model._owner = None
            self.model._lock.release()

    def _calling(self):
        """Hold the handle's lock for one call; yields the pointer, ClosedError if closed."""
        return Model._Calling(self)

    @staticmethod
    def _with_progress(ptr, progress, func, *args, callbacks=()):
        """func(ptr, *args) with the progress callback installed for exactly this call.

        ``callbacks``: other wrappers (_Rows) passed in args, whose kept exception is raised
        the same way.
        """
        wrappers = list(callbacks)
        if progress is not None:
            wrapper = _Progress(progress)
            wrappers.append(wrapper)
            lib.spcnn_model_set_progress(ptr, wrapper.c_fn, None)
        error = None
        try:
            func(ptr, *args)
        except SpcnnError as exc:
            error = exc
        finally:
            if progress is not None:
                lib.spcnn_model_set_progress(ptr, _NO_PROGRESS, None)
        for wrapper in wrappers:
            if wrapper.error is not None:
                # The callback's own exception (with its traceback) wins over the
                # CancelledError it caused.
                raise wrapper.error
        if error is not None:
            raise error


def _rows(values, size):
    """A flat list cut into rows of size values (the no-numpy form of a matrix)."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def _prior_components(weights):
    """The number of mixture components: the length of the weights, a flat sequence."""
    np = _marshal.np
    if np is not None and isinstance(weights, np.ndarray):
        if weights.ndim != 1:
            raise ValueError("prior weights: expected a vector of k floats, got shape %r"
                             % (tuple(weights.shape),))
        k = int(weights.shape[0])
    elif isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError("prior weights: expected a sequence of k floats, got %s"
                        % type(weights).__name__)
    else:
        k = len(weights)
    if k == 0:
        raise ValueError("prior weights: no components (set_prior(None) returns to N(0, I))")
    return k
