/* Hand-written elementwise layers (see elementwise.h). Each loop body computes one output
 * element (or one image's reduction) from its inputs alone, so splitting the outer loop over
 * OpenMP threads cannot change any result. */
#include "nn/elementwise.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/multiversion.h"
#include "nn/bf16.h"
#include "nn/fastexp.h"
#include "nn/rng.h"
#include "nn/row_ranges.h"

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN ((size_t)1 << 15)

/* The row kernels below are compiled for AVX-512, AVX2 and plain x86-64, and the loader picks
 * the best one the CPU has (core/multiversion.h). Each lane does the same operations whatever
 * the vector width (ISO C: no FMA contraction), so every version gives the same bytes. */
#define ROW_KERNEL SPCNN_MULTIVERSION static void

/* The split of a loop over threads, with this file's threshold. */
#define FOR_ROWS(rows, work, call) FOR_ROW_RANGES(rows, work, PAR_MIN, call)

/* Short rows go in blocks of BLOCK lanes: a row of c = F = 25 channels (the default network)
 * is then two full AVX-512 vectors (four AVX2, eight SSE) rather than a vector, a half-vector
 * and a scalar tail, each with its own setup, per row. A row whose length is not a multiple of
 * BLOCK ends with a block moved back to end at c, overlapping the block before by `skip` lanes:
 * kernels that write only what they do not read compute those lanes twice (the same values);
 * in-place kernels leave them as they are. Every element still goes through the same
 * operations, so the bytes are those of a plain loop. Rows shorter than BLOCK take the plain
 * loop. */
#define BLOCK ((size_t)16)

/* The first lane of the block that starts at j0 in a row of c >= BLOCK lanes. */
static inline size_t block_start(size_t j0, size_t c)
{
    return j0 + BLOCK <= c ? j0 : c - BLOCK;
}

/* The inner loops are branch-free so that they vectorise: selections are conditional
 * expressions (blends), and exp is spcnn__expf_nonpositive, an inline polynomial with fused
 * multiply-adds (nn/fastexp.h; glibc's expf is a call per element). exp(x) − 1 is formed from
 * exp rather than expm1: the absolute error (~6e-8 near 0) is irrelevant to an activation, and
 * y + 1 then recovers exp(x) exactly for the backward. */

/* elu(v) = v for v > 0, else exp(v) − 1. */
static inline float elu1(float v)
{
    float e = spcnn__expf_nonpositive(v < 0.0f ? v : 0.0f) - 1.0f;
    return v > 0.0f ? v : e;
}

/* elu'(x) from y = elu(x): 1 where y > 0, else exp(x) = y + 1 (<= 1). */
static inline float elu_grad_from_y(float y)
{
    float g = y + 1.0f;
    return g < 1.0f ? g : 1.0f;
}

/* (elu(v), elu(−v)) with one exp: exp(−|v|) − 1 is the non-positive side's value. */
static inline void concat_elu1(float v, float *pos, float *neg)
{
    float e = spcnn__expf_nonpositive(-fabsf(v)) - 1.0f;
    *pos = v > 0.0f ? v : e;
    *neg = v > 0.0f ? e : -v;
}

/* The dropout factor of a mask byte: exactly 0 or scale. */
static inline float keep_factor(uint8_t m, float scale)
{
    return (float)m * scale;
}

/* dx[j] of concat_elu's backward, from a pixel's forward output y and gradient dy [2c]. */
static inline float concat_elu_grad(const float *y, const float *dy, size_t c, size_t j)
{
    return dy[j] * elu_grad_from_y(y[j]) - dy[c + j] * elu_grad_from_y(y[c + j]);
}

static inline float sigmoid1(float v)
{
    float e = spcnn__expf_nonpositive(-fabsf(v));
    return (v >= 0.0f ? 1.0f : e) / (1.0f + e);
}

ROW_KERNEL elu_range(const float *x, float *y, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        y[i] = elu1(x[i]);
}

void spcnn__elu_forward(const float *x, float *y, size_t n)
{
    FOR_ROWS(n, n, elu_range(x, y, lo, hi));
}

ROW_KERNEL elu_backward_range(const float *y, const float *dy, float *dx, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        dx[i] = dy[i] * elu_grad_from_y(y[i]);
}

void spcnn__elu_backward(const float *y, const float *dy, float *dx, size_t n)
{
    FOR_ROWS(n, n, elu_backward_range(y, dy, dx, lo, hi));
}

ROW_KERNEL concat_elu_rows(const float *x, float *y, size_t lo, size_t hi, size_t c)
{
    for (size_t i = lo; i < hi; i++) {
        const float *xi = x + i * c;
        float *yi = y + i * 2 * c;
        if (c < BLOCK) {
#pragma omp simd
            for (size_t j = 0; j < c; j++)
                concat_elu1(xi[j], &yi[j], &yi[c + j]);
            continue;
        }
        for (size_t j0 = 0; j0 < c; j0 += BLOCK) {
            const size_t j = block_start(j0, c);
#pragma omp simd
            for (size_t l = 0; l < BLOCK; l++)
                concat_elu1(xi[j + l], &yi[j + l], &yi[c + j + l]);
        }
    }
}

void spcnn__concat_elu_forward(const float *x, float *y, size_t p, size_t c)
{
    FOR_ROWS(p, p * c, concat_elu_rows(x, y, lo, hi, c));
}

/* Floats of the chunk spcnn__concat_elu_forward_bf16 rounds at a time: a few rows that stay in
 * the L1 cache, at least one of the widest (c <= 2 × 1024 channels: an aux input of 2F). */
#define BF16_CHUNK 4096

/* Rows [lo, hi) a chunk at a time: concat_elu in fp32 on the stack, then rounded by the CPU's
 * conversion (bf16.h), so the fp32 tensor never goes to memory. */
static void concat_elu_bf16_rows(const float *x, uint16_t *y, size_t lo, size_t hi, size_t c)
{
    float chunk[BF16_CHUNK];
    const size_t per = 2 * c <= BF16_CHUNK ? BF16_CHUNK / (2 * c) : 0;
    if (per == 0) { /* wider than the model allows: element by element */
        for (size_t i = lo; i < hi; i++)
            for (size_t j = 0; j < c; j++) {
                float pos, neg;
                concat_elu1(x[i * c + j], &pos, &neg);
                y[i * 2 * c + j] = spcnn__bf16_round(pos);
                y[i * 2 * c + c + j] = spcnn__bf16_round(neg);
            }
        return;
    }
    for (size_t i = lo; i < hi; i += per) {
        const size_t rows = hi - i < per ? hi - i : per;
        concat_elu_rows(x + i * c, chunk, 0, rows, c);
        spcnn__bf16_from_f32(chunk, y + i * 2 * c, rows * 2 * c);
    }
}

void spcnn__concat_elu_forward_bf16(const float *x, uint16_t *y, size_t p, size_t c)
{
    FOR_ROWS(p, p * c, concat_elu_bf16_rows(x, y, lo, hi, c));
}

ROW_KERNEL concat_elu_backward_rows(const float *y, const float *dy, float *dx, size_t lo,
                                    size_t hi, size_t c)
{
    for (size_t i = lo; i < hi; i++) {
        const float *yi = y + i * 2 * c, *dyi = dy + i * 2 * c;
        float *dxi = dx + i * c;
        if (c < BLOCK) {
#pragma omp simd
            for (size_t j = 0; j < c; j++)
                dxi[j] = concat_elu_grad(yi, dyi, c, j);
            continue;
        }
        for (size_t j0 = 0; j0 < c; j0 += BLOCK) {
            const size_t j = block_start(j0, c);
#pragma omp simd
            for (size_t l = 0; l < BLOCK; l++)
                dxi[j + l] = concat_elu_grad(yi, dyi, c, j + l);
        }
    }
}

void spcnn__concat_elu_backward(const float *y, const float *dy, float *dx, size_t p, size_t c)
{
    FOR_ROWS(p, p * c, concat_elu_backward_rows(y, dy, dx, lo, hi, c));
}

/* ---- dropout -------------------------------------------------------------------------- */

static inline uint32_t drop_threshold(float rate)
{
    return (uint32_t)(rate * 65536.0f + 0.5f);
}

float spcnn__dropout_scale(float rate)
{
    return 65536.0f / (float)(65536u - drop_threshold(rate));
}

/* The 16 random bits of element i: one 64-bit draw serves four consecutive elements, and the
 * struct keeps the last draw so a sequential walk draws once per four elements. */
typedef struct drop_bits {
    uint64_t key, group, bits;
    int valid;
} drop_bits;

static inline uint32_t drop_lane(drop_bits *d, size_t i)
{
    uint64_t g = (uint64_t)(i >> 2);
    if (!d->valid || g != d->group) {
        spcnn__rng r = {d->key, g};
        d->bits = spcnn__rng_bits(&r);
        d->group = g;
        d->valid = 1;
    }
    return (uint32_t)(d->bits >> (16 * (i & 3))) & 0xFFFFu;
}

/* Groups [lo, hi) of 4 elements: one draw of the counter RNG gives 4 lanes. */
static void dropout_groups(const float *x, float *y, uint8_t *mask, size_t n, uint32_t thr,
                           float scale, uint64_t key, size_t lo, size_t hi)
{
    for (size_t g = lo; g < hi; g++) {
        drop_bits d = {key, 0, 0, 0};
        size_t end = g * 4 + 4 < n ? g * 4 + 4 : n;
        for (size_t i = g * 4; i < end; i++) {
            uint8_t m = drop_lane(&d, i) >= thr;
            mask[i] = m;
            y[i] = x[i] * keep_factor(m, scale);
        }
    }
}

void spcnn__dropout_forward(const float *x, float *y, uint8_t *mask, size_t n, float rate,
                            uint64_t key)
{
    const uint32_t thr = drop_threshold(rate);
    const float scale = spcnn__dropout_scale(rate);
    FOR_ROWS((n + 3) / 4, n, dropout_groups(x, y, mask, n, thr, scale, key, lo, hi));
}

static void dropout_backward_range(const uint8_t *mask, const float *dy, float *dx,
                                   float scale, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        dx[i] = dy[i] * keep_factor(mask[i], scale);
}

void spcnn__dropout_backward(const uint8_t *mask, const float *dy, float *dx, size_t n,
                             float rate)
{
    const float scale = spcnn__dropout_scale(rate);
    FOR_ROWS(n, n, dropout_backward_range(mask, dy, dx, scale, lo, hi));
}

void spcnn__concat_elu_dropout_forward(const float *x, float *y, uint8_t *mask, size_t p,
                                       size_t c, float rate, uint64_t key)
{
    spcnn__concat_elu_dropout_forward_at(x, y, mask, p, c, rate, key, 0);
}

/* Elements a pixel's dropout draws its random lanes for at once (a stack buffer). */
enum { DROP_CHUNK = 1024 };

/* Pixels [lo, hi): concat_elu, then the dropout of spcnn__dropout_forward over each pixel's 2c
 * elements, keyed by the element's index in the whole tensor (pixel first + i). Consecutive
 * pixels' elements have consecutive indices, so the 16-bit lanes of drop_lane are drawn for a
 * chunk of whole pixels at once, four per draw, in one long vector loop (per pixel, the draws'
 * short loops cost six times concat_elu itself); then concat_elu and the mask run over the
 * chunk. A pixel wider than the chunk goes in pieces of it. */
ROW_KERNEL concat_elu_dropout_rows(const float *x, float *y, uint8_t *mask, size_t c,
                                   uint32_t thr, float scale, uint64_t key, size_t first,
                                   size_t lo, size_t hi)
{
    uint64_t draws[DROP_CHUNK / 4 + 2];
    uint16_t lanes[DROP_CHUNK + 8];
    const size_t row = 2 * c, per = row <= DROP_CHUNK ? DROP_CHUNK / row : 1;
    for (size_t i0 = lo; i0 < hi; i0 += per) {
        const size_t rows = hi - i0 < per ? hi - i0 : per;
        concat_elu_rows(x, y, i0, i0 + rows, c);
        const size_t total = rows * row;
        for (size_t e0 = 0; e0 < total; e0 += DROP_CHUNK) {
            const size_t len = total - e0 < DROP_CHUNK ? total - e0 : DROP_CHUNK;
            const size_t at = (first + i0) * row + e0, g0 = at >> 2;
            const size_t groups = ((at + len - 1) >> 2) - g0 + 1;
#pragma omp simd
            for (size_t g = 0; g < groups; g++) {
                spcnn__rng r = {key, g0 + g};
                draws[g] = spcnn__rng_bits(&r);
            }
            /* Lane k of draw g0 + g (its bits 16k..16k+15) is element 4(g0 + g) + k, as in
             * drop_lane: on a little-endian machine the draws' bytes are the lanes in order. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            memcpy(lanes, draws, groups * sizeof draws[0]);
#else
            for (size_t g = 0; g < groups; g++)
                for (size_t k = 0; k < 4; k++)
                    lanes[4 * g + k] = (uint16_t)(draws[g] >> (16 * k));
#endif
            const uint16_t *lane = lanes + (at & 3);
            float *ye = y + i0 * row + e0;
            uint8_t *me = mask + i0 * row + e0;
#pragma omp simd
            for (size_t e = 0; e < len; e++) {
                const int32_t keep = (int32_t)lane[e] >= (int32_t)thr; /* thr <= 65536 */
                me[e] = (uint8_t)keep;
                ye[e] = ye[e] * ((float)keep * scale); /* keep_factor */
            }
        }
    }
}

void spcnn__concat_elu_dropout_forward_at(const float *x, float *y, uint8_t *mask, size_t p,
                                          size_t c, float rate, uint64_t key, size_t first)
{
    const uint32_t thr = drop_threshold(rate);
    if (thr == 0) {
        /* No dropout (inference, or a rate below 2^-17): every element is kept with factor 1,
         * so skip the random draws; the mask still says "kept" for a backward pass. */
        spcnn__concat_elu_forward(x, y, p, c);
        if (mask)
            memset(mask, 1, p * 2 * c);
        return;
    }
    const float scale = spcnn__dropout_scale(rate);
    FOR_ROWS(p, p * c, concat_elu_dropout_rows(x, y, mask, c, thr, scale, key, first, lo, hi));
}

/* dx[j] of spcnn__concat_elu_dropout_backward for one pixel: y, mask, dy [2c]. A dropped
 * element's y is 0, giving a finite factor that the mask then zeroes. */
static inline float dropout_concat_elu_grad(const float *y, const uint8_t *mask, const float *dy,
                                            size_t c, size_t j, float scale, float q)
{
    float gp = dy[j] * keep_factor(mask[j], scale) * elu_grad_from_y(y[j] * q);
    float gn = dy[c + j] * keep_factor(mask[c + j], scale) * elu_grad_from_y(y[c + j] * q);
    return gp - gn;
}

ROW_KERNEL concat_elu_dropout_backward_rows(const float *y, const uint8_t *mask,
                                            const float *dy, float *dx, size_t lo, size_t hi,
                                            size_t c, float scale, float q)
{
    for (size_t i = lo; i < hi; i++) {
        const float *yi = y + i * 2 * c, *dyi = dy + i * 2 * c;
        const uint8_t *mi = mask + i * 2 * c;
        float *dxi = dx + i * c;
        if (c < BLOCK) {
#pragma omp simd
            for (size_t j = 0; j < c; j++)
                dxi[j] = dropout_concat_elu_grad(yi, mi, dyi, c, j, scale, q);
            continue;
        }
        for (size_t j0 = 0; j0 < c; j0 += BLOCK) {
            const size_t j = block_start(j0, c);
#pragma omp simd
            for (size_t l = 0; l < BLOCK; l++)
                dxi[j + l] = dropout_concat_elu_grad(yi, mi, dyi, c, j + l, scale, q);
        }
    }
}

void spcnn__concat_elu_dropout_backward(const float *y, const uint8_t *mask, const float *dy,
                                        float *dx, size_t p, size_t c, float rate)
{
    const float scale = spcnn__dropout_scale(rate);
    /* q = 1/scale is k/65536 with k <= 65536: exact in float. */
    const float q = (float)(65536u - drop_threshold(rate)) / 65536.0f;
    FOR_ROWS(p, p * c,
                   concat_elu_dropout_backward_rows(y, mask, dy, dx, lo, hi, c, scale, q));
}

/* ---- gated residual ------------------------------------------------------------------- */

ROW_KERNEL gate_rows(const float *x, const float *c2, float *out, size_t lo, size_t hi,
                     size_t f)
{
    for (size_t i = lo; i < hi; i++) {
        const float *a = c2 + i * 2 * f, *b = a + f, *xi = x + i * f;
        float *o = out + i * f;
        if (f < BLOCK) {
#pragma omp simd
            for (size_t j = 0; j < f; j++)
                o[j] = xi[j] + a[j] * sigmoid1(b[j]);
            continue;
        }
        /* out may alias x: the lanes an overlapping block has done are kept (see BLOCK). */
        for (size_t j0 = 0; j0 < f; j0 += BLOCK) {
            const size_t j = block_start(j0, f), skip = j0 - j;
#pragma omp simd
            for (size_t l = 0; l < BLOCK; l++) {
                float v = xi[j + l] + a[j + l] * sigmoid1(b[j + l]);
                o[j + l] = l >= skip ? v : o[j + l];
            }
        }
    }
}

void spcnn__gate_forward(const float *x, const float *c2, float *out, size_t p, size_t f)
{
    FOR_ROWS(p, p * f, gate_rows(x, c2, out, lo, hi, f));
}

/* Element j of the gate's backward for one pixel: a, b, g (dout) in, da, db out. */
static inline void gate_grad(const float *a, const float *b, const float *g, float *da,
                             float *db, size_t j)
{
    float s = sigmoid1(b[j]);
    da[j] = g[j] * s;
    db[j] = g[j] * a[j] * s * (1.0f - s);
}

ROW_KERNEL gate_backward_rows(const float *c2, const float *dout, float *dc2, size_t lo,
                              size_t hi, size_t f)
{
    for (size_t i = lo; i < hi; i++) {
        const float *a = c2 + i * 2 * f, *b = a + f;
        float *da = dc2 + i * 2 * f, *db = da + f;
        const float *g = dout + i * f;
        if (f < BLOCK) {
#pragma omp simd
            for (size_t j = 0; j < f; j++)
                gate_grad(a, b, g, da, db, j);
            continue;
        }
        for (size_t j0 = 0; j0 < f; j0 += BLOCK) {
            const size_t j = block_start(j0, f);
#pragma omp simd
            for (size_t l = 0; l < BLOCK; l++)
                gate_grad(a, b, g, da, db, j + l);
        }
    }
}

void spcnn__gate_backward(const float *c2, const float *dout, float *dc2, size_t p, size_t f)
{
    FOR_ROWS(p, p * f, gate_backward_rows(c2, dout, dc2, lo, hi, f));
}

/* ---- conditioning --------------------------------------------------------------------- */

/* y[j] += a[j] + b[j] over a row of c, in place: an overlapping last block keeps the lanes
 * the block before has done. */
static inline void add2_row(float *y, const float *a, const float *b, size_t c)
{
    if (c < BLOCK) {
#pragma omp simd
        for (size_t j = 0; j < c; j++)
            y[j] += a[j] + b[j];
        return;
    }
    for (size_t j0 = 0; j0 < c; j0 += BLOCK) {
        const size_t j = block_start(j0, c), skip = j0 - j;
#pragma omp simd
        for (size_t l = 0; l < BLOCK; l++) {
            float v = y[j + l], sum = v + (a[j + l] + b[j + l]);
            y[j + l] = l >= skip ? sum : v;
        }
    }
}

/* y[j] += a[j] over a row of c, in place (as add2_row). */
static inline void add1_row(float *y, const float *a, size_t c)
{
    if (c < BLOCK) {
#pragma omp simd
        for (size_t j = 0; j < c; j++)
            y[j] += a[j];
        return;
    }
    for (size_t j0 = 0; j0 < c; j0 += BLOCK) {
        const size_t j = block_start(j0, c), skip = j0 - j;
#pragma omp simd
        for (size_t l = 0; l < BLOCK; l++) {
            float v = y[j + l], sum = v + a[j + l];
            y[j + l] = l >= skip ? sum : v;
        }
    }
}

/* Pixels [lo, hi) of spcnn__cond_add_forward. */
ROW_KERNEL cond_add_rows(float *c2, const float *h_xy, const float *h_z, size_t hw, size_t c,
                         size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        float *ci = c2 + i * c;
        const float *hz = h_z ? h_z + (i / hw) * c : NULL;
        if (h_xy && hz)
            add2_row(ci, h_xy + i * c, hz, c);
        else if (h_xy)
            add1_row(ci, h_xy + i * c, c);
        else
            add1_row(ci, hz, c);
    }
}

void spcnn__cond_add_forward(float *c2, const float *h_xy, const float *h_z, size_t n,
                             size_t hw, size_t c)
{
    const size_t p = n * hw;
    if (!h_xy && !h_z)
        return;
    FOR_ROWS(p, p * c, cond_add_rows(c2, h_xy, h_z, hw, c, lo, hi));
}

/* Pixels [lo, hi) of spcnn__cond_add_grid_forward: w0, w1 the projection's two weight
 * columns. The projection's two products are summed first, then added as h_xy would be. */
ROW_KERNEL cond_add_grid_rows(float *c2, const float *grid, const float *w0, const float *w1,
                              const float *h_z, size_t hw, size_t c, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        float *ci = c2 + i * c;
        const float gy = grid[2 * i], gx = grid[2 * i + 1];
        const float *hz = h_z ? h_z + (i / hw) * c : NULL;
        if (c < BLOCK || hz == NULL) {
            if (hz)
#pragma omp simd
                for (size_t j = 0; j < c; j++)
                    ci[j] += (w0[j] * gy + w1[j] * gx) + hz[j];
            else
#pragma omp simd
                for (size_t j = 0; j < c; j++)
                    ci[j] += w0[j] * gy + w1[j] * gx;
            continue;
        }
        for (size_t j0 = 0; j0 < c; j0 += BLOCK) {
            const size_t j = block_start(j0, c), skip = j0 - j;
#pragma omp simd
            for (size_t l = 0; l < BLOCK; l++) {
                float v = ci[j + l];
                float sum = v + ((w0[j + l] * gy + w1[j + l] * gx) + hz[j + l]);
                ci[j + l] = l >= skip ? sum : v;
            }
        }
    }
}

void spcnn__cond_add_grid_forward(float *c2, const float *grid, const float *w,
                                  const float *h_z, size_t n, size_t hw, size_t c)
{
    /* The weights [c × 2] as two columns, so that a row's lanes read them in order. */
    float w0[SPCNN__COND_GRID_MAX_C], w1[SPCNN__COND_GRID_MAX_C];
    for (size_t j = 0; j < c; j++) {
        w0[j] = w[2 * j];
        w1[j] = w[2 * j + 1];
    }
    const size_t p = n * hw;
    FOR_ROWS(p, p * c, cond_add_grid_rows(c2, grid, w0, w1, h_z, hw, c, lo, hi));
}

/* Images [lo, hi) of spcnn__cond_add_backward: each image's pixels summed in order. */
ROW_KERNEL cond_add_backward_images(const float *dc2, float *dh_z, size_t hw, size_t c,
                                    size_t lo, size_t hi)
{
    for (size_t k = lo; k < hi; k++) {
        float *dz = dh_z + k * c;
        for (size_t j = 0; j < c; j++)
            dz[j] = 0.0f;
        for (size_t i = k * hw; i < (k + 1) * hw; i++)
            add1_row(dz, dc2 + i * c, c);
    }
}

void spcnn__cond_add_backward(const float *dc2, float *dh_z, size_t n, size_t hw, size_t c)
{
    FOR_ROWS(n, n * hw * c, cond_add_backward_images(dc2, dh_z, hw, c, lo, hi));
}

/* ---- add, accumulate, concatenation --------------------------------------------------- */

ROW_KERNEL add_range(const float *a, const float *b, float *y, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        y[i] = a[i] + b[i];
}

void spcnn__add(const float *a, const float *b, float *y, size_t n)
{
    FOR_ROWS(n, n, add_range(a, b, y, lo, hi));
}

ROW_KERNEL accumulate_range(float *y, const float *a, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        y[i] += a[i];
}

void spcnn__accumulate(float *y, const float *a, size_t n)
{
    FOR_ROWS(n, n, accumulate_range(y, a, lo, hi));
}

static void concat_rows(const float *a, const float *b, float *y, size_t ca, size_t cb,
                        size_t lo, size_t hi)
{
    const size_t cy = ca + cb;
    for (size_t i = lo; i < hi; i++) {
        memcpy(y + i * cy, a + i * ca, ca * sizeof *y);
        memcpy(y + i * cy + ca, b + i * cb, cb * sizeof *y);
    }
}

void spcnn__concat_forward(const float *a, const float *b, float *y, size_t p, size_t ca,
                           size_t cb)
{
    FOR_ROWS(p, p * (ca + cb), concat_rows(a, b, y, ca, cb, lo, hi));
}

static void concat_backward_rows(const float *dy, float *da, float *db, size_t ca, size_t cb,
                                 size_t lo, size_t hi)
{
    const size_t cy = ca + cb;
    for (size_t i = lo; i < hi; i++) {
        if (da)
            memcpy(da + i * ca, dy + i * cy, ca * sizeof *da);
        if (db)
            memcpy(db + i * cb, dy + i * cy + ca, cb * sizeof *db);
    }
}

void spcnn__concat_backward(const float *dy, float *da, float *db, size_t p, size_t ca,
                            size_t cb)
{
    FOR_ROWS(p, p * (ca + cb), concat_backward_rows(dy, da, db, ca, cb, lo, hi));
}

static void relu_range(const float *x, float *y, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void spcnn__relu_forward(const float *x, float *y, size_t n)
{
    FOR_ROWS(n, n, relu_range(x, y, lo, hi));
}

static void relu_backward_range(const float *y, const float *dy, float *dx, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void spcnn__relu_backward(const float *y, const float *dy, float *dx, size_t n)
{
    FOR_ROWS(n, n, relu_backward_range(y, dy, dx, lo, hi));
}
