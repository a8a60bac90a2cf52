/* Double-precision references of the elementwise layers and the losses (lib/nn/elementwise.h,
 * mixture.h, vae_loss.h): naive loops written straight from the formulas, proven by
 * tests/test_ref_elem.c with central differences, then used as the oracle for the float
 * library. Backward functions take the forward INPUT (the library may take the output). */
#ifndef SPCNN_REF_ELEM_H
#define SPCNN_REF_ELEM_H

#include <stddef.h>
#include <stdint.h>

void ref_elu_forward(const double *x, double *y, size_t n);
void ref_elu_backward(const double *x, const double *dy, double *dx, size_t n);

/* x [p × c] -> y [p × 2c] = (elu(x), elu(−x)) per pixel. */
void ref_concat_elu_forward(const double *x, double *y, size_t p, size_t c);
void ref_concat_elu_backward(const double *x, const double *dy, double *dx, size_t p, size_t c);

/* The documented mask of spcnn__dropout_forward, drawn element by element. */
void ref_dropout_mask(uint64_t key, double rate, uint8_t *mask, size_t n);
/* The keep probability q = 1 − round(rate·65536)/65536. */
double ref_dropout_keep(double rate);
/* y = x·mask/q; dx = dy·mask/q. */
void ref_dropout_forward(const double *x, const uint8_t *mask, double *y, size_t n, double rate);
void ref_dropout_backward(const uint8_t *mask, const double *dy, double *dx, size_t n,
                          double rate);

/* out = x + a·sigmoid(b), c2 = (a, b) [p × 2f]; backward gives dx and dc2. */
void ref_gate_forward(const double *x, const double *c2, double *out, size_t p, size_t f);
void ref_gate_backward(const double *c2, const double *dout, double *dx, double *dc2, size_t p,
                       size_t f);

/* out = c2 + h_xy + h_z[image] (h_xy, h_z may be NULL); backward: dc2 = dh_xy = dout,
 * dh_z[j] = sum of dout over image j's pixels. Any output may be NULL. */
void ref_cond_add_forward(const double *c2, const double *h_xy, const double *h_z, double *out,
                          size_t n, size_t hw, size_t c);
void ref_cond_add_backward(const double *dout, double *dc2, double *dh_xy, double *dh_z,
                           size_t n, size_t hw, size_t c);

void ref_add(const double *a, const double *b, double *y, size_t n);
void ref_accumulate(double *y, const double *a, size_t n);

/* y [p × (ca + cb)] = (a, b) per pixel; backward splits (da, db may be NULL). */
void ref_concat_forward(const double *a, const double *b, double *y, size_t p, size_t ca,
                        size_t cb);
void ref_concat_backward(const double *dy, double *da, double *db, size_t p, size_t ca,
                         size_t cb);

/* Discretized logistic mixture, one channel, PixelCNN++'s formulas literally. */
void ref_mixture_nll_forward(const double *params, const uint8_t *pix, double *nll, size_t p,
                             size_t k);
void ref_mixture_nll_backward(const double *params, const uint8_t *pix, const double *dnll,
                              double *dparams, size_t p, size_t k);
void ref_mixture_log_probs_all(const double *params, size_t k, double *out);
int ref_mixture_sample(const double *params, size_t k, double temperature, double u_comp,
                       double u_logistic);

/* Bernoulli cross-entropy with logits, summed per image: loss [n], logits/targets [n × d]. */
void ref_bce_logits_forward(const double *logits, const double *targets, double *loss, size_t n,
                            size_t d);
void ref_bce_logits_backward(const double *logits, const double *targets, const double *dloss,
                             double *dlogits, size_t n, size_t d);

/* KL(N(mu, exp(logvar)) || N(0, I)) per image: kl [n], mu/logvar [n × l]. */
void ref_kl_forward(const double *mu, const double *logvar, double *kl, size_t n, size_t l);
void ref_kl_backward(const double *mu, const double *logvar, const double *dkl, double *dmu,
                     double *dlogvar, size_t n, size_t l);

/* z = mu + exp(0.5·logvar)·eps. */
void ref_reparam_forward(const double *mu, const double *logvar, const double *eps, double *z,
                         size_t count);
void ref_reparam_backward(const double *logvar, const double *eps, const double *dz,
                          double *dmu, double *dlogvar, size_t count);

#endif
