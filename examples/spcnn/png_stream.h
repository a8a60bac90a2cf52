/* A PNG writer that takes one row at a time (libpng's png_write_row), so that an image far
 * larger than memory can be written while it is generated. The file appears atomically: rows
 * go to a temporary file next to the target, which cli_png_stream_finish renames into place;
 * cli_png_stream_abort removes it, so a cancelled or failed run leaves no partial file.
 *
 *   cli_png_stream *s = cli_png_stream_open("spcnn generate", "big.png", h, w);
 *   for each row: if (!cli_png_stream_write_row(s, row)) { cli_png_stream_abort(s); ... }
 *   if (!cli_png_stream_finish(s)) ...
 *
 * The settings are those of spcnn_png_write (8-bit gray, sRGB chunk, libpng's default filters
 * and compression), so both give the same bytes for the same pixels. */
#ifndef SPCNN_CLI_PNG_STREAM_H
#define SPCNN_CLI_PNG_STREAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_png_stream cli_png_stream;

/* Create the temporary file and write the PNG header for a height x width gray image. On
 * failure prints "CMD: PATH: reason" on stderr and returns NULL (nothing is left on disk). */
cli_png_stream *cli_png_stream_open(const char *cmd, const char *path, size_t height,
                                    size_t width);
/* The same for an 8-bit RGB image: each row is 3 x width bytes, r g b r g b ... */
cli_png_stream *cli_png_stream_open_rgb(const char *cmd, const char *path, size_t height,
                                        size_t width);
/* Append the next row (width bytes, 3 x width for RGB). On failure prints the reason and
 * returns 0; the stream must then be aborted. */
int cli_png_stream_write_row(cli_png_stream *s, const uint8_t *row);
/* After the last row: finish the file, flush it to disk and rename it over the target.
 * Returns 1 on success; on failure prints the reason and removes the temporary file. The
 * stream is released either way. */
int cli_png_stream_finish(cli_png_stream *s);
/* Remove the temporary file and release the stream (NULL is accepted). */
void cli_png_stream_abort(cli_png_stream *s);

#endif
