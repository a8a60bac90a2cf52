#include "nn/linear.h"

#include <string.h>

#include "core/alloc.h"
#include "core/multiversion.h"

spcnn_status spcnn__linear_init(spcnn__linear *l, spcnn__dnnl *ctx,
                                const spcnn__linear_shape *shape)
{
    memset(l, 0, sizeof *l);
    l->s = *shape;
    const spcnn__linear_shape *s = &l->s;
    SPCNN_CHECK_ARG(s->n > 0 && s->in > 0 && s->out > 0,
                    "linear: sizes must be positive (n %d, in %d, out %d)", s->n, s->in, s->out);
    spcnn_status st = SPCNN_OK;
    dnnl_primitive_desc_t fwd_pd = NULL;
    dnnl_dims_t xd = {s->n, s->in}, yd = {s->n, s->out}, wd = {s->out, s->in}, bd = {s->out};
    dnnl_memory_desc_t xmd, ymd, wmd, bmd;
    dnnl_status_t ds = dnnl_memory_desc_init_by_tag(&xmd, 2, xd, dnnl_f32, dnnl_nc);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&ymd, 2, yd, dnnl_f32, dnnl_nc);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dnnl_f32, dnnl_oi);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "linear"));
    const dnnl_memory_desc_t *bprim = s->bias ? &bmd : NULL;

    dnnl_inner_product_desc_t d;
    ds = dnnl_inner_product_forward_desc_init(
        &d, s->backward ? dnnl_forward_training : dnnl_forward_inference, &xmd, &wmd, bprim, &ymd);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "linear forward descriptor"));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->fwd, &fwd_pd, &d, NULL, NULL,
                                                    "linear forward"));
    if (s->backward) {
        ds = dnnl_inner_product_backward_data_desc_init(&d, &xmd, &wmd, &ymd);
        SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "linear backward data descriptor"));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd_data, NULL, &d, NULL, fwd_pd,
                                                        "linear backward data"));
        ds = dnnl_inner_product_backward_weights_desc_init(&d, &xmd, &wmd, bprim, &ymd);
        SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "linear backward weights descriptor"));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd_weights, NULL, &d, NULL,
                                                        fwd_pd, "linear backward weights"));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dx, &xmd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dy, &ymd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dw, &wmd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->db, &bmd, NULL));
    }
    if (!s->backward) {
        const size_t in = (size_t)s->in, out = (size_t)s->out;
        l->memo_x = spcnn__malloc_aligned((in + out + in * out) * sizeof(float));
        if (!l->memo_x) {
            st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "linear: out of memory");
            goto fail;
        }
        l->memo_y = l->memo_x + in;
        l->wt = l->memo_y + out;
    }
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->x, &xmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->w, &wmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->b, &bmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->y, &ymd, NULL));
    dnnl_primitive_desc_destroy(fwd_pd);
    return SPCNN_OK;
fail:
    if (fwd_pd)
        dnnl_primitive_desc_destroy(fwd_pd);
    spcnn__linear_deinit(l);
    return st;
}

/* y[o] = b[o] + Σ_i x[i]·w[o][i], each sum in order of i, from the transposed weights wt
 * (wt[i·out + o] = w[o][i]): all outputs' sums advance together, a vector of outputs per
 * instruction. Every sum is the same sequence of float operations (a product, then an
 * addition: ISO C does not contract them) whatever the vector width, so the bytes do not
 * change. */
SPCNN_MULTIVERSION static void dot_rows(const float *restrict x, const float *restrict wt,
                                        const float *restrict b, float *restrict y, size_t in,
                                        size_t out)
{
    enum { BLOCK = 32 }; /* outputs kept in registers across the whole sum */
    size_t o0 = 0;
    for (; o0 + BLOCK <= out; o0 += BLOCK) {
        float acc[BLOCK];
        for (size_t k = 0; k < BLOCK; k++)
            acc[k] = b ? b[o0 + k] : 0.0f;
        for (size_t i = 0; i < in; i++) {
            const float xi = x[i];
            const float *wi = wt + i * out + o0;
            for (size_t k = 0; k < BLOCK; k++)
                acc[k] += xi * wi[k];
        }
        for (size_t k = 0; k < BLOCK; k++)
            y[o0 + k] = acc[k];
    }
    for (size_t o = o0; o < out; o++)
        y[o] = b ? b[o] : 0.0f;
    for (size_t i = 0; i < in && o0 < out; i++) {
        const float xi = x[i];
        const float *wi = wt + i * out;
        for (size_t o = o0; o < out; o++)
            y[o] += xi * wi[o];
    }
}

/* The forward-only path of `rows` rows (see spcnn__linear_forward). */
static void forward_rows(spcnn__linear *l, spcnn__dnnl *ctx, const float *x, size_t rows,
                         const float *w, const float *b, float *y)
{
    /* Forward-only plans (evaluation, sampling) use a plain loop: oneDNN's inner product
     * takes a different path for one row than for many, so its results depend on the
     * batch size, and sampling must give the same bytes whatever the batch. A row equal
     * to the one before (the sampler's windows of one image share z) copies its result:
     * the loop was 7 % of a sampling pass before it did. */
    const size_t in = (size_t)l->s.in, out = (size_t)l->s.out;
    if (!l->wt_valid || l->wt_w != w || l->wt_version != ctx->weights_version) {
        for (size_t o = 0; o < out; o++)
            for (size_t i = 0; i < in; i++)
                l->wt[i * out + o] = w[o * in + i];
        l->wt_w = w;
        l->wt_version = ctx->weights_version;
        l->wt_valid = 1;
    }
    for (size_t n = 0; n < rows; n++) {
        const float *xr = x + n * in;
        if (n > 0 && memcmp(xr, xr - in, in * sizeof *xr) == 0) {
            memcpy(y + n * out, y + (n - 1) * out, out * sizeof *y);
            continue;
        }
        if (n == 0 && l->memo_valid && l->memo_w == w && l->memo_b == b &&
            l->memo_version == ctx->weights_version &&
            memcmp(xr, l->memo_x, in * sizeof *xr) == 0) {
            memcpy(y, l->memo_y, out * sizeof *y);
            continue;
        }
        dot_rows(xr, l->wt, l->s.bias ? b : NULL, y + n * out, in, out);
    }
    const size_t last = rows - 1;
    memcpy(l->memo_x, x + last * in, in * sizeof *x);
    memcpy(l->memo_y, y + last * out, out * sizeof *y);
    l->memo_w = w;
    l->memo_b = b;
    l->memo_version = ctx->weights_version;
    l->memo_valid = 1;
}

spcnn_status spcnn__linear_forward_rows(spcnn__linear *l, spcnn__dnnl *ctx, const float *x,
                                        size_t rows, const float *w, const float *b, float *y)
{
    if (l->s.backward || rows == 0)
        return spcnn__error(SPCNN_ERR_INTERNAL,
                            "linear: rows of a training layer, or no rows");
    forward_rows(l, ctx, x, rows, w, b, y);
    return SPCNN_OK;
}

spcnn_status spcnn__linear_forward(spcnn__linear *l, spcnn__dnnl *ctx, const float *x,
                                   const float *w, const float *b, float *y)
{
    if (!l->s.backward) {
        forward_rows(l, ctx, x, (size_t)l->s.n, w, b, y);
        return SPCNN_OK;
    }
    SPCNN_TRY(spcnn__dnnl_set_handle(l->x, x));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->w, w));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->y, y));
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, l->x}, {DNNL_ARG_WEIGHTS, l->w},
                               {DNNL_ARG_DST, l->y}};
    int nargs = 3;
    if (l->s.bias) {
        SPCNN_TRY(spcnn__dnnl_set_handle(l->b, b));
        args[nargs].arg = DNNL_ARG_BIAS;
        args[nargs++].memory = l->b;
    }
    return spcnn__dnnl_execute(ctx, l->fwd, nargs, args, "linear forward");
}

spcnn_status spcnn__linear_backward(spcnn__linear *l, spcnn__dnnl *ctx, const float *x,
                                    const float *w, const float *dy, float *dx, float *dw,
                                    float *db)
{
    if (!l->s.backward)
        return spcnn__error(SPCNN_ERR_INTERNAL, "linear: backward of a forward-only layer");
    SPCNN_TRY(spcnn__dnnl_set_handle(l->dy, dy));
    if (dx) {
        SPCNN_TRY(spcnn__dnnl_set_handle(l->w, w));
        SPCNN_TRY(spcnn__dnnl_set_handle(l->dx, dx));
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_DIFF_DST, l->dy}, {DNNL_ARG_WEIGHTS, l->w}, {DNNL_ARG_DIFF_SRC, l->dx}};
        SPCNN_TRY(spcnn__dnnl_execute(ctx, l->bwd_data, 3, args, "linear backward data"));
    }
    if (dw) {
        if (l->s.bias && db == NULL)
            return spcnn__error(SPCNN_ERR_INTERNAL, "linear: bias gradient missing");
        SPCNN_TRY(spcnn__dnnl_set_handle(l->x, x));
        SPCNN_TRY(spcnn__dnnl_set_handle(l->dw, dw));
        dnnl_exec_arg_t args[5] = {
            {DNNL_ARG_SRC, l->x}, {DNNL_ARG_DIFF_DST, l->dy}, {DNNL_ARG_DIFF_WEIGHTS, l->dw}};
        int nargs = 3;
        if (l->s.bias) {
            SPCNN_TRY(spcnn__dnnl_set_handle(l->db, db));
            args[nargs].arg = DNNL_ARG_DIFF_BIAS;
            args[nargs++].memory = l->db;
        }
        SPCNN_TRY(spcnn__dnnl_execute(ctx, l->bwd_weights, nargs, args,
                                      "linear backward weights"));
    }
    return SPCNN_OK;
}

void spcnn__linear_deinit(spcnn__linear *l)
{
    dnnl_primitive_t prims[] = {l->fwd, l->bwd_data, l->bwd_weights};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {l->x, l->w, l->b, l->y, l->dx, l->dy, l->dw, l->db};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    spcnn__free_aligned(l->memo_x); /* memo_y lies in the same block */
    memset(l, 0, sizeof *l);
}
