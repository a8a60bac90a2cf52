/* The whole happy path in one program: read MNIST, create a small model, train it a few steps,
 * evaluate it, generate images at the training size and at twice that size, save it.
 *
 *   quickstart data/mnist/train-images-idx3-ubyte 20 data/mnist/t10k-images-idx3-ubyte
 *
 * Writes, in the current folder, quickstart-samples.png (16 samples in a 4 x 4 grid),
 * quickstart-large.png (one sample at twice the size) and quickstart.spcnn (the model with its
 * training state: `spcnn train --resume quickstart.spcnn` continues it). The model is tiny so
 * that it runs in seconds; docs/getting-started.md says how to train one that draws digits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spatialpixelcnn.h"

enum { BATCH = 16, SAMPLES = 16, EVAL_IMAGES = 10, SEED = 1, STRIDE = 4099 /* a prime */ };

/* Every library failure ends the program with the status and the library's message. */
static void check(spcnn_status st, const char *what)
{
    if (st == SPCNN_OK)
        return;
    fprintf(stderr, "quickstart: %s: %s (%s)\n", what, spcnn_status_string(st),
            spcnn_last_error_message());
    exit(EXIT_FAILURE);
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        check(SPCNN_ERR_OUT_OF_MEMORY, "malloc");
    return p;
}

/* An IDX image file into a malloc'ed buffer: ask for the sizes first, then read. */
static uint8_t *read_idx(const char *path, size_t *n, size_t *h, size_t *w)
{
    check(spcnn_idx_read(path, NULL, 0, n, h, w), path);
    uint8_t *images = xmalloc(*n * *h * *w);
    check(spcnn_idx_read(path, images, *n * *h * *w, n, h, w), path);
    return images;
}

/* count images, the k-th being image (first + k) * STRIDE % n: data files are often sorted by
 * class (data/mnist is), and a batch of one digit trains badly. */
static void gather(uint8_t *dst, const uint8_t *images, size_t n, size_t size, size_t first,
                   size_t count)
{
    for (size_t k = 0; k < count; k++)
        memcpy(dst + k * size, images + (first + k) * STRIDE % n * size, size);
}

int main(int argc, char **argv)
{
    long steps = 20;
    char *end = NULL;
    if (argc > 2) {
        errno = 0;
        steps = strtol(argv[2], &end, 10);
    }
    if (argc < 2 || argc > 4 || (end && (errno || *end || end == argv[2])) || steps < 1) {
        fprintf(stderr, "usage: quickstart TRAIN_IDX [STEPS (20)] [TEST_IDX]\n");
        return EXIT_FAILURE;
    }

    size_t n, h, w;
    uint8_t *train = read_idx(argv[1], &n, &h, &w);
    size_t batch = n < BATCH ? n : BATCH;
    printf("%zu training images of %zu x %zu\n", n, h, w);

    /* A small configuration: the defaults (25 filters, 2 resnets per scale) learn better. */
    const struct { spcnn_config_key key; double value; } settings[] = {
        {SPCNN_CFG_PATCH_SIZE, 8},  {SPCNN_CFG_NR_FILTERS, 8},      {SPCNN_CFG_NR_RESNET, 1},
        {SPCNN_CFG_NR_MIX, 5},      {SPCNN_CFG_LATENT_SIZE, 16},    {SPCNN_CFG_DROPOUT, 0},
        {SPCNN_CFG_SEED, SEED},     {SPCNN_CFG_IMAGE_SIZE, (double)(h / 4 * 4)},
        {SPCNN_CFG_BATCH_SIZE, (double)batch},
    };
    spcnn_config *cfg;
    check(spcnn_config_create(&cfg), "config");
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        check(spcnn_config_set(cfg, settings[i].key, settings[i].value),
              spcnn_config_key_name(settings[i].key));
    spcnn_model *model;
    check(spcnn_model_create(cfg, &model), "creating the model");
    spcnn_config_destroy(cfg); /* the model keeps its own copy */
    double params;
    check(spcnn_model_stat(model, SPCNN_STAT_PARAMETERS, &params), "stat");
    printf("model with %.0f parameters\n", params);

    /* Training: batches of one size (a new size rebuilds the model's primitives). */
    uint8_t *batch_images = xmalloc(batch * h * w);
    for (long s = 0; s < steps; s++) {
        double bpd, kl;
        gather(batch_images, train, n, h * w, (size_t)s * batch, batch);
        check(spcnn_model_train_step(model, batch_images, batch, h, w, &bpd), "training step");
        check(spcnn_model_stat(model, SPCNN_STAT_KL, &kl), "stat");
        printf("step %3ld  bits/dim %.4f  KL %.3f nats\n", s + 1, bpd, kl);
    }
    free(batch_images);
    free(train);

    if (argc > 3) {
        size_t tn, th, tw;
        uint8_t *test = read_idx(argv[3], &tn, &th, &tw);
        size_t count = tn < EVAL_IMAGES ? tn : EVAL_IMAGES;
        uint8_t *some = xmalloc(count * th * tw);
        gather(some, test, tn, th * tw, 0, count);
        double bpd_patches, bpd_image, kl;
        check(spcnn_model_evaluate(model, some, count, th, tw, &bpd_patches, &bpd_image, &kl),
              "evaluation");
        printf("test (%zu images): %.4f bits/dim over all patches, %.4f over whole images, "
               "KL %.3f nats\n", count, bpd_patches, bpd_image, kl);
        free(some);
        free(test);
    }

    /* 16 samples at the training size, tiled 4 x 4 with 1-pixel gray lines between them. */
    size_t cols = 4, rows = SAMPLES / cols, gh = rows * (h + 1) + 1, gw = cols * (w + 1) + 1;
    uint8_t *samples = xmalloc(SAMPLES * h * w), *grid = xmalloc(gh * gw);
    check(spcnn_model_generate_images(model, SAMPLES, NULL, h, w, SEED, samples, SAMPLES * h * w),
          "generating samples");
    memset(grid, 128, gh * gw);
    for (size_t i = 0; i < SAMPLES; i++)
        for (size_t r = 0; r < h; r++)
            memcpy(grid + ((i / cols) * (h + 1) + 1 + r) * gw + (i % cols) * (w + 1) + 1,
                   samples + (i * h + r) * w, w);
    check(spcnn_png_write("quickstart-samples.png", grid, gh, gw), "writing samples");
    printf("wrote quickstart-samples.png (%zu samples of %zu x %zu)\n", (size_t)SAMPLES, h, w);

    /* One image at twice the size: the same model on a finer coordinate grid. */
    uint8_t *big = xmalloc(4 * h * w);
    check(spcnn_model_generate_image(model, NULL, 2 * h, 2 * w, SEED, big, 4 * h * w),
          "generating the large image");
    check(spcnn_png_write("quickstart-large.png", big, 2 * h, 2 * w), "writing the large image");
    printf("wrote quickstart-large.png (%zu x %zu)\n", 2 * h, 2 * w);

    check(spcnn_model_save(model, "quickstart.spcnn", 1), "saving the model");
    printf("saved quickstart.spcnn (with training state)\n");
    free(big);
    free(grid);
    free(samples);
    spcnn_model_destroy(model);
    return EXIT_SUCCESS;
}
