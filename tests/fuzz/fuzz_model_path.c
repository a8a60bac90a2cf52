/* Model files by path: spcnn_model_load, the public way in, on the input's bytes as they are
 * (written to a memfd, a regular file). It covers what fuzz_model_file skips: reading the file
 * whole and the checksum test, which rejects nearly every mutation — so this target mostly
 * proves that a damaged file of any length is refused cleanly, and fuzz_model_file reaches the
 * rest of the parser. */
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spcnn_model *model = (spcnn_model *)1;
    spcnn_status st = spcnn_model_load(fuzz_input_path(data, size), &model);
    fuzz_check_load(st, model);
    if (st == SPCNN_OK)
        fuzz_inspect_model(model);
    spcnn_model_destroy(model);
    return 0;
}
