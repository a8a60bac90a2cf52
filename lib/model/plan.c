#include "model/plan.h"

#include <string.h>

#include "core/alloc.h"

void spcnn__image_prep_deinit(spcnn__image_prep *p)
{
    spcnn__resample_deinit(&p->resample);
    spcnn__free_aligned(p->full);
    spcnn__free_aligned(p->x);
    spcnn__free_aligned(p->target);
    memset(p, 0, sizeof *p);
}

static float *alloc_floats(size_t count, spcnn_status *st, const char *what)
{
    if (*st != SPCNN_OK)
        return NULL;
    float *p = spcnn__malloc_aligned(count * sizeof(float));
    if (p == NULL)
        *st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu floats", what,
                           count);
    return p;
}

spcnn_status spcnn__image_prep_init(spcnn__image_prep *p, spcnn__dnnl *ctx, size_t n, size_t h,
                                    size_t w, int s)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->h = h;
    p->w = w;
    p->resample_needed = h != (size_t)s || w != (size_t)s;
    spcnn_status st = SPCNN_OK;
    size_t ss = n * (size_t)s * (size_t)s;
    p->x = alloc_floats(ss, &st, "image preparation");
    p->target = alloc_floats(ss, &st, "image preparation");
    if (p->resample_needed) {
        p->full = alloc_floats(n * h * w, &st, "image preparation");
        spcnn__resample_shape rs = {(int)n, 1, (int)h, (int)w, s, s};
        if (st == SPCNN_OK)
            st = spcnn__resample_init(&p->resample, ctx, &rs);
    }
    if (st != SPCNN_OK)
        spcnn__image_prep_deinit(p);
    return st;
}

/* Fill x (and target) from bytes. */
spcnn_status spcnn__image_prep_run(spcnn__image_prep *p, spcnn__dnnl *ctx,
                                   const uint8_t *images, int s)
{
    size_t ss = p->n * (size_t)s * (size_t)s;
    if (p->resample_needed) {
        for (size_t i = 0; i < p->n * p->h * p->w; i++)
            p->full[i] = (float)images[i] / 127.5f - 1.0f;
        SPCNN_TRY(spcnn__resample_forward(&p->resample, ctx, p->full, p->x));
    } else {
        for (size_t i = 0; i < ss; i++)
            p->x[i] = (float)images[i] / 127.5f - 1.0f;
    }
    for (size_t i = 0; i < ss; i++) {
        float t = 0.5f * (p->x[i] + 1.0f);
        p->target[i] = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    }
    return SPCNN_OK;
}

spcnn__pixelcnn_shape spcnn__model_pixelcnn_shape(const spcnn_model *m, int n, int backward)
{
    spcnn__pixelcnn_shape s = {n, m->m, m->f, m->r, m->k, m->use_latent ? m->latent : 0,
                               m->grid_mode, backward, 0};
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

void spcnn__resize_bilinear_u8(const uint8_t *src, size_t h, size_t w, uint8_t *dst, size_t oh,
                               size_t ow)
{
    for (size_t r = 0; r < oh; r++) {
        size_t y;
        double fy;
        resize_tap(r, h, oh, &y, &fy);
        const uint8_t *row0 = src + y * w, *row1 = src + (fy > 0 ? y + 1 : y) * w;
        for (size_t c = 0; c < ow; c++) {
            size_t x;
            double fx;
            resize_tap(c, w, ow, &x, &fx);
            size_t x1 = fx > 0 ? x + 1 : x;
            double top = row0[x] + fx * (row0[x1] - row0[x]);
            double bottom = row1[x] + fx * (row1[x1] - row1[x]);
            double v = top + fy * (bottom - top);
            dst[r * ow + c] = (uint8_t)(v + 0.5);
        }
    }
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
