/* The parameter table (nn/params.h) and the optimiser (nn/optim.h): layout, allocation failure,
 * initialisation statistics and determinism, Adam/L2/decay/EMA against hand-computed steps,
 * clipping, the non-finite guard, and steps over a range of rows. No oneDNN. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "testutil.h"

static void add_ok(spcnn__params *p, const char *name, spcnn__param_kind kind, size_t d0,
                   size_t d1, size_t d2, size_t d3, size_t fan_in, spcnn__param_init init)
{
    const size_t dims[4] = {d0, d1, d2, d3};
    static const int nd[] = {4, 4, 2, 1};
    ck_assert_int_eq(spcnn__params_add(p, name, kind, nd[kind], dims, fan_in, init, NULL),
                     SPCNN_OK);
}

/* A small model-like table with odd counts so padding matters. */
static void build_small(spcnn__params *p)
{
    spcnn__params_init(p);
    add_ok(p, "a.conv.w", SPCNN__PARAM_CONV, 5, 3, 2, 3, 18, SPCNN__INIT_HE);
    add_ok(p, "a.conv.b", SPCNN__PARAM_BIAS, 5, 1, 1, 1, 0, SPCNN__INIT_ZEROS);
    add_ok(p, "b.deconv.w", SPCNN__PARAM_DECONV, 3, 7, 2, 2, 12, SPCNN__INIT_SMALL);
    add_ok(p, "c.lin.w", SPCNN__PARAM_LINEAR, 9, 11, 1, 1, 11, SPCNN__INIT_LECUN);
    add_ok(p, "c.gain", SPCNN__PARAM_BIAS, 9, 1, 1, 1, 0, SPCNN__INIT_ONES);
    ck_assert_int_eq(spcnn__params_allocate(p), SPCNN_OK);
}

START_TEST(test_table_layout)
{
    spcnn__params p;
    build_small(&p);
    const size_t counts[] = {90, 5, 84, 99, 9};
    ck_assert_uint_eq(p.nrows, 5);
    size_t sum = 0, end = 0;
    for (size_t i = 0; i < p.nrows; i++) {
        const spcnn__param *r = &p.rows[i];
        ck_assert_uint_eq(r->count, counts[i]);
        ck_assert_uint_eq(r->offset % SPCNN__PARAM_ALIGN, 0);
        ck_assert_uint_ge(r->offset, end); /* rows do not overlap */
        end = r->offset + r->count;
        sum += r->count;
        ck_assert_int_eq(spcnn__params_find(&p, r->name), (ptrdiff_t)i);
        for (int k = 0; k < SPCNN__BUF_COUNT; k++)
            ck_assert_uint_eq((uintptr_t)spcnn__params_ptr(&p, (spcnn__param_buf)k, i) % 64, 0);
    }
    ck_assert_uint_eq(p.rows[2].dims[0], 3);
    ck_assert_uint_eq(p.rows[2].dims[1], 7);
    ck_assert_uint_eq(p.rows[3].dims[2], 1); /* unused dims are 1 */
    ck_assert_uint_eq(p.nvalues, sum);
    ck_assert_uint_ge(p.total, end);
    ck_assert_uint_eq(p.total % SPCNN__PARAM_ALIGN, 0);
    ck_assert_int_eq(spcnn__params_find(&p, "nope"), -1);
    ck_assert_int_eq(spcnn__params_find(&p, "a.conv"), -1);
    /* Five distinct, non-overlapping, aligned buffers, all zero after allocation. */
    for (int k = 0; k < SPCNN__BUF_COUNT; k++) {
        ck_assert_uint_eq((uintptr_t)p.buf[k] % 64, 0);
        for (int j = 0; j < k; j++) {
            const float *a = p.buf[j], *b = p.buf[k];
            ck_assert(a + p.total <= b || b + p.total <= a);
        }
        for (size_t i = 0; i < p.total; i++)
            ck_assert(p.buf[k][i] == 0.0f);
    }
    ck_assert_ptr_eq(spcnn__params_value(&p, 1), p.buf[SPCNN__BUF_VALUE] + p.rows[1].offset);
    ck_assert_ptr_eq(spcnn__params_grad(&p, 1), p.buf[SPCNN__BUF_GRAD] + p.rows[1].offset);
    ck_assert_ptr_eq(spcnn__params_ema(&p, 1), p.buf[SPCNN__BUF_EMA] + p.rows[1].offset);
    spcnn__params_deinit(&p);
    spcnn__params_deinit(&p); /* idempotent */
    spcnn__params_deinit(NULL);
}
END_TEST

START_TEST(test_table_rejects)
{
    spcnn__params p;
    spcnn__params_init(&p);
    size_t d4[4] = {2, 2, 2, 2}, idx = 99;
    char longname[SPCNN__PARAM_NAME_MAX + 1];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(spcnn__params_allocate(&p), SPCNN_ERR_INVALID_ARGUMENT); /* no rows */
    ck_assert_int_eq(spcnn__params_add(&p, "w", SPCNN__PARAM_CONV, 4, d4, 8, SPCNN__INIT_HE, &idx),
                     SPCNN_OK);
    ck_assert_uint_eq(idx, 0);
    const spcnn_status bad[] = {
        spcnn__params_add(&p, "w", SPCNN__PARAM_CONV, 4, d4, 8, SPCNN__INIT_HE, NULL),
        spcnn__params_add(&p, "", SPCNN__PARAM_BIAS, 1, d4, 0, SPCNN__INIT_ZEROS, NULL),
        spcnn__params_add(&p, longname, SPCNN__PARAM_BIAS, 1, d4, 0, SPCNN__INIT_ZEROS, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_CONV, 2, d4, 8, SPCNN__INIT_HE, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_LINEAR, 4, d4, 8, SPCNN__INIT_HE, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_CONV, 4, d4, 0, SPCNN__INIT_HE, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_CONV, 4, d4, 0, SPCNN__INIT_SMALL, NULL),
        spcnn__params_add(&p, "x", (spcnn__param_kind)7, 4, d4, 8, SPCNN__INIT_HE, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_CONV, 4, d4, 8, (spcnn__param_init)9, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_BIAS, 1, (const size_t[]){0}, 0,
                          SPCNN__INIT_ZEROS, NULL),
        spcnn__params_add(&p, "x", SPCNN__PARAM_LINEAR, 2, (const size_t[]){SIZE_MAX / 2, 4}, 1,
                          SPCNN__INIT_ZEROS, NULL),
        spcnn__params_add(NULL, "x", SPCNN__PARAM_BIAS, 1, d4, 0, SPCNN__INIT_ZEROS, NULL),
        spcnn__params_add(&p, NULL, SPCNN__PARAM_BIAS, 1, d4, 0, SPCNN__INIT_ZEROS, NULL),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(bad[i] == SPCNN_ERR_INVALID_ARGUMENT, "case %zu gave %d", i, bad[i]);
    ck_assert_uint_eq(p.nrows, 1); /* unchanged by the failures */
    ck_assert_uint_eq(p.total, 16);
    ck_assert_int_eq(spcnn__params_add(&p, "w", SPCNN__PARAM_CONV, 4, d4, 8, SPCNN__INIT_HE, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "duplicate name \"w\""));
    /* Zeros and ones need no fan_in. */
    ck_assert_int_eq(spcnn__params_add(&p, "b", SPCNN__PARAM_BIAS, 1, d4, 0, SPCNN__INIT_ONES,
                                       &idx),
                     SPCNN_OK);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(spcnn__params_allocate(&p), SPCNN_OK);
    ck_assert_int_eq(spcnn__params_allocate(&p), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__params_add(&p, "c", SPCNN__PARAM_BIAS, 1, d4, 0, SPCNN__INIT_ONES,
                                       NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "already allocated"));
    spcnn__params_deinit(&p);
}
END_TEST

/* 150 rows: the table grows twice (64 -> 128 -> 256 rows) before the block is allocated, so
 * there are four allocation sites. */
static spcnn_status build_big(spcnn__params *p)
{
    spcnn__params_init(p);
    for (int i = 0; i < 150; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%d.w", i);
        const size_t dims[2] = {3, (size_t)i + 1};
        spcnn_status st = spcnn__params_add(p, name, SPCNN__PARAM_LINEAR, 2, dims, (size_t)i + 1,
                                            SPCNN__INIT_LECUN, NULL);
        if (st != SPCNN_OK)
            return st;
    }
    return spcnn__params_allocate(p);
}

START_TEST(test_table_alloc_failure)
{
    long failures = 0;
    for (long k = 0;; k++) {
        spcnn__params p;
        spcnn__alloc_fail_after(k);
        spcnn_status st = build_big(&p);
        spcnn__alloc_fail_after(-1);
        if (st == SPCNN_OK) {
            spcnn__params_init_values(&p, 3);
            spcnn__params_deinit(&p);
            break;
        }
        ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
        ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "out of memory"));
        if (p.nrows == 150) {
            /* A failed block allocation leaves the table usable: retry succeeds. */
            ck_assert_ptr_null(p.block);
            ck_assert_int_eq(spcnn__params_allocate(&p), SPCNN_OK);
        }
        spcnn__params_deinit(&p);
        failures++;
        ck_assert_int_lt(k, 100);
    }
    ck_assert_int_eq(failures, 4);
    printf("table allocation: %ld injected failures, all SPCNN_ERR_OUT_OF_MEMORY\n", failures);
}
END_TEST

/* Sample mean, std and kurtosis of a row against its scheme. */
START_TEST(test_init_statistics)
{
    spcnn__params p;
    spcnn__params_init(&p);
    const spcnn__param_init schemes[] = {SPCNN__INIT_HE, SPCNN__INIT_LECUN, SPCNN__INIT_SMALL};
    const char *names[] = {"he", "lecun", "small"};
    for (int s = 0; s < 3; s++)
        add_ok(&p, names[s], SPCNN__PARAM_CONV, 64, 64, 3, 3, 64 * 9, schemes[s]);
    add_ok(&p, "zeros", SPCNN__PARAM_BIAS, 77, 1, 1, 1, 0, SPCNN__INIT_ZEROS);
    add_ok(&p, "ones", SPCNN__PARAM_BIAS, 77, 1, 1, 1, 0, SPCNN__INIT_ONES);
    ck_assert_int_eq(spcnn__params_allocate(&p), SPCNN_OK);
    /* Garbage everywhere first, so init must overwrite or zero every buffer. */
    for (size_t i = 0; i < SPCNN__BUF_COUNT * p.total; i++)
        p.block[i] = 7.0f;
    spcnn__params_init_values(&p, 12345);
    double worst_std = 0, worst_mean = 0, worst_kurt = 0;
    const double target[] = {sqrt(2.0 / 576), sqrt(1.0 / 576), 0.1 / sqrt(576.0)};
    for (int s = 0; s < 3; s++) {
        ck_assert_double_eq_tol(spcnn__param_init_std(schemes[s], 576), target[s], 1e-15);
        const float *w = spcnn__params_value(&p, (size_t)s);
        size_t n = p.rows[s].count;
        double m1 = 0, m2 = 0, m4 = 0;
        for (size_t i = 0; i < n; i++)
            m1 += w[i];
        m1 /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = w[i] - m1;
            m2 += d * d;
            m4 += d * d * d * d;
        }
        m2 /= (double)n;
        m4 /= (double)n;
        double sd = sqrt(m2);
        double std_err = fabs(sd / target[s] - 1), mean_err = fabs(m1) / target[s];
        double kurt_err = fabs(m4 / (m2 * m2) - 3);
        /* n = 36864: the sampling error of the std is ~0.4 %, of the mean ~0.5 % of the std,
         * of the kurtosis ~0.026; the limits are about ten of those. */
        ck_assert_msg(std_err < 0.05, "%s: std %g vs %g", names[s], sd, target[s]);
        ck_assert_msg(mean_err < 0.05, "%s: mean %g", names[s], m1);
        ck_assert_msg(kurt_err < 0.25, "%s: kurtosis %g", names[s], m4 / (m2 * m2));
        worst_std = fmax(worst_std, std_err);
        worst_mean = fmax(worst_mean, mean_err);
        worst_kurt = fmax(worst_kurt, kurt_err);
    }
    tu_report("init relative std error", worst_std, 0.05);
    tu_report("init |mean| / std", worst_mean, 0.05);
    tu_report("init |kurtosis - 3|", worst_kurt, 0.25);
    for (size_t i = 0; i < 77; i++) {
        ck_assert(spcnn__params_value(&p, 3)[i] == 0.0f);
        ck_assert(spcnn__params_value(&p, 4)[i] == 1.0f);
    }
    /* EMA = values; gradients, moments and all padding zero. */
    ck_assert_int_eq(memcmp(p.buf[SPCNN__BUF_EMA], p.buf[SPCNN__BUF_VALUE],
                            p.total * sizeof(float)),
                     0);
    for (size_t i = 0; i < p.total; i++) {
        ck_assert(p.buf[SPCNN__BUF_GRAD][i] == 0.0f);
        ck_assert(p.buf[SPCNN__BUF_ADAM_M][i] == 0.0f);
        ck_assert(p.buf[SPCNN__BUF_ADAM_V][i] == 0.0f);
    }
    for (size_t r = 0; r < p.nrows; r++) {
        size_t end = r + 1 < p.nrows ? p.rows[r + 1].offset : p.total;
        for (size_t i = p.rows[r].offset + p.rows[r].count; i < end; i++)
            ck_assert(p.buf[SPCNN__BUF_VALUE][i] == 0.0f);
    }
    spcnn__params_deinit(&p);
}
END_TEST

START_TEST(test_init_determinism)
{
    spcnn__params a, b, c;
    build_small(&a);
    build_small(&b);
    spcnn__params_init_values(&a, 42);
    spcnn__params_init_values(&b, 42);
    ck_assert_int_eq(memcmp(a.block, b.block, SPCNN__BUF_COUNT * a.total * sizeof(float)), 0);
    spcnn__params_init_values(&b, 43);
    for (size_t r = 0; r < a.nrows; r++) {
        int differs = memcmp(spcnn__params_value(&a, r), spcnn__params_value(&b, r),
                             a.rows[r].count * sizeof(float)) != 0;
        int random = a.rows[r].init != SPCNN__INIT_ZEROS && a.rows[r].init != SPCNN__INIT_ONES;
        ck_assert_int_eq(differs, random);
    }
    /* Keyed by name: another order and an extra row leave each row's values unchanged. */
    spcnn__params_init(&c);
    add_ok(&c, "extra", SPCNN__PARAM_CONV, 4, 4, 3, 3, 36, SPCNN__INIT_HE);
    add_ok(&c, "c.lin.w", SPCNN__PARAM_LINEAR, 9, 11, 1, 1, 11, SPCNN__INIT_LECUN);
    add_ok(&c, "b.deconv.w", SPCNN__PARAM_DECONV, 3, 7, 2, 2, 12, SPCNN__INIT_SMALL);
    add_ok(&c, "a.conv.w", SPCNN__PARAM_CONV, 5, 3, 2, 3, 18, SPCNN__INIT_HE);
    ck_assert_int_eq(spcnn__params_allocate(&c), SPCNN_OK);
    spcnn__params_init_values(&c, 42);
    const char *shared[] = {"a.conv.w", "b.deconv.w", "c.lin.w"};
    for (int i = 0; i < 3; i++) {
        size_t ra = (size_t)spcnn__params_find(&a, shared[i]);
        size_t rc = (size_t)spcnn__params_find(&c, shared[i]);
        ck_assert_int_eq(memcmp(spcnn__params_value(&a, ra), spcnn__params_value(&c, rc),
                                a.rows[ra].count * sizeof(float)),
                         0);
    }
    /* Two rows with the same shape and scheme but different names differ. */
    ck_assert_int_ne(memcmp(spcnn__params_value(&c, 0), spcnn__params_value(&a, 0),
                            36 * sizeof(float)),
                     0);
    spcnn__params_deinit(&a);
    spcnn__params_deinit(&b);
    spcnn__params_deinit(&c);
}
END_TEST

/* A table of two rows whose every element runs the hand example: elements of row "p" start at
 * w = +1 with gradients +0.5, -0.25; elements of row "q" mirror them (w = -1, gradients
 * -0.5, +0.25), so their results are the negatives. */
static void mirror_table(spcnn__params *p)
{
    spcnn__params_init(p);
    add_ok(p, "p", SPCNN__PARAM_BIAS, 3, 1, 1, 1, 0, SPCNN__INIT_ONES);
    add_ok(p, "q", SPCNN__PARAM_LINEAR, 5, 1, 1, 1, 1, SPCNN__INIT_ONES);
    ck_assert_int_eq(spcnn__params_allocate(p), SPCNN_OK);
    spcnn__params_init_values(p, 1);
    for (size_t i = 0; i < p->rows[1].count; i++)
        spcnn__params_value(p, 1)[i] = -1.0f;
    memcpy(p->buf[SPCNN__BUF_EMA], p->buf[SPCNN__BUF_VALUE], p->total * sizeof(float));
}

static void set_grads(spcnn__params *p, float g)
{
    for (size_t i = 0; i < p->rows[0].count; i++)
        spcnn__params_grad(p, 0)[i] = g;
    for (size_t i = 0; i < p->rows[1].count; i++)
        spcnn__params_grad(p, 1)[i] = -g;
}

/* Largest |buffer - expected| over the table (row q compared with -expected); padding must
 * stay exactly zero. */
static double table_err(const spcnn__params *p, spcnn__param_buf buf, double expect,
                        double expect_q)
{
    double worst = 0;
    for (size_t r = 0; r < 2; r++)
        for (size_t i = 0; i < p->rows[r].count; i++)
            worst = fmax(worst, fabs(spcnn__params_ptr(p, buf, r)[i] - (r ? expect_q : expect)));
    for (size_t r = 0; r < 2; r++) {
        size_t end = r + 1 < p->nrows ? p->rows[r + 1].offset : p->total;
        for (size_t i = p->rows[r].offset + p->rows[r].count; i < end; i++)
            ck_assert(p->buf[buf][i] == 0.0f);
    }
    return worst;
}

typedef struct expect_step {
    double w, m, v, ema, lr, ema_decay;
} expect_step;

static double run_two_steps(double l2, double decay, double ema_decay, const expect_step ex[2])
{
    spcnn__params p;
    spcnn__optim o;
    spcnn__optim_stats st;
    mirror_table(&p);
    spcnn__optim_init(&o, 0.1, decay, 0.9, 0.999, l2, ema_decay);
    ck_assert(o.eps == 1e-8);
    const float grads[2] = {0.5f, -0.25f};
    double worst = 0;
    for (int s = 0; s < 2; s++) {
        set_grads(&p, grads[s]);
        ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
        ck_assert_uint_eq(st.step, (uint64_t)s + 1);
        ck_assert_uint_eq(o.t, (uint64_t)s + 1);
        ck_assert_double_eq_tol(st.lr, ex[s].lr, 1e-15);
        ck_assert_double_eq_tol(st.ema_decay, ex[s].ema_decay, 1e-15);
        ck_assert_double_eq_tol(st.grad_norm, sqrt(8.0) * fabs(grads[s]), 1e-12);
        ck_assert_int_eq(st.clipped, 0);
        double e = fmax(fmax(table_err(&p, SPCNN__BUF_VALUE, ex[s].w, -ex[s].w),
                             table_err(&p, SPCNN__BUF_EMA, ex[s].ema, -ex[s].ema)),
                        fmax(table_err(&p, SPCNN__BUF_ADAM_M, ex[s].m, -ex[s].m),
                             table_err(&p, SPCNN__BUF_ADAM_V, ex[s].v, ex[s].v)));
        /* The gradient buffer is read, never written. */
        ck_assert_double_eq(table_err(&p, SPCNN__BUF_GRAD, grads[s], -grads[s]), 0);
        worst = fmax(worst, e);
    }
    spcnn__params_deinit(&p);
    return worst;
}

/* Adam, lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, w0 = 1, no L2, no decay; EMA decay
 * 0.9995, so the warm-up min(0.9995, (1 + t) / (10 + t)) rules: 0.1 at t = 0, 2/11 at t = 1.
 * step 1 (t = 0), g = 0.5:
 *   m = 0.1 * 0.5 = 0.05;  v = 0.001 * 0.25 = 0.00025
 *   m^ = 0.05 / (1 - 0.9) = 0.5;  v^ = 0.00025 / (1 - 0.999) = 0.25;  sqrt(v^) = 0.5
 *   w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 1 - 0.099999998 = 0.900000002
 *   ema = 0.1 * 1 + 0.9 * 0.900000002 = 0.9100000018
 * step 2 (t = 1), g = -0.25:
 *   m = 0.9 * 0.05 + 0.1 * (-0.25) = 0.045 - 0.025 = 0.02
 *   v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00024975 + 0.0000625 = 0.00031225
 *   m^ = 0.02 / (1 - 0.81) = 0.02 / 0.19 = 0.1052631579
 *   v^ = 0.00031225 / (1 - 0.998001) = 0.00031225 / 0.001999 = 0.1562031016
 *   sqrt(v^) = 0.3952253807;  m^ / (sqrt(v^) + 1e-8) = 0.2663370329
 *   w = 0.900000002 - 0.1 * 0.2663370329 = 0.900000002 - 0.0266337033 = 0.8733662987
 *   ema = (2/11) * 0.9100000018 + (9/11) * 0.8733662987 = 0.1654545458 + 0.7145724262
 *       = 0.8800269720 */
START_TEST(test_adam_hand_example)
{
    const expect_step ex[2] = {
        {0.900000002, 0.05, 0.00025, 0.9100000018, 0.1, 0.1},
        {0.8733662987, 0.02, 0.00031225, 0.8800269720, 0.1, 2.0 / 11},
    };
    double worst = run_two_steps(0, 1, 0.9995, ex);
    tu_report("adam two steps (hand)", worst, 1e-6);
    ck_assert(worst < 1e-6);
}
END_TEST

/* As above with L2 = 0.01 (g += 0.01 w):
 * step 1: g = 0.5 + 0.01 * 1 = 0.51;  m = 0.051;  v = 0.001 * 0.2601 = 0.0002601
 *   m^ = 0.51, sqrt(v^) = 0.51:  w = 1 - 0.1 * 0.51 / (0.51 + 1e-8) = 1 - 0.0999999980
 *     = 0.9000000020
 *   ema = 0.1 * 1 + 0.9 * 0.9000000020 = 0.9100000018
 * step 2: g = -0.25 + 0.01 * 0.9000000020 = -0.2410000000
 *   m = 0.9 * 0.051 + 0.1 * (-0.241) = 0.0459 - 0.0241 = 0.0218
 *   v = 0.999 * 0.0002601 + 0.001 * 0.058081 = 0.0002598399 + 0.000058081 = 0.0003179209
 *   m^ = 0.0218 / 0.19 = 0.1147368421;  v^ = 0.0003179209 / 0.001999 = 0.1590399700
 *   sqrt(v^) = 0.3987981569;  m^ / (sqrt(v^) + 1e-8) = 0.2877065434
 *   w = 0.9000000020 - 0.1 * 0.2877065434 = 0.9000000020 - 0.0287706543 = 0.8712293477
 *   ema = (2/11) * 0.9100000018 + (9/11) * 0.8712293477 = 0.1654545458 + 0.7128240118
 *       = 0.8782785576 */
START_TEST(test_adam_l2)
{
    const expect_step ex[2] = {
        {0.9000000020, 0.051, 0.0002601, 0.9100000018, 0.1, 0.1},
        {0.8712293477, 0.0218, 0.0003179209, 0.8782785576, 0.1, 2.0 / 11},
    };
    double worst = run_two_steps(0.01, 1, 0.9995, ex);
    tu_report("adam + L2 two steps (hand)", worst, 1e-6);
    ck_assert(worst < 1e-6);
}
END_TEST

/* As the first example with lr_decay = 0.5: step 2 uses lr_t = 0.1 * 0.5^1 = 0.05, so
 *   w = 0.900000002 - 0.05 * 0.2663370329 = 0.900000002 - 0.0133168516 = 0.8866831504
 * and EMA decay 0.05, below the warm-up bound, so it is used as is:
 *   ema1 = 0.05 * 1 + 0.95 * 0.900000002 = 0.9050000019
 *   ema2 = 0.05 * 0.9050000019 + 0.95 * 0.8866831504 = 0.0452500001 + 0.8423489929
 *        = 0.8875989930 */
START_TEST(test_adam_decay_and_ema)
{
    const expect_step ex[2] = {
        {0.900000002, 0.05, 0.00025, 0.9050000019, 0.1, 0.05},
        {0.8866831504, 0.02, 0.00031225, 0.8875989930, 0.05, 0.05},
    };
    double worst = run_two_steps(0, 0.5, 0.05, ex);
    tu_report("adam + lr decay + EMA two steps (hand)", worst, 1e-6);
    ck_assert(worst < 1e-6);
}
END_TEST

/* Moments reset at t = 1000 (training resumed from EMA-only weights): the two steps of the
 * hand example above again (lr 0.1, β 0.9 / 0.999, g = 0.5 then −0.25), as a fresh Adam takes
 * them, times the learning-rate warm-up (k + 1) · (1 − β2) for the k-th step since the reset:
 *   step 1: w = 1 − 0.1 · 0.001 · 0.5 / 0.5 = 0.9999 (m and v as at a fresh start)
 *   step 2: w = 0.9999 − 0.1 · 0.002 · 0.2663370329 = 0.9998467326
 * (without the reset, step 1 would use the corrections of step 1001: w = 1 − 0.1 · 0.05 /
 * sqrt(0.00025 / 0.6327) = 0.7485). The EMA decays at min(0.9995, (1 + t) / (10 + t)) of the
 * global t. Then a reset long ago (k beyond the warm-up, both corrections 1) is dropped. */
START_TEST(test_adam_restart)
{
    spcnn__params p;
    spcnn__optim o;
    mirror_table(&p);
    spcnn__optim_init(&o, 0.1, 1, 0.9, 0.999, 0, 0.9995);
    o.t = o.reset_at = 1000;
    spcnn__optim_stats st;
    set_grads(&p, 0.5f);
    ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
    ck_assert_double_eq_tol(st.lr, 0.1 * 0.001, 1e-15);
    const double d1 = 1001.0 / 1010.0, ema1 = d1 + (1 - d1) * 0.9999;
    double e = fmax(fmax(table_err(&p, SPCNN__BUF_VALUE, 0.9999, -0.9999),
                         table_err(&p, SPCNN__BUF_ADAM_V, 0.00025, 0.00025)),
                    fmax(table_err(&p, SPCNN__BUF_ADAM_M, 0.05, -0.05),
                         table_err(&p, SPCNN__BUF_EMA, ema1, -ema1)));
    set_grads(&p, -0.25f);
    ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
    ck_assert_double_eq_tol(st.lr, 0.1 * 0.002, 1e-15);
    e = fmax(e, table_err(&p, SPCNN__BUF_VALUE, 0.9998467326, -0.9998467326));
    ck_assert_uint_eq(o.reset_at, 1000);
    /* 30 000 steps after the reset: warm-up over, β1^k and β2^k below 1e-9. */
    o.t = 31000;
    ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
    ck_assert_double_eq_tol(st.lr, 0.1, 1e-15);
    ck_assert_uint_eq(o.reset_at, 0);
    spcnn__params_deinit(&p);
    tu_report("adam restarted after a reset of the moments (hand)", e, 1e-6);
    ck_assert(e < 1e-6);
}
END_TEST

/* Gradient (0.3, 0.4) has norm 0.5; clipping to 0.1 scales it by 0.2 to (0.06, 0.08), so
 * m = 0.1 g = (0.006, 0.008) and v = 0.001 g^2 = (3.6e-6, 6.4e-6). A limit above the norm
 * leaves it alone: m = (0.03, 0.04). */
START_TEST(test_clipping)
{
    const double clip[2] = {0.1, 1.0};
    const double m_expect[2][2] = {{0.006, 0.008}, {0.03, 0.04}};
    double worst = 0;
    for (int c = 0; c < 2; c++) {
        spcnn__params p;
        spcnn__optim o;
        spcnn__optim_stats st;
        spcnn__params_init(&p);
        add_ok(&p, "b", SPCNN__PARAM_BIAS, 2, 1, 1, 1, 0, SPCNN__INIT_ZEROS);
        ck_assert_int_eq(spcnn__params_allocate(&p), SPCNN_OK);
        spcnn__params_init_values(&p, 0);
        spcnn__optim_init(&o, 0.1, 1, 0.9, 0.999, 0, 0.9995);
        o.clip_norm = clip[c];
        spcnn__params_grad(&p, 0)[0] = 0.3f;
        spcnn__params_grad(&p, 0)[1] = 0.4f;
        ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
        ck_assert_double_eq_tol(st.grad_norm, 0.5, 1e-7);
        ck_assert_int_eq(st.clipped, c == 0);
        for (int i = 0; i < 2; i++) {
            double m = spcnn__params_ptr(&p, SPCNN__BUF_ADAM_M, 0)[i];
            double v = spcnn__params_ptr(&p, SPCNN__BUF_ADAM_V, 0)[i];
            worst = fmax(worst, fabs(m - m_expect[c][i]));
            worst = fmax(worst, fabs(v - 1e-3 * 100 * m_expect[c][i] * m_expect[c][i]));
        }
        spcnn__params_deinit(&p);
    }
    tu_report("clipping: moments", worst, 1e-8);
    ck_assert(worst < 1e-8);
}
END_TEST

START_TEST(test_grad_norm)
{
    spcnn__params p;
    spcnn__optim o;
    spcnn__optim_stats st;
    build_small(&p);
    spcnn__params_init_values(&p, 9);
    tu_rng rng = {77};
    double ref = 0;
    for (size_t r = 0; r < p.nrows; r++) {
        float *g = spcnn__params_grad(&p, r);
        tu_fill_f(&rng, g, p.rows[r].count, -3, 3);
        for (size_t i = 0; i < p.rows[r].count; i++)
            ref += (double)g[i] * (double)g[i];
    }
    ref = sqrt(ref);
    spcnn__optim_init(&o, 1e-3, 1, 0.95, 0.9995, 1e-4, 0.9995);
    ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
    double err = fabs(st.grad_norm - ref) / ref;
    tu_report("grad norm relative error", err, 1e-12);
    ck_assert(err < 1e-12);
    ck_assert_double_eq(spcnn__params_norm(&p, SPCNN__BUF_GRAD), st.grad_norm);
    spcnn__params_zero_grad(&p);
    ck_assert_double_eq(spcnn__params_norm(&p, SPCNN__BUF_GRAD), 0);
    spcnn__params_deinit(&p);
}
END_TEST

/* A NaN or infinity anywhere, or a norm too large for the float second moment, fails the step
 * and leaves every byte of the block and the step count as they were. */
START_TEST(test_non_finite_guard)
{
    spcnn__params p;
    spcnn__optim o;
    build_small(&p);
    spcnn__params_init_values(&p, 5);
    spcnn__optim_init(&o, 1e-3, 0.999995, 0.95, 0.9995, 1e-4, 0.9995);
    tu_rng rng = {3};
    /* One good step first, so the moments and the EMA are not trivially zero or equal. */
    for (size_t r = 0; r < p.nrows; r++)
        tu_fill_f(&rng, spcnn__params_grad(&p, r), p.rows[r].count, -1, 1);
    ck_assert_int_eq(spcnn__optim_step(&p, &o, NULL), SPCNN_OK);
    const struct {
        const char *row;
        size_t index;
        float value;
        const char *what;
    } cases[] = {
        {"b.deconv.w", 17, NAN, "NaN"},
        {"c.gain", 8, INFINITY, "infinite"},
        {"a.conv.w", 0, -INFINITY, "infinite"},
        {"c.lin.w", 3, 1e30f, "too large"},
    };
    size_t bytes = SPCNN__BUF_COUNT * p.total * sizeof(float);
    float *before = malloc(bytes);
    ck_assert_ptr_nonnull(before);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t r = (size_t)spcnn__params_find(&p, cases[c].row);
        float *g = spcnn__params_grad(&p, r);
        float saved = g[cases[c].index];
        g[cases[c].index] = cases[c].value;
        /* A NaN later in the table too: the message must name the first offending row. */
        float *last = spcnn__params_grad(&p, p.nrows - 1);
        float saved_last = last[0];
        if (r + 1 < p.nrows && !isfinite(cases[c].value))
            last[0] = NAN;
        memcpy(before, p.block, bytes);
        spcnn__optim o_before = o;
        spcnn__optim_stats st = {-1, -1, -1, 99, -1};
        ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_ERR_NUMERIC);
        const char *msg = spcnn_last_error_message();
        printf("guard: %s\n", msg);
        ck_assert_ptr_nonnull(strstr(msg, cases[c].what));
        if (cases[c].value != 1e30f)
            ck_assert_ptr_nonnull(strstr(msg, cases[c].row));
        ck_assert_int_eq(memcmp(before, p.block, bytes), 0);
        ck_assert_int_eq(memcmp(&o_before, &o, sizeof o), 0);
        ck_assert_uint_eq(st.step, 99); /* stats untouched on failure */
        g[cases[c].index] = saved;
        last[0] = saved_last;
    }
    /* Clipping brings the too-large norm back within range: the step then succeeds. */
    spcnn__params_grad(&p, 3)[3] = 1e30f;
    o.clip_norm = 1.0;
    spcnn__optim_stats st;
    ck_assert_int_eq(spcnn__optim_step(&p, &o, &st), SPCNN_OK);
    ck_assert_int_eq(st.clipped, 1);
    ck_assert(isfinite(spcnn__params_norm(&p, SPCNN__BUF_VALUE)));
    ck_assert(isfinite(spcnn__params_norm(&p, SPCNN__BUF_ADAM_V)));
    free(before);
    spcnn__params_deinit(&p);
}
END_TEST

/* Gradients that differ by row, element and step. */
static void step_grads(spcnn__params *p, int step)
{
    for (size_t r = 0; r < p->nrows; r++)
        for (size_t i = 0; i < p->rows[r].count; i++)
            spcnn__params_grad(p, r)[i] = 0.01f * (float)((int)((r * 7 + i * 3 + (size_t)step * 5)
                                                               % 11) - 5);
}

/* A stage that trains some rows leaves the others untouched in every buffer, and rows that
 * start training later with their own step count end exactly as a fresh optimiser over the
 * whole table leaves them. */
START_TEST(test_step_rows)
{
    spcnn__params a, b;
    build_small(&a);
    build_small(&b);
    spcnn__params_init_values(&a, 9);
    spcnn__params_init_values(&b, 9);
    const size_t bytes = SPCNN__BUF_COUNT * a.total * sizeof(float);
    float *initial = malloc(bytes), *after_stage1 = malloc(bytes);
    ck_assert_ptr_nonnull(initial);
    ck_assert_ptr_nonnull(after_stage1);
    memcpy(initial, a.block, bytes);
    spcnn__optim oa, ob;
    spcnn__optim_init(&oa, 1e-2, 0.99, 0.9, 0.999, 1e-3, 0.9);
    ob = oa;
    const size_t split = 2, split_at = a.rows[split].offset;
    for (int step = 0; step < 3; step++) { /* stage 1: rows [0, 2), their steps 0, 1, 2 */
        step_grads(&a, 100 + step);
        ck_assert_int_eq(spcnn__optim_step_rows(&a, &oa, 0, split, oa.t, NULL), SPCNN_OK);
    }
    ck_assert_uint_eq(oa.t, 3);
    memcpy(after_stage1, a.block, bytes);
    for (int k = 0; k < SPCNN__BUF_COUNT; k++) {
        if (k == SPCNN__BUF_GRAD)
            continue;
        const float *now = a.buf[k], *was = initial + (size_t)k * a.total;
        ck_assert_mem_eq(now + split_at, was + split_at, (a.total - split_at) * sizeof(float));
        if (k != SPCNN__BUF_VALUE && k != SPCNN__BUF_EMA)
            ck_assert(memcmp(now, was, split_at * sizeof(float)) != 0); /* moments moved */
    }
    ck_assert(memcmp(a.buf[SPCNN__BUF_VALUE], initial, split_at * sizeof(float)) != 0);
    spcnn__optim_stats st;
    for (int step = 0; step < 4; step++) { /* stage 2: rows [2, 5), their steps 0 to 3 */
        step_grads(&a, step);
        step_grads(&b, step);
        ck_assert_int_eq(spcnn__optim_step_rows(&a, &oa, split, a.nrows, oa.t - 3, &st),
                         SPCNN_OK);
        ck_assert_int_eq(spcnn__optim_step(&b, &ob, NULL), SPCNN_OK);
    }
    ck_assert_uint_eq(oa.t, 7);
    ck_assert_uint_eq(st.step, 7);
    ck_assert_double_eq_tol(st.lr, 1e-2 * pow(0.99, 3), 1e-15); /* its own decay */
    for (int k = 0; k < SPCNN__BUF_COUNT; k++) {
        if (k == SPCNN__BUF_GRAD)
            continue;
        /* The later rows as a fresh optimiser left them; the earlier ones as stage 1 did. */
        ck_assert_mem_eq(a.buf[k] + split_at, b.buf[k] + split_at,
                         (a.total - split_at) * sizeof(float));
        ck_assert_mem_eq(a.buf[k], after_stage1 + (size_t)k * a.total, split_at * sizeof(float));
    }
    /* Rejected: empty or out-of-table ranges, a step count ahead of the optimiser's. */
    ck_assert_int_eq(spcnn__optim_step_rows(&a, &oa, 2, 2, 0, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__optim_step_rows(&a, &oa, 0, a.nrows + 1, 0, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__optim_step_rows(&a, &oa, 0, 1, oa.t + 1, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(oa.t, 7);
    free(initial);
    free(after_stage1);
    spcnn__params_deinit(&a);
    spcnn__params_deinit(&b);
}
END_TEST

START_TEST(test_optim_rejects)
{
    spcnn__params p;
    spcnn__optim o;
    spcnn__params_init(&p);
    spcnn__optim_init(&o, 1e-3, 1, 0.9, 0.999, 0, 0.9995);
    ck_assert_int_eq(spcnn__optim_step(&p, &o, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__optim_step(NULL, &o, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    build_small(&p);
    ck_assert_int_eq(spcnn__optim_step(&p, NULL, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    double *fields[] = {&o.beta1, &o.beta2, &o.ema_decay, &o.eps, &o.lr_decay};
    const double bad[] = {1.0, 1.0, 1.0, 0.0, 0.0};
    for (int i = 0; i < 5; i++) {
        double keep = *fields[i];
        *fields[i] = bad[i];
        ck_assert_int_eq(spcnn__optim_step(&p, &o, NULL), SPCNN_ERR_INVALID_ARGUMENT);
        *fields[i] = NAN;
        ck_assert_int_eq(spcnn__optim_step(&p, &o, NULL), SPCNN_ERR_INVALID_ARGUMENT);
        *fields[i] = keep;
    }
    ck_assert_uint_eq(o.t, 0);
    ck_assert_int_eq(spcnn__optim_step(&p, &o, NULL), SPCNN_OK);
    spcnn__params_deinit(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, test_table_layout);
    tcase_add_test(tc, test_table_rejects);
    tcase_add_test(tc, test_table_alloc_failure);
    tcase_add_test(tc, test_init_statistics);
    tcase_add_test(tc, test_init_determinism);
    tcase_add_test(tc, test_adam_hand_example);
    tcase_add_test(tc, test_adam_l2);
    tcase_add_test(tc, test_adam_decay_and_ema);
    tcase_add_test(tc, test_clipping);
    tcase_add_test(tc, test_grad_norm);
    tcase_add_test(tc, test_non_finite_guard);
    tcase_add_test(tc, test_step_rows);
    tcase_add_test(tc, test_adam_restart);
    tcase_add_test(tc, test_optim_rejects);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
