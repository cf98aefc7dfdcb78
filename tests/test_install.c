/*
 * tests/test_install.c — the library as an embedder gets it (tests/packaging.sh,
 * docs/embedding.md): every public header compiles alone as C99, C11 and
 * C++17; every usage example in their comments compiles; `make install
 * DESTDIR=... PREFIX=/usr` lays out the real name, the SONAME and link-time links, headers and tt.pc; pkg-config gives only tt's
 * include directory and -L/rpath/-ltt; the docs' example, built with those
 * flags against the installed copy, prints the text `tt generate` prints.
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

static void run_part(const char *part, const char *want) {
    const char *argv[] = {"tests/packaging.sh", part, NULL};
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    if (r.status != 0 || !strstr(r.out, want))
        fail_msg("tests/packaging.sh %s exited %d:\n%s%s", part, r.status, r.out, r.err);
    tt_cli_result_free(&r);
}

static void test_headers_compile_alone(void **state) {
    (void)state;
    run_part("headers", "compile alone as C99, C11 and C++17");
}

/* every usage example in the headers' comments compiles (a wrong arity or
 * type fails) */
static void test_header_examples_compile(void **state) {
    (void)state;
    run_part("examples", "header examples compile");
}

static void test_install_pkg_config_and_example(void **state) {
    (void)state;
    run_part("install", "example: ab");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_compile_alone),
        cmocka_unit_test(test_header_examples_compile),
        cmocka_unit_test(test_install_pkg_config_and_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
