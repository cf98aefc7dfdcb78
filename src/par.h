/*
 * src/par.h — work sharing inside one run of a team (internal).
 *
 * Training and evaluation run a whole forward (or backward, or optimizer
 * step) as ONE job of the object's team (src/team.h): every thread of the
 * team executes the same sequence of kernels, each kernel takes its share of
 * rows with tt_par_range, and the caller separates dependent kernels with
 * tt_par_barrier. That is OpenMP's orphaned work sharing (`omp for` inside
 * a region opened by the caller) on the library's own team: one fork-join
 * per pass instead of one per kernel, waits that spin briefly and then
 * yield or sleep, and no process-wide setting read or changed.
 *
 *     static void body(void *arg) {        // run by every thread of the team
 *         size_t lo, hi;
 *         tt_par_range(N, 8, &lo, &hi);    // this thread's rows, in blocks of 8
 *         ... rows [lo, hi) ...
 *         tt_par_barrier();                // every row done before the next kernel
 *     }
 *     tt_par_run(team, body, &args);       // team may be NULL: the caller alone
 *
 * Outside a run (a kernel called directly, a team of one) the calling thread
 * is thread 0 of 1: tt_par_range gives it everything and tt_par_barrier
 * returns at once, so every kernel also works as a plain serial function.
 *
 * Determinism: a split gives each thread whole blocks of a fixed size; the
 * kernels compute every output element in one thread, in an order that does
 * not depend on the split, so results never depend on the thread count.
 */
#ifndef TT_SRC_PAR_H
#define TT_SRC_PAR_H

#include <stddef.h>

#include "team.h"

/* The most threads an object's team may have (tt_model_set_threads,
 * tt_adamw_set_threads, tt_train_config.n_threads). */
#define TT_PAR_MAX_THREADS 256

/* Runs fn(arg) on every thread of `team` (the caller is thread 0) and
 * returns when all are done; on the caller alone when team is NULL, has one
 * thread or cannot run here (tt_team_usable). Not reentrant per team. */
void tt_par_run(tt_team *team, void (*fn)(void *arg), void *arg);

/* The calling thread's index and the number of threads of the current run
 * (0 and 1 outside a run). */
int tt_par_tid(void);
int tt_par_nt(void);

/* This thread's share [lo, hi) of n items split into blocks of `block`
 * items (the last block may be short), the blocks dealt out evenly in
 * order. With n < min_parallel, thread 0 takes everything (a fork is not
 * worth it for small work; the others get an empty range). */
void tt_par_range_min(size_t n, size_t block, size_t min_parallel, size_t *lo, size_t *hi);
static inline void tt_par_range(size_t n, size_t block, size_t *lo, size_t *hi) {
    tt_par_range_min(n, block, 0, lo, hi);
}

/* Auto threads that notice a busy core. A team is only as fast as its
 * slowest thread: when another process keeps one of its cores busy, that
 * thread runs part of the time and every barrier waits for it, and the
 * calling thread alone may well be faster. A probe times the passes of one
 * kind (say, training forwards) per unit of work: while team passes run
 * near the best seen, it keeps the team; once they are 25 % slower than
 * that, it tries a pass on the calling thread alone (after 4 slow passes,
 * twice as many after each try that the team still wins, up to 64: noise
 * on a quiet machine costs little), takes whichever is faster, and while
 * alone tries the team again after 16 passes, twice as many after each try
 * the team loses, up to 256 (each try on a busy machine costs a slow pass). Results do not depend on the
 * choice (they never depend on threads). Zeroed = fresh. */
typedef struct {
    double team_ns, solo_ns; /* moving averages of ns per unit of work; 0 = not measured */
    double best_team_ns;     /* fastest team pass seen */
    unsigned passes, since;  /* passes timed; passes since the last try of the other way */
    unsigned patience;       /* slow team passes before trying alone (0 = 4) */
    unsigned retry;          /* passes alone before trying the team again (0 = 16) */
    int solo;                /* the calling thread alone is the choice */
} tt_par_probe;

/* tt_par_run of fn on `team`, or on the calling thread alone when the probe
 * (NULL: always the team) says so; `work` is the pass's size in any unit
 * proportional to its time (rows, elements). */
void tt_par_run_probed(tt_team *team, tt_par_probe *probe, double work, void (*fn)(void *arg),
                       void *arg);

/* Returns when every thread of the current run has called it (the same
 * number of times); a full memory fence. Outside a run: returns at once. */
void tt_par_barrier(void);

/* dst[0, n) = 0 / = src, shared by the threads of the current run (no barrier). */
void tt_par_zero(float *dst, size_t n);
void tt_par_copy(float *dst, const float *src, size_t n);

/* Threads for "auto" (n_threads 0): OMP_NUM_THREADS when it is set to a
 * positive number (the usual way to cap a program's threads), else the CPUs
 * this process may run on; 1..TT_PAR_MAX_THREADS. Reads only. */
int tt_par_auto_threads(void);

/* Resolves a config's n_threads (0 = auto) to a count. */
static inline int tt_par_threads_for(int n_threads) {
    return n_threads > 0 ? n_threads : tt_par_auto_threads();
}

#endif /* TT_SRC_PAR_H */
