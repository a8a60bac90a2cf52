/* PNG files through libpng's simplified API (png_image): any PNG reads as 8-bit gray, and
 * writes are atomic (io/atomic_file.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "io/atomic_file.h"

/* The header's bounds on a side; libpng's own default limit is the same (PNG_USER_WIDTH_MAX). */
enum { PNG_SIDE_MAX = 1000000 };
/* The simplified API computes buffer sizes in 32 bits: it refuses larger images. */
#define PNG_PIXELS_MAX ((size_t)0xffffffffu)
/* Deflate never compresses better than 1032 to 1 (a 258-byte match in 2 bits), so the image
 * data of a PNG file, at least height × width × bits per pixel / 8 bytes once inflated, needs
 * a file of at least that / 1032 bytes. */
#define DEFLATE_RATIO_MAX 1032u

/* libpng reports allocation failures only through its message text. */
static int is_out_of_memory(const char *message)
{
    return strstr(message, "out of memory") || strstr(message, "Out of memory") ||
           strstr(message, "Out of Memory");
}

/* Classify a libpng failure: the stream's own state tells a read error from a short file. */
static spcnn_status read_failure(FILE *fp, const char *path, const png_image *image)
{
    if (is_out_of_memory(image->message))
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "png: %s: %s", path, image->message);
    if (ferror(fp))
        return spcnn__error(SPCNN_ERR_IO, "png: %s: read error (%s)", path, image->message);
    if (feof(fp))
        return spcnn__error(SPCNN_ERR_FORMAT, "png: %s: truncated file (libpng: %s)", path,
                            image->message);
    return spcnn__error(SPCNN_ERR_FORMAT, "png: %s: corrupt PNG (libpng: %s)", path,
                        image->message);
}

/* Gray conversions done here rather than by libpng, whose 8-bit colour-to-gray and alpha
 * compositing pass through an 8-bit linear value and miss by up to 20 levels on dark colours
 * and low alpha. Everything follows libpng's sRGB model, a power of 2.2: luminance is
 * Y = 0.2126 R + 0.7152 G + 0.0722 B in linear light (the Rec. 709 weights libpng uses by
 * default), alpha is composited over black in linear light, and the result is encoded and
 * rounded once. */
typedef struct gray_encoder {
    double linear[256]; /* linear light of each 8-bit level */
    double above[256];  /* linear light where the encoding passes k + 0.5 */
} gray_encoder;

static void gray_encoder_init(gray_encoder *e)
{
    for (int k = 0; k < 256; k++) {
        e->linear[k] = pow(k / 255.0, 2.2);
        e->above[k] = pow((k + 0.5) / 255.0, 2.2);
    }
}

/* The 8-bit level nearest to linear light y in the encoded domain. */
static uint8_t gray_encode(const gray_encoder *e, double y)
{
    int lo = 0, hi = 255; /* the smallest k with y < above[k] (above[255] > 1) */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (y < e->above[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint8_t)lo;
}

/* 8-bit sRGB-coded RGBA with straight alpha. */
static void rgba8_to_gray(const uint8_t *rgba, size_t n, uint8_t *out)
{
    gray_encoder e;
    gray_encoder_init(&e);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = rgba + 4 * i;
        double y = 0.2126 * e.linear[p[0]] + 0.7152 * e.linear[p[1]] + 0.0722 * e.linear[p[2]];
        out[i] = gray_encode(&e, y * (p[3] / 255.0));
    }
}

/* 16-bit linear RGBA with premultiplied alpha (libpng's linear format): already over black. */
static void rgba16_to_gray(const uint16_t *rgba, size_t n, uint8_t *out)
{
    gray_encoder e;
    gray_encoder_init(&e);
    for (size_t i = 0; i < n; i++) {
        const uint16_t *p = rgba + 4 * i;
        out[i] = gray_encode(&e, (0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]) / 65535.0);
    }
}

static spcnn_status open_for_read(const char *path, FILE **out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return spcnn__error(SPCNN_ERR_IO, "png: %s: %s", path, strerror(errno));
    /* fopen accepts a directory on Linux; reading it fails later with a vaguer message. */
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "png: %s: %s", path, strerror(EISDIR));
    }
    *out = fp;
    return SPCNN_OK;
}

spcnn_status spcnn_png_read(const char *path, uint8_t *pixels, size_t capacity, size_t *height,
                            size_t *width)
{
    SPCNN_CHECK_ARG(path != NULL, "png_read: path is NULL");
    SPCNN_CHECK_ARG(height != NULL && width != NULL, "png_read: %s: height or width is NULL",
                    path);
    SPCNN_CHECK_ARG(pixels != NULL || capacity == 0,
                    "png_read: %s: pixels is NULL but capacity is %zu (query with capacity 0)",
                    path, capacity);

    FILE *fp = NULL;
    SPCNN_TRY(open_for_read(path, &fp));

    /* Check the signature ourselves: "not a PNG file" is clearer than libpng's message. The
     * IHDR that must follow tells the bit depth (byte 24) and interlacing (byte 28). */
    png_byte head[29];
    size_t got = fread(head, 1, sizeof head, fp);
    if (got < sizeof head && ferror(fp)) {
        int err = errno;
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "png: %s: read error (%s)", path, strerror(err));
    }
    if (got < 8 || png_sig_cmp(head, 0, 8) != 0) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_FORMAT, "png: %s: not a PNG file%s", path,
                            got == 0 ? " (empty file)" : "");
    }
    /* libpng with the fix for its png_image_finish_read overflow (upstream 218612dd, in
     * Debian 12's 1.6.39-2+deb12u*) garbles interlaced 16-bit images read to 8 bits
     * (pnggroup/libpng#853): those are read as 16-bit linear light instead. */
    int interlaced16 = got == sizeof head && memcmp(head + 12, "IHDR", 4) == 0 &&
                       head[24] == 16 && head[28] != 0;
    rewind(fp);

    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&image, fp)) {
        spcnn_status st = read_failure(fp, path, &image); /* libpng freed its state */
        fclose(fp);
        return st;
    }
    /* A 16-bit file without gAMA/sRGB is taken as sRGB-coded like an 8-bit one (value/257),
     * not as linear light, which is libpng's default and what most 16-bit writers do not mean.
     * (begin_read clears the flags, so it is set here.) */
    image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    size_t h = image.height, w = image.width;
    if (h == 0 || w == 0 || h > PNG_SIDE_MAX || w > PNG_SIDE_MAX || w > PNG_PIXELS_MAX / h) {
        png_image_free(&image);
        fclose(fp);
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "png: %s: image of %zu x %zu pixels is too large (at most %d per "
                            "side and %zu pixels)",
                            path, h, w, PNG_SIDE_MAX, PNG_PIXELS_MAX);
    }
    /* A header can claim any size in a few bytes: refuse one the file is too short to hold,
     * before a caller allocates for it. Bits per pixel from IHDR: depth × channels. */
    struct stat sb;
    if (got == sizeof head && memcmp(head + 12, "IHDR", 4) == 0 &&
        fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode)) {
        static const unsigned channels[7] = {1, 0, 3, 1, 2, 0, 4}; /* by colour type */
        unsigned bits = head[24] * (head[25] < 7 ? channels[head[25]] : 4);
        uint64_t data_min = (uint64_t)h * w * (bits ? bits : 1) / 8;
        uint64_t file = (uint64_t)sb.st_size;
        if (data_min > DEFLATE_RATIO_MAX * (file + 1)) {
            png_image_free(&image);
            fclose(fp);
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "png: %s: the header claims %zu x %zu pixels, more than a file "
                                "of %" PRIu64 " bytes can hold (at least %" PRIu64 " bytes of "
                                "image data, and deflate compresses at most %u:1)",
                                path, h, w, file, data_min, DEFLATE_RATIO_MAX);
        }
    }
    *height = h;
    *width = w;
    if (pixels == NULL) { /* query */
        png_image_free(&image);
        fclose(fp);
        return SPCNN_OK;
    }
    if (capacity < h * w) {
        png_image_free(&image);
        fclose(fp);
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "png: %s: %zu x %zu image needs %zu bytes, buffer holds %zu", path,
                            h, w, h * w, capacity);
    }

    int ok;
    if (!interlaced16 && !(image.format & (PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA))) {
        /* Gray: libpng only expands bit depths (or, for 16 bits, scales; exact). */
        image.format = PNG_FORMAT_GRAY;
        ok = png_image_finish_read(&image, NULL, pixels, 0, NULL); /* frees on both paths */
    } else {
        /* Colour, alpha, interlaced 16-bit: libpng expands to RGBA (8-bit sRGB-coded, or
         * 16-bit linear), the conversion to gray is done here. */
        size_t bytes = interlaced16 ? 8 : 4;
        void *rgba = h * w <= SIZE_MAX / bytes ? spcnn__malloc(h * w * bytes) : NULL;
        if (!rgba) {
            png_image_free(&image);
            fclose(fp);
            return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                                "png: %s: no memory to convert %zu x %zu pixels to gray", path,
                                h, w);
        }
        image.format = interlaced16 ? PNG_FORMAT_LINEAR_RGB_ALPHA : PNG_FORMAT_RGBA;
        ok = png_image_finish_read(&image, NULL, rgba, 0, NULL);
        if (ok && interlaced16)
            rgba16_to_gray(rgba, h * w, pixels);
        else if (ok)
            rgba8_to_gray(rgba, h * w, pixels);
        spcnn__free(rgba);
    }
    spcnn_status st = ok ? SPCNN_OK : read_failure(fp, path, &image);
    fclose(fp);
    return st;
}

spcnn_status spcnn_png_write(const char *path, const uint8_t *pixels, size_t height,
                             size_t width)
{
    SPCNN_CHECK_ARG(path != NULL, "png_write: path is NULL");
    SPCNN_CHECK_ARG(*path != '\0', "png_write: path is empty");
    SPCNN_CHECK_ARG(pixels != NULL, "png_write: %s: pixels is NULL", path);
    SPCNN_CHECK_ARG(height >= 1 && height <= PNG_SIDE_MAX && width >= 1 && width <= PNG_SIDE_MAX,
                    "png_write: %s: size %zu x %zu is out of range [1, %d] per side", path,
                    height, width, PNG_SIDE_MAX);
    SPCNN_CHECK_ARG(width <= PNG_PIXELS_MAX / height,
                    "png_write: %s: %zu x %zu pixels exceeds libpng's limit of %zu", path,
                    height, width, PNG_PIXELS_MAX);

    spcnn__atomic_file f;
    SPCNN_TRY(spcnn__atomic_file_open(&f, path, "png"));

    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_GRAY;
    if (!png_image_write_to_stdio(&image, f.fp, 0, pixels, 0, NULL)) {
        spcnn_status st;
        if (is_out_of_memory(image.message))
            st = spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "png: %s: %s", path, image.message);
        else
            st = spcnn__error(SPCNN_ERR_IO, "png: %s: write failed: %s%s%s", path,
                              image.message, ferror(f.fp) ? ": " : "",
                              ferror(f.fp) ? strerror(errno) : "");
        spcnn__atomic_file_abort(&f);
        return st;
    }
    return spcnn__atomic_file_commit(&f);
}
