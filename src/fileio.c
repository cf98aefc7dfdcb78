/* Whole-file reads and atomic writes; see fileio.h. */
#include "fileio.h"

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

tt_status tt_io_write_atomic(const char *path, const tt_io_chunk *chunks, size_t n,
                             tt_error *err) {
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "empty output path");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return tt_error_set(err, TT_ERR_NOMEM, "out of memory writing '%s'", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return tt_error_set(err, TT_ERR_IO, "cannot create a temporary file beside '%s': %s", path,
                            strerror(e));
    }
    (void)fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return tt_error_set(err, TT_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    int bad = 0, e = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        if (chunks[i].len && fwrite(chunks[i].data, 1, chunks[i].len, f) != chunks[i].len) {
            bad = 1;
            e = errno;
        }
    }
    if (!bad && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        bad = 1;
        e = errno;
    }
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        free(tmp);
        return tt_error_set(err, TT_ERR_IO, "cannot write '%s': %s", path,
                            e ? strerror(e) : "write error");
    }
    free(tmp);
    char *dir = dir_of(path);
    if (dir) {
        int dfd = open(dir, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd); /* best effort: some file systems refuse fsync on a directory */
            close(dfd);
        }
        free(dir);
    }
    return TT_OK;
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
