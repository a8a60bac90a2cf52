#include "nn/shift.h"

#include <string.h>

/* Rows are contiguous runs of w*c floats (columns: runs of c floats), so each shift is a
 * memcpy of all but one run and a memset of the other, per image (per row). */
void spcnn__down_shift_forward(const float *x, float *y, size_t n, size_t h, size_t w, size_t c)
{
    size_t row = w * c;
    for (size_t b = 0; b < n; b++) {
        float *yb = y + b * h * row;
        const float *xb = x + b * h * row;
        memset(yb, 0, row * sizeof *yb);
        if (h > 1)
            memcpy(yb + row, xb, (h - 1) * row * sizeof *yb);
    }
}

void spcnn__down_shift_backward(const float *dy, float *dx, size_t n, size_t h, size_t w,
                                size_t c)
{
    size_t row = w * c;
    for (size_t b = 0; b < n; b++) {
        float *dxb = dx + b * h * row;
        const float *dyb = dy + b * h * row;
        if (h > 1)
            memcpy(dxb, dyb + row, (h - 1) * row * sizeof *dxb);
        memset(dxb + (h - 1) * row, 0, row * sizeof *dxb);
    }
}

void spcnn__right_shift_forward(const float *x, float *y, size_t n, size_t h, size_t w, size_t c)
{
    for (size_t r = 0; r < n * h; r++) {
        float *yr = y + r * w * c;
        const float *xr = x + r * w * c;
        memset(yr, 0, c * sizeof *yr);
        if (w > 1)
            memcpy(yr + c, xr, (w - 1) * c * sizeof *yr);
    }
}

void spcnn__right_shift_backward(const float *dy, float *dx, size_t n, size_t h, size_t w,
                                 size_t c)
{
    for (size_t r = 0; r < n * h; r++) {
        float *dxr = dx + r * w * c;
        const float *dyr = dy + r * w * c;
        if (w > 1)
            memcpy(dxr, dyr + c, (w - 1) * c * sizeof *dxr);
        memset(dxr + (w - 1) * c, 0, c * sizeof *dxr);
    }
}

void spcnn__crop_region(const float *x, spcnn__region from, size_t c, float *y, spcnn__region to,
                        size_t y_c, size_t n)
{
    const size_t fh = (size_t)from.h, fw = (size_t)from.w, th = (size_t)to.h, tw = (size_t)to.w;
    const size_t dr = (size_t)(to.top - from.top), dc = (size_t)(to.left - from.left);
    for (size_t b = 0; b < n; b++)
        for (size_t r = 0; r < th; r++) {
            const float *xr = x + ((b * fh + dr + r) * fw + dc) * c;
            float *yr = y + (b * th + r) * tw * y_c;
            if (y_c == c) {
                memcpy(yr, xr, tw * c * sizeof *yr);
                continue;
            }
            for (size_t col = 0; col < tw; col++)
                memcpy(yr + col * y_c, xr + col * c, c * sizeof *yr);
        }
}
