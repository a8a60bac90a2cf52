/* Forward and forward+backward of the VAE at the MNIST training shape (S = 28, C = 16, L = 60),
 * batch 128, with 1 and 2 oneDNN threads: encode + decode, then decode_backward +
 * encode_backward. Prints ms per call and the FLOPs per image (docs/design.md, "The VAE").
 *
 *   bench_vae [batch] [size] [iterations]
 *
 * Run it with OMP_WAIT_POLICY=passive in the environment (docs/threading.md says why). */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "model/vae.h"

enum { CHANNELS = 16, LATENT = 60 };

/* Multiply-adds ×2 per image, forward (encoder + decoder). */
static double forward_flops(int size, int c, int l)
{
    double S = size, h = S / 2, q = S / 4, C = c, L = l;
    double enc = h * h * C * 9              /* in: 3×3/2, 1 -> C */
                 + 2 * h * h * C * C * 9     /* res1 */
                 + q * q * 2 * C * C * 9     /* down: 3×3/2, C -> 2C */
                 + 2 * q * q * 4 * C * C * 9 /* res2 */
                 + q * q * 2 * C * 2 * L;    /* linear -> mu, logvar */
    double dec = L * q * q * 2 * C                      /* linear z -> q·q·2C */
                 + 2 * q * q * 4 * C * C * 9 + L * 2 * C /* res1 + z */
                 + q * q * 2 * C * C * 16                /* up: 4×4/2, 2C -> C */
                 + 2 * h * h * C * C * 9 + L * C         /* res2 + z */
                 + h * h * C * 16;                       /* out: 4×4/2, C -> 1 */
    return 2 * (enc + dec);
}

static int run(int threads, int n, int size, int iters)
{
    spcnn__vae_shape s = {n, size, LATENT, CHANNELS, 1};
    spcnn__dnnl ctx;
    spcnn__params params;
    spcnn__vae *v = NULL;
    size_t begin, end;
    spcnn__params_init(&params);
    if (spcnn__dnnl_init(&ctx, threads) != SPCNN_OK ||
        spcnn__vae_add_params(&params, &s, &begin, &end) != SPCNN_OK ||
        spcnn__params_allocate(&params) != SPCNN_OK ||
        spcnn__vae_create(&ctx, &params, begin, &s, &v) != SPCNN_OK) {
        fprintf(stderr, "bench_vae: %s\n", spcnn_last_error_message());
        return 1;
    }
    spcnn__params_init_values(&params, 1);
    size_t nx = (size_t)n * size * size, nz = (size_t)n * LATENT;
    float *x = calloc(nx, sizeof(float)), *logits = calloc(nx, sizeof(float));
    float *dl = calloc(nx, sizeof(float)), *mu = calloc(nz, sizeof(float));
    float *lv = calloc(nz, sizeof(float)), *dz = calloc(nz, sizeof(float));
    for (size_t i = 0; i < nx; i++) {
        x[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
        dl[i] = (float)((i * 104729) % 97) / 4800.0f - 0.01f;
    }
    const float *w = params.buf[SPCNN__BUF_VALUE];
    double best_f = 1e30, best_fb = 1e30;
    int failed = 0;
    for (int it = 0; it < iters + 2 && !failed; it++) { /* two warm-up runs */
        double t0 = bench_now();
        failed |= spcnn__vae_encode(v, &ctx, &params, w, x, mu, lv) != SPCNN_OK;
        failed |= spcnn__vae_decode(v, &ctx, &params, w, mu, logits) != SPCNN_OK;
        double t1 = bench_now();
        failed |= spcnn__vae_decode_backward(v, &ctx, &params, mu, dl, dz) != SPCNN_OK;
        failed |= spcnn__vae_encode_backward(v, &ctx, &params, x, dz, dz) != SPCNN_OK;
        double t2 = bench_now();
        if (it >= 2) {
            if (t1 - t0 < best_f)
                best_f = t1 - t0;
            if (t2 - t0 < best_fb)
                best_fb = t2 - t0;
        }
    }
    if (failed)
        fprintf(stderr, "bench_vae: %s\n", spcnn_last_error_message());
    else {
        double flops = forward_flops(size, CHANNELS, LATENT) * n;
        printf("%7d %9.3f %11.3f %9.1f %9.1f %9.1f\n", threads, best_f * 1e3, best_fb * 1e3,
               flops / best_f * 1e-9, 3 * flops / best_fb * 1e-9, bench_peak_gflops(threads));
    }
    free(x), free(logits), free(dl), free(mu), free(lv), free(dz);
    spcnn__vae_destroy(v);
    spcnn__params_deinit(&params);
    spcnn__dnnl_deinit(&ctx);
    return failed;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 128, size = argc > 2 ? atoi(argv[2]) : 28;
    int iters = argc > 3 ? atoi(argv[3]) : 20;
    if (n <= 0 || size < 4 || size % 4 != 0 || iters <= 0) {
        fprintf(stderr, "usage: bench_vae [batch] [size, a multiple of 4] [iterations]\n");
        return 2;
    }
    printf("VAE, batch %d, S %d, C %d, L %d: %.2f MFLOP per image forward; best of %d\n", n,
           size, CHANNELS, LATENT, forward_flops(size, CHANNELS, LATENT) * 1e-6, iters);
    printf("fwd = encode + decode; f+b adds decode_backward + encode_backward (counted as 3x "
           "fwd FLOPs); peak = cores x %.2f GHz x 32 FLOP/cycle\n", bench_cpu_ghz());
    printf("threads    fwd ms  fwd+bwd ms  fwd GF/s  f+b GF/s peak GF/s\n");
    for (int threads = 1; threads <= 2; threads++)
        if (run(threads, n, size, iters))
            return 1;
    return 0;
}
