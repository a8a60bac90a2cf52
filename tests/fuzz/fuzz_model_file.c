/* Model files from memory: spcnn__model_file_load_memory, the parser behind spcnn_model_load
 * (lib/model/model_file.c). The checksum of the input is recomputed first, so that a mutation
 * reaches what comes after it — the hyper-parameters, the table against the model's, the
 * tensors, the prior — instead of stopping at a CRC mismatch nearly every time; the checksum
 * test itself and the file reading are fuzz_model_path's. */
#include <string.h>
#include <zlib.h>

#include "fuzz_input.h"
#include "io/le.h"
#include "model/model_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    if (size >= 4)
        spcnn__le_put_u32(copy + size - 4, (uint32_t)crc32_z(0, copy, size - 4));
    spcnn_model *model = (spcnn_model *)1;
    spcnn_status st = spcnn__model_file_load_memory(copy, size, "fuzz", &model);
    FUZZ_CHECK(st == SPCNN_OK ? model != NULL : model == NULL);
    FUZZ_CHECK(st == SPCNN_OK || spcnn_last_error_message()[0] != '\0');
    if (st == SPCNN_OK)
        fuzz_inspect_model(model);
    spcnn_model_destroy(model);
    free(copy);
    return 0;
}
