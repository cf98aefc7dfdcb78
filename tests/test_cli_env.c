/*
 * tests/test_cli_env.c — tt runs with OpenMP's passive wait policy (cli/main.c).
 *
 * With the default (spinning) policy a training or eval team collapses when
 * another process keeps a core busy, so tt sets OMP_WAIT_POLICY=passive and
 * runs itself again when the user chose no policy; a user's choice is kept.
 * The check reads the running process's environment from /proc while
 * `tt chat` waits for its input (a FIFO, closed afterwards: chat then ends).
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

/* The OMP_WAIT_POLICY line of a running `tt chat`'s environment ("" when
 * absent), with `env_prefix` (e.g. "OMP_WAIT_POLICY=active ") before tt. */
static char *policy_of_running_tt(const char *env_prefix) {
    char script[2048];
    snprintf(script, sizeof script,
             "d=$(mktemp -d) && mkfifo \"$d/in\" || exit 1; "
             "%s'%s' chat --model tests/fixtures/gen_model.safetensors <\"$d/in\" >/dev/null 2>&1 & "
             "pid=$!; exec 3>\"$d/in\"; i=0; line=; "
             "while [ $i -lt 200 ]; do "
             "  line=$(tr '\\0' '\\n' < /proc/$pid/environ 2>/dev/null | grep '^OMP_WAIT_POLICY=' || true); "
             "  [ -n \"$line\" ] && [ \"$(readlink /proc/$pid/exe)\" = \"$(readlink -f '%s')\" ] && break; "
             "  sleep 0.05; i=$((i + 1)); "
             "done; echo \"$line\"; exec 3>&-; wait $pid; rm -rf \"$d\"",
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

static void test_passive_by_default(void **state) {
    (void)state;
    char *line = policy_of_running_tt("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT ");
    assert_string_equal(line, "OMP_WAIT_POLICY=passive");
    free(line);
}

static void test_user_choice_kept(void **state) {
    (void)state;
    char *line = policy_of_running_tt("env OMP_WAIT_POLICY=active ");
    assert_string_equal(line, "OMP_WAIT_POLICY=active");
    free(line);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passive_by_default),
        cmocka_unit_test(test_user_choice_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
