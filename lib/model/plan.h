/* What the training and evaluation plans share (plan.c). A plan holds the oneDNN primitives and
 * activation memory for one shape; it is built on first use and kept while the shape stays the
 * same, so nothing is allocated inside a step. */
#ifndef SPCNN_MODEL_PLAN_H
#define SPCNN_MODEL_PLAN_H

#include "core/alloc.h"
#include "model/model.h"

/* The VAE's input for one image of any size: the bytes as x = p/127.5 - 1, resampled to
 * s×s by bilinear interpolation with half-pixel centres (align_corners = False, oneDNN's linear
 * resampling convention, which versions up to 0.3 ran here): output pixel o reads the input at
 * (o + 0.5)·in/s - 0.5, the neighbours clamped at the edges, each axis on its own; an image of
 * s×s is copied. target (may be NULL) gets the Bernoulli targets clamp((x + 1) / 2). x and
 * target hold s×s floats. Plain C so that images of different sizes need no primitive each. */
void spcnn__image_prep(const uint8_t *image, size_t h, size_t w, int s, float *x,
                       float *target);

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

/* The window at (top, left) of the image resampled to sh × sw (as spcnn__resize_bilinear_u8
 * makes it, sh ≥ h, sw ≥ w), with the grid of that size, without resampling the rest of the
 * image: the same bytes as resizing first and cropping after. */
void spcnn__crop_window_scaled(const uint8_t *image, size_t h, size_t w, size_t sh, size_t sw,
                               size_t top, size_t left, int m, float *x, uint8_t *pix,
                               float *grid);

#endif
