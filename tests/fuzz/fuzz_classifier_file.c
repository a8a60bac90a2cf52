/* Classifier files: spcnn__classifier_file_load_memory, the parser behind
 * spcnn_classifier_load (lib/classifier/classifier_file.c). As in fuzz_model_file, the
 * checksum of the input is recomputed first so that mutations reach the shape, the table and
 * the weights; the file reading and the checksum test are those of the model files (shared,
 * io/param_table_file.c), which fuzz_model_path covers. */
#include <string.h>
#include <zlib.h>

#include "classifier/classifier.h"
#include "fuzz_input.h"
#include "io/le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    if (size >= 4)
        spcnn__le_put_u32(copy + size - 4, (uint32_t)crc32_z(0, copy, size - 4));
    spcnn_classifier *c = (spcnn_classifier *)1;
    spcnn_status st = spcnn__classifier_file_load_memory(copy, size, "fuzz", &c);
    FUZZ_CHECK(st == SPCNN_OK ? c != NULL : c == NULL);
    FUZZ_CHECK(st == SPCNN_OK || spcnn_last_error_message()[0] != '\0');
    if (st == SPCNN_OK) {
        size_t h = 0, w = 0, classes = 0;
        FUZZ_CHECK(spcnn_classifier_shape(c, &h, &w, &classes) == SPCNN_OK);
        FUZZ_CHECK(h > 0 && w > 0 && classes > 0);
    }
    spcnn_classifier_destroy(c);
    free(copy);
    return 0;
}
