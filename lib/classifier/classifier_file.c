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
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "classifier/classifier.h"
#include "core/alloc.h"
#include "io/atomic_file.h"
#include "io/le.h"
#include "io/param_table_file.h"

#define MAGIC "SPCNNCLS"
enum { MAGIC_SIZE = 8, FORMAT_VERSION = 1, HEADER_SIZE = 60, SHAPE_AT = 20, SHAPE_FIELDS = 7 };
/* Most values a row may declare: far above any classifier, small enough for products. */
enum { MAX_COUNT_LOG2 = 32 };

static const char *const shape_field[SHAPE_FIELDS] = {
    "height", "width", "classes", "conv1 channels", "conv2 channels", "fc1 units", "fc2 units"};

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
        size += spcnn__param_row_size(&p->rows[r]);
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
        spcnn__param_row_put(at, &p->rows[r]);
        at += spcnn__param_row_size(&p->rows[r]);
    }
    for (size_t r = 0; r < p->nrows; r++) {
        const float *x = spcnn__params_ema(p, r);
        for (size_t j = 0; j < p->rows[r].count; j++, at += 4)
            spcnn__le_put_u32(at, spcnn__f32_bits(x[j]));
    }
    spcnn__le_put_u32(at, (uint32_t)crc32_z(0, buf, size - 4));

    spcnn__atomic_file_remove_stale(path); /* what killed saves of path left */
    spcnn__atomic_file f;
    spcnn_status st = spcnn__atomic_file_open(&f, path, "classifier save");
    if (st != SPCNN_OK) {
        spcnn__free(buf);
        return st;
    }
    errno = 0;
    size_t wrote = fwrite(buf, 1, size, f.fp);
    int err = wrote == size ? 0 : errno ? errno : EIO;
    spcnn__free(buf);
    return spcnn__atomic_file_finish(&f, err);
}

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct header {
    uint32_t version, flags, writer;
    uint32_t shape[SHAPE_FIELDS];
    uint64_t step;
    uint32_t nrows;
    size_t rows_at, values_at;
    uint64_t nvalues;
} header;

/* Magic, header, shape and table with every field checked, then the file's length against
 * what the table calls for. Nothing is trusted from a field that comes after a failure. */
static spcnn_status parse_structure(spcnn__file_reader *r, header *h)
{
    memset(h, 0, sizeof *h);
    const uint8_t *p;
    SPCNN_TRY(spcnn__file_read_preamble(r, MAGIC, FORMAT_VERSION, &h->version, &h->flags,
                                        &h->writer));
    for (int i = 0; i < SHAPE_FIELDS; i++) {
        SPCNN__FILE_TAKE(p, r, 4, "", -1, shape_field[i]);
        h->shape[i] = spcnn__le_get_u32(p);
    }
    SPCNN__FILE_TAKE(p, r, 8, "", -1, "optimiser step");
    h->step = spcnn__le_get_u64(p);
    size_t at = r->pos;
    SPCNN__FILE_TAKE(p, r, 4, "", -1, "row count");
    h->nrows = spcnn__le_get_u32(p);
    if (h->nrows != SPCNN__LENET_ROWS)
        return spcnn__file_bad_field(r, at, "%" PRIu32 " parameter rows (a LeNet has %d)",
                                     h->nrows, SPCNN__LENET_ROWS);
    h->rows_at = r->pos;
    SPCNN_TRY(spcnn__param_table_read(r, h->nrows, MAX_COUNT_LOG2, &h->nvalues));
    h->values_at = r->pos;
    uint64_t expected = (uint64_t)h->values_at + 4 * h->nvalues + 4;
    if ((uint64_t)r->size < expected)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "classifier load: %s: classifier file truncated at byte %zu of "
                            "%" PRIu64 " (reading the %s)",
                            r->path, r->size, expected,
                            (uint64_t)r->size >= expected - 4 ? "checksum" : "weights");
    return spcnn__file_check_end(r, expected);
}

/* The file's table must be the one its shape builds, row by row. */
static spcnn_status check_table(const spcnn__file_reader *r, const header *h,
                                const spcnn__params *p)
{
    uint32_t i;
    spcnn__file_row fr;
    SPCNN_TRY(spcnn__param_table_compare(r, h->rows_at, h->nrows, MAX_COUNT_LOG2, p, &i, &fr));
    if (i == h->nrows)
        return SPCNN_OK;
    return spcnn__file_bad_field(r, fr.at,
                                 "parameter row %" PRIu32 " \"%.*s\" is not the row \"%s\" that "
                                 "the file's shape builds (name, kind or dims differ)",
                                 i, (int)fr.name_len, (const char *)fr.name, p->rows[i].name);
}

spcnn_status spcnn__classifier_file_load_memory(const void *data, size_t size, const char *name,
                                                spcnn_classifier **out)
{
    *out = NULL;
    spcnn__file_reader r = {data, size, 0, name, "classifier load", "classifier"};
    header h;
    SPCNN_TRY(parse_structure(&r, &h));
    SPCNN_TRY(spcnn__file_check_crc(&r));
    if (h.flags != 0)
        return spcnn__file_bad_field(&r, 12,
                                     "unknown flags 0x%08" PRIx32 " (format version 1 has none)",
                                     h.flags);
    for (int i = 0; i < SHAPE_FIELDS; i++)
        if (h.shape[i] > SPCNN__LENET_MAX_WIDTH)
            return spcnn__file_bad_field(&r, SHAPE_AT + 4 * (size_t)i,
                                         "%s %" PRIu32 " is out of range", shape_field[i],
                                         h.shape[i]);
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
    /* The file's table against the one its shape builds, before the classifier's buffers are
     * allocated: a shape calling for a network far larger than the file is refused here. */
    spcnn__params table;
    size_t first;
    spcnn__params_init(&table);
    st = spcnn__lenet_add_params(&table, &s, &first);
    if (st == SPCNN_OK)
        st = check_table(&r, &h, &table);
    spcnn__params_deinit(&table);
    SPCNN_TRY(st);
    spcnn_classifier *c = NULL;
    SPCNN_TRY(spcnn__classifier_new(&s, 0, &c));
    const uint8_t *src = r.data + h.values_at;
    spcnn__params *p = &c->params;
    for (size_t i = 0; i < p->nrows; i++) {
        float *dst = spcnn__params_ema(p, i);
        for (size_t j = 0; j < p->rows[i].count; j++, src += 4) {
            float x = spcnn__le_get_f32(src);
            if (!isfinite(x)) {
                st = spcnn__file_bad_field(&r, (size_t)(src - r.data),
                                           "weight %zu of \"%s\" is %g", j, p->rows[i].name,
                                           (double)x);
                goto fail;
            }
            dst[j] = x;
        }
    }
    /* Training goes on from the averaged weights with a fresh optimiser. */
    memcpy(p->buf[SPCNN__BUF_VALUE], p->buf[SPCNN__BUF_EMA], p->total * sizeof(float));
    c->optim.t = h.step;
    c->optim.reset_at = h.step; /* zero moments: Adam restarts (optim.h) */
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
    SPCNN_TRY(spcnn__file_read_whole(path, "classifier load", &data, &size));
    spcnn_status st = spcnn__classifier_file_load_memory(data, size, path, out);
    spcnn__free(data);
    return st;
}
