#include "nn/conv.h"

#include <string.h>

#include "core/alloc.h"
#include "nn/bf16.h"

/* The measured default for weights (docs/design.md, "Memory formats"). */
#define DEFAULT_WEIGHTS_FORMAT SPCNN__WEIGHTS_ANY

spcnn__conv_shape spcnn__conv_shape_make(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                                         int stride, int pad_t, int pad_b, int pad_l, int pad_r)
{
    spcnn__conv_shape s;
    memset(&s, 0, sizeof s);
    s.n = n;
    s.h = h;
    s.w = w;
    s.c_in = c_in;
    s.c_out = c_out;
    s.kh = kh;
    s.kw = kw;
    s.stride_h = stride;
    s.stride_w = stride;
    s.pad_t = pad_t;
    s.pad_b = pad_b;
    s.pad_l = pad_l;
    s.pad_r = pad_r;
    s.bias = 1;
    s.backward = 1;
    return s;
}

spcnn__conv_shape spcnn__conv_shape_down_shifted(int n, int h, int w, int c_in, int c_out, int kh,
                                                 int kw, int stride)
{
    return spcnn__conv_shape_make(n, h, w, c_in, c_out, kh, kw, stride, kh - 1, 0, (kw - 1) / 2,
                                  (kw - 1) / 2);
}

spcnn__conv_shape spcnn__conv_shape_down_right_shifted(int n, int h, int w, int c_in, int c_out,
                                                       int kh, int kw, int stride)
{
    return spcnn__conv_shape_make(n, h, w, c_in, c_out, kh, kw, stride, kh - 1, 0, kw - 1, 0);
}

/* PixelCNN++ crops rows [0, h*s) and columns [left, left + w*s) of the full transposed
 * convolution, whose natural size is (h-1)*s + kh: what is cut is the padding. */
spcnn__conv_shape spcnn__conv_shape_down_shifted_deconv(int n, int h, int w, int c_in, int c_out,
                                                        int kh, int kw, int stride)
{
    int left = (kw - 1) / 2;
    spcnn__conv_shape s = spcnn__conv_shape_make(n, h, w, c_in, c_out, kh, kw, stride, 0,
                                                 kh - stride, left, kw - stride - left);
    s.transposed = 1;
    return s;
}

spcnn__conv_shape spcnn__conv_shape_down_right_shifted_deconv(int n, int h, int w, int c_in,
                                                              int c_out, int kh, int kw,
                                                              int stride)
{
    spcnn__conv_shape s = spcnn__conv_shape_make(n, h, w, c_in, c_out, kh, kw, stride, 0,
                                                 kh - stride, 0, kw - stride);
    s.transposed = 1;
    return s;
}

spcnn__conv_shape spcnn__conv_shape_nin(int n, int h, int w, int c_in, int c_out)
{
    return spcnn__conv_shape_make(n, h, w, c_in, c_out, 1, 1, 1, 0, 0, 0, 0);
}

spcnn_status spcnn__conv_out_size(const spcnn__conv_shape *s, int *oh, int *ow)
{
    SPCNN_CHECK_ARG(s->n > 0 && s->h > 0 && s->w > 0 && s->c_in > 0 && s->c_out > 0 &&
                        s->kh > 0 && s->kw > 0 && s->stride_h > 0 && s->stride_w > 0,
                    "convolution: sizes, kernel and strides must be positive");
    SPCNN_CHECK_ARG(s->pad_t >= 0 && s->pad_b >= 0 && s->pad_l >= 0 && s->pad_r >= 0,
                    "convolution: negative padding (%d, %d, %d, %d)", s->pad_t, s->pad_b,
                    s->pad_l, s->pad_r);
    if (s->transposed) {
        *oh = (s->h - 1) * s->stride_h + s->kh - s->pad_t - s->pad_b;
        *ow = (s->w - 1) * s->stride_w + s->kw - s->pad_l - s->pad_r;
    } else {
        int ph = s->h + s->pad_t + s->pad_b - s->kh, pw = s->w + s->pad_l + s->pad_r - s->kw;
        *oh = ph < 0 ? 0 : ph / s->stride_h + 1;
        *ow = pw < 0 ? 0 : pw / s->stride_w + 1;
    }
    SPCNN_CHECK_ARG(*oh > 0 && *ow > 0, "convolution: %d×%d input gives an empty output", s->h,
                    s->w);
    return SPCNN_OK;
}

size_t spcnn__conv_weights_size(const spcnn__conv_shape *s)
{
    return (size_t)s->c_out * s->c_in * s->kh * s->kw;
}

/* A reorder between two weight layouts, created once. Reorders of f32 weights need no
 * scratchpad; one that would is refused rather than handed a too small one. */
static spcnn_status make_reorder(spcnn__dnnl *ctx, dnnl_primitive_t *prim,
                                 const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    spcnn_status st = SPCNN_OK;
    *prim = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success)
        s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, from, ctx->engine, to, ctx->engine, attr);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, "weights reorder"));
    const char *impl = NULL;
    s = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, "weights reorder"));
    if (ctx->forbid_reference_impl && impl && strncmp(impl, "ref", 3) == 0) {
        st = spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: weights reorder: only \"%s\" is available",
                          impl);
        goto fail;
    }
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t need = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (need > ctx->scratch_size) {
        st = spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: weights reorder: needs a %zu-byte scratchpad",
                          need);
        goto fail;
    }
    s = dnnl_primitive_create(prim, pd);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(s, "weights reorder"));
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* With format_tag_any: if the primitive chose a layout other than the canonical one, make a
 * buffer in that layout and the reorder between them (canonical -> chosen when to_chosen). */
static spcnn_status chosen_weights(spcnn__dnnl *ctx, const_dnnl_primitive_desc_t pd,
                                   dnnl_query_t what, const dnnl_memory_desc_t *canonical,
                                   int to_chosen, dnnl_primitive_t *reorder, dnnl_memory_t *mem,
                                   void **buf)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, 0);
    if (md == NULL)
        return spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: convolution: no weights descriptor");
    if (dnnl_memory_desc_equal(md, canonical))
        return SPCNN_OK;
    *buf = spcnn__malloc_aligned(dnnl_memory_desc_get_size(md));
    if (*buf == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "convolution: weights buffer: out of memory");
    SPCNN_TRY(spcnn__dnnl_memory(ctx, mem, md, *buf));
    return to_chosen ? make_reorder(ctx, reorder, canonical, md)
                     : make_reorder(ctx, reorder, md, canonical);
}

static size_t input_size(const spcnn__conv_shape *s)
{
    return (size_t)s->n * (size_t)s->h * (size_t)s->w * (size_t)s->c_in;
}

static size_t output_size(const spcnn__conv *l)
{
    return (size_t)l->s.n * (size_t)l->oh * (size_t)l->ow * (size_t)l->s.c_out;
}

static void input_columns(const spcnn__conv *l, const uint16_t *xr, uint16_t *cols);

/* Bytes of a bf16 layer's input columns (see spcnn__conv.wg_prod), rounded up to 64. */
static size_t cols_bytes(const spcnn__conv *l)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t bytes = (size_t)s->n * (size_t)l->oh * (size_t)l->ow * (size_t)s->c_in *
                         (size_t)s->kh * (size_t)s->kw * sizeof(uint16_t);
    return (bytes + 63) & ~(size_t)63;
}

/* Bytes of the weight-gradient product [c_out][kh·kw·c_in] in fp32, rounded up to 64. */
static size_t product_bytes(const spcnn__conv *l)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t bytes = (size_t)s->c_out * (size_t)s->c_in * (size_t)s->kh * (size_t)s->kw *
                         sizeof(float);
    return (bytes + 63) & ~(size_t)63;
}

/* Bytes of a by_taps layer's tap products [n][h][w][kh·kw·c_out] in fp32, rounded up to 64. */
static size_t taps_bytes(const spcnn__conv *l)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t bytes = (size_t)s->n * (size_t)s->h * (size_t)s->w * (size_t)s->c_out *
                         (size_t)s->kh * (size_t)s->kw * sizeof(float);
    return (bytes + 63) & ~(size_t)63;
}

/* The bf16 weight-gradient product of a training layer that is not transposed, where oneDNN
 * has a kernel for it other than its reference code (l->wg_prod stays NULL otherwise, and the
 * fp32 primitive computes the weight gradient). */
static spcnn_status weight_grad_product_init(spcnn__conv *l, spcnn__dnnl *ctx)
{
    const spcnn__conv_shape *s = &l->s;
    const dnnl_dim_t positions = (dnnl_dim_t)s->n * l->oh * l->ow;
    const dnnl_dim_t taps = (dnnl_dim_t)s->c_in * s->kh * s->kw;
    dnnl_dims_t ad = {s->c_out, positions}, bd = {positions, taps}, cd = {s->c_out, taps};
    dnnl_memory_desc_t amd, bmd, cmd;
    SPCNN_DNNL(dnnl_memory_desc_init_by_tag(&amd, 2, ad, dnnl_bf16, dnnl_ba), "weight gradient");
    SPCNN_DNNL(dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_bf16, dnnl_ab), "weight gradient");
    SPCNN_DNNL(dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_f32, dnnl_ab), "weight gradient");
    dnnl_matmul_desc_t d;
    SPCNN_DNNL(dnnl_matmul_desc_init(&d, &amd, &bmd, NULL, &cmd), "weight gradient descriptor");
    /* Which implementation oneDNN would pick: its reference matmul is far slower than the fp32
     * convolution kernel. */
    dnnl_primitive_desc_t probe = NULL;
    const char *impl = NULL;
    if (dnnl_primitive_desc_create(&probe, &d, NULL, ctx->engine, NULL) != dnnl_success)
        return SPCNN_OK;
    dnnl_primitive_desc_query(probe, dnnl_query_impl_info_str, 0, &impl);
    const int usable = impl != NULL && strncmp(impl, "ref", 3) != 0;
    dnnl_primitive_desc_destroy(probe);
    if (!usable)
        return SPCNN_OK;
    SPCNN_TRY(spcnn__dnnl_primitive_create(ctx, &l->wg_prod, NULL, &d, NULL, NULL,
                                           "weight gradient product"));
    SPCNN_TRY(spcnn__dnnl_memory(ctx, &l->wg_dy, &amd, NULL));
    SPCNN_TRY(spcnn__dnnl_memory(ctx, &l->wg_cols, &bmd, NULL));
    SPCNN_TRY(spcnn__dnnl_memory(ctx, &l->wg_out, &cmd, NULL));
    l->x_rounded = spcnn__malloc_aligned(input_size(s) * sizeof *l->x_rounded);
    if (l->x_rounded == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "convolution: out of memory for a rounded input of %zu bytes",
                            input_size(s) * sizeof *l->x_rounded);
    return spcnn__dnnl_wgrad_reserve(ctx, cols_bytes(l) + product_bytes(l));
}

spcnn_status spcnn__conv_init(spcnn__conv *l, spcnn__dnnl *ctx, const spcnn__conv_shape *shape)
{
    memset(l, 0, sizeof *l);
    l->s = *shape;
    /* oneDNN 2.6.3 builds a bf16 deconvolution's backward data on its AMX brgemm convolution,
     * which reads past a heap block while generating its kernel (SPCNN__DNNL_AVOIDED_IMPL), and
     * offers no other: on AMX CPUs a training layer that is transposed stays fp32. */
    if (l->s.bf16 && l->s.transposed && l->s.backward && spcnn__dnnl_has_amx())
        l->s.bf16 = 0;
    const spcnn__conv_shape *s = &l->s;
    SPCNN_TRY(spcnn__conv_out_size(s, &l->oh, &l->ow));
    int fmt = s->weights_format == SPCNN__WEIGHTS_DEFAULT ? DEFAULT_WEIGHTS_FORMAT
                                                           : s->weights_format;
    SPCNN_CHECK_ARG(fmt == SPCNN__WEIGHTS_PLAIN || fmt == SPCNN__WEIGHTS_ANY,
                    "convolution: unknown weights format %d", s->weights_format);
    SPCNN_CHECK_ARG(!s->bf16 || (fmt == SPCNN__WEIGHTS_ANY && !s->act_nchw),
                    "convolution: bf16 is for NHWC layers with chosen weight layouts");
    const char *name = s->transposed ? "deconvolution" : "convolution";
    spcnn_status st = SPCNN_OK;
    dnnl_status_t ds;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;

    dnnl_format_tag_t act = s->act_nchw ? dnnl_nchw : dnnl_nhwc;
    dnnl_dims_t xd = {s->n, s->c_in, s->h, s->w}, yd = {s->n, s->c_out, l->oh, l->ow};
    dnnl_dims_t wd = {s->c_out, s->c_in, s->kh, s->kw}, bd = {s->c_out};
    dnnl_dims_t strides = {s->stride_h, s->stride_w};
    dnnl_dims_t pad_l = {s->pad_t, s->pad_l}, pad_r = {s->pad_b, s->pad_r};
    /* See spcnn__conv.by_columns: the primitive is a 1×1 convolution over the columns
     * [n][oh][ow][kh·kw·c_in], its weights [c_out][kh·kw·c_in]. */
    l->by_columns = s->columns && s->bf16 && !s->backward && !s->transposed &&
                    s->kh * s->kw > 1 && spcnn__dnnl_has_amx();
    if (l->by_columns) {
        const dnnl_dim_t k = (dnnl_dim_t)s->c_in * s->kh * s->kw;
        xd[1] = k, xd[2] = l->oh, xd[3] = l->ow;
        wd[1] = k, wd[2] = wd[3] = 1;
        strides[0] = strides[1] = 1;
        pad_l[0] = pad_l[1] = pad_r[0] = pad_r[1] = 0;
    }
    /* See spcnn__conv.by_taps: the primitive is a 1×1 convolution from the input to its tap
     * products [n][h][w][kh·kw·c_out], its weights [kh·kw·c_out][c_in], without bias. */
    l->by_taps = s->transposed && fmt == SPCNN__WEIGHTS_ANY && !s->act_nchw &&
                 !(s->backward && s->bf16);
    if (l->by_taps) {
        yd[1] = (dnnl_dim_t)s->kh * s->kw * s->c_out, yd[2] = s->h, yd[3] = s->w;
        wd[0] = yd[1], wd[2] = wd[3] = 1;
        strides[0] = strides[1] = 1;
        pad_l[0] = pad_l[1] = pad_r[0] = pad_r[1] = 0;
    }
    const int deconv_prim = s->transposed && !l->by_taps;
    dnnl_memory_desc_t xmd, ymd, wmd, wany, bmd, dxmd, dymd, dwany;
    /* A bf16 layer's forward and backward-data primitives read bf16 input, weights and output
     * gradient; the caller's buffers stay fp32, and so do the output and the input gradient
     * (fp32 accumulation). Its weight gradient stays fp32 from the fp32 input and output
     * gradient: oneDNN 2.6's bf16 backward-weights kernels are slower than its fp32 ones on
     * these shapes (docs/benchmarks.md, "bf16 training"). */
    const dnnl_data_type_t in_type = s->bf16 ? dnnl_bf16 : dnnl_f32;
    ds = dnnl_memory_desc_init_by_tag(&xmd, 4, xd, in_type, act);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, act);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&dxmd, 4, xd, dnnl_f32, act);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&dymd, 4, yd, in_type, act);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32,
                                          deconv_prim ? dnnl_iohw : dnnl_oihw);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&wany, 4, wd, in_type, dnnl_format_tag_any);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&dwany, 4, wd, dnnl_f32, dnnl_format_tag_any);
    if (ds == dnnl_success)
        ds = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
    SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, name));
    const dnnl_memory_desc_t *wprim = fmt == SPCNN__WEIGHTS_ANY ? &wany : &wmd;
    const dnnl_memory_desc_t *dwprim = fmt == SPCNN__WEIGHTS_ANY ? &dwany : &wmd;
    const dnnl_memory_desc_t *bprim = s->bias && !l->by_taps ? &bmd : NULL;

    /* Forward. */
    dnnl_prop_kind_t prop = s->backward ? dnnl_forward_training : dnnl_forward_inference;
    if (deconv_prim) {
        dnnl_deconvolution_desc_t d;
        ds = dnnl_deconvolution_forward_desc_init(&d, prop, dnnl_deconvolution_direct, &xmd,
                                                  wprim, bprim, &ymd, strides, pad_l, pad_r);
        SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "deconvolution forward descriptor"));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->fwd, &fwd_pd, &d, NULL, NULL,
                                                        "deconvolution forward"));
    } else {
        dnnl_convolution_desc_t d;
        ds = dnnl_convolution_forward_desc_init(&d, prop, dnnl_convolution_direct, &xmd, wprim,
                                                bprim, &ymd, strides, pad_l, pad_r);
        SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "convolution forward descriptor"));
        /* Forward-only plans (sampling, evaluation) run 8x8 windows, where oneDNN's default
         * brgemm convolution spends more in its C++ driver than the direct JIT convolutions
         * ("jit", "jit_1x1"): one 56x56 image about 12 % faster on 2 threads, same bytes.
         * Not in bf16 on a CPU with AMX: there oneDNN 2.6's "jit_1x1" reads and writes past
         * its tensors on some shapes (6×6 to 8×6 with 100 channels) and costs 46 µs a call
         * against brgemm's 2 (docs/benchmarks.md, "Cone plans for the bands"), and its "jit"
         * for 2×2 and 2×3 runs a cpuid a call; brgemm's kernel generator for those reads past
         * one of its heap blocks (a guard-page allocator faults in creation), so they go by
         * columns (spcnn__conv.by_columns), and every bf16 layer here takes brgemm's 1×1. */
        /* fp32 training too: the direct kernel's forward took 600 ms where brgemm's took 736
         * in a verbose run of 8 default steps (bf16 training keeps oneDNN's choice). */
        if (s->backward && s->bf16)
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->fwd, &fwd_pd, &d, NULL,
                                                            NULL, "convolution forward"));
        else if (s->backward)
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create_preferring(
                                   ctx, &l->fwd, &fwd_pd, &d, "jit", "convolution forward"));
        else
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create_preferring(
                                   ctx, &l->fwd, &fwd_pd, &d,
                                   s->bf16 && spcnn__dnnl_has_amx() ? NULL : "jit",
                                   "convolution forward"));
    }
    if (fmt == SPCNN__WEIGHTS_ANY && s->backward)
        SPCNN_TRY_GOTO(st, chosen_weights(ctx, fwd_pd, dnnl_query_weights_md, &wmd, 1,
                                          &l->w_to_fwd, &l->w_fwd, &l->w_fwd_buf));
    if (fmt == SPCNN__WEIGHTS_ANY && !s->backward) {
        /* Forward only: the reordered weights live in the context, shared (see conv.h). */
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(fwd_pd,
                                                                     dnnl_query_weights_md, 0);
        if (md == NULL) {
            st = spcnn__error(SPCNN_ERR_BACKEND, "oneDNN: %s: no weights descriptor", name);
            goto fail;
        }
        l->w_fwd_md = *md;
        /* Permuted weights (by columns, by taps) always go through the context's copy. */
        if (!dnnl_memory_desc_equal(md, &wmd) || l->by_columns || l->by_taps)
            SPCNN_TRY_GOTO(st, make_reorder(ctx, &l->w_to_fwd, &wmd, md));
    }
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->x, &xmd, NULL));
    if (s->bf16) {
        /* The rounded input; in training also the rounded output gradient (not at once). */
        const size_t in = input_size(s), out = output_size(l);
        SPCNN_TRY_GOTO(st, spcnn__dnnl_bf16_reserve(ctx, s->backward && out > in ? out : in));
    }
    if (l->by_columns) /* the permuted weights, then the columns */
        SPCNN_TRY_GOTO(st, spcnn__dnnl_wgrad_reserve(ctx, cols_bytes(l) + product_bytes(l)));
    if (l->by_taps) /* the permuted weights (and their gradient), then the tap products */
        SPCNN_TRY_GOTO(st, spcnn__dnnl_wgrad_reserve(ctx, taps_bytes(l) +
                                                              (s->backward ? 2 : 1) *
                                                                  product_bytes(l)));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->w, &wmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->b, &bmd, NULL));
    SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->y, &ymd, NULL));

    if (s->backward) {
        /* Backward data. */
        if (deconv_prim) {
            dnnl_deconvolution_desc_t d;
            ds = dnnl_deconvolution_backward_data_desc_init(&d, dnnl_deconvolution_direct, &dxmd,
                                                            wprim, &dymd, strides, pad_l, pad_r);
            SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "deconvolution backward data descriptor"));
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd_data, &pd, &d, NULL,
                                                            fwd_pd,
                                                            "deconvolution backward data"));
        } else {
            dnnl_convolution_desc_t d;
            ds = dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &dxmd,
                                                          wprim, &dymd, strides, pad_l, pad_r);
            SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "convolution backward data descriptor"));
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd_data, &pd, &d, NULL,
                                                            fwd_pd, "convolution backward data"));
        }
        if (fmt == SPCNN__WEIGHTS_ANY)
            SPCNN_TRY_GOTO(st, chosen_weights(ctx, pd, dnnl_query_weights_md, &wmd, 1,
                                              &l->w_to_bwd_data, &l->w_bwd_data,
                                              &l->w_bwd_data_buf));
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;

        /* Backward weights (and bias). */
        if (deconv_prim) {
            dnnl_deconvolution_desc_t d;
            ds = dnnl_deconvolution_backward_weights_desc_init(&d, dnnl_deconvolution_direct,
                                                               &dxmd, dwprim, bprim, &ymd,
                                                               strides, pad_l, pad_r);
            SPCNN_TRY_GOTO(st,
                           spcnn__dnnl_error(ds, "deconvolution backward weights descriptor"));
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd_weights, &pd, &d, NULL,
                                                            fwd_pd,
                                                            "deconvolution backward weights"));
        } else {
            dnnl_convolution_desc_t d;
            ds = dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct,
                                                             &dxmd, dwprim, bprim, &ymd, strides,
                                                             pad_l, pad_r);
            SPCNN_TRY_GOTO(st, spcnn__dnnl_error(ds, "convolution backward weights descriptor"));
            SPCNN_TRY_GOTO(st, spcnn__dnnl_primitive_create(ctx, &l->bwd_weights, &pd, &d, NULL,
                                                            fwd_pd,
                                                            "convolution backward weights"));
        }
        if (fmt == SPCNN__WEIGHTS_ANY)
            SPCNN_TRY_GOTO(st, chosen_weights(ctx, pd, dnnl_query_diff_weights_md, &wmd, 0,
                                              &l->dw_from_bwd, &l->dw_bwd, &l->dw_bwd_buf));
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dx, &dxmd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dy, &dymd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->bw_x, &dxmd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->bw_dy, &ymd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->dw, &wmd, NULL));
        SPCNN_TRY_GOTO(st, spcnn__dnnl_memory(ctx, &l->db, &bmd, NULL));
        if (s->bf16 && !s->transposed)
            SPCNN_TRY_GOTO(st, weight_grad_product_init(l, ctx));
    }
    dnnl_primitive_desc_destroy(fwd_pd);
    return SPCNN_OK;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (fwd_pd)
        dnnl_primitive_desc_destroy(fwd_pd);
    spcnn__conv_deinit(l);
    return st;
}

/* The forward pass once l->x points at the input. */
static spcnn_status forward(spcnn__conv *l, spcnn__dnnl *ctx, const float *w, const float *b,
                            float *y);

/* The last `bytes` of the context's weight-gradient workspace: where a by_columns layer's
 * columns and a by_taps layer's tap products (or their gradient) go, after the permuted
 * weights at its start. */
static void *workspace_end(const spcnn__dnnl *ctx, size_t bytes)
{
    return (char *)ctx->wgrad + ctx->wgrad_size - bytes;
}

/* The primitive's input from a bf16 layer's rounded input: the input itself, or its columns at
 * the end of the context's workspace (the weights' permutation uses its start). */
static spcnn_status set_rounded_input(spcnn__conv *l, spcnn__dnnl *ctx, const uint16_t *rounded)
{
    if (!l->by_columns)
        return spcnn__dnnl_set_handle(l->x, rounded);
    uint16_t *cols = workspace_end(ctx, cols_bytes(l));
    input_columns(l, rounded, cols);
    return spcnn__dnnl_set_handle(l->x, cols);
}

spcnn_status spcnn__conv_forward(spcnn__conv *l, spcnn__dnnl *ctx, const float *x, const float *w,
                                 const float *b, float *y)
{
    if (l->s.bf16) {
        uint16_t *rounded = l->x_rounded ? l->x_rounded : ctx->bf16_input;
        spcnn__bf16_from_f32(x, rounded, input_size(&l->s));
        SPCNN_TRY(set_rounded_input(l, ctx, rounded));
    } else {
        SPCNN_TRY(spcnn__dnnl_set_handle(l->x, x));
    }
    return forward(l, ctx, w, b, y);
}

spcnn_status spcnn__conv_forward_rounded(spcnn__conv *l, spcnn__dnnl *ctx, const float *w,
                                         const float *b, float *y)
{
    if (!l->s.bf16)
        return spcnn__error(SPCNN_ERR_INTERNAL, "convolution: a rounded input for an fp32 layer");
    SPCNN_TRY(set_rounded_input(l, ctx, ctx->bf16_input));
    return forward(l, ctx, w, b, y);
}

/* OIHW weights w as [c_out][kh][kw][c_in] into perm: a by_columns layer's weights, in its
 * columns' order. */
static void permute_to_columns(const spcnn__conv_shape *s, const float *w, float *perm)
{
    const size_t co = (size_t)s->c_out, ci = (size_t)s->c_in, taps = (size_t)s->kh * s->kw;
    for (size_t o = 0; o < co; o++)
        for (size_t t = 0; t < taps; t++)
            for (size_t c = 0; c < ci; c++)
                perm[(o * taps + t) * ci + c] = w[(o * ci + c) * taps + t];
}

/* IOHW weights w as [kh][kw][c_out][c_in] into perm: a by_taps layer's weights, in its tap
 * products' order. */
static void permute_to_taps(const spcnn__conv_shape *s, const float *w, float *perm)
{
    const size_t co = (size_t)s->c_out, ci = (size_t)s->c_in, taps = (size_t)s->kh * s->kw;
    for (size_t t = 0; t < taps; t++)
        for (size_t o = 0; o < co; o++)
            for (size_t c = 0; c < ci; c++)
                perm[(t * co + o) * ci + c] = w[(c * co + o) * taps + t];
}

/* A by_taps layer's output from its tap products: y[n][oy][ox] = b + the products of every
 * input position and tap that land there, taps in order (row, then column), so each output
 * has its one order of sums whatever the plan. The taps landing on output row oy are those
 * with ky ≡ oy + pad_t (mod stride_h), from input row (oy + pad_t − ky) / stride_h: one
 * division a row (and one a column), not one a tap. */
static void gather_taps(const spcnn__conv *l, const float *taps, const float *b, float *y)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t co = (size_t)s->c_out, t_stride = (size_t)s->kh * (size_t)s->kw * co;
    float *yo = y;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < l->oh; oy++) {
            const int ky0 = (oy + s->pad_t) % s->stride_h, iy0 = (oy + s->pad_t) / s->stride_h;
            for (int ox = 0; ox < l->ow; ox++, yo += co) {
                const int kx0 = (ox + s->pad_l) % s->stride_w;
                const int ix0 = (ox + s->pad_l) / s->stride_w;
                if (s->bias)
                    memcpy(yo, b, co * sizeof *yo);
                else
                    memset(yo, 0, co * sizeof *yo);
                for (int ky = ky0, iy = iy0; ky < s->kh && iy >= 0; ky += s->stride_h, iy--) {
                    if (iy >= s->h)
                        continue;
                    for (int kx = kx0, ix = ix0; kx < s->kw && ix >= 0; kx += s->stride_w, ix--) {
                        if (ix >= s->w)
                            continue;
                        const float *t = taps +
                                         (((size_t)n * (size_t)s->h + (size_t)iy) * (size_t)s->w +
                                          (size_t)ix) * t_stride +
                                         ((size_t)ky * (size_t)s->kw + (size_t)kx) * co;
#pragma omp simd
                        for (size_t o = 0; o < co; o++)
                            yo[o] += t[o];
                    }
                }
            }
        }
}

static spcnn_status forward(spcnn__conv *l, spcnn__dnnl *ctx, const float *w, const float *b,
                            float *y)
{
    /* A by_taps layer's primitive writes the tap products at the end of the workspace; in
     * training its weights, which change every step, are permuted at the start on each call. */
    float *prim_y = l->by_taps ? workspace_end(ctx, taps_bytes(l)) : y;
    if (l->by_taps && l->s.backward) {
        permute_to_taps(&l->s, w, ctx->wgrad);
        SPCNN_TRY(spcnn__dnnl_set_handle(l->w, ctx->wgrad));
    } else {
        SPCNN_TRY(spcnn__dnnl_set_handle(l->w, w));
    }
    SPCNN_TRY(spcnn__dnnl_set_handle(l->y, prim_y));
    dnnl_memory_t wm = l->w;
    if (l->w_to_fwd && l->s.backward) { /* training: the weights change every step */
        dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, l->w}, {DNNL_ARG_TO, l->w_fwd}};
        SPCNN_TRY(spcnn__dnnl_execute(ctx, l->w_to_fwd, 2, r, "weights reorder"));
        wm = l->w_fwd;
    } else if (l->w_to_fwd) {
        /* Forward only: the context's copy of these weights, reordered again only when the
         * weights changed (weights_version): sampling runs the same weights millions of times,
         * through many plans. */
        spcnn__dnnl_weights *e = l->w_shared;
        if (e == NULL || e->source != w) {
            SPCNN_TRY(spcnn__dnnl_weights_find(ctx, w, &l->w_fwd_md, &e));
            l->w_shared = e;
        }
        if (!e->filled || e->version != ctx->weights_version) {
            if (l->by_columns || l->by_taps) { /* the workspace's start is free here */
                float *perm = ctx->wgrad;
                if (l->by_columns)
                    permute_to_columns(&l->s, w, perm);
                else
                    permute_to_taps(&l->s, w, perm);
                SPCNN_TRY(spcnn__dnnl_set_handle(l->w, perm));
            }
            dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, l->w}, {DNNL_ARG_TO, e->mem}};
            SPCNN_TRY(spcnn__dnnl_execute(ctx, l->w_to_fwd, 2, r, "weights reorder"));
            e->filled = 1;
            e->version = ctx->weights_version;
        }
        wm = e->mem;
    }
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, l->x}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, l->y}};
    int nargs = 3;
    if (l->s.bias && !l->by_taps) {
        SPCNN_TRY(spcnn__dnnl_set_handle(l->b, b));
        args[nargs].arg = DNNL_ARG_BIAS;
        args[nargs++].memory = l->b;
    }
    SPCNN_TRY(spcnn__dnnl_execute(ctx, l->fwd, nargs, args,
                                  l->s.transposed ? "deconvolution forward"
                                                  : "convolution forward"));
    if (l->by_taps)
        gather_taps(l, prim_y, b, y);
    return SPCNN_OK;
}

double spcnn__conv_macs(const spcnn__conv *l)
{
    const spcnn__conv_shape *s = &l->s;
    const double positions = s->transposed ? (double)s->h * s->w : (double)l->oh * l->ow;
    return (double)s->n * positions * s->c_in * s->c_out * s->kh * s->kw;
}

/* A 1×1 layer with stride 1 and no padding: its columns are its input. */
static int columns_are_input(const spcnn__conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_t == 0 &&
           s->pad_b == 0 && s->pad_l == 0 && s->pad_r == 0;
}

/* The input under each kernel tap, from the rounded input xr of the last forward: row p (an
 * output position n, oy, ox) holds xr[n][oy·stride_h + i − pad_t][ox·stride_w + j − pad_l]
 * [0 .. c_in) for i < kh, j < kw in that order, zeros where the tap falls in the padding. */
static void input_columns(const spcnn__conv *l, const uint16_t *xr, uint16_t *cols)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t ci = (size_t)s->c_in, kw = (size_t)s->kw, k = ci * (size_t)s->kh * kw;
    uint16_t *row = cols;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < l->oh; oy++)
            for (int ox = 0; ox < l->ow; ox++, row += k)
                for (int i = 0; i < s->kh; i++) {
                    uint16_t *seg = row + (size_t)i * kw * ci;
                    const int y = oy * s->stride_h + i - s->pad_t, x0 = ox * s->stride_w - s->pad_l;
                    /* taps j in [lo, hi) fall inside the row */
                    int lo = x0 < 0 ? -x0 : 0, hi = s->w - x0 < s->kw ? s->w - x0 : s->kw;
                    if (y < 0 || y >= s->h || hi < lo)
                        lo = hi = 0;
                    if (lo > 0)
                        memset(seg, 0, (size_t)lo * ci * sizeof *seg);
                    if (hi > lo)
                        memcpy(seg + (size_t)lo * ci,
                               xr + (((size_t)n * (size_t)s->h + (size_t)y) * (size_t)s->w +
                                     (size_t)(x0 + lo)) * ci,
                               (size_t)(hi - lo) * ci * sizeof *seg);
                    if ((size_t)hi < kw)
                        memset(seg + (size_t)hi * ci, 0, (kw - (size_t)hi) * ci * sizeof *seg);
                }
}

/* db[o] = the sum of dy over every output position, in double, position by position. */
static void bias_grad(const float *dy, size_t positions, size_t co, float *db)
{
    double sum[64];
    for (size_t o0 = 0; o0 < co; o0 += 64) {
        const size_t m = co - o0 < 64 ? co - o0 : 64;
        for (size_t o = 0; o < m; o++)
            sum[o] = 0;
        for (size_t p = 0; p < positions; p++)
#pragma omp simd
            for (size_t o = 0; o < m; o++)
                sum[o] += dy[p * co + o0 + o];
        for (size_t o = 0; o < m; o++)
            db[o0 + o] = (float)sum[o];
    }
}

/* dw (OIHW) from the bf16 product dyᵀ · columns (of the input the last forward rounded), and db
 * as fp32 sums of dy over the positions.
 * dy_rounded: the context's bf16 buffer already holds dy rounded (the backward-data pass ran). */
static spcnn_status weight_grad_bf16(spcnn__conv *l, spcnn__dnnl *ctx, const float *dy,
                                     int dy_rounded, float *dw, float *db)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t positions = (size_t)s->n * (size_t)l->oh * (size_t)l->ow;
    const size_t co = (size_t)s->c_out, ci = (size_t)s->c_in, kh = (size_t)s->kh;
    const size_t kw = (size_t)s->kw, taps = ci * kh * kw;
    if (!dy_rounded)
        spcnn__bf16_from_f32(dy, ctx->bf16_input, positions * co);
    uint16_t *cols = l->x_rounded; /* a 1×1 layer's columns are its input */
    float *prod = (float *)((char *)ctx->wgrad + cols_bytes(l));
    if (!columns_are_input(s)) {
        cols = ctx->wgrad;
        input_columns(l, l->x_rounded, cols);
    }
    SPCNN_TRY(spcnn__dnnl_set_handle(l->wg_dy, ctx->bf16_input));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->wg_cols, cols));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->wg_out, prod));
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, l->wg_dy}, {DNNL_ARG_WEIGHTS, l->wg_cols}, {DNNL_ARG_DST, l->wg_out}};
    SPCNN_TRY(spcnn__dnnl_execute(ctx, l->wg_prod, 3, args, "weight gradient product"));
    for (size_t o = 0; o < co; o++)
        for (size_t c = 0; c < ci; c++)
            for (size_t t = 0; t < kh * kw; t++)
                dw[(o * ci + c) * kh * kw + t] = prod[o * taps + t * ci + c];
    if (s->bias) /* in double, position by position: every channel's sum in the same order */
        bias_grad(dy, positions, co, db);
    return SPCNN_OK;
}

/* The gradient of a by_taps layer's tap products from its output's: each tap's product goes
 * to one output position (or falls in the padding: 0), so its gradient is that position's. */
static void scatter_taps_grad(const spcnn__conv *l, const float *dy, float *dtaps)
{
    const spcnn__conv_shape *s = &l->s;
    const size_t co = (size_t)s->c_out;
    float *t = dtaps;
    for (int n = 0; n < s->n; n++)
        for (int iy = 0; iy < s->h; iy++)
            for (int ix = 0; ix < s->w; ix++)
                for (int ky = 0; ky < s->kh; ky++) {
                    const int oy = iy * s->stride_h + ky - s->pad_t;
                    for (int kx = 0; kx < s->kw; kx++, t += co) {
                        const int ox = ix * s->stride_w + kx - s->pad_l;
                        if (oy < 0 || oy >= l->oh || ox < 0 || ox >= l->ow)
                            memset(t, 0, co * sizeof *t);
                        else
                            memcpy(t,
                                   dy + (((size_t)n * (size_t)l->oh + (size_t)oy) *
                                             (size_t)l->ow + (size_t)ox) * co,
                                   co * sizeof *t);
                    }
                }
}

/* [kh][kw][c_out][c_in] back to IOHW: a by_taps layer's weight gradient. */
static void permute_from_taps(const spcnn__conv_shape *s, const float *perm, float *w)
{
    const size_t co = (size_t)s->c_out, ci = (size_t)s->c_in, taps = (size_t)s->kh * s->kw;
    for (size_t t = 0; t < taps; t++)
        for (size_t o = 0; o < co; o++)
            for (size_t c = 0; c < ci; c++)
                w[(c * co + o) * taps + t] = perm[(t * co + o) * ci + c];
}

/* The backward-data primitive: dx from the primitive's output gradient dy_prim (fp32, or the
 * rounded bf16) and weights w_prim in the canonical layout (reordered to the primitive's). */
static spcnn_status backward_data(spcnn__conv *l, spcnn__dnnl *ctx, const void *dy_prim,
                                  const float *w_prim, float *dx)
{
    SPCNN_TRY(spcnn__dnnl_set_handle(l->dy, dy_prim));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->w, w_prim));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->dx, dx));
    dnnl_memory_t wm = l->w;
    if (l->w_to_bwd_data) {
        dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, l->w}, {DNNL_ARG_TO, l->w_bwd_data}};
        SPCNN_TRY(spcnn__dnnl_execute(ctx, l->w_to_bwd_data, 2, r, "weights reorder"));
        wm = l->w_bwd_data;
    }
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_DIFF_DST, l->dy}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, l->dx}};
    return spcnn__dnnl_execute(ctx, l->bwd_data, 3, args, "convolution backward data");
}

/* The fp32 backward-weights primitive: dw (canonical layout) and, if db is not NULL, db. */
static spcnn_status backward_weights(spcnn__conv *l, spcnn__dnnl *ctx, const float *x,
                                     const float *dy_prim, float *dw, float *db)
{
    SPCNN_TRY(spcnn__dnnl_set_handle(l->bw_x, x));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->bw_dy, dy_prim));
    SPCNN_TRY(spcnn__dnnl_set_handle(l->dw, dw));
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, l->bw_x},
                               {DNNL_ARG_DIFF_DST, l->bw_dy},
                               {DNNL_ARG_DIFF_WEIGHTS, l->dw_bwd ? l->dw_bwd : l->dw}};
    int nargs = 3;
    if (db) {
        SPCNN_TRY(spcnn__dnnl_set_handle(l->db, db));
        args[nargs].arg = DNNL_ARG_DIFF_BIAS;
        args[nargs++].memory = l->db;
    }
    SPCNN_TRY(spcnn__dnnl_execute(ctx, l->bwd_weights, nargs, args,
                                  "convolution backward weights"));
    if (l->dw_from_bwd) {
        dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, l->dw_bwd}, {DNNL_ARG_TO, l->dw}};
        SPCNN_TRY(spcnn__dnnl_execute(ctx, l->dw_from_bwd, 2, r, "weights reorder"));
    }
    return SPCNN_OK;
}

/* A training by_taps layer's backward: the tap products' gradient (end of the workspace), then
 * the 1×1 convolution's backward data from it (weights permuted at the workspace's start) and
 * its backward weights (into the permuted gradient after them, permuted back into dw). */
static spcnn_status backward_by_taps(spcnn__conv *l, spcnn__dnnl *ctx, const float *x,
                                     const float *w, const float *dy, float *dx, float *dw,
                                     float *db)
{
    float *perm = ctx->wgrad, *dperm = (float *)((char *)ctx->wgrad + product_bytes(l));
    float *dtaps = workspace_end(ctx, taps_bytes(l));
    scatter_taps_grad(l, dy, dtaps);
    if (dx) {
        permute_to_taps(&l->s, w, perm);
        SPCNN_TRY(backward_data(l, ctx, dtaps, perm, dx));
    }
    if (dw) {
        SPCNN_TRY(backward_weights(l, ctx, x, dtaps, dperm, NULL));
        permute_from_taps(&l->s, dperm, dw);
        if (l->s.bias)
            bias_grad(dy, (size_t)l->s.n * (size_t)l->oh * (size_t)l->ow, (size_t)l->s.c_out,
                      db);
    }
    return SPCNN_OK;
}

spcnn_status spcnn__conv_backward(spcnn__conv *l, spcnn__dnnl *ctx, const float *x,
                                  const float *w, const float *dy, float *dx, float *dw,
                                  float *db)
{
    if (!l->s.backward)
        return spcnn__error(SPCNN_ERR_INTERNAL, "convolution: backward of a forward-only layer");
    if (dw && l->s.bias && db == NULL)
        return spcnn__error(SPCNN_ERR_INTERNAL, "convolution: bias gradient missing");
    if (l->by_taps)
        return backward_by_taps(l, ctx, x, w, dy, dx, dw, db);
    if (dx) {
        const void *dy_prim = dy;
        if (l->s.bf16) {
            spcnn__bf16_from_f32(dy, ctx->bf16_input, output_size(l));
            dy_prim = ctx->bf16_input;
        }
        SPCNN_TRY(backward_data(l, ctx, dy_prim, w, dx));
    }
    if (dw) {
        if (l->wg_prod)
            return weight_grad_bf16(l, ctx, dy, dx != NULL, dw, db);
        SPCNN_TRY(backward_weights(l, ctx, x, dy, dw, l->s.bias ? db : NULL));
    }
    return SPCNN_OK;
}

static void destroy_prim(dnnl_primitive_t p)
{
    if (p)
        dnnl_primitive_destroy(p);
}

static void destroy_mem(dnnl_memory_t m)
{
    if (m)
        dnnl_memory_destroy(m);
}

void spcnn__conv_deinit(spcnn__conv *l)
{
    destroy_prim(l->fwd);
    destroy_prim(l->bwd_data);
    destroy_prim(l->bwd_weights);
    destroy_prim(l->w_to_fwd);
    destroy_prim(l->w_to_bwd_data);
    destroy_prim(l->dw_from_bwd);
    destroy_prim(l->wg_prod);
    spcnn__free_aligned(l->x_rounded);
    dnnl_memory_t mems[] = {l->x,     l->w,      l->b,      l->y,       l->dx,     l->dy,
                            l->dw,    l->db,     l->w_fwd,  l->dw_bwd,  l->bw_x,   l->bw_dy,
                            l->w_bwd_data, l->wg_dy, l->wg_cols, l->wg_out};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        destroy_mem(mems[i]);
    spcnn__free_aligned(l->w_fwd_buf);
    spcnn__free_aligned(l->w_bwd_data_buf);
    spcnn__free_aligned(l->dw_bwd_buf);
    memset(l, 0, sizeof *l);
}
