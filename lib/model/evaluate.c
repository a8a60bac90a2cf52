/* Encoding, decoding, exact likelihood and evaluation with the EMA weights, and their plan. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/plan.h"
#include "nn/mixture.h"
#include "nn/vae_loss.h"

#define LN2 0.69314718055994530942

/* Windows per evaluation forward pass: large enough to amortise the fixed cost of ~150
 * primitive executions, small enough to keep the activation memory modest. */
enum { EVAL_WINDOWS = 128 };

struct spcnn__eval_plan {
    spcnn__pixelcnn *pc; /* EVAL_WINDOWS windows, forward only */
    spcnn__vae *vae;     /* one image, forward only */
    float *arena;
    float *x_crop, *grid_crop, *z_rep, *mix, *nll;
    uint8_t *pix_crop;
    float *mu, *logvar;
    float *vae_x;  /* the VAE's input, image_size² */
    float *logits; /* the decoder's output, image_size² */
};

void spcnn__eval_plan_destroy(spcnn__eval_plan *ep)
{
    if (ep == NULL)
        return;
    spcnn__pixelcnn_destroy(ep->pc);
    spcnn__vae_destroy(ep->vae);
    spcnn__free_aligned(ep->arena);
    spcnn__free(ep);
}

static void eval_plan_layout(spcnn__eval_plan *ep, const spcnn_model *m, spcnn__carver *c)
{
    const size_t p = (size_t)EVAL_WINDOWS * (size_t)m->m * (size_t)m->m;
    const size_t l = (size_t)m->latent;
    ep->x_crop = spcnn__carve(c, p);
    ep->grid_crop = spcnn__carve(c, 2 * p);
    ep->mix = spcnn__carve(c, p * 3 * (size_t)m->k);
    ep->nll = spcnn__carve(c, p);
    ep->pix_crop = (uint8_t *)spcnn__carve(c, (p + 3) / 4);
    if (m->use_latent) {
        ep->z_rep = spcnn__carve(c, (size_t)EVAL_WINDOWS * l);
        ep->mu = spcnn__carve(c, l);
        ep->logvar = spcnn__carve(c, l);
        ep->vae_x = spcnn__carve(c, (size_t)m->image_size * (size_t)m->image_size);
        ep->logits = spcnn__carve(c, (size_t)m->image_size * (size_t)m->image_size);
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
    spcnn__pixelcnn_shape ps = spcnn__model_pixelcnn_shape(m, EVAL_WINDOWS, 0);
    SPCNN_TRY_GOTO(st, spcnn__pixelcnn_create(&m->ctx, &ps, &m->pc_rows, &ep->pc));
    if (m->use_latent) {
        spcnn__vae_shape vs = spcnn__model_vae_shape(m, 1, 0);
        SPCNN_TRY_GOTO(st, spcnn__vae_create(&m->ctx, &m->params, m->vae_rows_begin, &vs,
                                             &ep->vae));
    }
    spcnn__carver c = {NULL, 0};
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
    spcnn__eval_plan_destroy(ep);
    return st;
}

/* Encoder mean (and log-variance) of one image with EMA weights. */
static spcnn_status encode_one(spcnn_model *m, spcnn__eval_plan *ep, const uint8_t *image,
                               size_t h, size_t w)
{
    spcnn__image_prep(image, h, w, m->image_size, ep->vae_x, NULL);
    return spcnn__vae_encode(ep->vae, &m->ctx, &m->params, m->params.buf[SPCNN__BUF_EMA],
                             ep->vae_x, ep->mu, ep->logvar);
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

spcnn_status spcnn__model_encode_posterior(spcnn_model *model, const uint8_t *image,
                                           size_t height, size_t width, float *mu,
                                           float *logvar)
{
    spcnn__eval_plan *ep;
    SPCNN_TRY(eval_plan_get(model, &ep));
    SPCNN_TRY(encode_one(model, ep, image, height, width));
    memcpy(mu, ep->mu, (size_t)model->latent * sizeof(float));
    memcpy(logvar, ep->logvar, (size_t)model->latent * sizeof(float));
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

spcnn_status spcnn_model_decode(spcnn_model *model, const float *z, uint8_t *image,
                                size_t capacity)
{
    SPCNN_CHECK_ARG(model != NULL && z != NULL && image != NULL, "decode: NULL argument");
    if (!model->use_latent)
        return spcnn__error(SPCNN_ERR_UNSUPPORTED, "decode: the model has no latent code "
                                                   "(use_latent = 0)");
    const size_t s = (size_t)model->image_size, pixels = s * s;
    if (capacity < pixels)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "decode: the image holds %zu bytes, the decoder makes %zux%zu",
                            capacity, s, s);
    for (int j = 0; j < model->latent; j++)
        SPCNN_CHECK_ARG(isfinite(z[j]), "decode: z[%d] is not finite", j);
    spcnn__dnnl_enter(&model->ctx);
    spcnn__eval_plan *ep;
    SPCNN_TRY(eval_plan_get(model, &ep));
    SPCNN_TRY(spcnn__vae_decode(ep->vae, &model->ctx, &model->params,
                                model->params.buf[SPCNN__BUF_EMA], z, ep->logits));
    /* The decoder models pixel/255 as Bernoulli(sigmoid(logit)): its mean is the image. */
    for (size_t i = 0; i < pixels; i++) {
        double p = 1.0 / (1.0 + exp(-(double)ep->logits[i]));
        image[i] = (uint8_t)lrint(255.0 * p);
    }
    return SPCNN_OK;
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
            spcnn__crop_window(image, h, w, idx / wx, idx % wx, m->m, ep->x_crop + b * mm,
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
    SPCNN_TRY(spcnn__check_images(model, "log prob", image, 1, height, width));
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
    SPCNN_TRY(spcnn__check_images(model, "evaluate", images, n, height, width));
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
