/* Misuse of the whole public API, function by function (include/spatialpixelcnn.h in order):
 * every exported function called with NULL handles, NULL outputs, zero, out-of-range and
 * non-finite arguments returns the status its documentation names, sets a message (the last
 * error message changes), writes NULL to a handle out-parameter, and does not crash; a valid
 * call after the misuse still works. The table below has one entry per function, and
 * test_every_symbol_covered checks it against tests/abi/symbols.txt (the exported symbols, which
 * test_symbols checks against the library and the header), so a new function without an entry
 * here fails the suite. Sizes whose byte counts overflow are tests/test_hostile_sizes.c's. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spatialpixelcnn.h"
#include "testutil.h"
#include "tu_model.h"

enum { S = 12, M = 8, L = 3, CLS = 4, CS = 16 };

/* What the checks share: valid handles and buffers to misuse them with. */
typedef struct fixture {
    spcnn_config *cfg;
    spcnn_model *model;    /* latent code, coordinates */
    spcnn_model *flat;     /* use_latent = 0 */
    spcnn_classifier *cls; /* CS × CS images, CLS classes */
    uint8_t img[4 * S * S];
    uint8_t labels[4];
    float z[4 * L];
    float f[4 * S * S];
    char model_path[512], cls_path[512], png_path[512], idx_path[512], text_path[512];
    char missing[512], dir[512];
} fixture;

static long checks;

/* The first key number the library does not know (keys are numbered from 1 without gaps). */
static spcnn_config_key unknown_key(void)
{
    int k = 1;
    while (spcnn_config_key_name((spcnn_config_key)k) != NULL)
        k++;
    return (spcnn_config_key)k;
}

/* Put a known message in place, so the check after a call can tell that the call set its own. */
static void sentinel(void)
{
    spcnn_config_key k;
    ck_assert_int_eq(spcnn_config_key_from_name("misuse-sentinel", &k), SPCNN_ERR_INVALID_ARGUMENT);
}

static void expect_status(const char *call, spcnn_status got, spcnn_status want, int line)
{
    ck_assert_msg(got == want, "line %d: %s: status %d (%s), want %d (%s): %s", line, call, got,
                  spcnn_status_string(got), want, spcnn_status_string(want),
                  spcnn_last_error_message());
    if (want != SPCNN_OK) {
        const char *msg = spcnn_last_error_message();
        ck_assert_msg(msg[0] != '\0' && strstr(msg, "misuse-sentinel") == NULL,
                      "line %d: %s: the call set no message of its own (\"%s\")", line, call, msg);
    }
    checks++;
}

#define EXPECT(want, call)                                                                    \
    do {                                                                                      \
        sentinel();                                                                           \
        expect_status(#call, (call), (want), __LINE__);                                       \
    } while (0)

/* A handle out-parameter: NULL after a failure. */
#define EXPECT_NULL_OUT(want, out, call)                                                      \
    do {                                                                                      \
        (out) = (void *)(uintptr_t)1;                                                         \
        EXPECT(want, call);                                                                   \
        ck_assert_msg((out) == NULL, "line %d: %s left its handle output set", __LINE__,     \
                      #call);                                                                 \
    } while (0)

static const spcnn_status OK = SPCNN_OK, INVALID = SPCNN_ERR_INVALID_ARGUMENT,
                          SMALL = SPCNN_ERR_BUFFER_TOO_SMALL, IO = SPCNN_ERR_IO,
                          FORMAT = SPCNN_ERR_FORMAT, UNSUPPORTED = SPCNN_ERR_UNSUPPORTED;

/* ---- one check per function --------------------------------------------------------------- */

static void version_number(fixture *x)
{
    (void)x;
    ck_assert_uint_eq(spcnn_version_number(), SPCNN_VERSION_NUMBER);
    checks++;
}

static void version_string(fixture *x)
{
    (void)x;
    ck_assert_str_eq(spcnn_version_string(), SPCNN_VERSION_STRING);
    checks++;
}

static void status_string(fixture *x)
{
    (void)x;
    for (int s = SPCNN_OK; s <= SPCNN_ERR_COMMUNICATION; s++)
        ck_assert_str_ne(spcnn_status_string((spcnn_status)s), "unknown status");
    ck_assert_str_eq(spcnn_status_string((spcnn_status)-1), "unknown status");
    ck_assert_str_eq(spcnn_status_string((spcnn_status)13), "unknown status");
    ck_assert_str_eq(spcnn_status_string((spcnn_status)1000000), "unknown status");
    checks += 4;
}

static void last_error_message(fixture *x)
{
    (void)x;
    sentinel();
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "misuse-sentinel"));
    /* A successful call leaves it as it was. */
    ck_assert_uint_gt(spcnn_version_number(), 0);
    spcnn_config_key k;
    ck_assert_int_eq(spcnn_config_key_from_name("seed", &k), SPCNN_OK);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "misuse-sentinel"));
    checks += 2;
}

static void config_create(fixture *x)
{
    (void)x;
    EXPECT(INVALID, spcnn_config_create(NULL));
    spcnn_config *c = NULL;
    EXPECT(OK, spcnn_config_create(&c));
    spcnn_config_destroy(c);
}

static void config_clone(fixture *x)
{
    spcnn_config *c = NULL;
    EXPECT_NULL_OUT(INVALID, c, spcnn_config_clone(NULL, &c));
    EXPECT(INVALID, spcnn_config_clone(x->cfg, NULL));
    EXPECT(OK, spcnn_config_clone(x->cfg, &c));
    spcnn_config_destroy(c);
}

static void config_destroy(fixture *x)
{
    (void)x;
    spcnn_config_destroy(NULL);
    checks++;
}

static void config_set(fixture *x)
{
    EXPECT(INVALID, spcnn_config_set(NULL, SPCNN_CFG_SEED, 1));
    EXPECT(INVALID, spcnn_config_set(x->cfg, (spcnn_config_key)0, 1));
    EXPECT(INVALID, spcnn_config_set(x->cfg, (spcnn_config_key)999, 1));
    EXPECT(INVALID, spcnn_config_set(x->cfg, (spcnn_config_key)-3, 1));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_NR_FILTERS, 0));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_NR_FILTERS, 1025));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_NR_FILTERS, 2.5));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_PATCH_SIZE, 10)); /* not a multiple of 4 */
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_DROPOUT, NAN));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_LEARNING_RATE, INFINITY));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_SEED, -1));
    EXPECT(INVALID, spcnn_config_set(x->cfg, SPCNN_CFG_SEED, 1e300));
    double v = 0;
    ck_assert_int_eq(spcnn_config_get(x->cfg, SPCNN_CFG_NR_FILTERS, &v), SPCNN_OK);
    ck_assert(v == 4); /* unchanged by the failures */
}

static void config_get(fixture *x)
{
    double v;
    EXPECT(INVALID, spcnn_config_get(NULL, SPCNN_CFG_SEED, &v));
    EXPECT(INVALID, spcnn_config_get(x->cfg, SPCNN_CFG_SEED, NULL));
    EXPECT(INVALID, spcnn_config_get(x->cfg, (spcnn_config_key)0, &v));
    EXPECT(INVALID, spcnn_config_get(x->cfg, unknown_key(), &v));
    EXPECT(OK, spcnn_config_get(x->cfg, SPCNN_CFG_SEED, &v));
}

static void config_bounds(fixture *x)
{
    (void)x;
    double lo, hi;
    int integer;
    EXPECT(INVALID, spcnn_config_bounds((spcnn_config_key)0, &lo, &hi, &integer));
    EXPECT(INVALID, spcnn_config_bounds(unknown_key(), &lo, &hi, &integer));
    EXPECT(OK, spcnn_config_bounds(SPCNN_CFG_SEED, NULL, NULL, NULL)); /* outputs optional */
    EXPECT(OK, spcnn_config_bounds(SPCNN_CFG_THREADS, &lo, &hi, &integer));
    ck_assert(lo == 1 && hi == 256 && integer == 1);
}

static void config_key_name(fixture *x)
{
    (void)x;
    ck_assert_ptr_null(spcnn_config_key_name((spcnn_config_key)0));
    ck_assert_ptr_null(spcnn_config_key_name(unknown_key()));
    ck_assert_ptr_null(spcnn_config_key_name((spcnn_config_key)-1));
    ck_assert_str_eq(spcnn_config_key_name(SPCNN_CFG_PATCH_SIZE), "patch_size");
    checks += 4;
}

static void config_key_from_name(fixture *x)
{
    (void)x;
    spcnn_config_key k;
    EXPECT(INVALID, spcnn_config_key_from_name(NULL, &k));
    EXPECT(INVALID, spcnn_config_key_from_name("seed", NULL));
    EXPECT(INVALID, spcnn_config_key_from_name("", &k));
    EXPECT(INVALID, spcnn_config_key_from_name("Seed", &k));
    EXPECT(OK, spcnn_config_key_from_name("train_scale_max", &k));
    ck_assert_int_eq(k, SPCNN_CFG_TRAIN_SCALE_MAX);
}

static void png_read(fixture *x)
{
    size_t h, w;
    uint8_t px[S * S];
    EXPECT(INVALID, spcnn_png_read(NULL, px, sizeof px, &h, &w));
    EXPECT(INVALID, spcnn_png_read(x->png_path, px, sizeof px, NULL, &w));
    EXPECT(INVALID, spcnn_png_read(x->png_path, px, sizeof px, &h, NULL));
    EXPECT(INVALID, spcnn_png_read(x->png_path, NULL, 10, &h, &w));
    EXPECT(IO, spcnn_png_read(x->missing, px, sizeof px, &h, &w));
    EXPECT(IO, spcnn_png_read(x->dir, px, sizeof px, &h, &w)); /* a directory */
    EXPECT(FORMAT, spcnn_png_read(x->text_path, px, sizeof px, &h, &w));
    EXPECT(SMALL, spcnn_png_read(x->png_path, px, 0 + 1, &h, &w));
    ck_assert(h == S && w == S); /* sizes still set */
    EXPECT(OK, spcnn_png_read(x->png_path, NULL, 0, &h, &w));
    EXPECT(OK, spcnn_png_read(x->png_path, px, sizeof px, &h, &w));
}

static void png_write(fixture *x)
{
    EXPECT(INVALID, spcnn_png_write(NULL, x->img, S, S));
    EXPECT(INVALID, spcnn_png_write("", x->img, S, S));
    EXPECT(INVALID, spcnn_png_write(x->png_path, NULL, S, S));
    EXPECT(INVALID, spcnn_png_write(x->png_path, x->img, 0, S));
    EXPECT(INVALID, spcnn_png_write(x->png_path, x->img, S, 0));
    EXPECT(INVALID, spcnn_png_write(x->png_path, x->img, 1000001, 1));
    EXPECT(IO, spcnn_png_write(x->missing, x->img, S, S));
    EXPECT(IO, spcnn_png_write(x->dir, x->img, S, S)); /* rename over a directory */
    EXPECT(OK, spcnn_png_write(x->png_path, x->img, S, S));
}

static void idx_read(fixture *x)
{
    size_t n, h, w;
    uint8_t buf[4 * S * S];
    EXPECT(INVALID, spcnn_idx_read(NULL, buf, sizeof buf, &n, &h, &w));
    EXPECT(INVALID, spcnn_idx_read(x->idx_path, buf, sizeof buf, NULL, &h, &w));
    EXPECT(INVALID, spcnn_idx_read(x->idx_path, buf, sizeof buf, &n, NULL, &w));
    EXPECT(INVALID, spcnn_idx_read(x->idx_path, buf, sizeof buf, &n, &h, NULL));
    EXPECT(INVALID, spcnn_idx_read(x->idx_path, NULL, 5, &n, &h, &w));
    EXPECT(IO, spcnn_idx_read(x->missing, buf, sizeof buf, &n, &h, &w));
    EXPECT(IO, spcnn_idx_read(x->dir, buf, sizeof buf, &n, &h, &w));
    EXPECT(FORMAT, spcnn_idx_read(x->text_path, buf, sizeof buf, &n, &h, &w));
    EXPECT(SMALL, spcnn_idx_read(x->idx_path, buf, 4 * S * S - 1, &n, &h, &w));
    ck_assert(n == 4 && h == S && w == S);
    EXPECT(OK, spcnn_idx_read(x->idx_path, buf, sizeof buf, &n, &h, &w));
}

static void model_create(fixture *x)
{
    spcnn_model *m = NULL;
    EXPECT(INVALID, spcnn_model_create(x->cfg, NULL));
    EXPECT_NULL_OUT(INVALID, m, spcnn_model_create(NULL, &m));
    /* Valid key by key, inconsistent together (the two rules across keys): the smallest
     * training scale above the largest; VAE pretraining without a VAE. */
    spcnn_config *c = NULL;
    ck_assert_int_eq(spcnn_config_clone(x->cfg, &c), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(c, SPCNN_CFG_TRAIN_SCALE_MIN, 3), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(c, SPCNN_CFG_TRAIN_SCALE_MAX, 2), SPCNN_OK);
    EXPECT_NULL_OUT(INVALID, m, spcnn_model_create(c, &m));
    spcnn_config_destroy(c);
    ck_assert_int_eq(spcnn_config_clone(x->cfg, &c), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(c, SPCNN_CFG_USE_LATENT, 0), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_set(c, SPCNN_CFG_VAE_PRETRAIN_STEPS, 10), SPCNN_OK);
    EXPECT_NULL_OUT(INVALID, m, spcnn_model_create(c, &m));
    spcnn_config_destroy(c);
    EXPECT(OK, spcnn_model_create(x->cfg, &m));
    spcnn_model_destroy(m);
}

static void model_load(fixture *x)
{
    spcnn_model *m = NULL;
    EXPECT(INVALID, spcnn_model_load(x->model_path, NULL));
    EXPECT_NULL_OUT(INVALID, m, spcnn_model_load(NULL, &m));
    EXPECT_NULL_OUT(IO, m, spcnn_model_load(x->missing, &m));
    EXPECT_NULL_OUT(IO, m, spcnn_model_load(x->dir, &m));
    EXPECT_NULL_OUT(FORMAT, m, spcnn_model_load(x->text_path, &m));
    EXPECT_NULL_OUT(FORMAT, m, spcnn_model_load(x->cls_path, &m)); /* a classifier file */
    EXPECT(OK, spcnn_model_load(x->model_path, &m));
    spcnn_model_destroy(m);
}

static void model_save(fixture *x)
{
    EXPECT(INVALID, spcnn_model_save(NULL, x->model_path, 0));
    EXPECT(INVALID, spcnn_model_save(x->model, NULL, 0));
    EXPECT(INVALID, spcnn_model_save(x->model, "", 0));
    EXPECT(INVALID, spcnn_model_save(x->model, x->model_path, 2));
    EXPECT(INVALID, spcnn_model_save(x->model, x->model_path, -1));
    EXPECT(IO, spcnn_model_save(x->model, x->missing, 1));
    EXPECT(IO, spcnn_model_save(x->model, x->dir, 1));
    EXPECT(OK, spcnn_model_save(x->model, x->model_path, 1));
}

static void model_destroy(fixture *x)
{
    (void)x;
    spcnn_model_destroy(NULL);
    checks++;
}

static void model_get_config(fixture *x)
{
    EXPECT(INVALID, spcnn_model_get_config(NULL, x->cfg));
    EXPECT(INVALID, spcnn_model_get_config(x->model, NULL));
    EXPECT(OK, spcnn_model_get_config(x->model, x->cfg));
}

static void model_set_threads(fixture *x)
{
    EXPECT(INVALID, spcnn_model_set_threads(NULL, 1));
    EXPECT(INVALID, spcnn_model_set_threads(x->model, 0));
    EXPECT(INVALID, spcnn_model_set_threads(x->model, -1));
    EXPECT(INVALID, spcnn_model_set_threads(x->model, 257));
    EXPECT(OK, spcnn_model_set_threads(x->model, 1));
}

static void model_set_option(fixture *x)
{
    EXPECT(INVALID, spcnn_model_set_option(NULL, SPCNN_CFG_TEMPERATURE, 1));
    EXPECT(INVALID, spcnn_model_set_option(x->model, SPCNN_CFG_NR_FILTERS, 4)); /* fixed */
    EXPECT(INVALID, spcnn_model_set_option(x->model, (spcnn_config_key)0, 1));
    EXPECT(INVALID, spcnn_model_set_option(x->model, (spcnn_config_key)99, 1));
    EXPECT(INVALID, spcnn_model_set_option(x->model, SPCNN_CFG_TEMPERATURE, 2.5));
    EXPECT(INVALID, spcnn_model_set_option(x->model, SPCNN_CFG_TEMPERATURE, NAN));
    EXPECT(INVALID, spcnn_model_set_option(x->model, SPCNN_CFG_SCHEDULE, 2));
    EXPECT(INVALID, spcnn_model_set_option(x->model, SPCNN_CFG_THREADS, 0));
    EXPECT(INVALID, spcnn_model_set_option(x->model, SPCNN_CFG_THREADS, 1.5));
    EXPECT(OK, spcnn_model_set_option(x->model, SPCNN_CFG_TEMPERATURE, 1));
}

static int never_cancel(double fraction, void *user)
{
    (void)fraction, (void)user;
    return 0;
}

static void model_set_progress(fixture *x)
{
    EXPECT(INVALID, spcnn_model_set_progress(NULL, never_cancel, NULL));
    EXPECT(OK, spcnn_model_set_progress(x->model, never_cancel, NULL));
    EXPECT(OK, spcnn_model_set_progress(x->model, NULL, NULL));
}

static void model_stat(fixture *x)
{
    double v;
    EXPECT(INVALID, spcnn_model_stat(NULL, SPCNN_STAT_STEP, &v));
    EXPECT(INVALID, spcnn_model_stat(x->model, SPCNN_STAT_STEP, NULL));
    EXPECT(INVALID, spcnn_model_stat(x->model, (spcnn_stat)0, &v));
    EXPECT(INVALID, spcnn_model_stat(x->model, (spcnn_stat)13, &v));
    EXPECT(INVALID, spcnn_model_stat(x->model, (spcnn_stat)-1, &v));
    EXPECT(OK, spcnn_model_stat(x->model, SPCNN_STAT_PRIOR_COMPONENTS, &v));
    EXPECT(OK, spcnn_model_stat(x->model, SPCNN_STAT_RANKS, &v));
    ck_assert(v == 1);
}

static void model_set_communicator(fixture *x)
{
    EXPECT(INVALID, spcnn_model_set_communicator(NULL, 0));
    EXPECT(INVALID, spcnn_model_set_communicator(NULL, SPCNN_COMM_NONE));
    EXPECT(OK, spcnn_model_set_communicator(x->model, SPCNN_COMM_NONE)); /* any build */
    /* This program never initialises MPI: a build without MPI cannot attach, one with it
     * refuses before any MPI call. */
    sentinel();
    spcnn_status st = spcnn_model_set_communicator(x->model, 0);
    ck_assert_msg(st == SPCNN_ERR_UNSUPPORTED || st == SPCNN_ERR_INVALID_ARGUMENT,
                  "set_communicator without MPI_Init: %d", (int)st);
    ck_assert_ptr_null(strstr(spcnn_last_error_message(), "misuse-sentinel"));
    checks++;
    sentinel();
    st = spcnn_model_set_communicator(x->model, (int64_t)1 << 40);
    ck_assert(st == SPCNN_ERR_UNSUPPORTED || st == SPCNN_ERR_INVALID_ARGUMENT);
    checks++;
    double v = 0;
    EXPECT(OK, spcnn_model_stat(x->model, SPCNN_STAT_RANKS, &v));
    ck_assert(v == 1);
}

static void model_train_step(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_train_step(NULL, x->img, 2, S, S, NULL));
    EXPECT(INVALID, spcnn_model_train_step(m, NULL, 2, S, S, NULL));
    EXPECT(INVALID, spcnn_model_train_step(m, x->img, 0, S, S, NULL));
    EXPECT(INVALID, spcnn_model_train_step(m, x->img, 65537, S, S, NULL));
    EXPECT(INVALID, spcnn_model_train_step(m, x->img, 2, 0, S, NULL));
    EXPECT(INVALID, spcnn_model_train_step(m, x->img, 2, S, M - 1, NULL));
    EXPECT(INVALID, spcnn_model_train_step(m, x->img, 2, M - 1, S, NULL));
    double step = -1;
    ck_assert_int_eq(spcnn_model_stat(m, SPCNN_STAT_STEP, &step), SPCNN_OK);
    ck_assert(step == 0); /* no failed call took a step */
    EXPECT(OK, spcnn_model_train_step(m, x->img, 2, S, S, NULL));
}

static void model_train_step_mixed(fixture *x)
{
    spcnn_model *m = x->model;
    const uint8_t *images[2] = {x->img, x->img}, *one_null[2] = {x->img, NULL};
    size_t h[2] = {S, S}, w[2] = {S, S}, small[2] = {S, M - 1}, huge[2] = {S, 1000001};
    double before = -1, after = -1;
    ck_assert_int_eq(spcnn_model_stat(m, SPCNN_STAT_STEP, &before), SPCNN_OK);
    EXPECT(INVALID, spcnn_model_train_step_mixed(NULL, images, h, w, 2, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, NULL, h, w, 2, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, images, NULL, w, 2, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, images, h, NULL, 2, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, one_null, h, w, 2, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, images, h, w, 0, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, images, h, w, 65537, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, images, small, w, 2, NULL));
    EXPECT(INVALID, spcnn_model_train_step_mixed(m, images, h, huge, 2, NULL));
    ck_assert_int_eq(spcnn_model_stat(m, SPCNN_STAT_STEP, &after), SPCNN_OK);
    ck_assert(after == before); /* no failed call took a step */
    EXPECT(OK, spcnn_model_train_step_mixed(m, images, h, w, 2, NULL));
}

static void model_encode(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_encode(NULL, x->img, S, S, x->z, L));
    EXPECT(INVALID, spcnn_model_encode(m, NULL, S, S, x->z, L));
    EXPECT(INVALID, spcnn_model_encode(m, x->img, S, S, NULL, L));
    EXPECT(INVALID, spcnn_model_encode(m, x->img, 0, S, x->z, L));
    EXPECT(INVALID, spcnn_model_encode(m, x->img, S, 0, x->z, L));
    EXPECT(INVALID, spcnn_model_encode(m, x->img, 1000001, 1, x->z, L));
    EXPECT(SMALL, spcnn_model_encode(m, x->img, S, S, x->z, L - 1));
    EXPECT(SMALL, spcnn_model_encode(m, x->img, S, S, x->z, 0));
    EXPECT(UNSUPPORTED, spcnn_model_encode(x->flat, x->img, S, S, x->z, L));
    EXPECT(OK, spcnn_model_encode(m, x->img, 3, 5, x->z, L)); /* any size: resampled */
}

static void model_decode(fixture *x)
{
    spcnn_model *m = x->model;
    uint8_t out[S * S];
    float z[L] = {0, 1, -1};
    EXPECT(INVALID, spcnn_model_decode(NULL, z, out, sizeof out));
    EXPECT(INVALID, spcnn_model_decode(m, NULL, out, sizeof out));
    EXPECT(INVALID, spcnn_model_decode(m, z, NULL, sizeof out));
    EXPECT(SMALL, spcnn_model_decode(m, z, out, S * S - 1));
    EXPECT(SMALL, spcnn_model_decode(m, z, out, 0));
    z[1] = NAN;
    EXPECT(INVALID, spcnn_model_decode(m, z, out, sizeof out));
    z[1] = -INFINITY;
    EXPECT(INVALID, spcnn_model_decode(m, z, out, sizeof out));
    z[1] = 1;
    EXPECT(UNSUPPORTED, spcnn_model_decode(x->flat, z, out, sizeof out));
    EXPECT(OK, spcnn_model_decode(m, z, out, sizeof out));
}

static void model_log_prob(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_log_prob(NULL, x->img, S, S, NULL, x->f, S * S));
    EXPECT(INVALID, spcnn_model_log_prob(m, NULL, S, S, NULL, x->f, S * S));
    EXPECT(INVALID, spcnn_model_log_prob(m, x->img, S, S, NULL, NULL, S * S));
    EXPECT(INVALID, spcnn_model_log_prob(m, x->img, M - 1, S, NULL, x->f, S * S));
    EXPECT(INVALID, spcnn_model_log_prob(m, x->img, S, 0, NULL, x->f, S * S));
    EXPECT(SMALL, spcnn_model_log_prob(m, x->img, S, S, NULL, x->f, S * S - 1));
    EXPECT(OK, spcnn_model_log_prob(m, x->img, S, S, x->z, x->f, S * S));
    EXPECT(OK, spcnn_model_log_prob(x->flat, x->img, S, S, x->z, x->f, S * S)); /* z ignored */
}

static void model_evaluate(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_evaluate(NULL, x->img, 1, S, S, NULL, NULL, NULL));
    EXPECT(INVALID, spcnn_model_evaluate(m, NULL, 1, S, S, NULL, NULL, NULL));
    EXPECT(INVALID, spcnn_model_evaluate(m, x->img, 0, S, S, NULL, NULL, NULL));
    EXPECT(INVALID, spcnn_model_evaluate(m, x->img, 1, M - 1, S, NULL, NULL, NULL));
    EXPECT(INVALID, spcnn_model_evaluate(m, x->img, 1, S, 0, NULL, NULL, NULL));
    double a = -1, b = -1, kl = -1;
    EXPECT(OK, spcnn_model_evaluate(m, x->img, 1, S, S, NULL, NULL, NULL)); /* all optional */
    EXPECT(OK, spcnn_model_evaluate(x->flat, x->img, 1, S, S, &a, &b, &kl));
    ck_assert(isfinite(a) && isfinite(b) && kl == 0);
}

static int sink(const uint8_t *row, size_t image, size_t y, size_t width, void *user)
{
    (void)row, (void)image, (void)y, (void)width, (void)user;
    return 0;
}

static void model_generate_images(fixture *x)
{
    spcnn_model *m = x->model;
    uint8_t *px = x->img;
    const size_t cap = 2 * M * M;
    EXPECT(INVALID, spcnn_model_generate_images(NULL, 2, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_images(m, 0, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_images(m, 1000001, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_images(m, 2, NULL, M - 1, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_images(m, 2, NULL, M, 0, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_images(m, 2, NULL, 1000001, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_images(m, 2, NULL, M, M, 1, NULL, cap));
    EXPECT(SMALL, spcnn_model_generate_images(m, 2, NULL, M, M, 1, px, cap - 1));
    float z[2 * L] = {0, 0, 0, 0, INFINITY, 0};
    EXPECT(INVALID, spcnn_model_generate_images(m, 2, z, M, M, 1, px, cap));
    z[4] = 0;
    EXPECT(OK, spcnn_model_generate_images(m, 2, z, M, M, 1, px, cap));
}

static void model_generate_range(fixture *x)
{
    spcnn_model *m = x->model;
    uint8_t *px = x->img;
    const size_t cap = 2 * M * M;
    EXPECT(INVALID, spcnn_model_generate_range(NULL, 0, 2, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_range(m, 3, 0, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_range(m, 3, 1000001, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_range(m, SIZE_MAX, 2, NULL, M, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_range(m, 3, 2, NULL, M - 1, M, 1, px, cap));
    EXPECT(INVALID, spcnn_model_generate_range(m, 3, 2, NULL, M, M, 1, NULL, cap));
    EXPECT(SMALL, spcnn_model_generate_range(m, 3, 2, NULL, M, M, 1, px, cap - 1));
    EXPECT(OK, spcnn_model_generate_range(m, 3, 2, NULL, M, M, 1, px, cap));
}

static void model_generate_image(fixture *x)
{
    spcnn_model *m = x->model;
    uint8_t *px = x->img;
    EXPECT(INVALID, spcnn_model_generate_image(NULL, NULL, M, M, 1, px, M * M));
    EXPECT(INVALID, spcnn_model_generate_image(m, NULL, 0, M, 1, px, M * M));
    EXPECT(INVALID, spcnn_model_generate_image(m, NULL, M, M - 1, 1, px, M * M));
    EXPECT(INVALID, spcnn_model_generate_image(m, NULL, M, M, 1, NULL, M * M));
    EXPECT(SMALL, spcnn_model_generate_image(m, NULL, M, M, 1, px, M * M - 1));
    EXPECT(SMALL, spcnn_model_generate_image(m, NULL, M, M, 1, px, 0));
    float z[L] = {NAN, 0, 0};
    EXPECT(INVALID, spcnn_model_generate_image(m, z, M, M, 1, px, M * M));
    EXPECT(OK, spcnn_model_generate_image(x->flat, z, M, M, 1, px, M * M)); /* z ignored */
    EXPECT(OK, spcnn_model_generate_image(m, NULL, M, M, 1, px, M * M));
}

static void model_generate_stream(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_generate_stream(NULL, 1, NULL, M, M, 1, sink, NULL));
    EXPECT(INVALID, spcnn_model_generate_stream(m, 0, NULL, M, M, 1, sink, NULL));
    EXPECT(INVALID, spcnn_model_generate_stream(m, 1000001, NULL, M, M, 1, sink, NULL));
    EXPECT(INVALID, spcnn_model_generate_stream(m, 1, NULL, M - 1, M, 1, sink, NULL));
    EXPECT(INVALID, spcnn_model_generate_stream(m, 1, NULL, M, 1000001, 1, sink, NULL));
    EXPECT(INVALID, spcnn_model_generate_stream(m, 1, NULL, M, M, 1, NULL, NULL));
    EXPECT(OK, spcnn_model_generate_stream(m, 1, NULL, M, M, 1, sink, NULL));
}

static void model_sample_patch(fixture *x)
{
    spcnn_model *m = x->model;
    uint8_t *p = x->img;
    EXPECT(INVALID, spcnn_model_sample_patch(NULL, NULL, S, S, 0, 0, 1, p, M * M));
    EXPECT(INVALID, spcnn_model_sample_patch(m, NULL, M - 1, S, 0, 0, 1, p, M * M));
    EXPECT(INVALID, spcnn_model_sample_patch(m, NULL, S, 0, 0, 0, 1, p, M * M));
    EXPECT(INVALID, spcnn_model_sample_patch(m, NULL, S, S, S - M + 1, 0, 1, p, M * M));
    EXPECT(INVALID, spcnn_model_sample_patch(m, NULL, S, S, 0, S - M + 1, 1, p, M * M));
    EXPECT(INVALID, spcnn_model_sample_patch(m, NULL, S, S, 0, 0, 1, NULL, M * M));
    EXPECT(SMALL, spcnn_model_sample_patch(m, NULL, S, S, 0, 0, 1, p, M * M - 1));
    EXPECT(OK, spcnn_model_sample_patch(m, NULL, S, S, S - M, S - M, 1, p, M * M));
}

static void model_reconstruct(fixture *x)
{
    spcnn_model *m = x->model;
    uint8_t out[M * M];
    EXPECT(INVALID, spcnn_model_reconstruct(NULL, x->img, S, S, M, M, 1, out, M * M));
    EXPECT(INVALID, spcnn_model_reconstruct(m, NULL, S, S, M, M, 1, out, M * M));
    EXPECT(INVALID, spcnn_model_reconstruct(m, x->img, S, S, M, M, 1, NULL, M * M));
    EXPECT(INVALID, spcnn_model_reconstruct(m, x->img, 0, S, M, M, 1, out, M * M));
    EXPECT(INVALID, spcnn_model_reconstruct(m, x->img, S, 0, M, M, 1, out, M * M));
    EXPECT(INVALID, spcnn_model_reconstruct(m, x->img, S, S, M - 1, M, 1, out, M * M));
    EXPECT(INVALID, spcnn_model_reconstruct(m, x->img, S, S, M, 1000001, 1, out, M * M));
    EXPECT(SMALL, spcnn_model_reconstruct(m, x->img, S, S, M, M, 1, out, M * M - 1));
    EXPECT(UNSUPPORTED, spcnn_model_reconstruct(x->flat, x->img, S, S, M, M, 1, out, M * M));
    EXPECT(OK, spcnn_model_reconstruct(m, x->img, S, S, M, M, 1, out, M * M));
}

static void model_fit_prior(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_fit_prior(NULL, x->img, 4, S, S, 2, 1));
    EXPECT(INVALID, spcnn_model_fit_prior(m, NULL, 4, S, S, 2, 1));
    EXPECT(INVALID, spcnn_model_fit_prior(m, x->img, 0, S, S, 2, 1));
    EXPECT(INVALID, spcnn_model_fit_prior(m, x->img, 4, M - 1, S, 2, 1));
    EXPECT(INVALID, spcnn_model_fit_prior(m, x->img, 4, S, S, 0, 1));
    EXPECT(INVALID, spcnn_model_fit_prior(m, x->img, 4, S, S, 1025, 1));
    EXPECT(INVALID, spcnn_model_fit_prior(m, x->img, 4, S, S, 5, 1)); /* fewer images */
    EXPECT(UNSUPPORTED, spcnn_model_fit_prior(x->flat, x->img, 4, S, S, 2, 1));
    size_t k = 99;
    ck_assert_int_eq(spcnn_model_get_prior(m, &k, NULL, NULL, NULL, 0), SPCNN_OK);
    ck_assert_uint_eq(k, 0); /* no failed fit set a prior */
    EXPECT(OK, spcnn_model_fit_prior(m, x->img, 4, S, S, 2, 1));
}

static void model_set_prior(fixture *x)
{
    spcnn_model *m = x->model;
    float w[2] = {1, 1}, mu[2 * L] = {0}, var[2 * L] = {1, 1, 1, 1, 1, 1};
    EXPECT(INVALID, spcnn_model_set_prior(NULL, 2, w, mu, var));
    EXPECT(INVALID, spcnn_model_set_prior(m, 1025, w, mu, var));
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, NULL, mu, var));
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, NULL, var));
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, NULL));
    w[1] = -1;
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, var));
    w[1] = 0;
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, var));
    w[1] = 1;
    mu[3] = NAN;
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, var));
    mu[3] = 0;
    var[5] = 0;
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, var));
    var[5] = INFINITY;
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, var));
    var[5] = 1;
    w[0] = 1e30f, w[1] = 1e-30f; /* the second becomes negligible when normalised */
    EXPECT(INVALID, spcnn_model_set_prior(m, 2, w, mu, var));
    w[0] = w[1] = 1;
    EXPECT(UNSUPPORTED, spcnn_model_set_prior(x->flat, 2, w, mu, var));
    EXPECT(OK, spcnn_model_set_prior(x->flat, 0, NULL, NULL, NULL)); /* N(0, I): always fine */
    EXPECT(OK, spcnn_model_set_prior(m, 2, w, mu, var));
}

static void model_get_prior(fixture *x)
{
    spcnn_model *m = x->model;
    size_t k = 0;
    float w[2], mu[2 * L], var[2 * L];
    EXPECT(INVALID, spcnn_model_get_prior(NULL, &k, NULL, NULL, NULL, 0));
    EXPECT(INVALID, spcnn_model_get_prior(m, NULL, NULL, NULL, NULL, 0));
    EXPECT(INVALID, spcnn_model_get_prior(m, &k, w, NULL, var, 2 * L));
    EXPECT(INVALID, spcnn_model_get_prior(m, &k, NULL, mu, NULL, 2 * L));
    EXPECT(SMALL, spcnn_model_get_prior(m, &k, w, mu, var, 2 * L - 1));
    EXPECT(OK, spcnn_model_get_prior(m, &k, NULL, NULL, NULL, 0));
    ck_assert_uint_eq(k, 2); /* set by model_set_prior */
    EXPECT(OK, spcnn_model_get_prior(m, &k, w, mu, var, 2 * L));
}

static void model_draw_latents(fixture *x)
{
    spcnn_model *m = x->model;
    EXPECT(INVALID, spcnn_model_draw_latents(NULL, SPCNN_PRIOR_MODEL, 2, 1, x->z, 2 * L));
    EXPECT(INVALID, spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, 2, 1, NULL, 2 * L));
    EXPECT(INVALID, spcnn_model_draw_latents(m, (spcnn_prior_choice)2, 2, 1, x->z, 2 * L));
    EXPECT(INVALID, spcnn_model_draw_latents(m, (spcnn_prior_choice)-1, 2, 1, x->z, 2 * L));
    EXPECT(INVALID, spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, 0, 1, x->z, 2 * L));
    EXPECT(INVALID, spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, 1000001, 1, x->z, 2 * L));
    EXPECT(SMALL, spcnn_model_draw_latents(m, SPCNN_PRIOR_MODEL, 2, 1, x->z, 2 * L - 1));
    EXPECT(UNSUPPORTED, spcnn_model_draw_latents(x->flat, SPCNN_PRIOR_STANDARD, 2, 1, x->z, 2 * L));
    EXPECT(OK, spcnn_model_draw_latents(m, SPCNN_PRIOR_STANDARD, 2, 1, x->z, 2 * L));
}

static void msssim(fixture *x)
{
    double v;
    const uint8_t *a = x->img, *b = x->img + 256;
    EXPECT(INVALID, spcnn_msssim(NULL, b, 16, 16, &v));
    EXPECT(INVALID, spcnn_msssim(a, NULL, 16, 16, &v));
    EXPECT(INVALID, spcnn_msssim(a, b, 16, 16, NULL));
    EXPECT(INVALID, spcnn_msssim(a, b, 15, 16, &v));
    EXPECT(INVALID, spcnn_msssim(a, b, 16, 0, &v));
    EXPECT(OK, spcnn_msssim(a, b, 16, 16, &v));
    ck_assert(v >= 0 && v <= 1);
}

static void msssim_pairs(fixture *x)
{
    double mean, sd;
    const uint8_t *im = x->img;
    EXPECT(INVALID, spcnn_msssim_pairs(NULL, 2, 16, 16, 1, &mean, &sd));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 2, 16, 16, 1, NULL, &sd));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 2, 16, 16, 1, &mean, NULL));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 0, 16, 16, 1, &mean, &sd));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 1, 16, 16, 1, &mean, &sd));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 2, 16, 15, 1, &mean, &sd));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 2, 16, 16, -1, &mean, &sd));
    EXPECT(INVALID, spcnn_msssim_pairs(im, 2, 16, 16, 257, &mean, &sd));
    EXPECT(OK, spcnn_msssim_pairs(im, 2, 16, 16, 0, &mean, &sd)); /* 0 threads means 1 */
}

static void image_resize_area(fixture *x)
{
    uint8_t out[64];
    EXPECT(INVALID, spcnn_image_resize_area(NULL, S, S, out, 8, 8));
    EXPECT(INVALID, spcnn_image_resize_area(x->img, S, S, NULL, 8, 8));
    EXPECT(INVALID, spcnn_image_resize_area(x->img, 0, S, out, 8, 8));
    EXPECT(INVALID, spcnn_image_resize_area(x->img, S, 0, out, 8, 8));
    EXPECT(INVALID, spcnn_image_resize_area(x->img, S, S, out, 0, 8));
    EXPECT(INVALID, spcnn_image_resize_area(x->img, S, S, out, 8, 0));
    EXPECT(OK, spcnn_image_resize_area(x->img, S, S, out, 8, 8));
}

static void classifier_create(fixture *x)
{
    (void)x;
    spcnn_classifier *c = NULL;
    EXPECT(INVALID, spcnn_classifier_create(CS, CS, CLS, 1, NULL));
    EXPECT_NULL_OUT(INVALID, c, spcnn_classifier_create(11, CS, CLS, 1, &c));
    EXPECT_NULL_OUT(INVALID, c, spcnn_classifier_create(CS, 1025, CLS, 1, &c));
    EXPECT_NULL_OUT(INVALID, c, spcnn_classifier_create(0, 0, CLS, 1, &c));
    EXPECT_NULL_OUT(INVALID, c, spcnn_classifier_create(CS, CS, 1, 1, &c));
    EXPECT_NULL_OUT(INVALID, c, spcnn_classifier_create(CS, CS, 257, 1, &c));
    EXPECT(OK, spcnn_classifier_create(CS, CS, CLS, 1, &c));
    spcnn_classifier_destroy(c);
}

static void classifier_load(fixture *x)
{
    spcnn_classifier *c = NULL;
    EXPECT(INVALID, spcnn_classifier_load(x->cls_path, NULL));
    EXPECT_NULL_OUT(INVALID, c, spcnn_classifier_load(NULL, &c));
    EXPECT_NULL_OUT(IO, c, spcnn_classifier_load(x->missing, &c));
    EXPECT_NULL_OUT(IO, c, spcnn_classifier_load(x->dir, &c));
    EXPECT_NULL_OUT(FORMAT, c, spcnn_classifier_load(x->text_path, &c));
    EXPECT_NULL_OUT(FORMAT, c, spcnn_classifier_load(x->model_path, &c)); /* a model file */
    EXPECT(OK, spcnn_classifier_load(x->cls_path, &c));
    spcnn_classifier_destroy(c);
}

static void classifier_save(fixture *x)
{
    EXPECT(INVALID, spcnn_classifier_save(NULL, x->cls_path));
    EXPECT(INVALID, spcnn_classifier_save(x->cls, NULL));
    EXPECT(INVALID, spcnn_classifier_save(x->cls, ""));
    EXPECT(IO, spcnn_classifier_save(x->cls, x->missing));
    EXPECT(IO, spcnn_classifier_save(x->cls, x->dir));
    EXPECT(OK, spcnn_classifier_save(x->cls, x->cls_path));
}

static void classifier_destroy(fixture *x)
{
    (void)x;
    spcnn_classifier_destroy(NULL);
    checks++;
}

static void classifier_set_threads(fixture *x)
{
    EXPECT(INVALID, spcnn_classifier_set_threads(NULL, 1));
    EXPECT(INVALID, spcnn_classifier_set_threads(x->cls, 0));
    EXPECT(INVALID, spcnn_classifier_set_threads(x->cls, -2));
    EXPECT(INVALID, spcnn_classifier_set_threads(x->cls, 257));
    EXPECT(OK, spcnn_classifier_set_threads(x->cls, 1));
}

static void classifier_shape(fixture *x)
{
    size_t h = 0, w = 0, k = 0;
    EXPECT(INVALID, spcnn_classifier_shape(NULL, &h, &w, &k));
    EXPECT(OK, spcnn_classifier_shape(x->cls, NULL, NULL, NULL)); /* outputs optional */
    EXPECT(OK, spcnn_classifier_shape(x->cls, &h, &w, &k));
    ck_assert(h == CS && w == CS && k == CLS);
}

static void classifier_train_step(fixture *x)
{
    spcnn_classifier *c = x->cls;
    const uint8_t *im = x->img;
    uint8_t labels[2] = {0, CLS};
    EXPECT(INVALID, spcnn_classifier_train_step(NULL, im, x->labels, 2, NULL, NULL));
    EXPECT(INVALID, spcnn_classifier_train_step(c, NULL, x->labels, 2, NULL, NULL));
    EXPECT(INVALID, spcnn_classifier_train_step(c, im, NULL, 2, NULL, NULL));
    EXPECT(INVALID, spcnn_classifier_train_step(c, im, x->labels, 0, NULL, NULL));
    EXPECT(INVALID, spcnn_classifier_train_step(c, im, x->labels, 65537, NULL, NULL));
    EXPECT(INVALID, spcnn_classifier_train_step(c, im, labels, 2, NULL, NULL)); /* label 4 */
    EXPECT(OK, spcnn_classifier_train_step(c, im, x->labels, 2, NULL, NULL));
}

static void classifier_predict(fixture *x)
{
    spcnn_classifier *c = x->cls;
    EXPECT(INVALID, spcnn_classifier_predict(NULL, x->img, 2, x->f, 2 * CLS));
    EXPECT(INVALID, spcnn_classifier_predict(c, NULL, 2, x->f, 2 * CLS));
    EXPECT(INVALID, spcnn_classifier_predict(c, x->img, 2, NULL, 2 * CLS));
    EXPECT(INVALID, spcnn_classifier_predict(c, x->img, 0, x->f, 2 * CLS));
    EXPECT(SMALL, spcnn_classifier_predict(c, x->img, 2, x->f, 2 * CLS - 1));
    EXPECT(OK, spcnn_classifier_predict(c, x->img, 2, x->f, 2 * CLS));
}

/* ---- the table: every exported function, in the header's order ----------------------------- */

typedef struct entry {
    const char *name;
    void (*check)(fixture *x);
} entry;

#define ENTRY(fn) {"spcnn_" #fn, fn}
static const entry table[] = {
    ENTRY(version_number),         ENTRY(version_string),
    ENTRY(status_string),          ENTRY(last_error_message),
    ENTRY(config_create),          ENTRY(config_clone),
    ENTRY(config_destroy),         ENTRY(config_set),
    ENTRY(config_get),             ENTRY(config_bounds),
    ENTRY(config_key_name),        ENTRY(config_key_from_name),
    ENTRY(png_read),               ENTRY(png_write),
    ENTRY(idx_read),               ENTRY(model_create),
    ENTRY(model_load),             ENTRY(model_save),
    ENTRY(model_destroy),          ENTRY(model_get_config),
    ENTRY(model_set_threads),      ENTRY(model_set_option),
    ENTRY(model_set_progress),     ENTRY(model_stat),
    ENTRY(model_set_communicator),
    ENTRY(model_train_step),       ENTRY(model_train_step_mixed),
    ENTRY(model_encode),
    ENTRY(model_decode),           ENTRY(model_log_prob),
    ENTRY(model_evaluate),         ENTRY(model_generate_images),
    ENTRY(model_generate_range),
    ENTRY(model_generate_image),   ENTRY(model_generate_stream),
    ENTRY(model_sample_patch),     ENTRY(model_reconstruct),
    ENTRY(model_fit_prior),        ENTRY(model_set_prior),
    ENTRY(model_get_prior),        ENTRY(model_draw_latents),
    ENTRY(msssim),                 ENTRY(msssim_pairs),
    ENTRY(image_resize_area),      ENTRY(classifier_create),
    ENTRY(classifier_load),        ENTRY(classifier_save),
    ENTRY(classifier_destroy),     ENTRY(classifier_set_threads),
    ENTRY(classifier_shape),       ENTRY(classifier_train_step),
    ENTRY(classifier_predict),
};
enum { NENTRIES = sizeof table / sizeof table[0] };

static spcnn_config *tiny_config(void)
{
    return tu_config(TU_SETTINGS({SPCNN_CFG_PATCH_SIZE, M}, {SPCNN_CFG_IMAGE_SIZE, S},
                                 {SPCNN_CFG_NR_FILTERS, 4}, {SPCNN_CFG_NR_RESNET, 1},
                                 {SPCNN_CFG_NR_MIX, 2}, {SPCNN_CFG_LATENT_SIZE, L}));
}

static void fixture_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_misuse_%s", tu_tmpdir(), name);
}

static void fixture_setup(fixture *x)
{
    memset(x, 0, sizeof *x);
    tu_rng rng = {2024};
    for (size_t i = 0; i < sizeof x->img; i++)
        x->img[i] = (uint8_t)(tu_next(&rng) >> 56);
    for (size_t i = 0; i < sizeof x->labels; i++)
        x->labels[i] = (uint8_t)(i % CLS);
    fixture_path(x->model_path, sizeof x->model_path, "model.spcnn");
    fixture_path(x->cls_path, sizeof x->cls_path, "lenet.spcls");
    fixture_path(x->png_path, sizeof x->png_path, "image.png");
    fixture_path(x->idx_path, sizeof x->idx_path, "images.idx");
    fixture_path(x->text_path, sizeof x->text_path, "text.txt");
    fixture_path(x->missing, sizeof x->missing, "no_such_dir/file");
    fixture_path(x->dir, sizeof x->dir, "dir"); /* a directory where a file is expected */
    rmdir(x->dir); /* left by an earlier run that failed */
    ck_assert_int_eq(mkdir(x->dir, 0777), 0);
    x->cfg = tiny_config();
    ck_assert_int_eq(spcnn_model_create(x->cfg, &x->model), SPCNN_OK);
    spcnn_config *flat = tiny_config();
    ck_assert_int_eq(spcnn_config_set(flat, SPCNN_CFG_USE_LATENT, 0), SPCNN_OK);
    ck_assert_int_eq(spcnn_model_create(flat, &x->flat), SPCNN_OK);
    spcnn_config_destroy(flat);
    ck_assert_int_eq(spcnn_classifier_create(CS, CS, CLS, 1, &x->cls), SPCNN_OK);
    /* The files the checks read, valid and not. */
    ck_assert_int_eq(spcnn_model_save(x->model, x->model_path, 1), SPCNN_OK);
    ck_assert_int_eq(spcnn_classifier_save(x->cls, x->cls_path), SPCNN_OK);
    ck_assert_int_eq(spcnn_png_write(x->png_path, x->img, S, S), SPCNN_OK);
    unsigned char idx[16 + 4 * S * S] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, S, 0, 0, 0, S};
    memcpy(idx + 16, x->img, 4 * S * S);
    tu_write_file(x->idx_path, idx, sizeof idx);
    const char *text = "not an image, a model or a classifier, just text\n";
    tu_write_file(x->text_path, text, strlen(text));
}

static void fixture_teardown(fixture *x)
{
    spcnn_model_destroy(x->model);
    spcnn_model_destroy(x->flat);
    spcnn_classifier_destroy(x->cls);
    spcnn_config_destroy(x->cfg);
    remove(x->model_path);
    remove(x->cls_path);
    remove(x->png_path);
    remove(x->idx_path);
    remove(x->text_path);
    ck_assert_int_eq(rmdir(x->dir), 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_every_function)
{
    fixture *x = malloc(sizeof *x);
    ck_assert_ptr_nonnull(x);
    fixture_setup(x);
    for (int i = 0; i < NENTRIES; i++) {
        long before = checks;
        table[i].check(x);
        ck_assert_msg(checks > before, "%s: no check", table[i].name);
        printf("%-32s %3ld checks\n", table[i].name, checks - before);
    }
    ck_assert_int_eq(tu_temporaries_left("test_misuse"), 0);
    printf("%d functions, %ld calls with NULL, zero, out-of-range or non-finite arguments (and "
           "a valid call after them): every status and message as documented\n",
           NENTRIES, checks);
    fixture_teardown(x);
    free(x);
}
END_TEST

/* The table holds every exported function (tests/abi/symbols.txt), once. */
START_TEST(test_every_symbol_covered)
{
    FILE *fp = fopen(SPCNN_SYMBOLS_TXT, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", SPCNN_SYMBOLS_TXT);
    char line[256];
    int symbols = 0, seen[NENTRIES] = {0};
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        symbols++;
        int found = 0;
        for (int i = 0; i < NENTRIES; i++)
            if (strcmp(table[i].name, line) == 0) {
                found = 1;
                seen[i]++;
            }
        ck_assert_msg(found, "%s is exported but has no misuse check in tests/test_misuse.c",
                      line);
    }
    fclose(fp);
    for (int i = 0; i < NENTRIES; i++)
        ck_assert_msg(seen[i] == 1, "%s: listed %d times in symbols.txt", table[i].name, seen[i]);
    ck_assert_int_eq(symbols, NENTRIES);
    printf("symbols.txt: %d exported functions, each with its misuse check\n", symbols);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create("misuse");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_function);
    tcase_add_test(tc, test_every_symbol_covered);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
