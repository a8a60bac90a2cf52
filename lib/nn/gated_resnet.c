#include "nn/gated_resnet.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/elementwise.h"
#include "nn/shift.h"

#define NO_ROW SIZE_MAX

static size_t pixels(const spcnn__gated_resnet_shape *s)
{
    return (size_t)s->n * (size_t)s->h * (size_t)s->w;
}

/* Where a block's tensors live: the output (c2, grid) on region o (p pixels), c1 and the aux
 * input on o1 (p1), x on ox (px). An ordinary block has them all on its h×w; a cone block on
 * rectangles of its full×full scale (gated_resnet.h). */
typedef struct extents {
    size_t p, p1, px;
    spcnn__region o, o1, ox;
} extents;

static size_t region_pixels(const spcnn__gated_resnet_shape *s, spcnn__region r)
{
    return (size_t)s->n * (size_t)r.h * (size_t)r.w;
}

/* The input region a causal convolution of the block's stream reads for output region o. */
static spcnn__region conv_input(const spcnn__gated_resnet_shape *s, spcnn__region o)
{
    const int right = s->conv == SPCNN__CONV_DOWN_SHIFTED ? 1 : 0;
    const int bottom = o.top + o.h, end = o.left + o.w + right;
    spcnn__region in = {o.top > 0 ? o.top - 1 : 0, o.left > 0 ? o.left - 1 : 0, 0, 0};
    in.h = bottom - in.top;
    in.w = (end < s->full ? end : s->full) - in.left;
    return in;
}

static extents block_extents(const spcnn__gated_resnet_shape *s)
{
    const spcnn__region o = {s->full > 0 ? s->top : 0, s->full > 0 ? s->left : 0, s->h, s->w};
    extents e = {pixels(s), pixels(s), pixels(s), o, o, o};
    if (s->full > 0) {
        e.o1 = conv_input(s, o);
        e.ox = conv_input(s, e.o1);
        e.p1 = region_pixels(s, e.o1);
        e.px = region_pixels(s, e.ox);
    }
    return e;
}

void spcnn__gated_resnet_cone_inputs(const spcnn__gated_resnet_shape *s, spcnn__region *x,
                                     spcnn__region *a)
{
    const extents e = block_extents(s);
    *x = e.ox;
    *a = e.o1;
}

/* A cone block's causal convolution from region `in` (conv_input(out)) to region `out`: where
 * `in` was clipped at the scale's edge, the full block's padding applies there. */
static spcnn__conv_shape cone_conv(const spcnn__gated_resnet_shape *s, spcnn__region in,
                                   spcnn__region out, int c_in, int c_out)
{
    const int kw = s->conv == SPCNN__CONV_DOWN_SHIFTED ? 3 : 2;
    const int pad_t = out.top - in.top == 1 ? 0 : 1, pad_l = out.left - in.left == 1 ? 0 : 1;
    const int pad_r = kw == 3 && in.left + in.w == out.left + out.w ? 1 : 0;
    spcnn__conv_shape cs = spcnn__conv_shape_make(s->n, in.h, in.w, c_in, c_out, 2, kw, 1, pad_t,
                                                  0, pad_l, pad_r);
    cs.backward = 0;
    cs.bf16 = s->bf16;
    cs.columns = s->columns;
    return cs;
}

static spcnn__conv_shape stream_conv(const spcnn__gated_resnet_shape *s, int c_in, int c_out)
{
    spcnn__conv_shape cs =
        s->conv == SPCNN__CONV_DOWN_SHIFTED
            ? spcnn__conv_shape_down_shifted(s->n, s->h, s->w, c_in, c_out, 2, 3, 1)
            : spcnn__conv_shape_down_right_shifted(s->n, s->h, s->w, c_in, c_out, 2, 2, 1);
    cs.backward = s->backward;
    cs.bf16 = s->bf16;
    cs.columns = s->columns;
    return cs;
}

spcnn_status spcnn__gated_resnet_add_params(spcnn__params *params, const char *prefix,
                                            const spcnn__gated_resnet_shape *s,
                                            spcnn__gated_resnet_rows *rows)
{
    const size_t f = (size_t)s->f, kh = 2, kw = s->conv == SPCNN__CONV_DOWN_SHIFTED ? 3 : 2;
    rows->aux_w = rows->aux_b = rows->grid_w = rows->z_w = NO_ROW;
    SPCNN_TRY(spcnn__params_add_layer(params, prefix, "conv1.w", SPCNN__PARAM_CONV, f, 2 * f,
                                      kh, kw, SPCNN__INIT_HE, &rows->conv1_w));
    SPCNN_TRY(spcnn__params_add_layer(params, prefix, "conv1.b", SPCNN__PARAM_BIAS, f, 1, 1, 1,
                                      SPCNN__INIT_ZEROS, &rows->conv1_b));
    if (s->aux_c > 0) {
        SPCNN_TRY(spcnn__params_add_layer(params, prefix, "aux.w", SPCNN__PARAM_CONV, f,
                                          2 * (size_t)s->aux_c, 1, 1, SPCNN__INIT_HE,
                                          &rows->aux_w));
        SPCNN_TRY(spcnn__params_add_layer(params, prefix, "aux.b", SPCNN__PARAM_BIAS, f, 1, 1, 1,
                                          SPCNN__INIT_ZEROS, &rows->aux_b));
    }
    /* The last conv and the conditioning projections start small: the block starts near the
     * identity, which keeps the deep residual stack stable without data-dependent init. */
    SPCNN_TRY(spcnn__params_add_layer(params, prefix, "conv2.w", SPCNN__PARAM_CONV, 2 * f, 2 * f,
                                      kh, kw, SPCNN__INIT_SMALL, &rows->conv2_w));
    SPCNN_TRY(spcnn__params_add_layer(params, prefix, "conv2.b", SPCNN__PARAM_BIAS, 2 * f, 1, 1,
                                      1, SPCNN__INIT_ZEROS, &rows->conv2_b));
    /* No biases on the projections: conv2's bias already covers them. */
    if (s->grid)
        SPCNN_TRY(spcnn__params_add_layer(params, prefix, "grid.w", SPCNN__PARAM_CONV, 2 * f, 2,
                                          1, 1, SPCNN__INIT_SMALL, &rows->grid_w));
    if (s->latent > 0)
        SPCNN_TRY(spcnn__params_add_layer(params, prefix, "z.w", SPCNN__PARAM_LINEAR, 2 * f,
                                          (size_t)s->latent, 1, 1, SPCNN__INIT_SMALL,
                                          &rows->z_w));
    return SPCNN_OK;
}

size_t spcnn__gated_resnet_work_size(const spcnn__gated_resnet_shape *s)
{
    const size_t p = pixels(s), f = (size_t)s->f, a = (size_t)s->aux_c;
    /* dc2 [2F] + dce (the largest of dce_c1, dce_x [2F] and dce_a [2A]) + dc1 [F] per pixel,
     * dh_z [n × 2F] */
    size_t dce = 2 * f > 2 * a ? 2 * f : 2 * a;
    return p * (2 * f + dce + f) + (size_t)s->n * 2 * f;
}

void spcnn__gated_resnet_deinit(spcnn__gated_resnet *gr)
{
    spcnn__conv_deinit(&gr->conv1);
    spcnn__conv_deinit(&gr->aux);
    spcnn__conv_deinit(&gr->conv2);
    spcnn__conv_deinit(&gr->grid);
    spcnn__linear_deinit(&gr->z);
    spcnn__free_aligned(gr->arena);
    memset(gr, 0, sizeof *gr);
}

enum { NSLOTS = 9 };

/* The activation block's tensors, in slot order (see spcnn__gated_resnet_init). */
static void block_sizes(const spcnn__gated_resnet_shape *s, size_t sizes[NSLOTS])
{
    const extents e = block_extents(s);
    const size_t f = (size_t)s->f, a = (size_t)s->aux_c;
    const size_t list[NSLOTS] = {e.px * 2 * f, e.p1 * f, e.p1 * 2 * a, e.p1 * 2 * f,
                                 e.p * 2 * f, s->grid && s->backward ? e.p * 2 * f : 0,
                                 s->latent ? (size_t)s->n * 2 * f : 0, (e.p1 * 2 * f + 3) / 4,
                                 s->full > 0 ? e.p * f : 0};
    memcpy(sizes, list, sizeof list);
}

/* The activation block's total in floats; with gr, its tensors laid out over base. */
static size_t block_layout(spcnn__gated_resnet *gr, const spcnn__gated_resnet_shape *s,
                           float *base)
{
    size_t sizes[NSLOTS];
    float *at[NSLOTS];
    block_sizes(s, sizes);
    spcnn__carver c = {base, 0};
    for (int i = 0; i < NSLOTS; i++) {
        float *p = spcnn__carve(&c, sizes[i]);
        at[i] = sizes[i] ? p : NULL;
    }
    if (gr) {
        gr->ce_x = at[0], gr->c1 = at[1], gr->ce_a = at[2], gr->ce_c1 = at[3], gr->c2 = at[4];
        gr->h_xy = at[5], gr->h_z = at[6], gr->mask = (uint8_t *)at[7], gr->x_res = at[8];
    }
    return c.at;
}

size_t spcnn__gated_resnet_activation_size(const spcnn__gated_resnet_shape *s)
{
    return block_layout(NULL, s, NULL);
}

spcnn_status spcnn__gated_resnet_init(spcnn__gated_resnet *gr, spcnn__dnnl *ctx,
                                      const spcnn__gated_resnet_shape *s,
                                      const spcnn__gated_resnet_rows *rows, float *shared)
{
    memset(gr, 0, sizeof *gr);
    SPCNN_CHECK_ARG(s->n > 0 && s->h > 0 && s->w > 0 && s->f > 0 && s->aux_c >= 0 &&
                        s->latent >= 0,
                    "gated resnet: invalid shape n=%d h=%d w=%d f=%d", s->n, s->h, s->w, s->f);
    SPCNN_CHECK_ARG(shared == NULL || !s->backward,
                    "gated resnet: a training block keeps its activations: no shared scratch");
    SPCNN_CHECK_ARG(s->full == 0 ||
                        (!s->backward && s->top >= 0 && s->left >= 0 &&
                         s->top + s->h <= s->full && s->left + s->w <= s->full &&
                         s->h * s->w < s->full * s->full),
                    "gated resnet: a cone block is a forward-only rectangle inside its scale and "
                    "smaller than it (h=%d w=%d at %d,%d, full=%d)", s->h, s->w, s->top, s->left,
                    s->full);
    gr->s = *s;
    gr->rows = *rows;
    spcnn_status st;
    const extents e = block_extents(s);
    spcnn__conv_shape cs = s->full ? cone_conv(s, e.ox, e.o1, 2 * s->f, s->f)
                                   : stream_conv(s, 2 * s->f, s->f);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&gr->conv1, ctx, &cs));
    cs = s->full ? cone_conv(s, e.o1, e.o, 2 * s->f, 2 * s->f)
                 : stream_conv(s, 2 * s->f, 2 * s->f);
    SPCNN_TRY_GOTO(st, spcnn__conv_init(&gr->conv2, ctx, &cs));
    if (s->aux_c > 0) {
        cs = spcnn__conv_shape_nin(s->n, e.o1.h, e.o1.w, 2 * s->aux_c, s->f);
        cs.backward = s->backward;
        cs.bf16 = s->bf16;
        SPCNN_TRY_GOTO(st, spcnn__conv_init(&gr->aux, ctx, &cs));
    }
    /* A forward-only block projects the grid in its conditioning add (elementwise.h). */
    if (s->grid && s->backward) {
        cs = spcnn__conv_shape_nin(s->n, s->h, s->w, 2, 2 * s->f);
        cs.bias = 0;
        cs.backward = s->backward;
        SPCNN_TRY_GOTO(st, spcnn__conv_init(&gr->grid, ctx, &cs));
    }
    if (s->latent > 0) {
        spcnn__linear_shape ls = {s->n, s->latent, 2 * s->f, 0, s->backward};
        SPCNN_TRY_GOTO(st, spcnn__linear_init(&gr->z, ctx, &ls));
    }

    /* One block for every kept activation, owned; or, forward-only with `shared`, the
     * caller's scratch (nothing needs to survive the call, so blocks run one after another
     * can share it). */
    float *base = shared;
    if (base == NULL) {
        size_t total = block_layout(NULL, s, NULL);
        base = gr->arena = spcnn__malloc_aligned(total * sizeof(float));
        if (gr->arena == NULL) {
            st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                              "gated resnet: out of memory for %zu bytes of activations",
                              total * sizeof(float));
            goto fail;
        }
    }
    block_layout(gr, s, base);
    return SPCNN_OK;
fail:
    spcnn__gated_resnet_deinit(gr);
    return st;
}

static const float *row_ptr(const spcnn__params *params, const float *base, size_t row)
{
    return row == NO_ROW ? NULL : base + params->rows[row].offset;
}

static float *grad_ptr(const spcnn__params *params, size_t row)
{
    return row == NO_ROW ? NULL : spcnn__params_grad(params, row);
}

spcnn_status spcnn__gated_resnet_forward(spcnn__gated_resnet *gr, spcnn__dnnl *ctx,
                                         const spcnn__params *params, const float *w,
                                         const float *x, const float *a, const float *grid,
                                         const float *z, float rate, uint64_t dropout_key,
                                         float *out)
{
    const spcnn__gated_resnet_shape *s = &gr->s;
    const spcnn__gated_resnet_rows *r = &gr->rows;
    const extents e = block_extents(s);
    const size_t p = e.p, f = (size_t)s->f;

    /* bf16 forward-only blocks round each concat_elu straight into the context's bf16
     * buffer, the convolution's input: the bytes spcnn__conv_forward's own pass would give.
     * Training blocks keep the fp32 concat_elu outputs: the fp32 weight gradient reads them. */
    const int rounded = s->bf16 && !s->backward && rate == 0.0f;
    if (rounded) {
        spcnn__concat_elu_forward_bf16(x, ctx->bf16_input, e.px, f);
        SPCNN_TRY(spcnn__conv_forward_rounded(&gr->conv1, ctx, row_ptr(params, w, r->conv1_w),
                                              row_ptr(params, w, r->conv1_b), gr->c1));
    } else {
        spcnn__concat_elu_forward(x, gr->ce_x, e.px, f);
        SPCNN_TRY(spcnn__conv_forward(&gr->conv1, ctx, gr->ce_x, row_ptr(params, w, r->conv1_w),
                                      row_ptr(params, w, r->conv1_b), gr->c1));
    }
    if (s->aux_c > 0) {
        /* The aux path's output goes through ce_c1 as scratch before c1 += it. */
        if (rounded) {
            spcnn__concat_elu_forward_bf16(a, ctx->bf16_input, e.p1, (size_t)s->aux_c);
            SPCNN_TRY(spcnn__conv_forward_rounded(&gr->aux, ctx, row_ptr(params, w, r->aux_w),
                                                  row_ptr(params, w, r->aux_b), gr->ce_c1));
        } else {
            spcnn__concat_elu_forward(a, gr->ce_a, e.p1, (size_t)s->aux_c);
            SPCNN_TRY(spcnn__conv_forward(&gr->aux, ctx, gr->ce_a, row_ptr(params, w, r->aux_w),
                                          row_ptr(params, w, r->aux_b), gr->ce_c1));
        }
        spcnn__accumulate(gr->c1, gr->ce_c1, e.p1 * f);
    }
    if (rounded) {
        spcnn__concat_elu_forward_bf16(gr->c1, ctx->bf16_input, e.p1, f);
        SPCNN_TRY(spcnn__conv_forward_rounded(&gr->conv2, ctx, row_ptr(params, w, r->conv2_w),
                                              row_ptr(params, w, r->conv2_b), gr->c2));
    } else {
        /* Forward-only blocks run without dropout and never go backward: no mask to fill. */
        spcnn__concat_elu_dropout_forward_at(gr->c1, gr->ce_c1,
                                             s->backward || rate > 0 ? gr->mask : NULL, e.p1, f,
                                             rate, dropout_key,
                                             gr->first_image * (e.p1 / (size_t)s->n));
        SPCNN_TRY(spcnn__conv_forward(&gr->conv2, ctx, gr->ce_c1,
                                      row_ptr(params, w, r->conv2_w),
                                      row_ptr(params, w, r->conv2_b), gr->c2));
    }
    const int grid_conv = s->grid && s->backward;
    if (grid_conv)
        SPCNN_TRY(spcnn__conv_forward(&gr->grid, ctx, grid, row_ptr(params, w, r->grid_w), NULL,
                                      gr->h_xy));
    if (s->latent > 0 && gr->hz_tables != NULL && !s->backward) {
        for (size_t i = 0; i < (size_t)s->n; i++)
            memcpy(gr->h_z + i * 2 * f, gr->hz_tables[i] + gr->hz_offset, 2 * f * sizeof(float));
    } else if (s->latent > 0) {
        SPCNN_TRY(spcnn__linear_forward(&gr->z, ctx, z, row_ptr(params, w, r->z_w), NULL,
                                        gr->h_z));
    }
    const float *h_z = s->latent > 0 ? gr->h_z : NULL;
    const size_t hw = (size_t)s->h * (size_t)s->w;
    if (s->grid && !grid_conv)
        spcnn__cond_add_grid_forward(gr->c2, grid, row_ptr(params, w, r->grid_w), h_z,
                                     (size_t)s->n, hw, 2 * f);
    else if (s->grid || h_z)
        spcnn__cond_add_forward(gr->c2, grid_conv ? gr->h_xy : NULL, h_z, (size_t)s->n, hw,
                                2 * f);
    if (s->full > 0) { /* the residual is x on the output region */
        spcnn__crop_region(x, e.ox, f, gr->x_res, e.o, f, (size_t)s->n);
        x = gr->x_res;
    }
    spcnn__gate_forward(x, gr->c2, out, p, f);
    return SPCNN_OK;
}

double spcnn__gated_resnet_macs(const spcnn__gated_resnet *gr)
{
    const spcnn__gated_resnet_shape *s = &gr->s;
    double macs = spcnn__conv_macs(&gr->conv1) + spcnn__conv_macs(&gr->conv2);
    if (s->aux_c > 0)
        macs += spcnn__conv_macs(&gr->aux);
    if (s->grid) /* the convolution's, or the same products in the conditioning add */
        macs += (double)s->n * s->h * s->w * 2 * 2 * s->f;
    if (s->latent > 0)
        macs += (double)gr->z.s.n * gr->z.s.in * gr->z.s.out;
    return macs;
}

spcnn_status spcnn__gated_resnet_backward(spcnn__gated_resnet *gr, spcnn__dnnl *ctx,
                                          const spcnn__params *params, const float *x,
                                          const float *a, const float *grid, const float *z,
                                          const float *dout, float rate, float *dx, float *da,
                                          float *dz, float *work)
{
    (void)x;
    (void)a;
    const spcnn__gated_resnet_shape *s = &gr->s;
    const spcnn__gated_resnet_rows *r = &gr->rows;
    SPCNN_CHECK_ARG(s->backward, "gated resnet: backward on a forward-only block");
    const size_t p = pixels(s), f = (size_t)s->f, ac = (size_t)s->aux_c;
    const float *w = params->buf[SPCNN__BUF_VALUE];
    size_t dce_c = 2 * f > 2 * ac ? 2 * f : 2 * ac;
    float *dc2 = work, *dce = dc2 + p * 2 * f, *dc1 = dce + p * dce_c, *dh_z = dc1 + p * f;

    spcnn__gate_backward(gr->c2, dout, dc2, p, f);
    if (s->latent > 0) {
        spcnn__cond_add_backward(dc2, dh_z, (size_t)s->n, (size_t)s->h * (size_t)s->w, 2 * f);
        SPCNN_TRY(spcnn__linear_backward(&gr->z, ctx, z, row_ptr(params, w, r->z_w), dh_z, dz,
                                         grad_ptr(params, r->z_w), NULL));
    }
    if (s->grid)
        SPCNN_TRY(spcnn__conv_backward(&gr->grid, ctx, grid, row_ptr(params, w, r->grid_w), dc2,
                                       NULL, grad_ptr(params, r->grid_w), NULL));
    SPCNN_TRY(spcnn__conv_backward(&gr->conv2, ctx, gr->ce_c1, row_ptr(params, w, r->conv2_w),
                                   dc2, dce, grad_ptr(params, r->conv2_w),
                                   grad_ptr(params, r->conv2_b)));
    spcnn__concat_elu_dropout_backward(gr->ce_c1, gr->mask, dce, dc1, p, f, rate);
    if (s->aux_c > 0) {
        SPCNN_TRY(spcnn__conv_backward(&gr->aux, ctx, gr->ce_a, row_ptr(params, w, r->aux_w),
                                       dc1, da ? dce : NULL, grad_ptr(params, r->aux_w),
                                       grad_ptr(params, r->aux_b)));
        if (da)
            spcnn__concat_elu_backward(gr->ce_a, dce, da, p, ac);
    }
    SPCNN_TRY(spcnn__conv_backward(&gr->conv1, ctx, gr->ce_x, row_ptr(params, w, r->conv1_w),
                                   dc1, dce, grad_ptr(params, r->conv1_w),
                                   grad_ptr(params, r->conv1_b)));
    /* dx = dout (the residual) + the conv path's gradient. dc1 is free again: use it. */
    spcnn__concat_elu_backward(gr->ce_x, dce, dc1, p, f);
    spcnn__add(dout, dc1, dx, p * f);
    return SPCNN_OK;
}
