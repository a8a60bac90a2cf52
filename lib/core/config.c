#include "core/config.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

typedef struct config_key_info {
    const char *name; /* NULL marks a value that is not a key */
    double default_value;
    double lower, upper;
    int is_integer;
    int multiple_of; /* 0: no extra rule */
} config_key_info;

/* The table of every key: name, default, bounds. Defaults are the paper's small network. */
static const config_key_info key_info[SPCNN__CONFIG_KEY_END] = {
    [SPCNN_CFG_PATCH_SIZE] = {"patch_size", 8, 4, 256, 1, 4},
    [SPCNN_CFG_NR_FILTERS] = {"nr_filters", 25, 1, 1024, 1, 0},
    [SPCNN_CFG_NR_RESNET] = {"nr_resnet", 2, 1, 16, 1, 0},
    [SPCNN_CFG_NR_MIX] = {"nr_mix", 10, 1, 64, 1, 0},
    [SPCNN_CFG_LATENT_SIZE] = {"latent_size", 60, 1, 1024, 1, 0},
    [SPCNN_CFG_IMAGE_SIZE] = {"image_size", 28, 8, 256, 1, 4},
    [SPCNN_CFG_DROPOUT] = {"dropout", 0.5, 0, 0.95, 0, 0},
    [SPCNN_CFG_LEARNING_RATE] = {"learning_rate", 1e-3, 1e-8, 1, 0, 0},
    [SPCNN_CFG_LR_DECAY] = {"lr_decay", 0.999995, 0.9, 1, 0, 0},
    [SPCNN_CFG_L2] = {"l2", 1e-4, 0, 1, 0, 0},
    [SPCNN_CFG_EMA_DECAY] = {"ema_decay", 0.9995, 0, 0.999999, 0, 0},
    [SPCNN_CFG_ADAM_BETA1] = {"adam_beta1", 0.95, 0, 0.999999, 0, 0},
    [SPCNN_CFG_ADAM_BETA2] = {"adam_beta2", 0.9995, 0, 0.999999, 0, 0},
    [SPCNN_CFG_BATCH_SIZE] = {"batch_size", 128, 1, 65536, 1, 0},
    [SPCNN_CFG_SEED] = {"seed", 1, 0, 9007199254740991.0 /* 2^53 - 1 */, 1, 0},
    [SPCNN_CFG_THREADS] = {"threads", 1, 1, 256, 1, 0},
    [SPCNN_CFG_USE_COORDS] = {"use_coords", 1, 0, 1, 1, 0},
    [SPCNN_CFG_USE_LATENT] = {"use_latent", 1, 0, 1, 1, 0},
    [SPCNN_CFG_TEMPERATURE] = {"temperature", 1, 0, 2, 0, 0},
    [SPCNN_CFG_SCHEDULE] = {"schedule", 1, 0, 1, 1, 0},
    [SPCNN_CFG_GRID_RESAMPLE] = {"grid_resample", 1, 0, 1, 1, 0},
    [SPCNN_CFG_TRAIN_SCALE_MIN] = {"train_scale_min", 1, 1, 8, 0, 0},
    [SPCNN_CFG_TRAIN_SCALE_MAX] = {"train_scale_max", 1, 1, 8, 0, 0},
    [SPCNN_CFG_VAE_PRETRAIN_STEPS] = {"vae_pretrain_steps", 0, 0, 1e12, 1, 0},
    [SPCNN_CFG_TRAIN_NATIVE_SHARE] = {"train_native_share", 0, 0, 1, 0, 0},
    [SPCNN_CFG_PRECISION] = {"precision", 0, 0, 1, 1, 0},
    [SPCNN_CFG_KL_WEIGHT] = {"kl_weight", 1, 0, 1, 0, 0},
    [SPCNN_CFG_TRAIN_PRECISION] = {"train_precision", 0, 0, 1, 1, 0},
};

static const config_key_info *find_key(spcnn_config_key key)
{
    if ((int)key <= 0 || (int)key >= SPCNN__CONFIG_KEY_END || key_info[key].name == NULL)
        return NULL;
    return &key_info[key];
}

spcnn_status spcnn_config_create(spcnn_config **out)
{
    SPCNN_CHECK_ARG(out != NULL, "config_create: out is NULL");
    *out = NULL;
    spcnn_config *cfg = spcnn__calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "config_create: out of memory");
    for (int k = 0; k < SPCNN__CONFIG_KEY_END; k++)
        cfg->values[k] = key_info[k].default_value;
    *out = cfg;
    return SPCNN_OK;
}

spcnn_status spcnn_config_clone(const spcnn_config *cfg, spcnn_config **out)
{
    SPCNN_CHECK_ARG(out != NULL, "config_clone: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(cfg != NULL, "config_clone: cfg is NULL");
    spcnn_config *copy = spcnn__malloc(sizeof *copy);
    if (copy == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "config_clone: out of memory");
    memcpy(copy, cfg, sizeof *copy);
    *out = copy;
    return SPCNN_OK;
}

void spcnn_config_destroy(spcnn_config *cfg)
{
    spcnn__free(cfg);
}

spcnn_status spcnn_config_set(spcnn_config *cfg, spcnn_config_key key, double value)
{
    SPCNN_CHECK_ARG(cfg != NULL, "config_set: cfg is NULL");
    const config_key_info *info = find_key(key);
    SPCNN_CHECK_ARG(info != NULL, "config_set: unknown key %d", (int)key);
    SPCNN_CHECK_ARG(isfinite(value), "config_set: %s = %g is not a finite number", info->name,
                    value);
    if (info->is_integer) {
        SPCNN_CHECK_ARG(value >= info->lower && value <= info->upper && value == floor(value),
                        "config_set: %s = %.17g is out of range: an integer in [%.17g, %.17g]",
                        info->name, value, info->lower, info->upper);
    } else {
        SPCNN_CHECK_ARG(value >= info->lower && value <= info->upper,
                        "config_set: %s = %g is out of range [%g, %g]", info->name, value,
                        info->lower, info->upper);
    }
    SPCNN_CHECK_ARG(info->multiple_of == 0 || fmod(value, info->multiple_of) == 0,
                    "config_set: %s = %g must be a multiple of %d", info->name, value,
                    info->multiple_of);
    cfg->values[key] = value;
    return SPCNN_OK;
}

spcnn_status spcnn_config_get(const spcnn_config *cfg, spcnn_config_key key, double *value)
{
    SPCNN_CHECK_ARG(cfg != NULL && value != NULL, "config_get: NULL argument");
    SPCNN_CHECK_ARG(find_key(key) != NULL, "config_get: unknown key %d", (int)key);
    *value = cfg->values[key];
    return SPCNN_OK;
}

spcnn_status spcnn_config_bounds(spcnn_config_key key, double *lower, double *upper,
                                 int *is_integer)
{
    const config_key_info *info = find_key(key);
    SPCNN_CHECK_ARG(info != NULL, "config_bounds: unknown key %d", (int)key);
    if (lower)
        *lower = info->lower;
    if (upper)
        *upper = info->upper;
    if (is_integer)
        *is_integer = info->is_integer;
    return SPCNN_OK;
}

const char *spcnn_config_key_name(spcnn_config_key key)
{
    const config_key_info *info = find_key(key);
    return info ? info->name : NULL;
}

spcnn_status spcnn_config_key_from_name(const char *name, spcnn_config_key *key)
{
    SPCNN_CHECK_ARG(name != NULL && key != NULL, "config_key_from_name: NULL argument");
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++) {
        if (key_info[k].name != NULL && strcmp(key_info[k].name, name) == 0) {
            *key = (spcnn_config_key)k;
            return SPCNN_OK;
        }
    }
    return spcnn__error(SPCNN_ERR_INVALID_ARGUMENT, "config: unknown key name \"%s\"", name);
}
