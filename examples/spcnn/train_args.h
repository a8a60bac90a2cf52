/* spcnn train's command line (train_args.c): its usage text, the named presets and the
 * settings that may change when resuming. */
#ifndef SPCNN_CLI_TRAIN_ARGS_H
#define SPCNN_CLI_TRAIN_ARGS_H

#include "spatialpixelcnn.h"

enum { ARGS_HELP = -1 }; /* parse_train_args: --help printed, nothing to run */

typedef struct train_args {
    const char *data, *out, *resume;
    long long steps, epochs, eval_images, eval_every, checkpoint_every, threads;
    long long validation; /* -1: cli_default_validation */
    long long prior_components;
    long long patience; /* 0: off */
    double sizes_lo, sizes_hi; /* --train-sizes, 0: not given */
    double minutes;
    int eval;
    int skip_bad; /* --skip-bad */
    spcnn_config_key first_config_key; /* a hyper-parameter other than threads, if any,
                                          * other than the training settings below */
    /* The training settings given that may change when resuming (fine-tuning): the
     * scale-aware ones (--train-sizes, --train-scale-min/max, --train-native-share),
     * --kl-weight and --train-precision. */
    unsigned tuned;                                   /* bit k: key k given */
    double tuned_value[SPCNN_CFG_TRAIN_PRECISION + 1];
} train_args;

/* Parse argv into a and cfg (a --preset first, then the other flags over it). CLI_OK,
 * ARGS_HELP after printing the usage, or CLI_USAGE after printing why. */
int parse_train_args(int argc, char **argv, train_args *a, spcnn_config *cfg);
/* Resuming with other training settings (scale-aware, kl_weight, train_precision): apply them
 * to the loaded model and read its configuration back into cfg. 0 after printing why. */
int retune(spcnn_model *model, const train_args *a, spcnn_config *cfg);

#endif
