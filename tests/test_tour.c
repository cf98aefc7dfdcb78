/* `tt tour`: the golden text of the sampling sections, the structure of the
 * model sections, determinism, every figure a real image, the report's
 * contents, bad arguments; and the report writer's escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "image_check.h"
#include "tt/checkpoint.h"
#include "tt/model.h"
#include "tt/tokenizer.h"
#include "util.h"

/* The report writer is a tool source; its unit tests compile it in here. */
#include "../cli/report.c"

static const char *fixture_model(void) {
    const char *m = tt_test_find_file("tests/fixtures/gen_model.safetensors");
    if (!m) fail_msg("tests/fixtures/gen_model.safetensors not found (run the tests from the repository root)");
    return m;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static const char *const section_titles[10] = {
    "== 1. Understanding sampling basics ==",
    "== 2. Greedy sampling ==",
    "== 3. Temperature sampling ==",
    "== 4. Top-k sampling ==",
    "== 5. Top-p (nucleus) sampling ==",
    "== 6. Combined sampling ==",
    "== 7. The TextGenerator: a tiny model that writes ==",
    "== 8. Diversity versus quality ==",
    "== 9. Stopping at an end-of-sequence token ==",
    "== 10. Batch generation ==",
};
static const char *const section_ids[11] = {"basics", "greedy", "temperature", "top-k", "top-p", "combined",
                                            "generator", "diversity", "eos", "batch", "summary"};
static const char *const figures[7] = {"probabilities", "temperature_grid", "topk_grid", "topp_grid",
                                       "loss_vs_window", "diversity_vs_temperature", "topp_vs_minp"};

/* Each needle appears in s, in the given order. */
static void assert_in_order(const char *s, const char *const *needles, int n) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        const char *q = strstr(p, needles[i]);
        if (!q) fail_msg("missing or out of order: '%s'", needles[i]);
        p = q + strlen(needles[i]);
    }
}

static void test_golden_sampling_sections(void **state) {
    (void)state;
    const char *golden_path = tt_test_find_file("tests/golden/tour_sampling.txt");
    assert_non_null(golden_path);
    char *golden = tt_test_read_file(golden_path, NULL);
    assert_non_null(golden);
    char *dir = tt_test_tmpdir();
    const char *argv[] = {"tt", "tour", "--sections", "1-6", "--no-plots", "--seed", "42", "--out", dir, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    if (strcmp(r.out, golden) != 0) {
        /* point at the first differing line */
        const char *a = r.out, *b = golden;
        int line = 1;
        while (*a && *a == *b) {
            if (*a == '\n') line++;
            a++, b++;
        }
        fail_msg("tour output differs from %s at line %d", golden_path, line);
    }
    assert_non_null(strstr(r.err, "report.html"));
    /* the notebook's numbers */
    assert_non_null(strstr(r.out, "  cat      2.8    0.3890"));
    assert_non_null(strstr(r.out, "Greedy selection: cat (probability 0.3890)."));
    assert_non_null(strstr(r.out, "  entropy (nats)  0.191    1.000    1.634    1.960"));
    assert_non_null(strstr(r.out, "  nucleus size  2        3        5        7"));
    tt_cli_result_free(&r);
    /* the report has the six sections and no figures */
    char *html_path = join(dir, "report.html");
    char *html = tt_test_read_file(html_path, NULL);
    assert_non_null(html);
    for (int i = 0; i < 6; i++) {
        char id[64];
        snprintf(id, sizeof id, "id=\"%s\"", section_ids[i]);
        assert_non_null(strstr(html, id));
    }
    assert_null(strstr(html, "id=\"generator\""));
    assert_null(strstr(html, "<img"));
    free(html);
    free(html_path);
    tt_test_rmtree(dir);
    free(dir);
    free(golden);
}

static void test_seed_changes_draws_not_distributions(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    const char *a[] = {"tt", "tour", "--sections", "3", "--no-plots", "--out", dir, NULL};
    const char *b[] = {"tt", "tour", "--sections", "3", "--no-plots", "--seed", "7", "--out", dir, NULL};
    tt_cli_result ra, rb;
    assert_int_equal(tt_cli_run(a, NULL, &ra), 0);
    assert_int_equal(tt_cli_run(b, NULL, &rb), 0);
    assert_int_equal(ra.status, 0);
    assert_int_equal(rb.status, 0);
    const char *dist = "  cat             0.9526   0.5914   0.3890   0.2480";
    assert_non_null(strstr(ra.out, dist));
    assert_non_null(strstr(rb.out, dist));
    const char *da = strstr(ra.out, "-- 20 draws"), *db = strstr(rb.out, "-- 20 draws");
    assert_non_null(da);
    assert_non_null(db);
    assert_string_not_equal(da, db);
    assert_null(strstr(ra.out, "== 2."));
    assert_null(strstr(ra.out, "== 4."));
    tt_cli_result_free(&ra);
    tt_cli_result_free(&rb);
    tt_test_rmtree(dir);
    free(dir);
}

static void test_full_tour_with_model(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    const char *argv[] = {"tt", "tour", "--model", fixture_model(), "--out", dir, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("tt tour failed (%d): %s", r.status, r.err);
    assert_in_order(r.out, section_titles, 10);
    assert_non_null(strstr(r.out, "== Summary =="));
    /* issue 17: the tour ends with next steps, after the summary */
    const char *next = strstr(r.out, "\n== Next steps ==\n");
    assert_non_null(next);
    assert_true(next > strstr(r.out, "== Summary =="));
    assert_non_null(strstr(next, "make exercises SHOW=1"));
    assert_non_null(strstr(next, "tt sample --logits"));
    assert_non_null(strstr(next, "docs/learners-guide.md"));
    /* section 7: checkpoint used, six strategies, each output starts with the prompt */
    assert_non_null(strstr(r.out, "Using the checkpoint"));
    assert_null(strstr(r.out, "Training the tiny model"));
    static const char *const strategies[6] = {"  Greedy  ", "  Temperature=0.5  ", "  Temperature=1.0  ",
                                              "  Top-k=5  ", "  Top-p=0.9  ", "  Combined  "};
    assert_in_order(strstr(r.out, "== 7."), strategies, 6);
    /* section 7's context-length part (issue 12): this checkpoint records no training length */
    static const char *const ctx[5] = {"-- Context length: writing past the training length --",
                                       ("does not record the length it was trained on, so its context defaults to "
                                        "max_len = 24"),
                                       "[figure: loss_vs_window.png", "First with the whole context (window 24",
                                       "Then with the context window (--context 24, --context-shift half"};
    assert_in_order(strstr(r.out, "== 7."), ctx, 5);
    assert_true(strstr(r.out, ctx[0]) < strstr(r.out, "== 8."));
    /* section 8: the five configurations, greedy gives one unique sample, then eight temperatures */
    const char *s8 = strstr(r.out, "== 8.");
    static const char *const configs[5] = {"  Greedy ", "  Temp=0.3 ", "  Temp=0.8 ", "  Temp=1.5 ",
                                           "  Top-p=0.9 "};
    assert_in_order(s8, configs, 5);
    const char *greedy_row = strstr(s8, "  Greedy ");
    assert_true(strncmp(greedy_row + strspn(greedy_row, " Gredy"), "1/10 ", 5) == 0);
    static const char *const temps[8] = {"  0.1 ", "  0.3 ", "  0.5 ", "  0.7 ", "  0.9 ", "  1.1 ", "  1.3 ", "  1.5 "};
    assert_in_order(strstr(s8, "-- Diversity against temperature"), temps, 8);
    /* section 9: this model knows the newline, so it is the EOS */
    assert_non_null(strstr(r.out, "EOS = newline"));
    /* section 10: three rows, outputs begin with their prompts */
    assert_non_null(strstr(r.out, "'hello '    'hello "));
    assert_non_null(strstr(r.out, "'this is '  'this is "));
    assert_non_null(strstr(r.out, "'test '     'test "));
    tt_cli_result_free(&r);

    /* every figure, both formats */
    char msg[512];
    for (int i = 0; i < 7; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.png", figures[i]);
        char *p = join(dir, name);
        int w, h;
        if (tt_check_png(p, 600, 3000, 400, 3000, 8000, &w, &h, msg, sizeof msg)) fail_msg("%s", msg);
        free(p);
        snprintf(name, sizeof name, "%s.svg", figures[i]);
        p = join(dir, name);
        if (tt_check_svg(p, 8000, msg, sizeof msg)) fail_msg("%s", msg);
        free(p);
    }
    /* the report: every section in order, every figure referenced, the load check script */
    char *html_path = join(dir, "report.html");
    char *html = tt_test_read_file(html_path, NULL);
    assert_non_null(html);
    const char *ids[11];
    char idbuf[11][64];
    for (int i = 0; i < 11; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "<h2 id=\"%s\">", section_ids[i]);
        ids[i] = idbuf[i];
    }
    assert_in_order(html, ids, 11);
    assert_true(strstr(html, "<h2 id=\"next-steps\">") > strstr(html, "<h2 id=\"summary\">"));
    const char *imgs[7];
    char imgbuf[7][96];
    for (int i = 0; i < 7; i++) {
        snprintf(imgbuf[i], sizeof imgbuf[i], "<img src=\"%s.png\"", figures[i]);
        imgs[i] = imgbuf[i];
    }
    assert_in_order(html, imgs, 7);
    assert_non_null(strstr(html, "data-loaded"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_non_null(strstr(html, "</html>"));
    free(html);
    free(html_path);
    tt_test_rmtree(dir);
    free(dir);
}

static void test_model_sections_deterministic(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    const char *argv[] = {"tt", "tour", "--sections", "7-10", "--no-plots", "--model", fixture_model(),
                          "--seed", "5", "--out", dir, NULL};
    tt_cli_result a, b;
    assert_int_equal(tt_cli_run(argv, NULL, &a), 0);
    assert_int_equal(tt_cli_run(argv, NULL, &b), 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.out, b.out);
    assert_null(strstr(a.out, "== 6."));
    assert_non_null(strstr(a.out, "== 10."));
    tt_cli_result_free(&a);
    tt_cli_result_free(&b);
    tt_test_rmtree(dir);
    free(dir);
}

static void test_training_path(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    const char *argv[] = {"tt", "tour", "--sections", "7", "--train-steps", "3", "--no-plots", "--out", dir, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("tt tour failed (%d): %s", r.status, r.err);
    assert_non_null(strstr(r.out, "Vocabulary size: 19."));
    assert_non_null(strstr(r.out, "Characters: [' ', '.', 'a', 'd', 'e', 'f', 'g', 'h', 'i', 'l', 'm', 'n', 'o', "
                                  "'r', 's', 't', 'w', 'x', 'y']"));
    assert_non_null(strstr(r.out, "-- Training the tiny model --"));
    assert_non_null(strstr(r.out, "  3/3 "));
    assert_non_null(strstr(r.out, "Final training loss "));
    assert_non_null(strstr(r.out, "  Greedy "));
    assert_non_null(strstr(r.out, "hello "));
    tt_cli_result_free(&r);
    char *ckpt = join(dir, "tiny.safetensors");
    struct stat st;
    assert_int_equal(stat(ckpt, &st), 0);
    assert_true(st.st_size > 3000000); /* ~796k float32 parameters */
    free(ckpt);
    tt_test_rmtree(dir);
    free(dir);
}

static void expect_usage(const char *const *argv, const char *needle, int status) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != status) fail_msg("%s %s: exit %d, wanted %d (%s)", argv[1], argv[2], r.status, status, r.err);
    assert_string_equal(r.out, "");
    if (!strstr(r.err, needle)) fail_msg("stderr '%s' lacks '%s'", r.err, needle);
    /* one line */
    assert_non_null(strchr(r.err, '\n'));
    assert_true(strchr(r.err, '\n')[1] == '\0');
    tt_cli_result_free(&r);
}

static void test_bad_arguments(void **state) {
    (void)state;
    const char *a1[] = {"tt", "tour", "--sections", "0", NULL};
    expect_usage(a1, "--sections", 2);
    const char *a2[] = {"tt", "tour", "--sections", "3-", NULL};
    expect_usage(a2, "--sections", 2);
    const char *a3[] = {"tt", "tour", "--sections", "12", NULL};
    expect_usage(a3, "--sections", 2);
    const char *a4[] = {"tt", "tour", "--seed", "-1", NULL};
    expect_usage(a4, "--seed", 2);
    const char *a5[] = {"tt", "tour", "--train-steps", "0", NULL};
    expect_usage(a5, "--train-steps", 2);
    const char *a6[] = {"tt", "tour", "--frobnicate", NULL};
    expect_usage(a6, "unknown option '--frobnicate'", 2);
    const char *a7[] = {"tt", "tour", "--model", "/nonexistent/model.safetensors", NULL};
    expect_usage(a7, "--model: cannot open", 2);
    const char *a8[] = {"tt", "tour", "--out", NULL};
    expect_usage(a8, "--out needs a value", 2);
    const char *a9[] = {"tt", "tour", "--sections", "1,", NULL};
    expect_usage(a9, "trailing comma", 2);
    /* an --out that is a file */
    char *dir = tt_test_tmpdir();
    char *file = join(dir, "f");
    assert_int_equal(tt_test_write_file(file, "x", 1), 0);
    const char *a10[] = {"tt", "tour", "--no-plots", "--out", file, NULL};
    expect_usage(a10, "--out", 2); /* a file where a directory is wanted: a bad value (issue 11) */
    free(file);
    tt_test_rmtree(dir);
    free(dir);
}

/* A checkpoint whose vocabulary cannot spell the prompts, and a corrupt one:
 * both fail before anything is printed. */
static void test_unusable_models(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char *ckpt = join(dir, "abc.safetensors");
    tt_tokenizer *tok;
    tt_model *m;
    tt_error err;
    assert_int_equal(tt_tokenizer_fit(&tok, "abc", 3, &err), TT_OK);
    tt_model_config cfg;
    assert_int_equal(tt_model_config_preset("tiny", 3, &cfg, &err), TT_OK);
    cfg.d_model = 8;
    cfg.n_heads = 2;
    cfg.n_layers = 1;
    cfg.d_ff = 16;
    cfg.max_len = 16;
    assert_int_equal(tt_model_create(&m, &cfg, 1, &err), TT_OK);
    assert_int_equal(tt_checkpoint_save(ckpt, m, tok, &err), TT_OK);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    char *out = join(dir, "out");
    const char *a1[] = {"tt", "tour", "--no-plots", "--model", ckpt, "--out", out, NULL};
    expect_usage(a1, "cannot encode the prompt 'hello '", 2);
    char *bad = join(dir, "bad.safetensors");
    assert_int_equal(tt_test_write_file(bad, "not a checkpoint at all", 23), 0);
    const char *a2[] = {"tt", "tour", "--no-plots", "--model", bad, "--out", out, NULL};
    expect_usage(a2, "--model:", 2);
    /* the sampling sections alone never touch the model */
    const char *a3[] = {"tt", "tour", "--no-plots", "--sections", "2", "--model", ckpt, "--out", out, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(a3, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "== 2. Greedy sampling =="));
    tt_cli_result_free(&r);
    free(bad);
    free(out);
    free(ckpt);
    tt_test_rmtree(dir);
    free(dir);
}

static void test_missing_gnuplot(void **state) {
    (void)state;
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char *dir = tt_test_tmpdir();
    setenv("PATH", "/nonexistent-tt-test", 1);
    const char *argv[] = {"tt", "tour", "--sections", "1", "--out", dir, NULL};
    tt_cli_result r;
    int rc = tt_cli_run(argv, NULL, &r);
    if (old) setenv("PATH", old, 1);
    free(old);
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "gnuplot is not installed"));
    assert_non_null(strstr(r.err, "--no-plots"));
    tt_cli_result_free(&r);
    tt_test_rmtree(dir);
    free(dir);
}

/* The report writer on its own: escaping, headings in the contents, tables. */
static void test_report_writer(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char *path = join(dir, "r.html");
    char msg[256];
    report *r = report_open(path, "A <title> & more", msg, sizeof msg);
    assert_non_null(r);
    report_heading(r, 2, "one", "1. <b>bold</b>");
    report_para(r, "x < y && \"q\" 'a'");
    const char *hdr[2] = {"k", "v"};
    const char *row[2] = {"<td>", "a&b"};
    report_table_begin(r, hdr, 2);
    report_table_row(r, row, 2);
    report_table_end(r);
    report_image(r, "a\"b.png", "alt <x>", "cap & tion");
    report_pre(r, "line1\n<line2>");
    assert_int_equal(report_close(r, msg, sizeof msg), 0);
    char *html = tt_test_read_file(path, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "<title>A &lt;title&gt; &amp; more</title>"));
    assert_non_null(strstr(html, "<li><a href=\"#one\">1. &lt;b&gt;bold&lt;/b&gt;</a></li>"));
    assert_non_null(strstr(html, "<h2 id=\"one\">1. &lt;b&gt;bold&lt;/b&gt;</h2>"));
    assert_non_null(strstr(html, "<p>x &lt; y &amp;&amp; &quot;q&quot; &#39;a&#39;</p>"));
    assert_non_null(strstr(html, "<tr><td>&lt;td&gt;</td><td>a&amp;b</td></tr>"));
    assert_non_null(strstr(html, "<img src=\"a&quot;b.png\" alt=\"alt &lt;x&gt;\">"));
    assert_non_null(strstr(html, "<pre>line1\n&lt;line2&gt;</pre>"));
    assert_null(strstr(html, "<b>"));
    free(html);
    /* no temporary file left behind; an unwritable place fails with a message */
    char *tmp = join(dir, "r.html.tmp");
    struct stat st;
    assert_int_not_equal(stat(tmp, &st), 0);
    free(tmp);
    assert_null(report_open("/nonexistent-dir/r.html", "t", msg, sizeof msg));
    assert_non_null(strstr(msg, "/nonexistent-dir/r.html")); /* the file asked for (tt/outputs.h) */
    assert_int_equal(report_close(NULL, msg, sizeof msg), 0);
    report_discard(NULL);
    free(path);
    tt_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_sampling_sections),
        cmocka_unit_test(test_seed_changes_draws_not_distributions),
        cmocka_unit_test(test_full_tour_with_model),
        cmocka_unit_test(test_model_sections_deterministic),
        cmocka_unit_test(test_training_path),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_unusable_models),
        cmocka_unit_test(test_missing_gnuplot),
        cmocka_unit_test(test_report_writer),
    };
    return cmocka_run_group_tests_name("tour", tests, NULL, NULL);
}
