/* spcnn eval and spcnn info. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "gen.h"

static void eval_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn eval --model MODEL --data DIR [--split test|validation] [--limit N]\n"
            "                  [--threads T] [--precision fp32|bf16] [--skip-bad]\n"
            "\n"
            "Metrics of MODEL on the test images of DIR (t10k-images-idx3-ubyte, or the images\n"
            "of a PNG folder whose path hashes to a multiple of 10: about a tenth, of any\n"
            "sizes), with the EMA weights and z the encoder mean:\n"
            "  bits/dim (patches)  NLL averaged over every patch_size x patch_size window (the\n"
            "                      paper's figure)\n"
            "  bits/dim (image)    NLL of the whole images, each pixel scored by its own window\n"
            "  KL                  KL(q(z|x) || N(0, I)) in nats per image\n"
            "Each figure is the mean over the images of the image's own figure (for images of\n"
            "one size, the same as pooling all pixels); for mixed sizes the figures pooled over\n"
            "all pixels are shown too.\n"
            "\n"
            "  --split S    test (default): the test images, for reporting;\n"
            "               validation: the images `spcnn train` holds out at the end of the\n"
            "               training images (the last 5000; a tenth of fewer than 50 000),\n"
            "               for choosing settings without touching the test images\n"
            "  --limit N    evaluate the first N images only (default: all; each set is\n"
            "               shuffled once with a fixed seed, so any N is a fair sample);\n"
            "               --images N is the same\n"
            "  --threads T  oneDNN/OpenMP threads (default: the model's setting)\n"
            "  --precision P  fp32 (default: the model's setting) or bf16 (convolutions in\n"
            "               bfloat16 with fp32 sums, on CPUs with AVX-512 BF16)\n"
            "  --skip-bad   a PNG folder: skip files that are not usable PNGs and images\n"
            "               smaller than the window, with a count\n"
            "\n"
            "Progress and its ETA go to stderr.\n");
}

/* State of the progress callback of spcnn_model_evaluate. */
typedef struct eval_progress {
    cli_progress line;
    double start;
    double base, span; /* a folder evaluated image by image: this image's share */
} eval_progress;

static int on_eval_progress(double fraction, void *user)
{
    eval_progress *p = user;
    fraction = p->base + p->span * fraction;
    double elapsed = cli_now() - p->start;
    char eta[32], text[128];
    if (fraction > 0.001)
        cli_format_duration(elapsed * (1 - fraction) / fraction, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    snprintf(text, sizeof text, "evaluating: %5.1f %%  ETA %s", 100 * fraction, eta);
    cli_progress_show(&p->line, text, fraction >= 1.0);
    return cli_stop_signal != 0; /* Ctrl-C cancels the evaluation */
}

int cli_eval(int argc, char **argv)
{
    const char *model_path = NULL, *data_dir = NULL, *split = "test";
    long long images = 0, threads = 0;
    int skip_bad = 0, precision = -1;
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *value;
        const char *flag = cli_split_flag(argv[i], name, sizeof name, &value);
        if (cli_is_help(flag)) {
            eval_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(flag, "--skip-bad") == 0 && !value) {
            skip_bad = 1;
            continue;
        }
        int known = strcmp(flag, "--model") == 0 || strcmp(flag, "--data") == 0 ||
                    strcmp(flag, "--images") == 0 || strcmp(flag, "--limit") == 0 ||
                    strcmp(flag, "--split") == 0 || strcmp(flag, "--threads") == 0 ||
                    strcmp(flag, "--precision") == 0;
        if (!known) {
            fprintf(stderr, "spcnn eval: unknown argument '%s'\n", argv[i]);
            eval_usage(stderr);
            return CLI_USAGE;
        }
        if (!value && !(value = cli_flag_value("eval", argc, argv, &i)))
            return CLI_USAGE;
        if (strcmp(flag, "--model") == 0)
            model_path = value;
        else if (strcmp(flag, "--data") == 0)
            data_dir = value;
        else if (strcmp(flag, "--split") == 0) {
            if (strcmp(value, "test") != 0 && strcmp(value, "validation") != 0) {
                fprintf(stderr, "spcnn eval: --split: '%s' is neither test nor validation\n",
                        value);
                return CLI_USAGE;
            }
            split = value;
        } else if (strcmp(flag, "--precision") == 0) {
            if ((precision = gen_parse_precision("eval", flag, value)) < 0)
                return CLI_USAGE;
        } else if (strcmp(flag, "--images") == 0 || strcmp(flag, "--limit") == 0) {
            if (!cli_parse_count("eval", flag, value, 1, 100000000, &images))
                return CLI_USAGE;
        } else if (!cli_parse_count("eval", flag, value, 1, 256, &threads)) {
            return CLI_USAGE;
        }
    }
    if (!model_path || !data_dir) {
        fprintf(stderr, "spcnn eval: --model and --data are required\n");
        eval_usage(stderr);
        return CLI_USAGE;
    }

    cli_dataset ds;
    int validation = strcmp(split, "validation") == 0;
    if (!cli_dataset_load_with("eval", data_dir, validation,
                               CLI_DATA_STREAM | (skip_bad ? CLI_DATA_SKIP_BAD : 0), &ds))
        return CLI_FAILED;
    spcnn_model *model = NULL;
    spcnn_status st = spcnn_model_load(model_path, &model);
    if (st != SPCNN_OK) {
        cli_dataset_free(&ds);
        return cli_fail("eval", model_path, st);
    }
    int rc = CLI_OK;
    spcnn_config *cfg = NULL;
    double patch = 0;
    if ((st = spcnn_config_create(&cfg)) != SPCNN_OK ||
        (st = spcnn_model_get_config(model, cfg)) != SPCNN_OK ||
        (st = spcnn_config_get(cfg, SPCNN_CFG_PATCH_SIZE, &patch)) != SPCNN_OK) {
        rc = cli_fail("eval", "reading the configuration", st);
        goto done;
    }
    if (!cli_dataset_drop_small("eval", &ds, (size_t)patch, skip_bad)) {
        rc = CLI_FAILED;
        goto done;
    }
    size_t n_valid = validation ? cli_default_validation(ds.n_train) : 0;
    if (validation && (n_valid == 0 || !cli_dataset_hold_out(&ds, n_valid))) {
        if (n_valid == 0)
            fprintf(stderr, "spcnn eval: %s: too few training images for a validation set\n",
                    data_dir);
        rc = CLI_FAILED;
        goto done;
    }
    if (!validation && ds.n_test == 0) {
        fprintf(stderr, "spcnn eval: %s: no test image is left\n", data_dir);
        rc = CLI_FAILED;
        goto done;
    }
    /* The images evaluated: the test set, or the validation set in its place. */
    const uint8_t *set = validation ? ds.valid : ds.test;
    cli_folder_image **refs = validation ? ds.valid_refs : ds.test_refs;
    size_t n_set = validation ? ds.n_valid : ds.n_test;
    size_t h = validation ? ds.train_h : ds.test_h, w = validation ? ds.train_w : ds.test_w;
    if ((threads > 0 && (st = spcnn_model_set_threads(model, (int)threads)) != SPCNN_OK) ||
        (precision >= 0 &&
         (st = spcnn_model_set_option(model, SPCNN_CFG_PRECISION, precision)) != SPCNN_OK)) {
        rc = cli_fail("eval", "applying the settings", st);
        goto done;
    }
    size_t n = n_set;
    if (images > 0 && (size_t)images < n)
        n = (size_t)images;
    /* A folder's sizes: one size (shown as h x w) or the range. */
    size_t lo_h = h, lo_w = w, hi_h = h, hi_w = w;
    if (ds.streamed) {
        lo_h = lo_w = SIZE_MAX;
        hi_h = hi_w = 0;
        for (size_t i = 0; i < n; i++) {
            lo_h = refs[i]->h < lo_h ? refs[i]->h : lo_h;
            lo_w = refs[i]->w < lo_w ? refs[i]->w : lo_w;
            hi_h = refs[i]->h > hi_h ? refs[i]->h : hi_h;
            hi_w = refs[i]->w > hi_w ? refs[i]->w : hi_w;
        }
    }
    int mixed = lo_h != hi_h || lo_w != hi_w;

    cli_install_signal_handlers();
    eval_progress progress;
    cli_progress_init(&progress.line);
    progress.start = cli_now();
    progress.base = 0;
    progress.span = 1;
    spcnn_model_set_progress(model, on_eval_progress, &progress);
    double bpd_patches = 0, bpd_image = 0, kl = 0, pooled[2] = {0, 0};
    if (ds.streamed)
        st = cli_evaluate_folder("eval", model, &ds, refs, n, &progress.base, &progress.span,
                                 &bpd_patches, &bpd_image, &kl, pooled);
    else
        st = spcnn_model_evaluate(model, set, n, h, w, &bpd_patches, &bpd_image, &kl);
    double seconds = cli_now() - progress.start;
    cli_progress_end(&progress.line);
    if (st == SPCNN_ERR_CANCELLED && cli_stop_signal) {
        fprintf(stderr, "spcnn eval: interrupted\n");
        rc = CLI_INTERRUPTED;
        goto done;
    }
    if (st != SPCNN_OK) {
        rc = cli_fail("eval", "evaluating", st);
        goto done;
    }
    char took[32];
    cli_format_duration(seconds, took, sizeof took);
    printf("model:              %s\n", model_path);
    if (mixed)
        printf("%-20s%zu of %zu (%zu x %zu to %zu x %zu, %s %s)\n",
               validation ? "validation images:" : "test images:", n, n_set, lo_h, lo_w, hi_h,
               hi_w, ds.kind, data_dir);
    else
        printf("%-20s%zu of %zu (%zu x %zu, %s %s)\n",
               validation ? "validation images:" : "test images:", n, n_set, lo_h, lo_w,
               ds.kind, data_dir);
    printf("bits/dim (patches): %.4f%s\n", bpd_patches, mixed ? " (mean over images)" : "");
    printf("bits/dim (image):   %.4f%s\n", bpd_image, mixed ? " (mean over images)" : "");
    if (mixed) {
        printf("bits/dim (patches): %.4f (pooled over all windows' pixels)\n", pooled[0]);
        printf("bits/dim (image):   %.4f (pooled over all pixels)\n", pooled[1]);
    }
    printf("KL (nats/image):    %.4f\n", kl);
    printf("time:               %.1f s (%s)\n", seconds, took);
done:
    spcnn_config_destroy(cfg);
    spcnn_model_destroy(model);
    cli_dataset_free(&ds);
    return rc;
}

static void info_usage(FILE *to)
{
    fprintf(to, "usage: spcnn info MODEL\n"
                "\n"
                "Every hyper-parameter of MODEL, its training step, the images it has seen, its\n"
                "parameter count and its file size.\n");
}

int cli_info(int argc, char **argv)
{
    if (argc == 2 && cli_is_help(argv[1])) {
        info_usage(stdout);
        return CLI_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        info_usage(stderr);
        return CLI_USAGE;
    }
    const char *path = argv[1];
    spcnn_model *model = NULL;
    spcnn_config *cfg = NULL;
    spcnn_status st = spcnn_model_load(path, &model);
    if (st != SPCNN_OK)
        return cli_fail("info", path, st);
    int rc = CLI_OK;
    if ((st = spcnn_config_create(&cfg)) != SPCNN_OK ||
        (st = spcnn_model_get_config(model, cfg)) != SPCNN_OK) {
        rc = cli_fail("info", "reading the configuration", st);
        goto done;
    }
    double step = 0, seen = 0, params = 0, state = 0, prior = 0;
    if ((st = spcnn_model_stat(model, SPCNN_STAT_STEP, &step)) != SPCNN_OK ||
        (st = spcnn_model_stat(model, SPCNN_STAT_IMAGES_SEEN, &seen)) != SPCNN_OK ||
        (st = spcnn_model_stat(model, SPCNN_STAT_PARAMETERS, &params)) != SPCNN_OK ||
        (st = spcnn_model_stat(model, SPCNN_STAT_TRAINING_STATE, &state)) != SPCNN_OK ||
        (st = spcnn_model_stat(model, SPCNN_STAT_PRIOR_COMPONENTS, &prior)) != SPCNN_OK) {
        rc = cli_fail("info", "reading the statistics", st);
        goto done;
    }
    struct stat sb;
    printf("model:       %s\n", path);
    if (stat(path, &sb) == 0)
        printf("file size:   %lld bytes (%.2f MB)\n", (long long)sb.st_size,
               (double)sb.st_size / 1e6);
    printf("step:        %.0f\n", step);
    printf("images seen: %.0f\n", seen);
    printf("parameters:  %.0f\n", params);
    printf("training state: %s\n", state ? "saved (training can resume exactly)"
                                          : "not saved (EMA weights only)");
    if (prior > 0)
        printf("latent prior: a mixture of %.0f Gaussians (spcnn fit-prior)\n", prior);
    else
        printf("latent prior: N(0, I)\n");
    printf("hyper-parameters:\n");
    for (int k = 1; k < 64; k++) {
        const char *name = spcnn_config_key_name((spcnn_config_key)k);
        double v;
        char text[64];
        if (name && spcnn_config_get(cfg, (spcnn_config_key)k, &v) == SPCNN_OK) {
            cli_format_config_value((spcnn_config_key)k, v, text, sizeof text);
            printf("  %-14s %s\n", name, text);
        }
    }
done:
    spcnn_config_destroy(cfg);
    spcnn_model_destroy(model);
    return rc;
}
