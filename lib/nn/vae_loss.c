/* The VAE's losses (see vae_loss.h). */
#include "nn/vae_loss.h"

#include <math.h>

#include "nn/row_ranges.h"

#define PAR_MIN ((size_t)1 << 15)

/* Stable and branch-free: exp(−|v|) never overflows. */
static inline float sigmoid1(float v)
{
    float e = expf(-fabsf(v));
    return (v >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* softplus(l) − t·l without overflow: max(l, 0) − t·l + log1p(exp(−|l|)). */
static inline double bce1(float l, float t)
{
    return (double)(l > 0.0f ? l : 0.0f) - (double)t * l + (double)log1pf(expf(-fabsf(l)));
}

static void bce_rows(const float *logits, const float *targets, float *loss, size_t d, size_t lo,
                     size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        double s = 0.0;
        for (size_t j = i * d; j < (i + 1) * d; j++)
            s += bce1(logits[j], targets[j]);
        loss[i] = (float)s;
    }
}

void spcnn__bce_logits_forward(const float *logits, const float *targets, float *loss, size_t n,
                               size_t d)
{
    FOR_ROW_RANGES(n, n * d, PAR_MIN, bce_rows(logits, targets, loss, d, lo, hi));
}

static void bce_backward_rows(const float *logits, const float *targets, const float *dloss,
                              float *dlogits, size_t d, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        for (size_t j = i * d; j < (i + 1) * d; j++)
            dlogits[j] = dloss[i] * (sigmoid1(logits[j]) - targets[j]);
}

void spcnn__bce_logits_backward(const float *logits, const float *targets, const float *dloss,
                                float *dlogits, size_t n, size_t d)
{
    FOR_ROW_RANGES(n, n * d, PAR_MIN,
                   bce_backward_rows(logits, targets, dloss, dlogits, d, lo, hi));
}

void spcnn__kl_forward(const float *mu, const float *logvar, float *kl, size_t n, size_t l)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = i * l; j < (i + 1) * l; j++) {
            double m = mu[j], lv = logvar[j];
            s += m * m + exp(lv) - 1.0 - lv;
        }
        kl[i] = (float)(0.5 * s);
    }
}

void spcnn__kl_backward(const float *mu, const float *logvar, const float *dkl, float *dmu,
                        float *dlogvar, size_t n, size_t l)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i * l; j < (i + 1) * l; j++) {
            dmu[j] = dkl[i] * mu[j];
            dlogvar[j] = dkl[i] * 0.5f * expm1f(logvar[j]);
        }
}

void spcnn__reparam_forward(const float *mu, const float *logvar, const float *eps, float *z,
                            size_t count)
{
    for (size_t i = 0; i < count; i++)
        z[i] = mu[i] + expf(0.5f * logvar[i]) * eps[i];
}

void spcnn__reparam_backward(const float *logvar, const float *eps, const float *dz, float *dmu,
                             float *dlogvar, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float g = dz[i];
        dlogvar[i] = g * eps[i] * 0.5f * expf(0.5f * logvar[i]);
        dmu[i] = g;
    }
}
