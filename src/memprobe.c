/* Room for BLAS buffers under an address-space limit; see memprobe.h. */
#include "memprobe.h"

#include <stdlib.h>
#include <sys/resource.h>

tt_status tt_mem_probe_blas(size_t extra, int threads, tt_error *err) {
    struct rlimit as, data;
    rlim_t lim = RLIM_INFINITY;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) lim = as.rlim_cur;
    if (getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur != RLIM_INFINITY && data.rlim_cur < lim)
        lim = data.rlim_cur;
    if (lim == RLIM_INFINITY) return TT_OK;
    if (threads < 1) threads = 1;
    enum { MAX_BLOCKS = 1025 };
    void *blocks[MAX_BLOCKS];
    int n = 0, ok = 1;
    if (extra > 0) {
        blocks[n] = malloc(extra);
        ok = blocks[n++] != NULL;
    }
    for (int t = 0; t < threads && ok && n < MAX_BLOCKS; t++) {
        blocks[n] = malloc(TT_BLAS_BUFFER_BYTES);
        ok = blocks[n++] != NULL;
    }
    for (int i = 0; i < n; i++)
        free(blocks[i]);
    if (ok) return TT_OK;
    return tt_error_set(
        err, TT_ERR_NOMEM,
        "out of memory: the address-space limit (ulimit -v %llu KiB) leaves no room for %zu bytes "
        "of activations and %d BLAS work buffer%s of %zu MiB (one per thread: fewer threads, "
        "e.g. --threads 1 or OMP_NUM_THREADS=1, need fewer)",
        (unsigned long long)(lim / 1024), extra, threads, threads == 1 ? "" : "s",
        TT_BLAS_BUFFER_BYTES >> 20);
}
