/*
 * tests/test_exports.c — libtt.so exports exactly the public API.
 *
 * The functions declared in the public headers (scripts/api_symbols.sh) must be
 * the shared library's exported functions (nm -D): nothing internal leaks
 * (tt_team_*, tt_io_*, the per-ISA kernel copies), nothing declared is
 * missing, and the library carries its SONAME and links neither libedit
 * (the CLI's) nor a BLAS (the products are src/gemm.c's). libtt is built
 * with -fvisibility=hidden, so every declaration must carry TT_API
 * (tt/export.h): scripts/api_symbols.sh --check finds one that does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "tt/common.h"

enum { MAXN = 1024, LEN = 128 };

/* The lines a command prints, sorted by the command itself. */
static int lines_of(const char *cmd, char out[][LEN]) {
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    int n = 0;
    char buf[512];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = 0;
        if (!buf[0]) continue;
        assert_true(n < MAXN);
        assert_true(strlen(buf) < LEN);
        memcpy(out[n++], buf, strlen(buf) + 1);
    }
    assert_int_equal(pclose(f), 0);
    return n;
}

static const char *build_dir(void) {
    const char *b = getenv("TT_BUILD");
    return b && *b ? b : "build";
}

static void test_exports_match_headers(void **state) {
    (void)state;
    static char api[MAXN][LEN], exp[MAXN][LEN];
    char cmd[512];
    const int na = lines_of("scripts/api_symbols.sh", api);
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s/libtt.so' | awk '$2 ~ /^[TWDRB]$/ { sub(/@.*/, \"\", $3); print $3 }' | sort -u",
             build_dir());
    const int ne = lines_of(cmd, exp);
    assert_true(na > 90); /* the headers were read */
    int i = 0, j = 0, bad = 0;
    while (i < na || j < ne) {
        const int c = i == na ? 1 : j == ne ? -1 : strcmp(api[i], exp[j]);
        if (c < 0) {
            print_error("declared in include/tt but not exported: %s\n", api[i++]);
            bad++;
        } else if (c > 0) {
            print_error("exported but not in include/tt: %s\n", exp[j++]);
            bad++;
        } else {
            i++, j++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Runs a shell command; its exit status, and its output in out[cap]. */
static int sh(const char *cmd, char *out, size_t cap) {
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    const int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_every_declaration_has_tt_api(void **state) {
    (void)state;
    static char out[65536];
    if (sh("scripts/api_symbols.sh --check 2>&1", out, sizeof out) != 0)
        fail_msg("a public declaration lacks TT_API:\n%s", out);
    /* the check can fail: a header with one declaration lacking it, then
     * --fix, then --check again */
    char dir[] = "/tmp/tt-exports-XXXXXX", cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "printf '%%s\\n' '/* tt_in_comment(void); */' 'TT_API int tt_good(void);' "
             "'const char *tt_forgot(int a,' '                       int b);' "
             "'typedef int (*tt_cb)(void *user);' 'static inline int tt_inl(void) { return 0; }' "
             "'extern const int tt_table[4];' > %s/h.h && "
             "scripts/api_symbols.sh --check %s/h.h 2>&1",
             dir, dir);
    assert_int_equal(sh(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "tt_forgot"));
    assert_non_null(strstr(out, "tt_table"));
    assert_null(strstr(out, "tt_good"));
    assert_null(strstr(out, "tt_cb"));
    assert_null(strstr(out, "tt_inl"));
    assert_null(strstr(out, "tt_in_comment"));
    snprintf(cmd, sizeof cmd,
             "scripts/api_symbols.sh --fix %s/h.h && scripts/api_symbols.sh --check %s/h.h 2>&1 && "
             "grep -c TT_API %s/h.h && scripts/api_symbols.sh %s/h.h",
             dir, dir, dir, dir);
    assert_int_equal(sh(cmd, out, sizeof out), 0);
    assert_string_equal(out, "3\ntt_forgot\ntt_good\ntt_table\n");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(sh(cmd, out, sizeof out), 0);
}

static void test_soname_and_libraries(void **state) {
    (void)state;
    static char out[MAXN][LEN];
    char cmd[512], want[64];
    snprintf(cmd, sizeof cmd, "readelf -d '%s/libtt.so' | grep -E 'SONAME|NEEDED'", build_dir());
    const int n = lines_of(cmd, out);
    snprintf(want, sizeof want, "[libtt.so.%d]", TT_VERSION_MAJOR);
    int soname = 0;
    for (int i = 0; i < n; i++) {
        if (strstr(out[i], "SONAME")) soname += strstr(out[i], want) != NULL;
        if (strstr(out[i], "libedit")) fail_msg("libtt.so needs the CLI's libedit: %s", out[i]);
        /* the matrix products are our own (src/gemm.c): no BLAS, no Fortran runtime */
        if (strstr(out[i], "blas") || strstr(out[i], "fortran"))
            fail_msg("libtt.so links a BLAS: %s", out[i]);
    }
    assert_int_equal(soname, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exports_match_headers),
        cmocka_unit_test(test_every_declaration_has_tt_api),
        cmocka_unit_test(test_soname_and_libraries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
