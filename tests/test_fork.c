/*
 * tests/test_fork.c — a generator made before fork() works in the child.
 *
 * The child has only the forking thread: a generator's team of workers is
 * restarted there on first use (src/team.c). Each case forks after the
 * parent has used (or not used) a multi-threaded generator; the child
 * generates with it under an alarm (a hang fails the test instead of
 * stalling it) and sends its tokens back through a pipe; they must equal
 * the parent's.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tt/generate.h"
#include "tt/model.h"

enum { NEW = 40, ROWS = 4 };

static tt_model *make_model(void) {
    tt_model_config mc = {31, 64, 4, 2, 128, 64, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &mc, 3, &e), TT_OK);
    return m;
}

/* ROWS x (prompt + NEW) tokens into buf; @return TT_OK or the failure. */
static tt_status run(tt_generator *g, int *buf) {
    static const int p0[] = {1, 2, 3}, p1[] = {4}, p2[] = {5, 6, 7, 8, 9}, p3[] = {10, 11};
    const int *ps[ROWS] = {p0, p1, p2, p3};
    const int lens[ROWS] = {3, 1, 5, 2};
    tt_generation out[ROWS];
    tt_error e;
    tt_status st = tt_generator_generate(g, ps, lens, ROWS, NULL, NULL, NULL, NULL, out, &e);
    if (st != TT_OK) return st;
    memset(buf, 0, sizeof(int) * ROWS * (NEW + 5));
    for (int r = 0; r < ROWS; r++)
        memcpy(buf + r * (NEW + 5), out[r].tokens, (size_t)out[r].n_tokens * sizeof(int));
    tt_generations_free(out, ROWS);
    return TT_OK;
}

static void fork_case(int n_threads, bool use_before) {
    tt_model *m = make_model();
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = NEW;
    gc.n_threads = n_threads;
    tt_generator *g = NULL;
    tt_error e;
    assert_int_equal(tt_generator_create(&g, m, &gc, &e), TT_OK);
    int want[ROWS * (NEW + 5)], got[ROWS * (NEW + 5)];
    assert_int_equal(run(g, want), TT_OK);
    if (!use_before) { /* a fresh generator that the parent never ran */
        tt_generator_free(g);
        assert_int_equal(tt_generator_create(&g, m, &gc, &e), TT_OK);
    }
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        alarm(30);
        int buf[ROWS * (NEW + 5)];
        int ok = run(g, buf) == TT_OK && run(g, buf) == TT_OK; /* twice: the team stays usable */
        tt_generator_free(g);
        tt_model_free(m);
        if (!ok || write(fd[1], buf, sizeof buf) != (ssize_t)sizeof buf) _exit(3);
        _exit(0);
    }
    close(fd[1]);
    size_t have = 0;
    while (have < sizeof got) {
        const ssize_t k = read(fd[0], (char *)got + have, sizeof got - have);
        if (k <= 0) break;
        have += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("child (n_threads %d) died of signal %d%s", n_threads, WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (it hung)" : "");
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(have, sizeof got);
    assert_memory_equal(want, got, sizeof got);
    /* the parent's generator still works after the fork */
    assert_int_equal(run(g, got), TT_OK);
    assert_memory_equal(want, got, sizeof got);
    tt_generator_free(g);
    tt_model_free(m);
}

/* A fork while another thread packs the model's weights: the child must
 * not inherit a held lock (packing runs outside it). The parent's second
 * thread drops and repacks the weights in a loop; each child generates
 * under an alarm and must exit normally. */
static atomic_int repack_stop;

static void *repacker(void *arg) {
    tt_model *m = arg;
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 1;
    gc.n_threads = 1;
    tt_generator *g = NULL;
    tt_error e;
    if (tt_generator_create(&g, m, &gc, &e)) return NULL;
    const int p[2] = {1, 2};
    const int *ps[1] = {p};
    const int len = 2;
    while (!atomic_load(&repack_stop)) {
        tt_model_weights_changed(m);
        tt_generation o;
        if (tt_generator_generate(g, ps, &len, 1, NULL, NULL, NULL, NULL, &o, &e)) break;
        tt_generations_free(&o, 1);
    }
    tt_generator_free(g);
    return NULL;
}

static void test_fork_while_packing(void **state) {
    (void)state;
    tt_model_config mc;
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_config_preset("small", 65, &mc, &e), TT_OK);
    assert_int_equal(tt_model_create(&m, &mc, 1, &e), TT_OK);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 3;
    gc.n_threads = 1;
    tt_generator *g = NULL;
    assert_int_equal(tt_generator_create(&g, m, &gc, &e), TT_OK);
    atomic_store(&repack_stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, repacker, m), 0);
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        usleep(3000);
        const pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(3);
            const int p[2] = {1, 2};
            const int *ps[1] = {p};
            const int len = 2;
            tt_generation o;
            tt_error ce;
            _exit(tt_generator_generate(g, ps, &len, 1, NULL, NULL, NULL, NULL, &o, &ce) ? 1 : 0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad++;
    }
    atomic_store(&repack_stop, 1);
    pthread_join(t, NULL);
    assert_int_equal(bad, 0);
    tt_generator_free(g);
    tt_model_free(m);
}

static void test_fork_team_used(void **state) {
    (void)state;
    fork_case(2, true);
    fork_case(3, true);
}

static void test_fork_team_unused(void **state) {
    (void)state;
    fork_case(2, false);
}

static void test_fork_auto_threads(void **state) {
    (void)state;
    fork_case(0, true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_team_used),
        cmocka_unit_test(test_fork_team_unused),
        cmocka_unit_test(test_fork_auto_threads),
        cmocka_unit_test(test_fork_while_packing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
