/* Atomic file replacement (io/atomic_file.h). */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

/* "<path>.tmp-<pid>-<n>", created exclusively so concurrent writers never share it; n starts
 * from the clock so two handles of one process rarely collide (no global counter: lib/ keeps
 * no mutable global state). The mode 0666 lets the umask decide the permissions, as for any
 * new file. */
spcnn_status spcnn__atomic_file_open(spcnn__atomic_file *f, const char *path, const char *what)
{
    memset(f, 0, sizeof *f);
    size_t cap = strlen(path) + 64;
    char *name = spcnn__malloc(cap);
    if (!name)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", what, path);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned long salt = (unsigned long)now.tv_nsec;
    int fd = -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(name, cap, "%s.tmp-%ld-%lu", path, (long)getpid(), salt + (unsigned long)attempt);
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int err = errno;
        spcnn_status st = spcnn__error(SPCNN_ERR_IO, "%s: %s: cannot create %s: %s", what, path,
                                       name, strerror(err));
        spcnn__free(name);
        return st;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        int err = errno;
        close(fd);
        unlink(name);
        spcnn__free(name);
        return spcnn__error(err == ENOMEM ? SPCNN_ERR_OUT_OF_MEMORY : SPCNN_ERR_IO,
                            "%s: %s: fdopen: %s", what, path, strerror(err));
    }
    f->fp = fp;
    f->tmp = name;
    f->path = path;
    f->what = what;
    return SPCNN_OK;
}

void spcnn__atomic_file_abort(spcnn__atomic_file *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp) {
        unlink(f->tmp);
        spcnn__free(f->tmp);
    }
    f->fp = NULL;
    f->tmp = NULL;
}

/* Make the rename itself durable; failure here cannot undo a completed write, so it is not
 * reported (the file is complete either way). */
static void sync_parent_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        dir[0] = '.';
        dir[1] = '\0';
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1; /* "/file" lives in "/" */
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

spcnn_status spcnn__atomic_file_commit(spcnn__atomic_file *f)
{
    spcnn_status st;
    if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0) {
        st = spcnn__error(SPCNN_ERR_IO, "%s: %s: %s", f->what, f->tmp, strerror(errno));
        goto fail;
    }
    FILE *fp = f->fp;
    f->fp = NULL; /* fclose releases it even when it fails */
    if (fclose(fp) != 0) {
        st = spcnn__error(SPCNN_ERR_IO, "%s: %s: %s", f->what, f->tmp, strerror(errno));
        goto fail;
    }
    if (rename(f->tmp, f->path) != 0) {
        st = spcnn__error(SPCNN_ERR_IO, "%s: %s: rename from %s: %s", f->what, f->path, f->tmp,
                          strerror(errno));
        goto fail;
    }
    spcnn__free(f->tmp);
    f->tmp = NULL;
    sync_parent_directory(f->path);
    return SPCNN_OK;

fail:
    spcnn__atomic_file_abort(f);
    return st;
}

spcnn_status spcnn__atomic_file_finish(spcnn__atomic_file *f, int write_errno)
{
    if (write_errno == 0)
        return spcnn__atomic_file_commit(f);
    spcnn_status st = spcnn__error(SPCNN_ERR_IO, "%s: %s: writing %s: %s", f->what, f->path,
                                   f->tmp, strerror(write_errno));
    spcnn__atomic_file_abort(f);
    return st;
}
