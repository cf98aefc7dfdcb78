/*
 * src/thread_pool_internal.h — what a generator uses of a tt_thread_pool
 * (tt/threads.h; internal).
 */
#ifndef TT_SRC_THREAD_POOL_INTERNAL_H
#define TT_SRC_THREAD_POOL_INTERNAL_H

#include "team.h"
#include "tt/threads.h"

/* Another reference (a generator attaching it). */
void tt_pool_ref(tt_thread_pool *p);
/* Drops a reference; the last one stops the workers and frees the pool. */
void tt_pool_unref(tt_thread_pool *p);

/* The pool's team, taken for one run (the caller then runs tt_team_* on it
 * and calls tt_pool_release), or NULL when another thread of this process
 * has it (run on the calling thread instead) or it cannot run here (a
 * forked child that could not start workers). Never waits. */
tt_team *tt_pool_try_acquire(tt_thread_pool *p);
void tt_pool_release(tt_thread_pool *p);

#endif /* TT_SRC_THREAD_POOL_INTERNAL_H */
