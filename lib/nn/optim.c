#include "nn/optim.h"

#include <math.h>
#include <omp.h>

#include "core/multiversion.h"
#include "nn/row_ranges.h"

/* Below this many floats the update runs in the calling thread alone. */
#define PAR_MIN ((size_t)1 << 16)

void spcnn__optim_init(spcnn__optim *o, double lr, double lr_decay, double beta1, double beta2,
                       double l2, double ema_decay)
{
    o->t = 0;
    o->lr = lr;
    o->lr_decay = lr_decay;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = 1e-8;
    o->l2 = l2;
    o->ema_decay = ema_decay;
    o->clip_norm = 0.0;
    o->reset_at = 0;
}

/* L2 norm of buf[begin, end), both multiples of 4. */
static double range_norm(const spcnn__params *p, spcnn__param_buf buf, size_t begin, size_t end)
{
    const float *g = p->buf[buf];
    /* Four partial sums: a shorter dependency chain, and a little less rounding error. */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = begin; i < end; i += 4) {
        s0 += (double)g[i] * g[i];
        s1 += (double)g[i + 1] * g[i + 1];
        s2 += (double)g[i + 2] * g[i + 2];
        s3 += (double)g[i + 3] * g[i + 3];
    }
    return sqrt((s0 + s1) + (s2 + s3));
}

double spcnn__params_norm(const spcnn__params *p, spcnn__param_buf buf)
{
    return range_norm(p, buf, 0, p->total); /* total is a multiple of 16 */
}

/* Only on failure: find the first non-finite gradient for the message. */
static spcnn_status non_finite_error(const spcnn__params *p, double norm)
{
    for (size_t r = 0; r < p->nrows; r++) {
        const float *g = spcnn__params_grad(p, r);
        for (size_t j = 0; j < p->rows[r].count; j++)
            if (!isfinite(g[j]))
                return spcnn__error(SPCNN_ERR_NUMERIC,
                                    "optimiser step: gradient of \"%s\" is %s at element %zu; "
                                    "parameters left unchanged",
                                    p->rows[r].name, isnan(g[j]) ? "NaN" : "infinite", j);
    }
    /* Every element is finite, so the squares overflowed Adam's float second moment. */
    return spcnn__error(SPCNN_ERR_NUMERIC,
                        "optimiser step: gradient norm %g is too large; parameters left "
                        "unchanged",
                        norm);
}

/* The constants of one Adam step (spcnn__optim_step_rows). */
typedef struct adam_consts {
    float gscale, l2, b1, b2, c1, c2, step, inv_sqrt_bc2, eps, d, cd;
} adam_consts;

/* Adam, weight decay and the EMA on floats [lo, hi) of the buffers. Vectorised: sqrtf and the
 * division are correctly rounded in every width (math errno is off for this file), and there
 * is no FMA contraction, so each version gives the bytes of the plain loop. */
SPCNN_MULTIVERSION static void adam_update(float *const *buf, const adam_consts *k, size_t lo,
                                           size_t hi)
{
    float *restrict w = buf[SPCNN__BUF_VALUE];
    const float *restrict g = buf[SPCNN__BUF_GRAD];
    float *restrict m = buf[SPCNN__BUF_ADAM_M];
    float *restrict v = buf[SPCNN__BUF_ADAM_V];
    float *restrict e = buf[SPCNN__BUF_EMA];
    const adam_consts c = *k;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) { /* padding has g = w = 0 and stays 0 */
        float gi = c.gscale * g[i] + c.l2 * w[i];
        float mi = c.b1 * m[i] + c.c1 * gi;
        float vi = c.b2 * v[i] + c.c2 * gi * gi;
        float wi = w[i] - c.step * mi / (sqrtf(vi) * c.inv_sqrt_bc2 + c.eps);
        m[i] = mi;
        v[i] = vi;
        w[i] = wi;
        e[i] = c.d * e[i] + c.cd * wi;
    }
}

spcnn_status spcnn__optim_step(spcnn__params *p, spcnn__optim *o, spcnn__optim_stats *stats)
{
    SPCNN_CHECK_ARG(p && o && p->block, "optimiser step: NULL or unallocated parameters");
    return spcnn__optim_step_rows(p, o, 0, p->nrows, o->t, stats);
}

spcnn_status spcnn__optim_step_rows(spcnn__params *p, spcnn__optim *o, size_t row_begin,
                                    size_t row_end, uint64_t t, spcnn__optim_stats *stats)
{
    SPCNN_CHECK_ARG(p && o && p->block, "optimiser step: NULL or unallocated parameters");
    SPCNN_CHECK_ARG(row_begin < row_end && row_end <= p->nrows && t <= o->t,
                    "optimiser step: rows [%zu, %zu) of %zu, or step %llu after %llu",
                    row_begin, row_end, p->nrows, (unsigned long long)t,
                    (unsigned long long)o->t);
    SPCNN_CHECK_ARG(o->lr >= 0 && o->lr_decay > 0 && o->lr_decay <= 1 && o->beta1 >= 0 &&
                        o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0 &&
                        o->l2 >= 0 && o->ema_decay >= 0 && o->ema_decay < 1 &&
                        o->clip_norm >= 0,
                    "optimiser step: hyper-parameter out of range");

    /* (1) The guard, before anything is written. The sum of squares is accumulated in double,
     * where squares of finite floats cannot overflow, so it is finite exactly when every
     * gradient is; a norm whose square would overflow the float second moment is refused too,
     * so a finite step never leaves a non-finite value behind. */
    /* The rows' floats, their padding included: from the first row's offset to the next
     * row's (or the end of the buffer). */
    const size_t begin = p->rows[row_begin].offset;
    const size_t end = row_end < p->nrows ? p->rows[row_end].offset : p->total;
    double norm = range_norm(p, SPCNN__BUF_GRAD, begin, end);
    double scale = 1.0;
    int clipped = 0;
    if (o->clip_norm > 0 && norm > o->clip_norm) {
        scale = o->clip_norm / norm;
        clipped = 1;
    }
    if (!isfinite(norm) || norm * scale > 1e18)
        return non_finite_error(p, norm);

    /* (2)-(4) in one pass. lr_t and the bias corrections in double; the loop in float. These
     * rows started at step o->t - t; a reset of the moments after that (reset_at) restarts
     * their count, with the learning-rate warm-up (optim.h). */
    const int restarted = o->reset_at > o->t - t;
    const uint64_t k = restarted ? o->t - o->reset_at : t; /* steps the moments have seen */
    const double k1 = (double)(k + 1);
    const double warm_up = restarted ? fmin(1.0, k1 * (1.0 - o->beta2)) : 1.0;
    const double lr_t = o->lr * pow(o->lr_decay, (double)t) * warm_up;
    const double bc1 = 1.0 - pow(o->beta1, k1), bc2 = 1.0 - pow(o->beta2, k1);
    /* w -= lr_t * (m / bc1) / (sqrt(v / bc2) + eps), rearranged to one division */
    const float step = (float)(lr_t / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float eps = (float)o->eps, l2 = (float)o->l2, gscale = (float)scale;
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float c1 = (float)(1.0 - o->beta1), c2 = (float)(1.0 - o->beta2);
    /* TensorFlow's num_updates warm-up: early EMA weights follow the values closely. */
    const double ema_d = fmin(o->ema_decay, (1.0 + (double)t) / (10.0 + (double)t));
    const float d = (float)ema_d, cd = (float)(1.0 - ema_d);

    const adam_consts ac = {gscale, l2, b1, b2, c1, c2, step, inv_sqrt_bc2, eps, d, cd};
    /* Every float is updated from its own values alone, so the split over threads cannot
     * change a byte (the norm above stays one ordered sum). */
    FOR_ROW_RANGES(end - begin, end - begin, PAR_MIN,
                   adam_update(p->buf, &ac, begin + lo, begin + hi));
    o->t++;
    if (restarted && warm_up == 1.0 && 1.0 - bc1 < 1e-9 && 1.0 - bc2 < 1e-9)
        o->reset_at = 0; /* the restart is over: nothing tells it from an uninterrupted run */
    if (stats) {
        stats->grad_norm = norm;
        stats->lr = lr_t;
        stats->ema_decay = ema_d;
        stats->step = o->t;
        stats->clipped = clipped;
    }
    return SPCNN_OK;
}
