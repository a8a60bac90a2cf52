/* The latent prior: N(0, I) or a diagonal Gaussian mixture fitted by EM (prior.h). */
#include "model/prior.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/multiversion.h"
#include "model/model.h"
#include "model/plan.h"

#define LOG_2PI 1.8378770664093454836

void spcnn__prior_clear(spcnn__prior *p)
{
    spcnn__free(p->weights);
    spcnn__free(p->means);
    spcnn__free(p->variances);
    memset(p, 0, sizeof *p);
}

/* Room for k components of d dimensions; p is untouched on failure. */
static spcnn_status prior_alloc(spcnn__prior *p, size_t k, size_t d)
{
    float *w = spcnn__malloc(k * sizeof(float));
    float *m = spcnn__malloc(k * d * sizeof(float));
    float *v = spcnn__malloc(k * d * sizeof(float));
    if (w == NULL || m == NULL || v == NULL) {
        spcnn__free(w);
        spcnn__free(m);
        spcnn__free(v);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "prior: out of memory");
    }
    spcnn__prior_clear(p);
    p->k = k;
    p->d = d;
    p->weights = w;
    p->means = m;
    p->variances = v;
    return SPCNN_OK;
}

spcnn_status spcnn__prior_set(spcnn__prior *p, size_t k, size_t d, const float *weights,
                              const float *means, const float *variances, const char *what)
{
    if (k == 0) {
        spcnn__prior_clear(p);
        return SPCNN_OK;
    }
    SPCNN_CHECK_ARG(k <= SPCNN__PRIOR_MAX_COMPONENTS, "%s: %zu components (at most %d)", what, k,
                    SPCNN__PRIOR_MAX_COMPONENTS);
    SPCNN_CHECK_ARG(weights != NULL && means != NULL && variances != NULL, "%s: NULL argument",
                    what);
    double total = 0;
    for (size_t c = 0; c < k; c++) {
        SPCNN_CHECK_ARG(isfinite(weights[c]) && weights[c] > 0,
                        "%s: weight %zu is %g (must be positive and finite)", what, c,
                        (double)weights[c]);
        total += weights[c];
    }
    for (size_t i = 0; i < k * d; i++) {
        SPCNN_CHECK_ARG(isfinite(means[i]), "%s: mean %zu of component %zu is not finite", what,
                        i % d, i / d);
        SPCNN_CHECK_ARG(isfinite(variances[i]) && variances[i] > 0,
                        "%s: variance %zu of component %zu is %g (must be positive and finite)",
                        what, i % d, i / d, (double)variances[i]);
    }
    SPCNN_CHECK_ARG(isfinite(total), "%s: the weights overflow", what);
    /* A weight that normalises to 0 (or below float's normal range) is a component that can
     * never be drawn, and a file reader would refuse it. */
    for (size_t c = 0; c < k; c++)
        SPCNN_CHECK_ARG((float)(weights[c] / total) >= FLT_MIN,
                        "%s: weight %zu is %g, negligible next to their sum %g", what, c,
                        (double)weights[c], total);
    SPCNN_TRY(prior_alloc(p, k, d));
    for (size_t c = 0; c < k; c++)
        p->weights[c] = (float)(weights[c] / total);
    memcpy(p->means, means, k * d * sizeof(float));
    memcpy(p->variances, variances, k * d * sizeof(float));
    return SPCNN_OK;
}

void spcnn__prior_draw(const spcnn__prior *p, size_t d, spcnn__rng *r, float *z)
{
    if (p->k == 0) {
        for (size_t j = 0; j < d; j++)
            z[j] = spcnn__rng_normal(r);
        return;
    }
    float u = spcnn__rng_uniform(r), acc = 0;
    size_t c = 0;
    while (c + 1 < p->k && (acc += p->weights[c]) <= u)
        c++;
    const float *m = p->means + c * p->d, *v = p->variances + c * p->d;
    for (size_t j = 0; j < p->d; j++)
        z[j] = m[j] + sqrtf(v[j]) * spcnn__rng_normal(r);
}

/* ---- fitting ------------------------------------------------------------------------------ */

typedef struct em_state {
    const float *mu, *var;
    size_t n, d, k;
    double *w, *m, *v;     /* current mixture: k, k × d, k × d */
    double *mt, *ivt;      /* d × k: the means and 1 / v transposed, so that the E-step's
                            * inner loop runs over components, independent lanes */
    double *logw_norm;     /* k: log w - ½ Σ log(2π v), the constant of each component */
    double *s0, *s1, *s2;  /* sufficient statistics: k, k × d, k × d */
    double *logr;          /* k: one code's log-responsibilities, then e^(logr - max) */
    double *floor;         /* d: smallest variance allowed per dimension */
} em_state;

/* E-step and the statistics of the M-step in one pass; returns the mean expected log-density
 * and the index of the worst-explained code (a new home for an empty component). The two inner
 * loops run over independent lanes (components, then dimensions), vectorised without changing
 * any sum's order, so every ISA gives the same bytes (core/multiversion.h). */
SPCNN_MULTIVERSION static double em_pass(em_state *s, size_t *worst)
{
    const size_t n = s->n, d = s->d, k = s->k;
    memset(s->s0, 0, k * sizeof(double));
    memset(s->s1, 0, k * d * sizeof(double));
    memset(s->s2, 0, k * d * sizeof(double));
    for (size_t c = 0; c < k; c++) {
        double lv = 0;
        for (size_t j = 0; j < d; j++) {
            lv += log(s->v[c * d + j]);
            s->mt[j * k + c] = s->m[c * d + j];
            s->ivt[j * k + c] = 1.0 / s->v[c * d + j];
        }
        s->logw_norm[c] = log(s->w[c]) - 0.5 * ((double)d * LOG_2PI + lv);
    }
    double total = 0, lowest = INFINITY;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        const float *x = s->mu + i * d, *xv = s->var ? s->var + i * d : NULL;
        /* The quadratic of every component at once, dimension by dimension. */
        double *q = s->logr;
        memset(q, 0, k * sizeof(double));
        for (size_t j = 0; j < d; j++) {
            const double xj = x[j], vj = xv ? (double)xv[j] : 0.0;
            const double *mt = s->mt + j * k, *ivt = s->ivt + j * k;
#pragma omp simd
            for (size_t c = 0; c < k; c++) {
                double e = xj - mt[c];
                q[c] += (e * e + vj) * ivt[c];
            }
        }
        double best = -INFINITY;
        for (size_t c = 0; c < k; c++) {
            s->logr[c] = s->logw_norm[c] - 0.5 * q[c];
            if (s->logr[c] > best)
                best = s->logr[c];
        }
        /* e^(logr - best), kept: the responsibilities are these over their sum. */
        double sum = 0;
        for (size_t c = 0; c < k; c++)
            sum += s->logr[c] = exp(s->logr[c] - best);
        double lse = best + log(sum);
        total += lse;
        if (lse < lowest) {
            lowest = lse;
            *worst = i;
        }
        for (size_t c = 0; c < k; c++) {
            double r = s->logr[c] / sum;
            if (r < 1e-12)
                continue;
            s->s0[c] += r;
            double *s1 = s->s1 + c * d, *s2 = s->s2 + c * d;
            if (xv) { /* two loops: a conditional load inside one would keep it scalar */
#pragma omp simd
                for (size_t j = 0; j < d; j++) {
                    double xj = x[j];
                    s1[j] += r * xj;
                    s2[j] += r * (xj * xj + (double)xv[j]);
                }
            } else {
#pragma omp simd
                for (size_t j = 0; j < d; j++) {
                    double xj = x[j];
                    s1[j] += r * xj;
                    s2[j] += r * (xj * xj + 0.0);
                }
            }
        }
    }
    return total / (double)n;
}

/* M-step from the statistics; a component that lost all its codes restarts at the worst-
 * explained code. */
static void em_update(em_state *s, size_t worst)
{
    const size_t n = s->n, d = s->d, k = s->k;
    for (size_t c = 0; c < k; c++) {
        double *mc = s->m + c * d, *vc = s->v + c * d;
        if (s->s0[c] < 1e-6) {
            for (size_t j = 0; j < d; j++) {
                mc[j] = s->mu[worst * d + j];
                vc[j] = s->floor[j] * 1000.0;
            }
            s->w[c] = 1.0 / (double)n;
            continue;
        }
        s->w[c] = s->s0[c] / (double)n;
        for (size_t j = 0; j < d; j++) {
            double mean = s->s1[c * d + j] / s->s0[c];
            double v = s->s2[c * d + j] / s->s0[c] - mean * mean;
            mc[j] = mean;
            vc[j] = v > s->floor[j] ? v : s->floor[j];
        }
    }
    double total = 0;
    for (size_t c = 0; c < k; c++)
        total += s->w[c];
    for (size_t c = 0; c < k; c++)
        s->w[c] /= total;
}

/* k-means++ centres (D² sampling) as the starting means; every variance starts at the data's
 * own, every weight at 1/k. */
static void em_init(em_state *s, uint64_t seed, double *dist)
{
    const size_t n = s->n, d = s->d, k = s->k;
    spcnn__rng r = spcnn__rng_make(spcnn__key4(seed, 0x70726F72ull /* "pror" */, 0, 0));
    size_t first = (size_t)(spcnn__rng_bits(&r) % n);
    for (size_t i = 0; i < n; i++)
        dist[i] = INFINITY;
    size_t pick = first;
    for (size_t c = 0; c < k; c++) {
        for (size_t j = 0; j < d; j++)
            s->m[c * d + j] = s->mu[pick * d + j];
        double total = 0;
        for (size_t i = 0; i < n; i++) {
            double q = 0;
            for (size_t j = 0; j < d; j++) {
                double e = (double)s->mu[i * d + j] - s->m[c * d + j];
                q += e * e;
            }
            if (q < dist[i])
                dist[i] = q;
            total += dist[i];
        }
        /* The next centre: code i with probability dist[i] / total (uniform when all the codes
         * coincide with a centre). */
        double u = (double)spcnn__rng_uniform(&r) * total;
        pick = (size_t)(spcnn__rng_bits(&r) % n);
        if (total > 0) {
            for (size_t i = 0; i < n; i++) {
                u -= dist[i];
                if (u < 0 && dist[i] > 0) {
                    pick = i;
                    break;
                }
            }
        }
    }
    for (size_t j = 0; j < d; j++) {
        double mean = 0, sq = 0;
        for (size_t i = 0; i < n; i++) {
            double x = s->mu[i * d + j];
            mean += x;
            sq += x * x + (s->var ? (double)s->var[i * d + j] : 0.0);
        }
        mean /= (double)n;
        double v = sq / (double)n - mean * mean;
        /* The floor keeps a component from collapsing onto one code (an unbounded density). */
        s->floor[j] = fmax(1e-3 * v, 1e-6);
        for (size_t c = 0; c < k; c++)
            s->v[c * d + j] = fmax(v, s->floor[j]);
    }
    for (size_t c = 0; c < k; c++)
        s->w[c] = 1.0 / (double)k;
}

spcnn_status spcnn__prior_fit(const float *mu, const float *var, size_t n, size_t d, size_t k,
                              uint64_t seed, spcnn__prior *out, double *loglik,
                              spcnn_progress_fn progress, void *user, double progress_base)
{
    SPCNN_CHECK_ARG(k >= 1 && k <= SPCNN__PRIOR_MAX_COMPONENTS,
                    "fit prior: %zu components (1 to %d)", k, SPCNN__PRIOR_MAX_COMPONENTS);
    SPCNN_CHECK_ARG(n >= k, "fit prior: %zu codes for %zu components (at least one each)", n,
                    k);
    SPCNN_CHECK_ARG(d >= 1, "fit prior: no dimensions");
    em_state s = {mu, var, n, d, k, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                  NULL, NULL, NULL, NULL};
    const size_t kd = k * d;
    double *arena = spcnn__malloc((4 * k + 6 * kd + d + n) * sizeof(double));
    if (arena == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "fit prior: out of memory");
    s.w = arena;
    s.logw_norm = s.w + k;
    s.s0 = s.logw_norm + k;
    s.logr = s.s0 + k;
    s.m = s.logr + k;
    s.v = s.m + kd;
    s.s1 = s.v + kd;
    s.s2 = s.s1 + kd;
    s.mt = s.s2 + kd;
    s.ivt = s.mt + kd;
    s.floor = s.ivt + kd;
    em_init(&s, seed, s.floor + d);

    /* EM never lowers the objective; stop when an iteration gains under 1e-6 nats per code
     * (a looser 1e-4 scored worse samples on MNIST: docs/benchmarks.md, "The latent prior"). */
    double ll = -INFINITY;
    for (int it = 0; it < 1000; it++) {
        size_t worst;
        double next = em_pass(&s, &worst);
        em_update(&s, worst);
        if (!isfinite(next)) {
            spcnn__free(arena);
            return spcnn__error(SPCNN_ERR_NUMERIC, "fit prior: the log-likelihood is not "
                                                   "finite (non-finite codes?)");
        }
        int done = next - ll < 1e-6;
        ll = next;
        if (done)
            break;
        /* The share of the iteration cap done (a bound: EM usually stops far earlier), after
         * the first iteration and every twentieth: at most 50 reports. */
        double now = progress_base + (1 - progress_base) * (it + 1) / 1000.0;
        if (progress && it % 20 == 0 && progress(now, user)) {
            spcnn__free(arena);
            return spcnn__error(SPCNN_ERR_CANCELLED, "fit prior: cancelled by the progress "
                                                     "callback");
        }
    }
    spcnn_status st = prior_alloc(out, k, d);
    if (st == SPCNN_OK) {
        for (size_t c = 0; c < k; c++)
            out->weights[c] = (float)s.w[c];
        for (size_t i = 0; i < kd; i++) {
            out->means[i] = (float)s.m[i];
            out->variances[i] = (float)s.v[i];
        }
        if (loglik)
            *loglik = ll;
    }
    spcnn__free(arena);
    return st;
}

/* ---- the public API ----------------------------------------------------------------------- */

spcnn_status spcnn_model_fit_prior(spcnn_model *model, const uint8_t *images, size_t count,
                                   size_t height, size_t width, size_t components,
                                   uint64_t seed)
{
    SPCNN_CHECK_ARG(model != NULL, "fit prior: model is NULL");
    SPCNN_TRY(spcnn__check_images(model, "fit prior", images, count, height, width));
    if (!model->use_latent)
        return spcnn__error(SPCNN_ERR_UNSUPPORTED, "fit prior: the model has no latent code "
                                                   "(use_latent = 0)");
    SPCNN_CHECK_ARG(components >= 1 && components <= SPCNN__PRIOR_MAX_COMPONENTS,
                    "fit prior: %zu components (1 to %d)", components,
                    SPCNN__PRIOR_MAX_COMPONENTS);
    SPCNN_CHECK_ARG(count >= components, "fit prior: %zu images for %zu components (at least "
                    "one image per component)", count, components);
    spcnn__dnnl_enter(&model->ctx);
    const size_t d = (size_t)model->latent;
    float *mu = spcnn__malloc(2 * count * d * sizeof(float));
    if (mu == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "fit prior: out of memory for the codes "
                                                     "of %zu images", count);
    float *var = mu + count * d;
    spcnn_status st = SPCNN_OK;
    size_t reported = 0;
    for (size_t i = 0; i < count && st == SPCNN_OK; i++) {
        st = spcnn__model_encode_posterior(model, images + i * height * width, height, width,
                                           mu + i * d, var + i * d);
        for (size_t j = 0; j < d && st == SPCNN_OK; j++)
            var[i * d + j] = expf(var[i * d + j]);
        /* Encoding is most of the work: report it every 2 % (with EM's at most 50 reports,
         * about a hundred in all). */
        if (st == SPCNN_OK && model->progress && (i + 1) * 50 / count > reported) {
            reported = (i + 1) * 50 / count;
            if (model->progress(0.95 * (double)(i + 1) / (double)count, model->progress_user))
                st = spcnn__error(SPCNN_ERR_CANCELLED, "fit prior: cancelled by the progress "
                                                       "callback");
        }
    }
    if (st == SPCNN_OK) {
        spcnn__prior fitted = {0, 0, NULL, NULL, NULL};
        st = spcnn__prior_fit(mu, var, count, d, components, seed, &fitted, NULL,
                              model->progress, model->progress_user, 0.95);
        /* The last report may still cancel: before the model's prior is replaced. */
        if (st == SPCNN_OK && model->progress && model->progress(1.0, model->progress_user))
            st = spcnn__error(SPCNN_ERR_CANCELLED, "fit prior: cancelled by the progress "
                                                   "callback");
        if (st == SPCNN_OK) {
            spcnn__prior_clear(&model->prior);
            model->prior = fitted;
        } else {
            spcnn__prior_clear(&fitted);
        }
    }
    spcnn__free(mu);
    return st;
}

spcnn_status spcnn_model_set_prior(spcnn_model *model, size_t components, const float *weights,
                                   const float *means, const float *variances)
{
    SPCNN_CHECK_ARG(model != NULL, "set prior: model is NULL");
    if (components > 0 && !model->use_latent)
        return spcnn__error(SPCNN_ERR_UNSUPPORTED, "set prior: the model has no latent code "
                                                   "(use_latent = 0)");
    return spcnn__prior_set(&model->prior, components, (size_t)model->latent, weights, means,
                            variances, "set prior");
}

spcnn_status spcnn_model_get_prior(const spcnn_model *model, size_t *components, float *weights,
                                   float *means, float *variances, size_t capacity)
{
    SPCNN_CHECK_ARG(model != NULL && components != NULL, "get prior: NULL argument");
    const spcnn__prior *p = &model->prior;
    *components = p->k;
    if (weights == NULL && means == NULL && variances == NULL)
        return SPCNN_OK;
    SPCNN_CHECK_ARG(weights != NULL && means != NULL && variances != NULL,
                    "get prior: weights, means and variances must all be given, or all NULL");
    if (capacity < p->k * p->d)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "get prior: %zu floats of room, the prior's means need %zu (%zu "
                            "components of %zu)",
                            capacity, p->k * p->d, p->k, p->d);
    if (p->k > 0) {
        memcpy(weights, p->weights, p->k * sizeof(float));
        memcpy(means, p->means, p->k * p->d * sizeof(float));
        memcpy(variances, p->variances, p->k * p->d * sizeof(float));
    }
    return SPCNN_OK;
}

spcnn_status spcnn__model_draw_latents(const spcnn_model *m, int standard, size_t first,
                                       size_t n, uint64_t seed, float *z)
{
    static const spcnn__prior normal = {0, 0, NULL, NULL, NULL};
    const spcnn__prior *p = standard ? &normal : &m->prior;
    const size_t d = (size_t)m->latent;
    for (size_t i = 0; i < n; i++) {
        spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, first + i, UINT64_MAX, UINT64_MAX));
        spcnn__prior_draw(p, d, &rng, z + i * d);
    }
    return SPCNN_OK;
}

spcnn_status spcnn_model_draw_latents(const spcnn_model *model, spcnn_prior_choice prior,
                                      size_t n, uint64_t seed, float *z, size_t capacity)
{
    SPCNN_CHECK_ARG(model != NULL && z != NULL, "draw latents: NULL argument");
    SPCNN_CHECK_ARG(prior == SPCNN_PRIOR_MODEL || prior == SPCNN_PRIOR_STANDARD,
                    "draw latents: prior %d is not a spcnn_prior_choice", (int)prior);
    if (!model->use_latent)
        return spcnn__error(SPCNN_ERR_UNSUPPORTED, "draw latents: the model has no latent code "
                                                   "(use_latent = 0)");
    SPCNN_CHECK_ARG(n >= 1 && n <= 1000000, "draw latents: n = %zu is out of range [1, 1000000]",
                    n);
    if (capacity / (size_t)model->latent < n)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "draw latents: z holds %zu floats, %zu codes of %d need %zu",
                            capacity, n, model->latent, n * (size_t)model->latent);
    return spcnn__model_draw_latents(model, prior == SPCNN_PRIOR_STANDARD, 0, n, seed, z);
}
