/* LeNet-5 for one-channel images (LeCun et al. 1998, with ReLU and max pooling):
 *
 *   x [n × h × w × 1], pixel / 255
 *   conv1 5×5, pad 2, c1 channels -> ReLU -> max pool 2×2 stride 2     h1 = h/2,  w1 = w/2
 *   conv2 5×5, no pad, c2 channels -> ReLU -> max pool 2×2 stride 2    h2 = (h1-4)/2, ...
 *   fc1 (h2·w2·c2 -> f1) -> ReLU -> fc2 (f1 -> f2) -> ReLU -> fc3 (f2 -> classes) = logits
 *
 * (divisions round down). Activations are NHWC, so fc1 reads the second pooling's output in
 * (row, column, channel) order. The ten parameter rows, in table order, are conv1.w [c1 1 5 5],
 * conv1.b, conv2.w [c2 c1 5 5], conv2.b, fc1.w [f1 h2·w2·c2], fc1.b, fc2.w [f2 f1], fc2.b,
 * fc3.w [classes f2], fc3.b; the weights are He-initialised (fc3's LeCun), the biases zero.
 *
 * A network object is a plan for one batch size: its oneDNN layers and one arena holding
 * every activation and gradient, built once; forward and backward allocate nothing. */
#ifndef SPCNN_CLASSIFIER_LENET_H
#define SPCNN_CLASSIFIER_LENET_H

#include <stdint.h>

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/params.h"
#include "nn/pool.h"

/* Smallest and largest image side: 12 leaves a 1×1 map after the second pooling. */
#define SPCNN__LENET_MIN_SIDE 12
#define SPCNN__LENET_MAX_SIDE 1024
#define SPCNN__LENET_MAX_CLASSES 256 /* labels are bytes */
#define SPCNN__LENET_MAX_WIDTH 4096  /* of any layer */
enum { SPCNN__LENET_ROWS = 10 };

typedef struct spcnn__lenet_shape {
    int n;            /* batch */
    int h, w;         /* image size */
    int classes;      /* 2 to 256 */
    int c1, c2;       /* channels of conv1 and conv2 */
    int f1, f2;       /* units of fc1 and fc2 */
} spcnn__lenet_shape;

/* Check a shape (n is not checked); fills the feature-map sizes after each pooling. */
spcnn_status spcnn__lenet_check(const spcnn__lenet_shape *s, int *h1, int *w1, int *h2, int *w2);

/* Append the ten rows to a table that is not yet allocated; *first receives the first row. */
spcnn_status spcnn__lenet_add_params(spcnn__params *p, const spcnn__lenet_shape *s,
                                     size_t *first);

typedef struct spcnn__lenet {
    spcnn__lenet_shape s;
    int h1, w1, h2, w2;
    spcnn__conv conv1, conv2;
    spcnn__pool pool1, pool2;
    spcnn__linear fc1, fc2, fc3;
    float *arena;
    /* Activations: conv outputs after ReLU (in place), pooled maps, fc outputs after ReLU. */
    float *x, *a1, *p1, *a2, *p2, *h1a, *h2a, *logits, *probs, *loss;
    /* Gradients, each overwritten by the backward pass. */
    float *dloss, *dlogits, *dh2, *dh1, *dp2, *da2, *dp1, *da1;
} spcnn__lenet;

/* Build the plan for s.n images. On failure *out is NULL and nothing is left allocated. */
spcnn_status spcnn__lenet_create(spcnn__dnnl *ctx, const spcnn__lenet_shape *s,
                                 spcnn__lenet **out);
void spcnn__lenet_destroy(spcnn__lenet *net);

/* Fill net->x with `count` images of h·w bytes (pixel / 255), count <= n; the other n - count
 * image slots are set to zero. */
void spcnn__lenet_set_input(spcnn__lenet *net, const uint8_t *images, size_t count);

/* logits [n × classes] (net->logits) from net->x, with the weights in `weights`, a buffer of
 * the table p (its values or its EMA), rows from `first`. */
spcnn_status spcnn__lenet_forward(spcnn__lenet *net, spcnn__dnnl *ctx, const spcnn__params *p,
                                  size_t first, const float *weights);

/* From net->dlogits after a forward pass with the same weights: the gradient of every row,
 * written (not added) into p's gradient buffer, and dL/dx into dx [n × h × w] unless dx is
 * NULL. */
spcnn_status spcnn__lenet_backward(spcnn__lenet *net, spcnn__dnnl *ctx, spcnn__params *p,
                                   size_t first, const float *weights, float *dx);

#endif
