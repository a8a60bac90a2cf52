/* A folder of PNG images as spcnn reads it: every *.png under it (recursively), indexed from
 * the PNG headers alone (path, size, colour), split into sets by a hash of the path, decoded
 * one image at a time when used, so a folder larger than memory works. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* "spcnn CMD: " or, without a command, "spcnn: ". */
#define CMD(c) (c) ? " " : "", (c) ? (c) : ""

/* FNV-1a (64 bits) of the path, then splitmix64's finaliser so that every bit depends on every
 * byte: the split uses key % 10. */
uint64_t cli_path_key(const char *rel)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3u;
    }
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
    return h ^ (h >> 31);
}

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (strcmp(name + n - 4, ".png") == 0 || strcmp(name + n - 4, ".PNG") == 0);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The size and colour type of a PNG file from its signature and IHDR chunk (cli.h). */
const char *cli_png_header(const char *path, size_t *h, size_t *w, int *colour)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char b[29];
    FILE *f = fopen(path, "rb");
    if (!f)
        return strerror(errno);
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    if (got < 8 || memcmp(b, sig, 8) != 0)
        return "not a PNG file (no PNG signature)";
    if (got < sizeof b)
        return "truncated PNG file (no complete IHDR header)";
    if (be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
        return "corrupt PNG file (the first chunk is not a 13-byte IHDR)";
    uint32_t width = be32(b + 16), height = be32(b + 20);
    unsigned depth = b[24], type = b[25];
    if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu)
        return "corrupt PNG file (a width or height of 0 or above 2^31-1)";
    int ok_depth = type == 0 ? depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
                   : type == 3 ? depth == 1 || depth == 2 || depth == 4 || depth == 8
                   : type == 2 || type == 4 || type == 6 ? depth == 8 || depth == 16
                                                          : 0;
    if (!ok_depth)
        return "corrupt PNG file (an invalid bit depth or colour type)";
    *h = height;
    *w = width;
    *colour = type == 2 || type == 3 || type == 6; /* palette may be gray: counted as colour */
    return NULL;
}

typedef struct lister {
    const char *cmd, *root;
    int skip_bad;
    cli_folder *f;
    size_t cap;
    size_t bad;
    char *first_bad; /* "path: why" of the first skipped file */
    int failed;
} lister;

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_image(lister *l, char *rel, size_t h, size_t w, int colour)
{
    cli_folder *f = l->f;
    if (f->count == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 256;
        cli_folder_image *grown = realloc(f->items, ncap * sizeof *grown);
        if (!grown)
            return 0;
        f->items = grown;
        l->cap = ncap;
    }
    cli_folder_image *im = &f->items[f->count++];
    im->path = rel;
    im->key = cli_path_key(rel);
    im->h = h;
    im->w = w;
    im->colour = colour;
    return 1;
}

/* List the folder rel (relative to the root; "" the root itself), its entries in name order. */
static void list_dir(lister *l, const char *rel)
{
    char *dir = *rel ? cli_join_path(l->root, rel) : strdup(l->root);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        fprintf(stderr, "spcnn%s%s: %s: %s\n", CMD(l->cmd), dir ? dir : l->root,
                dir ? strerror(errno) : "out of memory");
        free(dir);
        l->failed = 1;
        return;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !l->failed) {
        if (e->d_name[0] == '.') /* ., .. and hidden files and folders */
            continue;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **grown = realloc(names, ncap * sizeof *names);
            if (!grown) {
                l->failed = 1;
                break;
            }
            names = grown;
            cap = ncap;
        }
        if (!(names[count] = strdup(e->d_name)))
            l->failed = 1;
        else
            count++;
    }
    closedir(d);
    if (l->failed)
        fprintf(stderr, "spcnn%s%s: %s: out of memory listing the folder\n", CMD(l->cmd), dir);
    qsort(names, count, sizeof *names, compare_strings);
    for (size_t i = 0; i < count && !l->failed; i++) {
        char *sub = *rel ? cli_join_path(rel, names[i]) : strdup(names[i]);
        char *path = sub ? cli_join_path(l->root, sub) : NULL;
        struct stat st, lst;
        if (!sub || !path) {
            fprintf(stderr, "spcnn%s%s: out of memory listing %s\n", CMD(l->cmd), dir);
            l->failed = 1;
        } else if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode)) {
            list_dir(l, sub); /* a real folder; links to folders are not followed (no loops) */
        } else if (has_png_suffix(names[i]) && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t h = 0, w = 0;
            int colour = 0;
            const char *why = cli_png_header(path, &h, &w, &colour);
            if (why && !l->skip_bad) {
                fprintf(stderr, "spcnn%s%s: %s: %s (--skip-bad skips such files)\n", CMD(l->cmd),
                        path, why);
                l->failed = 1;
            } else if (why) {
                if (l->bad++ == 0) {
                    size_t len = strlen(path) + strlen(why) + 3;
                    if ((l->first_bad = malloc(len)))
                        snprintf(l->first_bad, len, "%s: %s", path, why);
                }
            } else if (add_image(l, sub, h, w, colour)) {
                sub = NULL; /* the index owns it */
            } else {
                fprintf(stderr, "spcnn%s%s: out of memory listing %s\n", CMD(l->cmd), dir);
                l->failed = 1;
            }
        }
        free(sub);
        free(path);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    free(dir);
}

int cli_folder_index(const char *cmd, const char *dir, int skip_bad, cli_folder *f)
{
    memset(f, 0, sizeof *f);
    lister l = {cmd, dir, skip_bad, f, 0, 0, NULL, 0};
    if (!(f->root = strdup(dir))) {
        fprintf(stderr, "spcnn%s%s: out of memory\n", CMD(cmd));
        return 0;
    }
    list_dir(&l, "");
    if (!l.failed && l.bad)
        fprintf(stderr, "spcnn%s%s: warning: skipped %zu %s (the first: %s)\n", CMD(cmd), l.bad,
                l.bad == 1 ? "file that is not a usable PNG image"
                           : "files that are not usable PNG images",
                l.first_bad ? l.first_bad : "?");
    f->skipped = l.bad;
    free(l.first_bad);
    if (l.failed) {
        cli_folder_free(f);
        return 0;
    }
    size_t colour = 0;
    for (size_t i = 0; i < f->count; i++)
        colour += f->items[i].colour;
    if (colour)
        fprintf(stderr,
                "spcnn%s%s: warning: %zu of %zu images are colour (or palette) PNGs: they are "
                "read as gray, Y = 0.2126 R + 0.7152 G + 0.0722 B in linear light (sRGB "
                "decoded with gamma 2.2, then encoded back), alpha composited over black\n",
                CMD(cmd), colour, f->count);
    return 1;
}

void cli_folder_free(cli_folder *f)
{
    for (size_t i = 0; i < f->count; i++)
        free(f->items[i].path);
    free(f->items);
    free(f->root);
    memset(f, 0, sizeof *f);
}

int cli_folder_read(const char *cmd, const cli_folder *f, const cli_folder_image *im,
                    uint8_t *pixels, int skipping)
{
    char *path = cli_join_path(f->root, im->path);
    size_t h = 0, w = 0;
    spcnn_status st = path ? spcnn_png_read(path, pixels, im->h * im->w, &h, &w)
                           : SPCNN_ERR_OUT_OF_MEMORY;
    int ok = st == SPCNN_OK && h == im->h && w == im->w;
    const char *pre = skipping ? "warning: skipping " : "";
    if (!ok && st != SPCNN_OK)
        fprintf(stderr, "spcnn%s%s: %s%s%s\n", CMD(cmd), pre, spcnn_last_error_message(),
                skipping ? "" : " (--skip-bad skips such files)");
    else if (!ok)
        fprintf(stderr, "spcnn%s%s: %s%s: is now %zu x %zu, it was %zu x %zu when the folder "
                        "was listed\n", CMD(cmd), pre, path, h, w, im->h, im->w);
    free(path);
    return ok;
}

spcnn_status cli_evaluate_folder(const char *cmd, spcnn_model *model, const cli_dataset *ds,
                                 cli_folder_image *const *set, size_t n, double *base,
                                 double *span, double *patches, double *image, double *kl,
                                 double pooled[2])
{
    size_t most = 1;
    for (size_t i = 0; i < n; i++)
        most = set[i]->h * set[i]->w > most ? set[i]->h * set[i]->w : most;
    uint8_t *pixels = malloc(most);
    if (!pixels) {
        fprintf(stderr, "spcnn %s: out of memory for an image of %zu pixels\n", cmd, most);
        return SPCNN_ERR_OUT_OF_MEMORY;
    }
    double sum[3] = {0, 0, 0}, pooled_nll[2] = {0, 0}, pooled_n[2] = {0, 0};
    spcnn_status st = SPCNN_OK;
    double m = 0;
    spcnn_config *cfg = NULL;
    if ((st = spcnn_config_create(&cfg)) == SPCNN_OK &&
        (st = spcnn_model_get_config(model, cfg)) == SPCNN_OK)
        st = spcnn_config_get(cfg, SPCNN_CFG_PATCH_SIZE, &m);
    spcnn_config_destroy(cfg);
    for (size_t i = 0; i < n && st == SPCNN_OK; i++) {
        const cli_folder_image *im = set[i];
        if (!cli_folder_read(cmd, &ds->folder, im, pixels, 0)) {
            st = SPCNN_ERR_IO;
            break;
        }
        *base = (double)i / (double)n;
        *span = 1.0 / (double)n;
        double p = 0, q = 0, k = 0;
        st = spcnn_model_evaluate(model, pixels, 1, im->h, im->w, &p, &q, &k);
        sum[0] += p;
        sum[1] += q;
        sum[2] += k;
        double windows = (double)(im->h - (size_t)m + 1) * (double)(im->w - (size_t)m + 1) * m * m;
        pooled_nll[0] += p * windows;
        pooled_n[0] += windows;
        pooled_nll[1] += q * (double)im->h * (double)im->w;
        pooled_n[1] += (double)im->h * (double)im->w;
    }
    free(pixels);
    if (st != SPCNN_OK)
        return st;
    *patches = sum[0] / (double)n;
    *image = sum[1] / (double)n;
    *kl = sum[2] / (double)n;
    if (pooled) {
        pooled[0] = pooled_nll[0] / pooled_n[0];
        pooled[1] = pooled_nll[1] / pooled_n[1];
    }
    return SPCNN_OK;
}
