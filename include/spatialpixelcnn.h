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
 * take no handle (versions, status strings, PNG and IDX helpers, image quality measures) are
 * thread-safe. Computation inside a call may use oneDNN's OpenMP thread pool (see
 * SPCNN_CFG_THREADS); docs/threading.md gives the details.
 *
 * ## Signals
 * oneDNN 2.6's GEMM kernels point the stack pointer at heap memory while they run: a signal
 * handler running on that stack corrupts the heap. Install handlers with SA_ONSTACK and give the
 * calling thread an alternate stack (sigaltstack); docs/api-guide.md, "Signal handlers need an
 * alternate stack".
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
#define SPCNN_VERSION_MINOR 6
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
    SPCNN_ERR_INTERNAL = 11,         /**< A bug in the library; please report it. */
    /** An MPI call failed, or another rank's part of a collective call failed (the message
     * names the rank and its status); see ::spcnn_model_set_communicator. @since 0.5.0 */
    SPCNN_ERR_COMMUNICATION = 12
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
 * "config_set: nr_filters = 0 is out of range: an integer in [1, 1024]". It is set by every function that returns
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
    SPCNN_CFG_USE_LATENT = 18,   /**< 1: condition on the VAE latent code, 0: no VAE [1]. */
    SPCNN_CFG_TEMPERATURE = 19,  /**< Sampling: scale of the logistic draws; 1 samples the model
                                      exactly, smaller values sharpen, 0 takes component means
                                      [1]. */
    SPCNN_CFG_SCHEDULE = 20,     /**< Sampling order: 0 raster (one window per pixel, the
                                      reference), 1 wavefront (every pixel with the same
                                      m·row + column at once); both give the same bytes [1]. */
    SPCNN_CFG_GRID_RESAMPLE = 21, /**< How the window's coordinate grid is brought to the
                                      smaller scales of the U-net: 1 linearly from its first
                                      to its last coordinate, end points kept (the paper's
                                      code); 0 linear with half-pixel centres (version 0.1;
                                      model files without this key load as 0) [1].
                                      @since 0.2.0 */
    /** Scale-aware training, smallest scale: each training step draws a scale s uniformly
     * from [train_scale_min, train_scale_max] and resamples the batch's images to
     * round(s·h) × round(s·w) pixels (bilinear, end points kept, as the coordinate grid maps
     * them) before cropping the windows with that size's grid, so the PixelCNN also learns the
     * finer grids it generates at when it upscales. The VAE still sees each image itself. Both
     * 1: the paper's training [1]. @since 0.3.0 */
    SPCNN_CFG_TRAIN_SCALE_MIN = 22,
    /** Scale-aware training, largest scale (at least train_scale_min) [1]. @since 0.3.0 */
    SPCNN_CFG_TRAIN_SCALE_MAX = 23,
    /** Two-stage training (the paper's code's option): the first N steps train the VAE alone
     * (its reconstruction and KL losses; the PixelCNN is not run), after which the VAE is
     * frozen at its EMA weights and the PixelCNN trains alone on its codes, its optimiser
     * state, learning-rate decay and EMA counting from that step. A train step's bits/dim is
     * NaN in the first stage, its reconstruction NaN in the second. 0: joint training, the
     * paper's (needs use_latent for N > 0) [0]. @since 0.4.0 */
    SPCNN_CFG_VAE_PRETRAIN_STEPS = 24,
    /** Scale-aware training mixed with native steps: the share of steps (drawn at random,
     * each with this probability) that train at the images' own size (scale 1) when
     * train_scale_max is above 1; the other steps draw their scale from [train_scale_min,
     * train_scale_max] as before. 0: every step scale-aware [0]. @since 0.6.0 */
    SPCNN_CFG_TRAIN_NATIVE_SHARE = 25,
    /** Arithmetic of sampling and evaluation: 0 fp32; 1 bf16 inside the PixelCNN's
     * convolutions between its first layers and its output layer (their inputs and weights
     * rounded to bfloat16, products summed in fp32; the first and output layers, the VAE,
     * every other layer, the mixture and the likelihood in fp32), on CPUs with
     * AVX-512 BF16 — about twice the convolutions' speed, not bit-equal to fp32
     * (docs/benchmarks.md says how close). Training follows ::SPCNN_CFG_TRAIN_PRECISION
     * instead. A model whose file says 1 computes in fp32 on a CPU without AVX-512 BF16;
     * ::spcnn_model_set_option refuses 1 there with ::SPCNN_ERR_UNSUPPORTED [0].
     * @since 0.6.0 */
    SPCNN_CFG_PRECISION = 26,
    /** Weight β of the VAE's KL term in the training loss (patch NLL + reconstruction +
     * β·KL): below 1 the encoder may put more of each image into z, which the PixelCNN's
     * reconstructions follow more faithfully, at the cost of a code that strays further from
     * N(0, I) (a fitted prior, ::spcnn_model_fit_prior, follows it). Training only: bits/dim,
     * the reported KL and every evaluation use the true KL. 1: the paper's ELBO [1].
     * @since 0.7.0 */
    SPCNN_CFG_KL_WEIGHT = 27,
    /** Arithmetic of training steps: 0 fp32; 1 bf16 in the forward, input-gradient and
     * weight-gradient passes of the same PixelCNN convolutions as ::SPCNN_CFG_PRECISION
     * (inputs, weights and output gradients rounded to bfloat16, products summed in fp32;
     * the transposed ones' weight gradients fp32), with fp32 bias gradients, master weights,
     * optimiser, VAE, mixture and loss; on CPUs with AVX-512 BF16. Faster
     * steps, not the same bytes as fp32 (docs/benchmarks.md, "bf16 training", says how much
     * and what it does to bits/dim). A model whose file says 1 trains in fp32 on a CPU
     * without AVX-512 BF16; ::spcnn_model_set_option refuses 1 there with
     * ::SPCNN_ERR_UNSUPPORTED [0]. @since 0.7.0 */
    SPCNN_CFG_TRAIN_PRECISION = 28
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
 * alpha is composited over black. Gray is the luminance Y = 0.2126 R + 0.7152 G + 0.0722 B
 * (Rec. 709 weights) in linear light, the sRGB values decoded and the result encoded again
 * with gamma 2.2 and rounded once; alpha is composited in linear light. Call it with pixels
 * NULL (and capacity 0) to learn the size.
 * @param[in] path File to read.
 * @param[out] pixels Caller buffer for height × width bytes, row-major; may be NULL to query.
 * @param[in] capacity Size of pixels in bytes.
 * @param[out] height Image height in pixels.
 * @param[out] width Image width in pixels.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL path, height or width),
 *         ::SPCNN_ERR_IO (missing or unreadable file), ::SPCNN_ERR_FORMAT (not a PNG,
 *         truncated, corrupt; a side above 1 000 000 or more than 2^32 - 1 pixels; a header
 *         claiming more pixels than the file's length can hold, at deflate's best ratio of
 *         1032:1 — docs/file-format.md, "Limits"), ::SPCNN_ERR_BUFFER_TOO_SMALL (height and
 *         width are still set), ::SPCNN_ERR_OUT_OF_MEMORY.
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
 *         magic, not unsigned bytes, more than 3 dimensions, a dimension of 0 or above
 *         10^8, more than 2^31 elements, a regular file shorter or longer than its header says
 *         — found before any size is reported), ::SPCNN_ERR_BUFFER_TOO_SMALL (sizes are
 *         still set).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_idx_read(const char *path, uint8_t *data, size_t capacity,
                                      size_t *count, size_t *height, size_t *width);
/** @} */

/* ===================================================================================== */
/** @name Models
 * A model is the Spatial PixelCNN (a PixelCNN++ over m×m windows, conditioned on the coordinate
 * grid and on the latent code z) together with its VAE, their parameters, the optimiser state
 * and the moving average of the parameters (EMA) used for evaluation and generation.
 *
 * Computing functions build what they need for a shape (oneDNN primitives, activation memory)
 * on first use and reuse it while the shape stays the same: keep batch sizes and image sizes
 * constant for speed.
 * @{ */

/** @brief Opaque model handle. @since 0.1.0 */
typedef struct spcnn_model spcnn_model;

/**
 * @brief Statistics a model reports through ::spcnn_model_stat. Values are explicit and never
 * reused; new ones may be added.
 * @since 0.1.0
 */
typedef enum spcnn_stat {
    SPCNN_STAT_STEP = 1,           /**< Optimiser steps taken. */
    SPCNN_STAT_IMAGES_SEEN = 2,    /**< Images trained on. */
    SPCNN_STAT_BITS_PER_DIM = 3,   /**< Patch NLL of the last training step, bits per pixel. */
    SPCNN_STAT_RECONSTRUCTION = 4, /**< VAE reconstruction loss of the last step, nats/image. */
    SPCNN_STAT_KL = 5,             /**< KL(q(z|x) || N(0, I)) of the last step, nats/image. */
    SPCNN_STAT_LEARNING_RATE = 6,  /**< Learning rate used by the last step. */
    SPCNN_STAT_GRAD_NORM = 7,      /**< Global gradient norm of the last step. */
    SPCNN_STAT_PARAMETERS = 8,     /**< Number of trainable parameters. */
    /** 1 when the model holds its training state (raw weights, Adam moments), 0 after loading
     * a file saved without it: ::spcnn_model_save with the state would then write the EMA
     * weights and zero moments. @since 0.3.0 */
    SPCNN_STAT_TRAINING_STATE = 9,
    /** Components of the latent prior: 0 for N(0, I) (see ::spcnn_model_fit_prior).
     * @since 0.3.0 */
    SPCNN_STAT_PRIOR_COMPONENTS = 10,
    /** This process's rank in the model's communicator, 0 without one
     * (::spcnn_model_set_communicator). @since 0.5.0 */
    SPCNN_STAT_RANK = 11,
    /** Ranks in the model's communicator, 1 without one. @since 0.5.0 */
    SPCNN_STAT_RANKS = 12
} spcnn_stat;

/**
 * @brief Progress callback of long calls (evaluation, generation).
 * @param fraction Work done so far, from 0 to 1.
 * @param user The pointer given to ::spcnn_model_set_progress.
 * @return 0 to continue; any other value cancels the call, which then returns
 *         ::SPCNN_ERR_CANCELLED without reporting partial results as success.
 * @since 0.1.0
 */
typedef int (*spcnn_progress_fn)(double fraction, void *user);

/**
 * @brief Create a freshly initialised model.
 * @param[in] cfg Hyper-parameters (borrowed; may be destroyed after the call).
 * @param[out] out The model, owned by the caller (free with ::spcnn_model_destroy); NULL on
 *             failure.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument, inconsistent configuration:
 *         train_scale_min above train_scale_max, or vae_pretrain_steps without use_latent;
 *         every key is within its bounds already), ::SPCNN_ERR_OUT_OF_MEMORY,
 *         ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_create(const spcnn_config *cfg, spcnn_model **out);

/**
 * @brief Load a model saved by ::spcnn_model_save.
 *
 * The file is validated completely (magic, format version, hyper-parameters, parameter table,
 * sizes, checksum) before it is used.
 * @param[in] path The model file.
 * @param[out] out The model, owned by the caller; NULL on failure.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_IO, ::SPCNN_ERR_FORMAT
 *         (not a model file, truncated, corrupt; the message names the offset and the field),
 *         ::SPCNN_ERR_VERSION (written by a newer format version), ::SPCNN_ERR_OUT_OF_MEMORY,
 *         ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_load(const char *path, spcnn_model **out);

/**
 * @brief Save a model atomically (temporary file, fsync, rename).
 * @param[in] model The model.
 * @param[in] path File to create or replace; an existing file is never left half-written.
 * @param[in] with_training_state 0: the EMA weights only (what generation and evaluation use);
 *            1: also the raw weights and the optimiser state, so training can resume exactly.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_IO, ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_save(spcnn_model *model, const char *path,
                                        int with_training_state);

/**
 * @brief Release a model.
 * @param[in] model The model; NULL is allowed and does nothing.
 * @since 0.1.0
 */
SPCNN_API void spcnn_model_destroy(spcnn_model *model);

/**
 * @brief Copy the model's hyper-parameters into a configuration.
 * @param[in] model The model.
 * @param[in,out] cfg A configuration created by ::spcnn_config_create; every key is set.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_get_config(const spcnn_model *model, spcnn_config *cfg);

/**
 * @brief Set the number of oneDNN/OpenMP threads used inside this model's calls.
 *
 * Takes effect at the next call (which rebuilds its primitives). See docs/threading.md.
 * @param[in,out] model The model.
 * @param[in] threads 1 to 256.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_set_threads(spcnn_model *model, int threads);

/**
 * @brief Change a setting of an existing model (for example a loaded one).
 *
 * Only the settings that do not change the network can be changed: ::SPCNN_CFG_THREADS
 * (as ::spcnn_model_set_threads), ::SPCNN_CFG_TEMPERATURE and ::SPCNN_CFG_SCHEDULE, and
 * (since 0.6.0) ::SPCNN_CFG_PRECISION and the scale-aware training settings ::SPCNN_CFG_TRAIN_SCALE_MIN,
 * ::SPCNN_CFG_TRAIN_SCALE_MAX and ::SPCNN_CFG_TRAIN_NATIVE_SHARE, so that a trained model can
 * be fine-tuned at other scales (the minimum may not go above the maximum: raise the maximum
 * first), and (since 0.7.0) the training loss's ::SPCNN_CFG_KL_WEIGHT and the training
 * arithmetic ::SPCNN_CFG_TRAIN_PRECISION. Changed settings are saved with the model.
 * @param[in,out] model The model.
 * @param[in] key The setting.
 * @param[in] value Its new value, within ::spcnn_config_bounds.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL model, value out of range, or a key
 *         fixed at creation; the message says which), ::SPCNN_ERR_UNSUPPORTED (precision bf16
 *         on a CPU without AVX-512 BF16).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_set_option(spcnn_model *model, spcnn_config_key key,
                                              double value);

/**
 * @brief Install (or with fn NULL remove) the progress callback of long calls.
 * @param[in,out] model The model.
 * @param[in] fn Called from the calling thread, at most about a hundred times per call.
 * @param[in] user Passed to fn unchanged (borrowed).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (model NULL).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_set_progress(spcnn_model *model, spcnn_progress_fn fn,
                                                void *user);

/**
 * @brief Read one statistic of the model (see ::spcnn_stat).
 * @param[in] model The model.
 * @param[in] stat Which statistic.
 * @param[out] value Its value; statistics of the last step are 0 before the first step.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument, unknown stat).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_stat(const spcnn_model *model, spcnn_stat stat,
                                        double *value);

/**
 * @brief One optimiser step on a batch of images (paper eq. 5).
 *
 * For each image the library draws one random m×m window and the latent code
 * z ~ q(z|image) from the model's seeded random state, so training is deterministic for a fixed
 * seed and thread count. The loss is the VAE loss of the whole image plus the NLL of the window
 * given its crop of the image's coordinate grid and z. The VAE sees the image resampled to
 * image_size × image_size by bilinear interpolation with half-pixel centres (output pixel o reads
 * the input at (o + 0.5)·in/image_size − 0.5, the neighbours clamped at the edges; an image of
 * that size is used as it is). With ::SPCNN_CFG_VAE_PRETRAIN_STEPS the first steps train only
 * the VAE's loss and the later ones only the window's NLL. On ::SPCNN_ERR_NUMERIC (a non-finite
 * gradient) the parameters are unchanged. It is ::spcnn_model_train_step_mixed with every
 * image of the same size, and gives the same bits. **Collective** while the model is attached
 * to a communicator (::spcnn_model_set_communicator, since 0.5.0): the images are then this
 * rank's shard of the batch.
 * @param[in,out] model The model.
 * @param[in] images n images of height × width bytes (borrowed).
 * @param[in] n Batch size, 1 or more (keep it constant for speed; the configured batch_size is
 *            what the CLI uses); attached, this rank's share of it.
 * @param[in] height Image height, at least patch_size.
 * @param[in] width Image width, at least patch_size.
 * @param[out] bits_per_dim The batch's patch NLL in bits per pixel (may be NULL; NaN in a VAE
 *             pretraining step, which runs no PixelCNN); the other statistics are read with
 *             ::spcnn_model_stat.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_NUMERIC,
 *         ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND, ::SPCNN_ERR_COMMUNICATION (attached:
 *         MPI failed, or another rank's part of the step did).
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_train_step(spcnn_model *model, const uint8_t *images,
                                              size_t n, size_t height, size_t width,
                                              double *bits_per_dim);

/**
 * @brief One optimiser step on a batch of images of different sizes.
 *
 * As ::spcnn_model_train_step, image by image: image i's window is drawn uniformly among its
 * (heights[i] − m + 1) × (widths[i] − m + 1) windows (of the image resampled to this step's
 * scale under scale-aware training, train_scale_min/max, which scales each image's own size)
 * and is conditioned on the coordinate grid of its own image, G[r][c] = (−1 + 2r/(H−1),
 * −1 + 2c/(W−1)); the VAE sees each image resampled to image_size × image_size with the filter
 * ::spcnn_model_train_step documents. The random draws are keyed by (seed, step, position in
 * the batch), so a batch of same-size images gives exactly the bits of
 * ::spcnn_model_train_step. Every image weighs the same in the loss: to draw windows uniformly
 * over a data set of mixed sizes, choose the batch's images with probability proportional to
 * their window counts (as `spcnn train` does for a folder of PNG images). Only n needs to stay
 * constant for speed: the plan is built per batch size, not per image size. Collective while
 * the model is attached to a communicator, as ::spcnn_model_train_step.
 * @param[in,out] model The model.
 * @param[in] images n pointers, image i of heights[i] × widths[i] bytes (all borrowed).
 * @param[in] heights n image heights, each at least patch_size and at most 1000000.
 * @param[in] widths n image widths, each at least patch_size and at most 1000000.
 * @param[in] n Batch size, 1 to 65536.
 * @param[out] bits_per_dim The batch's patch NLL in bits per pixel (may be NULL).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument, n out of range, an image
 *         smaller than the window or too large; the message names the first such image),
 *         ::SPCNN_ERR_NUMERIC, ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND,
 *         ::SPCNN_ERR_COMMUNICATION.
 * @since 0.4.0
 */
SPCNN_API spcnn_status spcnn_model_train_step_mixed(spcnn_model *model,
                                                    const uint8_t *const *images,
                                                    const size_t *heights, const size_t *widths,
                                                    size_t n, double *bits_per_dim);

/** The communicator handle that detaches a model from its communicator (see
 * ::spcnn_model_set_communicator). @since 0.5.0 */
#define SPCNN_COMM_NONE (-1)

/**
 * @brief Attach the model to an MPI communicator for data-parallel training (or, with
 * ::SPCNN_COMM_NONE, detach it).
 *
 * Only a library built with MPI (-DSPCNN_MPI=ON, docs/mpi.md) can attach; the function exists
 * in every build, so a program runs against either. The header names no MPI type: pass the
 * communicator's Fortran handle, `MPI_Comm_c2f(comm)` (MPI_COMM_WORLD included). MPI must be
 * initialised; the library calls MPI only from the thread that calls it, so
 * MPI_THREAD_FUNNELED suffices while one thread uses the model (MPI_THREAD_SERIALIZED if it
 * moves between threads).
 *
 * **Collective** over comm: every rank calls it with its own model. The library duplicates
 * comm (MPI_Comm_dup: its messages never meet the caller's), checks that every rank's model
 * has rank 0's configuration (all keys but threads, temperature and schedule) and parameter
 * table, and then broadcasts rank 0's parameters, moving average, Adam moments, step and
 * images seen to the others, so every rank starts from the same state (a model created with
 * the same seed, or loaded from the same file, is that state already). The fitted latent prior
 * is not broadcast.
 *
 * While attached, ::spcnn_model_train_step and ::spcnn_model_train_step_mixed are
 * **collective**: each rank passes its shard of the batch (at least one image; the shards may
 * differ in size), the batch being the shards in rank order. Rank r's images are positions
 * first_r, first_r + 1, ... of that batch, first_r the images of the ranks before it, and
 * every random draw keyed by position (window, z, dropout) uses that global position, so N
 * ranks draw what one process draws for the whole batch. The loss is the mean over the whole
 * batch; the step's gradient is summed over the ranks in place, one MPI_Allreduce over the
 * flat gradient buffer (4 bytes × the parameter count of ::SPCNN_STAT_PARAMETERS, padding
 * included) plus three small ones (the shard sizes, the statuses, the loss sums). Then every
 * rank takes the same optimiser step (the gradient norm is that of the summed gradient), so
 * the ranks' models stay equal: the step's statistics, ::SPCNN_STAT_IMAGES_SEEN included,
 * describe the whole batch on every rank. A step that fails on one rank fails on all, with
 * ::SPCNN_ERR_COMMUNICATION on the others. The result equals one process's step on the whole
 * batch up to the order of floating-point sums (docs/mpi.md gives the measured difference).
 * Every other function stays local (evaluation, generation, saving: a caller usually lets
 * rank 0 save).
 *
 * Destroy the model (or detach it) before MPI_Finalize: the duplicate is freed then.
 * @param[in,out] model The model.
 * @param[in] comm MPI_Comm_c2f of the communicator, or ::SPCNN_COMM_NONE to detach (not
 *            collective, and ::SPCNN_OK in every build).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (model NULL, MPI not initialised, comm not
 *         a handle, a rank's model differs from rank 0's: the message names the key),
 *         ::SPCNN_ERR_UNSUPPORTED (built without MPI), ::SPCNN_ERR_COMMUNICATION,
 *         ::SPCNN_ERR_OUT_OF_MEMORY. On failure the model keeps its previous communicator.
 * @since 0.5.0
 */
SPCNN_API spcnn_status spcnn_model_set_communicator(spcnn_model *model, int64_t comm);

/**
 * @brief Encode an image: the mean of q(z|image), with EMA weights.
 * @param[in,out] model The model (must use the latent code).
 * @param[in] image height × width bytes; resampled to the VAE input size.
 * @param[in] height Image height, 1 or more.
 * @param[in] width Image width, 1 or more.
 * @param[out] z latent_size floats.
 * @param[in] capacity Size of z in floats.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_UNSUPPORTED (use_latent = 0),
 *         ::SPCNN_ERR_BUFFER_TOO_SMALL, ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_encode(spcnn_model *model, const uint8_t *image,
                                          size_t height, size_t width, float *z,
                                          size_t capacity);

/**
 * @brief The VAE decoder's image of a latent code: the mean of its per-pixel Bernoulli
 * distributions, 255·sigmoid(logit) rounded, at the VAE's size (image_size × image_size), with
 * EMA weights. This is the VAE's own, blurry reconstruction (the paper's Figure 5b) when z is
 * an encoder mean (::spcnn_model_encode); the PixelCNN's reconstructions are
 * ::spcnn_model_reconstruct.
 * @param[in,out] model The model.
 * @param[in] z latent_size finite floats.
 * @param[out] image image_size × image_size bytes.
 * @param[in] capacity Size of image in bytes.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_UNSUPPORTED (use_latent = 0),
 *         ::SPCNN_ERR_BUFFER_TOO_SMALL, ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.4.0
 */
SPCNN_API spcnn_status spcnn_model_decode(spcnn_model *model, const float *z, uint8_t *image,
                                          size_t capacity);

/**
 * @brief The exact per-pixel negative log-likelihood of a whole image, in bits.
 *
 * Each pixel (r, c) is scored by its own window, whose top-left corner is
 * (max(0, r-m+1), max(0, c-m+1)), conditioned on the image's coordinate grid and z; the sum of
 * the map is the NLL of the image under the sliding-window factorisation. EMA weights, no
 * dropout.
 * @param[in,out] model The model.
 * @param[in] image height × width bytes.
 * @param[in] height Image height, at least patch_size.
 * @param[in] width Image width, at least patch_size.
 * @param[in] z latent_size floats, or NULL to use the encoder mean of the image (ignored when
 *            the model has no latent code).
 * @param[out] nll height × width floats, bits per pixel.
 * @param[in] capacity Size of nll in floats.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_BUFFER_TOO_SMALL,
 *         ::SPCNN_ERR_CANCELLED, ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_log_prob(spcnn_model *model, const uint8_t *image,
                                            size_t height, size_t width, const float *z,
                                            float *nll, size_t capacity);

/**
 * @brief Test metrics on a set of images, with EMA weights and z the encoder mean.
 * @param[in,out] model The model.
 * @param[in] images n images of height × width bytes.
 * @param[in] n Number of images, 1 or more.
 * @param[in] height Image height, at least patch_size.
 * @param[in] width Image width, at least patch_size.
 * @param[out] bpd_patches Bits per pixel averaged over every m×m window of every image (the
 *             paper's figure); may be NULL.
 * @param[out] bpd_image Bits per pixel of the whole images under the sliding-window
 *             factorisation (see ::spcnn_model_log_prob); may be NULL.
 * @param[out] kl Mean KL(q(z|x) || N(0, I)) in nats per image (0 without a latent code); may
 *             be NULL.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_CANCELLED,
 *         ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_evaluate(spcnn_model *model, const uint8_t *images, size_t n,
                                            size_t height, size_t width, double *bpd_patches,
                                            double *bpd_image, double *kl);
/** @} */

/* ===================================================================================== */
/** @name Generation
 * Images are generated pixel by pixel at any size H×W ≥ m×m: pixel (r, c) is drawn from the
 * window whose top-left corner is (max(0, r-m+1), max(0, c-m+1)), conditioned on that window's
 * crop of the H×W coordinate grid over [-1, 1] and on z. A larger grid than the training images'
 * makes each window cover a smaller part of the picture: that is how the model upscales.
 *
 * Random numbers are keyed by (seed, image index, row, column), and z (when not given) by
 * (seed, image index), drawn from the model's prior: N(0, I), or the mixture fitted by
 * ::spcnn_model_fit_prior (see "Latent prior"). The bytes depend only on the model, the seed,
 * z, the size and the temperature — not on the schedule, the batch or the thread count. EMA
 * weights are used.
 * @{ */

/**
 * @brief Receives the finished rows of images being generated (see
 * ::spcnn_model_generate_stream).
 * @param row width bytes, valid during the call only.
 * @param image Index of the image in the batch.
 * @param y Row number; each image's rows arrive in order 0, 1, ..., height-1.
 * @param width Row length.
 * @param user The pointer given with the callback.
 * @return 0 to continue; any other value cancels the generation (::SPCNN_ERR_CANCELLED).
 * @since 0.1.0
 */
typedef int (*spcnn_row_fn)(const uint8_t *row, size_t image, size_t y, size_t width,
                            void *user);

/**
 * @brief Generate n images of height × width pixels into a caller buffer.
 * @param[in,out] model The model.
 * @param[in] n Number of images, 1 or more.
 * @param[in] z n × latent_size floats, or NULL to draw each image's z from the model's prior
 *            (as ::spcnn_model_draw_latents with ::SPCNN_PRIOR_MODEL; ignored when the model
 *            has no latent code).
 * @param[in] height Output height, at least patch_size.
 * @param[in] width Output width, at least patch_size.
 * @param[in] seed Seed of the random draws; image i of a call with seed s is the same image
 *            whatever n is.
 * @param[out] pixels n × height × width bytes.
 * @param[in] capacity Size of pixels in bytes.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_BUFFER_TOO_SMALL (also when
 *         the size overflows), ::SPCNN_ERR_CANCELLED (by the progress callback),
 *         ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_generate_images(spcnn_model *model, size_t n,
                                                   const float *z, size_t height, size_t width,
                                                   uint64_t seed, uint8_t *pixels,
                                                   size_t capacity);

/**
 * @brief Generate images first .. first + n − 1 of the sequence that
 * ::spcnn_model_generate_images makes with a seed, into a caller buffer: the same bytes as
 * those images of one call for first + n images, so processes can share the images of one
 * seed (`mpirun spcnn sample` gives rank r its block) and put them together. Not collective.
 * @param[in,out] model The model.
 * @param[in] first Index of the first image in the seed's sequence.
 * @param[in] n Number of images, 1 or more.
 * @param[in] z n × latent_size floats, the codes of these n images, or NULL to draw image
 *            i's from the model's prior keyed by (seed, i) as ::spcnn_model_generate_images
 *            does.
 * @param[in] height Output height, at least patch_size.
 * @param[in] width Output width, at least patch_size.
 * @param[in] seed Seed of the random draws.
 * @param[out] pixels n × height × width bytes: image first + j at j × height × width.
 * @param[in] capacity Size of pixels in bytes.
 * @return As ::spcnn_model_generate_images (::SPCNN_ERR_INVALID_ARGUMENT also when first + n
 *         overflows).
 * @since 0.5.0
 */
SPCNN_API spcnn_status spcnn_model_generate_range(spcnn_model *model, size_t first, size_t n,
                                                  const float *z, size_t height, size_t width,
                                                  uint64_t seed, uint8_t *pixels,
                                                  size_t capacity);

/**
 * @brief Generate one image: image 0 of ::spcnn_model_generate_images.
 * @param[in,out] model The model.
 * @param[in] z latent_size floats, or NULL to draw z from the model's prior.
 * @param[in] height Output height, at least patch_size.
 * @param[in] width Output width, at least patch_size.
 * @param[in] seed Seed of the random draws.
 * @param[out] pixels height × width bytes.
 * @param[in] capacity Size of pixels in bytes.
 * @return As ::spcnn_model_generate_images.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_generate_image(spcnn_model *model, const float *z,
                                                  size_t height, size_t width, uint64_t seed,
                                                  uint8_t *pixels, size_t capacity);

/**
 * @brief Generate n images and hand each finished row to a callback, so memory is bounded by
 * the band of rows the windows still need (about width/m + m rows per image), not the image:
 * a 10 000 × 10 000 image can be written to a PNG row by row.
 * @param[in,out] model The model.
 * @param[in] n Number of images, 1 or more.
 * @param[in] z n × latent_size floats, or NULL.
 * @param[in] height Output height, at least patch_size.
 * @param[in] width Output width, at least patch_size.
 * @param[in] seed Seed of the random draws.
 * @param[in] sink Receives the rows.
 * @param[in] user Passed to sink unchanged.
 * @return As ::spcnn_model_generate_images; ::SPCNN_ERR_CANCELLED when sink returns non-zero.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_generate_stream(spcnn_model *model, size_t n,
                                                   const float *z, size_t height, size_t width,
                                                   uint64_t seed, spcnn_row_fn sink,
                                                   void *user);

/**
 * @brief Generate one m×m patch at a position of an H×W coordinate grid.
 *
 * Every pixel of the patch is drawn from the window at (top, left) itself (not from its own
 * sliding window), in raster order. The patch at (0, 0) equals the top-left m×m corner of
 * ::spcnn_model_generate_image with the same z, seed and grid size.
 * @param[in,out] model The model.
 * @param[in] z latent_size floats, or NULL to draw z from the model's prior with the seed.
 * @param[in] grid_height Height H of the coordinate grid, at least patch_size.
 * @param[in] grid_width Width W of the coordinate grid, at least patch_size.
 * @param[in] top Row of the patch, at most H - m.
 * @param[in] left Column of the patch, at most W - m.
 * @param[in] seed Seed of the random draws.
 * @param[out] patch m × m bytes.
 * @param[in] capacity Size of patch in bytes.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_BUFFER_TOO_SMALL,
 *         ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_sample_patch(spcnn_model *model, const float *z,
                                                size_t grid_height, size_t grid_width,
                                                size_t top, size_t left, uint64_t seed,
                                                uint8_t *patch, size_t capacity);

/**
 * @brief Encode an image and regenerate it at any size: reconstruction and upscaling.
 *
 * z is the encoder mean of the image (resampled to the VAE input size); the output is
 * ::spcnn_model_generate_image with that z.
 * @param[in,out] model The model (must use the latent code).
 * @param[in] image in_height × in_width bytes.
 * @param[in] in_height Input height, 1 or more.
 * @param[in] in_width Input width, 1 or more.
 * @param[in] out_height Output height, at least patch_size.
 * @param[in] out_width Output width, at least patch_size.
 * @param[in] seed Seed of the random draws.
 * @param[out] out out_height × out_width bytes.
 * @param[in] capacity Size of out in bytes.
 * @return As ::spcnn_model_generate_images; ::SPCNN_ERR_UNSUPPORTED without a latent code.
 * @since 0.1.0
 */
SPCNN_API spcnn_status spcnn_model_reconstruct(spcnn_model *model, const uint8_t *image,
                                               size_t in_height, size_t in_width,
                                               size_t out_height, size_t out_width,
                                               uint64_t seed, uint8_t *out, size_t capacity);
/** @} */

/* ===================================================================================== */
/** @name Latent prior
 * The VAE is trained towards N(0, I), but its encoder places the training images in a smaller,
 * clustered region; z drawn from N(0, I) often lands where no training image was, and the
 * PixelCNN has never seen such codes. A model can carry a better prior for random samples: a
 * Gaussian mixture with diagonal covariances fitted to the encoder's posteriors of training
 * images (::spcnn_model_fit_prior). It is saved with the model (format version 2), used
 * whenever generation draws z itself, and cleared by ::spcnn_model_train_step (it described
 * the encoder before the step).
 * @{ */

/** Which distribution ::spcnn_model_draw_latents draws from. @since 0.3.0 */
typedef enum spcnn_prior_choice {
    SPCNN_PRIOR_MODEL = 0,   /**< The model's: its fitted mixture, or N(0, I) without one. */
    SPCNN_PRIOR_STANDARD = 1 /**< N(0, I), the VAE's prior (the paper samples from it). */
} spcnn_prior_choice;

/**
 * @brief Fit the model's prior: a mixture of `components` diagonal Gaussians fitted by EM to
 * the encoder's posteriors q(z|x) of the images (with EMA weights), started from k-means++
 * centres chosen with the seed. The mixture maximises the expected log-likelihood of codes
 * drawn from the posteriors, so it describes the codes the PixelCNN was trained on. The
 * progress callback sees the encoding (up to 95 %) and the EM iterations, and may cancel; the
 * previous prior is kept on any failure.
 * @param[in,out] model The model (must use the latent code).
 * @param[in] images count × height × width bytes: training images.
 * @param[in] count Number of images, at least components.
 * @param[in] height Image height, at least patch_size.
 * @param[in] width Image width, at least patch_size.
 * @param[in] components Mixture components, 1 to 1024.
 * @param[in] seed Seed of the starting centres; the fit is deterministic.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_UNSUPPORTED (no latent code),
 *         ::SPCNN_ERR_CANCELLED, ::SPCNN_ERR_NUMERIC, ::SPCNN_ERR_OUT_OF_MEMORY,
 *         ::SPCNN_ERR_BACKEND.
 * @since 0.3.0
 */
SPCNN_API spcnn_status spcnn_model_fit_prior(spcnn_model *model, const uint8_t *images,
                                             size_t count, size_t height, size_t width,
                                             size_t components, uint64_t seed);

/**
 * @brief Set the model's prior to a given mixture, or with components 0 back to N(0, I).
 * @param[in,out] model The model.
 * @param[in] components Mixture components, 0 to 1024.
 * @param[in] weights components positive weights (normalised to sum 1; none may become
 *            negligible, below FLT_MIN, in doing so).
 * @param[in] means components × latent_size finite values.
 * @param[in] variances components × latent_size positive finite values.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (the message names the bad value),
 *         ::SPCNN_ERR_UNSUPPORTED (a mixture for a model without latent code),
 *         ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.3.0
 */
SPCNN_API spcnn_status spcnn_model_set_prior(spcnn_model *model, size_t components,
                                             const float *weights, const float *means,
                                             const float *variances);

/**
 * @brief Read the model's prior. With weights, means and variances all NULL only the number
 * of components is returned (0: N(0, I)).
 * @param[in] model The model.
 * @param[out] components Number of mixture components.
 * @param[out] weights components floats, or NULL.
 * @param[out] means components × latent_size floats, or NULL.
 * @param[out] variances components × latent_size floats, or NULL.
 * @param[in] capacity Size of means and of variances in floats (weights needs components).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_BUFFER_TOO_SMALL.
 * @since 0.3.0
 */
SPCNN_API spcnn_status spcnn_model_get_prior(const spcnn_model *model, size_t *components,
                                             float *weights, float *means, float *variances,
                                             size_t capacity);

/**
 * @brief Draw n latent codes as generation does when it is given no z: code i keyed by
 * (seed, i), so generating with these codes gives the same images as generating with z NULL
 * and the same seed (for ::SPCNN_PRIOR_MODEL).
 * @param[in] model The model (must use the latent code).
 * @param[in] prior The model's prior or N(0, I).
 * @param[in] n Number of codes, 1 to 1000000.
 * @param[in] seed Seed of the draws.
 * @param[out] z n × latent_size floats.
 * @param[in] capacity Size of z in floats.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_UNSUPPORTED,
 *         ::SPCNN_ERR_BUFFER_TOO_SMALL.
 * @since 0.3.0
 */
SPCNN_API spcnn_status spcnn_model_draw_latents(const spcnn_model *model,
                                                spcnn_prior_choice prior, size_t n,
                                                uint64_t seed, float *z, size_t capacity);
/** @} */

/* ===================================================================================== */
/** @name Image quality measures
 * MS-SSIM, the diversity measure of the Spatial PixelCNN paper (after Odena et al.'s AC-GAN):
 * the mean MS-SSIM over pairs of generated images is low when the samples are diverse and near
 * 1 when they collapse to one image. Computed as the reference implementation the GAN
 * literature uses (tensorflow/models, research/compression/image_encoder/msssim.py): 5 scales
 * with the weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333 of Wang, Simoncelli and Bovik (2003),
 * K1 = 0.01, K2 = 0.03 and L = 255; at each scale a Gaussian window of side
 * n = min(11, height, width) and σ = 1.5·n/11 applied without padding ('valid'); between
 * scales the mean of each 2×2 block, an odd last row or column averaged with itself (a side s
 * becomes ceil(s/2): 28 → 14 → 7 → 4 → 2). The result is
 * cs_1^w1 · cs_2^w2 · cs_3^w3 · cs_4^w4 · ssim_5^w5, where cs_j is the mean
 * contrast-structure term at scale j and ssim_5 the mean SSIM at the coarsest scale.
 * A cs_j or ssim_5 below zero (the images are anticorrelated at that scale) is taken as 0,
 * as tf.image.ssim_multiscale does, so the value always lies in [0, 1] and is 0 for such a
 * pair; the reference implementation gives NaN there. Arithmetic is in double precision;
 * MS-SSIM(a, b) equals MS-SSIM(b, a) bit for bit, and MS-SSIM(a, a) is exactly 1.
 * docs/design.md ("Image quality measures") explains the choices. These functions take no
 * handle and are thread-safe.
 * @{ */

/**
 * @brief MS-SSIM of two 8-bit gray images of the same size.
 * @param[in] a height × width bytes, row-major (borrowed).
 * @param[in] b height × width bytes, row-major (borrowed).
 * @param[in] height Image height, 16 or more (the 5 scales halve it 4 times).
 * @param[in] width Image width, 16 or more.
 * @param[out] value MS-SSIM in [0, 1]; 1 for identical images.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL pointer, a side below 16, sizes whose
 *         product overflows), ::SPCNN_ERR_OUT_OF_MEMORY (the work space: at most about
 *         11 × height × width doubles).
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_msssim(const uint8_t *a, const uint8_t *b, size_t height,
                                    size_t width, double *value);

/**
 * @brief Mean and standard deviation of MS-SSIM over all n(n-1)/2 pairs of n images.
 *
 * Each image's pixels, windowed means and variances at every scale are computed once, so a
 * pair costs one windowed product per scale: 500 images of 28×28 (124 750 pairs) take well
 * under a second on one core (docs/benchmarks.md). The work space is at most about
 * 4 × height × width doubles per image and 3 × height × width per thread. The result is the
 * same bits with any thread count.
 * @param[in] images n images of height × width bytes, consecutive (borrowed).
 * @param[in] n Number of images, 2 or more.
 * @param[in] height Image height, 16 or more.
 * @param[in] width Image width, 16 or more.
 * @param[in] threads OpenMP threads for this call, 1 to 256 (0 means 1). The calling thread's
 *            OpenMP settings are left as they were; called from inside an OpenMP parallel
 *            region, the call runs on one thread.
 * @param[out] mean Mean MS-SSIM over the pairs.
 * @param[out] std Population standard deviation over the pairs (divided by the number of
 *             pairs, not by one less); 0 for n = 2.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL pointer, n < 2, a side below 16,
 *         threads out of range, sizes whose product overflows), ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_msssim_pairs(const uint8_t *images, size_t n, size_t height,
                                          size_t width, int threads, double *mean,
                                          double *std);

/**
 * @brief Resize an 8-bit gray image with an area (box) filter, e.g. 56×56 samples to the
 * 28×28 input of a classifier.
 *
 * Each axis is handled on its own. Where the output is smaller than the source, an output
 * pixel is the exact mean of the source area it covers, each source pixel weighted by the
 * fraction of it that lies inside (for an integer factor, the plain mean of each block), rounded
 * to the nearest integer with halves rounded up. Where the output is as large or larger, an
 * output pixel takes the source pixel under its centre, source row floor((r + 1/2)·src_h/dst_h)
 * (for an integer factor each source pixel is repeated factor times); equal sizes copy the
 * image. Integer arithmetic throughout: the result does not depend on the machine.
 * @param[in] src src_h × src_w bytes, row-major (borrowed).
 * @param[in] src_h Source height, 1 or more.
 * @param[in] src_w Source width, 1 or more.
 * @param[out] dst dst_h × dst_w bytes; must not overlap src.
 * @param[in] dst_h Output height, 1 or more.
 * @param[in] dst_w Output width, 1 or more.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL pointer, a zero side, sizes whose
 *         products overflow).
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_image_resize_area(const uint8_t *src, size_t src_h, size_t src_w,
                                               uint8_t *dst, size_t dst_h, size_t dst_w);
/** @} */

/* ===================================================================================== */
/** @name Classifier
 * A small LeNet-5 digit classifier built on the same engine, used to judge generated images
 * (the paper's "LeNet confidence" of samples and accuracy of reconstructions). For 1-channel
 * height × width images it computes
 *
 *   conv 5×5 (pad 2, 20 channels) → ReLU → max pool 2×2 → conv 5×5 (50 channels) → ReLU →
 *   max pool 2×2 → fully connected 256 → ReLU → fully connected 128 → ReLU →
 *   fully connected `classes` → softmax
 *
 * on pixel / 255. It is trained with Adam (learning rate 0.001 × 0.9998^step, β1 0.9,
 * β2 0.999, no weight decay) and keeps a moving average of its weights (decay 0.998), which
 * is what ::spcnn_classifier_predict and ::spcnn_classifier_save use. The models/ folder holds
 * classifiers trained on MNIST and Fashion-MNIST (docs/benchmarks.md, "Classifier").
 * @{ */

/** @brief Opaque classifier handle. @since 0.2.0 */
typedef struct spcnn_classifier spcnn_classifier;

/**
 * @brief Create a classifier with freshly initialised weights.
 * @param[in] height Image height, 12 to 1024.
 * @param[in] width Image width, 12 to 1024.
 * @param[in] classes Number of classes, 2 to 256 (labels are bytes 0 to classes - 1).
 * @param[in] seed Seed of the initial weights: equal seeds give equal classifiers.
 * @param[out] out The classifier, owned by the caller (free with
 *             ::spcnn_classifier_destroy); NULL on failure.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (out NULL, a size out of range),
 *         ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_create(size_t height, size_t width, size_t classes,
                                               uint64_t seed, spcnn_classifier **out);

/**
 * @brief Load a classifier saved by ::spcnn_classifier_save.
 *
 * The file is validated completely (magic, format version, shape, parameter table, sizes,
 * values, checksum) before it is used. The loaded classifier predicts exactly as the saved one
 * did; further training starts from the saved (averaged) weights with a fresh optimiser.
 * @param[in] path The classifier file (docs/file-format.md, "Classifier files").
 * @param[out] out The classifier, owned by the caller; NULL on failure.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_IO, ::SPCNN_ERR_FORMAT (not a
 *         classifier file, truncated, corrupt; the message names the offset and the field),
 *         ::SPCNN_ERR_VERSION (a newer format version), ::SPCNN_ERR_OUT_OF_MEMORY,
 *         ::SPCNN_ERR_BACKEND.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_load(const char *path, spcnn_classifier **out);

/**
 * @brief Save a classifier atomically (temporary file, fsync, rename).
 *
 * The file holds the shape and the averaged weights that prediction uses.
 * @param[in] c The classifier.
 * @param[in] path File to create or replace; an existing file is never left half-written.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_IO, ::SPCNN_ERR_OUT_OF_MEMORY.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_save(spcnn_classifier *c, const char *path);

/**
 * @brief Release a classifier.
 * @param[in] c The classifier; NULL is allowed and does nothing.
 * @since 0.2.0
 */
SPCNN_API void spcnn_classifier_destroy(spcnn_classifier *c);

/**
 * @brief Set the number of oneDNN/OpenMP threads used inside this classifier's calls.
 *
 * Takes effect at the next call (which rebuilds its primitives). See docs/threading.md.
 * @param[in,out] c The classifier.
 * @param[in] threads 1 to 256.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT, ::SPCNN_ERR_OUT_OF_MEMORY,
 *         ::SPCNN_ERR_BACKEND.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_set_threads(spcnn_classifier *c, int threads);

/**
 * @brief The image size and the number of classes of a classifier.
 * @param[in] c The classifier.
 * @param[out] height Image height (may be NULL).
 * @param[out] width Image width (may be NULL).
 * @param[out] classes Number of classes (may be NULL).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (c NULL).
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_shape(const spcnn_classifier *c, size_t *height,
                                              size_t *width, size_t *classes);

/**
 * @brief One Adam step on a batch of labelled images.
 *
 * The loss is the mean softmax cross-entropy of the batch. Training is deterministic for a
 * fixed seed, batch sequence and thread count. On ::SPCNN_ERR_NUMERIC (a non-finite gradient)
 * the classifier is unchanged. Keep the batch size constant: a new size rebuilds the plan.
 * @param[in,out] c The classifier.
 * @param[in] images n images of height × width bytes (borrowed).
 * @param[in] labels n labels, each below the number of classes (borrowed).
 * @param[in] n Batch size, 1 to 65536.
 * @param[out] loss Mean cross-entropy of the batch in nats, before the step (may be NULL).
 * @param[out] accuracy Fraction of the batch classified correctly before the step, 0 to 1
 *             (may be NULL).
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument, n out of range, a label
 *         not below the number of classes; the message names the first), ::SPCNN_ERR_NUMERIC,
 *         ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_train_step(spcnn_classifier *c, const uint8_t *images,
                                                   const uint8_t *labels, size_t n,
                                                   double *loss, double *accuracy);

/**
 * @brief Class probabilities of images, with the averaged weights.
 *
 * Any number of images is accepted; they are classified in batches of 64. An image's
 * probabilities do not depend on n or on the other images of the call, and equal calls give
 * equal bytes for a given thread count.
 * @param[in,out] c The classifier.
 * @param[in] images n images of height × width bytes (borrowed).
 * @param[in] n Number of images, 1 or more.
 * @param[out] probs n × classes floats: row i holds the softmax probabilities of image i.
 * @param[in] capacity Size of probs in floats.
 * @return ::SPCNN_OK, ::SPCNN_ERR_INVALID_ARGUMENT (NULL argument, n = 0),
 *         ::SPCNN_ERR_BUFFER_TOO_SMALL (capacity below n × classes, or a product that
 *         overflows), ::SPCNN_ERR_OUT_OF_MEMORY, ::SPCNN_ERR_BACKEND.
 * @since 0.2.0
 */
SPCNN_API spcnn_status spcnn_classifier_predict(spcnn_classifier *c, const uint8_t *images,
                                                size_t n, float *probs, size_t capacity);
/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPATIALPIXELCNN_H */
