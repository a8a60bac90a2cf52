/* Configurations and models for the tests, made from a list of settings on top of the
 * library's defaults; any failure fails the test:
 *
 *     spcnn_model *m = tu_model(TU_SETTINGS({SPCNN_CFG_NR_FILTERS, 4}, {SPCNN_CFG_NR_MIX, 2}));
 *
 * Header-only (static inline), so that it links with the public library as well as with the
 * internal one. */
#ifndef SPCNN_TU_MODEL_H
#define SPCNN_TU_MODEL_H

#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "spatialpixelcnn.h"
#include "testutil.h"

typedef struct tu_setting {
    spcnn_config_key key;
    double value;
} tu_setting;

/* The settings and their count, as the two arguments of tu_config and tu_model. */
#define TU_SETTINGS(...)                                                                       \
    ((const tu_setting[]){__VA_ARGS__}),                                                       \
        (sizeof((const tu_setting[]){__VA_ARGS__}) / sizeof(tu_setting))

static inline spcnn_config *tu_config(const tu_setting *settings, size_t n)
{
    spcnn_config *cfg = NULL;
    ck_assert_int_eq(spcnn_config_create(&cfg), SPCNN_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(spcnn_config_set(cfg, settings[i].key, settings[i].value) == SPCNN_OK,
                      "%s = %g: %s", spcnn_config_key_name(settings[i].key), settings[i].value,
                      spcnn_last_error_message());
    return cfg;
}

static inline spcnn_model *tu_model(const tu_setting *settings, size_t n)
{
    spcnn_config *cfg = tu_config(settings, n);
    spcnn_model *m = NULL;
    ck_assert_msg(spcnn_model_create(cfg, &m) == SPCNN_OK, "%s", spcnn_last_error_message());
    spcnn_config_destroy(cfg);
    return m;
}

/* n random size×size images of one bright blob on black: something for a VAE to encode. */
static inline void tu_blobs(tu_rng *rng, uint8_t *images, size_t n, int size)
{
    for (size_t i = 0; i < n; i++) {
        double cr = tu_uniform(rng, 2, size - 2), cc = tu_uniform(rng, 2, size - 2);
        double rad = tu_uniform(rng, 1.5, 4);
        for (int r = 0; r < size; r++)
            for (int c = 0; c < size; c++) {
                double d = hypot(r - cr, c - cc);
                images[i * (size_t)size * (size_t)size + (size_t)r * (size_t)size + (size_t)c] =
                    (uint8_t)(d < rad ? 220 + tu_uniform(rng, 0, 30) : tu_uniform(rng, 0, 20));
            }
    }
}

#endif
