/* spcnn sample (a grid of new images) and spcnn reconstruct (test images regenerated at
 * several sizes). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "ranks.h"

enum { MAX_SIZES = 8 };

static void sample_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn sample --model MODEL --size HxW --out GRID.png [--count N]\n"
            "                    [--columns C] [--out-dir DIR] [--seed S] [--temperature T]\n"
            "                    [--schedule raster|wavefront] [--prior model|standard]\n"
            "                    [--threads T]\n"
            "\n"
            "Generate N images of H x W pixels, each from its own random z (from the model's\n"
            "prior: see --prior), and write them\n"
            "as one grid (C columns, 1-pixel gray separators) and, with --out-dir, one file\n"
            "each. Images are generated in batches of %d; image i is the same for any N (the\n"
            "first batch uses the seed itself, later ones seeds derived from it). Under\n"
            "mpirun -np R, rank r generates images r*N/R to (r+1)*N/R - 1 and rank 0 writes\n"
            "them all: the same bytes as one process.\n"
            "\n"
            "  --size HxW           image size, or N for N x N (at least the model's patch_size)\n"
            "  --count N            number of images (default 16)\n"
            "  --out GRID.png       the grid (at least one of --out and --out-dir is needed)\n"
            "  --columns C          grid columns (default ceil(sqrt(N)))\n"
            "  --out-dir DIR        also write DIR/sample-0000.png, ... (DIR is created)\n"
            "%s"
            "\n"
            "The outputs are checked before generating. Nothing is left behind when the command\n"
            "fails or is interrupted (Ctrl-C: status 130): no file, no folder it made.\n",
            GEN_BATCH, gen_settings_usage);
}

typedef struct sample_args {
    size_t h, w;
    long long count, columns;
    const char *out, *out_dir;
} sample_args;

static int sample_flag(const char *cmd, const char *flag, const char *value, void *state)
{
    sample_args *a = state;
    if (strcmp(flag, "--size") == 0)
        return !value || gen_parse_size(cmd, flag, value, &a->h, &a->w);
    if (strcmp(flag, "--count") == 0)
        return !value || cli_parse_count(cmd, flag, value, 1, 1000000, &a->count);
    if (strcmp(flag, "--columns") == 0)
        return !value || cli_parse_count(cmd, flag, value, 1, 1000000, &a->columns);
    if (strcmp(flag, "--out") == 0 || strcmp(flag, "--out-dir") == 0) {
        if (value && flag[5] == '\0')
            a->out = value;
        else if (value)
            a->out_dir = value;
        return 1;
    }
    return 0;
}

/* Remove the first n files of --out-dir and the folders made for them: a failed sample leaves
 * nothing behind. */
static void remove_samples(const char *dir, size_t n, cli_made_dirs *made)
{
    size_t cap = strlen(dir) + 32;
    char *path = malloc(cap);
    for (size_t i = 0; path && i < n; i++) {
        snprintf(path, cap, "%s/sample-%04zu.png", dir, i);
        unlink(path);
    }
    free(path);
    cli_remove_made_dirs(made);
}

/* The outputs first: a typo in a path must not cost the whole generation. The folder before
 * the grid, which may be in it. 0 after printing why, the folders made removed. */
static int sample_outputs_ready(const sample_args *a, cli_made_dirs *made)
{
    if (a->out_dir) {
        if (!cli_make_dirs("sample", a->out_dir, made))
            return 0;
        char *first_file = cli_join_path(a->out_dir, "sample-0000.png");
        int ok = first_file != NULL;
        if (!ok)
            fprintf(stderr, "spcnn sample: out of memory\n");
        ok = ok && cli_check_output("sample", first_file);
        free(first_file);
        if (!ok) {
            cli_remove_made_dirs(made);
            return 0;
        }
    }
    if (a->out && !cli_check_output("sample", a->out)) {
        cli_remove_made_dirs(made);
        return 0;
    }
    return 1;
}

int cli_sample(int argc, char **argv)
{
    gen_settings g;
    gen_settings_init(&g);
    sample_args a = {0, 0, 16, 0, NULL, NULL};
    int rc = gen_parse_args("sample", argc, argv, &g, sample_flag, &a, sample_usage);
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    if (!g.model || a.h == 0 || (!a.out && !a.out_dir)) {
        fprintf(stderr, "spcnn sample: --model, --size and --out (or --out-dir) are required\n");
        sample_usage(stderr);
        return CLI_USAGE;
    }
    const size_t n = (size_t)a.count, hw = a.h * a.w;
    size_t bytes;
    if (!gen_pixels("sample", n, a.h, a.w, &bytes))
        return CLI_FAILED;
    cli_made_dirs made = {NULL, 0};
    /* Ctrl-C from the moment a folder may exist: the generation then cancels at once, and the
     * folder goes (on a loaded machine loading the model can take a while). */
    cli_install_signal_handlers();
    /* Under mpirun rank 0 writes the files, and the ranks go on only together. */
    int ready = cli_rank != 0 || sample_outputs_ready(&a, &made);
    if (cli_ranks_or(!ready) != 0)
        return CLI_FAILED;
    size_t written = 0; /* files of --out-dir written so far */
    uint8_t *pixels = malloc(bytes), *grid = NULL;
    spcnn_model *model = NULL;
    if (!pixels)
        fprintf(stderr, "spcnn sample: out of memory for %zu images of %zu x %zu\n", n, a.h,
                a.w);
    else if (!(model = gen_open_model("sample", &g)))
        rc = CLI_FAILED;
    if (cli_ranks_or(!pixels || !model) != 0) {
        rc = CLI_FAILED;
        goto done;
    }

    /* This rank's images [lo, hi): all of them in one process. Image i of batch b is image
     * i of that batch's seed, whichever process makes it (spcnn_model_generate_range). */
    const size_t lo = n * (size_t)cli_rank / (size_t)cli_ranks;
    const size_t hi = n * (size_t)(cli_rank + 1) / (size_t)cli_ranks;
    gen_progress progress;
    gen_progress_start(&progress, model, "sampling");
    spcnn_status st = SPCNN_OK;
    for (size_t first = 0, b = 0; first < n && st == SPCNN_OK; first += GEN_BATCH, b++) {
        size_t count = n - first < GEN_BATCH ? n - first : GEN_BATCH;
        size_t from = lo > first ? lo : first, to = hi < first + count ? hi : first + count;
        if (from >= to)
            continue;
        gen_progress_part(&progress, (double)(from - lo) / (double)(hi - lo),
                          (double)(to - from) / (double)(hi - lo));
        st = spcnn_model_generate_range(model, from - first, to - from, NULL, a.h, a.w,
                                        gen_batch_seed(g.seed, b), pixels + from * hw,
                                        (to - from) * hw);
    }
    double seconds = cli_now() - progress.start;
    gen_progress_end(&progress);
    /* Every rank's images to rank 0, which writes them, unless one failed: rank 0 then says
     * that it did (each rank has reported its own failure). */
    int failed = cli_ranks_or(st != SPCNN_OK) != 0;
    if (st != SPCNN_OK) {
        rc = gen_failed("sample", "generating", st);
        goto done;
    }
    if (failed) {
        if (cli_rank == 0)
            fprintf(stderr, "spcnn sample: generating failed on another rank\n");
        rc = CLI_FAILED;
        goto done;
    }
    if (cli_ranks > 1) {
        size_t *counts = malloc((size_t)cli_ranks * sizeof *counts);
        int ok = counts != NULL;
        for (int r = 0; ok && r < cli_ranks; r++)
            counts[r] = (n * (size_t)(r + 1) / (size_t)cli_ranks -
                         n * (size_t)r / (size_t)cli_ranks) * hw;
        ok = ok && cli_ranks_gather(pixels, counts);
        free(counts);
        if (!ok) {
            fprintf(stderr, "spcnn sample: could not gather the images of the ranks\n");
            rc = CLI_FAILED;
            goto done;
        }
        if (cli_rank != 0)
            goto done; /* rank 0 writes the files */
    }

    size_t cols = 1; /* ceil(sqrt(n)), without floating point */
    while (cols * cols < n)
        cols++;
    if (a.columns > 0)
        cols = (size_t)a.columns < n ? (size_t)a.columns : n;
    size_t rows = (n + cols - 1) / cols, gh = 0, gw = 0;
    if (a.out && !(grid = gen_grid_create("sample", rows, cols, a.h, a.w, &gh, &gw))) {
        rc = CLI_FAILED;
        goto done;
    }
    /* The files of --out-dir before the grid, so that a failure among them leaves neither. */
    for (size_t i = 0; a.out_dir && i < n; i++) {
        size_t cap = strlen(a.out_dir) + 32;
        char *path = malloc(cap);
        if (!path) {
            fprintf(stderr, "spcnn sample: out of memory\n");
            rc = CLI_FAILED;
            goto done;
        }
        snprintf(path, cap, "%s/sample-%04zu.png", a.out_dir, i);
        st = spcnn_png_write(path, pixels + i * hw, a.h, a.w);
        free(path);
        if (st != SPCNN_OK) {
            rc = cli_fail("sample", "writing an image", st);
            goto done;
        }
        written = i + 1;
    }
    if (a.out) {
        for (size_t i = 0; i < n; i++)
            gen_grid_put(grid, gw, a.h, a.w, i / cols, i % cols, pixels + i * hw, a.h, a.w);
        if ((st = spcnn_png_write(a.out, grid, gh, gw)) != SPCNN_OK) {
            rc = cli_fail("sample", "writing the grid", st);
            goto done;
        }
    }
    char took[32];
    cli_format_duration(seconds, took, sizeof took);
    printf("generated %zu images of %zu x %zu in %.1f s (%s)\n", n, a.h, a.w, seconds, took);
    if (a.out)
        printf("wrote %s (%zu x %zu pixels: a grid of %zu x %zu)\n", a.out, gh, gw, rows, cols);
    if (a.out_dir)
        printf("wrote %s/sample-%04d.png ... sample-%04zu.png\n", a.out_dir, 0, n - 1);
done:
    if (rc == CLI_OK)
        cli_keep_made_dirs(&made);
    else if (a.out_dir)
        remove_samples(a.out_dir, written, &made);
    free(grid);
    free(pixels);
    spcnn_model_destroy(model);
    return rc;
}

static void reconstruct_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn reconstruct --model MODEL --data DIR --out GRID.png [--count N]\n"
            "                         [--sizes LIST] [--seed S] [--temperature T]\n"
            "                         [--schedule raster|wavefront] [--threads T]\n"
            "\n"
            "Encode the first N test images of DIR (the test set shuffled once with a fixed\n"
            "seed, as spcnn eval uses it) and regenerate each from its z at several sizes. The\n"
            "grid has one row per image and these columns, each image at its own size, centred\n"
            "in cells as large as the largest:\n"
            "  1      the input test image\n"
            "  2      the VAE's own reconstruction: its decoder's mean image of z, the encoder\n"
            "         mean, at the model's image_size (spcnn_model_decode; blurry, as the\n"
            "         paper's Figure 5b)\n"
            "  3...   the Spatial PixelCNN reconstruction (spcnn_model_reconstruct, from the\n"
            "         same z) at each size of LIST, by default 28x28, 56x56 and 224x224\n"
            "\n"
            "  --data DIR           data set folder, as for spcnn train / eval\n"
            "  --count N            images (rows), default 8\n"
            "  --sizes LIST         comma-separated sizes HxW or N (default 28,56,224; at most\n"
            "                       %d, each at least the model's patch_size)\n"
            "  --out GRID.png       the grid\n"
            "%s"
            "Image i is drawn with seed S + i. Ctrl-C cancels (status 130, nothing written).\n",
            MAX_SIZES, gen_settings_usage);
}

typedef struct reconstruct_args {
    const char *data, *out, *sizes;
    long long count;
} reconstruct_args;

static int reconstruct_flag(const char *cmd, const char *flag, const char *value, void *state)
{
    reconstruct_args *a = state;
    if (strcmp(flag, "--count") == 0)
        return !value || cli_parse_count(cmd, flag, value, 1, 1000000, &a->count);
    const char **slot = strcmp(flag, "--data") == 0    ? &a->data
                        : strcmp(flag, "--out") == 0   ? &a->out
                        : strcmp(flag, "--sizes") == 0 ? &a->sizes
                                                       : NULL;
    if (slot && value)
        *slot = value;
    return slot != NULL;
}

int cli_reconstruct(int argc, char **argv)
{
    gen_settings g;
    gen_settings_init(&g);
    reconstruct_args a = {NULL, NULL, "28,56,224", 8};
    int rc = gen_parse_args("reconstruct", argc, argv, &g, reconstruct_flag, &a, reconstruct_usage);
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    if (!g.model || !a.data || !a.out) {
        fprintf(stderr, "spcnn reconstruct: --model, --data and --out are required\n");
        reconstruct_usage(stderr);
        return CLI_USAGE;
    }
    size_t sh[MAX_SIZES], sw[MAX_SIZES], ns;
    if (!gen_parse_sizes("reconstruct", a.sizes, sh, sw, MAX_SIZES, &ns))
        return CLI_USAGE;
    if (!cli_check_output("reconstruct", a.out))
        return CLI_FAILED;

    cli_dataset ds;
    if (!cli_dataset_load(a.data, 0, &ds))
        return CLI_FAILED;
    const size_t n = (size_t)a.count < ds.n_test ? (size_t)a.count : ds.n_test;
    if (n == 0) {
        fprintf(stderr, "spcnn reconstruct: %s has no test images\n", a.data);
        cli_dataset_free(&ds);
        return CLI_FAILED;
    }
    const size_t in_h = ds.test_h, in_w = ds.test_w;
    size_t cell_h = in_h, cell_w = in_w, most = 0, work = 0, bytes;
    spcnn_model *model = gen_open_model("reconstruct", &g);
    const double side = model ? gen_model_value("reconstruct", model, SPCNN_CFG_IMAGE_SIZE) : -1;
    if (side < 1) {
        spcnn_model_destroy(model);
        cli_dataset_free(&ds);
        return CLI_FAILED;
    }
    const size_t vae_side = (size_t)side; /* the decoder's column */
    cell_h = vae_side > cell_h ? vae_side : cell_h;
    cell_w = vae_side > cell_w ? vae_side : cell_w;
    most = vae_side * vae_side;
    for (size_t j = 0; j < ns; j++) {
        cell_h = sh[j] > cell_h ? sh[j] : cell_h;
        cell_w = sw[j] > cell_w ? sw[j] : cell_w;
        most = sh[j] * sw[j] > most ? sh[j] * sw[j] : most;
        work += sh[j] * sw[j];
    }
    uint8_t *out = NULL, *grid = NULL;
    float *z = NULL;
    size_t gh, gw;
    const double latent = gen_model_value("reconstruct", model, SPCNN_CFG_LATENT_SIZE);
    if (latent < 1 || !gen_pixels("reconstruct", 1, most, 1, &bytes) ||
        !(out = malloc(bytes)) || !(z = malloc((size_t)latent * sizeof *z)) ||
        !(grid = gen_grid_create("reconstruct", n, ns + 2, cell_h, cell_w, &gh, &gw))) {
        if (latent >= 1 && (!out || !z))
            fprintf(stderr, "spcnn reconstruct: out of memory\n");
        rc = CLI_FAILED;
        goto done;
    }

    gen_progress progress;
    gen_progress_start(&progress, model, "reconstructing");
    spcnn_status st = SPCNN_OK;
    double done = 0;
    for (size_t i = 0; i < n && st == SPCNN_OK; i++) {
        const uint8_t *image = ds.test + i * in_h * in_w;
        gen_grid_put(grid, gw, cell_h, cell_w, i, 0, image, in_h, in_w);
        st = spcnn_model_encode(model, image, in_h, in_w, z, (size_t)latent);
        if (st == SPCNN_OK)
            st = spcnn_model_decode(model, z, out, bytes);
        if (st == SPCNN_OK)
            gen_grid_put(grid, gw, cell_h, cell_w, i, 1, out, vae_side, vae_side);
        for (size_t j = 0; j < ns && st == SPCNN_OK; j++) {
            double share = (double)(sh[j] * sw[j]) / (double)(work * n);
            gen_progress_part(&progress, done, share);
            done += share;
            st = spcnn_model_reconstruct(model, image, in_h, in_w, sh[j], sw[j], g.seed + i, out,
                                         bytes);
            if (st == SPCNN_OK)
                gen_grid_put(grid, gw, cell_h, cell_w, i, j + 2, out, sh[j], sw[j]);
        }
    }
    double seconds = cli_now() - progress.start;
    gen_progress_end(&progress);
    if (st != SPCNN_OK) {
        rc = gen_failed("reconstruct", "reconstructing", st);
        goto done;
    }
    if ((st = spcnn_png_write(a.out, grid, gh, gw)) != SPCNN_OK) {
        rc = cli_fail("reconstruct", "writing the grid", st);
        goto done;
    }
    printf("reconstructed %zu of %zu test images (%zu x %zu, %s %s) at", n, ds.n_test, in_h,
           in_w, ds.kind, a.data);
    for (size_t j = 0; j < ns; j++)
        printf(" %zux%zu", sh[j], sw[j]);
    printf(" in %.1f s\nwrote %s (%zu x %zu: columns input, VAE decoder %zux%zu", seconds,
           a.out, gh, gw, vae_side, vae_side);
    for (size_t j = 0; j < ns; j++)
        printf(", %zux%zu", sh[j], sw[j]);
    printf(")\n");
done:
    spcnn_model_destroy(model);
    free(grid);
    free(z);
    free(out);
    cli_dataset_free(&ds);
    return rc;
}
