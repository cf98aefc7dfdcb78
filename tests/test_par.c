/*
 * tests/test_par.c — work sharing on a team (src/par.h): the shares of a
 * split, barriers inside a run, the serial default outside one, auto
 * threads' count, and the probe that leaves a slow team for the calling
 * thread (a worker that sleeps 20 ms per pass stands for a thread whose core
 * another process keeps busy: margins of a thousand, not a timing target).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "par.h"

/* every thread's share of n items in blocks of `block`: whole blocks, in
 * order, covering [0, n) once */
typedef struct {
    size_t n, block, min_par;
    size_t lo[8], hi[8];
    int nt;
} split_case;

static void split_body(void *arg) {
    split_case *c = arg;
    const int t = tt_par_tid();
    tt_par_range_min(c->n, c->block, c->min_par, &c->lo[t], &c->hi[t]);
    c->nt = tt_par_nt();
}

static void test_split(void **state) {
    (void)state;
    tt_team *team;
    assert_int_equal(tt_team_create(&team, 3, NULL), TT_OK);
    const size_t ns[] = {0, 1, 7, 8, 9, 24, 100, 1000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        split_case c = {ns[i], 8, 0, {0}, {0}, 0};
        tt_par_run(team, split_body, &c);
        assert_int_equal(c.nt, 3);
        size_t next = 0;
        for (int t = 0; t < 3; t++) {
            if (c.hi[t] <= c.lo[t]) continue;
            assert_int_equal(c.lo[t], next);
            assert_true(c.lo[t] % 8 == 0);
            next = c.hi[t];
        }
        assert_int_equal(next, ns[i]);
    }
    /* below min_parallel: thread 0 takes everything */
    split_case c = {100, 8, 1000, {0}, {0}, 0};
    tt_par_run(team, split_body, &c);
    assert_true(c.lo[0] == 0 && c.hi[0] == 100);
    assert_true(c.hi[1] <= c.lo[1] && c.hi[2] <= c.lo[2]);
    /* outside a run: the caller is thread 0 of 1 and gets everything */
    size_t lo, hi;
    tt_par_range(50, 8, &lo, &hi);
    assert_true(lo == 0 && hi == 50 && tt_par_tid() == 0 && tt_par_nt() == 1);
    tt_par_barrier(); /* returns at once */
    /* no team: the body runs once, on the caller */
    split_case d = {20, 8, 0, {0}, {0}, 0};
    tt_par_run(NULL, split_body, &d);
    assert_true(d.nt == 1 && d.lo[0] == 0 && d.hi[0] == 20);
    tt_team_free(team);
}

/* phase k: every thread writes its slot of row k, then after a barrier
 * checks that every slot of row k is written */
typedef struct {
    int rows[64][4];
    int bad;
} barrier_case;

static void barrier_body(void *arg) {
    barrier_case *c = arg;
    const int t = tt_par_tid(), nt = tt_par_nt();
    for (int k = 0; k < 64; k++) {
        c->rows[k][t] = k + 1;
        tt_par_barrier();
        for (int j = 0; j < nt; j++)
            if (c->rows[k][j] != k + 1) c->bad = 1;
        tt_par_barrier();
    }
}

static void test_barrier(void **state) {
    (void)state;
    tt_team *team;
    assert_int_equal(tt_team_create(&team, 4, NULL), TT_OK);
    for (int r = 0; r < 20; r++) {
        barrier_case c;
        memset(&c, 0, sizeof c);
        tt_par_run(team, barrier_body, &c);
        assert_int_equal(c.bad, 0);
    }
    tt_team_free(team);
}

static void test_auto_threads(void **state) {
    (void)state;
    const char *saved = getenv("OMP_NUM_THREADS");
    char *copy = saved ? strdup(saved) : NULL;
    setenv("OMP_NUM_THREADS", "3", 1);
    assert_int_equal(tt_par_auto_threads(), 3);
    assert_int_equal(tt_par_threads_for(0), 3);
    assert_int_equal(tt_par_threads_for(5), 5);
    setenv("OMP_NUM_THREADS", "junk", 1); /* not a count: the CPUs */
    const int cpus = tt_par_auto_threads();
    assert_true(cpus >= 1 && cpus <= TT_PAR_MAX_THREADS);
    unsetenv("OMP_NUM_THREADS");
    assert_int_equal(tt_par_auto_threads(), cpus);
    if (copy) setenv("OMP_NUM_THREADS", copy, 1);
    free(copy);
}

/* a pass that takes 2 ms on the calling thread alone (the work the team
 * would share) and whose worker sleeps 20 ms when `slow` is set */
typedef struct {
    int slow;
    long work;
} probe_case;

static void probe_body(void *arg) {
    probe_case *c = arg;
    if (tt_par_nt() == 1) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (tt_par_tid() == 1 && c->slow) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (tt_par_tid() == 0) c->work++;
    tt_par_barrier();
}

static void test_probe_leaves_a_slow_team(void **state) {
    (void)state;
    tt_team *team;
    assert_int_equal(tt_team_create(&team, 2, NULL), TT_OK);
    tt_par_probe p;
    memset(&p, 0, sizeof p);
    probe_case c = {0, 0};
    for (int i = 0; i < 10; i++)
        tt_par_run_probed(team, &p, 1.0, probe_body, &c);
    assert_int_equal(p.solo, 0); /* a quick team stays */
    c.slow = 1;
    int passes = 0, total = 10;
    while (!p.solo && passes < 40) {
        tt_par_run_probed(team, &p, 1.0, probe_body, &c);
        passes++;
    }
    assert_int_equal(p.solo, 1); /* left within a few passes */
    assert_true(passes <= 12);
    total += passes;
    c.slow = 0;
    passes = 0;
    while (p.solo && passes < 200) {
        tt_par_run_probed(team, &p, 1.0, probe_body, &c);
        passes++;
    }
    assert_int_equal(p.solo, 0); /* back on the team once it is quick again */
    total += passes;
    assert_int_equal(c.work, total); /* every pass ran once, on the team or alone */
    tt_team_free(team);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_auto_threads),
        cmocka_unit_test(test_probe_leaves_a_slow_team),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
