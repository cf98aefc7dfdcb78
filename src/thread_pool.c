/*
 * src/thread_pool.c — a team of threads that generators share (see
 * tt/threads.h).
 *
 * The pool is a tt_team (src/team.c) and a "busy" word. A generator takes
 * the pool for one forward pass (or one weight packing) by swapping the
 * word from 0 to its process id, and gives it back by storing 0; a taker
 * that finds it held runs on its own thread instead of waiting. The word
 * holds a process id, not a flag, for fork(): a child forked while a thread
 * of the parent ran a pass on the pool inherits the word held by a thread
 * that does not exist there; a word holding another process's id is such a
 * stale hold, and the child takes it over (the team then restarts its
 * workers in the child, src/team.c). Everything the team does (run, its
 * restart after fork) happens while the word is held, so the team is used
 * by one thread at a time, as it requires. The pool is never "hot" (team.h):
 * its idle workers sleep after ~60 us, as it serves several callers.
 */
#include "thread_pool_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "tt/generate.h"

#include "par.h"

struct tt_thread_pool {
    tt_team *team;
    int n;
    atomic_int refs;
    atomic_long busy; /* 0, or the pid of the process one of whose threads has the team */
};

tt_status tt_thread_pool_create(tt_thread_pool **out, int n_threads, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "thread_pool_create: out is NULL");
    *out = NULL;
    if (n_threads < 0 || n_threads > TT_GEN_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "n_threads must be in [0, %d] (0 = every core), got %d",
                            TT_GEN_MAX_THREADS, n_threads);
    int n = tt_par_threads_for(n_threads);
    if (n < 1) n = 1;
    if (n > TT_GEN_MAX_THREADS) n = TT_GEN_MAX_THREADS;
    tt_thread_pool *p = calloc(1, sizeof *p);
    if (!p) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a thread pool");
    tt_status st = tt_team_create(&p->team, n, err);
    if (st) {
        free(p);
        return st;
    }
    p->n = n;
    atomic_init(&p->refs, 1);
    atomic_init(&p->busy, 0);
    *out = p;
    tt_error_clear(err);
    return TT_OK;
}

void tt_pool_ref(tt_thread_pool *p) { atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); }

void tt_pool_unref(tt_thread_pool *p) {
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
    tt_team_free(p->team);
    free(p);
}

void tt_thread_pool_free(tt_thread_pool *pool) { tt_pool_unref(pool); }

int tt_thread_pool_size(const tt_thread_pool *pool) { return pool ? pool->n : 0; }

tt_team *tt_pool_try_acquire(tt_thread_pool *p) {
    if (p->n == 1) return NULL;
    const long me = (long)getpid();
    long held = atomic_load_explicit(&p->busy, memory_order_relaxed);
    if (held == me) return NULL; /* another thread of this process has it */
    /* free, or held by the parent we were forked from: take it */
    if (!atomic_compare_exchange_strong_explicit(&p->busy, &held, me, memory_order_acquire,
                                                 memory_order_relaxed))
        return NULL;
    if (!tt_team_usable(p->team)) {
        tt_pool_release(p);
        return NULL;
    }
    return p->team;
}

void tt_pool_release(tt_thread_pool *p) { atomic_store_explicit(&p->busy, 0, memory_order_release); }
