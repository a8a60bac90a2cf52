/* PixelCNN++'s shifts, and crops, on NHWC tensors (plain loops: pure data movement).
 * down_shift: output row 0 is zero, row r is input row r-1 (drops the last input row).
 * right_shift: output column 0 is zero, column c is input column c-1.
 * Backward overwrites dx: dx row r = dy row r+1, the last row zero (columns likewise). */
#ifndef SPCNN_NN_SHIFT_H
#define SPCNN_NN_SHIFT_H

#include <stddef.h>

void spcnn__down_shift_forward(const float *x, float *y, size_t n, size_t h, size_t w, size_t c);
void spcnn__down_shift_backward(const float *dy, float *dx, size_t n, size_t h, size_t w,
                                size_t c);
void spcnn__right_shift_forward(const float *x, float *y, size_t n, size_t h, size_t w, size_t c);
void spcnn__right_shift_backward(const float *dy, float *dx, size_t n, size_t h, size_t w,
                                 size_t c);

/* A rectangle of a tensor's spatial grid: rows [top, top + h), columns [left, left + w). */
typedef struct spcnn__region {
    int top, left, h, w;
} spcnn__region;

/* Crop: for each of n images, the part on region `to` of x, which is stored on region `from`
 * (to inside from) with c channels, goes to y [to.h × to.w], whose pixels are y_c floats apart
 * (y_c >= c: a channel slice of a wider tensor, e.g. one half of a concatenation; y_c = c: a
 * plain crop). */
void spcnn__crop_region(const float *x, spcnn__region from, size_t c, float *y, spcnn__region to,
                        size_t y_c, size_t n);

#endif
