/* Softmax and the cross-entropy of a classifier's logits: rows of k class scores.
 *
 * For a row of logits l [k] and its label y (0 <= y < k):
 *   p_j = exp(l_j - max l) / sum_i exp(l_i - max l)            (the softmax, in float)
 *   loss = log sum_i exp(l_i - max l) - (l_y - max l)          (nats, summed in double)
 *   dloss/dl_j = p_j - [j == y]
 * Subtracting the row's maximum keeps every exp in (0, 1]: no overflow for any finite logits,
 * and the loss of a confident, correct row is a small positive number, not 0 - 0. These
 * functions cannot fail: sizes and labels are validated by the caller. */
#ifndef SPCNN_NN_SOFTMAX_H
#define SPCNN_NN_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

/* logits [n × k] -> probs [n × k]. probs may alias logits. */
void spcnn__softmax_forward(const float *logits, float *probs, size_t n, size_t k);

/* logits [n × k], labels [n] -> probs [n × k] and loss [n] (nats). */
void spcnn__softmax_xent_forward(const float *logits, const uint8_t *labels, float *probs,
                                 float *loss, size_t n, size_t k);
/* dlogits [n × k] = dloss[i] · (probs - onehot(label)) from the forward probs; overwrites. */
void spcnn__softmax_xent_backward(const float *probs, const uint8_t *labels, const float *dloss,
                                  float *dlogits, size_t n, size_t k);

#endif
