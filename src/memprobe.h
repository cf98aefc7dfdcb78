/*
 * src/memprobe.h — room for the BLAS library's buffers under an address-space
 * limit (ulimit -v, RLIMIT_AS / RLIMIT_DATA).
 *
 * OpenBLAS takes a 128 MiB work buffer for each thread that calls it, the
 * first time that thread calls it, and when the allocation fails it retries
 * for ever: under `ulimit -v 300000` a training run spun inside cblas_sgemm
 * and never ended. So, only when such a limit is set, the model checks before
 * its first BLAS call that the buffers (and the activations it is about to
 * allocate) fit, by allocating and freeing them (address space only: no page
 * is touched), and fails with TT_ERR_NOMEM and the numbers otherwise.
 */
#ifndef TT_SRC_MEMPROBE_H
#define TT_SRC_MEMPROBE_H

#include <stddef.h>

#include "tt/common.h"

/* What one thread's OpenBLAS buffer takes (Debian's build: 128 MiB + a page;
 * the probe asks for a little more). */
#define TT_BLAS_BUFFER_BYTES ((size_t)128 * 1024 * 1024 + 64 * 1024)

/* With no address-space limit: TT_OK at once. Else allocates `extra` bytes
 * and `threads` BLAS buffers, frees them, and returns TT_OK if all fit, else
 * TT_ERR_NOMEM with a message giving the limit and the sizes. */
tt_status tt_mem_probe_blas(size_t extra, int threads, tt_error *err);

#endif
