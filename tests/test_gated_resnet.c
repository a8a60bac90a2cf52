/* The composed check: two stacked gated resnets (u stream then ul stream), each with an aux
 * input and both conditionings (grid and z), dropout on, checked end to end against central
 * differences of the library's own float forward pass — every input and every parameter row.
 * The layers are proven one by one elsewhere; this proves they are wired together right. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gated_resnet.h"
#include "nn/optim.h"
#include "testutil.h"

enum { N = 2, H = 5, W = 6, F = 4, L = 3 };
#define P ((size_t)N * H * W)

typedef struct stack {
    spcnn__dnnl ctx;
    spcnn__params params;
    spcnn__gated_resnet b1, b2;
    float rate;
    float *x, *a1, *a2, *grid, *z; /* inputs */
    float *y1, *y2;                /* outputs */
    float *work;
} stack;

static void stack_setup(stack *s, float rate)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(spcnn__dnnl_init(&s->ctx, 1), SPCNN_OK);
    s->ctx.forbid_reference_impl = 1;
    s->rate = rate;
    spcnn__params_init(&s->params);
    spcnn__gated_resnet_shape sh1 = {N, H, W, F, F, 1, L, SPCNN__CONV_DOWN_SHIFTED, 1, 0, 0, 0, 0, 0};
    spcnn__gated_resnet_shape sh2 = {N, H, W, F, 2 * F, 1, L, SPCNN__CONV_DOWN_RIGHT_SHIFTED,
                                     1, 0, 0, 0, 0, 0};
    spcnn__gated_resnet_rows r1, r2;
    ck_assert_int_eq(spcnn__gated_resnet_add_params(&s->params, "b1", &sh1, &r1), SPCNN_OK);
    ck_assert_int_eq(spcnn__gated_resnet_add_params(&s->params, "b2", &sh2, &r2), SPCNN_OK);
    ck_assert_int_eq(spcnn__params_allocate(&s->params), SPCNN_OK);
    spcnn__params_init_values(&s->params, 7);
    /* Larger than the near-identity init, so every path carries a visible gradient. */
    tu_rng rng = {42};
    for (size_t i = 0; i < s->params.total; i++)
        s->params.buf[SPCNN__BUF_VALUE][i] += (float)tu_uniform(&rng, -0.3, 0.3);
    ck_assert_msg(spcnn__gated_resnet_init(&s->b1, &s->ctx, &sh1, &r1, NULL) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    ck_assert_msg(spcnn__gated_resnet_init(&s->b2, &s->ctx, &sh2, &r2, NULL) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    size_t work = spcnn__gated_resnet_work_size(&sh1);
    if (spcnn__gated_resnet_work_size(&sh2) > work)
        work = spcnn__gated_resnet_work_size(&sh2);
    s->work = malloc(work * sizeof(float));
    s->x = malloc(P * F * sizeof(float));
    s->a1 = malloc(P * F * sizeof(float));
    s->a2 = malloc(P * 2 * F * sizeof(float));
    s->grid = malloc(P * 2 * sizeof(float));
    s->z = malloc(N * L * sizeof(float));
    s->y1 = malloc(P * F * sizeof(float));
    s->y2 = malloc(P * F * sizeof(float));
    tu_fill_f(&rng, s->x, P * F, -1, 1);
    tu_fill_f(&rng, s->a1, P * F, -1, 1);
    tu_fill_f(&rng, s->a2, P * 2 * F, -1, 1);
    tu_fill_f(&rng, s->grid, P * 2, -1, 1);
    tu_fill_f(&rng, s->z, N * L, -1, 1);
}

static void stack_teardown(stack *s)
{
    spcnn__gated_resnet_deinit(&s->b1);
    spcnn__gated_resnet_deinit(&s->b2);
    spcnn__params_deinit(&s->params);
    spcnn__dnnl_deinit(&s->ctx);
    free(s->work);
    free(s->x);
    free(s->a1);
    free(s->a2);
    free(s->grid);
    free(s->z);
    free(s->y1);
    free(s->y2);
}

/* loss = sum proj · y2, accumulated in double. */
static double stack_loss(stack *s, const double *proj)
{
    const float *w = s->params.buf[SPCNN__BUF_VALUE];
    ck_assert_int_eq(spcnn__gated_resnet_forward(&s->b1, &s->ctx, &s->params, w, s->x, s->a1,
                                                 s->grid, s->z, s->rate, 11, s->y1),
                     SPCNN_OK);
    ck_assert_int_eq(spcnn__gated_resnet_forward(&s->b2, &s->ctx, &s->params, w, s->y1, s->a2,
                                                 s->grid, s->z, s->rate, 12, s->y2),
                     SPCNN_OK);
    double loss = 0;
    for (size_t i = 0; i < P * F; i++)
        loss += proj[i] * s->y2[i];
    return loss;
}

/* Worst |numeric - analytic| / max(1, |numeric|, |analytic|) over the given float inputs. */
static double fd_worst(stack *s, const double *proj, float *v, const float *analytic, size_t n,
                       size_t stride)
{
    const float h = 1e-2f;
    double worst = 0;
    for (size_t i = 0; i < n; i += stride) {
        float keep = v[i];
        v[i] = keep + h;
        double lp = stack_loss(s, proj);
        v[i] = keep - h;
        double lm = stack_loss(s, proj);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double err = fabs(num - analytic[i]) / fmax(1.0, fmax(fabs(num), fabs(analytic[i])));
        if (!(err <= worst))
            worst = err;
    }
    return worst;
}

static void check_stack(float rate)
{
    stack s;
    stack_setup(&s, rate);
    double *proj = malloc(P * F * sizeof(double));
    float *proj_f = malloc(P * F * sizeof(float));
    tu_rng rng = {5};
    tu_fill_d(&rng, proj, P * F, -1, 1);
    tu_d2f(proj, proj_f, P * F);
    for (size_t i = 0; i < P * F; i++)
        proj[i] = proj_f[i]; /* the projection the float backward sees, exactly */

    stack_loss(&s, proj);
    float *dy1 = malloc(P * F * sizeof(float)), *dx = malloc(P * F * sizeof(float));
    float *da1 = malloc(P * F * sizeof(float)), *da2 = malloc(P * 2 * F * sizeof(float));
    float dz1[N * L], dz2[N * L], dz[N * L];
    spcnn__params_zero_grad(&s.params);
    ck_assert_int_eq(spcnn__gated_resnet_backward(&s.b2, &s.ctx, &s.params, s.y1, s.a2, s.grid,
                                                  s.z, proj_f, rate, dy1, da2, dz2, s.work),
                     SPCNN_OK);
    ck_assert_int_eq(spcnn__gated_resnet_backward(&s.b1, &s.ctx, &s.params, s.x, s.a1, s.grid,
                                                  s.z, dy1, rate, dx, da1, dz1, s.work),
                     SPCNN_OK);
    for (int i = 0; i < N * L; i++)
        dz[i] = dz1[i] + dz2[i];

    const double limit = 5e-3;
    char name[96];
    double e = fd_worst(&s, proj, s.x, dx, P * F, 1);
    snprintf(name, sizeof name, "stack dropout %.1f: dx", rate);
    tu_report(name, e, limit);
    ck_assert(e < limit);
    e = fd_worst(&s, proj, s.a1, da1, P * F, 1);
    snprintf(name, sizeof name, "stack dropout %.1f: d aux1", rate);
    tu_report(name, e, limit);
    ck_assert(e < limit);
    e = fd_worst(&s, proj, s.a2, da2, P * 2 * F, 1);
    snprintf(name, sizeof name, "stack dropout %.1f: d aux2", rate);
    tu_report(name, e, limit);
    ck_assert(e < limit);
    e = fd_worst(&s, proj, s.z, dz, N * L, 1);
    snprintf(name, sizeof name, "stack dropout %.1f: dz", rate);
    tu_report(name, e, limit);
    ck_assert(e < limit);
    /* Every parameter row; large rows sampled (about 40 elements each). */
    double worst_param = 0;
    for (size_t r = 0; r < s.params.nrows; r++) {
        size_t count = s.params.rows[r].count, stride = count > 40 ? count / 40 : 1;
        e = fd_worst(&s, proj, spcnn__params_value(&s.params, r),
                     spcnn__params_grad(&s.params, r), count, stride);
        snprintf(name, sizeof name, "stack dropout %.1f: d %s", rate, s.params.rows[r].name);
        tu_report(name, e, limit);
        ck_assert_msg(e < limit, "%s", name);
        if (e > worst_param)
            worst_param = e;
    }
    /* A gradient that is all zero would pass trivially: make sure the stack really carries it. */
    double gnorm = spcnn__params_norm(&s.params, SPCNN__BUF_GRAD);
    ck_assert_msg(gnorm > 1e-2, "parameter gradient norm %g is suspiciously small", gnorm);
    free(proj);
    free(proj_f);
    free(dy1);
    free(dx);
    free(da1);
    free(da2);
    stack_teardown(&s);
}

START_TEST(test_stack_no_dropout)
{
    check_stack(0.0f);
}
END_TEST

START_TEST(test_stack_dropout)
{
    check_stack(0.5f);
}
END_TEST

/* A cone block (forward only) computes a rectangle of a full block's output from the
 * rectangles of its inputs it depends on: the same floats, bit for bit, for rectangles of every
 * size at the scale's corners, edges and middle, both streams, with the aux input and both
 * conditionings — at the sampler's real channel count, so oneDNN picks the kernels it picks
 * there. The wavefront sampler's equality with the raster oracle rests on this. */
/* Run one forward-only or training block of shape s (no dropout): init, forward, deinit. */
static void run_block(spcnn__dnnl *ctx, const spcnn__gated_resnet_shape *s,
                      const spcnn__gated_resnet_rows *rows, const spcnn__params *params,
                      const float *x, const float *a, const float *grid, const float *z, float *y)
{
    spcnn__gated_resnet block;
    ck_assert_msg(spcnn__gated_resnet_init(&block, ctx, s, rows, NULL) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    ck_assert_int_eq(spcnn__gated_resnet_forward(&block, ctx, params,
                                                 params->buf[SPCNN__BUF_VALUE], x, a, grid, z,
                                                 0.0f, 0, y),
                     SPCNN_OK);
    spcnn__gated_resnet_deinit(&block);
}

/* A block's parameters (near-identity init made larger, so that every path shows) and its
 * inputs x [pf × f], a [pf × aux_c], grid [pf × 2], z [n × l], drawn from rng. */
static void block_setup(spcnn__params *params, const spcnn__gated_resnet_shape *s,
                        spcnn__gated_resnet_rows *rows, tu_rng *rng, size_t pf, float **x,
                        float **a, float **grid, float **z)
{
    spcnn__params_init(params);
    ck_assert_int_eq(spcnn__gated_resnet_add_params(params, "b", s, rows), SPCNN_OK);
    ck_assert_int_eq(spcnn__params_allocate(params), SPCNN_OK);
    spcnn__params_init_values(params, 3);
    for (size_t i = 0; i < params->total; i++)
        params->buf[SPCNN__BUF_VALUE][i] += (float)tu_uniform(rng, -0.3, 0.3);
    *x = tu_alloc_f(pf * (size_t)s->f);
    *a = tu_alloc_f(pf * (size_t)s->aux_c);
    *grid = tu_alloc_f(pf * 2);
    *z = tu_alloc_f((size_t)s->n * (size_t)s->latent);
    tu_fill_f(rng, *x, pf * (size_t)s->f, -1, 1);
    tu_fill_f(rng, *a, pf * (size_t)s->aux_c, -1, 1);
    tu_fill_f(rng, *grid, pf * 2, -1, 1);
    tu_fill_f(rng, *z, (size_t)s->n * (size_t)s->latent, -1, 1);
}

static void crop(const float *x, int from, int c, float *y, spcnn__region to, int n)
{
    for (int b = 0; b < n; b++)
        for (int r = 0; r < to.h; r++)
            for (int col = 0; col < to.w; col++)
                memcpy(y + (((size_t)b * to.h + r) * to.w + col) * c,
                       x + (((size_t)b * from + to.top + r) * from + to.left + col) * c,
                       (size_t)c * sizeof(float));
}

static void check_cone(int conv, int aux_c, int bf16)
{
    enum { CN = 3, S = 8, CF = 25, CL = 5 };
    if (bf16 && !spcnn__dnnl_has_bf16()) {
        printf("cone blocks in bf16: skipped, the CPU has no AVX-512 BF16\n");
        return;
    }
    spcnn__dnnl ctx;
    ck_assert_int_eq(spcnn__dnnl_init(&ctx, 1), SPCNN_OK);
    ctx.forbid_reference_impl = 1;
    spcnn__params params;
    spcnn__gated_resnet_shape full = {CN, S, S, CF, aux_c, 1, CL, conv, 0, 0, bf16, 0, 0, bf16};
    spcnn__gated_resnet_rows rows;
    tu_rng rng = {5};
    const size_t pf = (size_t)CN * S * S;
    float *x, *a, *grid, *z;
    block_setup(&params, &full, &rows, &rng, pf, &x, &a, &grid, &z);
    float *y = tu_alloc_f(pf * CF);
    float *xc = tu_alloc_f(pf * CF), *ac = tu_alloc_f(pf * aux_c), *gc = tu_alloc_f(pf * 2);
    float *yc = tu_alloc_f(pf * CF), *want = tu_alloc_f(pf * CF);
    spcnn__gated_resnet block;
    run_block(&ctx, &full, &rows, &params, x, a, grid, z, y);
    int checked = 0;
    for (int h = 1; h <= S; h++)
        for (int wd = 1; wd <= S; wd++) {
            if (h == S && wd == S)
                continue;
            const int tops[3] = {0, (S - h) / 2, S - h}, lefts[3] = {0, (S - wd) / 2, S - wd};
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    if ((i > 0 && tops[i] == tops[i - 1]) || (j > 0 && lefts[j] == lefts[j - 1]))
                        continue;
                    spcnn__gated_resnet_shape cone = {CN, h, wd, CF, aux_c, 1, CL, conv, 0, S,
                                                      bf16, tops[i], lefts[j], bf16};
                    spcnn__region rx, ra, ro = {tops[i], lefts[j], h, wd};
                    spcnn__gated_resnet_cone_inputs(&cone, &rx, &ra);
                    crop(x, S, CF, xc, rx, CN);
                    crop(a, S, aux_c, ac, ra, CN);
                    crop(grid, S, 2, gc, ro, CN);
                    crop(y, S, CF, want, ro, CN);
                    run_block(&ctx, &cone, &rows, &params, xc, ac, gc, z, yc);
                    size_t count = (size_t)CN * h * wd * CF;
                    ck_assert_msg(memcmp(yc, want, count * sizeof(float)) == 0,
                                  "cone block %dx%d at (%d, %d) (conv %d, aux %d, bf16 %d) "
                                  "differs from the full block",
                                  h, wd, tops[i], lefts[j], conv, aux_c, bf16);
                    checked++;
                }
        }
    ck_assert_int_gt(checked, 300);
    /* A cone as large as its scale, one outside it, or a training cone, is refused. */
    spcnn__gated_resnet_shape bad = {CN, S, S, CF, aux_c, 1, CL, conv, 0, S, bf16, 0, 0, bf16};
    ck_assert_int_eq(spcnn__gated_resnet_init(&block, &ctx, &bad, &rows, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    bad.h = bad.w = 3;
    bad.top = 6;
    ck_assert_int_eq(spcnn__gated_resnet_init(&block, &ctx, &bad, &rows, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    bad.top = 0;
    bad.backward = 1;
    ck_assert_int_eq(spcnn__gated_resnet_init(&block, &ctx, &bad, &rows, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    free(x), free(a), free(grid), free(z), free(y), free(xc), free(ac), free(gc), free(yc);
    free(want);
    spcnn__params_deinit(&params);
    spcnn__dnnl_deinit(&ctx);
}

START_TEST(test_cone_u)
{
    check_cone(SPCNN__CONV_DOWN_SHIFTED, 25, 0);
}
END_TEST

START_TEST(test_cone_ul)
{
    check_cone(SPCNN__CONV_DOWN_RIGHT_SHIFTED, 50, 0);
}
END_TEST

/* In bf16 (rounded inputs, AMX or AVX-512 BF16 kernels where the CPU has them) too. */
START_TEST(test_cone_u_bf16)
{
    check_cone(SPCNN__CONV_DOWN_SHIFTED, 25, 1);
}
END_TEST

START_TEST(test_cone_ul_bf16)
{
    check_cone(SPCNN__CONV_DOWN_RIGHT_SHIFTED, 50, 1);
}
END_TEST

/* A forward-only block projects the grid in its conditioning add, a training block with
 * oneDNN's 1×1 convolution: the same outputs to float accuracy. (Not bit for bit: forward-only
 * convolutions take other oneDNN kernels than training ones, which sum in another order, 5e-6
 * apart before the projection moved; a wrong projection would be off by 0.1.) */
static void check_forward_only(int conv, int aux_c)
{
    enum { CN = 3, S = 8, CF = 25, CL = 5 };
    spcnn__dnnl ctx;
    ck_assert_int_eq(spcnn__dnnl_init(&ctx, 1), SPCNN_OK);
    ctx.forbid_reference_impl = 1;
    spcnn__params params;
    spcnn__gated_resnet_shape train = {CN, S, S, CF, aux_c, 1, CL, conv, 1, 0, 0, 0, 0, 0};
    spcnn__gated_resnet_shape fwd = train;
    fwd.backward = 0;
    spcnn__gated_resnet_rows rows;
    tu_rng rng = {9};
    const size_t pf = (size_t)CN * S * S;
    float *x, *a, *grid, *z;
    block_setup(&params, &train, &rows, &rng, pf, &x, &a, &grid, &z);
    float *y_train = tu_alloc_f(pf * CF), *y_fwd = tu_alloc_f(pf * CF);
    run_block(&ctx, &train, &rows, &params, x, a, grid, z, y_train);
    run_block(&ctx, &fwd, &rows, &params, x, a, grid, z, y_fwd);
    double worst = 0;
    for (size_t i = 0; i < pf * CF; i++) {
        double e = fabs((double)y_fwd[i] - y_train[i]) / fmax(1.0, fabs((double)y_train[i]));
        worst = e > worst ? e : worst;
    }
    tu_report(conv == SPCNN__CONV_DOWN_SHIFTED ? "forward-only u block against training block"
                                               : "forward-only ul block against training block",
              worst, 2e-5);
    ck_assert(worst < 2e-5);
    free(x), free(a), free(grid), free(z), free(y_train), free(y_fwd);
    spcnn__params_deinit(&params);
    spcnn__dnnl_deinit(&ctx);
}

START_TEST(test_forward_only_u)
{
    check_forward_only(SPCNN__CONV_DOWN_SHIFTED, 0);
}
END_TEST

START_TEST(test_forward_only_ul)
{
    check_forward_only(SPCNN__CONV_DOWN_RIGHT_SHIFTED, 50);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("gated_resnet");
    TCase *tc = tcase_create("composed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stack_no_dropout);
    tcase_add_test(tc, test_stack_dropout);
    tcase_add_test(tc, test_forward_only_u);
    tcase_add_test(tc, test_forward_only_ul);
    suite_add_tcase(suite, tc);
    TCase *cone = tcase_create("cone");
    tcase_set_timeout(cone, 60);
    tcase_add_test(cone, test_cone_u);
    tcase_add_test(cone, test_cone_ul);
    tcase_add_test(cone, test_cone_u_bf16);
    tcase_add_test(cone, test_cone_ul_bf16);
    suite_add_tcase(suite, cone);
    return tu_run_suite(suite);
}
