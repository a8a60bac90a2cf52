/* The distribution z is drawn from when a caller gives none: N(0, I), the VAE's prior, or a
 * Gaussian mixture with diagonal covariances fitted by EM to the encoder's posteriors of the
 * training images, so that random samples are conditioned on codes like those the PixelCNN
 * was trained on (the encoder never spreads them over all of N(0, I)). */
#ifndef SPCNN_MODEL_PRIOR_H
#define SPCNN_MODEL_PRIOR_H

#include <stddef.h>
#include <stdint.h>

#include "nn/rng.h"
#include "spatialpixelcnn.h"

/* Limits of a mixture (also the file reader's). */
enum { SPCNN__PRIOR_MAX_COMPONENTS = 1024 };

typedef struct spcnn__prior {
    size_t k, d;      /* components (0: the standard normal) and dimensions */
    float *weights;   /* k, positive, summing to 1 */
    float *means;     /* k × d */
    float *variances; /* k × d, positive */
} spcnn__prior;

void spcnn__prior_clear(spcnn__prior *p);

/* Copy k components of d dimensions into p (replacing what it held), after checking every value:
 * finite, weights positive (normalised here to sum 1), variances positive. `what` names the
 * caller in the messages. */
spcnn_status spcnn__prior_set(spcnn__prior *p, size_t k, size_t d, const float *weights,
                              const float *means, const float *variances, const char *what);

/* Fit k components by EM to n posteriors N(mu_i, diag(var_i)) of d dimensions: the mixture
 * that maximises the expected log-likelihood of codes drawn from them (var NULL: of the means
 * themselves). Starts from k-means++ centres chosen with the seed; deterministic. The mean
 * expected log-density per code at the last E-step goes to *loglik (may be NULL). progress
 * (may be NULL) is called after each iteration with a fraction from progress_base towards 1;
 * a non-zero return cancels (SPCNN_ERR_CANCELLED, out untouched). */
spcnn_status spcnn__prior_fit(const float *mu, const float *var, size_t n, size_t d, size_t k,
                              uint64_t seed, spcnn__prior *out, double *loglik,
                              spcnn_progress_fn progress, void *user, double progress_base);

/* One draw of z (p->d values, or d when p is standard) from the stream r. */
void spcnn__prior_draw(const spcnn__prior *p, size_t d, spcnn__rng *r, float *z);

#endif
