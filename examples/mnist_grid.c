/* Show the first images of an IDX file (MNIST, Fashion-MNIST) as one PNG grid.
 *
 *   mnist_grid data/mnist/t10k-images-idx3-ubyte digits.png 100 10
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spatialpixelcnn.h"

enum { SEPARATOR = 128 }; /* gray lines between and around the images */

static int parse_count(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > 1000000)
        return 0;
    *out = (size_t)v;
    return 1;
}

static int fail(const char *what, spcnn_status st)
{
    fprintf(stderr, "mnist_grid: %s: %s (%s)\n", what, spcnn_status_string(st),
            spcnn_last_error_message());
    return EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    size_t want = 100, columns = 10;
    if (argc < 3 || argc > 5 || (argc > 3 && !parse_count(argv[3], &want)) ||
        (argc > 4 && !parse_count(argv[4], &columns))) {
        fprintf(stderr, "usage: mnist_grid IDX_FILE OUT.png [COUNT (100)] [COLUMNS (10)]\n"
                        "(COUNT images spread evenly over the file, which may be sorted)\n");
        return EXIT_FAILURE;
    }

    size_t n, h, w;
    spcnn_status st = spcnn_idx_read(argv[1], NULL, 0, &n, &h, &w);
    if (st != SPCNN_OK)
        return fail("reading the sizes", st);
    uint8_t *images = malloc(n * h * w);
    if (!images)
        return fail("allocating the images", SPCNN_ERR_OUT_OF_MEMORY);
    st = spcnn_idx_read(argv[1], images, n * h * w, &n, &h, &w);
    if (st != SPCNN_OK)
        return fail("reading the images", st);

    size_t count = want < n ? want : n;
    if (columns > count)
        columns = count;
    size_t rows = (count + columns - 1) / columns;
    size_t grid_h = rows * (h + 1) + 1, grid_w = columns * (w + 1) + 1;
    uint8_t *grid = malloc(grid_h * grid_w);
    if (!grid)
        return fail("allocating the grid", SPCNN_ERR_OUT_OF_MEMORY);
    memset(grid, SEPARATOR, grid_h * grid_w);
    for (size_t i = 0; i < count; i++) {
        size_t top = (i / columns) * (h + 1) + 1, left = (i % columns) * (w + 1) + 1;
        size_t k = i * n / count; /* evenly spread: a data file may be sorted by class */
        for (size_t r = 0; r < h; r++)
            memcpy(grid + (top + r) * grid_w + left, images + (k * h + r) * w, w);
    }
    st = spcnn_png_write(argv[2], grid, grid_h, grid_w);
    if (st != SPCNN_OK)
        return fail("writing the PNG", st);
    printf("wrote %s: %zu of %zu images (evenly spread) of %zu x %zu in %zu rows x %zu columns, "
           "%zu x %zu pixels\n",
           argv[2], count, n, h, w, rows, columns, grid_h, grid_w);
    free(grid);
    free(images);
    return EXIT_SUCCESS;
}
