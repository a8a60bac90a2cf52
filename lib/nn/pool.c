#include "nn/pool.h"

#include <string.h>

#include "core/alloc.h"

spcnn_status spcnn__pool_out_size(const spcnn__pool_shape *s, int *oh, int *ow)
{
    SPCNN_CHECK_ARG(s->n > 0 && s->h > 0 && s->w > 0 && s->c > 0 && s->kh > 0 && s->kw > 0 &&
                        s->stride_h > 0 && s->stride_w > 0,
                    "pooling: sizes, window and strides must be positive");
    SPCNN_CHECK_ARG(s->h >= s->kh && s->w >= s->kw,
                    "pooling: a %d×%d input is smaller than the %d×%d window", s->h, s->w, s->kh,
                    s->kw);
    *oh = (s->h - s->kh) / s->stride_h + 1;
    *ow = (s->w - s->kw) / s->stride_w + 1;
    return SPCNN_OK;
}

spcnn_status spcnn__pool_init(spcnn__pool *l, spcnn__dnnl *ctx, const spcnn__pool_shape *shape)
{
    memset(l, 0, sizeof *l);
    l->s = *shape;
    const spcnn__pool_shape *s = &l->s;
    SPCNN_TRY(spcnn__pool_out_size(s, &l->oh, &l->ow));
    spcnn_status st = SPCNN_OK;
    dnnl_primitive_desc_t fwd_pd = NULL;
    dnnl_dims_t xd = {s->n, s->c, s->h, s->w}, yd = {s->n, s->c, l->oh, l->ow};
    dnnl_dims_t strides = {s->stride_h, s->stride_w}, kernel = {s->kh, s->kw};
    dnnl_dims_t pad = {0, 0};
    dnnl_memory_desc_t xmd, ymd;
    dnnl_status_t ds = dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, dnnl_nhwc);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_nhwc);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "pooling"));

    dnnl_pooling_desc_t d;
    ds = dnnl_pooling_forward_desc_init(
        &d, s->backward ? dnnl_forward_training : dnnl_forward_inference, dnnl_pooling_max, &xmd,
        &ymd, strides, kernel, pad, pad);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "pooling forward descriptor"));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->fwd, &fwd_pd, &d, NULL, NULL,
                                                    "pooling forward"));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->x, &xmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->y, &ymd, NULL));
    if (s->backward) {
        /* The workspace: which element of each window won, in the primitive's own format. */
        const dnnl_memory_desc_t *wmd =
            dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_workspace_md, 0);
        if (wmd == NULL) {
            st = spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: max pooling: no workspace");
            goto fail;
        }
        l->ws_buf = spcnn__malloc_aligned(dnnl_memory_desc_get_size(wmd));
        if (l->ws_buf == NULL) {
            st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "pooling: workspace: out of memory");
            goto fail;
        }
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->ws, wmd, l->ws_buf));
        ds = dnnl_pooling_backward_desc_init(&d, dnnl_pooling_max, &xmd, &ymd, strides, kernel,
                                             pad, pad);
        SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "pooling backward descriptor"));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd, NULL, &d, NULL, fwd_pd,
                                                        "pooling backward"));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dx, &xmd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dy, &ymd, NULL));
    }
    dnnl_primitive_desc_destroy(fwd_pd);
    return SPCNN_OK;
fail:
    if (fwd_pd)
        dnnl_primitive_desc_destroy(fwd_pd);
    spcnn__pool_deinit(l);
    return st;
}

spcnn_status spcnn__pool_forward(spcnn__pool *l, spcnn__dnnl *ctx, const float *x, float *y)
{
    SPCNN_TRY(spcnn__dnnl_set_handle(l->x, x));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->y, y));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, l->x}, {DNNL_ARG_DST, l->y}};
    int nargs = 2;
    if (l->s.backward) {
        args[nargs].arg = DNNL_ARG_WORKSPACE;
        args[nargs++].memory = l->ws;
    }
    return spcnn__dnnl_execute(ctx, l->fwd, nargs, args, "pooling forward");
}

spcnn_status spcnn__pool_backward(spcnn__pool *l, spcnn__dnnl *ctx, const float *dy, float *dx)
{
    if (!l->s.backward)
        return spcnn__error(SPCNN_ERR_INTERNAL, "pooling: backward of a forward-only layer");
    SPCNN_TRY(spcnn__dnnl_set_handle(l->dy, dy));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->dx, dx));
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_DIFF_DST, l->dy}, {DNNL_ARG_WORKSPACE, l->ws}, {DNNL_ARG_DIFF_SRC, l->dx}};
    return spcnn__dnnl_execute(ctx, l->bwd, 3, args, "pooling backward");
}

void spcnn__pool_deinit(spcnn__pool *l)
{
    if (l->fwd)
        dnnl_primitive_destroy(l->fwd);
    if (l->bwd)
        dnnl_primitive_destroy(l->bwd);
    dnnl_memory_t mems[] = {l->x, l->y, l->dx, l->dy, l->ws};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    spcnn__free_aligned(l->ws_buf);
    memset(l, 0, sizeof *l);
}
