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

/* Bottom-right crop: for each of n images, the bottom-right to×to square of x [from × from × c]
 * goes to y, whose pixels are y_c floats apart (y_c >= c: a channel slice of a wider tensor,
 * e.g. one half of a concatenation; y_c = c: a plain crop). Requires to <= from. */
void spcnn__crop_square(const float *x, size_t from, size_t c, float *y, size_t to, size_t y_c,
                        size_t n);

#endif
