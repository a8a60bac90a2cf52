/* Generation speed and memory:
 *
 *   bench_sample [MODEL] [--big]      ms per 28×28 image (batch of 100), ms per 56×56 image
 *                                     (batch of 16), raster vs wavefront on 56×56, then one
 *                                     image alone at 56×56 and 224×224 in ms per pixel next to
 *                                     the batch-100 figure, with 1 and 2 threads; --big adds
 *                                     one 1400×1400 image (minutes); then fp32 against bf16
 *                                     (SPCNN_CFG_PRECISION), in turns, where the CPU has bf16,
 *                                     with the useful GFLOP/s and their share of the peak
 *                                     measured for each precision (bench_peak.h)
 *   bench_sample [MODEL] --precision  only that last part
 *   bench_sample [MODEL] --batch S N T  S×S images in a batch of N on T threads, fp32 and bf16
 *                                     in turns, best of 3: ms per image (a quick comparison
 *                                     of two builds: run each build's bench_sample in turns,
 *                                     the machine's speed drifts)
 *   bench_sample [MODEL] --stream S F generate an S×S image streamed row by row, stop at the
 *                                     first progress report at or past fraction F (the library
 *                                     reports every 1 %), print the rate, the projected time of
 *                                     the whole image and the peak RSS (run it alone, so the
 *                                     RSS is this generation's). Every sampling plan has been
 *                                     built once the wavefront is 16 windows wide per worker
 *                                     (well under 1 % of a 4000×4000 image), so the peak is
 *                                     reached by then.
 *
 * MODEL is a model file; without one a freshly initialised default model is used (the speed
 * does not depend on the weights). Run with OMP_WAIT_POLICY=passive in the environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bench_peak.h"
#include "model/model.h"
#include "spatialpixelcnn.h"

static spcnn_model *open_model(const char *path, int threads)
{
    spcnn_model *m = NULL;
    spcnn_status st;
    if (path) {
        st = spcnn_model_load(path, &m);
    } else {
        spcnn_config *cfg = NULL;
        st = spcnn_config_create(&cfg);
        if (st == SPCNN_OK)
            st = spcnn_model_create(cfg, &m);
        spcnn_config_destroy(cfg);
    }
    if (st == SPCNN_OK)
        st = spcnn_model_set_threads(m, threads);
    if (st != SPCNN_OK) {
        fprintf(stderr, "bench_sample: %s\n", spcnn_last_error_message());
        exit(1);
    }
    return m;
}

/* Seconds to generate n images of size h×w with the given schedule, after a warm-up call that
 * builds the plans: up to 2 images of h×w, or one of warm×warm when warm is not 0 (a 512-wide
 * image builds every plan: the wavefront reaches 64 windows, 16 a worker on four). */
static double time_generation_warm(spcnn_model *m, int schedule, size_t n, size_t h, size_t w,
                                   size_t warm)
{
    uint8_t *out = malloc(n * h * w > warm * warm ? n * h * w : warm * warm);
    spcnn_model_set_option(m, SPCNN_CFG_SCHEDULE, schedule);
    spcnn_status st = warm ? spcnn_model_generate_images(m, 1, NULL, warm, warm, 99, out,
                                                         warm * warm)
                           : spcnn_model_generate_images(m, n < 2 ? n : 2, NULL, h, w, 99, out,
                                                         n * h * w);
    if (st != SPCNN_OK) {
        fprintf(stderr, "bench_sample: %s\n", spcnn_last_error_message());
        exit(1);
    }
    double t0 = bench_now();
    if (spcnn_model_generate_images(m, n, NULL, h, w, 1, out, n * h * w) != SPCNN_OK) {
        fprintf(stderr, "bench_sample: %s\n", spcnn_last_error_message());
        exit(1);
    }
    double dt = bench_now() - t0;
    free(out);
    return dt;
}

static double time_generation(spcnn_model *m, int schedule, size_t n, size_t h, size_t w)
{
    return time_generation_warm(m, schedule, n, h, w, 0);
}

typedef struct stream_state {
    size_t rows;
    double stop_at, reached;
} stream_state;

static int count_rows(const uint8_t *row, size_t image, size_t y, size_t width, void *user)
{
    (void)row, (void)image, (void)y, (void)width;
    stream_state *s = user;
    s->rows++;
    return 0;
}

static int stop_at_fraction(double fraction, void *user)
{
    stream_state *s = user;
    s->reached = fraction;
    return fraction >= s->stop_at;
}

static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* fp32 against bf16 on the same model and weights, alternating (the machine's speed drifts):
 * 28×28 batch 100, 56×56 batch 16 and one 56×56 image, best of three; then the useful
 * arithmetic rate (the multiply-adds spcnn__model_sample_macs counts, 2 FLOP each) and its
 * share of the peak measured on this machine for that precision and thread count
 * (bench_peak.h). */
static int bench_precisions(const char *path)
{
    enum { SIZES = 3 };   /* 28×28 batch 100, 56×56 batch 16, one 56×56 image */
    static const size_t count[SIZES] = {100, 16, 1}, side[SIZES] = {28, 56, 56};
    double rate[2][2][SIZES]; /* [threads - 1][precision][size]: GFLOP/s */
    int measured = 0;
    printf("precision, wavefront, best of 3 taken in turns: ms per image\n");
    printf("threads  28x28 (n=100) fp32   bf16  speed-up   56x56 (n=16) fp32   bf16  speed-up"
           "   56x56 one image fp32   bf16  speed-up\n");
    for (int threads = 1; threads <= 2; threads++) {
        spcnn_model *m = open_model(path, threads);
        if (spcnn_model_set_option(m, SPCNN_CFG_PRECISION, 1) != SPCNN_OK) {
            printf("bf16: %s\n", spcnn_last_error_message());
            spcnn_model_destroy(m);
            return 0;
        }
        double best[2][SIZES]; /* [precision][size] */
        for (int p = 0; p < 2; p++)
            for (int s = 0; s < SIZES; s++)
                best[p][s] = 1e30;
        for (int round = 0; round < 3; round++)
            for (int p = 0; p < 2; p++) {
                spcnn_model_set_option(m, SPCNN_CFG_PRECISION, p);
                for (int s = 0; s < SIZES; s++) {
                    double t = time_generation(m, 1, count[s], side[s], side[s]) /
                               (double)count[s] * 1e3;
                    best[p][s] = t < best[p][s] ? t : best[p][s];
                }
            }
        printf("%7d %19.1f %6.1f %8.2fx %18.1f %6.1f %8.2fx %22.1f %6.1f %8.2fx\n", threads,
               best[0][0], best[1][0], best[0][0] / best[1][0], best[0][1], best[1][1],
               best[0][1] / best[1][1], best[0][2], best[1][2], best[0][2] / best[1][2]);
        fflush(stdout);
        /* The useful work depends on the precision: bf16 sends the bands of one image
         * through the whole network (sample.c, band_cone_images). */
        double macs[2][SIZES]; /* [precision][size]: per image (the call's image count
                                   decides which plans the bands take) */
        for (int p = 0; p < 2; p++) {
            spcnn_model_set_option(m, SPCNN_CFG_PRECISION, p);
            for (int s = 0; s < SIZES; s++) {
                if (spcnn__model_sample_macs(m, count[s], side[s], side[s], &macs[p][s]) !=
                    SPCNN_OK) {
                    fprintf(stderr, "bench_sample: %s\n", spcnn_last_error_message());
                    spcnn_model_destroy(m);
                    return 1;
                }
            }
        }
        if (threads == 1)
            printf("(useful multiply-adds per image: 28x28 %.1f M, 56x56 %.1f M in a batch, one "
                   "56x56 image %.1f M in fp32, %.1f M in bf16)\n", macs[0][0] * 1e-6,
                   macs[0][1] * 1e-6, macs[0][2] * 1e-6, macs[1][2] * 1e-6);
        for (int p = 0; p < 2; p++)
            for (int s = 0; s < SIZES; s++)
                rate[threads - 1][p][s] = 2 * macs[p][s] / (best[p][s] * 1e-3) * 1e-9;
        measured = threads;
        spcnn_model_destroy(m);
    }
    double peak[2][2]; /* [threads - 1][precision], measured once */
    for (int t = 1; t <= measured; t++)
        for (int p = 0; p < 2; p++)
            peak[t - 1][p] = bench_measured_peak_gflops(t, p);
    printf("useful GFLOP/s (share of the measured peak of that precision and thread count)\n");
    printf("threads  28x28 fp32          bf16              56x56 n=16 fp32     bf16"
           "              56x56 one fp32      bf16\n");
    for (int t = 1; t <= measured; t++) {
        printf("%7d", t);
        for (int s = 0; s < SIZES; s++)
            for (int p = 0; p < 2; p++)
                printf("  %6.1f (%4.1f %%)", rate[t - 1][p][s],
                       100 * rate[t - 1][p][s] / peak[t - 1][p]);
        printf("\n");
    }
    for (int t = 1; t <= measured; t++)
        printf("measured peak, %d thread%s: fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n", t,
               t > 1 ? "s" : "", peak[t - 1][0], peak[t - 1][1]);
    return 0;
}

/* One size in both precisions, best of 3 in turns (--batch). */
static int bench_batch(const char *path, size_t side, size_t count, int threads)
{
    spcnn_model *m = open_model(path, threads);
    const int precisions = spcnn_model_set_option(m, SPCNN_CFG_PRECISION, 1) == SPCNN_OK ? 2 : 1;
    double best[2] = {1e30, 1e30};
    for (int round = 0; round < 3; round++)
        for (int p = 0; p < precisions; p++) {
            spcnn_model_set_option(m, SPCNN_CFG_PRECISION, p);
            double t = time_generation(m, 1, count, side, side) / (double)count * 1e3;
            best[p] = t < best[p] ? t : best[p];
        }
    printf("%zux%zu, batch of %zu, %d thread%s, wavefront, best of 3: fp32 %.1f ms per image",
           side, side, count, threads, threads > 1 ? "s" : "", best[0]);
    if (precisions == 2)
        printf(", bf16 %.1f", best[1]);
    printf("\n");
    spcnn_model_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int big = 0, precision_only = 0, batch_threads = 0;
    size_t stream_size = 0, batch_side = 0, batch_count = 0;
    double stream_fraction = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--big") == 0)
            big = 1;
        else if (strcmp(argv[i], "--precision") == 0)
            precision_only = 1;
        else if (strcmp(argv[i], "--stream") == 0 && i + 2 < argc) {
            stream_size = (size_t)atol(argv[++i]);
            stream_fraction = atof(argv[++i]);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 3 < argc) {
            batch_side = (size_t)atol(argv[++i]);
            batch_count = (size_t)atol(argv[++i]);
            batch_threads = atoi(argv[++i]);
            if (batch_side == 0 || batch_count == 0 || batch_threads < 1) {
                fprintf(stderr, "bench_sample: --batch needs a size, a count and threads >= 1\n");
                return 2;
            }
        } else if (argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: bench_sample [MODEL] [--big] [--precision] "
                            "[--stream SIZE FRACTION] [--batch SIZE COUNT THREADS]\n");
            return 2;
        }
    }
    bench_print_cpu();
    if (batch_side)
        return bench_batch(path, batch_side, batch_count, batch_threads);
    if (stream_size) {
        spcnn_model *m = open_model(path, 2);
        stream_state s = {0, stream_fraction, 0};
        spcnn_model_set_progress(m, stop_at_fraction, &s);
        long before = peak_rss_kb();
        double t0 = bench_now();
        spcnn_status st = spcnn_model_generate_stream(m, 1, NULL, stream_size, stream_size, 1,
                                                      count_rows, &s);
        double dt = bench_now() - t0;
        if (st != SPCNN_OK && st != SPCNN_ERR_CANCELLED) {
            fprintf(stderr, "bench_sample: %s\n", spcnn_last_error_message());
            return 1;
        }
        printf("%zux%zu streamed, 2 threads: %.1f %% (%zu rows finished) in %.1f s, whole image "
               "~%.0f min at that rate; peak RSS %.1f MB (%.1f MB before generating)\n",
               stream_size, stream_size, 100 * s.reached, s.rows, dt,
               dt / s.reached / 60.0, peak_rss_kb() / 1024.0, before / 1024.0);
        spcnn_model_destroy(m);
        return 0;
    }
    if (precision_only)
        return bench_precisions(path);
    printf("generation, %s, wavefront unless noted\n", path ? path : "fresh default model");
    printf("threads  28x28 ms/img (n=100)  56x56 ms/img (n=16)  56x56 raster ms/img (n=1)  "
           "speed-up\n");
    double px28[3] = {0};
    for (int threads = 1; threads <= 2; threads++) {
        spcnn_model *m = open_model(path, threads);
        double t28 = time_generation(m, 1, 100, 28, 28) / 100 * 1e3;
        double t56 = time_generation(m, 1, 16, 56, 56) / 16 * 1e3;
        double r56 = time_generation(m, 0, 1, 56, 56) * 1e3;
        px28[threads] = t28 / (28 * 28);
        printf("%7d %22.1f %20.1f %26.1f %9.1fx\n", threads, t28, t56, r56, r56 / t56);
        fflush(stdout);
        spcnn_model_destroy(m);
    }
    /* One image alone: the wavefront of one W-wide image holds about W/8 windows a step, so
     * each pixel costs more than in a batch (issue: one image fast). */
    printf("\none image alone, ms per pixel (x the batch-100 28x28 figure of the same threads)\n");
    printf("threads  28x28 n=100  56x56 one image       224x224 one image%s\n",
           big ? "       1400x1400 one image" : "");
    for (int threads = 1; threads <= 2; threads++) {
        spcnn_model *m = open_model(path, threads);
        const size_t sides[3] = {56, 224, 1400};
        printf("%7d %12.3f", threads, px28[threads]);
        for (int k = 0; k < (big ? 3 : 2); k++) {
            double dt = time_generation_warm(m, 1, 1, sides[k], sides[k], sides[k] > 512 ? 512 : 0);
            double px = dt * 1e3 / (double)(sides[k] * sides[k]);
            printf("  %6.3f (%4.2fx) %6.2f s", px, px / px28[threads], dt);
            fflush(stdout);
        }
        printf("\n");
        spcnn_model_destroy(m);
    }
    printf("\n");
    return bench_precisions(path);
}
