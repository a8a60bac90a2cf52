/* Classifier files (docs/file-format.md, "Classifier files"): little-endian fields written one
 * by one, the LeNet shape, the parameter table by name, kind and dims, the averaged weights
 * without padding, and a CRC-32 over everything before it. A file is small (well under a few
 * MB), so it is built in memory and written at once; loading reads the whole file, walks its
 * structure with every field bounds-checked (a truncated file is reported at the field where
 * it ends), verifies the checksum, and only then builds the classifier and checks the file's
 * table against the one its shape builds. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "classifier/classifier.h"
#include "core/alloc.h"
#include "io/atomic_file.h"
#include "io/crc32.h"
#include "io/le.h"

#define MAGIC "SPCNNCLS"
enum { MAGIC_SIZE = 8, FORMAT_VERSION = 1, HEADER_SIZE = 60, SHAPE_AT = 20, SHAPE_FIELDS = 7 };
/* Longest dimension a row may declare: far above any classifier, small enough for products. */
#define MAX_DIM ((uint64_t)1 << 32)

static const char *const shape_field[SHAPE_FIELDS] = {
    "height", "width", "classes", "conv1 channels", "conv2 channels", "fc1 units", "fc2 units"};

static size_t row_record_size(const spcnn__param *r)
{
    return 2 + strlen(r->name) + 4 + 4 + 8 * (size_t)r->ndims + 8;
}

/* ---- saving ------------------------------------------------------------------------------ */

spcnn_status spcnn__classifier_file_save(const spcnn_classifier *c, const char *path)
{
    SPCNN_CHECK_ARG(*path != '\0', "classifier save: path is empty");
    const spcnn__params *p = &c->params;
    /* A file holding a NaN could be written but never loaded: refuse it here. */
    for (size_t r = 0; r < p->nrows; r++) {
        const float *x = spcnn__params_ema(p, r);
        for (size_t j = 0; j < p->rows[r].count; j++)
            SPCNN_CHECK_ARG(isfinite(x[j]),
                            "classifier save: %s: weight %zu of \"%s\" is %g; refusing to write "
                            "a file that cannot be loaded",
                            path, j, p->rows[r].name, (double)x[j]);
    }
    size_t size = HEADER_SIZE + 4 * p->nvalues + 4;
    for (size_t r = 0; r < p->nrows; r++)
        size += row_record_size(&p->rows[r]);
    uint8_t *buf = spcnn__malloc(size);
    if (buf == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "classifier save: %s: out of memory", path);

    uint8_t *at = buf;
    memcpy(at, MAGIC, MAGIC_SIZE);
    spcnn__le_put_u32(at + 8, FORMAT_VERSION);
    spcnn__le_put_u32(at + 12, 0); /* flags */
    spcnn__le_put_u32(at + 16, spcnn_version_number());
    const spcnn__lenet_shape *s = &c->shape;
    const int shape[SHAPE_FIELDS] = {s->h, s->w, s->classes, s->c1, s->c2, s->f1, s->f2};
    for (int i = 0; i < SHAPE_FIELDS; i++)
        spcnn__le_put_u32(at + SHAPE_AT + 4 * i, (uint32_t)shape[i]);
    spcnn__le_put_u64(at + 48, c->optim.t);
    spcnn__le_put_u32(at + 56, (uint32_t)p->nrows);
    at += HEADER_SIZE;
    for (size_t r = 0; r < p->nrows; r++) {
        const spcnn__param *row = &p->rows[r];
        size_t len = strlen(row->name);
        spcnn__le_put_u16(at, (uint16_t)len);
        memcpy(at + 2, row->name, len);
        at += 2 + len;
        spcnn__le_put_u32(at, (uint32_t)row->kind);
        spcnn__le_put_u32(at + 4, (uint32_t)row->ndims);
        at += 8;
        for (int d = 0; d < row->ndims; d++, at += 8)
            spcnn__le_put_u64(at, (uint64_t)row->dims[d]);
        spcnn__le_put_u64(at, (uint64_t)row->count);
        at += 8;
    }
    for (size_t r = 0; r < p->nrows; r++) {
        const float *x = spcnn__params_ema(p, r);
        for (size_t j = 0; j < p->rows[r].count; j++, at += 4)
            spcnn__le_put_u32(at, spcnn__f32_bits(x[j]));
    }
    spcnn__le_put_u32(at, spcnn__crc32_update(0, buf, size - 4));

    spcnn__atomic_file f;
    spcnn_status st = spcnn__atomic_file_open(&f, path, "classifier save");
    if (st != SPCNN_OK) {
        spcnn__free(buf);
        return st;
    }
    errno = 0;
    size_t wrote = fwrite(buf, 1, size, f.fp);
    int err = errno ? errno : EIO;
    spcnn__free(buf);
    if (wrote != size) {
        st = spcnn__error(SPCNN_ERR_IO, "classifier save: %s: writing %s: %s", path, f.tmp,
                          strerror(err));
        spcnn__atomic_file_abort(&f);
        return st;
    }
    return spcnn__atomic_file_commit(&f);
}

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *data;
    size_t size, pos;
    const char *path;
} reader;

static spcnn_status truncated(const reader *r, size_t n, const char *what, long index)
{
    char field[96];
    if (index >= 0)
        snprintf(field, sizeof field, "row %ld %s", index, what);
    else
        snprintf(field, sizeof field, "%s", what);
    return spcnn__error(SPCNN_ERR_FORMAT,
                        "classifier load: %s: classifier file truncated at byte %zu (reading "
                        "%s: %zu bytes at offset %zu)",
                        r->path, r->size, field, n, r->pos);
}

static spcnn_status bad_field(const reader *r, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static spcnn_status bad_field(const reader *r, size_t at, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return spcnn__error(SPCNN_ERR_FORMAT,
                        "classifier load: %s: corrupt classifier file: %s (byte %zu)", r->path,
                        detail, at);
}

#define TAKE(ptr, r, n, what, index)                       \
    do {                                                   \
        if ((r)->size - (r)->pos < (n))                    \
            return truncated((r), (n), (what), (index));   \
        (ptr) = (r)->data + (r)->pos;                      \
        (r)->pos += (n);                                   \
    } while (0)

typedef struct file_row {
    const uint8_t *name;
    size_t name_len, at;
    uint32_t kind, ndims;
    uint64_t dims[4], count;
} file_row;

static spcnn_status read_row(reader *r, long i, file_row *row)
{
    const uint8_t *p;
    row->at = r->pos;
    TAKE(p, r, 2, "name length", i);
    row->name_len = spcnn__le_get_u16(p);
    if (row->name_len == 0 || row->name_len >= SPCNN__PARAM_NAME_MAX)
        return bad_field(r, row->at, "row %ld name length %zu is not in [1, %d]", i,
                         row->name_len, SPCNN__PARAM_NAME_MAX - 1);
    TAKE(row->name, r, row->name_len, "name", i);
    size_t at = r->pos;
    TAKE(p, r, 4, "kind", i);
    row->kind = spcnn__le_get_u32(p);
    if (row->kind > SPCNN__PARAM_BIAS)
        return bad_field(r, at, "row %ld kind %" PRIu32 " is unknown", i, row->kind);
    at = r->pos;
    TAKE(p, r, 4, "dimension count", i);
    row->ndims = spcnn__le_get_u32(p);
    if (row->ndims < 1 || row->ndims > 4)
        return bad_field(r, at, "row %ld has %" PRIu32 " dimensions, not 1 to 4", i,
                         row->ndims);
    uint64_t product = 1;
    for (uint32_t d = 0; d < row->ndims; d++) {
        at = r->pos;
        TAKE(p, r, 8, "dims", i);
        row->dims[d] = spcnn__le_get_u64(p);
        if (row->dims[d] == 0 || row->dims[d] > MAX_DIM / product)
            return bad_field(r, at, "row %ld dimension %" PRIu32 " is %" PRIu64
                             " (zero, or more than 2^32 values in the row)",
                             i, d, row->dims[d]);
        product *= row->dims[d];
    }
    at = r->pos;
    TAKE(p, r, 8, "value count", i);
    row->count = spcnn__le_get_u64(p);
    if (row->count != product)
        return bad_field(r, at, "row %ld value count %" PRIu64 " is not the product of its "
                         "dims (%" PRIu64 ")", i, row->count, product);
    return SPCNN_OK;
}

typedef struct header {
    uint32_t version, flags;
    uint32_t shape[SHAPE_FIELDS];
    uint64_t step;
    uint32_t nrows;
    size_t rows_at, values_at;
    uint64_t nvalues;
} header;

/* Magic, header, shape and table with every field checked, then the file's length against
 * what the table calls for. Nothing is trusted from a field that comes after a failure. */
static spcnn_status parse_structure(reader *r, header *h)
{
    memset(h, 0, sizeof *h);
    const uint8_t *p;
    if (r->size < MAGIC_SIZE && r->size > 0 && memcmp(r->data, MAGIC, r->size) == 0)
        return truncated(r, MAGIC_SIZE, "magic", -1);
    if (r->size < MAGIC_SIZE || memcmp(r->data, MAGIC, MAGIC_SIZE) != 0)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "classifier load: %s: not a classifier file (%s)", r->path,
                            r->size == 0 ? "empty file" : "no \"" MAGIC "\" magic");
    r->pos = MAGIC_SIZE;
    size_t at = r->pos;
    TAKE(p, r, 4, "format version", -1);
    h->version = spcnn__le_get_u32(p);
    if (h->version == 0)
        return bad_field(r, at, "format version 0 does not exist");
    if (h->version > FORMAT_VERSION)
        return spcnn__error(SPCNN_ERR_VERSION,
                            "classifier load: %s: written by a newer format version %" PRIu32
                            " (this library reads up to %d)",
                            r->path, h->version, FORMAT_VERSION);
    TAKE(p, r, 4, "flags", -1);
    h->flags = spcnn__le_get_u32(p);
    TAKE(p, r, 4, "writer version", -1);
    for (int i = 0; i < SHAPE_FIELDS; i++) {
        TAKE(p, r, 4, shape_field[i], -1);
        h->shape[i] = spcnn__le_get_u32(p);
    }
    TAKE(p, r, 8, "optimiser step", -1);
    h->step = spcnn__le_get_u64(p);
    at = r->pos;
    TAKE(p, r, 4, "row count", -1);
    h->nrows = spcnn__le_get_u32(p);
    if (h->nrows != SPCNN__LENET_ROWS)
        return bad_field(r, at, "%" PRIu32 " parameter rows (a LeNet has %d)", h->nrows,
                         SPCNN__LENET_ROWS);
    h->rows_at = r->pos;
    for (uint32_t i = 0; i < h->nrows; i++) {
        file_row row;
        SPCNN_TRY(read_row(r, (long)i, &row));
        h->nvalues += row.count;
    }
    h->values_at = r->pos;
    uint64_t expected = (uint64_t)h->values_at + 4 * h->nvalues + 4;
    if ((uint64_t)r->size < expected)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "classifier load: %s: classifier file truncated at byte %zu of "
                            "%" PRIu64 " (reading the %s)",
                            r->path, r->size, expected,
                            (uint64_t)r->size >= expected - 4 ? "checksum" : "weights");
    if ((uint64_t)r->size > expected)
        return bad_field(r, (size_t)expected,
                         "%" PRIu64 " unexpected bytes after the checksum (the table calls for "
                         "a file of %" PRIu64 " bytes)",
                         (uint64_t)r->size - expected, expected);
    return SPCNN_OK;
}

/* The file's table must be the one its shape builds, row by row. */
static spcnn_status check_table(const reader *r, const header *h, const spcnn__params *p)
{
    reader walk = *r;
    walk.pos = h->rows_at;
    for (uint32_t i = 0; i < h->nrows; i++) {
        file_row fr;
        SPCNN_TRY(read_row(&walk, (long)i, &fr)); /* walked before: cannot fail */
        const spcnn__param *row = &p->rows[i];
        int same = fr.name_len == strlen(row->name) &&
                   memcmp(fr.name, row->name, fr.name_len) == 0 &&
                   fr.kind == (uint32_t)row->kind && fr.ndims == (uint32_t)row->ndims;
        for (int d = 0; same && d < row->ndims; d++)
            same = fr.dims[d] == (uint64_t)row->dims[d];
        if (!same)
            return bad_field(r, fr.at,
                             "parameter row %" PRIu32 " \"%.*s\" is not the row \"%s\" that "
                             "the file's shape builds (name, kind or dims differ)",
                             i, (int)fr.name_len, (const char *)fr.name, row->name);
    }
    return SPCNN_OK;
}

static spcnn_status read_whole_file(const char *path, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return spcnn__error(SPCNN_ERR_IO, "classifier load: %s: %s", path, strerror(errno));
    struct stat st;
    int err = fstat(fileno(fp), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (err == 0 && !S_ISREG(st.st_mode)) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "classifier load: %s: not a regular file", path);
    }
    if (err != 0) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "classifier load: %s: %s", path, strerror(err));
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX - 1) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "classifier load: %s: a file of %jd bytes does not fit in memory",
                            path, (intmax_t)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = spcnn__malloc(n);
    if (!buf) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "classifier load: %s: no memory to read its %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, fp);
    err = ferror(fp) ? errno : 0;
    fclose(fp);
    if (got != n) {
        spcnn__free(buf);
        return spcnn__error(SPCNN_ERR_IO, "classifier load: %s: read %zu of %zu bytes: %s",
                            path, got, n,
                            err ? strerror(err) : "the file shrank while being read");
    }
    *data = buf;
    *size = n;
    return SPCNN_OK;
}

spcnn_status spcnn__classifier_file_load_memory(const void *data, size_t size, const char *name,
                                                spcnn_classifier **out)
{
    *out = NULL;
    reader r = {data, size, 0, name};
    header h;
    SPCNN_TRY(parse_structure(&r, &h));
    uint32_t stored = spcnn__le_get_u32(r.data + size - 4);
    uint32_t computed = spcnn__crc32_update(0, r.data, size - 4);
    if (stored != computed)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "classifier load: %s: corrupt classifier file: checksum mismatch "
                            "(stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
                            name, stored, computed);
    if (h.flags != 0)
        return bad_field(&r, 12, "unknown flags 0x%08" PRIx32 " (format version 1 has none)",
                         h.flags);
    for (int i = 0; i < SHAPE_FIELDS; i++)
        if (h.shape[i] > SPCNN__LENET_MAX_WIDTH)
            return bad_field(&r, SHAPE_AT + 4 * (size_t)i, "%s %" PRIu32 " is out of range",
                             shape_field[i], h.shape[i]);
    spcnn__lenet_shape s = {0,
                            (int)h.shape[0],
                            (int)h.shape[1],
                            (int)h.shape[2],
                            (int)h.shape[3],
                            (int)h.shape[4],
                            (int)h.shape[5],
                            (int)h.shape[6]};
    int h1, w1, h2, w2;
    spcnn_status st = spcnn__lenet_check(&s, &h1, &w1, &h2, &w2);
    if (st != SPCNN_OK) {
        char context[200];
        snprintf(context, sizeof context,
                 "classifier load: %s: corrupt classifier file: its shape (bytes %d to %d)",
                 name, SHAPE_AT, SHAPE_AT + 4 * SHAPE_FIELDS - 1);
        return spcnn__error_context(SPCNN_ERR_FORMAT, context);
    }
    spcnn_classifier *c = NULL;
    SPCNN_TRY(spcnn__classifier_new(&s, 0, &c));
    SPCNN_TRY_GOTO(st, check_table(&r, &h, &c->params));
    const uint8_t *src = r.data + h.values_at;
    spcnn__params *p = &c->params;
    for (size_t i = 0; i < p->nrows; i++) {
        float *dst = spcnn__params_ema(p, i);
        for (size_t j = 0; j < p->rows[i].count; j++, src += 4) {
            float x = spcnn__le_get_f32(src);
            if (!isfinite(x)) {
                st = bad_field(&r, (size_t)(src - r.data), "weight %zu of \"%s\" is %g", j,
                               p->rows[i].name, (double)x);
                goto fail;
            }
            dst[j] = x;
        }
    }
    /* Training goes on from the averaged weights with a fresh optimiser. */
    memcpy(p->buf[SPCNN__BUF_VALUE], p->buf[SPCNN__BUF_EMA], p->total * sizeof(float));
    c->optim.t = h.step;
    *out = c;
    return SPCNN_OK;
fail:
    spcnn_classifier_destroy(c);
    return st;
}

spcnn_status spcnn__classifier_file_load(const char *path, spcnn_classifier **out)
{
    *out = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    SPCNN_TRY(read_whole_file(path, &data, &size));
    spcnn_status st = spcnn__classifier_file_load_memory(data, size, path, out);
    spcnn__free(data);
    return st;
}
