/* Data parallelism over MPI (docs/mpi.md), run by ctest as
 * `mpirun --oversubscribe -np 2 test_mpi` (tests/mpi_test.sh). Not a Check suite: Check forks
 * each test, and an MPI process must not fork. Every rank runs every case; a failed check
 * prints where and the process exits 1, which mpirun turns into the job's failure.
 *
 *   - K steps of N ranks on shards of a batch of B images give the parameters of one process
 *     on the whole batch, to a stated tolerance (the gradient's sums run in another order),
 *     with dropout on, the VAE, scale-aware windows and uneven shards; every rank ends with
 *     exactly the same bits;
 *   - spcnn_model_set_communicator broadcasts rank 0's state and refuses a different model;
 *   - a step that fails on one rank fails on every rank, none left waiting;
 *   - spcnn_model_generate_range spread over the ranks and gathered gives the bytes of one
 *     spcnn_model_generate_images call. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "spatialpixelcnn.h"

static int rank, ranks;

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s (last error: %s)\n", rank,      \
                    __FILE__, __LINE__, #cond, spcnn_last_error_message());                   \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                     \
        }                                                                                     \
    } while (0)
#define CHECK_OK(expr) CHECK((expr) == SPCNN_OK)

enum { S = 12, K = 6 };

/* Worst differences between two models' buffers seen by a case. */
typedef struct diff {
    double abs, rel;
} diff;

static spcnn_config *tiny_config(double seed, double scale_max)
{
    spcnn_config *cfg;
    CHECK_OK(spcnn_config_create(&cfg));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_PATCH_SIZE, 8));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_IMAGE_SIZE, S));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_NR_FILTERS, 8));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_NR_RESNET, 1));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_NR_MIX, 3));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_LATENT_SIZE, 4));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_DROPOUT, 0.5)); /* the masks must line up */
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_LEARNING_RATE, 3e-3));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_SEED, seed));
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_TRAIN_SCALE_MAX, scale_max));
    return cfg;
}

static spcnn_model *tiny_model(double seed, double scale_max)
{
    spcnn_config *cfg = tiny_config(seed, scale_max);
    spcnn_model *m;
    CHECK_OK(spcnn_model_create(cfg, &m));
    spcnn_config_destroy(cfg);
    return m;
}

/* Batch `step` of b images of S × S: bars at places that follow from (step, image). */
static void batch_of(uint8_t *images, size_t b, int step)
{
    for (size_t i = 0; i < b; i++) {
        uint8_t *im = images + i * S * S;
        unsigned k = (unsigned)step * 7919u + (unsigned)i * 104729u;
        for (size_t y = 0; y < S; y++)
            for (size_t x = 0; x < S; x++)
                im[y * S + x] = (uint8_t)((x == (k % S) || y == ((k / S) % S)) ? 230 : 10 + (k + x + y) % 20);
    }
}

static void compare(const spcnn_model *a, const spcnn_model *b, spcnn__param_buf buf, diff *d)
{
    const float *x = a->params.buf[buf], *y = b->params.buf[buf];
    for (size_t i = 0; i < a->params.total; i++) {
        double e = fabs((double)x[i] - (double)y[i]);
        double scale = fabs((double)x[i]) > 1e-3 ? fabs((double)x[i]) : 1e-3;
        d->abs = e > d->abs ? e : d->abs;
        d->rel = e / scale > d->rel ? e / scale : d->rel;
    }
}

/* Every rank's copy of the model has exactly rank 0's bits. */
static void check_replicas_equal(const spcnn_model *m)
{
    const size_t count = (size_t)SPCNN__BUF_COUNT * m->params.total;
    float *ref = malloc(count * sizeof *ref);
    CHECK(ref != NULL);
    memcpy(ref, m->params.block, count * sizeof *ref);
    MPI_Bcast(ref, (int)count, MPI_FLOAT, 0, MPI_COMM_WORLD);
    /* The gradient buffer is not state: compare values, moments and the average. */
    for (int buf = 0; buf < SPCNN__BUF_COUNT; buf++)
        if (buf != SPCNN__BUF_GRAD)
            CHECK(memcmp(ref + (size_t)buf * m->params.total, m->params.buf[buf],
                         m->params.total * sizeof *ref) == 0);
    free(ref);
}

/* K steps on a batch of b images: one process on all of it, against the ranks on shards
 * (rank r: images [r·b/N, (r+1)·b/N)). Tolerances: see docs/mpi.md. */
static void equivalence(size_t b, double scale_max, int mixed, const char *name)
{
    spcnn_model *one = tiny_model(5, scale_max), *part = tiny_model(5, scale_max);
    CHECK_OK(spcnn_model_set_communicator(part, MPI_Comm_c2f(MPI_COMM_WORLD)));
    const size_t lo = (size_t)rank * b / (size_t)ranks, hi = (size_t)(rank + 1) * b / (size_t)ranks;
    uint8_t *images = malloc(b * S * S);
    const uint8_t **ptrs = malloc(b * sizeof *ptrs);
    size_t *hs = malloc(b * sizeof *hs), *ws = malloc(b * sizeof *ws);
    CHECK(images && ptrs && hs && ws);
    double bpd_one = 0, bpd_part = 0, worst_bpd = 0;
    for (int step = 0; step < K; step++) {
        batch_of(images, b, step);
        for (size_t i = 0; i < b; i++) {
            ptrs[i] = images + i * S * S;
            hs[i] = ws[i] = S;
        }
        if (mixed) {
            CHECK_OK(spcnn_model_train_step_mixed(one, ptrs, hs, ws, b, &bpd_one));
            CHECK_OK(spcnn_model_train_step_mixed(part, ptrs + lo, hs + lo, ws + lo, hi - lo,
                                                  &bpd_part));
        } else {
            CHECK_OK(spcnn_model_train_step(one, images, b, S, S, &bpd_one));
            CHECK_OK(spcnn_model_train_step(part, images + lo * S * S, hi - lo, S, S,
                                            &bpd_part));
        }
        double e = fabs(bpd_one - bpd_part);
        worst_bpd = e > worst_bpd ? e : worst_bpd;
    }
    double seen = 0, r = -1, n = 0;
    CHECK_OK(spcnn_model_stat(part, SPCNN_STAT_IMAGES_SEEN, &seen));
    CHECK_OK(spcnn_model_stat(part, SPCNN_STAT_RANK, &r));
    CHECK_OK(spcnn_model_stat(part, SPCNN_STAT_RANKS, &n));
    CHECK(seen == (double)(K * b) && r == rank && n == ranks);
    diff value = {0, 0}, ema = {0, 0}, moment = {0, 0};
    compare(one, part, SPCNN__BUF_VALUE, &value);
    compare(one, part, SPCNN__BUF_EMA, &ema);
    compare(one, part, SPCNN__BUF_ADAM_M, &moment);
    if (rank == 0)
        printf("%s: %d ranks x %zu images vs 1 x %zu after %d steps: parameters max abs %.3g "
               "(max rel %.3g), EMA max abs %.3g, Adam m max abs %.3g, bits/dim %.3g apart\n",
               name, ranks, b / (size_t)ranks, b, K, value.abs, value.rel, ema.abs,
               moment.abs, worst_bpd);
    /* Not bit-exact: each rank sums its shard's gradient, then the ranks' sums are added. */
    CHECK(value.abs < 2e-5 && ema.abs < 2e-5 && worst_bpd < 1e-4);
    check_replicas_equal(part);
    free(images);
    free(ptrs);
    free(hs);
    free(ws);
    spcnn_model_destroy(one);
    spcnn_model_destroy(part);
}

/* A tiny model, unattached, after one step on 2 images if `step`. */
static spcnn_model *model_after(int step)
{
    spcnn_model *m = tiny_model(5, 1);
    uint8_t images[2 * S * S];
    batch_of(images, 2, 0);
    if (step)
        CHECK_OK(spcnn_model_train_step(m, images, 2, S, S, NULL));
    return m;
}

/* Attaching copies rank 0's state, and refuses a model that differs. */
static void attach(void)
{
    /* The ranks other than 0 take a step first: other weights, moments and step. */
    spcnn_model *m = model_after(rank != 0);
    CHECK_OK(spcnn_model_set_communicator(m, MPI_Comm_c2f(MPI_COMM_WORLD)));
    check_replicas_equal(m);
    double step = -1, seen = -1;
    CHECK_OK(spcnn_model_stat(m, SPCNN_STAT_STEP, &step));
    CHECK_OK(spcnn_model_stat(m, SPCNN_STAT_IMAGES_SEEN, &seen));
    CHECK(step == 0 && seen == 0);
    CHECK_OK(spcnn_model_set_communicator(m, SPCNN_COMM_NONE));
    double n = 0;
    CHECK_OK(spcnn_model_stat(m, SPCNN_STAT_RANKS, &n));
    CHECK(n == 1);
    spcnn_model_destroy(m);

    spcnn_config *cfg = tiny_config(5, 1);
    CHECK_OK(spcnn_config_set(cfg, SPCNN_CFG_LEARNING_RATE, rank == ranks - 1 ? 1e-3 : 3e-3));
    CHECK_OK(spcnn_model_create(cfg, &m));
    spcnn_config_destroy(cfg);
    spcnn_status st = spcnn_model_set_communicator(m, MPI_Comm_c2f(MPI_COMM_WORLD));
    CHECK(st == (rank == ranks - 1 ? SPCNN_ERR_INVALID_ARGUMENT : SPCNN_ERR_COMMUNICATION));
    if (rank == 0)
        printf("attach: a different learning rate on rank %d: \"%s\"\n", ranks - 1,
               spcnn_last_error_message());
    CHECK_OK(spcnn_model_stat(m, SPCNN_STAT_RANKS, &n));
    CHECK(n == 1); /* still detached */
    CHECK(spcnn_model_set_communicator(NULL, 0) == SPCNN_ERR_INVALID_ARGUMENT);
    spcnn_model_destroy(m);
}

/* A step refused on the last rank (no images) fails on every rank; the next one works. */
static void failure(void)
{
    spcnn_model *m = tiny_model(5, 1);
    CHECK_OK(spcnn_model_set_communicator(m, MPI_Comm_c2f(MPI_COMM_WORLD)));
    uint8_t images[2 * S * S];
    batch_of(images, 2, 0);
    spcnn_status st = spcnn_model_train_step(m, images, rank == ranks - 1 ? 0 : 2, S, S, NULL);
    CHECK(st == (rank == ranks - 1 ? SPCNN_ERR_INVALID_ARGUMENT : SPCNN_ERR_COMMUNICATION));
    if (rank == 0)
        printf("failure: rank %d's empty shard: \"%s\"\n", ranks - 1,
               spcnn_last_error_message());
    double step = -1;
    CHECK_OK(spcnn_model_stat(m, SPCNN_STAT_STEP, &step));
    CHECK(step == 0);
    CHECK_OK(spcnn_model_train_step(m, images, 2, S, S, NULL));
    CHECK_OK(spcnn_model_stat(m, SPCNN_STAT_STEP, &step));
    CHECK(step == 1);
    check_replicas_equal(m);
    spcnn_model_destroy(m);
}

/* Rank r makes images [r·n/N, (r+1)·n/N) of a seed; gathered, they are one process's. */
static void generation(void)
{
    spcnn_model *m = model_after(1); /* non-trivial weights */
    enum { N = 5, H = 10, W = 9 };
    uint8_t all[N * H * W], spread[N * H * W];
    int counts[64], offsets[64];
    CHECK(ranks <= 64);
    for (int r = 0; r < ranks; r++) {
        offsets[r] = N * r / ranks * H * W;
        counts[r] = (N * (r + 1) / ranks - N * r / ranks) * H * W;
    }
    const size_t lo = (size_t)(N * rank / ranks), hi = (size_t)(N * (rank + 1) / ranks);
    if (hi > lo)
        CHECK_OK(spcnn_model_generate_range(m, lo, hi - lo, NULL, H, W, 11,
                                            spread + lo * H * W, (hi - lo) * H * W));
    MPI_Gatherv(rank == 0 ? MPI_IN_PLACE : spread + lo * H * W, counts[rank], MPI_BYTE, spread,
                counts, offsets, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        CHECK_OK(spcnn_model_generate_images(m, N, NULL, H, W, 11, all, sizeof all));
        CHECK(memcmp(all, spread, sizeof all) == 0);
        printf("generation: %d images spread over %d ranks: the bytes of one process\n", N,
               ranks);
    }
    spcnn_model_destroy(m);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (rank == 0)
        printf("test_mpi: %d ranks\n", ranks);
    equivalence(8, 1, 0, "train_step");
    equivalence(7, 1.5, 1, "train_step_mixed, uneven shards, scale-aware");
    attach();
    failure();
    generation();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi: all passed\n");
    MPI_Finalize();
    return 0;
}
