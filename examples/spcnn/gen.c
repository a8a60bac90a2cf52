/* What the generation commands share: sizes, sampling settings, progress, grids, streaming. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "png_stream.h"

uint64_t gen_batch_seed(uint64_t seed, size_t b)
{
    if (b == 0)
        return seed;
    uint64_t x = seed + 0x9e3779b97f4a7c15ull * (uint64_t)b;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int gen_pixels(const char *cmd, size_t n, size_t h, size_t w, size_t *out)
{
    if (h != 0 && w > SIZE_MAX / h) {
        fprintf(stderr, "spcnn %s: %zu x %zu pixels is too many\n", cmd, h, w);
        return 0;
    }
    if (n != 0 && h * w > SIZE_MAX / n) {
        fprintf(stderr, "spcnn %s: %zu images of %zu x %zu pixels is too many\n", cmd, n, h, w);
        return 0;
    }
    *out = n * h * w;
    return 1;
}

int gen_parse_args(const char *cmd, int argc, char **argv, gen_settings *g, gen_flag_fn own,
                   void *state, void (*usage)(FILE *))
{
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *value;
        const char *flag = cli_split_flag(argv[i], name, sizeof name, &value);
        if (cli_is_help(flag)) {
            usage(stdout);
            return CLI_OK;
        }
        int kind = gen_is_setting(flag) ? 1 : own(cmd, flag, NULL, state);
        if (kind == 2 && !value)
            continue;
        if (kind == 2) {
            fprintf(stderr, "spcnn %s: %s takes no value\n", cmd, flag);
            return CLI_USAGE;
        }
        if (kind != 1) {
            fprintf(stderr, "spcnn %s: unknown argument '%s'\n", cmd, argv[i]);
            usage(stderr);
            return CLI_USAGE;
        }
        if (!value && !(value = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
        if (!(gen_is_setting(flag) ? gen_set(cmd, flag, value, g) : own(cmd, flag, value, state)))
            return CLI_USAGE;
    }
    return -1;
}

void gen_settings_init(gen_settings *g)
{
    g->model = NULL;
    g->seed = 1;
    g->threads = 0;
    g->temperature = -1;
    g->schedule = -1;
    g->precision = -1;
    g->standard_prior = 0;
}

const char gen_settings_usage[] =
    "  --model MODEL        model file (spcnn train writes one)\n"
    "  --seed S             seed of the random draws, " CLI_SEED_RANGE " (default 1): the same seed\n"
    "                       gives the same bytes, whatever the schedule or thread count\n"
    "  --temperature T      scale of the logistic draws: 1 samples the model (default),\n"
    "                       smaller values sharpen, 0 takes the component means\n"
    "  --schedule S         raster (one window per pixel) or wavefront (default; pixels with\n"
    "                       the same patch_size*row + column at once): the same bytes\n"
    "  --precision P        fp32 (default) or bf16: the convolutions in bfloat16 with fp32\n"
    "                       sums, on CPUs with AVX-512 BF16: faster for many images (1.4 to\n"
    "                       1.5 times for 100 of 28x28), slower for one large image on CPUs\n"
    "                       with AMX; not the same bytes as fp32 (each precision is\n"
    "                       deterministic)\n"
    "  --prior P            what z is drawn from when an image has none: model (default;\n"
    "                       the mixture `spcnn fit-prior` stored in the model, or N(0, I)\n"
    "                       without one) or standard (N(0, I), as in the paper)\n"
    "  --threads T          oneDNN/OpenMP threads (default: the model's setting)\n";

int gen_is_setting(const char *flag)
{
    return strcmp(flag, "--model") == 0 || strcmp(flag, "--seed") == 0 ||
           strcmp(flag, "--threads") == 0 || strcmp(flag, "--temperature") == 0 ||
           strcmp(flag, "--schedule") == 0 || strcmp(flag, "--prior") == 0 ||
           strcmp(flag, "--precision") == 0;
}

int gen_parse_precision(const char *cmd, const char *flag, const char *value)
{
    if (strcmp(value, "fp32") == 0)
        return 0;
    if (strcmp(value, "bf16") == 0)
        return 1;
    fprintf(stderr, "spcnn %s: %s: '%s' is not fp32 or bf16\n", cmd, flag, value);
    return -1;
}

int gen_set(const char *cmd, const char *flag, const char *value, gen_settings *g)
{
    if (strcmp(flag, "--model") == 0) {
        g->model = value;
    } else if (strcmp(flag, "--seed") == 0) {
        if (!cli_parse_seed(cmd, flag, value, &g->seed))
            return 0;
    } else if (strcmp(flag, "--threads") == 0) {
        if (!cli_parse_count(cmd, flag, value, 1, 256, &g->threads))
            return 0;
    } else if (strcmp(flag, "--temperature") == 0) {
        double lo = 0, hi = 0;
        int integer;
        spcnn_config_bounds(SPCNN_CFG_TEMPERATURE, &lo, &hi, &integer);
        if (!cli_parse_number(cmd, flag, value, lo, hi, &g->temperature))
            return 0;
    } else if (strcmp(flag, "--prior") == 0) {
        if (strcmp(value, "model") != 0 && strcmp(value, "standard") != 0) {
            fprintf(stderr, "spcnn %s: %s: '%s' is not model or standard\n", cmd, flag, value);
            return 0;
        }
        g->standard_prior = strcmp(value, "standard") == 0;
    } else if (strcmp(flag, "--precision") == 0) {
        if ((g->precision = gen_parse_precision(cmd, flag, value)) < 0)
            return 0;
    } else if (strcmp(value, "raster") == 0) {
        g->schedule = 0;
    } else if (strcmp(value, "wavefront") == 0) {
        g->schedule = 1;
    } else {
        fprintf(stderr, "spcnn %s: %s: '%s' is not raster or wavefront\n", cmd, flag, value);
        return 0;
    }
    return 1;
}

spcnn_model *gen_open_model(const char *cmd, const gen_settings *g)
{
    spcnn_model *model = NULL;
    spcnn_status st = spcnn_model_load(g->model, &model);
    if (st != SPCNN_OK) {
        cli_fail(cmd, g->model, st);
        return NULL;
    }
    if ((g->threads > 0 && (st = spcnn_model_set_threads(model, (int)g->threads)) != SPCNN_OK) ||
        (g->temperature >= 0 &&
         (st = spcnn_model_set_option(model, SPCNN_CFG_TEMPERATURE, g->temperature)) !=
             SPCNN_OK) ||
        (g->schedule >= 0 && (st = spcnn_model_set_option(model, SPCNN_CFG_SCHEDULE,
                                                          g->schedule)) != SPCNN_OK) ||
        (g->precision >= 0 && (st = spcnn_model_set_option(model, SPCNN_CFG_PRECISION,
                                                           g->precision)) != SPCNN_OK) ||
        (g->standard_prior && (st = spcnn_model_set_prior(model, 0, NULL, NULL, NULL)) !=
                                  SPCNN_OK)) {
        cli_fail(cmd, "applying the settings", st);
        spcnn_model_destroy(model);
        return NULL;
    }
    return model;
}

double gen_model_value(const char *cmd, spcnn_model *model, spcnn_config_key key)
{
    spcnn_config *cfg = NULL;
    double v = -1;
    spcnn_status st = spcnn_config_create(&cfg);
    if (st == SPCNN_OK)
        st = spcnn_model_get_config(model, cfg);
    if (st == SPCNN_OK)
        st = spcnn_config_get(cfg, key, &v);
    if (st != SPCNN_OK) {
        cli_fail(cmd, "reading the model's configuration", st);
        v = -1;
    }
    spcnn_config_destroy(cfg);
    return v;
}

static int on_progress(double fraction, void *user)
{
    gen_progress *p = user;
    double done = p->base + p->share * fraction;
    double elapsed = cli_now() - p->start;
    char eta[32], text[128];
    if (done > 0.001)
        cli_format_duration(elapsed * (1 - done) / done, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    snprintf(text, sizeof text, "%s: %5.1f %%  ETA %s", p->what, 100 * done, eta);
    cli_progress_show(&p->line, text, done >= 1.0);
    return cli_stop_signal != 0; /* Ctrl-C cancels the call */
}

void gen_progress_start(gen_progress *p, spcnn_model *model, const char *what)
{
    cli_install_signal_handlers();
    cli_progress_init(&p->line);
    p->what = what;
    p->start = cli_now();
    p->base = 0;
    p->share = 1;
    spcnn_model_set_progress(model, on_progress, p);
}

void gen_progress_part(gen_progress *p, double base, double share)
{
    p->base = base;
    p->share = share;
}

void gen_progress_end(gen_progress *p)
{
    cli_progress_end(&p->line);
}

int gen_failed(const char *cmd, const char *what, spcnn_status st)
{
    if (st == SPCNN_ERR_CANCELLED && cli_stop_signal) {
        fprintf(stderr, "spcnn %s: interrupted; no file written\n", cmd);
        return CLI_INTERRUPTED;
    }
    return cli_fail(cmd, what, st);
}

uint8_t *gen_grid_create(const char *cmd, size_t rows, size_t cols, size_t cell_h,
                         size_t cell_w, size_t *height, size_t *width)
{
    size_t bytes;
    if (!gen_pixels(cmd, 1, rows, cell_h + 1, &bytes) || !gen_pixels(cmd, 1, cols, cell_w + 1,
                                                                      &bytes))
        return NULL;
    *height = rows * (cell_h + 1) - 1;
    *width = cols * (cell_w + 1) - 1;
    if (!gen_pixels(cmd, 1, *height, *width, &bytes))
        return NULL;
    uint8_t *grid = malloc(bytes);
    if (!grid)
        fprintf(stderr, "spcnn %s: out of memory for a %zu x %zu grid\n", cmd, *height, *width);
    else
        memset(grid, 128, bytes);
    return grid;
}

void gen_grid_put(uint8_t *grid, size_t grid_width, size_t cell_h, size_t cell_w, size_t row,
                  size_t col, const uint8_t *image, size_t h, size_t w)
{
    uint8_t *cell = grid + row * (cell_h + 1) * grid_width + col * (cell_w + 1);
    for (size_t r = 0; r < cell_h; r++)
        memset(cell + r * grid_width, 0, cell_w);
    cell += (cell_h - h) / 2 * grid_width + (cell_w - w) / 2;
    for (size_t r = 0; r < h; r++)
        memcpy(cell + r * grid_width, image + r * w, w);
}

/* Hands the rows of the one image being generated to the PNG writer. */
typedef struct row_sink {
    cli_png_stream *png;
    int write_failed;
} row_sink;

static int sink_row(const uint8_t *row, size_t image, size_t y, size_t width, void *user)
{
    (void)image;
    (void)y;
    (void)width;
    row_sink *k = user;
    if (!cli_png_stream_write_row(k->png, row)) {
        k->write_failed = 1;
        return 1;
    }
    return cli_stop_signal != 0; /* between progress reports, too */
}

int gen_stream_png(const char *cmd, spcnn_model *model, gen_progress *p, const float *z,
                   size_t height, size_t width, uint64_t seed, const char *path)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "spcnn %s", cmd);
    row_sink k = {cli_png_stream_open(prefix, path, height, width), 0};
    if (!k.png)
        return CLI_FAILED;
    spcnn_status st = spcnn_model_generate_stream(model, 1, z, height, width, seed, sink_row,
                                                  &k);
    gen_progress_end(p);
    if (st != SPCNN_OK) {
        cli_png_stream_abort(k.png);
        if (k.write_failed)
            return CLI_FAILED; /* the writer said why */
        return gen_failed(cmd, "generating", st);
    }
    return cli_png_stream_finish(k.png) ? CLI_OK : CLI_FAILED;
}
