/* The size arguments of spcnn (examples/spcnn/args.c): "HxW" or "N" (--size), a list of them
 * (--sizes) and a range "A-B" (--train-sizes). What a parser accepts must be in its range. */
#include <math.h>

#include "args.h"
#include "fuzz_input.h"

enum { MAX_SIZES = 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_input_text(data, size);
    size_t h = 0, w = 0;
    if (gen_parse_size("fuzz", "--size", text, &h, &w))
        FUZZ_CHECK(h >= 1 && w >= 1 && h <= GEN_SIDE_MAX && w <= GEN_SIDE_MAX);
    size_t hs[MAX_SIZES], ws[MAX_SIZES], n = 0;
    if (gen_parse_sizes("fuzz", text, hs, ws, MAX_SIZES, &n)) {
        FUZZ_CHECK(n >= 1 && n <= MAX_SIZES);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(hs[i] >= 1 && ws[i] >= 1 && hs[i] <= GEN_SIDE_MAX &&
                       ws[i] <= GEN_SIDE_MAX);
    }
    double lo = 0, hi = 0;
    if (cli_parse_size_range(text, &lo, &hi))
        FUZZ_CHECK(isfinite(lo) && isfinite(hi) && lo >= 1 && lo <= hi);
    free(text);
    return 0;
}
