/* Training (paper eq. 5): spcnn_model_train_step and its plan. */
#include <math.h>
#include <omp.h>
#include <stdio.h>

#include "core/alloc.h"
#include "model/parallel.h"
#include "model/plan.h"
#include "nn/elementwise.h"
#include "nn/mixture.h"
#include "nn/rng.h"
#include "nn/vae_loss.h"

#define LN2 0.69314718055994530942

/* Keys of the model's random streams (with the seed and the step). */
enum { RNG_CROP = 1, RNG_EPS = 2, RNG_DROPOUT = 3, RNG_SCALE = 4 };

/* The loss sums of a step's forward pass, before they are divided by the batch. */
enum { SUM_NLL, SUM_RECON, SUM_KL, SUMS };

/* Data parallelism over threads (docs/threading.md): with threads > 1 a step's images are cut
 * into one shard per thread, each trained by a worker on one thread with its own oneDNN
 * context, plan and gradient buffer, and the shards' gradients are summed before the
 * optimiser. A batch of 128 8×8 windows makes primitives too small to split well over
 * threads; whole shards side by side keep both cores busy (docs/benchmarks.md, "Training
 * over threads: shards, not primitives"). */
typedef struct train_worker {
    spcnn__dnnl ctx;         /* one thread; made by the worker's own thread on first use */
    spcnn__train_plan *plan; /* its shard's plan on ctx, made by that thread likewise */
    float *grad;             /* its gradient buffer; worker 0 uses the model's */
    size_t first, n;         /* its images: [first, first + n) of the process's batch */
    double sums[SUMS];
    spcnn_status status;
    char message[512]; /* the worker's error message, for the calling thread */
} train_worker;

struct spcnn__train_plan {
    size_t n;
    /* One shard (team 1): the plan itself, on the model's context (or, a worker's shard, on
     * the worker's). Several: the workers, and none of the buffers below but the batch's
     * list. */
    int team;
    train_worker *workers;
    spcnn__pixelcnn *pc;
    spcnn__vae *vae;
    float *arena;
    float *x_crop, *grid_crop, *mix, *nll, *dnll, *dmix;
    uint8_t *pix_crop;
    float *vae_x, *vae_target; /* n × image_size²: the VAE's input and Bernoulli targets */
    float *mu, *logvar, *eps, *z, *logits, *dlogits, *bce, *kl, *dloss;
    float *dz_pc, *dz_dec, *dmu, *dlogvar, *dmu_kl, *dlogvar_kl;
    /* The batch of spcnn_model_train_step as the list spcnn_model_train_step_mixed takes. */
    const uint8_t **images;
    size_t *heights, *widths;
};

void spcnn__train_plan_destroy(spcnn__train_plan *tp)
{
    if (tp == NULL)
        return;
    for (int t = 0; tp->workers != NULL && t < tp->team; t++) {
        train_worker *wk = &tp->workers[t];
        spcnn__train_plan_destroy(wk->plan); /* before its context */
        spcnn__dnnl_deinit(&wk->ctx);
        if (t > 0)
            spcnn__free_aligned(wk->grad);
    }
    spcnn__free(tp->workers);
    spcnn__pixelcnn_destroy(tp->pc);
    spcnn__vae_destroy(tp->vae);
    spcnn__free_aligned(tp->arena);
    spcnn__free(tp->images);
    spcnn__free(tp->heights);
    spcnn__free(tp->widths);
    spcnn__free(tp);
}

static void train_plan_layout(spcnn__train_plan *tp, const spcnn_model *m, spcnn__carver *c)
{
    const size_t n = tp->n, p = n * (size_t)m->m * (size_t)m->m, k3 = 3 * (size_t)m->k;
    const size_t l = (size_t)m->latent, ss = n * (size_t)m->image_size * (size_t)m->image_size;
    tp->x_crop = spcnn__carve(c, p);
    tp->grid_crop = spcnn__carve(c, 2 * p);
    tp->mix = spcnn__carve(c, p * k3);
    tp->dmix = spcnn__carve(c, p * k3);
    tp->nll = spcnn__carve(c, p);
    tp->dnll = spcnn__carve(c, p);
    tp->pix_crop = (uint8_t *)spcnn__carve(c, (p + 3) / 4);
    if (m->use_latent) {
        tp->vae_x = spcnn__carve(c, ss);
        tp->vae_target = spcnn__carve(c, ss);
        tp->mu = spcnn__carve(c, n * l);
        tp->logvar = spcnn__carve(c, n * l);
        tp->eps = spcnn__carve(c, n * l);
        tp->z = spcnn__carve(c, n * l);
        tp->logits = spcnn__carve(c, ss);
        tp->dlogits = spcnn__carve(c, ss);
        tp->bce = spcnn__carve(c, n);
        tp->kl = spcnn__carve(c, n);
        tp->dloss = spcnn__carve(c, n);
        tp->dz_pc = spcnn__carve(c, n * l);
        tp->dz_dec = spcnn__carve(c, n * l);
        tp->dmu = spcnn__carve(c, n * l);
        tp->dlogvar = spcnn__carve(c, n * l);
        tp->dmu_kl = spcnn__carve(c, n * l);
        tp->dlogvar_kl = spcnn__carve(c, n * l);
    }
}

/* A shard's plan (or the whole batch's, with one thread): its network on ctx and its buffers;
 * n_list: also the list of the batch's images (the plan spcnn_model_train_step fills). */
static spcnn_status shard_plan_create(spcnn_model *m, spcnn__dnnl *ctx, size_t n, int n_list,
                                      spcnn__train_plan **out)
{
    *out = NULL;
    spcnn__train_plan *tp = spcnn__calloc(1, sizeof *tp);
    if (tp == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "train plan: out of memory");
    tp->n = n;
    tp->team = 1;
    spcnn_status st;
    spcnn__pixelcnn_shape ps = spcnn__model_pixelcnn_shape(m, (int)n, 1);
    SPCNN_TRY_GOTO(st, spcnn__pixelcnn_create(ctx, &ps, &m->pc_rows, &tp->pc));
    if (m->use_latent) {
        spcnn__vae_shape vs = spcnn__model_vae_shape(m, (int)n, 1);
        SPCNN_TRY_GOTO(st, spcnn__vae_create(ctx, &m->params, m->vae_rows_begin, &vs,
                                             &tp->vae));
    }
    if (n_list) {
        tp->images = spcnn__malloc(n * sizeof *tp->images);
        tp->heights = spcnn__malloc(n * sizeof *tp->heights);
        tp->widths = spcnn__malloc(n * sizeof *tp->widths);
    }
    spcnn__carver c = {NULL, 0};
    train_plan_layout(tp, m, &c);
    tp->arena = spcnn__malloc_aligned(c.at * sizeof(float));
    if (tp->arena == NULL ||
        (n_list && (tp->images == NULL || tp->heights == NULL || tp->widths == NULL))) {
        st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "train plan: out of memory for %zu MB",
                          c.at * sizeof(float) >> 20);
        goto fail;
    }
    c.base = tp->arena;
    c.at = 0;
    train_plan_layout(tp, m, &c);
    *out = tp;
    return SPCNN_OK;
fail:
    spcnn__train_plan_destroy(tp);
    return st;
}

/* The number of shards of a batch of n images: one per thread (at most one per image). */
static int train_team(const spcnn_model *m, size_t n)
{
    return n < (size_t)m->threads ? (int)n : m->threads;
}

/* The plan of a batch of n images cut into `team` shards: the batch's list and the workers,
 * whose contexts and plans their own threads build on the first step. */
static spcnn_status sharded_plan_create(spcnn_model *m, size_t n, int team,
                                        spcnn__train_plan **out)
{
    *out = NULL;
    spcnn__train_plan *tp = spcnn__calloc(1, sizeof *tp);
    if (tp == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "train plan: out of memory");
    tp->n = n;
    tp->team = team;
    tp->workers = spcnn__calloc((size_t)team, sizeof *tp->workers);
    tp->images = spcnn__malloc(n * sizeof *tp->images);
    tp->heights = spcnn__malloc(n * sizeof *tp->heights);
    tp->widths = spcnn__malloc(n * sizeof *tp->widths);
    spcnn_status st = SPCNN_OK;
    if (tp->workers == NULL || tp->images == NULL || tp->heights == NULL || tp->widths == NULL) {
        st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "train plan: out of memory");
        goto fail;
    }
    for (int t = 0; t < team; t++) {
        train_worker *wk = &tp->workers[t];
        wk->first = n * (size_t)t / (size_t)team;
        wk->n = n * (size_t)(t + 1) / (size_t)team - wk->first;
        wk->grad = t == 0 ? m->params.buf[SPCNN__BUF_GRAD]
                          : spcnn__malloc_aligned(m->params.total * sizeof(float));
        if (wk->grad == NULL) {
            st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                              "train plan: out of memory for a gradient buffer of %zu MB",
                              m->params.total * sizeof(float) >> 20);
            goto fail;
        }
    }
    *out = tp;
    return SPCNN_OK;
fail:
    spcnn__train_plan_destroy(tp);
    return st;
}

/* Multiply-adds of one forward pass of a plan: the sum over its shards. */
static void plan_macs(const spcnn__train_plan *tp, double *pixelcnn, double *vae)
{
    if (tp->workers == NULL) {
        *pixelcnn += spcnn__pixelcnn_macs(tp->pc, 1);
        *vae += tp->vae ? spcnn__vae_macs(tp->vae) : 0;
        return;
    }
    for (int t = 0; t < tp->team; t++)
        if (tp->workers[t].plan)
            plan_macs(tp->workers[t].plan, pixelcnn, vae);
}

spcnn_status spcnn__model_train_macs(const spcnn_model *model, double *pixelcnn, double *vae)
{
    SPCNN_CHECK_ARG(model && pixelcnn && vae, "train macs: NULL argument");
    SPCNN_CHECK_ARG(model->train != NULL, "train macs: no training plan (take a step first)");
    *pixelcnn = 0;
    *vae = 0;
    plan_macs(model->train, pixelcnn, vae);
    return SPCNN_OK;
}

/* The plan for batches of n images, of any sizes. */
static spcnn_status train_plan_get(spcnn_model *m, size_t n, spcnn__train_plan **out)
{
    const int team = train_team(m, n);
    if (m->train == NULL || m->train->n != n || m->train->team != team) {
        spcnn__train_plan_destroy(m->train);
        m->train = NULL;
        SPCNN_TRY(team > 1 ? sharded_plan_create(m, n, team, &m->train)
                           : shard_plan_create(m, &m->ctx, n, 1, &m->train));
    }
    *out = m->train;
    return SPCNN_OK;
}

/* The forward and backward passes of a step on n images, image i of heights[i] × widths[i]
 * (checked by the caller), at positions first .. first + n - 1 of a batch of `total` images
 * (a data-parallel rank's shard; 0 and n in one process): the gradient of the mean loss over
 * the whole batch into the gradient buffer, the loss sums into sums. */
static spcnn_status forward_backward(spcnn_model *m, spcnn__dnnl *ctx, spcnn__params *params,
                                     spcnn__train_plan *tp, const uint8_t *const *images,
                                     const size_t *heights, const size_t *widths, size_t first,
                                     size_t total, double sums[SUMS])
{
    const size_t n = tp->n;
    const uint64_t seed = (uint64_t)spcnn__config_value(&m->cfg, SPCNN_CFG_SEED);
    const uint64_t step = m->optim.t;
    const size_t mm = (size_t)m->m * (size_t)m->m, p = n * mm, l = (size_t)m->latent;
    const size_t ss = (size_t)m->image_size * (size_t)m->image_size;
    const float rate = (float)spcnn__config_value(&m->cfg, SPCNN_CFG_DROPOUT);
    const float *w = params->buf[SPCNN__BUF_VALUE];

    /* Scale-aware training: one scale s per step; each image's windows come from it resampled
     * to round(s·h) × round(s·w) (only the window is computed). A share of the steps stays at
     * the images' own size (its coin is drawn only when the share is set, so runs without it
     * draw the scales of 0.3). */
    double s = 1;
    if (m->scale_max > 1) {
        spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, step, RNG_SCALE, 0));
        const int native = m->native_share > 0 && spcnn__rng_uniform(&rng) < m->native_share;
        if (!native)
            s = m->scale_min + (m->scale_max - m->scale_min) * spcnn__rng_uniform(&rng);
    }
    /* One uniformly random window per image, with its own image's grid. */
    for (size_t i = 0; i < n; i++) {
        const size_t h = heights[i], wd = widths[i];
        size_t sh = h, sw = wd;
        if (s > 1) {
            const size_t max_h = (size_t)llround(m->scale_max * (double)h);
            const size_t max_w = (size_t)llround(m->scale_max * (double)wd);
            sh = (size_t)llround(s * (double)h);
            sw = (size_t)llround(s * (double)wd);
            sh = sh < h ? h : sh > max_h ? max_h : sh;
            sw = sw < wd ? wd : sw > max_w ? max_w : sw;
        }
        spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, step, RNG_CROP, first + i));
        size_t top = (size_t)(spcnn__rng_uniform(&rng) * (float)(sh - (size_t)m->m + 1));
        size_t left = (size_t)(spcnn__rng_uniform(&rng) * (float)(sw - (size_t)m->m + 1));
        top = top > sh - (size_t)m->m ? sh - (size_t)m->m : top;
        left = left > sw - (size_t)m->m ? sw - (size_t)m->m : left;
        spcnn__crop_window_scaled(images[i], h, wd, sh, sw, top, left, m->m,
                                  tp->x_crop + i * mm, tp->pix_crop + i * mm,
                                  tp->grid_crop + i * mm * 2);
    }

    /* The stage (vae_pretrain_steps): joint training, or the VAE alone for the first steps
     * and then the PixelCNN alone on the frozen VAE's codes. */
    const uint64_t pretrain = m->use_latent ? m->vae_pretrain_steps : 0;
    const int train_vae = pretrain == 0 || step < pretrain;
    const int train_pc = pretrain == 0 || step >= pretrain;
    /* A frozen VAE encodes with its EMA weights, as evaluation and generation do, so the
     * PixelCNN trains on the codes it will be given. */
    const float *w_vae = train_vae ? w : params->buf[SPCNN__BUF_EMA];

    /* VAE: z ~ q(z|x), reparameterised so the patch loss trains the encoder too. */
    double recon = train_vae ? 0 : NAN, kl = 0;
    if (m->use_latent) {
        for (size_t i = 0; i < n; i++)
            spcnn__image_prep(images[i], heights[i], widths[i], m->image_size,
                              tp->vae_x + i * ss, tp->vae_target + i * ss);
        SPCNN_TRY(spcnn__vae_encode(tp->vae, ctx, params, w_vae, tp->vae_x, tp->mu,
                                    tp->logvar));
        for (size_t i = 0; i < n; i++) {
            spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, step, RNG_EPS, first + i));
            for (size_t j = 0; j < l; j++)
                tp->eps[i * l + j] = spcnn__rng_normal(&rng);
        }
        spcnn__reparam_forward(tp->mu, tp->logvar, tp->eps, tp->z, n * l);
        spcnn__kl_forward(tp->mu, tp->logvar, tp->kl, n, l);
        for (size_t i = 0; i < n; i++)
            kl += tp->kl[i];
        if (train_vae) {
            SPCNN_TRY(spcnn__vae_decode(tp->vae, ctx, params, w, tp->z, tp->logits));
            spcnn__bce_logits_forward(tp->logits, tp->vae_target, tp->bce, n, ss);
            for (size_t i = 0; i < n; i++)
                recon += tp->bce[i];
        }
    }

    /* PixelCNN on the windows. */
    double nll = NAN;
    if (train_pc) {
        spcnn__pixelcnn_set_first_image(tp->pc, first);
        SPCNN_TRY(spcnn__pixelcnn_forward(tp->pc, ctx, params, w, tp->x_crop,
                                          tp->grid_crop, m->use_latent ? tp->z : NULL, rate,
                                          spcnn__key4(seed, step, RNG_DROPOUT, 0), tp->mix));
        spcnn__mixture_nll_forward(tp->mix, tp->pix_crop, tp->nll, p, (size_t)m->k);
        nll = 0;
        for (size_t i = 0; i < p; i++)
            nll += tp->nll[i];
    }

    /* Backward of loss = mean over images of (patch NLL + reconstruction + β·KL), less the
     * terms of a frozen part. */
    const float inv_n = 1.0f / (float)total;
    spcnn__params_zero_grad(params);
    if (train_pc) {
        for (size_t i = 0; i < p; i++)
            tp->dnll[i] = inv_n;
        spcnn__mixture_nll_backward(tp->mix, tp->pix_crop, tp->dnll, tp->dmix, p, (size_t)m->k);
        SPCNN_TRY(spcnn__pixelcnn_backward(tp->pc, ctx, params, tp->dmix, rate,
                                           m->use_latent && train_vae ? tp->dz_pc : NULL,
                                           NULL));
    }
    if (m->use_latent && train_vae) {
        for (size_t i = 0; i < n; i++)
            tp->dloss[i] = inv_n;
        spcnn__bce_logits_backward(tp->logits, tp->vae_target, tp->dloss, tp->dlogits, n, ss);
        SPCNN_TRY(spcnn__vae_decode_backward(tp->vae, ctx, params, tp->z, tp->dlogits,
                                             train_pc ? tp->dz_dec : tp->dz_pc));
        if (train_pc)
            spcnn__accumulate(tp->dz_pc, tp->dz_dec, n * l);
        spcnn__reparam_backward(tp->logvar, tp->eps, tp->dz_pc, tp->dmu, tp->dlogvar, n * l);
        /* The KL term weighs β (kl_weight; 1 leaves inv_n as it is, bit for bit). */
        for (size_t i = 0; i < n; i++)
            tp->dloss[i] = inv_n * m->kl_weight;
        spcnn__kl_backward(tp->mu, tp->logvar, tp->dloss, tp->dmu_kl, tp->dlogvar_kl, n, l);
        spcnn__accumulate(tp->dmu, tp->dmu_kl, n * l);
        spcnn__accumulate(tp->dlogvar, tp->dlogvar_kl, n * l);
        SPCNN_TRY(spcnn__vae_encode_backward(tp->vae, ctx, params, tp->vae_x, tp->dmu,
                                             tp->dlogvar));
    }
    sums[SUM_NLL] = nll;
    sums[SUM_RECON] = recon;
    sums[SUM_KL] = kl;
    return SPCNN_OK;
}

/* A worker's shard of forward_backward, in the worker's thread: its context and plan made on
 * first use (the thread's OpenMP count set to one, so that oneDNN fixes one thread into the
 * primitives), with the model's test setting; the gradient into the worker's buffer. */
static spcnn_status worker_run(spcnn_model *m, train_worker *wk, const uint8_t *const *images,
                               const size_t *heights, const size_t *widths, size_t first,
                               size_t total)
{
    if (wk->ctx.engine == NULL)
        SPCNN_TRY(spcnn__dnnl_init_on(&wk->ctx, 1, &m->ctx));
    spcnn__dnnl_enter(&wk->ctx);
    wk->ctx.forbid_reference_impl = m->ctx.forbid_reference_impl;
    if (wk->plan == NULL)
        SPCNN_TRY(shard_plan_create(m, &wk->ctx, wk->n, 0, &wk->plan));
    spcnn__params params = m->params; /* the same table and values, the worker's gradient */
    params.buf[SPCNN__BUF_GRAD] = wk->grad;
    return forward_backward(m, &wk->ctx, &params, wk->plan, images + wk->first,
                            heights + wk->first, widths + wk->first, first + wk->first, total,
                            wk->sums);
}

/* forward_backward over the plan's shards, one OpenMP thread each (a caller already inside a
 * parallel region gets a team of one, which trains every shard in turn); then the workers'
 * gradients summed into the model's buffer, in worker order, and their loss sums likewise.
 * Each shard draws its windows, noise and dropout by its images' places in the batch, so
 * the step computes what one thread computes, up to the order of the sums. */
static spcnn_status forward_backward_sharded(spcnn_model *m, spcnn__train_plan *tp,
                                             const uint8_t *const *images,
                                             const size_t *heights, const size_t *widths,
                                             size_t first, size_t total, double sums[SUMS])
{
    const int team = tp->team;
    tp->workers[0].grad = m->params.buf[SPCNN__BUF_GRAD];
#pragma omp parallel num_threads(team)
    {
        const int nt = omp_get_num_threads();
        for (int t = omp_get_thread_num(); t < team; t += nt) {
            train_worker *wk = &tp->workers[t];
            wk->status = worker_run(m, wk, images, heights, widths, first, total);
            if (wk->status != SPCNN_OK)
                snprintf(wk->message, sizeof wk->message, "%s", spcnn_last_error_message());
        }
    }
    spcnn__dnnl_enter(&m->ctx); /* the workers set their threads' OpenMP count to one */
    for (int t = 0; t < team; t++)
        if (tp->workers[t].status != SPCNN_OK)
            return spcnn__error(tp->workers[t].status, "%s", tp->workers[t].message);
    for (int k = 0; k < SUMS; k++)
        sums[k] = tp->workers[0].sums[k];
    for (int t = 1; t < team; t++) {
        spcnn__accumulate(m->params.buf[SPCNN__BUF_GRAD], tp->workers[t].grad,
                          m->params.total);
        for (int k = 0; k < SUMS; k++)
            sums[k] += tp->workers[t].sums[k];
    }
    return SPCNN_OK;
}

/* One step: forward_backward on this process's images, then (attached to a communicator) the
 * sums over the ranks, then the optimiser. `local` is the status of the caller's checks: with
 * a communicator every rank learns of a failure, so none is left waiting. What
 * spcnn_model_train_step and spcnn_model_train_step_mixed share. */
static spcnn_status train_step(spcnn_model *m, spcnn_status local, spcnn__train_plan *tp,
                               const uint8_t *const *images, const size_t *heights,
                               const size_t *widths, double *bits_per_dim)
{
    size_t first = 0, total = local == SPCNN_OK ? tp->n : 0;
    if (m->comm)
        SPCNN_TRY(spcnn__comm_shard(m->comm, local, total, &first, &total));
    else if (local != SPCNN_OK)
        return local;
    double sums[SUMS];
    spcnn_status st =
        tp->workers ? forward_backward_sharded(m, tp, images, heights, widths, first, total, sums)
                    : forward_backward(m, &m->ctx, &m->params, tp, images, heights, widths,
                                       first, total, sums);
    if (m->comm)
        st = spcnn__comm_reduce(m->comm, st, sums, SUMS, m->params.buf[SPCNN__BUF_GRAD],
                                m->params.total);
    if (st != SPCNN_OK)
        return st;
    const uint64_t step = m->optim.t;
    const uint64_t pretrain = m->use_latent ? m->vae_pretrain_steps : 0;
    const int train_vae = pretrain == 0 || step < pretrain;
    const int train_pc = pretrain == 0 || step >= pretrain;
    const size_t p = total * (size_t)m->m * (size_t)m->m;

    /* The PixelCNN's rows come first in the table, the VAE's after them; a part that starts
     * after the pretraining counts its own steps. */
    spcnn__optim_stats os;
    st = train_pc && train_vae
            ? spcnn__optim_step(&m->params, &m->optim, &os)
        : train_vae ? spcnn__optim_step_rows(&m->params, &m->optim, m->vae_rows_begin,
                                             m->vae_rows_end, m->optim.t, &os)
                    : spcnn__optim_step_rows(&m->params, &m->optim, 0, m->vae_rows_begin,
                                             m->optim.t - pretrain, &os);
    m->ctx.weights_version++; /* raw and EMA weights moved (or, on failure, may have) */
    if (st != SPCNN_OK)
        return spcnn__error_context(st, "train step");
    /* A restart of Adam during the VAE stage concerned the VAE's rows only, which never train
     * again; the PixelCNN's rows started from zero moments after it anyway. Forgotten, so the
     * checkpoints are not format 3 for ever (optim.h). */
    if (!train_vae && m->optim.reset_at <= pretrain)
        m->optim.reset_at = 0;
    spcnn__prior_clear(&m->prior); /* fitted to the encoder before the step */
    m->has_training_state = 1;
    m->images_seen += total;
    m->last[SPCNN_STAT_BITS_PER_DIM] = sums[SUM_NLL] / (double)p / LN2; /* NaN: pretraining */
    m->last[SPCNN_STAT_RECONSTRUCTION] = sums[SUM_RECON] / (double)total;
    m->last[SPCNN_STAT_KL] = sums[SUM_KL] / (double)total;
    m->last[SPCNN_STAT_LEARNING_RATE] = os.lr;
    m->last[SPCNN_STAT_GRAD_NORM] = os.grad_norm;
    if (bits_per_dim)
        *bits_per_dim = m->last[SPCNN_STAT_BITS_PER_DIM];
    return SPCNN_OK;
}

/* The checks and the plan of spcnn_model_train_step. */
static spcnn_status prepare_uniform(spcnn_model *model, const uint8_t *images, size_t n,
                                    size_t height, size_t width, spcnn__train_plan **out)
{
    SPCNN_TRY(spcnn__check_images(model, "train step", images, n, height, width));
    SPCNN_CHECK_ARG(n <= 65536, "train step: batch of %zu images is above 65536", n);
    spcnn__dnnl_enter(&model->ctx);
    spcnn__train_plan *tp;
    SPCNN_TRY(train_plan_get(model, n, &tp));
    for (size_t i = 0; i < n; i++) {
        tp->images[i] = images + i * height * width;
        tp->heights[i] = height;
        tp->widths[i] = width;
    }
    *out = tp;
    return SPCNN_OK;
}

spcnn_status spcnn_model_train_step(spcnn_model *model, const uint8_t *images, size_t n,
                                    size_t height, size_t width, double *bits_per_dim)
{
    SPCNN_CHECK_ARG(model != NULL, "train step: model is NULL");
    spcnn__train_plan *tp = NULL;
    spcnn_status st = prepare_uniform(model, images, n, height, width, &tp);
    return train_step(model, st, tp, st == SPCNN_OK ? tp->images : NULL,
                      st == SPCNN_OK ? tp->heights : NULL, st == SPCNN_OK ? tp->widths : NULL,
                      bits_per_dim);
}

/* The checks and the plan of spcnn_model_train_step_mixed. */
static spcnn_status prepare_mixed(spcnn_model *model, const uint8_t *const *images,
                                  const size_t *heights, const size_t *widths, size_t n,
                                  spcnn__train_plan **out)
{
    SPCNN_CHECK_ARG(images != NULL && heights != NULL && widths != NULL,
                    "train step: images, heights or widths is NULL");
    SPCNN_CHECK_ARG(n >= 1, "train step: no images (n = 0)");
    SPCNN_CHECK_ARG(n <= 65536, "train step: batch of %zu images is above 65536", n);
    const size_t m = (size_t)model->m;
    for (size_t i = 0; i < n; i++) {
        const size_t h = heights[i], w = widths[i];
        SPCNN_CHECK_ARG(images[i] != NULL, "train step: image %zu of the batch is NULL", i);
        SPCNN_CHECK_ARG(h >= m && w >= m,
                        "train step: image %zu of the batch is %zux%zu, smaller than the "
                        "%zux%zu window", i, h, w, m, m);
        SPCNN_CHECK_ARG(h <= 1000000 && w <= 1000000 && h * w <= SIZE_MAX / 16,
                        "train step: image %zu of the batch, %zux%zu, is too large", i, h, w);
    }
    spcnn__dnnl_enter(&model->ctx);
    return train_plan_get(model, n, out);
}

spcnn_status spcnn_model_train_step_mixed(spcnn_model *model, const uint8_t *const *images,
                                          const size_t *heights, const size_t *widths,
                                          size_t n, double *bits_per_dim)
{
    SPCNN_CHECK_ARG(model != NULL, "train step: model is NULL");
    spcnn__train_plan *tp = NULL;
    spcnn_status st = prepare_mixed(model, images, heights, widths, n, &tp);
    return train_step(model, st, tp, images, heights, widths, bits_per_dim);
}
