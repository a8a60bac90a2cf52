/* The inside of spcnn_classifier: the LeNet-5 shape, its parameter table, the optimiser and two
 * plans (lenet.h): one for the batch size of the last training step and one of
 * SPCNN__CLASSIFIER_PREDICT_BATCH images for prediction. classifier.c holds the public API,
 * classifier_file.c the file format (docs/file-format.md, "Classifier files"). */
#ifndef SPCNN_CLASSIFIER_CLASSIFIER_H
#define SPCNN_CLASSIFIER_CLASSIFIER_H

#include "classifier/lenet.h"
#include "nn/dnnl_ctx.h"
#include "nn/optim.h"
#include "nn/params.h"

/* Prediction runs on batches of this many images, the last one padded, so an image's
 * probabilities do not depend on how many images a call is given. */
enum { SPCNN__CLASSIFIER_PREDICT_BATCH = 64 };

/* The widths spcnn_classifier_create chooses (docs/design.md, "The classifier", says why). */
#define SPCNN__CLASSIFIER_C1 20
#define SPCNN__CLASSIFIER_C2 50
#define SPCNN__CLASSIFIER_F1 256
#define SPCNN__CLASSIFIER_F2 128

/* The optimiser's settings (fixed; spcnn_classifier_train_step documents them). */
#define SPCNN__CLASSIFIER_LR 1e-3
#define SPCNN__CLASSIFIER_LR_DECAY 0.9998
#define SPCNN__CLASSIFIER_BETA1 0.9
#define SPCNN__CLASSIFIER_BETA2 0.999
#define SPCNN__CLASSIFIER_L2 0.0
#define SPCNN__CLASSIFIER_EMA 0.998

struct spcnn_classifier {
    spcnn__lenet_shape shape; /* shape.n is unused (0) */
    int threads;
    spcnn__dnnl ctx;
    spcnn__params params;
    size_t first_row; /* of the ten LeNet rows (always 0: the table holds nothing else) */
    spcnn__optim optim;
    spcnn__lenet *train;   /* built for the batch size of the last training step */
    spcnn__lenet *predict; /* SPCNN__CLASSIFIER_PREDICT_BATCH images, built on first use */
};

/* A classifier of any widths (spcnn_classifier_create uses the defaults above), its weights
 * initialised from seed. */
spcnn_status spcnn__classifier_new(const spcnn__lenet_shape *shape, uint64_t seed,
                                   spcnn_classifier **out);

/* Classifier files (classifier_file.c). */
spcnn_status spcnn__classifier_file_save(const spcnn_classifier *c, const char *path);
spcnn_status spcnn__classifier_file_load(const char *path, spcnn_classifier **out);
spcnn_status spcnn__classifier_file_load_memory(const void *data, size_t size, const char *name,
                                                spcnn_classifier **out);

#endif
