/* spcnn score: the paper's measures of sample quality — LeNet confidence of random samples,
 * LeNet accuracy of reconstructions, MS-SSIM diversity — and test bits/dim, in one table. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

enum { MAX_SIZES = 8, MAX_CLASSES = 256 };

static void score_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn score --model MODEL --data DIR --classifier FILE [--sizes LIST]\n"
            "                   [--split test|validation] [--samples N] [--recon N]\n"
            "                   [--bpd-images N] [--json]\n"
            "                   [--seed S] [--temperature T] [--schedule raster|wavefront]\n"
            "                   [--prior model|standard] [--threads T]\n"
            "\n"
            "The measures of the Spatial PixelCNN paper, at each size of LIST:\n"
            "  confidence   LeNet confidence of N random samples (z from the model's prior, see\n"
            "               --prior; N(0, I) in the paper): the mean and\n"
            "               standard deviation of the classifier's largest class probability,\n"
            "               in %%, with the share of the most frequent predicted class (uniform\n"
            "               noise can look confident: a high share means few classes)\n"
            "  recon acc.   LeNet accuracy on reconstructions of the first N test images of DIR\n"
            "               (encoded to z, the encoder mean, and regenerated at the size), in %%\n"
            "  MS-SSIM      mean and standard deviation over every pair of the N samples, at\n"
            "               the size itself (spcnn_msssim_pairs; 16 x 16 or larger); lower is\n"
            "               more diverse\n"
            "  bits/dim     over every patch of the first N test images (training size only)\n"
            "A first row scores the real test images the same way: the ceiling. (With\n"
            "--split validation, read \"validation\" for \"test\" throughout.)\n"
            "Images of another size than the classifier's are brought to it with an area\n"
            "(box) filter, spcnn_image_resize_area: a 56x56 sample becomes the means of its\n"
            "2x2 blocks.\n"
            "\n"
            "  --classifier FILE    a classifier of `spcnn classifier train`, e.g.\n"
            "                       models/lenet-mnist.spcls\n"
            "  --sizes LIST         comma-separated sizes HxW or N (default: the model's\n"
            "                       image_size and twice it, e.g. 28,56; at most %d)\n"
            "  --samples N          random samples per size, also the real images of the\n"
            "                       first row (default 500; at least 2)\n"
            "  --recon N            test images reconstructed per size (default 500; 0: none)\n"
            "  --bpd-images N       test images for bits/dim (default 500; 0: none)\n"
            "  --split S            test (default): reconstruct and score the test images, to\n"
            "                       report a model; validation: the images spcnn train holds\n"
            "                       out (the last 5000 training images), to choose settings\n"
            "                       without touching the test set\n"
            "  --json               print the results as one JSON object instead of a table\n"
            "%s"
            "\n"
            "Samples of size k use seed S (in batches of %d, as spcnn sample does), the\n"
            "reconstructions seed S + 1: a run is reproducible. The test images are taken in\n"
            "the order of spcnn eval (shuffled once with a fixed seed). Progress goes to\n"
            "stderr; Ctrl-C cancels (status 130).\n",
            MAX_SIZES, gen_settings_usage, GEN_BATCH);
}

typedef struct score_args {
    const char *data, *classifier, *sizes, *split;
    long long samples, recon, bpd_images;
    int json;
    double prior_components; /* of the model's prior, once loaded: 0 for N(0, I) */
} score_args;

static int score_flag(const char *cmd, const char *flag, const char *value, void *state)
{
    score_args *a = state;
    if (strcmp(flag, "--json") == 0) {
        a->json = 1;
        return 2;
    }
    long long *count = strcmp(flag, "--samples") == 0      ? &a->samples
                       : strcmp(flag, "--recon") == 0      ? &a->recon
                       : strcmp(flag, "--bpd-images") == 0 ? &a->bpd_images
                                                           : NULL;
    if (count)
        return !value || cli_parse_count(cmd, flag, value, count == &a->samples ? 2 : 0,
                                         1000000, count);
    if (strcmp(flag, "--split") == 0 && value && strcmp(value, "test") != 0 &&
        strcmp(value, "validation") != 0) {
        fprintf(stderr, "spcnn %s: --split: '%s' is neither test nor validation\n", cmd, value);
        return 0;
    }
    const char **slot = strcmp(flag, "--data") == 0         ? &a->data
                        : strcmp(flag, "--classifier") == 0 ? &a->classifier
                        : strcmp(flag, "--sizes") == 0      ? &a->sizes
                        : strcmp(flag, "--split") == 0      ? &a->split
                                                            : NULL;
    if (slot && value)
        *slot = value;
    return slot != NULL;
}

/* The real images scored: the test set or the validation set, with their labels (or NULL). */
typedef struct scored_set {
    const uint8_t *images, *labels;
    size_t n, h, w;
    const char *name;
} scored_set;

/* What the classifier says of a set of images. */
typedef struct verdict {
    double confidence_mean, confidence_std; /* largest probability, in % */
    size_t histogram[MAX_CLASSES];          /* predicted classes */
    size_t top_class, top_count;            /* the most frequent prediction */
    double accuracy;                        /* in %, against labels; NAN without them */
} verdict;

/* One row of the table. */
typedef struct score_row {
    char name[48];
    size_t n_samples, n_recon, n_bpd;
    verdict samples, recon;
    double msssim_mean, msssim_std;
    double bpd_patches, bpd_image;
    double seconds;
} score_row;

typedef struct scorer {
    const char *cmd;
    spcnn_classifier *classifier;
    size_t ch, cw, classes;
    uint8_t *resized; /* one batch at the classifier's size */
    float *probs;     /* one batch of probabilities */
} scorer;

/* Classify n images of h x w (brought to the classifier's size), and compare them with labels
 * if given. */
static int classify(scorer *s, const uint8_t *images, const uint8_t *labels, size_t n,
                    size_t h, size_t w, verdict *v)
{
    memset(v, 0, sizeof *v);
    double sum = 0, sum2 = 0;
    size_t right = 0;
    for (size_t first = 0; first < n; first += GEN_BATCH) {
        size_t count = n - first < GEN_BATCH ? n - first : GEN_BATCH;
        const uint8_t *batch = images + first * h * w;
        if (h != s->ch || w != s->cw) {
            for (size_t i = 0; i < count; i++) {
                spcnn_status st = spcnn_image_resize_area(batch + i * h * w, h, w,
                                                          s->resized + i * s->ch * s->cw,
                                                          s->ch, s->cw);
                if (st != SPCNN_OK)
                    return cli_fail(s->cmd, "resizing for the classifier", st);
            }
            batch = s->resized;
        }
        spcnn_status st = spcnn_classifier_predict(s->classifier, batch, count, s->probs,
                                                   (size_t)GEN_BATCH * s->classes);
        if (st != SPCNN_OK)
            return cli_fail(s->cmd, "classifying", st);
        for (size_t i = 0; i < count; i++) {
            const float *p = s->probs + i * s->classes;
            size_t best = 0;
            for (size_t k = 1; k < s->classes; k++)
                best = p[k] > p[best] ? k : best;
            sum += 100.0 * p[best];
            sum2 += 100.0 * p[best] * 100.0 * p[best];
            v->histogram[best]++;
            right += labels && labels[first + i] == best;
        }
    }
    v->confidence_mean = sum / (double)n;
    double var = sum2 / (double)n - v->confidence_mean * v->confidence_mean;
    v->confidence_std = var > 0 ? sqrt(var) : 0;
    for (size_t k = 0; k < s->classes; k++)
        if (v->histogram[k] > v->top_count) {
            v->top_count = v->histogram[k];
            v->top_class = k;
        }
    v->accuracy = labels ? 100.0 * (double)right / (double)n : NAN;
    return CLI_OK;
}

/* n random samples of h x w in batches (seeds as spcnn sample), with progress. */
static spcnn_status make_samples(spcnn_model *model, gen_progress *p, double *done,
                                 double share, size_t n, size_t h, size_t w, uint64_t seed,
                                 uint8_t *out)
{
    spcnn_status st = SPCNN_OK;
    for (size_t first = 0, b = 0; first < n && st == SPCNN_OK; first += GEN_BATCH, b++) {
        size_t count = n - first < GEN_BATCH ? n - first : GEN_BATCH;
        gen_progress_part(p, *done, share * (double)count / (double)n);
        *done += share * (double)count / (double)n;
        st = spcnn_model_generate_images(model, count, NULL, h, w, gen_batch_seed(seed, b),
                                         out + first * h * w, count * h * w);
    }
    return st;
}

/* The reconstructions of n images of the data set at h x w: z from the encoder, then
 * generated in batches with seed. */
static spcnn_status make_recon(spcnn_model *model, gen_progress *p, double *done, double share,
                               const float *z, size_t latent, size_t n, size_t h, size_t w,
                               uint64_t seed, uint8_t *out)
{
    spcnn_status st = SPCNN_OK;
    for (size_t first = 0, b = 0; first < n && st == SPCNN_OK; first += GEN_BATCH, b++) {
        size_t count = n - first < GEN_BATCH ? n - first : GEN_BATCH;
        gen_progress_part(p, *done, share * (double)count / (double)n);
        *done += share * (double)count / (double)n;
        st = spcnn_model_generate_images(model, count, z + first * latent, h, w,
                                         gen_batch_seed(seed, b), out + first * h * w,
                                         count * h * w);
    }
    return st;
}

/* v with the given decimals right-aligned in width, or "-" when it was not measured. */
static void print_number(double v, int decimals, int width)
{
    if (isnan(v))
        printf("%*s", width, "-");
    else
        printf("%*.*f", width, decimals, v);
}

static void print_table(const score_args *a, const gen_settings *g, const score_row *rows,
                        size_t n_rows, size_t classes, double seconds)
{
    printf("model %s, data %s, classifier %s\n", g->model, a->data, a->classifier);
    printf("%zu samples per size (seed %llu), %zu reconstructions, bits/dim over %zu %s "
           "images\n",
           rows[0].n_samples, (unsigned long long)g->seed, rows[0].n_recon, rows[0].n_bpd,
           a->split);
    if (a->prior_components > 0)
        printf("z of the samples: the model's prior, a mixture of %.0f Gaussians\n\n",
               a->prior_components);
    else
        printf("z of the samples: N(0, I)\n\n");
    printf("%-12s %17s %14s %11s %17s %9s %9s %8s\n", "size", "LeNet conf. (%)",
           "top class", "recon acc.", "MS-SSIM", "bpd patch", "bpd image", "time s");
    for (size_t r = 0; r < n_rows; r++) {
        const score_row *x = &rows[r];
        char conf[32], top[32], ms[32];
        snprintf(conf, sizeof conf, "%.1f ± %.1f", x->samples.confidence_mean,
                 x->samples.confidence_std);
        snprintf(top, sizeof top, "%.1f %% (%zu)",
                 100.0 * (double)x->samples.top_count / (double)x->n_samples,
                 x->samples.top_class);
        if (isnan(x->msssim_mean))
            snprintf(ms, sizeof ms, "- "); /* padded like the two-byte "±" of the others */
        else
            snprintf(ms, sizeof ms, "%.3f ± %.3f", x->msssim_mean, x->msssim_std);
        /* "±" is two bytes: widen the fields that hold it. */
        printf("%-12s %18s %14s ", x->name, conf, top);
        print_number(x->recon.accuracy, 1, 11);
        printf(" %18s ", ms);
        print_number(x->bpd_patches, 4, 9);
        printf(" ");
        print_number(x->bpd_image, 4, 9);
        printf(" %8.1f\n", x->seconds);
    }
    printf("\npredicted classes of the samples (count per class):\n");
    for (size_t r = 0; r < n_rows; r++) {
        printf("%-12s", rows[r].name);
        for (size_t k = 0; k < classes; k++)
            printf(" %zu:%zu", k, rows[r].samples.histogram[k]);
        printf("\n");
    }
    printf("\ntime: %.1f s\n", seconds);
}

/* A JSON string: quotes, backslashes and control characters escaped (paths may hold them). */
static void json_string(const char *text)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

static void json_number(const char *key, double v, int last)
{
    if (isnan(v))
        printf("\"%s\": null%s", key, last ? "" : ", ");
    else
        printf("\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

static void print_json(const score_args *a, const gen_settings *g, const score_row *rows,
                       size_t n_rows, size_t classes, double seconds)
{
    printf("{\"model\": ");
    json_string(g->model);
    printf(", \"data\": ");
    json_string(a->data);
    printf(", \"split\": \"%s\", \"classifier\": ", a->split);
    json_string(a->classifier);
    printf(", \"seed\": %llu, \"prior_components\": %.0f, ", (unsigned long long)g->seed,
           a->prior_components);
    printf("\"seconds\": %.3f, \"rows\": [", seconds);
    for (size_t r = 0; r < n_rows; r++) {
        const score_row *x = &rows[r];
        printf("%s\n  {\"name\": \"%s\", \"samples\": %zu, \"reconstructions\": %zu, "
               "\"bpd_images\": %zu, ",
               r ? "," : "", x->name, x->n_samples, x->n_recon, x->n_bpd);
        json_number("confidence_mean", x->samples.confidence_mean, 0);
        json_number("confidence_std", x->samples.confidence_std, 0);
        json_number("top_class_share",
                    100.0 * (double)x->samples.top_count / (double)x->n_samples, 0);
        printf("\"histogram\": [");
        for (size_t k = 0; k < classes; k++)
            printf("%s%zu", k ? ", " : "", x->samples.histogram[k]);
        printf("], ");
        json_number("recon_accuracy", x->recon.accuracy, 0);
        json_number("msssim_mean", x->msssim_mean, 0);
        json_number("msssim_std", x->msssim_std, 0);
        json_number("bpd_patches", x->bpd_patches, 0);
        json_number("bpd_image", x->bpd_image, 0);
        json_number("seconds", x->seconds, 1);
        printf("}");
    }
    printf("\n]}\n");
}

int cli_score(int argc, char **argv)
{
    const char *cmd = "score";
    gen_settings g;
    gen_settings_init(&g);
    score_args a = {NULL, NULL, NULL, "test", 500, 500, 500, 0, 0};
    int rc = gen_parse_args(cmd, argc, argv, &g, score_flag, &a, score_usage);
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    if (!g.model || !a.data || !a.classifier) {
        fprintf(stderr, "spcnn score: --model, --data and --classifier are required\n");
        score_usage(stderr);
        return CLI_USAGE;
    }

    scorer s = {cmd, NULL, 0, 0, 0, NULL, NULL};
    cli_dataset ds;
    memset(&ds, 0, sizeof ds);
    spcnn_model *model = NULL;
    uint8_t *images = NULL;
    float *z = NULL;
    score_row rows[MAX_SIZES + 1];
    memset(rows, 0, sizeof rows);
    size_t sh[MAX_SIZES], sw[MAX_SIZES], ns = 0;
    spcnn_status st = spcnn_classifier_load(a.classifier, &s.classifier);
    if (st != SPCNN_OK) {
        rc = cli_fail(cmd, a.classifier, st);
        goto done;
    }
    if (g.threads > 0)
        spcnn_classifier_set_threads(s.classifier, (int)g.threads);
    spcnn_classifier_shape(s.classifier, &s.ch, &s.cw, &s.classes);
    const int validation = strcmp(a.split, "validation") == 0;
    if (!(model = gen_open_model(cmd, &g)) || !cli_dataset_load(a.data, validation, &ds)) {
        rc = CLI_FAILED;
        goto done;
    }
    spcnn_model_stat(model, SPCNN_STAT_PRIOR_COMPONENTS, &a.prior_components);
    if (validation) {
        size_t n_valid = cli_default_validation(ds.n_train);
        if (n_valid == 0 || !cli_dataset_hold_out(&ds, n_valid)) {
            if (n_valid == 0)
                fprintf(stderr, "spcnn score: %s: too few training images for a validation "
                                "set\n",
                        a.data);
            rc = CLI_FAILED;
            goto done;
        }
    }
    /* The real images: the test set, or the validation set in its place. */
    const scored_set set = {validation ? ds.valid : ds.test,
                            validation ? ds.valid_labels : ds.test_labels,
                            validation ? ds.n_valid : ds.n_test,
                            validation ? ds.train_h : ds.test_h,
                            validation ? ds.train_w : ds.test_w,
                            validation ? "validation" : "test"};
    const double image_size = gen_model_value(cmd, model, SPCNN_CFG_IMAGE_SIZE);
    const double latent = gen_model_value(cmd, model, SPCNN_CFG_LATENT_SIZE);
    const double use_latent = gen_model_value(cmd, model, SPCNN_CFG_USE_LATENT);
    if (image_size < 0 || latent < 0 || use_latent < 0) {
        rc = CLI_FAILED;
        goto done;
    }
    if (a.sizes) {
        if (!gen_parse_sizes(cmd, a.sizes, sh, sw, MAX_SIZES, &ns)) {
            rc = CLI_USAGE;
            goto done;
        }
    } else {
        sh[0] = sw[0] = (size_t)image_size;
        sh[1] = sw[1] = 2 * (size_t)image_size;
        ns = 2;
    }
    const size_t n_samples = (size_t)a.samples;
    size_t n_recon = (size_t)a.recon < set.n ? (size_t)a.recon : set.n;
    size_t n_bpd = (size_t)a.bpd_images < set.n ? (size_t)a.bpd_images : set.n;
    if (set.n < n_samples) {
        fprintf(stderr, "spcnn score: %s has %zu %s images, fewer than --samples %zu (the "
                        "real row scores that many)\n",
                a.data, set.n, set.name, n_samples);
        rc = CLI_FAILED;
        goto done;
    }
    if (n_recon && !set.labels) {
        fprintf(stderr, "spcnn score: %s has no %s labels (%s): reconstruction accuracy is "
                        "not measured\n",
                a.data, set.name,
                validation ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
        n_recon = 0;
    }
    if (n_recon && use_latent == 0) {
        fprintf(stderr, "spcnn score: the model has no latent code: reconstructions are not "
                        "measured\n");
        n_recon = 0;
    }
    int native_listed = 0; /* bits/dim are measured at the images' own size only */
    for (size_t j = 0; j < ns; j++)
        native_listed |= sh[j] == set.h && sw[j] == set.w;
    if (!native_listed)
        n_bpd = 0;
    if (set.h < 8 || set.w < 8) {
        fprintf(stderr, "spcnn score: %s: %s images of %zu x %zu are too small\n", a.data,
                set.name, set.h, set.w);
        rc = CLI_FAILED;
        goto done;
    }

    /* Buffers: the largest set of images of any size, the z of the reconstructions, one batch
     * at the classifier's size and its probabilities. */
    size_t most = n_samples > n_recon ? n_samples : n_recon, bytes = 0, largest = 0;
    for (size_t j = 0; j < ns; j++)
        largest = sh[j] * sw[j] > largest ? sh[j] * sw[j] : largest;
    largest = set.h * set.w > largest ? set.h * set.w : largest;
    if (!gen_pixels(cmd, most, largest, 1, &bytes) || !(images = malloc(bytes)) ||
        !(z = malloc((n_recon ? n_recon : 1) * (size_t)latent * sizeof *z + 1)) ||
        !(s.resized = malloc((size_t)GEN_BATCH * s.ch * s.cw)) ||
        !(s.probs = malloc((size_t)GEN_BATCH * s.classes * sizeof *s.probs))) {
        fprintf(stderr, "spcnn score: out of memory\n");
        rc = CLI_FAILED;
        goto done;
    }

    /* Progress shares: generation costs about the pixel count; the evaluation of an image
     * about as much as generating it at its size. */
    double total = (double)n_samples * (double)(set.h * set.w);
    for (size_t j = 0; j < ns; j++) {
        total += (double)(n_samples + n_recon) * (double)(sh[j] * sw[j]);
        if (sh[j] == set.h && sw[j] == set.w)
            total += (double)n_bpd * (double)(sh[j] * sw[j]);
    }
    gen_progress progress;
    gen_progress_start(&progress, model, "scoring");
    double done = 0;
    const double t0 = cli_now();

    /* The ceiling: the real test images, scored as the samples are. */
    score_row *real = &rows[0];
    snprintf(real->name, sizeof real->name, "%s %zux%zu", validation ? "valid" : "real", set.h,
             set.w);
    real->n_samples = n_samples;
    real->n_recon = n_recon;
    real->n_bpd = n_bpd;
    if ((rc = classify(&s, set.images, set.labels, n_samples, set.h, set.w,
                       &real->samples)) != CLI_OK)
        goto stop;
    if (n_recon && (rc = classify(&s, set.images, set.labels, n_recon, set.h, set.w,
                                  &real->recon)) != CLI_OK)
        goto stop;
    if (!n_recon)
        real->recon.accuracy = NAN;
    real->msssim_mean = real->msssim_std = NAN; /* MS-SSIM needs 16 x 16 or more */
    if (set.h >= 16 && set.w >= 16)
        st = spcnn_msssim_pairs(set.images, n_samples, set.h, set.w,
                                g.threads > 0 ? (int)g.threads : 1, &real->msssim_mean,
                                &real->msssim_std);
    if (st != SPCNN_OK) {
        rc = cli_fail(cmd, "MS-SSIM of the test images", st);
        goto stop;
    }
    real->bpd_patches = real->bpd_image = NAN;
    real->seconds = cli_now() - t0;

    /* z of the images to reconstruct, once for every size. */
    for (size_t i = 0; i < n_recon && st == SPCNN_OK; i++)
        st = spcnn_model_encode(model, set.images + i * set.h * set.w, set.h,
                                set.w, z + i * (size_t)latent, (size_t)latent);
    if (st != SPCNN_OK) {
        rc = gen_failed(cmd, "encoding the test images", st);
        goto stop;
    }

    for (size_t j = 0; j < ns; j++) {
        score_row *x = &rows[j + 1];
        const double tj = cli_now();
        const size_t h = sh[j], w = sw[j];
        snprintf(x->name, sizeof x->name, "%zux%zu", h, w);
        x->n_samples = n_samples;
        x->n_recon = n_recon;
        st = make_samples(model, &progress, &done,
                          (double)n_samples * (double)(h * w) / total, n_samples, h, w,
                          g.seed, images);
        if (st != SPCNN_OK) {
            rc = gen_failed(cmd, "sampling", st);
            goto stop;
        }
        if ((rc = classify(&s, images, NULL, n_samples, h, w, &x->samples)) != CLI_OK)
            goto stop;
        if (h >= 16 && w >= 16)
            st = spcnn_msssim_pairs(images, n_samples, h, w, g.threads > 0 ? (int)g.threads : 1,
                                    &x->msssim_mean, &x->msssim_std);
        else
            x->msssim_mean = x->msssim_std = NAN;
        if (st != SPCNN_OK) {
            rc = cli_fail(cmd, "MS-SSIM of the samples", st);
            goto stop;
        }
        x->recon.accuracy = NAN;
        if (n_recon) {
            st = make_recon(model, &progress, &done, (double)n_recon * (double)(h * w) / total,
                            z, (size_t)latent, n_recon, h, w, g.seed + 1, images);
            if (st != SPCNN_OK) {
                rc = gen_failed(cmd, "reconstructing", st);
                goto stop;
            }
            verdict v;
            if ((rc = classify(&s, images, set.labels, n_recon, h, w, &v)) != CLI_OK)
                goto stop;
            x->recon.accuracy = v.accuracy;
        }
        x->bpd_patches = x->bpd_image = NAN;
        if (n_bpd && h == set.h && w == set.w) {
            gen_progress_part(&progress, done, (double)n_bpd * (double)(h * w) / total);
            done += (double)n_bpd * (double)(h * w) / total;
            st = spcnn_model_evaluate(model, set.images, n_bpd, h, w, &x->bpd_patches,
                                      &x->bpd_image, NULL);
            if (st != SPCNN_OK) {
                rc = gen_failed(cmd, "evaluating bits/dim", st);
                goto stop;
            }
            x->n_bpd = n_bpd;
        }
        x->seconds = cli_now() - tj;
    }
    gen_progress_end(&progress);
    if (a.json)
        print_json(&a, &g, rows, ns + 1, s.classes, cli_now() - t0);
    else
        print_table(&a, &g, rows, ns + 1, s.classes, cli_now() - t0);
    goto done;
stop:
    gen_progress_end(&progress);
done:
    free(images);
    free(z);
    free(s.resized);
    free(s.probs);
    spcnn_classifier_destroy(s.classifier);
    spcnn_model_destroy(model);
    cli_dataset_free(&ds);
    return rc;
}
