/* exp(x) for float, inline and branch-free so that loops over it vectorise (glibc's expf is an
 * opaque call per element: a third of a training step went there). Cody-Waite range reduction
 * x = n·ln2 + r, |r| <= ln2/2, and Cephes' degree-6 polynomial for e^r; the error is within
 * 2 ulp over the clamped range [-87, 88] (tests/test_elementwise.c checks it against exp). */
#ifndef SPCNN_NN_FASTEXP_H
#define SPCNN_NN_FASTEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float spcnn__expf(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* Round to nearest by the 1.5·2^23 trick: plain adds, so it vectorises on any x86-64
     * (rintf is a library call without SSE4.1). |x·log2 e| < 2^22 after the clamp. */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

#endif
