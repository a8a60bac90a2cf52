/* The classifier's training and prediction speed, and the widths study behind its defaults:
 * trains a LeNet of the given widths on the training images of DIR less the last 5 000 (the
 * validation set) and prints, per epoch, the training loss and the validation accuracy with the
 * averaged (EMA) and the raw weights; then the prediction speed. The test images are not read.
 *
 *   bench_classifier DIR [epochs 10] [c1 c2 f1 f2 (20 50 256 128)] [threads 1] [seed 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "classifier/classifier.h"

enum { BATCH = 128, VALID = 5000 };

static uint8_t *read_idx(const char *dir, const char *name, size_t *n, size_t *h, size_t *w)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (spcnn_idx_read(path, NULL, 0, n, h, w) != SPCNN_OK) {
        fprintf(stderr, "%s\n", spcnn_last_error_message());
        exit(1);
    }
    uint8_t *data = malloc(*n * *h * *w);
    if (!data || spcnn_idx_read(path, data, *n * *h * *w, n, h, w) != SPCNN_OK) {
        fprintf(stderr, "%s: %s\n", path, spcnn_last_error_message());
        exit(1);
    }
    return data;
}

static double accuracy(spcnn_classifier *c, const uint8_t *images, const uint8_t *labels,
                       size_t n, size_t k, float *probs)
{
    if (spcnn_classifier_predict(c, images, n, probs, n * k) != SPCNN_OK) {
        fprintf(stderr, "predict: %s\n", spcnn_last_error_message());
        exit(1);
    }
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            best = probs[i * k + j] > probs[i * k + best] ? j : best;
        right += best == labels[i];
    }
    return (double)right / (double)n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_classifier DIR [epochs] [c1 c2 f1 f2] [threads] [seed]\n");
        return 2;
    }
    int epochs = argc > 2 ? atoi(argv[2]) : 10;
    int widths[4] = {SPCNN__CLASSIFIER_C1, SPCNN__CLASSIFIER_C2, SPCNN__CLASSIFIER_F1,
                     SPCNN__CLASSIFIER_F2};
    for (int i = 0; i < 4 && argc > 3 + i; i++)
        widths[i] = atoi(argv[3 + i]);
    int threads = argc > 7 ? atoi(argv[7]) : 1;
    uint64_t seed = argc > 8 ? strtoull(argv[8], NULL, 10) : 1;
    size_t n, h, w, nl, one, one2;
    uint8_t *images = read_idx(argv[1], "train-images-idx3-ubyte", &n, &h, &w);
    uint8_t *labels = read_idx(argv[1], "train-labels-idx1-ubyte", &nl, &one, &one2);
    if (nl != n || n <= VALID + BATCH) {
        fprintf(stderr, "%zu images, %zu labels\n", n, nl);
        return 1;
    }
    const size_t n_train = n - VALID, img = h * w, k = 10;
    spcnn__lenet_shape s = {0, (int)h, (int)w, (int)k, widths[0], widths[1], widths[2],
                            widths[3]};
    spcnn_classifier *c = NULL;
    if (spcnn__classifier_new(&s, seed, &c) != SPCNN_OK ||
        spcnn_classifier_set_threads(c, threads) != SPCNN_OK) {
        fprintf(stderr, "%s\n", spcnn_last_error_message());
        return 1;
    }
    printf("widths %d %d %d %d, %zu parameters, %d threads, %zu training images\n", widths[0],
           widths[1], widths[2], widths[3], c->params.nvalues, threads, n_train);
    size_t *perm = malloc(n_train * sizeof *perm);
    uint8_t *bx = malloc(BATCH * img), by[BATCH];
    float *probs = malloc(VALID * k * sizeof *probs);
    float *ema = malloc(c->params.total * sizeof *ema);
    for (size_t i = 0; i < n_train; i++)
        perm[i] = i;
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    double train_seconds = 0;
    for (int e = 1; e <= epochs; e++) {
        for (size_t i = n_train - 1; i > 0; i--) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t j = (size_t)((state >> 33) % (i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double loss_sum = 0, acc_sum = 0, t0 = bench_now();
        size_t steps = n_train / BATCH;
        for (size_t b = 0; b < steps; b++) {
            for (size_t i = 0; i < BATCH; i++) {
                memcpy(bx + i * img, images + perm[b * BATCH + i] * img, img);
                by[i] = labels[perm[b * BATCH + i]];
            }
            double loss, acc;
            if (spcnn_classifier_train_step(c, bx, by, BATCH, &loss, &acc) != SPCNN_OK) {
                fprintf(stderr, "train: %s\n", spcnn_last_error_message());
                return 1;
            }
            loss_sum += loss;
            acc_sum += acc;
        }
        double secs = bench_now() - t0;
        train_seconds += secs;
        const uint8_t *vx = images + n_train * img, *vy = labels + n_train;
        double acc_ema = accuracy(c, vx, vy, VALID, k, probs);
        float *e_buf = c->params.buf[SPCNN__BUF_EMA];
        memcpy(ema, e_buf, c->params.total * sizeof *ema);
        memcpy(e_buf, c->params.buf[SPCNN__BUF_VALUE], c->params.total * sizeof *ema);
        double acc_raw = accuracy(c, vx, vy, VALID, k, probs);
        memcpy(e_buf, ema, c->params.total * sizeof *ema);
        printf("epoch %2d: loss %.4f train acc %.4f | valid acc ema %.4f raw %.4f | %.1f s "
               "(%.1f ms/step)\n",
               e, loss_sum / (double)steps, acc_sum / (double)steps, acc_ema, acc_raw, secs,
               1e3 * secs / (double)steps);
        fflush(stdout);
    }
    double t0 = bench_now();
    int reps = 3;
    for (int r = 0; r < reps; r++)
        accuracy(c, images + n_train * img, labels + n_train, VALID, k, probs);
    double secs = bench_now() - t0;
    printf("training %.1f s; prediction %.0f images/s (%d threads)\n", train_seconds,
           reps * VALID / secs, threads);
    spcnn_classifier_destroy(c);
    free(perm), free(bx), free(probs), free(ema), free(images), free(labels);
    return 0;
}
