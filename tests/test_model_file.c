/* Model files (lib/model/model_file.c, docs/file-format.md): exact round trips with and without
 * training state, every kind of damage rejected with the right status and never a crash or a
 * leak, atomic saves, and allocation failure at every site. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "model/model_file.h"
#include "testutil.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_model_file_%s", tu_tmpdir(), name);
}

static void assert_message_has(const char *needle)
{
    const char *msg = spcnn_last_error_message();
    ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Recompute the trailing checksum after a deliberate edit, so the edit reaches the checks
 * behind the checksum. */
static void reseal(unsigned char *b, size_t n)
{
    tu_put_le32(b + n - 4, (uint32_t)crc32_z(0, b, n - 4));
}

/* The tiny network of the tests: m 8, F 4, R 1, K 2, L 3, VAE input 8 (smallest: F 1, K 1,
 * L 1, for the loops that damage a file thousands of times), and some non-default values so
 * the round trip of the configuration means something. */
static spcnn_model *make_model(uint64_t seed, int smallest)
{
    spcnn_config *cfg = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_PATCH_SIZE, 8), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_NR_FILTERS, smallest ? 1 : 4), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_NR_RESNET, 1), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_NR_MIX, smallest ? 1 : 2), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_LATENT_SIZE, smallest ? 1 : 3), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_IMAGE_SIZE, 8), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_DROPOUT, 0.25), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_LEARNING_RATE, 3.0e-4 / 7), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_BATCH_SIZE, 17), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_SEED, (double)seed), SPCNN_OK);
    spcnn_model *m = NULL;
    spcnn_status st = spcnn__model_new(cfg, &m);
    ck_assert_msg(st == SPCNN_OK, "model_new: %s", spcnn_last_error_message());
    spcnn_config_destroy(cfg);
    return m;
}

static spcnn_model *tiny_model(uint64_t seed)
{
    return make_model(seed, 0);
}

/* Random contents in every row of every buffer (Adam v positive), so nothing survives a
 * round trip by being zero; step and images_seen beyond 32 bits. */
static void scramble(spcnn_model *m, uint64_t seed)
{
    tu_rng rng = {seed};
    spcnn__params *p = &m->params;
    for (int b = 0; b < SPCNN__BUF_COUNT; b++)
        for (size_t r = 0; r < p->nrows; r++)
            tu_fill_f(&rng, spcnn__params_ptr(p, (spcnn__param_buf)b, r), p->rows[r].count,
                      b == SPCNN__BUF_ADAM_V ? 1e-12 : -3, 3);
    m->optim.t = 0x100000000ull + seed;
    m->images_seen = 0x7000000000ull + 3 * seed;
}

/* Hyper-parameter records a file of m holds: one per key the library knows, less
 * train_native_share, precision and train_precision at 0 and kl_weight at 1 (not written, so
 * that 0.5 and 0.6 read the file). */
static size_t nkeys(const spcnn_model *m)
{
    size_t n = 0;
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++) {
        const double v = m->cfg.values[k];
        n += spcnn_config_key_name((spcnn_config_key)k) != NULL &&
             (k == SPCNN_CFG_TRAIN_NATIVE_SHARE || k == SPCNN_CFG_PRECISION ||
                      k == SPCNN_CFG_TRAIN_PRECISION
                  ? v != 0
              : k == SPCNN_CFG_KL_WEIGHT                                    ? v != 1
                                                                            : 1);
    }
    return n;
}

/* Bytes of header and table, from the format's definition (docs/file-format.md): what the
 * tests truncate and damage one offset at a time. */
static size_t table_end(const spcnn_model *m)
{
    size_t n = 24 + 12 * nkeys(m) + 8 + 8 + 4;
    for (size_t r = 0; r < m->params.nrows; r++)
        n += 2 + strlen(m->params.rows[r].name) + 4 + 4 + 8 * (size_t)m->params.rows[r].ndims + 8;
    return n;
}

static int row_equal(const spcnn__params *a, const spcnn__params *b, spcnn__param_buf ba,
                     spcnn__param_buf bb, size_t r)
{
    return memcmp(spcnn__params_ptr(a, ba, r), spcnn__params_ptr(b, bb, r),
                  a->rows[r].count * sizeof(float)) == 0;
}

static int all_zero(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f)
            return 0;
    return 1;
}

/* Rows, padding and scalars of a loaded model against the saved one; gradients are zero
 * after a load, and equal to the saved model's after both took the same step (stepped). */
static void compare_models_ex(const spcnn_model *saved, const spcnn_model *loaded, int training,
                              int stepped)
{
    const spcnn__params *a = &saved->params, *b = &loaded->params;
    ck_assert_uint_eq(a->nrows, b->nrows);
    ck_assert_uint_eq(a->total, b->total);
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++)
        ck_assert_msg(memcmp(&saved->cfg.values[k], &loaded->cfg.values[k], sizeof(double)) == 0,
                      "key %d: %.17g vs %.17g", k, saved->cfg.values[k], loaded->cfg.values[k]);
    ck_assert_uint_eq(saved->optim.t, loaded->optim.t);
    ck_assert_uint_eq(saved->images_seen, loaded->images_seen);
    ck_assert_int_eq(loaded->has_training_state, training);
    for (size_t r = 0; r < a->nrows; r++) {
        ck_assert_str_eq(a->rows[r].name, b->rows[r].name);
        ck_assert_msg(row_equal(a, b, SPCNN__BUF_EMA, SPCNN__BUF_EMA, r), "EMA row %zu", r);
        if (training) {
            ck_assert_msg(row_equal(a, b, SPCNN__BUF_VALUE, SPCNN__BUF_VALUE, r), "value %zu", r);
            ck_assert_msg(row_equal(a, b, SPCNN__BUF_ADAM_M, SPCNN__BUF_ADAM_M, r), "m %zu", r);
            ck_assert_msg(row_equal(a, b, SPCNN__BUF_ADAM_V, SPCNN__BUF_ADAM_V, r), "v %zu", r);
        } else {
            /* Raw weights restart from the EMA, with fresh moments. */
            ck_assert_msg(row_equal(a, b, SPCNN__BUF_EMA, SPCNN__BUF_VALUE, r), "value %zu", r);
            ck_assert(all_zero(spcnn__params_ptr(b, SPCNN__BUF_ADAM_M, r), b->rows[r].count));
            ck_assert(all_zero(spcnn__params_ptr(b, SPCNN__BUF_ADAM_V, r), b->rows[r].count));
        }
    }
    /* Padding between rows stays zero in every buffer, gradients start at zero. */
    for (int k = 0; k < SPCNN__BUF_COUNT; k++) {
        const float *buf = b->buf[k];
        size_t at = 0;
        for (size_t r = 0; r < b->nrows; r++) {
            ck_assert(all_zero(buf + at, b->rows[r].offset - at));
            at = b->rows[r].offset + b->rows[r].count;
        }
        ck_assert(all_zero(buf + at, b->total - at));
    }
    if (stepped)
        ck_assert(memcmp(a->buf[SPCNN__BUF_GRAD], b->buf[SPCNN__BUF_GRAD],
                         a->total * sizeof(float)) == 0);
    else
        ck_assert(all_zero(b->buf[SPCNN__BUF_GRAD], b->total));
}

static void compare_models(const spcnn_model *saved, const spcnn_model *loaded, int training)
{
    compare_models_ex(saved, loaded, training, 0);
}

/* The same from bytes in memory, for loops over thousands of damaged copies. */
static spcnn_status load_mem(const unsigned char *bytes, size_t size, spcnn_status want,
                             const char *what, size_t at)
{
    spcnn_model *m = (spcnn_model *)(uintptr_t)1;
    spcnn_status st = spcnn__model_file_load_memory(bytes, size, "damaged", &m);
    if (want != SPCNN_OK)
        ck_assert_msg(st == want, "%s %zu: status %d (%s), want %d", what, at, st,
                      spcnn_last_error_message(), want);
    if (st != SPCNN_OK)
        ck_assert_ptr_null(m);
    spcnn_model_destroy(m);
    return st;
}

static spcnn_status load_expect(const char *path, spcnn_status want)
{
    spcnn_model *m = (spcnn_model *)(uintptr_t)1; /* must be overwritten with NULL */
    spcnn_status st = spcnn__model_file_load(path, &m);
    ck_assert_msg(st == want, "load %s: status %d (%s), want %d", path, st,
                  spcnn_last_error_message(), want);
    if (st != SPCNN_OK)
        ck_assert_ptr_null(m);
    spcnn_model_destroy(m);
    return st;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* The CRC-32 of the file format (docs/file-format.md) by its definition, one bit at a time:
 * the reference zlib's crc32_z, which the library calls, must equal. */
static uint32_t crc32_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

START_TEST(test_crc32)
{
    /* The standard check value; random buffers of many lengths (zlib takes other paths for
     * short, unaligned and long buffers), whole and fed in random chunks as the model writer
     * feeds it. */
    const unsigned char *check = (const unsigned char *)"123456789";
    ck_assert_uint_eq(crc32_bitwise(0, check, 9), 0xCBF43926u);
    ck_assert_uint_eq(crc32_z(0, check, 9), 0xCBF43926u);
    ck_assert_uint_eq(crc32_z(crc32_z(0, check, 4), check + 4, 5), 0xCBF43926u);
    ck_assert_uint_eq(crc32_z(0, check, 0), 0);
    enum { MAX = 200000 };
    unsigned char *buf = malloc(MAX + 8);
    ck_assert_ptr_nonnull(buf);
    tu_rng rng = {20240518};
    size_t buffers = 0, mismatches = 0, longest = 0;
    for (size_t len = 0; len <= MAX; len = len < 300 ? len + 1 : len * 3 + 7) {
        longest = len;
        for (int offset = 0; offset < 8; offset += 3) {
            unsigned char *p = buf + offset; /* unaligned starts too */
            for (size_t i = 0; i < len; i++)
                p[i] = (unsigned char)tu_next(&rng);
            uint32_t want = crc32_bitwise(0, p, len);
            uint32_t whole = (uint32_t)crc32_z(0, p, len), chunked = 0;
            for (size_t at = 0; at < len;) {
                size_t step = 1 + (size_t)(tu_next(&rng) % 5000);
                step = step < len - at ? step : len - at;
                chunked = (uint32_t)crc32_z(chunked, p + at, step);
                at += step;
            }
            mismatches += (whole != want) + (chunked != want);
            buffers++;
        }
    }
    free(buf);
    printf("crc32: zlib's crc32_z equals the bitwise definition on %zu random buffers of 0 to "
           "%zu bytes, whole and in chunks: %zu mismatches\n",
           buffers, longest, mismatches);
    ck_assert_uint_eq(mismatches, 0);
}
END_TEST

START_TEST(test_roundtrip)
{
    char path[512], again[512];
    tmp_path(path, sizeof path, "roundtrip.spcnn");
    tmp_path(again, sizeof again, "roundtrip2.spcnn");
    spcnn_model *m = tiny_model(5);
    scramble(m, 11);
    for (int training = 1; training >= 0; training--) {
        ck_assert_int_eq(spcnn__model_file_save(m, path, training), SPCNN_OK);
        size_t size;
        unsigned char *bytes = tu_read_file(path, &size);
        size_t expect = table_end(m) + m->params.nvalues * 4 * (training ? 4 : 1) + 4;
        ck_assert_uint_eq(size, expect);
        ck_assert(memcmp(bytes, "SPCNNMDL", 8) == 0);
        ck_assert_uint_eq(tu_get_le32(bytes + 8), 1);
        ck_assert_uint_eq(tu_get_le32(bytes + 12), (uint32_t)training);

        spcnn_model *l = NULL;
        spcnn_status st = spcnn__model_file_load(path, &l);
        ck_assert_msg(st == SPCNN_OK, "load: %s", spcnn_last_error_message());
        compare_models(m, l, training);
        /* An EMA-only file restarts Adam at its step (optim.h). */
        ck_assert_uint_eq(l->optim.reset_at, training ? 0 : m->optim.t);

        /* Saving the loaded model writes the same bytes (with training state; without, the
         * loaded raw weights are the EMA, so compare the EMA-only file). */
        ck_assert_int_eq(spcnn__model_file_save(l, again, training), SPCNN_OK);
        size_t size2;
        unsigned char *bytes2 = tu_read_file(again, &size2);
        ck_assert_uint_eq(size2, size);
        ck_assert(memcmp(bytes, bytes2, size) == 0);
        printf("round trip %s training state: %zu rows, %zu values, %zu bytes, every buffer "
               "bit-identical, padding zero, re-save identical\n",
               training ? "with" : "without", m->params.nrows, m->params.nvalues, size);
        free(bytes);
        free(bytes2);
        spcnn_model_destroy(l);
    }
    ck_assert_int_eq(tu_temporaries_left("test_model_file_roundtrip"), 0);
    remove(path);
    remove(again);
    spcnn_model_destroy(m);
}
END_TEST

/* A model whose Adam moments were reset (resumed from an EMA-only file) keeps the reset's step
 * with its training state: format 3 with flag bit 2 and the step after images_seen, read back
 * exactly; without the training state, or once the reset is forgotten, the file is the older
 * format. A reset step of 0, beyond the step, or without the training state is refused. */
START_TEST(test_moments_reset_step)
{
    char path[512], bad[512];
    tmp_path(path, sizeof path, "reset.spcnn");
    tmp_path(bad, sizeof bad, "reset_bad.spcnn");
    spcnn_model *m = tiny_model(5);
    scramble(m, 12);
    const uint64_t step = m->optim.t;
    m->optim.reset_at = step - 7;
    ck_assert_int_eq(spcnn__model_file_save(m, path, 1), SPCNN_OK);
    size_t size;
    unsigned char *b = tu_read_file(path, &size);
    ck_assert_uint_eq(tu_get_le32(b + 8), 3);
    ck_assert_uint_eq(tu_get_le32(b + 12), 1u | 4u);
    const size_t at = 24 + 12 * nkeys(m) + 16; /* after the step and images seen */
    ck_assert_uint_eq(tu_get_le32(b + at) | (uint64_t)tu_get_le32(b + at + 4) << 32, step - 7);
    spcnn_model *l = NULL;
    ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
    ck_assert_uint_eq(l->optim.reset_at, step - 7);
    compare_models(m, l, 1);
    spcnn_model_destroy(l);

    const struct {
        uint64_t reset;
        uint32_t flags;
    } bad_cases[] = {{0, 5}, {step + 1, 5}, {step - 7, 4}};
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        unsigned char *c = malloc(size);
        memcpy(c, b, size);
        tu_put_le32(c + at, (uint32_t)bad_cases[i].reset);
        tu_put_le32(c + at + 4, (uint32_t)(bad_cases[i].reset >> 32));
        tu_put_le32(c + 12, bad_cases[i].flags);
        reseal(c, size);
        tu_write_file(bad, c, size);
        load_expect(bad, SPCNN_ERR_FORMAT);
        assert_message_has("moments reset at step");
        free(c);
    }
    free(b);

    /* EMA-only: version 1 (no prior), and loading it resets at the file's step. */
    ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_OK);
    b = tu_read_file(path, &size);
    ck_assert_uint_eq(tu_get_le32(b + 8), 1);
    free(b);
    ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
    ck_assert_uint_eq(l->optim.reset_at, step);
    spcnn_model_destroy(l);
    m->optim.reset_at = 0;
    ck_assert_int_eq(spcnn__model_file_save(m, path, 1), SPCNN_OK);
    b = tu_read_file(path, &size);
    ck_assert_uint_eq(tu_get_le32(b + 8), 1);
    free(b);
    remove(path);
    remove(bad);
    spcnn_model_destroy(m);
}
END_TEST

/* grid_resample changed what a model computes: a file written before the key existed (by
 * version 0.1, like the first bundled model) must load with the old half-pixel resampling, a
 * new model keeps its own setting through save and load. */
START_TEST(test_grid_resample_key)
{
    double v = -1;
    spcnn_config *cfg = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_GRID_RESAMPLE, &v), SPCNN_OK);
    ck_assert(v == 1); /* the default of new models: the seed's end points */

    /* A 0.1 file: a new one without the grid_resample record (0.1 wrote every key it knew,
     * in key order, and knew none after it). */
    char old_path[512];
    tmp_path(old_path, sizeof old_path, "v01.spcnn");
    spcnn_model *writer = tiny_model(3);
    ck_assert_int_eq(spcnn__model_file_save(writer, old_path, 0), SPCNN_OK);
    spcnn_model_destroy(writer);
    size_t size = 0;
    unsigned char *b = tu_read_file(old_path, &size);
    const size_t n = tu_get_le32(b + 20);
    size_t at = 24;
    while (at < 24 + 12 * n && tu_get_le32(b + at) != SPCNN_CFG_GRID_RESAMPLE)
        at += 12;
    ck_assert_uint_lt(at, 24 + 12 * n);
    memmove(b + at, b + at + 12, size - at - 12);
    size -= 12;
    tu_put_le32(b + 20, (uint32_t)(n - 1));
    reseal(b, size);
    tu_write_file(old_path, b, size);
    free(b);
    spcnn_model *old = NULL;
    ck_assert_msg(spcnn_model_load(old_path, &old) == SPCNN_OK, "%s", spcnn_last_error_message());
    ck_assert_int_eq(spcnn_model_get_config(old, cfg), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_GRID_RESAMPLE, &v), SPCNN_OK);
    ck_assert_msg(v == 0, "a 0.1 model file loaded with grid_resample %g", v);
    ck_assert_int_eq(old->grid_mode, SPCNN__GRID_HALF_PIXEL);
    spcnn_model_destroy(old);
    remove(old_path);

    char path[512];
    tmp_path(path, sizeof path, "grid_resample.spcnn");
    for (int mode = 0; mode <= 1; mode++) {
        spcnn_model *m = tiny_model(7);
        spcnn_model *l = NULL;
        ck_assert_int_eq(spcnn_model_get_config(m, cfg), SPCNN_OK);
        ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_GRID_RESAMPLE, &v), SPCNN_OK);
        ck_assert(v == 1);
        ck_assert_int_eq(m->grid_mode, SPCNN__GRID_ENDPOINTS);
        if (mode == 0) {
            spcnn_model_destroy(m);
            ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_GRID_RESAMPLE, 0), SPCNN_OK);
            ck_assert_int_eq(spcnn_model_create(cfg, &m), SPCNN_OK);
            ck_assert_int_eq(m->grid_mode, SPCNN__GRID_HALF_PIXEL);
        }
        ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_OK);
        ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
        ck_assert_int_eq(l->grid_mode, m->grid_mode);
        spcnn_model_destroy(l);
        spcnn_model_destroy(m);
    }
    printf("grid_resample: a 0.1 model file loads as 0 (half-pixel), new models default to 1 "
           "(end points), both kept through save and load\n");
    remove(path);
    spcnn_config_destroy(cfg);
}
END_TEST

START_TEST(test_truncation)
{
    char path[512], cut_path[512];
    tmp_path(path, sizeof path, "whole.spcnn");
    tmp_path(cut_path, sizeof cut_path, "cut.spcnn");
    spcnn_model *m = make_model(2, 1);
    scramble(m, 3);
    ck_assert_int_eq(spcnn__model_file_save(m, path, 1), SPCNN_OK);
    size_t size;
    unsigned char *bytes = tu_read_file(path, &size);
    size_t head = table_end(m);
    size_t section = m->params.nvalues * 4;
    ck_assert_uint_eq(size, head + 4 * section + 4);

    /* Every length up to the end of the table, about 1000 spread over the four tensor
     * sections, every length within the checksum. */
    size_t checked = 0;
    size_t stride = (size - head) / 1000 + 1;
    for (size_t cut = 0; cut < size; cut += cut < head || cut + 8 >= size ? 1 : stride) {
        load_mem(bytes, cut, SPCNN_ERR_FORMAT, "cut", cut);
        if (cut == 0) {
            assert_message_has("not a model file");
        } else {
            char where[64];
            snprintf(where, sizeof where, "truncated at byte %zu", cut);
            assert_message_has(where);
        }
        checked++;
    }
    /* The messages name the field or the section and row. */
    load_mem(bytes, head - 3, SPCNN_ERR_FORMAT, "cut", head - 3);
    assert_message_has("value count");
    const char *sections[] = {"EMA values of row 0", "raw values of row 0",
                              "Adam first moments of row 0", "Adam second moments of row 0"};
    for (size_t s = 0; s < 4; s++) {
        load_mem(bytes, head + s * section + 2, SPCNN_ERR_FORMAT, "cut", head + s * section);
        assert_message_has(sections[s]);
    }
    load_mem(bytes, size - 1, SPCNN_ERR_FORMAT, "cut", size - 1);
    assert_message_has("checksum");
    /* Through the file system as well. */
    tu_write_file(cut_path, bytes, head + 3 * section + 5);
    load_expect(cut_path, SPCNN_ERR_FORMAT);
    assert_message_has("Adam second moments");
    printf("last message: %s\n", spcnn_last_error_message());

    /* One byte too many. */
    unsigned char *longer = malloc(size + 1);
    memcpy(longer, bytes, size);
    longer[size] = 0;
    load_mem(longer, size + 1, SPCNN_ERR_FORMAT, "longer", size + 1);
    assert_message_has("unexpected bytes");
    printf("truncation: %zu cut lengths of a %zu-byte file (all %zu of header and table) -> "
           "FORMAT naming the byte\n",
           checked, size, head);
    free(longer);
    free(bytes);
    remove(path);
    remove(cut_path);
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_damage)
{
    char path[512], bad[512];
    tmp_path(path, sizeof path, "good.spcnn");
    tmp_path(bad, sizeof bad, "bad.spcnn");
    spcnn_model *m = make_model(4, 1);
    scramble(m, 6);
    ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_OK);
    size_t size;
    unsigned char *good = tu_read_file(path, &size);
    unsigned char *b = malloc(size);
    size_t head = table_end(m);

    /* One flipped byte at every offset of the header (magic to row count), every 5th of the
     * table, about 200 of the tensors, each of the checksum: always rejected, as corrupt or
     * (for the version field) as newer. */
    size_t nformat = 0, nversion = 0, nflips = 0;
    size_t fixed = 24 + 12 * nkeys(m) + 8 + 8 + 4;
    size_t stride = (size - head) / 200 + 1;
    for (size_t at = 0; at < size;
         at += at < fixed || at + 8 >= size ? 1 : at < head ? 5 : stride) {
        nflips++;
        memcpy(b, good, size);
        b[at] ^= 0x5a;
        spcnn_model *l = (spcnn_model *)(uintptr_t)1;
        spcnn_status st = spcnn__model_file_load_memory(b, size, "flipped", &l);
        ck_assert_msg(st == SPCNN_ERR_FORMAT || (st == SPCNN_ERR_VERSION && at >= 8 && at < 12),
                      "flip at %zu: status %d (%s)", at, st, spcnn_last_error_message());
        ck_assert_ptr_null(l);
        nformat += st == SPCNN_ERR_FORMAT;
        nversion += st == SPCNN_ERR_VERSION;
    }
    printf("byte flips: %zu of a %zu-byte file, %zu rejected as FORMAT, %zu as VERSION\n",
           nflips, size, nformat, nversion);

    /* Edits behind a recomputed checksum reach the semantic checks. */
    memcpy(b, good, size);
    tu_put_le32(b + 8, 4); /* version 4: refused before anything else */
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_VERSION);
    assert_message_has("newer format version 4 (this library reads up to 3)");

    memcpy(b, good, size);
    tu_put_le32(b + 8, 0);
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);

    memcpy(b, good, size);
    tu_put_le32(b + 12, 2); /* an unknown flag */
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);
    assert_message_has("unknown flags");

    memcpy(b, good, size);
    tu_put_le32(b + 24, 99); /* the first key becomes one this library does not know */
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_VERSION);
    assert_message_has("key 99");

    memcpy(b, good, size);
    tu_put_le32(b + 24 + 12, tu_get_le32(b + 24)); /* the same key twice */
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);
    assert_message_has("twice");

    /* Key 2 (nr_filters, the second pair): out of bounds, then valid but another network. */
    ck_assert_uint_eq(tu_get_le32(good + 24 + 12), SPCNN_CFG_NR_FILTERS);
    double v = 4.5;
    uint64_t bits;
    memcpy(b, good, size);
    memcpy(&bits, &v, 8);
    put64(b + 24 + 12 + 4, bits);
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);
    assert_message_has("nr_filters");
    v = 2;
    memcpy(&bits, &v, 8);
    put64(b + 24 + 12 + 4, bits);
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);
    assert_message_has("parameter row 0");
    printf("table mismatch: %s\n", spcnn_last_error_message());

    /* A key the file lacks keeps its default: drop dropout (the 7th pair; it does not change
     * the table), the model loads with dropout 0.5 and everything else as saved. */
    ck_assert_uint_eq(tu_get_le32(good + 24 + 12 * 6), SPCNN_CFG_DROPOUT);
    size_t drop_at = 24 + 12 * 6;
    unsigned char *s = malloc(size);
    memcpy(s, good, drop_at);
    memcpy(s + drop_at, good + drop_at + 12, size - drop_at - 12);
    tu_put_le32(s + 20, (uint32_t)nkeys(m) - 1);
    reseal(s, size - 12);
    tu_write_file(bad, s, size - 12);
    spcnn_model *l = NULL;
    ck_assert_int_eq(spcnn__model_file_load(bad, &l), SPCNN_OK);
    ck_assert(l->cfg.values[SPCNN_CFG_DROPOUT] == 0.5);
    l->cfg.values[SPCNN_CFG_DROPOUT] = m->cfg.values[SPCNN_CFG_DROPOUT];
    compare_models(m, l, 0);
    spcnn_model_destroy(l);
    free(s);

    /* A row's name changed; a NaN in the EMA. */
    size_t name_at = 24 + 12 * nkeys(m) + 8 + 8 + 4 + 2;
    memcpy(b, good, size);
    b[name_at] ^= 0x20;
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);
    assert_message_has("parameter row 0");
    memcpy(b, good, size);
    tu_put_le32(b + head + 4 * 7, 0x7fc00000u);
    reseal(b, size);
    tu_write_file(bad, b, size);
    load_expect(bad, SPCNN_ERR_FORMAT);
    assert_message_has("EMA values of row 0");
    assert_message_has("index 7");

    /* The intact file still loads. */
    tu_write_file(bad, good, size);
    load_expect(bad, SPCNN_OK);
    free(b);
    free(good);
    remove(path);
    remove(bad);
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_not_a_model_and_missing)
{
    char path[512];
    tmp_path(path, sizeof path, "text.spcnn");
    const char *text = "this is not a model file, just some text long enough\n";
    tu_write_file(path, text, strlen(text));
    load_expect(path, SPCNN_ERR_FORMAT);
    assert_message_has("not a model file");
    tu_write_file(path, "SPCN", 4);
    load_expect(path, SPCNN_ERR_FORMAT);
    assert_message_has("truncated");
    tu_write_file(path, "", 0);
    load_expect(path, SPCNN_ERR_FORMAT);
    assert_message_has("empty");
    remove(path);

    tmp_path(path, sizeof path, "no_such_file.spcnn");
    load_expect(path, SPCNN_ERR_IO);
    assert_message_has(path);
    load_expect(tu_tmpdir(), SPCNN_ERR_IO); /* a directory */

    spcnn_model *m = NULL;
    ck_assert_int_eq(spcnn__model_file_load(NULL, &m), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(spcnn__model_file_load(path, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    m = tiny_model(1);
    ck_assert_int_eq(spcnn__model_file_save(NULL, path, 0), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__model_file_save(m, NULL, 0), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__model_file_save(m, "", 0), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn__model_file_save(m, path, 2), SPCNN_ERR_INVALID_ARGUMENT);
    /* A NaN could be written but never read back: save refuses it. */
    m->params.buf[SPCNN__BUF_EMA][m->params.rows[1].offset] = NAN;
    ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has("non-finite");
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0);
    spcnn_model_destroy(m);
    printf("not a model, empty, short, missing, directory, NULL arguments: rejected\n");
}
END_TEST

START_TEST(test_atomic_save)
{
    char path[512], missing[512];
    tmp_path(path, sizeof path, "atomic.spcnn");
    tmp_path(missing, sizeof missing, "no_such_dir/model.spcnn");
    spcnn_model *a = tiny_model(7), *b = tiny_model(8);
    scramble(a, 1);
    scramble(b, 2);

    ck_assert_int_eq(spcnn__model_file_save(a, missing, 1), SPCNN_ERR_IO);
    assert_message_has(missing);

    /* Replace a file; then failed saves (no memory; the target is a directory) leave the
     * previous file intact and no temporary behind. */
    ck_assert_int_eq(spcnn__model_file_save(a, path, 1), SPCNN_OK);
    ck_assert_int_eq(spcnn__model_file_save(b, path, 1), SPCNN_OK);
    size_t size;
    unsigned char *before = tu_read_file(path, &size);
    spcnn__alloc_fail_after(0);
    spcnn_status st = spcnn__model_file_save(a, path, 1);
    spcnn__alloc_fail_after(-1);
    ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
    spcnn__alloc_fail_after(1); /* the writer's buffer succeeds, the temporary's name fails */
    st = spcnn__model_file_save(a, path, 1);
    spcnn__alloc_fail_after(-1);
    ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
    size_t size2;
    unsigned char *after = tu_read_file(path, &size2);
    ck_assert_uint_eq(size, size2);
    ck_assert(memcmp(before, after, size) == 0);

    char dir[512];
    tmp_path(dir, sizeof dir, "atomic_dir.spcnn");
    mkdir(dir, 0777);
    ck_assert_int_eq(spcnn__model_file_save(a, dir, 0), SPCNN_ERR_IO); /* rename fails */
    assert_message_has("rename");
    struct stat sb;
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    rmdir(dir);
    ck_assert_int_eq(tu_temporaries_left("test_model_file_atomic"), 0);

    spcnn_model *l = NULL;
    ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
    compare_models(b, l, 1);
    printf("atomic save: missing directory -> IO; replaced file holds the new model; failed "
           "saves (no memory, rename over a directory) keep the old bytes, no temporary left\n");
    spcnn_model_destroy(l);
    free(before);
    free(after);
    remove(path);
    spcnn_model_destroy(a);
    spcnn_model_destroy(b);
}
END_TEST

/* The host part of temporary names, as lib/io/atomic_file.c makes it: FNV-1a of the host
 * name. */
static unsigned host_tag(void)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        name[0] = '\0';
    name[sizeof name - 1] = '\0';
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    return h;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* What a process killed while saving leaves behind (where the temporary is named during the
 * whole write, or in the moment between naming and renaming it) is removed by the next save of
 * the same file, and nothing else is: not a running process's temporary, not another host's,
 * not another file's. */
START_TEST(test_stale_temporaries)
{
    char path[512];
    tmp_path(path, sizeof path, "stale.spcnn");
    pid_t child = fork(); /* a process id that is certainly not running any more */
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    const unsigned host = host_tag();
    char names[5][600];
    snprintf(names[0], sizeof names[0], "%s.tmp-%08x-%ld-5", path, host, (long)child);
    snprintf(names[1], sizeof names[1], "%s.tmp-%08x-%ld-6", path, host, (long)getpid());
    snprintf(names[2], sizeof names[2], "%s.tmp-%08x-%ld-7", path, host ^ 1u, (long)child);
    snprintf(names[3], sizeof names[3], "%sx.tmp-%08x-%ld-8", path, host, (long)child);
    snprintf(names[4], sizeof names[4], "%s.tmp-%ld-9", path, (long)child); /* no host part */
    for (int i = 0; i < 5; i++)
        tu_write_file(names[i], "partial", 7);
    spcnn_model *m = tiny_model(3);
    ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_OK);
    ck_assert_msg(!exists(names[0]), "the dead process's temporary is still there");
    for (int i = 1; i < 5; i++)
        ck_assert_msg(exists(names[i]), "%s was removed", names[i]);
    load_expect(path, SPCNN_OK);
    for (int i = 1; i < 5; i++)
        remove(names[i]);
    ck_assert_int_eq(tu_temporaries_left("test_model_file_stale"), 0);
    remove(path);
    spcnn_model_destroy(m);
    printf("stale temporaries: a dead process's removed by the next save; a running process's, "
           "another host's, another file's and an unrecognised name kept\n");
}
END_TEST

START_TEST(test_alloc_failure)
{
    char path[512];
    tmp_path(path, sizeof path, "alloc.spcnn");
    spcnn_model *m = tiny_model(9);
    scramble(m, 9);
    ck_assert_int_eq(spcnn__model_file_save(m, path, 1), SPCNN_OK);

    spcnn__alloc_fail_after(-1);
    spcnn_model *l = NULL;
    ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
    long sites = spcnn__alloc_fail_after(-1);
    spcnn_model_destroy(l);
    ck_assert_int_gt(sites, 2);
    for (long k = 0; k < sites; k++) {
        l = (spcnn_model *)(uintptr_t)1;
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn__model_file_load(path, &l);
        spcnn__alloc_fail_after(-1);
        ck_assert_msg(st == SPCNN_ERR_OUT_OF_MEMORY, "site %ld: status %d (%s)", k, st,
                      spcnn_last_error_message());
        ck_assert_ptr_null(l);
    }
    ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
    compare_models(m, l, 1);
    spcnn_model_destroy(l);

    spcnn__alloc_fail_after(-1);
    ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_OK);
    long save_sites = spcnn__alloc_fail_after(-1);
    for (long k = 0; k < save_sites; k++) {
        spcnn__alloc_fail_after(k);
        spcnn_status st = spcnn__model_file_save(m, path, 0);
        spcnn__alloc_fail_after(-1);
        ck_assert_int_eq(st, SPCNN_ERR_OUT_OF_MEMORY);
    }
    ck_assert_int_eq(tu_temporaries_left("test_model_file_alloc"), 0);
    printf("allocation failure: each of %ld load sites and %ld save sites -> OUT_OF_MEMORY, "
           "out NULL\n",
           sites, save_sites);
    remove(path);
    spcnn_model_destroy(m);
}
END_TEST

START_TEST(test_resume_exact)
{
    /* With training state, the next step after a load is bit-identical to the step the saving
     * model takes; without, evaluation (EMA weights) is identical. */
    char path[512];
    tmp_path(path, sizeof path, "resume.spcnn");
    spcnn_model *m = tiny_model(12);
    enum { N = 2, S = 8 };
    uint8_t images[N * S * S];
    tu_rng rng = {77};
    for (size_t i = 0; i < sizeof images; i++)
        images[i] = (uint8_t)(tu_next(&rng) >> 56);
    double bpd_m, bpd_l;
    spcnn_status st = spcnn_model_train_step(m, images, N, S, S, &bpd_m);
    ck_assert_msg(st == SPCNN_OK, "train_step: %s", spcnn_last_error_message());
    ck_assert_int_eq(spcnn__model_file_save(m, path, 1), SPCNN_OK);
    spcnn_model *l = NULL;
    ck_assert_int_eq(spcnn__model_file_load(path, &l), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_train_step(m, images, N, S, S, &bpd_m), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_train_step(l, images, N, S, S, &bpd_l), SPCNN_OK);
    ck_assert_msg(memcmp(&bpd_m, &bpd_l, sizeof bpd_m) == 0, "%.17g vs %.17g", bpd_m, bpd_l);
    compare_models_ex(m, l, 1, 1);

    ck_assert_int_eq(spcnn__model_file_save(m, path, 0), SPCNN_OK);
    spcnn_model *e = NULL;
    ck_assert_int_eq(spcnn__model_file_load(path, &e), SPCNN_OK);
    float nll_m[S * S], nll_e[S * S];
    st = spcnn_model_log_prob(m, images, S, S, NULL, nll_m, S * S);
    ck_assert_msg(st == SPCNN_OK, "log_prob: %s", spcnn_last_error_message());
    ck_assert_int_eq(spcnn_model_log_prob(e, images, S, S, NULL, nll_e, S * S), SPCNN_OK);
    ck_assert(memcmp(nll_m, nll_e, sizeof nll_m) == 0);
    printf("resume: step after load bit-identical (bits/dim %.6f, every buffer equal); "
           "EMA-only file evaluates identically (nll[0] %.6f bits)\n",
           bpd_l, (double)nll_e[0]);
    spcnn_model_destroy(e);
    spcnn_model_destroy(l);
    spcnn_model_destroy(m);
    remove(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_file");
    TCase *tc = tcase_create("model_file");
    tcase_add_test(tc, test_crc32);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_grid_resample_key);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_damage);
    tcase_add_test(tc, test_moments_reset_step);
    tcase_add_test(tc, test_not_a_model_and_missing);
    tcase_add_test(tc, test_atomic_save);
    tcase_add_test(tc, test_stale_temporaries);
    tcase_add_test(tc, test_alloc_failure);
    tcase_add_test(tc, test_resume_exact);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
