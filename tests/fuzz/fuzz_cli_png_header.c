/* spcnn's PNG folder index: cli_png_header (examples/spcnn/folder.c), which reads the
 * signature and IHDR of each *.png file, 29 bytes, before libpng sees the file. An accepted
 * file's size must be the IHDR's and within 1 to 2^31-1; a refused one must say why. */
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
    if (why != NULL) {
        FUZZ_CHECK(why[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(size >= 29); /* signature, chunk length and type, IHDR's 13 bytes */
    FUZZ_CHECK(w >= 1 && w <= 0x7fffffffu && h >= 1 && h <= 0x7fffffffu);
    FUZZ_CHECK(w == be32(data + 16) && h == be32(data + 20));
    FUZZ_CHECK(colour == 0 || colour == 1);
    return 0;
}
