/* The VAE of Spatial PixelCNN: a small ResNet encoder of the whole image (resampled to S×S, the
 * configured image_size) to mu, log sigma² (L dims), and a ResNet decoder conditioned on z in
 * every layer to per-pixel Bernoulli logits. Built from the engine's layers; all parameters are
 * rows of the model's one parameter table ("vae.enc...", "vae.dec...").
 *
 * Tensors (NHWC, float): x [n × S × S × 1] holding p/127.5 - 1; mu, logvar, z [n × L];
 * logits [n × S × S × 1]. */
#ifndef SPCNN_MODEL_VAE_H
#define SPCNN_MODEL_VAE_H

#include "nn/params.h"
#include "nn/dnnl_ctx.h"

typedef struct spcnn__vae_shape {
    int n;        /* images per call */
    int size;     /* S, side of the VAE input; a multiple of 4 */
    int latent;   /* L */
    int channels; /* C, width of the first stage (the second has 2C) */
    int backward; /* 1: training (keeps activations, builds backward primitives) */
} spcnn__vae_shape;

typedef struct spcnn__vae spcnn__vae; /* defined in vae.c */

/* Add the VAE's rows to the table (before it is allocated). `rows_begin`/`rows_end` receive the
 * range of row indices added (the VAE's rows are contiguous). */
spcnn_status spcnn__vae_add_params(spcnn__params *params, const spcnn__vae_shape *s,
                                   size_t *rows_begin, size_t *rows_end);

/* Create the layers and activation memory for a shape; *out is NULL on failure. The rows must
 * be those added by spcnn__vae_add_params with the same size/latent/channels. */
spcnn_status spcnn__vae_create(spcnn__dnnl *ctx, const spcnn__params *params, size_t rows_begin,
                               const spcnn__vae_shape *s, spcnn__vae **out);
void spcnn__vae_destroy(spcnn__vae *v);
/* Multiply-adds of one encode and one decode of the shape's n images, counted from the layers'
 * shapes (convolutions and linear layers; the elementwise work is left out). For benchmarks. */
double spcnn__vae_macs(const spcnn__vae *v);

/* w: the parameter value base to use (params->buf[SPCNN__BUF_VALUE] or the EMA buffer). */
spcnn_status spcnn__vae_encode(spcnn__vae *v, spcnn__dnnl *ctx, const spcnn__params *params,
                               const float *w, const float *x, float *mu, float *logvar);
spcnn_status spcnn__vae_decode(spcnn__vae *v, spcnn__dnnl *ctx, const spcnn__params *params,
                               const float *w, const float *z, float *logits);
/* Backward of the last decode: overwrites dz [n × L] and the decoder's gradient rows. */
spcnn_status spcnn__vae_decode_backward(spcnn__vae *v, spcnn__dnnl *ctx,
                                        const spcnn__params *params, const float *z,
                                        const float *dlogits, float *dz);
/* Backward of the last encode: overwrites the encoder's gradient rows. */
spcnn_status spcnn__vae_encode_backward(spcnn__vae *v, spcnn__dnnl *ctx,
                                        const spcnn__params *params, const float *x,
                                        const float *dmu, const float *dlogvar);

#endif
