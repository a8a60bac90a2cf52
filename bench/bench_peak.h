/* The machine's arithmetic peak, measured rather than computed from the nominal clock (which
 * is not what the cores run at: this machine reports 2.1 GHz and sustains more): independent
 * chains of 512-bit FMAs (fp32: 32 FLOP an instruction) or of VDPBF16PS (bf16 pairs summed into
 * fp32: 64 FLOP an instruction), on `threads` threads at once, about 0.3 s. 0 when the CPU
 * lacks the instructions. */
#ifndef SPCNN_BENCH_PEAK_H
#define SPCNN_BENCH_PEAK_H

#include <immintrin.h>
#include <pthread.h>

#include "bench_common.h"

typedef struct bench_peak_job {
    int bf16;
    long iters;
    float sink;
} bench_peak_job;

/* Twenty-four independent accumulators in named registers (an array would live in memory at
 * -O2), each with its own start so that the compiler cannot merge them: enough for two pipes of
 * the longest latency measured here (VDPBF16PS needs more than 12 chains on this machine). */
#define BENCH_PEAK_STEP(OP)                                                                    \
    a0 = OP(a0), a1 = OP(a1), a2 = OP(a2), a3 = OP(a3), a4 = OP(a4), a5 = OP(a5);              \
    a6 = OP(a6), a7 = OP(a7), a8 = OP(a8), a9 = OP(a9), a10 = OP(a10), a11 = OP(a11);          \
    b0 = OP(b0), b1 = OP(b1), b2 = OP(b2), b3 = OP(b3), b4 = OP(b4), b5 = OP(b5);              \
    b6 = OP(b6), b7 = OP(b7), b8 = OP(b8), b9 = OP(b9), b10 = OP(b10), b11 = OP(b11)
#define BENCH_PEAK_SUM(a, b, c, d, e, f)                                                       \
    _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)), _mm512_add_ps(e, f))
#define BENCH_PEAK_CHAINS(OP)                                                                  \
    for (long i = 0; i < iters; i++) {                                                         \
        BENCH_PEAK_STEP(OP);                                                                   \
    }                                                                                          \
    __m512 s = _mm512_add_ps(BENCH_PEAK_SUM(a0, a1, a2, a3, a4, a5),                           \
                             BENCH_PEAK_SUM(a6, a7, a8, a9, a10, a11));                        \
    s = _mm512_add_ps(s, _mm512_add_ps(BENCH_PEAK_SUM(b0, b1, b2, b3, b4, b5),                 \
                                       BENCH_PEAK_SUM(b6, b7, b8, b9, b10, b11)));             \
    return _mm512_reduce_add_ps(s)

#define BENCH_PEAK_V(k) _mm512_set1_ps((float)(k))
#define BENCH_PEAK_INIT                                                                        \
    __m512 a0 = BENCH_PEAK_V(0), a1 = BENCH_PEAK_V(1), a2 = BENCH_PEAK_V(2),                  \
           a3 = BENCH_PEAK_V(3), a4 = BENCH_PEAK_V(4), a5 = BENCH_PEAK_V(5),                  \
           a6 = BENCH_PEAK_V(6), a7 = BENCH_PEAK_V(7), a8 = BENCH_PEAK_V(8),                  \
           a9 = BENCH_PEAK_V(9), a10 = BENCH_PEAK_V(10), a11 = BENCH_PEAK_V(11),              \
           b0 = BENCH_PEAK_V(12), b1 = BENCH_PEAK_V(13), b2 = BENCH_PEAK_V(14),               \
           b3 = BENCH_PEAK_V(15), b4 = BENCH_PEAK_V(16), b5 = BENCH_PEAK_V(17),               \
           b6 = BENCH_PEAK_V(18), b7 = BENCH_PEAK_V(19), b8 = BENCH_PEAK_V(20),               \
           b9 = BENCH_PEAK_V(21), b10 = BENCH_PEAK_V(22), b11 = BENCH_PEAK_V(23)

__attribute__((target("avx512f"))) static float bench_peak_fp32(long iters)
{
    const __m512 b = _mm512_set1_ps(1e-7f), c = _mm512_set1_ps(0.999f);
    BENCH_PEAK_INIT;
#define FMA(a) _mm512_fmadd_ps(a, c, b)
    BENCH_PEAK_CHAINS(FMA);
#undef FMA
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) static float bench_peak_bf16(long iters)
{
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
    BENCH_PEAK_INIT;
#define DP(a) _mm512_dpbf16_ps(a, x, y)
    BENCH_PEAK_CHAINS(DP);
#undef DP
}

static void *bench_peak_run(void *arg)
{
    bench_peak_job *j = arg;
    j->sink = j->bf16 ? bench_peak_bf16(j->iters) : bench_peak_fp32(j->iters);
    return NULL;
}

static inline double bench_measured_peak_gflops(int threads, int bf16)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || (bf16 && !__builtin_cpu_supports("avx512bf16")))
        return 0;
    enum { MAX_THREADS = 64 };
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    bench_peak_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    const long iters = 1000000; /* 24 M instructions a thread: about 0.1 s */
    double best = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = bench_now();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (bench_peak_job){bf16, iters, 0};
            pthread_create(&tid[t], NULL, bench_peak_run, &jobs[t]);
        }
        for (int t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        double dt = bench_now() - t0;
        double flop = (double)threads * (double)iters * 24.0 * (bf16 ? 64.0 : 32.0);
        best = flop / dt * 1e-9 > best ? flop / dt * 1e-9 : best;
    }
    return best;
}

#endif
