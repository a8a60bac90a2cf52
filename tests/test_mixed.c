/* Training on images of different sizes (spcnn_model_train_step_mixed): the VAE's input
 * resampling in C against oneDNN's linear resampling (what versions up to 0.3 ran) and the
 * double-precision reference; a window of a scaled image equal to the window of the scaled
 * image; the mixed step giving exactly the bits of spcnn_model_train_step on same-size images
 * (scale-aware training on, images not of image_size, so both paths resample); a batch of
 * mixed sizes training deterministically and lowering the loss; misuse. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/plan.h"
#include "nn/dnnl_ctx.h"
#include "nn/resample.h"
#include "ref_conv.h"
#include "testutil.h"
#include "tu_model.h"

enum { S = 12, BATCH = 6 };

static spcnn_model *tiny_model(double scale_max)
{
    return tu_model(TU_SETTINGS(
        {SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_IMAGE_SIZE, S}, {SPCNN_CFG_NR_FILTERS, 8},
        {SPCNN_CFG_NR_RESNET, 1}, {SPCNN_CFG_NR_MIX, 3}, {SPCNN_CFG_LATENT_SIZE, 4},
        {SPCNN_CFG_DROPOUT, 0.1}, {SPCNN_CFG_LEARNING_RATE, 3e-3}, {SPCNN_CFG_BATCH_SIZE, BATCH},
        {SPCNN_CFG_TRAIN_SCALE_MAX, scale_max}));
}

/* A bright vertical bar a quarter of the width wide at a random column, a little noise. */
static void bar_image(tu_rng *rng, uint8_t *img, size_t h, size_t w)
{
    size_t bw = w / 4 ? w / 4 : 1, col = (size_t)tu_uniform(rng, 0, (double)(w - bw));
    for (size_t r = 0; r < h; r++)
        for (size_t c = 0; c < w; c++) {
            int v = (c >= col && c < col + bw) ? 230 : 10;
            img[r * w + c] = (uint8_t)(v + (int)tu_uniform(rng, -8, 8));
        }
}

START_TEST(test_image_prep_matches_onednn)
{
    spcnn__dnnl ctx;
    ck_assert_int_eq(spcnn__dnnl_init(&ctx, 1), SPCNN_OK);
    const size_t sizes[][2] = {{20, 17}, {56, 41}, {84, 84}, {9, 30}, {28, 28}, {8, 8}};
    const int s = 28;
    tu_rng rng = {11};
    double worst_onednn = 0, worst_ref = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t h = sizes[k][0], w = sizes[k][1];
        uint8_t *img = malloc(h * w);
        float *full = tu_alloc_f(h * w), *x = tu_alloc_f(s * s), *t = tu_alloc_f(s * s);
        float *y = tu_alloc_f(s * s);
        double *fd = tu_alloc_d(h * w), *yr = tu_alloc_d(s * s);
        for (size_t i = 0; i < h * w; i++) {
            img[i] = (uint8_t)tu_uniform(&rng, 0, 256);
            full[i] = (float)img[i] / 127.5f - 1.0f;
            fd[i] = full[i];
        }
        spcnn__image_prep(img, h, w, s, x, t);
        ref_resample_linear_forward(1, 1, (int)h, (int)w, s, s, fd, yr);
        spcnn__resample rs;
        spcnn__resample_shape shape = {1, 1, (int)h, (int)w, s, s};
        ck_assert_int_eq(spcnn__resample_init(&rs, &ctx, &shape), SPCNN_OK);
        ck_assert_int_eq(spcnn__resample_forward(&rs, &ctx, full, y), SPCNN_OK);
        spcnn__resample_deinit(&rs);
        for (size_t i = 0; i < (size_t)(s * s); i++) {
            double d1 = fabs((double)x[i] - y[i]), d2 = fabs((double)x[i] - yr[i]);
            worst_onednn = d1 > worst_onednn ? d1 : worst_onednn;
            worst_ref = d2 > worst_ref ? d2 : worst_ref;
            ck_assert(t[i] == fminf(1.0f, fmaxf(0.0f, 0.5f * (x[i] + 1.0f))));
            if (h == (size_t)s && w == (size_t)s)
                ck_assert(x[i] == full[i]); /* an image of the VAE's size is used as it is */
        }
        free(img), free(full), free(x), free(t), free(y), free(fd), free(yr);
    }
    spcnn__dnnl_deinit(&ctx);
    /* Values in [-1, 1] interpolated in float: the C version is within a few ulps of 1 of
     * the double reference (measured 1.6e-7); oneDNN's own result lies further from it
     * (measured 2.4e-6 from the C version), its source positions and weights being computed
     * in float. A wrong tap or weight would be off by 1e-2 or more. */
    tu_report("VAE input in C vs oneDNN linear resampling (max abs)", worst_onednn, 1e-5);
    tu_report("VAE input in C vs double reference (max abs)", worst_ref, 1e-6);
    ck_assert(worst_onednn < 1e-5 && worst_ref < 1e-6);
}
END_TEST

START_TEST(test_crop_window_scaled)
{
    tu_rng rng = {12};
    const size_t h = 13, w = 10, sh = 23, sw = 17;
    const int m = 8;
    uint8_t img[13 * 10], big[23 * 17], pix_a[64], pix_b[64];
    float xa[64], xb[64], ga[128], gb[128];
    for (size_t i = 0; i < h * w; i++)
        img[i] = (uint8_t)tu_uniform(&rng, 0, 256);
    spcnn__resize_bilinear_u8(img, h, w, big, sh, sw);
    size_t checked = 0;
    for (size_t top = 0; top + m <= sh; top += 3)
        for (size_t left = 0; left + m <= sw; left += 2) {
            spcnn__crop_window(big, sh, sw, top, left, m, xa, pix_a, ga);
            spcnn__crop_window_scaled(img, h, w, sh, sw, top, left, m, xb, pix_b, gb);
            ck_assert(memcmp(pix_a, pix_b, sizeof pix_a) == 0);
            ck_assert(memcmp(xa, xb, sizeof xa) == 0);
            ck_assert(memcmp(ga, gb, sizeof ga) == 0);
            checked++;
        }
    /* Unscaled: the plain crop. */
    spcnn__crop_window(img, h, w, 2, 1, m, xa, pix_a, ga);
    spcnn__crop_window_scaled(img, h, w, h, w, 2, 1, m, xb, pix_b, gb);
    ck_assert(memcmp(pix_a, pix_b, 64) == 0 && memcmp(ga, gb, sizeof ga) == 0);
    printf("windows of a scaled image without scaling the image: %zu equal\n", checked);
}
END_TEST

/* Same-size images: spcnn_model_train_step and spcnn_model_train_step_mixed give the same bits,
 * step after step, and the same model (evaluation). */
START_TEST(test_mixed_equals_same_size)
{
    enum { H = 16, W = 20, STEPS = 4 };
    spcnn_model *a = tiny_model(2.0), *b = tiny_model(2.0);
    tu_rng rng = {13};
    uint8_t batch[BATCH * H * W];
    const uint8_t *ptrs[BATCH];
    size_t hs[BATCH], ws[BATCH];
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < BATCH; i++) {
            bar_image(&rng, batch + (size_t)i * H * W, H, W);
            ptrs[i] = batch + (size_t)i * H * W;
            hs[i] = H;
            ws[i] = W;
        }
        double pa = 0, pb = 0;
        ck_assert_int_eq(spcnn_model_train_step(a, batch, BATCH, H, W, &pa), SPCNN_OK);
        ck_assert_msg(spcnn_model_train_step_mixed(b, ptrs, hs, ws, BATCH, &pb) == SPCNN_OK,
                      "%s", spcnn_last_error_message());
        printf("step %d: train_step %.9f bits/dim, train_step_mixed %.9f\n", step, pa, pb);
        ck_assert(isfinite(pa) && pa == pb);
        double ka, kb;
        ck_assert_int_eq(spcnn_model_stat(a, SPCNN_STAT_KL, &ka), SPCNN_OK);
        ck_assert_int_eq(spcnn_model_stat(b, SPCNN_STAT_KL, &kb), SPCNN_OK);
        ck_assert(ka == kb);
    }
    double ea, eb, ia, ib;
    ck_assert_int_eq(spcnn_model_evaluate(a, batch, 2, H, W, &ea, &ia, NULL), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_evaluate(b, batch, 2, H, W, &eb, &ib, NULL), SPCNN_OK);
    ck_assert(ea == eb && ia == ib);
    spcnn_model_destroy(a);
    spcnn_model_destroy(b);
}
END_TEST

/* A batch of six different sizes: deterministic, finite, and it learns the bars. */
START_TEST(test_mixed_sizes_train)
{
    static const size_t sizes[BATCH][2] = {{12, 12}, {16, 24}, {30, 20}, {8, 9}, {40, 13},
                                           {21, 21}};
    uint8_t *imgs[BATCH], *test[BATCH];
    const uint8_t *ptrs[BATCH];
    size_t hs[BATCH], ws[BATCH];
    for (int i = 0; i < BATCH; i++) {
        hs[i] = sizes[i][0];
        ws[i] = sizes[i][1];
        imgs[i] = malloc(hs[i] * ws[i]);
        test[i] = malloc(hs[i] * ws[i]);
        ptrs[i] = imgs[i];
    }
    tu_rng trng = {14};
    for (int i = 0; i < BATCH; i++)
        bar_image(&trng, test[i], hs[i], ws[i]);
    spcnn_model *m = tiny_model(1.0), *twin = tiny_model(1.0);
    double before = 0, after = 0, v;
    for (int i = 0; i < BATCH; i++) {
        ck_assert_int_eq(spcnn_model_evaluate(m, test[i], 1, hs[i], ws[i], &v, NULL, NULL),
                         SPCNN_OK);
        before += v / BATCH;
    }
    tu_rng rng = {15};
    double first = 0, bpd = 0, bpd_twin = 0;
    for (int step = 0; step < 120; step++) {
        for (int i = 0; i < BATCH; i++)
            bar_image(&rng, imgs[i], hs[i], ws[i]);
        ck_assert_msg(spcnn_model_train_step_mixed(m, ptrs, hs, ws, BATCH, &bpd) == SPCNN_OK,
                      "%s", spcnn_last_error_message());
        if (step < 3) { /* determinism: a second model follows bit for bit */
            ck_assert_int_eq(spcnn_model_train_step_mixed(twin, ptrs, hs, ws, BATCH, &bpd_twin),
                             SPCNN_OK);
            ck_assert(bpd == bpd_twin);
        }
        ck_assert(isfinite(bpd));
        if (step == 0)
            first = bpd;
    }
    for (int i = 0; i < BATCH; i++) {
        ck_assert_int_eq(spcnn_model_evaluate(m, test[i], 1, hs[i], ws[i], &v, NULL, NULL),
                         SPCNN_OK);
        after += v / BATCH;
    }
    printf("mixed sizes: train bits/dim %.3f -> %.3f; test (mean of the 6 images' bits/dim, "
           "all patches) %.3f -> %.3f\n", first, bpd, before, after);
    ck_assert_msg(after < before - 2.0, "test bits/dim only went from %.3f to %.3f", before,
                  after);
    for (int i = 0; i < BATCH; i++)
        free(imgs[i]), free(test[i]);
    spcnn_model_destroy(m);
    spcnn_model_destroy(twin);
}
END_TEST

START_TEST(test_mixed_misuse)
{
    spcnn_model *m = tiny_model(1.0);
    uint8_t a[8 * 9] = {0}, b[20 * 8] = {0}; /* b is first declared 20x7, later 20x8 */
    const uint8_t *ptrs[2] = {a, b};
    size_t hs[2] = {8, 20}, ws[2] = {9, 7};
    double bpd;
    ck_assert_int_eq(spcnn_model_train_step_mixed(NULL, ptrs, hs, ws, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, NULL, hs, ws, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, NULL, ws, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, NULL, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, ws, 0, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, ws, 65537, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    /* Image 1 is 7 wide, under the 8×8 window: the message names it. */
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, ws, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    printf("message: %s\n", spcnn_last_error_message());
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "image 1 of the batch is 20x7"));
    ptrs[1] = NULL;
    ws[1] = 8;
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, ws, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "image 1 of the batch is NULL"));
    hs[0] = (size_t)1 << 40;
    ptrs[1] = b;
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, ws, 2, &bpd),
                     SPCNN_ERR_INVALID_ARGUMENT);
    double step = -1;
    ck_assert_int_eq(spcnn_model_stat(m, SPCNN_STAT_STEP, &step), SPCNN_OK);
    ck_assert(step == 0); /* nothing trained */
    hs[0] = 8;
    ck_assert_int_eq(spcnn_model_train_step_mixed(m, ptrs, hs, ws, 2, &bpd), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_stat(m, SPCNN_STAT_STEP, &step), SPCNN_OK);
    ck_assert(step == 1 && isfinite(bpd));
    spcnn_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("mixed");
    TCase *tc = tcase_create("mixed");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_image_prep_matches_onednn);
    tcase_add_test(tc, test_crop_window_scaled);
    tcase_add_test(tc, test_mixed_equals_same_size);
    tcase_add_test(tc, test_mixed_sizes_train);
    tcase_add_test(tc, test_mixed_misuse);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
