/* Proofs of the double-precision references of the classifier (tests/ref/ref_classifier.c):
 * every backward against central differences of its forward with a random-projection loss —
 * max pooling (plain and overlapping windows, odd sizes), ReLU, softmax cross-entropy, and the
 * whole LeNet-5 with respect to every parameter and every input value. Inputs are drawn so that
 * no window holds two maxima closer than the step and no ReLU input sits at its kink. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ref_classifier.h"
#include "testutil.h"

#define LIMIT 1e-7
#define H 1e-6

typedef struct ctx {
    int n, h, w, c, kh, kw, sh, sw;
    size_t k;
    const uint8_t *labels;
    ref_lenet_shape net;
    const double *params, *x;
    int wrt_x; /* lenet: 1 differentiates with respect to x, 0 to the parameters */
} ctx;

static double *xalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Values far apart (a shuffled grid with jitter), so max pooling has no near ties. */
static void fill_distinct(tu_rng *r, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = -1 + 2 * ((double)i + tu_uniform(r, 0.25, 0.75)) / (double)n;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(tu_next(r) % (i + 1));
        double t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static void f_pool(void *v, const double *x, double *y)
{
    const ctx *c = v;
    ref_maxpool_forward(c->n, c->h, c->w, c->c, c->kh, c->kw, c->sh, c->sw, x, y);
}

static double check_pool(int n, int h, int w, int ch, int kh, int kw, int sh, int sw,
                         uint64_t seed)
{
    ctx c = {.n = n, .h = h, .w = w, .c = ch, .kh = kh, .kw = kw, .sh = sh, .sw = sw};
    int oh, ow;
    ref_maxpool_out_size(h, w, kh, kw, sh, sw, &oh, &ow);
    size_t nx = (size_t)n * h * w * ch, ny = (size_t)n * oh * ow * ch;
    tu_rng r = {seed};
    double *x = xalloc(nx), *p = xalloc(ny), *dx = xalloc(nx);
    fill_distinct(&r, x, nx);
    tu_fill_d(&r, p, ny, -1, 1);
    ref_maxpool_backward(n, h, w, ch, kh, kw, sh, sw, x, p, dx);
    double e = tu_gradcheck(&c, f_pool, x, nx, ny, p, dx, H, 0);
    char name[96];
    snprintf(name, sizeof name, "ref maxpool %dx%d s%d,%d on n%d %dx%d c%d", kh, kw, sh, sw, n,
             h, w, ch);
    tu_report(name, e, LIMIT);
    free(x), free(p), free(dx);
    return e;
}

START_TEST(test_grad_maxpool)
{
    double e = check_pool(2, 6, 8, 3, 2, 2, 2, 2, 1);
    e = fmax(e, check_pool(2, 7, 9, 3, 2, 2, 2, 2, 2));  /* a row and a column dropped */
    e = fmax(e, check_pool(1, 7, 8, 2, 3, 3, 2, 2, 3));  /* overlapping windows */
    e = fmax(e, check_pool(1, 5, 6, 2, 3, 2, 1, 2, 4));
    ck_assert(e < LIMIT);
    /* The forward is a maximum; ties go to the first element of the window. */
    double x[8] = {1, 3, 3, 2, /* row 2 */ 0, 3, -1, 3}, y[2], dy[2] = {1, 10}, dx[8];
    ref_maxpool_forward(1, 2, 4, 1, 2, 2, 2, 2, x, y);
    ck_assert(y[0] == 3 && y[1] == 3);
    ref_maxpool_backward(1, 2, 4, 1, 2, 2, 2, 2, x, dy, dx);
    ck_assert(dx[1] == 1 && dx[5] == 0 && dx[2] == 10 && dx[7] == 0);
}
END_TEST

static void f_relu(void *v, const double *x, double *y)
{
    ref_relu_forward(x, y, (size_t)((const ctx *)v)->n);
}

START_TEST(test_grad_relu)
{
    enum { N = 40 };
    double x[N], p[N], dx[N];
    tu_rng r = {5};
    for (int i = 0; i < N; i++)
        x[i] = (i % 2 ? 1 : -1) * tu_uniform(&r, 0.01, 2);
    tu_fill_d(&r, p, N, -1, 1);
    ref_relu_backward(x, p, dx, N);
    ctx c = {.n = N};
    double e = tu_gradcheck(&c, f_relu, x, N, N, p, dx, H, 0);
    tu_report("ref relu backward", e, LIMIT);
    ck_assert(e < LIMIT);
}
END_TEST

static void f_xent(void *v, const double *x, double *y)
{
    const ctx *c = v;
    ref_softmax_xent_forward(x, c->labels, NULL, y, (size_t)c->n, c->k);
}

START_TEST(test_grad_softmax_xent)
{
    enum { N = 6, K = 7 };
    tu_rng r = {6};
    double logits[N * K], p[N], dx[N * K], probs[N * K], loss[N];
    uint8_t labels[N];
    tu_fill_d(&r, logits, N * K, -4, 4);
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)(tu_next(&r) % K);
    tu_fill_d(&r, p, N, -1, 1);
    ref_softmax_xent_backward(logits, labels, p, dx, N, K);
    ctx c = {.n = N, .k = K, .labels = labels};
    double e = tu_gradcheck(&c, f_xent, logits, N * K, N, p, dx, H, 0);
    tu_report("ref softmax cross-entropy backward", e, LIMIT);
    ck_assert(e < LIMIT);
    /* Probabilities sum to one; the loss is -log p[label], also for huge logits. */
    logits[0] = 800;
    ref_softmax_xent_forward(logits, labels, probs, loss, N, K);
    for (int i = 0; i < N; i++) {
        double sum = 0;
        for (int j = 0; j < K; j++)
            sum += probs[i * K + j];
        ck_assert(fabs(sum - 1) < 1e-12);
        ck_assert(isfinite(loss[i]) && loss[i] >= 0);
        if (i > 0)
            ck_assert(fabs(loss[i] + log(probs[i * K + labels[i]])) < 1e-12);
    }
}
END_TEST

static void f_lenet(void *v, const double *x, double *y)
{
    const ctx *c = v;
    ref_lenet_forward(&c->net, c->wrt_x ? c->params : x, c->wrt_x ? x : c->x, c->labels, NULL,
                      y);
}

/* The whole network at small sizes: 12×17 images (a 1×2 map after the second pooling, which
 * drops nothing) and 15×13 (odd maps: the poolings drop a row or a column). */
static double check_lenet(ref_lenet_shape s, uint64_t seed)
{
    tu_rng r = {seed};
    size_t np = ref_lenet_params(&s, NULL), nx = (size_t)s.n * s.h * s.w;
    double *params = xalloc(np), *x = xalloc(nx), *p = xalloc((size_t)s.n);
    double *dparams = xalloc(np), *dx = xalloc(nx);
    uint8_t labels[8];
    ck_assert_int_le(s.n, 8);
    for (size_t i = 0; i < np; i++)
        params[i] = 0.6 * tu_normal(&r);
    tu_fill_d(&r, x, nx, 0, 1);
    for (int i = 0; i < s.n; i++)
        labels[i] = (uint8_t)(tu_next(&r) % (uint64_t)s.classes);
    tu_fill_d(&r, p, (size_t)s.n, -1, 1);
    ref_lenet_backward(&s, params, x, labels, p, dparams, dx);
    ctx c = {.net = s, .params = params, .x = x, .labels = labels};
    double ep = tu_gradcheck(&c, f_lenet, params, np, (size_t)s.n, p, dparams, H, 0);
    c.wrt_x = 1;
    double ex = tu_gradcheck(&c, f_lenet, x, nx, (size_t)s.n, p, dx, H, 0);
    char name[128];
    snprintf(name, sizeof name, "ref lenet n%d %dx%d %d/%d/%d/%d k%d: %zu params, %zu inputs",
             s.n, s.h, s.w, s.c1, s.c2, s.f1, s.f2, s.classes, np, nx);
    tu_report(name, fmax(ep, ex), LIMIT);
    /* The gradient is not trivially zero: a dead network would pass the check vacuously. */
    double norm = 0;
    for (size_t i = 0; i < np; i++)
        norm += dparams[i] * dparams[i];
    ck_assert(norm > 1e-6);
    free(params), free(x), free(p), free(dparams), free(dx);
    return fmax(ep, ex);
}

START_TEST(test_grad_lenet)
{
    ref_lenet_shape a = {3, 12, 17, 4, 3, 4, 5, 6};
    ref_lenet_shape b = {2, 15, 13, 3, 2, 3, 4, 3};
    double e = fmax(check_lenet(a, 7), check_lenet(b, 8));
    ck_assert(e < LIMIT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ref_classifier");
    TCase *tc = tcase_create("ref_classifier");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_grad_maxpool);
    tcase_add_test(tc, test_grad_relu);
    tcase_add_test(tc, test_grad_softmax_xent);
    tcase_add_test(tc, test_grad_lenet);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
