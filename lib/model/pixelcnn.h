/* The PixelCNN++ U-net of Spatial PixelCNN over a batch of m×m windows (one channel), built on
 * the engine's layers (docs/design.md, "The PixelCNN++ U-net", draws the wiring):
 *
 *   input   x and a ones channel; u0 = down_shift(conv2x3(x)),
 *           ul0 = down_shift(conv1x3(x)) + right_shift(conv2x1(x))
 *   up      3 scales (m, m/2, m/4): R gated resnets per scale on u, and on ul with aux u;
 *           stride-2 shifted convs between scales; every output is kept
 *   down    3 scales (m/4, m/2, m) with R, R+1, R+1 gated resnets, consuming one kept output
 *           each (u: aux u_kept; ul: aux concat(u, ul_kept)); stride-2 shifted transposed convs
 *           between scales
 *   head    nin(elu(ul)) -> 3K mixture parameters per pixel
 *
 * Every gated resnet is conditioned on the coordinate grid at its scale (resampled from the
 * window's crop, see spcnn__grid_mode) and on z, when the model uses them. */
#ifndef SPCNN_MODEL_PIXELCNN_H
#define SPCNN_MODEL_PIXELCNN_H

#include "nn/gated_resnet.h"
#include "nn/resample.h"

enum { SPCNN__PIXELCNN_MAX_BLOCKS = 64 };

/* How the window's grid reaches the smaller scales (the grid_resample key). */
typedef enum spcnn__grid_mode {
    SPCNN__GRID_NONE = 0,       /* no coordinate conditioning */
    SPCNN__GRID_HALF_PIXEL = 1, /* oneDNN linear resampling, half-pixel centres (0.1 files) */
    SPCNN__GRID_ENDPOINTS = 2   /* linear, first and last coordinates kept (the seed's) */
} spcnn__grid_mode;

typedef struct spcnn__pixelcnn_shape {
    int n;        /* windows per call */
    int m;        /* window side, a multiple of 4 */
    int f, r, k;  /* nr_filters, nr_resnet, nr_mix */
    int latent;   /* L; 0: no latent conditioning */
    int grid;     /* spcnn__grid_mode */
    int backward; /* 1: training */
    int cone;     /* 1: forward only, and only what the final ul at pixel (cone_r, cone_c) of
                     the window needs (the sampler: a window's one pixel to draw) */
    int bf16;     /* 1: the convolutions between the first layers and the head in bf16
                     (conv.h; in training plans forward and backward-data, the weight
                     gradient fp32); those two (2 input channels; the mixture parameters,
                     whose rounding alone cost 0.009 bits/dim) and everything else stay fp32 */
    int cone_r, cone_c;
    int columns;  /* 1: forward-only bf16 convolutions may go by columns (conv.h): the
                     sampler's small passes */
} spcnn__pixelcnn_shape;

/* Rows of the parameter table. */
typedef struct spcnn__pixelcnn_rows {
    size_t in_u_w, in_u_b, in_ula_w, in_ula_b, in_ulb_w, in_ulb_b;
    size_t down_u_w[2], down_u_b[2], down_ul_w[2], down_ul_b[2]; /* stride-2 convs */
    size_t up_u_w[2], up_u_b[2], up_ul_w[2], up_ul_b[2];         /* stride-2 deconvs */
    size_t head_w, head_b;
    spcnn__gated_resnet_rows up_u[SPCNN__PIXELCNN_MAX_BLOCKS], up_ul[SPCNN__PIXELCNN_MAX_BLOCKS];
    spcnn__gated_resnet_rows dn_u[SPCNN__PIXELCNN_MAX_BLOCKS], dn_ul[SPCNN__PIXELCNN_MAX_BLOCKS];
} spcnn__pixelcnn_rows;

typedef struct spcnn__pixelcnn spcnn__pixelcnn; /* defined in pixelcnn.c */

spcnn_status spcnn__pixelcnn_add_params(spcnn__params *params, const spcnn__pixelcnn_shape *s,
                                        spcnn__pixelcnn_rows *rows);
spcnn_status spcnn__pixelcnn_create(spcnn__dnnl *ctx, const spcnn__pixelcnn_shape *s,
                                    const spcnn__pixelcnn_rows *rows, spcnn__pixelcnn **out);
/* A forward-only plan whose activations live in the caller's `workspace` (64-byte aligned, of
 * spcnn__pixelcnn_workspace_floats(s) floats or more; NULL: its own): plans that run one at a
 * time on one context can share one, since nothing in it outlives a forward (the final ul is
 * read before the next plan runs). */
spcnn_status spcnn__pixelcnn_create_in(spcnn__dnnl *ctx, const spcnn__pixelcnn_shape *s,
                                       const spcnn__pixelcnn_rows *rows, float *workspace,
                                       spcnn__pixelcnn **out);
/* Floats of activations the largest of `count` forward-only plans needs (no primitives are
 * made): a workspace they can all share. */
spcnn_status spcnn__pixelcnn_workspace_floats(const spcnn__pixelcnn_shape *shapes, size_t count,
                                              size_t *floats);
void spcnn__pixelcnn_destroy(spcnn__pixelcnn *pc);
/* The ul stream after the last block, valid after a forward: [n × h × w × F] on the region
 * spcnn__pixelcnn_final_region of each window (the whole m×m; the one pixel of a cone plan). */
const float *spcnn__pixelcnn_final_ul(const spcnn__pixelcnn *pc);
spcnn__region spcnn__pixelcnn_final_region(const spcnn__pixelcnn *pc);
/* Multiply-adds of one forward of the plan (all its windows), counted from its layers' shapes:
 * a cone plan counts only its cones. with_head: the output layer over every pixel too (the
 * sampler applies it at one pixel itself). The grid's resampling between scales (a few
 * operations per pixel) is left out. */
double spcnn__pixelcnn_macs(const spcnn__pixelcnn *pc, int with_head);

/* x [n × m × m] pixel values in [-1, 1]; grid [n × m × m × 2] the window's crop of the image's
 * coordinate grid (ignored without grid conditioning); z [n × L] (ignored without latent);
 * out [n × m × m × 3K], or NULL to stop before the head (the sampler evaluates the head at one
 * pixel per window from spcnn__pixelcnn_final_ul). Dropout `rate` with masks keyed by `key`.
 * w: value base (raw or EMA). */
spcnn_status spcnn__pixelcnn_forward(spcnn__pixelcnn *pc, spcnn__dnnl *ctx,
                                     const spcnn__params *params, const float *w, const float *x,
                                     const float *grid, const float *z, float rate, uint64_t key,
                                     float *out);
/* The latent table of one image (forward-only plans with a latent code): every gated resnet's
 * projection of z [L] with the weights at w, block after block, 2F floats each; the bytes each
 * block's own projection of z gives. spcnn__pixelcnn_latent_table_floats: its size. */
size_t spcnn__pixelcnn_latent_table_floats(const spcnn__pixelcnn *pc);
spcnn_status spcnn__pixelcnn_latent_table(spcnn__pixelcnn *pc, spcnn__dnnl *ctx,
                                          const spcnn__params *params, const float *w,
                                          const float *z, float *table);
/* The next forward (only) reads window i's latent projections from tables[i], the latent table
 * of its image (made by any plan of the same model and weights), instead of projecting z for
 * every window: the same bytes. The array must outlive that forward. */
void spcnn__pixelcnn_set_latent_tables(spcnn__pixelcnn *pc, const float *const *tables);
/* Images of a data-parallel batch before this plan's first (0 in one process, the default):
 * the forward's dropout is drawn as for these windows' place in the whole batch. */
void spcnn__pixelcnn_set_first_image(spcnn__pixelcnn *pc, size_t first);
/* Backward of the last forward from dout [n × m × m × 3K]: overwrites the PixelCNN's gradient
 * rows, dz [n × L] (if latent; may be NULL) and dx [n × m × m], the gradient with respect to
 * the pixel values (may be NULL; only the causality test wants it). */
spcnn_status spcnn__pixelcnn_backward(spcnn__pixelcnn *pc, spcnn__dnnl *ctx,
                                      const spcnn__params *params, const float *dout,
                                      float rate, float *dz, float *dx);

#endif
