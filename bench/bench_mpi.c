/* Data-parallel training over MPI (docs/mpi.md, docs/benchmarks.md "Data parallelism over
 * MPI"): steps/s of N ranks × T threads on one global batch, the time of the all-reduce of the
 * gradient buffer alone, its bytes, and what they project for more ranks over a 10 Gbit/s
 * network. Built with -DSPCNN_MPI=ON.
 *
 *   mpirun -np N bench_mpi [--network small|large] [--steps S] [--threads T] [--batch B]
 *                          [--idx FILE]
 *
 * small is the paper's small network (F 25, R 2), large its large one (F 140, R 5); batch 128
 * (global: each rank trains B/N images of it), 8×8 windows, the VAE on 28×28 images (random
 * digit-sized noise, or the first images of an IDX file). With one rank the model is not
 * attached (plain training). Run it with OMP_WAIT_POLICY=passive (docs/threading.md). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "model/model.h"
#include "spatialpixelcnn.h"

static int rank, ranks;

static void die(const char *what)
{
    fprintf(stderr, "bench_mpi: rank %d: %s: %s\n", rank, what, spcnn_last_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void usage(void)
{
    if (rank == 0)
        fprintf(stderr, "usage: mpirun -np N bench_mpi [--network small|large] [--steps S] "
                        "[--threads T] [--batch B] [--idx FILE]\n");
    MPI_Finalize();
    exit(2);
}

/* The slowest rank's time: a step ends for the job when its last rank is done. */
static double slowest(double t)
{
    double all = t;
    MPI_Allreduce(&t, &all, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return all;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int large = 0, steps = 0, threads = 1, batch = 128;
    const char *idx = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--network") == 0 && (strcmp(argv[i + 1], "small") == 0 ||
                                                   strcmp(argv[i + 1], "large") == 0))
            large = strcmp(argv[i + 1], "large") == 0;
        else if (strcmp(argv[i], "--steps") == 0)
            steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--idx") == 0)
            idx = argv[i + 1];
        else
            usage();
        i++;
    }
    if (steps == 0)
        steps = large ? 5 : 20;
    if (steps < 1 || threads < 1 || batch < ranks)
        usage();

    /* The data: n images of 28 × 28. */
    const size_t h = 28, w = 28;
    size_t n = 1000, ih = h, iw = w;
    uint8_t *data = NULL;
    if (idx) {
        /* The query (data NULL, capacity 0) returns SPCNN_OK with the sizes. */
        spcnn_status q = spcnn_idx_read(idx, NULL, 0, &n, &ih, &iw);
        if ((q != SPCNN_OK && q != SPCNN_ERR_BUFFER_TOO_SMALL) || ih != h || iw != w)
            die("reading the IDX file (28 x 28 images)");
        data = malloc(n * h * w);
        if (!data || spcnn_idx_read(idx, data, n * h * w, &n, &ih, &iw) != SPCNN_OK)
            die("reading the IDX file");
    } else {
        data = malloc(n * h * w);
        if (!data)
            die("out of memory");
        uint64_t x = 88172645463325252ull;
        for (size_t k = 0; k < n * h * w; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            data[k] = (uint8_t)(x >> 56);
        }
    }

    spcnn_config *cfg = NULL;
    spcnn_model *m = NULL;
    if (spcnn_config_create(&cfg) != SPCNN_OK ||
        spcnn_config_set(cfg, SPCNN_CFG_NR_FILTERS, large ? 140 : 25) != SPCNN_OK ||
        spcnn_config_set(cfg, SPCNN_CFG_NR_RESNET, large ? 5 : 2) != SPCNN_OK ||
        spcnn_config_set(cfg, SPCNN_CFG_BATCH_SIZE, batch) != SPCNN_OK ||
        spcnn_config_set(cfg, SPCNN_CFG_THREADS, threads) != SPCNN_OK ||
        spcnn_model_create(cfg, &m) != SPCNN_OK)
        die("creating the model");
    spcnn_config_destroy(cfg);
    if (ranks > 1 && spcnn_model_set_communicator(m, MPI_Comm_c2f(MPI_COMM_WORLD)) != SPCNN_OK)
        die("attaching the model");

    const size_t lo = (size_t)batch * (size_t)rank / (size_t)ranks;
    const size_t hi = (size_t)batch * (size_t)(rank + 1) / (size_t)ranks;
    uint8_t *images = malloc((hi - lo) * h * w);
    if (!images)
        die("out of memory");
    double total = 0, best = 1e30;
    for (int s = 0; s < steps + 2; s++) { /* the first 2 build the plan and warm up */
        for (size_t i = lo; i < hi; i++) {
            size_t j = ((size_t)s * (size_t)batch + i) * 7919 % n;
            memcpy(images + (i - lo) * h * w, data + j * h * w, h * w);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        if (spcnn_model_train_step(m, images, hi - lo, h, w, NULL) != SPCNN_OK)
            die("training step");
        double dt = slowest(bench_now() - t0);
        if (s >= 2) {
            total += dt;
            best = dt < best ? dt : best;
        }
    }
    const double step = total / steps;

    /* The all-reduce alone: the gradient buffer's floats, in place, as a step does it. */
    const size_t count = m->params.total;
    float *grad = calloc(count, sizeof *grad);
    if (!grad)
        die("out of memory");
    double ar_total = 0, ar_best = 1e30;
    const int reps = 20;
    for (int s = 0; s < reps + 2 && ranks > 1; s++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        MPI_Allreduce(MPI_IN_PLACE, grad, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double dt = slowest(bench_now() - t0);
        if (s >= 2) {
            ar_total += dt;
            ar_best = dt < ar_best ? dt : ar_best;
        }
    }
    const double ar = ranks > 1 ? ar_total / reps : 0;

    if (rank == 0) {
        double params = 0;
        spcnn_model_stat(m, SPCNN_STAT_PARAMETERS, &params);
        const double bytes = 4.0 * (double)count;
        printf("bench_mpi: %d rank(s) x %d thread(s), %s network (F %d, R %d), batch %d "
               "(%zu to %zu per rank), %d steps\n",
               ranks, threads, large ? "large" : "small", large ? 140 : 25, large ? 5 : 2,
               batch, (size_t)batch / (size_t)ranks,
               ((size_t)batch + (size_t)ranks - 1) / (size_t)ranks, steps);
        printf("parameters %.0f; gradient buffer %zu floats = %.2f MB per all-reduce\n", params,
               count, bytes / 1e6);
        printf("step: mean %.3f s, best %.3f s: %.3f steps/s, %.1f images/s\n", step, best,
               1 / step, batch / step);
        if (ranks > 1)
            printf("all-reduce of the gradient buffer alone: mean %.3f ms, best %.3f ms "
                   "(%.1f %% of a step)\n",
                   ar * 1e3, ar_best * 1e3, 100 * ar / step);
        /* Compute per image of this run (its step less its all-reduce), spread over N ranks,
         * plus a ring all-reduce's 2(N-1)/N of the buffer per rank at 1.25 GB/s. */
        const double per_image = (step - ar) * ranks / batch;
        printf("projection, batch %d over 10 Gbit/s (ring all-reduce: 2(N-1)/N x %.2f MB per "
               "rank at 1.25 GB/s, latency ignored; compute %.2f ms per image per rank as "
               "measured here):\n", batch, bytes / 1e6, per_image * 1e3);
        printf("%6s %14s %14s %10s %10s\n", "ranks", "compute s", "all-reduce s", "steps/s",
               "speed-up");
        const double one = per_image * batch;
        for (int r = 1; r <= 64; r *= 2) {
            double comp = per_image * batch / r;
            double comm = r > 1 ? 2.0 * (r - 1) / r * bytes / 1.25e9 : 0;
            printf("%6d %14.4f %14.4f %10.3f %10.2f\n", r, comp, comm, 1 / (comp + comm),
                   one / (comp + comm));
        }
    }
    free(grad);
    free(images);
    free(data);
    spcnn_model_destroy(m);
    MPI_Finalize();
    return 0;
}
