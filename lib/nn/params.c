#include "nn/params.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/rng.h"

static const char *const kind_names[] = {"conv", "deconv", "linear", "bias"};
static const int kind_ndims[] = {4, 4, 2, 1};

void spcnn__params_init(spcnn__params *p)
{
    memset(p, 0, sizeof *p);
}

void spcnn__params_deinit(spcnn__params *p)
{
    if (!p)
        return;
    spcnn__free(p->rows);
    spcnn__free_aligned(p->block);
    memset(p, 0, sizeof *p);
}

ptrdiff_t spcnn__params_find(const spcnn__params *p, const char *name)
{
    /* A linear scan: tables have a few hundred rows and lookups happen at load time only. */
    for (size_t i = 0; i < p->nrows; i++)
        if (strcmp(p->rows[i].name, name) == 0)
            return (ptrdiff_t)i;
    return -1;
}

spcnn_status spcnn__params_add(spcnn__params *p, const char *name, spcnn__param_kind kind,
                               int ndims, const size_t *dims, size_t fan_in,
                               spcnn__param_init init, size_t *index)
{
    SPCNN_CHECK_ARG(p && name && dims, "params: add: NULL argument");
    size_t len = strlen(name);
    SPCNN_CHECK_ARG(len > 0 && len < SPCNN__PARAM_NAME_MAX,
                    "params: add: name \"%.80s\" must have 1 to %d characters", name,
                    SPCNN__PARAM_NAME_MAX - 1);
    SPCNN_CHECK_ARG(!p->block, "params: add \"%s\": the table is already allocated", name);
    SPCNN_CHECK_ARG((int)kind >= 0 && (int)kind <= SPCNN__PARAM_BIAS,
                    "params: add \"%s\": unknown kind %d", name, (int)kind);
    SPCNN_CHECK_ARG(ndims == kind_ndims[kind], "params: add \"%s\": a %s row has %d dims, not %d",
                    name, kind_names[kind], kind_ndims[kind], ndims);
    SPCNN_CHECK_ARG((int)init >= 0 && (int)init <= SPCNN__INIT_ONES,
                    "params: add \"%s\": unknown init scheme %d", name, (int)init);
    SPCNN_CHECK_ARG(fan_in > 0 || init == SPCNN__INIT_ZEROS || init == SPCNN__INIT_ONES,
                    "params: add \"%s\": the init scheme needs fan_in > 0", name);
    SPCNN_CHECK_ARG(spcnn__params_find(p, name) < 0, "params: add: duplicate name \"%s\"", name);

    /* Count, padded length and the end offset, each checked for overflow; the block holds
     * SPCNN__BUF_COUNT buffers of `total` floats, which must also fit in a size_t of bytes. */
    const size_t limit = SIZE_MAX / sizeof(float) / SPCNN__BUF_COUNT - SPCNN__PARAM_ALIGN;
    size_t count = 1;
    for (int d = 0; d < ndims; d++) {
        SPCNN_CHECK_ARG(dims[d] > 0, "params: add \"%s\": dim %d is 0", name, d);
        SPCNN_CHECK_ARG(count <= limit / dims[d], "params: add \"%s\": too many elements", name);
        count *= dims[d];
    }
    size_t padded = (count + SPCNN__PARAM_ALIGN - 1) / SPCNN__PARAM_ALIGN * SPCNN__PARAM_ALIGN;
    SPCNN_CHECK_ARG(padded <= limit - p->total, "params: add \"%s\": table too large", name);

    if (p->nrows == p->capacity) {
        size_t cap = p->capacity ? p->capacity * 2 : 64;
        SPCNN_CHECK_ARG(cap <= SIZE_MAX / sizeof *p->rows, "params: add: too many rows");
        spcnn__param *rows = spcnn__realloc(p->rows, cap * sizeof *rows);
        if (!rows)
            return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "params: add \"%s\": out of memory "
                                                         "growing the table to %zu rows",
                                name, cap);
        p->rows = rows;
        p->capacity = cap;
    }
    spcnn__param *r = &p->rows[p->nrows];
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, len + 1);
    r->kind = kind;
    r->init = init;
    r->ndims = ndims;
    for (int d = 0; d < 4; d++)
        r->dims[d] = d < ndims ? dims[d] : 1;
    r->count = count;
    r->offset = p->total;
    r->fan_in = fan_in;
    p->total += padded;
    p->nvalues += count;
    if (index)
        *index = p->nrows;
    p->nrows++;
    return SPCNN_OK;
}

spcnn_status spcnn__params_allocate(spcnn__params *p)
{
    SPCNN_CHECK_ARG(p, "params: allocate: NULL table");
    SPCNN_CHECK_ARG(!p->block, "params: allocate: already allocated");
    SPCNN_CHECK_ARG(p->nrows > 0, "params: allocate: the table has no rows");
    size_t bytes = (size_t)SPCNN__BUF_COUNT * p->total * sizeof(float); /* checked in add */
    float *block = spcnn__malloc_aligned(bytes);
    if (!block)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "params: out of memory allocating %zu parameters (%zu bytes)",
                            p->nvalues, bytes);
    /* Zero everything: padding must stay zero so loops over whole buffers are exact. */
    memset(block, 0, bytes);
    p->block = block;
    for (int k = 0; k < SPCNN__BUF_COUNT; k++)
        p->buf[k] = block + (size_t)k * p->total;
    return SPCNN_OK;
}

double spcnn__param_init_std(spcnn__param_init init, size_t fan_in)
{
    switch (init) {
    case SPCNN__INIT_HE:
        return sqrt(2.0 / (double)fan_in);
    case SPCNN__INIT_LECUN:
        return sqrt(1.0 / (double)fan_in);
    case SPCNN__INIT_SMALL:
        return 0.1 / sqrt((double)fan_in);
    case SPCNN__INIT_ZEROS:
    case SPCNN__INIT_ONES:
        break;
    }
    return 0.0;
}

/* FNV-1a of the name: the row's key depends on its name only, never on its position. */
static uint64_t name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h;
}

/* Purpose word of the init keys, so they never coincide with training or sampling keys. */
#define INIT_PURPOSE 0x696e6974ull /* "init" */

void spcnn__params_init_values(spcnn__params *p, uint64_t seed)
{
    /* The padding between rows is zeroed too: the optimiser's loop relies on it. */
    memset(p->buf[SPCNN__BUF_VALUE], 0, p->total * sizeof(float));
    for (size_t i = 0; i < p->nrows; i++) {
        const spcnn__param *r = &p->rows[i];
        float *w = spcnn__params_value(p, i);
        if (r->init == SPCNN__INIT_ZEROS || r->init == SPCNN__INIT_ONES) {
            float c = r->init == SPCNN__INIT_ONES ? 1.0f : 0.0f;
            for (size_t j = 0; j < r->count; j++)
                w[j] = c;
            continue;
        }
        double std = spcnn__param_init_std(r->init, r->fan_in);
        spcnn__rng rng = spcnn__rng_make(spcnn__key4(seed, name_hash(r->name), INIT_PURPOSE, 0));
        for (size_t j = 0; j < r->count; j++)
            w[j] = (float)(std * spcnn__rng_normal(&rng));
    }
    /* The EMA starts at the initial values (step 0); gradients and moments start at zero. */
    memcpy(p->buf[SPCNN__BUF_EMA], p->buf[SPCNN__BUF_VALUE], p->total * sizeof(float));
    memset(p->buf[SPCNN__BUF_GRAD], 0, p->total * sizeof(float));
    memset(p->buf[SPCNN__BUF_ADAM_M], 0, p->total * sizeof(float));
    memset(p->buf[SPCNN__BUF_ADAM_V], 0, p->total * sizeof(float));
}

void spcnn__params_zero_grad(spcnn__params *p)
{
    memset(p->buf[SPCNN__BUF_GRAD], 0, p->total * sizeof(float));
}

spcnn_status spcnn__params_add_layer(spcnn__params *p, const char *prefix, const char *suffix,
                                     spcnn__param_kind kind, size_t d0, size_t d1, size_t d2,
                                     size_t d3, spcnn__param_init init, size_t *index)
{
    char name[SPCNN__PARAM_NAME_MAX];
    int len = snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    SPCNN_CHECK_ARG(len > 0 && (size_t)len < sizeof name, "params: name %s.%s is too long",
                    prefix, suffix);
    const size_t dims[4] = {d0, d1, d2, d3};
    size_t fan_in = 1;
    switch (kind) {
    case SPCNN__PARAM_CONV: fan_in = d1 * d2 * d3; break;
    case SPCNN__PARAM_DECONV: fan_in = d0 * d2 * d3; break;
    case SPCNN__PARAM_LINEAR: fan_in = d1; break;
    case SPCNN__PARAM_BIAS: fan_in = 1; break;
    }
    int ndims = (int)kind >= 0 && (int)kind <= SPCNN__PARAM_BIAS ? kind_ndims[kind] : 0;
    return spcnn__params_add(p, name, kind, ndims, dims, fan_in, init, index);
}
