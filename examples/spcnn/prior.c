/* spcnn fit-prior, and the prior fit that ends `spcnn train`. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void fit_prior_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn fit-prior --model MODEL --data DIR [--components K] [--out OUT]\n"
            "                       [--validation N] [--seed S] [--threads T]\n"
            "\n"
            "Fit the latent prior of MODEL: a mixture of K Gaussians (diagonal covariances)\n"
            "fitted by EM to the encoder's posteriors q(z|x) of the training images of DIR\n"
            "(less the validation images `spcnn train` holds out, which stay unseen), and save\n"
            "it in the model. `spcnn sample`, `generate` and `score` then draw z from it instead\n"
            "of N(0, I) (`--prior standard` gives the paper's N(0, I) back). `spcnn train` ends\n"
            "with this fit (its --prior-components).\n"
            "\n"
            "  --model MODEL     the model (must use the latent code)\n"
            "  --data DIR        the data set it was trained on\n"
            "  --components K    mixture components (default %d; 0 removes the prior)\n"
            "  --out OUT         where to save (default: MODEL itself, atomically; a training\n"
            "                    state in the file is kept)\n"
            "  --validation N    training images held out at the end, as in `spcnn train`\n"
            "                    (default 5000; a tenth of fewer than 50 000)\n"
            "  --seed S          seed of EM's starting centres, " CLI_SEED_RANGE " (default 1)\n"
            "  --threads T       oneDNN/OpenMP threads (default: the model's setting)\n",
            CLI_PRIOR_COMPONENTS);
}

typedef struct fit_progress {
    cli_progress line;
    double start;
} fit_progress;

static int on_fit_progress(double fraction, void *user)
{
    fit_progress *p = user;
    char text[96];
    snprintf(text, sizeof text, "fitting the prior: encoding %5.1f %%",
             100 * (fraction < 0.95 ? fraction / 0.95 : 1.0));
    cli_progress_show(&p->line, text, fraction >= 1.0);
    return cli_stop_signal != 0;
}

int cli_fit_prior_and_save(const char *cmd, spcnn_model *model, const uint8_t *images, size_t n,
                           size_t h, size_t w, long long components, uint64_t seed,
                           const char *out)
{
    spcnn_status st;
    double t0 = cli_now();
    if (components == 0) {
        st = spcnn_model_set_prior(model, 0, NULL, NULL, NULL);
    } else {
        fit_progress p;
        cli_progress_init(&p.line);
        p.start = t0;
        spcnn_model_set_progress(model, on_fit_progress, &p);
        st = spcnn_model_fit_prior(model, images, n, h, w, (size_t)components, seed);
        spcnn_model_set_progress(model, NULL, NULL);
        cli_progress_end(&p.line);
    }
    if (st == SPCNN_ERR_CANCELLED && cli_stop_signal) {
        fprintf(stderr, "spcnn %s: prior fit interrupted; %s is unchanged\n", cmd, out);
        return CLI_INTERRUPTED;
    }
    if (st != SPCNN_OK)
        return cli_fail(cmd, "fitting the prior", st);
    double state = 0;
    spcnn_model_stat(model, SPCNN_STAT_TRAINING_STATE, &state);
    if ((st = spcnn_model_save(model, out, state != 0)) != SPCNN_OK)
        return cli_fail(cmd, out, st);
    if (components == 0)
        printf("prior: N(0, I) (no mixture); saved %s\n", out);
    else
        printf("prior: %lld Gaussians fitted to the codes of %zu training images in %.1f s; "
               "saved %s\n",
               components, n, cli_now() - t0, out);
    return CLI_OK;
}

int cli_fit_prior(int argc, char **argv)
{
    const char *model_path = NULL, *data_dir = NULL, *out = NULL;
    long long components = CLI_PRIOR_COMPONENTS, validation = -1, threads = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *value;
        const char *flag = cli_split_flag(argv[i], name, sizeof name, &value);
        if (cli_is_help(flag)) {
            fit_prior_usage(stdout);
            return CLI_OK;
        }
        static const char *const known[] = {"--model", "--data", "--out", "--components",
                                            "--validation", "--seed", "--threads"};
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(flag, known[k]) != 0)
            k++;
        if (k == sizeof known / sizeof known[0]) {
            fprintf(stderr, "spcnn fit-prior: unknown argument '%s'\n", argv[i]);
            fit_prior_usage(stderr);
            return CLI_USAGE;
        }
        if (!value && !(value = cli_flag_value("fit-prior", argc, argv, &i)))
            return CLI_USAGE;
        int ok = 1;
        switch (k) {
        case 0: model_path = value; break;
        case 1: data_dir = value; break;
        case 2: out = value; break;
        case 3: ok = cli_parse_count("fit-prior", flag, value, 0, 1024, &components); break;
        case 4: ok = cli_parse_count("fit-prior", flag, value, 0, 100000000, &validation); break;
        case 5: ok = cli_parse_seed("fit-prior", flag, value, &seed); break;
        default: ok = cli_parse_count("fit-prior", flag, value, 1, 256, &threads); break;
        }
        if (!ok)
            return CLI_USAGE;
    }
    if (!model_path || (!data_dir && components > 0)) {
        fprintf(stderr, "spcnn fit-prior: --model and --data are required\n");
        fit_prior_usage(stderr);
        return CLI_USAGE;
    }
    if (!out)
        out = model_path;
    if (!cli_check_output("fit-prior", out))
        return CLI_FAILED;

    spcnn_model *model = NULL;
    spcnn_status st = spcnn_model_load(model_path, &model);
    if (st != SPCNN_OK)
        return cli_fail("fit-prior", model_path, st);
    if (threads && (st = spcnn_model_set_threads(model, (int)threads)) != SPCNN_OK) {
        spcnn_model_destroy(model);
        return cli_fail("fit-prior", "setting the threads", st);
    }
    cli_dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = CLI_OK;
    if (components > 0) {
        if (!cli_dataset_load(data_dir, 1, &ds)) {
            spcnn_model_destroy(model);
            return CLI_FAILED;
        }
        size_t n_valid = validation >= 0 ? (size_t)validation
                                         : cli_default_validation(ds.n_train);
        if (n_valid >= ds.n_train || !cli_dataset_hold_out(&ds, n_valid)) {
            if (n_valid >= ds.n_train)
                fprintf(stderr, "spcnn fit-prior: --validation %zu leaves no training image\n",
                        n_valid);
            rc = CLI_FAILED;
        }
    }
    if (rc == CLI_OK) {
        cli_install_signal_handlers();
        rc = cli_fit_prior_and_save("fit-prior", model, ds.train, ds.n_train, ds.train_h,
                                    ds.train_w, components, seed, out);
    }
    spcnn_model_destroy(model);
    cli_dataset_free(&ds);
    return rc;
}
