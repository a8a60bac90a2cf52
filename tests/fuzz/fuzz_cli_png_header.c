/* spcnn's PNG folder index: cli_png_header (examples/spcnn/folder.c), which reads the
 * signature and IHDR of each *.png file, 29 bytes, before libpng sees the file. An accepted
 * file's size must be the IHDR's and within 1 to 2^31-1; a refused one must say why. A file
 * whose size the library reads (spcnn_png_read's query) must be listed, and at that size:
 * the images are later decoded into buffers of the listed size. */
#include "cli.h"
#include "fuzz_input.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    size_t h = 0, w = 0;
    int colour = -1;
    const char *why = cli_png_header(path, &h, &w, &colour);
    FUZZ_CHECK(why == NULL || why[0] != '\0');
    size_t lib_h = 0, lib_w = 0;
    /* Only a file with the signature can read; the query costs more than the header. */
    int lib_ok = size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 &&
                 spcnn_png_read(path, NULL, 0, &lib_h, &lib_w) == SPCNN_OK;
    if (why != NULL) {
        FUZZ_CHECK(!lib_ok);
        return 0;
    }
    FUZZ_CHECK(!lib_ok || (lib_h == h && lib_w == w));
    FUZZ_CHECK(size >= 29); /* signature, chunk length and type, IHDR's 13 bytes */
    FUZZ_CHECK(w >= 1 && w <= 0x7fffffffu && h >= 1 && h <= 0x7fffffffu);
    FUZZ_CHECK(w == be32(data + 16) && h == be32(data + 20));
    FUZZ_CHECK(colour == 0 || colour == 1);
    return 0;
}
