/* Hostile sizes (docs/file-format.md, "Limits"; docs/testing.md): a file header that declares
 * huge dimensions is refused before any large allocation, and sizes whose byte counts overflow
 * size_t are refused before any work. The headers are crafted here from valid files: a model
 * file whose hyper-parameters call for a network of gigabytes, a classifier file whose shape
 * does, IDX and PNG headers that declare more data than their files hold. The library's
 * allocations are watched through the test hook spcnn__alloc_cap (lib/core/alloc.h): requests
 * above a cap fail, and the largest request is reported, so a regression fails this test with
 * a wrong status instead of allocating gigabytes. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "classifier/classifier.h"
#include "core/alloc.h"
#include "model/model.h"
#include "testutil.h"
#include "tu_model.h"

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_hostile_sizes_%s", tu_tmpdir(), name);
}

static void assert_message_has(const char *needle)
{
    const char *msg = spcnn_last_error_message();
    ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* The trailing CRC-32 of model and classifier files, recomputed after an edit so the edit
 * reaches the checks behind the checksum. */
static void reseal(unsigned char *b, size_t n)
{
    tu_put_le32(b + n - 4, (uint32_t)crc32_z(0, b, n - 4));
}

/* ---- model files -------------------------------------------------------------------------- */

static spcnn_model *tiny_model(void)
{
    return tu_model(TU_SETTINGS({SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_IMAGE_SIZE, 8},
                                {SPCNN_CFG_NR_FILTERS, 4}, {SPCNN_CFG_NR_RESNET, 1},
                                {SPCNN_CFG_NR_MIX, 2}, {SPCNN_CFG_LATENT_SIZE, 3}));
}

/* The offset of key's value in a model file's hyper-parameter records. */
static size_t key_value_at(const unsigned char *b, spcnn_config_key key)
{
    const size_t n = tu_get_le32(b + 20);
    for (size_t i = 0; i < n; i++)
        if (tu_get_le32(b + 24 + 12 * i) == (uint32_t)key)
            return 24 + 12 * i + 4;
    ck_abort_msg("key %d not in the file", (int)key);
    return 0;
}

static void set_key(unsigned char *b, spcnn_config_key key, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, 8);
    put_le64(b + key_value_at(b, key), bits);
}

/* Load bytes from a file with every allocation above cap failing; the status, and the largest
 * allocation the load asked for. */
static spcnn_status load_capped(const char *path, const void *bytes, size_t size, size_t cap,
                                size_t *largest)
{
    tu_write_file(path, bytes, size);
    spcnn_model *m = (spcnn_model *)(uintptr_t)1;
    spcnn__alloc_cap(cap);
    spcnn_status st = spcnn_model_load(path, &m);
    *largest = spcnn__alloc_cap(0);
    if (st != SPCNN_OK)
        ck_assert_ptr_null(m);
    spcnn_model_destroy(m);
    return st;
}

START_TEST(test_model_header)
{
    char path[512], bad[512];
    tmp_path(path, sizeof path, "model.spcnn");
    tmp_path(bad, sizeof bad, "bad.spcnn");
    spcnn_model *m = tiny_model();
    const float w[2] = {0.5f, 0.5f}, mu[6] = {0}, var[6] = {1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(spcnn_model_set_prior(m, 2, w, mu, var), SPCNN_OK); /* a version 2 file */
    ck_assert_int_eq(spcnn_model_save(m, path, 1), SPCNN_OK);
    spcnn_model_destroy(m);
    size_t size = 0, largest = 0;
    unsigned char *good = tu_read_file(path, &size);
    unsigned char *b = malloc(size);
    ck_assert_ptr_nonnull(b);

    /* Allocations in proportion to the file: its bytes, then five buffers of its tensors. */
    const size_t cap = 8 * size;
    ck_assert_int_eq(load_capped(bad, good, size, cap, &largest), SPCNN_OK);
    printf("model file of %zu bytes: loads with every allocation capped at %zu bytes (largest "
           "%zu)\n",
           size, cap, largest);

    /* Hyper-parameters valid one by one that call for a network of gigabytes, behind a correct
     * checksum: refused by the table check before the parameters are allocated. */
    static const struct {
        const char *what;
        spcnn_config_key key[5];
        double value[5];
    } attacks[] = {
        {"nr_filters 1024", {SPCNN_CFG_NR_FILTERS}, {1024}},
        {"image_size 256, latent_size 1024", {SPCNN_CFG_IMAGE_SIZE, SPCNN_CFG_LATENT_SIZE},
         {256, 1024}},
        {"every width at its maximum",
         {SPCNN_CFG_NR_FILTERS, SPCNN_CFG_NR_RESNET, SPCNN_CFG_NR_MIX, SPCNN_CFG_LATENT_SIZE,
          SPCNN_CFG_IMAGE_SIZE},
         {1024, 16, 64, 1024, 256}},
    };
    for (size_t a = 0; a < sizeof attacks / sizeof attacks[0]; a++) {
        memcpy(b, good, size);
        for (int k = 0; k < 5 && attacks[a].key[k]; k++)
            set_key(b, attacks[a].key[k], attacks[a].value[k]);
        reseal(b, size);
        spcnn_status st = load_capped(bad, b, size, cap, &largest);
        ck_assert_msg(st == SPCNN_ERR_FORMAT, "%s: status %d (%s)", attacks[a].what, st,
                      spcnn_last_error_message());
        assert_message_has("parameter row");
        ck_assert_uint_le(largest, size);
        printf("model header with %s: FORMAT, largest allocation %zu bytes (the file): %s\n",
               attacks[a].what, largest, spcnn_last_error_message());
    }

    /* Counts in the structure: checked against the file's length before anything is built. */
    const size_t nkeys = tu_get_le32(good + 20), rows_field = 24 + 12 * nkeys + 16;
    memcpy(b, good, size);
    tu_put_le32(b + rows_field, 1u << 20); /* the most rows a file may have */
    ck_assert_int_eq(load_capped(bad, b, size, cap, &largest), SPCNN_ERR_FORMAT);
    ck_assert_uint_le(largest, size);
    printf("row count 2^20: FORMAT (%s)\n", spcnn_last_error_message());
    tu_put_le32(b + rows_field, (1u << 20) + 1);
    ck_assert_int_eq(load_capped(bad, b, size, cap, &largest), SPCNN_ERR_FORMAT);
    assert_message_has("parameter rows");
    /* Row 0 (a name, kind, 4 dims, count): its first dimension 2^30, its count to match. */
    const size_t row0 = rows_field + 4, name_len = good[row0] | (size_t)good[row0 + 1] << 8;
    const size_t dims_at = row0 + 2 + name_len + 8;
    ck_assert_uint_eq(tu_get_le32(good + row0 + 2 + name_len + 4), 4);
    memcpy(b, good, size);
    uint64_t count = (uint64_t)1 << 30;
    put_le64(b + dims_at, count);
    for (int d = 1; d < 4; d++)
        count *= good[dims_at + 8 * d]; /* the small dims (< 256) of the tiny model */
    put_le64(b + dims_at + 32, count);
    ck_assert_int_eq(load_capped(bad, b, size, cap, &largest), SPCNN_ERR_FORMAT);
    assert_message_has("truncated");
    ck_assert_uint_le(largest, size);
    printf("a row of %llu values: FORMAT (%s)\n", (unsigned long long)count,
           spcnn_last_error_message());
    /* The prior block: 1024 components of 4096 dimensions, the most a file may declare. */
    const size_t prior_at = size - 4 - (8 + 4 * (2 + 2 * 2 * 3));
    ck_assert_uint_eq(tu_get_le32(good + prior_at), 2);
    memcpy(b, good, size);
    tu_put_le32(b + prior_at, 1024);
    tu_put_le32(b + prior_at + 4, 4096);
    ck_assert_int_eq(load_capped(bad, b, size, cap, &largest), SPCNN_ERR_FORMAT);
    assert_message_has("truncated");
    ck_assert_uint_le(largest, size);
    printf("prior of 1024 x 4096: FORMAT (%s)\n", spcnn_last_error_message());
    free(b);
    free(good);
    remove(path);
    remove(bad);
}
END_TEST

/* ---- classifier files --------------------------------------------------------------------- */

START_TEST(test_classifier_header)
{
    char path[512], bad[512];
    tmp_path(path, sizeof path, "lenet.spcls");
    tmp_path(bad, sizeof bad, "bad.spcls");
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(16, 16, 4, 1, &c), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_save(c, path), SPCNN_OK);
    spcnn_classifier_destroy(c);
    size_t size = 0;
    unsigned char *good = tu_read_file(path, &size);
    unsigned char *b = malloc(size);
    ck_assert_ptr_nonnull(b);
    const size_t cap = 8 * size;

    /* Shape fields (height, width, classes, conv1, conv2, fc1, fc2 at byte 20): each within
     * its bounds, together a LeNet of about 4 TB. */
    static const struct {
        const char *what;
        int field[4];
        uint32_t value[4];
    } attacks[] = {
        {"1024 x 1024 images", {0, 1}, {1024, 1024}},
        {"4096 channels and units", {3, 4, 5, 6}, {4096, 4096, 4096, 4096}},
        {"both", {0, 1, 4, 5}, {1024, 1024, 4096, 4096}},
    };
    for (size_t a = 0; a < sizeof attacks / sizeof attacks[0]; a++) {
        memcpy(b, good, size);
        for (int k = 0; k < 4; k++)
            if (attacks[a].value[k])
                tu_put_le32(b + 20 + 4 * (size_t)attacks[a].field[k], attacks[a].value[k]);
        reseal(b, size);
        tu_write_file(bad, b, size);
        c = (spcnn_classifier *)(uintptr_t)1;
        spcnn__alloc_cap(cap);
        spcnn_status st = spcnn_classifier_load(bad, &c);
        size_t largest = spcnn__alloc_cap(0);
        ck_assert_msg(st == SPCNN_ERR_FORMAT, "%s: status %d (%s)", attacks[a].what, st,
                      spcnn_last_error_message());
        ck_assert_ptr_null(c);
        assert_message_has("parameter row");
        ck_assert_uint_le(largest, size);
        printf("classifier header with %s: FORMAT, largest allocation %zu bytes (the file)\n",
               attacks[a].what, largest);
    }
    /* The untouched file loads under the same cap. */
    spcnn__alloc_cap(cap);
    ck_assert_int_eq(spcnn_classifier_load(path, &c), SPCNN_OK);
    size_t largest = spcnn__alloc_cap(0);
    printf("classifier file of %zu bytes: loads with allocations capped at %zu (largest %zu)\n",
           size, cap, largest);
    spcnn_classifier_destroy(c);
    free(b);
    free(good);
    remove(path);
    remove(bad);
}
END_TEST

/* ---- IDX files ---------------------------------------------------------------------------- */

static size_t idx_header(unsigned char *out, const uint32_t *dims, int ndims)
{
    out[0] = 0, out[1] = 0, out[2] = 0x08, out[3] = (unsigned char)ndims;
    for (int i = 0; i < ndims && i < 3; i++)
        put_be32(out + 4 + 4 * i, dims[i]);
    return 4 + 4 * (size_t)ndims;
}

START_TEST(test_idx_header)
{
    /* The library allocates nothing for IDX files (the caller's buffer takes the data), so
     * what matters is that a query never reports sizes the file does not hold: a caller that
     * allocates count × height × width bytes from them allocates at most the file's size. */
    char path[512];
    tmp_path(path, sizeof path, "hostile.idx");
    static const struct {
        uint32_t dims[3];
        int ndims;
        const char *message;
    } attacks[] = {
        {{60000, 28, 28}, 3, "truncated: expected 47040000 bytes of data, found 16"},
        {{2048, 1024, 1025}, 3, "more than 2147483648 elements"},
        {{100000000, 100000000, 100000000}, 3, "more than 2147483648 elements"},
        {{0xffffffffu, 1, 1}, 3, "dimension 0 is 4294967295"},
        {{2147483648u}, 1, "dimension 0 is 2147483648"},
    };
    for (size_t a = 0; a < sizeof attacks / sizeof attacks[0]; a++) {
        unsigned char file[32] = {0};
        size_t n = idx_header(file, attacks[a].dims, attacks[a].ndims);
        tu_write_file(path, file, n + 16); /* 16 bytes of data */
        size_t count = 7, h = 7, w = 7;
        ck_assert_int_eq(spcnn_idx_read(path, NULL, 0, &count, &h, &w), SPCNN_ERR_FORMAT);
        assert_message_has(attacks[a].message);
        ck_assert(count == 7 && h == 7 && w == 7); /* no sizes reported */
        printf("idx header %u x %u x %u: FORMAT (%s)\n", attacks[a].dims[0],
               attacks[a].ndims > 1 ? attacks[a].dims[1] : 1,
               attacks[a].ndims > 2 ? attacks[a].dims[2] : 1, spcnn_last_error_message());
    }
    remove(path);
}
END_TEST

/* ---- PNG files ---------------------------------------------------------------------------- */

/* A PNG whose IHDR claims height × width at a bit depth and colour type, then an empty IDAT. */
static size_t header_only_png(unsigned char *out, uint32_t height, uint32_t width, int depth,
                              int colour)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    unsigned char *ihdr = out + 8;
    put_be32(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    put_be32(ihdr + 8, width);
    put_be32(ihdr + 12, height);
    ihdr[16] = (unsigned char)depth, ihdr[17] = (unsigned char)colour;
    ihdr[18] = ihdr[19] = ihdr[20] = 0;
    put_be32(ihdr + 21, (uint32_t)crc32(0, ihdr + 4, 17));
    unsigned char *idat = ihdr + 25;
    put_be32(idat, 0);
    memcpy(idat + 4, "IDAT", 4);
    put_be32(idat + 8, (uint32_t)crc32(0, idat + 4, 4));
    return 8 + 25 + 12;
}

START_TEST(test_png_header)
{
    char path[512];
    tmp_path(path, sizeof path, "hostile.png");
    unsigned char file[64];
    size_t h = 0, w = 0;
    /* Within the side and pixel limits, but no 45-byte file holds them: deflate compresses at
     * most 1032:1. */
    static const struct {
        uint32_t h, w;
        int depth, colour;
    } attacks[] = {
        {4000, 1000000, 8, 0},  /* 4e9 pixels, just under the 2^32 limit */
        {65535, 65535, 1, 0},   /* 1-bit gray: 537 MB of data */
        {1000, 1000, 16, 6},    /* 16-bit RGBA: 8 MB */
        {1, 1000000, 8, 2},     /* an RGB row of 3 MB */
    };
    for (size_t a = 0; a < sizeof attacks / sizeof attacks[0]; a++) {
        tu_write_file(path, file, header_only_png(file, attacks[a].h, attacks[a].w,
                                                  attacks[a].depth, attacks[a].colour));
        h = w = 7;
        spcnn_status st = spcnn_png_read(path, NULL, 0, &h, &w);
        ck_assert_msg(st == SPCNN_ERR_FORMAT, "%u x %u: status %d (%s)", attacks[a].h,
                      attacks[a].w, st, spcnn_last_error_message());
        assert_message_has("more than a file of 45 bytes can hold");
        ck_assert(h == 7 && w == 7); /* no sizes reported */
        printf("png header %u x %u (depth %d, colour type %d): FORMAT (%s)\n", attacks[a].h,
               attacks[a].w, attacks[a].depth, attacks[a].colour, spcnn_last_error_message());
    }
    /* A plausible claim still reads its size (the data is then found missing). */
    tu_write_file(path, file, header_only_png(file, 100, 300, 1, 0));
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_OK);
    ck_assert(h == 100 && w == 300);
    /* A real image that compresses as well as any (all black, 2000 × 2000 = 4 MB in a few KB)
     * reads. */
    enum { SIDE = 2000 };
    uint8_t *black = calloc(SIDE * SIDE, 1);
    ck_assert_ptr_nonnull(black);
    ck_assert_int_eq(spcnn_png_write(path, black, SIDE, SIDE), SPCNN_OK);
    size_t bytes = 0;
    free(tu_read_file(path, &bytes));
    memset(black, 1, SIDE * SIDE);
    ck_assert_int_eq(spcnn_png_read(path, black, SIDE * SIDE, &h, &w), SPCNN_OK);
    ck_assert(h == SIDE && w == SIDE && black[SIDE * SIDE - 1] == 0);
    printf("an all-black %dx%d PNG of %zu bytes (%.0f:1) reads\n", SIDE, SIDE, bytes,
           (double)SIDE * SIDE / (double)bytes);
    free(black);
    remove(path);
}
END_TEST

/* ---- sizes of calls ----------------------------------------------------------------------- */

static int sink(const uint8_t *row, size_t image, size_t y, size_t width, void *user)
{
    (void)row, (void)image, (void)y, (void)width, (void)user;
    return 0;
}

/* A call refused with status want, and without a single allocation. */
#define REFUSED(want, call)                                                                   \
    do {                                                                                      \
        spcnn__alloc_fail_after(-1);                                                          \
        spcnn_status st_ = (call);                                                            \
        long made_ = spcnn__alloc_fail_after(-1);                                             \
        ck_assert_msg(st_ == (want), "%s: status %d (%s), want %d", #call, st_,               \
                      spcnn_last_error_message(), (want));                                    \
        ck_assert_msg(made_ == 0, "%s: %ld allocations before refusing", #call, made_);       \
        refused++;                                                                            \
    } while (0)

START_TEST(test_call_sizes)
{
    spcnn_model *m = tiny_model();
    uint8_t px[64] = {0};
    float f[64] = {0};
    const size_t big = 1000000, over = (size_t)1 << 32, huge = SIZE_MAX;
    int refused = 0;
    const spcnn_status INVALID = SPCNN_ERR_INVALID_ARGUMENT, SMALL = SPCNN_ERR_BUFFER_TOO_SMALL;
    /* 2^32 × 2^32 wraps to 0 in 64 bits; SIZE_MAX sides overflow anything. */
    REFUSED(INVALID, spcnn_model_generate_image(m, NULL, over, over, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_generate_image(m, NULL, huge, 8, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_generate_images(m, huge / 64 + 1, NULL, 8, 8, 1, px, 64));
    REFUSED(INVALID, spcnn_model_generate_images(m, big + 1, NULL, 8, 8, 1, px, sizeof px));
    /* The largest valid request: 10^18 bytes, which does not overflow, but is no buffer. */
    REFUSED(SMALL, spcnn_model_generate_images(m, big, NULL, big, big, 1, px, sizeof px));
    REFUSED(SMALL, spcnn_model_generate_image(m, NULL, big, big, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_generate_stream(m, 1, NULL, over, over, 1, sink, NULL));
    REFUSED(INVALID, spcnn_model_generate_stream(m, huge, NULL, 8, 8, 1, sink, NULL));
    REFUSED(INVALID, spcnn_model_generate_stream(m, 1, NULL, huge, huge, 1, NULL, NULL));
    REFUSED(INVALID, spcnn_model_sample_patch(m, NULL, over, over, 0, 0, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_sample_patch(m, NULL, 8, 8, huge, huge, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_reconstruct(m, px, over, over, 8, 8, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_reconstruct(m, px, 8, 8, over, over, 1, px, sizeof px));
    REFUSED(SMALL, spcnn_model_reconstruct(m, px, 8, 8, big, big, 1, px, sizeof px));
    REFUSED(INVALID, spcnn_model_log_prob(m, px, over, over, NULL, f, 64));
    REFUSED(INVALID, spcnn_model_log_prob(m, px, huge, 8, NULL, f, 64));
    REFUSED(SMALL, spcnn_model_log_prob(m, px, big, big, NULL, f, 64));
    REFUSED(INVALID, spcnn_model_evaluate(m, px, 1, over, over, NULL, NULL, NULL));
    REFUSED(INVALID, spcnn_model_evaluate(m, px, huge, 8, 8, NULL, NULL, NULL));
    REFUSED(INVALID, spcnn_model_evaluate(m, px, 100000000, big, big, NULL, NULL, NULL));
    REFUSED(INVALID, spcnn_model_train_step(m, px, 1, over, over, NULL));
    REFUSED(INVALID, spcnn_model_train_step(m, px, 65537, 8, 8, NULL));
    REFUSED(INVALID, spcnn_model_encode(m, px, over, over, f, 64));
    REFUSED(INVALID, spcnn_model_encode(m, px, huge, 1, f, 64));
    REFUSED(INVALID, spcnn_model_fit_prior(m, px, huge, 8, 8, 2, 1));
    REFUSED(INVALID, spcnn_model_fit_prior(m, px, 2, over, over, 2, 1));
    REFUSED(INVALID, spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, huge, 1, f, 64));
    REFUSED(SMALL, spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, big, 1, f, 64));
    REFUSED(INVALID, spcnn_png_write("/nonexistent/x.png", px, over, over));
    REFUSED(INVALID, spcnn_png_write("/nonexistent/x.png", px, big, 4295)); /* > 2^32 pixels */
    double v;
    REFUSED(INVALID, spcnn_msssim(px, px, over, over, &v));
    REFUSED(INVALID, spcnn_msssim_pairs(px, huge, 16, 16, 1, &v, &v));
    REFUSED(INVALID, spcnn_image_resize_area(px, over, over, px, 8, 8));
    REFUSED(INVALID, spcnn_image_resize_area(px, 8, 8, px, over, over));
    spcnn_classifier *c = NULL;
    ck_assert_int_eq(spcnn_classifier_create(16, 16, 4, 1, &c), SPCNN_OK);
    REFUSED(SMALL, spcnn_classifier_predict(c, px, huge / 2, f, 64));
    REFUSED(INVALID, spcnn_classifier_train_step(c, px, px, huge, NULL, NULL));
    spcnn_classifier_destroy(c);
    printf("%d calls with sizes whose byte counts overflow, or exceed the documented limits, "
           "refused before any allocation\n",
           refused);
    spcnn_model_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile_sizes");
    TCase *tc = tcase_create("hostile_sizes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_model_header);
    tcase_add_test(tc, test_classifier_header);
    tcase_add_test(tc, test_idx_header);
    tcase_add_test(tc, test_png_header);
    tcase_add_test(tc, test_call_sizes);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
