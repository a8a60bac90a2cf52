/* PixelCNN++'s gated resnet with Spatial PixelCNN's two conditionings, composed from the engine's
 * layers (one forward/backward pair over explicit tensors, like every layer):
 *
 *   c1  = conv(concat_elu(x))                       [+ nin(concat_elu(a)) with an aux input a]
 *   c1' = dropout(concat_elu(c1))
 *   c2  = conv(c1')  (2F channels)                  [+ nin(grid) (2 -> 2F)] [+ linear(z) (L -> 2F)]
 *   out = x + c2[:F] · sigmoid(c2[F:])
 *
 * `conv` is the stream's causal convolution: down-shifted 2×3 (u stream) or down-right-shifted
 * 2×2 (ul stream). All tensors are NHWC: x, out [n·h·w × F], a [n·h·w × aux_c], grid
 * [n·h·w × 2] (the coordinate grid at this scale), z [n × L].
 *
 * A cone block (shape.full > 0, forward only) computes only a rectangle of a full×full block's
 * output — rows [top, top + h), columns [left, left + w) — from the rectangles of its inputs that
 * it depends on (spcnn__gated_resnet_cone_inputs): each causal convolution reads one more row
 * above and one more column to the left than it writes, and the u stream's 2×3 kernel one more
 * to the right, each clipped to the scale, where the full block's padding applies. So x is read
 * on a rectangle up to two rows and columns larger, a on one up to one larger, grid on the
 * output's own. The sampler's last blocks need only the cone of one pixel (docs/design.md,
 * "Sampling only what is needed"); with dropout off (rate 0, as in sampling) the values are the
 * same floats as the full block's at those positions (tests/test_gated_resnet.c;
 * dropout masks are keyed by position in the tensor, so a cone's would differ). */
#ifndef SPCNN_NN_GATED_RESNET_H
#define SPCNN_NN_GATED_RESNET_H

#include <stdint.h>

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "nn/shift.h"

typedef enum spcnn__stream_conv {
    SPCNN__CONV_DOWN_SHIFTED = 0,      /* 2×3, the u stream */
    SPCNN__CONV_DOWN_RIGHT_SHIFTED = 1 /* 2×2, the ul stream */
} spcnn__stream_conv;

typedef struct spcnn__gated_resnet_shape {
    int n, h, w, f;
    int aux_c;    /* channels of the auxiliary input a; 0: none */
    int grid;     /* 1: condition on the 2-channel coordinate grid */
    int latent;   /* size of z; 0: no latent conditioning */
    int conv;     /* spcnn__stream_conv */
    int backward; /* 1: training (keeps activations, builds backward primitives) */
    int full;     /* a cone block: the side of the full output (see above); 0: an ordinary block */
    int bf16;     /* the convolutions of x, a and c1 in bf16 (conv.h; in training blocks their
                     forward and backward-data passes); the grid's and z's projections stay
                     fp32 */
    int top, left; /* a cone block: where its h×w output lies in the full×full one */
    int columns;  /* its bf16 convolutions may go by columns (conv.h) */
} spcnn__gated_resnet_shape;

/* The regions of the full×full scale on which a block reads x and its aux input: a cone
 * block's (see above), or the whole scale for an ordinary block. */
void spcnn__gated_resnet_cone_inputs(const spcnn__gated_resnet_shape *s, spcnn__region *x,
                                     spcnn__region *a);

/* Rows of the parameter table (SIZE_MAX: absent). */
typedef struct spcnn__gated_resnet_rows {
    size_t conv1_w, conv1_b, aux_w, aux_b, conv2_w, conv2_b, grid_w, z_w;
} spcnn__gated_resnet_rows;

typedef struct spcnn__gated_resnet {
    spcnn__gated_resnet_shape s;
    spcnn__gated_resnet_rows rows;
    spcnn__conv conv1, aux, conv2, grid;
    spcnn__linear z;
    /* Activations kept for backward (one block, owned): */
    float *ce_x;    /* concat_elu(x)            [P × 2F] */
    float *c1;      /* c1 before its concat_elu [P × F]  */
    float *ce_a;    /* concat_elu(a)            [P × 2aux_c] */
    float *ce_c1;   /* dropout(concat_elu(c1))  [P × 2F] */
    float *c2;      /* gate input               [P × 2F] */
    float *h_xy;    /* grid projection          [P × 2F] (training blocks; forward-only ones
                       project the grid inside the conditioning add) */
    float *h_z;     /* latent projection        [n × 2F] */
    uint8_t *mask;  /* dropout mask             [P × 2F] */
    float *x_res;   /* cone blocks: x cropped to the output region, for the residual */
    float *arena;
    /* Images of a data-parallel batch before this one's first (0 in one process): dropout is
     * drawn as for these images' place in the whole batch. */
    size_t first_image;
    /* Forward-only blocks, when set (spcnn__pixelcnn_set_latent_tables): window i's latent
     * projection is the 2F floats at hz_tables[i] + hz_offset, made once per image, instead of
     * z's projection made again for every window. */
    const float *const *hz_tables;
    size_t hz_offset;
} spcnn__gated_resnet;

/* Add the block's rows ("<prefix>.conv1.w", ...) to the table, before it is allocated. */
spcnn_status spcnn__gated_resnet_add_params(spcnn__params *params, const char *prefix,
                                            const spcnn__gated_resnet_shape *s,
                                            spcnn__gated_resnet_rows *rows);

/* Floats of backward scratch the caller provides (shared by all blocks of a plan). */
size_t spcnn__gated_resnet_work_size(const spcnn__gated_resnet_shape *s);

/* Floats of a block's activation memory. */
size_t spcnn__gated_resnet_activation_size(const spcnn__gated_resnet_shape *s);

/* Create the layers and the activation block for a shape. A forward-only block may use
 * `shared` (spcnn__gated_resnet_activation_size floats, 64-byte aligned, owned by the caller
 * and reused by other blocks run one at a time) instead of its own; NULL: its own. On failure
 * gr is deinitialised. */
spcnn_status spcnn__gated_resnet_init(spcnn__gated_resnet *gr, spcnn__dnnl *ctx,
                                      const spcnn__gated_resnet_shape *s,
                                      const spcnn__gated_resnet_rows *rows, float *shared);

/* out = block(x, a, grid, z). a, grid and z are ignored (may be NULL) when the shape has none.
 * Dropout uses `rate` and a mask keyed by `dropout_key`; rate 0 is exact identity. out must
 * not alias x. `w` is the parameter value buffer base (params->buf[SPCNN__BUF_VALUE] or EMA). */
spcnn_status spcnn__gated_resnet_forward(spcnn__gated_resnet *gr, spcnn__dnnl *ctx,
                                         const spcnn__params *params, const float *w,
                                         const float *x, const float *a, const float *grid,
                                         const float *z, float rate, uint64_t dropout_key,
                                         float *out);

/* From dout: overwrites dx [P × F], da [P × aux_c] (if aux; may be NULL), dz [n × L] (if
 * latent; may be NULL) and the block's rows of the gradient buffer. Needs the inputs of the
 * last forward and `work` of spcnn__gated_resnet_work_size floats. */
spcnn_status spcnn__gated_resnet_backward(spcnn__gated_resnet *gr, spcnn__dnnl *ctx,
                                          const spcnn__params *params, const float *x,
                                          const float *a, const float *grid, const float *z,
                                          const float *dout, float rate, float *dx, float *da,
                                          float *dz, float *work);

/* Multiply-adds of one forward of an initialised block: its convolutions (spcnn__conv_macs)
 * and its z projection. */
double spcnn__gated_resnet_macs(const spcnn__gated_resnet *gr);

void spcnn__gated_resnet_deinit(spcnn__gated_resnet *gr);

#endif
