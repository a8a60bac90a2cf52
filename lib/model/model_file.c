/* Model files (docs/file-format.md has the layout byte by byte): little-endian fields written
 * one by one, the parameter table by name, kind and dims, the tensors without padding, and a
 * CRC-32 over everything. Loading reads the whole file, walks its structure with every field
 * bounds-checked (so a truncated file is reported at the field where it ends), verifies the
 * checksum, and only then builds the model and checks the file's table against the model's. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/le.h"
#include "io/param_table_file.h"
#include "model/model_file.h"

#define MAGIC "SPCNNMDL"
/* Version 2 is version 1 plus the latent prior block (flag bit 1); version 3 adds the step of
 * the last reset of Adam's moments (flag bit 2, with the training state only). A file is
 * written with the lowest version that holds it, so older libraries read what they can. */
enum { MAGIC_SIZE = 8, FORMAT_VERSION = 3 };
#define FLAG_TRAINING_STATE 1u
#define FLAG_PRIOR 2u
#define FLAG_MOMENTS_RESET 4u
#define FLAGS_KNOWN_V1 FLAG_TRAINING_STATE
#define FLAGS_KNOWN_V2 (FLAG_TRAINING_STATE | FLAG_PRIOR)
#define FLAGS_KNOWN_V3 (FLAGS_KNOWN_V2 | FLAG_MOMENTS_RESET)

/* Reader limits, far above any real model, that keep every size computed from the file within
 * 64 bits: at most 2^20 rows of 2^36 floats, four sections of 4 bytes each -> < 2^62 bytes. */
#define MAX_KEYS 4096u
#define MAX_ROWS (1u << 20)
enum { MAX_COUNT_LOG2 = 36 };
#define MAX_COUNT ((uint64_t)1 << MAX_COUNT_LOG2)
/* The prior block: its dimension count must be the model's latent_size, at most this. */
#define MAX_PRIOR_DIMS 4096u

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
    w->crc = (uint32_t)crc32_z(w->crc, w->buf, w->n);
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
static void w_u32(writer *w, uint32_t v) { spcnn__le_put_u32(w_room(w, 4), v); }
static void w_u64(writer *w, uint64_t v) { spcnn__le_put_u64(w_room(w, 8), v); }


/* Keys newer than 0.5 that only steer training or sampling are written only when they differ
 * from their default, so that a model which does not use them stays readable by 0.5 and 0.6
 * (a reader gives missing keys their default: 0, 0 and 1). */
static int key_written(const spcnn_config *cfg, int k)
{
    if (spcnn_config_key_name((spcnn_config_key)k) == NULL)
        return 0;
    switch (k) {
    case SPCNN_CFG_TRAIN_NATIVE_SHARE:
    case SPCNN_CFG_PRECISION:
    case SPCNN_CFG_TRAIN_PRECISION:
        return cfg->values[k] != 0;
    case SPCNN_CFG_KL_WEIGHT:
        return cfg->values[k] != 1;
    default:
        return 1;
    }
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
    spcnn__atomic_file_remove_stale(path); /* what killed saves of path left */
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

    const spcnn__prior *prior = &model->prior;
    /* An EMA-only file needs no reset step: loading it resets the moments anyway. */
    const int reset = with_training_state && model->optim.reset_at > 0;
    memcpy(w_room(w, MAGIC_SIZE), MAGIC, MAGIC_SIZE);
    w_u32(w, reset ? 3u : prior->k > 0 ? 2u : 1u);
    w_u32(w, (with_training_state ? FLAG_TRAINING_STATE : 0u) | (prior->k > 0 ? FLAG_PRIOR : 0u) |
                 (reset ? FLAG_MOMENTS_RESET : 0u));
    w_u32(w, spcnn_version_number());
    uint32_t nkeys = 0;
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++)
        nkeys += key_written(&model->cfg, k);
    w_u32(w, nkeys);
    for (int k = 1; k < SPCNN__CONFIG_KEY_END; k++) {
        if (!key_written(&model->cfg, k))
            continue;
        w_u32(w, (uint32_t)k);
        w_u64(w, spcnn__f64_bits(model->cfg.values[k]));
    }
    w_u64(w, model->optim.t);
    w_u64(w, model->images_seen);
    if (reset)
        w_u64(w, model->optim.reset_at);
    w_u32(w, (uint32_t)p->nrows);
    for (size_t r = 0; r < p->nrows; r++)
        spcnn__param_row_put(w_room(w, spcnn__param_row_size(&p->rows[r])), &p->rows[r]);
    for (int s = 0; s < nsections; s++) {
        for (size_t r = 0; r < p->nrows; r++) {
            const float *x = spcnn__params_ptr(p, section_buf[s], r);
            for (size_t j = 0; j < p->rows[r].count; j++)
                spcnn__le_put_u32(w_room(w, 4), spcnn__f32_bits(x[j]));
        }
    }
    if (prior->k > 0) {
        w_u32(w, (uint32_t)prior->k);
        w_u32(w, (uint32_t)prior->d);
        const float *blocks[3] = {prior->weights, prior->means, prior->variances};
        const size_t sizes[3] = {prior->k, prior->k * prior->d, prior->k * prior->d};
        for (int b = 0; b < 3; b++)
            for (size_t j = 0; j < sizes[b]; j++)
                spcnn__le_put_u32(w_room(w, 4), spcnn__f32_bits(blocks[b][j]));
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
    return spcnn__atomic_file_finish(&f, err);
}

/* ---- loading: the structure -------------------------------------------------------------- */

/* What the structural walk learns; offsets are in bytes from the start of the file. */
typedef struct header {
    uint32_t version, flags, writer;
    uint32_t nkeys;
    size_t keys_at; /* the first (key, value) pair */
    uint64_t step, images_seen;
    uint64_t reset_at; /* 0 without FLAG_MOMENTS_RESET */
    uint32_t nrows;
    size_t rows_at;    /* the first row record */
    uint64_t nvalues;  /* floats per section */
    size_t tensors_at; /* the first section */
    int nsections;
    uint32_t prior_k, prior_d; /* 0 without a prior block */
    size_t prior_at;           /* its first weight */
} header;

/* Which section and row the byte `offset` of the tensor region lies in, for messages. */
static void locate_tensor_byte(const spcnn__file_reader *r, const header *h, uint64_t offset,
                               int *section, uint32_t *row_index, spcnn__file_row *row)
{
    uint64_t section_bytes = h->nvalues * 4;
    uint64_t rel = offset - h->tensors_at;
    *section = (int)(rel / section_bytes);
    uint64_t value = rel % section_bytes / 4;
    spcnn__file_reader walk = *r;
    walk.pos = h->rows_at;
    walk.size = h->tensors_at; /* the table was walked once already: this cannot fail */
    uint64_t start = 0;
    for (uint32_t i = 0; i < h->nrows; i++) {
        (void)spcnn__param_row_read(&walk, (long)i, MAX_COUNT_LOG2, row);
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
static spcnn_status parse_structure(spcnn__file_reader *r, header *h)
{
    memset(h, 0, sizeof *h);
    const uint8_t *p;
    SPCNN_TRY(spcnn__file_read_preamble(r, MAGIC, FORMAT_VERSION, &h->version, &h->flags,
                                        &h->writer));
    size_t at = r->pos;
    SPCNN__FILE_TAKE(p, r, 4, "", -1, "hyper-parameter count");
    h->nkeys = spcnn__le_get_u32(p);
    if (h->nkeys > MAX_KEYS)
        return spcnn__file_bad_field(r, at, "%" PRIu32 " hyper-parameters (at most %u)",
                                     h->nkeys, MAX_KEYS);
    h->keys_at = r->pos;
    for (uint32_t i = 0; i < h->nkeys; i++) {
        SPCNN__FILE_TAKE(p, r, 4, "hyper-parameter", (long)i, "key");
        SPCNN__FILE_TAKE(p, r, 8, "hyper-parameter", (long)i, "value");
    }
    SPCNN__FILE_TAKE(p, r, 8, "", -1, "optimiser step");
    h->step = spcnn__le_get_u64(p);
    SPCNN__FILE_TAKE(p, r, 8, "", -1, "images seen");
    h->images_seen = spcnn__le_get_u64(p);
    if (h->version >= 3 && (h->flags & FLAG_MOMENTS_RESET)) {
        at = r->pos;
        SPCNN__FILE_TAKE(p, r, 8, "", -1, "moments reset step");
        h->reset_at = spcnn__le_get_u64(p);
        if (!(h->flags & FLAG_TRAINING_STATE) || h->reset_at == 0 || h->reset_at > h->step)
            return spcnn__file_bad_field(r, at,
                                         "moments reset at step %" PRIu64 " (1 to the step %" PRIu64
                                         ", and only with the training state)",
                                         h->reset_at, h->step);
    }
    at = r->pos;
    SPCNN__FILE_TAKE(p, r, 4, "", -1, "row count");
    h->nrows = spcnn__le_get_u32(p);
    if (h->nrows == 0 || h->nrows > MAX_ROWS)
        return spcnn__file_bad_field(r, at, "%" PRIu32 " parameter rows (1 to %u)", h->nrows,
                                     MAX_ROWS);
    h->rows_at = r->pos;
    SPCNN_TRY(spcnn__param_table_read(r, h->nrows, MAX_COUNT_LOG2, &h->nvalues));
    h->tensors_at = r->pos;
    h->nsections = (h->flags & FLAG_TRAINING_STATE) ? MAX_SECTIONS : 1;

    const int has_prior = h->version >= 2 && (h->flags & FLAG_PRIOR);
    uint64_t tensors_end = (uint64_t)h->tensors_at + h->nvalues * 4 * (uint64_t)h->nsections;
    uint64_t expected = tensors_end + (has_prior ? 8 : 0) + 4;
    if ((uint64_t)r->size < tensors_end) {
        int section;
        uint32_t ri;
        spcnn__file_row row;
        locate_tensor_byte(r, h, r->size, &section, &ri, &row);
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "model_load: %s: model file truncated at byte %zu of %" PRIu64
                            " (reading the %s of row %" PRIu32 " \"%.*s\")",
                            r->path, r->size, expected, section_name[section], ri,
                            (int)row.name_len, (const char *)row.name);
    }
    if (has_prior) {
        r->pos = (size_t)tensors_end;
        at = r->pos;
        SPCNN__FILE_TAKE(p, r, 4, "", -1, "prior component count");
        h->prior_k = spcnn__le_get_u32(p);
        if (h->prior_k == 0 || h->prior_k > SPCNN__PRIOR_MAX_COMPONENTS)
            return spcnn__file_bad_field(r, at, "a prior of %" PRIu32 " components (1 to %d)",
                                         h->prior_k, SPCNN__PRIOR_MAX_COMPONENTS);
        at = r->pos;
        SPCNN__FILE_TAKE(p, r, 4, "", -1, "prior dimension count");
        h->prior_d = spcnn__le_get_u32(p);
        if (h->prior_d == 0 || h->prior_d > MAX_PRIOR_DIMS)
            return spcnn__file_bad_field(r, at, "a prior of %" PRIu32 " dimensions (1 to %u)",
                                         h->prior_d, MAX_PRIOR_DIMS);
        h->prior_at = r->pos;
        uint64_t k = h->prior_k, kd = k * h->prior_d;
        expected = (uint64_t)h->prior_at + 4 * (k + 2 * kd) + 4;
        if ((uint64_t)r->size < expected - 4) {
            uint64_t rel = ((uint64_t)r->size - h->prior_at) / 4;
            const char *what = rel < k ? "weights" : rel < k + kd ? "means" : "variances";
            return spcnn__error(SPCNN_ERR_FORMAT,
                                "model_load: %s: model file truncated at byte %zu of %" PRIu64
                                " (reading the prior's %s)",
                                r->path, r->size, expected, what);
        }
    }
    if ((uint64_t)r->size < expected)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "model_load: %s: model file truncated at byte %zu of %" PRIu64
                            " (reading the checksum)",
                            r->path, r->size, expected);
    return spcnn__file_check_end(r, expected);
}

/* ---- loading: the model ------------------------------------------------------------------ */

/* Hyper-parameters into a fresh configuration: unknown keys mean a newer library (the checksum
 * has ruled out corruption), keys the file lacks keep their defaults — except a key that
 * changed what a model computes: a file from before it has the old behaviour. */
static spcnn_status read_config(const spcnn__file_reader *r, const header *h,
                                spcnn_config *cfg)
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
            return spcnn__file_bad_field(r, at, "hyper-parameter %s appears twice", name);
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
static spcnn_status check_table(const spcnn__file_reader *r, const header *h,
                                const spcnn__params *p)
{
    if (h->nrows != p->nrows)
        return spcnn__error(SPCNN_ERR_FORMAT,
                            "model_load: %s: the file has %" PRIu32 " parameter rows, a model "
                            "with its hyper-parameters has %zu",
                            r->path, h->nrows, p->nrows);
    uint32_t i;
    spcnn__file_row fr;
    SPCNN_TRY(spcnn__param_table_compare(r, h->rows_at, h->nrows, MAX_COUNT_LOG2, p, &i, &fr));
    if (i == h->nrows)
        return SPCNN_OK;
    const spcnn__param *row = &p->rows[i];
    uint64_t model_dims[4];
    for (int d = 0; d < row->ndims; d++)
        model_dims[d] = row->dims[d];
    char fdims[96], mdims[96];
    format_dims(fdims, sizeof fdims, fr.ndims, fr.dims);
    format_dims(mdims, sizeof mdims, (size_t)row->ndims, model_dims);
    return spcnn__error(SPCNN_ERR_FORMAT,
                        "model_load: %s: parameter row %" PRIu32 " (byte %zu) is \"%.*s\" kind "
                        "%" PRIu32 " [%s] in the file, but \"%s\" kind %d [%s] in a model with "
                        "its hyper-parameters",
                        r->path, i, fr.at, (int)fr.name_len, (const char *)fr.name, fr.kind,
                        fdims, row->name, (int)row->kind, mdims);
}

typedef struct table_check_arg {
    const spcnn__file_reader *r;
    const header *h;
} table_check_arg;

static spcnn_status table_check(const spcnn__params *table, const void *arg)
{
    const table_check_arg *a = arg;
    return check_table(a->r, a->h, table);
}

/* Copy the sections into the buffers (padding stays zero), rejecting values no writer makes. */
static spcnn_status copy_tensors(const spcnn__file_reader *r, const header *h,
                                 spcnn__params *p)
{
    const uint8_t *src = r->data + h->tensors_at;
    for (int s = 0; s < h->nsections; s++) {
        spcnn__param_buf buf = section_buf[s];
        for (size_t i = 0; i < p->nrows; i++) {
            float *dst = spcnn__params_ptr(p, buf, i);
            for (size_t j = 0; j < p->rows[i].count; j++, src += 4) {
                float x = spcnn__le_get_f32(src);
                if (!isfinite(x) || (buf == SPCNN__BUF_ADAM_V && x < 0))
                    return spcnn__file_bad_field(r, (size_t)(src - r->data),
                                                 "%s of row %zu \"%s\" hold %g at index %zu",
                                                 section_name[s], i, p->rows[i].name,
                                                 (double)x, j);
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

/* The prior block: its dimensions must be the model's latent code, its values what a fit makes
 * (positive weights summing to about 1, finite means, positive variances). */
static spcnn_status read_prior(const spcnn__file_reader *r, const header *h, spcnn_model *m)
{
    if (!m->use_latent || h->prior_d != (uint32_t)m->latent)
        return spcnn__file_bad_field(r, h->prior_at - 4,
                                     "a prior of %" PRIu32 " dimensions for a model whose "
                                     "latent code has %d",
                                     h->prior_d, m->use_latent ? m->latent : 0);
    const size_t k = h->prior_k, d = h->prior_d;
    float *v = spcnn__malloc((k + 2 * k * d) * sizeof(float));
    if (v == NULL)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "model_load: %s: out of memory", r->path);
    double total = 0;
    spcnn_status st = SPCNN_OK;
    for (size_t i = 0; i < k + 2 * k * d && st == SPCNN_OK; i++) {
        size_t at = h->prior_at + 4 * i;
        v[i] = spcnn__le_get_f32(r->data + at);
        const char *what = i < k ? "weight" : i < k + k * d ? "mean" : "variance";
        int ok = isfinite(v[i]) && (i >= k + k * d || i < k ? v[i] > 0 : 1);
        if (!ok && i < k)
            st = spcnn__file_bad_field(r, at, "prior weight %zu is %g", i, (double)v[i]);
        else if (!ok)
            st = spcnn__file_bad_field(r, at, "prior %s %zu of component %zu is %g", what,
                                       (i - k) % d, (i - k) % (k * d) / d, (double)v[i]);
        if (i < k)
            total += v[i];
    }
    if (st == SPCNN_OK && fabs(total - 1.0) > 1e-3)
        st = spcnn__file_bad_field(r, h->prior_at, "the prior's weights sum to %g, not 1", total);
    if (st == SPCNN_OK)
        st = spcnn__prior_set(&m->prior, k, d, v, v + k, v + k + k * d, "model_load");
    spcnn__free(v);
    return st;
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
    spcnn__file_reader r = {data, size, 0, name, "model_load", "model"};
    header h;
    spcnn_status st;
    SPCNN_TRY_GOTO(st, parse_structure(&r, &h));

    SPCNN_TRY_GOTO(st, spcnn__file_check_crc(&r));
    const uint32_t known = h.version >= 3   ? FLAGS_KNOWN_V3
                           : h.version >= 2 ? FLAGS_KNOWN_V2
                                            : FLAGS_KNOWN_V1;
    if (h.flags & ~known) {
        st = spcnn__file_bad_field(&r, 12,
                                   "unknown flags 0x%08" PRIx32 " (format version %" PRIu32
                                   " defines 0x%x)",
                                   h.flags, h.version, known);
        goto fail;
    }

    SPCNN_TRY_GOTO(st, spcnn_config_create(&cfg));
    SPCNN_TRY_GOTO(st, read_config(&r, &h, cfg));
    /* The file's table is compared with the one its hyper-parameters build before the model's
     * buffers are allocated: they are then at most five times the file's tensors. */
    table_check_arg check = {&r, &h};
    st = spcnn__model_new_checked(cfg, table_check, &check, &model);
    if (st == SPCNN_ERR_INVALID_ARGUMENT) {
        char context[200];
        snprintf(context, sizeof context,
                 "model_load: %s: the file's hyper-parameters do not make a model", name);
        st = spcnn__error_context(SPCNN_ERR_FORMAT, context);
    }
    if (st != SPCNN_OK)
        goto fail;
    SPCNN_TRY_GOTO(st, copy_tensors(&r, &h, &model->params));
    model->optim.t = h.step;
    /* Zero moments (an EMA-only file) restart Adam at this step (optim.h). */
    model->optim.reset_at = h.nsections == 1 ? h.step : h.reset_at;
    model->images_seen = h.images_seen;
    model->has_training_state = h.nsections > 1;
    if (h.prior_k > 0)
        SPCNN_TRY_GOTO(st, read_prior(&r, &h, model));

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
    SPCNN_TRY(spcnn__file_read_whole(path, "model_load", &data, &size));
    spcnn_status st = spcnn__model_file_load_memory(data, size, path, out);
    spcnn__free(data);
    return st;
}
