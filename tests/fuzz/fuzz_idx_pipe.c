/* IDX through a pipe: spcnn_idx_read on /proc/self/fd/N of a pipe holding the input, as for
 * `spcnn ... <(zcat train-images-idx3-ubyte.gz)`. A pipe's length is not known before the data
 * is read, so idx.c checks truncation and trailing bytes while reading instead of from the
 * size (the path fuzz_idx, on a regular file, does not take). As fuzz_idx: a query, the data
 * into a buffer of the size reported, then into one byte too few; each on a fresh pipe (a
 * pipe is read once), and each must agree with the same call on the input as a file. */
#include <fcntl.h>
#include <string.h>

#include "fuzz_input.h"

/* As in fuzz_idx: no input that reads needs a larger buffer. */
#define FUZZ_IDX_MAX ((size_t)1 << 24)

/* spcnn_idx_read on a fresh pipe holding the input, its write end closed. -1 (no status)
 * when the input does not fit in the pipe's buffer: run with -max_len=65536 (or a writer
 * would block). */
static int read_pipe(const uint8_t *data, size_t size, uint8_t *buf, size_t capacity,
                     size_t *n, size_t *h, size_t *w)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        perror("pipe2");
        abort();
    }
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    if (cap >= 0 && size > (size_t)cap && size <= INT32_MAX)
        cap = fcntl(p[1], F_SETPIPE_SZ, (int)size);
    if (cap < 0 || size > (size_t)cap) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    /* Non-blocking: a short write is reported, not a hang. */
    if (fcntl(p[1], F_SETFL, O_NONBLOCK) != 0 ||
        (size > 0 && write(p[1], data, size) != (ssize_t)size)) {
        perror("fuzz input into a pipe");
        abort();
    }
    close(p[1]);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    spcnn_status st = spcnn_idx_read(path, buf, capacity, n, h, w);
    close(p[0]);
    return (int)st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0, h = 0, w = 0, nf = 0, hf = 0, wf = 0;
    int st = read_pipe(data, size, NULL, 0, &n, &h, &w);
    if (st < 0)
        return 0;
    const char *file = fuzz_input_path(data, size);
    spcnn_status fst = spcnn_idx_read(file, NULL, 0, &nf, &hf, &wf);
    if (st != SPCNN_OK) {
        FUZZ_CHECK(spcnn_last_error_message()[0] != '\0');
        FUZZ_CHECK(fst != SPCNN_OK); /* the file's query checks more, never less */
        return 0;
    }
    FUZZ_CHECK(n >= 1 && h >= 1 && w >= 1);
    FUZZ_CHECK(fst != SPCNN_OK || (nf == n && hf == h && wf == w));
    /* The query read the header alone: the data may yet be short or too long. */
    FUZZ_CHECK(size >= 4 && data[3] >= 1 && data[3] <= 3);
    size_t header = 4 + 4 * (size_t)data[3];
    FUZZ_CHECK(size >= header);
    size_t total = n * h * w;
    if (total > FUZZ_IDX_MAX)
        return 0;
    uint8_t *buf = malloc(total);
    FUZZ_CHECK(buf != NULL);
    size_t n2 = 0, h2 = 0, w2 = 0;
    st = read_pipe(data, size, buf, total, &n2, &h2, &w2);
    if (size - header == total) {
        FUZZ_CHECK(st == SPCNN_OK && n2 == n && h2 == h && w2 == w);
        FUZZ_CHECK(memcmp(buf, data + header, total) == 0);
    } else {
        /* Truncated, or trailing bytes. */
        FUZZ_CHECK(st == SPCNN_ERR_FORMAT && spcnn_last_error_message()[0] != '\0');
    }
    fst = spcnn_idx_read(file, buf, total, &n2, &h2, &w2);
    FUZZ_CHECK((fst == SPCNN_OK) == (st == SPCNN_OK));
    if (total > 1)
        FUZZ_CHECK(read_pipe(data, size, buf, total - 1, &n2, &h2, &w2) ==
                   SPCNN_ERR_BUFFER_TOO_SMALL);
    free(buf);
    return 0;
}
