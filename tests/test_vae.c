/* The VAE, checked end to end against central differences of the library's own float forward
 * pass: the decoder (dz and a sample of every decoder row, loss = sum proj · logits) and the
 * encoder (a sample of every encoder row, loss = sum p1 · mu + p2 · logvar), on two sizes
 * (S = 8 and S = 12, whose S/4 = 3 is odd). The layers are proven one by one elsewhere; this
 * proves the VAE wires them together right, that backward overwrites its rows (the gradient
 * buffer starts full of garbage) and touches no other row. Then the MNIST shape (S = 28,
 * C = 16, L = 60) runs forward and backward, and its forward-only twin agrees with it. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/vae.h"
#include "testutil.h"

#define GARBAGE 123.0f

typedef struct fixture {
    spcnn__dnnl ctx;
    spcnn__params params;
    spcnn__vae_shape s;
    size_t begin, end;
    spcnn__vae *vae;
    size_t nx, nz; /* n·S·S, n·L */
    float *x, *z, *mu, *logvar, *logits;
} fixture;

static void setup(fixture *f, int n, int size, int latent, int channels, int backward,
                  double noise)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(spcnn__dnnl_init(&f->ctx, 1), SPCNN_OK);
    f->ctx.forbid_reference_impl = 1;
    f->s = (spcnn__vae_shape){n, size, latent, channels, backward};
    spcnn__params_init(&f->params);
    /* A row before the VAE's, so rows_begin is not trivially 0. */
    size_t dims[1] = {3};
    ck_assert_int_eq(spcnn__params_add(&f->params, "other.b", SPCNN__PARAM_BIAS, 1, dims, 1,
                                       SPCNN__INIT_ZEROS, NULL),
                     SPCNN_OK);
    ck_assert_msg(spcnn__vae_add_params(&f->params, &f->s, &f->begin, &f->end) == SPCNN_OK,
                  "%s", spcnn_last_error_message());
    ck_assert_uint_eq(f->begin, 1);
    ck_assert_uint_eq(f->end, f->params.nrows);
    ck_assert_int_eq(spcnn__params_allocate(&f->params), SPCNN_OK);
    spcnn__params_init_values(&f->params, 7);
    /* Move every value off its init (zero biases, near-identity residual blocks) so no path
     * carries a trivially zero gradient. */
    tu_rng rng = {42};
    for (size_t i = 0; i < f->params.total; i++)
        f->params.buf[SPCNN__BUF_VALUE][i] += (float)tu_uniform(&rng, -noise, noise);
    ck_assert_msg(spcnn__vae_create(&f->ctx, &f->params, f->begin, &f->s, &f->vae) == SPCNN_OK,
                  "%s", spcnn_last_error_message());
    f->nx = (size_t)n * size * size;
    f->nz = (size_t)n * latent;
    f->x = malloc(f->nx * sizeof(float));
    f->logits = malloc(f->nx * sizeof(float));
    f->z = malloc(f->nz * sizeof(float));
    f->mu = malloc(f->nz * sizeof(float));
    f->logvar = malloc(f->nz * sizeof(float));
    tu_fill_f(&rng, f->x, f->nx, -1, 1);
    tu_fill_f(&rng, f->z, f->nz, -1.5, 1.5);
}

static void teardown(fixture *f)
{
    spcnn__vae_destroy(f->vae);
    spcnn__params_deinit(&f->params);
    spcnn__dnnl_deinit(&f->ctx);
    free(f->x);
    free(f->logits);
    free(f->z);
    free(f->mu);
    free(f->logvar);
}

static const float *values(const fixture *f)
{
    return f->params.buf[SPCNN__BUF_VALUE];
}

/* Decoder loss sum proj · logits, or encoder loss sum p1 · mu + p2 · logvar (p2 = p1 + nz),
 * in double. */
static double loss(fixture *f, int decoder, const double *proj)
{
    double sum = 0;
    if (decoder) {
        ck_assert_int_eq(spcnn__vae_decode(f->vae, &f->ctx, &f->params, values(f), f->z,
                                           f->logits),
                         SPCNN_OK);
        for (size_t i = 0; i < f->nx; i++)
            sum += proj[i] * f->logits[i];
    } else {
        ck_assert_int_eq(spcnn__vae_encode(f->vae, &f->ctx, &f->params, values(f), f->x, f->mu,
                                           f->logvar),
                         SPCNN_OK);
        for (size_t i = 0; i < f->nz; i++)
            sum += proj[i] * f->mu[i] + proj[f->nz + i] * f->logvar[i];
    }
    return sum;
}

/* Worst |numeric - analytic| / max(1, |numeric|, |analytic|) over v[0], v[stride], ...
 * Central differences of a float forward err by O(h²) where the ELUs curve (these noisy
 * weights make some rows need h below 1e-2) and by O(float rounding / h) (others lose digits
 * below 5e-3), so each element keeps the better of h = 1e-2 and 5e-3: a wrong gradient is
 * wrong at both. */
static double fd_worst(fixture *f, int decoder, const double *proj, float *v,
                       const float *analytic, size_t n, size_t stride)
{
    static const float steps[2] = {1e-2f, 5e-3f};
    double worst = 0;
    for (size_t i = 0; i < n; i += stride) {
        double best = INFINITY;
        for (int k = 0; k < 2; k++) {
            const float h = steps[k], keep = v[i];
            v[i] = keep + h;
            double lp = loss(f, decoder, proj);
            v[i] = keep - h;
            double lm = loss(f, decoder, proj);
            v[i] = keep;
            /* The steps actually taken, as rounded in float. */
            double num = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
            double err = fabs(num - analytic[i]) / fmax(1.0, fmax(fabs(num), fabs(analytic[i])));
            if (isnan(err) || isnan(best))
                best = NAN; /* a NaN anywhere fails the check */
            else if (err < best)
                best = err;
        }
        if (isnan(best) || isnan(worst))
            worst = NAN;
        else if (best > worst)
            worst = best;
    }
    return worst;
}

static int is_prefix(const char *prefix, const char *name)
{
    return strncmp(prefix, name, strlen(prefix)) == 0;
}

/* Check every row named prefix* against central differences (about 40 elements per row) and
 * that every other row's gradient still holds the garbage it was given. */
static void check_rows(fixture *f, int decoder, const double *proj, const char *prefix,
                       const char *label)
{
    const double limit = 5e-3;
    char name[128];
    double gsq = 0;
    int checked = 0;
    for (size_t r = 0; r < f->params.nrows; r++) {
        const spcnn__param *row = &f->params.rows[r];
        float *g = spcnn__params_grad(&f->params, r);
        if (!is_prefix(prefix, row->name)) {
            for (size_t i = 0; i < row->count; i++)
                ck_assert_msg(g[i] == GARBAGE, "%s: backward wrote row %s", label, row->name);
            continue;
        }
        for (size_t i = 0; i < row->count; i++)
            gsq += (double)g[i] * g[i];
        size_t stride = row->count > 40 ? row->count / 40 : 1;
        double e = fd_worst(f, decoder, proj, spcnn__params_value(&f->params, r), g, row->count,
                            stride);
        snprintf(name, sizeof name, "%s: d %s", label, row->name);
        tu_report(name, e, limit);
        ck_assert_msg(e < limit, "%s", name);
        checked++;
    }
    ck_assert_int_ge(checked, 10);
    /* An all-zero gradient would pass trivially: make sure the network really carries one. */
    ck_assert_msg(sqrt(gsq) > 1e-2, "%s: gradient norm %g is suspiciously small", label,
                  sqrt(gsq));
}

static void fill_grad_garbage(fixture *f)
{
    for (size_t i = 0; i < f->params.total; i++)
        f->params.buf[SPCNN__BUF_GRAD][i] = GARBAGE;
}

/* A projection whose double values are exactly the floats the backward sees. */
static void make_proj(tu_rng *rng, double *proj, float *proj_f, size_t n)
{
    tu_fill_d(rng, proj, n, -1, 1);
    tu_d2f(proj, proj_f, n);
    tu_f2d(proj_f, proj, n);
}

static void check_decoder(int size)
{
    fixture f;
    setup(&f, 2, size, 3, 4, 1, 0.2);
    double *proj = malloc(f.nx * sizeof(double));
    float *proj_f = malloc(f.nx * sizeof(float));
    float *dz = malloc(f.nz * sizeof(float));
    tu_rng rng = {5};
    make_proj(&rng, proj, proj_f, f.nx);

    loss(&f, 1, proj);
    fill_grad_garbage(&f);
    for (size_t i = 0; i < f.nz; i++)
        dz[i] = GARBAGE;
    ck_assert_msg(spcnn__vae_decode_backward(f.vae, &f.ctx, &f.params, f.z, proj_f, dz) ==
                      SPCNN_OK,
                  "%s", spcnn_last_error_message());
    char label[64];
    snprintf(label, sizeof label, "decoder S=%d", size);
    char name[96];
    snprintf(name, sizeof name, "%s: dz", label);
    double e = fd_worst(&f, 1, proj, f.z, dz, f.nz, 1);
    tu_report(name, e, 5e-3);
    ck_assert(e < 5e-3);
    check_rows(&f, 1, proj, "vae.dec.", label);
    free(proj);
    free(proj_f);
    free(dz);
    teardown(&f);
}

static void check_encoder(int size)
{
    fixture f;
    setup(&f, 2, size, 3, 4, 1, 0.2);
    double *proj = malloc(2 * f.nz * sizeof(double));
    float *proj_f = malloc(2 * f.nz * sizeof(float));
    tu_rng rng = {6};
    make_proj(&rng, proj, proj_f, 2 * f.nz);

    loss(&f, 0, proj);
    fill_grad_garbage(&f);
    ck_assert_msg(spcnn__vae_encode_backward(f.vae, &f.ctx, &f.params, f.x, proj_f,
                                             proj_f + f.nz) == SPCNN_OK,
                  "%s", spcnn_last_error_message());
    char label[64];
    snprintf(label, sizeof label, "encoder S=%d", size);
    check_rows(&f, 0, proj, "vae.enc.", label);
    free(proj);
    free(proj_f);
    teardown(&f);
}

START_TEST(test_decoder_s8)
{
    check_decoder(8);
}
END_TEST

START_TEST(test_decoder_s12)
{
    check_decoder(12);
}
END_TEST

START_TEST(test_encoder_s8)
{
    check_encoder(8);
}
END_TEST

START_TEST(test_encoder_s12)
{
    check_encoder(12);
}
END_TEST

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* The MNIST shape with the model's init (no noise): forward and backward run on optimised
 * oneDNN implementations only and give finite results; the forward-only twin (the sampling
 * plan's shape) gives the same encoding and logits. */
START_TEST(test_mnist_shape)
{
    fixture f;
    setup(&f, 4, 28, 60, 16, 1, 0.0);
    float *dz = malloc(f.nz * sizeof(float));
    float *dl = malloc(f.nx * sizeof(float));
    for (size_t i = 0; i < f.nx; i++)
        dl[i] = 0.01f * (float)(i % 7) - 0.03f;
    ck_assert_int_eq(spcnn__vae_encode(f.vae, &f.ctx, &f.params, values(&f), f.x, f.mu,
                                       f.logvar),
                     SPCNN_OK);
    ck_assert(all_finite(f.mu, f.nz) && all_finite(f.logvar, f.nz));
    ck_assert_int_eq(spcnn__vae_decode(f.vae, &f.ctx, &f.params, values(&f), f.z, f.logits),
                     SPCNN_OK);
    ck_assert(all_finite(f.logits, f.nx));
    double lsq = 0, msq = 0;
    for (size_t i = 0; i < f.nx; i++)
        lsq += (double)f.logits[i] * f.logits[i];
    for (size_t i = 0; i < f.nz; i++)
        msq += (double)f.mu[i] * f.mu[i];
    printf("MNIST shape: rms logit %.3f, rms mu %.3f at initialisation\n", sqrt(lsq / f.nx),
           sqrt(msq / f.nz));
    ck_assert(lsq > 0 && msq > 0);
    ck_assert_int_eq(spcnn__vae_decode_backward(f.vae, &f.ctx, &f.params, f.z, dl, dz),
                     SPCNN_OK);
    ck_assert_int_eq(spcnn__vae_encode_backward(f.vae, &f.ctx, &f.params, f.x, dz, dz),
                     SPCNN_OK);
    ck_assert(all_finite(dz, f.nz));
    ck_assert(all_finite(f.params.buf[SPCNN__BUF_GRAD], f.params.total));

    /* The forward-only twin over the same rows. */
    spcnn__vae_shape fs = f.s;
    fs.backward = 0;
    spcnn__vae *fwd = NULL;
    ck_assert_msg(spcnn__vae_create(&f.ctx, &f.params, f.begin, &fs, &fwd) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    float *mu2 = malloc(f.nz * sizeof(float)), *lv2 = malloc(f.nz * sizeof(float));
    float *lg2 = malloc(f.nx * sizeof(float));
    ck_assert_int_eq(spcnn__vae_encode(fwd, &f.ctx, &f.params, values(&f), f.x, mu2, lv2),
                     SPCNN_OK);
    ck_assert_int_eq(spcnn__vae_decode(fwd, &f.ctx, &f.params, values(&f), f.z, lg2),
                     SPCNN_OK);
    double *ref = malloc(f.nx * sizeof(double));
    tu_f2d(f.logits, ref, f.nx);
    double e = tu_nmse(lg2, ref, f.nx);
    tu_report("MNIST shape: forward-only logits (nmse)", e, 1e-10);
    ck_assert(e < 1e-10);
    tu_f2d(f.mu, ref, f.nz);
    e = tu_nmse(mu2, ref, f.nz);
    tu_f2d(f.logvar, ref, f.nz);
    double e2 = tu_nmse(lv2, ref, f.nz);
    e = e2 > e ? e2 : e;
    tu_report("MNIST shape: forward-only mu, logvar (nmse)", e, 1e-10);
    ck_assert(e < 1e-10);
    /* A forward-only VAE refuses backward. */
    ck_assert_int_eq(spcnn__vae_decode_backward(fwd, &f.ctx, &f.params, f.z, dl, dz),
                     SPCNN_ERR_INVALID_ARGUMENT);
    spcnn__vae_destroy(fwd);
    free(mu2);
    free(lv2);
    free(lg2);
    free(ref);
    free(dz);
    free(dl);
    teardown(&f);
}
END_TEST

/* Bad shapes and rows that are not this shape's VAE rows are refused, with *out NULL. */
START_TEST(test_misuse)
{
    fixture f;
    setup(&f, 2, 8, 3, 4, 1, 0.0);
    spcnn__vae *v = (spcnn__vae *)&f; /* any non-NULL value, to see it reset */
    spcnn__vae_shape bad = f.s;
    bad.size = 10;
    ck_assert_int_eq(spcnn__vae_create(&f.ctx, &f.params, f.begin, &bad, &v),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(v);
    bad = f.s;
    bad.channels = 5; /* rows of another width */
    ck_assert_int_eq(spcnn__vae_create(&f.ctx, &f.params, f.begin, &bad, &v),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(spcnn__vae_create(&f.ctx, &f.params, 0, &f.s, &v),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__vae_create(&f.ctx, &f.params, f.params.nrows, &f.s, &v),
                     SPCNN_ERR_INVALID_ARGUMENT);
    printf("misuse: %s\n", spcnn_last_error_message());
    spcnn__vae_destroy(NULL);
    teardown(&f);
}
END_TEST

/* An allocation failure at every site of create returns SPCNN_ERR_OUT_OF_MEMORY with *out NULL
 * (and, under ASan, leaks nothing). */
START_TEST(test_out_of_memory)
{
    fixture f;
    setup(&f, 2, 8, 3, 4, 1, 0.0);
    int sites = 0;
    for (long k = 0;; k++) {
        spcnn__vae *v = (spcnn__vae *)&f;
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn__vae_create(&f.ctx, &f.params, f.begin, &f.s, &v);
        spcnn__alloc_fail_after(-1);
        if (st == SPCNN_OK) {
            spcnn__vae_destroy(v);
            break;
        }
        ck_assert_msg(st == SPCNN_ERR_OUT_OF_MEMORY, "site %ld: %s", k,
                      spcnn_last_error_message());
        ck_assert_ptr_null(v);
        sites++;
        ck_assert_int_lt(k, 10000);
    }
    printf("out of memory: %d allocation sites in create, each refused cleanly\n", sites);
    ck_assert_int_gt(sites, 0);
    teardown(&f);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("vae");
    TCase *tc = tcase_create("vae");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_decoder_s8);
    tcase_add_test(tc, test_decoder_s12);
    tcase_add_test(tc, test_encoder_s8);
    tcase_add_test(tc, test_encoder_s12);
    tcase_add_test(tc, test_mnist_shape);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
