/* Data sets for spcnn: an IDX pair (scripts/get-data.sh) or a folder of PNG images
 * (folder.c), split by a hash of each file's path. */
#define _POSIX_C_SOURCE 200809L

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

static int compare_key_asc(const void *a, const void *b)
{
    const cli_folder_image *x = *(cli_folder_image *const *)a, *y = *(cli_folder_image *const *)b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->path, y->path);
}

static int compare_key_desc(const void *a, const void *b)
{
    return compare_key_asc(b, a);
}

/* Decode a set of one size into a new buffer; 0 after printing why. */
static int decode_set(const char *cmd, const cli_dataset *ds, cli_folder_image **set, size_t n,
                      uint8_t **out, size_t *h, size_t *w)
{
    *out = NULL;
    if (n == 0)
        return 1;
    *h = set[0]->h;
    *w = set[0]->w;
    for (size_t i = 1; i < n; i++)
        if (set[i]->h != *h || set[i]->w != *w) {
            fprintf(stderr,
                    "spcnn%s%s: %s/%s is %zu x %zu but %s/%s is %zu x %zu: this command needs "
                    "images of one size (spcnn train and spcnn eval take mixed sizes)\n",
                    cmd ? " " : "", cmd ? cmd : "", ds->folder.root, set[i]->path, set[i]->h,
                    set[i]->w, ds->folder.root, set[0]->path, *h, *w);
            return 0;
        }
    if (n > SIZE_MAX / *h / *w || !(*out = malloc(n * *h * *w))) {
        fprintf(stderr, "spcnn%s%s: %s: out of memory for %zu images of %zu x %zu\n",
                cmd ? " " : "", cmd ? cmd : "", ds->folder.root, n, *h, *w);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!cli_folder_read(cmd, &ds->folder, set[i], *out + i * *h * *w, 0)) {
            free(*out);
            *out = NULL;
            return 0;
        }
    return 1;
}

/* Every *.png under dir, split by the key of its relative path: key % 10 == 0 the test set,
 * the rest the training set (from which cli_dataset_hold_out takes the validation set). */
static int load_png_folder(const char *cmd, const char *dir, int want_train, int flags,
                           cli_dataset *ds)
{
    if (!cli_folder_index(cmd, dir, (flags & CLI_DATA_SKIP_BAD) != 0, &ds->folder))
        return 0;
    const cli_folder *f = &ds->folder;
    if (f->count == 0) {
        fprintf(stderr, "spcnn%s%s: %s: neither %s and %s nor any *.png image (searched "
                        "recursively)\n",
                cmd ? " " : "", cmd ? cmd : "", dir, TRAIN_IDX, TEST_IDX);
        return 0;
    }
    size_t n_test = 0;
    for (size_t i = 0; i < f->count; i++)
        n_test += f->items[i].key % 10 == 0;
    ds->n_test = n_test;
    ds->n_train = f->count - n_test;
    ds->test_refs = malloc((n_test ? n_test : 1) * sizeof *ds->test_refs);
    ds->train_refs = malloc((ds->n_train ? ds->n_train : 1) * sizeof *ds->train_refs);
    if (!ds->test_refs || !ds->train_refs) {
        fprintf(stderr, "spcnn%s%s: %s: out of memory\n", cmd ? " " : "", cmd ? cmd : "", dir);
        return 0;
    }
    size_t t = 0, r = 0;
    for (size_t i = 0; i < f->count; i++) {
        if (f->items[i].key % 10 == 0)
            ds->test_refs[t++] = &f->items[i];
        else
            ds->train_refs[r++] = &f->items[i];
    }
    qsort(ds->test_refs, n_test, sizeof *ds->test_refs, compare_key_asc);
    qsort(ds->train_refs, ds->n_train, sizeof *ds->train_refs, compare_key_desc);
    ds->kind = "PNG folder";
    if (!want_train && n_test == 0) {
        fprintf(stderr, "spcnn%s%s: %s: none of its %zu images is in the test set (the images "
                        "whose path has a key divisible by 10: about a tenth of them)\n",
                cmd ? " " : "", cmd ? cmd : "", dir, f->count);
        return 0;
    }
    if (flags & CLI_DATA_STREAM) {
        ds->streamed = 1;
        return 1;
    }
    return decode_set(cmd, ds, ds->test_refs, n_test, &ds->test, &ds->test_h, &ds->test_w) &&
           (!want_train || decode_set(cmd, ds, ds->train_refs, ds->n_train, &ds->train,
                                      &ds->train_h, &ds->train_w));
}

int cli_dataset_drop_small(const char *cmd, cli_dataset *ds, size_t m, int skip)
{
    if (!ds->folder.root)
        return 1;
    cli_folder_image **sets[3] = {ds->train_refs, ds->valid_refs, ds->test_refs};
    size_t *counts[3] = {&ds->n_train, &ds->n_valid, &ds->n_test}, dropped = 0;
    for (int k = 0; k < 3; k++) {
        size_t kept = 0;
        for (size_t i = 0; sets[k] && i < *counts[k]; i++) {
            cli_folder_image *im = sets[k][i];
            if (im->h >= m && im->w >= m) {
                sets[k][kept++] = im;
                continue;
            }
            if (!skip) {
                fprintf(stderr, "spcnn %s: %s/%s is %zu x %zu, smaller than the %zu x %zu "
                                "window (--skip-bad skips such images)\n",
                        cmd, ds->folder.root, im->path, im->h, im->w, m, m);
                return 0;
            }
            dropped++;
        }
        *counts[k] = kept;
    }
    if (dropped)
        fprintf(stderr, "spcnn %s: warning: skipped %zu image%s smaller than the %zu x %zu "
                        "window\n", cmd, dropped, dropped == 1 ? "" : "s", m, m);
    return 1;
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
    if (ds->train_refs) { /* a PNG folder: the n training images of smallest key */
        if (!(ds->valid_refs = malloc(n * sizeof *ds->valid_refs))) {
            fprintf(stderr, "spcnn: out of memory for %zu validation images\n", n);
            return 0;
        }
        for (size_t i = 0; i < n; i++) /* ascending key */
            ds->valid_refs[i] = ds->train_refs[ds->n_train - 1 - i];
        if (ds->streamed) {
            ds->n_train -= n;
            ds->n_valid = n;
            return 1;
        }
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
    return cli_dataset_load_with(NULL, dir, want_train, 0, ds);
}

int cli_dataset_load_with(const char *cmd, const char *dir, int want_train, int flags,
                          cli_dataset *ds)
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
        ok = load_png_folder(cmd, dir, want_train, flags, ds);
    }
    free(train_path);
    free(test_path);
    if (!ok)
        cli_dataset_free(ds);
    else if (!ds->folder.root) /* a folder's test set is in key order: already mixed */
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
    free(ds->train_refs);
    free(ds->valid_refs);
    free(ds->test_refs);
    cli_folder_free(&ds->folder);
    memset(ds, 0, sizeof *ds);
}
