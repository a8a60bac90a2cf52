/* Classifier files: spcnn__classifier_file_load_memory, the parser behind
 * spcnn_classifier_load (lib/classifier/classifier_file.c). As in fuzz_model_file, the
 * checksum of the input is recomputed first so that mutations reach the shape, the table and
 * the weights; the file reading and the checksum test are those of the model files (shared,
 * io/param_table_file.c), which fuzz_model_path covers. */
#include "classifier/classifier.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = fuzz_input_with_crc(data, size);
    spcnn_classifier *c = (spcnn_classifier *)1;
    spcnn_status st = spcnn__classifier_file_load_memory(copy, size, "fuzz", &c);
    fuzz_check_load(st, c);
    if (st == SPCNN_OK) {
        size_t h = 0, w = 0, classes = 0;
        FUZZ_CHECK(spcnn_classifier_shape(c, &h, &w, &classes) == SPCNN_OK);
        FUZZ_CHECK(h > 0 && w > 0 && classes > 0);
    }
    spcnn_classifier_destroy(c);
    free(copy);
    return 0;
}
