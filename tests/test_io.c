/* PNG and IDX files through the public API: round trips, conversions of every PNG colour type,
 * and every malformed, truncated or misused input a caller can produce. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spatialpixelcnn.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------- */

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_io_%s", tu_tmpdir(), name);
}

static void assert_message_has(const char *needle)
{
    const char *msg = spcnn_last_error_message();
    ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
}

/* A PNG written by libpng's simplified API in any of its formats. */
static void write_png_as(const char *path, png_uint_32 format, const void *buf, size_t h,
                         size_t w, const void *colormap, png_uint_32 colormap_entries)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)w;
    image.height = (png_uint_32)h;
    image.format = format;
    image.colormap_entries = colormap_entries;
    ck_assert_msg(png_image_write_to_file(&image, path, 0, buf, 0, colormap), "libpng: %s",
                  image.message);
}

/* A PNG with no gAMA or sRGB chunk, as most tools write them (the simplified API always adds
 * gamma information and never interlaces, so this uses libpng's classic API). Samples are
 * bytes (depth 8) or host-endian uint16 (depth 16), `channels` per pixel. */
static void write_png_classic(const char *path, const void *v, size_t h, size_t w, int depth,
                              int color_type, int interlace)
{
    int channels = color_type == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                   : color_type == PNG_COLOR_TYPE_RGB     ? 3
                   : color_type == PNG_COLOR_TYPE_GA      ? 2
                                                          : 1;
    size_t row_bytes = w * (size_t)channels * (size_t)(depth / 8);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    png_bytep *rows = malloc(h * sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (size_t r = 0; r < h; r++)
        rows[r] = (png_bytep)(uintptr_t)v + r * row_bytes;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng failed writing %s", path);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (depth == 16)
        png_set_swap(png); /* our samples are host (little) endian */
    png_write_image(png, rows); /* all seven passes when interlaced */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    ck_assert_int_eq(fclose(fp), 0);
}

/* libpng's sRGB model is a pure power of 2.2. */
static double encode(double linear) { return 255.0 * pow(linear, 1.0 / 2.2); }
static double decode(double v) { return pow(v / 255.0, 2.2); }

static uint8_t *read_png_ok(const char *path, size_t expect_h, size_t expect_w)
{
    size_t h = 0, w = 0;
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_OK);
    ck_assert_uint_eq(h, expect_h);
    ck_assert_uint_eq(w, expect_w);
    uint8_t *px = malloc(h * w);
    ck_assert_ptr_nonnull(px);
    ck_assert_msg(spcnn_png_read(path, px, h * w, &h, &w) == SPCNN_OK, "%s",
                  spcnn_last_error_message());
    return px;
}

/* ---- PNG ----------------------------------------------------------------------------- */

START_TEST(test_png_roundtrip)
{
    const size_t sizes[][2] = {{1, 1}, {3, 7}, {7, 3}, {28, 28}, {1000, 3}, {2, 1000}};
    tu_rng rng = {42};
    char path[512];
    tmp_path(path, sizeof path, "roundtrip.png");
    double worst = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t h = sizes[s][0], w = sizes[s][1], n = h * w;
        uint8_t *img = malloc(n), *back = malloc(n + 5);
        ck_assert(img && back);
        for (size_t i = 0; i < n; i++)
            img[i] = (uint8_t)(tu_next(&rng) >> 56);
        img[0] = 0;
        img[n - 1] = 255;
        ck_assert_int_eq(spcnn_png_write(path, img, h, w), SPCNN_OK);
        size_t rh = 0, rw = 0;
        ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &rh, &rw), SPCNN_OK);
        ck_assert_uint_eq(rh, h);
        ck_assert_uint_eq(rw, w);
        /* A larger buffer than needed is fine; the bytes past h*w are untouched. */
        memset(back, 0xA5, n + 5);
        ck_assert_int_eq(spcnn_png_read(path, back, n + 5, &rh, &rw), SPCNN_OK);
        size_t mismatches = 0;
        for (size_t i = 0; i < n; i++)
            mismatches += back[i] != img[i];
        for (size_t i = n; i < n + 5; i++)
            ck_assert_uint_eq(back[i], 0xA5);
        ck_assert_msg(mismatches == 0, "%zu x %zu: %zu pixels differ", h, w, mismatches);
        worst = fmax(worst, (double)mismatches);
        free(img);
        free(back);
    }
    tu_report("png round trip: differing pixels", worst, 0);
}
END_TEST

START_TEST(test_png_replace_is_atomic)
{
    char path[512];
    tmp_path(path, sizeof path, "replace.png");
    uint8_t a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[2] = {200, 100};
    ck_assert_int_eq(spcnn_png_write(path, a, 3, 4), SPCNN_OK);
    ck_assert_int_eq(spcnn_png_write(path, b, 1, 2), SPCNN_OK);
    uint8_t *px = read_png_ok(path, 1, 2);
    ck_assert_uint_eq(px[0], 200);
    ck_assert_uint_eq(px[1], 100);
    free(px);
    /* No temporary file is left next to it. */
    DIR *dir = opendir(tu_tmpdir());
    ck_assert_ptr_nonnull(dir);
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        ck_assert_msg(strstr(e->d_name, "test_io_replace.png.") == NULL, "left behind: %s",
                      e->d_name);
    closedir(dir);
    /* A new file gets the umask's permissions, not the 0600 of a private temporary file
     * (umask is per process, and Check runs this test in its own child). */
    umask(022);
    ck_assert_int_eq(remove(path), 0);
    ck_assert_int_eq(spcnn_png_write(path, b, 1, 2), SPCNN_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0644, "mode %o", (unsigned)(st.st_mode & 0777));
}
END_TEST

START_TEST(test_png_colour_to_gray)
{
    char path[512];
    double worst = 0;

    /* RGB: gray pixels stay exact; pure colours give the Rec. 709 luminance in linear light. */
    enum { N = 256 };
    uint8_t rgb[N * 3], rgba[N * 4], ga[N * 2];
    for (int i = 0; i < N; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (uint8_t)i;
    tmp_path(path, sizeof path, "rgb.png");
    write_png_as(path, PNG_FORMAT_RGB, rgb, 1, N, NULL, 0);
    uint8_t *px = read_png_ok(path, 1, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(px[i], i);
    free(px);

    tu_rng rng = {7};
    for (int i = 0; i < N; i++)
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (uint8_t)(tu_next(&rng) >> 56);
    rgb[0] = 255, rgb[1] = 0, rgb[2] = 0;
    rgb[3] = 0, rgb[4] = 255, rgb[5] = 0;
    rgb[6] = 0, rgb[7] = 0, rgb[8] = 255;
    write_png_as(path, PNG_FORMAT_RGB, rgb, 16, 16, NULL, 0);
    px = read_png_ok(path, 16, 16);
    for (int i = 0; i < N; i++) {
        double y = 0.2126 * decode(rgb[3 * i]) + 0.7152 * decode(rgb[3 * i + 1]) +
                   0.0722 * decode(rgb[3 * i + 2]);
        double err = fabs(px[i] - encode(y));
        ck_assert_msg(err <= 0.5 + 1e-9, "rgb %d %d %d -> %d, expected %.2f", rgb[3 * i],
                      rgb[3 * i + 1], rgb[3 * i + 2], px[i], encode(y));
        worst = fmax(worst, err);
    }
    ck_assert(px[0] > 120 && px[0] < 132 && px[1] > 214 && px[2] > 70 && px[2] < 82);
    uint8_t *from_rgb = px;

    /* RGBA: opaque pixels match RGB, transparent ones are black, the rest are composited over
     * black in linear light. */
    for (int i = 0; i < N; i++) {
        memcpy(rgba + 4 * i, rgb + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i % 3 == 0 ? 255 : i % 3 == 1 ? 0 : i);
    }
    tmp_path(path, sizeof path, "rgba.png");
    write_png_as(path, PNG_FORMAT_RGBA, rgba, 16, 16, NULL, 0);
    px = read_png_ok(path, 16, 16);
    for (int i = 0; i < N; i++) {
        uint8_t a = rgba[4 * i + 3];
        if (a == 255)
            ck_assert_int_eq(px[i], from_rgb[i]);
        else if (a == 0)
            ck_assert_int_eq(px[i], 0);
        else {
            double y = 0.2126 * decode(rgb[3 * i]) + 0.7152 * decode(rgb[3 * i + 1]) +
                       0.0722 * decode(rgb[3 * i + 2]);
            double expect = encode(a / 255.0 * y);
            double err = fabs(px[i] - expect);
            ck_assert_msg(err <= 0.5 + 1e-9, "rgba alpha %d -> %d, expected %.2f", a, px[i], expect);
            worst = fmax(worst, err);
        }
    }
    free(px);
    free(from_rgb);

    /* Gray + alpha at every level: exact to rounding. */
    tmp_path(path, sizeof path, "ga.png");
    for (int a = 0; a < 256; a += 15) {
        for (int i = 0; i < N; i++)
            ga[2 * i] = (uint8_t)i, ga[2 * i + 1] = (uint8_t)a;
        write_png_as(path, PNG_FORMAT_GA, ga, 1, N, NULL, 0);
        px = read_png_ok(path, 1, N);
        for (int i = 0; i < N; i++) {
            double expect = encode(a / 255.0 * decode(i));
            double err = fabs(px[i] - expect);
            ck_assert_msg(err <= 0.5 + 1e-9, "gray %d alpha %d -> %d, expected %.2f", i, a,
                          px[i], expect);
            worst = fmax(worst, err);
        }
        free(px);
    }

    /* 16-bit written by the simplified API is linear light (it says so in gAMA). */
    tu_report("png colour and alpha to gray: worst |error| in levels", worst, 0.5);

    uint16_t g16[N];
    for (int i = 0; i < N; i++)
        g16[i] = (uint16_t)(i * 257);
    tmp_path(path, sizeof path, "linear16.png");
    write_png_as(path, PNG_FORMAT_LINEAR_Y, g16, 1, N, NULL, 0);
    px = read_png_ok(path, 1, N);
    worst = 0;
    for (int i = 0; i < N; i++) {
        double err = fabs(px[i] - encode(i / 255.0));
        ck_assert_msg(err <= 1.0, "linear16 %d -> %d, expected %.2f", g16[i], px[i],
                      encode(i / 255.0));
        worst = fmax(worst, err);
    }
    free(px);

    /* 16-bit without gamma information reads like 8-bit: value / 257. Every 16-bit value,
     * plain and interlaced (libpng's 16-to-8 bit path garbles interlaced images, so the library
     * reads those through 16-bit linear light, one more rounding). */
    enum { SIDE16 = 256 };
    uint16_t *plain = malloc(SIDE16 * SIDE16 * sizeof *plain);
    ck_assert_ptr_nonnull(plain);
    for (int i = 0; i < SIDE16 * SIDE16; i++)
        plain[i] = (uint16_t)(i * 40503u); /* odd multiplier: a permutation of 0..65535 */
    tmp_path(path, sizeof path, "plain16.png");
    for (int interlace = 0; interlace <= 1; interlace++) {
        double limit = interlace ? 1.25 : 0.5 + 1e-9, worst16 = 0;
        write_png_classic(path, plain, SIDE16, SIDE16, 16, PNG_COLOR_TYPE_GRAY, interlace);
        px = read_png_ok(path, SIDE16, SIDE16);
        for (int i = 0; i < SIDE16 * SIDE16; i++) {
            double err = fabs(px[i] - plain[i] / 257.0);
            ck_assert_msg(err <= limit, "16-bit %d -> %d at %d (interlace %d)", plain[i], px[i],
                          i, interlace);
            worst16 = fmax(worst16, err);
        }
        free(px);
        tu_report(interlace ? "png 16-bit plain, interlaced: worst |error| in levels"
                            : "png 16-bit plain: worst |error| in levels",
                  worst16, limit);
    }
    free(plain);

    /* Interlaced 8-bit gray is exact; interlaced 16-bit RGBA goes the 16-bit linear way. */
    uint8_t gray8[13 * 11];
    for (int i = 0; i < 13 * 11; i++)
        gray8[i] = (uint8_t)(tu_next(&rng) >> 56);
    tmp_path(path, sizeof path, "interlaced8.png");
    write_png_classic(path, gray8, 13, 11, 8, PNG_COLOR_TYPE_GRAY, 1);
    px = read_png_ok(path, 13, 11);
    ck_assert_int_eq(memcmp(px, gray8, sizeof gray8), 0);
    free(px);
    uint16_t rgba16[9 * 10 * 4];
    for (int i = 0; i < 9 * 10 * 4; i++)
        rgba16[i] = (uint16_t)(tu_next(&rng) >> 48);
    rgba16[3] = 65535, rgba16[7] = 0;
    tmp_path(path, sizeof path, "rgba16.png");
    double worst_rgba16 = 0;
    for (int interlace = 0; interlace <= 1; interlace++) {
        write_png_classic(path, rgba16, 9, 10, 16, PNG_COLOR_TYPE_RGB_ALPHA, interlace);
        px = read_png_ok(path, 9, 10);
        for (int i = 0; i < 90; i++) {
            const uint16_t *p = rgba16 + 4 * i;
            double y = 0.2126 * decode(p[0] / 257.0) + 0.7152 * decode(p[1] / 257.0) +
                       0.0722 * decode(p[2] / 257.0);
            double expect = encode(p[3] / 65535.0 * y), err = fabs(px[i] - expect);
            /* Non-interlaced, libpng rounds each channel to 8 bits before the blend. */
            ck_assert_msg(err <= 1.25, "rgba16 pixel %d -> %d, expected %.2f (interlace %d)", i,
                          px[i], expect, interlace);
            worst_rgba16 = fmax(worst_rgba16, err);
        }
        ck_assert_int_eq(px[1], 0);
        free(px);
    }
    tu_report("png 16-bit RGBA to gray: worst |error| in levels", worst_rgba16, 1.25);

    /* A palette image of gray entries reads back as its gray levels. */
    uint8_t map[4 * 3] = {0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}, idx[10];
    for (int i = 0; i < 10; i++)
        idx[i] = (uint8_t)(i % 4);
    tmp_path(path, sizeof path, "palette.png");
    write_png_as(path, PNG_FORMAT_RGB_COLORMAP, idx, 2, 5, map, 4);
    px = read_png_ok(path, 2, 5);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(px[i], map[3 * (i % 4)]);
    free(px);

    tu_report("png 16-bit to 8-bit gray: worst |error| in levels", worst, 1.0);
}
END_TEST

START_TEST(test_png_missing_and_unwritable)
{
    char path[512];
    size_t h = 7, w = 7;
    uint8_t px[4] = {0};
    tmp_path(path, sizeof path, "no_such_file.png");
    ck_assert_int_eq(spcnn_png_read(path, px, sizeof px, &h, &w), SPCNN_ERR_IO);
    assert_message_has(path);
    assert_message_has(strerror(ENOENT));
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_ERR_IO);
    /* A directory is an I/O error, not a malformed PNG. */
    ck_assert_int_eq(spcnn_png_read(tu_tmpdir(), NULL, 0, &h, &w), SPCNN_ERR_IO);
    assert_message_has(strerror(EISDIR));

    tmp_path(path, sizeof path, "no_such_dir/out.png");
    ck_assert_int_eq(spcnn_png_write(path, px, 2, 2), SPCNN_ERR_IO);
    assert_message_has(path);
    assert_message_has(strerror(ENOENT));
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0);
    /* Writing over a directory fails at the rename and leaves no temporary file. */
    ck_assert_int_eq(spcnn_png_write(tu_tmpdir(), px, 2, 2), SPCNN_ERR_IO);
    assert_message_has(tu_tmpdir());
}
END_TEST

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the first chunk of the given type in a PNG file. */
static size_t find_chunk(const uint8_t *png, size_t size, const char *type)
{
    for (size_t at = 8; at + 12 <= size; at += 12 + read_be32(png + at))
        if (memcmp(png + at + 4, type, 4) == 0)
            return at;
    ck_abort_msg("no %s chunk", type);
    return 0;
}

START_TEST(test_png_malformed)
{
    char path[512], good[512];
    size_t h, w;
    uint8_t buf[64 * 64];

    tmp_path(path, sizeof path, "text.png");
    const char *text = "this is not a PNG file, only text\n";
    tu_write_file(path, text, strlen(text));
    ck_assert_int_eq(spcnn_png_read(path, buf, sizeof buf, &h, &w), SPCNN_ERR_FORMAT);
    assert_message_has(path);
    assert_message_has("not a PNG");

    tmp_path(path, sizeof path, "empty.png");
    tu_write_file(path, "", 0);
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_ERR_FORMAT);
    assert_message_has(path);

    /* A valid PNG cut at every offset: the signature, IHDR, IDAT. Only a cut inside the final
     * IEND chunk (12 bytes) may still read, and then with the right pixels. */
    tu_rng rng = {3};
    uint8_t img[40 * 30];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(tu_next(&rng) >> 60) * 17; /* compressible but not trivial */
    tmp_path(good, sizeof good, "good.png");
    ck_assert_int_eq(spcnn_png_write(good, img, 40, 30), SPCNN_OK);
    size_t size;
    uint8_t *bytes = tu_read_file(good, &size);
    ck_assert_uint_gt(size, 60);
    tmp_path(path, sizeof path, "cut.png");
    size_t format_errors = 0, still_read = 0;
    for (size_t cut = 0; cut < size; cut++) {
        tu_write_file(path, bytes, cut);
        spcnn_status st = spcnn_png_read(path, buf, sizeof buf, &h, &w);
        if (cut < size - 12) {
            ck_assert_msg(st == SPCNN_ERR_FORMAT, "cut at %zu of %zu: status %d (%s)", cut, size,
                          st, spcnn_last_error_message());
            assert_message_has(path);
            format_errors++;
        } else if (st == SPCNN_OK) {
            ck_assert_int_eq(memcmp(buf, img, sizeof img), 0);
            still_read++;
        } else {
            ck_assert_int_eq(st, SPCNN_ERR_FORMAT);
        }
    }
    printf("png: %zu truncations rejected, %zu cut inside IEND still read\n", format_errors,
           still_read);

    /* Corruption: a changed byte in IHDR (its CRC fails), in the compressed data and in the
     * CRC of IDAT (ancillary chunks may be damaged harmlessly: libpng only warns). */
    size_t idat = find_chunk(bytes, size, "IDAT");
    size_t corrupt_at[] = {8 + 8 + 2, idat + 8, idat + 8 + 4, idat + 8 + read_be32(bytes + idat)};
    for (size_t k = 0; k < sizeof corrupt_at / sizeof corrupt_at[0]; k++) {
        bytes[corrupt_at[k]] ^= 0x5A;
        tu_write_file(path, bytes, size);
        spcnn_status st = spcnn_png_read(path, buf, sizeof buf, &h, &w);
        ck_assert_msg(st == SPCNN_ERR_FORMAT, "corrupt byte %zu: status %d", corrupt_at[k], st);
        assert_message_has(path);
        assert_message_has("libpng");
        bytes[corrupt_at[k]] ^= 0x5A;
    }
    free(bytes);
}
END_TEST

/* CRC-32 of PNG chunks (ISO 3309), bit by bit: test code, speed is irrelevant. */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A PNG whose IHDR claims height × width, followed by an empty IDAT. */
static size_t craft_header_only_png(uint8_t *out, uint32_t height, uint32_t width)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    uint8_t *ihdr = out + 8;
    put_be32(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    put_be32(ihdr + 8, width);
    put_be32(ihdr + 12, height);
    ihdr[16] = 8, ihdr[17] = 0, ihdr[18] = 0, ihdr[19] = 0, ihdr[20] = 0;
    put_be32(ihdr + 21, crc32_png(ihdr + 4, 17));
    uint8_t *idat = ihdr + 25;
    put_be32(idat, 0);
    memcpy(idat + 4, "IDAT", 4);
    put_be32(idat + 8, crc32_png(idat + 4, 4));
    return 8 + 25 + 12;
}

START_TEST(test_png_absurd_size)
{
    char path[512];
    uint8_t file[64];
    size_t h = 0, w = 0;
    tmp_path(path, sizeof path, "huge.png");
    /* The crafted header is valid: a plausible size reads its dimensions. */
    tu_write_file(path, file, craft_header_only_png(file, 9, 11));
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_OK);
    ck_assert_uint_eq(h, 9);
    ck_assert_uint_eq(w, 11);
    /* 5e9 pixels: each side is allowed but the total is beyond libpng's 32-bit buffers. */
    tu_write_file(path, file, craft_header_only_png(file, 5000, 1000000));
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_ERR_FORMAT);
    assert_message_has("too large");
    assert_message_has(path);
    /* A side beyond 1 000 000 is refused by libpng itself. */
    tu_write_file(path, file, craft_header_only_png(file, 1, 1000001));
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_ERR_FORMAT);
    assert_message_has(path);
    tu_write_file(path, file, craft_header_only_png(file, 0x7fffffffu, 0x7fffffffu));
    ck_assert_int_eq(spcnn_png_read(path, NULL, 0, &h, &w), SPCNN_ERR_FORMAT);
}
END_TEST

START_TEST(test_png_buffer_too_small)
{
    char path[512];
    uint8_t img[5 * 9] = {0}, buf[5 * 9];
    tmp_path(path, sizeof path, "small.png");
    ck_assert_int_eq(spcnn_png_write(path, img, 5, 9), SPCNN_OK);
    size_t h = 0, w = 0;
    ck_assert_int_eq(spcnn_png_read(path, buf, 5 * 9 - 1, &h, &w), SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(h, 5);
    ck_assert_uint_eq(w, 9);
    assert_message_has("45");
    h = w = 0;
    ck_assert_int_eq(spcnn_png_read(path, buf, 0, &h, &w), SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(h, 5);
    ck_assert_uint_eq(w, 9);
    ck_assert_int_eq(spcnn_png_read(path, buf, 5 * 9, &h, &w), SPCNN_OK);
}
END_TEST

START_TEST(test_png_misuse)
{
    char path[512];
    uint8_t px[4] = {0};
    size_t h, w;
    tmp_path(path, sizeof path, "misuse.png");
    ck_assert_int_eq(spcnn_png_write(path, px, 2, 2), SPCNN_OK);

    ck_assert_int_eq(spcnn_png_read(NULL, px, 4, &h, &w), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_png_read(path, px, 4, NULL, &w), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_png_read(path, px, 4, &h, NULL), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_png_read(path, NULL, 4, &h, &w), SPCNN_ERR_INVALID_ARGUMENT);
    assert_message_has(path);
    ck_assert_int_eq(spcnn_png_read(path, NULL, SIZE_MAX, &h, &w), SPCNN_ERR_INVALID_ARGUMENT);

    ck_assert_int_eq(spcnn_png_write(NULL, px, 2, 2), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_png_write("", px, 2, 2), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_png_write(path, NULL, 2, 2), SPCNN_ERR_INVALID_ARGUMENT);
    const size_t bad[][2] = {{0, 2},       {2, 0},       {0, 0},        {1000001, 1},
                             {1, 1000001}, {SIZE_MAX, 1}, {1, SIZE_MAX}, {1000000, 1000000},
                             {SIZE_MAX, SIZE_MAX}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* The buffer is far too small for these sizes: it must never be read. */
        ck_assert_int_eq(spcnn_png_write(path, px, bad[i][0], bad[i][1]),
                         SPCNN_ERR_INVALID_ARGUMENT);
        assert_message_has(path);
    }
    /* The file from before is intact. */
    uint8_t *back = read_png_ok(path, 2, 2);
    free(back);
}
END_TEST

/* ---- IDX ----------------------------------------------------------------------------- */

/* The header of an IDX file of unsigned bytes; returns its length. */
static size_t make_idx_header(uint8_t *out, const uint32_t *dims, int ndims)
{
    out[0] = 0, out[1] = 0, out[2] = 0x08, out[3] = (uint8_t)ndims;
    for (int i = 0; i < ndims; i++)
        put_be32(out + 4 + 4 * i, dims[i]);
    return 4 + 4 * (size_t)ndims;
}

/* A whole IDX file: header, then the product of dims bytes of data. */
static size_t make_idx(uint8_t *out, const uint32_t *dims, int ndims, const uint8_t *data)
{
    size_t header = make_idx_header(out, dims, ndims), n = 1;
    for (int i = 0; i < ndims; i++)
        n *= dims[i];
    memcpy(out + header, data, n);
    return header + n;
}

START_TEST(test_idx_read)
{
    char path[512];
    tmp_path(path, sizeof path, "images.idx");
    uint8_t data[5 * 4 * 3], file[16 + sizeof data], buf[sizeof data + 3];
    tu_rng rng = {11};
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(tu_next(&rng) >> 56);
    tu_write_file(path, file, make_idx(file, (const uint32_t[]){5, 4, 3}, 3, data));
    size_t n = 0, h = 0, w = 0;
    ck_assert_int_eq(spcnn_idx_read(path, NULL, 0, &n, &h, &w), SPCNN_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(h, 4);
    ck_assert_uint_eq(w, 3);
    memset(buf, 0xEE, sizeof buf);
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, &h, &w), SPCNN_OK);
    ck_assert_int_eq(memcmp(buf, data, sizeof data), 0);
    ck_assert_uint_eq(buf[sizeof data], 0xEE);

    /* Too small: the sizes are still reported. */
    n = h = w = 0;
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof data - 1, &n, &h, &w),
                     SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_uint_eq(n * h * w, sizeof data);
    assert_message_has(path);

    /* 1-d labels read as count × 1 × 1, 2-d as count × height × 1. */
    uint8_t labels[7] = {0, 1, 2, 3, 4, 5, 9};
    tu_write_file(path, file, make_idx(file, (const uint32_t[]){7}, 1, labels));
    ck_assert_int_eq(spcnn_idx_read(path, buf, 7, &n, &h, &w), SPCNN_OK);
    ck_assert_uint_eq(n, 7);
    ck_assert_uint_eq(h, 1);
    ck_assert_uint_eq(w, 1);
    ck_assert_int_eq(memcmp(buf, labels, 7), 0);
    tu_write_file(path, file, make_idx(file, (const uint32_t[]){3, 5}, 2, data));
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, &h, &w), SPCNN_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(h, 5);
    ck_assert_uint_eq(w, 1);
    ck_assert_int_eq(memcmp(buf, data, 15), 0);
}
END_TEST

static void expect_idx_format_error(const char *path, const uint8_t *file, size_t size,
                                    const char *needle)
{
    tu_write_file(path, file, size);
    size_t n, h, w;
    uint8_t buf[256];
    /* Both the query and the read refuse it. */
    ck_assert_int_eq(spcnn_idx_read(path, NULL, 0, &n, &h, &w), SPCNN_ERR_FORMAT);
    assert_message_has(needle);
    assert_message_has(path);
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, &h, &w), SPCNN_ERR_FORMAT);
    assert_message_has(needle);
}

START_TEST(test_idx_malformed)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.idx");
    uint8_t file[64], data[2 * 3 * 4] = {0};
    size_t size = make_idx(file, (const uint32_t[]){2, 3, 4}, 3, data);

    file[0] = 0x01;
    expect_idx_format_error(path, file, size, "bad magic");
    file[0] = 0x1f, file[1] = 0x8b; /* a gzip file */
    expect_idx_format_error(path, file, size, "decompress");
    file[0] = 0, file[1] = 0;

    file[2] = 0x0D; /* float */
    expect_idx_format_error(path, file, size, "0x0d");
    file[2] = 0x08;

    file[3] = 0;
    expect_idx_format_error(path, file, 4, "0 dimensions");
    uint8_t four[64];
    size_t four_size = make_idx(four, (const uint32_t[]){1, 2, 3, 4}, 4, data);
    expect_idx_format_error(path, four, four_size, "4 dimensions");
    file[3] = 3;

    uint8_t zero[16];
    expect_idx_format_error(path, zero, make_idx_header(zero, (const uint32_t[]){2, 0, 4}, 3),
                            "dimension 1 is 0");
    expect_idx_format_error(path, zero, make_idx_header(zero, (const uint32_t[]){100000001}, 1),
                            "dimension 0 is 100000001");
    expect_idx_format_error(path, zero,
                            make_idx_header(zero, (const uint32_t[]){0xffffffffu, 1, 1}, 3),
                            "dimension 0 is 4294967295");
    expect_idx_format_error(path, zero,
                            make_idx_header(zero, (const uint32_t[]){100000, 100000, 1}, 3),
                            "elements");

    /* Trailing bytes. */
    uint8_t longer[64];
    memcpy(longer, file, size);
    longer[size] = 7;
    expect_idx_format_error(path, longer, size + 1, "expected 24 bytes of data, found 25");

    /* Cut at every offset: header, dimensions and data are all reported as truncated. */
    for (size_t cut = 0; cut < size; cut++) {
        tu_write_file(path, file, cut);
        size_t n, h, w;
        uint8_t buf[64];
        ck_assert_int_eq(spcnn_idx_read(path, NULL, 0, &n, &h, &w), SPCNN_ERR_FORMAT);
        assert_message_has("truncated");
        ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, &h, &w), SPCNN_ERR_FORMAT);
        assert_message_has("truncated");
        assert_message_has(path);
        if (cut >= 16) {
            char expect[64];
            snprintf(expect, sizeof expect, "expected 24 bytes of data, found %zu", cut - 16);
            assert_message_has(expect);
        }
    }
    printf("idx: %zu truncations of a %zu-byte file rejected\n", size, size);
}
END_TEST

START_TEST(test_idx_misuse)
{
    char path[512];
    size_t n, h, w;
    uint8_t buf[8];
    tmp_path(path, sizeof path, "no_such_file.idx");
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, &h, &w), SPCNN_ERR_IO);
    assert_message_has(path);
    assert_message_has(strerror(ENOENT));
    ck_assert_int_eq(spcnn_idx_read(tu_tmpdir(), NULL, 0, &n, &h, &w), SPCNN_ERR_IO);

    tmp_path(path, sizeof path, "ok.idx");
    uint8_t file[16];
    tu_write_file(path, file, make_idx(file, (const uint32_t[]){2}, 1, (const uint8_t[]){4, 5}));
    ck_assert_int_eq(spcnn_idx_read(NULL, buf, sizeof buf, &n, &h, &w),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, NULL, &h, &w),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, NULL, &w),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_idx_read(path, buf, sizeof buf, &n, &h, NULL),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_idx_read(path, NULL, 2, &n, &h, &w), SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_idx_read(path, NULL, SIZE_MAX, &n, &h, &w),
                     SPCNN_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(spcnn_idx_read(path, buf, 0, &n, &h, &w), SPCNN_ERR_BUFFER_TOO_SMALL);
    ck_assert_int_eq(spcnn_idx_read(path, buf, SIZE_MAX, &n, &h, &w), SPCNN_OK);
    ck_assert_uint_eq(buf[1], 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io");
    TCase *png = tcase_create("png");
    tcase_add_test(png, test_png_roundtrip);
    tcase_add_test(png, test_png_replace_is_atomic);
    tcase_add_test(png, test_png_colour_to_gray);
    tcase_add_test(png, test_png_missing_and_unwritable);
    tcase_add_test(png, test_png_malformed);
    tcase_add_test(png, test_png_absurd_size);
    tcase_add_test(png, test_png_buffer_too_small);
    tcase_add_test(png, test_png_misuse);
    suite_add_tcase(s, png);
    TCase *idx = tcase_create("idx");
    tcase_add_test(idx, test_idx_read);
    tcase_add_test(idx, test_idx_malformed);
    tcase_add_test(idx, test_idx_misuse);
    suite_add_tcase(s, idx);
    return tu_run_suite(s);
}
