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

/* Twelve independent accumulators: enough to fill two pipes of four-cycle latency. */
__attribute__((target("avx512f"))) static float bench_peak_fp32(long iters)
{
    __m512 a[12], b = _mm512_set1_ps(1e-7f), c = _mm512_set1_ps(0.999f);
    for (int k = 0; k < 12; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_fmadd_ps(a[k], c, b);
    __m512 s = a[0];
    for (int k = 1; k < 12; k++)
        s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) static float bench_peak_bf16(long iters)
{
    __m512 a[12];
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
    for (int k = 0; k < 12; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_dpbf16_ps(a[k], x, y);
    __m512 s = a[0];
    for (int k = 1; k < 12; k++)
        s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
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
    const long iters = 2000000; /* 24 M instructions a thread: about 0.1 s */
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
        double flop = (double)threads * (double)iters * 12.0 * (bf16 ? 64.0 : 32.0);
        best = flop / dt * 1e-9 > best ? flop / dt * 1e-9 : best;
    }
    return best;
}

#endif
