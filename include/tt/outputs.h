/*
 * tt/outputs.h — checks for the files a run is about to write: one helper that
 * every writer (tt train's checkpoints and --log-json, tt tour --out, --plot,
 * a server's files) uses before it does any work, and an advisory lock so
 * that two runs never write the same output.
 *
 *     tt_error err;
 *     if (tt_output_check("run/m.safetensors", &err) != TT_OK) { ... err.msg ... }
 *     tt_output_lock *lk;
 *     if (tt_output_lock_acquire("run/m.safetensors", &lk, &err) != TT_OK) { ... }
 *     ... write ...
 *     tt_output_lock_release(lk);
 *
 * The rules (docs/robustness.md, "Outputs"): an output is a regular file or
 * does not exist yet. A directory, device, FIFO or socket is refused. A
 * symbolic link is followed: the file written is its target, replaced
 * atomically by a new file in the target's directory (the link itself stays);
 * a dangling link is refused. An existing file keeps its permission bits;
 * a new one gets 0666 minus the umask (src/fileio.c does the writing).
 * Thread safety: reentrant.
 */
#ifndef TT_OUTPUTS_H
#define TT_OUTPUTS_H

#include <stdbool.h>

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks that path can be written as a regular file: it is one already (or a
 * symbolic link to one), or it does not exist, its directory exists and a
 * file can be created there (a probe file is created and removed), and its
 * name, with the ".tmp" of the atomic write, fits the file system's limits.
 * @return TT_OK, TT_ERR_ARG (NULL/empty path, a directory, device, FIFO,
 * socket, dangling link, name too long) or TT_ERR_IO (the directory is
 * missing or not writable); the message names the path. */
TT_API tt_status tt_output_check(const char *path, tt_error *err);

/* True when a and b name the same file: both exist and have the same device
 * and inode, or neither needs to exist and they resolve to the same path
 * (the directory through realpath, plus the name). */
TT_API bool tt_output_same_file(const char *a, const char *b);

/* An advisory lock (flock) on PATH.lock, which holds the holder's pid (for
 * an existing PATH, beside its real path: a link and its target share one
 * lock). */
typedef struct tt_output_lock tt_output_lock;

/* Takes the lock for the output path without waiting. @return TT_OK,
 * TT_ERR_STATE when another process holds it (the message gives its pid),
 * TT_ERR_IO (the lock file cannot be created), TT_ERR_NOMEM, TT_ERR_ARG. */
TT_API tt_status tt_output_lock_acquire(const char *path, tt_output_lock **lock, tt_error *err);

/* Removes PATH.lock and releases the lock. NULL is a no-op. */
TT_API void tt_output_lock_release(tt_output_lock *lock);

#ifdef __cplusplus
}
#endif
#endif /* TT_OUTPUTS_H */
