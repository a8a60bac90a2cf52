/* The public model API: creation, training (paper eq. 5), encoding, exact likelihood and
 * evaluation. Plans (oneDNN primitives and activation memory for one shape) are built on first
 * use and kept while the shape stays the same; nothing is allocated inside a step. */
#include "model/model.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/elementwise.h"
#include "nn/mixture.h"
#include "nn/rng.h"
#include "nn/vae_loss.h"

#define LN2 0.69314718055994530942

/* Keys of the model's random streams (with the seed and the step). */
enum { RNG_CROP = 1, RNG_EPS = 2, RNG_DROPOUT = 3 };

/* Windows per evaluation forward pass: large enough to amortise the fixed cost of ~150
 * primitive executions, small enough to keep the activation memory modest. */
enum { EVAL_WINDOWS = 128 };

/* ---- plans ------------------------------------------------------------------------------ */

/* VAE input preparation for images of one size: bytes -> [-1, 1] floats, resampled to S×S. */
typedef struct image_prep {
    size_t n, h, w;
    int resample_needed;
    spcnn__resample resample;
    float *full;   /* [n × h × w] (only when resampling) */
    float *x;      /* [n × S × S], p/127.5 - 1 */
    float *target; /* [n × S × S], p/255 for the Bernoulli loss */
} image_prep;

struct spcnn__train_plan {
    size_t n, h, w;
    spcnn__pixelcnn *pc;
    spcnn__vae *vae;
    image_prep prep;
    float *arena;
    float *x_crop, *grid_crop, *mix, *nll, *dnll, *dmix;
    uint8_t *pix_crop;
    float *mu, *logvar, *eps, *z, *logits, *dlogits, *bce, *kl, *dloss;
    float *dz_pc, *dz_dec, *dmu, *dlogvar, *dmu_kl, *dlogvar_kl;
};

struct spcnn__eval_plan {
    spcnn__pixelcnn *pc; /* EVAL_WINDOWS windows, forward only */
    spcnn__vae *vae;     /* one image, forward only */
    image_prep prep;     /* one image of the last size seen */
    float *arena;
    float *x_crop, *grid_crop, *z_rep, *mix, *nll;
    uint8_t *pix_crop;
    float *mu, *logvar;
};

static void prep_deinit(image_prep *p)
{
    spcnn__resample_deinit(&p->resample);
    spcnn__free_aligned(p->full);
    spcnn__free_aligned(p->x);
    spcnn__free_aligned(p->target);
    memset(p, 0, sizeof *p);
}

static float *alloc_floats(size_t count, spcnn_status *st, const char *what)
{
    if (*st != SPCNN_OK)
        return NULL;
    float *p = spcnn__malloc_aligned(count * sizeof(float));
    if (p == NULL)
        *st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu floats", what,
                           count);
    return p;
}

static spcnn_status prep_init(image_prep *p, spcnn__dnnl *ctx, size_t n, size_t h, size_t w,
                              int s)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->h = h;
    p->w = w;
    p->resample_needed = h != (size_t)s || w != (size_t)s;
    spcnn_status st = SPCNN_OK;
    size_t ss = n * (size_t)s * (size_t)s;
    p->x = alloc_floats(ss, &st, "image preparation");
    p->target = alloc_floats(ss, &st, "image preparation");
    if (p->resample_needed) {
        p->full = alloc_floats(n * h * w, &st, "image preparation");
        spcnn__resample_shape rs = {(int)n, 1, (int)h, (int)w, s, s};
        if (st == SPCNN_OK)
            st = spcnn__resample_init(&p->resample, ctx, &rs);
    }
    if (st != SPCNN_OK)
        prep_deinit(p);
    return st;
}

/* Fill x (and target) from bytes. */
static spcnn_status prep_run(image_prep *p, spcnn__dnnl *ctx, const uint8_t *images, int s)
{
    size_t ss = p->n * (size_t)s * (size_t)s;
    if (p->resample_needed) {
        for (size_t i = 0; i < p->n * p->h * p->w; i++)
            p->full[i] = (float)images[i] / 127.5f - 1.0f;
        SPCNN_TRY(spcnn__resample_forward(&p->resample, ctx, p->full, p->x));
    } else {
        for (size_t i = 0; i < ss; i++)
            p->x[i] = (float)images[i] / 127.5f - 1.0f;
    }
    for (size_t i = 0; i < ss; i++) {
        float t = 0.5f * (p->x[i] + 1.0f);
        p->target[i] = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    }
    return SPCNN_OK;
}

static void train_plan_destroy(spcnn__train_plan *tp)
{
    if (tp == NULL)
        return;
    spcnn__pixelcnn_destroy(tp->pc);
    spcnn__vae_destroy(tp->vae);
    prep_deinit(&tp->prep);
    spcnn__free_aligned(tp->arena);
    spcnn__free(tp);
}

static void eval_plan_destroy(spcnn__eval_plan *ep)
{
    if (ep == NULL)
        return;
    spcnn__pixelcnn_destroy(ep->pc);
    spcnn__vae_destroy(ep->vae);
    prep_deinit(&ep->prep);
    spcnn__free_aligned(ep->arena);
    spcnn__free(ep);
}

/* Carve consecutive 64-byte aligned slices out of one block: measure with base NULL, then
 * hand out. */
typedef struct carver {
    float *base;
    size_t at;
} carver;

static float *carve(carver *c, size_t count)
{
    float *p = c->base ? c->base + c->at : NULL;
    c->at += (count + 15) / 16 * 16;
    return p;
}

static spcnn__pixelcnn_shape pixelcnn_shape(const spcnn_model *m, int n, int backward)
{
    spcnn__pixelcnn_shape s = {n, m->m, m->f, m->r, m->k, m->use_latent ? m->latent : 0,
                               m->use_coords, backward, 0};
    return s;
}

static spcnn__vae_shape vae_shape(const spcnn_model *m, int n, int backward)
{
    spcnn__vae_shape s = {n, m->image_size, m->latent, SPCNN__VAE_CHANNELS, backward};
    return s;
}

static void train_plan_layout(spcnn__train_plan *tp, const spcnn_model *m, carver *c)
{
    const size_t n = tp->n, p = n * (size_t)m->m * (size_t)m->m, k3 = 3 * (size_t)m->k;
    const size_t l = (size_t)m->latent, ss = n * (size_t)m->image_size * (size_t)m->image_size;
    tp->x_crop = carve(c, p);
    tp->grid_crop = carve(c, 2 * p);
    tp->mix = carve(c, p * k3);
    tp->dmix = carve(c, p * k3);
    tp->nll = carve(c, p);
    tp->dnll = carve(c, p);
    tp->pix_crop = (uint8_t *)carve(c, (p + 3) / 4);
    if (m->use_latent) {
        tp->mu = carve(c, n * l);
        tp->logvar = carve(c, n * l);
        tp->eps = carve(c, n * l);
        tp->z = carve(c, n * l);
        tp->logits = carve(c, ss);
        tp->dlogits = carve(c, ss);
        tp->bce = carve(c, n);
        tp->kl = carve(c, n);
        tp->dloss = carve(c, n);
        tp->dz_pc = carve(c, n * l);
        tp->dz_dec = carve(c, n * l);
        tp->dmu = carve(c, n * l);
        tp->dlogvar = carve(c, n * l);
        tp->dmu_kl = carve(c, n * l);
        tp->dlogvar_kl = carve(c, n * l);
    }
}

static spcnn_status train_plan_create(spcnn_model *m, size_t n, size_t h, size_t w,
                                      spcnn__train_plan **out)
{
    *out = NULL;
    spcnn__train_plan *tp = spcnn__calloc(1, sizeof *tp);
    if (tp == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "train plan: out of memory");
    tp->n = n;
    tp->h = h;
    tp->w = w;
    spcnn_status st;
    spcnn__pixelcnn_shape ps = pixelcnn_shape(m, (int)n, 1);
    SPCNN_TRY_GOTO(st, spcnn__pixelcnn_create(&m->ctx, &ps, &m->pc_rows, &tp->pc));
    if (m->use_latent) {
        spcnn__vae_shape vs = vae_shape(m, (int)n, 1);
        SPCNN_TRY_GOTO(st, spcnn__vae_create(&m->ctx, &m->params, m->vae_rows_begin, &vs,
                                             &tp->vae));
        SPCNN_TRY_GOTO(st, prep_init(&tp->prep, &m->ctx, n, h, w, m->image_size));
    }
    carver c = {NULL, 0};
    train_plan_layout(tp, m, &c);
    tp->arena = spcnn__malloc_aligned(c.at * sizeof(float));
    if (tp->arena == NULL) {
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
    train_plan_destroy(tp);
    return st;
}

static void eval_plan_layout(spcnn__eval_plan *ep, const spcnn_model *m, carver *c)
{
    const size_t p = (size_t)EVAL_WINDOWS * (size_t)m->m * (size_t)m->m;
    const size_t l = (size_t)m->latent;
    ep->x_crop = carve(c, p);
    ep->grid_crop = carve(c, 2 * p);
    ep->mix = carve(c, p * 3 * (size_t)m->k);
    ep->nll = carve(c, p);
    ep->pix_crop = (uint8_t *)carve(c, (p + 3) / 4);
    if (m->use_latent) {
        ep->z_rep = carve(c, (size_t)EVAL_WINDOWS * l);
        ep->mu = carve(c, l);
        ep->logvar = carve(c, l);
    }
}

static spcnn_status eval_plan_get(spcnn_model *m, spcnn__eval_plan **out)
{
    if (m->eval) {
        *out = m->eval;
        return SPCNN_OK;
    }
    *out = NULL;
    spcnn__eval_plan *ep = spcnn__calloc(1, sizeof *ep);
    if (ep == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "evaluation plan: out of memory");
    spcnn_status st;
    spcnn__pixelcnn_shape ps = pixelcnn_shape(m, EVAL_WINDOWS, 0);
    SPCNN_TRY_GOTO(st, spcnn__pixelcnn_create(&m->ctx, &ps, &m->pc_rows, &ep->pc));
    if (m->use_latent) {
        spcnn__vae_shape vs = vae_shape(m, 1, 0);
        SPCNN_TRY_GOTO(st, spcnn__vae_create(&m->ctx, &m->params, m->vae_rows_begin, &vs,
                                             &ep->vae));
    }
    carver c = {NULL, 0};
    eval_plan_layout(ep, m, &c);
    ep->arena = spcnn__malloc_aligned(c.at * sizeof(float));
    if (ep->arena == NULL) {
        st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "evaluation plan: out of memory");
        goto fail;
    }
    c.base = ep->arena;
    c.at = 0;
    eval_plan_layout(ep, m, &c);
    m->eval = *out = ep;
    return SPCNN_OK;
fail:
    eval_plan_destroy(ep);
    return st;
}

static void drop_plans(spcnn_model *m)
{
    spcnn__sample_plans_destroy(m);
    train_plan_destroy(m->train);
    eval_plan_destroy(m->eval);
    m->train = NULL;
    m->eval = NULL;
}

/* ---- creation ----------------------------------------------------------------------------- */

spcnn_status spcnn__model_new(const spcnn_config *cfg, spcnn_model **out)
{
    *out = NULL;
    spcnn_model *m = spcnn__calloc(1, sizeof *m);
    if (m == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "model create: out of memory");
    m->cfg = *cfg;
    m->m = spcnn__config_int(cfg, SPCNN_CFG_PATCH_SIZE);
    m->f = spcnn__config_int(cfg, SPCNN_CFG_NR_FILTERS);
    m->r = spcnn__config_int(cfg, SPCNN_CFG_NR_RESNET);
    m->k = spcnn__config_int(cfg, SPCNN_CFG_NR_MIX);
    m->latent = spcnn__config_int(cfg, SPCNN_CFG_LATENT_SIZE);
    m->image_size = spcnn__config_int(cfg, SPCNN_CFG_IMAGE_SIZE);
    m->use_coords = spcnn__config_int(cfg, SPCNN_CFG_USE_COORDS);
    m->use_latent = spcnn__config_int(cfg, SPCNN_CFG_USE_LATENT);
    m->threads = spcnn__config_int(cfg, SPCNN_CFG_THREADS);
    m->has_training_state = 1;
    spcnn__params_init(&m->params);
    spcnn_status st;
    SPCNN_TRY_GOTO(st, spcnn__dnnl_init(&m->ctx, m->threads));
    spcnn__pixelcnn_shape ps = pixelcnn_shape(m, 1, 1);
    SPCNN_TRY_GOTO(st, spcnn__pixelcnn_add_params(&m->params, &ps, &m->pc_rows));
    m->vae_rows_begin = m->vae_rows_end = m->params.nrows;
    if (m->use_latent) {
        spcnn__vae_shape vs = vae_shape(m, 1, 1);
        SPCNN_TRY_GOTO(st, spcnn__vae_add_params(&m->params, &vs, &m->vae_rows_begin,
                                                 &m->vae_rows_end));
    }
    SPCNN_TRY_GOTO(st, spcnn__params_allocate(&m->params));
    spcnn__params_init_values(&m->params, (uint64_t)spcnn__config_value(cfg, SPCNN_CFG_SEED));
    spcnn__optim_init(&m->optim, spcnn__config_value(cfg, SPCNN_CFG_LEARNING_RATE),
                      spcnn__config_value(cfg, SPCNN_CFG_LR_DECAY),
                      spcnn__config_value(cfg, SPCNN_CFG_ADAM_BETA1),
                      spcnn__config_value(cfg, SPCNN_CFG_ADAM_BETA2),
                      spcnn__config_value(cfg, SPCNN_CFG_L2),
                      spcnn__config_value(cfg, SPCNN_CFG_EMA_DECAY));
    m->last[SPCNN_STAT_PARAMETERS] = (double)m->params.nvalues;
    *out = m;
    return SPCNN_OK;
fail:
    spcnn_model_destroy(m);
    return st;
}

spcnn_status spcnn_model_create(const spcnn_config *cfg, spcnn_model **out)
{
    SPCNN_CHECK_ARG(out != NULL, "model create: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(cfg != NULL, "model create: cfg is NULL");
    return spcnn__model_new(cfg, out);
}

void spcnn_model_destroy(spcnn_model *model)
{
    if (model == NULL)
        return;
    drop_plans(model);
    spcnn__params_deinit(&model->params);
    spcnn__dnnl_deinit(&model->ctx);
    spcnn__free(model);
}

spcnn_status spcnn_model_load(const char *path, spcnn_model **out)
{
    SPCNN_CHECK_ARG(out != NULL, "model load: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(path != NULL, "model load: path is NULL");
    return spcnn__model_file_load(path, out);
}

spcnn_status spcnn_model_save(spcnn_model *model, const char *path, int with_training_state)
{
    SPCNN_CHECK_ARG(model != NULL && path != NULL, "model save: NULL argument");
    SPCNN_CHECK_ARG(with_training_state == 0 || with_training_state == 1,
                    "model save: with_training_state must be 0 or 1, not %d",
                    with_training_state);
    return spcnn__model_file_save(model, path, with_training_state);
}

spcnn_status spcnn_model_get_config(const spcnn_model *model, spcnn_config *cfg)
{
    SPCNN_CHECK_ARG(model != NULL && cfg != NULL, "model get config: NULL argument");
    *cfg = model->cfg;
    cfg->values[SPCNN_CFG_THREADS] = model->threads;
    return SPCNN_OK;
}

spcnn_status spcnn_model_set_threads(spcnn_model *model, int threads)
{
    SPCNN_CHECK_ARG(model != NULL, "model set threads: model is NULL");
    double lo, hi;
    spcnn_config_bounds(SPCNN_CFG_THREADS, &lo, &hi, NULL);
    SPCNN_CHECK_ARG(threads >= lo && threads <= hi,
                    "model set threads: threads = %d is out of range [%g, %g]", threads, lo, hi);
    if (threads == model->threads)
        return SPCNN_OK;
    /* Primitives fix their thread count at creation: rebuild everything on the next call. */
    spcnn__dnnl fresh;
    SPCNN_TRY(spcnn__dnnl_init(&fresh, threads));
    drop_plans(model);
    spcnn__dnnl_deinit(&model->ctx);
    model->ctx = fresh;
    model->threads = threads;
    return SPCNN_OK;
}

spcnn_status spcnn_model_set_option(spcnn_model *model, spcnn_config_key key, double value)
{
    SPCNN_CHECK_ARG(model != NULL, "model set option: model is NULL");
    switch (key) {
    case SPCNN_CFG_THREADS: {
        /* Validate as a config value first, for the common message. */
        spcnn_config probe = model->cfg;
        SPCNN_TRY(spcnn_config_set(&probe, key, value));
        return spcnn_model_set_threads(model, (int)value);
    }
    case SPCNN_CFG_TEMPERATURE:
    case SPCNN_CFG_SCHEDULE:
        return spcnn_config_set(&model->cfg, key, value);
    default: {
        const char *name = spcnn_config_key_name(key);
        if (name == NULL)
            return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, "model set option: unknown key %d",
                                (int)key);
        return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT,
                            "model set option: %s is fixed when the model is created; only "
                            "threads, temperature and schedule can change",
                            name);
    }
    }
}

spcnn_status spcnn_model_set_progress(spcnn_model *model, spcnn_progress_fn fn, void *user)
{
    SPCNN_CHECK_ARG(model != NULL, "model set progress: model is NULL");
    model->progress = fn;
    model->progress_user = user;
    return SPCNN_OK;
}

spcnn_status spcnn_model_stat(const spcnn_model *model, spcnn_stat stat, double *value)
{
    SPCNN_CHECK_ARG(model != NULL && value != NULL, "model stat: NULL argument");
    switch (stat) {
    case SPCNN_STAT_STEP: *value = (double)model->optim.t; return SPCNN_OK;
    case SPCNN_STAT_IMAGES_SEEN: *value = (double)model->images_seen; return SPCNN_OK;
    case SPCNN_STAT_BITS_PER_DIM:
    case SPCNN_STAT_RECONSTRUCTION:
    case SPCNN_STAT_KL:
    case SPCNN_STAT_LEARNING_RATE:
    case SPCNN_STAT_GRAD_NORM:
    case SPCNN_STAT_PARAMETERS: *value = model->last[stat]; return SPCNN_OK;
    }
    return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, "model stat: unknown statistic %d",
                        (int)stat);
}

/* ---- shared checks and windows ------------------------------------------------------------ */

/* Images large enough for a window, and sizes whose products fit. */
static spcnn_status check_images(const spcnn_model *m, const char *what, const void *images,
                                 size_t n, size_t h, size_t w)
{
    SPCNN_CHECK_ARG(images != NULL, "%s: images is NULL", what);
    SPCNN_CHECK_ARG(n >= 1, "%s: no images (n = 0)", what);
    SPCNN_CHECK_ARG(h >= (size_t)m->m && w >= (size_t)m->m,
                    "%s: a %zux%zu image is smaller than the %dx%d window", what, h, w, m->m,
                    m->m);
    SPCNN_CHECK_ARG(h <= 1000000 && w <= 1000000 && n <= 100000000 && h * w <= SIZE_MAX / n / 16,
                    "%s: %zu images of %zux%zu are too large", what, n, h, w);
    return SPCNN_OK;
}

/* Copy the window at (top, left) of an image into x (pixel values), pix (bytes) and grid (the
 * image's coordinate grid: G[r][c] = (-1 + 2r/(H-1), -1 + 2c/(W-1))). */
static void crop_window(const uint8_t *image, size_t h, size_t w, size_t top, size_t left,
                        int m, float *x, uint8_t *pix, float *grid)
{
    const double sy = h > 1 ? 2.0 / (double)(h - 1) : 0, sx = w > 1 ? 2.0 / (double)(w - 1) : 0;
    for (int r = 0; r < m; r++)
        for (int c = 0; c < m; c++) {
            size_t i = (size_t)r * (size_t)m + (size_t)c;
            uint8_t v = image[(top + (size_t)r) * w + left + (size_t)c];
            x[i] = (float)v / 127.5f - 1.0f;
            pix[i] = v;
            grid[2 * i] = (float)(-1.0 + sy * (double)(top + (size_t)r));
            grid[2 * i + 1] = (float)(-1.0 + sx * (double)(left + (size_t)c));
        }
}

/* ---- training ------------------------------------------------------------------------------ */

spcnn_status spcnn_model_train_step(spcnn_model *model, const uint8_t *images, size_t n,
                                    size_t height, size_t width, double *bits_per_dim)
{
    SPCNN_CHECK_ARG(model != NULL, "train step: model is NULL");
    SPCNN_TRY(check_images(model, "train step", images, n, height, width));
    SPCNN_CHECK_ARG(n <= 65536, "train step: batch of %zu images is above 65536", n);
    spcnn_model *m = model;
    spcnn__dnnl_enter(&m->ctx);
    spcnn__train_plan *tp = m->train;
    if (tp == NULL || tp->n != n || tp->h != height || tp->w != width) {
        train_plan_destroy(m->train);
        m->train = NULL;
        SPCNN_TRY(train_plan_create(m, n, height, width, &m->train));
        tp = m->train;
    }
    const uint64_t seed = (uint64_t)spcnn__config_value(&m->cfg, SPCNN_CFG_SEED);
    const uint64_t step = m->optim.t;
    const size_t mm = (size_t)m->m * (size_t)m->m, p = n * mm, l = (size_t)m->latent;
    const size_t ss = (size_t)m->image_size * (size_t)m->image_size;
    const float rate = (float)spcnn__config_value(&m->cfg, SPCNN_CFG_DROPOUT);
    const float *w = m->params.buf[SPCNN__BUF_VALUE];

    /* One uniformly random window per image. */
    for (size_t i = 0; i < n; i++) {
        spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, step, RNG_CROP, i));
        size_t top = (size_t)(spcnn__rng_uniform(&rng) * (float)(height - (size_t)m->m + 1));
        size_t left = (size_t)(spcnn__rng_uniform(&rng) * (float)(width - (size_t)m->m + 1));
        top = top > height - (size_t)m->m ? height - (size_t)m->m : top;
        left = left > width - (size_t)m->m ? width - (size_t)m->m : left;
        crop_window(images + i * height * width, height, width, top, left, m->m,
                    tp->x_crop + i * mm, tp->pix_crop + i * mm, tp->grid_crop + i * mm * 2);
    }

    /* VAE: z ~ q(z|x), reparameterised so the patch loss trains the encoder too. */
    double recon = 0, kl = 0;
    if (m->use_latent) {
        SPCNN_TRY(prep_run(&tp->prep, &m->ctx, images, m->image_size));
        SPCNN_TRY(spcnn__vae_encode(tp->vae, &m->ctx, &m->params, w, tp->prep.x, tp->mu,
                                    tp->logvar));
        for (size_t i = 0; i < n; i++) {
            spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, step, RNG_EPS, i));
            for (size_t j = 0; j < l; j++)
                tp->eps[i * l + j] = spcnn__rng_normal(&rng);
        }
        spcnn__reparam_forward(tp->mu, tp->logvar, tp->eps, tp->z, n * l);
        SPCNN_TRY(spcnn__vae_decode(tp->vae, &m->ctx, &m->params, w, tp->z, tp->logits));
        spcnn__bce_logits_forward(tp->logits, tp->prep.target, tp->bce, n, ss);
        spcnn__kl_forward(tp->mu, tp->logvar, tp->kl, n, l);
        for (size_t i = 0; i < n; i++) {
            recon += tp->bce[i];
            kl += tp->kl[i];
        }
    }

    /* PixelCNN on the windows. */
    SPCNN_TRY(spcnn__pixelcnn_forward(tp->pc, &m->ctx, &m->params, w, tp->x_crop, tp->grid_crop,
                                      m->use_latent ? tp->z : NULL, rate,
                                      spcnn__key4(seed, step, RNG_DROPOUT, 0), tp->mix));
    spcnn__mixture_nll_forward(tp->mix, tp->pix_crop, tp->nll, p, (size_t)m->k);
    double nll = 0;
    for (size_t i = 0; i < p; i++)
        nll += tp->nll[i];

    /* Backward of loss = mean over images of (patch NLL + reconstruction + KL). */
    const float inv_n = 1.0f / (float)n;
    spcnn__params_zero_grad(&m->params);
    for (size_t i = 0; i < p; i++)
        tp->dnll[i] = inv_n;
    spcnn__mixture_nll_backward(tp->mix, tp->pix_crop, tp->dnll, tp->dmix, p, (size_t)m->k);
    SPCNN_TRY(spcnn__pixelcnn_backward(tp->pc, &m->ctx, &m->params, tp->dmix, rate,
                                       m->use_latent ? tp->dz_pc : NULL, NULL));
    if (m->use_latent) {
        for (size_t i = 0; i < n; i++)
            tp->dloss[i] = inv_n;
        spcnn__bce_logits_backward(tp->logits, tp->prep.target, tp->dloss, tp->dlogits, n, ss);
        SPCNN_TRY(spcnn__vae_decode_backward(tp->vae, &m->ctx, &m->params, tp->z, tp->dlogits,
                                             tp->dz_dec));
        spcnn__accumulate(tp->dz_pc, tp->dz_dec, n * l);
        spcnn__reparam_backward(tp->logvar, tp->eps, tp->dz_pc, tp->dmu, tp->dlogvar, n * l);
        spcnn__kl_backward(tp->mu, tp->logvar, tp->dloss, tp->dmu_kl, tp->dlogvar_kl, n, l);
        spcnn__accumulate(tp->dmu, tp->dmu_kl, n * l);
        spcnn__accumulate(tp->dlogvar, tp->dlogvar_kl, n * l);
        SPCNN_TRY(spcnn__vae_encode_backward(tp->vae, &m->ctx, &m->params, tp->prep.x, tp->dmu,
                                             tp->dlogvar));
    }

    spcnn__optim_stats os;
    spcnn_status st = spcnn__optim_step(&m->params, &m->optim, &os);
    m->ctx.weights_version++; /* raw and EMA weights moved (or, on failure, may have) */
    if (st != SPCNN_OK)
        return spcnn__error_context(st, "train step");
    m->images_seen += n;
    m->last[SPCNN_STAT_BITS_PER_DIM] = nll / (double)p / LN2;
    m->last[SPCNN_STAT_RECONSTRUCTION] = recon / (double)n;
    m->last[SPCNN_STAT_KL] = kl / (double)n;
    m->last[SPCNN_STAT_LEARNING_RATE] = os.lr;
    m->last[SPCNN_STAT_GRAD_NORM] = os.grad_norm;
    if (bits_per_dim)
        *bits_per_dim = m->last[SPCNN_STAT_BITS_PER_DIM];
    return SPCNN_OK;
}

/* ---- encoding, likelihood, evaluation ----------------------------------------------------- */

/* Encoder mean (and log-variance) of one image with EMA weights. */
static spcnn_status encode_one(spcnn_model *m, spcnn__eval_plan *ep, const uint8_t *image,
                               size_t h, size_t w)
{
    if (ep->prep.x == NULL || ep->prep.h != h || ep->prep.w != w) {
        prep_deinit(&ep->prep);
        SPCNN_TRY(prep_init(&ep->prep, &m->ctx, 1, h, w, m->image_size));
    }
    SPCNN_TRY(prep_run(&ep->prep, &m->ctx, image, m->image_size));
    return spcnn__vae_encode(ep->vae, &m->ctx, &m->params, m->params.buf[SPCNN__BUF_EMA],
                             ep->prep.x, ep->mu, ep->logvar);
}

spcnn_status spcnn__model_encode_mean(spcnn_model *model, const uint8_t *image, size_t height,
                                      size_t width, float *z)
{
    spcnn__eval_plan *ep;
    SPCNN_TRY(eval_plan_get(model, &ep));
    SPCNN_TRY(encode_one(model, ep, image, height, width));
    memcpy(z, ep->mu, (size_t)model->latent * sizeof(float));
    return SPCNN_OK;
}

spcnn_status spcnn_model_encode(spcnn_model *model, const uint8_t *image, size_t height,
                                size_t width, float *z, size_t capacity)
{
    SPCNN_CHECK_ARG(model != NULL && image != NULL && z != NULL, "encode: NULL argument");
    SPCNN_CHECK_ARG(height >= 1 && width >= 1 && height <= 1000000 && width <= 1000000 &&
                        height * width <= ((size_t)1 << 40),
                    "encode: invalid image size %zux%zu", height, width);
    if (!model->use_latent)
        return spcnn__error(SPCNN_ERR_UNSUPPORTED, "encode: the model has no latent code "
                                                   "(use_latent = 0)");
    if (capacity < (size_t)model->latent)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "encode: z holds %zu floats, the latent code has %d", capacity,
                            model->latent);
    spcnn__dnnl_enter(&model->ctx);
    return spcnn__model_encode_mean(model, image, height, width, z);
}

/* Accumulators of one image's windows. */
typedef struct window_scores {
    double patch_nll; /* nats over every pixel of every window */
    size_t windows;
    float *map;       /* per-pixel nll (nats) under the sliding-window factorisation, or NULL */
} window_scores;

/* Score every m×m window of one image with EMA weights and conditioning z (NULL: none).
 * progress_base/progress_span place this image's share of the call's progress. */
static spcnn_status score_windows(spcnn_model *m, spcnn__eval_plan *ep, const uint8_t *image,
                                  size_t h, size_t w, const float *z, window_scores *out,
                                  double progress_base, double progress_span)
{
    const size_t mm = (size_t)m->m * (size_t)m->m, wy = h - (size_t)m->m + 1;
    const size_t wx = w - (size_t)m->m + 1, total = wy * wx, l = (size_t)m->latent;
    const float *ema = m->params.buf[SPCNN__BUF_EMA];
    if (z && m->use_latent)
        for (size_t b = 0; b < EVAL_WINDOWS; b++)
            memcpy(ep->z_rep + b * l, z, l * sizeof(float));
    for (size_t first = 0; first < total; first += EVAL_WINDOWS) {
        size_t count = total - first < EVAL_WINDOWS ? total - first : EVAL_WINDOWS;
        for (size_t b = 0; b < EVAL_WINDOWS; b++) {
            size_t idx = first + (b < count ? b : 0); /* pad with a real window */
            crop_window(image, h, w, idx / wx, idx % wx, m->m, ep->x_crop + b * mm,
                        ep->pix_crop + b * mm, ep->grid_crop + b * mm * 2);
        }
        SPCNN_TRY(spcnn__pixelcnn_forward(ep->pc, &m->ctx, &m->params, ema, ep->x_crop,
                                          ep->grid_crop, m->use_latent ? ep->z_rep : NULL, 0.0f,
                                          0, ep->mix));
        spcnn__mixture_nll_forward(ep->mix, ep->pix_crop, ep->nll, count * mm, (size_t)m->k);
        for (size_t b = 0; b < count; b++) {
            size_t idx = first + b, top = idx / wx, left = idx % wx;
            const float *nll = ep->nll + b * mm;
            for (size_t i = 0; i < mm; i++)
                out->patch_nll += nll[i];
            if (out->map == NULL)
                continue;
            /* This window scores pixel (r, c) when it is that pixel's own window: the
             * bottom-right pixel, or any pixel of its rows/columns clamped at the border. */
            size_t r0 = top > 0 ? (size_t)m->m - 1 : 0, c0 = left > 0 ? (size_t)m->m - 1 : 0;
            for (size_t r = r0; r < (size_t)m->m; r++)
                for (size_t c = c0; c < (size_t)m->m; c++)
                    out->map[(top + r) * w + left + c] = nll[r * (size_t)m->m + c];
        }
        out->windows += count;
        if (m->progress) {
            double frac = progress_base + progress_span * (double)(first + count) / (double)total;
            if (m->progress(frac, m->progress_user) != 0)
                return spcnn__error(SPCNN_ERR_CANCELLED, "cancelled by the progress callback");
        }
    }
    return SPCNN_OK;
}

spcnn_status spcnn_model_log_prob(spcnn_model *model, const uint8_t *image, size_t height,
                                  size_t width, const float *z, float *nll, size_t capacity)
{
    SPCNN_CHECK_ARG(model != NULL && nll != NULL, "log prob: NULL argument");
    SPCNN_TRY(check_images(model, "log prob", image, 1, height, width));
    if (capacity < height * width)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "log prob: nll holds %zu floats, the image has %zu pixels", capacity,
                            height * width);
    spcnn__dnnl_enter(&model->ctx);
    spcnn__eval_plan *ep;
    SPCNN_TRY(eval_plan_get(model, &ep));
    if (model->use_latent && z == NULL) {
        SPCNN_TRY(encode_one(model, ep, image, height, width));
        z = ep->mu;
    }
    window_scores ws = {0, 0, nll};
    SPCNN_TRY(score_windows(model, ep, image, height, width, z, &ws, 0.0, 1.0));
    for (size_t i = 0; i < height * width; i++)
        nll[i] = (float)(nll[i] / LN2);
    return SPCNN_OK;
}

spcnn_status spcnn_model_evaluate(spcnn_model *model, const uint8_t *images, size_t n,
                                  size_t height, size_t width, double *bpd_patches,
                                  double *bpd_image, double *kl)
{
    SPCNN_CHECK_ARG(model != NULL, "evaluate: model is NULL");
    SPCNN_TRY(check_images(model, "evaluate", images, n, height, width));
    spcnn_model *m = model;
    spcnn__dnnl_enter(&m->ctx);
    spcnn__eval_plan *ep;
    SPCNN_TRY(eval_plan_get(m, &ep));
    float *map = spcnn__malloc(height * width * sizeof(float));
    if (map == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "evaluate: out of memory");
    double patch_nll = 0, image_nll = 0, kl_sum = 0;
    size_t windows = 0;
    spcnn_status st = SPCNN_OK;
    for (size_t i = 0; i < n && st == SPCNN_OK; i++) {
        const uint8_t *image = images + i * height * width;
        const float *z = NULL;
        if (m->use_latent) {
            st = encode_one(m, ep, image, height, width);
            if (st != SPCNN_OK)
                break;
            float klv;
            spcnn__kl_forward(ep->mu, ep->logvar, &klv, 1, (size_t)m->latent);
            kl_sum += klv;
            z = ep->mu;
        }
        window_scores ws = {0, 0, map};
        st = score_windows(m, ep, image, height, width, z, &ws, (double)i / (double)n,
                           1.0 / (double)n);
        patch_nll += ws.patch_nll;
        windows += ws.windows;
        for (size_t j = 0; j < height * width; j++)
            image_nll += map[j];
    }
    spcnn__free(map);
    if (st != SPCNN_OK)
        return st;
    const double mm = (double)m->m * (double)m->m;
    if (bpd_patches)
        *bpd_patches = patch_nll / ((double)windows * mm) / LN2;
    if (bpd_image)
        *bpd_image = image_nll / ((double)n * (double)height * (double)width) / LN2;
    if (kl)
        *kl = kl_sum / (double)n;
    return SPCNN_OK;
}
