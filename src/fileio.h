/*
 * src/fileio.h — private file helpers shared by the library: whole-file reads
 * and atomic writes (the bytes go to an unnamed O_TMPFILE file in the same
 * directory, are fsynced, linked as PATH.tmp and renamed over PATH, then the
 * directory is fsynced; where O_TMPFILE or /proc is missing, PATH.tmp is
 * opened with O_TRUNC and written directly). A kill during a write leaves no
 * temporary file (O_TMPFILE), or PATH.tmp, which the next write of PATH
 * reuses: temporary files never pile up.
 *
 * Thread safety: reentrant; one writer per path at a time (two writers of one
 * path share PATH.tmp: neither ever renames a partial file over PATH with
 * O_TMPFILE, but in the fallback they would clobber each other's bytes).
 */
#ifndef TT_SRC_FILEIO_H
#define TT_SRC_FILEIO_H

#include <stddef.h>

#include "tt/common.h"

/* One piece of a file to write (the pieces are written in order). */
typedef struct {
    const void *data;
    size_t len;
} tt_io_chunk;

/* Writes the concatenation of chunks[0..n) to path atomically: the file is
 * either the old one or the complete new one, never a partial one.
 * @return TT_OK or TT_ERR_IO (the message names the path and OS error). */
tt_status tt_io_write_atomic(const char *path, const tt_io_chunk *chunks, size_t n,
                             tt_error *err);

/* PATH.tmp, the temporary name tt_io_write_atomic uses for path; malloc'ed
 * (NULL when out of memory). */
char *tt_io_temp_path(const char *path);

/* Removes what a killed tt_io_write_atomic of path may have left: PATH.tmp,
 * and PATH.tmp.XXXXXX (the mkstemp names of earlier versions). Best effort:
 * errors are ignored. */
void tt_io_remove_stale_temps(const char *path);

/* Reads a whole file into a malloc'ed buffer with a NUL after the last byte
 * (*data; caller frees), *len the size without the NUL.
 * @return TT_OK, TT_ERR_IO (missing, a directory, unreadable), TT_ERR_NOMEM. */
tt_status tt_io_read_file(const char *path, char **data, size_t *len, tt_error *err);

#endif
