/* bfloat16: the upper 16 bits of an IEEE float. The bf16 precision of forward-only plans
 * (SPCNN_CFG_PRECISION) converts each convolution's input with spcnn__bf16_from_f32 and lets
 * oneDNN multiply bf16 by bf16 with fp32 accumulation and output. */
#ifndef SPCNN_NN_BF16_H
#define SPCNN_NN_BF16_H

#include <stddef.h>
#include <stdint.h>

/* y[i] = x[i] rounded to bf16 as the CPU's VCVTNEPS2BF16 does: to nearest, ties to even;
 * subnormal inputs become zeros of their sign; a NaN stays a quiet NaN of the same sign;
 * infinities stay infinite; finite values beyond the largest bf16 become infinite. Uses the
 * instruction where the CPU has it, else the portable loop, which gives the same bytes. */
void spcnn__bf16_from_f32(const float *x, uint16_t *y, size_t n);
/* The portable loop alone (tests compare the two). */
void spcnn__bf16_from_f32_portable(const float *x, uint16_t *y, size_t n);
/* 1 when the CPU has AVX-512 BF16 (and BW, VL), which spcnn__bf16_from_f32 then uses. */
int spcnn__bf16_hardware(void);

/* One float rounded as spcnn__bf16_from_f32 does (the portable loop's rule): subnormal inputs
 * become zeros of their sign; a NaN keeps its sign and top payload bits and becomes quiet;
 * everything else rounds to nearest, ties to even (adding 0x7fff plus the lowest kept bit
 * carries into the kept bits exactly when the dropped half is above one half, or equal to it
 * with an odd kept part). Branch-free, so that loops over it vectorise. */
static inline uint16_t spcnn__bf16_round(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {f};
    const uint32_t u = v.u;
    const uint32_t quiet_nan = (u >> 16) | 0x0040u, zero = (u >> 16) & 0x8000u;
    const uint32_t nearest = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan
                      : (u & 0x7f800000u) == 0     ? zero
                                                   : nearest);
}

/* The float a bf16 stands for (exact). */
static inline float spcnn__bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};
    return v.f;
}

#endif
