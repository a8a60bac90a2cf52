/* Generation: the wavefront schedule gives the same bytes as the raster oracle, on square,
 * non-square and non-multiple-of-m sizes; 1 and 2 threads agree; seeds differ; sample_patch
 * equals the top-left corner of generate_image; streaming delivers every row in order;
 * misuse gets the documented statuses. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/model.h"
#include "spatialpixelcnn.h"
#include "testutil.h"

enum { S = 12, L = 4 };

static spcnn_model *tiny_model(int threads)
{
    spcnn_config *cfg = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    const struct { spcnn_config_key key; double value; } settings[] = {
        {SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_IMAGE_SIZE, S},   {SPCNN_CFG_NR_FILTERS, 8},
        {SPCNN_CFG_NR_RESNET, 1},  {SPCNN_CFG_NR_MIX, 3},       {SPCNN_CFG_LATENT_SIZE, L},
        {SPCNN_CFG_SEED, 11},      {SPCNN_CFG_THREADS, threads}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        ck_assert_int_eq(spcnn_config_set(cfg, settings[i].key, settings[i].value), SPCNN_OK);
    spcnn_model *m = NULL;
    ck_assert_msg(spcnn_model_create(cfg, &m) == SPCNN_OK, "%s", spcnn_last_error_message());
    spcnn_config_destroy(cfg);
    /* A few steps on bright squares, so the samples are not the initial noise. */
    tu_rng rng = {3};
    uint8_t batch[8 * S * S];
    for (int step = 0; step < 10; step++) {
        for (size_t i = 0; i < sizeof batch; i++)
            batch[i] = (uint8_t)((i % S > 3 && i % S < 8) ? 200 + tu_uniform(&rng, 0, 50)
                                                          : tu_uniform(&rng, 0, 30));
        ck_assert_int_eq(spcnn_model_train_step(m, batch, 8, S, S, NULL), SPCNN_OK);
    }
    return m;
}

static void generate(spcnn_model *m, int schedule, size_t n, size_t h, size_t w, uint64_t seed,
                     uint8_t *out)
{
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_SCHEDULE, schedule), SPCNN_OK);
    ck_assert_msg(spcnn_model_generate_images(m, n, NULL, h, w, seed, out, n * h * w) == SPCNN_OK,
                  "%s", spcnn_last_error_message());
}

START_TEST(test_raster_equals_wavefront)
{
    spcnn_model *m = tiny_model(1);
    const size_t sizes[][2] = {{8, 8}, {12, 12}, {13, 9}, {9, 21}, {17, 16}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t h = sizes[s][0], w = sizes[s][1], n = 3;
        uint8_t *raster = malloc(n * h * w), *wave = malloc(n * h * w);
        generate(m, 0, n, h, w, 5, raster);
        generate(m, 1, n, h, w, 5, wave);
        size_t differ = 0, distinct = 0;
        for (size_t i = 0; i < n * h * w; i++) {
            differ += raster[i] != wave[i];
            distinct += raster[i] != raster[0];
        }
        printf("raster vs wavefront %zux%zu, 3 images: %zu of %zu bytes differ\n", h, w, differ,
               n * h * w);
        ck_assert_uint_eq(differ, 0);
        ck_assert_uint_gt(distinct, 0); /* not a constant image */
        /* Image i does not depend on how many images are generated with it. */
        uint8_t *one = malloc(h * w);
        ck_assert_int_eq(spcnn_model_generate_image(m, NULL, h, w, 5, one, h * w), SPCNN_OK);
        ck_assert_int_eq(memcmp(one, wave, h * w), 0);
        free(one);
        free(raster);
        free(wave);
    }
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_threads_and_seeds)
{
    spcnn_model *a = tiny_model(1), *b = tiny_model(2);
    const size_t h = 16, w = 20, n = 2;
    uint8_t x[2 * 16 * 20], y[2 * 16 * 20], z[2 * 16 * 20];
    generate(a, 1, n, h, w, 9, x);
    generate(b, 1, n, h, w, 9, y);
    /* Training with 2 threads may round differently: compare the generation only, with the
     * same weights. */
    char path[512];
    snprintf(path, sizeof path, "%s/test_sample_threads.spcnn", tu_tmpdir());
    ck_assert_int_eq(spcnn_model_save(a, path, 0), SPCNN_OK);
    spcnn_model *c = NULL;
    ck_assert_int_eq(spcnn_model_load(path, &c), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_set_threads(c, 2), SPCNN_OK);
    generate(c, 1, n, h, w, 9, y);
    ck_assert_msg(memcmp(x, y, sizeof x) == 0, "1 and 2 threads generate different bytes");
    generate(c, 1, n, h, w, 10, z);
    size_t differ = 0;
    for (size_t i = 0; i < sizeof x; i++)
        differ += x[i] != z[i];
    printf("seeds 9 and 10: %zu of %zu bytes differ\n", differ, sizeof x);
    ck_assert_uint_gt(differ, sizeof x / 10);
    remove(path);
    spcnn_model_destroy(a);
    spcnn_model_destroy(b);
    spcnn_model_destroy(c);
}
END_TEST

/* The same with the bundled model (the default network: F = 25, R = 2, K = 10), whose channel
 * counts make oneDNN pick the kernels real generation runs on — the corner plans' equality
 * with the whole network rests on those kernels — with 1 and 2 threads. */
START_TEST(test_bundled_model_raster_equals_wavefront)
{
    const char *path = getenv("SPCNN_TEST_MODEL");
    ck_assert_msg(path != NULL, "SPCNN_TEST_MODEL is not set");
    spcnn_model *m = NULL;
    ck_assert_msg(spcnn_model_load(path, &m) == SPCNN_OK, "%s", spcnn_last_error_message());
    const size_t h = 21, w = 26, n = 2;
    uint8_t raster[2 * 21 * 26], wave[2 * 21 * 26];
    generate(m, 0, n, h, w, 3, raster);
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_eq(spcnn_model_set_threads(m, threads), SPCNN_OK);
        generate(m, 1, n, h, w, 3, wave);
        size_t differ = 0;
        for (size_t i = 0; i < sizeof raster; i++)
            differ += raster[i] != wave[i];
        printf("bundled model, raster vs wavefront %zux%zu, %d thread(s): %zu of %zu bytes "
               "differ\n", h, w, threads, differ, sizeof raster);
        ck_assert_uint_eq(differ, 0);
    }
    spcnn_model_destroy(m);
}
END_TEST

/* Precision bf16 on the bundled model: raster and wavefront, 1 and 2 threads still give the
 * same bytes; the bytes are not fp32's; bits/dim of images the model drew moves by less than
 * 0.01; switching back gives fp32's bytes again. */
START_TEST(test_bundled_model_bf16)
{
    const char *path = getenv("SPCNN_TEST_MODEL");
    ck_assert_msg(path != NULL, "SPCNN_TEST_MODEL is not set");
    spcnn_model *m = NULL;
    ck_assert_msg(spcnn_model_load(path, &m) == SPCNN_OK, "%s", spcnn_last_error_message());
    if (spcnn_model_set_option(m, SPCNN_CFG_PRECISION, 1) == SPCNN_ERR_UNSUPPORTED) {
        printf("bf16: skipped, the CPU has no AVX-512 BF16 (%s)\n", spcnn_last_error_message());
        spcnn_model_destroy(m);
        return;
    }
    const size_t h = 21, w = 26, n = 2;
    uint8_t fp32[2 * 21 * 26], raster[2 * 21 * 26], wave[2 * 21 * 26];
    generate(m, 0, n, h, w, 3, raster);
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_eq(spcnn_model_set_threads(m, threads), SPCNN_OK);
        generate(m, 1, n, h, w, 3, wave);
        ck_assert_msg(memcmp(raster, wave, sizeof wave) == 0,
                      "bf16, %d thread(s): raster and wavefront differ", threads);
    }
    double bpd[2], kl[2];
    ck_assert_int_eq(spcnn_model_evaluate(m, wave, n, h, w, &bpd[1], NULL, &kl[1]), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_PRECISION, 0), SPCNN_OK);
    generate(m, 1, n, h, w, 3, fp32);
    ck_assert_int_eq(spcnn_model_evaluate(m, wave, n, h, w, &bpd[0], NULL, &kl[0]), SPCNN_OK);
    size_t differ = 0;
    for (size_t i = 0; i < sizeof fp32; i++)
        differ += fp32[i] != wave[i];
    printf("bundled model, bf16 vs fp32 %zux%zu: %zu of %zu bytes differ; bits/dim %.5f vs "
           "%.5f, KL %.4f vs %.4f\n", h, w, differ, sizeof fp32, bpd[1], bpd[0], kl[1], kl[0]);
    ck_assert_uint_gt(differ, 0);
    ck_assert(bpd[1] != bpd[0] && fabs(bpd[1] - bpd[0]) < 0.01);
    ck_assert(kl[1] == kl[0]); /* the VAE has no bf16 layer */
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_PRECISION, 1), SPCNN_OK);
    generate(m, 1, n, h, w, 3, wave);
    ck_assert_int_eq(memcmp(raster, wave, sizeof wave), 0);
    spcnn_model_destroy(m);
}
END_TEST

/* With 2 threads the windows run on workers; an allocation failing in the calling thread's
 * worker (plans, oneDNN context, buffers) comes back as SPCNN_ERR_OUT_OF_MEMORY with the
 * worker's message, leaks nothing (ASan build), and the model generates the same bytes after. */
static void drop_plans(spcnn_model *m)
{
    ck_assert_int_eq(spcnn_model_set_threads(m, 1), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_set_threads(m, 2), SPCNN_OK);
}

/* The band pixels take their cone plans only in calls of 4 images or more (fewer go through the
 * whole network): on the bundled model, 8 images drawn at once are the same bytes as each drawn
 * alone (spcnn_model_generate_range), in both precisions, on 1 and 2 threads — the band plans
 * against the whole network, window by window. */
START_TEST(test_bundled_model_band_cones)
{
    const char *path = getenv("SPCNN_TEST_MODEL");
    ck_assert_msg(path != NULL, "SPCNN_TEST_MODEL is not set");
    spcnn_model *m = NULL;
    ck_assert_msg(spcnn_model_load(path, &m) == SPCNN_OK, "%s", spcnn_last_error_message());
    enum { N = 8, H = 12, W = 13 };
    uint8_t batch[N * H * W], alone[N * H * W];
    for (int precision = 0; precision < 2; precision++) {
        if (spcnn_model_set_option(m, SPCNN_CFG_PRECISION, precision) != SPCNN_OK) {
            printf("band cones in bf16: skipped, the CPU has no AVX-512 BF16\n");
            break;
        }
        for (int threads = 1; threads <= 2; threads++) {
            ck_assert_int_eq(spcnn_model_set_threads(m, threads), SPCNN_OK);
            ck_assert_msg(spcnn_model_generate_range(m, 0, N, NULL, H, W, 5, batch,
                                                     sizeof batch) == SPCNN_OK,
                          "%s", spcnn_last_error_message());
            for (size_t i = 0; i < N; i++)
                ck_assert_int_eq(spcnn_model_generate_range(m, i, 1, NULL, H, W, 5,
                                                            alone + i * H * W, H * W),
                                 SPCNN_OK);
            ck_assert_msg(memcmp(batch, alone, sizeof batch) == 0,
                          "precision %d, %d thread(s): 8 images at once differ from each alone",
                          precision, threads);
        }
    }
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_worker_allocation_failure)
{
    spcnn_model *m = tiny_model(2);
    uint8_t want[2 * 16 * 20], got[2 * 16 * 20];
    drop_plans(m);
    spcnn__alloc_fail_after(-1);
    generate(m, 1, 2, 16, 20, 4, want);
    long sites = spcnn__alloc_fail_after(-1);
    ck_assert_int_gt(sites, 10);
    int failed = 0;
    for (long k = 0; k < sites; k += 1 + sites / 50) {
        drop_plans(m);
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn_model_generate_images(m, 2, NULL, 16, 20, 4, got, sizeof got);
        spcnn__alloc_fail_after(-1);
        ck_assert_msg(st == SPCNN_ERR_OUT_OF_MEMORY, "site %ld: status %d (%s)", k, st,
                      spcnn_last_error_message());
        ck_assert_msg(strstr(spcnn_last_error_message(), "memory") != NULL, "site %ld: '%s'", k,
                      spcnn_last_error_message());
        failed++;
    }
    printf("worker allocation failures: %d sites of %ld failed cleanly\n", failed, sites);
    generate(m, 1, 2, 16, 20, 4, got);
    ck_assert_int_eq(memcmp(want, got, sizeof want), 0);
    spcnn_model_destroy(m);
}
END_TEST

/* Two models with threads = 2, each driven by its own thread of an OpenMP parallel region: a
 * caller already inside a parallel region gets a team of one worker, which does all the work,
 * and distinct models do not disturb each other. Same bytes as one call at a time. */
START_TEST(test_generate_inside_parallel_region)
{
    spcnn_model *a = tiny_model(2);
    char path[512];
    snprintf(path, sizeof path, "%s/test_sample_nested.spcnn", tu_tmpdir());
    ck_assert_int_eq(spcnn_model_save(a, path, 0), SPCNN_OK);
    spcnn_model *models[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(spcnn_model_load(path, &models[i]), SPCNN_OK);
        ck_assert_int_eq(spcnn_model_set_threads(models[i], 2), SPCNN_OK);
    }
    enum { NH = 14, NW = 19 };
    uint8_t want[2][2 * NH * NW], got[2][2 * NH * NW];
    for (int i = 0; i < 2; i++)
        generate(models[i], 1, 2, NH, NW, (uint64_t)(20 + i), want[i]);
    spcnn_status st[2] = {SPCNN_ERR_INTERNAL, SPCNN_ERR_INTERNAL};
#pragma omp parallel num_threads(2)
    {
        int i = omp_get_thread_num();
        if (i < 2)
            st[i] = spcnn_model_generate_images(models[i], 2, NULL, NH, NW, (uint64_t)(20 + i),
                                                got[i], sizeof got[i]);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(st[i], SPCNN_OK);
        ck_assert_msg(memcmp(want[i], got[i], sizeof want[i]) == 0,
                      "model %d: a call inside a parallel region gives other bytes", i);
        spcnn_model_destroy(models[i]);
    }
    remove(path);
    spcnn_model_destroy(a);
}
END_TEST

/* Forward-only layers keep the weights reordered for oneDNN in their context (shared by every
 * plan, and per worker): after more training steps, generation and likelihood must use the new
 * weights — the same bytes as a fresh model loaded from the trained one's file. */
START_TEST(test_generation_follows_training)
{
    for (int threads = 1; threads <= 2; threads++) {
        spcnn_model *m = tiny_model(threads);
        enum { TH = 12, TW = 15 };
        uint8_t before[2 * TH * TW], after[2 * TH * TW], fresh[2 * TH * TW], image[S * S];
        float nll_after[S * S], nll_fresh[S * S];
        for (size_t i = 0; i < sizeof image; i++)
            image[i] = (uint8_t)(i % S > 3 && i % S < 8 ? 220 : 10);
        generate(m, 1, 2, TH, TW, 8, before);
        ck_assert_int_eq(spcnn_model_log_prob(m, image, S, S, NULL, nll_after, S * S), SPCNN_OK);
        uint8_t batch[8 * S * S];
        for (int step = 0; step < 20; step++) {
            for (size_t i = 0; i < sizeof batch; i++)
                batch[i] = (uint8_t)((i * 7 + (size_t)step) % 256);
            ck_assert_int_eq(spcnn_model_train_step(m, batch, 8, S, S, NULL), SPCNN_OK);
        }
        generate(m, 1, 2, TH, TW, 8, after);
        ck_assert_int_eq(spcnn_model_log_prob(m, image, S, S, NULL, nll_after, S * S), SPCNN_OK);
        char path[512];
        snprintf(path, sizeof path, "%s/test_sample_follow.spcnn", tu_tmpdir());
        ck_assert_int_eq(spcnn_model_save(m, path, 0), SPCNN_OK);
        spcnn_model *f = NULL;
        ck_assert_int_eq(spcnn_model_load(path, &f), SPCNN_OK);
        ck_assert_int_eq(spcnn_model_set_threads(f, threads), SPCNN_OK);
        generate(f, 1, 2, TH, TW, 8, fresh);
        ck_assert_int_eq(spcnn_model_log_prob(f, image, S, S, NULL, nll_fresh, S * S), SPCNN_OK);
        size_t changed = 0;
        for (size_t i = 0; i < sizeof before; i++)
            changed += before[i] != after[i];
        printf("%d thread(s): %zu of %zu bytes changed by 20 training steps\n", threads, changed,
               sizeof before);
        ck_assert_uint_gt(changed, 0);
        ck_assert_msg(memcmp(after, fresh, sizeof after) == 0,
                      "%d thread(s): generation after training used stale weights", threads);
        ck_assert_msg(memcmp(nll_after, nll_fresh, sizeof nll_after) == 0,
                      "%d thread(s): log_prob after training used stale weights", threads);
        remove(path);
        spcnn_model_destroy(f);
        spcnn_model_destroy(m);
    }
}
END_TEST

START_TEST(test_sample_patch_matches_image)
{
    spcnn_model *m = tiny_model(1);
    float z[L] = {0.5f, -1.0f, 0.25f, 2.0f};
    uint8_t image[20 * 24], patch[64];
    ck_assert_int_eq(spcnn_model_generate_image(m, z, 20, 24, 4, image, sizeof image), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_sample_patch(m, z, 20, 24, 0, 0, 4, patch, sizeof patch),
                     SPCNN_OK);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            ck_assert_msg(patch[r * 8 + c] == image[r * 24 + c], "pixel (%d, %d): %d vs %d", r,
                          c, patch[r * 8 + c], image[r * 24 + c]);
    /* Elsewhere on the grid the patch is a different one, and it is deterministic. */
    uint8_t p2[64], p3[64];
    ck_assert_int_eq(spcnn_model_sample_patch(m, z, 20, 24, 12, 16, 4, p2, 64), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_sample_patch(m, z, 20, 24, 12, 16, 4, p3, 64), SPCNN_OK);
    ck_assert_int_eq(memcmp(p2, p3, 64), 0);
    ck_assert_int_ne(memcmp(p2, patch, 64), 0);
    ck_assert_int_eq(spcnn_model_sample_patch(m, z, 20, 24, 13, 0, 4, p2, 64),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_sample_patch(m, z, 20, 24, 0, 0, 4, p2, 63),
                     SPCNN_ERR_BUFFER_TOO_SMALL);
    spcnn_model_destroy(m);
}
END_TEST

typedef struct rows_seen {
    size_t next[2];
    size_t calls;
    size_t stop_after;
    uint8_t *copy;
    size_t h;
} rows_seen;

static int sink(const uint8_t *row, size_t image, size_t y, size_t width, void *user)
{
    rows_seen *s = user;
    ck_assert_uint_lt(image, 2);
    ck_assert_uint_eq(y, s->next[image]); /* rows arrive in order */
    s->next[image]++;
    memcpy(s->copy + (image * s->h + y) * width, row, width);
    return ++s->calls == s->stop_after;
}

START_TEST(test_stream)
{
    for (int threads = 1; threads <= 2; threads++) { /* 2: the rows of the workers' steps */
        spcnn_model *m = tiny_model(threads);
        const size_t h = 15, w = 11;
        uint8_t buffered[2 * 15 * 11], streamed[2 * 15 * 11];
        generate(m, 1, 2, h, w, 3, buffered);
        rows_seen s = {{0, 0}, 0, 0, streamed, h};
        ck_assert_int_eq(spcnn_model_generate_stream(m, 2, NULL, h, w, 3, sink, &s), SPCNN_OK);
        ck_assert_uint_eq(s.next[0], h);
        ck_assert_uint_eq(s.next[1], h);
        ck_assert_int_eq(memcmp(buffered, streamed, sizeof buffered), 0);
        rows_seen stop = {{0, 0}, 0, 5, streamed, h};
        ck_assert_int_eq(spcnn_model_generate_stream(m, 2, NULL, h, w, 3, sink, &stop),
                         SPCNN_ERR_CANCELLED);
        ck_assert_uint_eq(stop.calls, 5);
        /* A cancelled generation leaves the model as it was. */
        memset(streamed, 0, sizeof streamed);
        generate(m, 1, 2, h, w, 3, streamed);
        ck_assert_int_eq(memcmp(buffered, streamed, sizeof buffered), 0);
        spcnn_model_destroy(m);
    }
}
END_TEST

/* Images 2, 3 and 4 of a seed's sequence, made alone, are those of one call for 5 images,
 * with drawn z and with given codes (the ranks of `mpirun spcnn sample` rely on it). */
START_TEST(test_range)
{
    spcnn_model *m = tiny_model(1);
    const size_t h = 10, w = 9, hw = 10 * 9;
    uint8_t all[5 * 10 * 9], part[3 * 10 * 9];
    generate(m, 1, 5, h, w, 7, all);
    ck_assert_int_eq(spcnn_model_generate_range(m, 2, 3, NULL, h, w, 7, part, sizeof part),
                     SPCNN_OK);
    ck_assert_int_eq(memcmp(all + 2 * hw, part, sizeof part), 0);
    float z[5 * 60];
    double latent = 0;
    spcnn_config *cfg;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_get_config(m, cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_LATENT_SIZE, &latent), SPCNN_OK);
    spcnn_config_destroy(cfg);
    ck_assert(latent <= 60);
    ck_assert_int_eq(spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, 5, 7, z, sizeof z / 4),
                     SPCNN_OK);
    for (size_t i = 0; i < 5 * (size_t)latent; i++)
        z[i] *= 0.5f; /* codes of their own */
    ck_assert_int_eq(spcnn_model_generate_images(m, 5, z, h, w, 7, all, sizeof all), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_generate_range(m, 2, 3, z + 2 * (size_t)latent, h, w, 7, part,
                                                sizeof part),
                     SPCNN_OK);
    ck_assert_int_eq(memcmp(all + 2 * hw, part, sizeof part), 0);
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_reconstruct)
{
    spcnn_model *m = tiny_model(1);
    uint8_t in[S * S], a[24 * 24], b[24 * 24];
    for (int i = 0; i < S * S; i++)
        in[i] = (uint8_t)(i % S > 3 && i % S < 8 ? 220 : 5);
    ck_assert_int_eq(spcnn_model_reconstruct(m, in, S, S, 24, 24, 1, a, sizeof a), SPCNN_OK);
    /* The same as generating with the encoder mean. */
    float z[L];
    ck_assert_int_eq(spcnn_model_encode(m, in, S, S, z, L), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_generate_image(m, z, 24, 24, 1, b, sizeof b), SPCNN_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    spcnn_model_destroy(m);
}
END_TEST

static int cancel_early(double fraction, void *user)
{
    (void)user;
    return fraction > 0.2;
}

START_TEST(test_misuse)
{
    spcnn_model *m = tiny_model(1);
    uint8_t out[64 * 64];
    ck_assert_int_eq(spcnn_model_generate_image(NULL, NULL, 8, 8, 1, out, 64),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_generate_image(m, NULL, 7, 8, 1, out, 64),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_generate_image(m, NULL, 8, 8, 1, out, 63),
                     SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_int_eq(spcnn_model_generate_image(m, NULL, 8, 8, 1, NULL, 64),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_generate_image(m, NULL, 100000, 100000, 1, out, sizeof out),
                     SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_int_eq(spcnn_model_generate_images(m, 0, NULL, 8, 8, 1, out, 64),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_generate_images(m, (size_t)1 << 40, NULL, 1000000, 1000000, 1,
                                                 out, sizeof out),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_generate_stream(m, 1, NULL, 8, 8, 1, NULL, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    float bad_z[L] = {0, 1.0f / 0.0f, 0, 0};
    ck_assert_int_eq(spcnn_model_generate_image(m, bad_z, 8, 8, 1, out, 64),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_NR_FILTERS, 4),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "fixed when the model is created"));
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_SCHEDULE, 2), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_TEMPERATURE, -1),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_model_set_progress(m, cancel_early, NULL), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_generate_image(m, NULL, 16, 16, 1, out, sizeof out),
                     SPCNN_ERR_CANCELLED);
    ck_assert_int_eq(spcnn_model_set_threads(m, 2), SPCNN_OK); /* cancelled between steps */
    ck_assert_int_eq(spcnn_model_generate_image(m, NULL, 16, 16, 1, out, sizeof out),
                     SPCNN_ERR_CANCELLED);
    spcnn_model_destroy(m);
}
END_TEST

/* The multiply-adds a generation needs (bench_sample's share of peak), taken apart by image
 * size: 9×9 − 9×8 − 8×9 + 8×8 leaves one corner pixel, 9×8 − 8×8 a corner and the left band's
 * kinds once each, 8×9 − 8×8 a corner and the top band's; 8×8 holds all of those once and the
 * 49 top-left pixels, which go through the whole network (so do the bands in calls of fewer
 * than 4 images; here 4). docs/design.md
 * gives the whole network and the corner plan for the default network (17.2 M and 11.6 M,
 * counted by hand from the layer shapes); the bands' cone plans must cost, on average, about
 * what the corner's does (within 1 %). */
START_TEST(test_sample_macs)
{
    spcnn_config *cfg = NULL;
    spcnn_model *m = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_create(cfg, &m), SPCNN_OK);
    spcnn_config_destroy(cfg);
    double a, rows, cols, both, c;
    ck_assert_int_eq(spcnn__model_sample_macs(m, 4, 8, 8, &a), SPCNN_OK);
    ck_assert_int_eq(spcnn__model_sample_macs(m, 4, 9, 8, &rows), SPCNN_OK);
    ck_assert_int_eq(spcnn__model_sample_macs(m, 4, 8, 9, &cols), SPCNN_OK);
    ck_assert_int_eq(spcnn__model_sample_macs(m, 4, 9, 9, &both), SPCNN_OK);
    ck_assert_int_eq(spcnn__model_sample_macs(m, 4, 28, 28, &c), SPCNN_OK);
    const double head = 25 * 3 * 10, corner = both - rows - cols + a - head;
    const double left = rows - a - 8 * head - corner, top = cols - a - 8 * head - corner;
    const double full = (a - 64 * head - corner - left - top) / 49;
    fprintf(stderr, "multiply-adds per window: whole network %.0f, corner %.0f, top band %.0f, "
                    "left band %.0f (means of 7 kinds)\n", full, corner, top / 7, left / 7);
    ck_assert_msg(fabs(full - 17.19e6) < 0.05e6 && fabs(corner - 11.58e6) < 0.05e6,
                  "per window: whole network %.0f, corner plan %.0f", full, corner);
    /* Measured: top band 10.86 M, left band 11.62 M (the u stream's cones reach one column
     * further right per layer, which the corner's cannot). */
    ck_assert(top / 7 <= corner && left / 7 <= 1.01 * corner);
    ck_assert(fabs(c - (441 * corner + 21 * (top + left) + 49 * full + 784 * head)) < 1e-6 * c);
    ck_assert_int_eq(spcnn__model_sample_macs(m, 3, 28, 28, &a), SPCNN_OK); /* bands: whole */
    ck_assert(fabs(a - (441 * corner + 343 * full + 784 * head)) < 1e-6 * a);
    ck_assert_int_eq(spcnn__model_sample_macs(m, 4, 4, 28, &a), SPCNN_ERR_INVALID_ARGUMENT);
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_temperature)
{
    /* The mixture tests prove what the temperature does to one pixel; here: it reaches the
     * sampler, and setting it back restores the exact bytes. */
    spcnn_model *m = tiny_model(1);
    uint8_t a[2 * 16 * 16], b[2 * 16 * 16], c[2 * 16 * 16];
    generate(m, 1, 2, 16, 16, 1, a);
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_TEMPERATURE, 0.5), SPCNN_OK);
    generate(m, 1, 2, 16, 16, 1, b);
    ck_assert_int_eq(spcnn_model_set_option(m, SPCNN_CFG_TEMPERATURE, 1), SPCNN_OK);
    generate(m, 1, 2, 16, 16, 1, c);
    size_t differ = 0;
    for (size_t i = 0; i < sizeof a; i++)
        differ += a[i] != b[i];
    printf("temperature 0.5 vs 1: %zu of %zu bytes differ\n", differ, sizeof a);
    ck_assert_uint_gt(differ, 0);
    ck_assert_int_eq(memcmp(a, c, sizeof a), 0);
    spcnn_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sample");
    TCase *tc = tcase_create("sample");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_raster_equals_wavefront);
    tcase_add_test(tc, test_threads_and_seeds);
    tcase_add_test(tc, test_bundled_model_raster_equals_wavefront);
    tcase_add_test(tc, test_bundled_model_bf16);
    tcase_add_test(tc, test_worker_allocation_failure);
    tcase_add_test(tc, test_generate_inside_parallel_region);
    tcase_add_test(tc, test_generation_follows_training);
    tcase_add_test(tc, test_sample_patch_matches_image);
    tcase_add_test(tc, test_stream);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_reconstruct);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_temperature);
    tcase_add_test(tc, test_sample_macs);
    tcase_add_test(tc, test_bundled_model_band_cones);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
