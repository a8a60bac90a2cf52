/* Double-precision references (see ref_elem.h): as plain as possible. */
#include "ref_elem.h"

#include <math.h>

#include "nn/rng.h"

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static double softplus(double v)
{
    return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
}

static double elu(double v)
{
    return v > 0 ? v : exp(v) - 1.0;
}

static double elu_grad(double v)
{
    return v > 0 ? 1.0 : exp(v);
}

void ref_elu_forward(const double *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = elu(x[i]);
}

void ref_elu_backward(const double *x, const double *dy, double *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * elu_grad(x[i]);
}

void ref_concat_elu_forward(const double *x, double *y, size_t p, size_t c)
{
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < c; j++) {
            y[i * 2 * c + j] = elu(x[i * c + j]);
            y[i * 2 * c + c + j] = elu(-x[i * c + j]);
        }
}

void ref_concat_elu_backward(const double *x, const double *dy, double *dx, size_t p, size_t c)
{
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < c; j++)
            dx[i * c + j] = dy[i * 2 * c + j] * elu_grad(x[i * c + j]) -
                            dy[i * 2 * c + c + j] * elu_grad(-x[i * c + j]);
}

void ref_dropout_mask(uint64_t key, double rate, uint8_t *mask, size_t n)
{
    uint64_t threshold = (uint64_t)floor(rate * 65536.0 + 0.5);
    for (size_t i = 0; i < n; i++) {
        spcnn__rng r = spcnn__rng_make(key);
        r.counter = i / 4;
        uint64_t bits16 = (spcnn__rng_bits(&r) >> (16 * (i % 4))) & 0xFFFF;
        mask[i] = bits16 >= threshold;
    }
}

double ref_dropout_keep(double rate)
{
    return 1.0 - floor(rate * 65536.0 + 0.5) / 65536.0;
}

void ref_dropout_forward(const double *x, const uint8_t *mask, double *y, size_t n, double rate)
{
    for (size_t i = 0; i < n; i++)
        y[i] = mask[i] ? x[i] / ref_dropout_keep(rate) : 0.0;
}

void ref_dropout_backward(const uint8_t *mask, const double *dy, double *dx, size_t n,
                          double rate)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = mask[i] ? dy[i] / ref_dropout_keep(rate) : 0.0;
}

void ref_gate_forward(const double *x, const double *c2, double *out, size_t p, size_t f)
{
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < f; j++) {
            double a = c2[i * 2 * f + j], b = c2[i * 2 * f + f + j];
            out[i * f + j] = x[i * f + j] + a * sigmoid(b);
        }
}

void ref_gate_backward(const double *c2, const double *dout, double *dx, double *dc2, size_t p,
                       size_t f)
{
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < f; j++) {
            double a = c2[i * 2 * f + j], b = c2[i * 2 * f + f + j], g = dout[i * f + j];
            double s = sigmoid(b);
            dx[i * f + j] = g;
            dc2[i * 2 * f + j] = g * s;
            dc2[i * 2 * f + f + j] = g * a * s * (1.0 - s);
        }
}

void ref_cond_add_forward(const double *c2, const double *h_xy, const double *h_z, double *out,
                          size_t n, size_t hw, size_t c)
{
    for (size_t img = 0; img < n; img++)
        for (size_t q = 0; q < hw; q++)
            for (size_t j = 0; j < c; j++) {
                size_t i = (img * hw + q) * c + j;
                out[i] = c2[i] + (h_xy ? h_xy[i] : 0.0) + (h_z ? h_z[img * c + j] : 0.0);
            }
}

void ref_cond_add_backward(const double *dout, double *dc2, double *dh_xy, double *dh_z,
                           size_t n, size_t hw, size_t c)
{
    for (size_t img = 0; img < n; img++)
        for (size_t j = 0; j < c; j++) {
            double s = 0.0;
            for (size_t q = 0; q < hw; q++) {
                size_t i = (img * hw + q) * c + j;
                if (dc2)
                    dc2[i] = dout[i];
                if (dh_xy)
                    dh_xy[i] = dout[i];
                s += dout[i];
            }
            if (dh_z)
                dh_z[img * c + j] = s;
        }
}

void ref_add(const double *a, const double *b, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void ref_accumulate(double *y, const double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a[i];
}

void ref_concat_forward(const double *a, const double *b, double *y, size_t p, size_t ca,
                        size_t cb)
{
    for (size_t i = 0; i < p; i++) {
        for (size_t j = 0; j < ca; j++)
            y[i * (ca + cb) + j] = a[i * ca + j];
        for (size_t j = 0; j < cb; j++)
            y[i * (ca + cb) + ca + j] = b[i * cb + j];
    }
}

void ref_concat_backward(const double *dy, double *da, double *db, size_t p, size_t ca,
                         size_t cb)
{
    for (size_t i = 0; i < p; i++) {
        for (size_t j = 0; j < ca && da; j++)
            da[i * ca + j] = dy[i * (ca + cb) + j];
        for (size_t j = 0; j < cb && db; j++)
            db[i * cb + j] = dy[i * (ca + cb) + ca + j];
    }
}

/* ---- discretized logistic mixture ------------------------------------------------------ */

/* log P(v | component) with PixelCNN++'s formulas; dlp_dm and dlp_ds (may be NULL) receive its
 * derivatives with respect to the mean and the clamped log-scale. */
static double ref_comp_logp(double mean, double ls, int v, double *dlp_dm, double *dlp_ds)
{
    double x = v / 127.5 - 1.0;
    double centered = x - mean, inv = exp(-ls);
    double plus_in = inv * (centered + 1.0 / 255.0), min_in = inv * (centered - 1.0 / 255.0);
    double mid_in = inv * centered;
    double cdf_plus = sigmoid(plus_in), cdf_min = sigmoid(min_in);
    double cdf_delta = cdf_plus - cdf_min;
    /* d lp / d(plus_in), d(min_in), d(mid_in), and the direct d/dls */
    double g_plus = 0, g_min = 0, g_mid = 0, g_ls = 0, lp;
    if (x < -0.999) {
        lp = plus_in - softplus(plus_in);
        g_plus = 1.0 - sigmoid(plus_in);
    } else if (x > 0.999) {
        lp = -softplus(min_in);
        g_min = -sigmoid(min_in);
    } else if (cdf_delta > 1e-5) {
        lp = log(cdf_delta);
        g_plus = cdf_plus * (1.0 - cdf_plus) / cdf_delta;
        g_min = -cdf_min * (1.0 - cdf_min) / cdf_delta;
    } else {
        lp = mid_in - ls - 2.0 * softplus(mid_in) - log(127.5);
        g_mid = 1.0 - 2.0 * sigmoid(mid_in);
        g_ls = -1.0;
    }
    if (dlp_dm) {
        /* d(in)/d mean = −inv, d(in)/d ls = −in for each of plus_in, min_in, mid_in */
        *dlp_dm = -inv * (g_plus + g_min + g_mid);
        *dlp_ds = -(g_plus * plus_in + g_min * min_in + g_mid * mid_in) + g_ls;
    }
    return lp;
}

static double ref_lse(const double *t, size_t k)
{
    double m = t[0], s = 0;
    for (size_t j = 1; j < k; j++)
        m = fmax(m, t[j]);
    for (size_t j = 0; j < k; j++)
        s += exp(t[j] - m);
    return m + log(s);
}

static double ref_clamp(double raw)
{
    return raw < -7.0 ? -7.0 : raw;
}

static double ref_pixel_nll(const double *pr, size_t k, int v)
{
    double t[64];
    for (size_t j = 0; j < k; j++)
        t[j] = pr[j] + ref_comp_logp(pr[k + j], ref_clamp(pr[2 * k + j]), v, NULL, NULL);
    return ref_lse(pr, k) - ref_lse(t, k);
}

void ref_mixture_nll_forward(const double *params, const uint8_t *pix, double *nll, size_t p,
                             size_t k)
{
    for (size_t i = 0; i < p; i++)
        nll[i] = ref_pixel_nll(params + i * 3 * k, k, pix[i]);
}

void ref_mixture_nll_backward(const double *params, const uint8_t *pix, const double *dnll,
                              double *dparams, size_t p, size_t k)
{
    for (size_t i = 0; i < p; i++) {
        const double *pr = params + i * 3 * k;
        double *dp = dparams + i * 3 * k;
        double t[64], dm[64], ds[64];
        for (size_t j = 0; j < k; j++)
            t[j] = pr[j] + ref_comp_logp(pr[k + j], ref_clamp(pr[2 * k + j]), pix[i], &dm[j],
                                         &ds[j]);
        double lse_l = ref_lse(pr, k), lse_t = ref_lse(t, k);
        for (size_t j = 0; j < k; j++) {
            double prior = exp(pr[j] - lse_l), post = exp(t[j] - lse_t);
            dp[j] = dnll[i] * (prior - post);
            dp[k + j] = -dnll[i] * post * dm[j];
            dp[2 * k + j] = pr[2 * k + j] < -7.0 ? 0.0 : -dnll[i] * post * ds[j];
        }
    }
}

void ref_mixture_log_probs_all(const double *params, size_t k, double *out)
{
    for (int v = 0; v < 256; v++)
        out[v] = -ref_pixel_nll(params, k, v);
}

int ref_mixture_sample(const double *params, size_t k, double temperature, double u_comp,
                       double u_logistic)
{
    double total = 0, cum = 0, lse = ref_lse(params, k);
    for (size_t j = 0; j < k; j++)
        total += exp(params[j] - lse);
    size_t comp = k - 1;
    for (size_t j = 0; j < k; j++) {
        cum += exp(params[j] - lse);
        if (u_comp * total < cum) {
            comp = j;
            break;
        }
    }
    double x = params[k + comp] + exp(ref_clamp(params[2 * k + comp])) * temperature *
                                      (log(u_logistic) - log(1.0 - u_logistic));
    x = fmin(1.0, fmax(-1.0, x));
    return (int)floor((x + 1.0) * 127.5 + 0.5);
}

/* ---- VAE losses ------------------------------------------------------------------------- */

void ref_bce_logits_forward(const double *logits, const double *targets, double *loss, size_t n,
                            size_t d)
{
    for (size_t i = 0; i < n; i++) {
        loss[i] = 0;
        for (size_t j = 0; j < d; j++) {
            double l = logits[i * d + j], t = targets[i * d + j];
            loss[i] += softplus(l) - t * l;
        }
    }
}

void ref_bce_logits_backward(const double *logits, const double *targets, const double *dloss,
                             double *dlogits, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            dlogits[i * d + j] = dloss[i] * (sigmoid(logits[i * d + j]) - targets[i * d + j]);
}

void ref_kl_forward(const double *mu, const double *logvar, double *kl, size_t n, size_t l)
{
    for (size_t i = 0; i < n; i++) {
        kl[i] = 0;
        for (size_t j = 0; j < l; j++) {
            double m = mu[i * l + j], lv = logvar[i * l + j];
            kl[i] += 0.5 * (m * m + exp(lv) - 1.0 - lv);
        }
    }
}

void ref_kl_backward(const double *mu, const double *logvar, const double *dkl, double *dmu,
                     double *dlogvar, size_t n, size_t l)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < l; j++) {
            dmu[i * l + j] = dkl[i] * mu[i * l + j];
            dlogvar[i * l + j] = dkl[i] * 0.5 * (exp(logvar[i * l + j]) - 1.0);
        }
}

void ref_reparam_forward(const double *mu, const double *logvar, const double *eps, double *z,
                         size_t count)
{
    for (size_t i = 0; i < count; i++)
        z[i] = mu[i] + exp(0.5 * logvar[i]) * eps[i];
}

void ref_reparam_backward(const double *logvar, const double *eps, const double *dz,
                          double *dmu, double *dlogvar, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        dmu[i] = dz[i];
        dlogvar[i] = dz[i] * eps[i] * 0.5 * exp(0.5 * logvar[i]);
    }
}
