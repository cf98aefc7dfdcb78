/*
 * tt/threads.h — a pool of threads that several generators share.
 *
 * By default each generator has a team of its own, started at its first
 * call that uses more than one thread (tt/generate.h: n_threads). A program
 * that runs many generators can give them one pool instead, so that 4
 * generators on a 4-core machine start 3 worker threads, not 12:
 *
 *     tt_thread_pool *pool;
 *     tt_thread_pool_create(&pool, 0, &err);     // 0: every core
 *     tt_generator_set_thread_pool(g1, pool, &err);
 *     tt_generator_set_thread_pool(g2, pool, &err);  // g1, g2 in any threads
 *     tt_thread_pool_free(pool);                 // the generators keep it
 *     ... tt_generator_free(g1); tt_generator_free(g2);  // the last frees it
 *
 * Rules:
 *  - A pool runs one forward pass at a time. A generator whose forward pass
 *    finds the pool busy (another generator is on it) runs that pass on its
 *    calling thread instead of waiting; the tokens are the same either way
 *    (they never depend on threads).
 *  - Reference-counted: the caller's reference (from create) and one per
 *    generator attached to it. tt_thread_pool_free drops the caller's; the
 *    workers stop when the last reference goes, so freeing a pool that
 *    generators still use is safe.
 *  - Fork-safe: in a forked child the pool's workers are started afresh at
 *    its first use there.
 *  - Thread-safe: a pool may be used by generators in any threads at once
 *    (each generator by one thread at a time, as always).
 */
#ifndef TT_THREADS_H
#define TT_THREADS_H

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_thread_pool tt_thread_pool;

/* A pool of n_threads threads (0 = auto: OMP_NUM_THREADS when set, else every core;
 * 1..TT_GEN_MAX_THREADS of tt/generate.h): the caller of a forward
 * pass and n_threads - 1 workers, started now.
 * @return TT_OK, TT_ERR_ARG (NULL out, n_threads out of range), TT_ERR_NOMEM
 * (memory or threads). */
TT_API tt_status tt_thread_pool_create(tt_thread_pool **out, int n_threads, tt_error *err);

/* Drops the caller's reference; the workers stop once no generator holds
 * the pool either. NULL-safe. */
TT_API void tt_thread_pool_free(tt_thread_pool *pool);

/* Threads of the pool (the calling thread included); 0 for NULL. */
TT_API int tt_thread_pool_size(const tt_thread_pool *pool);

#ifdef __cplusplus
}
#endif

#endif /* TT_THREADS_H */
