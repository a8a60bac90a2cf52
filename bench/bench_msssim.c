/* MS-SSIM over all pairs of n images (spcnn_msssim_pairs), the paper's diversity measure:
 * seconds for n = 500 images (124 750 pairs) of 28×28 and of 56×56, with 1 and 2 threads, and
 * for comparison the one-pair call spcnn_msssim, which prepares both images every time.
 * Wall seconds and the CPU seconds of the process (all threads) are both printed: on a shared
 * machine the CPU time of one thread is what one core costs.
 *
 *   bench_msssim [n] [IDX image file]
 *
 * Uses the first n images of an IDX file when one is given (e.g. data/mnist/t10k-images-idx3-
 * ubyte; 56×56 images are those upscaled by replication), else rings near the centre with a
 * little noise: pairs alike enough that most reach the last scale (a pair whose
 * contrast-structure term is negative at a scale stops there). Run it with
 * OMP_WAIT_POLICY=passive in the environment (docs/threading.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_common.h"
#include "spatialpixelcnn.h"

/* CPU seconds of the whole process (all threads): on a shared machine, what the work cost
 * rather than how long it waited. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(next(s) >> 11) * 0x1.0p-53;
}

/* A ring near the centre, of random radius, on a dark background, with noise of ±12 levels. */
static void ring(uint8_t *img, size_t side, uint64_t *s)
{
    const double cy = side * uniform(s, 0.45, 0.55), cx = side * uniform(s, 0.45, 0.55);
    const double rad = side * uniform(s, 0.22, 0.3), width = side / 8.0;
    for (size_t r = 0; r < side; r++)
        for (size_t c = 0; c < side; c++) {
            const double d = (r - cy) * (r - cy) + (c - cx) * (c - cx);
            const double off = d > rad * rad ? d - rad * rad : rad * rad - d;
            int v = off < 2 * rad * width ? 220 : 20;
            v += (int)(next(s) % 25) - 12;
            img[r * side + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

static int load_images(uint8_t *images, size_t n, const char *path)
{
    size_t count = 0, h = 0, w = 0;
    if (spcnn_idx_read(path, NULL, 0, &count, &h, &w) != SPCNN_OK)
        goto fail;
    if (h != 28 || w != 28 || count < n) {
        fprintf(stderr, "bench_msssim: %s: need %zu images of 28 x 28\n", path, n);
        return 1;
    }
    uint8_t *all = malloc(count * h * w);
    if (all == NULL || spcnn_idx_read(path, all, count * h * w, &count, &h, &w) != SPCNN_OK) {
        free(all);
        goto fail;
    }
    for (size_t i = 0; i < n * 28 * 28; i++)
        images[i] = all[i];
    free(all);
    return 0;
fail:
    fprintf(stderr, "bench_msssim: %s\n", spcnn_last_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    const long arg = argc > 1 ? atol(argv[1]) : 500;
    if (arg < 2 || argc > 3) {
        fprintf(stderr, "usage: bench_msssim [n >= 2] [IDX file of 28x28 images]\n");
        return 2;
    }
    const size_t n = (size_t)arg, pairs = n * (n - 1) / 2;
    uint8_t *small = malloc(n * 28 * 28), *large = malloc(n * 56 * 56);
    if (small == NULL || large == NULL)
        return 1;
    uint64_t seed = 1;
    if (argc > 2) {
        if (load_images(small, n, argv[2]) != 0)
            return 1;
    } else {
        for (size_t i = 0; i < n; i++)
            ring(small + i * 28 * 28, 28, &seed);
    }
    for (size_t i = 0; i < n; i++) {
        if (argc > 2)
            spcnn_image_resize_area(small + i * 784, 28, 28, large + i * 3136, 56, 56);
        else
            ring(large + i * 56 * 56, 56, &seed);
    }
    printf("MS-SSIM over all %zu pairs of %zu images (%s)\n", pairs, n,
           argc > 2 ? argv[2] : "random rings");
    printf("%7s %8s %10s %10s %12s %10s %10s\n", "size", "threads", "seconds", "cpu s",
           "pairs/s", "mean", "std");
    for (int s = 0; s < 2; s++) {
        const size_t side = s == 0 ? 28 : 56;
        const uint8_t *images = s == 0 ? small : large;
        for (int threads = 1; threads <= 2; threads++) {
            double mean, std, t0 = bench_now(), c0 = cpu_now();
            if (spcnn_msssim_pairs(images, n, side, side, threads, &mean, &std) != SPCNN_OK) {
                fprintf(stderr, "bench_msssim: %s\n", spcnn_last_error_message());
                return 1;
            }
            const double dt = bench_now() - t0, cpu = cpu_now() - c0;
            printf("%3zux%-3zu %8d %10.3f %10.3f %12.0f %10.4f %10.4f\n", side, side, threads,
                   dt, cpu, pairs / dt, mean, std);
        }
        /* The one-pair call on the first 2000 pairs, to show what the shared work saves. */
        size_t done = 0;
        double t0 = bench_now(), c0 = cpu_now(), v, sum = 0;
        for (size_t i = 0; i < n && done < 2000; i++)
            for (size_t j = i + 1; j < n && done < 2000; j++, done++) {
                spcnn_msssim(images + i * side * side, images + j * side * side, side, side,
                             &v);
                sum += v;
            }
        const double dt = bench_now() - t0, cpu = cpu_now() - c0;
        printf("%3zux%-3zu %8s %10.3f %10.3f %12.0f   (spcnn_msssim per pair, %zu pairs; all "
               "pairs: %.1f cpu s)\n",
               side, side, "1", dt, cpu, done / dt, done, pairs * cpu / done);
    }
    free(small);
    free(large);
    return 0;
}
