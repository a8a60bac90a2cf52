/* What the training and evaluation plans share (plan.c). A plan holds the oneDNN primitives and
 * activation memory for one shape; it is built on first use and kept while the shape stays the
 * same, so nothing is allocated inside a step. */
#ifndef SPCNN_MODEL_PLAN_H
#define SPCNN_MODEL_PLAN_H

#include "core/alloc.h"
#include "model/model.h"
#include "nn/resample.h"

/* VAE input preparation for images of one size: bytes -> [-1, 1] floats, resampled to S×S. */
typedef struct spcnn__image_prep {
    size_t n, h, w;
    int resample_needed;
    spcnn__resample resample;
    float *full;   /* [n × h × w] (only when resampling) */
    float *x;      /* [n × S × S], p/127.5 - 1 */
    float *target; /* [n × S × S], p/255 for the Bernoulli loss */
} spcnn__image_prep;

spcnn_status spcnn__image_prep_init(spcnn__image_prep *p, spcnn__dnnl *ctx, size_t n, size_t h,
                                    size_t w, int s);
/* Fill x (and target) from bytes. */
spcnn_status spcnn__image_prep_run(spcnn__image_prep *p, spcnn__dnnl *ctx,
                                   const uint8_t *images, int s);
void spcnn__image_prep_deinit(spcnn__image_prep *p);

/* The networks of a model for n windows (images). */
spcnn__pixelcnn_shape spcnn__model_pixelcnn_shape(const spcnn_model *m, int n, int backward);
spcnn__vae_shape spcnn__model_vae_shape(const spcnn_model *m, int n, int backward);

/* Images large enough for a window, and sizes whose products fit. */
spcnn_status spcnn__check_images(const spcnn_model *m, const char *what, const void *images,
                                 size_t n, size_t h, size_t w);

/* Resample an h × w image to oh × ow bytes, bilinearly with the end points kept: output pixel
 * (r, c) reads input position (r·(h-1)/(oh-1), c·(w-1)/(ow-1)), as the coordinate grids of the
 * two sizes map it; values rounded to the nearest byte. */
void spcnn__resize_bilinear_u8(const uint8_t *src, size_t h, size_t w, uint8_t *dst, size_t oh,
                               size_t ow);

/* Copy the window at (top, left) of an image into x (pixel values), pix (bytes) and grid (the
 * image's coordinate grid: G[r][c] = (-1 + 2r/(H-1), -1 + 2c/(W-1))). */
void spcnn__crop_window(const uint8_t *image, size_t h, size_t w, size_t top, size_t left,
                        int m, float *x, uint8_t *pix, float *grid);

#endif
