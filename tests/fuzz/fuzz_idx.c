/* IDX files, images (3 dimensions) and labels (1): spcnn_idx_read by path, as spcnn and the
 * Python bindings call it — a query of the sizes, then the data into a buffer of that size,
 * then into one byte too few. */
#include <string.h>

#include "fuzz_input.h"

/* Larger declared sizes are refused by the length check (the file is at most the fuzzer's
 * -max_len): a buffer this size is never needed for an input that reads. */
#define FUZZ_IDX_MAX ((size_t)1 << 24)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    size_t n = 0, h = 0, w = 0;
    spcnn_status st = spcnn_idx_read(path, NULL, 0, &n, &h, &w);
    if (st != SPCNN_OK)
        return 0;
    FUZZ_CHECK(n >= 1 && h >= 1 && w >= 1);
    size_t total = n * h * w;
    FUZZ_CHECK(total <= size && total <= FUZZ_IDX_MAX);
    uint8_t *buf = malloc(total);
    FUZZ_CHECK(buf != NULL);
    size_t n2 = 0, h2 = 0, w2 = 0;
    st = spcnn_idx_read(path, buf, total, &n2, &h2, &w2);
    FUZZ_CHECK(st == SPCNN_OK && n2 == n && h2 == h && w2 == w);
    FUZZ_CHECK(memcmp(buf, data + size - total, total) == 0); /* the data ends the file */
    if (total > 1)
        FUZZ_CHECK(spcnn_idx_read(path, buf, total - 1, &n2, &h2, &w2) ==
                   SPCNN_ERR_BUFFER_TOO_SMALL);
    free(buf);
    return 0;
}
