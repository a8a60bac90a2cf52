/*
 * libspatialpixelcnn — Spatial PixelCNN in C.
 *
 * This header is the manual of the library and its only installed header.
 *
 * ## What it is
 * Spatial PixelCNN (Akoury & Nguyen) is a PixelCNN++ trained on small m×m patches of images,
 * conditioned on a grid of pixel coordinates and on a latent code from a VAE trained jointly on
 * the full images. Because every pixel knows where it is and what the image is about, a model
 * trained on 8×8 patches of 28×28 digits generates whole digits at 28×28 and, by conditioning on
 * a finer coordinate grid, at any larger resolution.
 *
 * ## Lifecycle
 * Objects are opaque handles created by a `spcnn_<object>_create` (or `_load`) function and
 * released by the matching `spcnn_<object>_destroy`, which accepts NULL. A configuration
 * (`spcnn_config`) holds the hyper-parameters; it is read when a model is created and may be
 * destroyed right after.
 *
 * ## Errors
 * Every function that can fail returns a ::spcnn_status; ::SPCNN_OK is 0. Results travel through
 * out-parameters; on failure a handle out-parameter is set to NULL, other out-parameters are left
 * unspecified, and nothing leaks. ::spcnn_status_string gives static text for a status and
 * ::spcnn_last_error_message the detail of the last failure on the calling thread
 * ("png: /tmp/a.png: not a PNG file").
 *
 * ## Ownership
 * Inputs are borrowed for the duration of a call. Outputs go into buffers the caller owns, with
 * an explicit capacity in elements; a buffer that is too small gives ::SPCNN_ERR_BUFFER_TOO_SMALL.
 * The library never hands out memory for the caller to free. Returned strings are static or
 * thread-local and must not be freed.
 *
 * ## Threads
 * Distinct handles are independent and may be used concurrently from different threads. One
 * handle must be used by one thread at a time, but may move between threads. The functions that
 * take no handle (versions, status strings, PNG and IDX helpers) are thread-safe. Computation
 * inside a call may use oneDNN's OpenMP thread pool (see SPCNN_CFG_THREADS); docs/threading.md
 * gives the details.
 *
 * ## Images
 * Images are 8-bit grayscale, row-major, height × width bytes, one byte per pixel (0 = black).
 * Batches of n images are n consecutive images.
 */
#ifndef SPATIALPIXELCNN_H
#define SPATIALPIXELCNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SPCNN_BUILDING_LIBRARY) && defined(__GNUC__)
#define SPCNN_API __attribute__((visibility("default")))
#else
#define SPCNN_API
#endif

/* ===================================================================================== */
/** @name Version
 * The library follows semantic versioning. The ABI major (the SONAME suffix,
 * libspatialpixelcnn.so.SPCNN_ABI_VERSION) changes only when a symbol is removed or its meaning
 * changes; docs/abi.md keeps the record.
 * @{ */
#define SPCNN_VERSION_MAJOR 0
#define SPCNN_VERSION_MINOR 1
#define SPCNN_VERSION_PATCH 0
/** The ABI major: the suffix of the library's SONAME. */
#define SPCNN_ABI_VERSION 0
/** MAJOR * 10000 + MINOR * 100 + PATCH. */
#define SPCNN_VERSION_NUMBER \
    (SPCNN_VERSION_MAJOR * 10000 + SPCNN_VERSION_MINOR * 100 + SPCNN_VERSION_PATCH)
#define SPCNN_VERSION_STRINGIFY_(x) #x
#define SPCNN_VERSION_STRINGIFY(x) SPCNN_VERSION_STRINGIFY_(x)
/** "MAJOR.MINOR.PATCH" */
#define SPCNN_VERSION_STRING                                                  \
    SPCNN_VERSION_STRINGIFY(SPCNN_VERSION_MAJOR)                              \
    "." SPCNN_VERSION_STRINGIFY(SPCNN_VERSION_MINOR) "." SPCNN_VERSION_STRINGIFY( \
        SPCNN_VERSION_PATCH)

/**
 * @brief The version of the library linked at run time, as SPCNN_VERSION_NUMBER.
 *
 * Compare it with SPCNN_VERSION_NUMBER to detect a header/library mismatch.
 * @return MAJOR * 10000 + MINOR * 100 + PATCH of the running library.
 * @since 0.1.0
 */
SPCNN_API unsigned spcnn_version_number(void);

/**
 * @brief The version of the library linked at run time, as "MAJOR.MINOR.PATCH".
 * @return Static text; never NULL.
 * @since 0.1.0
 */
SPCNN_API const char *spcnn_version_string(void);
/** @} */

/* ===================================================================================== */
/** @name Errors
 * @{ */

/**
 * @brief Result of every fallible function. Values are explicit and never reused.
 * @since 0.1.0
 */
typedef enum spcnn_status {
    SPCNN_OK = 0,                    /**< Success. */
    SPCNN_ERR_INVALID_ARGUMENT = 1,  /**< NULL, zero, out-of-range or inconsistent argument. */
    SPCNN_ERR_OUT_OF_MEMORY = 2,     /**< An allocation failed; nothing was changed. */
    SPCNN_ERR_BUFFER_TOO_SMALL = 3,  /**< A caller buffer's capacity is below what is needed. */
    SPCNN_ERR_IO = 4,                /**< A file could not be opened, read or written. */
    SPCNN_ERR_FORMAT = 5,            /**< A file's content is malformed, truncated or corrupt. */
    SPCNN_ERR_VERSION = 6,           /**< A file was written by a newer, unknown format version. */
    SPCNN_ERR_UNSUPPORTED = 7,       /**< Valid request this build or model cannot carry out. */
    SPCNN_ERR_BACKEND = 8,           /**< oneDNN reported a failure. */
    SPCNN_ERR_NUMERIC = 9,           /**< A non-finite value appeared; the model is unchanged. */
    SPCNN_ERR_CANCELLED = 10,        /**< A progress callback asked to stop. */
    SPCNN_ERR_INTERNAL = 11          /**< A bug in the library; please report it. */
} spcnn_status;

/**
 * @brief A short static description of a status ("invalid argument").
 * @param[in] status Any value; unknown values give "unknown status".
 * @return Static text; never NULL.
 * @since 0.1.0
 */
SPCNN_API const char *spcnn_status_string(spcnn_status status);

/**
 * @brief The detail of the last failure on the calling thread.
 *
 * The message names the operation and the cause, e.g.
 * "config: nr_filters = 0 is out of range [1, 1024]". It is set by every function that returns
 * a status other than ::SPCNN_OK and is left unchanged by successful calls.
 * @return Thread-local text, valid until the next failing call on this thread; "" if no call
 *         has failed on this thread. Never NULL.
 * @since 0.1.0
 */
SPCNN_API const char *spcnn_last_error_message(void);
/** @} */

/* ===================================================================================== */
/** @name Configuration
 * Hyper-parameters of a model, set by key with bounds checking (the pattern of zstd's
 * ZSTD_CCtx_setParameter). Every value is passed as a double; integer keys take integral
 * values only. The Python bindings use the key names ("patch_size") as keywords.
 * @{ */

/** @brief Opaque set of hyper-parameters. @since 0.1.0 */
typedef struct spcnn_config spcnn_config;

/**
 * @brief Configuration keys. Values are explicit and never reused.
 *
 * The default of each key is given in brackets; ::spcnn_config_bounds gives its range.
 * @since 0.1.0
 */
typedef enum spcnn_config_key {
    SPCNN_CFG_PATCH_SIZE = 1,    /**< m, side of the training window; multiple of 4 [8]. */
    SPCNN_CFG_NR_FILTERS = 2,    /**< F, channels of the PixelCNN++ streams [25]. */
    SPCNN_CFG_NR_RESNET = 3,     /**< R, gated resnets per scale [2]. */
    SPCNN_CFG_NR_MIX = 4,        /**< K, logistic mixture components [10]. */
    SPCNN_CFG_LATENT_SIZE = 5,   /**< L, size of the VAE latent code z [60]. */
    SPCNN_CFG_IMAGE_SIZE = 6,    /**< Side of the VAE input (images are resampled to it);
                                      multiple of 4 [28]. */
    SPCNN_CFG_DROPOUT = 7,       /**< Dropout rate in the gated resnets [0.5]. */
    SPCNN_CFG_LEARNING_RATE = 8, /**< Adam learning rate [0.001]. */
    SPCNN_CFG_LR_DECAY = 9,      /**< Learning rate multiplier per step [0.999995]. */
    SPCNN_CFG_L2 = 10,           /**< L2 weight penalty [0.0001]. */
    SPCNN_CFG_EMA_DECAY = 11,    /**< Decay of the parameter moving average [0.9995]. */
    SPCNN_CFG_ADAM_BETA1 = 12,   /**< Adam β1 [0.95]. */
    SPCNN_CFG_ADAM_BETA2 = 13,   /**< Adam β2 [0.9995]. */
    SPCNN_CFG_BATCH_SIZE = 14,   /**< Images per training step [128]. */
    SPCNN_CFG_SEED = 15,         /**< Seed of initialisation and training randomness [1]. */
    SPCNN_CFG_THREADS = 16,      /**< oneDNN/OpenMP threads used inside calls [1]. */
    SPCNN_CFG_USE_COORDS = 17,   /**< 1: condition on the coordinate grid, 0: do not [1]. */
    SPCNN_CFG_USE_LATENT = 18    /**< 1: condition on the VAE latent code, 0: no VAE [1]. */
} spcnn_config_key;

/**
 * @brief Create a configuration holding the defaults.
 * @param[out] out The new configuration, owned by the caller (free with
 *             ::spcnn_config_destroy); set to NULL on failure.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (out is NULL), ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_config_create(spcnn_config **out);

/**
 * @brief Copy a configuration.
 * @param[in] cfg The configuration to copy (borrowed).
 * @param[out] out The copy, owned by the caller; set to NULL on failure.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument), ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_config_clone(const spcnn_config *cfg, spcnn_config **out);

/**
 * @brief Release a configuration.
 * @param[in] cfg The configuration to free; NULL is allowed and does nothing.
 * @since 0.1.0
 */
SPCNN_API void spcnn_config_destroy(spcnn_config *cfg);

/**
 * @brief Set one hyper-parameter.
 * @param[in,out] cfg The configuration to change.
 * @param[in] key The hyper-parameter.
 * @param[in] value The new value; must lie within ::spcnn_config_bounds, be integral for
 *            integer keys, and meet the key's extra rule (patch_size and image_size: multiples
 *            of 4). On failure cfg is unchanged.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL cfg, unknown key, value out of range,
 *         not integral, not finite; the message names the key and the bounds).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_config_set(spcnn_config *cfg, spcnn_config_key key, double value);

/**
 * @brief Read one hyper-parameter.
 * @param[in] cfg The configuration.
 * @param[in] key The hyper-parameter.
 * @param[out] value Its current value.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument, unknown key).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_config_get(const spcnn_config *cfg, spcnn_config_key key,
                                        double *value);

/**
 * @brief The range of values a key accepts.
 * @param[in] key The hyper-parameter.
 * @param[out] lower Smallest accepted value (may be NULL).
 * @param[out] upper Largest accepted value (may be NULL).
 * @param[out] is_integer 1 if only integral values are accepted, else 0 (may be NULL).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (unknown key).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_config_bounds(spcnn_config_key key, double *lower, double *upper,
                                           int *is_integer);

/**
 * @brief The lower-case name of a key ("patch_size" for ::SPCNN_CFG_PATCH_SIZE).
 * @param[in] key The hyper-parameter.
 * @return Static text, or NULL for an unknown key.
 * @since 0.1.0
 */
SPCNN_API const char *spcnn_config_key_name(spcnn_config_key key);

/**
 * @brief Look a key up by its lower-case name.
 * @param[in] name The name, e.g. "nr_filters".
 * @param[out] key The key.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument or unknown name).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_config_key_from_name(const char *name, spcnn_config_key *key);
/** @} */

/* ===================================================================================== */
/** @name Image files
 * Helpers to read and write 8-bit grayscale images: PNG (through libpng) and IDX, the file
 * format of MNIST.
 * @{ */

/**
 * @brief Read a PNG file as 8-bit grayscale.
 *
 * Any PNG is accepted: colour is converted to gray, 16-bit samples are reduced to 8 bits and
 * alpha is composited over black. Call it with pixels NULL (and capacity 0) to learn the size.
 * @param[in] path File to read.
 * @param[out] pixels Caller buffer for height × width bytes, row-major; may be NULL to query.
 * @param[in] capacity Size of pixels in bytes.
 * @param[out] height Image height in pixels.
 * @param[out] width Image width in pixels.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL path, height or width),
 *         ::SPCNN_ERR_IO (missing or unreadable file), ::SPCNN_ERR_FORMAT (not a PNG,
 *         truncated, corrupt), ::SPCNN_ERR_BUFFER_TOO_SMALL (height and width are still
 *         set), ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_png_read(const char *path, uint8_t *pixels, size_t capacity,
                                      size_t *height, size_t *width);

/**
 * @brief Write an 8-bit grayscale PNG file.
 *
 * The file is written to a temporary name next to path and renamed into place, so an existing
 * file is never left half-written.
 * @param[in] path File to create or replace.
 * @param[in] pixels height × width bytes, row-major (borrowed).
 * @param[in] height Image height, 1 to 1 000 000.
 * @param[in] width Image width, 1 to 1 000 000.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_IO, ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_png_write(const char *path, const uint8_t *pixels, size_t height,
                                       size_t width);

/**
 * @brief Read an IDX file of unsigned bytes (the format of the MNIST files).
 *
 * Files with 1 to 3 dimensions are accepted: count is the first dimension, height the second
 * (1 if absent) and width the third (1 if absent), so a label file reads as count × 1 × 1.
 * Call it with data NULL (and capacity 0) to learn the sizes. Compressed (.gz) files are not
 * read: decompress them first.
 * @param[in] path File to read.
 * @param[out] data Caller buffer for count × height × width bytes; may be NULL to query.
 * @param[in] capacity Size of data in bytes.
 * @param[out] count First dimension.
 * @param[out] height Second dimension, or 1.
 * @param[out] width Third dimension, or 1.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_IO, ::SPCNN_ERR_FORMAT (bad
 *         magic, not unsigned bytes, more than 3 dimensions, a zero or absurd dimension, a file
 *         shorter or longer than its header says), ::SPCNN_ERR_BUFFER_TOO_SMALL (sizes are
 *         still set).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_idx_read(const char *path, uint8_t *data, size_t capacity,
                                      size_t *count, size_t *height, size_t *width);
/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPATIALPIXELCNN_H */
