#include "nn/resample.h"

#include <string.h>

spcnn_status spcnn__resample_init(spcnn__resample *l, spcnn__dnnl *ctx,
                                  const spcnn__resample_shape *shape)
{
    memset(l, 0, sizeof *l);
    l->s = *shape;
    const spcnn__resample_shape *s = &l->s;
    SPCNN_CHECK_ARG(s->n > 0 && s->c > 0 && s->ih > 0 && s->iw > 0 && s->oh > 0 && s->ow > 0,
                    "resample: sizes must be positive");
    spcnn_status st = SPCNN_OK;
    dnnl_dims_t xd = {s->n, s->c, s->ih, s->iw}, yd = {s->n, s->c, s->oh, s->ow};
    dnnl_memory_desc_t xmd, ymd;
    dnnl_status_t ds = dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, dnnl_nhwc);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_nhwc);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "resample"));
    /* No factors: oneDNN derives them as out / in, which is the convention documented. */
    dnnl_resampling_desc_t d;
    ds = dnnl_resampling_forward_desc_init(&d, dnnl_forward_inference, dnnl_resampling_linear,
                                           NULL, &xmd, &ymd);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "resample forward descriptor"));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->fwd, NULL, &d, NULL, NULL,
                                                    "resample forward"));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->x, &xmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->y, &ymd, NULL));
    return SPCNN_OK;
fail:
    spcnn__resample_deinit(l);
    return st;
}

spcnn_status spcnn__resample_forward(spcnn__resample *l, spcnn__dnnl *ctx, const float *x,
                                     float *y)
{
    SPCNN_TRY(spcnn__dnnl_set_handle(l->x, x));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->y, y));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, l->x}, {DNNL_ARG_DST, l->y}};
    return spcnn__dnnl_execute(ctx, l->fwd, 2, args, "resample forward");
}

/* Where output o of out samples an input of in: the lower neighbour and the weight of the
 * upper one. */
static void endpoint_source(int o, int in, int out, int *lo, float *t)
{
    if (out == 1 || in == 1) {
        *lo = 0;
        *t = 0.0f;
        return;
    }
    const double at = (double)o * (double)(in - 1) / (double)(out - 1);
    *lo = (int)at;
    if (*lo >= in - 1)
        *lo = in - 2;
    *t = (float)(at - (double)*lo);
}

void spcnn__resample_endpoints_forward(const float *x, float *y, int n, int c, int ih, int iw,
                                       int oh, int ow)
{
    for (int b = 0; b < n; b++) {
        const float *xb = x + (size_t)b * (size_t)(ih * iw * c);
        float *yb = y + (size_t)b * (size_t)(oh * ow * c);
        for (int r = 0; r < oh; r++) {
            int r0;
            float tr;
            endpoint_source(r, ih, oh, &r0, &tr);
            const int r1 = ih > 1 ? r0 + 1 : r0;
            for (int q = 0; q < ow; q++) {
                int q0;
                float tq;
                endpoint_source(q, iw, ow, &q0, &tq);
                const int q1 = iw > 1 ? q0 + 1 : q0;
                for (int k = 0; k < c; k++) {
                    const float a = xb[(r0 * iw + q0) * c + k], bq = xb[(r0 * iw + q1) * c + k];
                    const float d = xb[(r1 * iw + q0) * c + k], e = xb[(r1 * iw + q1) * c + k];
                    const float top = a + tq * (bq - a), bottom = d + tq * (e - d);
                    yb[(r * ow + q) * c + k] = top + tr * (bottom - top);
                }
            }
        }
    }
}

void spcnn__resample_deinit(spcnn__resample *l)
{
    if (l->fwd)
        dnnl_primitive_destroy(l->fwd);
    if (l->x)
        dnnl_memory_destroy(l->x);
    if (l->y)
        dnnl_memory_destroy(l->y);
    memset(l, 0, sizeof *l);
}
