/* The parameter table (llm.c's layout): every trainable tensor is a row with a name, a kind,
 * dims and an offset into flat float buffers. One 64-byte aligned block holds five buffers of
 * the same length — values, gradients, Adam's first and second moments, the EMA copy — so
 * initialisation, the optimiser, save/load and any all-reduce are loops over a buffer, and a
 * new layer adds rows here and nothing else learns about it.
 *
 * Life cycle: zero the struct (or spcnn__params_init), add every row, spcnn__params_allocate
 * (the table is then frozen), spcnn__params_init_values, train, spcnn__params_deinit. */
#ifndef SPCNN_NN_PARAMS_H
#define SPCNN_NN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Longest row name, including the terminating NUL. */
#define SPCNN__PARAM_NAME_MAX 64
/* Every row starts on a multiple of this many floats (64 bytes), so every tensor handed to
 * oneDNN is 64-byte aligned; the padding floats stay zero in all five buffers. */
#define SPCNN__PARAM_ALIGN 16

typedef enum spcnn__param_kind {
    SPCNN__PARAM_CONV = 0,   /* convolution weights, 4 dims OIHW */
    SPCNN__PARAM_DECONV = 1, /* transposed convolution weights, 4 dims IOHW */
    SPCNN__PARAM_LINEAR = 2, /* inner product weights, 2 dims OI (out x in) */
    SPCNN__PARAM_BIAS = 3    /* bias, 1 dim O */
} spcnn__param_kind;

/* Initialisation schemes (docs/design.md, "Parameters and optimiser", says why). */
typedef enum spcnn__param_init {
    SPCNN__INIT_HE = 0,    /* normal, std sqrt(2 / fan_in): layers followed by (concat_)elu */
    SPCNN__INIT_LECUN = 1, /* normal, std sqrt(1 / fan_in): linear outputs (heads, mu, logvar) */
    SPCNN__INIT_SMALL = 2, /* normal, std 0.1 / sqrt(fan_in): the last conv of a gated resnet and
                              its conditioning projections, so each block starts near identity */
    SPCNN__INIT_ZEROS = 3, /* biases */
    SPCNN__INIT_ONES = 4   /* gains */
} spcnn__param_init;

/* The five buffers of the block, in block order. */
typedef enum spcnn__param_buf {
    SPCNN__BUF_VALUE = 0,
    SPCNN__BUF_GRAD = 1,
    SPCNN__BUF_ADAM_M = 2,
    SPCNN__BUF_ADAM_V = 3,
    SPCNN__BUF_EMA = 4,
    SPCNN__BUF_COUNT = 5
} spcnn__param_buf;

typedef struct spcnn__param {
    char name[SPCNN__PARAM_NAME_MAX]; /* e.g. "up.0.u.conv1.w" */
    spcnn__param_kind kind;
    spcnn__param_init init;
    int ndims;      /* 4 (conv, deconv), 2 (linear), 1 (bias) */
    size_t dims[4]; /* in the kind's canonical order; unused trailing dims are 1 */
    size_t count;   /* product of dims */
    size_t offset;  /* in floats from the start of each buffer; multiple of SPCNN__PARAM_ALIGN */
    size_t fan_in;  /* inputs feeding one output, for the scaled schemes */
} spcnn__param;

typedef struct spcnn__params {
    spcnn__param *rows;
    size_t nrows, capacity;
    size_t total;  /* floats per buffer, padding included (multiple of SPCNN__PARAM_ALIGN) */
    size_t nvalues; /* sum of the rows' counts (what a model file stores) */
    /* NULL until spcnn__params_allocate; then one aligned block of SPCNN__BUF_COUNT * total
     * floats, buf[k] = block + k * total. */
    float *block;
    float *buf[SPCNN__BUF_COUNT];
} spcnn__params;

void spcnn__params_init(spcnn__params *p);
/* Frees the table and the block; safe on a zeroed or half-built table. */
void spcnn__params_deinit(spcnn__params *p);

/* Add a row before allocation. `dims` has `ndims` entries, which must match the kind (4 for
 * conv/deconv, 2 for linear, 1 for bias), each > 0. `fan_in` > 0 is required by the scaled
 * schemes (he, lecun, small). Names are unique, non-empty and shorter than
 * SPCNN__PARAM_NAME_MAX. `index` (may be NULL) receives the row number.
 * Returns SPCNN_ERR_INVALID_ARGUMENT (bad row, duplicate name, table already allocated) or
 * SPCNN_ERR_OUT_OF_MEMORY; the table is unchanged on failure. */
spcnn_status spcnn__params_add(spcnn__params *p, const char *name, spcnn__param_kind kind,
                               int ndims, const size_t *dims, size_t fan_in,
                               spcnn__param_init init, size_t *index);

/* spcnn__params_add for a layer's row named "<prefix>.<suffix>": the dims are given in the
 * kind's canonical order (conv O,I,H,W; deconv I,O,H,W; linear O,I; bias O; unused trailing
 * dims are ignored) and fan_in follows from them (inputs feeding one output). */
spcnn_status spcnn__params_add_layer(spcnn__params *p, const char *prefix, const char *suffix,
                                     spcnn__param_kind kind, size_t d0, size_t d1, size_t d2,
                                     size_t d3, spcnn__param_init init, size_t *index);

/* Allocate the block (all five buffers zeroed) and freeze the table. Returns
 * SPCNN_ERR_INVALID_ARGUMENT (no rows, already allocated) or SPCNN_ERR_OUT_OF_MEMORY (the table
 * is unchanged and can be allocated again). */
spcnn_status spcnn__params_allocate(spcnn__params *p);

/* Fill every row's value by its scheme, keyed by (seed, row name) so a row's initial values do
 * not change when rows are added, removed or reordered elsewhere in the table; copy the values
 * into the EMA and zero the gradients and Adam moments. Requires an allocated table. */
void spcnn__params_init_values(spcnn__params *p, uint64_t seed);

/* Row number of `name`, or -1 if there is none. */
ptrdiff_t spcnn__params_find(const spcnn__params *p, const char *name);

/* A row's slice of one buffer (the table must be allocated). */
static inline float *spcnn__params_ptr(const spcnn__params *p, spcnn__param_buf buf, size_t row)
{
    return p->buf[buf] + p->rows[row].offset;
}
static inline float *spcnn__params_value(const spcnn__params *p, size_t row)
{
    return spcnn__params_ptr(p, SPCNN__BUF_VALUE, row);
}
static inline float *spcnn__params_grad(const spcnn__params *p, size_t row)
{
    return spcnn__params_ptr(p, SPCNN__BUF_GRAD, row);
}
static inline float *spcnn__params_ema(const spcnn__params *p, size_t row)
{
    return spcnn__params_ptr(p, SPCNN__BUF_EMA, row);
}

/* Zero the whole gradient buffer (before a backward pass that accumulates into it). */
void spcnn__params_zero_grad(spcnn__params *p);

/* Standard deviation of a scheme for a given fan_in (0 for zeros and ones). */
double spcnn__param_init_std(spcnn__param_init init, size_t fan_in);

#endif
