/* MS-SSIM (Wang, Simoncelli & Bovik 2003) of 8-bit gray images, the diversity measure of the
 * Spatial PixelCNN paper, computed as the reference implementation of the GAN literature
 * (tensorflow/models research/compression/image_encoder/msssim.py) does for small images:
 * 5 scales, an 11×11 Gaussian window (σ 1.5) shrunk to the image, 'valid' filtering, 2×2 box
 * downsampling in which an odd last row or column is averaged with itself. docs/design.md
 * ("Image quality measures") explains the choices.
 *
 * For many pairs, everything that depends on one image alone (its pixels at each scale, their
 * windowed means μ and variances σ²) is computed once per image; a pair then costs one
 * windowed mean of the product x·y per scale, which gives σxy = E[xy] − μx μy. */
#include <math.h>
#include <omp.h>
#include <stdint.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/multiversion.h"

enum { SCALES = 5, WINDOW = 11, THREADS_MAX = 256 };
/* 16 = 2^(SCALES-1): every scale is a true halving and the coarsest has at least one pixel of
 * its own; a smaller image would repeat its edge pixels into the coarser scales. */
#define MIN_SIDE ((size_t)1 << (SCALES - 1))

static const double weights[SCALES] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
static const double C1 = (0.01 * 255.0) * (0.01 * 255.0); /* (K1 L)^2 */
static const double C2 = (0.03 * 255.0) * (0.03 * 255.0); /* (K2 L)^2; C3 = C2/2 folded in */

/* The loops over planes and maps are compiled for AVX-512, AVX2 and plain x86-64
 * (core/multiversion.h). Each lane does the same operations whatever the vector width, and the
 * sums over a map run in order outside them, so every version gives the same bits. */
#define KERNEL SPCNN_MULTIVERSION static void

typedef struct scale {
    size_t h, w;         /* the image at this scale */
    size_t win;          /* side of the window: min(11, h, w) */
    size_t oh, ow;       /* the 'valid' map: (h - win + 1) × (w - win + 1) */
    double g[WINDOW];    /* normalised 1-D Gaussian; the window is its outer product */
    size_t pix, mu, var; /* offsets in an image's record, in doubles */
} scale;

typedef struct geometry {
    scale s[SCALES];
    size_t record;  /* doubles per image: pixels, μ and σ² maps of every scale */
    size_t scratch; /* doubles of work space per thread */
} geometry;

/* a·b into *out, or 0 when it overflows. */
static int mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* The sizes of every scale; 0 if the records would not fit in memory's address range. */
static int geometry_init(geometry *g, size_t h, size_t w)
{
    size_t at = 0, cells;
    g->scratch = 0;
    for (int k = 0; k < SCALES; k++) {
        scale *s = &g->s[k];
        s->h = h;
        s->w = w;
        s->win = h < w ? h : w;
        if (s->win > WINDOW)
            s->win = WINDOW;
        s->oh = h - s->win + 1;
        s->ow = w - s->win + 1;
        /* MATLAB's fspecial layout: offsets k - (n-1)/2, so an even window has no centre. */
        const double sigma = 1.5 * (double)s->win / WINDOW;
        double sum = 0;
        for (size_t i = 0; i < s->win; i++) {
            const double x = (double)i - 0.5 * (double)(s->win - 1);
            s->g[i] = exp(-x * x / (2.0 * sigma * sigma));
            sum += s->g[i];
        }
        for (size_t i = 0; i < s->win; i++)
            s->g[i] /= sum;
        /* A scale takes h·w pixels and two maps of at most h·w each. */
        if (!mul_ok(h, w, &cells) || cells > (SIZE_MAX - at) / 3)
            return 0;
        const size_t map = s->oh * s->ow;
        s->pix = at;
        s->mu = s->pix + cells;
        s->var = s->mu + map;
        at = s->var + map;
        /* Work space: the product plane, the row-filtered plane (h × ow), the map. */
        if (k == 0)
            g->scratch = cells + h * s->ow + map;
        h = (h + 1) / 2;
        w = (w + 1) / 2;
    }
    g->record = at;
    return 1;
}

KERNEL product(const double *x, const double *y, size_t n, double *p)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        p[i] = x[i] * y[i];
}

/* The contrast-structure map, in place of the map of E[xy]. */
KERNEL contrast_structure(const double *mua, const double *mub, const double *va,
                          const double *vb, size_t map, double *m)
{
#pragma omp simd
    for (size_t i = 0; i < map; i++) {
        const double cov = m[i] - mua[i] * mub[i];
        m[i] = (2.0 * cov + C2) / (va[i] + vb[i] + C2);
    }
}

/* The SSIM map (luminance × contrast-structure), in place of the map of E[xy]. */
KERNEL similarity(const double *mua, const double *mub, const double *va, const double *vb,
                  size_t map, double *m)
{
#pragma omp simd
    for (size_t i = 0; i < map; i++) {
        const double mu12 = mua[i] * mub[i];
        const double cov = m[i] - mu12;
        m[i] = ((2.0 * mu12 + C1) * (2.0 * cov + C2)) /
               ((mua[i] * mua[i] + mub[i] * mub[i] + C1) * (va[i] + vb[i] + C2));
    }
}

/* out = the window-weighted mean of plane p at every 'valid' position (separable: rows into
 * t, then columns). Every output is formed by the same operations in the same order, so equal
 * planes give equal bits. */
KERNEL window_mean(const scale *s, const double *p, double *t, double *out)
{
    const size_t w = s->w, n = s->win, ow = s->ow;
    for (size_t r = 0; r < s->h; r++) {
        const double *pr = p + r * w;
        double *tr = t + r * ow;
#pragma omp simd
        for (size_t c = 0; c < ow; c++)
            tr[c] = s->g[0] * pr[c];
        for (size_t k = 1; k < n; k++) {
            const double gk = s->g[k];
#pragma omp simd
            for (size_t c = 0; c < ow; c++)
                tr[c] += gk * pr[c + k];
        }
    }
    for (size_t r = 0; r < s->oh; r++) {
        double *o = out + r * ow;
        const double *tr = t + r * ow;
#pragma omp simd
        for (size_t c = 0; c < ow; c++)
            o[c] = s->g[0] * tr[c];
        for (size_t k = 1; k < n; k++) {
            const double gk = s->g[k];
            const double *tk = tr + k * ow;
#pragma omp simd
            for (size_t c = 0; c < ow; c++)
                o[c] += gk * tk[c];
        }
    }
}

/* The mean of each 2×2 block; an odd last row or column is averaged with itself. */
static void downsample(const double *src, size_t h, size_t w, double *dst)
{
    const size_t dh = (h + 1) / 2, dw = (w + 1) / 2;
    for (size_t r = 0; r < dh; r++) {
        const double *r0 = src + 2 * r * w;
        const double *r1 = 2 * r + 1 < h ? r0 + w : r0;
        for (size_t c = 0; c < dw; c++) {
            const size_t c0 = 2 * c, c1 = 2 * c + 1 < w ? c0 + 1 : c0;
            dst[r * dw + c] = 0.25 * (r0[c0] + r0[c1] + r1[c0] + r1[c1]);
        }
    }
}

/* Everything about one image that its pairs share: pixels, μ and σ² at every scale. */
static void precompute(const geometry *g, const uint8_t *image, double *rec, double *scratch)
{
    const scale *s0 = &g->s[0];
    for (size_t i = 0; i < s0->h * s0->w; i++)
        rec[i] = image[i];
    for (int k = 0; k < SCALES; k++) {
        const scale *s = &g->s[k];
        const size_t cells = s->h * s->w, map = s->oh * s->ow;
        const double *x = rec + s->pix;
        double *mu = rec + s->mu, *var = rec + s->var;
        double *p = scratch, *t = p + cells;
        if (k > 0)
            downsample(rec + g->s[k - 1].pix, g->s[k - 1].h, g->s[k - 1].w, rec + s->pix);
        product(x, x, cells, p);
        window_mean(s, p, t, var);
        window_mean(s, x, t, mu);
        /* Exactly as a pair's covariance is formed below, so a pair of equal images has
         * σxy == σ² bit for bit and scores exactly 1. */
        for (size_t i = 0; i < map; i++)
            var[i] = var[i] - mu[i] * mu[i];
    }
}

/* MS-SSIM of two precomputed images. Every operation is symmetric in a and b. */
static double pair_msssim(const geometry *g, const double *a, const double *b, double *scratch)
{
    double value = 1.0;
    for (int k = 0; k < SCALES; k++) {
        const scale *s = &g->s[k];
        const size_t cells = s->h * s->w, map = s->oh * s->ow;
        const double *xa = a + s->pix, *xb = b + s->pix;
        const double *mua = a + s->mu, *mub = b + s->mu, *va = a + s->var, *vb = b + s->var;
        double *p = scratch, *t = p + cells, *m = t + s->h * s->ow;
        product(xa, xb, cells, p);
        window_mean(s, p, t, m); /* E[xy] */
        if (k < SCALES - 1)
            contrast_structure(mua, mub, va, vb, map, m);
        else
            similarity(mua, mub, va, vb, map, m);
        double sum = 0; /* in order: the same bits whatever the vector width */
        for (size_t i = 0; i < map; i++)
            sum += m[i];
        const double mean = sum / (double)map;
        /* cs (and the last scale's ssim) can be negative when the images are anticorrelated at
         * that scale, and a fractional power of it is undefined: clamp at 0 as
         * tf.image.ssim_multiscale does (relu). The whole product is then 0. */
        if (!(mean > 0.0))
            return 0.0;
        value *= pow(mean, weights[k]);
    }
    return value;
}

static spcnn_status check_images(const char *what, size_t height, size_t width, geometry *g)
{
    SPCNN_CHECK_ARG(height >= MIN_SIDE && width >= MIN_SIDE,
                    "%s: images of %zu x %zu pixels are too small: MS-SSIM's %d scales need at "
                    "least %zu x %zu",
                    what, height, width, SCALES, MIN_SIDE, MIN_SIDE);
    SPCNN_CHECK_ARG(geometry_init(g, height, width),
                    "%s: images of %zu x %zu pixels are too large", what, height, width);
    return SPCNN_OK;
}

/* Bytes for `count` records plus `workers` scratch spaces, or 0 when that overflows. */
static size_t arena_bytes(const geometry *g, size_t count, size_t workers)
{
    size_t records, scratch, total;
    if (!mul_ok(count, g->record, &records) || !mul_ok(workers, g->scratch, &scratch) ||
        records > SIZE_MAX - scratch || !mul_ok(records + scratch, sizeof(double), &total))
        return 0;
    return total;
}

spcnn_status spcnn_msssim(const uint8_t *a, const uint8_t *b, size_t height, size_t width,
                          double *value)
{
    SPCNN_CHECK_ARG(a != NULL && b != NULL, "msssim: image a or b is NULL");
    SPCNN_CHECK_ARG(value != NULL, "msssim: value is NULL");
    geometry g;
    SPCNN_TRY(check_images("msssim", height, width, &g));
    const size_t bytes = arena_bytes(&g, 2, 1);
    SPCNN_CHECK_ARG(bytes != 0, "msssim: images of %zu x %zu pixels are too large", height,
                    width);
    double *arena = spcnn__malloc(bytes);
    if (arena == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "msssim: out of memory for %zu bytes of work space", bytes);
    double *ra = arena, *rb = ra + g.record, *scratch = rb + g.record;
    precompute(&g, a, ra, scratch);
    precompute(&g, b, rb, scratch);
    *value = pair_msssim(&g, ra, rb, scratch);
    spcnn__free(arena);
    return SPCNN_OK;
}

/* Count, mean and sum of squared deviations of a stream of values (Welford), merged in a fixed
 * order (Chan et al.) so the result does not depend on the thread count. */
typedef struct moments {
    double count, mean, m2;
} moments;

static void moments_add(moments *m, double v)
{
    m->count += 1.0;
    const double delta = v - m->mean;
    m->mean += delta / m->count;
    m->m2 += delta * (v - m->mean);
}

static void moments_merge(moments *into, const moments *m)
{
    if (m->count == 0)
        return;
    const double n = into->count + m->count, delta = m->mean - into->mean;
    into->mean += delta * (m->count / n);
    into->m2 += m->m2 + delta * delta * (into->count * m->count / n);
    into->count = n;
}

spcnn_status spcnn_msssim_pairs(const uint8_t *images, size_t n, size_t height, size_t width,
                                int threads, double *mean, double *std)
{
    SPCNN_CHECK_ARG(images != NULL, "msssim_pairs: images is NULL");
    SPCNN_CHECK_ARG(mean != NULL && std != NULL, "msssim_pairs: mean or std is NULL");
    SPCNN_CHECK_ARG(n >= 2, "msssim_pairs: n = %zu images: at least 2 are needed for a pair", n);
    SPCNN_CHECK_ARG(threads >= 0 && threads <= THREADS_MAX,
                    "msssim_pairs: threads = %d is out of range [0, %d] (0 means 1)", threads,
                    THREADS_MAX);
    geometry g;
    SPCNN_TRY(check_images("msssim_pairs", height, width, &g));
    const size_t team = threads > 0 ? (size_t)threads : 1, pixels = height * width;
    size_t total, bytes = arena_bytes(&g, n, team), row_bytes;
    SPCNN_CHECK_ARG(mul_ok(n, pixels, &total) && bytes != 0 &&
                        mul_ok(n, sizeof(moments), &row_bytes),
                    "msssim_pairs: %zu images of %zu x %zu pixels are too many", n, height,
                    width);
    double *arena = spcnn__malloc(bytes);
    moments *rows = spcnn__malloc(row_bytes);
    if (arena == NULL || rows == NULL) {
        spcnn__free(arena);
        spcnn__free(rows);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "msssim_pairs: out of memory for %zu images of %zu x %zu pixels", n,
                            height, width);
    }
    double *records = arena, *scratch = arena + n * g.record;
    /* One team; the caller's OpenMP settings are not touched (num_threads applies to this
     * region only). Inside a caller's parallel region the team is one thread. Each row i (the
     * pairs (i, j > i)) is summed by one thread in order, so the bits do not depend on the
     * thread count. */
#pragma omp parallel num_threads((int)team)
    {
        double *mine = scratch + (size_t)omp_get_thread_num() * g.scratch;
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++)
            precompute(&g, images + i * pixels, records + i * g.record, mine);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n; i++) {
            moments m = {0, 0, 0};
            for (size_t j = i + 1; j < n; j++)
                moments_add(&m, pair_msssim(&g, records + i * g.record, records + j * g.record,
                                            mine));
            rows[i] = m;
        }
    }
    moments all = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        moments_merge(&all, &rows[i]);
    *mean = all.mean;
    *std = sqrt(all.m2 / all.count);
    spcnn__free(rows);
    spcnn__free(arena);
    return SPCNN_OK;
}
