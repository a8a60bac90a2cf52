/* The PixelCNN++ U-net as a whole: causality (the mixture parameters of pixel p depend on no
 * pixel at or after p, and the input gradient of pixel p's NLL is exactly zero there), and the
 * whole network's gradients against central differences of its own float forward pass. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/pixelcnn.h"
#include "nn/mixture.h"
#include "nn/optim.h"
#include "testutil.h"

enum { L = 3 };

typedef struct net {
    spcnn__dnnl ctx;
    spcnn__params params;
    spcnn__pixelcnn_shape s;
    spcnn__pixelcnn_rows rows;
    spcnn__pixelcnn *pc;
    float *x, *grid, *z, *out;
    size_t p, nout;
} net;

static void net_setup(net *t, int n, int m, int grid, int latent)
{
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(spcnn__dnnl_init(&t->ctx, 1), SPCNN_OK);
    t->ctx.forbid_reference_impl = 1;
    spcnn__params_init(&t->params);
    spcnn__pixelcnn_shape s = {n, m, 4, 1, 2, latent, grid, 1, 0, 0, 0, 0, 0};
    t->s = s;
    ck_assert_msg(spcnn__pixelcnn_add_params(&t->params, &s, &t->rows) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    ck_assert_int_eq(spcnn__params_allocate(&t->params), SPCNN_OK);
    spcnn__params_init_values(&t->params, 3);
    tu_rng rng = {99};
    for (size_t i = 0; i < t->params.total; i++) /* every path visibly alive */
        t->params.buf[SPCNN__BUF_VALUE][i] += (float)tu_uniform(&rng, -0.2, 0.2);
    ck_assert_msg(spcnn__pixelcnn_create(&t->ctx, &s, &t->rows, &t->pc) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    t->p = (size_t)n * m * m;
    t->nout = t->p * 3 * 2;
    t->x = malloc(t->p * sizeof(float));
    t->grid = malloc(t->p * 2 * sizeof(float));
    t->z = malloc((size_t)n * L * sizeof(float));
    t->out = malloc(t->nout * sizeof(float));
    for (size_t i = 0; i < t->p; i++)
        t->x[i] = (float)((int)tu_uniform(&rng, 0, 256)) / 127.5f - 1.0f;
    tu_fill_f(&rng, t->grid, t->p * 2, -1, 1);
    tu_fill_f(&rng, t->z, (size_t)n * L, -1, 1);
}

static void net_teardown(net *t)
{
    spcnn__pixelcnn_destroy(t->pc);
    spcnn__params_deinit(&t->params);
    spcnn__dnnl_deinit(&t->ctx);
    free(t->x);
    free(t->grid);
    free(t->z);
    free(t->out);
}

static void net_forward(net *t, float rate, float *out)
{
    ck_assert_int_eq(spcnn__pixelcnn_forward(t->pc, &t->ctx, &t->params,
                                             t->params.buf[SPCNN__BUF_VALUE], t->x, t->grid,
                                             t->z, rate, 77, out),
                     SPCNN_OK);
}

/* Perturbing pixel q changes the outputs of pixels after q in raster order and nothing else. */
/* Latent tables (the sampler's): a forward-only plan reading each window's projections from
 * its image's table gives the bytes of the plan projecting z itself; the tables serve one
 * forward only, and with another z and no tables the output moves. */
START_TEST(test_latent_tables)
{
    net t;
    net_setup(&t, 3, 8, 1, L); /* the parameters and inputs; its plan trains */
    spcnn__pixelcnn_shape s = t.s;
    s.backward = 0;
    spcnn__pixelcnn *pc;
    ck_assert_msg(spcnn__pixelcnn_create(&t.ctx, &s, &t.rows, &pc) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    const float *w = t.params.buf[SPCNN__BUF_VALUE];
    const size_t floats = spcnn__pixelcnn_latent_table_floats(pc);
    ck_assert_uint_eq(floats, (size_t)(12 * s.r + 4) * 2 * (size_t)s.f);
    float *tables = malloc(3 * floats * sizeof(float));
    const float *rows[3];
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(spcnn__pixelcnn_latent_table(pc, &t.ctx, &t.params, w, t.z + i * L,
                                                      tables + i * floats),
                         SPCNN_OK);
        rows[i] = tables + i * floats;
    }
    float *a = malloc(t.nout * sizeof(float)), *b = malloc(t.nout * sizeof(float));
    float *c = malloc(t.nout * sizeof(float)), *other = malloc(3 * L * sizeof(float));
    ck_assert_int_eq(spcnn__pixelcnn_forward(pc, &t.ctx, &t.params, w, t.x, t.grid, t.z, 0.0f,
                                             0, a),
                     SPCNN_OK);
    for (size_t i = 0; i < 3 * L; i++)
        other[i] = -t.z[i];
    spcnn__pixelcnn_set_latent_tables(pc, rows);
    ck_assert_int_eq(spcnn__pixelcnn_forward(pc, &t.ctx, &t.params, w, t.x, t.grid, other, 0.0f,
                                             0, b),
                     SPCNN_OK);
    ck_assert_msg(memcmp(a, b, t.nout * sizeof(float)) == 0,
                  "the tables gave other bytes than z's own projections");
    ck_assert_int_eq(spcnn__pixelcnn_forward(pc, &t.ctx, &t.params, w, t.x, t.grid, other, 0.0f,
                                             0, c),
                     SPCNN_OK);
    ck_assert_msg(memcmp(a, c, t.nout * sizeof(float)) != 0,
                  "the tables outlived their forward (or z does not matter)");
    free(a), free(b), free(c), free(other), free(tables);
    spcnn__pixelcnn_destroy(pc);
    net_teardown(&t);
}
END_TEST

START_TEST(test_causal_perturbation)
{
    net t;
    net_setup(&t, 2, 8, 1, L);
    const size_t k3 = 6, hw = 64;
    float *base = malloc(t.nout * sizeof(float)), *moved = malloc(t.nout * sizeof(float));
    net_forward(&t, 0.0f, base);
    size_t violations = 0, influenced = 0;
    for (size_t q = 0; q < hw; q++) {
        float keep = t.x[q]; /* image 0 */
        t.x[q] = keep > 0 ? -1.0f : 1.0f;
        net_forward(&t, 0.0f, moved);
        t.x[q] = keep;
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < k3; c++) {
                int same = base[p * k3 + c] == moved[p * k3 + c];
                if (p <= q && !same)
                    violations++;
                if (p == q + 1 && !same)
                    influenced++;
            }
        /* Image 1 never changes. */
        ck_assert_int_eq(memcmp(base + hw * k3, moved + hw * k3, hw * k3 * sizeof(float)), 0);
    }
    printf("causality by perturbation: %zu outputs at or before the changed pixel moved; "
           "%zu next-pixel outputs moved\n", violations, influenced);
    ck_assert_uint_eq(violations, 0);
    ck_assert_uint_gt(influenced, 0); /* the network does look at the previous pixel */
    free(base);
    free(moved);
    net_teardown(&t);
}
END_TEST

/* The gradient of pixel p's NLL with respect to the image is exactly zero at p and after. */
START_TEST(test_causal_gradient)
{
    net t;
    net_setup(&t, 1, 8, 1, L);
    float *dout = calloc(t.nout, sizeof(float)), *dx = malloc(t.p * sizeof(float));
    float *dz = malloc(L * sizeof(float));
    uint8_t pix[64];
    for (int i = 0; i < 64; i++)
        pix[i] = (uint8_t)lrintf((t.x[i] + 1.0f) * 127.5f);
    size_t nonzero_before = 0;
    for (size_t p = 0; p < 64; p++) {
        net_forward(&t, 0.0f, t.out);
        float one = 1.0f;
        memset(dout, 0, t.nout * sizeof(float));
        spcnn__mixture_nll_backward(t.out + p * 6, pix + p, &one, dout + p * 6, 1, 2);
        ck_assert_int_eq(spcnn__pixelcnn_backward(t.pc, &t.ctx, &t.params, dout, 0.0f, dz, dx),
                         SPCNN_OK);
        for (size_t q = p; q < 64; q++)
            ck_assert_msg(dx[q] == 0.0f, "d nll(pixel %zu) / d pixel %zu = %g", p, q, dx[q]);
        for (size_t q = 0; q < p; q++)
            nonzero_before += dx[q] != 0.0f;
    }
    printf("causality by gradient: exact zeros at and after every pixel; %zu non-zero "
           "gradients before\n", nonzero_before);
    ck_assert_uint_gt(nonzero_before, 64);
    free(dout);
    free(dx);
    free(dz);
    net_teardown(&t);
}
END_TEST

static double loss_of(net *t, const double *proj, float rate)
{
    net_forward(t, rate, t->out);
    double l = 0;
    for (size_t i = 0; i < t->nout; i++)
        l += proj[i] * t->out[i];
    return l;
}

/* Five-point central differences (truncation error O(h^4)): a deep float network needs a
 * step large enough to rise above rounding, which the plain three-point rule cannot afford. */
static double fd_worst(net *t, const double *proj, float rate, float *v, const float *ana,
                       size_t n, size_t stride)
{
    const float h = 1e-2f;
    double worst = 0;
    for (size_t i = 0; i < n; i += stride) {
        float keep = v[i];
        double l[4];
        const float offsets[4] = {-2 * h, -h, h, 2 * h};
        for (int j = 0; j < 4; j++) {
            v[i] = keep + offsets[j];
            l[j] = loss_of(t, proj, rate);
        }
        v[i] = keep;
        double num = (l[0] - 8 * l[1] + 8 * l[2] - l[3]) / (12.0 * h);
        double err = fabs(num - ana[i]) / fmax(1.0, fmax(fabs(num), fabs(ana[i])));
        if (!(err <= worst))
            worst = err;
    }
    return worst;
}

static void check_gradients(int grid, int latent, float rate)
{
    net t;
    net_setup(&t, 2, 8, grid, latent);
    double *proj = malloc(t.nout * sizeof(double));
    float *proj_f = malloc(t.nout * sizeof(float));
    float dz[2 * L];
    tu_rng rng = {17};
    for (size_t i = 0; i < t.nout; i++) {
        proj_f[i] = (float)tu_uniform(&rng, -1, 1);
        proj[i] = proj_f[i];
    }
    loss_of(&t, proj, rate);
    spcnn__params_zero_grad(&t.params);
    ck_assert_int_eq(spcnn__pixelcnn_backward(t.pc, &t.ctx, &t.params, proj_f, rate,
                                              latent ? dz : NULL, NULL),
                     SPCNN_OK);
    /* Not tighter: a 1e-2 step moves some ELU inputs across 0, where ELU's second derivative
     * jumps, which bounds the accuracy of any difference rule at about 1e-2 here. A wiring
     * error gives errors near 1 (a swapped or dropped gradient path was seen to). */
    const double limit = 2e-2;
    double worst = 0;
    const char *worst_row = "";
    for (size_t r = 0; r < t.params.nrows; r++) {
        size_t count = t.params.rows[r].count, stride = count > 12 ? count / 12 : 1;
        double e = fd_worst(&t, proj, rate, spcnn__params_value(&t.params, r),
                            spcnn__params_grad(&t.params, r), count, stride);
        if (e > worst) {
            worst = e;
            worst_row = t.params.rows[r].name;
        }
    }
    char name[128];
    snprintf(name, sizeof name, "pixelcnn grid=%d latent=%d dropout=%.1f: %zu rows (%s)", grid,
             latent, rate, t.params.nrows, worst_row);
    tu_report(name, worst, limit);
    ck_assert(worst < limit);
    if (latent) {
        double e = fd_worst(&t, proj, rate, t.z, dz, 2 * L, 1);
        snprintf(name, sizeof name, "pixelcnn grid=%d latent=%d dropout=%.1f: dz", grid, latent,
                 rate);
        tu_report(name, e, limit);
        ck_assert(e < limit);
    }
    ck_assert(spcnn__params_norm(&t.params, SPCNN__BUF_GRAD) > 1e-2);
    free(proj);
    free(proj_f);
    net_teardown(&t);
}

START_TEST(test_gradients_full)
{
    check_gradients(1, L, 0.5f);
}
END_TEST

START_TEST(test_gradients_plain)
{
    check_gradients(0, 0, 0.0f);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("pixelcnn");
    TCase *tc = tcase_create("pixelcnn");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_latent_tables);
    tcase_add_test(tc, test_causal_perturbation);
    tcase_add_test(tc, test_causal_gradient);
    tcase_add_test(tc, test_gradients_full);
    tcase_add_test(tc, test_gradients_plain);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
