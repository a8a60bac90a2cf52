/* Data sets for spcnn: an IDX pair (scripts/get-data.sh) or a folder of PNG images. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define TRAIN_IDX "train-images-idx3-ubyte"
#define TEST_IDX "t10k-images-idx3-ubyte"
#define TRAIN_LABELS "train-labels-idx1-ubyte"
#define TEST_LABELS "t10k-labels-idx1-ubyte"

char *cli_join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cli_read_idx(const char *cmd, const char *path, uint8_t **out, size_t *n, size_t *h,
                 size_t *w)
{
    *out = NULL;
    spcnn_status st = spcnn_idx_read(path, NULL, 0, n, h, w);
    const char *why = st == SPCNN_OK ? NULL : spcnn_last_error_message();
    size_t bytes = why ? 0 : *n * *h * *w;
    if (!why && (*out = malloc(bytes ? bytes : 1)) == NULL)
        why = "out of memory";
    if (!why && spcnn_idx_read(path, *out, bytes, n, h, w) != SPCNN_OK)
        why = spcnn_last_error_message();
    if (why) {
        fprintf(stderr, "spcnn%s%s: %s: %s\n", cmd ? " " : "", cmd ? cmd : "", path, why);
        free(*out);
        *out = NULL;
    }
    return !why;
}

/* Read a whole IDX file of images into a new buffer. */
static int read_images(const char *path, uint8_t **out, size_t *n, size_t *h, size_t *w)
{
    if (!cli_read_idx(NULL, path, out, n, h, w))
        return 0;
    if (*h < 2 || *w < 2) {
        fprintf(stderr, "spcnn: %s: not a file of images (%zu x %zu x %zu)\n", path, *n, *h, *w);
        free(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

/* The labels file name of DIR, if DIR has it: one byte per image of a set of count images,
 * into *labels. */
static int read_labels(const char *dir, const char *name, size_t count, uint8_t **labels)
{
    char *path = cli_join_path(dir, name);
    if (!path || !file_exists(path)) {
        free(path);
        return 1; /* unlabelled data: commands that need labels say so */
    }
    size_t n = 0, h = 0, w = 0;
    spcnn_status st = spcnn_idx_read(path, NULL, 0, &n, &h, &w);
    int ok = st == SPCNN_OK && h == 1 && w == 1 && n == count;
    if (ok) {
        *labels = malloc(n ? n : 1);
        st = *labels ? spcnn_idx_read(path, *labels, n, &n, &h, &w) : SPCNN_ERR_OUT_OF_MEMORY;
        ok = st == SPCNN_OK;
    }
    if (!ok) {
        if (st != SPCNN_OK)
            fprintf(stderr, "spcnn: %s: %s\n", path, spcnn_last_error_message());
        else
            fprintf(stderr, "spcnn: %s: %zu labels of %zu x %zu, for %zu images\n", path, n,
                    h, w, count);
    }
    free(path);
    return ok;
}

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (strcmp(name + n - 4, ".png") == 0 || strcmp(name + n - 4, ".PNG") == 0);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.png of dir, sorted by name so that the split and the data order are reproducible. */
static int load_png_folder(const char *dir, int want_train, cli_dataset *ds)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "spcnn: %s: %s\n", dir, strerror(errno));
        return 0;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    int ok = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_png_suffix(e->d_name))
            continue;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 256;
            char **grown = realloc(names, ncap * sizeof *names);
            if (!grown) {
                ok = 0;
                break;
            }
            names = grown;
            cap = ncap;
        }
        names[count] = strdup(e->d_name);
        if (!names[count]) {
            ok = 0;
            break;
        }
        count++;
    }
    closedir(d);
    uint8_t *pixels = NULL;
    size_t h = 0, w = 0;
    if (!ok) {
        fprintf(stderr, "spcnn: %s: out of memory listing the folder\n", dir);
        goto done;
    }
    if (count < 2) {
        fprintf(stderr,
                "spcnn: %s: neither %s and %s nor at least 2 *.png images (found %zu)\n", dir,
                TRAIN_IDX, TEST_IDX, count);
        ok = 0;
        goto done;
    }
    qsort(names, count, sizeof *names, compare_names);
    size_t n_test = count / 10 ? count / 10 : 1;
    size_t first = want_train ? 0 : count - n_test;
    for (size_t i = first; i < count && ok; i++) {
        char *path = cli_join_path(dir, names[i]);
        size_t ih, iw;
        spcnn_status st = path ? spcnn_png_read(path, NULL, 0, &ih, &iw) : SPCNN_ERR_OUT_OF_MEMORY;
        if (st != SPCNN_OK) {
            fprintf(stderr, "spcnn: %s: %s\n", path ? path : names[i], spcnn_last_error_message());
            ok = 0;
        } else if (i == first) {
            h = ih;
            w = iw;
            pixels = malloc((count - first) * h * w);
            if (!pixels) {
                fprintf(stderr, "spcnn: %s: out of memory for %zu images\n", dir, count);
                ok = 0;
            }
        } else if (ih != h || iw != w) {
            /* The first version trains on one size: crops of mixed sizes would need a batch
             * per size. */
            fprintf(stderr,
                    "spcnn: %s: is %zu x %zu but %s is %zu x %zu; all images of a PNG folder "
                    "must have the same size\n",
                    path, ih, iw, names[first], h, w);
            ok = 0;
        }
        if (ok) {
            st = spcnn_png_read(path, pixels + (i - first) * h * w, h * w, &ih, &iw);
            if (st != SPCNN_OK) {
                fprintf(stderr, "spcnn: %s: %s\n", path, spcnn_last_error_message());
                ok = 0;
            }
        }
        free(path);
    }
    if (!ok) {
        free(pixels);
        goto done;
    }
    size_t n_train = want_train ? count - n_test : 0;
    ds->kind = "PNG folder";
    ds->n_test = n_test;
    ds->test_h = ds->train_h = h;
    ds->test_w = ds->train_w = w;
    ds->test = malloc(n_test * h * w);
    if (!ds->test) {
        fprintf(stderr, "spcnn: %s: out of memory\n", dir);
        free(pixels);
        ok = 0;
        goto done;
    }
    memcpy(ds->test, pixels + n_train * h * w, n_test * h * w);
    if (want_train) {
        ds->train = pixels; /* the test images at its end are simply never used */
        ds->n_train = n_train;
    } else {
        free(pixels);
    }
done:
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return ok;
}

/* Shuffle a set of images once, with a fixed seed: image files are often sorted (a folder of
 * PNGs by name, some MNIST copies by digit), and `--limit N` / `--eval-images N` take the
 * first N, which must be a fair sample of every class. */
static void shuffle_images(uint8_t *images, uint8_t *labels, size_t n, size_t size)
{
    uint8_t *tmp = malloc(size ? size : 1);
    if (!tmp)
        return; /* keeping the file order is still correct, only less representative */
    uint64_t state = 0x5eed5eed5eedull;
    for (size_t i = n; i > 1; i--) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((state >> 33) % i);
        memcpy(tmp, images + (i - 1) * size, size);
        memcpy(images + (i - 1) * size, images + j * size, size);
        memcpy(images + j * size, tmp, size);
        if (labels) {
            uint8_t t = labels[i - 1];
            labels[i - 1] = labels[j];
            labels[j] = t;
        }
    }
    free(tmp);
}

size_t cli_default_validation(size_t n_train)
{
    const size_t usual = 5000;
    if (n_train < 2)
        return 0;
    if (n_train / 10 < 1)
        return 1;
    return n_train / 10 < usual ? n_train / 10 : usual;
}

int cli_dataset_hold_out(cli_dataset *ds, size_t n)
{
    const size_t size = ds->train_h * ds->train_w;
    if (n == 0)
        return 1;
    if (n >= ds->n_train) {
        fprintf(stderr, "spcnn: cannot hold out %zu validation images of %zu training images\n",
                n, ds->n_train);
        return 0;
    }
    ds->valid = malloc(n * size);
    if (ds->train_labels)
        ds->valid_labels = malloc(n);
    if (!ds->valid || (ds->train_labels && !ds->valid_labels)) {
        fprintf(stderr, "spcnn: out of memory for %zu validation images\n", n);
        return 0;
    }
    ds->n_train -= n;
    memcpy(ds->valid, ds->train + ds->n_train * size, n * size);
    if (ds->valid_labels)
        memcpy(ds->valid_labels, ds->train_labels + ds->n_train, n);
    ds->n_valid = n;
    shuffle_images(ds->valid, ds->valid_labels, n, size);
    return 1;
}

int cli_dataset_load(const char *dir, int want_train, cli_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "spcnn: %s: not a folder (want the IDX files of scripts/get-data.sh, "
                        "e.g. data/mnist, or a folder of PNG images)\n",
                dir);
        return 0;
    }
    char *train_path = cli_join_path(dir, TRAIN_IDX), *test_path = cli_join_path(dir, TEST_IDX);
    int ok = 1;
    if (!train_path || !test_path) {
        fprintf(stderr, "spcnn: out of memory\n");
        ok = 0;
    } else if (file_exists(test_path) && (!want_train || file_exists(train_path))) {
        ds->kind = "IDX";
        ok = read_images(test_path, &ds->test, &ds->n_test, &ds->test_h, &ds->test_w) &&
             (!want_train ||
              read_images(train_path, &ds->train, &ds->n_train, &ds->train_h, &ds->train_w)) &&
             read_labels(dir, TEST_LABELS, ds->n_test, &ds->test_labels) &&
             (!want_train || read_labels(dir, TRAIN_LABELS, ds->n_train, &ds->train_labels));
    } else {
        ok = load_png_folder(dir, want_train, ds);
    }
    free(train_path);
    free(test_path);
    if (!ok)
        cli_dataset_free(ds);
    else
        shuffle_images(ds->test, ds->test_labels, ds->n_test, ds->test_h * ds->test_w);
    return ok;
}

void cli_dataset_free(cli_dataset *ds)
{
    free(ds->train);
    free(ds->test);
    free(ds->valid);
    free(ds->test_labels);
    free(ds->train_labels);
    free(ds->valid_labels);
    memset(ds, 0, sizeof *ds);
}
