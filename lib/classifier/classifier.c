/* The public classifier API: creation, settings, training and prediction. Files are in
 * classifier_file.c, the network in lenet.c. */
#include "classifier/classifier.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/softmax.h"

static void drop_plans(spcnn_classifier *c)
{
    spcnn__lenet_destroy(c->train);
    spcnn__lenet_destroy(c->predict);
    c->train = NULL;
    c->predict = NULL;
}

spcnn_status spcnn__classifier_new(const spcnn__lenet_shape *shape, uint64_t seed,
                                   spcnn_classifier **out)
{
    *out = NULL;
    int h1, w1, h2, w2;
    SPCNN_TRY(spcnn__lenet_check(shape, &h1, &w1, &h2, &w2));
    spcnn_classifier *c = spcnn__calloc(1, sizeof *c);
    if (c == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "classifier create: out of memory");
    c->shape = *shape;
    c->shape.n = 0;
    c->threads = 1;
    spcnn__params_init(&c->params);
    spcnn_status st;
    SPCNN_TRY_GOTO(st, spcnn__dnnl_init(&c->ctx, c->threads));
    SPCNN_TRY_GOTO(st, spcnn__lenet_add_params(&c->params, &c->shape, &c->first_row));
    SPCNN_TRY_GOTO(st, spcnn__params_allocate(&c->params));
    spcnn__params_init_values(&c->params, seed);
    spcnn__optim_init(&c->optim, SPCNN__CLASSIFIER_LR, SPCNN__CLASSIFIER_LR_DECAY,
                      SPCNN__CLASSIFIER_BETA1, SPCNN__CLASSIFIER_BETA2, SPCNN__CLASSIFIER_L2,
                      SPCNN__CLASSIFIER_EMA);
    *out = c;
    return SPCNN_OK;
fail:
    spcnn_classifier_destroy(c);
    return st;
}

spcnn_status spcnn_classifier_create(size_t height, size_t width, size_t classes, uint64_t seed,
                                     spcnn_classifier **out)
{
    SPCNN_CHECK_ARG(out != NULL, "classifier create: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(height >= SPCNN__LENET_MIN_SIDE && height <= SPCNN__LENET_MAX_SIDE &&
                        width >= SPCNN__LENET_MIN_SIDE && width <= SPCNN__LENET_MAX_SIDE,
                    "classifier create: a %zux%zu image is outside %dx%d to %dx%d", height,
                    width, SPCNN__LENET_MIN_SIDE, SPCNN__LENET_MIN_SIDE, SPCNN__LENET_MAX_SIDE,
                    SPCNN__LENET_MAX_SIDE);
    SPCNN_CHECK_ARG(classes >= 2 && classes <= SPCNN__LENET_MAX_CLASSES,
                    "classifier create: %zu classes (2 to %d)", classes,
                    SPCNN__LENET_MAX_CLASSES);
    spcnn__lenet_shape s = {0, (int)height, (int)width, (int)classes, SPCNN__CLASSIFIER_C1,
                            SPCNN__CLASSIFIER_C2, SPCNN__CLASSIFIER_F1, SPCNN__CLASSIFIER_F2};
    return spcnn__classifier_new(&s, seed, out);
}

void spcnn_classifier_destroy(spcnn_classifier *c)
{
    if (c == NULL)
        return;
    drop_plans(c);
    spcnn__params_deinit(&c->params);
    spcnn__dnnl_deinit(&c->ctx);
    spcnn__free(c);
}

spcnn_status spcnn_classifier_load(const char *path, spcnn_classifier **out)
{
    SPCNN_CHECK_ARG(out != NULL, "classifier load: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(path != NULL, "classifier load: path is NULL");
    return spcnn__classifier_file_load(path, out);
}

spcnn_status spcnn_classifier_save(spcnn_classifier *c, const char *path)
{
    SPCNN_CHECK_ARG(c != NULL, "classifier save: classifier is NULL");
    SPCNN_CHECK_ARG(path != NULL, "classifier save: path is NULL");
    return spcnn__classifier_file_save(c, path);
}

spcnn_status spcnn_classifier_set_threads(spcnn_classifier *c, int threads)
{
    SPCNN_CHECK_ARG(c != NULL, "classifier set threads: classifier is NULL");
    SPCNN_CHECK_ARG(threads >= 1 && threads <= 256,
                    "classifier set threads: threads = %d is out of range [1, 256]", threads);
    if (threads == c->threads)
        return SPCNN_OK;
    /* Primitives fix their thread count at creation: rebuild them on the next call. */
    spcnn__dnnl fresh;
    SPCNN_TRY(spcnn__dnnl_init(&fresh, threads));
    drop_plans(c);
    spcnn__dnnl_deinit(&c->ctx);
    c->ctx = fresh;
    c->threads = threads;
    return SPCNN_OK;
}

spcnn_status spcnn_classifier_shape(const spcnn_classifier *c, size_t *height, size_t *width,
                                    size_t *classes)
{
    SPCNN_CHECK_ARG(c != NULL, "classifier shape: classifier is NULL");
    if (height)
        *height = (size_t)c->shape.h;
    if (width)
        *width = (size_t)c->shape.w;
    if (classes)
        *classes = (size_t)c->shape.classes;
    return SPCNN_OK;
}

/* The plan *slot for n images, rebuilt if it was made for another batch size. */
static spcnn_status plan_for(spcnn_classifier *c, spcnn__lenet **slot, size_t n)
{
    if (*slot != NULL && (size_t)(*slot)->s.n == n)
        return SPCNN_OK;
    spcnn__lenet_destroy(*slot);
    *slot = NULL;
    spcnn__lenet_shape s = c->shape;
    s.n = (int)n;
    return spcnn__lenet_create(&c->ctx, &s, slot);
}

static size_t argmax(const float *row, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

spcnn_status spcnn_classifier_train_step(spcnn_classifier *c, const uint8_t *images,
                                         const uint8_t *labels, size_t n, double *loss,
                                         double *accuracy)
{
    SPCNN_CHECK_ARG(c != NULL, "classifier train step: classifier is NULL");
    SPCNN_CHECK_ARG(images != NULL && labels != NULL,
                    "classifier train step: images or labels is NULL");
    SPCNN_CHECK_ARG(n >= 1 && n <= 65536,
                    "classifier train step: batch of %zu images (1 to 65536)", n);
    const size_t k = (size_t)c->shape.classes;
    for (size_t i = 0; i < n; i++)
        SPCNN_CHECK_ARG(labels[i] < k,
                        "classifier train step: label %u of image %zu is not below the %zu "
                        "classes",
                        (unsigned)labels[i], i, k);
    spcnn__dnnl_enter(&c->ctx);
    SPCNN_TRY(plan_for(c, &c->train, n));
    spcnn__lenet *net = c->train;
    const float *w = c->params.buf[SPCNN__BUF_VALUE];

    spcnn__lenet_set_input(net, images, n);
    SPCNN_TRY(spcnn__lenet_forward(net, &c->ctx, &c->params, c->first_row, w));
    spcnn__softmax_xent_forward(net->logits, labels, net->probs, net->loss, n, k);
    double sum = 0;
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        sum += net->loss[i];
        right += argmax(net->probs + i * k, k) == labels[i];
        net->dloss[i] = 1.0f / (float)n;
    }
    spcnn__softmax_xent_backward(net->probs, labels, net->dloss, net->dlogits, n, k);
    SPCNN_TRY(spcnn__lenet_backward(net, &c->ctx, &c->params, c->first_row, w, NULL));

    spcnn_status st = spcnn__optim_step(&c->params, &c->optim, NULL);
    c->ctx.weights_version++;
    if (st != SPCNN_OK)
        return spcnn__error_context(st, "classifier train step");
    if (loss)
        *loss = sum / (double)n;
    if (accuracy)
        *accuracy = (double)right / (double)n;
    return SPCNN_OK;
}

spcnn_status spcnn_classifier_predict(spcnn_classifier *c, const uint8_t *images, size_t n,
                                      float *probs, size_t capacity)
{
    SPCNN_CHECK_ARG(c != NULL, "classifier predict: classifier is NULL");
    SPCNN_CHECK_ARG(images != NULL && probs != NULL,
                    "classifier predict: images or probs is NULL");
    SPCNN_CHECK_ARG(n >= 1, "classifier predict: no images (n = 0)");
    const size_t k = (size_t)c->shape.classes;
    const size_t image = (size_t)c->shape.h * (size_t)c->shape.w;
    if (n > SIZE_MAX / k || n * k > capacity)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "classifier predict: %zu images of %zu classes do not fit a "
                            "buffer of %zu floats",
                            n, k, capacity);
    SPCNN_CHECK_ARG(n <= SIZE_MAX / image, "classifier predict: %zu images are too many", n);
    spcnn__dnnl_enter(&c->ctx);
    const size_t batch = SPCNN__CLASSIFIER_PREDICT_BATCH;
    SPCNN_TRY(plan_for(c, &c->predict, batch));
    spcnn__lenet *net = c->predict;
    const float *ema = c->params.buf[SPCNN__BUF_EMA];
    for (size_t first = 0; first < n; first += batch) {
        size_t m = n - first < batch ? n - first : batch;
        spcnn__lenet_set_input(net, images + first * image, m); /* a short batch: zeros */
        SPCNN_TRY(spcnn__lenet_forward(net, &c->ctx, &c->params, c->first_row, ema));
        spcnn__softmax_forward(net->logits, probs + first * k, m, k);
    }
    return SPCNN_OK;
}
