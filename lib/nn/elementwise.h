/* Hand-written elementwise layers: plain C loops over dense float32 NHWC tensors, fused where
 * that saves a pass over memory (concat_elu + dropout, both conditioning adds).
 *
 * Conventions: `p` is a pixel count (n·h·w), `c` a channel count; a tensor [p × c] holds the
 * c channels of a pixel contiguously. These functions cannot fail: sizes and rates are
 * validated where the model is configured. Backward functions overwrite their outputs.
 * Large tensors are split over OpenMP threads by pixel (or by image for reductions); every
 * output element is computed by the same arithmetic in the same order whatever the thread
 * count, so results are bit-identical for any thread count. */
#ifndef SPCNN_NN_ELEMENTWISE_H
#define SPCNN_NN_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

/* ELU (alpha 1): y = x if x > 0 else exp(x) - 1. y may alias x. */
void spcnn__elu_forward(const float *x, float *y, size_t n);
/* dx = dy · elu'(x), computed from the forward OUTPUT y (elu'(x) = 1 if y > 0 else y + 1), so no
 * exp is recomputed. dx may alias dy. */
void spcnn__elu_backward(const float *y, const float *dy, float *dx, size_t n);

/* concat_elu (PixelCNN++ order): x [p × c] -> y [p × 2c], y[i, 0:c] = elu(x[i]),
 * y[i, c:2c] = elu(-x[i]). */
void spcnn__concat_elu_forward(const float *x, float *y, size_t p, size_t c);
/* concat_elu rounded to bf16 in the same pass: y [p × 2c] holds the bytes that
 * spcnn__bf16_from_f32 would give for spcnn__concat_elu_forward's output (a bf16
 * convolution's input, spcnn__conv_forward_rounded). */
void spcnn__concat_elu_forward_bf16(const float *x, uint16_t *y, size_t p, size_t c);
/* dy [p × 2c] -> dx [p × c], from the forward output y (see spcnn__elu_backward). */
void spcnn__concat_elu_backward(const float *y, const float *dy, float *dx, size_t p, size_t c);

/* Dropout with keyed randomness. Element i is kept when 16 bits drawn from
 * spcnn__rng {key, counter = i / 4} (bits 16·(i % 4) .. +15 of the draw) are >= round(rate·65536);
 * so the keep probability is q = 1 − round(rate·65536)/65536 and y = x·mask/q (rate = 0 gives
 * q = 1: an exact identity). The mask, one byte (0 or 1) per element, is written to `mask` for
 * the backward pass. The draw depends only on (key, i): any thread count, the same mask.
 * Requires 0 <= rate < 1. y may alias x. A dropped element is x·0 (branch-free), so a
 * non-finite x stays visible as NaN. */
void spcnn__dropout_forward(const float *x, float *y, uint8_t *mask, size_t n, float rate,
                            uint64_t key);
/* dx = dy·mask/q. dx may alias dy. */
void spcnn__dropout_backward(const uint8_t *mask, const float *dy, float *dx, size_t n,
                             float rate);
/* The scale 1/q that spcnn__dropout_forward applies to kept elements. */
float spcnn__dropout_scale(float rate);

/* Fused concat_elu then dropout (one pass, no intermediate tensor): y [p × 2c] and mask [p × 2c]
 * are bit-identical to spcnn__concat_elu_forward followed by spcnn__dropout_forward with the
 * same key over the 2c-channel tensor. */
void spcnn__concat_elu_dropout_forward(const float *x, float *y, uint8_t *mask, size_t p,
                                       size_t c, float rate, uint64_t key);
/* The same for pixels first .. first + p - 1 of a larger tensor: the draws of pixel i are
 * those of pixel first + i there (a rank's shard of a data-parallel batch). With no dropout
 * (rate 0, as in every forward-only pass) mask may be NULL: nothing will read it. */
void spcnn__concat_elu_dropout_forward_at(const float *x, float *y, uint8_t *mask, size_t p,
                                          size_t c, float rate, uint64_t key, size_t first);
/* Backward from the fused output y (kept elements are divided by 1/q to recover elu) and the
 * mask: dx [p × c]. */
void spcnn__concat_elu_dropout_backward(const float *y, const uint8_t *mask, const float *dy,
                                        float *dx, size_t p, size_t c, float rate);

/* Gated residual: x [p × f], c2 [p × 2f] = (a, b) per pixel; out = x + a·sigmoid(b).
 * out may alias x. */
void spcnn__gate_forward(const float *x, const float *c2, float *out, size_t p, size_t f);
/* dc2 [p × 2f] from dout [p × f]: da = dout·sigmoid(b), db = dout·a·sigmoid(b)·(1 − sigmoid(b)).
 * The residual's dx equals dout: the caller aliases or copies it. */
void spcnn__gate_backward(const float *c2, const float *dout, float *dc2, size_t p, size_t f);

/* Conditioning add, in place on c2 [n·hw × c]: c2[i] += h_xy[i] + h_z[image(i)], where
 * image(i) = i / hw. h_xy [n·hw × c] and h_z [n × c] may each be NULL (no term). */
void spcnn__cond_add_forward(float *c2, const float *h_xy, const float *h_z, size_t n,
                             size_t hw, size_t c);
/* The same add with the grid's projection done here instead of by a 1×1 convolution, for
 * forward-only blocks (two multiply-adds a channel do not pay for a oneDNN call): c2[i][j] +=
 * (w[j][0]·grid[i][0] + w[j][1]·grid[i][1]) + h_z[image(i)][j]. grid [n·hw × 2], w [c × 2]
 * (the projection's weights, a 1×1 convolution's oihw), c ≤ SPCNN__COND_GRID_MAX_C; h_z may
 * be NULL. Within a float rounding of the convolution's result (a different summation). */
#define SPCNN__COND_GRID_MAX_C 2048
void spcnn__cond_add_grid_forward(float *c2, const float *grid, const float *w,
                                  const float *h_z, size_t n, size_t hw, size_t c);
/* dh_z [n × c]: dh_z[j] = sum over the hw pixels of image j of dc2 (pixels summed in order).
 * dh_xy is dc2 itself (no work). */
void spcnn__cond_add_backward(const float *dc2, float *dh_z, size_t n, size_t hw, size_t c);

/* y = a + b (y may alias a or b). */
void spcnn__add(const float *a, const float *b, float *y, size_t n);
/* y += a. */
void spcnn__accumulate(float *y, const float *a, size_t n);

/* Channel concatenation: a [p × ca], b [p × cb] -> y [p × (ca + cb)]. */
void spcnn__concat_forward(const float *a, const float *b, float *y, size_t p, size_t ca,
                           size_t cb);
/* The split: dy [p × (ca + cb)] -> da [p × ca], db [p × cb]; either may be NULL. */
void spcnn__concat_backward(const float *dy, float *da, float *db, size_t p, size_t ca,
                            size_t cb);

/* ReLU: y = x if x > 0 else 0. y may alias x. */
void spcnn__relu_forward(const float *x, float *y, size_t n);
/* dx = dy where the forward OUTPUT y > 0, else 0 (y > 0 exactly where x > 0). dx may alias
 * dy. */
void spcnn__relu_backward(const float *y, const float *dy, float *dx, size_t n);

#endif
