/* Discretized logistic mixture likelihood for one 8-bit channel (PixelCNN++, Salimans et al.
 * 2017, discretize_mix_logistic_loss restricted to one channel).
 *
 * Per pixel the head gives 3k floats, in this order: k mixture logits, k means, k raw
 * log-scales. The log-scale is clamped below at SPCNN__MIX_LOG_SCALE_MIN (−7) as PixelCNN++
 * does; the clamp is differentiated like max(raw, −7): the gradient flows to the raw value
 * where raw >= −7 and is zero strictly below.
 *
 * A pixel value v in 0..255 sits at x = v/127.5 − 1 and owns the bin [x − 1/255, x + 1/255];
 * with CDF_j the logistic CDF of component j, log P(v | j) is
 *   v = 0:   log CDF_j(x + 1/255)               (all mass below the first bin edge)
 *   v = 255: log (1 − CDF_j(x − 1/255))         (all mass above the last bin edge)
 *   else:    log (CDF_j(x + 1/255) − CDF_j(x − 1/255)) when that mass > 1e-5, else
 *            log pdf_j(x) − log 127.5           (PixelCNN++'s guard against 0 − 0)
 * and log P(v) = logsumexp_j (log_softmax(logits)_j + log P(v | j)). Everything is computed in
 * log space with softplus: the bin mass as
 *   log σ(a) + log σ(−b) + log(1 − exp(−(a − b))),  a, b = (x ± 1/255 − mean)/scale,
 * which has no cancellation when both CDFs are near 0 or near 1. NLL is in nats.
 * The pdf approximation is kept for fidelity to PixelCNN++; it underestimates the mass of
 * steep tail bins, so the 256 probabilities can sum to slightly less than 1: by at most
 * 1.6e-5 (measured: one component at log-scale −6.9), and far less for wider scales. */
#ifndef SPCNN_NN_MIXTURE_H
#define SPCNN_NN_MIXTURE_H

#include <stddef.h>
#include <stdint.h>

#define SPCNN__MIX_LOG_SCALE_MIN (-7.0f)
#define SPCNN__MIX_LEVELS 256
/* Most components a mixture may have (the configuration's bound for nr_mix): 1 <= k <= this. */
#define SPCNN__MIX_MAX_K 64

/* nll[i] = −log P(pix[i]) for p pixels; params [p × 3k]. */
void spcnn__mixture_nll_forward(const float *params, const uint8_t *pix, float *nll, size_t p,
                                size_t k);
/* dparams [p × 3k] = dnll[i] · d nll[i] / d params[i] (overwritten). */
void spcnn__mixture_nll_backward(const float *params, const uint8_t *pix, const float *dnll,
                                 float *dparams, size_t p, size_t k);

/* out[v] = log P(v) for all 256 values of one pixel (params: 3k floats). */
void spcnn__mixture_log_probs_all(const float *params, size_t k, float *out);

/* Draw a pixel value from one pixel's mixture, deterministically from two uniforms:
 * the component by inverse CDF of softmax(logits) with u_comp in [0, 1) (the first j whose
 * cumulative probability exceeds u_comp); then x = mean_j + exp(log_scale_j)·temperature·
 * (log u − log(1 − u)) with u = u_logistic in (0, 1) (log-scale clamped as above), clamped to
 * [−1, 1] and rounded to the nearest of the 256 levels. At temperature 1 the result follows
 * the discretized distribution exactly (the bins are the rounding intervals; only the pdf
 * approximation of bins of mass < 1e-5 differs); smaller temperatures narrow each component
 * (0 gives its mean). */
uint8_t spcnn__mixture_sample(const float *params, size_t k, float temperature, float u_comp,
                              float u_logistic);

#endif
