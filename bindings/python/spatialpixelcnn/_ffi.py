"""Loading libspatialpixelcnn and declaring its C API for ctypes.

Every C function is declared below with its argtypes and restype, under its C declaration.
Functions that return a spcnn_status get an errcheck that raises the matching SpcnnError
subclass with spcnn_last_error_message(), read on the calling thread right after the call.

Where the library is looked for, in order (the first that loads and passes the version
handshake wins; otherwise ImportError lists every place and why it failed):
  1. $SPCNN_LIBRARY, a path to the shared library;
  2. libspatialpixelcnn.so.0 next to this package (copied there by the user);
  3. the library installed with this package by `cmake --install`, which writes its path,
     relative to the package, into _installed.py (absent from the source tree and from pip
     installs);
  4. the source tree's default build directory, <repo>/build/lib/libspatialpixelcnn.so.0, when
     this package is used from bindings/python in a checkout;
  5. the system: ctypes.util.find_library("spatialpixelcnn"), then "libspatialpixelcnn.so.0"
     through the dynamic loader (LD_LIBRARY_PATH, the ldconfig cache, /usr/lib/<multiarch>);
  6. the library directories of the prefixes `cmake --install` is likely to have used but the
     dynamic loader does not search until `ldconfig` has run: /usr/local/lib (and
     lib/<multiarch>), and the virtual environment's lib when Python runs in one.
"""

import ctypes
import ctypes.util
import os
import sys
import sysconfig

from ._errors import error_for_status

try:
    from ._installed import LIBRARY as _INSTALLED_LIBRARY
except ImportError:  # the source tree, or installed by pip
    _INSTALLED_LIBRARY = None

#: The ABI major this package was written for: the SONAME suffix, libspatialpixelcnn.so.0.
ABI_MAJOR = 0
#: The oldest library version (MAJOR*10000 + MINOR*100 + PATCH) with every function used here.
MIN_VERSION = 500
SONAME = "libspatialpixelcnn.so.%d" % ABI_MAJOR


# ---- Handle types: one typed pointer class per opaque handle --------------------------------


class _ConfigPtr(ctypes.c_void_p):
    """spcnn_config *"""


class _ModelPtr(ctypes.c_void_p):
    """spcnn_model *"""


class _ClassifierPtr(ctypes.c_void_p):
    """spcnn_classifier *"""


_status = ctypes.c_int  # spcnn_status (an enum: int-sized)
_key = ctypes.c_int  # spcnn_config_key
_stat = ctypes.c_int  # spcnn_stat
_prior_choice = ctypes.c_int  # spcnn_prior_choice
_u8_p = ctypes.POINTER(ctypes.c_uint8)
_float_p = ctypes.POINTER(ctypes.c_float)
_double_p = ctypes.POINTER(ctypes.c_double)
_size_p = ctypes.POINTER(ctypes.c_size_t)

# typedef int (*spcnn_progress_fn)(double fraction, void *user);
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_void_p)
# typedef int (*spcnn_row_fn)(const uint8_t *row, size_t image, size_t y, size_t width,
#                             void *user);
ROW_FN = ctypes.CFUNCTYPE(ctypes.c_int, _u8_p, ctypes.c_size_t, ctypes.c_size_t,
                          ctypes.c_size_t, ctypes.c_void_p)


class _Lib:
    """The loaded library: attributes are the declared C functions."""

    def __init__(self, dll, path):
        self.dll = dll
        self.path = path

    def _declare(self, name, restype, argtypes, checked):
        try:
            fn = getattr(self.dll, name)
        except AttributeError:
            raise OSError("missing symbol %s" % name) from None
        fn.restype = restype
        fn.argtypes = argtypes
        if checked:
            fn.errcheck = self._errcheck
        setattr(self, name, fn)

    def _errcheck(self, result, func, args):
        if result != 0:
            # Read at once, on this thread: the message is thread-local and the next failing
            # call replaces it.
            message = self.spcnn_last_error_message().decode("utf-8", "replace")
            text = self.spcnn_status_string(result).decode("utf-8", "replace")
            raise error_for_status(result, text, message)
        return result

    def declare_all(self):
        d = self._declare
        # ---- Version
        # unsigned spcnn_version_number(void);
        d("spcnn_version_number", ctypes.c_uint, [], False)
        # const char *spcnn_version_string(void);
        d("spcnn_version_string", ctypes.c_char_p, [], False)

        # ---- Errors
        # const char *spcnn_status_string(spcnn_status status);
        d("spcnn_status_string", ctypes.c_char_p, [_status], False)
        # const char *spcnn_last_error_message(void);
        d("spcnn_last_error_message", ctypes.c_char_p, [], False)

        # ---- Configuration
        # spcnn_status spcnn_config_create(spcnn_config **out);
        d("spcnn_config_create", _status, [ctypes.POINTER(_ConfigPtr)], True)
        # spcnn_status spcnn_config_clone(const spcnn_config *cfg, spcnn_config **out);
        d("spcnn_config_clone", _status, [_ConfigPtr, ctypes.POINTER(_ConfigPtr)], True)
        # void spcnn_config_destroy(spcnn_config *cfg);
        d("spcnn_config_destroy", None, [_ConfigPtr], False)
        # spcnn_status spcnn_config_set(spcnn_config *cfg, spcnn_config_key key, double value);
        d("spcnn_config_set", _status, [_ConfigPtr, _key, ctypes.c_double], True)
        # spcnn_status spcnn_config_get(const spcnn_config *cfg, spcnn_config_key key,
        #                               double *value);
        d("spcnn_config_get", _status, [_ConfigPtr, _key, _double_p], True)
        # spcnn_status spcnn_config_bounds(spcnn_config_key key, double *lower, double *upper,
        #                                  int *is_integer);
        d("spcnn_config_bounds", _status,
          [_key, _double_p, _double_p, ctypes.POINTER(ctypes.c_int)], True)
        # const char *spcnn_config_key_name(spcnn_config_key key);
        d("spcnn_config_key_name", ctypes.c_char_p, [_key], False)
        # spcnn_status spcnn_config_key_from_name(const char *name, spcnn_config_key *key);
        d("spcnn_config_key_from_name", _status, [ctypes.c_char_p, ctypes.POINTER(_key)], True)

        # ---- Image files
        # spcnn_status spcnn_png_read(const char *path, uint8_t *pixels, size_t capacity,
        #                             size_t *height, size_t *width);
        d("spcnn_png_read", _status,
          [ctypes.c_char_p, _u8_p, ctypes.c_size_t, _size_p, _size_p], True)
        # spcnn_status spcnn_png_write(const char *path, const uint8_t *pixels, size_t height,
        #                              size_t width);
        d("spcnn_png_write", _status,
          [ctypes.c_char_p, _u8_p, ctypes.c_size_t, ctypes.c_size_t], True)
        # spcnn_status spcnn_idx_read(const char *path, uint8_t *data, size_t capacity,
        #                             size_t *count, size_t *height, size_t *width);
        d("spcnn_idx_read", _status,
          [ctypes.c_char_p, _u8_p, ctypes.c_size_t, _size_p, _size_p, _size_p], True)

        # ---- Models
        # spcnn_status spcnn_model_create(const spcnn_config *cfg, spcnn_model **out);
        d("spcnn_model_create", _status, [_ConfigPtr, ctypes.POINTER(_ModelPtr)], True)
        # spcnn_status spcnn_model_load(const char *path, spcnn_model **out);
        d("spcnn_model_load", _status, [ctypes.c_char_p, ctypes.POINTER(_ModelPtr)], True)
        # spcnn_status spcnn_model_save(spcnn_model *model, const char *path,
        #                               int with_training_state);
        d("spcnn_model_save", _status, [_ModelPtr, ctypes.c_char_p, ctypes.c_int], True)
        # void spcnn_model_destroy(spcnn_model *model);
        d("spcnn_model_destroy", None, [_ModelPtr], False)
        # spcnn_status spcnn_model_get_config(const spcnn_model *model, spcnn_config *cfg);
        d("spcnn_model_get_config", _status, [_ModelPtr, _ConfigPtr], True)
        # spcnn_status spcnn_model_set_threads(spcnn_model *model, int threads);
        d("spcnn_model_set_threads", _status, [_ModelPtr, ctypes.c_int], True)
        # spcnn_status spcnn_model_set_option(spcnn_model *model, spcnn_config_key key,
        #                                     double value);
        d("spcnn_model_set_option", _status, [_ModelPtr, _key, ctypes.c_double], True)
        # spcnn_status spcnn_model_set_progress(spcnn_model *model, spcnn_progress_fn fn,
        #                                       void *user);
        d("spcnn_model_set_progress", _status, [_ModelPtr, PROGRESS_FN, ctypes.c_void_p], True)
        # spcnn_status spcnn_model_set_communicator(spcnn_model *model, int64_t comm);
        # (declared for completeness: the bindings do not use MPI)
        d("spcnn_model_set_communicator", _status, [_ModelPtr, ctypes.c_int64], True)
        # spcnn_status spcnn_model_stat(const spcnn_model *model, spcnn_stat stat,
        #                               double *value);
        d("spcnn_model_stat", _status, [_ModelPtr, _stat, _double_p], True)
        # spcnn_status spcnn_model_train_step(spcnn_model *model, const uint8_t *images,
        #                                     size_t n, size_t height, size_t width,
        #                                     double *bits_per_dim);
        d("spcnn_model_train_step", _status,
          [_ModelPtr, _u8_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, _double_p],
          True)
        # spcnn_status spcnn_model_train_step_mixed(spcnn_model *model,
        #                                           const uint8_t *const *images,
        #                                           const size_t *heights, const size_t *widths,
        #                                           size_t n, double *bits_per_dim);
        d("spcnn_model_train_step_mixed", _status,
          [_ModelPtr, ctypes.POINTER(_u8_p), _size_p, _size_p, ctypes.c_size_t, _double_p], True)
        # spcnn_status spcnn_model_encode(spcnn_model *model, const uint8_t *image,
        #                                 size_t height, size_t width, float *z,
        #                                 size_t capacity);
        d("spcnn_model_encode", _status,
          [_ModelPtr, _u8_p, ctypes.c_size_t, ctypes.c_size_t, _float_p, ctypes.c_size_t],
          True)
        # spcnn_status spcnn_model_decode(spcnn_model *model, const float *z, uint8_t *image,
        #                                 size_t capacity);
        d("spcnn_model_decode", _status, [_ModelPtr, _float_p, _u8_p, ctypes.c_size_t], True)
        # spcnn_status spcnn_model_log_prob(spcnn_model *model, const uint8_t *image,
        #                                   size_t height, size_t width, const float *z,
        #                                   float *nll, size_t capacity);
        d("spcnn_model_log_prob", _status,
          [_ModelPtr, _u8_p, ctypes.c_size_t, ctypes.c_size_t, _float_p, _float_p,
           ctypes.c_size_t],
          True)
        # spcnn_status spcnn_model_evaluate(spcnn_model *model, const uint8_t *images,
        #                                   size_t n, size_t height, size_t width,
        #                                   double *bpd_patches, double *bpd_image,
        #                                   double *kl);
        d("spcnn_model_evaluate", _status,
          [_ModelPtr, _u8_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, _double_p,
           _double_p, _double_p],
          True)

        # ---- Generation
        # spcnn_status spcnn_model_generate_images(spcnn_model *model, size_t n,
        #                                          const float *z, size_t height, size_t width,
        #                                          uint64_t seed, uint8_t *pixels,
        #                                          size_t capacity);
        d("spcnn_model_generate_images", _status,
          [_ModelPtr, ctypes.c_size_t, _float_p, ctypes.c_size_t, ctypes.c_size_t,
           ctypes.c_uint64, _u8_p, ctypes.c_size_t],
          True)
        # spcnn_status spcnn_model_generate_range(spcnn_model *model, size_t first, size_t n,
        #                                         const float *z, size_t height, size_t width,
        #                                         uint64_t seed, uint8_t *pixels,
        #                                         size_t capacity);
        d("spcnn_model_generate_range", _status,
          [_ModelPtr, ctypes.c_size_t, ctypes.c_size_t, _float_p, ctypes.c_size_t,
           ctypes.c_size_t, ctypes.c_uint64, _u8_p, ctypes.c_size_t], True)
        # spcnn_status spcnn_model_generate_image(spcnn_model *model, const float *z,
        #                                         size_t height, size_t width, uint64_t seed,
        #                                         uint8_t *pixels, size_t capacity);
        d("spcnn_model_generate_image", _status,
          [_ModelPtr, _float_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint64, _u8_p,
           ctypes.c_size_t],
          True)
        # spcnn_status spcnn_model_generate_stream(spcnn_model *model, size_t n,
        #                                          const float *z, size_t height, size_t width,
        #                                          uint64_t seed, spcnn_row_fn sink,
        #                                          void *user);
        d("spcnn_model_generate_stream", _status,
          [_ModelPtr, ctypes.c_size_t, _float_p, ctypes.c_size_t, ctypes.c_size_t,
           ctypes.c_uint64, ROW_FN, ctypes.c_void_p],
          True)
        # spcnn_status spcnn_model_sample_patch(spcnn_model *model, const float *z,
        #                                       size_t grid_height, size_t grid_width,
        #                                       size_t top, size_t left, uint64_t seed,
        #                                       uint8_t *patch, size_t capacity);
        d("spcnn_model_sample_patch", _status,
          [_ModelPtr, _float_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
           ctypes.c_size_t, ctypes.c_uint64, _u8_p, ctypes.c_size_t],
          True)
        # spcnn_status spcnn_model_reconstruct(spcnn_model *model, const uint8_t *image,
        #                                      size_t in_height, size_t in_width,
        #                                      size_t out_height, size_t out_width,
        #                                      uint64_t seed, uint8_t *out, size_t capacity);
        d("spcnn_model_reconstruct", _status,
          [_ModelPtr, _u8_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
           ctypes.c_size_t, ctypes.c_uint64, _u8_p, ctypes.c_size_t],
          True)

        # ---- Latent prior
        # spcnn_status spcnn_model_fit_prior(spcnn_model *model, const uint8_t *images,
        #                                    size_t count, size_t height, size_t width,
        #                                    size_t components, uint64_t seed);
        d("spcnn_model_fit_prior", _status,
          [_ModelPtr, _u8_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
           ctypes.c_size_t, ctypes.c_uint64],
          True)
        # spcnn_status spcnn_model_set_prior(spcnn_model *model, size_t components,
        #                                    const float *weights, const float *means,
        #                                    const float *variances);
        d("spcnn_model_set_prior", _status,
          [_ModelPtr, ctypes.c_size_t, _float_p, _float_p, _float_p], True)
        # spcnn_status spcnn_model_get_prior(const spcnn_model *model, size_t *components,
        #                                    float *weights, float *means, float *variances,
        #                                    size_t capacity);
        d("spcnn_model_get_prior", _status,
          [_ModelPtr, _size_p, _float_p, _float_p, _float_p, ctypes.c_size_t], True)
        # spcnn_status spcnn_model_draw_latents(const spcnn_model *model,
        #                                       spcnn_prior_choice prior, size_t n,
        #                                       uint64_t seed, float *z, size_t capacity);
        d("spcnn_model_draw_latents", _status,
          [_ModelPtr, _prior_choice, ctypes.c_size_t, ctypes.c_uint64, _float_p,
           ctypes.c_size_t],
          True)

        # ---- Image quality measures
        # spcnn_status spcnn_msssim(const uint8_t *a, const uint8_t *b, size_t height,
        #                           size_t width, double *value);
        d("spcnn_msssim", _status,
          [_u8_p, _u8_p, ctypes.c_size_t, ctypes.c_size_t, _double_p], True)
        # spcnn_status spcnn_msssim_pairs(const uint8_t *images, size_t n, size_t height,
        #                                 size_t width, int threads, double *mean,
        #                                 double *std);
        d("spcnn_msssim_pairs", _status,
          [_u8_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int, _double_p,
           _double_p],
          True)
        # spcnn_status spcnn_image_resize_area(const uint8_t *src, size_t src_h, size_t src_w,
        #                                      uint8_t *dst, size_t dst_h, size_t dst_w);
        d("spcnn_image_resize_area", _status,
          [_u8_p, ctypes.c_size_t, ctypes.c_size_t, _u8_p, ctypes.c_size_t, ctypes.c_size_t],
          True)
        # ---- Classifier
        # spcnn_status spcnn_classifier_create(size_t height, size_t width, size_t classes,
        #                                      uint64_t seed, spcnn_classifier **out);
        d("spcnn_classifier_create", _status,
          [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint64,
           ctypes.POINTER(_ClassifierPtr)],
          True)
        # spcnn_status spcnn_classifier_load(const char *path, spcnn_classifier **out);
        d("spcnn_classifier_load", _status, [ctypes.c_char_p, ctypes.POINTER(_ClassifierPtr)],
          True)
        # spcnn_status spcnn_classifier_save(spcnn_classifier *c, const char *path);
        d("spcnn_classifier_save", _status, [_ClassifierPtr, ctypes.c_char_p], True)
        # void spcnn_classifier_destroy(spcnn_classifier *c);
        d("spcnn_classifier_destroy", None, [_ClassifierPtr], False)
        # spcnn_status spcnn_classifier_set_threads(spcnn_classifier *c, int threads);
        d("spcnn_classifier_set_threads", _status, [_ClassifierPtr, ctypes.c_int], True)
        # spcnn_status spcnn_classifier_shape(const spcnn_classifier *c, size_t *height,
        #                                     size_t *width, size_t *classes);
        d("spcnn_classifier_shape", _status, [_ClassifierPtr, _size_p, _size_p, _size_p], True)
        # spcnn_status spcnn_classifier_train_step(spcnn_classifier *c, const uint8_t *images,
        #                                          const uint8_t *labels, size_t n,
        #                                          double *loss, double *accuracy);
        d("spcnn_classifier_train_step", _status,
          [_ClassifierPtr, _u8_p, _u8_p, ctypes.c_size_t, _double_p, _double_p], True)
        # spcnn_status spcnn_classifier_predict(spcnn_classifier *c, const uint8_t *images,
        #                                       size_t n, float *probs, size_t capacity);
        d("spcnn_classifier_predict", _status,
          [_ClassifierPtr, _u8_p, ctypes.c_size_t, _float_p, ctypes.c_size_t], True)


def _candidates():
    """(description, path or name, must_exist) in search order."""
    out = []
    env = os.environ.get("SPCNN_LIBRARY")
    if env:
        out.append(("$SPCNN_LIBRARY", env, True))
    here = os.path.dirname(os.path.abspath(__file__))
    out.append(("next to the package", os.path.join(here, SONAME), True))
    if _INSTALLED_LIBRARY:
        out.append(("installed with the package (cmake --install)",
                    os.path.normpath(os.path.join(here, _INSTALLED_LIBRARY)), True))
    # <repo>/bindings/python/spatialpixelcnn -> <repo>; only when it looks like the checkout.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    if os.path.isfile(os.path.join(repo, "include", "spatialpixelcnn.h")):
        out.append(("build tree", os.path.join(repo, "build", "lib", SONAME), True))
    found = ctypes.util.find_library("spatialpixelcnn")
    if found:
        out.append(("system (find_library)", found, False))
    out.append(("system (dynamic loader)", SONAME, False))
    prefixes = ["/usr/local"]
    if sys.prefix != sys.base_prefix:
        prefixes.append(sys.prefix)
    multiarch = sysconfig.get_config_var("MULTIARCH")
    for prefix in prefixes:
        for libdir in ["lib"] + (["lib/" + multiarch] if multiarch else []):
            out.append(("prefix %s" % prefix, os.path.join(prefix, libdir, SONAME), True))
    return out


def _try_load(path):
    """Load one candidate and run the version handshake; returns _Lib or raises OSError."""
    dll = ctypes.CDLL(path)
    # Where the dynamic loader resolved a bare name, name the file it chose.
    lib = _Lib(dll, os.path.abspath(path) if os.path.sep in path else _resolved_path(dll, path))
    if os.path.sep not in path:
        path = "%s (%s)" % (path, lib.path)
    try:
        lib.declare_all()
    except OSError as exc:
        raise OSError("%s: %s" % (path, exc)) from None
    number = lib.spcnn_version_number()
    version = lib.spcnn_version_string().decode("ascii", "replace")
    if number // 10000 != ABI_MAJOR:
        raise OSError("%s: library version %s has major %d; this package needs major %d"
                      % (path, version, number // 10000, ABI_MAJOR))
    if number < MIN_VERSION:
        raise OSError("%s: library version %s is older than %d.%d.%d"
                      % (path, version, MIN_VERSION // 10000, MIN_VERSION // 100 % 100,
                         MIN_VERSION % 100))
    return lib


def _resolved_path(dll, fallback):
    """The mapped file that holds the library's code (from /proc/self/maps), or fallback."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            addr = ctypes.cast(dll.spcnn_version_string, ctypes.c_void_p).value
            for line in maps:
                fields = line.split(None, 5)
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                if lo <= addr < hi and len(fields) == 6:
                    return fields[5].strip()
    except (OSError, ValueError, AttributeError):
        pass
    return fallback


def load():
    """Find and load the library; ImportError names every place tried and why it failed."""
    tried = []
    for what, path, must_exist in _candidates():
        if must_exist and not os.path.exists(path):
            tried.append("  %s: %s: no such file" % (what, path))
            continue
        try:
            return _try_load(path)
        except OSError as exc:
            tried.append("  %s: %s" % (what, exc))
    raise ImportError(
        "spatialpixelcnn: cannot load the C library %s. Tried:\n%s\n"
        "Set SPCNN_LIBRARY to the library's path, e.g. "
        "SPCNN_LIBRARY=build/lib/%s, copy the library next to the package, or install it "
        "(cmake --install, then ldconfig; bindings/python/README.md)."
        % (SONAME, "\n".join(tried), SONAME))


lib = load()


# ---- Signals ---------------------------------------------------------------------------------
# oneDNN 2.6's JIT f32 GEMM kernels point the stack pointer into a heap workspace while they
# run (oneDNN issue #4845). Python's C-level signal handler (Ctrl-C, signal.signal) is installed
# with SA_ONSTACK, but without an alternate stack it still runs on the interrupted one and
# writes its frame into that heap block: the process later aborts in free(). So the importing
# thread (the one the kernel hands process signals to first) gets an alternate stack unless it
# has one already (faulthandler's, for example). docs/api.md "Signals".

class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


_SS_DISABLE = 2  # Linux
_ALT_STACK_BYTES = 1 << 16
_alt_stack = None  # kept alive for the life of the process


def _ensure_alternate_signal_stack():
    global _alt_stack
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        current = _StackT()
        if libc.sigaltstack(None, ctypes.byref(current)) != 0:
            return False
        if not current.ss_flags & _SS_DISABLE:
            return True  # the program set one up
        buf = ctypes.create_string_buffer(_ALT_STACK_BYTES)
        ss = _StackT(ctypes.cast(buf, ctypes.c_void_p), 0, _ALT_STACK_BYTES)
        if libc.sigaltstack(ctypes.byref(ss), None) != 0:
            return False
        _alt_stack = buf
        return True
    except (OSError, AttributeError):
        return False


_ensure_alternate_signal_stack()
