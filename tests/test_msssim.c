/* Image quality measures (eval/): MS-SSIM of a pair and over all pairs, and the area resize.
 * MS-SSIM is checked against a naive double-precision implementation written here straight
 * from the formula (2-D windows, direct sums, no precomputation), against values pinned from
 * an independent numpy implementation (tests/ref/msssim_reference.py), and by its invariants;
 * the resize against a brute-force average over a fine grid. Misuse and allocation failure at
 * every site. Linked with the internal library for the allocation-failure hook. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "spatialpixelcnn.h"
#include "testutil.h"

/* ---- test images (the same integer formulas as tests/ref/msssim_reference.py) ----------- */

static unsigned hash8(size_t r, size_t c, unsigned seed)
{
    uint32_t v = (uint32_t)(r * 7919u + c * 104729u + seed * 1299709u);
    v *= 2654435761u;
    v ^= v >> 15;
    v *= 2246822519u;
    v ^= v >> 13;
    return v >> 24;
}

/* A ring on a gradient, plus uniform integer noise in [-noise, noise], clamped. */
static void test_image(uint8_t *img, size_t h, size_t w, unsigned seed, int noise)
{
    const long cy = (long)h / 2, cx = (long)w / 2, side = (long)(h < w ? h : w);
    const long r1 = (side * 2 / 10) * (side * 2 / 10), r2 = (side * 4 / 10) * (side * 4 / 10);
    for (size_t r = 0; r < h; r++)
        for (size_t c = 0; c < w; c++) {
            const long dy = (long)r - cy, dx = (long)c - cx, d2 = dy * dy + dx * dx;
            long v = (long)((r * 5 + c * 3) % 64) + (d2 >= r1 && d2 <= r2 ? 180 : 0);
            v += (long)(hash8(r, c, seed) % (unsigned)(2 * noise + 1)) - noise;
            img[r * w + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

static void random_image(tu_rng *rng, uint8_t *img, size_t n)
{
    for (size_t i = 0; i < n; i++)
        img[i] = (uint8_t)(tu_next(rng) >> 56);
}

static uint8_t *alloc_u8(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void assert_message_has(const char *needle)
{
    const char *msg = spcnn_last_error_message();
    ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
}

static double msssim_ok(const uint8_t *a, const uint8_t *b, size_t h, size_t w)
{
    double v = -1;
    spcnn_status st = spcnn_msssim(a, b, h, w, &v);
    ck_assert_msg(st == SPCNN_OK, "msssim %zu x %zu: %s", h, w, spcnn_last_error_message());
    return v;
}

/* ---- the naive reference: straight from the formula ---------------------------------- */

/* SSIM and cs of one scale: a 2-D window exp(-(u² + v²) / 2σ²) normalised by its own 2-D sum,
 * and for every 'valid' position the five weighted sums taken directly. */
static void naive_scale(const double *x, const double *y, size_t h, size_t w, double *ssim,
                        double *cs)
{
    const double c1 = pow(0.01 * 255, 2), c2 = pow(0.03 * 255, 2);
    size_t n = h < w ? h : w;
    if (n > 11)
        n = 11;
    const double sigma = 1.5 * (double)n / 11.0, centre = ((double)n - 1) / 2;
    double win[11][11], total = 0;
    for (size_t u = 0; u < n; u++)
        for (size_t v = 0; v < n; v++) {
            const double du = (double)u - centre, dv = (double)v - centre;
            win[u][v] = exp(-(du * du + dv * dv) / (2 * sigma * sigma));
            total += win[u][v];
        }
    double sum_ssim = 0, sum_cs = 0;
    const size_t oh = h - n + 1, ow = w - n + 1;
    for (size_t i = 0; i < oh; i++)
        for (size_t j = 0; j < ow; j++) {
            double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
            for (size_t u = 0; u < n; u++)
                for (size_t v = 0; v < n; v++) {
                    const double g = win[u][v] / total;
                    const double a = x[(i + u) * w + j + v], b = y[(i + u) * w + j + v];
                    mx += g * a, my += g * b;
                    mxx += g * a * a, myy += g * b * b, mxy += g * a * b;
                }
            const double vx = mxx - mx * mx, vy = myy - my * my, cov = mxy - mx * my;
            const double l = (2 * mx * my + c1) / (mx * mx + my * my + c1);
            const double s = (2 * cov + c2) / (vx + vy + c2);
            sum_ssim += l * s;
            sum_cs += s;
        }
    *ssim = sum_ssim / (double)(oh * ow);
    *cs = sum_cs / (double)(oh * ow);
}

/* Half-sample symmetric padding by one row and column, 2×2 box, every second sample. */
static double *naive_downsample(const double *x, size_t h, size_t w)
{
    const size_t dh = (h + 1) / 2, dw = (w + 1) / 2;
    double *out = tu_alloc_d(dh * dw);
    for (size_t i = 0; i < dh; i++)
        for (size_t j = 0; j < dw; j++) {
            double s = 0;
            for (size_t u = 2 * i; u <= 2 * i + 1; u++)
                for (size_t v = 2 * j; v <= 2 * j + 1; v++)
                    s += x[(u < h ? u : 2 * h - 1 - u) * w + (v < w ? v : 2 * w - 1 - v)];
            out[i * dw + j] = s / 4;
        }
    return out;
}

static double naive_msssim(const uint8_t *a, const uint8_t *b, size_t h, size_t w)
{
    static const double weight[5] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
    double *x = tu_alloc_d(h * w), *y = tu_alloc_d(h * w), result = 1;
    for (size_t i = 0; i < h * w; i++)
        x[i] = a[i], y[i] = b[i];
    for (int k = 0; k < 5; k++) {
        double ssim, cs;
        naive_scale(x, y, h, w, &ssim, &cs);
        const double term = k < 4 ? cs : ssim;
        result *= pow(term > 0 ? term : 0, weight[k]);
        double *nx = naive_downsample(x, h, w), *ny = naive_downsample(y, h, w);
        free(x);
        free(y);
        x = nx, y = ny, h = (h + 1) / 2, w = (w + 1) / 2;
    }
    free(x);
    free(y);
    return result;
}

/* ---- MS-SSIM ------------------------------------------------------------------------- */

static const size_t sizes[][2] = {{16, 16}, {28, 28}, {56, 56}, {23, 37}, {17, 100}, {31, 16}};
#define NSIZES (sizeof sizes / sizeof sizes[0])

START_TEST(test_identical_is_one)
{
    tu_rng rng = {1};
    double worst = 0;
    for (size_t s = 0; s < NSIZES; s++) {
        const size_t h = sizes[s][0], w = sizes[s][1];
        uint8_t *a = alloc_u8(h * w), *copy = alloc_u8(h * w);
        for (int trial = 0; trial < 3; trial++) {
            if (trial == 0)
                random_image(&rng, a, h * w);
            else
                test_image(a, h, w, (unsigned)trial, trial == 1 ? 0 : 90);
            memcpy(copy, a, h * w);
            const double v = msssim_ok(a, copy, h, w);
            worst = fmax(worst, fabs(v - 1));
            ck_assert_msg(v == 1.0, "%zu x %zu trial %d: %.17g", h, w, trial, v);
            ck_assert(msssim_ok(a, a, h, w) == 1.0);
        }
        free(a);
        free(copy);
    }
    tu_report("msssim(a, a) == 1: worst |v - 1|", worst, 0);
}
END_TEST

START_TEST(test_symmetric)
{
    tu_rng rng = {2};
    size_t differ = 0, pairs = 0;
    for (size_t s = 0; s < NSIZES; s++) {
        const size_t h = sizes[s][0], w = sizes[s][1];
        uint8_t *a = alloc_u8(h * w), *b = alloc_u8(h * w);
        for (int trial = 0; trial < 4; trial++) {
            test_image(a, h, w, 10u + (unsigned)trial, 20 * trial);
            if (trial % 2)
                random_image(&rng, b, h * w);
            else
                test_image(b, h, w, 20u + (unsigned)trial, 30);
            const double ab = msssim_ok(a, b, h, w), ba = msssim_ok(b, a, h, w);
            differ += ab != ba;
            pairs++;
            ck_assert_msg(ab == ba, "%zu x %zu: %.17g != %.17g", h, w, ab, ba);
        }
        free(a);
        free(b);
    }
    printf("msssim symmetric: %zu of %zu pairs differ\n", differ, pairs);
}
END_TEST

START_TEST(test_against_naive)
{
    tu_rng rng = {3};
    double worst = 0;
    const double limit = 1e-12;
    for (size_t s = 0; s < NSIZES; s++) {
        const size_t h = sizes[s][0], w = sizes[s][1];
        uint8_t *a = alloc_u8(h * w), *b = alloc_u8(h * w);
        for (int trial = 0; trial < 5; trial++) {
            test_image(a, h, w, 30u + (unsigned)trial, 10 + 25 * trial);
            if (trial == 4)
                random_image(&rng, b, h * w);
            else
                test_image(b, h, w, 40u + (unsigned)trial, 10 + 25 * trial);
            const double got = msssim_ok(a, b, h, w), want = naive_msssim(a, b, h, w);
            const double err = fabs(got - want);
            ck_assert_msg(err <= limit, "%zu x %zu trial %d: %.17g, naive %.17g", h, w, trial,
                          got, want);
            worst = fmax(worst, err);
        }
        free(a);
        free(b);
    }
    tu_report("msssim against the naive formula: |diff|", worst, limit);
}
END_TEST

/* Values from tests/ref/msssim_reference.py (numpy, the reference implementation's algorithm
 * written afresh; see the script). The sums check that both sides made the same images. */
START_TEST(test_pinned_reference)
{
    static const struct {
        size_t h, w;
        unsigned seed_a, seed_b;
        int noise;
        long sum_a, sum_b;
        double value;
    } cases[] = {
        {28, 28, 1, 2, 10, 79636, 79595, 0.99832516216580025},
        {56, 56, 3, 4, 40, 302405, 301423, 0.9654381804822999},
        {23, 37, 5, 6, 25, 64496, 64830, 0.99158737319640633},
        {16, 16, 7, 8, 60, 23975, 23711, 0.93631918944786718},
        {28, 28, 9, 10, 127, 85282, 85049, 0.85600417231361192},
    };
    const double limit = 1e-12;
    double worst = 0, worst_naive = 0;
    uint8_t a[56 * 56], b[56 * 56];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const size_t h = cases[k].h, w = cases[k].w;
        test_image(a, h, w, cases[k].seed_a, cases[k].noise);
        test_image(b, h, w, cases[k].seed_b, cases[k].noise);
        long sa = 0, sb = 0;
        for (size_t i = 0; i < h * w; i++)
            sa += a[i], sb += b[i];
        ck_assert_int_eq(sa, cases[k].sum_a);
        ck_assert_int_eq(sb, cases[k].sum_b);
        const double got = msssim_ok(a, b, h, w), err = fabs(got - cases[k].value);
        ck_assert_msg(err <= limit, "case %zu: %.17g, numpy %.17g", k, got, cases[k].value);
        worst = fmax(worst, err);
        worst_naive = fmax(worst_naive, fabs(naive_msssim(a, b, h, w) - cases[k].value));
    }
    /* An image against its transpose: less alike. */
    test_image(a, 28, 28, 11, 60);
    for (size_t r = 0; r < 28; r++)
        for (size_t c = 0; c < 28; c++)
            b[c * 28 + r] = a[r * 28 + c];
    const double t = msssim_ok(a, b, 28, 28);
    ck_assert_msg(fabs(t - 0.95678133589904479) <= limit, "transpose: %.17g", t);
    worst = fmax(worst, fabs(t - 0.95678133589904479));
    tu_report("msssim against numpy (pinned): |diff|", worst, limit);
    tu_report("naive formula against numpy (pinned): |diff|", worst_naive, limit);
    ck_assert(worst_naive <= limit);
}
END_TEST

/* Constant images: every σ is 0, so cs = C2 / C2 = 1 at every scale and the value is the
 * luminance term alone, l^0.1333 with l = (2 c d + C1) / (c² + d² + C1). (The window's weights
 * sum to 1 only to rounding, so σ² = E[x²] − μ² is a few 1e-12 rather than 0.) */
START_TEST(test_constant_images)
{
    const double c1 = (0.01 * 255) * (0.01 * 255);
    static const int levels[][2] = {{0, 0}, {0, 255}, {255, 255}, {100, 101}, {7, 200}, {0, 1}};
    uint8_t a[20 * 24], b[20 * 24];
    double worst = 0;
    for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++) {
        const double c = levels[k][0], d = levels[k][1];
        memset(a, levels[k][0], sizeof a);
        memset(b, levels[k][1], sizeof b);
        const double want = pow((2 * c * d + c1) / (c * c + d * d + c1), 0.1333);
        const double got = msssim_ok(a, b, 20, 24), err = fabs(got - want);
        ck_assert_msg(err <= 1e-12, "%d vs %d: %.17g, expected %.17g", levels[k][0],
                      levels[k][1], got, want);
        worst = fmax(worst, err);
        if (c == d)
            ck_assert(got == 1.0);
    }
    tu_report("msssim of constant images: |diff|", worst, 1e-12);
}
END_TEST

START_TEST(test_invariants)
{
    tu_rng rng = {5};
    enum { H = 28, W = 28 };
    uint8_t a[H * W], b[H * W];
    /* Range: random pairs, structured pairs, anticorrelated pairs. */
    double lo = 1, hi = 0;
    for (int trial = 0; trial < 60; trial++) {
        if (trial % 3 == 0) {
            random_image(&rng, a, sizeof a);
            random_image(&rng, b, sizeof b);
        } else {
            test_image(a, H, W, (unsigned)trial, trial);
            test_image(b, H, W, 100u + (unsigned)trial, 2 * trial);
        }
        if (trial % 5 == 0)
            for (size_t i = 0; i < sizeof b; i++)
                b[i] = (uint8_t)(255 - a[i]);
        const double v = msssim_ok(a, b, H, W);
        ck_assert_msg(v >= 0 && v <= 1, "trial %d: %.17g", trial, v);
        lo = fmin(lo, v), hi = fmax(hi, v);
    }
    printf("msssim range over 60 pairs: [%.6f, %.6f]\n", lo, hi);
    /* A negative image is anticorrelated at the first scale: cs_1 < 0 is clamped, value 0. */
    test_image(a, H, W, 1, 10);
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(255 - a[i]);
    ck_assert(msssim_ok(a, b, H, W) == 0.0);

    /* A brightened copy, and more noise, score lower. */
    test_image(a, H, W, 3, 20);
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(a[i] > 225 ? 255 : a[i] + 30);
    const double bright = msssim_ok(a, b, H, W);
    ck_assert_msg(bright < 1 && bright > 0.5, "brightened: %.17g", bright);
    static const int amplitude[] = {0, 4, 12, 30, 70, 150};
    double previous = 2;
    for (size_t k = 0; k < sizeof amplitude / sizeof amplitude[0]; k++) {
        for (size_t i = 0; i < sizeof b; i++) {
            /* the same noise pattern in [-1, 1], scaled */
            const double e = (double)hash8(i / W, i % W, 77) / 127.5 - 1.0;
            const long v = lround(a[i] + amplitude[k] * e);
            b[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        const double v = msssim_ok(a, b, H, W);
        printf("msssim with noise amplitude %3d: %.6f\n", amplitude[k], v);
        ck_assert_msg(v < previous, "amplitude %d: %.17g not below %.17g", amplitude[k], v,
                      previous);
        if (amplitude[k] == 0)
            ck_assert(v == 1.0);
        previous = v;
    }
}
END_TEST

/* Mean and population standard deviation over pairs, two passes over spcnn_msssim. */
static void naive_pairs(const uint8_t *images, size_t n, size_t h, size_t w, double *mean,
                        double *std)
{
    const size_t np = n * (n - 1) / 2;
    double *v = tu_alloc_d(np), sum = 0, dev = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            v[k++] = msssim_ok(images + i * h * w, images + j * h * w, h, w);
    for (k = 0; k < np; k++)
        sum += v[k];
    *mean = sum / (double)np;
    for (k = 0; k < np; k++)
        dev += (v[k] - *mean) * (v[k] - *mean);
    *std = sqrt(dev / (double)np);
    free(v);
}

static void pairs_ok(const uint8_t *images, size_t n, size_t h, size_t w, int threads,
                     double *mean, double *std)
{
    spcnn_status st = spcnn_msssim_pairs(images, n, h, w, threads, mean, std);
    ck_assert_msg(st == SPCNN_OK, "msssim_pairs: %s", spcnn_last_error_message());
}

START_TEST(test_pairs_against_loop)
{
    static const size_t shapes[][3] = {{2, 28, 28}, {3, 16, 16}, {7, 28, 28}, {5, 23, 37},
                                       {12, 20, 18}};
    tu_rng rng = {6};
    double worst = 0;
    const double limit = 1e-14;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t n = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        uint8_t *images = alloc_u8(n * h * w);
        for (size_t i = 0; i < n; i++) {
            if (i % 3 == 2)
                random_image(&rng, images + i * h * w, h * w);
            else
                test_image(images + i * h * w, h, w, (unsigned)(s * 100 + i), (int)(10 * i));
        }
        double mean, std, want_mean, want_std;
        pairs_ok(images, n, h, w, 1, &mean, &std);
        naive_pairs(images, n, h, w, &want_mean, &want_std);
        const double err = fmax(fabs(mean - want_mean), fabs(std - want_std));
        ck_assert_msg(err <= limit, "%zu images %zu x %zu: mean %.17g std %.17g, loop %.17g %.17g",
                      n, h, w, mean, std, want_mean, want_std);
        worst = fmax(worst, err);
        if (n == 2) { /* one pair: exactly its value */
            ck_assert(mean == msssim_ok(images, images + h * w, h, w));
            ck_assert(std == 0.0);
        }
        free(images);
    }
    tu_report("msssim_pairs against a loop over pairs: |diff|", worst, limit);

    /* n copies of one image: mean exactly 1, std exactly 0. */
    uint8_t copies[6 * 28 * 28];
    test_image(copies, 28, 28, 1, 30);
    for (size_t i = 1; i < 6; i++)
        memcpy(copies + i * 28 * 28, copies, 28 * 28);
    double mean, std;
    pairs_ok(copies, 6, 28, 28, 2, &mean, &std);
    ck_assert(mean == 1.0 && std == 0.0);
}
END_TEST

START_TEST(test_pairs_threads)
{
    enum { N = 41, H = 28, W = 28 };
    uint8_t *images = alloc_u8((size_t)N * H * W);
    tu_rng rng = {7};
    for (size_t i = 0; i < N; i++) {
        if (i % 4 == 0)
            random_image(&rng, images + i * H * W, H * W);
        else
            test_image(images + i * H * W, H, W, (unsigned)i, (int)(i * 3));
    }
    omp_set_num_threads(3);
    double m1, s1;
    pairs_ok(images, N, H, W, 1, &m1, &s1);
    ck_assert_int_eq(omp_get_max_threads(), 3);
    static const int threads[] = {0, 2, 3, 8};
    for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        double m, s;
        pairs_ok(images, N, H, W, threads[k], &m, &s);
        ck_assert_msg(m == m1 && s == s1, "threads %d: %.17g %.17g, 1 thread %.17g %.17g",
                      threads[k], m, s, m1, s1);
        /* The caller's OpenMP thread count is untouched. */
        ck_assert_int_eq(omp_get_max_threads(), 3);
    }
    /* Called from inside a parallel region (a team of one): the same bits. */
    double mp = 0, sp = 0;
    spcnn_status st = SPCNN_OK;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        st = spcnn_msssim_pairs(images, N, H, W, 2, &mp, &sp);
    }
    ck_assert_int_eq(st, SPCNN_OK);
    ck_assert(mp == m1 && sp == s1);
    printf("msssim_pairs over %d images: mean %.6f std %.6f, same bits with 0, 1, 2, 3 and 8 "
           "threads\n", N, m1, s1);
    free(images);
}
END_TEST

START_TEST(test_msssim_misuse)
{
    uint8_t img[2 * 28 * 28] = {0};
    double v = 0.5, mean = 0.5, std = 0.5;
    ck_assert_int_eq(spcnn_msssim(NULL, img, 28, 28, &v), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("msssim");
    ck_assert_int_eq(spcnn_msssim(img, NULL, 28, 28, &v), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_msssim(img, img, 28, 28, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    /* Sides below 16 (zero included), and sizes whose products overflow: the buffers are far
     * too small for these and must never be read. */
    const size_t bad[][2] = {{0, 28},  {28, 0},       {15, 28},      {28, 15},
                             {15, 15}, {SIZE_MAX, 16}, {16, SIZE_MAX}, {SIZE_MAX, SIZE_MAX},
                             {(size_t)1 << 32, (size_t)1 << 32}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(spcnn_msssim(img, img, bad[k][0], bad[k][1], &v),
                         SPCNN_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(spcnn_msssim_pairs(img, 2, bad[k][0], bad[k][1], 1, &mean, &std),
                         SPCNN_ERR_INVALID_ARGUMENT);
        assert_message_has("msssim_pairs");
    }
    ck_assert_int_eq(spcnn_msssim(img, img, 15, 28, &v), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("at least 16 x 16");
    ck_assert_int_eq(spcnn_msssim(img, img, SIZE_MAX, 16, &v), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("too large");
    ck_assert(v == 0.5);

    ck_assert_int_eq(spcnn_msssim_pairs(NULL, 2, 28, 28, 1, &mean, &std),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_msssim_pairs(img, 2, 28, 28, 1, NULL, &std),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_msssim_pairs(img, 2, 28, 28, 1, &mean, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    for (size_t n = 0; n < 2; n++) {
        ck_assert_int_eq(spcnn_msssim_pairs(img, n, 28, 28, 1, &mean, &std),
                         SPCNN_ERR_INVALID_ARGUMENT);
        assert_message_has("at least 2");
    }
    static const int bad_threads[] = {-1, -1000, 257, 1 << 30};
    for (size_t k = 0; k < sizeof bad_threads / sizeof bad_threads[0]; k++) {
        ck_assert_int_eq(spcnn_msssim_pairs(img, 2, 28, 28, bad_threads[k], &mean, &std),
                         SPCNN_ERR_INVALID_ARGUMENT);
        assert_message_has("threads");
    }
    /* n × height × width overflows (each side is fine). */
    ck_assert_int_eq(spcnn_msssim_pairs(img, SIZE_MAX / 100, 28, 28, 1, &mean, &std),
                     SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("too many");
    ck_assert_int_eq(spcnn_msssim_pairs(img, SIZE_MAX, 16, 16, 1, &mean, &std),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert(mean == 0.5 && std == 0.5);
    /* And the valid calls next to them work. */
    ck_assert_int_eq(spcnn_msssim_pairs(img, 2, 28, 28, 256, &mean, &std), SPCNN_OK);
    ck_assert(mean == 1.0 && std == 0.0);
}
END_TEST

/* Every allocation site fails once: SPCNN_ERR_OUT_OF_MEMORY, the out-parameters untouched,
 * nothing leaked (the ASan build checks), and the next call works. */
START_TEST(test_msssim_allocation_failure)
{
    enum { N = 5, H = 28, W = 28 };
    uint8_t images[N * H * W];
    for (size_t i = 0; i < N; i++)
        test_image(images + i * H * W, H, W, (unsigned)i, 40);
    double want = 0, want_mean = 0, want_std = 0;
    spcnn__alloc_fail_after(-1);
    want = msssim_ok(images, images + H * W, H, W);
    const long single_sites = spcnn__alloc_fail_after(-1);
    pairs_ok(images, N, H, W, 2, &want_mean, &want_std);
    const long pair_sites = spcnn__alloc_fail_after(-1);
    ck_assert_int_ge(single_sites, 1);
    ck_assert_int_ge(pair_sites, 1);
    for (long k = 0; k < single_sites; k++) {
        double v = -1;
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn_msssim(images, images + H * W, H, W, &v);
        spcnn__alloc_fail_after(-1);
        ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
        assert_message_has("out of memory");
        ck_assert(v == -1);
    }
    for (long k = 0; k < pair_sites; k++) {
        double mean = -1, std = -1;
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn_msssim_pairs(images, N, H, W, 2, &mean, &std);
        spcnn__alloc_fail_after(-1);
        ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
        assert_message_has("out of memory");
        ck_assert(mean == -1 && std == -1);
    }
    double mean, std;
    pairs_ok(images, N, H, W, 2, &mean, &std);
    ck_assert(mean == want_mean && std == want_std);
    ck_assert(msssim_ok(images, images + H * W, H, W) == want);
    printf("msssim allocation failures: %ld + %ld sites failed cleanly\n", single_sites,
           pair_sites);
}
END_TEST

/* ---- area resize --------------------------------------------------------------------- */

static void resize_ok(const uint8_t *src, size_t sh, size_t sw, uint8_t *dst, size_t dh,
                      size_t dw)
{
    spcnn_status st = spcnn_image_resize_area(src, sh, sw, dst, dh, dw);
    ck_assert_msg(st == SPCNN_OK, "resize %zu x %zu -> %zu x %zu: %s", sh, sw, dh, dw,
                  spcnn_last_error_message());
}

/* Downscaling by brute force: stretch the source over a fine grid of (sh·dh) × (sw·dw) cells,
 * each source pixel covering dh × dw of them and each output pixel sh × sw, and average an
 * output's cells, rounded to nearest with halves up. */
static uint8_t naive_area(const uint8_t *src, size_t sh, size_t sw, size_t dh, size_t dw,
                          size_t r, size_t c)
{
    uint64_t sum = 0, count = 0;
    for (size_t u = r * sh; u < (r + 1) * sh; u++)
        for (size_t v = c * sw; v < (c + 1) * sw; v++) {
            sum += src[(u / dh) * sw + v / dw];
            count++;
        }
    return (uint8_t)((2 * sum + count) / (2 * count));
}

START_TEST(test_resize_integer_factors)
{
    tu_rng rng = {8};
    enum { S = 56 };
    uint8_t src[S * S], dst[S * S], back[S * S];
    random_image(&rng, src, sizeof src);
    /* 2×: the mean of each 2×2 block, rounded half up. */
    resize_ok(src, S, S, dst, 28, 28);
    for (size_t r = 0; r < 28; r++)
        for (size_t c = 0; c < 28; c++) {
            const unsigned s = src[2 * r * S + 2 * c] + src[2 * r * S + 2 * c + 1] +
                               src[(2 * r + 1) * S + 2 * c] + src[(2 * r + 1) * S + 2 * c + 1];
            ck_assert_uint_eq(dst[r * 28 + c], (s + 2) / 4);
        }
    /* 4× and a 7× by 8× block mean. */
    resize_ok(src, S, S, dst, 14, 14);
    for (size_t r = 0; r < 14; r++)
        for (size_t c = 0; c < 14; c++) {
            unsigned s = 0;
            for (size_t u = 0; u < 4; u++)
                for (size_t v = 0; v < 4; v++)
                    s += src[(4 * r + u) * S + 4 * c + v];
            ck_assert_uint_eq(dst[r * 14 + c], (s + 8) / 16);
        }
    resize_ok(src, S, S, dst, 8, 7);
    for (size_t r = 0; r < 8; r++)
        for (size_t c = 0; c < 7; c++) {
            unsigned s = 0;
            for (size_t u = 0; u < 7; u++)
                for (size_t v = 0; v < 8; v++)
                    s += src[(7 * r + u) * S + 8 * c + v];
            ck_assert_uint_eq(dst[r * 7 + c], (2 * s + 56) / 112);
        }
    /* Same size: a copy (28×28, and a non-square one). */
    resize_ok(src, 28, 28, dst, 28, 28);
    ck_assert_int_eq(memcmp(dst, src, 28 * 28), 0);
    resize_ok(src, 13, 40, dst, 13, 40);
    ck_assert_int_eq(memcmp(dst, src, 13 * 40), 0);
    /* Everything to one pixel: the rounded mean of the image. */
    unsigned long total = 0;
    for (size_t i = 0; i < sizeof src; i++)
        total += src[i];
    resize_ok(src, S, S, dst, 1, 1);
    ck_assert_uint_eq(dst[0], (2 * total + S * S) / (2 * S * S));
    /* Upscaling replicates: 28 -> 56 gives 2×2 blocks, 10 -> 30 gives 3×3 blocks, and a 2×
     * down then up of a block-constant image is the identity. */
    resize_ok(src, 28, 28, dst, 56, 56);
    for (size_t r = 0; r < 56; r++)
        for (size_t c = 0; c < 56; c++)
            ck_assert_uint_eq(dst[r * 56 + c], src[(r / 2) * 28 + c / 2]);
    resize_ok(src, 10, 10, dst, 30, 30);
    for (size_t r = 0; r < 30; r++)
        for (size_t c = 0; c < 30; c++)
            ck_assert_uint_eq(dst[r * 30 + c], src[(r / 3) * 10 + c / 3]);
    resize_ok(src, 28, 28, dst, 56, 56);
    resize_ok(dst, 56, 56, back, 28, 28);
    ck_assert_int_eq(memcmp(back, src, 28 * 28), 0);
}
END_TEST

START_TEST(test_resize_non_integer)
{
    static const size_t cases[][4] = {{56, 56, 24, 24}, {50, 50, 28, 28}, {37, 23, 10, 7},
                                      {28, 56, 19, 13}, {9, 1, 4, 1},     {1, 17, 1, 5},
                                      {100, 3, 33, 2}};
    tu_rng rng = {9};
    size_t checked = 0, mismatches = 0;
    uint8_t src[100 * 100], dst[100 * 100];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const size_t sh = cases[k][0], sw = cases[k][1], dh = cases[k][2], dw = cases[k][3];
        for (int trial = 0; trial < 3; trial++) {
            if (trial == 2)
                memset(src, 255, sh * sw); /* the largest sums */
            else
                random_image(&rng, src, sh * sw);
            resize_ok(src, sh, sw, dst, dh, dw);
            for (size_t r = 0; r < dh; r++)
                for (size_t c = 0; c < dw; c++) {
                    const uint8_t want = naive_area(src, sh, sw, dh, dw, r, c);
                    mismatches += dst[r * dw + c] != want;
                    ck_assert_msg(dst[r * dw + c] == want,
                                  "%zu x %zu -> %zu x %zu at (%zu, %zu): %u, expected %u", sh,
                                  sw, dh, dw, r, c, dst[r * dw + c], want);
                    checked++;
                }
        }
    }
    printf("resize, non-integer factors: %zu of %zu pixels differ from the brute force\n",
           mismatches, checked);
    /* Non-integer upscaling takes the source pixel under each output pixel's centre. */
    random_image(&rng, src, 10 * 7);
    resize_ok(src, 10, 7, dst, 25, 16);
    for (size_t r = 0; r < 25; r++)
        for (size_t c = 0; c < 16; c++) {
            const size_t y = (size_t)floor((r + 0.5) * 10 / 25);
            const size_t x = (size_t)floor((c + 0.5) * 7 / 16);
            ck_assert_uint_eq(dst[r * 16 + c], src[y * 7 + x]);
        }
    /* Down along one axis, up along the other. */
    random_image(&rng, src, 56 * 10);
    resize_ok(src, 56, 10, dst, 28, 20);
    for (size_t r = 0; r < 28; r++)
        for (size_t c = 0; c < 20; c++) {
            const unsigned s = src[2 * r * 10 + c / 2] + src[(2 * r + 1) * 10 + c / 2];
            ck_assert_uint_eq(dst[r * 20 + c], (s + 1) / 2);
        }
}
END_TEST

START_TEST(test_resize_misuse)
{
    uint8_t src[16] = {1, 2, 3}, dst[16] = {9};
    ck_assert_int_eq(spcnn_image_resize_area(NULL, 4, 4, dst, 2, 2), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("image_resize_area");
    ck_assert_int_eq(spcnn_image_resize_area(src, 4, 4, NULL, 2, 2), SPCNN_ERR_INVALID_ARGUMENT);
    const size_t bad[][4] = {{0, 4, 2, 2},
                             {4, 0, 2, 2},
                             {4, 4, 0, 2},
                             {4, 4, 2, 0},
                             {SIZE_MAX, 4, 2, 2},
                             {4, SIZE_MAX, 2, 2},
                             {4, 4, SIZE_MAX, 2},
                             {4, 4, 2, SIZE_MAX},
                             {(size_t)1 << 32, (size_t)1 << 32, 1, 1},
                             {1, 1, (size_t)1 << 32, (size_t)1 << 32},
                             {(size_t)1 << 31, 1, (size_t)1 << 31, 1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(spcnn_image_resize_area(src, bad[k][0], bad[k][1], dst, bad[k][2],
                                                 bad[k][3]),
                         SPCNN_ERR_INVALID_ARGUMENT);
        assert_message_has("image_resize_area");
    }
    ck_assert_uint_eq(dst[0], 9); /* never written */
    ck_assert_int_eq(spcnn_image_resize_area(src, 4, 4, dst, 1, 1), SPCNN_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msssim");
    TCase *m = tcase_create("msssim");
    tcase_set_timeout(m, 120);
    tcase_add_test(m, test_identical_is_one);
    tcase_add_test(m, test_symmetric);
    tcase_add_test(m, test_against_naive);
    tcase_add_test(m, test_pinned_reference);
    tcase_add_test(m, test_constant_images);
    tcase_add_test(m, test_invariants);
    tcase_add_test(m, test_pairs_against_loop);
    tcase_add_test(m, test_pairs_threads);
    tcase_add_test(m, test_msssim_misuse);
    tcase_add_test(m, test_msssim_allocation_failure);
    suite_add_tcase(s, m);
    TCase *r = tcase_create("resize");
    tcase_add_test(r, test_resize_integer_factors);
    tcase_add_test(r, test_resize_non_integer);
    tcase_add_test(r, test_resize_misuse);
    suite_add_tcase(s, r);
    return tu_run_suite(s);
}
