/*
 * src/team.c — the generator's fork-join team (see team.h).
 *
 * Job hand-off: the caller publishes fn/arg and bumps `gen` (release); a
 * worker that sees the new generation (acquire) runs its share and bumps
 * `done`. An idle worker spins for about 60 us (a decode step's sampling
 * between two forward passes is shorter), then, while the team is "hot"
 * (the caller expects to use it soon), yields the CPU at each check, and
 * otherwise sleeps on a condition variable; the caller takes the mutex to
 * bump `gen` or to heat the team, so a worker going to sleep cannot miss
 * either.
 *
 * Barrier: a counter and a phase. The last thread to arrive resets the
 * counter and advances the phase (release); the others wait for the phase
 * to change (acquire), spinning for some tens of microseconds, then yielding
 * the CPU at each check until about 200 us have passed, then sleeping on
 * the phase word (a futex on Linux; elsewhere they keep yielding), and the
 * last to arrive wakes the sleepers. A decode step's waits end within the
 * first two phases (sleeping there made 2-thread decoding 3x slower: a
 * futex wake-up takes tens of microseconds). The caller's wait for
 * the end of a job does the same on the `done` counter. Sleeping rather
 * than yielding matters when another process keeps a core busy: a thread
 * of the team that shares that core runs only part of the time, and the
 * core of a sleeping waiter is idle, so the kernel moves the late thread
 * there; a yielding waiter keeps its core looking busy (a training step
 * took several times longer that way).
 */
#define _GNU_SOURCE /* sched_getcpu, sched_setaffinity, CPU_* (Linux) */
#include "team.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* PAUSE takes about 31 ns on the Zen 3 this was tuned on. */
enum { SPIN_IDLE = 2000, SPIN_WAIT = 1000 };

typedef struct {
    tt_team *t;
    int tid;
} worker_arg;

struct tt_team {
    int n;
    int started; /* workers running */
    pid_t owner; /* the process whose threads the workers are (see fork below) */
    bool broken; /* a forked child could not start its workers */
    pthread_t *thr;
    worker_arg *args;
    void (*fn)(void *arg, int tid, int n);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleepers; /* workers waiting on cv (under mu) */
    /* each hot counter on a cache line of its own */
    char pad0[64];
    atomic_uint gen; /* job generation */
    char pad1[64];
    atomic_int done; /* workers done with the current job */
    char pad2[64];
    atomic_uint bar_count;
    char pad3[64];
    atomic_uint bar_phase;
    char pad4[64];
    atomic_int waiting; /* threads asleep on bar_phase or done (futex) */
    char pad5[64];
    atomic_bool quit;
    atomic_bool hot;       /* idle workers yield instead of sleeping */
    atomic_int caller_cpu; /* the CPU the caller ran on when it started the job */
#ifdef __linux__
    cpu_set_t allowed; /* the CPUs the caller may run on (read at create and when heated) */
#endif
};

/* A worker the kernel woke up on the caller's own CPU (it prefers the
 * waker's CPU) would share that CPU with the caller, and every barrier
 * would then wait for a context switch: 750-820 us team steps at batch 1,
 * measured, against 60 us. So a worker that finds itself there moves to
 * the process's other CPUs. */
static void leave_callers_cpu(tt_team *t) {
#ifdef __linux__
    const int cc = atomic_load_explicit(&t->caller_cpu, memory_order_relaxed);
    if (cc < 0 || sched_getcpu() != cc) return;
    cpu_set_t m = t->allowed;
    CPU_CLR(cc, &m);
    if (CPU_COUNT(&m) > 0) (void)sched_setaffinity(0, sizeof m, &m);
#else
    (void)t;
#endif
}

/* Sleeping on a 32-bit word until it changes from `old` (or a spurious
 * wake-up), and waking every sleeper of a word. */
static void word_sleep(void *word, unsigned old) {
#ifdef __linux__
    (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
#else
    (void)word, (void)old;
    sched_yield();
#endif
}
static void word_wake(tt_team *t, void *word) {
#ifdef __linux__
    /* seq_cst: a waiter that counted itself in `waiting` before reading the
     * word either saw the new value or is seen here */
    if (atomic_load(&t->waiting) > 0) (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)t, (void)word;
#endif
}

static double mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Spins, then yields until YIELD_US have passed, while *v == old.
 * @return true when *v changed. */
enum { YIELD_US = 200 };
static bool wait_short(atomic_uint *v, unsigned old) {
    for (int i = 0; i < SPIN_WAIT; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return true;
        CPU_RELAX();
    }
    const double t0 = mono_us();
    do {
        sched_yield();
        if (atomic_load_explicit(v, memory_order_acquire) != old) return true;
    } while (mono_us() - t0 < YIELD_US);
    return false;
}

/* Waits until *v != old (acquire): spin, yield, then sleep (see above). */
static unsigned wait_change(tt_team *t, atomic_uint *v, unsigned old) {
    unsigned x;
    if (wait_short(v, old)) return atomic_load_explicit(v, memory_order_acquire);
    atomic_fetch_add(&t->waiting, 1);
    while ((x = atomic_load(v)) == old) word_sleep(v, old);
    atomic_fetch_sub(&t->waiting, 1);
    return x;
}

static void *worker(void *p) {
    const worker_arg *w = p;
    tt_team *t = w->t;
    unsigned seen = 0;
    for (;;) {
        unsigned g = 0;
        for (int i = 0; (g = atomic_load_explicit(&t->gen, memory_order_acquire)) == seen; i++) {
            if (i < SPIN_IDLE) {
                CPU_RELAX();
            } else if (atomic_load_explicit(&t->hot, memory_order_relaxed)) {
                sched_yield();
            } else {
                pthread_mutex_lock(&t->mu);
                t->sleepers++;
                while ((g = atomic_load_explicit(&t->gen, memory_order_acquire)) == seen &&
                       !atomic_load_explicit(&t->hot, memory_order_relaxed))
                    pthread_cond_wait(&t->cv, &t->mu);
                t->sleepers--;
                pthread_mutex_unlock(&t->mu);
                i = 0;
            }
        }
        seen = g;
        if (atomic_load_explicit(&t->quit, memory_order_acquire)) break;
        leave_callers_cpu(t);
        t->fn(t->arg, w->tid, t->n);
        atomic_fetch_add(&t->done, 1);
        word_wake(t, &t->done);
    }
    return NULL;
}

/* Wakes every worker for the next generation (a job, or quit). */
static void publish(tt_team *t) {
    pthread_mutex_lock(&t->mu);
    atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
    if (t->sleepers) pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Starts workers 1..n-1. @return 0 or the pthread error. */
static int start_workers(tt_team *t) {
    for (int k = 1; k < t->n; k++) {
        t->args[k - 1] = (worker_arg){t, k};
        const int rc = pthread_create(&t->thr[k - 1], NULL, worker, &t->args[k - 1]);
        if (rc) return rc;
        t->started++;
    }
    return 0;
}

/* fork(): a child has only the thread that forked, so the team's workers do
 * not exist there, and the mutex may be held by one of them forever. The
 * first use of the team in the child starts a fresh set of workers on fresh
 * synchronisation objects (the parent's are left alone: they are the
 * parent's). If the child cannot start threads the team is broken there and
 * tt_team_usable() says so, so the caller runs on one thread. */
static bool respawn_after_fork(tt_team *t) {
    if (t->n == 1 || t->owner == getpid()) return !t->broken;
    t->owner = getpid();
    t->started = 0;
    t->sleepers = 0;
    t->broken = true;
    atomic_store(&t->gen, 0);
    atomic_store(&t->done, 0);
    atomic_store(&t->bar_count, 0);
    atomic_store(&t->bar_phase, 0);
    atomic_store(&t->waiting, 0);
    atomic_store(&t->quit, false);
    atomic_store(&t->hot, false);
    if (pthread_mutex_init(&t->mu, NULL)) return false;
    if (pthread_cond_init(&t->cv, NULL)) return false;
    if (start_workers(t)) {
        /* stop the ones that started; the team stays broken in this process */
        atomic_store_explicit(&t->quit, true, memory_order_release);
        publish(t);
        for (int k = 0; k < t->started; k++)
            pthread_join(t->thr[k], NULL);
        t->started = 0;
        return false;
    }
    t->broken = false;
    return true;
}

bool tt_team_usable(tt_team *t) { return t && respawn_after_fork(t); }

tt_status tt_team_create(tt_team **out, int n, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "team: out is NULL");
    *out = NULL;
    if (n < 1) return tt_error_set(err, TT_ERR_ARG, "team: need at least 1 thread, got %d", n);
    tt_team *t = calloc(1, sizeof *t);
    if (!t) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a team of %d threads", n);
    t->n = n;
    t->owner = getpid();
    atomic_init(&t->gen, 0);
    atomic_init(&t->done, 0);
    atomic_init(&t->bar_count, 0);
    atomic_init(&t->bar_phase, 0);
    atomic_init(&t->waiting, 0);
    atomic_init(&t->quit, false);
    atomic_init(&t->hot, false);
    atomic_init(&t->caller_cpu, -1);
#ifdef __linux__
    if (sched_getaffinity(0, sizeof t->allowed, &t->allowed)) CPU_ZERO(&t->allowed);
#endif
    if (n == 1) {
        *out = t;
        return TT_OK;
    }
    t->thr = malloc((size_t)(n - 1) * sizeof *t->thr);
    t->args = malloc((size_t)(n - 1) * sizeof *t->args);
    if (!t->thr || !t->args || pthread_mutex_init(&t->mu, NULL)) {
        free(t->thr);
        free(t->args);
        free(t);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a team of %d threads", n);
    }
    if (pthread_cond_init(&t->cv, NULL)) {
        pthread_mutex_destroy(&t->mu);
        free(t->thr);
        free(t->args);
        free(t);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a team of %d threads", n);
    }
    if (start_workers(t)) {
        const int k = t->started + 1;
        tt_team_free(t);
        return tt_error_set(err, TT_ERR_NOMEM,
                            "out of memory or threads: could not start thread %d of a team of %d", k,
                            n);
    }
    *out = t;
    return TT_OK;
}

void tt_team_free(tt_team *t) {
    if (!t) return;
    /* in a forked child that never used the team, its workers and objects
     * are the parent's: nothing to stop or destroy here */
    if (t->n > 1 && t->owner == getpid() && !t->broken) {
        atomic_store_explicit(&t->quit, true, memory_order_release);
        publish(t);
        for (int k = 0; k < t->started; k++)
            pthread_join(t->thr[k], NULL);
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
    }
    free(t->thr);
    free(t->args);
    free(t);
}

int tt_team_size(const tt_team *t) { return t ? t->n : 0; }

void tt_team_set_hot(tt_team *t, bool hot) {
    if (t->n == 1 || !respawn_after_fork(t) ||
        atomic_load_explicit(&t->hot, memory_order_relaxed) == hot)
        return;
#ifdef __linux__
    /* the CPUs a worker may move to: the caller's, as they are now (its
     * affinity may have been narrowed since the team was made) */
    if (hot) {
        cpu_set_t m;
        if (!sched_getaffinity(0, sizeof m, &m)) t->allowed = m;
    }
#endif
    pthread_mutex_lock(&t->mu);
    atomic_store_explicit(&t->hot, hot, memory_order_relaxed);
    if (hot && t->sleepers) pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void tt_team_run(tt_team *t, void (*fn)(void *arg, int tid, int n), void *arg) {
    if (t->n == 1 || !respawn_after_fork(t)) {
        /* a broken team (see tt_team_usable) runs nothing but a team of one */
        if (t->n != 1) return;
        fn(arg, 0, 1);
        return;
    }
    t->fn = fn;
    t->arg = arg;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
#ifdef __linux__
    atomic_store_explicit(&t->caller_cpu, sched_getcpu(), memory_order_relaxed);
#endif
    publish(t);
    fn(arg, 0, t->n);
    int d;
    for (int i = 0; (d = atomic_load_explicit(&t->done, memory_order_acquire)) < t->n - 1; i++) {
        if (i < SPIN_WAIT) {
            CPU_RELAX();
        } else if (i < SPIN_WAIT + 1) {
            const double t0 = mono_us();
            while ((d = atomic_load_explicit(&t->done, memory_order_acquire)) < t->n - 1 &&
                   mono_us() - t0 < YIELD_US)
                sched_yield();
        } else {
            atomic_fetch_add(&t->waiting, 1);
            while ((d = atomic_load(&t->done)) < t->n - 1) word_sleep(&t->done, (unsigned)d);
            atomic_fetch_sub(&t->waiting, 1);
            break;
        }
    }
}

void tt_team_barrier(tt_team *t) {
    if (t->n == 1) return;
    const unsigned ph = atomic_load_explicit(&t->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->bar_count, 1, memory_order_acq_rel) == (unsigned)t->n - 1) {
        atomic_store_explicit(&t->bar_count, 0, memory_order_relaxed);
        atomic_store(&t->bar_phase, ph + 1);
        word_wake(t, &t->bar_phase);
    } else {
        wait_change(t, &t->bar_phase, ph);
    }
}
