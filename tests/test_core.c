/* Errors, versions and configuration through the public API. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spatialpixelcnn.h"

#include "testutil.h"

static const spcnn_config_key all_keys[] = {
    SPCNN_CFG_PATCH_SIZE,   SPCNN_CFG_NR_FILTERS, SPCNN_CFG_NR_RESNET,    SPCNN_CFG_NR_MIX,
    SPCNN_CFG_LATENT_SIZE,  SPCNN_CFG_IMAGE_SIZE, SPCNN_CFG_DROPOUT,      SPCNN_CFG_LEARNING_RATE,
    SPCNN_CFG_LR_DECAY,     SPCNN_CFG_L2,         SPCNN_CFG_EMA_DECAY,    SPCNN_CFG_ADAM_BETA1,
    SPCNN_CFG_ADAM_BETA2,   SPCNN_CFG_BATCH_SIZE, SPCNN_CFG_SEED,         SPCNN_CFG_THREADS,
    SPCNN_CFG_USE_COORDS,   SPCNN_CFG_USE_LATENT, SPCNN_CFG_TEMPERATURE,  SPCNN_CFG_SCHEDULE,
    SPCNN_CFG_GRID_RESAMPLE, SPCNN_CFG_TRAIN_SCALE_MIN, SPCNN_CFG_TRAIN_SCALE_MAX,
    SPCNN_CFG_VAE_PRETRAIN_STEPS, SPCNN_CFG_TRAIN_NATIVE_SHARE, SPCNN_CFG_PRECISION,
    SPCNN_CFG_KL_WEIGHT,    SPCNN_CFG_TRAIN_PRECISION,
};
#define NKEYS (sizeof all_keys / sizeof all_keys[0])

START_TEST(test_version)
{
    ck_assert_uint_eq(spcnn_version_number(), SPCNN_VERSION_NUMBER);
    ck_assert_str_eq(spcnn_version_string(), SPCNN_VERSION_STRING);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", SPCNN_VERSION_MAJOR, SPCNN_VERSION_MINOR,
             SPCNN_VERSION_PATCH);
    ck_assert_str_eq(spcnn_version_string(), expect);
}
END_TEST

START_TEST(test_status_strings)
{
    /* Every status has its own text; unknown values have a fallback. */
    const char *seen[SPCNN_ERR_COMMUNICATION + 1];
    for (int s = SPCNN_OK; s <= SPCNN_ERR_COMMUNICATION; s++) {
        seen[s] = spcnn_status_string((spcnn_status)s);
        ck_assert_ptr_nonnull(seen[s]);
        ck_assert_str_ne(seen[s], "unknown status");
        for (int t = 0; t < s; t++)
            ck_assert_str_ne(seen[s], seen[t]);
    }
    ck_assert_str_eq(spcnn_status_string((spcnn_status)9999), "unknown status");
    ck_assert_str_eq(spcnn_status_string((spcnn_status)-1), "unknown status");
    ck_assert_ptr_nonnull(spcnn_last_error_message());
}
END_TEST

START_TEST(test_config_defaults_and_roundtrip)
{
    spcnn_config *cfg = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    double v;
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_PATCH_SIZE, &v), SPCNN_OK);
    ck_assert(v == 8);
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_NR_FILTERS, &v), SPCNN_OK);
    ck_assert(v == 25);
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_LATENT_SIZE, &v), SPCNN_OK);
    ck_assert(v == 60);
    for (size_t i = 0; i < NKEYS; i++) {
        double lo, hi;
        int integral;
        ck_assert_int_eq(spcnn_config_bounds(all_keys[i], &lo, &hi, &integral), SPCNN_OK);
        ck_assert_int_eq(spcnn_config_get(cfg, all_keys[i], &v), SPCNN_OK);
        ck_assert_msg(v >= lo && v <= hi, "default of key %d outside its bounds", all_keys[i]);
        /* Both bounds are accepted and read back. */
        ck_assert_int_eq(spcnn_config_set(cfg, all_keys[i], hi), SPCNN_OK);
        ck_assert_int_eq(spcnn_config_get(cfg, all_keys[i], &v), SPCNN_OK);
        ck_assert(v == hi);
        ck_assert_int_eq(spcnn_config_set(cfg, all_keys[i], lo), SPCNN_OK);
        ck_assert_int_eq(spcnn_config_get(cfg, all_keys[i], &v), SPCNN_OK);
        ck_assert(v == lo);
    }
    spcnn_config *copy = NULL;
    ck_assert_int_eq(spcnn_config_clone(cfg, &copy), SPCNN_OK);
    ck_assert_int_eq(spcnn_config_get(copy, SPCNN_CFG_PATCH_SIZE, &v), SPCNN_OK);
    ck_assert(v == 4);
    spcnn_config_destroy(copy);
    spcnn_config_destroy(cfg);
    spcnn_config_destroy(NULL);
}
END_TEST

START_TEST(test_config_rejects_out_of_range)
{
    spcnn_config *cfg = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    for (size_t i = 0; i < NKEYS; i++) {
        spcnn_config_key key = all_keys[i];
        const char *name = spcnn_config_key_name(key);
        ck_assert_ptr_nonnull(name);
        double lo, hi, before, after;
        int integral;
        ck_assert_int_eq(spcnn_config_bounds(key, &lo, &hi, &integral), SPCNN_OK);
        ck_assert_int_eq(spcnn_config_get(cfg, key, &before), SPCNN_OK);
        const double bad[] = {lo - 1, hi + 1, -1e300, 1e300, NAN, INFINITY, -INFINITY};
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            ck_assert_int_eq(spcnn_config_set(cfg, key, bad[b]), SPCNN_ERR_INVALID_ARGUMENT);
            /* The message names the key; out-of-range ones also give the bounds. */
            const char *msg = spcnn_last_error_message();
            ck_assert_msg(strstr(msg, name) != NULL, "message \"%s\" lacks \"%s\"", msg, name);
            if (isfinite(bad[b])) {
                char bound[64];
                snprintf(bound, sizeof bound, integral ? "%.17g" : "%g", hi);
                ck_assert_msg(strstr(msg, bound) != NULL, "message \"%s\" lacks bound %s", msg,
                              bound);
            }
            ck_assert_int_eq(spcnn_config_get(cfg, key, &after), SPCNN_OK);
            ck_assert(after == before);
        }
        if (integral && lo + 0.5 <= hi) {
            ck_assert_int_eq(spcnn_config_set(cfg, key, lo + 0.5), SPCNN_ERR_INVALID_ARGUMENT);
        }
    }
    /* The extra rule: patch_size and image_size are multiples of 4. */
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_PATCH_SIZE, 10), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "multiple of 4"));
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_IMAGE_SIZE, 30), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_config_set(cfg, SPCNN_CFG_PATCH_SIZE, 28), SPCNN_OK);
    spcnn_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_misuse)
{
    spcnn_config *cfg = (spcnn_config *)1;
    ck_assert_int_eq(spcnn_config_create(NULL), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_config_clone(NULL, &cfg), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(cfg);
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    double v;
    ck_assert_int_eq(spcnn_config_set(NULL, SPCNN_CFG_SEED, 1), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_config_get(NULL, SPCNN_CFG_SEED, &v), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_config_get(cfg, SPCNN_CFG_SEED, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    const int unknown[] = {0, -1, 29, 1000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        spcnn_config_key key = (spcnn_config_key)unknown[i];
        ck_assert_int_eq(spcnn_config_set(cfg, key, 1), SPCNN_ERR_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "unknown key"));
        ck_assert_int_eq(spcnn_config_get(cfg, key, &v), SPCNN_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(spcnn_config_bounds(key, NULL, NULL, NULL), SPCNN_ERR_INVALID_ARGUMENT);
        ck_assert_ptr_null(spcnn_config_key_name(key));
    }
    spcnn_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_names)
{
    /* Names are unique, lower case, and map back to their key. */
    for (size_t i = 0; i < NKEYS; i++) {
        const char *name = spcnn_config_key_name(all_keys[i]);
        ck_assert_ptr_nonnull(name);
        for (const char *c = name; *c; c++)
            ck_assert((*c >= 'a' && *c <= 'z') || *c == '_' || (*c >= '0' && *c <= '9'));
        spcnn_config_key k;
        ck_assert_int_eq(spcnn_config_key_from_name(name, &k), SPCNN_OK);
        ck_assert_int_eq(k, all_keys[i]);
    }
    ck_assert_str_eq(spcnn_config_key_name(SPCNN_CFG_PATCH_SIZE), "patch_size");
    spcnn_config_key k;
    ck_assert_int_eq(spcnn_config_key_from_name("no_such_key", &k), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(spcnn_last_error_message(), "no_such_key"));
    ck_assert_int_eq(spcnn_config_key_from_name(NULL, &k), SPCNN_ERR_INVALID_ARGUMENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_status_strings);
    tcase_add_test(tc, test_config_defaults_and_roundtrip);
    tcase_add_test(tc, test_config_rejects_out_of_range);
    tcase_add_test(tc, test_config_misuse);
    tcase_add_test(tc, test_config_names);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
