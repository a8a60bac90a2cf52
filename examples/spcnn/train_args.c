/* spcnn train's command line: the usage text, --preset, the flags, and the training settings
 * that a resumed run may change. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "train_args.h"

static void train_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn train --data DIR --out MODEL [--steps N] [--epochs N] [--minutes M]\n"
            "                   [--resume MODEL] [--validation N] [--eval-images N] [--no-eval]\n"
            "                   [--checkpoint-every N] [--prior-components K] [--threads T]\n"
            "                   [--preset NAME] [--train-sizes A-B] [--skip-bad]\n"
            "                   [--KEY VALUE ...]\n"
            "\n"
            "Train a model on the training images of DIR less the validation images held out\n"
            "of them. IDX data (train-images-idx3-ubyte) is shuffled every epoch in an order\n"
            "that follows from the seed, in batches of batch_size (an incomplete last batch is\n"
            "dropped). A folder of PNG images of any sizes (searched recursively; the test set\n"
            "is the files whose path hashes to a multiple of 10) streams from disk: each batch\n"
            "draws its images with probability proportional to their count of windows and\n"
            "decodes only those, so windows are drawn uniformly over all the windows of all\n"
            "images. The test images of DIR are never used: progress is measured on the\n"
            "validation images.\n"
            "\n"
            "  --data DIR            data set folder (scripts/get-data.sh writes data/mnist)\n"
            "  --out MODEL           model file to write (default with --resume: that file)\n"
            "  --steps N             stop at optimiser step N (a total: resuming counts on)\n"
            "  --epochs N            stop after N epochs in total\n"
            "  --minutes M           stop after M minutes of wall time in this run\n"
            "  --patience N          stop when N evaluations in a row have not lowered the best\n"
            "                        validation bits/dim (patches) of the run's log, resumed\n"
            "                        runs included; the model saved is the last one\n"
            "                        (at least one of --steps, --epochs, --minutes, --patience\n"
            "                        is needed; with several, training stops at the first\n"
            "                        limit reached)\n"
            "  --resume MODEL        continue training MODEL, saved with its training state;\n"
            "                        its configuration is kept (only --threads, the\n"
            "                        scale-aware settings, --kl-weight and\n"
            "                        --train-precision below may change)\n"
            "  --validation N        hold the last N training images out as the validation set\n"
            "                        (default 5000; a tenth of fewer than 50 000 images;\n"
            "                        0 trains on all of them and needs --no-eval)\n"
            "  --eval-images N       validation images evaluated at the end of each epoch and of\n"
            "                        the run: a fixed sample of the validation set (default 100)\n"
            "  --eval-every-epoch    evaluate after each epoch and at the end (the default)\n"
            "  --eval-every E        evaluate after every E-th epoch only (default 1)\n"
            "  --no-eval             do not evaluate while training\n"
            "  --checkpoint-every N  save MODEL every N steps (default: after each epoch);\n"
            "                        MODEL is also saved at the end and on Ctrl-C / SIGTERM\n"
            "                        (exit status 130)\n"
            "  --prior-components K at the end of the run, fit the latent prior that random\n"
            "                        samples draw z from: K Gaussians fitted to the codes of\n"
            "                        the training images (`spcnn fit-prior`; default %d, 0: keep\n"
            "                        N(0, I)). Not done when the run is interrupted, nor for\n"
            "                        a PNG folder (streamed, of mixed sizes).\n",
            CLI_PRIOR_COMPONENTS);
    fprintf(to,
            "  --threads T           oneDNN/OpenMP threads (the `threads` key; default 1)\n"
            "  --preset NAME         start from a named configuration, then apply the --KEY\n"
            "                        flags: paper-small (the paper's small network: F 25,\n"
            "                        R 2, dropout 0.5, ...) or paper-large (F 140, R 5)\n"
            "  --train-sizes A-B     scale-aware training: each step resamples the batch to a\n"
            "                        random size from A to B pixels high (just N: always N;\n"
            "                        A at least the images' height) before cropping windows,\n"
            "                        so the model also learns the finer grids it upscales to;\n"
            "                        sets train_scale_min = A / height and train_scale_max =\n"
            "                        B / height; --train-native-share P keeps a share P of\n"
            "                        the steps at the images' own size. Both may be given\n"
            "                        with --resume: fine-tuning a trained model at more sizes\n"
            "  --skip-bad            a PNG folder: skip the files that are not usable PNGs\n"
            "                        and the images smaller than the window, with a count\n"
            "                        (default: stop with a message naming the first)\n"
            "  --pretrain-vae STEPS  two-stage training (the vae_pretrain_steps key): the first\n"
            "                        STEPS steps train the VAE alone, then the PixelCNN trains\n"
            "                        alone on the frozen VAE's codes (default 0: jointly, as\n"
            "                        the paper); --steps counts both stages\n"
            "  --kl-weight B         weight of the VAE's KL term in the training loss, 0 to 1\n"
            "                        (default 1: the paper's ELBO); below 1 the latent code\n"
            "                        may keep more of each image; may be given with\n"
            "                        --resume\n"
            "  --train-precision P   fp32 (default) or bf16: the PixelCNN's convolutions in\n"
            "                        bfloat16 with fp32 sums and weight gradients, on CPUs\n"
            "                        with AVX-512 BF16 (faster steps, not the same bytes);\n"
            "                        may be given with --resume\n"
            "  --KEY VALUE           any hyper-parameter, with dashes or underscores:\n");
    int col = 0, first = 0;
    for (int k = 1; k < 64; k++) {
        const char *name = spcnn_config_key_name((spcnn_config_key)k);
        double lo, hi;
        int integer;
        if (!name || spcnn_config_bounds((spcnn_config_key)k, &lo, &hi, &integer) != SPCNN_OK)
            continue;
        char item[96];
        snprintf(item, sizeof item, "--%s %s", name,
                 k == SPCNN_CFG_SCHEDULE    ? "raster|wavefront"
                 : k == SPCNN_CFG_PRECISION || k == SPCNN_CFG_TRAIN_PRECISION ? "fp32|bf16"
                 : integer                  ? "N"
                                            : "X");
        for (char *c = item + 2; *c != ' '; c++)
            if (*c == '_')
                *c = '-';
        /* Two columns, 26 characters wide, and no blank at the end of a line. */
        if (col == 0)
            fprintf(to, "                        %s", item);
        else
            fprintf(to, "%*s%s\n", first < 26 ? 26 - first : 1, "", item);
        first = (int)strlen(item);
        col = !col;
    }
    if (col)
        fputc('\n', to);
    fprintf(to, "                        (`spcnn info MODEL` lists them with their values;\n"
                "                        --seed is 0 to 2^53-1: the model stores it as a double)\n"
                "\n"
                "Progress goes to stderr; each evaluation is printed and appended to\n"
                "MODEL.log.csv (minutes,step,epoch,train_bpd,valid_bpd_patches,valid_bpd_image,kl);\n"
                "a run stopped between evaluations adds a line with nan for the validation\n"
                "figures, so that the minutes of a resumed run go on from where it stopped.\n"
                "A run is deterministic for a fixed seed and thread count.\n");
}

static int is_tuning_key(spcnn_config_key key)
{
    return key == SPCNN_CFG_TRAIN_SCALE_MIN || key == SPCNN_CFG_TRAIN_SCALE_MAX ||
           key == SPCNN_CFG_TRAIN_NATIVE_SHARE || key == SPCNN_CFG_KL_WEIGHT ||
           key == SPCNN_CFG_TRAIN_PRECISION;
}

/* Named configurations: the paper's two networks (Akoury & Nguyen; PixelCNN++'s optimiser),
 * written out in full so that they stay the paper's whatever the defaults become. */
typedef struct preset_value {
    spcnn_config_key key;
    double value;
} preset_value;
#define PAPER_COMMON                                                                       \
    {SPCNN_CFG_PATCH_SIZE, 8}, {SPCNN_CFG_NR_MIX, 10}, {SPCNN_CFG_LATENT_SIZE, 60},          \
        {SPCNN_CFG_DROPOUT, 0.5}, {SPCNN_CFG_LEARNING_RATE, 1e-3},                          \
        {SPCNN_CFG_LR_DECAY, 0.999995}, {SPCNN_CFG_L2, 1e-4}, {SPCNN_CFG_BATCH_SIZE, 128},   \
        {SPCNN_CFG_ADAM_BETA1, 0.95}, {SPCNN_CFG_ADAM_BETA2, 0.9995},                        \
        {SPCNN_CFG_EMA_DECAY, 0.9995}, {SPCNN_CFG_USE_COORDS, 1}, {SPCNN_CFG_USE_LATENT, 1}, \
        {SPCNN_CFG_GRID_RESAMPLE, 1}, {SPCNN_CFG_TRAIN_SCALE_MIN, 1},                       \
        {SPCNN_CFG_TRAIN_SCALE_MAX, 1}, {SPCNN_CFG_VAE_PRETRAIN_STEPS, 0},                   \
        {SPCNN_CFG_KL_WEIGHT, 1}, {SPCNN_CFG_TRAIN_PRECISION, 0}
static const preset_value paper_small[] = {PAPER_COMMON, {SPCNN_CFG_NR_FILTERS, 25},
                                           {SPCNN_CFG_NR_RESNET, 2}};
static const preset_value paper_large[] = {PAPER_COMMON, {SPCNN_CFG_NR_FILTERS, 140},
                                           {SPCNN_CFG_NR_RESNET, 5}};
static const struct {
    const char *name;
    const preset_value *values;
    size_t count;
} presets[] = {{"paper-small", paper_small, sizeof paper_small / sizeof paper_small[0]},
               {"paper-large", paper_large, sizeof paper_large / sizeof paper_large[0]}};

/* Apply the --preset of argv, if any, to cfg before the other flags (which then override it,
 * wherever they stand). 0 after printing why. */
static int apply_preset(int argc, char **argv, spcnn_config *cfg, int *given)
{
    for (int i = 1; i < argc; i++) {
        char buf[64];
        const char *value;
        const char *flag = cli_split_flag(argv[i], buf, sizeof buf, &value);
        if (strcmp(flag, "--preset") != 0)
            continue;
        if (!value && !(value = cli_flag_value("train", argc, argv, &i)))
            return 0;
        size_t p = 0;
        while (p < sizeof presets / sizeof presets[0] && strcmp(presets[p].name, value) != 0)
            p++;
        if (p == sizeof presets / sizeof presets[0]) {
            fprintf(stderr, "spcnn train: --preset: unknown preset '%s' (paper-small or "
                            "paper-large)\n", value);
            return 0;
        }
        for (size_t k = 0; k < presets[p].count; k++)
            if (spcnn_config_set(cfg, presets[p].values[k].key, presets[p].values[k].value) !=
                SPCNN_OK) {
                fprintf(stderr, "spcnn train: --preset %s: %s\n", value,
                        spcnn_last_error_message());
                return 0;
            }
        *given = 1;
    }
    return 1;
}

int parse_train_args(int argc, char **argv, train_args *a, spcnn_config *cfg)
{
    int preset = 0;
    if (!apply_preset(argc, argv, cfg, &preset))
        return CLI_USAGE;
    for (int i = 1; i < argc; i++) {
        char buf[64];
        const char *value;
        const char *flag = cli_split_flag(argv[i], buf, sizeof buf, &value);
        if (cli_is_help(flag)) {
            train_usage(stdout);
            return ARGS_HELP;
        }
        if (strcmp(flag, "--eval-every-epoch") == 0 || strcmp(flag, "--no-eval") == 0 ||
            strcmp(flag, "--skip-bad") == 0) {
            if (value) {
                fprintf(stderr, "spcnn train: %s takes no value\n", flag);
                return CLI_USAGE;
            }
            if (strcmp(flag, "--skip-bad") == 0)
                a->skip_bad = 1;
            else
                a->eval = strcmp(flag, "--no-eval") != 0;
            continue;
        }
        static const char *const plain[] = {"--data", "--out", "--resume", "--steps",
                                            "--epochs", "--minutes", "--eval-images",
                                            "--eval-every", "--checkpoint-every",
                                            "--validation", "--prior-components", "--preset",
                                            "--train-sizes", "--patience"};
        int known = 0;
        for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
            known |= strcmp(flag, plain[k]) == 0;
        spcnn_config_key key;
        if (!known) {
            if (!cli_config_key_of_flag(flag, &key)) {
                fprintf(stderr, "spcnn train: unknown argument '%s'\n", argv[i]);
                train_usage(stderr);
                return CLI_USAGE;
            }
            if (!value && !(value = cli_flag_value("train", argc, argv, &i)))
                return CLI_USAGE;
            if (!cli_set_config_flag(flag, value, cfg, key))
                return CLI_USAGE;
            if (key == SPCNN_CFG_THREADS)
                a->threads = (long long)strtod(value, NULL);
            else if (is_tuning_key(key)) {
                a->tuned |= 1u << key;
                spcnn_config_get(cfg, key, &a->tuned_value[key]);
            } else if (!a->first_config_key)
                a->first_config_key = key;
            continue;
        }
        if (!value && !(value = cli_flag_value("train", argc, argv, &i)))
            return CLI_USAGE;
        int ok = 1;
        if (strcmp(flag, "--preset") == 0)
            continue; /* applied above */
        if (strcmp(flag, "--train-sizes") == 0) {
            if (!cli_parse_size_range(value, &a->sizes_lo, &a->sizes_hi))
                return CLI_USAGE;
            continue;
        }
        if (strcmp(flag, "--data") == 0)
            a->data = value;
        else if (strcmp(flag, "--out") == 0)
            a->out = value;
        else if (strcmp(flag, "--resume") == 0)
            a->resume = value;
        else if (strcmp(flag, "--steps") == 0)
            ok = cli_parse_count("train", flag, value, 1, LLONG_MAX / 2, &a->steps);
        else if (strcmp(flag, "--epochs") == 0)
            ok = cli_parse_count("train", flag, value, 1, 1000000000, &a->epochs);
        else if (strcmp(flag, "--minutes") == 0)
            ok = cli_parse_number("train", flag, value, 1e-3, 1e7, &a->minutes);
        else if (strcmp(flag, "--eval-images") == 0)
            ok = cli_parse_count("train", flag, value, 1, 100000000, &a->eval_images);
        else if (strcmp(flag, "--eval-every") == 0)
            ok = cli_parse_count("train", flag, value, 1, 1000000, &a->eval_every);
        else if (strcmp(flag, "--validation") == 0)
            ok = cli_parse_count("train", flag, value, 0, 100000000, &a->validation);
        else if (strcmp(flag, "--prior-components") == 0)
            ok = cli_parse_count("train", flag, value, 0, 1024, &a->prior_components);
        else if (strcmp(flag, "--patience") == 0)
            ok = cli_parse_count("train", flag, value, 1, 1000000, &a->patience);
        else
            ok = cli_parse_count("train", flag, value, 1, LLONG_MAX / 2, &a->checkpoint_every);
        if (!ok)
            return CLI_USAGE;
    }
    if (!a->out)
        a->out = a->resume;
    if (!a->data || !a->out) {
        fprintf(stderr, "spcnn train: --data and --out are required\n");
        train_usage(stderr);
        return CLI_USAGE;
    }
    if (!a->steps && !a->epochs && a->minutes <= 0 && !a->patience) {
        fprintf(stderr, "spcnn train: say how long to train: --steps, --epochs, --minutes or "
                        "--patience\n");
        return CLI_USAGE;
    }
    if (a->patience && !a->eval) {
        fprintf(stderr, "spcnn train: --patience counts evaluations: it cannot be used with "
                        "--no-eval\n");
        return CLI_USAGE;
    }
    if (a->validation == 0 && a->eval) {
        fprintf(stderr, "spcnn train: --validation 0 leaves nothing to evaluate on: add "
                        "--no-eval\n");
        return CLI_USAGE;
    }
    if (a->resume && preset) {
        fprintf(stderr, "spcnn train: --preset cannot be used when resuming: the model keeps its "
                        "own configuration\n");
        return CLI_USAGE;
    }
    if (a->resume && a->first_config_key) {
        fprintf(stderr,
                "spcnn train: %s cannot be changed when resuming: the model keeps its own "
                "configuration (`spcnn info %s` shows it); only --threads, the scale-aware "
                "training settings (--train-sizes, --train-scale-min, --train-scale-max, "
                "--train-native-share), --kl-weight and --train-precision may be given\n",
                spcnn_config_key_name(a->first_config_key), a->resume);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Resuming with other training settings (scale-aware, kl_weight, train_precision): apply them
 * to the loaded model (the scale range in the order that keeps min <= max at every step) and
 * read its configuration back into cfg. 0 after printing why. */
int retune(spcnn_model *model, const train_args *a, spcnn_config *cfg)
{
    static const spcnn_config_key max_first[] = {
        SPCNN_CFG_TRAIN_SCALE_MAX, SPCNN_CFG_TRAIN_SCALE_MIN, SPCNN_CFG_TRAIN_NATIVE_SHARE,
        SPCNN_CFG_KL_WEIGHT, SPCNN_CFG_TRAIN_PRECISION};
    static const spcnn_config_key min_first[] = {
        SPCNN_CFG_TRAIN_SCALE_MIN, SPCNN_CFG_TRAIN_SCALE_MAX, SPCNN_CFG_TRAIN_NATIVE_SHARE,
        SPCNN_CFG_KL_WEIGHT, SPCNN_CFG_TRAIN_PRECISION};
    double current_min = 1;
    spcnn_config_get(cfg, SPCNN_CFG_TRAIN_SCALE_MIN, &current_min);
    const int raise_max_first = (a->tuned >> SPCNN_CFG_TRAIN_SCALE_MAX & 1u) &&
                                a->tuned_value[SPCNN_CFG_TRAIN_SCALE_MAX] >= current_min;
    const spcnn_config_key *order = raise_max_first ? max_first : min_first;
    for (size_t i = 0; i < sizeof max_first / sizeof max_first[0]; i++) {
        if (!(a->tuned >> order[i] & 1u))
            continue;
        if (spcnn_model_set_option(model, order[i], a->tuned_value[order[i]]) != SPCNN_OK) {
            fprintf(stderr, "spcnn train: resuming %s: %s\n", a->resume,
                    spcnn_last_error_message());
            return 0;
        }
    }
    if (spcnn_model_get_config(model, cfg) != SPCNN_OK) {
        fprintf(stderr, "spcnn train: %s\n", spcnn_last_error_message());
        return 0;
    }
    return 1;
}
