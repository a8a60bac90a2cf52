/* Double-precision references of the classifier's layers and of the whole LeNet-5
 * (lib/nn/pool.h, lib/nn/softmax.h, spcnn__relu_*, lib/classifier/lenet.h): naive loops
 * written from the definitions, proven by central differences in tests/test_ref_classifier.c,
 * then the oracle of tests/test_classifier.c. Tensors are NHWC; every backward overwrites the
 * gradients it is given (any may be NULL) and takes the forward INPUT. */
#ifndef SPCNN_REF_CLASSIFIER_H
#define SPCNN_REF_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

/* Max pooling, no padding: out = (h - kh) / sh + 1. The gradient of a window goes to its first
 * maximum in row-major window order. */
void ref_maxpool_out_size(int h, int w, int kh, int kw, int sh, int sw, int *oh, int *ow);
void ref_maxpool_forward(int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                         const double *x, double *y);
void ref_maxpool_backward(int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                          const double *x, const double *dy, double *dx);

void ref_relu_forward(const double *x, double *y, size_t n);
void ref_relu_backward(const double *x, const double *dy, double *dx, size_t n);

/* Per row of logits [n × k]: probs = softmax, loss = -log probs[label] (nats). */
void ref_softmax_xent_forward(const double *logits, const uint8_t *labels, double *probs,
                              double *loss, size_t n, size_t k);
void ref_softmax_xent_backward(const double *logits, const uint8_t *labels, const double *dloss,
                               double *dlogits, size_t n, size_t k);

/* The whole LeNet-5 of lib/classifier/lenet.h. Its parameters are one vector in table order
 * (conv1.w OIHW, conv1.b, conv2.w, conv2.b, fc1.w OI, fc1.b, fc2.w, fc2.b, fc3.w, fc3.b),
 * without padding; x is n × h × w input values (pixel / 255 in the library). */
typedef struct ref_lenet_shape {
    int n, h, w, classes, c1, c2, f1, f2;
} ref_lenet_shape;

/* Number of parameters, and the length of each of the ten rows (counts may be NULL). */
size_t ref_lenet_params(const ref_lenet_shape *s, size_t counts[10]);
/* logits [n × classes] (may be NULL) and, with labels, the loss of each image [n]. */
void ref_lenet_forward(const ref_lenet_shape *s, const double *params, const double *x,
                       const uint8_t *labels, double *logits, double *loss);
/* The gradient of sum_i dloss[i] · loss_i: dparams (the parameters' layout) and dx. */
void ref_lenet_backward(const ref_lenet_shape *s, const double *params, const double *x,
                        const uint8_t *labels, const double *dloss, double *dparams,
                        double *dx);

#endif
