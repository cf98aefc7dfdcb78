/*
 * tests/test_cli_env.c — tt's threads are its own: results do not depend on
 * --threads or on the OpenMP environment, and tt runs as it was started.
 *
 * Training and eval run on the model's team (src/team.c, src/par.h), not on
 * OpenMP: `tt train` writes the same checkpoint bytes on 1 and 2 threads, and
 * `tt eval` of that checkpoint prints the same loss for 1, 2 and 3 threads and
 * under OMP_WAIT_POLICY / OMP_NUM_THREADS (the latter only sets auto's count).
 * Sizes are chosen so that the kernels split their rows over the threads. tt no
 * longer sets OMP_WAIT_POLICY and runs itself again (it did while training
 * ran on OpenMP): its environment is the caller's, read from /proc while
 * `tt chat` waits for input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util.h"

static char *g_dir;
static char g_text[256], g_data[256];

static int setup(void **state) {
    (void)state;
    g_dir = tt_test_tmpdir();
    /* text long enough that every kernel splits its rows over the threads */
    const char *base = "the cat sat on the mat. the dog sat on the log. a bird sang in the tree.\n";
    const size_t bl = strlen(base), reps = 40;
    char *text = malloc(bl * reps);
    if (!text) return -1;
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * bl, base, bl);
    snprintf(g_text, sizeof g_text, "%s/text.txt", g_dir);
    snprintf(g_data, sizeof g_data, "%s/data.txt", g_dir);
    int rc =
        tt_test_write_file(g_text, text, bl * reps) || tt_test_write_file(g_data, text, bl * reps);
    free(text);
    return rc ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* stdout of `ENV tt eval ... THREADS_ARGS` (sh -c, so that env can be set) */
static char *eval_output(const char *env, const char *threads_args) {
    char script[1024];
    snprintf(script, sizeof script,
             "%s '%s' eval --model '%s/run1.safetensors' --text-file '%s' --window 64 --json %s",
             env, tt_cli_path(), g_dir, g_text, threads_args);
    const char *argv[] = {"sh", "-c", script, NULL};
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("tt eval failed (%d): %s", r.status, r.err);
    char *out = r.out;
    r.out = NULL;
    tt_cli_result_free(&r);
    assert_non_null(strstr(out, "\"loss\":"));
    return out;
}

static void test_eval_same_for_any_threads(void **state) {
    (void)state;
    char *one = eval_output("env", "--threads 1");
    const char *variants[][2] = {
        {"env", "--threads 2"},
        {"env", "--threads 3"},
        {"env OMP_NUM_THREADS=2", ""},                             /* auto: 2 threads */
        {"env -u OMP_NUM_THREADS", ""},                            /* auto: every CPU */
        {"env OMP_WAIT_POLICY=active GOMP_SPINCOUNT=1000000", ""}, /* not read */
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char *o = eval_output(variants[i][0], variants[i][1]);
        if (strcmp(o, one) != 0)
            fail_msg("%s tt eval %s: %s differs from --threads 1: %s", variants[i][0],
                     variants[i][1], o, one);
        free(o);
    }
    free(one);
}

/* the checkpoint of a short run with `threads` */
static char *train_checkpoint(const char *threads, size_t *len) {
    char out[300];
    snprintf(out, sizeof out, "%s/run%s.safetensors", g_dir, threads);
    const char *argv[] = {"tt",
                          "train",
                          "--data",
                          g_data,
                          "--d-model",
                          "128",
                          "--n-heads",
                          "4",
                          "--n-layers",
                          "1",
                          "--d-ff",
                          "256",
                          "--max-len",
                          "64",
                          "--dropout",
                          "0.1",
                          "--seq-len",
                          "64",
                          "--batch-size",
                          "8",
                          "--max-steps",
                          "4",
                          "--eval-interval",
                          "0",
                          "--seed",
                          "3",
                          "--threads",
                          threads,
                          "--out",
                          out,
                          NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("tt train --threads %s failed (%d): %s", threads, r.status, r.err);
    tt_cli_result_free(&r);
    char *bytes = tt_test_read_file(out, len);
    assert_non_null(bytes);
    return bytes;
}

static void test_train_same_for_any_threads(void **state) {
    (void)state;
    size_t n1, n2;
    char *a = train_checkpoint("1", &n1), *b = train_checkpoint("2", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
}

/* The OMP_WAIT_POLICY line of a running `tt chat`'s environment ("" when
 * absent), with `env_prefix` (e.g. "OMP_WAIT_POLICY=active ") before tt. */
static char *policy_of_running_tt(const char *env_prefix) {
    char script[2048];
    snprintf(
        script, sizeof script,
        "d=$(mktemp -d) && mkfifo \"$d/in\" || exit 1; "
        "%s'%s' chat --model tests/fixtures/gen_model.safetensors <\"$d/in\" >/dev/null 2>&1 & "
        "pid=$!; exec 3>\"$d/in\"; i=0; line=; "
        "while [ $i -lt 200 ]; do "
        "  if [ \"$(readlink /proc/$pid/exe)\" = \"$(readlink -f '%s')\" ]; then "
        "    line=$(tr '\\0' '\\n' < /proc/$pid/environ 2>/dev/null | grep '^OMP_WAIT_POLICY=' || "
        "true); "
        "    break; "
        "  fi; "
        "  sleep 0.05; i=$((i + 1)); "
        "done; echo \"[$line]\"; exec 3>&-; wait $pid; rm -rf \"$d\"",
        env_prefix, tt_cli_path(), tt_cli_path());
    const char *argv[] = {"sh", "-c", script, NULL};
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    char *out = r.out;
    r.out = NULL;
    tt_cli_result_free(&r);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static void test_environment_left_alone(void **state) {
    (void)state;
    char *line = policy_of_running_tt("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT ");
    assert_string_equal(line, "[]"); /* not set for it, no second start */
    free(line);
    line = policy_of_running_tt("env OMP_WAIT_POLICY=active ");
    assert_string_equal(line, "[OMP_WAIT_POLICY=active]");
    free(line);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_same_for_any_threads), /* writes run1, which eval reads */
        cmocka_unit_test(test_eval_same_for_any_threads),
        cmocka_unit_test(test_environment_left_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
