/* exp(x) for float, inline and branch-free so that loops over it vectorise (glibc's expf is an
 * opaque call per element: a third of a training step went there). Cody-Waite range reduction
 * x = n·ln2 + r, |r| <= ln2/2, and Cephes' degree-6 polynomial for e^r; the error is within
 * 2 ulp over the clamped range [-87, 88] (tests/test_elementwise.c checks it against exp).
 * Its multiply-adds are fused (fmaf, one rounding each), written out rather than left to the
 * compiler, so that every build computes the same: the row kernels that call it are compiled
 * for AVX-512 and for AVX2 with FMA (core/multiversion.h), where fmaf is one instruction
 * (with spcnn__expf_nonpositive, concat_elu ran 1.5 times and the gate 1.3 times as fast as
 * with separate multiplies and adds and both clamps); a CPU without FMA runs the baseline
 * version, where fmaf is glibc's, slower and the same bytes. */
#ifndef SPCNN_NN_FASTEXP_H
#define SPCNN_NN_FASTEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for x in [-87, 88]. */
static inline float spcnn__expf_clamped(float x)
{
    /* Round to nearest by the 1.5·2^23 trick: plain adds, so it vectorises on any x86-64
     * (rintf is a library call without SSE4.1). |x·log2 e| < 2^22 in the range. */
    float n = fmaf(x, 1.44269504088896341f, 12582912.0f) - 12582912.0f;
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float e = fmaf(p * r, r, r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

static inline float spcnn__expf(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    return spcnn__expf_clamped(x);
}

/* spcnn__expf for x <= 0, the same bytes there without the upper clamp: the elementwise
 * layers' arguments (elu's and sigmoid's exp(−|v|)) are never positive. */
static inline float spcnn__expf_nonpositive(float x)
{
    return spcnn__expf_clamped(x < -87.0f ? -87.0f : x);
}

#endif
