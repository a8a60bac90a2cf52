/* Atomic replacement of a file: write a temporary file next to the target, then fflush, fsync,
 * and rename it into place, so a reader sees either the old file or the complete new one,
 * never a half-written mix. Used by every writer of the library (PNG, model and classifier
 * files).
 *
 *   spcnn__atomic_file f;
 *   SPCNN_TRY(spcnn__atomic_file_open(&f, path, "png"));
 *   ... write to f.fp; on a failure: spcnn__atomic_file_abort(&f) ...
 *   return spcnn__atomic_file_commit(&f);   (removes the temporary file if it fails)
 *
 * A process killed while saving must not leave files behind to pile up. Where the kernel and
 * the file system offer it (Linux O_TMPFILE: ext4, XFS, Btrfs, tmpfs), the temporary file has
 * no name while it is written: it is given one ("<path>.tmp-<host>-<pid>-<n>") only once its
 * data is on disk, just before the rename, so a kill leaves nothing except in the
 * microseconds between the two. Elsewhere the named file exists during the whole write.
 * spcnn__atomic_file_remove_stale removes what killed processes left; the model and classifier
 * writers call it before each save (PNG writes do not: a folder may hold thousands of images,
 * and a scan per write would cost their square). */
#ifndef SPCNN_IO_ATOMIC_FILE_H
#define SPCNN_IO_ATOMIC_FILE_H

#include <stdio.h>

#include "core/error.h"

typedef struct spcnn__atomic_file {
    FILE *fp;         /* the temporary file, opened for binary writing */
    char *tmp;        /* buffer for its name, "<path>.tmp-<host>-<pid>-<n>" */
    size_t tmp_cap;
    int named;        /* 1 while a file called tmp exists (0 for an unnamed O_TMPFILE) */
    const char *path; /* the target (borrowed) */
    const char *what; /* prefix of error messages, e.g. "png" (borrowed, static text) */
} spcnn__atomic_file;

/* Remove the "<path>.tmp-<host>-<pid>-<n>" files of this host whose process no longer runs:
 * what processes killed while saving path left behind. A running process's temporary is never
 * touched (kill(pid, 0) tells; a pid reused since only delays the removal), nor another host's
 * (<host> is a hash of the host name) or a name of another form. Best effort: a directory
 * that cannot be read is left as it is. */
void spcnn__atomic_file_remove_stale(const char *path);

/* Create the temporary file (mode 0666 less the umask). Returns SPCNN_ERR_IO (e.g. the directory does not exist or is not writable; the
 * message names the path and strerror) or SPCNN_ERR_OUT_OF_MEMORY; on failure nothing is left
 * on disk and f needs no abort. */
spcnn_status spcnn__atomic_file_open(spcnn__atomic_file *f, const char *path, const char *what);

/* Flush, fsync, name (if unnamed), close and rename the temporary file over the target, then
 * fsync the directory (best effort: the file is complete either way). On failure the
 * temporary file is removed, the target is untouched, and SPCNN_ERR_IO names the file and
 * strerror. f is released either way. */
spcnn_status spcnn__atomic_file_commit(spcnn__atomic_file *f);

/* Close and remove the temporary file, leaving the target untouched; f is released. */
void spcnn__atomic_file_abort(spcnn__atomic_file *f);

/* After writing: commit f when write_errno is 0; otherwise (the errno of a failed write) abort
 * it and return SPCNN_ERR_IO "WHAT: PATH: writing TMP: strerror". f is released either way. */
spcnn_status spcnn__atomic_file_finish(spcnn__atomic_file *f, int write_errno);

#endif
