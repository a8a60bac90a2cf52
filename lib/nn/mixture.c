/* Discretized logistic mixture (see mixture.h for the formulas). Pixels are independent, so
 * the per-pixel loops split over OpenMP threads without changing any result. */
#include "nn/mixture.h"

#include <math.h>

#include "nn/row_ranges.h"

#define PAR_MIN_PIXELS 2048

/* log(1e-5): PixelCNN++'s threshold between the bin mass and the pdf approximation. */
#define LOG_MASS_MIN (-11.512925465f)
/* log(127.5): the pdf approximation's bin-width term. */
#define LOG_HALF_LEVELS 4.848116194f

/* log1p and expm1 through logf and expf (each ~5× faster than glibc's log1pf and expm1f) with
 * the classic corrections that keep them accurate near 0: log1p(e) = log(u)·e/(u − 1) and
 * expm1(x) = (u − 1)·x/log(u) for the rounded u = 1 + e, resp. u = exp(x). */
static inline float log1p_fast(float e)
{
    float u = 1.0f + e;
    return u == 1.0f ? e : logf(u) * (e / (u - 1.0f));
}

static inline float expm1_fast(float x)
{
    float u = expf(x);
    if (u == 1.0f)
        return x;
    float um1 = u - 1.0f;
    return um1 == -1.0f ? -1.0f : um1 * (x / logf(u));
}

static inline float softplus1(float v)
{
    return v > 0.0f ? v + log1p_fast(expf(-v)) : log1p_fast(expf(v));
}

/* Stable and branch-free: exp(−|v|) never overflows. */
static inline float sigmoid1(float v)
{
    float e = expf(-fabsf(v));
    return (v >= 0.0f ? 1.0f : e) / (1.0f + e);
}

static inline float clamp_log_scale(float raw)
{
    return raw >= SPCNN__MIX_LOG_SCALE_MIN ? raw : SPCNN__MIX_LOG_SCALE_MIN;
}

/* log P(v | component) for a component (mean, clamped log-scale ls); when dm and ds are not
 * NULL, also its derivatives with respect to mean and ls. */
static float comp_logp(float mean, float ls, int v, float *dm, float *ds)
{
    /* The offsets of the bin edges and centre from the mean, in double: with a sharp
     * component (inv up to e^7) a float rounding of x ± 1/255 − mean would be amplified to
     * ~1e-4 in a and b. */
    const double md = mean;
    const float hi = (float)((2 * v + 1) / 255.0 - 1.0 - md);
    const float lo = (float)((2 * v - 1) / 255.0 - 1.0 - md);
    const float cx = (float)(v / 127.5 - 1.0 - md);
    const float inv = expf(-ls);
    float lp, gm, gs;
    if (v == 0) {
        float a = inv * hi;
        float g = sigmoid1(-a); /* d log σ(a) / da */
        lp = -softplus1(-a);
        gm = -inv * g;
        gs = -a * g;
    } else if (v == SPCNN__MIX_LEVELS - 1) {
        float b = inv * lo;
        float g = -sigmoid1(b); /* d log σ(−b) / db */
        lp = -softplus1(b);
        gm = -inv * g;
        gs = -b * g;
    } else {
        float a = inv * hi, b = inv * lo;
        float d = inv * (2.0f / 255.0f);
        float em = expm1_fast(-d);
        float lmass = -softplus1(-a) - softplus1(b) + logf(-em);
        if (lmass > LOG_MASS_MIN) {
            float sa = sigmoid1(-a), sb = sigmoid1(b);
            lp = lmass;
            gm = -inv * (sa - sb);
            /* d/dd log(1 − e^−d) = 1/expm1(d); a, b, d all scale with inv = exp(−ls). */
            gs = -a * sa + b * sb - d / expm1_fast(d);
        } else {
            float mid = inv * cx;
            float g = 1.0f - 2.0f * sigmoid1(mid); /* d (log σ(mid) + log σ(−mid)) / dmid */
            lp = -softplus1(-mid) - softplus1(mid) - ls - LOG_HALF_LEVELS;
            gm = -inv * g;
            gs = -mid * g - 1.0f;
        }
    }
    if (dm) {
        *dm = gm;
        *ds = gs;
    }
    return lp;
}

static float logsumexp(const float *t, size_t k)
{
    float m = t[0];
    for (size_t j = 1; j < k; j++)
        if (t[j] > m)
            m = t[j];
    float s = 0.0f;
    for (size_t j = 0; j < k; j++)
        s += expf(t[j] - m);
    return m + logf(s);
}

/* Logits shifted by their maximum (softmax is unchanged), so the log-sum-exps below are of
 * size ~log k + |log P| instead of the logits' magnitude, and so is their rounding. */
static void shift_logits(const float *logits, size_t k, float *out)
{
    float m = logits[0];
    for (size_t j = 1; j < k; j++)
        if (logits[j] > m)
            m = logits[j];
    for (size_t j = 0; j < k; j++)
        out[j] = logits[j] - m;
}

/* −log P(v) of one pixel. */
static float pixel_nll(const float *pr, size_t k, int v)
{
    float l[SPCNN__MIX_MAX_K], t[SPCNN__MIX_MAX_K];
    shift_logits(pr, k, l);
    for (size_t j = 0; j < k; j++)
        t[j] = l[j] + comp_logp(pr[k + j], clamp_log_scale(pr[2 * k + j]), v, NULL, NULL);
    return logsumexp(l, k) - logsumexp(t, k);
}

static void nll_range(const float *params, const uint8_t *pix, float *nll, size_t k, size_t lo,
                      size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        nll[i] = pixel_nll(params + i * 3 * k, k, pix[i]);
}

void spcnn__mixture_nll_forward(const float *params, const uint8_t *pix, float *nll, size_t p,
                                size_t k)
{
    FOR_ROW_RANGES(p, p, PAR_MIN_PIXELS, nll_range(params, pix, nll, k, lo, hi));
}

static void nll_backward_range(const float *params, const uint8_t *pix, const float *dnll,
                               float *dparams, size_t k, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        const float *pr = params + i * 3 * k;
        float *dp = dparams + i * 3 * k;
        float l[SPCNN__MIX_MAX_K], t[SPCNN__MIX_MAX_K], dm[SPCNN__MIX_MAX_K],
            ds[SPCNN__MIX_MAX_K];
        shift_logits(pr, k, l);
        for (size_t j = 0; j < k; j++)
            t[j] = l[j] + comp_logp(pr[k + j], clamp_log_scale(pr[2 * k + j]), pix[i], &dm[j],
                                    &ds[j]);
        const float lse_l = logsumexp(l, k), lse_t = logsumexp(t, k), g = dnll[i];
        /* nll = lse(logits) − lse(t): d/dlogit_j = π_j − w_j, d/dlp_j = −w_j, with π the
         * prior softmax and w the posterior responsibilities. */
        for (size_t j = 0; j < k; j++) {
            float w = expf(t[j] - lse_t), pi = expf(l[j] - lse_l);
            dp[j] = g * (pi - w);
            dp[k + j] = -g * w * dm[j];
            dp[2 * k + j] = pr[2 * k + j] >= SPCNN__MIX_LOG_SCALE_MIN ? -g * w * ds[j] : 0.0f;
        }
    }
}

void spcnn__mixture_nll_backward(const float *params, const uint8_t *pix, const float *dnll,
                                 float *dparams, size_t p, size_t k)
{
    FOR_ROW_RANGES(p, p, PAR_MIN_PIXELS,
                   nll_backward_range(params, pix, dnll, dparams, k, lo, hi));
}

void spcnn__mixture_log_probs_all(const float *params, size_t k, float *out)
{
    for (int v = 0; v < SPCNN__MIX_LEVELS; v++)
        out[v] = -pixel_nll(params, k, v);
}

uint8_t spcnn__mixture_sample(const float *params, size_t k, float temperature, float u_comp,
                              float u_logistic)
{
    const float *logits = params, *means = params + k, *log_scales = params + 2 * k;
    float m = logits[0];
    for (size_t j = 1; j < k; j++)
        if (logits[j] > m)
            m = logits[j];
    float w[SPCNN__MIX_MAX_K], total = 0.0f;
    for (size_t j = 0; j < k; j++) {
        w[j] = expf(logits[j] - m);
        total += w[j];
    }
    /* Inverse CDF; if rounding leaves u·total at or past the last cumulative sum, take the last
     * component that has any weight. */
    const float target = u_comp * total;
    size_t comp = k;
    float cum = 0.0f;
    for (size_t j = 0; j < k; j++) {
        cum += w[j];
        if (target < cum) {
            comp = j;
            break;
        }
    }
    if (comp == k)
        for (comp = k - 1; comp > 0 && w[comp] == 0.0f; comp--)
            ;
    const float ls = clamp_log_scale(log_scales[comp]);
    float x = means[comp] +
              expf(ls) * temperature * (logf(u_logistic) - log1pf(-u_logistic));
    if (!(x > -1.0f)) /* also maps NaN to 0 */
        x = -1.0f;
    if (x > 1.0f)
        x = 1.0f;
    float level = floorf((x + 1.0f) * 127.5f + 0.5f);
    return (uint8_t)(level > 255.0f ? 255.0f : level);
}
