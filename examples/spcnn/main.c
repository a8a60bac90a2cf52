/* spcnn: train, evaluate and inspect Spatial PixelCNN models from the command line.
 *
 *   spcnn train --data data/mnist --out mnist.spcnn --minutes 30
 *   spcnn eval --model mnist.spcnn --data data/mnist
 *   spcnn info mnist.spcnn
 *   spcnn sample --model mnist.spcnn --size 56x56 --count 64 --out samples.png
 *   spcnn likelihood --model mnist.spcnn --in digit.png --out digit-bits.png
 *   spcnn classifier train --data data/mnist --out models/lenet-mnist.spcls
 *
 * docs/cli.md is the manual. The program uses only the public API of libspatialpixelcnn (and,
 * built with SPCNN_MPI and started by mpirun, MPI to spread train and sample over ranks:
 * ranks.c, docs/mpi.md).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gen.h"
#include "ranks.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: spcnn COMMAND [ARGS]\n"
            "\n"
            "Commands:\n"
            "  train        train a model on a data set (or resume training one)\n"
            "  eval         test bits/dim and KL of a model on a data set's test images\n"
            "  fit-prior    fit the distribution random samples draw z from to the training\n"
            "               images' codes (a Gaussian mixture saved in the model)\n"
            "  info         hyper-parameters, step and size of a model file\n"
            "  sample       generate a grid of new images (and one file per image)\n"
            "  generate     generate one image of any size (streamed to PNG when large)\n"
            "  upscale      regenerate a PNG image at another size\n"
            "  reconstruct  test images next to their reconstructions at several sizes\n"
            "  likelihood   a heat map of the bits each pixel of an image costs the model\n"
            "  classifier   train or evaluate the LeNet-5 classifier that judges samples\n"
            "  score        the paper's measures: LeNet confidence of samples, accuracy of\n"
            "               reconstructions, MS-SSIM diversity, bits/dim\n"
            "  help         this text, or `spcnn help COMMAND` for one command\n"
            "\n"
            "`spcnn COMMAND --help` describes a command; `spcnn --version` prints the version.\n"
            "Data: a folder with the IDX files train-images-idx3-ubyte and t10k-images-idx3-ubyte\n"
            "(scripts/get-data.sh writes data/mnist and data/fashion-mnist), or a folder of PNG\n"
            "images of one size (the last 10 %% by name are the test set).\n");
}

typedef int (*command_fn)(int argc, char **argv);

static command_fn find_command(const char *name)
{
    if (strcmp(name, "train") == 0)
        return cli_train;
    if (strcmp(name, "eval") == 0)
        return cli_eval;
    if (strcmp(name, "info") == 0)
        return cli_info;
    if (strcmp(name, "sample") == 0)
        return cli_sample;
    if (strcmp(name, "generate") == 0)
        return cli_generate;
    if (strcmp(name, "upscale") == 0)
        return cli_upscale;
    if (strcmp(name, "reconstruct") == 0)
        return cli_reconstruct;
    if (strcmp(name, "classifier") == 0)
        return cli_classifier;
    if (strcmp(name, "score") == 0)
        return cli_score;
    if (strcmp(name, "likelihood") == 0)
        return cli_likelihood;
    if (strcmp(name, "fit-prior") == 0)
        return cli_fit_prior;
    return NULL;
}

/* libgomp reads its wait settings once, when it is loaded: start again with a bounded spin
 * (GOMP_SPINCOUNT 10 000: a waiting thread spins a few microseconds, then sleeps) unless the
 * user chose a policy or a spin count. Measured on 2 cores (docs/threading.md): as fast as
 * spinning on an idle machine (passive made two-thread training 1.6 times slower), and the
 * fastest for generation with the other core busy, where libgomp's own default (300 000 spins)
 * made a two-thread training step 2.7 times slower than this (docs/benchmarks.md). */
static void ensure_bounded_spin(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") != NULL || getenv("GOMP_SPINCOUNT") != NULL ||
        setenv("GOMP_SPINCOUNT", "10000", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* Not Linux, or no /proc: go on with libgomp's default. */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (cli_is_help(cmd)) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("spcnn %s (libspatialpixelcnn %s)\n", SPCNN_VERSION_STRING,
               spcnn_version_string());
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return CLI_OK;
        }
        command_fn fn = find_command(argv[2]);
        if (!fn) {
            fprintf(stderr, "spcnn help: unknown command '%s'\n", argv[2]);
            usage(stderr);
            return CLI_USAGE;
        }
        char help_flag[] = "--help";
        char *help_argv[] = {argv[2], help_flag, NULL};
        return fn(2, help_argv);
    }
    command_fn fn = find_command(cmd);
    if (!fn) {
        fprintf(stderr, "spcnn: unknown command '%s'\n", cmd);
        usage(stderr);
        return CLI_USAGE;
    }
    if (fn != cli_info)
        ensure_bounded_spin(argv);
    cli_ranks_start(&argc, &argv);
    /* Under mpirun, train and sample share the work; any other command runs on rank 0, the
     * others having nothing to do. */
    int rc = CLI_OK;
    if (fn == cli_train || fn == cli_sample || cli_rank == 0)
        rc = fn(argc - 1, argv + 1);
    return cli_ranks_end(rc);
}
