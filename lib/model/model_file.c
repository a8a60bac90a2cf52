/* Model files (docs/file-format.md has the layout byte by byte): little-endian fields written
 * one by one, the parameter table by name, kind and dims, the tensors without padding, and a
 * CRC-32 over everything. Loading reads the whole file, walks its structure with every field
 * bounds-checked (so a truncated file is reported at the field where it ends), verifies the
 * checksum, and only then builds the model and checks the file's table against the model's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/crc32.h"
#include "io/le.h"
#include "model/model_file.h"

#define MAGIC "SPCNNMDL"
enum { MAGIC_SIZE = 8, FORMAT_VERSION = 1 };
#define FLAG_TRAINING_STATE 1u
#define FLAGS_KNOWN FLAG_TRAINING_STATE

/* Reader limits, far above any real model, that keep every size computed from the file within
 * 64 bits: at most 2^20 rows of 2^36 floats, four sections of 4 bytes each -> < 2^62 bytes. */
#define MAX_KEYS 4096u
#define MAX_ROWS (1u << 20)
#define MAX_COUNT ((uint64_t)1 << 36)

/* Bytes of the fixed header: magic, version, flags, writer version, key count. */
enum { HEADER_SIZE = 24, KEY_RECORD_SIZE = 12 };

/* Tensor sections in file order: the EMA always, then the training state. */
enum { MAX_SECTIONS = 4 };
static const spcnn__param_buf section_buf[MAX_SECTIONS] = {
    SPCNN__BUF_EMA, SPCNN__BUF_VALUE, SPCNN__BUF_ADAM_M, SPCNN__BUF_ADAM_V};
static const char *const section_name[MAX_SECTIONS] = {
    "EMA values", "raw values", "Adam first moments", "Adam second moments"};

/* ---- saving ------------------------------------------------------------------------------ */

enum { WRITE_CHUNK = 1 << 15 };

/* A buffered writer that checksums what it writes; the first write error sticks. */
typedef struct writer {
    FILE *fp;
    uint32_t crc;
    size_t n;
    int err; /* errno of the first failed write, 0 while all is well */
    uint8_t buf[WRITE_CHUNK];
} writer;

static void w_flush(writer *w)
{
    w->crc = spcnn__crc32_update(w->crc, w->buf, w->n);
    if (w->err == 0 && w->n > 0) {
        errno = 0;
        if (fwrite(w->buf, 1, w->n, w->fp) != w->n)
            w->err = errno ? errno : EIO;
    }
    w->n = 0;
}
static uint8_t *w_room(writer *w, size_t k)
{
    if (WRITE_CHUNK - w->n < k)
        w_flush(w);
    uint8_t *p = w->buf + w->n;
    w->n += k;
    return p;
}
static void w_u16(writer *w, uint16_t v) { spcnn__le_put_u16(w_room(w, 2), v); }
static void w_u32(writer *w, uint32_t v) { spcnn__le_put_u32(w_room(w, 4), v); }
static void w_u64(writer *w, uint64_t v) { spcnn__le_put_u64(w_room(w, 8), v); }

static void write_row(writer *w, const spcnn__param *row)
{
    size_t len = strlen(row->name);
    w_u16(w, (uint16_t)len);
    memcpy(w_room(w, len), row->name, len);
    w_u32(w, (uint32_t)row->kind);
    w_u32(w, (uint32_t)row->ndims);
    for (int d = 0; d < row->ndims; d++)
        w_u64(w, (uint64_t)row->dims[d]);
    w_u64(w, (uint64_t)row->count);
}

/* A file holding a NaN could be written but never loaded; refuse it here instead. */
static spcnn_status check_writable(const spcnn__params *p, const char *path, int nsections)
{
    SPCNN_CHECK_ARG(p->block != NULL && p->nrows > 0 && p->nrows <= MAX_ROWS,
                    "model_save: %s: the model has no parameter table", path);
    for (int s = 0; s < nsections; s++) {
        for (size_t r = 0; r < p->nrows; r++) {
            const spcnn__param *row = &p->rows[r];
            SPCNN_CHECK_ARG(row->count <= MAX_COUNT,
                            "model_save: %s: row \"%s\" has %zu values, more than a model file "
                            "holds",
                            path, row->name, row->count);
            const float *x = spcnn__params_ptr(p, section_buf[s], r);
            for (size_t j = 0; j < row->count; j++) {
                SPCNN_CHECK_ARG(isfinite(x[j]) && (section_buf[s] != SPCNN__BUF_ADAM_V ||
                                                   x[j] >= 0),
                                "model_save: %s: %s of row \"%s\" hold %g at index %zu (a "
                                "non-finite value or a negative second moment); refusing to "
                                "write a file that cannot be loaded",
                                path, section_name[s], row->name, (double)x[j], j);
            }
        }
    }
    return SPCNN_OK;
}

spcnn_status spcnn__model_file_save(const spcnn_model *model, const char *path,
                                    int with_training_state)
{
    SPCNN_CHECK_ARG(model != NULL, "model_save: model is NULL");
    SPCNN_CHECK_ARG(path != NULL, "model_save: path is NULL");
    SPCNN_CHECK_ARG(*path != '\0', "model_save: path is empty");
    SPCNN_CHECK_ARG(with_training_state == 0 || with_training_state == 1,
                    "model_save: %s: with_training_state is %d, not 0 or 1", path,
                    with_training_state);
    const spcnn__params *p = &model->params;
    int nsections = with_training_state ? MAX_SECTIONS : 1;
    SPCNN_TRY(check_writable(p, path, nsections));

    writer *w = spcnn__malloc(sizeof *w);
    if (!w)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "model_save: %s: out of memory", path);
    spcnn__atomic_file f;
    spcnn_status st = spcnn__atomic_file_open(&f, path, "model_save");
    if (st != SPCNN_OK) {
        spcnn__free(w);
        return st;
    }
    w->fp = f.fp;
    w->crc = 0;
    w->n = 0;
    w->err = 0;

    memcpy(w_room(w, MAGIC_SIZE), MAGIC, MAGIC_SIZE);
    w_u32(w, FORMAT_VERSION);
    w_u32(w, with_training_state ? FLAG_TRAINING_STATE : 0u);
    w_u32(w, spcnn_version_number());
    uint32_t nkeys = 0;
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++)
        nkeys += spcnn_config_key_name((spcnn_config_key)k) != NULL;
    w_u32(w, nkeys);
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++) {
        if (spcnn_config_key_name((spcnn_config_key)k) == NULL)
            continue;
        w_u32(w, (uint32_t)k);
        w_u64(w, spcnn__f64_bits(model->cfg.values[k]));
    }
    w_u64(w, model->optim.t);
    w_u64(w, model->images_seen);
    w_u32(w, (uint32_t)p->nrows);
    for (size_t r = 0; r < p->nrows; r++)
        write_row(w, &p->rows[r]);
    for (int s = 0; s < nsections; s++) {
        for (size_t r = 0; r < p->nrows; r++) {
            const float *x = spcnn__params_ptr(p, section_buf[s], r);
            for (size_t j = 0; j < p->rows[r].count; j++)
                spcnn__le_put_u32(w_room(w, 4), spcnn__f32_bits(x[j]));
        }
    }
    w_flush(w);
    /* The checksum covers every byte before it, not itself. */
    uint8_t crc[4];
    spcnn__le_put_u32(crc, w->crc);
    if (w->err == 0) {
        errno = 0;
        if (fwrite(crc, 1, 4, f.fp) != 4)
            w->err = errno ? errno : EIO;
    }
    int err = w->err;
    spcnn__free(w);
    if (err != 0) {
        st = spcnn__error(SPCNN_ERR_IO, "model_save: %s: writing %s: %s", path, f.tmp,
                          strerror(err));
        spcnn__atomic_file_abort(&f);
        return st;
    }
    return spcnn__atomic_file_commit(&f);
}

/* ---- loading: the structure -------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *data;
    size_t size, pos;
    const char *path;
} reader;

/* What the structural walk learns; offsets are in bytes from the start of the file. */
typedef struct header {
    uint32_t version, flags, writer;
    uint32_t nkeys;
    size_t keys_at; /* the first (key, value) pair */
    uint64_t step, images_seen;
    uint32_t nrows;
    size_t rows_at;    /* the first row record */
    uint64_t nvalues;  /* floats per section */
    size_t tensors_at; /* the first section */
    int nsections;
} header;

typedef struct file_row {
    const uint8_t *name;
    size_t name_len;
    uint32_t kind, ndims;
    uint64_t dims[4];
    uint64_t count;
} file_row;

/* "row 3 name" / "format version": the field being read, for messages. */
static void field_name(char *buf, size_t cap, const char *group, long index, const char *field)
{
    if (index >= 0)
        snprintf(buf, cap, "%s %ld %s", group, index, field);
    else
        snprintf(buf, cap, "%s", field);
}

static spcnn_status truncated(const reader *r, size_t n, const char *group, long index,
                              const char *field)
{
    char what[96];
    field_name(what, sizeof what, group, index, field);
    return spcnn__error(SPCNN_ERR_FORMAT,
                        "model_load: %s: model file truncated at byte %zu (reading %s: %zu "
                        "bytes at offset %zu)",
                        r->path, r->size, what, n, r->pos);
}

/* A field that is present but wrong; `at` is its offset. */
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
    return spcnn__error(SPCNN_ERR_FORMAT, "model_load: %s: corrupt model file: %s (byte %zu)",
                        r->path, detail, at);
}

#define TAKE(ptr, r, n, group, index, field)                       \
    do {                                                           \
        if ((r)->size - (r)->pos < (n))                            \
            return truncated((r), (n), (group), (index), (field)); \
        (ptr) = (r)->data + (r)->pos;                              \
        (r)->pos += (n);                                           \
    } while (0)

static spcnn_status read_row(reader *r, long i, file_row *row)
{
    const uint8_t *p;
    size_t at = r->pos;
    TAKE(p, r, 2, "row", i, "name length");
    row->name_len = spcnn__le_get_u16(p);
    if (row->name_len == 0 || row->name_len >= SPCNN__PARAM_NAME_MAX)
        return bad_field(r, at, "row %ld name length %zu is not in [1, %d]", i, row->name_len,
                         SPCNN__PARAM_NAME_MAX - 1);
    at = r->pos;
    TAKE(row->name, r, row->name_len, "row", i, "name");
    if (memchr(row->name, '\0', row->name_len))
        return bad_field(r, at, "row %ld name contains a NUL byte", i);
    at = r->pos;
    TAKE(p, r, 4, "row", i, "kind");
    row->kind = spcnn__le_get_u32(p);
    if (row->kind > SPCNN__PARAM_BIAS)
        return bad_field(r, at, "row %ld kind %" PRIu32 " is unknown", i, row->kind);
    at = r->pos;
    TAKE(p, r, 4, "row", i, "dimension count");
    row->ndims = spcnn__le_get_u32(p);
    if (row->ndims < 1 || row->ndims > 4)
        return bad_field(r, at, "row %ld has %" PRIu32 " dimensions, not 1 to 4", i,
                         row->ndims);
    uint64_t product = 1;
    for (uint32_t d = 0; d < row->ndims; d++) {
        at = r->pos;
        TAKE(p, r, 8, "row", i, "dims");
        row->dims[d] = spcnn__le_get_u64(p);
        if (row->dims[d] == 0 || row->dims[d] > MAX_COUNT / product)
            return bad_field(r, at, "row %ld dimension %" PRIu32 " is %" PRIu64
                             " (zero, or more than 2^36 values in the row)",
                             i, d, row->dims[d]);
        product *= row->dims[d];
    }
    at = r->pos;
    TAKE(p, r, 8, "row", i, "value count");
    row->count = spcnn__le_get_u64(p);
    if (row->count != product)
        return bad_field(r, at, "row %ld value count %" PRIu64 " is not the product of its "
                         "dims (%" PRIu64 ")",
                         i, row->count, product);
    return SPCNN_OK;
}

/* Which section and row the byte `offset` of the tensor region lies in, for messages. */
static void locate_tensor_byte(const reader *r, const header *h, uint64_t offset, int *section,
                               uint32_t *row_index, file_row *row)
{
    uint64_t section_bytes = h->nvalues * 4;
    uint64_t rel = offset - h->tensors_at;
    *section = (int)(rel / section_bytes);
    uint64_t value = rel % section_bytes / 4;
    reader walk = *r;
    walk.pos = h->rows_at;
    walk.size = h->tensors_at; /* the table was walked once already: this cannot fail */
    uint64_t start = 0;
    for (uint32_t i = 0; i < h->nrows; i++) {
        (void)read_row(&walk, (long)i, row);
        if (value < start + row->count) {
            *row_index = i;
            return;
        }
        start += row->count;
    }
    *row_index = h->nrows - 1;
}

/* Walk magic, header and table with every field checked, then check the file's length against
 * what the table calls for. Nothing is trusted from fields that come after a failure. */
static spcnn_status parse_structure(reader *r, header *h)
{
    memset(h, 0, sizeof *h);
    const uint8_t *p;
    if (r->size < MAGIC_SIZE) {
        if (r->size > 0 && memcmp(r->data, MAGIC, r->size) == 0)
            return truncated(r, MAGIC_SIZE, "", -1, "magic");
        return spcnn__error(SPCNN_ERR_FORMAT, "model_load: %s: not a model file (%s)", r->path,
                            r->size == 0 ? "empty file" : "no \"SPCNNMDL\" magic");
    }
    if (memcmp(r->data, MAGIC, MAGIC_SIZE) != 0)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "model_load: %s: not a model file (no \"SPCNNMDL\" magic)", r->path);
    r->pos = MAGIC_SIZE;

    size_t at = r->pos;
    TAKE(p, r, 4, "", -1, "format version");
    h->version = spcnn__le_get_u32(p);
    if (h->version == 0)
        return bad_field(r, at, "format version 0 does not exist");
    if (h->version > FORMAT_VERSION)
        return spcnn__error(SPCNN_ERR_VERSION,
                            "model_load: %s: written by a newer format version %" PRIu32
                            " (this library reads up to %d)",
                            r->path, h->version, FORMAT_VERSION);
    TAKE(p, r, 4, "", -1, "flags");
    h->flags = spcnn__le_get_u32(p);
    TAKE(p, r, 4, "", -1, "writer version");
    h->writer = spcnn__le_get_u32(p);
    at = r->pos;
    TAKE(p, r, 4, "", -1, "hyper-parameter count");
    h->nkeys = spcnn__le_get_u32(p);
    if (h->nkeys > MAX_KEYS)
        return bad_field(r, at, "%" PRIu32 " hyper-parameters (at most %u)", h->nkeys,
                         MAX_KEYS);
    h->keys_at = r->pos;
    for (uint32_t i = 0; i < h->nkeys; i++) {
        TAKE(p, r, 4, "hyper-parameter", (long)i, "key");
        TAKE(p, r, 8, "hyper-parameter", (long)i, "value");
    }
    TAKE(p, r, 8, "", -1, "optimiser step");
    h->step = spcnn__le_get_u64(p);
    TAKE(p, r, 8, "", -1, "images seen");
    h->images_seen = spcnn__le_get_u64(p);
    at = r->pos;
    TAKE(p, r, 4, "", -1, "row count");
    h->nrows = spcnn__le_get_u32(p);
    if (h->nrows == 0 || h->nrows > MAX_ROWS)
        return bad_field(r, at, "%" PRIu32 " parameter rows (1 to %u)", h->nrows, MAX_ROWS);
    h->rows_at = r->pos;
    for (uint32_t i = 0; i < h->nrows; i++) {
        file_row row;
        SPCNN_TRY(read_row(r, (long)i, &row));
        h->nvalues += row.count;
    }
    h->tensors_at = r->pos;
    h->nsections = (h->flags & FLAG_TRAINING_STATE) ? MAX_SECTIONS : 1;

    uint64_t expected = (uint64_t)h->tensors_at + h->nvalues * 4 * (uint64_t)h->nsections + 4;
    if ((uint64_t)r->size < expected) {
        if ((uint64_t)r->size >= expected - 4)
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "model_load: %s: model file truncated at byte %zu of %" PRIu64
                                " (reading the checksum)",
                                r->path, r->size, expected);
        int section;
        uint32_t ri;
        file_row row;
        locate_tensor_byte(r, h, r->size, &section, &ri, &row);
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "model_load: %s: model file truncated at byte %zu of %" PRIu64
                            " (reading the %s of row %" PRIu32 " \"%.*s\")",
                            r->path, r->size, expected, section_name[section], ri,
                            (int)row.name_len, (const char *)row.name);
    }
    if ((uint64_t)r->size > expected)
        return bad_field(r, (size_t)expected,
                         "%" PRIu64 " unexpected bytes after the checksum (the table calls for "
                         "a file of %" PRIu64 " bytes)",
                         (uint64_t)r->size - expected, expected);
    return SPCNN_OK;
}

/* ---- loading: the model ------------------------------------------------------------------ */

static spcnn_status read_whole_file(const char *path, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return spcnn__error(SPCNN_ERR_IO, "model_load: %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int err = errno;
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "model_load: %s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_IO, "model_load: %s: %s", path,
                            S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX - 1) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "model_load: %s: a file of %jd bytes does not fit in memory", path,
                            (intmax_t)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = spcnn__malloc(n);
    if (!buf) {
        fclose(fp);
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY,
                            "model_load: %s: no memory to read its %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, fp);
    if (got != n) {
        int err = ferror(fp) ? errno : 0;
        fclose(fp);
        spcnn__free(buf);
        return spcnn__error(SPCNN_ERR_IO, "model_load: %s: read %zu of %zu bytes: %s", path,
                            got, n, err ? strerror(err) : "the file shrank while being read");
    }
    fclose(fp);
    *data = buf;
    *size = n;
    return SPCNN_OK;
}

/* Hyper-parameters into a fresh configuration: unknown keys mean a newer library (the checksum
 * has ruled out corruption), keys the file lacks keep their defaults — except a key that
 * changed what a model computes: a file from before it has the old behaviour. */
static spcnn_status read_config(const reader *r, const header *h, spcnn_config *cfg)
{
    int seen[SPCNN__CONFIG_KEY_END] = {0};
    for (uint32_t i = 0; i < h->nkeys; i++) {
        size_t at = h->keys_at + (size_t)i * KEY_RECORD_SIZE;
        uint32_t key = spcnn__le_get_u32(r->data + at);
        double value = spcnn__le_get_f64(r->data + at + 4);
        const char *name = key < SPCNN__CONFIG_KEY_END
                               ? spcnn_config_key_name((spcnn_config_key)key)
                               : NULL;
        if (name == NULL)
            return spcnn__error(SPCNN_ERR_VERSION,
                                "model_load: %s: hyper-parameter key %" PRIu32 " (byte %zu) is "
                                "unknown to this library %s; the file was written by version "
                                "%" PRIu32 ".%" PRIu32 ".%" PRIu32,
                                r->path, key, at, spcnn_version_string(), h->writer / 10000,
                                h->writer / 100 % 100, h->writer % 100);
        if (seen[key])
            return bad_field(r, at, "hyper-parameter %s appears twice", name);
        seen[key] = 1;
        spcnn_status st = spcnn_config_set(cfg, (spcnn_config_key)key, value);
        if (st != SPCNN_OK) {
            char context[256];
            snprintf(context, sizeof context,
                     "model_load: %s: corrupt model file: hyper-parameter %s (byte %zu)",
                     r->path, name, at + 4);
            return spcnn__error_context(SPCNN_ERR_FORMAT, context);
        }
    }
    if (!seen[SPCNN_CFG_GRID_RESAMPLE]) /* written by 0.1: half-pixel grid resampling */
        return spcnn_config_set(cfg, SPCNN_CFG_GRID_RESAMPLE, 0);
    return SPCNN_OK;
}

static void format_dims(char *buf, size_t cap, size_t ndims, const uint64_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t d = 0; d < ndims && used < cap; d++) {
        int n = snprintf(buf + used, cap - used, "%s%" PRIu64, d ? " x " : "", dims[d]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* The file's table must be the one the hyper-parameters build, row by row. */
static spcnn_status check_table(const reader *r, const header *h, const spcnn__params *p)
{
    if (h->nrows != p->nrows)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "model_load: %s: the file has %" PRIu32 " parameter rows, a model "
                            "with its hyper-parameters has %zu",
                            r->path, h->nrows, p->nrows);
    reader walk = *r;
    walk.pos = h->rows_at;
    for (uint32_t i = 0; i < h->nrows; i++) {
        size_t at = walk.pos;
        file_row fr;
        SPCNN_TRY(read_row(&walk, (long)i, &fr)); /* walked before: cannot fail */
        const spcnn__param *row = &p->rows[i];
        int same = fr.name_len == strlen(row->name) &&
                   memcmp(fr.name, row->name, fr.name_len) == 0 &&
                   fr.kind == (uint32_t)row->kind && fr.ndims == (uint32_t)row->ndims;
        uint64_t model_dims[4];
        for (int d = 0; d < row->ndims; d++) {
            model_dims[d] = row->dims[d];
            same = same && fr.dims[d] == model_dims[d];
        }
        if (!same) {
            char fdims[96], mdims[96];
            format_dims(fdims, sizeof fdims, fr.ndims, fr.dims);
            format_dims(mdims, sizeof mdims, (size_t)row->ndims, model_dims);
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "model_load: %s: parameter row %" PRIu32 " (byte %zu) is "
                                "\"%.*s\" kind %" PRIu32 " [%s] in the file, but \"%s\" kind %d "
                                "[%s] in a model with its hyper-parameters",
                                r->path, i, at, (int)fr.name_len, (const char *)fr.name,
                                fr.kind, fdims, row->name, (int)row->kind, mdims);
        }
    }
    return SPCNN_OK;
}

/* Copy the sections into the buffers (padding stays zero), rejecting values no writer makes. */
static spcnn_status copy_tensors(const reader *r, const header *h, spcnn__params *p)
{
    const uint8_t *src = r->data + h->tensors_at;
    for (int s = 0; s < h->nsections; s++) {
        spcnn__param_buf buf = section_buf[s];
        for (size_t i = 0; i < p->nrows; i++) {
            float *dst = spcnn__params_ptr(p, buf, i);
            for (size_t j = 0; j < p->rows[i].count; j++, src += 4) {
                float x = spcnn__le_get_f32(src);
                if (!isfinite(x) || (buf == SPCNN__BUF_ADAM_V && x < 0))
                    return bad_field(r, (size_t)(src - r->data),
                                     "%s of row %zu \"%s\" hold %g at index %zu",
                                     section_name[s], i, p->rows[i].name, (double)x, j);
                dst[j] = x;
            }
        }
    }
    if (h->nsections == 1) {
        /* Resuming from an EMA-only file: training restarts from the averaged weights with
         * fresh Adam moments (docs/file-format.md). */
        memcpy(p->buf[SPCNN__BUF_VALUE], p->buf[SPCNN__BUF_EMA], p->total * sizeof(float));
        memset(p->buf[SPCNN__BUF_ADAM_M], 0, p->total * sizeof(float));
        memset(p->buf[SPCNN__BUF_ADAM_V], 0, p->total * sizeof(float));
    }
    memset(p->buf[SPCNN__BUF_GRAD], 0, p->total * sizeof(float));
    return SPCNN_OK;
}

spcnn_status spcnn__model_file_load_memory(const void *data, size_t size, const char *name,
                                           spcnn_model **out)
{
    SPCNN_CHECK_ARG(out != NULL, "model_load: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(name != NULL, "model_load: name is NULL");
    SPCNN_CHECK_ARG(data != NULL || size == 0, "model_load: %s: data is NULL", name);

    spcnn_config *cfg = NULL;
    spcnn_model *model = NULL;
    reader r = {data, size, 0, name};
    header h;
    spcnn_status st;
    SPCNN_TRY_GOTO(st, parse_structure(&r, &h));

    uint32_t stored = spcnn__le_get_u32(r.data + size - 4);
    uint32_t computed = spcnn__crc32_update(0, r.data, size - 4);
    if (stored != computed) {
        st = spcnn__error(SPCNN_ERR_FORMAT,
                          "model_load: %s: corrupt model file: checksum mismatch (stored "
                          "0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
                          name, stored, computed);
        goto fail;
    }
    if (h.flags & ~FLAGS_KNOWN) {
        st = bad_field(&r, 12, "unknown flags 0x%08" PRIx32 " (format version 1 defines 0x%x)",
                       h.flags, FLAGS_KNOWN);
        goto fail;
    }

    SPCNN_TRY_GOTO(st, spcnn_config_create(&cfg));
    SPCNN_TRY_GOTO(st, read_config(&r, &h, cfg));
    st = spcnn__model_new(cfg, &model);
    if (st == SPCNN_ERR_INVALID_ARGUMENT) {
        char context[200];
        snprintf(context, sizeof context,
                 "model_load: %s: the file's hyper-parameters do not make a model", name);
        st = spcnn__error_context(SPCNN_ERR_FORMAT, context);
    }
    if (st != SPCNN_OK)
        goto fail;
    SPCNN_TRY_GOTO(st, check_table(&r, &h, &model->params));
    SPCNN_TRY_GOTO(st, copy_tensors(&r, &h, &model->params));
    model->optim.t = h.step;
    model->images_seen = h.images_seen;
    model->has_training_state = h.nsections > 1;

    spcnn_config_destroy(cfg);
    *out = model;
    return SPCNN_OK;

fail:
    spcnn_model_destroy(model);
    spcnn_config_destroy(cfg);
    return st;
}

spcnn_status spcnn__model_file_load(const char *path, spcnn_model **out)
{
    SPCNN_CHECK_ARG(out != NULL, "model_load: out is NULL");
    *out = NULL;
    SPCNN_CHECK_ARG(path != NULL, "model_load: path is NULL");
    uint8_t *data = NULL;
    size_t size = 0;
    SPCNN_TRY(read_whole_file(path, &data, &size));
    spcnn_status st = spcnn__model_file_load_memory(data, size, path, out);
    spcnn__free(data);
    return st;
}
