/* The tour's report.html in a real browser: Debian's chromium, headless.
 * Checks that every image decoded (the page's own script writes
 * <body data-loaded="N/M">), that every section is on the page, and keeps a
 * full-page screenshot as a test artifact: $TT_BUILD/test-artifacts/report.png.
 * When chromium is missing the test installs it with `scripts/deps.sh browser`
 * (as root) instead of skipping. One chromium launch per check. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "image_check.h"
#include "util.h"

static char artifacts[PATH_MAX];   /* $TT_BUILD/test-artifacts           */
static char tour_dir[PATH_MAX + 16];    /* .../tour: report.html + the figures */
static char report_url[PATH_MAX + 48];

static const char *const section_ids[12] = {"basics", "greedy",    "temperature", "top-k",
                                            "top-p",  "combined",  "generator",   "diversity",
                                            "eos",    "batch",     "beyond",      "summary"};

static void mkdir_p(const char *dir) {
    const char *argv[] = {"mkdir", "-p", dir, NULL};
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
}

/* Runs headless chromium with extra arguments; returns its stdout (malloc'ed). */
static char *chromium(const char *const *extra, int n_extra) {
    char *profile = tt_test_tmpdir();
    assert_non_null(profile);
    char profile_arg[PATH_MAX + 32];
    snprintf(profile_arg, sizeof profile_arg, "--user-data-dir=%s", profile);
    const char *argv[32];
    int n = 0;
    argv[n++] = "timeout";
    argv[n++] = "120";
    argv[n++] = "chromium";
    argv[n++] = "--headless";
    argv[n++] = "--no-sandbox";
    argv[n++] = "--disable-gpu";
    argv[n++] = "--disable-dev-shm-usage";
    argv[n++] = "--no-first-run";
    argv[n++] = "--hide-scrollbars";
    argv[n++] = profile_arg;
    for (int i = 0; i < n_extra; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    if (r.status == 124) {
        /* headless chromium now and then never finishes a screenshot on a
         * loaded 2-core machine (seen in CI-like runs); the second try has a
         * fresh profile. A page that really hangs fails both. */
        fprintf(stderr, "chromium timed out (124); trying once more\n");
        tt_cli_result_free(&r);
        tt_test_rmtree(profile);
        assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    }
    tt_test_rmtree(profile);
    free(profile);
    if (r.status != 0) fail_msg("chromium exited with %d: %.500s", r.status, r.err);
    free(r.err);
    return r.out;
}

static int setup(void **state) {
    (void)state;
    if (tt_test_need_program("chromium", "browser")) return -1;
    const char *b = getenv("TT_BUILD");
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "%s/test-artifacts", b && *b ? b : "build");
    mkdir_p(rel);
    if (!realpath(rel, artifacts)) return -1;
    snprintf(tour_dir, sizeof tour_dir, "%s/tour", artifacts);
    tt_test_rmtree(tour_dir);
    const char *model = tt_test_find_file("tests/fixtures/gen_model.safetensors");
    if (!model) {
        fprintf(stderr, "tests/fixtures/gen_model.safetensors not found\n");
        return -1;
    }
    /* A fixture model keeps this fast; the page has the same structure as
     * after training (test_tour checks the training path). */
    const char *argv[] = {"tt", "tour", "--model", model, "--out", tour_dir, NULL};
    tt_cli_result r;
    if (tt_cli_run(argv, NULL, &r) != 0 || r.status != 0) {
        fprintf(stderr, "tt tour failed: %s\n", r.err ? r.err : "");
        tt_cli_result_free(&r);
        return -1;
    }
    tt_cli_result_free(&r);
    snprintf(report_url, sizeof report_url, "file://%s/report.html", tour_dir);
    return 0;
}

static const char *const dom_args[4] = {"--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000",
                                        "--dump-dom", NULL};

static void test_every_image_loads_and_every_section_is_there(void **state) {
    (void)state;
    const char *extra[4] = {dom_args[0], dom_args[1], dom_args[2], report_url};
    char *dom = chromium(extra, 4);
    if (!strstr(dom, "data-loaded=\"7/7\"")) {
        const char *at = strstr(dom, "data-loaded");
        fail_msg("not every image loaded: %.40s", at ? at : "(the load script did not run)");
    }
    const char *p = dom;
    for (int i = 0; i < 12; i++) {
        char id[64];
        snprintf(id, sizeof id, "<h2 id=\"%s\">", section_ids[i]);
        const char *q = strstr(p, id);
        if (!q) fail_msg("section '%s' missing (or out of order) in the rendered page", section_ids[i]);
        p = q;
    }
    int tables = 0;
    for (const char *q = dom; (q = strstr(q, "<table>")); q++) tables++;
    assert_true(tables >= 16); /* 16 with a given model; the training log adds one */
    free(dom);
}

static void test_screenshot_artifact(void **state) {
    (void)state;
    char shot[PATH_MAX + 32], arg[PATH_MAX + 64];
    snprintf(shot, sizeof shot, "%s/report.png", artifacts);
    unlink(shot);
    snprintf(arg, sizeof arg, "--screenshot=%s", shot);
    const char *extra[5] = {"--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000",
                            "--window-size=1200,6000", arg, report_url};
    free(chromium(extra, 5));
    char msg[512];
    int w = 0, h = 0;
    if (tt_check_png(shot, 1200, 1200, 6000, 6000, 50000, &w, &h, msg, sizeof msg)) fail_msg("%s", msg);
    fprintf(stderr, "screenshot kept: %s (%dx%d)\n", shot, w, h);
}

/* The check can fail: the same page without its images reports 0/7 (seven figures since issues 12 and 14). */
static void test_missing_images_are_detected(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char src[PATH_MAX + 48], dst[PATH_MAX + 48], url[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/report.html", tour_dir);
    snprintf(dst, sizeof dst, "%s/report.html", dir);
    size_t len;
    char *html = tt_test_read_file(src, &len);
    assert_non_null(html);
    assert_int_equal(tt_test_write_file(dst, html, len), 0);
    free(html);
    snprintf(url, sizeof url, "file://%s", dst);
    const char *extra[4] = {dom_args[0], dom_args[1], dom_args[2], url};
    char *dom = chromium(extra, 4);
    assert_non_null(strstr(dom, "data-loaded=\"0/7\""));
    free(dom);
    tt_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_image_loads_and_every_section_is_there),
        cmocka_unit_test(test_screenshot_artifact),
        cmocka_unit_test(test_missing_images_are_detected),
    };
    return cmocka_run_group_tests_name("report_browser", tests, setup, NULL);
}
