/* What model files and classifier files have in common (docs/file-format.md): the first 20
 * bytes (magic, format version, flags, writer version), the parameter table's row records
 * (name, kind, dims, value count), the closing CRC-32 and nothing after it, and a reader that
 * walks a file held in memory with every field bounds-checked. Its messages name the file, the
 * field and the byte, prefixed by the operation ("model_load: PATH: corrupt model file: ..."). */
#ifndef SPCNN_IO_PARAM_TABLE_FILE_H
#define SPCNN_IO_PARAM_TABLE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "nn/params.h"

/* A file in memory and the position of the next field. */
typedef struct spcnn__file_reader {
    const uint8_t *data;
    size_t size, pos;
    const char *path; /* for messages (borrowed) */
    const char *op;   /* message prefix, e.g. "model_load" (static text) */
    const char *kind; /* "model" in "not a model file" (static text) */
} spcnn__file_reader;

/* FORMAT: the file ends inside the n-byte field at r->pos, named "GROUP INDEX FIELD" ("row 3
 * name") or, with index < 0, "FIELD". */
spcnn_status spcnn__file_truncated(const spcnn__file_reader *r, size_t n, const char *group,
                                   long index, const char *field);
/* FORMAT: a field that is present but wrong; at is its offset. */
spcnn_status spcnn__file_bad_field(const spcnn__file_reader *r, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Point ptr at the next n bytes of the reader, or return spcnn__file_truncated. */
#define SPCNN__FILE_TAKE(ptr, r, n, group, index, field)                       \
    do {                                                                       \
        if ((r)->size - (r)->pos < (n))                                        \
            return spcnn__file_truncated((r), (n), (group), (index), (field)); \
        (ptr) = (r)->data + (r)->pos;                                          \
        (r)->pos += (n);                                                       \
    } while (0)

/* The first 20 bytes: the magic (8 bytes), the format version, which must be 1 to newest
 * (SPCNN_ERR_VERSION above it), the flags and the writer's library version, each a u32; leaves
 * r->pos after them. */
spcnn_status spcnn__file_read_preamble(spcnn__file_reader *r, const char *magic, uint32_t newest,
                                       uint32_t *version, uint32_t *flags, uint32_t *writer);

/* FORMAT when the file is longer than the expected bytes that end with its checksum. */
spcnn_status spcnn__file_check_end(const spcnn__file_reader *r, uint64_t expected);

/* The last 4 bytes must be the CRC-32 of all before them (the caller has checked the size). */
spcnn_status spcnn__file_check_crc(const spcnn__file_reader *r);

/* Read the whole regular file path into a new buffer (spcnn__free it); IO or OUT_OF_MEMORY
 * errors are prefixed "OP: PATH: ". */
spcnn_status spcnn__file_read_whole(const char *path, const char *op, uint8_t **data,
                                    size_t *size);

/* A row record of the parameter table as the file has it. */
typedef struct spcnn__file_row {
    const uint8_t *name; /* not NUL-terminated */
    size_t name_len;
    size_t at; /* offset of the record */
    uint32_t kind, ndims;
    uint64_t dims[4], count;
} spcnn__file_row;

/* Bytes of the record of row, and writing it at p (that many bytes). */
size_t spcnn__param_row_size(const spcnn__param *row);
void spcnn__param_row_put(uint8_t *p, const spcnn__param *row);

/* Read and check row record i at r->pos: a name of 1 to SPCNN__PARAM_NAME_MAX - 1 bytes without
 * NUL, a known kind, 1 to 4 dims, none zero, their product at most 2^max_log2 and equal to the
 * value count. */
spcnn_status spcnn__param_row_read(spcnn__file_reader *r, long i, int max_log2,
                                   spcnn__file_row *row);

/* Is the file's record the same row (name, kind and dims) as row? */
int spcnn__param_row_matches(const spcnn__file_row *fr, const spcnn__param *row);

/* Walk the nrows records of a table at r->pos, adding their value counts to *nvalues. */
spcnn_status spcnn__param_table_read(spcnn__file_reader *r, uint32_t nrows, int max_log2,
                                     uint64_t *nvalues);
/* Compare a table read before (nrows records from rows_at) with the first nrows rows of p:
 * *diff is the first row that is not the same row, its record in *fr, or nrows. */
spcnn_status spcnn__param_table_compare(const spcnn__file_reader *r, size_t rows_at,
                                        uint32_t nrows, int max_log2, const spcnn__params *p,
                                        uint32_t *diff, spcnn__file_row *fr);

#endif
