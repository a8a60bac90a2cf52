/* Double-precision references of the classifier (see ref_classifier.h): as plain as possible. */
#include "ref_classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_conv.h"

static size_t at(int n, int h, int w, int c, int H, int W, int C)
{
    return (((size_t)n * H + h) * W + w) * C + c;
}

void ref_maxpool_out_size(int h, int w, int kh, int kw, int sh, int sw, int *oh, int *ow)
{
    *oh = (h - kh) / sh + 1;
    *ow = (w - kw) / sw + 1;
}

/* Index (into x) of the first maximum of one window. */
static size_t window_max(int q, int oy, int ox, int ch, int h, int w, int c, int kh, int kw,
                         int sh, int sw, const double *x)
{
    size_t best = at(q, oy * sh, ox * sw, ch, h, w, c);
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++) {
            size_t k = at(q, oy * sh + i, ox * sw + j, ch, h, w, c);
            if (x[k] > x[best])
                best = k;
        }
    return best;
}

void ref_maxpool_forward(int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                         const double *x, double *y)
{
    int oh, ow;
    ref_maxpool_out_size(h, w, kh, kw, sh, sw, &oh, &ow);
    for (int q = 0; q < n; q++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ch = 0; ch < c; ch++)
                    y[at(q, oy, ox, ch, oh, ow, c)] =
                        x[window_max(q, oy, ox, ch, h, w, c, kh, kw, sh, sw, x)];
}

void ref_maxpool_backward(int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                          const double *x, const double *dy, double *dx)
{
    int oh, ow;
    ref_maxpool_out_size(h, w, kh, kw, sh, sw, &oh, &ow);
    memset(dx, 0, (size_t)n * h * w * c * sizeof *dx);
    for (int q = 0; q < n; q++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ch = 0; ch < c; ch++)
                    dx[window_max(q, oy, ox, ch, h, w, c, kh, kw, sh, sw, x)] +=
                        dy[at(q, oy, ox, ch, oh, ow, c)];
}

void ref_relu_forward(const double *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0.0;
}

void ref_relu_backward(const double *x, const double *dy, double *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : 0.0;
}

void ref_softmax_xent_forward(const double *logits, const uint8_t *labels, double *probs,
                              double *loss, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        const double *l = logits + i * k;
        double max = l[0], sum = 0;
        for (size_t j = 1; j < k; j++)
            max = fmax(max, l[j]);
        for (size_t j = 0; j < k; j++)
            sum += exp(l[j] - max);
        for (size_t j = 0; j < k && probs; j++)
            probs[i * k + j] = exp(l[j] - max) / sum;
        if (loss)
            loss[i] = log(sum) + max - l[labels[i]];
    }
}

void ref_softmax_xent_backward(const double *logits, const uint8_t *labels, const double *dloss,
                               double *dlogits, size_t n, size_t k)
{
    ref_softmax_xent_forward(logits, labels, dlogits, NULL, n, k);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++)
            dlogits[i * k + j] = dloss[i] * (dlogits[i * k + j] - (j == labels[i] ? 1.0 : 0.0));
}

/* ---- the whole network -------------------------------------------------------------------- */

enum { K = 5, POOL = 2 };

typedef struct sizes {
    int h1, w1, oh2, ow2, h2, w2, flat;
} sizes;

static sizes sizes_of(const ref_lenet_shape *s)
{
    sizes z;
    ref_maxpool_out_size(s->h, s->w, POOL, POOL, POOL, POOL, &z.h1, &z.w1);
    z.oh2 = z.h1 - K + 1;
    z.ow2 = z.w1 - K + 1;
    ref_maxpool_out_size(z.oh2, z.ow2, POOL, POOL, POOL, POOL, &z.h2, &z.w2);
    z.flat = z.h2 * z.w2 * s->c2;
    return z;
}

size_t ref_lenet_params(const ref_lenet_shape *s, size_t counts[10])
{
    sizes z = sizes_of(s);
    size_t c[10] = {(size_t)s->c1 * K * K,       (size_t)s->c1,
                    (size_t)s->c2 * s->c1 * K * K, (size_t)s->c2,
                    (size_t)s->f1 * z.flat,        (size_t)s->f1,
                    (size_t)s->f2 * s->f1,         (size_t)s->f2,
                    (size_t)s->classes * s->f2,    (size_t)s->classes};
    size_t total = 0;
    for (int i = 0; i < 10; i++) {
        if (counts)
            counts[i] = c[i];
        total += c[i];
    }
    return total;
}

/* Where each of the ten rows starts in a parameter vector. */
static void offsets_of(const ref_lenet_shape *s, size_t off[10])
{
    size_t counts[10], at = 0;
    ref_lenet_params(s, counts);
    for (int i = 0; i < 10; i++) {
        off[i] = at;
        at += counts[i];
    }
}

/* Every intermediate tensor of one forward pass. */
typedef struct acts {
    double *c1, *a1, *p1, *c2, *a2, *p2, *z1, *h1, *z2, *h2, *logits;
} acts;

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        abort(); /* tests only */
    return p;
}

static void forward(const ref_lenet_shape *s, const double *params, const double *x, acts *t)
{
    sizes z = sizes_of(s);
    size_t off[10];
    offsets_of(s, off);
    const double *r[10];
    for (int i = 0; i < 10; i++)
        r[i] = params + off[i];
    const size_t n = (size_t)s->n;
    const size_t na1 = n * s->h * s->w * s->c1, np1 = n * z.h1 * z.w1 * s->c1;
    const size_t na2 = n * z.oh2 * z.ow2 * s->c2, np2 = n * z.flat;
    t->c1 = dalloc(na1), t->a1 = dalloc(na1), t->p1 = dalloc(np1);
    t->c2 = dalloc(na2), t->a2 = dalloc(na2), t->p2 = dalloc(np2);
    t->z1 = dalloc(n * s->f1), t->h1 = dalloc(n * s->f1);
    t->z2 = dalloc(n * s->f2), t->h2 = dalloc(n * s->f2);
    t->logits = dalloc(n * s->classes);
    ref_conv_shape cs1 = {s->n, s->h, s->w, 1, s->c1, K, K, 1, 1, 2, 2, 2, 2};
    ref_conv_forward(&cs1, x, r[0], r[1], t->c1);
    ref_relu_forward(t->c1, t->a1, na1);
    ref_maxpool_forward(s->n, s->h, s->w, s->c1, POOL, POOL, POOL, POOL, t->a1, t->p1);
    ref_conv_shape cs2 = {s->n, z.h1, z.w1, s->c1, s->c2, K, K, 1, 1, 0, 0, 0, 0};
    ref_conv_forward(&cs2, t->p1, r[2], r[3], t->c2);
    ref_relu_forward(t->c2, t->a2, na2);
    ref_maxpool_forward(s->n, z.oh2, z.ow2, s->c2, POOL, POOL, POOL, POOL, t->a2, t->p2);
    ref_linear_forward(s->n, z.flat, s->f1, t->p2, r[4], r[5], t->z1);
    ref_relu_forward(t->z1, t->h1, n * s->f1);
    ref_linear_forward(s->n, s->f1, s->f2, t->h1, r[6], r[7], t->z2);
    ref_relu_forward(t->z2, t->h2, n * s->f2);
    ref_linear_forward(s->n, s->f2, s->classes, t->h2, r[8], r[9], t->logits);
}

static void free_acts(acts *t)
{
    double *all[] = {t->c1, t->a1, t->p1, t->c2, t->a2, t->p2,
                     t->z1, t->h1, t->z2, t->h2, t->logits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

void ref_lenet_forward(const ref_lenet_shape *s, const double *params, const double *x,
                       const uint8_t *labels, double *logits, double *loss)
{
    acts t;
    forward(s, params, x, &t);
    if (logits)
        memcpy(logits, t.logits, (size_t)s->n * s->classes * sizeof *logits);
    if (labels && loss)
        ref_softmax_xent_forward(t.logits, labels, NULL, loss, (size_t)s->n,
                                 (size_t)s->classes);
    free_acts(&t);
}

void ref_lenet_backward(const ref_lenet_shape *s, const double *params, const double *x,
                        const uint8_t *labels, const double *dloss, double *dparams,
                        double *dx)
{
    sizes z = sizes_of(s);
    acts t;
    forward(s, params, x, &t);
    size_t off[10];
    offsets_of(s, off);
    const double *r[10];
    double *d[10];
    for (int i = 0; i < 10; i++) {
        r[i] = params + off[i];
        d[i] = dparams + off[i];
    }
    const size_t n = (size_t)s->n;
    const size_t na1 = n * s->h * s->w * s->c1, np1 = n * z.h1 * z.w1 * s->c1;
    const size_t na2 = n * z.oh2 * z.ow2 * s->c2, np2 = n * z.flat;
    double *dlogits = dalloc(n * s->classes), *dh2 = dalloc(n * s->f2);
    double *dh1 = dalloc(n * s->f1), *dp2 = dalloc(np2), *da2 = dalloc(na2);
    double *dp1 = dalloc(np1), *da1 = dalloc(na1);
    ref_softmax_xent_backward(t.logits, labels, dloss, dlogits, n, (size_t)s->classes);
    ref_linear_backward(s->n, s->f2, s->classes, t.h2, r[8], dlogits, dh2, d[8], d[9]);
    ref_relu_backward(t.z2, dh2, dh2, n * s->f2);
    ref_linear_backward(s->n, s->f1, s->f2, t.h1, r[6], dh2, dh1, d[6], d[7]);
    ref_relu_backward(t.z1, dh1, dh1, n * s->f1);
    ref_linear_backward(s->n, z.flat, s->f1, t.p2, r[4], dh1, dp2, d[4], d[5]);
    ref_maxpool_backward(s->n, z.oh2, z.ow2, s->c2, POOL, POOL, POOL, POOL, t.a2, dp2, da2);
    ref_relu_backward(t.c2, da2, da2, na2);
    ref_conv_shape cs2 = {s->n, z.h1, z.w1, s->c1, s->c2, K, K, 1, 1, 0, 0, 0, 0};
    ref_conv_backward(&cs2, t.p1, r[2], da2, dp1, d[2], d[3]);
    ref_maxpool_backward(s->n, s->h, s->w, s->c1, POOL, POOL, POOL, POOL, t.a1, dp1, da1);
    ref_relu_backward(t.c1, da1, da1, na1);
    ref_conv_shape cs1 = {s->n, s->h, s->w, 1, s->c1, K, K, 1, 1, 2, 2, 2, 2};
    ref_conv_backward(&cs1, x, r[0], da1, dx, d[0], d[1]);
    free(dlogits), free(dh2), free(dh1), free(dp2), free(da2), free(dp1), free(da1);
    free_acts(&t);
}
