/* Parsers of argument values (args.h): sizes, size lists and ranges, --KEY VALUE. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int gen_parse_size(const char *cmd, const char *flag, const char *text, size_t *height,
                   size_t *width)
{
    long long v[2] = {0, 0};
    int count = 0;
    const char *p = text;
    while (count < 2) {
        char *end;
        if (*p < '0' || *p > '9') /* no sign, no blank: strtoll would take them */
            break;
        errno = 0;
        v[count++] = strtoll(p, &end, 10);
        if (errno)
            v[count - 1] = LLONG_MAX;
        p = end;
        if (count == 1 && (*p == 'x' || *p == 'X'))
            p++;
        else
            break;
    }
    int ok = count >= 1 && *p == '\0' && (count == 2 || p[-1] != 'x');
    if (ok && count == 1)
        v[1] = v[0];
    if (!ok) {
        fprintf(stderr, "spcnn %s: %s: '%s' is not a size HxW or N (e.g. 56x56, 224)\n", cmd,
                flag, text);
        return 0;
    }
    if (v[0] < 1 || v[1] < 1 || v[0] > GEN_SIDE_MAX || v[1] > GEN_SIDE_MAX) {
        fprintf(stderr, "spcnn %s: %s: '%s': each side must be in [1, %lld]\n", cmd, flag, text,
                GEN_SIDE_MAX);
        return 0;
    }
    *height = (size_t)v[0];
    *width = (size_t)v[1];
    return 1;
}

int gen_parse_sizes(const char *cmd, const char *text, size_t *h, size_t *w, size_t max,
                    size_t *count)
{
    char buf[256];
    if (strlen(text) >= sizeof buf) {
        fprintf(stderr, "spcnn %s: --sizes: list too long\n", cmd);
        return 0;
    }
    memcpy(buf, text, strlen(text) + 1);
    *count = 0;
    for (char *item = buf, *comma; item; item = comma ? comma + 1 : NULL) {
        if ((comma = strchr(item, ',')) != NULL)
            *comma = '\0';
        if (*count == max) {
            fprintf(stderr, "spcnn %s: --sizes: at most %zu sizes\n", cmd, max);
            return 0;
        }
        if (!gen_parse_size(cmd, "--sizes", item, &h[*count], &w[*count]))
            return 0;
        ++*count;
    }
    return 1;
}

int cli_parse_size_range(const char *text, double *lo, double *hi)
{
    char *end;
    *lo = strtod(text, &end);
    *hi = *end == '-' ? strtod(end + 1, &end) : *lo; /* "N": N-N */
    /* "nan" passed every comparison below and then read as "not given"; "1e400" is inf. */
    if (*end || !isfinite(*lo) || !isfinite(*hi) || *lo < 1 || *hi < *lo) {
        fprintf(stderr, "spcnn train: --train-sizes: '%s' is not a range A-B of sizes with "
                        "A <= B (e.g. 28-56)\n", text);
        return 0;
    }
    return 1;
}

int cli_config_key_of_flag(const char *flag, spcnn_config_key *key)
{
    if (strcmp(flag, "--pretrain-vae") == 0) { /* the seed's name for it */
        *key = SPCNN_CFG_VAE_PRETRAIN_STEPS;
        return 1;
    }
    char name[64];
    size_t len = strlen(flag);
    if (len < 3 || len - 2 >= sizeof name || strncmp(flag, "--", 2) != 0)
        return 0;
    for (size_t i = 2; i <= len; i++)
        name[i - 2] = flag[i] == '-' ? '_' : flag[i];
    return spcnn_config_key_from_name(name, key) == SPCNN_OK;
}

int cli_set_config_flag(const char *flag, const char *value, spcnn_config *cfg,
                        spcnn_config_key key)
{
    char *end;
    double v = strtod(value, &end);
    int number = end != value && !*end;
    /* Keys with names for their values 0 and 1, as the generation commands take them. */
    static const struct {
        spcnn_config_key key;
        const char *names[2];
    } named[] = {{SPCNN_CFG_SCHEDULE, {"raster", "wavefront"}},
                 {SPCNN_CFG_PRECISION, {"fp32", "bf16"}},
                 {SPCNN_CFG_TRAIN_PRECISION, {"fp32", "bf16"}}};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        if (key != named[k].key)
            continue;
        if (strcmp(value, named[k].names[0]) == 0 || strcmp(value, named[k].names[1]) == 0) {
            v = strcmp(value, named[k].names[1]) == 0;
            number = 1;
        } else if (!number) {
            fprintf(stderr, "spcnn train: %s: '%s' is not %s or %s\n", flag, value,
                    named[k].names[0], named[k].names[1]);
            return 0;
        }
    }
    if (key == SPCNN_CFG_SEED && (!number || spcnn_config_set(cfg, key, v) != SPCNN_OK)) {
        /* Not the range of the other commands' --seed: say why. */
        double lo = 0, hi = 0;
        int integer;
        spcnn_config_bounds(key, &lo, &hi, &integer);
        fprintf(stderr,
                "spcnn train: %s: '%s' is not an integer in [%.0f, %.0f] (the model stores its "
                "seed as a double: 2^53-1 at most)\n",
                flag, value, lo, hi);
        return 0;
    }
    if (!number) {
        fprintf(stderr, "spcnn train: %s: '%s' is not a number\n", flag, value);
        return 0;
    }
    if (spcnn_config_set(cfg, key, v) != SPCNN_OK) {
        /* The library's message names the key and its bounds. */
        fprintf(stderr, "spcnn train: %s: %s\n", flag, spcnn_last_error_message());
        return 0;
    }
    return 1;
}
