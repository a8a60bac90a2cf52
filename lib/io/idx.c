/* IDX files of unsigned bytes (MNIST's format): magic 00 00 08 <ndims>, then ndims big-endian
 * 32-bit sizes, then the data. Everything is validated before a byte of data is trusted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

enum { IDX_TYPE_UBYTE = 0x08, IDX_MAX_DIMS = 3 };
/* Far beyond any real data set, yet small enough that no product overflows. */
#define IDX_DIM_MAX 100000000ul
#define IDX_ELEMENTS_MAX ((size_t)1 << 31)

static unsigned long be32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 |
           (unsigned long)p[3];
}

static spcnn_status read_error(FILE *fp, const char *path, const char *what, size_t expected,
                               size_t found)
{
    if (ferror(fp))
        return spcnn__error(SPCNN_ERR_IO, "idx: %s: read error: %s", path, strerror(errno));
    return spcnn__error(SPCNN_ERR_FORMAT, "idx: %s: truncated: expected %zu bytes of %s, found %zu",
                        path, expected, what, found);
}

static spcnn_status idx_read_open(FILE *fp, const char *path, uint8_t *data, size_t capacity,
                                  size_t *count, size_t *height, size_t *width)
{
    unsigned char magic[4];
    size_t got = fread(magic, 1, sizeof magic, fp);
    if (got < sizeof magic)
        return read_error(fp, path, "header", sizeof magic, got);
    if (magic[0] != 0 || magic[1] != 0)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "idx: %s: bad magic %02x %02x (an IDX file starts with 00 00; "
                            "decompress .gz files first)",
                            path, magic[0], magic[1]);
    if (magic[2] != IDX_TYPE_UBYTE)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "idx: %s: element type 0x%02x is not unsigned byte (0x08)", path,
                            magic[2]);
    unsigned ndims = magic[3];
    if (ndims < 1 || ndims > IDX_MAX_DIMS)
        return spcnn__error(SPCNN_ERR_FORMAT, "idx: %s: %u dimensions (1 to %d supported)",
                            path, ndims, IDX_MAX_DIMS);

    unsigned char raw[4 * IDX_MAX_DIMS];
    got = fread(raw, 1, 4 * (size_t)ndims, fp);
    if (got < 4 * (size_t)ndims)
        return read_error(fp, path, "dimensions", 4 * (size_t)ndims, got);
    size_t dims[IDX_MAX_DIMS] = {1, 1, 1};
    size_t total = 1;
    for (unsigned i = 0; i < ndims; i++) {
        unsigned long d = be32(raw + 4 * i);
        if (d == 0 || d > IDX_DIM_MAX)
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "idx: %s: dimension %u is %lu (must be 1 to %lu)", path, i, d,
                                IDX_DIM_MAX);
        dims[i] = (size_t)d;
        total *= dims[i]; /* each factor <= 1e8 and the running product <= 2^31: no overflow */
        if (total > IDX_ELEMENTS_MAX)
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "idx: %s: more than %zu elements in the dimensions", path,
                                IDX_ELEMENTS_MAX);
    }
    size_t header = 4 + 4 * (size_t)ndims;

    /* For a regular file the size settles truncation and trailing bytes before any data is
     * read, so a query reports them too; a pipe is checked while reading. */
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) {
        size_t found = (size_t)st.st_size >= header ? (size_t)st.st_size - header : 0;
        if (found < total)
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "idx: %s: truncated: expected %zu bytes of data, found %zu",
                                path, total, found);
        if (found > total)
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "idx: %s: %zu trailing bytes: expected %zu bytes of data, "
                                "found %zu",
                                path, found - total, total, found);
    }
    *count = dims[0];
    *height = dims[1];
    *width = dims[2];
    if (data == NULL)
        return SPCNN_OK;
    if (capacity < total)
        return spcnn__error(SPCNN_ERR_BUFFER_TOO_SMALL,
                            "idx: %s: %zu x %zu x %zu bytes do not fit a buffer of %zu", path,
                            dims[0], dims[1], dims[2], capacity);
    got = fread(data, 1, total, fp);
    if (got < total)
        return read_error(fp, path, "data", total, got);
    if (fgetc(fp) != EOF)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "idx: %s: trailing bytes after the %zu bytes of data", path, total);
    if (ferror(fp))
        return spcnn__error(SPCNN_ERR_IO, "idx: %s: read error: %s", path, strerror(errno));
    return SPCNN_OK;
}

spcnn_status spcnn_idx_read(const char *path, uint8_t *data, size_t capacity, size_t *count,
                            size_t *height, size_t *width)
{
    SPCNN_CHECK_ARG(path != NULL, "idx_read: path is NULL");
    SPCNN_CHECK_ARG(count != NULL && height != NULL && width != NULL,
                    "idx_read: %s: count, height or width is NULL", path);
    SPCNN_CHECK_ARG(data != NULL || capacity == 0,
                    "idx_read: %s: data is NULL but capacity is %zu (query with capacity 0)",
                    path, capacity);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return spcnn__error(SPCNN_ERR_IO, "idx: %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "idx: %s: %s", path, strerror(EISDIR));
    }
    spcnn_status status = idx_read_open(fp, path, data, capacity, count, height, width);
    fclose(fp);
    return status;
}
