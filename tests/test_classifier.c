/* The classifier (lib/classifier, lib/nn/pool.c, lib/nn/softmax.c): the oneDNN max pooling,
 * ReLU and softmax cross-entropy against the double-precision references by normalised MSE;
 * the whole network's loss and gradient against the reference LeNet-5 (itself proven by central
 * differences in test_ref_classifier.c) and against central differences of the float network;
 * training on a synthetic task; prediction in batches; the file format (round trip, truncation
 * at every length, every byte damaged, bad magic/version/flags/shape/table/values/checksum);
 * misuse of every public function; allocation failure at every site. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "classifier/classifier.h"
#include "core/alloc.h"
#include "nn/elementwise.h"
#include "nn/pool.h"
#include "nn/softmax.h"
#include "ref_classifier.h"
#include "testutil.h"

/* float32 inputs are exact in double, so differences come from float arithmetic: about 1e-14
 * in normalised MSE for a layer and 1e-12 through the whole network; one wrong index gives
 * about 1. */
#define NMSE_LIMIT 1e-10
#define NET_NMSE_LIMIT 1e-8

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double worst_of(double a, double b)
{
    return !(a <= b) ? a : b; /* NaN-propagating max */
}

static void ctx_init(spcnn__dnnl *ctx)
{
    ck_assert_int_eq(spcnn__dnnl_init(ctx, 1), SPCNN_OK);
    ctx->forbid_reference_impl = 1;
}

static void assert_message_has(const char *needle)
{
    const char *msg = spcnn_last_error_message();
    ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
}

/* ---- layers against the references ------------------------------------------------------ */

static double check_pool(spcnn__dnnl *ctx, spcnn__pool_shape s, uint64_t seed)
{
    spcnn__pool l;
    spcnn_status st = spcnn__pool_init(&l, ctx, &s);
    ck_assert_msg(st == SPCNN_OK, "pool init: %s", spcnn_last_error_message());
    size_t nx = (size_t)s.n * s.h * s.w * s.c, ny = (size_t)s.n * l.oh * l.ow * s.c;
    tu_rng rng = {seed};
    float *x = xmalloc(nx * 4), *y = xmalloc(ny * 4), *dy = xmalloc(ny * 4), *dx = xmalloc(nx * 4);
    double *xd = xmalloc(nx * 8), *dyd = xmalloc(ny * 8), *yr = xmalloc(ny * 8);
    double *dxr = xmalloc(nx * 8);
    tu_fill_pair(&rng, x, xd, nx, -1, 1);
    tu_fill_pair(&rng, dy, dyd, ny, -1, 1);
    int oh, ow;
    ref_maxpool_out_size(s.h, s.w, s.kh, s.kw, s.stride_h, s.stride_w, &oh, &ow);
    ck_assert_int_eq(oh, l.oh);
    ck_assert_int_eq(ow, l.ow);
    ref_maxpool_forward(s.n, s.h, s.w, s.c, s.kh, s.kw, s.stride_h, s.stride_w, xd, yr);
    ref_maxpool_backward(s.n, s.h, s.w, s.c, s.kh, s.kw, s.stride_h, s.stride_w, xd, dyd, dxr);
    ck_assert_int_eq(spcnn__pool_forward(&l, ctx, x, y), SPCNN_OK);
    for (size_t i = 0; i < nx; i++)
        dx[i] = NAN; /* every element is overwritten, the zeros too */
    ck_assert_int_eq(spcnn__pool_backward(&l, ctx, dy, dx), SPCNN_OK);
    double e = tu_nmse(y, yr, ny), ex = tu_nmse(dx, dxr, nx);
    char line[160];
    snprintf(line, sizeof line, "maxpool %dx%d s%d n%d %dx%d c%d: y %.1e dx %.1e", s.kh, s.kw,
             s.stride_h, s.n, s.h, s.w, s.c, e, ex);
    tu_report(line, worst_of(e, ex), NMSE_LIMIT);
    spcnn__pool_deinit(&l);
    free(x), free(y), free(dy), free(dx), free(xd), free(dyd), free(yr), free(dxr);
    return worst_of(e, ex);
}

START_TEST(test_pool)
{
    spcnn__dnnl ctx;
    ctx_init(&ctx);
    spcnn__pool_shape cases[] = {
        {3, 7, 9, 5, 2, 2, 2, 2, 1},    /* odd sizes: the last row and column are dropped */
        {2, 8, 6, 3, 3, 3, 2, 2, 1},    /* overlapping windows */
        {4, 28, 28, 20, 2, 2, 2, 2, 1}, /* the classifier's shapes */
        {4, 10, 10, 50, 2, 2, 2, 2, 1},
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        worst = worst_of(worst, check_pool(&ctx, cases[i], 100 + i));
    /* Misuse: a window larger than the input; a forward-only layer refuses backward. */
    spcnn__pool l;
    spcnn__pool_shape bad = {1, 1, 4, 2, 2, 2, 2, 2, 1};
    ck_assert_int_eq(spcnn__pool_init(&l, &ctx, &bad), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("smaller than");
    spcnn__pool_deinit(&l);
    spcnn__pool_shape fwd = {1, 4, 4, 2, 2, 2, 2, 2, 0};
    ck_assert_int_eq(spcnn__pool_init(&l, &ctx, &fwd), SPCNN_OK);
    float x[32] = {0}, y[8];
    ck_assert_int_eq(spcnn__pool_forward(&l, &ctx, x, y), SPCNN_OK);
    ck_assert_int_eq(spcnn__pool_backward(&l, &ctx, y, x), SPCNN_ERR_INTERNAL);
    spcnn__pool_deinit(&l);
    spcnn__dnnl_deinit(&ctx);
    tu_report("max pooling layers", worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
}
END_TEST

START_TEST(test_relu_softmax)
{
    enum { N = 37, K = 10, P = 1000 };
    tu_rng rng = {200};
    /* ReLU: exact. */
    float x[P], y[P], dy[P], dx[P];
    double xd[P], yr[P], dyd[P], dxr[P];
    tu_fill_pair(&rng, x, xd, P, -1, 1);
    tu_fill_pair(&rng, dy, dyd, P, -1, 1);
    spcnn__relu_forward(x, y, P);
    spcnn__relu_backward(y, dy, dx, P);
    ref_relu_forward(xd, yr, P);
    ref_relu_backward(xd, dyd, dxr, P);
    double e = worst_of(tu_nmse(y, yr, P), tu_nmse(dx, dxr, P));
    tu_report("relu forward and backward (exact)", e, 0);
    ck_assert(e == 0);

    /* Softmax cross-entropy, with rows of large logits (no overflow, no 0 - 0). */
    float logits[N * K], probs[N * K], loss[N], dloss[N], dlogits[N * K];
    double ld[N * K], pr[N * K], lr[N], dlr[N * K], dld[N];
    uint8_t labels[N];
    tu_fill_pair(&rng, logits, ld, N * K, -6, 6);
    for (int j = 0; j < K; j++) {
        logits[j] = ld[j] = 500.0f + (float)j; /* row 0: huge and confident */
        logits[K + j] = ld[K + j] = -300.0f;   /* row 1: all equal */
    }
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)(tu_next(&rng) % K);
    labels[0] = K - 1;
    tu_fill_pair(&rng, dloss, dld, N, -1, 1);
    spcnn__softmax_xent_forward(logits, labels, probs, loss, N, K);
    spcnn__softmax_xent_backward(probs, labels, dloss, dlogits, N, K);
    ref_softmax_xent_forward(ld, labels, pr, lr, N, K);
    ref_softmax_xent_backward(ld, labels, dld, dlr, N, K);
    double ep = tu_nmse(probs, pr, N * K), el = tu_nmse(loss, lr, N);
    double eg = tu_nmse(dlogits, dlr, N * K);
    char line[128];
    snprintf(line, sizeof line, "softmax xent n%d k%d: probs %.1e loss %.1e dlogits %.1e", N, K,
             ep, el, eg);
    double worst = worst_of(worst_of(ep, el), eg);
    tu_report(line, worst, NMSE_LIMIT);
    ck_assert(worst < NMSE_LIMIT);
    ck_assert(loss[0] > 0 && loss[0] < 0.46f); /* -log(1/(1+e^-1+...)) = 0.4587 */
    ck_assert(fabsf(loss[1] - logf((float)K)) < 1e-6f);
    /* The probabilities alone (prediction), in place. */
    float again[N * K];
    memcpy(again, logits, sizeof again);
    spcnn__softmax_forward(again, again, N, K);
    ck_assert(memcmp(again, probs, sizeof again) == 0);
}
END_TEST

/* ---- the whole network ------------------------------------------------------------------- */

/* A classifier of the given shape with its raw weights copied into a reference vector. */
static spcnn_classifier *small_classifier(const spcnn__lenet_shape *s, uint64_t seed,
                                          double **ref_params, size_t *np)
{
    spcnn_classifier *c = NULL;
    spcnn_status st = spcnn__classifier_new(s, seed, &c);
    ck_assert_msg(st == SPCNN_OK, "%s", spcnn_last_error_message());
    ref_lenet_shape rs = {s->n, s->h, s->w, s->classes, s->c1, s->c2, s->f1, s->f2};
    size_t counts[10];
    *np = ref_lenet_params(&rs, counts);
    ck_assert_uint_eq(*np, c->params.nvalues);
    *ref_params = xmalloc(*np * sizeof **ref_params);
    size_t at = 0;
    for (size_t r = 0; r < c->params.nrows; r++) {
        ck_assert_uint_eq(counts[r], c->params.rows[r].count);
        /* Biases start at zero: give them values, so that their use is checked too. */
        float *v = spcnn__params_value(&c->params, r);
        tu_rng rng = {seed * 31 + r};
        if (c->params.rows[r].kind == SPCNN__PARAM_BIAS)
            tu_fill_f(&rng, v, counts[r], -0.2, 0.3);
        tu_f2d(v, *ref_params + at, counts[r]);
        at += counts[r];
    }
    return c;
}

typedef struct net_case {
    spcnn__lenet_shape s;
    spcnn_classifier *c;
    spcnn__lenet *net;
    spcnn__dnnl ctx;
    const uint8_t *labels;
    float *dloss;
} net_case;

/* Library loss per image for the current raw weights and net->x. */
static void library_loss(net_case *k, float *loss)
{
    spcnn__lenet *net = k->net;
    spcnn_status st = spcnn__lenet_forward(net, &k->ctx, &k->c->params, 0,
                                           k->c->params.buf[SPCNN__BUF_VALUE]);
    ck_assert_msg(st == SPCNN_OK, "%s", spcnn_last_error_message());
    spcnn__softmax_xent_forward(net->logits, k->labels, net->probs, loss, (size_t)k->s.n,
                                (size_t)k->s.classes);
}

/* Library against reference; with `fd`, also central differences of the library itself (at
 * small sizes only: a larger network has a kink within any useful step). */
static double check_network(spcnn__lenet_shape s, uint64_t seed, int fd)
{
    net_case k = {.s = s};
    ctx_init(&k.ctx);
    double *params;
    size_t np;
    k.c = small_classifier(&s, seed, &params, &np);
    spcnn_status st = spcnn__lenet_create(&k.ctx, &s, &k.net);
    ck_assert_msg(st == SPCNN_OK, "%s", spcnn_last_error_message());
    const size_t n = (size_t)s.n, nx = n * s.h * s.w, nk = n * s.classes;
    tu_rng rng = {seed + 1};
    double *xd = xmalloc(nx * 8), *p = xmalloc(n * 8), *lr = xmalloc(n * 8);
    double *logits_r = xmalloc(nk * 8), *dparams = xmalloc(np * 8), *dxr = xmalloc(nx * 8);
    float *dloss = xmalloc(n * 4), *loss = xmalloc(n * 4), *dx = xmalloc(nx * 4);
    float *grad = xmalloc(np * 4);
    uint8_t *labels = xmalloc(n);
    tu_fill_pair(&rng, k.net->x, xd, nx, 0, 1);
    tu_fill_pair(&rng, dloss, p, n, -1, 1);
    for (size_t i = 0; i < n; i++)
        labels[i] = (uint8_t)(tu_next(&rng) % (uint64_t)s.classes);
    k.labels = labels;
    ref_lenet_shape rs = {s.n, s.h, s.w, s.classes, s.c1, s.c2, s.f1, s.f2};
    ref_lenet_forward(&rs, params, xd, labels, logits_r, lr);
    ref_lenet_backward(&rs, params, xd, labels, p, dparams, dxr);

    library_loss(&k, loss);
    double el = tu_nmse(loss, lr, n), eo = tu_nmse(k.net->logits, logits_r, nk);
    spcnn__softmax_xent_backward(k.net->probs, labels, dloss, k.net->dlogits, n,
                                 (size_t)s.classes);
    for (size_t i = 0; i < k.c->params.total; i++)
        k.c->params.buf[SPCNN__BUF_GRAD][i] = NAN; /* every row is overwritten */
    st = spcnn__lenet_backward(k.net, &k.ctx, &k.c->params, 0,
                               k.c->params.buf[SPCNN__BUF_VALUE], dx);
    ck_assert_msg(st == SPCNN_OK, "%s", spcnn_last_error_message());
    double eg = 0;
    size_t at = 0;
    for (size_t r = 0; r < k.c->params.nrows; r++) {
        size_t count = k.c->params.rows[r].count;
        memcpy(grad + at, spcnn__params_grad(&k.c->params, r), count * 4);
        eg = worst_of(eg, tu_nmse(grad + at, dparams + at, count));
        at += count;
    }
    double ex = tu_nmse(dx, dxr, nx);
    char line[192];
    snprintf(line, sizeof line,
             "lenet n%d %dx%d %d/%d/%d/%d k%d: logits %.1e loss %.1e grad(worst row) %.1e "
             "dx %.1e",
             s.n, s.h, s.w, s.c1, s.c2, s.f1, s.f2, s.classes, eo, el, eg, ex);
    double worst = worst_of(worst_of(el, eo), worst_of(eg, ex));
    tu_report(line, worst, NET_NMSE_LIMIT);

    /* Central differences of the float network itself, at 4 parameters of every row. The
     * network is piecewise smooth (ReLU, max pooling): a coordinate whose differences with
     * steps h and h/2 disagree has a kink within reach and is skipped (counted); a step of
     * 1e-3 keeps float rounding (1e-7 of the loss) near 1e-4 of the derivative. */
    double fd_worst = 0;
    int checked = 0, kinks = 0;
    for (size_t r = 0; fd && r < k.c->params.nrows; r++) {
        float *v = spcnn__params_value(&k.c->params, r);
        const float *g = spcnn__params_grad(&k.c->params, r);
        size_t count = k.c->params.rows[r].count;
        for (size_t j = 0; j < count; j += count / 4 + 1) {
            const float keep = v[j];
            double num[2];
            for (int t = 0; t < 2; t++) {
                const float h = t == 0 ? 2e-3f : 1e-3f;
                double lp = 0, lm = 0;
                v[j] = keep + h;
                library_loss(&k, loss);
                for (size_t i = 0; i < n; i++)
                    lp += p[i] * loss[i];
                v[j] = keep - h;
                library_loss(&k, loss);
                for (size_t i = 0; i < n; i++)
                    lm += p[i] * loss[i];
                num[t] = (lp - lm) / (double)(2 * h);
            }
            v[j] = keep;
            double scale = fmax(1e-2, fmax(fabs(num[1]), fabs(g[j])));
            if (fabs(num[0] - num[1]) > 0.05 * scale) {
                kinks++;
                continue;
            }
            checked++;
            fd_worst = worst_of(fd_worst, fabs(num[1] - g[j]) / scale);
        }
    }
    if (fd) {
        snprintf(line, sizeof line, "lenet n%d %dx%d: float central differences at %d "
                 "parameters (%d skipped at kinks)", s.n, s.h, s.w, checked, kinks);
        tu_report(line, fd_worst, 2e-2);
        ck_assert_msg(fd_worst < 2e-2, "finite differences of the float network: %g",
                      fd_worst);
        ck_assert_int_le(kinks, checked / 5);
    }

    spcnn__lenet_destroy(k.net);
    spcnn_classifier_destroy(k.c);
    spcnn__dnnl_deinit(&k.ctx);
    free(params), free(xd), free(p), free(lr), free(logits_r), free(dparams), free(dxr);
    free(dloss), free(loss), free(dx), free(grad), free(labels);
    return worst;
}

START_TEST(test_network_gradient)
{
    spcnn__lenet_shape a = {3, 12, 17, 4, 3, 4, 5, 6};
    spcnn__lenet_shape b = {2, 15, 13, 3, 2, 3, 4, 3};
    spcnn__lenet_shape mnist = {2, 28, 28, 10, 6, 16, 12, 8};
    double worst = check_network(a, 300, 1);
    worst = worst_of(worst, check_network(b, 301, 1));
    worst = worst_of(worst, check_network(mnist, 302, 0));
    tu_report("whole classifier vs reference", worst, NET_NMSE_LIMIT);
    ck_assert(worst < NET_NMSE_LIMIT);
}
END_TEST

/* ---- training and prediction through the public API ------------------------------------- */

enum { S = 16, CLASSES = 4 };

/* Class 0: a horizontal bar, 1: vertical, 2: diagonal, 3: anti-diagonal, each at a random
 * offset with noise. */
static void synthetic(tu_rng *r, uint8_t *images, uint8_t *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int cls = (int)(tu_next(r) % CLASSES), off = (int)(tu_next(r) % 9) - 4;
        labels[i] = (uint8_t)cls;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int d = cls == 0 ? y - S / 2 - off : cls == 1 ? x - S / 2 - off
                      : cls == 2 ? x - y - off : x + y - S - off;
                int v = (abs(d) <= 1 ? 220 : 20) + (int)tu_uniform(r, -20, 20);
                images[i * S * S + (size_t)y * S + (size_t)x] = (uint8_t)v;
            }
    }
}

static size_t argmax_row(const float *p, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        best = p[j] > p[best] ? j : best;
    return best;
}

START_TEST(test_training_learns)
{
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(S, S, CLASSES, 1, &c), SPCNN_OK);
    enum { BATCH = 32, TEST = 200 };
    tu_rng rng = {400};
    uint8_t x[BATCH * S * S], y[BATCH], tx[TEST * S * S], ty[TEST];
    synthetic(&rng, tx, ty, TEST);
    float probs[TEST * CLASSES];
    double first_loss = 0, loss = 0, acc = 0;
    for (int step = 0; step < 120; step++) {
        synthetic(&rng, x, y, BATCH);
        spcnn_status st = spcnn_classifier_train_step(c, x, y, BATCH, &loss, &acc);
        ck_assert_msg(st == SPCNN_OK, "%s", spcnn_last_error_message());
        ck_assert(isfinite(loss) && acc >= 0 && acc <= 1);
        if (step == 0)
            first_loss = loss;
    }
    ck_assert_int_eq(spcnn_classifier_predict(c, tx, TEST, probs, TEST * CLASSES), SPCNN_OK);
    size_t right = 0;
    for (size_t i = 0; i < TEST; i++)
        right += argmax_row(probs + i * CLASSES, CLASSES) == ty[i];
    printf("synthetic bars: loss %.3f -> %.3f, last batch accuracy %.2f, held-out accuracy "
           "%.3f\n", first_loss, loss, acc, (double)right / TEST);
    ck_assert(first_loss > 1.0 && loss < 0.3);
    ck_assert_uint_ge(right, TEST * 95 / 100);
    spcnn_classifier_destroy(c);
}
END_TEST

START_TEST(test_predict_batches)
{
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(S, S, CLASSES, 2, &c), SPCNN_OK);
    enum { N = 150 };
    tu_rng rng = {500};
    uint8_t x[N * S * S], y[N];
    synthetic(&rng, x, y, N);
    for (int step = 0; step < 5; step++) /* EMA weights that differ from the initial ones */
        ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 30, NULL, NULL), SPCNN_OK);
    float all[N * CLASSES], again[N * CLASSES], one[CLASSES], part[7 * CLASSES];
    ck_assert_int_eq(spcnn_classifier_predict(c, x, N, all, N * CLASSES), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, N, again, N * CLASSES + 5), SPCNN_OK);
    ck_assert(memcmp(all, again, sizeof all) == 0); /* deterministic */
    for (size_t i = 0; i < N; i++) {
        double sum = 0;
        for (size_t j = 0; j < CLASSES; j++) {
            ck_assert(all[i * CLASSES + j] >= 0 && all[i * CLASSES + j] <= 1);
            sum += all[i * CLASSES + j];
        }
        ck_assert(fabs(sum - 1) < 1e-5);
    }
    /* An image's probabilities do not depend on n or its place in the call. */
    size_t differ = 0;
    for (size_t i = 0; i < N; i += 13) {
        ck_assert_int_eq(spcnn_classifier_predict(c, x + i * S * S, 1, one, CLASSES), SPCNN_OK);
        differ += memcmp(one, all + i * CLASSES, sizeof one) != 0;
    }
    ck_assert_int_eq(spcnn_classifier_predict(c, x + 61 * S * S, 7, part, 7 * CLASSES),
                     SPCNN_OK);
    differ += memcmp(part, all + 61 * CLASSES, sizeof part) != 0;
    printf("predict: 150 images in 3 batches equal, bit for bit, 1 and 7 images at a time "
           "(%zu differ)\n", differ);
    ck_assert_uint_eq(differ, 0);
    /* Two threads: the same classes, probabilities within float rounding. */
    ck_assert_int_eq(spcnn_classifier_set_threads(c, 2), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, N, again, N * CLASSES), SPCNN_OK);
    double worst = 0;
    for (size_t i = 0; i < N * CLASSES; i++)
        worst = worst_of(worst, fabs((double)again[i] - all[i]));
    tu_report("predict with 2 threads vs 1 (max abs difference)", worst, 1e-5);
    ck_assert(worst < 1e-5);
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 30, NULL, NULL), SPCNN_OK);
    spcnn_classifier_destroy(c);
}
END_TEST

START_TEST(test_numeric_guard)
{
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(S, S, CLASSES, 3, &c), SPCNN_OK);
    tu_rng rng = {600};
    uint8_t x[8 * S * S], y[8];
    synthetic(&rng, x, y, 8);
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 8, NULL, NULL), SPCNN_OK);
    /* A weight that makes the logits overflow: the step is refused and changes nothing. */
    spcnn__params_value(&c->params, 8)[0] = 3e38f;
    spcnn__params_value(&c->params, 8)[1] = -3e38f;
    size_t bytes = SPCNN__BUF_COUNT * c->params.total * sizeof(float);
    float *before = xmalloc(bytes);
    memcpy(before, c->params.block, bytes);
    double loss = 7, acc = 7;
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 8, &loss, &acc), SPCNN_ERR_NUMERIC);
    assert_message_has("classifier train step");
    printf("numeric guard: %s\n", spcnn_last_error_message());
    const float *v = c->params.buf[SPCNN__BUF_VALUE], *e = c->params.buf[SPCNN__BUF_EMA];
    ck_assert(memcmp(v, before, c->params.total * sizeof(float)) == 0);
    ck_assert(memcmp(e, before + (size_t)SPCNN__BUF_EMA * c->params.total,
                     c->params.total * sizeof(float)) == 0);
    free(before);
    spcnn_classifier_destroy(c);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------- */

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_classifier_%s", tu_tmpdir(), name);
}

static void reseal(unsigned char *b, size_t n)
{
    tu_put_le32(b + n - 4, (uint32_t)crc32_z(0, b, n - 4));
}

static spcnn_status load_mem(const unsigned char *bytes, size_t size, spcnn_status want,
                             const char *what, size_t at)
{
    spcnn_classifier *c = (spcnn_classifier *)(uintptr_t)1;
    spcnn_status st = spcnn__classifier_file_load_memory(bytes, size, "damaged", &c);
    ck_assert_msg(st == want, "%s %zu: status %d (%s), want %d", what, at, st,
                  spcnn_last_error_message(), want);
    if (st == SPCNN_OK)
        spcnn_classifier_destroy(c);
    else
        ck_assert_ptr_null(c);
    return st;
}

/* The smallest classifier: a file of a few hundred bytes, damaged thousands of times. */
static spcnn_classifier *tiny(uint64_t seed)
{
    spcnn__lenet_shape s = {0, 12, 13, 2, 1, 1, 1, 1};
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn__classifier_new(&s, seed, &c), SPCNN_OK);
    /* Averaged weights unlike the raw ones, so the file is seen to hold the average. */
    tu_rng rng = {seed};
    tu_fill_f(&rng, c->params.buf[SPCNN__BUF_EMA], c->params.total, -1, 1);
    return c;
}

START_TEST(test_file_roundtrip)
{
    char path[512];
    tmp_path(path, sizeof path, "roundtrip.spcls");
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(S, 20, CLASSES, 4, &c), SPCNN_OK);
    tu_rng rng = {700};
    enum { N = 70 };
    uint8_t x[N * S * 20], y[N];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)(tu_next(&rng) >> 56);
    for (size_t i = 0; i < N; i++)
        y[i] = (uint8_t)(tu_next(&rng) % CLASSES);
    for (int step = 0; step < 3; step++)
        ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 16, NULL, NULL), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_save(c, path), SPCNN_OK);
    spcnn_classifier *l = NULL;
    ck_assert_msg(spcnn_classifier_load(path, &l) == SPCNN_OK, "%s", spcnn_last_error_message());
    size_t h, w, k;
    ck_assert_int_eq(spcnn_classifier_shape(l, &h, &w, &k), SPCNN_OK);
    ck_assert(h == S && w == 20 && k == CLASSES);
    float pc[N * CLASSES], pl[N * CLASSES];
    ck_assert_int_eq(spcnn_classifier_predict(c, x, N, pc, N * CLASSES), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_predict(l, x, N, pl, N * CLASSES), SPCNN_OK);
    ck_assert(memcmp(pc, pl, sizeof pc) == 0);
    /* The file holds exactly the averaged weights; the loaded classifier trains on. */
    for (size_t r = 0; r < c->params.nrows; r++)
        ck_assert(memcmp(spcnn__params_ema(&c->params, r), spcnn__params_ema(&l->params, r),
                         c->params.rows[r].count * sizeof(float)) == 0);
    ck_assert(l->optim.t == 3);
    double loss;
    ck_assert_int_eq(spcnn_classifier_train_step(l, x, y, 16, &loss, NULL), SPCNN_OK);
    ck_assert(isfinite(loss));
    /* Saving the loaded one gives the same bytes (except the step count it then had). */
    char again[512];
    tmp_path(again, sizeof again, "roundtrip2.spcls");
    spcnn_classifier *l2 = NULL;
    ck_assert_int_eq(spcnn_classifier_load(path, &l2), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_save(l2, again), SPCNN_OK);
    size_t na, nb;
    unsigned char *a = tu_read_file(path, &na), *b = tu_read_file(again, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(a, b, na) == 0);
    printf("round trip: %zu-byte file, predictions identical bit for bit\n", na);
    ck_assert_int_eq(tu_temporaries_left("test_classifier_roundtrip"), 0);
    free(a), free(b);
    remove(path);
    remove(again);
    spcnn_classifier_destroy(l2);
    spcnn_classifier_destroy(l);
    spcnn_classifier_destroy(c);
}
END_TEST

START_TEST(test_file_truncation_and_damage)
{
    char path[512];
    tmp_path(path, sizeof path, "tiny.spcls");
    spcnn_classifier *c = tiny(5);
    ck_assert_int_eq(spcnn__classifier_file_save(c, path), SPCNN_OK);
    size_t size;
    unsigned char *good = tu_read_file(path, &size);
    load_mem(good, size, SPCNN_OK, "whole", size);

    /* Every length: FORMAT naming the byte where the file ends. */
    for (size_t cut = 0; cut < size; cut++) {
        load_mem(good, cut, SPCNN_ERR_FORMAT, "cut", cut);
        char where[64];
        snprintf(where, sizeof where, "truncated at byte %zu", cut);
        assert_message_has(cut == 0 ? "not a classifier file" : where);
    }
    load_mem(good, 30, SPCNN_ERR_FORMAT, "cut", 30);
    assert_message_has("reading classes");
    load_mem(good, size - 2, SPCNN_ERR_FORMAT, "cut", size - 2);
    assert_message_has("checksum");
    load_mem(good, size - 10, SPCNN_ERR_FORMAT, "cut", size - 10);
    assert_message_has("weights");
    unsigned char *bad = xmalloc(size + 1);
    memcpy(bad, good, size);
    bad[size] = 0;
    load_mem(bad, size + 1, SPCNN_ERR_FORMAT, "longer", size + 1);
    assert_message_has("unexpected bytes");

    /* Every byte damaged in turn: never accepted, never a crash. */
    size_t versions = 0;
    for (size_t i = 0; i < size; i++) {
        memcpy(bad, good, size);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        spcnn_classifier *l = (spcnn_classifier *)(uintptr_t)1;
        spcnn_status st = spcnn__classifier_file_load_memory(bad, size, "damaged", &l);
        ck_assert_msg(st == SPCNN_ERR_FORMAT || st == SPCNN_ERR_VERSION,
                      "byte %zu damaged: status %d (%s)", i, st, spcnn_last_error_message());
        ck_assert_ptr_null(l);
        versions += st == SPCNN_ERR_VERSION;
    }
    ck_assert_uint_gt(versions, 0);

    /* Edits behind a recomputed checksum reach the later checks. */
    struct {
        size_t at;
        uint32_t value;
        spcnn_status want;
        const char *message;
    } edits[] = {
        {0, 0x434e5053u, SPCNN_ERR_FORMAT, "not a classifier file"}, /* "SPNC" */
        {8, 0, SPCNN_ERR_FORMAT, "format version 0"},
        {8, 2, SPCNN_ERR_VERSION, "newer format version 2"},
        {12, 1, SPCNN_ERR_FORMAT, "unknown flags"},
        {20, 11, SPCNN_ERR_FORMAT, "shape"},         /* height 11 */
        {28, 1, SPCNN_ERR_FORMAT, "shape"},          /* one class */
        {28, 300, SPCNN_ERR_FORMAT, "shape"},
        {32, 5000, SPCNN_ERR_FORMAT, "conv1 channels 5000 is out of range"},
        {56, 9, SPCNN_ERR_FORMAT, "9 parameter rows"},
        {28, 3, SPCNN_ERR_FORMAT, "is not the row"}, /* 3 classes: fc3 has 2 rows in the file */
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        memcpy(bad, good, size);
        tu_put_le32(bad + edits[e].at, edits[e].value);
        reseal(bad, size);
        load_mem(bad, size, edits[e].want, "edit at", edits[e].at);
        assert_message_has(edits[e].message);
    }
    /* A row renamed, and a NaN weight. */
    memcpy(bad, good, size);
    ck_assert(memcmp(bad + 62, "conv1.w", 7) == 0);
    bad[68] = 'x';
    reseal(bad, size);
    load_mem(bad, size, SPCNN_ERR_FORMAT, "renamed", 68);
    assert_message_has("\"conv1.x\" is not the row \"conv1.w\"");
    bad[68] = 0; /* refused while the table is walked, before the shape is checked */
    reseal(bad, size);
    load_mem(bad, size, SPCNN_ERR_FORMAT, "NUL in a name", 68);
    assert_message_has("row 0 name contains a NUL byte (byte 62)");
    memcpy(bad, good, size);
    tu_put_le32(bad + size - 8, 0x7fc00000u);
    reseal(bad, size);
    load_mem(bad, size, SPCNN_ERR_FORMAT, "nan", size - 8);
    assert_message_has("weight 1 of \"fc3.b\" is nan");
    memcpy(bad, good, size);
    bad[size - 1] ^= 0x40;
    load_mem(bad, size, SPCNN_ERR_FORMAT, "crc", size - 1);
    assert_message_has("checksum mismatch");

    /* Through the file system: a short file, a model file, a missing file, a folder. */
    tu_write_file(path, good, size / 2);
    spcnn_classifier *l = (spcnn_classifier *)(uintptr_t)1;
    ck_assert_int_eq(spcnn_classifier_load(path, &l), SPCNN_ERR_FORMAT);
    ck_assert_ptr_null(l);
    tu_write_file(path, "SPCNNMDL\1\0\0\0", 12);
    ck_assert_int_eq(spcnn_classifier_load(path, &l), SPCNN_ERR_FORMAT);
    assert_message_has("not a classifier file");
    remove(path);
    ck_assert_int_eq(spcnn_classifier_load(path, &l), SPCNN_ERR_IO);
    assert_message_has(path);
    ck_assert_int_eq(spcnn_classifier_load(tu_tmpdir(), &l), SPCNN_ERR_IO);
    ck_assert_ptr_null(l);
    printf("%zu-byte file: every length and every damaged byte rejected (%zu as VERSION); "
           "last message: %s\n", size, versions, spcnn_last_error_message());
    free(bad);
    free(good);
    spcnn_classifier_destroy(c);
}
END_TEST

START_TEST(test_save_failures)
{
    char path[512], missing[512], dir[512];
    tmp_path(path, sizeof path, "save.spcls");
    tmp_path(missing, sizeof missing, "no_such_dir/c.spcls");
    tmp_path(dir, sizeof dir, "save_dir.spcls");
    spcnn_classifier *c = tiny(6), *d = tiny(7);
    ck_assert_int_eq(spcnn_classifier_save(c, missing), SPCNN_ERR_IO);
    assert_message_has(missing);
    ck_assert_int_eq(spcnn_classifier_save(c, path), SPCNN_OK);
    mkdir(dir, 0777);
    ck_assert_int_eq(spcnn_classifier_save(d, dir), SPCNN_ERR_IO); /* the rename fails */
    rmdir(dir);
    /* A failed save leaves the previous file as it was. */
    size_t before_size, after_size;
    unsigned char *before = tu_read_file(path, &before_size);
    for (long k = 0; k < 2; k++) {
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn_classifier_save(d, path);
        spcnn__alloc_fail_after(-1);
        ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
    }
    spcnn__params_ema(&d->params, 3)[0] = NAN;
    ck_assert_int_eq(spcnn_classifier_save(d, path), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("refusing to write");
    unsigned char *after = tu_read_file(path, &after_size);
    ck_assert_uint_eq(before_size, after_size);
    ck_assert(memcmp(before, after, before_size) == 0);
    ck_assert_int_eq(tu_temporaries_left("test_classifier_save"), 0);
    free(before), free(after);
    remove(path);
    spcnn_classifier_destroy(c);
    spcnn_classifier_destroy(d);
}
END_TEST

/* ---- misuse and allocation failures ------------------------------------------------------- */

START_TEST(test_misuse)
{
    spcnn_classifier *c = (spcnn_classifier *)(uintptr_t)1;
    ck_assert_int_eq(spcnn_classifier_create(28, 28, 10, 1, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("out is NULL");
    const size_t bad_sizes[][3] = {{11, 28, 10}, {28, 11, 10}, {1025, 28, 10}, {28, 0, 10},
                                   {SIZE_MAX, 28, 10}, {28, 28, 1}, {28, 28, 0}, {28, 28, 257}};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        c = (spcnn_classifier *)(uintptr_t)1;
        ck_assert_int_eq(spcnn_classifier_create(bad_sizes[i][0], bad_sizes[i][1],
                                                 bad_sizes[i][2], 1, &c),
                         SPCNN_ERR_INVALID_ARGUMENT);
        ck_assert_ptr_null(c);
    }
    assert_message_has("classes");
    ck_assert_int_eq(spcnn_classifier_load(NULL, &c), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(spcnn_classifier_load("x", NULL), SPCNN_ERR_INVALID_ARGUMENT);
    spcnn_classifier_destroy(NULL);

    ck_assert_int_eq(spcnn_classifier_create(S, S, CLASSES, 1, &c), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_save(NULL, "x"), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_save(c, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_save(c, ""), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("path is empty");
    ck_assert_int_eq(spcnn_classifier_set_threads(NULL, 1), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_set_threads(c, 0), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_set_threads(c, 257), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("257 is out of range");
    size_t h = 0, w = 0, k = 0;
    ck_assert_int_eq(spcnn_classifier_shape(NULL, &h, &w, &k), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_shape(c, NULL, NULL, &k), SPCNN_OK);
    ck_assert_uint_eq(k, CLASSES);
    ck_assert_int_eq(spcnn_classifier_shape(c, &h, &w, NULL), SPCNN_OK);
    ck_assert(h == S && w == S);

    uint8_t x[4 * S * S] = {0}, y[4] = {0, 1, 2, 3};
    float probs[4 * CLASSES];
    double loss;
    ck_assert_int_eq(spcnn_classifier_train_step(NULL, x, y, 4, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_train_step(c, NULL, y, 4, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, NULL, 4, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 0, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 65537, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    y[3] = CLASSES;
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 4, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("label 4 of image 3 is not below the 4 classes");
    y[3] = 255;
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 4, &loss, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    y[3] = 3;
    ck_assert_int_eq(spcnn_classifier_train_step(c, x, y, 4, NULL, NULL), SPCNN_OK);

    ck_assert_int_eq(spcnn_classifier_predict(NULL, x, 4, probs, 16), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_predict(c, NULL, 4, probs, 16), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, 4, NULL, 16), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, 0, probs, 16), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, 4, probs, 15), SPCNN_ERR_BUFFER_TOO_SMALL);
    assert_message_has("4 images of 4 classes do not fit a buffer of 15 floats");
    ck_assert_int_eq(spcnn_classifier_predict(c, x, SIZE_MAX / 2, probs, SIZE_MAX),
                     SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, SIZE_MAX / 8, probs, SIZE_MAX),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_classifier_predict(c, x, 4, probs, 16), SPCNN_OK);
    spcnn_classifier_destroy(c);
}
END_TEST

/* Count the allocations of `op` with injection off, then fail each in turn: every failure must
 * give SPCNN_ERR_OUT_OF_MEMORY (ASan shows any leak), and the operation must work after. */
typedef spcnn_status (*op_fn)(void *arg);

static long fail_every_site(const char *name, op_fn op, void *arg, void (*reset)(void *arg))
{
    spcnn__alloc_fail_after(-1);
    if (reset)
        reset(arg);
    spcnn_status st = op(arg);
    long sites = spcnn__alloc_fail_after(-1);
    ck_assert_msg(st == SPCNN_OK, "%s: %s", name, spcnn_last_error_message());
    for (long k = 0; k < sites; k++) {
        if (reset)
            reset(arg);
        spcnn__alloc_fail_after(k);
        st = op(arg);
        spcnn__alloc_fail_after(-1);
        ck_assert_msg(st == SPCNN_ERR_OUT_OF_MEMORY, "%s, site %ld of %ld: status %d (%s)",
                      name, k, sites, st, spcnn_last_error_message());
    }
    if (reset)
        reset(arg);
    ck_assert_int_eq(op(arg), SPCNN_OK);
    printf("allocation failure: each of the %ld sites of %s -> OUT_OF_MEMORY\n", sites, name);
    return sites;
}

typedef struct alloc_case {
    spcnn_classifier *c, *made;
    const char *path;
    uint8_t x[8 * S * S], y[8];
    float probs[8 * CLASSES];
} alloc_case;

static spcnn_status op_create(void *arg)
{
    alloc_case *a = arg;
    spcnn_classifier_destroy(a->made);
    a->made = (spcnn_classifier *)(uintptr_t)1;
    spcnn_status st = spcnn_classifier_create(S, S, CLASSES, 1, &a->made);
    if (st != SPCNN_OK)
        ck_assert_ptr_null(a->made);
    return st;
}

static spcnn_status op_load(void *arg)
{
    alloc_case *a = arg;
    spcnn_classifier_destroy(a->made);
    a->made = (spcnn_classifier *)(uintptr_t)1;
    spcnn_status st = spcnn_classifier_load(a->path, &a->made);
    if (st != SPCNN_OK)
        ck_assert_ptr_null(a->made);
    return st;
}

static spcnn_status op_save(void *arg)
{
    alloc_case *a = arg;
    return spcnn_classifier_save(a->c, a->path);
}

static spcnn_status op_train(void *arg)
{
    alloc_case *a = arg;
    return spcnn_classifier_train_step(a->c, a->x, a->y, 8, NULL, NULL);
}

static spcnn_status op_predict(void *arg)
{
    alloc_case *a = arg;
    return spcnn_classifier_predict(a->c, a->x, 8, a->probs, 8 * CLASSES);
}

static spcnn_status op_threads(void *arg)
{
    alloc_case *a = arg;
    spcnn_status st = spcnn_classifier_set_threads(a->c, 2);
    if (st == SPCNN_OK)
        st = spcnn_classifier_set_threads(a->c, 1);
    return st;
}

/* Drop the plans and the oneDNN context's scratchpad so that the next train step or
 * prediction allocates everything again. */
static void reset_plans(void *arg)
{
    alloc_case *a = arg;
    spcnn__lenet_destroy(a->c->train);
    spcnn__lenet_destroy(a->c->predict);
    a->c->train = a->c->predict = NULL;
    spcnn__dnnl_deinit(&a->c->ctx);
    ck_assert_int_eq(spcnn__dnnl_init(&a->c->ctx, a->c->threads), SPCNN_OK);
}

START_TEST(test_alloc_failure)
{
    char path[512];
    tmp_path(path, sizeof path, "alloc.spcls");
    alloc_case *a = xmalloc(sizeof *a);
    memset(a, 0, sizeof *a);
    a->path = path;
    tu_rng rng = {800};
    synthetic(&rng, a->x, a->y, 8);
    ck_assert_int_eq(spcnn_classifier_create(S, S, CLASSES, 1, &a->c), SPCNN_OK);
    long sites = fail_every_site("create", op_create, a, NULL);
    sites += fail_every_site("save", op_save, a, NULL);
    sites += fail_every_site("load", op_load, a, NULL);
    sites += fail_every_site("train_step", op_train, a, reset_plans);
    sites += fail_every_site("predict", op_predict, a, reset_plans);
    fail_every_site("set_threads", op_threads, a, NULL);
    ck_assert_int_gt(sites, 10);
    ck_assert_int_eq(tu_temporaries_left("test_classifier_alloc"), 0);
    /* After all that, the classifier still predicts what a fresh load of its file does. */
    float again[8 * CLASSES];
    ck_assert_int_eq(spcnn_classifier_save(a->c, path), SPCNN_OK);
    ck_assert_int_eq(op_load(a), SPCNN_OK);
    ck_assert_int_eq(op_predict(a), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_predict(a->made, a->x, 8, again, 8 * CLASSES), SPCNN_OK);
    ck_assert(memcmp(again, a->probs, sizeof again) == 0);
    spcnn_classifier_destroy(a->made);
    spcnn_classifier_destroy(a->c);
    remove(path);
    free(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("classifier");
    TCase *tc = tcase_create("classifier");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_relu_softmax);
    tcase_add_test(tc, test_network_gradient);
    tcase_add_test(tc, test_training_learns);
    tcase_add_test(tc, test_predict_batches);
    tcase_add_test(tc, test_numeric_guard);
    tcase_add_test(tc, test_file_roundtrip);
    tcase_add_test(tc, test_file_truncation_and_damage);
    tcase_add_test(tc, test_save_failures);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
