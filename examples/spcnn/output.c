/* Output files checked before the long work that produces them, and folders made for outputs
 * removed again when the command fails (cli.h, "Outputs"). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int cannot_write(const char *cmd, const char *path, int err)
{
    fprintf(stderr, "spcnn %s: cannot write %s: %s\n", cmd, path, strerror(err));
    return 0;
}

int cli_check_output(const char *cmd, const char *path)
{
    struct stat sb;
    if (path[0] == '\0')
        return cannot_write(cmd, "''", ENOENT);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cannot_write(cmd, path, EISDIR);
    /* A temporary file as the writers make one, "<path>.tmp-<pid>-<n>", with a number at least
     * as long as theirs, so a name too long for the file system fails here too. Creating it
     * is the only proof: access(2) says yes to root on a folder where nothing can be created
     * (/proc), and says nothing about names. */
    size_t cap = strlen(path) + 64;
    char *probe = malloc(cap);
    if (!probe) {
        fprintf(stderr, "spcnn %s: out of memory\n", cmd);
        return 0;
    }
    int fd = -1, err = 0;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(probe, cap, "%s.tmp-%ld-%d", path, (long)getpid(), 1000000000 + attempt);
        fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0666);
        err = errno;
        if (fd < 0 && err != EEXIST)
            break;
    }
    if (fd >= 0) {
        close(fd);
        unlink(probe);
    }
    free(probe);
    return fd >= 0 ? 1 : cannot_write(cmd, path, err);
}

int cli_check_append(const char *cmd, const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd >= 0) { /* an existing file: opened, not changed */
        close(fd);
        return 1;
    }
    if (errno != ENOENT)
        return cannot_write(cmd, path, errno);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0)
        return cannot_write(cmd, path, errno);
    close(fd);
    unlink(path);
    return 1;
}

int cli_make_dirs(const char *cmd, const char *dir, cli_made_dirs *made)
{
    memset(made, 0, sizeof *made);
    size_t n = strlen(dir);
    char *path = malloc(n + 1);
    if (!path) {
        fprintf(stderr, "spcnn %s: out of memory\n", cmd);
        return 0;
    }
    memcpy(path, dir, n + 1);
    made->path = path;
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) == 0) {
            if (!made->first)
                made->first = i; /* every folder below it is new too */
        } else if (errno != EEXIST) {
            fprintf(stderr, "spcnn %s: cannot create %s: %s\n", cmd, path, strerror(errno));
            path[i] = c;
            cli_remove_made_dirs(made);
            return 0;
        }
        path[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "spcnn %s: %s is not a folder\n", cmd, dir);
        cli_remove_made_dirs(made);
        return 0;
    }
    return 1;
}

void cli_remove_made_dirs(cli_made_dirs *made)
{
    char *path = made->path;
    if (path && made->first) {
        /* Deepest first; rmdir leaves a folder that is not empty (someone else's files). */
        size_t len = strlen(path);
        while (len > 1 && path[len - 1] == '/')
            path[--len] = '\0';
        while (len >= made->first) {
            if (rmdir(path) != 0)
                break;
            char *slash = strrchr(path, '/');
            if (!slash)
                break;
            while (slash > path && slash[-1] == '/')
                slash--;
            *slash = '\0';
            len = (size_t)(slash - path);
        }
    }
    free(path);
    memset(made, 0, sizeof *made);
}

void cli_keep_made_dirs(cli_made_dirs *made)
{
    free(made->path);
    memset(made, 0, sizeof *made);
}
