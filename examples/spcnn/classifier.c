/* spcnn classifier: train the LeNet-5 classifier on a labelled IDX data set, and measure its
 * test accuracy. The classifier later judges generated images (`spcnn score`). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TRAIN_IMAGES "train-images-idx3-ubyte"
#define TRAIN_LABELS "train-labels-idx1-ubyte"
#define TEST_IMAGES "t10k-images-idx3-ubyte"
#define TEST_LABELS "t10k-labels-idx1-ubyte"

enum { DEFAULT_EPOCHS = 12, DEFAULT_BATCH = 128, MAX_CLASSES = 256 };

static void classifier_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn classifier train --data DIR --out FILE [--epochs N] [--threads T]\n"
            "                              [--seed S] [--validation N] [--batch-size N]\n"
            "       spcnn classifier eval --model FILE --data DIR [--threads T]\n"
            "\n"
            "The LeNet-5 classifier that judges generated images (include/spatialpixelcnn.h,\n"
            "\"Classifier\"). DIR holds labelled IDX files: " TRAIN_IMAGES "\n"
            "and " TRAIN_LABELS " to train, " TEST_IMAGES " and\n" TEST_LABELS
            " to evaluate (scripts/get-data.sh writes data/mnist and\n"
            "data/fashion-mnist). The number of classes is the largest training label + 1.\n"
            "\n"
            "train: Adam on the training images less the last N held out as the validation set\n"
            "(default 5000; a tenth of fewer than 50 000 images), shuffled every epoch in an\n"
            "order that follows from the seed, in batches (an incomplete last batch is\n"
            "dropped). After each epoch the validation accuracy is printed, and FILE is saved\n"
            "when it is the best so far: FILE ends holding the best epoch. The test images are\n"
            "never read.\n"
            "  --data DIR        data set folder\n"
            "  --out FILE        classifier file to write (e.g. models/lenet-mnist.spcls)\n"
            "  --epochs N        epochs to train (default %d)\n"
            "  --seed S          seed of the initial weights and of the data order,\n"
            "                    " CLI_SEED_RANGE " (default 1)\n"
            "  --validation N    training images held out at the end for validation\n"
            "  --batch-size N    images per step (default %d)\n"
            "  --threads T       oneDNN/OpenMP threads (default 1)\n"
            "\n"
            "eval: accuracy of FILE on every test image of DIR, overall and per class, the mean\n"
            "probability of the predicted class, and the prediction speed.\n"
            "\n"
            "Progress goes to stderr. Ctrl-C or SIGTERM stops training (exit status 130);\n"
            "FILE then holds the best epoch finished so far.\n",
            DEFAULT_EPOCHS, DEFAULT_BATCH);
}

/* Labelled images in memory. */
typedef struct labelled {
    uint8_t *images, *labels;
    size_t n, h, w;
} labelled;

static void labelled_free(labelled *d)
{
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Read DIR/NAME, an IDX file, into a new buffer; prints the reason and returns 0 on failure. */
static int read_idx(const char *dir, const char *name, uint8_t **out, size_t *n, size_t *h,
                    size_t *w)
{
    char *path = cli_join_path(dir, name);
    int ok = path && cli_read_idx("classifier", path, out, n, h, w);
    if (!path)
        fprintf(stderr, "spcnn classifier: out of memory\n");
    free(path);
    return ok;
}

/* An images file and its labels file; prints the reason and returns 0 on failure. */
static int load_labelled(const char *dir, const char *images, const char *labels,
                         labelled *d)
{
    memset(d, 0, sizeof *d);
    size_t nl, h1, w1;
    if (!read_idx(dir, images, &d->images, &d->n, &d->h, &d->w) ||
        !read_idx(dir, labels, &d->labels, &nl, &h1, &w1)) {
        labelled_free(d);
        return 0;
    }
    if (d->h < 2 || d->w < 2 || h1 != 1 || w1 != 1 || nl != d->n) {
        fprintf(stderr,
                "spcnn classifier: %s/%s (%zu x %zu x %zu) and %s (%zu x %zu x %zu) are not "
                "images and their labels\n",
                dir, images, d->n, d->h, d->w, labels, nl, h1, w1);
        labelled_free(d);
        return 0;
    }
    return 1;
}

static size_t argmax(const float *p, size_t k)
{
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        best = p[j] > p[best] ? j : best;
    return best;
}

/* Predict n images; right[c] and total[c] count per class (may be NULL), confidence adds the
 * probability of each predicted class. Returns the number right, or (size_t)-1 on failure. */
static size_t score(spcnn_classifier *c, const uint8_t *images, const uint8_t *labels,
                    size_t n, size_t k, size_t *right_per, size_t *total_per,
                    double *confidence)
{
    enum { CHUNK = 1024 };
    float *probs = malloc(CHUNK * k * sizeof *probs);
    if (!probs) {
        fprintf(stderr, "spcnn classifier: out of memory\n");
        return (size_t)-1;
    }
    size_t h, w, right = 0;
    spcnn_classifier_shape(c, &h, &w, NULL);
    for (size_t first = 0; first < n; first += CHUNK) {
        size_t m = n - first < CHUNK ? n - first : CHUNK;
        spcnn_status st = spcnn_classifier_predict(c, images + first * h * w, m, probs, m * k);
        if (st != SPCNN_OK) {
            cli_fail("classifier", "predicting", st);
            free(probs);
            return (size_t)-1;
        }
        for (size_t i = 0; i < m; i++) {
            size_t best = argmax(probs + i * k, k), label = labels[first + i];
            right += best == label;
            if (confidence)
                *confidence += probs[i * k + best];
            if (total_per && label < k) {
                total_per[label]++;
                right_per[label] += best == label;
            }
        }
    }
    free(probs);
    return right;
}

enum { ARGS_HELP = -1 };

/* argv[*i] of `spcnn CMD` as a flag among known (NULL-terminated) and its value: "--flag=value",
 * or else the next argument (*i advances). Returns CLI_OK; ARGS_HELP after printing the usage
 * for -h or --help; CLI_USAGE after saying what is wrong. */
static int next_flag(const char *cmd, const char *const *known, int argc, char **argv, int *i,
                     char *buf, size_t cap, const char **flag, const char **value)
{
    *flag = cli_split_flag(argv[*i], buf, cap, value);
    if (cli_is_help(*flag)) {
        classifier_usage(stdout);
        return ARGS_HELP;
    }
    int found = 0;
    for (size_t k = 0; known[k]; k++)
        found |= strcmp(*flag, known[k]) == 0;
    if (!found) {
        fprintf(stderr, "spcnn %s: unknown argument '%s'\n", cmd, argv[*i]);
        classifier_usage(stderr);
        return CLI_USAGE;
    }
    if (!*value && !(*value = cli_flag_value(cmd, argc, argv, i)))
        return CLI_USAGE;
    return CLI_OK;
}

/* ---- train ------------------------------------------------------------------------------- */

typedef struct train_args {
    const char *data, *out;
    long long epochs, threads, validation, batch;
    uint64_t seed;
} train_args;

/* CLI_OK, CLI_USAGE, or ARGS_HELP after printing the usage. */
static int parse_train(int argc, char **argv, train_args *a)
{
    static const char *const known[] = {"--data", "--out", "--epochs", "--threads", "--seed",
                                        "--validation", "--batch-size", NULL};
    const char *cmd = "classifier train";
    for (int i = 2; i < argc; i++) {
        char buf[64];
        const char *flag, *value;
        int rc = next_flag(cmd, known, argc, argv, &i, buf, sizeof buf, &flag, &value);
        if (rc != CLI_OK)
            return rc;
        int ok = 1;
        if (strcmp(flag, "--data") == 0)
            a->data = value;
        else if (strcmp(flag, "--out") == 0)
            a->out = value;
        else if (strcmp(flag, "--epochs") == 0)
            ok = cli_parse_count(cmd, flag, value, 1, 100000, &a->epochs);
        else if (strcmp(flag, "--threads") == 0)
            ok = cli_parse_count(cmd, flag, value, 1, 256, &a->threads);
        else if (strcmp(flag, "--seed") == 0)
            ok = cli_parse_seed(cmd, flag, value, &a->seed);
        else if (strcmp(flag, "--validation") == 0)
            ok = cli_parse_count(cmd, flag, value, 1, 100000000, &a->validation);
        else
            ok = cli_parse_count(cmd, flag, value, 1, 65536, &a->batch);
        if (!ok)
            return CLI_USAGE;
    }
    if (!a->data || !a->out) {
        fprintf(stderr, "spcnn classifier train: --data and --out are required\n");
        classifier_usage(stderr);
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int train(int argc, char **argv)
{
    train_args a = {.epochs = DEFAULT_EPOCHS, .threads = 1, .seed = 1, .batch = DEFAULT_BATCH};
    int rc = parse_train(argc, argv, &a);
    if (rc != CLI_OK)
        return rc == ARGS_HELP ? CLI_OK : rc;
    if (!cli_check_output("classifier train", a.out))
        return CLI_FAILED;
    labelled d;
    if (!load_labelled(a.data, TRAIN_IMAGES, TRAIN_LABELS, &d))
        return CLI_FAILED;
    size_t n_valid = a.validation ? (size_t)a.validation : cli_default_validation(d.n);
    size_t k = 0;
    for (size_t i = 0; i < d.n; i++)
        k = d.labels[i] + 1u > k ? d.labels[i] + 1u : k;
    k = k < 2 ? 2 : k;
    const size_t batch = (size_t)a.batch, img = d.h * d.w;
    if (n_valid == 0 || n_valid >= d.n || d.n - n_valid < batch) {
        fprintf(stderr,
                "spcnn classifier train: %s: %zu training images leave too few for %zu "
                "validation images and a batch of %zu\n",
                a.data, d.n, n_valid, batch);
        labelled_free(&d);
        return CLI_FAILED;
    }
    const size_t n_train = d.n - n_valid;
    const uint8_t *valid_x = d.images + n_train * img, *valid_y = d.labels + n_train;

    spcnn_classifier *c = NULL;
    size_t *perm = malloc(n_train * sizeof *perm);
    uint8_t *bx = malloc(batch * img), *by = malloc(batch);
    spcnn_status st = spcnn_classifier_create(d.h, d.w, k, a.seed, &c);
    if (st == SPCNN_OK)
        st = spcnn_classifier_set_threads(c, (int)a.threads);
    if (st != SPCNN_OK) {
        rc = cli_fail("classifier train", "creating the classifier", st);
        goto done;
    }
    if (!perm || !bx || !by) {
        fprintf(stderr, "spcnn classifier train: out of memory\n");
        rc = CLI_FAILED;
        goto done;
    }
    const size_t steps = n_train / batch;
    printf("data: IDX %s: %zu training images of %zu x %zu, %zu classes, %zu steps of %zu per "
           "epoch; %zu more held out for validation (the test images are not read)\n",
           a.data, n_train, d.h, d.w, k, steps, batch, n_valid);
    fflush(stdout);
    cli_install_signal_handlers();
    cli_progress line;
    cli_progress_init(&line);
    double start = cli_now(), best = -1;
    long long best_epoch = 0, epoch = 0;
    for (epoch = 1; epoch <= a.epochs && !cli_stop_signal; epoch++) {
        cli_epoch_order(perm, n_train, a.seed, (uint64_t)epoch);
        double loss_sum = 0, acc_sum = 0, t0 = cli_now();
        size_t s;
        for (s = 0; s < steps && !cli_stop_signal; s++) {
            for (size_t i = 0; i < batch; i++) {
                memcpy(bx + i * img, d.images + perm[s * batch + i] * img, img);
                by[i] = d.labels[perm[s * batch + i]];
            }
            double loss, acc;
            st = spcnn_classifier_train_step(c, bx, by, batch, &loss, &acc);
            if (st != SPCNN_OK) {
                cli_progress_end(&line);
                rc = cli_fail("classifier train", "training step", st);
                goto done;
            }
            loss_sum += loss;
            acc_sum += acc;
            char text[160];
            snprintf(text, sizeof text,
                     "epoch %lld/%lld | step %zu/%zu | loss %.4f | accuracy %.2f %% | %.1f "
                     "steps/s",
                     epoch, a.epochs, s + 1, steps, loss_sum / (double)(s + 1),
                     100 * acc_sum / (double)(s + 1), (double)(s + 1) / (cli_now() - t0));
            cli_progress_show(&line, text, 0);
        }
        if (cli_stop_signal)
            break;
        size_t right = score(c, valid_x, valid_y, n_valid, k, NULL, NULL, NULL);
        if (right == (size_t)-1) {
            rc = CLI_FAILED;
            goto done;
        }
        double acc = (double)right / (double)n_valid;
        cli_progress_end(&line);
        printf("epoch %lld/%lld | train loss %.4f accuracy %.2f %% | validation accuracy "
               "%.2f %% | %.1f s",
               epoch, a.epochs, loss_sum / (double)steps, 100 * acc_sum / (double)steps,
               100 * acc, cli_now() - t0);
        if (acc > best) {
            if ((st = spcnn_classifier_save(c, a.out)) != SPCNN_OK) {
                printf("\n");
                rc = cli_fail("classifier train", a.out, st);
                goto done;
            }
            best = acc;
            best_epoch = epoch;
            printf(" | best: saved %s", a.out);
        }
        printf("\n");
        fflush(stdout);
    }
    cli_progress_end(&line);
    char took[32];
    cli_format_duration(cli_now() - start, took, sizeof took);
    if (cli_stop_signal) {
        if (best_epoch)
            fprintf(stderr,
                    "spcnn classifier train: stopped by %s in epoch %lld; %s holds epoch %lld "
                    "(validation accuracy %.2f %%)\n",
                    cli_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", epoch, a.out,
                    best_epoch, 100 * best);
        else
            fprintf(stderr, "spcnn classifier train: stopped by %s in epoch 1; nothing saved\n",
                    cli_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        rc = CLI_INTERRUPTED;
        goto done;
    }
    printf("trained %lld epochs in %s; best epoch %lld, validation accuracy %.2f %%; "
           "classifier: %s\n",
           a.epochs, took, best_epoch, 100 * best, a.out);
done:
    spcnn_classifier_destroy(c);
    free(perm);
    free(bx);
    free(by);
    labelled_free(&d);
    return rc;
}

/* ---- eval -------------------------------------------------------------------------------- */

static int eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    long long threads = 0;
    static const char *const known[] = {"--model", "--data", "--threads", NULL};
    for (int i = 2; i < argc; i++) {
        char buf[64];
        const char *flag, *value;
        int rc = next_flag("classifier eval", known, argc, argv, &i, buf, sizeof buf, &flag,
                           &value);
        if (rc != CLI_OK)
            return rc == ARGS_HELP ? CLI_OK : rc;
        if (strcmp(flag, "--model") == 0)
            model = value;
        else if (strcmp(flag, "--data") == 0)
            data = value;
        else if (!cli_parse_count("classifier eval", flag, value, 1, 256, &threads))
            return CLI_USAGE;
    }
    if (!model || !data) {
        fprintf(stderr, "spcnn classifier eval: --model and --data are required\n");
        classifier_usage(stderr);
        return CLI_USAGE;
    }
    spcnn_classifier *c = NULL;
    spcnn_status st = spcnn_classifier_load(model, &c);
    if (st != SPCNN_OK)
        return cli_fail("classifier eval", model, st);
    if (threads && (st = spcnn_classifier_set_threads(c, (int)threads)) != SPCNN_OK) {
        spcnn_classifier_destroy(c);
        return cli_fail("classifier eval", "setting the threads", st);
    }
    size_t h, w, k;
    spcnn_classifier_shape(c, &h, &w, &k);
    labelled d;
    if (!load_labelled(data, TEST_IMAGES, TEST_LABELS, &d)) {
        spcnn_classifier_destroy(c);
        return CLI_FAILED;
    }
    int rc = CLI_OK;
    size_t *right = calloc(k, sizeof *right), *total = calloc(k, sizeof *total);
    if (!right || !total) {
        fprintf(stderr, "spcnn classifier eval: out of memory\n");
        rc = CLI_FAILED;
    } else if (d.h != h || d.w != w) {
        fprintf(stderr, "spcnn classifier eval: %s classifies %zu x %zu images, but %s/%s holds "
                        "%zu x %zu images\n",
                model, h, w, data, TEST_IMAGES, d.h, d.w);
        rc = CLI_FAILED;
    }
    double confidence = 0, t0 = cli_now();
    size_t all = rc == CLI_OK ? score(c, d.images, d.labels, d.n, k, right, total, &confidence)
                              : 0;
    double seconds = cli_now() - t0;
    if (rc == CLI_OK && all == (size_t)-1)
        rc = CLI_FAILED;
    if (rc == CLI_OK) {
        printf("classifier: %s (%zu x %zu images, %zu classes)\n", model, h, w, k);
        printf("test images: %zu of %s\n", d.n, data);
        printf("test accuracy: %.2f %% (%zu right)\n", 100.0 * (double)all / (double)d.n, all);
        printf("mean confidence: %.4f (the probability of the predicted class)\n",
               confidence / (double)d.n);
        printf("per class:");
        for (size_t j = 0; j < k; j++)
            if (total[j])
                printf("%s%3zu: %6.2f %% of %zu", j % 4 ? "   " : "\n  ", j,
                       100.0 * (double)right[j] / (double)total[j], total[j]);
        printf("\nprediction: %.0f images/s (%zu images in %.2f s)\n",
               (double)d.n / seconds, d.n, seconds);
    }
    free(right);
    free(total);
    labelled_free(&d);
    spcnn_classifier_destroy(c);
    return rc;
}

int cli_classifier(int argc, char **argv)
{
    if (argc < 2) {
        classifier_usage(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        classifier_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "train") == 0)
        return train(argc, argv);
    if (strcmp(argv[1], "eval") == 0)
        return eval(argc, argv);
    fprintf(stderr, "spcnn classifier: unknown subcommand '%s' (train or eval)\n", argv[1]);
    classifier_usage(stderr);
    return CLI_USAGE;
}
