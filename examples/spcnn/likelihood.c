/* spcnn likelihood: the per-pixel negative log-likelihood of an image in bits
 * (spcnn_model_log_prob), as a heat map PNG and optionally a CSV file. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "png_stream.h"

/* Largest --zoom: a 28 x 28 map at 64 is 1792 x 1792 pixels. */
#define LIKELIHOOD_ZOOM_MAX 64

static void likelihood_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn likelihood --model MODEL --in IMAGE.png --out MAP.png\n"
            "                        [--z encode|prior] [--seed S] [--max-bits X]\n"
            "                        [--colormap inferno|gray] [--zoom K] [--csv FILE]\n"
            "                        [--threads T]\n"
            "\n"
            "How many bits each pixel of IMAGE costs the model: its negative log-likelihood\n"
            "(spcnn_model_log_prob; each pixel scored by its own patch_size window, given the\n"
            "pixels before it in that window, the image's coordinate grid and z), drawn as a\n"
            "heat map. Prints the scale, the image's bits/dim (the mean of the map) and its\n"
            "total bits (the sum of the map: the NLL of the whole image). IMAGE is read as\n"
            "8-bit gray (colour is converted to gray, alpha composited over black), and each\n"
            "side must be at least the model's patch_size.\n"
            "\n"
            "  --model MODEL        model file (spcnn train writes one)\n"
            "  --in IMAGE.png       the image to score\n"
            "  --out MAP.png        the heat map (IMAGE's size times --zoom), replaced\n"
            "                       atomically\n"
            "  --z Z                encode (default): z is the encoder mean of IMAGE;\n"
            "                       prior: z is drawn with --seed from the model's prior\n"
            "                       (its fitted mixture, or N(0, I) without one). A model\n"
            "                       without latent code has no z: --z changes nothing\n"
            "  --seed S             seed of --z prior, " CLI_SEED_RANGE " (default 1): the z\n"
            "                       of `spcnn generate --seed S`\n"
            "  --max-bits X         the top of the scale, in bits: a pixel of X bits or more\n"
            "                       gets the top colour. Give two maps the same X to compare\n"
            "                       them (default: the image's own maximum)\n"
            "  --colormap C         inferno (default): 0 bits black, then purple, red,\n"
            "                       orange, pale yellow at the top of the scale\n"
            "                       (matplotlib's inferno: its brightness grows steadily,\n"
            "                       so it also reads in gray); gray: 0 bits black, the top\n"
            "                       of the scale white\n"
            "  --zoom K             draw each pixel as a K x K block (nearest neighbour),\n"
            "                       1 to %d (default 1)\n"
            "  --csv FILE           also write the map as CSV: one line per row of IMAGE,\n"
            "                       each of width values in bits, comma-separated, no\n"
            "                       header\n"
            "  --threads T          oneDNN/OpenMP threads (default: the model's setting)\n"
            "\n"
            "Progress goes to stderr for large images; Ctrl-C cancels (status 130) and\n"
            "writes no file.\n",
            LIKELIHOOD_ZOOM_MAX);
}

typedef struct likelihood_args {
    const char *model, *in, *out, *csv;
    int prior_z;     /* --z prior */
    uint64_t seed;   /* --seed */
    double max_bits; /* --max-bits, 0: the image's maximum */
    int gray;        /* --colormap gray */
    long long zoom, threads;
} likelihood_args;

/* Parse argv into a; -1 to go on, otherwise the exit status (after --help or a bad argument). */
static int parse_args(int argc, char **argv, likelihood_args *a)
{
    static const char *const flags[] = {"--model", "--in",       "--out",      "--csv",
                                        "--z",     "--seed",     "--max-bits", "--colormap",
                                        "--zoom",  "--threads"};
    const char *cmd = "likelihood";
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *value;
        const char *flag = cli_split_flag(argv[i], name, sizeof name, &value);
        if (cli_is_help(flag)) {
            likelihood_usage(stdout);
            return CLI_OK;
        }
        size_t k = 0, n = sizeof flags / sizeof flags[0];
        while (k < n && strcmp(flag, flags[k]) != 0)
            k++;
        if (k == n) {
            fprintf(stderr, "spcnn %s: unknown argument '%s'\n", cmd, argv[i]);
            likelihood_usage(stderr);
            return CLI_USAGE;
        }
        if (!value && !(value = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
        int ok = 1;
        if (strcmp(flag, "--model") == 0) {
            a->model = value;
        } else if (strcmp(flag, "--in") == 0) {
            a->in = value;
        } else if (strcmp(flag, "--out") == 0) {
            a->out = value;
        } else if (strcmp(flag, "--csv") == 0) {
            a->csv = value;
        } else if (strcmp(flag, "--z") == 0) {
            ok = strcmp(value, "encode") == 0 || strcmp(value, "prior") == 0;
            if (!ok)
                fprintf(stderr, "spcnn %s: --z: '%s' is not encode or prior\n", cmd, value);
            a->prior_z = strcmp(value, "prior") == 0;
        } else if (strcmp(flag, "--seed") == 0) {
            ok = cli_parse_seed(cmd, flag, value, &a->seed);
        } else if (strcmp(flag, "--max-bits") == 0) {
            ok = cli_parse_number(cmd, flag, value, 1e-3, 1e3, &a->max_bits);
        } else if (strcmp(flag, "--colormap") == 0) {
            ok = strcmp(value, "inferno") == 0 || strcmp(value, "gray") == 0;
            if (!ok)
                fprintf(stderr, "spcnn %s: --colormap: '%s' is not inferno or gray\n", cmd,
                        value);
            a->gray = strcmp(value, "gray") == 0;
        } else if (strcmp(flag, "--zoom") == 0) {
            ok = cli_parse_count(cmd, flag, value, 1, LIKELIHOOD_ZOOM_MAX, &a->zoom);
        } else {
            ok = cli_parse_count(cmd, flag, value, 1, 256, &a->threads);
        }
        if (!ok)
            return CLI_USAGE;
    }
    if (!a->model || !a->in || !a->out) {
        fprintf(stderr, "spcnn %s: --model, --in and --out are required\n", cmd);
        likelihood_usage(stderr);
        return CLI_USAGE;
    }
    if (a->csv && strcmp(a->csv, a->out) == 0) {
        fprintf(stderr, "spcnn %s: --out and --csv name the same file %s\n", cmd, a->out);
        return CLI_USAGE;
    }
    return -1;
}

/* matplotlib's "inferno" colour map (CC0; van der Walt and Smith), 17 of its 256 colours at
 * 0, 1/16, ..., 1, in 8 bits; linear between them (within 7 levels of the full table). */
static const uint8_t inferno[17][3] = {
    {0, 0, 4},       {11, 7, 36},     {33, 12, 74},    {61, 9, 101},   {87, 16, 110},
    {113, 25, 110},  {138, 34, 106},  {163, 44, 97},   {188, 55, 84},  {208, 69, 69},
    {227, 89, 51},   {241, 113, 31},  {249, 140, 10},  {252, 170, 15}, {249, 201, 50},
    {242, 232, 101}, {252, 255, 164},
};

/* The colour of t in [0, 1]. */
static void inferno_colour(double t, uint8_t rgb[3])
{
    double x = t * 16;
    int k = x >= 16 ? 15 : (int)x;
    double f = x - k;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)lround(inferno[k][c] + f * (inferno[k + 1][c] - inferno[k][c]));
}

/* Where a pixel of v bits lies on a scale from 0 to top: 0 to 1, clamped (a map value may be
 * a rounding error below 0). */
static double scale_position(float v, double top)
{
    double t = top > 0 ? (double)v / top : 0;
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* Write the map as a heat map PNG, each pixel a zoom x zoom block, row by row. */
static int write_map_png(const char *path, const float *map, size_t h, size_t w, double top,
                         int gray, size_t zoom)
{
    size_t channels = gray ? 1 : 3, row_bytes, rows;
    if (!gen_pixels("likelihood", channels, w, zoom, &row_bytes) ||
        !gen_pixels("likelihood", 1, h, zoom, &rows))
        return CLI_FAILED;
    uint8_t *row = malloc(row_bytes);
    if (!row) {
        fprintf(stderr, "spcnn likelihood: out of memory for a row of the map\n");
        return CLI_FAILED;
    }
    cli_png_stream *png = gray ? cli_png_stream_open("spcnn likelihood", path, rows, w * zoom)
                               : cli_png_stream_open_rgb("spcnn likelihood", path, rows,
                                                         w * zoom);
    if (!png) {
        free(row);
        return CLI_FAILED;
    }
    for (size_t r = 0; r < h; r++) {
        for (size_t c = 0; c < w; c++) {
            double t = scale_position(map[r * w + c], top);
            uint8_t px[3];
            if (gray)
                px[0] = (uint8_t)lround(255 * t);
            else
                inferno_colour(t, px);
            for (size_t k = 0; k < zoom; k++)
                memcpy(row + (c * zoom + k) * channels, px, channels);
        }
        for (size_t k = 0; k < zoom; k++)
            if (!cli_png_stream_write_row(png, row)) {
                cli_png_stream_abort(png);
                free(row);
                return CLI_FAILED;
            }
    }
    free(row);
    return cli_png_stream_finish(png) ? CLI_OK : CLI_FAILED;
}

/* The CSV file, written to a temporary name and renamed into place by csv_commit, as the
 * PNG writers do. */
typedef struct csv_file {
    char *tmp;
    const char *path;
} csv_file;

static void csv_abort(csv_file *f)
{
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    f->tmp = NULL;
}

/* Write the h rows of w values (as %.9g, which gives back the very float) to a temporary file
 * next to path and flush it to disk. */
static int csv_write(csv_file *f, const char *path, const float *map, size_t h, size_t w)
{
    f->path = path;
    size_t cap = strlen(path) + 48;
    if (!(f->tmp = malloc(cap))) {
        fprintf(stderr, "spcnn likelihood: out of memory\n");
        return 0;
    }
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(f->tmp, cap, "%s.tmp-%ld-%d", path, (long)getpid(), attempt);
        fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        fprintf(stderr, "spcnn likelihood: %s: cannot create %s: %s\n", path, f->tmp,
                strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return 0;
    }
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        fprintf(stderr, "spcnn likelihood: %s: %s\n", path, strerror(errno));
        close(fd);
        csv_abort(f);
        return 0;
    }
    for (size_t r = 0; r < h; r++)
        for (size_t c = 0; c < w; c++)
            fprintf(fp, "%.9g%c", (double)map[r * w + c], c + 1 < w ? ',' : '\n');
    int failed = ferror(fp) || fflush(fp) != 0 || fsync(fileno(fp)) != 0;
    int err = errno;
    if (fclose(fp) != 0 && !failed) {
        failed = 1;
        err = errno;
    }
    if (failed) {
        fprintf(stderr, "spcnn likelihood: %s: write failed: %s\n", path, strerror(err));
        csv_abort(f);
        return 0;
    }
    return 1;
}

static int csv_commit(csv_file *f)
{
    if (rename(f->tmp, f->path) != 0) {
        fprintf(stderr, "spcnn likelihood: %s: write failed: %s\n", f->path, strerror(errno));
        csv_abort(f);
        return 0;
    }
    free(f->tmp);
    f->tmp = NULL;
    return 1;
}

/* Read the image (any PNG, as 8-bit gray) into a new buffer; prints why and returns NULL on
 * failure. */
static uint8_t *read_image(const char *path, size_t *h, size_t *w)
{
    spcnn_status st = spcnn_png_read(path, NULL, 0, h, w);
    if (st != SPCNN_OK) {
        cli_fail("likelihood", path, st);
        return NULL;
    }
    size_t bytes;
    if (!gen_pixels("likelihood", 1, *h, *w, &bytes))
        return NULL;
    uint8_t *image = malloc(bytes);
    if (!image) {
        fprintf(stderr, "spcnn likelihood: %s: out of memory for %zu x %zu pixels\n", path, *h,
                *w);
        return NULL;
    }
    if ((st = spcnn_png_read(path, image, bytes, h, w)) != SPCNN_OK) {
        cli_fail("likelihood", path, st);
        free(image);
        return NULL;
    }
    return image;
}

/* What z is, in words, and the code itself when it is drawn (z stays NULL for the encoder
 * mean, which spcnn_model_log_prob computes, and for a model without latent code). */
static int choose_z(spcnn_model *model, const likelihood_args *a, float **z, char *what,
                    size_t cap)
{
    *z = NULL;
    double use_latent = gen_model_value("likelihood", model, SPCNN_CFG_USE_LATENT);
    double latent = gen_model_value("likelihood", model, SPCNN_CFG_LATENT_SIZE);
    double components = 0;
    if (use_latent < 0 || latent < 0)
        return 0;
    if (use_latent == 0) {
        snprintf(what, cap, "none (the model has no latent code)");
        return 1;
    }
    if (!a->prior_z) {
        snprintf(what, cap, "the encoder mean of the image");
        return 1;
    }
    spcnn_status st = spcnn_model_stat(model, SPCNN_STAT_PRIOR_COMPONENTS, &components);
    if (st != SPCNN_OK) {
        cli_fail("likelihood", "reading the prior", st);
        return 0;
    }
    if (!(*z = malloc((size_t)latent * sizeof **z))) {
        fprintf(stderr, "spcnn likelihood: out of memory\n");
        return 0;
    }
    st = spcnn_model_draw_latents(model, SPCNN_PRIOR_MODEL, 1, a->seed, *z, (size_t)latent);
    if (st != SPCNN_OK) {
        free(*z);
        *z = NULL;
        cli_fail("likelihood", "drawing z", st);
        return 0;
    }
    if (components > 0)
        snprintf(what, cap, "drawn from the model's prior (a mixture of %.0f Gaussians), "
                            "seed %llu", components, (unsigned long long)a->seed);
    else
        snprintf(what, cap, "drawn from the model's prior N(0, I), seed %llu",
                 (unsigned long long)a->seed);
    return 1;
}

/* Load the model and score the image into map; z_text says what z was. A CLI exit status. */
static int score_image(const likelihood_args *a, const uint8_t *image, size_t h, size_t w,
                       float *map, char *z_text, size_t z_cap, double *seconds)
{
    gen_settings g;
    gen_settings_init(&g);
    g.model = a->model;
    g.threads = a->threads;
    spcnn_model *model = gen_open_model("likelihood", &g);
    if (!model)
        return CLI_FAILED;
    int rc = CLI_OK;
    float *z = NULL;
    double m = gen_model_value("likelihood", model, SPCNN_CFG_PATCH_SIZE);
    if (m < 0) {
        rc = CLI_FAILED;
        goto done;
    }
    if ((double)h < m || (double)w < m) {
        fprintf(stderr,
                "spcnn likelihood: %s: a %zu x %zu image is smaller than the model's %.0f x "
                "%.0f window\n",
                a->in, h, w, m, m);
        rc = CLI_FAILED;
        goto done;
    }
    if (!choose_z(model, a, &z, z_text, z_cap)) {
        rc = CLI_FAILED;
        goto done;
    }
    gen_progress progress;
    gen_progress_start(&progress, model, "scoring");
    spcnn_status st = spcnn_model_log_prob(model, image, h, w, z, map, h * w);
    gen_progress_end(&progress);
    *seconds = cli_now() - progress.start;
    if (st != SPCNN_OK)
        rc = gen_failed("likelihood", "scoring", st);
done:
    free(z);
    spcnn_model_destroy(model);
    return rc;
}

int cli_likelihood(int argc, char **argv)
{
    likelihood_args a;
    memset(&a, 0, sizeof a);
    a.seed = 1;
    a.zoom = 1;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (!cli_check_output("likelihood", a.out) || (a.csv && !cli_check_output("likelihood",
                                                                                a.csv)))
        return CLI_FAILED;
    size_t h, w;
    uint8_t *image = read_image(a.in, &h, &w);
    if (!image)
        return CLI_FAILED;
    float *map = malloc(h * w * sizeof *map);
    if (!map) {
        fprintf(stderr, "spcnn likelihood: out of memory for the map of %zu x %zu pixels\n", h,
                w);
        free(image);
        return CLI_FAILED;
    }
    double seconds = 0;
    char z_text[160];
    rc = score_image(&a, image, h, w, map, z_text, sizeof z_text, &seconds);
    free(image);
    if (rc != CLI_OK) {
        free(map);
        return rc;
    }
    double total = 0, max = map[0];
    size_t max_at = 0, above = 0;
    for (size_t i = 0; i < h * w; i++) {
        total += map[i];
        if (map[i] > max) {
            max = map[i];
            max_at = i;
        }
        above += a.max_bits > 0 && map[i] > a.max_bits;
    }
    const double top = a.max_bits > 0 ? a.max_bits : max;
    csv_file csv = {NULL, NULL};
    if (a.csv && !csv_write(&csv, a.csv, map, h, w))
        rc = CLI_FAILED;
    if (rc == CLI_OK &&
        (rc = write_map_png(a.out, map, h, w, top, a.gray, (size_t)a.zoom)) != CLI_OK)
        csv_abort(&csv);
    if (rc == CLI_OK && a.csv && !csv_commit(&csv))
        rc = CLI_FAILED;
    free(map);
    if (rc != CLI_OK)
        return rc;
    printf("image:    %s (%zu x %zu)\n", a.in, h, w);
    printf("z:        %s\n", z_text);
    printf("bits/dim: %.4f (the mean of the map, over %zu pixels)\n", total / (double)(h * w),
           h * w);
    printf("total:    %.2f bits (%.1f bytes): the negative log-likelihood of the image\n", total,
           total / 8);
    printf("maximum:  %.4f bits, at row %zu, column %zu\n", max, max_at / w, max_at % w);
    printf("time:     %.1f s\n", seconds);
    if (a.max_bits > 0)
        printf("scale:    0 to %g bits (--max-bits); %zu pixel%s above it drawn at the top\n",
               a.max_bits, above, above == 1 ? "" : "s");
    else
        printf("scale:    0 to %.4f bits (the image's maximum)\n", top);
    printf("colours:  %s\n", a.gray ? "gray: black 0 bits, white the top of the scale"
                                    : "inferno: black 0 bits, then purple, red, orange, pale "
                                      "yellow the top");
    printf("wrote %s (%zu x %zu, %s", a.out, h * (size_t)a.zoom, w * (size_t)a.zoom,
           a.gray ? "gray" : "RGB");
    if (a.zoom > 1)
        printf(", each pixel %lld x %lld", a.zoom, a.zoom);
    printf(")\n");
    if (a.csv)
        printf("wrote %s (%zu rows of %zu values in bits)\n", a.csv, h, w);
    return CLI_OK;
}
