/* The VAE's losses: Bernoulli cross-entropy of the decoder's logits against the image, the KL
 * divergence of the posterior from the standard normal prior, and the reparameterisation.
 * Plain loops; per-image sums are accumulated in double, one image per OpenMP iteration, so
 * results do not depend on the thread count. Backward functions overwrite their outputs. */
#ifndef SPCNN_NN_VAE_LOSS_H
#define SPCNN_NN_VAE_LOSS_H

#include <stddef.h>

/* loss[i] = sum over the d values of image i of softplus(l) − t·l, the cross-entropy of
 * Bernoulli(sigmoid(l)) against a target t in [0, 1] (t = pixel/255); logits, targets [n × d]. */
void spcnn__bce_logits_forward(const float *logits, const float *targets, float *loss, size_t n,
                               size_t d);
/* dlogits [n × d] = dloss[i] · (sigmoid(l) − t). */
void spcnn__bce_logits_backward(const float *logits, const float *targets, const float *dloss,
                                float *dlogits, size_t n, size_t d);

/* kl[i] = KL(N(mu, exp(logvar)) || N(0, I)) = 0.5 · sum_j (mu² + exp(logvar) − 1 − logvar)
 * over the l latent dims of image i; mu, logvar [n × l]. */
void spcnn__kl_forward(const float *mu, const float *logvar, float *kl, size_t n, size_t l);
/* dmu = dkl[i]·mu, dlogvar = dkl[i]·0.5·(exp(logvar) − 1). */
void spcnn__kl_backward(const float *mu, const float *logvar, const float *dkl, float *dmu,
                        float *dlogvar, size_t n, size_t l);

/* z = mu + exp(0.5·logvar)·eps, elementwise over count values (eps given by the caller). */
void spcnn__reparam_forward(const float *mu, const float *logvar, const float *eps, float *z,
                            size_t count);
/* dmu = dz (dmu may alias dz), dlogvar = dz·eps·0.5·exp(0.5·logvar). */
void spcnn__reparam_backward(const float *logvar, const float *eps, const float *dz, float *dmu,
                             float *dlogvar, size_t count);

#endif
