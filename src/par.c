/*
 * src/par.c — work sharing inside one run of a team (see par.h).
 *
 * The current run is a thread-local record {team, tid, nt}, set by the
 * trampoline that tt_par_run hands to tt_team_run and cleared after it.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT (Linux) */
#include "par.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    tt_team *team;
    int tid, nt;
} par_ctx;

static _Thread_local par_ctx cur = {NULL, 0, 1};

typedef struct {
    tt_team *team;
    void (*fn)(void *arg);
    void *arg;
} run_args;

static void trampoline(void *p, int tid, int n) {
    const run_args *r = p;
    const par_ctx saved = cur;
    cur = (par_ctx){r->team, tid, n};
    r->fn(r->arg);
    cur = saved;
}

void tt_par_run(tt_team *team, void (*fn)(void *arg), void *arg) {
    if (!team || tt_team_size(team) == 1 || !tt_team_usable(team)) {
        const par_ctx saved = cur;
        cur = (par_ctx){NULL, 0, 1};
        fn(arg);
        cur = saved;
        return;
    }
    run_args r = {team, fn, arg};
    tt_team_run(team, trampoline, &r);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void tt_par_run_probed(tt_team *team, tt_par_probe *p, double work, void (*fn)(void *arg),
                       void *arg) {
    if (!p || !team || tt_team_size(team) == 1 || work <= 0) {
        tt_par_run(team, fn, arg);
        return;
    }
    bool use_team = !p->solo;
    if (p->patience == 0) p->patience = 4;
    if (p->retry == 0) p->retry = 16;
    if (p->passes >= 2) { /* the first team pass starts threads: not a fair time */
        if (use_team && p->team_ns > 1.25 * p->best_team_ns && ++p->since >= p->patience)
            use_team = false;
        else if (!use_team && ++p->since >= p->retry)
            use_team = true;
    }
    const double t0 = now_ns();
    tt_par_run(use_team ? team : NULL, fn, arg);
    const double r = (now_ns() - t0) / work;
    if (use_team != !p->solo) p->since = 0; /* a try of the other way */
    if (p->passes++ == 0) return;
    double *avg = use_team ? &p->team_ns : &p->solo_ns;
    *avg = *avg == 0 ? r : 0.5 * *avg + 0.5 * r;
    if (use_team && (p->best_team_ns == 0 || r < p->best_team_ns)) p->best_team_ns = r;
    const int was_solo = p->solo;
    p->solo = p->solo_ns > 0 && p->solo_ns < p->team_ns;
    if (!use_team && !p->solo) /* a try alone that lost: wait longer before the next */
        p->patience = p->patience < 64 ? 2 * p->patience : 64;
    else if (p->solo && !was_solo)
        p->patience = 4;
    if (use_team && was_solo) /* a try of the team: slower than alone, wait longer; else 16 */
        p->retry = r > p->solo_ns ? (p->retry < 256 ? 2 * p->retry : 256) : 16;
}

int tt_par_tid(void) { return cur.tid; }
int tt_par_nt(void) { return cur.nt; }

void tt_par_range_min(size_t n, size_t block, size_t min_parallel, size_t *lo, size_t *hi) {
    if (cur.nt == 1 || n < min_parallel) {
        *lo = 0;
        *hi = cur.tid == 0 ? n : 0;
        return;
    }
    if (block == 0) block = 1;
    const size_t blocks = (n + block - 1) / block, nt = (size_t)cur.nt, t = (size_t)cur.tid;
    const size_t per = blocks / nt, extra = blocks % nt;
    const size_t b0 = t * per + (t < extra ? t : extra), b1 = b0 + per + (t < extra ? 1 : 0);
    *lo = b0 * block < n ? b0 * block : n;
    *hi = b1 * block < n ? b1 * block : n;
}

void tt_par_barrier(void) {
    if (cur.nt > 1) tt_team_barrier(cur.team);
}

/* shares of whole 4 KiB pages: no two threads write one cache line */
void tt_par_zero(float *dst, size_t n) {
    size_t lo, hi;
    tt_par_range_min(n, 1024, 1u << 14, &lo, &hi);
    if (hi > lo) memset(dst + lo, 0, (hi - lo) * sizeof(float));
}

void tt_par_copy(float *dst, const float *src, size_t n) {
    size_t lo, hi;
    tt_par_range_min(n, 1024, 1u << 14, &lo, &hi);
    if (hi > lo) memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float));
}

int tt_par_auto_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (e && *e) {
        char *end;
        const long v = strtol(e, &end, 10);
        if (end != e && v > 0) return v > TT_PAR_MAX_THREADS ? TT_PAR_MAX_THREADS : (int)v;
    }
    long n = 0;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    return n > TT_PAR_MAX_THREADS ? TT_PAR_MAX_THREADS : (int)n;
}
