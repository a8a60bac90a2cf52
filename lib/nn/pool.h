/* Max pooling (oneDNN), forward with a workspace and backward from it.
 *
 * Shape: input NHWC n×h×w×c (float, dense), a kh×kw window moved by stride_h, stride_w, no
 * padding: out = (h - kh) / stride + 1 (a last partial window is dropped). Forward writes
 * y[n, oh, ow, c] = max over the window of x; the training layer also records, in its own
 * workspace, which element of each window won. Backward routes dy[n, oh, ow, c] to that
 * element (to the first of equal maxima in row-major window order) and writes zero elsewhere.
 *
 * Usage: spcnn__pool_init once (creates the primitives and, for training, allocates the
 * workspace); spcnn__pool_forward / spcnn__pool_backward any number of times (no allocation);
 * spcnn__pool_deinit. The backward pass reads the workspace of the last forward pass. */
#ifndef SPCNN_NN_POOL_H
#define SPCNN_NN_POOL_H

#include "nn/dnnl_ctx.h"

typedef struct spcnn__pool_shape {
    int n, h, w, c;
    int kh, kw, stride_h, stride_w;
    int backward; /* 1: training (workspace and backward primitive) */
} spcnn__pool_shape;

typedef struct spcnn__pool {
    spcnn__pool_shape s;
    int oh, ow;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dx, dy, ws;
    void *ws_buf;
} spcnn__pool;

/* Output size of a shape; fails (with a message) on an invalid shape or an empty output. */
spcnn_status spcnn__pool_out_size(const spcnn__pool_shape *s, int *oh, int *ow);

/* Create the primitives for the shape. On failure l is deinitialised. */
spcnn_status spcnn__pool_init(spcnn__pool *l, spcnn__dnnl *ctx, const spcnn__pool_shape *shape);
spcnn_status spcnn__pool_forward(spcnn__pool *l, spcnn__dnnl *ctx, const float *x, float *y);
/* Overwrites dx (every element). Needs shape.backward and a forward pass before. */
spcnn_status spcnn__pool_backward(spcnn__pool *l, spcnn__dnnl *ctx, const float *dy, float *dx);
/* Safe on a zeroed or half-initialised struct. */
void spcnn__pool_deinit(spcnn__pool *l);

#endif
