/* Training throughput through the public API: seconds per step and windows (patches) per
 * second at the default configuration (F = 25, R = 2, batch 128, 8×8 windows, VAE on 28×28),
 * with 1 and 2 threads, in fp32 and (where the CPU has AVX-512 BF16) with train_precision
 * bf16, the two precisions in turns so that a busy neighbour slows both alike; then the useful
 * arithmetic rate of the mean step and its share of the peak measured on this machine
 * (bench_peak.h): a step counted as three times the forward multiply-adds of the PixelCNN and
 * the VAE (forward, input gradient, weight gradient; spcnn__model_train_macs). In bf16
 * training the PixelCNN's three passes run at the bf16 peak (but for the weight gradients of
 * its four transposed convolutions, a small part) and the VAE at the fp32 one, so its peak is
 * that blend. With 2 threads each thread trains half the batch (docs/threading.md).
 *
 *   bench_train [steps] [IDX image file]
 *
 * Uses the real training images when an IDX file is given (scripts/get-data.sh writes
 * data/mnist/train-images-idx3-ubyte), else random digits-sized noise. libgomp's wait
 * settings changed the two-thread figures while training split each primitive over the
 * threads (passive: 0.209 s a step where a short spin gave 0.135 on the Intel Xeon); training
 * by shards hardly cares (fp32 0.130 against 0.127). The program prints them;
 * GOMP_SPINCOUNT=10000 is spcnn's (docs/benchmarks.md, "Wait policies"). */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "bench_peak.h"
#include "model/model.h"
#include "spatialpixelcnn.h"

typedef struct step_figures {
    double mean;         /* s/step */
    double pc_macs;      /* forward multiply-adds a step: PixelCNN */
    double vae_macs;     /* and VAE */
} step_figures;

/* 1: the model trains in bf16; 0: the CPU refused it (nothing printed), -1: failed. */
static int run(int threads, int bf16, int steps, const uint8_t *data, size_t n, size_t h,
               size_t w, step_figures *fig)
{
    spcnn_config *cfg = NULL;
    spcnn_model *m = NULL;
    if (spcnn_config_create(&cfg) != SPCNN_OK ||
        spcnn_config_set(cfg, SPCNN_CFG_THREADS, threads) != SPCNN_OK ||
        spcnn_model_create(cfg, &m) != SPCNN_OK) {
        fprintf(stderr, "bench_train: %s\n", spcnn_last_error_message());
        return 1;
    }
    spcnn_config_destroy(cfg);
    if (bf16) {
        spcnn_status st = spcnn_model_set_option(m, SPCNN_CFG_TRAIN_PRECISION, 1);
        if (st != SPCNN_OK) {
            spcnn_model_destroy(m);
            if (st == SPCNN_ERR_UNSUPPORTED)
                return 0;
            fprintf(stderr, "bench_train: %s\n", spcnn_last_error_message());
            return -1;
        }
    }
    const size_t batch = 128;
    uint8_t *images = malloc(batch * h * w);
    double best = 1e30, total = 0;
    for (int s = 0; s < steps + 3; s++) {
        for (size_t i = 0; i < batch; i++) {
            size_t j = ((size_t)s * batch + i) * 7919 % n;
            for (size_t k = 0; k < h * w; k++)
                images[i * h * w + k] = data[j * h * w + k];
        }
        double t0 = bench_now();
        if (spcnn_model_train_step(m, images, batch, h, w, NULL) != SPCNN_OK) {
            fprintf(stderr, "bench_train: %s\n", spcnn_last_error_message());
            return -1;
        }
        double dt = bench_now() - t0;
        if (s >= 3) { /* the first steps build the plan */
            total += dt;
            best = dt < best ? dt : best;
        }
    }
    double mean = total / steps;
    fig->mean = mean;
    if (spcnn__model_train_macs(m, &fig->pc_macs, &fig->vae_macs) != SPCNN_OK) {
        fprintf(stderr, "bench_train: %s\n", spcnn_last_error_message());
        free(images);
        spcnn_model_destroy(m);
        return -1;
    }
    printf("%7d %9s %12.3f %12.3f %14.0f %14.0f\n", threads, bf16 ? "bf16" : "fp32", mean,
           best, batch / mean, batch / best);
    fflush(stdout);
    free(images);
    spcnn_model_destroy(m);
    return 1;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 20;
    if (steps <= 0) {
        fprintf(stderr, "usage: bench_train [steps] [IDX image file]\n");
        return 2;
    }
    size_t n = 1000, h = 28, w = 28;
    uint8_t *data = NULL;
    if (argc > 2) {
        if (spcnn_idx_read(argv[2], NULL, 0, &n, &h, &w) != SPCNN_OK) {
            fprintf(stderr, "bench_train: %s\n", spcnn_last_error_message());
            return 1;
        }
        data = malloc(n * h * w);
        if (spcnn_idx_read(argv[2], data, n * h * w, &n, &h, &w) != SPCNN_OK) {
            fprintf(stderr, "bench_train: %s\n", spcnn_last_error_message());
            return 1;
        }
    } else {
        data = malloc(n * h * w);
        uint64_t x = 1;
        for (size_t i = 0; i < n * h * w; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            data[i] = (uint8_t)(x >> 56);
        }
    }
    bench_print_cpu();
    printf("training step, default configuration (F 25, R 2, K 10, L 60, 8x8 windows, batch "
           "128, VAE on %zux%zu), %s, %d steps after 3 warm-up\n",
           h, w, argc > 2 ? argv[2] : "random images", steps);
    printf("threads precision  mean s/step  best s/step  mean patches/s  best patches/s\n");
    step_figures fig[2][2] = {{{0}}}; /* [threads - 1][bf16] */
    for (int threads = 1; threads <= 2; threads++)
        for (int bf16 = 0; bf16 <= 1; bf16++) {
            int r = run(threads, bf16, steps, data, n, h, w, &fig[threads - 1][bf16]);
            if (r < 0)
                return 1;
            if (r == 0)
                printf("%7d %9s  (refused: the CPU has no AVX-512 BF16)\n", threads, "bf16");
        }
    free(data);
    const step_figures *f0 = &fig[0][0];
    printf("useful arithmetic of the mean step: 3 x forward (PixelCNN %.2f G + VAE %.2f G "
           "multiply-adds), 2 FLOP each\n",
           f0->pc_macs * 1e-9, f0->vae_macs * 1e-9);
    printf("threads precision  GFLOP/s  share of the measured peak\n");
    for (int t = 1; t <= 2; t++)
        for (int bf16 = 0; bf16 <= 1; bf16++) {
            const step_figures *f = &fig[t - 1][bf16];
            if (f->mean == 0)
                continue;
            const double flop = 6 * (f->pc_macs + f->vae_macs);
            const double fp32_peak = bench_measured_peak_gflops(t, 0) * 1e9;
            /* The least time the step's arithmetic could take at the peaks of its passes. */
            double floor_s = flop / fp32_peak;
            if (bf16) {
                const double bf16_peak = bench_measured_peak_gflops(t, 1) * 1e9;
                floor_s = 6 * f->pc_macs / bf16_peak + 6 * f->vae_macs / fp32_peak;
            }
            if (!(floor_s > 0 && floor_s < 1e30)) { /* no AVX-512: no peak measured */
                printf("%7d %9s %8.1f  (no peak measured: the CPU lacks AVX-512)\n", t,
                       bf16 ? "bf16" : "fp32", flop / f->mean * 1e-9);
                continue;
            }
            printf("%7d %9s %8.1f  %5.1f %% (%s)\n", t, bf16 ? "bf16" : "fp32",
                   flop / f->mean * 1e-9, 100 * floor_s / f->mean,
                   bf16 ? "bf16 peak for the PixelCNN, fp32 for the VAE"
                        : "fp32 peak");
        }
    return 0;
}
