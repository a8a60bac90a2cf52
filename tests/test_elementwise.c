/* The float elementwise layers (lib/nn/elementwise.h) against the double references
 * (tests/ref/ref_elem.h), forward and backward, on a training-like shape and an odd one;
 * dropout's keyed mask; bit-identical results for 1 and 2 OpenMP threads, and for the CPU's
 * version of the row kernels and this file's baseline x86-64 code. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/bf16.h"
#include "nn/elementwise.h"
#include "nn/fastexp.h"
#include "ref_elem.h"
#include "testutil.h"

#define LIMIT 1e-12

typedef struct shape {
    size_t n, hw, c;
} shape;

/* A training-like shape (batch 4 of 8×8, F = 25), an odd one, and rows of exactly one and of
 * just over one 16-lane block (the kernels' overlapping last block, elementwise.c). */
static const shape shapes[] = {{4, 64, 25}, {3, 35, 7}, {2, 9, 16}, {2, 5, 17}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

START_TEST(test_elu_and_concat_elu)
{
    tu_rng r = {1};
    for (size_t s = 0; s < NSHAPES; s++) {
        size_t p = shapes[s].n * shapes[s].hw, c = shapes[s].c, n = p * c;
        float *x = tu_alloc_f(n), *y = tu_alloc_f(2 * n), *dy = tu_alloc_f(2 * n), *dx = tu_alloc_f(n);
        double *xd = tu_alloc_d(n), *yd = tu_alloc_d(2 * n), *dyd = tu_alloc_d(2 * n), *dxd = tu_alloc_d(n);
        tu_fill_pair(&r, x, xd, n, -4, 4);
        tu_fill_pair(&r, dy, dyd, 2 * n, -1, 1);

        spcnn__elu_forward(x, y, n);
        ref_elu_forward(xd, yd, n);
        tu_check_nmse("elu forward", y, yd, n, LIMIT);
        spcnn__elu_backward(y, dy, dx, n);
        ref_elu_backward(xd, dyd, dxd, n);
        tu_check_nmse("elu backward", dx, dxd, n, LIMIT);

        spcnn__concat_elu_forward(x, y, p, c);
        ref_concat_elu_forward(xd, yd, p, c);
        tu_check_nmse("concat_elu forward", y, yd, 2 * n, LIMIT);
        spcnn__concat_elu_backward(y, dy, dx, p, c);
        ref_concat_elu_backward(xd, dyd, dxd, p, c);
        tu_check_nmse("concat_elu backward", dx, dxd, n, LIMIT);

        /* In place: y aliasing x, dx aliasing dy. */
        float *xa = tu_alloc_f(n);
        memcpy(xa, x, n * sizeof *x);
        spcnn__elu_forward(xa, xa, n);
        spcnn__elu_forward(x, y, n);
        ck_assert(memcmp(xa, y, n * sizeof *y) == 0);
        free(xa);
        free(x), free(y), free(dy), free(dx), free(xd), free(yd), free(dyd), free(dxd);
    }
}
END_TEST

START_TEST(test_dropout_against_reference)
{
    tu_rng r = {2};
    const float rates[] = {0.5f, 0.3f, 0.95f};
    for (size_t s = 0; s < NSHAPES; s++)
        for (size_t q = 0; q < 3; q++) {
            size_t n = shapes[s].n * shapes[s].hw * shapes[s].c;
            float *x = tu_alloc_f(n), *y = tu_alloc_f(n), *dy = tu_alloc_f(n), *dx = tu_alloc_f(n);
            double *xd = tu_alloc_d(n), *yd = tu_alloc_d(n), *dyd = tu_alloc_d(n), *dxd = tu_alloc_d(n);
            uint8_t *mask = malloc(n), *mref = malloc(n);
            ck_assert(mask && mref);
            tu_fill_pair(&r, x, xd, n, -3, 3);
            tu_fill_pair(&r, dy, dyd, n, -1, 1);
            const uint64_t key = 1000 + s * 10 + q;
            spcnn__dropout_forward(x, y, mask, n, rates[q], key);
            /* The mask is exactly the documented draw. */
            ref_dropout_mask(key, rates[q], mref, n);
            ck_assert(memcmp(mask, mref, n) == 0);
            ref_dropout_forward(xd, mref, yd, n, rates[q]);
            tu_check_nmse("dropout forward", y, yd, n, LIMIT);
            /* Backward reuses the mask: zero exactly where dropped. */
            spcnn__dropout_backward(mask, dy, dx, n, rates[q]);
            ref_dropout_backward(mref, dyd, dxd, n, rates[q]);
            tu_check_nmse("dropout backward", dx, dxd, n, LIMIT);
            for (size_t i = 0; i < n; i++)
                ck_assert(mask[i] || dx[i] == 0.0f);
            free(x), free(y), free(dy), free(dx), free(xd), free(yd), free(dyd), free(dxd);
            free(mask), free(mref);
        }
}
END_TEST

START_TEST(test_dropout_properties)
{
    enum { N = 200003 };
    float *x = tu_alloc_f(N), *y = tu_alloc_f(N), *dx = tu_alloc_f(N);
    uint8_t *m1 = malloc(N), *m2 = malloc(N);
    ck_assert(m1 && m2);
    tu_rng r = {3};
    tu_fill_f(&r, x, N, -5, 5);

    /* rate 0: exact identity forward and backward, every element kept. */
    spcnn__dropout_forward(x, y, m1, N, 0.0f, 42);
    ck_assert(memcmp(x, y, N * sizeof *x) == 0);
    spcnn__dropout_backward(m1, x, dx, N, 0.0f);
    ck_assert(memcmp(x, dx, N * sizeof *x) == 0);
    for (size_t i = 0; i < N; i++)
        ck_assert(m1[i] == 1);
    ck_assert(spcnn__dropout_scale(0.0f) == 1.0f);
    ck_assert(spcnn__dropout_scale(0.5f) == 2.0f);

    /* The kept fraction is 1 − rate within 5 standard deviations. */
    const float rates[] = {0.5f, 0.1f, 0.9f};
    double worst = 0;
    for (int q = 0; q < 3; q++) {
        spcnn__dropout_forward(x, y, m1, N, rates[q], 7 + (uint64_t)q);
        size_t kept = 0;
        for (size_t i = 0; i < N; i++)
            kept += m1[i];
        double frac = (double)kept / N, sd = sqrt(rates[q] * (1 - rates[q]) / N);
        worst = fmax(worst, fabs(frac - (1 - rates[q])) / sd);
    }
    tu_report("dropout kept fraction (standard deviations)", worst, 5);
    ck_assert(worst < 5);

    /* Same key, same mask (in place too); another key, another mask. */
    spcnn__dropout_forward(x, y, m1, N, 0.5f, 99);
    memcpy(dx, x, N * sizeof *x);
    spcnn__dropout_forward(dx, dx, m2, N, 0.5f, 99);
    ck_assert(memcmp(m1, m2, N) == 0);
    ck_assert(memcmp(y, dx, N * sizeof *y) == 0);
    spcnn__dropout_forward(x, y, m2, N, 0.5f, 100);
    size_t same = 0;
    for (size_t i = 0; i < N; i++)
        same += m1[i] == m2[i];
    ck_assert(same > N / 2 - N / 50 && same < N / 2 + N / 50); /* independent masks */
    free(x), free(y), free(dx), free(m1), free(m2);
}
END_TEST

START_TEST(test_concat_elu_dropout_fused)
{
    tu_rng r = {4};
    for (size_t s = 0; s < NSHAPES; s++) {
        size_t p = shapes[s].n * shapes[s].hw, c = shapes[s].c, n = p * c;
        float *x = tu_alloc_f(n), *y1 = tu_alloc_f(2 * n), *y2 = tu_alloc_f(2 * n), *dy = tu_alloc_f(2 * n),
              *dx = tu_alloc_f(n);
        double *xd = tu_alloc_d(n), *e = tu_alloc_d(2 * n), *yd = tu_alloc_d(2 * n), *dyd = tu_alloc_d(2 * n),
               *de = tu_alloc_d(2 * n), *dxd = tu_alloc_d(n);
        uint8_t *m1 = malloc(2 * n), *m2 = malloc(2 * n);
        ck_assert(m1 && m2);
        tu_fill_pair(&r, x, xd, n, -3, 3);
        tu_fill_pair(&r, dy, dyd, 2 * n, -1, 1);
        /* Fused == unfused, bit for bit. */
        spcnn__concat_elu_dropout_forward(x, y1, m1, p, c, 0.5f, 5);
        spcnn__concat_elu_forward(x, y2, p, c);
        spcnn__dropout_forward(y2, y2, m2, 2 * n, 0.5f, 5);
        ck_assert(memcmp(m1, m2, 2 * n) == 0);
        ck_assert(memcmp(y1, y2, 2 * n * sizeof *y1) == 0);
        /* Backward from the fused output against the composed references. */
        ref_concat_elu_forward(xd, e, p, c);
        ref_dropout_forward(e, m1, yd, 2 * n, 0.5);
        tu_check_nmse("concat_elu+dropout forward", y1, yd, 2 * n, LIMIT);
        spcnn__concat_elu_dropout_backward(y1, m1, dy, dx, p, c, 0.5f);
        ref_dropout_backward(m1, dyd, de, 2 * n, 0.5);
        ref_concat_elu_backward(xd, de, dxd, p, c);
        tu_check_nmse("concat_elu+dropout backward", dx, dxd, n, LIMIT);
        /* A shard from pixel k on (spcnn__concat_elu_dropout_forward_at, as sharded training
         * calls it): the whole tensor's bits there. */
        const size_t k = p / 3;
        spcnn__concat_elu_dropout_forward_at(x + k * c, y2, m2, p - k, c, 0.5f, 5, k);
        ck_assert(memcmp(m1 + 2 * k * c, m2, 2 * (p - k) * c) == 0);
        ck_assert(memcmp(y1 + 2 * k * c, y2, 2 * (p - k) * c * sizeof *y1) == 0);
        /* rate 0: plain concat_elu. */
        spcnn__concat_elu_dropout_forward(x, y1, m1, p, c, 0.0f, 5);
        spcnn__concat_elu_forward(x, y2, p, c);
        ck_assert(memcmp(y1, y2, 2 * n * sizeof *y1) == 0);
        free(x), free(y1), free(y2), free(dy), free(dx), free(m1), free(m2);
        free(xd), free(e), free(yd), free(dyd), free(de), free(dxd);
    }
    /* Pixels wider than the fused kernel's chunk of random lanes (1024 elements), at offsets
     * that are not multiples of 4: still the unfused bits. */
    const size_t p = 3, c = 601, n = p * c;
    float *x = tu_alloc_f(n), *y1 = tu_alloc_f(2 * n), *y2 = tu_alloc_f(2 * n);
    uint8_t *m1 = malloc(2 * n), *m2 = malloc(2 * n);
    ck_assert(m1 && m2);
    tu_fill_f(&r, x, n, -3, 3);
    spcnn__concat_elu_dropout_forward(x, y1, m1, p, c, 0.3f, 9);
    spcnn__concat_elu_forward(x, y2, p, c);
    spcnn__dropout_forward(y2, y2, m2, 2 * n, 0.3f, 9);
    ck_assert(memcmp(m1, m2, 2 * n) == 0);
    ck_assert(memcmp(y1, y2, 2 * n * sizeof *y1) == 0);
    free(x), free(y1), free(y2), free(m1), free(m2);
}
END_TEST

START_TEST(test_gate)
{
    tu_rng r = {5};
    for (size_t s = 0; s < NSHAPES; s++) {
        size_t p = shapes[s].n * shapes[s].hw, f = shapes[s].c, n = p * f;
        float *x = tu_alloc_f(n), *c2 = tu_alloc_f(2 * n), *out = tu_alloc_f(n), *dout = tu_alloc_f(n),
              *dc2 = tu_alloc_f(2 * n);
        double *xd = tu_alloc_d(n), *c2d = tu_alloc_d(2 * n), *outd = tu_alloc_d(n), *doutd = tu_alloc_d(n),
               *dxd = tu_alloc_d(n), *dc2d = tu_alloc_d(2 * n);
        tu_fill_pair(&r, x, xd, n, -2, 2);
        tu_fill_pair(&r, c2, c2d, 2 * n, -30, 30); /* both tails of the sigmoid */
        tu_fill_pair(&r, dout, doutd, n, -1, 1);
        spcnn__gate_forward(x, c2, out, p, f);
        ref_gate_forward(xd, c2d, outd, p, f);
        tu_check_nmse("gate forward", out, outd, n, LIMIT);
        spcnn__gate_backward(c2, dout, dc2, p, f);
        ref_gate_backward(c2d, doutd, dxd, dc2d, p, f);
        tu_check_nmse("gate backward dc2", dc2, dc2d, 2 * n, LIMIT);
        /* In place on x. */
        spcnn__gate_forward(x, c2, x, p, f);
        ck_assert(memcmp(x, out, n * sizeof *x) == 0);
        free(x), free(c2), free(out), free(dout), free(dc2);
        free(xd), free(c2d), free(outd), free(doutd), free(dxd), free(dc2d);
    }
}
END_TEST

START_TEST(test_cond_add)
{
    tu_rng r = {6};
    for (size_t s = 0; s < NSHAPES; s++) {
        size_t n = shapes[s].n, hw = shapes[s].hw, c = 2 * shapes[s].c, m = n * hw * c;
        float *c2 = tu_alloc_f(m), *hxy = tu_alloc_f(m), *hz = tu_alloc_f(n * c), *dhz = tu_alloc_f(n * c);
        double *c2d = tu_alloc_d(m), *hxyd = tu_alloc_d(m), *hzd = tu_alloc_d(n * c), *outd = tu_alloc_d(m),
               *dhzd = tu_alloc_d(n * c);
        float *work = tu_alloc_f(m);
        tu_fill_pair(&r, c2, c2d, m, -1, 1);
        tu_fill_pair(&r, hxy, hxyd, m, -1, 1);
        tu_fill_pair(&r, hz, hzd, n * c, -1, 1);
        /* Both terms, either one, neither. */
        for (int which = 0; which < 4; which++) {
            const float *a = which & 1 ? hxy : NULL, *b = which & 2 ? hz : NULL;
            memcpy(work, c2, m * sizeof *c2);
            spcnn__cond_add_forward(work, a, b, n, hw, c);
            ref_cond_add_forward(c2d, which & 1 ? hxyd : NULL, which & 2 ? hzd : NULL, outd, n,
                                 hw, c);
            tu_check_nmse("conditioning add forward", work, outd, m, LIMIT);
        }
        /* The grid's projection done in the add (forward-only blocks): against the same
         * reference with h_xy = w · grid formed in double. */
        float *grid = tu_alloc_f(n * hw * 2), *wg = tu_alloc_f(c * 2);
        double *gridd = tu_alloc_d(n * hw * 2), *wgd = tu_alloc_d(c * 2);
        tu_fill_pair(&r, grid, gridd, n * hw * 2, -1, 1);
        tu_fill_pair(&r, wg, wgd, c * 2, -1, 1);
        for (size_t i = 0; i < n * hw; i++)
            for (size_t j = 0; j < c; j++)
                hxyd[i * c + j] = wgd[2 * j] * gridd[2 * i] + wgd[2 * j + 1] * gridd[2 * i + 1];
        for (int with_z = 0; with_z < 2; with_z++) {
            memcpy(work, c2, m * sizeof *c2);
            spcnn__cond_add_grid_forward(work, grid, wg, with_z ? hz : NULL, n, hw, c);
            ref_cond_add_forward(c2d, hxyd, with_z ? hzd : NULL, outd, n, hw, c);
            tu_check_nmse("conditioning add forward, grid projected in it", work, outd, m, LIMIT);
        }
        free(grid), free(wg), free(gridd), free(wgd);
        /* Backward: per-image sums of dc2 (c2 serves as dc2). */
        spcnn__cond_add_backward(c2, dhz, n, hw, c);
        ref_cond_add_backward(c2d, NULL, NULL, dhzd, n, hw, c);
        tu_check_nmse("conditioning add backward dh_z", dhz, dhzd, n * c, LIMIT);
        free(c2), free(hxy), free(hz), free(dhz), free(work);
        free(c2d), free(hxyd), free(hzd), free(outd), free(dhzd);
    }
}
END_TEST

START_TEST(test_add_accumulate_concat)
{
    tu_rng r = {7};
    for (size_t s = 0; s < NSHAPES; s++) {
        size_t p = shapes[s].n * shapes[s].hw, ca = shapes[s].c, cb = shapes[s].c / 2 + 1;
        size_t na = p * ca, nb = p * cb, ny = na + nb;
        float *a = tu_alloc_f(na), *b = tu_alloc_f(na), *y = tu_alloc_f(ny), *da = tu_alloc_f(na), *db = tu_alloc_f(nb);
        double *ad = tu_alloc_d(na), *bd = tu_alloc_d(na), *yd = tu_alloc_d(ny), *dad = tu_alloc_d(na),
               *dbd = tu_alloc_d(nb);
        tu_fill_pair(&r, a, ad, na, -1, 1);
        tu_fill_pair(&r, b, bd, na, -1, 1);
        spcnn__add(a, b, y, na);
        ref_add(ad, bd, yd, na);
        tu_check_nmse("add", y, yd, na, LIMIT);
        spcnn__accumulate(y, a, na);
        ref_accumulate(yd, ad, na);
        tu_check_nmse("accumulate", y, yd, na, LIMIT);

        /* concat of a [p × ca] and b viewed as [p × cb] */
        spcnn__concat_forward(a, b, y, p, ca, cb);
        ref_concat_forward(ad, bd, yd, p, ca, cb);
        tu_check_nmse("concat forward", y, yd, ny, LIMIT);
        spcnn__concat_backward(y, da, db, p, ca, cb);
        ref_concat_backward(yd, dad, dbd, p, ca, cb);
        tu_check_nmse("concat backward a", da, dad, na, LIMIT);
        tu_check_nmse("concat backward b", db, dbd, nb, LIMIT);
        /* Split round trip is exact, and NULL halves are skipped. */
        ck_assert(memcmp(da, a, na * sizeof *a) == 0);
        ck_assert(memcmp(db, b, nb * sizeof *b) == 0);
        spcnn__concat_backward(y, NULL, db, p, ca, cb);
        spcnn__concat_backward(y, da, NULL, p, ca, cb);
        ck_assert(memcmp(db, b, nb * sizeof *b) == 0);
        free(a), free(b), free(y), free(da), free(db);
        free(ad), free(bd), free(yd), free(dad), free(dbd);
    }
}
END_TEST

/* concat_elu rounded to bf16 in one pass gives the bytes of concat_elu then the conversion, on
 * every shape (rows narrower than, equal to and just over a 16-lane block), on rows exactly as
 * wide as its stack chunk allows (2 × 2048: an aux input of the widest model) and wider (its
 * element-by-element path), and on special inputs (zeros of both signs, tiny and huge values,
 * infinities, NaN). */
START_TEST(test_concat_elu_bf16)
{
    tu_rng r = {8};
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-42f, 3e38f, -3e38f, 88.5f, -90.0f,
                             INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 0.5f};
    const size_t nspecial = sizeof special / sizeof special[0];
    const shape wide[] = {{1, 3, 2048}, {1, 3, 2100}};
    for (size_t s = 0; s < NSHAPES + 2; s++) {
        const shape *sh = s < NSHAPES ? &shapes[s] : &wide[s - NSHAPES];
        size_t p = sh->n * sh->hw, c = sh->c, n = p * c;
        float *x = tu_alloc_f(n), *y = tu_alloc_f(2 * n);
        uint16_t *want = malloc(2 * n * sizeof *want), *got = malloc(2 * n * sizeof *got);
        ck_assert(want != NULL && got != NULL);
        tu_fill_f(&r, x, n, -6, 6);
        for (size_t i = 0; i < nspecial && i < n; i++)
            x[i * 7 % n] = special[i];
        spcnn__concat_elu_forward(x, y, p, c);
        spcnn__bf16_from_f32(y, want, 2 * n);
        spcnn__concat_elu_forward_bf16(x, got, p, c);
        ck_assert_msg(memcmp(want, got, 2 * n * sizeof *got) == 0,
                      "shape %zu: fused concat_elu + bf16 differs from the two passes", s);
        free(x), free(y), free(want), free(got);
    }
}
END_TEST

/* Bytes that differ between two buffers. */
static size_t count_diff(const void *a, const void *b, size_t bytes)
{
    const unsigned char *x = a, *y = b;
    size_t d = 0;
    for (size_t i = 0; i < bytes; i++)
        d += x[i] != y[i];
    return d;
}

/* Every layer run with 1 and with 2 OpenMP threads on a training-size tensor (above the
 * parallel threshold) gives the same bits. */
START_TEST(test_thread_count_independence)
{
    enum { NOUT = 9 };
    const size_t n = 32, hw = 64, c = 25, p = n * hw, m = p * c;
    float *x = tu_alloc_f(m), *c2 = tu_alloc_f(2 * m), *h = tu_alloc_f(2 * m), *hz = tu_alloc_f(n * 2 * c);
    float *out[2][NOUT];
    uint8_t *mask[2][2];
    tu_rng r = {8};
    tu_fill_f(&r, x, m, -3, 3);
    tu_fill_f(&r, c2, 2 * m, -3, 3);
    tu_fill_f(&r, h, 2 * m, -1, 1);
    tu_fill_f(&r, hz, n * 2 * c, -1, 1);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        ck_assert_int_eq(omp_get_max_threads(), t + 1);
        for (int k = 0; k < NOUT; k++) {
            out[t][k] = tu_alloc_f(2 * m);
            memset(out[t][k], 0, 2 * m * sizeof(float));
        }
        mask[t][0] = malloc(2 * m);
        mask[t][1] = malloc(2 * m);
        ck_assert(mask[t][0] && mask[t][1]);
        spcnn__concat_elu_forward(x, out[t][0], p, c);
        spcnn__concat_elu_backward(out[t][0], c2, out[t][1], p, c);
        spcnn__concat_elu_dropout_forward(x, out[t][2], mask[t][0], p, c, 0.5f, 11);
        spcnn__concat_elu_dropout_backward(out[t][2], mask[t][0], c2, out[t][3], p, c, 0.5f);
        spcnn__dropout_forward(c2, out[t][4], mask[t][1], 2 * m, 0.3f, 12);
        spcnn__gate_forward(x, c2, out[t][5], p, c);
        spcnn__gate_backward(c2, x, out[t][6], p, c);
        memcpy(out[t][7], c2, 2 * m * sizeof *c2);
        spcnn__cond_add_forward(out[t][7], h, hz, n, hw, 2 * c);
        spcnn__cond_add_backward(c2, out[t][8], n, hw, 2 * c);
    }
    size_t diff = 0;
    for (int k = 0; k < NOUT; k++)
        diff += count_diff(out[0][k], out[1][k], 2 * m * sizeof(float));
    diff += count_diff(mask[0][0], mask[1][0], 2 * m) + count_diff(mask[0][1], mask[1][1], 2 * m);
    tu_report("elementwise: 1 vs 2 threads, differing bytes", (double)diff, 0);
    ck_assert_uint_eq(diff, 0);
    for (int t = 0; t < 2; t++) {
        for (int k = 0; k < NOUT; k++)
            free(out[t][k]);
        free(mask[t][0]), free(mask[t][1]);
    }
    free(x), free(c2), free(h), free(hz);
}
END_TEST

/* The library runs the version of its row kernels for this CPU (AVX-512, or AVX2 with FMA:
 * core/multiversion.h); this file is compiled for baseline x86-64, where fmaf is glibc's. The
 * exp polynomial is within 2 ulp of exp on [-87, 0] (its only arguments there), and concat_elu
 * and the gate give the bytes of their plain formulas computed here: the same bytes on every
 * CPU. */
START_TEST(test_kernels_match_baseline)
{
    double worst_ulp = 0;
    for (float x = -87.0f; x <= 0.0f; x += 0.00731f) {
        const float e = spcnn__expf_nonpositive(x);
        ck_assert_msg(memcmp(&e, &(float){spcnn__expf(x)}, sizeof e) == 0, "x = %g", x);
        const double ulp = ldexp(1.0, ilogb(exp((double)x)) - 23);
        const double err = fabs((double)e - exp((double)x)) / ulp;
        worst_ulp = err > worst_ulp ? err : worst_ulp;
    }
    ck_assert_msg(worst_ulp <= 2.0, "exp: %.2f ulp", worst_ulp);
    ck_assert(spcnn__expf_nonpositive(-1000.0f) == spcnn__expf(-87.0f));
    enum { P = 301, C = 25 };
    float *x = malloc(P * C * sizeof *x), *c2 = malloc(P * 2 * C * sizeof *c2);
    float *y = malloc(P * 2 * C * sizeof *y), *g = malloc(P * C * sizeof *g);
    ck_assert(x && c2 && y && g);
    tu_rng rng = {77};
    for (size_t i = 0; i < P * C; i++)
        x[i] = (float)(tu_uniform(&rng, -0.5, 0.5) * (i % 13 == 0 ? 200.0 : 8.0));
    for (size_t i = 0; i < P * 2 * C; i++)
        c2[i] = (float)(tu_uniform(&rng, -0.5, 0.5) * (i % 11 == 0 ? 200.0 : 8.0));
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -87.5f, x[4] = 88.5f;
    spcnn__concat_elu_forward(x, y, P, C);
    spcnn__gate_forward(x, c2, g, P, C);
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < C; j++) {
            const float v = x[i * C + j];
            const float e = spcnn__expf_nonpositive(-fabsf(v)) - 1.0f;
            const float pos = v > 0.0f ? v : e, neg = v > 0.0f ? e : -v;
            ck_assert_msg(memcmp(&y[i * 2 * C + j], &pos, sizeof pos) == 0 &&
                              memcmp(&y[i * 2 * C + C + j], &neg, sizeof neg) == 0,
                          "concat_elu(%g): the kernel's bytes are not the baseline's", v);
            const float a = c2[i * 2 * C + j], b = c2[i * 2 * C + C + j];
            const float eb = spcnn__expf_nonpositive(-fabsf(b));
            const float gate = v + a * ((b >= 0.0f ? 1.0f : eb) / (1.0f + eb));
            ck_assert_msg(memcmp(&g[i * C + j], &gate, sizeof gate) == 0,
                          "gate(%g, %g, %g): the kernel's bytes are not the baseline's", v, a, b);
        }
    printf("exp within %.2f ulp; concat_elu and gate: the baseline's bytes\n", worst_ulp);
    free(x), free(c2), free(y), free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_add_test(tc, test_elu_and_concat_elu);
    tcase_add_test(tc, test_dropout_against_reference);
    tcase_add_test(tc, test_dropout_properties);
    tcase_add_test(tc, test_concat_elu_dropout_fused);
    tcase_add_test(tc, test_gate);
    tcase_add_test(tc, test_cond_add);
    tcase_add_test(tc, test_add_accumulate_concat);
    tcase_add_test(tc, test_concat_elu_bf16);
    tcase_add_test(tc, test_thread_count_independence);
    tcase_add_test(tc, test_kernels_match_baseline);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
