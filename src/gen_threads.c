/*
 * src/gen_threads.c — the generator's thread policy: its own team of
 * threads (src/team.c), started at the first call that uses more than one
 * thread, or a pool shared with other generators (src/thread_pool.c); a
 * sampler and scratch per thread; and auto threads (n_threads 0), which
 * time decode steps on the team and on one thread now and then and use the
 * faster. No token depends on any of this.
 */
#include "gen_object.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "par.h"

/* Starts the generator's own team (no pool) if it has none yet: threads
 * are started at the first call that uses more than one, not at create.
 * Threads that cannot be had then leave the generator on one thread (the
 * same tokens). @return whether there is a team. */
bool tt_gen_start_team(tt_generator *g) {
    if (g->team) return true;
    if (g->pool || g->n_threads < 2 || g->team_failed) return false;
    tt_error e;
    if (tt_team_create(&g->team, g->n_threads, &e) == TT_OK) return true;
    g->team_failed = true;
    g->adapt = false;
    g->use_threads = 1;
    return false;
}

/* The team for a run on more than one thread (use_threads > 1): the pool
 * when no other generator is running on it (the step then runs on the
 * calling thread instead of waiting), else the generator's own team.
 * NULL: run on the calling thread. Give it back with release_team. */
tt_team *tt_gen_acquire_team(tt_generator *g) {
    if (g->use_threads < 2) return NULL;
    if (g->pool) return tt_pool_try_acquire(g->pool);
    return tt_gen_start_team(g) && tt_team_usable(g->team) ? g->team : NULL;
}

void tt_gen_release_team(tt_generator *g, tt_team *t) {
    if (t && g->pool) tt_pool_release(g->pool);
}

/* Makes g->gw the model's current packed weights (packed on first use). */
tt_status tt_gen_use_weights(tt_generator *g, tt_error *err) {
    /* a team only to pack them: none is started (or the pool taken) for
     * weights already packed */
    tt_team *t = tt_gen_weights_packed(g->model) ? NULL : tt_gen_acquire_team(g);
    const tt_status st = tt_gen_weights_use(g->model, &g->gw, t, err);
    tt_gen_release_team(g, t);
    return st;
}

/* The team, the samplers and the per-thread scratch. */
void tt_gen_free_threads(tt_generator *g) {
    tt_team_free(g->team);
    g->team = NULL;
    if (g->samplers)
        for (int k = 0; k < g->n_threads; k++)
            tt_sampler_free(g->samplers[k]);
    free(g->samplers);
    g->samplers = NULL;
    g->sampler = NULL;
    tt_gen_ffree(g->xnt);
    tt_gen_ffree(g->scores);
    g->xnt = g->scores = NULL;
}

/* Threads for a config's n_threads (0 = auto): a sampler and scratch per
 * thread; the team itself is started by the first call that uses it
 * (start_team). With a pool, its size is the count (n_cfg 1: the calling
 * thread alone). */
tt_status tt_gen_setup_threads(tt_generator *g, int n_cfg, tt_error *err) {
    tt_gen_free_threads(g);
    g->team_failed = false;
    int n = tt_par_threads_for(n_cfg);
    if (g->pool && n_cfg != 1) n = tt_thread_pool_size(g->pool);
    if (n < 1) n = 1;
    if (n > TT_GEN_MAX_THREADS) n = TT_GEN_MAX_THREADS;
    memset(&g->probe, 0, sizeof g->probe);
    g->probe.period = 128;
    g->probe.team = true;
    g->adapt = n_cfg == 0 && n > 1;
    g->n_threads = n;
    tt_status st = TT_OK;
    g->use_threads = n;
    g->samplers = calloc((size_t)n, sizeof *g->samplers);
    g->xnt = tt_gen_falloc((size_t)n * GEN_PRIV_ROWS * g->C, false);
    g->scores = tt_gen_falloc((size_t)n * g->NH * (size_t)(g->TP > 0 ? g->TP : 64), false);
    if (!g->samplers || !g->xnt || !g->scores) {
        tt_gen_free_threads(g);
        g->n_threads = 0;
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d generator threads", n);
    }
    for (int k = 0; k < n && !st; k++)
        st = tt_sampler_create(&g->samplers[k], g->V, err);
    if (st) {
        tt_gen_free_threads(g);
        g->n_threads = 0;
        return st;
    }
    g->sampler = g->samplers[0];
    return TT_OK;
}

tt_status tt_generator_set_threads(tt_generator *g, int n_threads, tt_error *err) {
    if (!g) return tt_error_set(err, TT_ERR_ARG, "set_threads: generator is NULL");
    if (n_threads < 0 || n_threads > TT_GEN_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "n_threads must be in [0, %d] (0 = auto), got %d",
                            TT_GEN_MAX_THREADS, n_threads);
    tt_status st = tt_gen_setup_threads(g, n_threads, err);
    if (st) { /* keep a usable generator when one thread can be had */
        tt_error e2;
        if (tt_gen_setup_threads(g, 1, &e2) == TT_OK) g->cfg.n_threads = 1;
        return st;
    }
    g->cfg.n_threads = n_threads;
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_set_thread_pool(tt_generator *g, tt_thread_pool *pool, tt_error *err) {
    if (!g) return tt_error_set(err, TT_ERR_ARG, "set_thread_pool: generator is NULL");
    tt_thread_pool *old = g->pool;
    if (pool == old) {
        tt_error_clear(err);
        return TT_OK;
    }
    if (pool) tt_pool_ref(pool);
    g->pool = pool;
    tt_status st = tt_gen_setup_threads(g, g->cfg.n_threads, err); /* frees the own team */
    if (st) { /* keep the old threads when they can be had, else one thread */
        g->pool = old;
        tt_pool_unref(pool);
        tt_error e2;
        if (tt_gen_setup_threads(g, g->cfg.n_threads, &e2) != TT_OK &&
            tt_gen_setup_threads(g, 1, &e2) == TT_OK)
            g->cfg.n_threads = 1;
        return st;
    }
    tt_pool_unref(old);
    tt_error_clear(err);
    return TT_OK;
}

/* Monotonic wall time in seconds. */
static double tt_gen_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Auto threads: records a decode step of dt seconds. A probe is: team
 * steps for 2 ms to wake the team (not counted), two on the team, two on
 * one thread; the faster pair wins. A team verdict then has to hold over the
 * next 32 team steps (their mean against the probe's one-thread steps),
 * and every 32 team steps after them while it holds: a freshly woken thread
 * gets a burst of CPU from the scheduler even on a busy machine, so a short
 * probe flatters the team, and a core can be taken at any time. A probe stops after
 * the first counted team step when that took 2.5x a recent one-thread
 * step. Probes cost their slower steps, so while the verdict holds the
 * next one comes twice as late (to 1,024 steps); a new verdict is checked
 * again after 128. */
static void set_verdict(tt_generator *g, bool team) {
    const bool same = team == g->probe.team;
    g->probe.team = team;
    g->probe.period = !same ? 128 : g->probe.period < 1024 ? 2 * g->probe.period : 1024;
    g->probe.left = g->probe.period;
    g->probe.k = 0;
    g->probe.confirm = team ? 32 : 0;
    g->probe.tc = 0.0;
}

static void tt_gen_probe_step(tt_generator *g, bool probing, double dt) {
    if (!probing) {
        if (g->use_threads == 1) {
            g->probe.t1_ref = dt;
        } else if (g->probe.confirm > 0) {
            g->probe.tc += dt;
            /* the team's steps, 32 at a time for as long as the verdict holds,
             * against the probe's one-thread steps: another process taking a
             * core makes the team wait for a descheduled worker at once, not
             * at the next probe. One step slower than four one-thread steps
             * is such a wait: no need to sit out the 32. */
            const double t1 = g->probe.t[0] / 2;
            const bool stalled = dt > 4.0 * t1;
            if (--g->probe.confirm == 0 || stalled) {
                if (stalled || g->probe.tc / 32 > t1) {
                    /* overturned: the next probes come later each time it
                     * happens in a row (a busy machine flatters each probe) */
                    const int r = g->probe.rejected < 3 ? g->probe.rejected + 1 : 3;
                    set_verdict(g, false);
                    g->probe.rejected = r;
                    g->probe.period = 128 << r;
                    g->probe.left = g->probe.period;
                } else {
                    g->probe.rejected = 0;
                    g->probe.confirm = 32;
                    g->probe.tc = 0.0;
                }
            }
        }
        return;
    }
    g->probe.left = 0; /* go on probing */
    if (g->probe.k == 0) {
        /* waking the team: team steps, not counted, for 2 ms (a worker woken
         * from sleep took up to ~1 ms to start in this VM) */
        g->probe.warm += dt;
        if (g->probe.warm >= 0.002) {
            g->probe.k = 1;
            g->probe.warm = 0.0;
        }
        return;
    }
    const int k = g->probe.k++;
    const int i = k >= 3 ? 0 : 1;
    g->probe.t[i] = (k == 1 || k == 3 ? 0.0 : g->probe.t[i]) + dt;
    if (k == 1 && g->probe.t1_ref > 0.0 && dt > 2.5 * g->probe.t1_ref)
        set_verdict(g, false);
    else if (k == 4)
        set_verdict(g, g->probe.t[1] < g->probe.t[0]);
}

/* Threads that other programs keep runnable now: /proc/loadavg's
 * "running/total" counts every runnable thread of the machine, the reader
 * included. -1 when it cannot be read. */
static int others_running(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    double l1, l5, l15;
    int run = 0, total = 0;
    const int n = fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &run, &total);
    fclose(f);
    return n == 5 && run >= 1 ? run - 1 : -1;
}

/* Whether other programs leave fewer free CPUs than the team has threads:
 * then a worker would wait for a core at every step. */
static bool cores_taken(const tt_generator *g) {
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const int others = others_running();
    return others > 0 && ncpu > 0 && ncpu - others < g->n_threads;
}

/* At the start of the first call, before the generator has threads of its
 * own (which, spinning, would count as runnable): when other programs leave
 * fewer free CPUs than the team has threads, a worker would wait for a core
 * at every step; the call starts on one thread, and the first probe comes
 * after 512 steps (it would only be flattered by the woken worker's first
 * burst of CPU). */
void tt_gen_call_threads(tt_generator *g) {
    if (!g->adapt) return;
    if (!g->team && !g->pool && g->probe.team && cores_taken(g)) {
        g->probe.team = false;
        g->probe.confirm = 0;
        g->probe.k = 0;
        g->probe.rejected = 2;
        g->probe.period = 128 << 2;
        g->probe.left = g->probe.period;
    }
    g->use_threads = g->probe.team ? g->n_threads : 1;
}

tt_gen_step_clock tt_gen_step_begin(tt_generator *g, bool heat) {
    tt_gen_step_clock c = {false, 0.0};
    if (!g->adapt) return c;
    c.probing = g->probe.left-- <= 0;
    /* A probe after one-thread steps (the workers asleep, so not counted
     * as runnable) is skipped while other programs still take the cores
     * it needs: on a busy machine it would only cost slow steps. */
    if (c.probing && g->probe.k == 0 && g->probe.warm == 0.0 && !g->probe.team && !g->pool &&
        cores_taken(g)) {
        g->probe.left = g->probe.period;
        c.probing = false;
    }
    g->use_threads = (c.probing ? g->probe.k < 3 : g->probe.team) ? g->n_threads : 1;
    if (heat && g->team) tt_team_set_hot(g->team, g->use_threads > 1);
    c.t0 = tt_gen_now_s();
    return c;
}

void tt_gen_step_end(tt_generator *g, tt_gen_step_clock c, bool timed) {
    if (g->adapt && timed) tt_gen_probe_step(g, c.probing, tt_gen_now_s() - c.t0);
}
