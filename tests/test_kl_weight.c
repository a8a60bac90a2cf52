/* The training loss's KL weight (kl_weight, lib/model/train.c): it scales the KL term's
 * gradient and nothing else. Reads the gradient buffer, so it links the internal library. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "spatialpixelcnn.h"
#include "testutil.h"
#include "tu_model.h"

enum { S = 12, BATCH = 8 };

#define TINY                                                                                   \
    TU_SETTINGS({SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_IMAGE_SIZE, S}, {SPCNN_CFG_NR_FILTERS, 8}, \
                {SPCNN_CFG_NR_RESNET, 1}, {SPCNN_CFG_NR_MIX, 3}, {SPCNN_CFG_LATENT_SIZE, 4},    \
                {SPCNN_CFG_DROPOUT, 0.0}, {SPCNN_CFG_LEARNING_RATE, 3e-3},                      \
                {SPCNN_CFG_BATCH_SIZE, BATCH})

/* kl_weight β weighs the KL term alone: one step from the same state on the same batch at
 * β = 0, 0.5 and 1 leaves every gradient outside the encoder the same bits (the KL depends on
 * the encoder's outputs only), the encoder's gradient linear in β (0.5 halfway between 0 and
 * 1, to rounding) and different between 0 and 1. β is a training setting of an existing
 * model, saved only when it is not 1 (so that 0.6 reads the file). */
START_TEST(test_kl_weight)
{
    char path[512];
    snprintf(path, sizeof path, "%s/test_model_kl.spcnn", tu_tmpdir());
    spcnn_model *m = tu_model(TINY);
    tu_rng rng = {33};
    uint8_t batch[BATCH * S * S];
    for (int step = 0; step < 3; step++) {
        tu_blobs(&rng, batch, BATCH, S);
        ck_assert_int_eq(spcnn_model_train_step(m, batch, BATCH, S, S, NULL), SPCNN_OK);
    }
    size_t sizes[2];
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_KL_WEIGHT, k ? 0.5 : 1), SPCNN_OK);
        ck_assert_int_eq(spcnn_model_save(m, path, 1), SPCNN_OK);
        free(tu_read_file(path, &sizes[k]));
    }
    ck_assert_uint_eq(sizes[1] - sizes[0], 12); /* one key record: u32 key, f64 value */
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_KL_WEIGHT, 1.5),
                     SPCNN_ERR_INVALID_ARGUMENT);

    static const double beta[3] = {0, 0.5, 1};
    spcnn_model *at[3];
    tu_blobs(&rng, batch, BATCH, S);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(spcnn_model_load(path, &at[k]), SPCNN_OK);
        double saved = 0;
        spcnn_config *cfg = tu_config(TINY);
        ck_assert_int_eq(spcnn_model_get_config(at[k], cfg), SPCNN_OK);
        spcnn_config_get(cfg, SPCNN_CFG_KL_WEIGHT, &saved);
        spcnn_config_destroy(cfg);
        ck_assert(saved == 0.5);
        ck_assert_int_eq(spcnn_model_set_option(at[k], SPCNN_CFG_KL_WEIGHT, beta[k]), SPCNN_OK);
        ck_assert_int_eq(spcnn_model_train_step(at[k], batch, BATCH, S, S, NULL), SPCNN_OK);
    }
    const spcnn__params *p = &at[0]->params;
    double worst = 0, moved = 0;
    int encoder_rows = 0;
    for (size_t r = 0; r < p->nrows; r++) {
        const float *g0 = spcnn__params_grad(&at[0]->params, r);
        const float *gh = spcnn__params_grad(&at[1]->params, r);
        const float *g1 = spcnn__params_grad(&at[2]->params, r);
        const size_t count = p->rows[r].count;
        if (strncmp(p->rows[r].name, "vae.enc.", 8) != 0) {
            ck_assert_msg(memcmp(g0, g1, count * sizeof *g0) == 0 &&
                              memcmp(gh, g1, count * sizeof *g0) == 0,
                          "row %s: the KL weight changed a gradient outside the encoder",
                          p->rows[r].name);
            continue;
        }
        encoder_rows++;
        double scale = 0, diff = 0, dev = 0;
        for (size_t i = 0; i < count; i++) {
            scale = fmax(scale, fabs(g0[i]) + fabs(g1[i]));
            diff = fmax(diff, fabs((double)g1[i] - g0[i]));
            dev = fmax(dev, fabs((double)gh[i] - 0.5 * ((double)g0[i] + g1[i])));
        }
        ck_assert_msg(scale > 0, "row %s: no gradient", p->rows[r].name);
        worst = fmax(worst, dev / scale);
        moved = fmax(moved, diff / scale);
    }
    printf("test_kl_weight: %d encoder rows; largest deviation from linearity %.3g, largest "
           "change from beta 0 to 1 %.3g (relative to the row's largest gradient)\n",
           encoder_rows, worst, moved);
    ck_assert_int_gt(encoder_rows, 0);
    ck_assert_msg(worst < 1e-5, "encoder gradient not linear in beta: %g", worst);
    ck_assert_msg(moved > 1e-2, "beta hardly changes the encoder gradient: %g", moved);
    for (int k = 0; k < 3; k++)
        spcnn_model_destroy(at[k]);
    spcnn_model_destroy(m);
    remove(path);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("kl_weight");
    TCase *tc = tcase_create("kl_weight");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kl_weight);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
