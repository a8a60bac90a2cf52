/* Convolution and transposed convolution (oneDNN), with PixelCNN++'s shifted shapes.
 *
 * Shape (spcnn__conv_shape): input NHWC n×h×w×c_in (float, dense); kernel kh×kw; strides
 * stride_h, stride_w; asymmetric padding pad_t, pad_b, pad_l, pad_r; `transposed` selects a
 * transposed convolution (oneDNN deconvolution), whose padding crops the full output;
 * `bias` adds a per-output-channel bias; `backward` creates the backward-data and
 * backward-weights primitives (training plans; sampling plans need only forward).
 *   convolution: weights OIHW [c_out][c_in][kh][kw], out = (h + pad_t + pad_b - kh) / stride + 1
 *   transposed:  weights IOHW [c_in][c_out][kh][kw], out = (h - 1) * stride + kh - pad_t - pad_b
 * Output NHWC n×oh×ow×c_out (spcnn__conv_out_size, or l->oh, l->ow after init).
 *
 * PixelCNN++ helpers (all with bias and backward = 1; clear .backward for sampling plans):
 *   spcnn__conv_shape_down_shifted(n,h,w,ci,co,kh,kw,s)       pad top kh-1, left/right (kw-1)/2
 *       (2×3 for the u stream and 1×3 for the first layer; any stride)
 *   spcnn__conv_shape_down_right_shifted(n,h,w,ci,co,kh,kw,s) pad top kh-1, left kw-1 (2×2, 2×1)
 *   spcnn__conv_shape_down_shifted_deconv(n,h,w,ci,co,kh,kw,s)       (2×3, stride 2: h×w -> 2h×2w)
 *   spcnn__conv_shape_down_right_shifted_deconv(n,h,w,ci,co,kh,kw,s) (2×2, stride 2: h×w -> 2h×2w)
 *       PixelCNN++'s full 'VALID' transposed conv to (h*s + kh - 1) × (w*s + kw - 1) followed by
 *       its causal crop (rows [0, H-kh+1); columns [(kw-1)/2, W-(kw-1)/2) or [0, W-kw+1)) is the
 *       deconvolution's own padding: top 0, bottom kh - s, left (kw-1)/2 or 0, right
 *       kw - s - left (proven against the reference in tests/test_ref_conv.c, test_conv.c).
 *   spcnn__conv_shape_nin(n,h,w,ci,co)                         1×1 convolution
 *
 * Usage: spcnn__conv_init(&l, ctx, &shape) once; spcnn__conv_forward / spcnn__conv_backward
 * any number of times (no allocation, no primitive creation); spcnn__conv_deinit. */
#ifndef SPCNN_NN_CONV_H
#define SPCNN_NN_CONV_H

#include "nn/dnnl_ctx.h"

/* How the primitives see the weights (a benchmark knob; 0 is the measured default). */
typedef enum spcnn__weights_format {
    SPCNN__WEIGHTS_DEFAULT = 0, /* the measured choice (docs/design.md, "Memory formats") */
    SPCNN__WEIGHTS_PLAIN = 1,   /* the canonical OIHW / IOHW buffer given to oneDNN directly */
    SPCNN__WEIGHTS_ANY = 2      /* format_tag_any + reorders from/to the canonical buffers */
} spcnn__weights_format;

typedef struct spcnn__conv_shape {
    int n, h, w, c_in, c_out;
    int kh, kw, stride_h, stride_w;
    int pad_t, pad_b, pad_l, pad_r;
    int transposed; /* 1: transposed convolution (weights IOHW) */
    int bias;       /* 1: per-channel bias */
    int backward;   /* 1: create backward-data and backward-weights primitives */
    int weights_format; /* spcnn__weights_format */
    int act_nchw;   /* 1: NCHW activations; only the format benchmark uses it */
    int bf16;       /* 1: bf16 input and weights (and, backward-data, output gradient) inside
                       the primitives, rounded from the caller's fp32 into the context's
                       bf16 buffer on the way in; fp32 accumulation and output. The weight
                       gradient of a layer that is not transposed is one bf16 matrix product
                       (dyᵀ times the input's columns, fp32 accumulation), where oneDNN has a
                       kernel for it that is not its reference code; else, and for the bias,
                       fp32 */
    int columns;    /* 1: a forward-only bf16 layer larger than 1×1 may go by columns
                       (spcnn__conv.by_columns; sampling plans, whose passes are small enough
                       for the columns to stay in the L2 cache; evaluation's passes of 128
                       windows were 20 % slower with them) */
} spcnn__conv_shape;

spcnn__conv_shape spcnn__conv_shape_make(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                                         int stride, int pad_t, int pad_b, int pad_l, int pad_r);
spcnn__conv_shape spcnn__conv_shape_down_shifted(int n, int h, int w, int c_in, int c_out, int kh,
                                                 int kw, int stride);
spcnn__conv_shape spcnn__conv_shape_down_right_shifted(int n, int h, int w, int c_in, int c_out,
                                                       int kh, int kw, int stride);
spcnn__conv_shape spcnn__conv_shape_down_shifted_deconv(int n, int h, int w, int c_in, int c_out,
                                                        int kh, int kw, int stride);
spcnn__conv_shape spcnn__conv_shape_down_right_shifted_deconv(int n, int h, int w, int c_in,
                                                              int c_out, int kh, int kw,
                                                              int stride);
spcnn__conv_shape spcnn__conv_shape_nin(int n, int h, int w, int c_in, int c_out);

/* Output size of a shape; fails (with a message) on an invalid shape. */
spcnn_status spcnn__conv_out_size(const spcnn__conv_shape *s, int *oh, int *ow);
/* Number of weights (c_out * c_in * kh * kw) of a shape. */
size_t spcnn__conv_weights_size(const spcnn__conv_shape *s);

typedef struct spcnn__conv {
    spcnn__conv_shape s;
    int oh, ow;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    /* Memory objects over the caller's buffers; their handles are set on every call. */
    dnnl_memory_t x, w, b, y, dx, dy, dw, db;
    /* format_tag_any path: weights reordered into the layouts the primitives chose. */
    dnnl_primitive_t w_to_fwd, w_to_bwd_data, dw_from_bwd;
    dnnl_memory_t w_fwd, w_bwd_data, dw_bwd;
    void *w_fwd_buf, *w_bwd_data_buf, *dw_bwd_buf;
    /* Forward-only layers: the chosen layout, and the context's shared copy in it (found on
     * first use for a given source buffer; see spcnn__dnnl_weights). */
    dnnl_memory_desc_t w_fwd_md;
    spcnn__dnnl_weights *w_shared;
    /* The weight gradient's fp32 input and output gradient (x and dy are bf16 in bf16
     * layers). */
    dnnl_memory_t bw_x, bw_dy;
    /* bf16 weight gradient (see bf16 above): dw = dyᵀ · cols, dy the bf16 output gradient
     * [positions][c_out] read transposed, cols the bf16 input under each kernel tap
     * [positions][kh·kw·c_in], the product [c_out][kh·kw·c_in] in fp32; cols and product in
     * the context's weight-gradient workspace. NULL: the fp32 primitive above. */
    dnnl_primitive_t wg_prod;
    dnnl_memory_t wg_dy, wg_cols, wg_out;
    /* With wg_prod: the input of the layer's last forward, rounded to bf16 there (the forward
     * reads it, the weight gradient's columns are copied from it). */
    uint16_t *x_rounded;
    /* 1: a forward-only bf16 layer with a kernel larger than 1×1 on an AMX CPU whose shape
     * allows it (columns), computed as a
     * 1×1 convolution over its input columns (the layout of wg_prod's cols), which go at the
     * end of the context's weight-gradient workspace; fwd, x and w are that convolution's. Its
     * weights, OIHW permuted to [c_out][kh][kw][c_in], pass through the start of the workspace
     * on their way to the context's shared copy. oneDNN 2.6's direct AMX kernel for these
     * shapes asks the CPU for its tile palette (cpuid) on every call, 8 µs in a virtual
     * machine, and its brgemm kernel cannot be used (nn/conv.c). */
    int by_columns;
    /* 1: a transposed layer (weights format "any", NHWC; not a bf16 training layer),
     * computed as a 1×1 convolution from its input to every input position's products with
     * each kernel tap [n][h][w][kh·kw·c_out] (at the end of the context's weight-gradient
     * workspace), then summed into the output where each tap lands, with the bias. fwd,
     * bwd_data, bwd_weights, y, dy and w are that convolution's; its weights, IOHW permuted
     * to [kh][kw][c_out][c_in], pass through the start of the workspace (forward only: on
     * their way to the context's shared copy; training: on every call, and the weight
     * gradient comes back through the next product_bytes). Backward: the taps' gradient is
     * dy at the position each tap landed on (0 in the padding); the bias gradient is a sum
     * in double. oneDNN 2.6's stride-2 deconvolution kernels ran at 10 % of the fp32 peak on
     * the sampler's shapes (and in bf16 on AMX ask for the tile palette, cpuid, every call);
     * its 1×1 kernel runs near the peak. */
    int by_taps;
} spcnn__conv;

/* Create every primitive for the shape. On failure l is deinitialised. */
spcnn_status spcnn__conv_init(spcnn__conv *l, spcnn__dnnl *ctx, const spcnn__conv_shape *shape);
/* y = conv(x, w) + b. b is ignored (may be NULL) without bias. A bf16 layer rounds x and w to
 * bf16 first (x into the context's bf16 buffer on every call, w into the context's shared
 * copy when the weights changed). */
spcnn_status spcnn__conv_forward(spcnn__conv *l, spcnn__dnnl *ctx, const float *x, const float *w,
                                 const float *b, float *y);
/* A bf16 layer's forward from the input the caller has already rounded into the context's
 * bf16 buffer (ctx->bf16_input, the layer's input size, e.g. by
 * spcnn__concat_elu_forward_bf16): spcnn__conv_forward without its conversion pass. */
spcnn_status spcnn__conv_forward_rounded(spcnn__conv *l, spcnn__dnnl *ctx, const float *w,
                                         const float *b, float *y);
/* Overwrites dx (if not NULL), dw and db (if dw is not NULL; db is required with bias). Needs
 * shape.backward; x must be the input of the layer's last forward (a bf16 layer's weight
 * gradient reads that forward's rounding of it). */
spcnn_status spcnn__conv_backward(spcnn__conv *l, spcnn__dnnl *ctx, const float *x,
                                  const float *w, const float *dy, float *dx, float *dw,
                                  float *db);
/* Multiply-adds of one forward of an initialised layer: every output position (every input
 * position of a transposed layer) times c_in · c_out · kh · kw, padding taps included. */
double spcnn__conv_macs(const spcnn__conv *l);
/* Safe on a zeroed or half-initialised struct. */
void spcnn__conv_deinit(spcnn__conv *l);

#endif
