/* Output checks and locks; see tt/outputs.h. */
#include "tt/outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Splits path into its directory (dir, "." when none) and its name. */
static int split_path(const char *path, char *dir, size_t cap, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash) {
        snprintf(dir, cap, ".");
        return 0;
    }
    size_t dl = (size_t)(slash - path);
    if (dl == 0) dl = 1; /* "/name" */
    if (dl >= cap) return -1;
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    return 0;
}

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

tt_status tt_output_check(const char *path, tt_error *err) {
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "empty output path");
    size_t plen = strlen(path);
    if (plen + 16 >= PATH_MAX)
        return tt_error_set(err, TT_ERR_ARG, "'%.64s...' is too long a path (%zu bytes)", path,
                            plen);
    struct stat st, lst;
    char target[PATH_MAX];
    const char *real = path;
    if (lstat(path, &lst) == 0) {
        if (S_ISLNK(lst.st_mode)) {
            if (stat(path, &st) != 0)
                return tt_error_set(err, TT_ERR_ARG, "'%s' is a symbolic link to a missing file",
                                    path);
            if (!realpath(path, target))
                return tt_error_set(err, TT_ERR_IO, "cannot resolve '%s': %s", path,
                                    strerror(errno));
            real = target;
        } else {
            st = lst;
        }
        if (!S_ISREG(st.st_mode))
            return tt_error_set(err, TT_ERR_ARG, "'%s' is %s, not a regular file", path,
                                kind_of(st.st_mode));
    } else if (errno != ENOENT) {
        return tt_error_set(err, errno == ENAMETOOLONG ? TT_ERR_ARG : TT_ERR_IO,
                            "cannot use '%s': %s", path, strerror(errno));
    } else if (path[plen - 1] == '/') {
        return tt_error_set(err, TT_ERR_ARG, "'%s' names a directory, not a file", path);
    }
    char dir[PATH_MAX];
    const char *base;
    if (split_path(real, dir, sizeof dir, &base) != 0)
        return tt_error_set(err, TT_ERR_ARG, "'%s' is too long a path", path);
    if (!strcmp(base, ".") || !strcmp(base, ".."))
        return tt_error_set(err, TT_ERR_ARG, "'%s' names a directory, not a file", path);
    struct stat dst;
    if (stat(dir, &dst) != 0)
        return tt_error_set(err, TT_ERR_IO, "cannot write '%s': cannot write in directory '%s': %s",
                            path, dir, strerror(errno));
    if (!S_ISDIR(dst.st_mode))
        return tt_error_set(err, TT_ERR_IO, "cannot write '%s': cannot write in directory '%s': %s",
                            path, dir, strerror(ENOTDIR));
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0) name_max = 255;
    if ((long)strlen(base) + 4 > name_max) /* + ".tmp" of the atomic write */
        return tt_error_set(err, TT_ERR_ARG,
                            "'%s': the file name is too long (%zu bytes; the limit is %ld)", path,
                            strlen(base), name_max - 4);
    /* access(W_OK) is not enough: root passes it for any directory, yet
     * cannot create files in /sys; so create (and remove) a file there */
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/.tt-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        return tt_error_set(err, TT_ERR_IO, "cannot write '%s': cannot write in directory '%s': %s",
                            path, dir, strerror(errno));
    close(fd);
    unlink(probe);
    return TT_OK;
}

/* realpath of the directory + "/" + the name (the file need not exist). */
static int resolved(const char *path, char out[PATH_MAX]) {
    if (realpath(path, out)) return 0;
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *base;
    if (split_path(path, dir, sizeof dir, &base) != 0 || !realpath(dir, rdir)) return -1;
    if (snprintf(out, PATH_MAX, "%s/%s", rdir, base) >= PATH_MAX) return -1;
    return 0;
}

bool tt_output_same_file(const char *a, const char *b) {
    if (!a || !b) return false;
    struct stat sa, sb;
    int ea = stat(a, &sa), eb = stat(b, &sb);
    if (ea == 0 && eb == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea == 0 || eb == 0) return false;
    char ra[PATH_MAX], rb[PATH_MAX];
    if (resolved(a, ra) || resolved(b, rb)) return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

struct tt_output_lock {
    int fd;
    char *path;
};

tt_status tt_output_lock_acquire(const char *path, tt_output_lock **lock, tt_error *err) {
    if (!lock) return tt_error_set(err, TT_ERR_ARG, "output_lock: lock is NULL");
    *lock = NULL;
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "output_lock: empty path");
    /* a link and its target are one output: lock beside the target */
    char real[PATH_MAX];
    const char *base = realpath(path, real) ? real : path;
    size_t n = strlen(base);
    char *lp = malloc(n + 6);
    if (!lp) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    memcpy(lp, base, n);
    memcpy(lp + n, ".lock", 6);
    /* A holder removes the file before it unlocks; so after taking the lock,
     * check that the file we hold is still the one at the name (else retry). */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            int e = errno;
            tt_status st = tt_error_set(err, TT_ERR_IO, "cannot create the lock file '%s': %s", lp,
                                        strerror(e));
            free(lp);
            return st;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char buf[32] = "";
            ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
            buf[r > 0 ? r : 0] = '\0';
            close(fd);
            long pid = strtol(buf, NULL, 10);
            tt_status st;
            if (e == EWOULDBLOCK && pid > 0)
                st = tt_error_set(err, TT_ERR_STATE,
                                  "'%s' is being written by another run (pid %ld; lock '%s')", path,
                                  pid, lp);
            else if (e == EWOULDBLOCK)
                st = tt_error_set(err, TT_ERR_STATE,
                                  "'%s' is being written by another run (lock '%s')", path, lp);
            else
                st = tt_error_set(err, TT_ERR_IO, "cannot lock '%s': %s", lp, strerror(e));
            free(lp);
            return st;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lp, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char buf[32];
            int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 ||
                pwrite(fd, buf, (size_t)len, 0) != len) { /* the pid is a courtesy */
            }
            tt_output_lock *l = malloc(sizeof *l);
            if (!l) {
                unlink(lp);
                close(fd);
                free(lp);
                return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
            }
            l->fd = fd;
            l->path = lp;
            *lock = l;
            return TT_OK;
        }
        close(fd); /* the holder removed it between our open and flock: again */
    }
    tt_status st = tt_error_set(err, TT_ERR_STATE, "cannot lock '%s': it keeps changing", lp);
    free(lp);
    return st;
}

void tt_output_lock_release(tt_output_lock *lock) {
    if (!lock) return;
    unlink(lock->path);
    close(lock->fd);
    free(lock->path);
    free(lock);
}
