/* Parsers of argument values that several commands share and that tests/fuzz exercises alone
 * (args.c): sizes, size lists, size ranges and "--KEY VALUE" hyper-parameters. They depend on
 * the C library and the public API only. Each prints "spcnn CMD: ..." and returns 0 on a bad
 * value, 1 otherwise. */
#ifndef SPCNN_CLI_ARGS_H
#define SPCNN_CLI_ARGS_H

#include <stddef.h>

#include "spatialpixelcnn.h"

/* Largest side accepted on the command line (the library refuses what it cannot do). */
#define GEN_SIDE_MAX 1000000LL

/* "HxW" (or "HXW") or "N" for N x N. */
int gen_parse_size(const char *cmd, const char *flag, const char *text, size_t *height,
                   size_t *width);
/* "28,56x40,224" into at most max sizes. */
int gen_parse_sizes(const char *cmd, const char *text, size_t *h, size_t *w, size_t max,
                    size_t *count);
/* spcnn train --train-sizes: "A-B" with 1 <= A <= B, both finite, or "N" for N-N. */
int cli_parse_size_range(const char *text, double *lo, double *hi);
/* The hyper-parameter named by "--nr-filters" or "--nr_filters" (or --pretrain-vae); 0 if flag
 * is not one. Prints nothing. */
int cli_config_key_of_flag(const char *flag, spcnn_config_key *key);
/* spcnn train's --KEY VALUE: value as a number (the schedule also by name) into cfg. */
int cli_set_config_flag(const char *flag, const char *value, spcnn_config *cfg,
                        spcnn_config_key key);

#endif
