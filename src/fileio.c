/* Whole-file reads and atomic writes; see fileio.h. */
#define _GNU_SOURCE /* O_TMPFILE */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of path ("." when there is none); malloc'ed. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* Writes all chunks to fd and fsyncs it. @return 0 or an errno value. */
static int write_all(int fd, const tt_io_chunk *chunks, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *p = chunks[i].data;
        size_t left = chunks[i].len;
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno ? errno : EIO;
            }
            if (w == 0) return EIO;
            p += w;
            left -= (size_t)w;
        }
    }
    if (fsync(fd) != 0) return errno ? errno : EIO;
    return 0;
}

#ifdef O_TMPFILE
/* The O_TMPFILE way: the data goes to an unnamed file in the directory, which
 * a kill simply discards; only when it is complete and fsynced does it get a
 * name: path itself when path does not exist yet, else tmp (via
 * /proc/self/fd), renamed over path. A stale tmp (from a kill between the
 * link and the rename) is removed first.
 * @return 0 done, -1 not available here (use the named way), or an errno. */
static int write_unnamed(const char *path, const char *dir, const char *tmp, const tt_io_chunk *chunks,
                         size_t n, int keep_mode) {
    int fd = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0666); /* the umask applies */
    if (fd < 0) return -1; /* unsupported file system, or the directory is unusable: the named way says why */
    if (keep_mode >= 0) (void)fchmod(fd, (mode_t)keep_mode);
    int e = write_all(fd, chunks, n);
    if (e) {
        close(fd);
        return e;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    /* A first save links the finished file straight to its name: one atomic
     * step, so a kill leaves either nothing or the whole file (no tmp). */
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) {
        close(fd);
        return 0;
    }
    int linked = 0;
    for (int attempt = 0; attempt < 3 && !linked; attempt++) {
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) {
            linked = 1;
        } else if (errno == EEXIST) {
            (void)unlink(tmp); /* a leftover of a killed save */
        } else {
            close(fd);
            return -1; /* no /proc, or links refused: use the named way */
        }
    }
    close(fd);
    if (!linked) return EEXIST;
    if (rename(tmp, path) != 0) {
        e = errno;
        (void)unlink(tmp);
        return e ? e : EIO;
    }
    return 0;
}
#endif

static tt_status write_atomic_regular(const char *path, const tt_io_chunk *chunks, size_t n, int keep_mode,
                                      tt_error *err);

char *tt_io_temp_path(const char *path) {
    if (!path) return NULL;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return NULL;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    return tmp;
}

tt_status tt_io_write_atomic(const char *path_in, const tt_io_chunk *chunks, size_t n,
                             tt_error *err) {
    if (!path_in || !*path_in) return tt_error_set(err, TT_ERR_ARG, "empty output path");
    /* Only regular files are replaced: a link is followed to its target (the
     * new file goes beside the target, the link stays), an existing file
     * keeps its permission bits, a new one gets 0666 minus the umask. */
    const char *path = path_in;
    char *target = NULL;
    int keep_mode = -1;
    struct stat lst, st;
    if (lstat(path_in, &lst) == 0) {
        if (S_ISLNK(lst.st_mode)) {
            if (stat(path_in, &st) != 0)
                return tt_error_set(err, TT_ERR_IO, "cannot write '%s': a symbolic link to a missing file", path_in);
            if (!(target = realpath(path_in, NULL)))
                return tt_error_set(err, errno == ENOMEM ? TT_ERR_NOMEM : TT_ERR_IO, "cannot resolve '%s': %s",
                                    path_in, strerror(errno));
            path = target;
        } else {
            st = lst;
        }
        if (!S_ISREG(st.st_mode)) {
            free(target);
            return tt_error_set(err, TT_ERR_IO, "cannot write '%s': %s", path_in,
                                S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
        }
        keep_mode = (int)(st.st_mode & 07777);
    }
    tt_status res = write_atomic_regular(path, chunks, n, keep_mode, err);
    free(target);
    return res;
}

static tt_status write_atomic_regular(const char *path, const tt_io_chunk *chunks, size_t n, int keep_mode,
                                      tt_error *err) {
    char *tmp = tt_io_temp_path(path), *dir = dir_of(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory writing '%s'", path);
    }
    int e = -1;
#ifdef O_TMPFILE
    e = write_unnamed(path, dir, tmp, chunks, n, keep_mode);
#endif
    if (e < 0) {
        /* the named way: PATH.tmp, truncated, so that a later save reuses
         * (overwrites) what a killed one left */
        (void)unlink(tmp); /* a fresh inode: a link or FIFO at PATH.tmp is not followed */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) {
            e = errno;
            free(tmp);
            free(dir);
            return tt_error_set(err, TT_ERR_IO, "cannot create a temporary file beside '%s': %s", path,
                                strerror(e));
        }
        if (keep_mode >= 0) (void)fchmod(fd, (mode_t)keep_mode);
        e = write_all(fd, chunks, n);
        if (close(fd) != 0 && !e) e = errno ? errno : EIO;
        if (!e && rename(tmp, path) != 0) e = errno ? errno : EIO;
        if (e) (void)unlink(tmp);
    }
    free(tmp);
    if (e) {
        free(dir);
        return tt_error_set(err, TT_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some file systems refuse fsync on a directory */
        close(dfd);
    }
    free(dir);
    return TT_OK;
}

void tt_io_remove_stale_temps(const char *path) {
    if (!path || !*path) return;
    char *tmp = tt_io_temp_path(path), *dir = dir_of(path);
    if (tmp) (void)unlink(tmp);
    free(tmp);
    /* PATH.tmp.XXXXXX: the mkstemp names of earlier versions */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d))) {
            const char *nm = ent->d_name;
            if (strncmp(nm, base, bl) || strncmp(nm + bl, ".tmp.", 5) || strlen(nm + bl + 5) != 6) continue;
            size_t dl = strlen(dir);
            char *full = malloc(dl + 1 + strlen(nm) + 1);
            if (!full) break;
            memcpy(full, dir, dl);
            full[dl] = '/';
            strcpy(full + dl + 1, nm);
            (void)unlink(full);
            free(full);
        }
        closedir(d);
    }
    free(dir);
}

tt_status tt_io_read_file(const char *path, char **data, size_t *len, tt_error *err) {
    *data = NULL;
    *len = 0;
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "empty file path");
    struct stat st;
    if (stat(path, &st) != 0)
        return tt_error_set(err, TT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return tt_error_set(err, TT_ERR_IO, "'%s' is a directory", path);
    FILE *f = fopen(path, "rb");
    if (!f) return tt_error_set(err, TT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return tt_error_set(err, TT_ERR_NOMEM, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return tt_error_set(err, TT_ERR_IO, "cannot read '%s'", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TT_OK;
}
