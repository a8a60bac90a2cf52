/* Training throughput through the public API: seconds per step and windows (patches) per
 * second at the default configuration (F = 25, R = 2, batch 128, 8×8 windows, VAE on 28×28),
 * with 1 and 2 threads, in fp32 and (where the CPU has AVX-512 BF16) with train_precision
 * bf16, the two precisions in turns so that a busy neighbour slows both alike.
 *
 *   bench_train [steps] [IDX image file]
 *
 * Uses the real training images when an IDX file is given (scripts/get-data.sh writes
 * data/mnist/train-images-idx3-ubyte), else random digits-sized noise. Run it with
 * OMP_WAIT_POLICY=passive in the environment (docs/threading.md). */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "spatialpixelcnn.h"

/* 1: the model trains in bf16; 0: the CPU refused it (nothing printed), -1: failed. */
static int run(int threads, int bf16, int steps, const uint8_t *data, size_t n, size_t h,
               size_t w)
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
    for (int threads = 1; threads <= 2; threads++)
        for (int bf16 = 0; bf16 <= 1; bf16++) {
            int r = run(threads, bf16, steps, data, n, h, w);
            if (r < 0)
                return 1;
            if (r == 0)
                printf("%7d %9s  (refused: the CPU has no AVX-512 BF16)\n", threads, "bf16");
        }
    free(data);
    return 0;
}
