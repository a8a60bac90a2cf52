/* Row-by-row PNG writing with libpng, atomically (see png_stream.h). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "png_stream.h"

struct cli_png_stream {
    png_structp png;
    png_infop info;
    FILE *fp;
    char *tmp;        /* the temporary file, "<path>.tmp-<pid>-<n>" */
    const char *path; /* the target (borrowed) */
    const char *cmd;  /* message prefix (borrowed) */
    size_t height, rows;
    char message[256]; /* libpng's last error */
};

/* libpng's error handler must not return: it records the message and jumps back to the
 * setjmp of the function that called libpng. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    cli_png_stream *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* a writer given valid arguments has nothing to warn about */
}

static void report(const cli_png_stream *s, const char *what, int err)
{
    if (err)
        fprintf(stderr, "%s: %s: %s: %s (%s)\n", s->cmd, s->path, what, s->message,
                strerror(err));
    else
        fprintf(stderr, "%s: %s: %s: %s\n", s->cmd, s->path, what, s->message);
}

void cli_png_stream_abort(cli_png_stream *s)
{
    if (!s)
        return;
    if (s->png)
        png_destroy_write_struct(&s->png, &s->info);
    if (s->fp)
        fclose(s->fp);
    if (s->tmp)
        unlink(s->tmp);
    free(s->tmp);
    free(s);
}

/* Open a stream of 8-bit samples of the given libpng colour type (gray or RGB). */
static cli_png_stream *stream_open(const char *cmd, const char *path, size_t height,
                                   size_t width, int color_type)
{
    if (height == 0 || width == 0 || height > PNG_UINT_31_MAX || width > PNG_UINT_31_MAX) {
        fprintf(stderr, "%s: %s: a PNG cannot be %zu x %zu pixels\n", cmd, path, height, width);
        return NULL;
    }
    cli_png_stream *s = calloc(1, sizeof *s);
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!s || !tmp) {
        fprintf(stderr, "%s: %s: out of memory\n", cmd, path);
        free(s);
        free(tmp);
        return NULL;
    }
    s->tmp = tmp;
    s->path = path;
    s->cmd = cmd;
    s->height = height;
    /* O_EXCL: never write into a file someone else has (a stale name is skipped). */
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, cap, "%s.tmp-%ld-%d", path, (long)getpid(), attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        fprintf(stderr, "%s: %s: cannot create %s: %s\n", cmd, path, tmp, strerror(errno));
        free(tmp);
        free(s);
        return NULL;
    }
    s->fp = fdopen(fd, "wb");
    if (!s->fp) {
        fprintf(stderr, "%s: %s: %s\n", cmd, tmp, strerror(errno));
        close(fd);
        cli_png_stream_abort(s);
        return NULL;
    }
    s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_png_error, on_png_warning);
    if (s->png)
        s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info) {
        fprintf(stderr, "%s: %s: out of memory for libpng\n", cmd, path);
        cli_png_stream_abort(s);
        return NULL;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        report(s, "writing the header", ferror(s->fp) ? errno : 0);
        cli_png_stream_abort(s);
        return NULL;
    }
    png_init_io(s->png, s->fp);
    /* What png_image_write (spcnn_png_write) writes for 8-bit gray: IHDR, sRGB, defaults. */
    png_set_IHDR(s->png, s->info, (png_uint_32)width, (png_uint_32)height, 8, color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    png_set_sRGB(s->png, s->info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_write_info(s->png, s->info);
    return s;
}

cli_png_stream *cli_png_stream_open(const char *cmd, const char *path, size_t height,
                                    size_t width)
{
    return stream_open(cmd, path, height, width, PNG_COLOR_TYPE_GRAY);
}

cli_png_stream *cli_png_stream_open_rgb(const char *cmd, const char *path, size_t height,
                                        size_t width)
{
    return stream_open(cmd, path, height, width, PNG_COLOR_TYPE_RGB);
}

int cli_png_stream_write_row(cli_png_stream *s, const uint8_t *row)
{
    if (s->rows >= s->height) {
        fprintf(stderr, "%s: %s: more rows than the image's %zu\n", s->cmd, s->path, s->height);
        return 0;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        report(s, "writing a row", ferror(s->fp) ? errno : 0);
        return 0;
    }
    png_write_row(s->png, row);
    s->rows++;
    return 1;
}

int cli_png_stream_finish(cli_png_stream *s)
{
    if (s->rows != s->height) {
        fprintf(stderr, "%s: %s: only %zu of %zu rows were written\n", s->cmd, s->path, s->rows,
                s->height);
        cli_png_stream_abort(s);
        return 0;
    }
    if (setjmp(png_jmpbuf(s->png))) {
        report(s, "finishing", ferror(s->fp) ? errno : 0);
        cli_png_stream_abort(s);
        return 0;
    }
    png_write_end(s->png, s->info);
    png_destroy_write_struct(&s->png, &s->info);
    /* The data reaches the disk before the name does, so a crash leaves the old file or the
     * complete new one. */
    FILE *fp = s->fp;
    s->fp = NULL;
    int failed = fflush(fp) != 0 || fsync(fileno(fp)) != 0;
    int err = errno;
    if (fclose(fp) != 0 && !failed) {
        failed = 1;
        err = errno;
    }
    if (!failed && rename(s->tmp, s->path) != 0) {
        failed = 1;
        err = errno;
    }
    if (failed) {
        fprintf(stderr, "%s: %s: write failed: %s\n", s->cmd, s->path, strerror(err));
        cli_png_stream_abort(s);
        return 0;
    }
    free(s->tmp);
    free(s);
    return 1;
}
