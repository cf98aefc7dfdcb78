/*
 * tests/test_thread_pool.c — when a generator starts threads, and a pool of
 * threads shared by generators (tt/threads.h).
 *
 * Threads are counted in /proc/self/task: creating a generator starts none,
 * a call on one thread starts none, the first call on more threads starts
 * the team's workers (n - 1). Tokens never depend on threads, so every
 * generator here, on its own team, a shared pool, or one thread, must give
 * the tokens of a one-thread generator, also from two caller threads at
 * once on one pool (a pass that finds the pool busy runs on its caller) and
 * in a forked child.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "thread_pool_internal.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/threads.h"

enum { NEW = 40, ROWS = 3, STRIDE = NEW + 8, ROUNDS = 6 };

/* Threads of this process now. */
static int n_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Threads of this process once they settle on `want`, or after 2 s: a
 * joined thread may stay listed for a moment while the kernel reaps it. */
static int tasks(int want) {
    int n = n_tasks();
    for (int i = 0; i < 200 && n != want; i++) {
        usleep(10000);
        n = n_tasks();
    }
    return n;
}
/* Threads now, after those a previous case joined have gone. */
static int settled_tasks(void) {
    int n = n_tasks();
    for (int i = 0; i < 5; i++) {
        usleep(10000);
        const int k = n_tasks();
        if (k < n) i = 0;
        n = k;
    }
    return n;
}
#define assert_tasks(want) assert_int_equal(tasks(want), (want))

static tt_model *make_model(void) {
    /* decode steps of this model are big enough for a team (>= 64k MACs) */
    tt_model_config mc = {31, 64, 4, 2, 128, 64, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &mc, 5, &e), TT_OK);
    return m;
}

static tt_generator *make_gen(const tt_model *m, int n_threads, uint64_t seed) {
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = NEW;
    gc.sampling.strategy = TT_STRATEGY_COMBINED;
    gc.sampling.temperature = 0.9f;
    gc.seed = seed;
    gc.n_threads = n_threads;
    tt_generator *g = NULL;
    tt_error e;
    assert_int_equal(tt_generator_create(&g, m, &gc, &e), TT_OK);
    return g;
}

/* ROWS x STRIDE tokens (zero-padded) into buf; @return TT_OK or the failure. */
static tt_status run(tt_generator *g, int variant, int *buf) {
    static const int p0[] = {1, 2, 3}, p1[] = {4}, p2[] = {5, 6, 7, 8, 9}, q0[] = {12, 13},
                     q1[] = {20, 21, 22, 23}, q2[] = {30};
    const int *ps[2][ROWS] = {{p0, p1, p2}, {q0, q1, q2}};
    const int lens[2][ROWS] = {{3, 1, 5}, {2, 4, 1}};
    tt_generation out[ROWS];
    tt_error e;
    tt_status st = tt_generator_generate(g, ps[variant], lens[variant], ROWS, NULL, NULL, NULL,
                                         NULL, out, &e);
    if (st != TT_OK) return st;
    memset(buf, 0, sizeof(int) * ROWS * STRIDE);
    for (int r = 0; r < ROWS; r++)
        memcpy(buf + r * STRIDE, out[r].tokens, (size_t)out[r].n_tokens * sizeof(int));
    tt_generations_free(out, ROWS);
    return TT_OK;
}

/* The tokens of a one-thread generator (seed, variant). */
static void solo(const tt_model *m, uint64_t seed, int variant, int *buf) {
    tt_generator *g = make_gen(m, 1, seed);
    assert_int_equal(run(g, variant, buf), TT_OK);
    tt_generator_free(g);
}

static void test_lazy_team(void **state) {
    (void)state;
    tt_model *m = make_model();
    int want[ROWS * STRIDE], got[ROWS * STRIDE];
    solo(m, 7, 0, want);
    const int base = settled_tasks();
    /* auto (0) and fixed counts: nothing at create */
    tt_generator *ga = make_gen(m, 0, 7), *g3 = make_gen(m, 3, 7), *g1 = make_gen(m, 3, 7);
    assert_tasks(base);
    /* set to one thread before any call: never a thread */
    tt_error e;
    assert_int_equal(tt_generator_set_threads(g1, 1, &e), TT_OK);
    assert_int_equal(run(g1, 0, got), TT_OK);
    assert_memory_equal(want, got, sizeof got);
    assert_tasks(base);
    /* the first multi-thread call starts the team: 2 workers */
    assert_int_equal(run(g3, 0, got), TT_OK);
    assert_memory_equal(want, got, sizeof got);
    assert_tasks(base + 2);
    assert_int_equal(run(g3, 0, got), TT_OK); /* and keeps it */
    assert_tasks(base + 2);
    /* set_threads stops it; the next call starts the new one */
    assert_int_equal(tt_generator_set_threads(g3, 2, &e), TT_OK);
    assert_tasks(base);
    assert_int_equal(run(g3, 0, got), TT_OK);
    assert_memory_equal(want, got, sizeof got);
    assert_tasks(base + 1);
    /* auto: same tokens, whatever it starts */
    assert_int_equal(run(ga, 0, got), TT_OK);
    assert_memory_equal(want, got, sizeof got);
    tt_generator_free(ga);
    tt_generator_free(g3);
    tt_generator_free(g1);
    assert_tasks(base);
    tt_model_free(m);
}

static void test_pool_basics(void **state) {
    (void)state;
    tt_thread_pool *p = NULL;
    tt_error e;
    assert_int_equal(tt_thread_pool_create(NULL, 2, &e), TT_ERR_ARG);
    assert_int_equal(tt_thread_pool_create(&p, -1, &e), TT_ERR_ARG);
    assert_null(p);
    assert_int_equal(tt_thread_pool_create(&p, TT_GEN_MAX_THREADS + 1, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_set_thread_pool(NULL, NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_thread_pool_size(NULL), 0);
    tt_thread_pool_free(NULL);
    const int base = settled_tasks();
    assert_int_equal(tt_thread_pool_create(&p, 3, &e), TT_OK);
    assert_int_equal(tt_thread_pool_size(p), 3);
    assert_tasks(base + 2); /* the pool's workers start at create */
    tt_thread_pool_free(p);
    assert_tasks(base);
    assert_int_equal(tt_thread_pool_create(&p, 0, &e), TT_OK); /* 0: every core */
    assert_true(tt_thread_pool_size(p) >= 1);
    tt_thread_pool_free(p);
}

typedef struct {
    tt_generator *g;
    int variant;
    int buf[ROUNDS][ROWS * STRIDE];
    tt_status st;
} caller;

static void *caller_main(void *arg) {
    caller *c = arg;
    for (int k = 0; k < ROUNDS && !c->st; k++)
        c->st = run(c->g, c->variant, c->buf[k]);
    return NULL;
}

/* Two generators on one pool, each called from its own thread at once:
 * each gives exactly its one-thread tokens, and no thread beyond the
 * pool's is started. The caller's reference goes first: the generators
 * keep the pool alive. */
static void test_pool_shared_concurrently(void **state) {
    (void)state;
    tt_model *m = make_model();
    int want[2][ROWS * STRIDE];
    solo(m, 11, 0, want[0]);
    solo(m, 12, 1, want[1]);
    tt_error e;
    const int base = settled_tasks();
    tt_thread_pool *p = NULL;
    assert_int_equal(tt_thread_pool_create(&p, 2, &e), TT_OK);
    static caller c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = (caller){.g = make_gen(m, i == 0 ? 0 : 2, 11 + (uint64_t)i), .variant = i};
        assert_int_equal(tt_generator_set_thread_pool(c[i].g, p, &e), TT_OK);
        assert_int_equal(tt_generator_set_thread_pool(c[i].g, p, &e), TT_OK); /* again: no-op */
    }
    tt_thread_pool_free(p); /* the generators hold it */
    assert_tasks(base + 1);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, caller_main, &c[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_tasks(base + 1); /* only the pool's worker */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c[i].st, TT_OK);
        for (int k = 0; k < ROUNDS; k++)
            assert_memory_equal(want[i], c[i].buf[k], sizeof want[i]);
    }
    /* NULL: back to the generator's own team (started at its next call);
     * the last reference to the pool goes with the second detach */
    assert_int_equal(tt_generator_set_thread_pool(c[0].g, NULL, &e), TT_OK);
    assert_tasks(base + 1);
    assert_int_equal(tt_generator_set_thread_pool(c[1].g, NULL, &e), TT_OK);
    assert_tasks(base);
    assert_int_equal(run(c[1].g, 1, c[1].buf[0]), TT_OK);
    assert_memory_equal(want[1], c[1].buf[0], sizeof want[1]);
    assert_tasks(base + 1); /* its own team of 2 */
    /* n_threads 1 with a pool: the calling thread alone */
    assert_int_equal(tt_thread_pool_create(&p, 3, &e), TT_OK);
    assert_int_equal(tt_generator_set_threads(c[1].g, 1, &e), TT_OK);
    assert_int_equal(tt_generator_set_thread_pool(c[1].g, p, &e), TT_OK);
    assert_int_equal(run(c[1].g, 1, c[1].buf[0]), TT_OK);
    assert_memory_equal(want[1], c[1].buf[0], sizeof want[1]);
    assert_int_equal(tt_generator_set_threads(c[1].g, 3, &e), TT_OK); /* now the pool */
    assert_int_equal(run(c[1].g, 1, c[1].buf[0]), TT_OK);
    assert_memory_equal(want[1], c[1].buf[0], sizeof want[1]);
    assert_tasks(base + 2);
    tt_generator_free(c[0].g);
    tt_generator_free(c[1].g); /* holds the pool with the caller */
    assert_tasks(base + 2);
    tt_thread_pool_free(p);
    assert_tasks(base);
    tt_model_free(m);
}

/* A pass that finds the pool taken runs on the calling thread. */
static void test_pool_busy_runs_on_caller(void **state) {
    (void)state;
    tt_model *m = make_model();
    int want[ROWS * STRIDE], got[ROWS * STRIDE];
    solo(m, 3, 0, want);
    tt_error e;
    tt_thread_pool *p = NULL;
    assert_int_equal(tt_thread_pool_create(&p, 2, &e), TT_OK);
    tt_generator *g = make_gen(m, 2, 3);
    assert_int_equal(tt_generator_set_thread_pool(g, p, &e), TT_OK);
    assert_non_null(tt_pool_try_acquire(p)); /* held: as by another generator */
    assert_null(tt_pool_try_acquire(p));
    assert_int_equal(run(g, 0, got), TT_OK); /* does not wait */
    assert_memory_equal(want, got, sizeof got);
    tt_pool_release(p);
    assert_int_equal(run(g, 0, got), TT_OK);
    assert_memory_equal(want, got, sizeof got);
    tt_generator_free(g);
    tt_thread_pool_free(p);
    tt_model_free(m);
}

/* fork() after two generators shared a pool: in the child both work, on
 * the pool's restarted worker, also when the parent's pool was held at the
 * fork (a thread of the parent in the middle of a pass). */
static void fork_case(bool held_at_fork) {
    tt_model *m = make_model();
    int want[2][ROWS * STRIDE], got[2][ROWS * STRIDE];
    solo(m, 21, 0, want[0]);
    solo(m, 22, 1, want[1]);
    tt_error e;
    tt_thread_pool *p = NULL;
    assert_int_equal(tt_thread_pool_create(&p, 2, &e), TT_OK);
    tt_generator *g[2] = {make_gen(m, 2, 21), make_gen(m, 2, 22)};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tt_generator_set_thread_pool(g[i], p, &e), TT_OK);
        assert_int_equal(run(g[i], i, got[i]), TT_OK);
        assert_memory_equal(want[i], got[i], sizeof got[i]);
    }
    if (held_at_fork) assert_non_null(tt_pool_try_acquire(p));
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        alarm(30);
        const int before = n_tasks(); /* 1: the workers are the parent's */
        int ok = before == 1;
        for (int i = 0; i < 2 && ok; i++)
            ok = run(g[i], i, got[i]) == TT_OK && run(g[i], i, got[i]) == TT_OK;
        ok = ok && tasks(2) == 2; /* the pool's worker, started here */
        for (int i = 0; i < 2; i++)
            tt_generator_free(g[i]);
        tt_thread_pool_free(p);
        tt_model_free(m);
        if (!ok || write(fd[1], got, sizeof got) != (ssize_t)sizeof got) _exit(3);
        _exit(0);
    }
    close(fd[1]);
    int back[2][ROWS * STRIDE];
    size_t have = 0;
    while (have < sizeof back) {
        const ssize_t k = read(fd[0], (char *)back + have, sizeof back - have);
        if (k <= 0) break;
        have += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("child died of signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (it hung)" : "");
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(have, sizeof back);
    assert_memory_equal(want, back, sizeof back);
    if (held_at_fork) tt_pool_release(p);
    /* the parent's pool still works */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run(g[i], i, got[i]), TT_OK);
        assert_memory_equal(want[i], got[i], sizeof got[i]);
        tt_generator_free(g[i]);
    }
    tt_thread_pool_free(p);
    tt_model_free(m);
}

static void test_pool_fork(void **state) {
    (void)state;
    fork_case(false);
    fork_case(true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_team),
        cmocka_unit_test(test_pool_basics),
        cmocka_unit_test(test_pool_shared_concurrently),
        cmocka_unit_test(test_pool_busy_runs_on_caller),
        cmocka_unit_test(test_pool_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
