/*
 * tests/test_exports.c — libtt.so exports exactly the public API.
 *
 * The functions declared in the public headers (scripts/api_symbols.sh) must be
 * the shared library's exported functions (nm -D): nothing internal leaks
 * (tt_team_*, tt_io_*, the per-ISA kernel copies), nothing declared is
 * missing, and the library carries its SONAME and links neither libedit
 * (the CLI's) nor anything the headers do not need.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
             "nm -D --defined-only '%s/libtt.so' | awk '$2 == \"T\" || $2 == \"W\" { sub(/@.*/, \"\", $3); print $3 }' | sort -u",
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
    }
    assert_int_equal(soname, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exports_match_headers),
        cmocka_unit_test(test_soname_and_libraries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
