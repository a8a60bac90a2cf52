/* What the fuzz targets share (docs/testing.md, "Fuzzing"): libFuzzer's entry point, and the
 * input as a file for the readers that take a path. The targets are compiled with _GNU_SOURCE
 * (memfd_create). */
#ifndef SPCNN_FUZZ_INPUT_H
#define SPCNN_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "io/le.h"
#include "spatialpixelcnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a regular file: one memfd per process, rewritten for each input, opened by the
 * reader through /proc/self/fd (an fstat of it says S_ISREG, as for a file on disk, so the
 * readers' length checks run). */
static inline const char *fuzz_input_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("spcnn-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz input");
        abort();
    }
    return path;
}

/* A copy of the input with a NUL after it, for the text parsers. */
static inline char *fuzz_input_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    for (size_t i = 0; i < size; i++)
        text[i] = (char)data[i];
    text[size] = '\0';
    return text;
}

/* A copy of the input (free it) whose last 4 bytes are the CRC-32 of the bytes before them,
 * as the model and classifier files end (docs/file-format.md). */
static inline uint8_t *fuzz_input_with_crc(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    if (size >= 4)
        spcnn__le_put_u32(copy + size - 4, (uint32_t)crc32_z(0, copy, size - 4));
    return copy;
}

/* A property the parser promised does not hold: a finding like a crash. */
#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* A load's promises: the handle out-parameter is NULL exactly when it failed, and a failure
 * leaves a message. */
static inline void fuzz_check_load(spcnn_status st, const void *handle)
{
    FUZZ_CHECK(st == SPCNN_OK ? handle != NULL : handle == NULL);
    FUZZ_CHECK(st == SPCNN_OK || spcnn_last_error_message()[0] != '\0');
}

/* What a caller reads first from a model it loaded: its hyper-parameters and its prior. */
static inline void fuzz_inspect_model(const spcnn_model *model)
{
    spcnn_config *cfg = NULL;
    FUZZ_CHECK(spcnn_config_create(&cfg) == SPCNN_OK);
    FUZZ_CHECK(spcnn_model_get_config(model, cfg) == SPCNN_OK);
    double latent = 0;
    FUZZ_CHECK(spcnn_config_get(cfg, SPCNN_CFG_LATENT_SIZE, &latent) == SPCNN_OK);
    spcnn_config_destroy(cfg);
    size_t k = 0;
    FUZZ_CHECK(spcnn_model_get_prior(model, &k, NULL, NULL, NULL, 0) == SPCNN_OK);
    if (k > 0) {
        size_t kd = k * (size_t)latent;
        float *v = malloc((k + 2 * kd) * sizeof(float));
        FUZZ_CHECK(v != NULL);
        FUZZ_CHECK(spcnn_model_get_prior(model, &k, v, v + k, v + k + kd, kd) == SPCNN_OK);
        free(v);
    }
}

#endif
