/* spcnn upscale (regenerate a PNG image at another size) and spcnn generate (one image from
 * z ~ N(0, I)): large images are streamed row by row into the PNG file. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static void upscale_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn upscale --model MODEL --in IMAGE.png --size HxW --out OUT.png\n"
            "                     [--stream] [--seed S] [--temperature T]\n"
            "                     [--schedule raster|wavefront] [--threads T]\n"
            "\n"
            "Encode IMAGE (any PNG, any size: read as 8-bit gray and resampled to the model's\n"
            "image_size for the encoder) and regenerate it at H x W from its z, the encoder\n"
            "mean (spcnn_model_reconstruct). The model must use the latent code.\n"
            "\n"
            "  --in IMAGE.png       the image to upscale\n"
            "  --size HxW           output size, or N for N x N (at least the model's patch_size)\n"
            "  --out OUT.png        the output file, replaced atomically\n"
            "  --stream             write the image row by row as it is generated (memory\n"
            "                       bounded by a band of rows): the default above %zu pixels;\n"
            "                       the file is the same either way\n"
            "%s"
            "Ctrl-C cancels (status 130) and leaves no file behind.\n",
            GEN_STREAM_PIXELS, gen_settings_usage);
}

static void generate_usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn generate --model MODEL --size HxW --out OUT.png [--stream] [--seed S]\n"
            "                      [--temperature T] [--schedule raster|wavefront]\n"
            "                      [--prior model|standard] [--threads T]\n"
            "\n"
            "Generate one image of H x W pixels from a random z (drawn with the seed from the\n"
            "model's prior: see --prior): image 0\n"
            "of `spcnn sample` with the same seed and size. Large images (4000x4000,\n"
            "10000x10000) are written row by row while they are generated, so memory stays\n"
            "bounded by a band of rows of the image.\n"
            "\n"
            "  --size HxW           image size, or N for N x N (at least the model's patch_size)\n"
            "  --out OUT.png        the output file, replaced atomically\n"
            "  --stream             stream the rows into the file: the default above %zu\n"
            "                       pixels; the file is the same either way\n"
            "%s"
            "Ctrl-C cancels (status 130) and leaves no file behind.\n",
            GEN_STREAM_PIXELS, gen_settings_usage);
}

typedef struct image_args {
    const char *in, *out;
    size_t h, w;
    int stream;
} image_args;

/* upscale and generate take the same flags, but only upscale takes --in. */
static int image_flag(const char *cmd, const char *flag, const char *value, void *state)
{
    image_args *a = state;
    if (strcmp(flag, "--stream") == 0) {
        a->stream = 1;
        return 2;
    }
    if (strcmp(flag, "--size") == 0)
        return !value || gen_parse_size(cmd, flag, value, &a->h, &a->w);
    const char **slot = strcmp(flag, "--out") == 0                                 ? &a->out
                        : strcmp(cmd, "upscale") == 0 && strcmp(flag, "--in") == 0 ? &a->in
                                                                                   : NULL;
    if (slot && value)
        *slot = value;
    return slot != NULL;
}

/* Generate (z NULL: from N(0, I)) or reconstruct (from image) into out, in memory or
 * streamed. */
static int make_image(const char *cmd, const gen_settings *g, const image_args *a,
                      const uint8_t *image, size_t in_h, size_t in_w)
{
    size_t pixels;
    if (!gen_pixels(cmd, 1, a->h, a->w, &pixels))
        return CLI_FAILED;
    const int stream = a->stream || pixels > GEN_STREAM_PIXELS;
    spcnn_model *model = gen_open_model(cmd, g);
    if (!model)
        return CLI_FAILED;
    int rc = CLI_OK;
    float *z = NULL;
    uint8_t *out = NULL;
    gen_progress progress;
    memset(&progress, 0, sizeof progress);
    spcnn_status st = SPCNN_OK;
    if (stream) {
        if (image) { /* the encoder mean, as spcnn_model_reconstruct uses it */
            double latent = gen_model_value(cmd, model, SPCNN_CFG_LATENT_SIZE);
            if (latent < 1 || !(z = malloc((size_t)latent * sizeof *z))) {
                rc = CLI_FAILED;
                if (latent >= 1)
                    fprintf(stderr, "spcnn %s: out of memory\n", cmd);
                goto done;
            }
            st = spcnn_model_encode(model, image, in_h, in_w, z, (size_t)latent);
            if (st != SPCNN_OK) {
                rc = cli_fail(cmd, "encoding", st);
                goto done;
            }
        }
        gen_progress_start(&progress, model, "generating");
        rc = gen_stream_png(cmd, model, &progress, z, a->h, a->w, g->seed, a->out);
    } else {
        if (!(out = malloc(pixels))) {
            fprintf(stderr, "spcnn %s: out of memory for %zu x %zu pixels (try --stream)\n",
                    cmd, a->h, a->w);
            rc = CLI_FAILED;
            goto done;
        }
        gen_progress_start(&progress, model, "generating");
        if (image)
            st = spcnn_model_reconstruct(model, image, in_h, in_w, a->h, a->w, g->seed, out,
                                         pixels);
        else
            st = spcnn_model_generate_image(model, NULL, a->h, a->w, g->seed, out, pixels);
        gen_progress_end(&progress);
        if (st != SPCNN_OK)
            rc = gen_failed(cmd, "generating", st);
        else if ((st = spcnn_png_write(a->out, out, a->h, a->w)) != SPCNN_OK)
            rc = cli_fail(cmd, "writing the image", st);
    }
    if (rc == CLI_OK) {
        double seconds = cli_now() - progress.start;
        char took[32];
        cli_format_duration(seconds, took, sizeof took);
        printf("wrote %s (%zu x %zu%s) in %.1f s (%s)\n", a->out, a->h, a->w,
               stream ? ", streamed" : "", seconds, took);
    }
done:
    free(out);
    free(z);
    spcnn_model_destroy(model);
    return rc;
}

int cli_upscale(int argc, char **argv)
{
    gen_settings g;
    gen_settings_init(&g);
    image_args a = {NULL, NULL, 0, 0, 0};
    int rc = gen_parse_args("upscale", argc, argv, &g, image_flag, &a, upscale_usage);
    if (rc >= 0)
        return rc;
    if (!g.model || !a.in || !a.out || a.h == 0) {
        fprintf(stderr, "spcnn upscale: --model, --in, --size and --out are required\n");
        upscale_usage(stderr);
        return CLI_USAGE;
    }
    if (!cli_check_output("upscale", a.out))
        return CLI_FAILED;
    size_t in_h, in_w;
    spcnn_status st = spcnn_png_read(a.in, NULL, 0, &in_h, &in_w);
    if (st != SPCNN_OK)
        return cli_fail("upscale", a.in, st);
    uint8_t *image = malloc(in_h * in_w);
    if (!image) {
        fprintf(stderr, "spcnn upscale: %s: out of memory for %zu x %zu pixels\n", a.in, in_h,
                in_w);
        return CLI_FAILED;
    }
    if ((st = spcnn_png_read(a.in, image, in_h * in_w, &in_h, &in_w)) != SPCNN_OK)
        rc = cli_fail("upscale", a.in, st);
    else
        rc = make_image("upscale", &g, &a, image, in_h, in_w);
    free(image);
    return rc;
}

int cli_generate(int argc, char **argv)
{
    gen_settings g;
    gen_settings_init(&g);
    image_args a = {NULL, NULL, 0, 0, 0};
    int rc = gen_parse_args("generate", argc, argv, &g, image_flag, &a, generate_usage);
    if (rc >= 0)
        return rc;
    if (!g.model || !a.out || a.h == 0) {
        fprintf(stderr, "spcnn generate: --model, --size and --out are required\n");
        generate_usage(stderr);
        return CLI_USAGE;
    }
    if (!cli_check_output("generate", a.out))
        return CLI_FAILED;
    return make_image("generate", &g, &a, NULL, 0, 0);
}
