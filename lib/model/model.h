/* The inside of spcnn_model: hyper-parameters, the one parameter table (PixelCNN rows then VAE
 * rows), the optimiser, and the plans built lazily per shape. The public API is spread by what
 * it does: model.c (creation, settings), train.c, evaluate.c, sample.c (generation) and
 * model_file.c (the file format, docs/file-format.md). */
#ifndef SPCNN_MODEL_MODEL_H
#define SPCNN_MODEL_MODEL_H

#include "core/config.h"
#include "model/pixelcnn.h"
#include "model/prior.h"
#include "model/vae.h"
#include "nn/optim.h"
#include "nn/params.h"

/* Channels of the VAE's first stage (the second has twice as many). */
#define SPCNN__VAE_CHANNELS 16

typedef struct spcnn__train_plan spcnn__train_plan; /* train.c */
typedef struct spcnn__eval_plan spcnn__eval_plan;   /* evaluate.c */
typedef struct spcnn__sample_plan spcnn__sample_plan; /* sample.c */
typedef struct spcnn__comm spcnn__comm;             /* parallel.c */

/* Sampling plans for 1, 2, 4, 8 and 16 windows per forward pass (sample.c), of 2m kinds: the
 * whole network, and cone plans that compute only what one pixel of the window needs (its
 * bottom-right pixel, or one of the top and left bands'). The plans of one bucket on one
 * context share one workspace for their activations, so memory grows with the largest bucket
 * (and with the number of workers), not with the kinds. At most 16: a pass's tensors, and a
 * bf16 layer's input columns (nn/conv.h, four to six times its input), then stay in the L2
 * cache; passes of up to 64 windows made 100 digits 8 % slower in fp32 and 12 % in bf16 on
 * the Xeon (docs/benchmarks.md, "Input columns"). */
enum { SPCNN__SAMPLE_BUCKETS = 5, SPCNN__SAMPLE_MAX_WINDOWS = 1 << (SPCNN__SAMPLE_BUCKETS - 1) };

typedef struct spcnn__sample_plans {
    spcnn__sample_plan **plan; /* [kind × SPCNN__SAMPLE_BUCKETS], each built on first use */
    float *workspace[SPCNN__SAMPLE_BUCKETS]; /* the activations of a bucket's plans */
} spcnn__sample_plans;

/* With threads > 1, generation runs `threads` workers side by side, each evaluating its share
 * of a wavefront step's windows on one thread with its own oneDNN context (scratchpad) and
 * plans: windows are independent, while splitting each small primitive over threads mostly
 * waits (docs/threading.md). */
typedef struct spcnn__sample_worker {
    spcnn__dnnl ctx; /* one thread; created by the worker's thread on first use */
    spcnn__sample_plans plans;
    spcnn_status status;
    char message[512]; /* the worker's error message, for the calling thread */
} spcnn__sample_worker;

struct spcnn_model {
    spcnn_config cfg; /* every hyper-parameter, as configured */
    int m, f, r, k, latent, image_size, use_coords, use_latent;
    int grid_mode; /* spcnn__grid_mode: from use_coords and grid_resample */
    int threads;
    double scale_min, scale_max; /* scale-aware training (train.c); 1 and 1: off */
    double native_share; /* scale-aware training: share of steps at scale 1 (train.c) */
    int bf16;            /* forward-only plans in bf16 (precision 1 on a CPU that has it) */
    int train_bf16;      /* the training plan in bf16 (train_precision 1, likewise) */
    uint64_t vae_pretrain_steps; /* two-stage training (train.c); 0: joint */
    float kl_weight;             /* β of the training loss's KL term (train.c); 1: the ELBO */

    spcnn__dnnl ctx;
    spcnn__params params;
    spcnn__optim optim; /* optim.t is the step counter */
    spcnn__pixelcnn_rows pc_rows;
    size_t vae_rows_begin, vae_rows_end; /* empty without a latent code */

    uint64_t images_seen;
    /* What z is drawn from when none is given: N(0, I) (k = 0) or a fitted mixture (prior.c).
     * A training step clears it: it described the encoder before the step. */
    spcnn__prior prior;
    /* 0 after loading a file saved without training state: raw weights were set from the EMA
     * and the Adam moments are zero. */
    int has_training_state;
    double last[SPCNN_STAT_PARAMETERS + 1]; /* statistics of the last step, by spcnn_stat */

    spcnn_progress_fn progress;
    void *progress_user;

    /* Data parallelism (parallel.c): the library's duplicate of the communicator, NULL in one
     * process. */
    spcnn__comm *comm;

    spcnn__train_plan *train; /* built for (batch, height, width) on first use */
    spcnn__eval_plan *eval;
    spcnn__sample_plans sample; /* on ctx */
    spcnn__sample_worker *workers; /* `threads` of them when threads > 1, built on first use */
};

/* Create a model with its parameter table allocated and initialised from cfg (which must be
 * valid key by key; consistency across keys is checked here). */
spcnn_status spcnn__model_new(const spcnn_config *cfg, spcnn_model **out);

/* A check of the parameter table that cfg builds, run by spcnn__model_new_checked once the rows
 * are known and before the buffers are allocated. */
typedef spcnn_status (*spcnn__table_check)(const spcnn__params *table, const void *arg);

/* spcnn__model_new with check(table, arg) between the table and its allocation: a loader
 * compares the file's table there, so a file whose hyper-parameters call for a network far
 * larger than the file itself is refused before any large allocation. */
spcnn_status spcnn__model_new_checked(const spcnn_config *cfg, spcnn__table_check check,
                                      const void *arg, spcnn_model **out);

/* Release the training plan (train.c), the evaluation plan (evaluate.c), the sampling plans
 * and workers (sample.c); the next call rebuilds what it needs. NULL is allowed. */
void spcnn__train_plan_destroy(spcnn__train_plan *tp);
void spcnn__eval_plan_destroy(spcnn__eval_plan *ep);

void spcnn__sample_plans_destroy(spcnn_model *model);
/* Multiply-adds the wavefront schedule does for one height × width image of a call of `images`
 * images (the useful work: each pixel's plan — a cone plan at the corner and, with enough
 * images, in the bands, the whole network for the others — and the output layer at each
 * pixel; not the padding of a pass to its bucket), counted from the sampling plans' layer
 * shapes. For benchmarks (bench_sample's share of peak). */
spcnn_status spcnn__model_sample_macs(spcnn_model *model, size_t images, size_t height,
                                      size_t width, double *macs);
/* Multiply-adds of one forward pass of the training plan built by the last train step (its
 * batch of windows and images): the PixelCNN with its output layer, and the VAE's encode and
 * decode (0 without the latent code). A step's backward pass costs about twice its forward
 * (input and weight gradients). For benchmarks (bench_train's share of peak). */
spcnn_status spcnn__model_train_macs(const spcnn_model *model, double *pixelcnn, double *vae);

/* The encoder mean of one image with EMA weights into z (evaluate.c). */
spcnn_status spcnn__model_encode_mean(spcnn_model *model, const uint8_t *image, size_t height,
                                      size_t width, float *z);
/* The encoder's posterior of one image with EMA weights: its mean and log-variance. */
spcnn_status spcnn__model_encode_posterior(spcnn_model *model, const uint8_t *image,
                                           size_t height, size_t width, float *mu,
                                           float *logvar);

/* n codes drawn from the model's prior (standard 0) or N(0, I), code i keyed by
 * (seed, first + i): images first .. first + n - 1 of a generation (prior.c). */
spcnn_status spcnn__model_draw_latents(const spcnn_model *m, int standard, size_t first,
                                       size_t n, uint64_t seed, float *z);

/* Model file (model_file.c). */
spcnn_status spcnn__model_file_save(const spcnn_model *model, const char *path,
                                    int with_training_state);
spcnn_status spcnn__model_file_load(const char *path, spcnn_model **out);

#endif
