/* The generation commands of spcnn (sample, reconstruct, upscale, generate; score and
 * likelihood use their model settings and progress) and what they share: sizes, the model
 * settings of sampling, the progress line, grids of images and streaming an image into a PNG
 * file. */
#ifndef SPCNN_CLI_GEN_H
#define SPCNN_CLI_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "cli.h"

int cli_sample(int argc, char **argv);      /* sample.c */
int cli_reconstruct(int argc, char **argv); /* sample.c */
int cli_upscale(int argc, char **argv);     /* upscale.c */
int cli_generate(int argc, char **argv);    /* upscale.c */
int cli_score(int argc, char **argv);       /* score.c */
int cli_likelihood(int argc, char **argv);  /* likelihood.c */

/* Above this many pixels an image is streamed to its PNG file instead of held in memory. */
#define GEN_STREAM_PIXELS ((size_t)4000000)
/* GEN_SIDE_MAX, gen_parse_size, gen_parse_sizes: args.h. */
/* n x h x w bytes without overflow, or prints why and returns 0. */
int gen_pixels(const char *cmd, size_t n, size_t h, size_t w, size_t *out);

/* Images per spcnn_model_generate_images call of the commands that make many. */
#define GEN_BATCH 100
/* Seed of batch b of GEN_BATCH images: the seed itself for the first, so that a call of at
 * most GEN_BATCH images is spcnn_model_generate_images with the seed; SplitMix64 of it for
 * the others. So image i is the same whatever the number of images asked for. */
uint64_t gen_batch_seed(uint64_t seed, size_t b);

/* Settings every generation command takes. */
typedef struct gen_settings {
    const char *model;  /* --model */
    uint64_t seed;      /* --seed (default 1) */
    long long threads;  /* --threads, 0: the model's */
    double temperature; /* --temperature, < 0: the model's */
    int schedule;       /* --schedule, -1: the model's, 0 raster, 1 wavefront */
    int precision;      /* --precision, -1: the model's, 0 fp32, 1 bf16 */
    int standard_prior; /* --prior standard: z ~ N(0, I) even when the model has a mixture */
} gen_settings;
void gen_settings_init(gen_settings *g);
/* Is flag one of --model --seed --threads --temperature --schedule --precision --prior? */
int gen_is_setting(const char *flag);
/* Store one of them; prints why and returns 0 on a bad value. */
int gen_set(const char *cmd, const char *flag, const char *value, gen_settings *g);
/* Usage lines of the shared flags. */
extern const char gen_settings_usage[];
/* Parse argv[1...]: --help, the shared settings into g, and the command's own flags through
 * own: own(cmd, flag, NULL, state) says what flag is (0 not the command's, 1 a flag that takes
 * a value, 2 a switch, which this call records); own(cmd, flag, value, state) stores a value
 * (1, or 0 after printing why). "--flag=value" is accepted. Returns -1 when the command should
 * go on, otherwise its exit status (after --help or a bad argument, with the usage). */
typedef int (*gen_flag_fn)(const char *cmd, const char *flag, const char *value, void *state);
int gen_parse_args(const char *cmd, int argc, char **argv, gen_settings *g, gen_flag_fn own,
                   void *state, void (*usage)(FILE *));
/* --precision's value: 0 fp32, 1 bf16; prints why and returns -1 otherwise. */
int gen_parse_precision(const char *cmd, const char *flag, const char *value);
/* Load the model and apply the settings; prints why and returns NULL on failure. */
spcnn_model *gen_open_model(const char *cmd, const gen_settings *g);
/* The model's hyper-parameter key (e.g. SPCNN_CFG_LATENT_SIZE); -1 after printing why. */
double gen_model_value(const char *cmd, spcnn_model *model, spcnn_config_key key);

/* A progress line with ETA over several library calls: each call is one part of the work,
 * [base, base + share) of it. Ctrl-C (cli_stop_signal) makes the callback cancel the call. */
typedef struct gen_progress {
    cli_progress line;
    const char *what; /* "sampling" */
    double start, base, share;
} gen_progress;
/* Install the callback on model and the signal handlers. */
void gen_progress_start(gen_progress *p, spcnn_model *model, const char *what);
void gen_progress_part(gen_progress *p, double base, double share);
void gen_progress_end(gen_progress *p);
/* The exit status of a failed call: CLI_INTERRUPTED after Ctrl-C (with a message), otherwise
 * CLI_FAILED with the library's reason. */
int gen_failed(const char *cmd, const char *what, spcnn_status st);

/* Grids: rows x cols cells of cell_h x cell_w separated by 1-pixel mid-gray lines. A cell
 * holds an image centred on black; cells left empty stay gray. NULL when out of memory. */
uint8_t *gen_grid_create(const char *cmd, size_t rows, size_t cols, size_t cell_h,
                         size_t cell_w, size_t *height, size_t *width);
void gen_grid_put(uint8_t *grid, size_t grid_width, size_t cell_h, size_t cell_w, size_t row,
                  size_t col, const uint8_t *image, size_t h, size_t w);

/* Generate one height x width image with z (NULL: z ~ N(0, I)) and write it row by row to the
 * PNG file path (atomically: nothing is left behind on failure or Ctrl-C). Progress is shown
 * with p. Returns a CLI exit status. */
int gen_stream_png(const char *cmd, spcnn_model *model, gen_progress *p, const float *z,
                   size_t height, size_t width, uint64_t seed, const char *path);

#endif
