/* Bilinear resampling (oneDNN resampling, forward only) of NHWC tensors between any sizes:
 * the coordinate grid at each U-net scale (8×8 -> 4×4 -> 2×2) and images to the VAE's input
 * size. Convention: half-pixel centres (align_corners = False): output pixel o samples the
 * input at (o + 0.5) * in / out - 0.5, neighbours clamped at the edges; so halving a size
 * averages pairs, and a grid over [-1, 1] keeps its centre. */
#ifndef SPCNN_NN_RESAMPLE_H
#define SPCNN_NN_RESAMPLE_H

#include "nn/dnnl_ctx.h"

typedef struct spcnn__resample_shape {
    int n, c, ih, iw, oh, ow;
} spcnn__resample_shape;

typedef struct spcnn__resample {
    spcnn__resample_shape s;
    dnnl_primitive_t fwd;
    dnnl_memory_t x, y;
} spcnn__resample;

spcnn_status spcnn__resample_init(spcnn__resample *l, spcnn__dnnl *ctx,
                                  const spcnn__resample_shape *shape);
spcnn_status spcnn__resample_forward(spcnn__resample *l, spcnn__dnnl *ctx, const float *x,
                                     float *y);
void spcnn__resample_deinit(spcnn__resample *l);

/* Linear resampling that keeps the end points (align_corners = True): output pixel o samples
 * the input at o * (in - 1) / (out - 1), so the first and last rows and columns of a
 * coordinate grid keep their coordinates and the steps between them stay equal — the seed's
 * "linspace from the first to the last coordinate". x [n × ih × iw × c], y [n × oh × ow × c],
 * NHWC. oneDNN 2.6's linear resampling knows only half-pixel centres, and this runs on a few
 * dozen values per window, forward only, so it is a plain loop. */
void spcnn__resample_endpoints_forward(const float *x, float *y, int n, int c, int ih, int iw,
                                       int oh, int ow);

#endif
