/*
 * src/fileio.h — private file helpers shared by the library: whole-file reads
 * and atomic writes (temporary file in the same directory, fwrite, fflush,
 * fsync, rename, fsync of the directory).
 *
 * Thread safety: reentrant; two writers to one path race only on rename,
 * and the last rename wins with a complete file.
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

/* Reads a whole file into a malloc'ed buffer with a NUL after the last byte
 * (*data; caller frees), *len the size without the NUL.
 * @return TT_OK, TT_ERR_IO (missing, a directory, unreadable), TT_ERR_NOMEM. */
tt_status tt_io_read_file(const char *path, char **data, size_t *len, tt_error *err);

#endif
