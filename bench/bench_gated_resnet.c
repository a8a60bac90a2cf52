/* Forward + backward of one gated resnet at the training shapes (batch 128, F = 25, the three
 * U-net scales 8×8, 4×4, 2×2), both streams, with 1 and 2 oneDNN threads. Prints ms per
 * forward+backward and the convolutions' GFLOP/s next to the machine's peak.
 *
 *   bench_gated_resnet [batch] [filters] [iterations]
 *
 * Run it with OMP_WAIT_POLICY=passive in the environment (docs/threading.md says why). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "nn/gated_resnet.h"

/* Multiply-adds ×2 of the block's convolutions and projections, forward only. */
static double forward_flops(const spcnn__gated_resnet_shape *s)
{
    double p = (double)s->n * s->h * s->w, f = s->f;
    double taps = s->conv == SPCNN__CONV_DOWN_SHIFTED ? 6 : 4;
    double macs = p * f * 2 * f * taps          /* conv1: 2F -> F */
                  + p * 2 * f * 2 * f * taps    /* conv2: 2F -> 2F */
                  + p * f * 2 * s->aux_c        /* aux nin: 2A -> F */
                  + (s->grid ? p * 2 * f * 2 : 0) /* grid nin: 2 -> 2F */
                  + (double)s->n * 2 * f * s->latent; /* z: L -> 2F */
    return 2 * macs;
}

static int run(int threads, int n, int f, int h, int conv, int iters)
{
    spcnn__gated_resnet_shape s = {n, h, h, f, conv == SPCNN__CONV_DOWN_SHIFTED ? f : 2 * f,
                                   1, 60, conv, 1, 0, 0, 0, 0, 0};
    spcnn__dnnl ctx;
    spcnn__params params;
    spcnn__gated_resnet gr;
    spcnn__gated_resnet_rows rows;
    spcnn__params_init(&params);
    if (spcnn__dnnl_init(&ctx, threads) != SPCNN_OK ||
        spcnn__gated_resnet_add_params(&params, "bench", &s, &rows) != SPCNN_OK ||
        spcnn__params_allocate(&params) != SPCNN_OK ||
        spcnn__gated_resnet_init(&gr, &ctx, &s, &rows, NULL) != SPCNN_OK) {
        fprintf(stderr, "bench_gated_resnet: %s\n", spcnn_last_error_message());
        return 1;
    }
    spcnn__params_init_values(&params, 1);
    size_t p = (size_t)n * h * h;
    float *x = calloc(p * f, sizeof(float)), *a = calloc(p * s.aux_c, sizeof(float));
    float *grid = calloc(p * 2, sizeof(float)), *z = calloc((size_t)n * 60, sizeof(float));
    float *out = calloc(p * f, sizeof(float)), *dx = calloc(p * f, sizeof(float));
    float *da = calloc(p * s.aux_c, sizeof(float)), *dz = calloc((size_t)n * 60, sizeof(float));
    float *work = calloc(spcnn__gated_resnet_work_size(&s), sizeof(float));
    for (size_t i = 0; i < p * f; i++)
        x[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < p * (size_t)s.aux_c; i++)
        a[i] = (float)((i * 104729) % 97) / 48.0f - 1.0f;
    double best_f = 1e30, best_fb = 1e30;
    for (int it = 0; it < iters + 2; it++) { /* two warm-up runs */
        double t0 = bench_now();
        spcnn__gated_resnet_forward(&gr, &ctx, &params, params.buf[SPCNN__BUF_VALUE], x, a,
                                    grid, z, 0.5f, (uint64_t)it, out);
        double t1 = bench_now();
        spcnn__gated_resnet_backward(&gr, &ctx, &params, x, a, grid, z, out, 0.5f, dx, da, dz,
                                     work);
        double t2 = bench_now();
        if (it >= 2) {
            if (t1 - t0 < best_f)
                best_f = t1 - t0;
            if (t2 - t0 < best_fb)
                best_fb = t2 - t0;
        }
    }
    double flops = forward_flops(&s);
    printf("%7d %4s %5dx%-2d %9.3f %9.3f %9.1f %9.1f %9.1f\n", threads,
           conv == SPCNN__CONV_DOWN_SHIFTED ? "u" : "ul", h, h, best_f * 1e3, best_fb * 1e3,
           flops / best_f * 1e-9, 3 * flops / best_fb * 1e-9, bench_peak_gflops(threads));
    free(x), free(a), free(grid), free(z), free(out), free(dx), free(da), free(dz), free(work);
    spcnn__gated_resnet_deinit(&gr);
    spcnn__params_deinit(&params);
    spcnn__dnnl_deinit(&ctx);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 128, f = argc > 2 ? atoi(argv[2]) : 25;
    int iters = argc > 3 ? atoi(argv[3]) : 20;
    if (n <= 0 || f <= 0 || iters <= 0) {
        fprintf(stderr, "usage: bench_gated_resnet [batch] [filters] [iterations]\n");
        return 2;
    }
    printf("gated resnet, batch %d, F %d, aux and both conditionings, dropout 0.5; best of %d\n",
           n, f, iters);
    printf("GFLOP/s counts the convolutions and projections (backward = 2x forward); peak = "
           "cores x %.2f GHz x %.0f FLOP/cycle\n", bench_cpu_ghz(), bench_flops_per_cycle());
    printf("threads stream  scale   fwd ms  fwd+bwd ms  fwd GF/s  f+b GF/s  peak GF/s\n");
    for (int threads = 1; threads <= 2; threads++)
        for (int h = 8; h >= 2; h /= 2)
            for (int conv = 0; conv <= 1; conv++)
                if (run(threads, n, f, h, conv, iters))
                    return 1;
    return 0;
}
