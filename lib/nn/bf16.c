#include "nn/bf16.h"


#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_BF16_PATH 1
#endif


#ifdef HAVE_BF16_PATH
/* The CPU's conversion, 32 floats an instruction (the bf16 plans run only where it exists). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) static void
convert_avx512bf16(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512((void *)(y + i), (__m512i)h);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, x + i));
        _mm256_mask_storeu_epi16(y + i, k, (__m256i)h);
    }
}
#endif

void spcnn__bf16_from_f32(const float *x, uint16_t *y, size_t n)
{
#ifdef HAVE_BF16_PATH
    if (spcnn__bf16_hardware()) {
        convert_avx512bf16(x, y, n);
        return;
    }
#endif
    spcnn__bf16_from_f32_portable(x, y, n);
}

void spcnn__bf16_from_f32_portable(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = spcnn__bf16_round(x[i]); /* bit for bit VCVTNEPS2BF16 (bf16.h) */
}

int spcnn__bf16_hardware(void)
{
#ifdef HAVE_BF16_PATH
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}
