/* fuzz_make_seeds [--large] OUTDIR: the seed corpora of the fuzz targets, made by the project's
 * own writers — spcnn_model_save of tiny models, the classifier file writer, spcnn_png_write —
 * plus an IDX writer as the tests have it, libpng for the PNG variants the library does not
 * write (palette, RGB, alpha, 16-bit, interlaced, 1-bit) and truncated copies. Without --large:
 * the small seeds checked in as tests/fuzz/corpus/TARGET/ (`scripts/fuzz.sh --seeds` rewrites
 * them); with it, the model too large to check in (the latent code and a prior: 256 KB), which
 * scripts/fuzz.sh makes afresh into the working copy of the corpus at every run. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "classifier/classifier.h"
#include "spatialpixelcnn.h"

static const char *outdir;

static void die(const char *what, spcnn_status st)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s (%s)\n", what, spcnn_status_string(st),
            spcnn_last_error_message());
    exit(1);
}

static const char *path_of(const char *target, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    return path;
}

static void write_bytes(const char *target, const char *name, const void *data, size_t size)
{
    FILE *f = fopen(path_of(target, name), "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(name);
        exit(1);
    }
}

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    if (!f) {
        perror(path);
        exit(1);
    }
    *size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/* A copy of target/name cut to its first `keep` bytes, as target/cut_name. */
static void truncated_copy(const char *target, const char *name, const char *cut_name,
                           size_t keep)
{
    size_t size;
    unsigned char *data = read_bytes(path_of(target, name), &size);
    write_bytes(target, cut_name, data, keep < size ? keep : size / 2);
}

/* target/name as to/name too: targets that read the same kind of file. */
static void copy_seed(const char *target, const char *name, const char *to)
{
    size_t size;
    unsigned char *data = read_bytes(path_of(target, name), &size);
    write_bytes(to, name, data, size);
}

/* Digit-like strokes: a bright bar and a diagonal on black. */
static void picture(uint8_t *p, size_t n, size_t h, size_t w)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < h; r++)
            for (size_t c = 0; c < w; c++)
                p[(i * h + r) * w + c] =
                    (uint8_t)(c == (i + 2) % w || r == c ? 255 : (r * 16 + c * 8 + i * 40) % 64);
}

/* A tiny model (nr_filters 1, nr_resnet 1, 4×4 patches of 8×8 images) after one training step:
 * variant 0 without the latent code, 1 with it and a fitted prior of 2 components. The VAE's
 * widths are fixed, so a model with the latent code is 240 KB even so. restarted: saved
 * without its training state, loaded (Adam restarts) and trained one step more before it is
 * saved, so that a file with the training state is format 3, with the restart's step. */
static void model_seed(int variant, int with_state, int restarted, const char *name)
{
    enum { M = 8, N = 4 };
    uint8_t images[N * M * M];
    picture(images, N, M, M);
    spcnn_config *cfg;
    spcnn_status st = spcnn_config_create(&cfg);
    const struct {
        spcnn_config_key key;
        double value;
    } tiny[] = {{SPCNN_CFG_PATCH_SIZE, 4}, {SPCNN_CFG_NR_FILTERS, 1}, {SPCNN_CFG_NR_RESNET, 1},
                {SPCNN_CFG_NR_MIX, 1},     {SPCNN_CFG_LATENT_SIZE, 2}, {SPCNN_CFG_IMAGE_SIZE, M},
                {SPCNN_CFG_BATCH_SIZE, N}, {SPCNN_CFG_USE_LATENT, variant}};
    for (size_t k = 0; st == SPCNN_OK && k < sizeof tiny / sizeof tiny[0]; k++)
        st = spcnn_config_set(cfg, tiny[k].key, tiny[k].value);
    spcnn_model *model = NULL;
    if (st == SPCNN_OK)
        st = spcnn_model_create(cfg, &model);
    if (st != SPCNN_OK)
        die("model create", st);
    if ((st = spcnn_model_train_step(model, images, N, M, M, NULL)) != SPCNN_OK)
        die("train step", st);
    if (restarted) {
        if ((st = spcnn_model_save(model, path_of("model_file", name), 0)) != SPCNN_OK)
            die("model save", st);
        spcnn_model_destroy(model);
        model = NULL;
        if ((st = spcnn_model_load(path_of("model_file", name), &model)) != SPCNN_OK)
            die("model load", st);
        if ((st = spcnn_model_train_step(model, images, N, M, M, NULL)) != SPCNN_OK)
            die("train step", st);
    }
    if (variant == 1 && (st = spcnn_model_fit_prior(model, images, N, M, M, 2, 1)) != SPCNN_OK)
        die("fit prior", st);
    if ((st = spcnn_model_save(model, path_of("model_file", name), with_state)) != SPCNN_OK)
        die("model save", st);
    spcnn_model_destroy(model);
    spcnn_config_destroy(cfg);
    size_t size;
    unsigned char *data = read_bytes(path_of("model_file", name), &size);
    write_bytes("model_path", name, data, size);
}

static void model_seeds(int large)
{
    if (large) {
        model_seed(1, 0, 0, "prior.spcnn");
        return;
    }
    model_seed(0, 0, 0, "plain.spcnn");
    model_seed(0, 1, 0, "plain-state.spcnn");
    model_seed(0, 1, 1, "restarted-state.spcnn"); /* format 3 */
    truncated_copy("model_path", "plain.spcnn", "cut-header.spcnn", 30);
    truncated_copy("model_path", "plain.spcnn", "cut-tensors.spcnn", 2000);
}

static void classifier_seeds(void)
{
    const spcnn__lenet_shape shape = {0, 12, 12, 2, 1, 2, 3, 3};
    spcnn_classifier *c = NULL;
    spcnn_status st = spcnn__classifier_new(&shape, 1, &c);
    if (st == SPCNN_OK)
        st = spcnn__classifier_file_save(c, path_of("classifier_file", "tiny.spcnncls"));
    if (st != SPCNN_OK)
        die("classifier", st);
    spcnn_classifier_destroy(c);
}

static void idx_seed(const char *name, int ndims, const unsigned *dims)
{
    unsigned char buf[4 + 12 + 512];
    size_t total = 1, at = 4;
    buf[0] = buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)ndims;
    for (int d = 0; d < ndims; d++, at += 4) {
        buf[at] = (unsigned char)(dims[d] >> 24);
        buf[at + 1] = (unsigned char)(dims[d] >> 16);
        buf[at + 2] = (unsigned char)(dims[d] >> 8);
        buf[at + 3] = (unsigned char)dims[d];
        total *= dims[d];
    }
    picture(buf + at, 1, 1, total);
    write_bytes("idx", name, buf, at + total);
}

static void idx_seeds(void)
{
    idx_seed("images-idx3-ubyte", 3, (const unsigned[]){3, 6, 5});
    idx_seed("labels-idx1-ubyte", 1, (const unsigned[]){10});
    idx_seed("matrix-idx2-ubyte", 2, (const unsigned[]){4, 7});
    /* Through a pipe the length is checked while reading: data cut short, and a byte too
     * many. */
    static const char *const names[] = {"images-idx3-ubyte", "labels-idx1-ubyte",
                                        "matrix-idx2-ubyte"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        copy_seed("idx", names[i], "idx_pipe");
    size_t size;
    unsigned char *data = read_bytes(path_of("idx", "matrix-idx2-ubyte"), &size);
    write_bytes("idx_pipe", "cut-data", data, size - 5);
    data[size] = 0x2a; /* read_bytes' buffer is larger than the file */
    write_bytes("idx_pipe", "trailing-byte", data, size + 1);
}

/* A PNG through libpng's full API: any colour type, depth and interlacing. */
static void png_variant(const char *name, int type, int depth, int interlace, int h, int w)
{
    FILE *f = fopen(path_of("png", name), "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || !png || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "fuzz_make_seeds: %s: libpng failed\n", name);
        exit(1);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[4] = {{0, 0, 0}, {200, 30, 30}, {30, 200, 30}, {255, 255, 255}};
        png_byte alpha[4] = {255, 128, 255, 0};
        png_set_PLTE(png, info, palette, 4);
        png_set_tRNS(png, info, alpha, 4, NULL);
    }
    if (type == PNG_COLOR_TYPE_RGB && depth == 8)
        png_set_gAMA(png, info, 1 / 2.2);
    png_write_info(png, info);
    int channels = type == PNG_COLOR_TYPE_RGB ? 3 : type == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                   : type == PNG_COLOR_TYPE_GRAY_ALPHA                          ? 2
                                                                                 : 1;
    size_t rowbytes = ((size_t)w * channels * depth + 7) / 8;
    png_byte *rows = calloc((size_t)h, rowbytes);
    png_bytep ptrs[64];
    for (int r = 0; r < h; r++) {
        ptrs[r] = rows + r * rowbytes;
        for (size_t b = 0; b < rowbytes; b++)
            ptrs[r][b] = (png_byte)(type == PNG_COLOR_TYPE_PALETTE
                                      ? (depth == 8 ? (r + b) % 4 : (r + b) % 2 * 0x55)
                                      : r * 37 + b * 11);
    }
    png_write_image(png, ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static void png_seeds(void)
{
    uint8_t gray[10 * 9];
    picture(gray, 1, 10, 9);
    spcnn_status st = spcnn_png_write(path_of("png", "gray8.png"), gray, 10, 9);
    if (st != SPCNN_OK)
        die("png write", st);
    png_variant("gray1.png", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 9, 13);
    png_variant("gray16.png", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 6, 5);
    png_variant("gray16-interlaced.png", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_ADAM7, 9, 7);
    png_variant("gray-alpha8.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 5, 6);
    png_variant("rgb8.png", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 7, 6);
    png_variant("rgb16-interlaced.png", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, 5, 9);
    png_variant("rgba8-interlaced.png", PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_ADAM7, 8, 8);
    png_variant("palette2.png", PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, 6, 10);
    png_variant("palette8-interlaced.png", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_ADAM7, 7, 7);
    truncated_copy("png", "gray8.png", "cut-ihdr.png", 20);
    truncated_copy("png", "rgb8.png", "cut-idat.png", (size_t)-1);
    /* spcnn's folder index reads the same files' headers. */
    static const char *const names[] = {
        "gray8.png",      "gray1.png",           "gray16.png",           "gray16-interlaced.png",
        "gray-alpha8.png", "rgb8.png",           "rgb16-interlaced.png", "rgba8-interlaced.png",
        "palette2.png",   "palette8-interlaced.png", "cut-ihdr.png",     "cut-idat.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        copy_seed("png", names[i], "cli_png_header");
}

/* The CLI's argument values: text. */
static void cli_seeds(void)
{
    static const char *const sizes[] = {"28", "56x40", "28,56x40,224", "28-56", "224X224"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%zu", i);
        write_bytes("cli_sizes", name, sizes[i], strlen(sizes[i]));
    }
    /* Two arguments separated by a NUL byte, or one "--key=value". */
    static const char flags[][32] = {"--nr-filters\0" "25", "--learning_rate=1e-3",
                                     "--schedule\0wavefront", "--seed\0" "9007199254740991",
                                     "--steps=100", "--minutes\0" "0.5", "--use-coords=1"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%zu", i);
        size_t len = strlen(flags[i]);
        if (flags[i][len + 1] != '\0')
            len += 1 + strlen(flags[i] + len + 1);
        write_bytes("cli_flags", name, flags[i], len);
    }
}

int main(int argc, char **argv)
{
    int large = argc == 3 && strcmp(argv[1], "--large") == 0;
    if (argc != 2 + large) {
        fprintf(stderr, "usage: fuzz_make_seeds [--large] OUTDIR\n");
        return 2;
    }
    outdir = argv[argc - 1];
    mkdir(outdir, 0777);
    model_seeds(large);
    if (large)
        return 0;
    classifier_seeds();
    idx_seeds();
    png_seeds();
    cli_seeds();
    return 0;
}
