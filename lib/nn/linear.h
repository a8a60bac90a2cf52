/* Fully connected layer (oneDNN inner product): y[n][out] = x[n][in] · W^T + b, weights OI
 * ([out][in], row-major), bias [out]. Used for the latent projection z (L) -> 2F and the VAE's
 * dense layers. Same life cycle as the convolution: init once, forward/backward, deinit. */
#ifndef SPCNN_NN_LINEAR_H
#define SPCNN_NN_LINEAR_H

#include <stdint.h>

#include "nn/dnnl_ctx.h"

typedef struct spcnn__linear_shape {
    int n, in, out;
    int bias;     /* 1: per-output bias */
    int backward; /* 1: create backward-data and backward-weights primitives */
} spcnn__linear_shape;

typedef struct spcnn__linear {
    spcnn__linear_shape s;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    dnnl_memory_t x, w, b, y, dx, dy, dw, db;
    /* Forward-only layers: the last row computed, its result, and the weights and weights
     * version it was computed with (the sampler projects the same z for every window of an
     * image, pass after pass). */
    float *memo_x, *memo_y; /* one block: in, then out floats, then wt */
    const float *memo_w, *memo_b;
    uint64_t memo_version;
    int memo_valid;
    /* Forward-only layers: the weights transposed (in × out), so that the sums of all outputs
     * advance together in vector lanes; refreshed when the weights or their version change. */
    float *wt;
    const float *wt_w;
    uint64_t wt_version;
    int wt_valid;
} spcnn__linear;

spcnn_status spcnn__linear_init(spcnn__linear *l, spcnn__dnnl *ctx,
                                const spcnn__linear_shape *shape);
spcnn_status spcnn__linear_forward(spcnn__linear *l, spcnn__dnnl *ctx, const float *x,
                                   const float *w, const float *b, float *y);
/* A forward-only layer on any number of rows (not its shape's n): each row's bytes are those
 * spcnn__linear_forward gives it. */
spcnn_status spcnn__linear_forward_rows(spcnn__linear *l, spcnn__dnnl *ctx, const float *x,
                                        size_t rows, const float *w, const float *b, float *y);
/* Overwrites dx (if not NULL), dw and db (if dw is not NULL; db is required with bias). */
spcnn_status spcnn__linear_backward(spcnn__linear *l, spcnn__dnnl *ctx, const float *x,
                                    const float *w, const float *dy, float *dx, float *dw,
                                    float *db);
void spcnn__linear_deinit(spcnn__linear *l);

#endif
