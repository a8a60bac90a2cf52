#include "model/plan.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

/* One axis of the half-pixel resampling: the two input indices and the weight of the second. */
static void half_pixel_tap(size_t o, size_t in, size_t out, size_t *i0, size_t *i1, float *frac)
{
    double pos = ((double)o + 0.5) * (double)in / (double)out - 0.5;
    double lo = floor(pos);
    *frac = (float)(pos - lo);
    /* pos lies in [-0.5, in - 0.5): lo is -1 at the first edge at most, lo + 1 is in at the
     * last at most. */
    *i0 = lo < 0 ? 0 : (size_t)lo;
    *i1 = lo + 1 >= (double)in ? in - 1 : (size_t)(lo + 1);
}

void spcnn__image_prep(const uint8_t *image, size_t h, size_t w, int s, float *x,
                       float *target)
{
    const size_t ss = (size_t)s;
    if (h == ss && w == ss) {
        for (size_t i = 0; i < ss * ss; i++)
            x[i] = (float)image[i] / 127.5f - 1.0f;
    } else {
        for (size_t r = 0; r < ss; r++) {
            size_t y0, y1;
            float fy;
            half_pixel_tap(r, h, ss, &y0, &y1, &fy);
            for (size_t c = 0; c < ss; c++) {
                size_t x0, x1;
                float fx;
                half_pixel_tap(c, w, ss, &x0, &x1, &fx);
                float a = (float)image[y0 * w + x0] / 127.5f - 1.0f;
                float b = (float)image[y0 * w + x1] / 127.5f - 1.0f;
                float cc = (float)image[y1 * w + x0] / 127.5f - 1.0f;
                float d = (float)image[y1 * w + x1] / 127.5f - 1.0f;
                float top = a + fx * (b - a), bottom = cc + fx * (d - cc);
                x[r * ss + c] = top + fy * (bottom - top);
            }
        }
    }
    if (target == NULL)
        return;
    for (size_t i = 0; i < ss * ss; i++) {
        float t = 0.5f * (x[i] + 1.0f);
        target[i] = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    }
}

spcnn__pixelcnn_shape spcnn__model_pixelcnn_shape(const spcnn_model *m, int n, int backward)
{
    spcnn__pixelcnn_shape s = {n, m->m, m->f, m->r, m->k, m->use_latent ? m->latent : 0,
                               m->grid_mode, backward, 0,
                               backward ? m->train_bf16 : m->bf16, 0, 0, 0};
    return s;
}

spcnn__vae_shape spcnn__model_vae_shape(const spcnn_model *m, int n, int backward)
{
    spcnn__vae_shape s = {n, m->image_size, m->latent, SPCNN__VAE_CHANNELS, backward};
    return s;
}

/* Images large enough for a window, and sizes whose products fit. */
spcnn_status spcnn__check_images(const spcnn_model *m, const char *what, const void *images,
                                 size_t n, size_t h, size_t w)
{
    SPCNN_CHECK_ARG(images != NULL, "%s: images is NULL", what);
    SPCNN_CHECK_ARG(n >= 1, "%s: no images (n = 0)", what);
    SPCNN_CHECK_ARG(h >= (size_t)m->m && w >= (size_t)m->m,
                    "%s: a %zux%zu image is smaller than the %dx%d window", what, h, w, m->m,
                    m->m);
    SPCNN_CHECK_ARG(h <= 1000000 && w <= 1000000 && n <= 100000000 && h * w <= SIZE_MAX / n / 16,
                    "%s: %zu images of %zux%zu are too large", what, n, h, w);
    return SPCNN_OK;
}

/* One axis of the resampling: the input index below output i and the weight of the next. */
static void resize_tap(size_t i, size_t in, size_t out, size_t *lo, double *frac)
{
    double pos = out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0.0;
    size_t k = (size_t)pos;
    if (k >= in - 1) { /* the last pixel (or a one-pixel input) */
        *lo = in - 1;
        *frac = 0;
        return;
    }
    *lo = k;
    *frac = pos - (double)k;
}

/* Pixel (r, c) of the image resampled to oh × ow (spcnn__resize_bilinear_u8). */
static uint8_t resized_pixel(const uint8_t *src, size_t h, size_t w, size_t oh, size_t ow,
                             size_t r, size_t c)
{
    size_t y, x;
    double fy, fx;
    resize_tap(r, h, oh, &y, &fy);
    resize_tap(c, w, ow, &x, &fx);
    const uint8_t *row0 = src + y * w, *row1 = src + (fy > 0 ? y + 1 : y) * w;
    size_t x1 = fx > 0 ? x + 1 : x;
    double top = row0[x] + fx * (row0[x1] - row0[x]);
    double bottom = row1[x] + fx * (row1[x1] - row1[x]);
    double v = top + fy * (bottom - top);
    return (uint8_t)(v + 0.5);
}

void spcnn__resize_bilinear_u8(const uint8_t *src, size_t h, size_t w, uint8_t *dst, size_t oh,
                               size_t ow)
{
    for (size_t r = 0; r < oh; r++)
        for (size_t c = 0; c < ow; c++)
            dst[r * ow + c] = resized_pixel(src, h, w, oh, ow, r, c);
}

/* Copy the window at (top, left) of an image into x (pixel values), pix (bytes) and grid (the
 * image's coordinate grid: G[r][c] = (-1 + 2r/(H-1), -1 + 2c/(W-1))). */
void spcnn__crop_window(const uint8_t *image, size_t h, size_t w, size_t top, size_t left,
                        int m, float *x, uint8_t *pix, float *grid)
{
    const double sy = h > 1 ? 2.0 / (double)(h - 1) : 0, sx = w > 1 ? 2.0 / (double)(w - 1) : 0;
    for (int r = 0; r < m; r++)
        for (int c = 0; c < m; c++) {
            size_t i = (size_t)r * (size_t)m + (size_t)c;
            uint8_t v = image[(top + (size_t)r) * w + left + (size_t)c];
            x[i] = (float)v / 127.5f - 1.0f;
            pix[i] = v;
            grid[2 * i] = (float)(-1.0 + sy * (double)(top + (size_t)r));
            grid[2 * i + 1] = (float)(-1.0 + sx * (double)(left + (size_t)c));
        }
}

void spcnn__crop_window_scaled(const uint8_t *image, size_t h, size_t w, size_t sh, size_t sw,
                               size_t top, size_t left, int m, float *x, uint8_t *pix,
                               float *grid)
{
    if (sh == h && sw == w) {
        spcnn__crop_window(image, h, w, top, left, m, x, pix, grid);
        return;
    }
    const double sy = 2.0 / (double)(sh - 1), sx = 2.0 / (double)(sw - 1);
    for (int r = 0; r < m; r++)
        for (int c = 0; c < m; c++) {
            size_t i = (size_t)r * (size_t)m + (size_t)c;
            uint8_t v = resized_pixel(image, h, w, sh, sw, top + (size_t)r, left + (size_t)c);
            x[i] = (float)v / 127.5f - 1.0f;
            pix[i] = v;
            grid[2 * i] = (float)(-1.0 + sy * (double)(top + (size_t)r));
            grid[2 * i + 1] = (float)(-1.0 + sx * (double)(left + (size_t)c));
        }
}
