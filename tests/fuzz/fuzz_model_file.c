/* Model files from memory: spcnn__model_file_load_memory, the parser behind spcnn_model_load
 * (lib/model/model_file.c). The checksum of the input is recomputed first, so that a mutation
 * reaches what comes after it — the hyper-parameters, the table against the model's, the
 * tensors, the prior — instead of stopping at a CRC mismatch nearly every time; the checksum
 * test itself and the file reading are fuzz_model_path's. */
#include "fuzz_input.h"
#include "model/model_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = fuzz_input_with_crc(data, size);
    spcnn_model *model = (spcnn_model *)1;
    spcnn_status st = spcnn__model_file_load_memory(copy, size, "fuzz", &model);
    fuzz_check_load(st, model);
    if (st == SPCNN_OK)
        fuzz_inspect_model(model);
    spcnn_model_destroy(model);
    free(copy);
    return 0;
}
