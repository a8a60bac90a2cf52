/* Proof of the double-precision references of the elementwise layers and losses: every
 * reference backward against central differences of its forward, with a random-projection
 * loss. Inputs are kept away from kinks (elu at 0, the mixture's branch thresholds and its
 * log-scale clamp) so the differences are valid. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_elem.h"
#include "testutil.h"

#define LIMIT 1e-6
#define H 1e-6

/* Sizes and constants of the function under check; the inputs are one concatenated vector. */
typedef struct ctx {
    size_t n, p, c, f, hw, k, ca, cb;
    double rate;
    const uint8_t *mask, *pix;
    const double *targets, *eps;
} ctx;

/* Fill x with values of random sign and magnitude in [lo, hi] (so never in (−lo, lo)). */
static void fill_away_from_zero(tu_rng *r, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (tu_uniform(r, 0, 1) < 0.5 ? -1 : 1) * tu_uniform(r, lo, hi);
}

/* Run tu_gradcheck of f at x with a random projection p; `backward` fills dx from p. */
static double check_grad_h(ctx *c, tu_fn f, const double *x, size_t nx, size_t ny,
                           void (*backward)(ctx *, const double *x, const double *p, double *dx),
                           uint64_t seed, double h)
{
    tu_rng r = {seed};
    double *p = malloc(ny * sizeof *p), *dx = malloc(nx * sizeof *dx);
    ck_assert(p && dx);
    tu_fill_d(&r, p, ny, -1, 1);
    backward(c, x, p, dx);
    double e = tu_gradcheck(c, f, x, nx, ny, p, dx, h, 0);
    free(p);
    free(dx);
    return e;
}

static double check_grad(ctx *c, tu_fn f, const double *x, size_t nx, size_t ny,
                         void (*backward)(ctx *, const double *x, const double *p, double *dx),
                         uint64_t seed)
{
    return check_grad_h(c, f, x, nx, ny, backward, seed, H);
}

/* ---- elu, concat_elu ---- */
static void f_elu(void *v, const double *x, double *y)
{
    ref_elu_forward(x, y, ((ctx *)v)->n);
}
static void b_elu(ctx *c, const double *x, const double *p, double *dx)
{
    ref_elu_backward(x, p, dx, c->n);
}
static void f_celu(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_concat_elu_forward(x, y, c->p, c->c);
}
static void b_celu(ctx *c, const double *x, const double *p, double *dx)
{
    ref_concat_elu_backward(x, p, dx, c->p, c->c);
}

START_TEST(test_grad_elu)
{
    tu_rng r = {1};
    double x[7 * 5];
    fill_away_from_zero(&r, x, 35, 0.05, 3);
    ctx c = {.n = 35, .p = 7, .c = 5};
    double e1 = check_grad(&c, f_elu, x, 35, 35, b_elu, 11);
    double e2 = check_grad(&c, f_celu, x, 35, 70, b_celu, 12);
    tu_report("ref elu backward", e1, LIMIT);
    tu_report("ref concat_elu backward", e2, LIMIT);
    ck_assert(e1 < LIMIT && e2 < LIMIT);
    /* Order and values: elu(x) channels first, then elu(−x). */
    double y[70];
    ref_concat_elu_forward(x, y, 7, 5);
    ck_assert(y[0] == (x[0] > 0 ? x[0] : expm1(x[0])));
    ck_assert(fabs(y[5] - (x[0] < 0 ? -x[0] : exp(-x[0]) - 1)) < 1e-15);
}
END_TEST

/* ---- dropout ---- */
static void f_drop(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_dropout_forward(x, c->mask, y, c->n, c->rate);
}
static void b_drop(ctx *c, const double *x, const double *p, double *dx)
{
    (void)x;
    ref_dropout_backward(c->mask, p, dx, c->n, c->rate);
}

START_TEST(test_grad_dropout)
{
    tu_rng r = {2};
    double x[41];
    uint8_t mask[41];
    tu_fill_d(&r, x, 41, -2, 2);
    ref_dropout_mask(77, 0.3, mask, 41);
    int kept = 0;
    for (int i = 0; i < 41; i++)
        kept += mask[i];
    ck_assert(kept > 0 && kept < 41); /* both kinds of element are checked */
    ctx c = {.n = 41, .rate = 0.3, .mask = mask};
    double e = check_grad(&c, f_drop, x, 41, 41, b_drop, 21);
    tu_report("ref dropout backward", e, LIMIT);
    ck_assert(e < LIMIT);
}
END_TEST

/* ---- gate: inputs (x [p × f], c2 [p × 2f]) ---- */
static void f_gate(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_gate_forward(x, x + c->p * c->f, y, c->p, c->f);
}
static void b_gate(ctx *c, const double *x, const double *p, double *dx)
{
    ref_gate_backward(x + c->p * c->f, p, dx, dx + c->p * c->f, c->p, c->f);
}

START_TEST(test_grad_gate)
{
    tu_rng r = {3};
    const size_t p = 5, f = 3, nx = p * f * 3;
    double x[45];
    tu_fill_d(&r, x, nx, -3, 3);
    ctx c = {.p = p, .f = f};
    double e = check_grad(&c, f_gate, x, nx, p * f, b_gate, 31);
    tu_report("ref gate backward", e, LIMIT);
    ck_assert(e < LIMIT);
}
END_TEST

/* ---- conditioning add: inputs (c2 [n·hw × c], h_xy [n·hw × c], h_z [n × c]) ---- */
static void f_cond(void *v, const double *x, double *y)
{
    ctx *c = v;
    size_t m = c->n * c->hw * c->c;
    ref_cond_add_forward(x, x + m, x + 2 * m, y, c->n, c->hw, c->c);
}
static void b_cond(ctx *c, const double *x, const double *p, double *dx)
{
    (void)x;
    size_t m = c->n * c->hw * c->c;
    ref_cond_add_backward(p, dx, dx + m, dx + 2 * m, c->n, c->hw, c->c);
}

START_TEST(test_grad_cond_add)
{
    tu_rng r = {4};
    const size_t n = 3, hw = 6, ch = 4, m = n * hw * ch, nx = 2 * m + n * ch;
    double x[2 * 72 + 12];
    tu_fill_d(&r, x, nx, -1, 1);
    ctx c = {.n = n, .hw = hw, .c = ch};
    double e = check_grad(&c, f_cond, x, nx, m, b_cond, 41);
    tu_report("ref conditioning add backward", e, LIMIT);
    ck_assert(e < LIMIT);
}
END_TEST

/* ---- add and concat: inputs (a, b) ---- */
static void f_add(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_add(x, x + c->n, y, c->n);
}
static void b_add(ctx *c, const double *x, const double *p, double *dx)
{
    (void)x;
    memcpy(dx, p, c->n * sizeof *dx);
    memcpy(dx + c->n, p, c->n * sizeof *dx);
}
static void f_cat(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_concat_forward(x, x + c->p * c->ca, y, c->p, c->ca, c->cb);
}
static void b_cat(ctx *c, const double *x, const double *p, double *dx)
{
    (void)x;
    ref_concat_backward(p, dx, dx + c->p * c->ca, c->p, c->ca, c->cb);
}

START_TEST(test_grad_add_concat)
{
    tu_rng r = {5};
    double x[2 * 33], y[33];
    tu_fill_d(&r, x, 66, -1, 1);
    ctx c = {.n = 33, .p = 3, .ca = 7, .cb = 4};
    double e1 = check_grad(&c, f_add, x, 66, 33, b_add, 51);
    double e2 = check_grad(&c, f_cat, x, 33, 33, b_cat, 52);
    /* accumulate is add in place */
    memcpy(y, x, sizeof y);
    ref_accumulate(y, x + 33, 33);
    for (int i = 0; i < 33; i++)
        ck_assert(y[i] == x[i] + x[33 + i]);
    tu_report("ref add backward", e1, LIMIT);
    tu_report("ref concat backward", e2, LIMIT);
    ck_assert(e1 < LIMIT && e2 < LIMIT);
}
END_TEST

/* ---- mixture ---- */
static void f_mix(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_mixture_nll_forward(x, c->pix, y, c->p, c->k);
}
static void b_mix(ctx *c, const double *x, const double *p, double *dx)
{
    ref_mixture_nll_backward(x, c->pix, p, dx, c->p, c->k);
}

/* The bin mass of one component at interior value v (PixelCNN++'s cdf_delta). */
static double bin_mass(double mean, double ls, int v)
{
    double x = v / 127.5 - 1, inv = exp(-ls);
    return 1 / (1 + exp(-inv * (x + 1 / 255.0 - mean))) - 1 / (1 + exp(-inv * (x - 1 / 255.0 - mean)));
}

START_TEST(test_grad_mixture)
{
    enum { K = 3, P = 9 };
    /* Values at both edges and next to them, the middle, and the cases below. */
    static const uint8_t pix[P] = {0, 1, 127, 254, 255, 127, 60, 200, 255};
    double x[P * 3 * K];
    tu_rng r = {6};
    for (int i = 0; i < P; i++) {
        double *pr = x + i * 3 * K, xv = pix[i] / 127.5 - 1;
        for (int j = 0; j < K; j++) {
            pr[j] = tu_normal(&r);                                /* logits */
            pr[K + j] = xv + tu_uniform(&r, -0.05, 0.05);         /* means near the value */
            pr[2 * K + j] = tu_uniform(&r, -4.0, -0.5);           /* log-scales, unclamped */
        }
    }
    /* Pixel 5: every component far from the value with a small scale, so every bin mass is
     * below 1e-5 and the pdf approximation is what gets differentiated. */
    double *pdf = x + 5 * 3 * K;
    for (int j = 0; j < K; j++) {
        pdf[K + j] = 0.35 + 0.1 * j;
        pdf[2 * K + j] = -4.5 + 0.2 * j;
        ck_assert(bin_mass(pdf[K + j], pdf[2 * K + j], 127) < 1e-7);
    }
    /* Pixel 6: one component clamped (raw log-scale −8 < −7) sitting on the value, so it
     * dominates and its raw log-scale must get exactly zero gradient. */
    double *cl = x + 6 * 3 * K;
    cl[0] = 2.0;
    cl[K + 0] = 60 / 127.5 - 1 + 0.0005;
    cl[2 * K + 0] = -8.0;
    /* Pixel 8 (255): means outside [−1, 1]. */
    x[8 * 3 * K + K] = 1.4;
    x[8 * 3 * K + K + 1] = -1.3;
    /* Interior pixels 1..3 and 7 stay in the bin-mass branch, clear of the threshold. */
    static const int interior[] = {1, 2, 3, 7};
    for (size_t q = 0; q < sizeof interior / sizeof *interior; q++) {
        double *pr = x + interior[q] * 3 * K;
        for (int j = 0; j < K; j++)
            ck_assert(bin_mass(pr[K + j], pr[2 * K + j], pix[interior[q]]) > 1e-4);
    }
    ctx c = {.p = P, .k = K, .pix = pix};
    /* The clamped component has scale e^-7: a smaller step keeps the truncation error small. */
    double e = check_grad_h(&c, f_mix, x, P * 3 * K, P, b_mix, 61, 1e-7);
    tu_report("ref mixture NLL backward (edges, pdf, clamp)", e, 1e-5);
    ck_assert(e < 1e-5);

    double dnll[P], dx[P * 3 * K];
    for (int i = 0; i < P; i++)
        dnll[i] = 1;
    ref_mixture_nll_backward(x, pix, dnll, dx, P, K);
    ck_assert(dx[6 * 3 * K + 2 * K] == 0.0);
    ck_assert(fabs(dx[6 * 3 * K + K]) > 1.0); /* the clamped component's mean still learns */
}
END_TEST

START_TEST(test_mixture_sums_to_one)
{
    /* The bins telescope, so the probabilities sum to 1 up to PixelCNN++'s pdf approximation
     * in bins of mass < 1e-5 (the tails of the sharper components here). */
    tu_rng r = {7};
    double worst = 0;
    for (int t = 0; t < 50; t++) {
        double pr[15], lp[256], s = 0;
        for (int j = 0; j < 5; j++) {
            pr[j] = 2 * tu_normal(&r);
            pr[5 + j] = tu_uniform(&r, -1.2, 1.2);
            pr[10 + j] = tu_uniform(&r, -3, 0.5);
        }
        ref_mixture_log_probs_all(pr, 5, lp);
        for (int v = 0; v < 256; v++)
            s += exp(lp[v]);
        worst = fmax(worst, fabs(s - 1));
    }
    tu_report("ref mixture probabilities sum to one", worst, 1e-6);
    ck_assert(worst < 1e-6);
}
END_TEST

/* ---- VAE losses ---- */
static void f_bce(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_bce_logits_forward(x, c->targets, y, c->n, c->f);
}
static void b_bce(ctx *c, const double *x, const double *p, double *dx)
{
    ref_bce_logits_backward(x, c->targets, p, dx, c->n, c->f);
}
static void f_kl(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_kl_forward(x, x + c->n * c->f, y, c->n, c->f);
}
static void b_kl(ctx *c, const double *x, const double *p, double *dx)
{
    ref_kl_backward(x, x + c->n * c->f, p, dx, dx + c->n * c->f, c->n, c->f);
}
static void f_rep(void *v, const double *x, double *y)
{
    ctx *c = v;
    ref_reparam_forward(x, x + c->n, c->eps, y, c->n);
}
static void b_rep(ctx *c, const double *x, const double *p, double *dx)
{
    ref_reparam_backward(x + c->n, c->eps, p, dx, dx + c->n, c->n);
}

START_TEST(test_grad_vae_losses)
{
    tu_rng r = {8};
    double l[3 * 7], t[3 * 7], ml[2 * 10], eps[10];
    tu_fill_d(&r, l, 21, -5, 5);
    for (int i = 0; i < 21; i++)
        t[i] = (double)(tu_next(&r) % 256) / 255.0;
    tu_fill_d(&r, ml, 20, -2, 2);
    tu_fill_d(&r, eps, 10, -2, 2);
    ctx cb = {.n = 3, .f = 7, .targets = t};
    ctx ck = {.n = 2, .f = 5};
    ctx cr = {.n = 10, .eps = eps};
    double e1 = check_grad(&cb, f_bce, l, 21, 3, b_bce, 81);
    double e2 = check_grad(&ck, f_kl, ml, 20, 2, b_kl, 82);
    double e3 = check_grad(&cr, f_rep, ml, 20, 10, b_rep, 83);
    tu_report("ref bernoulli cross-entropy backward", e1, LIMIT);
    tu_report("ref KL backward", e2, LIMIT);
    tu_report("ref reparameterisation backward", e3, LIMIT);
    ck_assert(e1 < LIMIT && e2 < LIMIT && e3 < LIMIT);
    /* KL of the prior itself is zero; BCE at l = 0 is log 2 per value. */
    double zero[4] = {0, 0, 0, 0}, kl, half[2] = {0.5, 1.0}, bce;
    ref_kl_forward(zero, zero, &kl, 1, 4);
    ck_assert(kl == 0.0);
    ref_bce_logits_forward(zero, half, &bce, 1, 2);
    ck_assert(fabs(bce - 2 * log(2.0)) < 1e-15);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ref_elem");
    TCase *tc = tcase_create("grad");
    tcase_add_test(tc, test_grad_elu);
    tcase_add_test(tc, test_grad_dropout);
    tcase_add_test(tc, test_grad_gate);
    tcase_add_test(tc, test_grad_cond_add);
    tcase_add_test(tc, test_grad_add_concat);
    tcase_add_test(tc, test_grad_mixture);
    tcase_add_test(tc, test_mixture_sums_to_one);
    tcase_add_test(tc, test_grad_vae_losses);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
