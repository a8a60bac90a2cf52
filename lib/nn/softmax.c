#include "nn/softmax.h"

#include <math.h>

/* One row: probs and the log of the normaliser (relative to the maximum) in double. */
static double softmax_row(const float *l, float *p, size_t k, float *max_out)
{
    float max = l[0];
    for (size_t j = 1; j < k; j++)
        max = l[j] > max ? l[j] : max;
    double sum = 0;
    for (size_t j = 0; j < k; j++)
        sum += exp((double)l[j] - (double)max);
    for (size_t j = 0; j < k; j++)
        p[j] = (float)(exp((double)l[j] - (double)max) / sum);
    *max_out = max;
    return log(sum);
}

void spcnn__softmax_forward(const float *logits, float *probs, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        float max;
        (void)softmax_row(logits + i * k, probs + i * k, k, &max);
    }
}

void spcnn__softmax_xent_forward(const float *logits, const uint8_t *labels, float *probs,
                                 float *loss, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        const float *l = logits + i * k;
        float max;
        /* Read the label's logit first: probs may alias logits. */
        double target = (double)l[labels[i]];
        double log_sum = softmax_row(l, probs + i * k, k, &max);
        loss[i] = (float)(log_sum - (target - (double)max));
    }
}

void spcnn__softmax_xent_backward(const float *probs, const uint8_t *labels, const float *dloss,
                                  float *dlogits, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        const float *p = probs + i * k;
        float *d = dlogits + i * k;
        for (size_t j = 0; j < k; j++)
            d[j] = dloss[i] * (p[j] - (j == labels[i] ? 1.0f : 0.0f));
    }
}
