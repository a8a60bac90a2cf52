/* spcnn's flags and their values (examples/spcnn/args.c and util.c): "--key=value" or
 * "--key" and the next argument, hyper-parameters by name (--nr-filters, --nr_filters) with
 * their values, and the count, number and seed parsers. The input is the two arguments
 * separated by a NUL byte. What a parser accepts must be in its range. */
#include <math.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_input_text(data, size);
    size_t len = strlen(text);
    const char *next = len < size ? text + len + 1 : "";
    char buf[64];
    const char *value;
    const char *flag = cli_split_flag(text, buf, sizeof buf, &value);
    FUZZ_CHECK(flag != NULL);
    if (value == NULL)
        value = next;

    spcnn_config_key key;
    if (cli_config_key_of_flag(flag, &key)) {
        spcnn_config *cfg = NULL;
        FUZZ_CHECK(spcnn_config_create(&cfg) == SPCNN_OK);
        if (cli_set_config_flag(flag, value, cfg, key)) {
            double v = NAN, lo = 0, hi = 0;
            int integer = 0;
            FUZZ_CHECK(spcnn_config_get(cfg, key, &v) == SPCNN_OK);
            FUZZ_CHECK(spcnn_config_bounds(key, &lo, &hi, &integer) == SPCNN_OK);
            FUZZ_CHECK(v >= lo && v <= hi && (!integer || v == floor(v)));
        }
        spcnn_config_destroy(cfg);
    }
    long long count = 0;
    if (cli_parse_count("fuzz", flag, value, -1000, 1000000, &count))
        FUZZ_CHECK(count >= -1000 && count <= 1000000);
    double number = 0;
    if (cli_parse_number("fuzz", flag, value, 1e-3, 1e7, &number))
        FUZZ_CHECK(number >= 1e-3 && number <= 1e7);
    uint64_t seed = 0;
    (void)cli_parse_seed("fuzz", flag, value, &seed);
    free(text);
    return 0;
}
