/* The parts model files and classifier files share (param_table_file.h). */
#include "io/param_table_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/alloc.h"
#include "io/le.h"

enum { MAGIC_SIZE = 8 };

spcnn_status spcnn__file_truncated(const spcnn__file_reader *r, size_t n, const char *group,
                                   long index, const char *field)
{
    char what[96];
    if (index >= 0)
        snprintf(what, sizeof what, "%s %ld %s", group, index, field);
    else
        snprintf(what, sizeof what, "%s", field);
    return spcnn__error(SPCNN_ERR_FORMAT,
                        "%s: %s: %s file truncated at byte %zu (reading %s: %zu bytes at "
                        "offset %zu)",
                        r->op, r->path, r->kind, r->size, what, n, r->pos);
}

spcnn_status spcnn__file_bad_field(const spcnn__file_reader *r, size_t at, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return spcnn__error(SPCNN_ERR_FORMAT, "%s: %s: corrupt %s file: %s (byte %zu)", r->op,
                        r->path, r->kind, detail, at);
}

spcnn_status spcnn__file_read_preamble(spcnn__file_reader *r, const char *magic, uint32_t newest,
                                       uint32_t *version, uint32_t *flags, uint32_t *writer)
{
    if (r->size < MAGIC_SIZE && r->size > 0 && memcmp(r->data, magic, r->size) == 0)
        return spcnn__file_truncated(r, MAGIC_SIZE, "", -1, "magic");
    if (r->size == 0)
        return spcnn__error(SPCNN_ERR_FORMAT, "%s: %s: not a %s file (empty file)", r->op,
                            r->path, r->kind);
    if (r->size < MAGIC_SIZE || memcmp(r->data, magic, MAGIC_SIZE) != 0)
        return spcnn__error(SPCNN_ERR_FORMAT, "%s: %s: not a %s file (no \"%s\" magic)", r->op,
                            r->path, r->kind, magic);
    r->pos = MAGIC_SIZE;
    const uint8_t *p;
    size_t at = r->pos;
    SPCNN__FILE_TAKE(p, r, 4, "", -1, "format version");
    *version = spcnn__le_get_u32(p);
    if (*version == 0)
        return spcnn__file_bad_field(r, at, "format version 0 does not exist");
    if (*version > newest)
        return spcnn__error(SPCNN_ERR_VERSION,
                            "%s: %s: written by a newer format version %" PRIu32
                            " (this library reads up to %" PRIu32 ")",
                            r->op, r->path, *version, newest);
    SPCNN__FILE_TAKE(p, r, 4, "", -1, "flags");
    *flags = spcnn__le_get_u32(p);
    SPCNN__FILE_TAKE(p, r, 4, "", -1, "writer version");
    *writer = spcnn__le_get_u32(p);
    return SPCNN_OK;
}

spcnn_status spcnn__file_check_end(const spcnn__file_reader *r, uint64_t expected)
{
    if ((uint64_t)r->size > expected)
        return spcnn__file_bad_field(r, (size_t)expected,
                                     "%" PRIu64 " unexpected bytes after the checksum (the table "
                                     "calls for a file of %" PRIu64 " bytes)",
                                     (uint64_t)r->size - expected, expected);
    return SPCNN_OK;
}

spcnn_status spcnn__file_check_crc(const spcnn__file_reader *r)
{
    uint32_t stored = spcnn__le_get_u32(r->data + r->size - 4);
    uint32_t computed = (uint32_t)crc32_z(0, r->data, r->size - 4);
    if (stored != computed)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "%s: %s: corrupt %s file: checksum mismatch (stored 0x%08" PRIx32
                            ", computed 0x%08" PRIx32 ")",
                            r->op, r->path, r->kind, stored, computed);
    return SPCNN_OK;
}

spcnn_status spcnn__file_read_whole(const char *path, const char *op, uint8_t **data,
                                    size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return spcnn__error(SPCNN_ERR_IO, "%s: %s: %s", op, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int err = errno;
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "%s: %s: %s", op, path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "%s: %s: %s", op, path,
                            S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX - 1) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "%s: %s: a file of %jd bytes does not fit in memory", op, path,
                            (intmax_t)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = spcnn__malloc(n);
    if (!buf) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "%s: %s: no memory to read its %zu bytes",
                            op, path, n);
    }
    size_t got = fread(buf, 1, n, fp);
    if (got != n) {
        int err = ferror(fp) ? errno : 0;
        fclose(fp);
        spcnn__free(buf);
        return spcnn__error(SPCNN_ERR_IO, "%s: %s: read %zu of %zu bytes: %s", op, path, got,
                            n, err ? strerror(err) : "the file shrank while being read");
    }
    fclose(fp);
    *data = buf;
    *size = n;
    return SPCNN_OK;
}

/* ---- row records ------------------------------------------------------------------------- */

size_t spcnn__param_row_size(const spcnn__param *row)
{
    return 2 + strlen(row->name) + 4 + 4 + 8 * (size_t)row->ndims + 8;
}

void spcnn__param_row_put(uint8_t *p, const spcnn__param *row)
{
    size_t len = strlen(row->name);
    spcnn__le_put_u16(p, (uint16_t)len);
    memcpy(p + 2, row->name, len);
    p += 2 + len;
    spcnn__le_put_u32(p, (uint32_t)row->kind);
    spcnn__le_put_u32(p + 4, (uint32_t)row->ndims);
    p += 8;
    for (int d = 0; d < row->ndims; d++, p += 8)
        spcnn__le_put_u64(p, (uint64_t)row->dims[d]);
    spcnn__le_put_u64(p, (uint64_t)row->count);
}

spcnn_status spcnn__param_row_read(spcnn__file_reader *r, long i, int max_log2,
                                   spcnn__file_row *row)
{
    const uint64_t max_count = (uint64_t)1 << max_log2;
    const uint8_t *p;
    size_t at = row->at = r->pos;
    SPCNN__FILE_TAKE(p, r, 2, "row", i, "name length");
    row->name_len = spcnn__le_get_u16(p);
    if (row->name_len == 0 || row->name_len >= SPCNN__PARAM_NAME_MAX)
        return spcnn__file_bad_field(r, at, "row %ld name length %zu is not in [1, %d]", i,
                                     row->name_len, SPCNN__PARAM_NAME_MAX - 1);
    at = r->pos;
    SPCNN__FILE_TAKE(row->name, r, row->name_len, "row", i, "name");
    if (memchr(row->name, '\0', row->name_len))
        return spcnn__file_bad_field(r, at, "row %ld name contains a NUL byte", i);
    at = r->pos;
    SPCNN__FILE_TAKE(p, r, 4, "row", i, "kind");
    row->kind = spcnn__le_get_u32(p);
    if (row->kind > SPCNN__PARAM_BIAS)
        return spcnn__file_bad_field(r, at, "row %ld kind %" PRIu32 " is unknown", i,
                                     row->kind);
    at = r->pos;
    SPCNN__FILE_TAKE(p, r, 4, "row", i, "dimension count");
    row->ndims = spcnn__le_get_u32(p);
    if (row->ndims < 1 || row->ndims > 4)
        return spcnn__file_bad_field(r, at, "row %ld has %" PRIu32 " dimensions, not 1 to 4",
                                     i, row->ndims);
    uint64_t product = 1;
    for (uint32_t d = 0; d < row->ndims; d++) {
        at = r->pos;
        SPCNN__FILE_TAKE(p, r, 8, "row", i, "dims");
        row->dims[d] = spcnn__le_get_u64(p);
        if (row->dims[d] == 0 || row->dims[d] > max_count / product)
            return spcnn__file_bad_field(r, at,
                                         "row %ld dimension %" PRIu32 " is %" PRIu64
                                         " (zero, or more than 2^%d values in the row)",
                                         i, d, row->dims[d], max_log2);
        product *= row->dims[d];
    }
    at = r->pos;
    SPCNN__FILE_TAKE(p, r, 8, "row", i, "value count");
    row->count = spcnn__le_get_u64(p);
    if (row->count != product)
        return spcnn__file_bad_field(r, at,
                                     "row %ld value count %" PRIu64 " is not the product of "
                                     "its dims (%" PRIu64 ")",
                                     i, row->count, product);
    return SPCNN_OK;
}

int spcnn__param_row_matches(const spcnn__file_row *fr, const spcnn__param *row)
{
    int same = fr->name_len == strlen(row->name) &&
               memcmp(fr->name, row->name, fr->name_len) == 0 &&
               fr->kind == (uint32_t)row->kind && fr->ndims == (uint32_t)row->ndims;
    for (int d = 0; same && d < row->ndims; d++)
        same = fr->dims[d] == (uint64_t)row->dims[d];
    return same;
}

spcnn_status spcnn__param_table_read(spcnn__file_reader *r, uint32_t nrows, int max_log2,
                                     uint64_t *nvalues)
{
    for (uint32_t i = 0; i < nrows; i++) {
        spcnn__file_row row;
        SPCNN_TRY(spcnn__param_row_read(r, (long)i, max_log2, &row));
        *nvalues += row.count;
    }
    return SPCNN_OK;
}

spcnn_status spcnn__param_table_compare(const spcnn__file_reader *r, size_t rows_at,
                                        uint32_t nrows, int max_log2, const spcnn__params *p,
                                        uint32_t *diff, spcnn__file_row *fr)
{
    spcnn__file_reader walk = *r;
    walk.pos = rows_at;
    for (*diff = 0; *diff < nrows; ++*diff) {
        /* walked before: cannot fail */
        SPCNN_TRY(spcnn__param_row_read(&walk, (long)*diff, max_log2, fr));
        if (!spcnn__param_row_matches(fr, &p->rows[*diff]))
            break;
    }
    return SPCNN_OK;
}
