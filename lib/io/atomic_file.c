/* Atomic file replacement (io/atomic_file.h). */
#define _GNU_SOURCE /* O_TMPFILE (Linux); everything else here is POSIX 2008 */
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

/* The host part of temporary names: a hash of the host name, so a save never removes the
 * temporary of a process of another machine that shares the directory (its process ids mean
 * nothing here). */
static unsigned host_tag(void)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        name[0] = '\0';
    name[sizeof name - 1] = '\0';
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    return h;
}

/* "<path>.tmp-<host>-<pid>-<n>", n from the clock so two handles of one process rarely collide
 * (no global counter: lib/ keeps no mutable global state). Files are created with mode 0666,
 * so the umask decides the permissions, as for any new file. */
static void temporary_name(const spcnn__atomic_file *f, unsigned host, unsigned long n)
{
    snprintf(f->tmp, f->tmp_cap, "%s.tmp-%08x-%ld-%lu", f->path, host, (long)getpid(), n);
}

static unsigned long clock_salt(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (unsigned long)now.tv_nsec;
}

/* The directory of path: "." for a bare name, "/" for "/file". 0 if it does not fit in cap. */
static int parent_directory(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0)
        n = 1; /* "/file" lives in "/" */
    if (n >= cap)
        return 0;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    return 1;
}

/* Parse "<8 hex digits>-<digits>-<digits>" (the end of a temporary's name) exactly. */
static int parse_suffix(const char *s, unsigned long *host, unsigned long *pid)
{
    unsigned long value[3] = {0, 0, 0};
    for (int field = 0; field < 3; field++) {
        const char *start = s;
        for (; *s && *s != '-'; s++) {
            int d = -1;
            if (*s >= '0' && *s <= '9')
                d = *s - '0';
            else if (field == 0 && *s >= 'a' && *s <= 'f')
                d = *s - 'a' + 10;
            if (d < 0 || value[field] > (ULONG_MAX - (unsigned long)d) / 16)
                return 0;
            value[field] = value[field] * (field == 0 ? 16 : 10) + (unsigned long)d;
        }
        if (s == start || (field == 0 && s - start != 8) || (field < 2) != (*s == '-'))
            return 0;
        if (*s == '-')
            s++;
    }
    *host = value[0];
    *pid = value[1];
    return 1;
}

void spcnn__atomic_file_remove_stale(const char *path)
{
    const unsigned host = host_tag();
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t len = strlen(base);
    if (len == 0 || !parent_directory(path, dir, sizeof dir))
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        unsigned long tag, pid;
        if (strncmp(name, base, len) != 0 || strncmp(name + len, ".tmp-", 5) != 0 ||
            !parse_suffix(name + len + 5, &tag, &pid) || tag != host || pid == 0 ||
            pid > INT_MAX)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* running (or not ours to judge) */
        (void)unlinkat(dirfd(d), name, 0);
    }
    closedir(d);
}

spcnn_status spcnn__atomic_file_open(spcnn__atomic_file *f, const char *path, const char *what)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->what = what;
    f->tmp_cap = strlen(path) + 64;
    f->tmp = spcnn__malloc(f->tmp_cap);
    if (!f->tmp)
        return spcnn__error(SPCNN_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", what, path);
    const unsigned host = host_tag();
    int fd = -1, named = 1;
#ifdef O_TMPFILE
    /* An unnamed file in the target's directory, named at commit through /proc/self/fd. Where
     * the file system or the kernel lacks O_TMPFILE (EOPNOTSUPP, EISDIR, EINVAL), or /proc is
     * not mounted, the file is named from the start. */
    char dir[4096];
    if (parent_directory(path, dir, sizeof dir) && access("/proc/self/fd", X_OK) == 0) {
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        named = fd < 0;
    }
#endif
    const unsigned long salt = clock_salt();
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        temporary_name(f, host, salt + (unsigned long)attempt);
        fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int err = errno;
        spcnn_status st = spcnn__error(SPCNN_ERR_IO, "%s: %s: cannot create %s: %s", what, path,
                                       f->tmp, strerror(err));
        spcnn__free(f->tmp);
        f->tmp = NULL;
        return st;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        int err = errno;
        close(fd);
        if (named)
            unlink(f->tmp);
        spcnn__free(f->tmp);
        f->tmp = NULL;
        return spcnn__error(err == ENOMEM ? SPCNN_ERR_OUT_OF_MEMORY : SPCNN_ERR_IO,
                            "%s: %s: fdopen: %s", what, path, strerror(err));
    }
    f->fp = fp;
    f->named = named;
    return SPCNN_OK;
}

void spcnn__atomic_file_abort(spcnn__atomic_file *f)
{
    if (f->fp)
        fclose(f->fp); /* an unnamed file vanishes here */
    if (f->tmp) {
        if (f->named)
            unlink(f->tmp);
        spcnn__free(f->tmp);
    }
    f->fp = NULL;
    f->tmp = NULL;
    f->named = 0;
}

/* For messages: the temporary's name, or what it is while it has none. */
static const char *temporary_label(const spcnn__atomic_file *f)
{
    return f->named ? f->tmp : "its unnamed temporary file";
}

/* Make the rename itself durable; failure here cannot undo a completed write, so it is not
 * reported (the file is complete either way). */
static void sync_parent_directory(const char *path)
{
    char dir[4096];
    if (!parent_directory(path, dir, sizeof dir))
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Give an unnamed (O_TMPFILE) file its temporary name, once its data is on disk. */
static spcnn_status link_unnamed(spcnn__atomic_file *f)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(f->fp));
    const unsigned host = host_tag();
    const unsigned long salt = clock_salt();
    for (int attempt = 0; attempt < 100; attempt++) {
        temporary_name(f, host, salt + (unsigned long)attempt);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW) == 0) {
            f->named = 1;
            return SPCNN_OK;
        }
        if (errno != EEXIST)
            break;
    }
    return spcnn__error(SPCNN_ERR_IO, "%s: %s: cannot name its temporary file %s: %s", f->what,
                        f->path, f->tmp, strerror(errno));
}

spcnn_status spcnn__atomic_file_commit(spcnn__atomic_file *f)
{
    spcnn_status st;
    if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0) {
        st = spcnn__error(SPCNN_ERR_IO, "%s: %s: %s", f->what, temporary_label(f),
                          strerror(errno));
        goto fail;
    }
    if (!f->named)
        SPCNN_TRY_GOTO(st, link_unnamed(f));
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
    f->named = 0;
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
                                   temporary_label(f), strerror(write_errno));
    spcnn__atomic_file_abort(f);
    return st;
}
