/* PNG input: spcnn_png_read by path (libpng's simplified API plus the library's own checks and
 * gray conversions), of every colour type, depth and interlacing the seeds start from. A query
 * of the size, the pixels into a buffer of that size, then into one byte too few. */
#include "fuzz_input.h"

/* The reader accepts up to 2^32 - 1 pixels, as many as about 8000 per byte of a 1-bit file;
 * decoding a hundred million pixels would only make the fuzzer slow, and the size limits have
 * their own test (tests/test_hostile_sizes.c). */
#define FUZZ_PNG_PIXELS_MAX ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    size_t h = 0, w = 0;
    spcnn_status st = spcnn_png_read(path, NULL, 0, &h, &w);
    if (st != SPCNN_OK)
        return 0;
    FUZZ_CHECK(h >= 1 && w >= 1 && h <= 1000000 && w <= 1000000);
    if (w > FUZZ_PNG_PIXELS_MAX / h)
        return 0;
    uint8_t *pixels = malloc(h * w);
    FUZZ_CHECK(pixels != NULL);
    size_t h2 = 0, w2 = 0;
    st = spcnn_png_read(path, pixels, h * w, &h2, &w2);
    FUZZ_CHECK(st == SPCNN_OK ? h2 == h && w2 == w : spcnn_last_error_message()[0] != '\0');
    if (h * w > 1)
        FUZZ_CHECK(spcnn_png_read(path, pixels, h * w - 1, &h2, &w2) ==
                   SPCNN_ERR_BUFFER_TOO_SMALL);
    free(pixels);
    return 0;
}
