/* Times forward and forward+backward of the main convolution shapes of the small network
 * (batch 128, F = 25; 8×8, 4×4, 2×2) with 1 and 2 threads, for each memory-format choice:
 * weights as plain OIHW given directly or format_tag_any + reorders; NHWC or NCHW activations;
 * then the forward-only layers sampling and evaluation use, in fp32 and in bf16, with their
 * share of the peak measured on this machine (bench_peak.h) for that arithmetic.
 * Prints milliseconds per call and GFLOP/s; best of several repetitions (the machine is shared).
 * Run with OMP_WAIT_POLICY=passive in the environment (libgomp reads it when it loads).
 * Usage: bench_conv [--quick] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_peak.h"
#include "core/alloc.h"
#include "nn/conv.h"
#include "nn/dnnl_ctx.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *buffer(size_t n)
{
    float *p = spcnn__malloc_aligned(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

typedef struct variant {
    const char *name;
    int weights_format, nchw;
    int forward_only, bf16; /* sampling's layers: forward only, in fp32 or bf16 */
} variant;

static double peak[2][3]; /* [bf16][threads]: measured GFLOP/s */

/* Returns 0 on success; prints one line. */
static int bench_one(spcnn__dnnl *ctx, spcnn__conv_shape s, const char *label, const variant *v,
                     int reps)
{
    s.weights_format = v->weights_format;
    s.act_nchw = v->nchw;
    s.backward = !v->forward_only;
    s.bf16 = v->bf16;
    spcnn__conv l;
    if (spcnn__conv_init(&l, ctx, &s) != SPCNN_OK) {
        printf("%-34s %-12s %d  failed: %s\n", label, v->name, ctx->threads,
               spcnn_last_error_message());
        return 1;
    }
    size_t nx = (size_t)s.n * s.h * s.w * s.c_in, ny = (size_t)s.n * l.oh * l.ow * s.c_out;
    size_t nw = spcnn__conv_weights_size(&s);
    float *x = buffer(nx), *w = buffer(nw), *b = buffer(s.c_out), *y = buffer(ny);
    float *dy = buffer(ny), *dx = buffer(nx), *dw = buffer(nw), *db = buffer(s.c_out);
    double flops = 2.0 * s.n * (s.transposed ? s.h * s.w : l.oh * l.ow) * s.c_out * s.c_in *
                   s.kh * s.kw;
    double best_f = 1e30, best_fb = 1e30;
    int ok = 1;
    /* One warm-up call each, then the best of `reps` timed rounds of 5 calls. */
    for (int r = 0; r <= reps && ok; r++) {
        double t0 = now();
        for (int i = 0; i < 5 && ok; i++)
            ok = spcnn__conv_forward(&l, ctx, x, w, b, y) == SPCNN_OK;
        double t1 = now();
        for (int i = 0; i < 5 && ok && !v->forward_only; i++)
            ok = spcnn__conv_forward(&l, ctx, x, w, b, y) == SPCNN_OK &&
                 spcnn__conv_backward(&l, ctx, x, w, dy, dx, dw, db) == SPCNN_OK;
        double t2 = now();
        if (r > 0) {
            best_f = (t1 - t0) / 5 < best_f ? (t1 - t0) / 5 : best_f;
            best_fb = (t2 - t1) / 5 < best_fb ? (t2 - t1) / 5 : best_fb;
        }
    }
    if (ok && v->forward_only)
        printf("%-34s %-12s %d  fwd %8.3f ms %6.1f GFLOP/s = %3.0f %% of the %s peak\n", label,
               v->name, ctx->threads, best_f * 1e3, flops / best_f * 1e-9,
               100 * flops / best_f * 1e-9 / peak[v->bf16][ctx->threads],
               v->bf16 ? "bf16" : "fp32");
    else if (ok)
        printf("%-34s %-12s %d  fwd %8.3f ms %6.1f GFLOP/s   fwd+bwd %8.3f ms %6.1f GFLOP/s\n",
               label, v->name, ctx->threads, best_f * 1e3, flops / best_f * 1e-9, best_fb * 1e3,
               3 * flops / best_fb * 1e-9);
    else
        printf("%-34s %-12s %d  failed: %s\n", label, v->name, ctx->threads,
               spcnn_last_error_message());
    fflush(stdout);
    spcnn__conv_deinit(&l);
    spcnn__free_aligned(x), spcnn__free_aligned(w), spcnn__free_aligned(b);
    spcnn__free_aligned(y), spcnn__free_aligned(dy), spcnn__free_aligned(dx);
    spcnn__free_aligned(dw), spcnn__free_aligned(db);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc > 1 && !quick) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }
    const int n = quick ? 16 : 128, f = 25, reps = quick ? 2 : 5;
    bench_print_cpu();
    printf("bench_conv: batch %d, F %d, best of %d rounds\n", n, f, reps);
    const int bf16 = spcnn__dnnl_has_bf16();
    for (int t = 1; t <= 2; t++) {
        peak[0][t] = bench_measured_peak_gflops(t, 0);
        peak[1][t] = bench_measured_peak_gflops(t, 1);
        printf("measured peak, %d thread(s): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s (nominal "
               "%.1f GHz x 64 FLOP/cycle x cores: %.1f)\n", t, peak[0][t], peak[1][t],
               bench_cpu_ghz(), bench_peak_gflops(t));
    }
    const variant variants[] = {
        {"any/nhwc", SPCNN__WEIGHTS_ANY, 0, 0, 0},
        {"train bf16", SPCNN__WEIGHTS_ANY, 0, 0, 1},
        {"plain/nhwc", SPCNN__WEIGHTS_PLAIN, 0, 0, 0},
        {"any/nchw", SPCNN__WEIGHTS_ANY, 1, 0, 0},
        {"fwd fp32", SPCNN__WEIGHTS_ANY, 0, 1, 0},
        {"fwd bf16", SPCNN__WEIGHTS_ANY, 0, 1, 1},
    };
    struct {
        spcnn__conv_shape s;
        const char *label;
    } shapes[] = {
        {spcnn__conv_shape_down_shifted(n, 8, 8, 2 * f, f, 2, 3, 1), "8x8 down 2x3 2F->F"},
        {spcnn__conv_shape_down_shifted(n, 8, 8, 2 * f, 2 * f, 2, 3, 1), "8x8 down 2x3 2F->2F"},
        {spcnn__conv_shape_down_right_shifted(n, 8, 8, 2 * f, f, 2, 2, 1),
         "8x8 down-right 2x2 2F->F"},
        {spcnn__conv_shape_nin(n, 8, 8, 2 * f, f), "8x8 nin 2F->F"},
        {spcnn__conv_shape_down_shifted(n, 8, 8, f, f, 2, 3, 2), "8x8->4x4 down 2x3 s2 F->F"},
        {spcnn__conv_shape_down_shifted_deconv(n, 4, 4, f, f, 2, 3, 2), "4x4->8x8 deconv 2x3 F->F"},
        {spcnn__conv_shape_down_right_shifted_deconv(n, 4, 4, f, f, 2, 2, 2),
         "4x4->8x8 deconv 2x2 F->F"},
        {spcnn__conv_shape_down_shifted(n, 4, 4, 2 * f, f, 2, 3, 1), "4x4 down 2x3 2F->F"},
        {spcnn__conv_shape_down_shifted(n, 2, 2, 2 * f, f, 2, 3, 1), "2x2 down 2x3 2F->F"},
    };
    int failures = 0;
    for (int threads = 1; threads <= 2; threads++) {
        spcnn__dnnl ctx;
        if (spcnn__dnnl_init(&ctx, threads) != SPCNN_OK) {
            fprintf(stderr, "oneDNN: %s\n", spcnn_last_error_message());
            return 1;
        }
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
                /* The reference path is 100x slower: time it on the first shape only. */
                if (variants[v].weights_format == SPCNN__WEIGHTS_PLAIN && i > 0 && i != 5)
                    continue;
                if (variants[v].bf16 && !bf16)
                    continue; /* no AVX-512 BF16 here */
                failures += bench_one(&ctx, shapes[i].s, shapes[i].label, &variants[v],
                                      variants[v].weights_format == SPCNN__WEIGHTS_PLAIN ? 1 : reps);
            }
        spcnn__dnnl_deinit(&ctx);
    }
    return failures ? 1 : 0;
}
