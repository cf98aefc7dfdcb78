/* Diversity metrics on hand-made texts, and `tt diversity` (table vs --json). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>
#include <sys/stat.h>

#include "image_check.h"
#include "tt/diversity.h"
#include "util.h"

#define EPS 1e-12

static void test_notebook_metrics(void **state) {
    (void)state;
    const char *texts[3] = {"hello abab", "hello abab", "hello abc"};
    size_t prompt[3] = {6, 6, 6};
    tt_diversity_metrics m;
    tt_error err;
    assert_int_equal(tt_diversity_measure(texts, 3, prompt, NULL, NULL, &m, &err), TT_OK);
    assert_int_equal(m.n_samples, 3);
    assert_int_equal(m.unique_samples, 2);
    assert_true(fabs(m.uniqueness_ratio - 2.0 / 3.0) < EPS);
    assert_true(fabs(m.avg_length - 29.0 / 3.0) < EPS);
    assert_int_equal(m.unique_chars, 8); /* h e l o ' ' a b c */
    /* continuations "abab", "abab", "abc": 11 unigrams {a,b,c}; 8 bigrams {ab,ba,bc} */
    assert_int_equal(m.n_unigrams, 11);
    assert_true(fabs(m.distinct_1 - 3.0 / 11.0) < EPS);
    assert_int_equal(m.n_bigrams, 8);
    assert_true(fabs(m.distinct_2 - 3.0 / 8.0) < EPS);
    assert_true(isnan(m.mean_token_entropy));
    assert_int_equal(m.n_entropy_steps, 0);
}

static void test_whole_text_when_no_prompt(void **state) {
    (void)state;
    const char *texts[2] = {"aaaa", "abcd"};
    tt_diversity_metrics m;
    assert_int_equal(tt_diversity_measure(texts, 2, NULL, NULL, NULL, &m, NULL), TT_OK);
    assert_int_equal(m.unique_samples, 2);
    assert_true(fabs(m.uniqueness_ratio - 1.0) < EPS);
    assert_true(fabs(m.avg_length - 4.0) < EPS);
    assert_int_equal(m.unique_chars, 4);
    assert_true(fabs(m.distinct_1 - 4.0 / 8.0) < EPS);  /* {a,b,c,d} of 8 */
    assert_true(fabs(m.distinct_2 - 4.0 / 6.0) < EPS);  /* {aa,ab,bc,cd} of 6 */
}

static void test_ngrams_do_not_span_samples(void **state) {
    (void)state;
    const char *texts[2] = {"a", "b"};
    tt_diversity_metrics m;
    assert_int_equal(tt_diversity_measure(texts, 2, NULL, NULL, NULL, &m, NULL), TT_OK);
    assert_int_equal(m.n_bigrams, 0);
    assert_true(m.distinct_2 == 0.0);
    assert_true(fabs(m.distinct_1 - 1.0) < EPS);
    /* a prompt that is the whole text leaves nothing to count */
    const char *same[2] = {"hi", "hi"};
    size_t p[2] = {2, 2};
    assert_int_equal(tt_diversity_measure(same, 2, p, NULL, NULL, &m, NULL), TT_OK);
    assert_int_equal(m.unique_samples, 1);
    assert_true(fabs(m.uniqueness_ratio - 0.5) < EPS);
    assert_int_equal(m.n_unigrams, 0);
    assert_true(m.distinct_1 == 0.0);
}

static void test_utf8_characters(void **state) {
    (void)state;
    const char *texts[1] = {"h\xc3\xa9\xc3\xa9"}; /* "héé": 3 characters, 5 bytes */
    tt_diversity_metrics m;
    assert_int_equal(tt_diversity_measure(texts, 1, NULL, NULL, NULL, &m, NULL), TT_OK);
    assert_true(fabs(m.avg_length - 3.0) < EPS);
    assert_int_equal(m.unique_chars, 2);
    assert_true(fabs(m.distinct_1 - 2.0 / 3.0) < EPS);
    assert_true(fabs(m.distinct_2 - 1.0) < EPS); /* hé, éé */
    size_t p1[1] = {1};
    assert_int_equal(tt_diversity_measure(texts, 1, p1, NULL, NULL, &m, NULL), TT_OK);
    assert_true(fabs(m.distinct_1 - 0.5) < EPS); /* "éé" */
}

static void test_mean_entropy(void **state) {
    (void)state;
    const char *texts[3] = {"xab", "xc", "xd"};
    const double e0[2] = {1.0, 2.0}, e1[1] = {3.0}, e2[1] = {0.0};
    const double *ent[3] = {e0, e1, e2};
    int n_ent[3] = {2, 1, 1};
    tt_diversity_metrics m;
    assert_int_equal(tt_diversity_measure(texts, 3, NULL, ent, n_ent, &m, NULL), TT_OK);
    assert_int_equal(m.n_entropy_steps, 4);
    assert_true(fabs(m.mean_token_entropy - 1.5) < EPS);
    /* no steps at all: NaN, not 0/0 garbage */
    int zero[3] = {0, 0, 0};
    const double *none[3] = {NULL, NULL, NULL};
    assert_int_equal(tt_diversity_measure(texts, 3, NULL, none, zero, &m, NULL), TT_OK);
    assert_true(isnan(m.mean_token_entropy));
}

static void test_distinct_n_general(void **state) {
    (void)state;
    const char *texts[1] = {"aaaa"};
    double d;
    long total;
    assert_int_equal(tt_distinct_n(texts, 1, 3, &d, &total, NULL), TT_OK);
    assert_int_equal(total, 2);
    assert_true(fabs(d - 0.5) < EPS);
    assert_int_equal(tt_distinct_n(texts, 1, 5, &d, &total, NULL), TT_OK);
    assert_int_equal(total, 0);
    assert_true(d == 0.0);
}

static void test_bad_input(void **state) {
    (void)state;
    tt_diversity_metrics m;
    tt_error err;
    const char *ok[1] = {"abc"};
    assert_int_equal(tt_diversity_measure(ok, 0, NULL, NULL, NULL, &m, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "at least one"));
    const char *nul[2] = {"a", NULL};
    assert_int_equal(tt_diversity_measure(nul, 2, NULL, NULL, NULL, &m, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "sample 1"));
    const char *bad[2] = {"ok", "a\xff"};
    assert_int_equal(tt_diversity_measure(bad, 2, NULL, NULL, NULL, &m, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "sample 1: invalid UTF-8 at byte 1"));
    size_t too_long[1] = {4};
    assert_int_equal(tt_diversity_measure(ok, 1, too_long, NULL, NULL, &m, &err), TT_ERR_ARG);
    const char *e[1] = {"\xc3\xa9x"};
    size_t inside[1] = {1};
    assert_int_equal(tt_diversity_measure(e, 1, inside, NULL, NULL, &m, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "inside a UTF-8 character"));
    const double neg[1] = {-0.5};
    const double *ent[1] = {neg};
    int n_ent[1] = {1};
    assert_int_equal(tt_diversity_measure(ok, 1, NULL, ent, n_ent, &m, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "-0.5"));
    assert_int_equal(tt_diversity_measure(ok, 1, NULL, ent, NULL, &m, &err), TT_ERR_ARG);
    double d;
    assert_int_equal(tt_distinct_n(ok, 1, 0, &d, NULL, &err), TT_ERR_ARG);
}


/* ---- tt diversity ------------------------------------------------------- */

static const char *fixture_model(void) {
    static const char *const cands[] = {"tests/fixtures/gen_model.safetensors",
                                        "../tests/fixtures/gen_model.safetensors",
                                        "../../tests/fixtures/gen_model.safetensors"};
    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        if (stat(cands[i], &st) == 0) return cands[i];
    }
    fail_msg("tests/fixtures/gen_model.safetensors not found (run the tests from the repository root)");
    return NULL;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON field '%s' missing or not a number", key);
    return v->valuedouble;
}

/* The table and --json report the same numbers (to the table's rounding). */
static void test_cli_json_matches_table(void **state) {
    (void)state;
    const char *model = fixture_model();
    const char *tab[] = {"tt", "diversity", "--model", model, "--prompt", "ROMEO:", "--temperatures", "0,0.5,1.2",
                         "--samples", "6", "--max-new-tokens", "15", "--top-k", "20", NULL};
    const char *js[] = {"tt", "diversity", "--model", model, "--prompt", "ROMEO:", "--temperatures", "0,0.5,1.2",
                        "--samples", "6", "--max-new-tokens", "15", "--top-k", "20", "--json", NULL};
    tt_cli_result rt, rj;
    assert_int_equal(tt_cli_run(tab, NULL, &rt), 0);
    assert_int_equal(tt_cli_run(js, NULL, &rj), 0);
    if (rt.status != 0) fail_msg("table run failed: %s", rt.err);
    if (rj.status != 0) fail_msg("json run failed: %s", rj.err);
    cJSON *root = cJSON_Parse(rj.out);
    if (!root) fail_msg("--json output is not JSON: %s", rj.out);
    assert_int_equal((int)num(root, "samples"), 6);
    assert_int_equal((int)num(root, "max_new_tokens"), 15);
    assert_int_equal((int)num(root, "top_k"), 20);
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(root, "settings");
    assert_true(cJSON_IsArray(settings));
    assert_int_equal(cJSON_GetArraySize(settings), 3);
    /* table rows follow the header line */
    const char *line = strstr(rt.out, "temperature  samples");
    assert_non_null(line);
    line = strchr(line, '\n') + 1;
    for (int i = 0; i < 3; i++) {
        const cJSON *s = cJSON_GetArrayItem(settings, i);
        double t, ratio, avg, d1, d2, ent;
        int n, uniq, chars;
        int got = sscanf(line, "%lf %d %d %lf %lf %d %lf %lf %lf", &t, &n, &uniq, &ratio, &avg, &chars, &d1, &d2,
                         &ent);
        if (got != 9) fail_msg("cannot parse table row: %.80s", line);
        assert_true(fabs(t - num(s, "temperature")) < 1e-6);
        assert_int_equal(n, (int)num(s, "n_samples"));
        assert_int_equal(uniq, (int)num(s, "unique_samples"));
        assert_int_equal(chars, (int)num(s, "unique_chars"));
        assert_true(fabs(ratio - num(s, "uniqueness_ratio")) <= 5e-5 + 1e-9);
        assert_true(fabs(avg - num(s, "avg_length")) <= 5e-3 + 1e-9);
        assert_true(fabs(d1 - num(s, "distinct_1")) <= 5e-5 + 1e-9);
        assert_true(fabs(d2 - num(s, "distinct_2")) <= 5e-5 + 1e-9);
        assert_true(fabs(ent - num(s, "mean_token_entropy")) <= 5e-5 + 1e-9);
        assert_true(fabs(num(s, "uniqueness_ratio") - num(s, "unique_samples") / num(s, "n_samples")) < 1e-9);
        /* "ROMEO:" + 15 tokens: every sample is 21 characters (no EOS here) */
        assert_true(fabs(num(s, "avg_length") - 21.0) < 1e-9);
        line = strchr(line, '\n') + 1;
    }
    /* temperature 0 is greedy: one distinct sample, zero entropy */
    const cJSON *g = cJSON_GetArrayItem(settings, 0);
    assert_int_equal((int)num(g, "unique_samples"), 1);
    assert_true(num(g, "mean_token_entropy") == 0.0);
    /* T = 1.2 draws from a wide distribution: more variety than greedy */
    const cJSON *hot = cJSON_GetArrayItem(settings, 2);
    assert_true(num(hot, "unique_samples") > 1);
    assert_true(num(hot, "mean_token_entropy") > 0.5);
    assert_true(num(hot, "distinct_2") > num(g, "distinct_2"));
    cJSON_Delete(root);
    tt_cli_result_free(&rt);
    tt_cli_result_free(&rj);
}

static void test_cli_plot(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char png[512], svg[512];
    snprintf(png, sizeof png, "%s/div.png", dir);
    snprintf(svg, sizeof svg, "%s/div.svg", dir);
    const char *argv[] = {"tt", "diversity", "--model", fixture_model(), "--prompt", "KING", "--samples", "4",
                          "--max-new-tokens", "8", "--plot", png, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("tt diversity --plot failed: %s", r.err);
    tt_cli_result_free(&r);
    char msg[512];
    if (tt_check_png(png, 600, 3000, 400, 3000, 8000, NULL, NULL, msg, sizeof msg)) fail_msg("%s", msg);
    if (tt_check_svg(svg, 5000, msg, sizeof msg)) fail_msg("%s", msg);
    char *s = tt_test_read_file(svg, NULL);
    assert_non_null(strstr(s, "Perfect diversity"));
    free(s);
    tt_test_rmtree(dir);
    free(dir);
}

static void expect_usage(const char *const *argv, const char *needle) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 2) fail_msg("exit %d, wanted 2 (%s)", r.status, r.err);
    assert_string_equal(r.out, "");
    if (!strstr(r.err, needle)) fail_msg("stderr '%s' lacks '%s'", r.err, needle);
    assert_true(strchr(r.err, '\n')[1] == '\0');
    tt_cli_result_free(&r);
}

static void test_cli_bad_arguments(void **state) {
    (void)state;
    const char *m = fixture_model();
    const char *a1[] = {"tt", "diversity", "--prompt", "x", NULL};
    expect_usage(a1, "--model is required");
    const char *a2[] = {"tt", "diversity", "--model", m, NULL};
    expect_usage(a2, "--prompt is required");
    const char *a3[] = {"tt", "diversity", "--model", m, "--prompt", "", NULL};
    expect_usage(a3, "--prompt");
    const char *a4[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--temperatures", "0.5,,1", NULL};
    expect_usage(a4, "--temperatures");
    const char *a5[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--temperatures", "-1", NULL};
    expect_usage(a5, "--temperatures");
    const char *a6[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--samples", "0", NULL};
    expect_usage(a6, "--samples");
    const char *a7[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--top-p", "0", NULL};
    expect_usage(a7, "--top-p");
    const char *a8[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--top-k", "-3", NULL};
    expect_usage(a8, "--top-k");
    const char *a9[] = {"tt", "diversity", "--model", "/nonexistent.safetensors", "--prompt", "x", NULL};
    expect_usage(a9, "--model: cannot open");
    const char *a10[] = {"tt", "diversity", "--model", m, "--prompt", "\xe2\x82\xac", NULL};
    expect_usage(a10, "--prompt");
    const char *a11[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--max-new-tokens", "abc", NULL};
    expect_usage(a11, "--max-new-tokens");
    const char *a12[] = {"tt", "diversity", "--model", m, "--prompt", "x", "--nope", NULL};
    expect_usage(a12, "unknown option '--nope'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notebook_metrics),
        cmocka_unit_test(test_whole_text_when_no_prompt),
        cmocka_unit_test(test_ngrams_do_not_span_samples),
        cmocka_unit_test(test_utf8_characters),
        cmocka_unit_test(test_mean_entropy),
        cmocka_unit_test(test_distinct_n_general),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cli_json_matches_table),
        cmocka_unit_test(test_cli_plot),
        cmocka_unit_test(test_cli_bad_arguments),
    };
    return cmocka_run_group_tests_name("diversity", tests, NULL, NULL);
}
