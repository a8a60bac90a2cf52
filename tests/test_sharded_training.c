/* Training over threads (lib/model/train.c): with threads > 1 a step's images are cut into one
 * shard per thread, each trained on its own one-thread context, and the gradients summed.
 *   - A shard draws its windows, noise and dropout by its images' places in the batch, so two
 *     and three shards train what one thread trains, up to the order of float sums: the same
 *     bits/dim and parameters to a few ulps' worth, never the bytes of another step.
 *   - The step is deterministic: a second model with the same threads gives the same bytes.
 *   - A caller inside an OpenMP parallel region gets a team of one, which trains every shard
 *     in turn on the same one-thread contexts: the bytes of the two-thread step.
 *   - Fewer images than threads: one shard per image.
 * Reads the parameter buffers, so it links the internal library. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"
#include "spatialpixelcnn.h"
#include "testutil.h"
#include "tu_model.h"

enum { S = 12, BATCH = 8, STEPS = 3 };

/* Dropout on, so that its masks must follow the images across shards. */
#define SMALL                                                                                  \
    TU_SETTINGS({SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_IMAGE_SIZE, S}, {SPCNN_CFG_NR_FILTERS, 8}, \
                {SPCNN_CFG_NR_RESNET, 1}, {SPCNN_CFG_NR_MIX, 3}, {SPCNN_CFG_LATENT_SIZE, 4},    \
                {SPCNN_CFG_DROPOUT, 0.5}, {SPCNN_CFG_LEARNING_RATE, 3e-3},                      \
                {SPCNN_CFG_BATCH_SIZE, BATCH})

static spcnn_model *model_with_threads(int threads)
{
    spcnn_model *m = tu_model(SMALL);
    ck_assert_int_eq(spcnn_model_set_threads(m, threads), SPCNN_OK);
    return m;
}

static void batch(int step, uint8_t *images, size_t n)
{
    tu_rng rng = {(uint64_t)(100 + step)};
    for (size_t i = 0; i < n * S * S; i++)
        images[i] = (uint8_t)tu_uniform(&rng, 0, 255);
}

/* STEPS steps on the same batches; the bits/dim of each into bpd. */
static void train(spcnn_model *m, size_t n, double bpd[STEPS])
{
    uint8_t images[BATCH * S * S];
    for (int s = 0; s < STEPS; s++) {
        batch(s, images, n);
        ck_assert_msg(spcnn_model_train_step(m, images, n, S, S, &bpd[s]) == SPCNN_OK, "%s",
                      spcnn_last_error_message());
    }
}

/* The largest difference between two models' raw weights, relative to the largest weight. */
static double weights_gap(const spcnn_model *a, const spcnn_model *b)
{
    const float *x = a->params.buf[SPCNN__BUF_VALUE], *y = b->params.buf[SPCNN__BUF_VALUE];
    double gap = 0, scale = 0;
    for (size_t i = 0; i < a->params.total; i++) {
        gap = fmax(gap, fabs((double)x[i] - y[i]));
        scale = fmax(scale, fabs((double)x[i]));
    }
    return gap / scale;
}

static int same_state(const spcnn_model *a, const spcnn_model *b)
{
    return memcmp(a->params.block, b->params.block,
                  SPCNN__BUF_COUNT * a->params.total * sizeof(float)) == 0;
}

START_TEST(test_shards_train_what_one_thread_trains)
{
    double one[STEPS], two[STEPS], three[STEPS];
    spcnn_model *a = model_with_threads(1), *b = model_with_threads(2);
    spcnn_model *c = model_with_threads(3);
    train(a, BATCH, one);
    train(b, BATCH, two);
    train(c, BATCH, three); /* shards of 2, 3 and 3 images */
    for (int s = 0; s < STEPS; s++) {
        printf("step %d: bits/dim 1 thread %.9f, 2 shards %.9f, 3 shards %.9f\n", s, one[s],
               two[s], three[s]);
        ck_assert_msg(fabs(one[s] - two[s]) < 1e-6 && fabs(one[s] - three[s]) < 1e-6,
                      "step %d: %.9f, %.9f, %.9f", s, one[s], two[s], three[s]);
    }
    const double g2 = weights_gap(a, b), g3 = weights_gap(a, c);
    printf("weights after %d steps, largest gap to 1 thread: 2 shards %.3g, 3 shards %.3g\n",
           STEPS, g2, g3);
    ck_assert_msg(g2 < 1e-5 && g3 < 1e-5, "gaps %g %g", g2, g3);
    /* Not a copy of another step: one step more moves the weights far more than that. */
    double more[STEPS];
    spcnn_model *d = model_with_threads(1);
    train(d, BATCH, more);
    uint8_t images[BATCH * S * S];
    batch(STEPS, images, BATCH);
    ck_assert_int_eq(spcnn_model_train_step(d, images, BATCH, S, S, NULL), SPCNN_OK);
    ck_assert_msg(weights_gap(a, d) > 100 * fmax(g2, g3), "one more step moved only %g",
                  weights_gap(a, d));
    spcnn_model_destroy(a);
    spcnn_model_destroy(b);
    spcnn_model_destroy(c);
    spcnn_model_destroy(d);
}
END_TEST

START_TEST(test_shards_deterministic)
{
    double x[STEPS], y[STEPS], z[STEPS];
    spcnn_model *a = model_with_threads(2), *b = model_with_threads(2);
    spcnn_model *c = model_with_threads(2);
    train(a, BATCH, x);
    train(b, BATCH, y);
    /* Inside a parallel region: a team of one trains both shards in turn. */
    spcnn_status st = SPCNN_OK;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        {
            uint8_t images[BATCH * S * S];
            for (int s = 0; s < STEPS && st == SPCNN_OK; s++) {
                batch(s, images, BATCH);
                st = spcnn_model_train_step(c, images, BATCH, S, S, &z[s]);
            }
        }
    }
    ck_assert_msg(st == SPCNN_OK, "%s", spcnn_last_error_message());
    for (int s = 0; s < STEPS; s++)
        ck_assert(x[s] == y[s] && x[s] == z[s]);
    ck_assert_msg(same_state(a, b), "two runs of the same two-thread training differ");
    ck_assert_msg(same_state(a, c), "training inside a parallel region differs");
    spcnn_model_destroy(a);
    spcnn_model_destroy(b);
    spcnn_model_destroy(c);
}
END_TEST

START_TEST(test_fewer_images_than_threads)
{
    double one[STEPS], many[STEPS];
    spcnn_model *a = model_with_threads(1), *b = model_with_threads(4);
    train(a, 2, one);
    train(b, 2, many); /* two shards of one image each */
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(fabs(one[s] - many[s]) < 1e-6, "step %d: %.9f against %.9f", s, one[s],
                      many[s]);
    ck_assert_msg(weights_gap(a, b) < 1e-5, "gap %g", weights_gap(a, b));
    spcnn_model_destroy(a);
    spcnn_model_destroy(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sharded_training");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_shards_train_what_one_thread_trains);
    tcase_add_test(tc, test_shards_deterministic);
    tcase_add_test(tc, test_fewer_images_than_threads);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
