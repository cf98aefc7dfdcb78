/* `tt sample`: the contract of issue 2 (flags, defaults, the --json object, the
 * human table) and exit status 2 with one line on stderr for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cJSON.h>

#include "tt/sampling.h"
#include "util.h"

#define NBS "1.5,2.8,2.5,0.5,1.0,0.8,0.3,0.2"
#define LABELS "the,cat,dog,sat,ran,jumped,on,quickly"
static const float NB[8] = {1.5f, 2.8f, 2.5f, 0.5f, 1.0f, 0.8f, 0.3f, 0.2f};

/* Runs tt with argv; expects exit 0 and empty stderr; returns the parsed JSON. */
static cJSON *run_json(const char *const *argv) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    assert_string_equal(r.err, "");
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("not JSON: %.200s", r.out);
    tt_cli_result_free(&r);
    return j;
}

static cJSON *get(const cJSON *o, const char *key) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) fail_msg("missing key '%s'", key);
    return v;
}

static double num(const cJSON *o, const char *key) {
    cJSON *v = get(o, key);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_json_contract(void **state) {
    (void)state;
    const char *argv[] = {"tt", "sample", "--logits", NBS, "--labels", LABELS, "--strategy",
                          "top-p", "--top-p", "0.5", "--draws", "2000", "--seed", "7", "--json",
                          NULL};
    cJSON *j = run_json(argv);
    assert_string_equal(get(j, "strategy")->valuestring, "top-p");
    assert_true(num(j, "temperature") == 1.0);
    assert_true(num(j, "top_k") == 0.0);
    assert_true(num(j, "top_p") == 0.5);
    assert_true(num(j, "seed") == 7.0);
    assert_true(num(j, "draws") == 2000.0);
    cJSON *rows = get(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    cJSON *row = cJSON_GetArrayItem(rows, 0);
    cJSON *probs = get(row, "probs"), *kept = get(row, "kept"), *counts = get(row, "counts"),
          *samples = get(row, "samples");
    assert_int_equal(cJSON_GetArraySize(probs), 8);
    assert_int_equal(cJSON_GetArraySize(counts), 8);
    assert_int_equal(cJSON_GetArraySize(kept), 2); /* p = 0.5 keeps {cat, dog} */
    assert_int_equal(cJSON_GetArrayItem(kept, 0)->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(kept, 1)->valueint, 2);
    /* by hand: cat = 1 / (1 + e^-0.3); entropy in bits */
    assert_float_equal(cJSON_GetArrayItem(probs, 1)->valuedouble, 0.574442516811659, 1e-7);
    assert_float_equal(cJSON_GetArrayItem(probs, 2)->valuedouble, 0.425557483188341, 1e-7);
    assert_float_equal(num(row, "entropy_bits"), 0.682022489 / log(2.0), 1e-6);
    int total = 0;
    for (int i = 0; i < 8; i++) {
        int c = cJSON_GetArrayItem(counts, i)->valueint;
        if (i != 1 && i != 2) {
            assert_int_equal(c, 0);
            assert_true(cJSON_GetArrayItem(probs, i)->valuedouble == 0.0);
        }
        total += c;
    }
    assert_int_equal(total, 2000);
    /* the first min(N, 1000) draws, the same as the library's with stream (7, 0) */
    assert_int_equal(cJSON_GetArraySize(samples), 1000);
    int out[2000];
    tt_sampling_params p = {sizeof p, TT_STRATEGY_TOP_P, 1.0f, 0, 0.5f, tt_sampling_controls_default()};
    assert_int_equal(tt_sample_batch(&p, NB, 1, 8, 2000, 7, out, NULL), TT_OK);
    for (int d = 0; d < 1000; d++) assert_int_equal(cJSON_GetArrayItem(samples, d)->valueint, out[d]);
    int c1 = 0;
    for (int d = 0; d < 2000; d++) c1 += out[d] == 1;
    assert_int_equal(cJSON_GetArrayItem(counts, 1)->valueint, c1);
    /* probabilities round-trip as float32 */
    float pr[8];
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    assert_int_equal(tt_sampler_filter(s, &p, NB, pr, NULL, NULL, NULL, NULL), TT_OK);
    for (int i = 0; i < 8; i++)
        assert_true((float)cJSON_GetArrayItem(probs, i)->valuedouble == pr[i]);
    tt_sampler_free(s);
    cJSON_Delete(j);
}

static void test_json_defaults(void **state) {
    (void)state;
    const char *argv[] = {"tt", "sample", "--logits", NBS, "--json", NULL};
    cJSON *j = run_json(argv);
    assert_string_equal(get(j, "strategy")->valuestring, "combined");
    assert_true(num(j, "temperature") == 1.0);
    assert_true(num(j, "top_k") == 0.0);
    assert_true(num(j, "top_p") == 1.0);
    assert_true(num(j, "seed") == 42.0);
    assert_true(num(j, "draws") == 1.0);
    cJSON *row = cJSON_GetArrayItem(get(j, "rows"), 0);
    assert_int_equal(cJSON_GetArraySize(get(row, "samples")), 1);
    assert_int_equal(cJSON_GetArraySize(get(row, "kept")), 8);
    float sm[8];
    assert_int_equal(tt_softmax(NB, 8, 1.0f, sm, NULL), TT_OK);
    for (int i = 0; i < 8; i++)
        assert_float_equal(cJSON_GetArrayItem(get(row, "probs"), i)->valuedouble, sm[i], 1e-6);
    assert_float_equal(num(row, "entropy_bits"), 2.3575372144658266, 1e-6);
    cJSON_Delete(j);
}

/* Row r uses the stream (seed, r): a row's draws do not change when rows are
 * added, and the same seed gives the same output. A file gives the same rows. */
static void test_rows_and_files(void **state) {
    (void)state;
    const char *one[] = {"tt", "sample", "--logits", NBS, "--draws", "50", "--temperature", "1.5",
                         "--json", NULL};
    const char *two[] = {"tt", "sample", "--logits", NBS, "--logits", "0 0 0 0 0 0 0 -inf",
                         "--draws", "50", "--temperature", "1.5", "--json", NULL};
    cJSON *a = run_json(one), *b = run_json(two), *b2 = run_json(two);
    cJSON *sa = get(cJSON_GetArrayItem(get(a, "rows"), 0), "samples");
    cJSON *sb = get(cJSON_GetArrayItem(get(b, "rows"), 0), "samples");
    assert_int_equal(cJSON_GetArraySize(get(b, "rows")), 2);
    for (int d = 0; d < 50; d++)
        assert_int_equal(cJSON_GetArrayItem(sa, d)->valueint, cJSON_GetArrayItem(sb, d)->valueint);
    char *pb = cJSON_PrintUnformatted(b), *pb2 = cJSON_PrintUnformatted(b2);
    assert_string_equal(pb, pb2);
    /* row 1 masks token 7 */
    cJSON *r1 = cJSON_GetArrayItem(get(b, "rows"), 1);
    assert_int_equal(cJSON_GetArrayItem(get(r1, "counts"), 7)->valueint, 0);
    assert_int_equal(cJSON_GetArraySize(get(r1, "kept")), 7);
    char *dir = tt_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/logits.txt", dir);
    const char *text = NBS "\n\n0, 0, 0, 0, 0, 0, 0, -inf\n";
    assert_int_equal(tt_test_write_file(path, text, strlen(text)), 0);
    const char *f[] = {"tt", "sample", "--logits-file", path, "--draws", "50", "--temperature",
                       "1.5", "--json", NULL};
    cJSON *c = run_json(f);
    char *pc = cJSON_PrintUnformatted(c);
    assert_string_equal(pb, pc);
    /* another seed, other draws */
    const char *s2[] = {"tt", "sample", "--logits-file", path, "--draws", "50", "--temperature",
                        "1.5", "--seed", "43", "--json", NULL};
    cJSON *d = run_json(s2);
    char *pd = cJSON_PrintUnformatted(d);
    assert_string_not_equal(pc, pd);
    free(pb);
    free(pb2);
    free(pc);
    free(pd);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(b2);
    cJSON_Delete(c);
    cJSON_Delete(d);
    tt_test_rmtree(dir);
    free(dir);
}

static void test_greedy_and_combined(void **state) {
    (void)state;
    const char *g[] = {"tt", "sample", "--logits", NBS, "--strategy", "greedy", "--draws", "10",
                       "--json", NULL};
    cJSON *j = run_json(g);
    cJSON *row = cJSON_GetArrayItem(get(j, "rows"), 0);
    assert_int_equal(cJSON_GetArrayItem(get(row, "counts"), 1)->valueint, 10);
    assert_true(cJSON_GetArrayItem(get(row, "probs"), 1)->valuedouble == 1.0);
    assert_true(num(row, "entropy_bits") == 0.0);
    cJSON_Delete(j);
    /* the notebook's "all combined": T 0.8, k 6, p 0.95 keeps 5 */
    const char *c[] = {"tt", "sample", "--logits", NBS, "--temperature", "0.8", "--top-k", "6",
                       "--top-p", "0.95", "--draws", "300", "--json", NULL};
    j = run_json(c);
    row = cJSON_GetArrayItem(get(j, "rows"), 0);
    assert_int_equal(cJSON_GetArraySize(get(row, "kept")), 5);
    assert_true(num(j, "top_k") == 6.0);
    assert_float_equal(num(j, "top_p"), 0.95, 1e-7);
    assert_float_equal(num(j, "temperature"), 0.8, 1e-7);
    cJSON_Delete(j);
    const char *k[] = {"tt", "sample", "--logits", NBS, "--strategy", "top-k", "--top-k", "2",
                       "--json", NULL};
    j = run_json(k);
    row = cJSON_GetArrayItem(get(j, "rows"), 0);
    assert_int_equal(cJSON_GetArraySize(get(row, "kept")), 2);
    cJSON_Delete(j);
}

/* --temperature 0 is greedy (it was an error before the one rule,
 * docs/sampling.md): with every strategy, all the mass on the argmax, every
 * draw the argmax, the chain reported as greedy. */
static void test_temperature_zero_is_greedy(void **state) {
    (void)state;
    static const char *const strategies[] = {"temperature", "top-p", "combined"};
    for (size_t s = 0; s < 3; s++) {
        const char *a[] = {"tt", "sample", "--logits", NBS, "--strategy", strategies[s], "--temperature", "0",
                           "--draws", "40", "--json", NULL};
        cJSON *j = run_json(a);
        cJSON *row = cJSON_GetArrayItem(get(j, "rows"), 0);
        assert_int_equal(cJSON_GetArrayItem(get(row, "counts"), 1)->valueint, 40);
        assert_true(cJSON_GetArrayItem(get(row, "probs"), 1)->valuedouble == 1.0);
        assert_int_equal(cJSON_GetArraySize(get(row, "kept")), 1);
        assert_true(num(row, "entropy_bits") == 0.0);
        assert_true(num(j, "temperature") == 0.0);
        assert_string_equal(cJSON_GetArrayItem(get(j, "chain"), 0)->valuestring, "greedy");
        assert_null(cJSON_GetObjectItemCaseSensitive(row, "tempered")); /* no cut, as greedy */
        cJSON_Delete(j);
    }
    /* The table says so too: no "before the cut" block (greedy cuts nothing:
     * it used to claim that top-p had made the cut, and listed the
     * zero-probability tokens by id, not by rank), the header names greedy,
     * and the unused --top-k / --top-p are noted, never silently ignored. */
    const char *t[] = {"tt", "sample", "--logits", NBS, "--labels", LABELS, "--temperature", "0",
                       "--top-k", "3", "--top-p", "0.5", "--draws", "5", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(t, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "strategy combined, temperature 0 (greedy), top-k 3, top-p 0.5;"));
    assert_non_null(strstr(r.out, "kept 1 of 8 tokens, entropy 0.0000 bits"));
    assert_null(strstr(r.out, "before the cut"));
    assert_null(strstr(r.out, "last kept"));
    assert_non_null(strstr(r.err, "note: --top-k is not used at --temperature 0 (greedy)"));
    assert_non_null(strstr(r.err, "note: --top-p is not used at --temperature 0 (greedy)"));
    tt_cli_result_free(&r);
}

static void test_human_table(void **state) {
    (void)state;
    const char *argv[] = {"tt", "sample", "--logits", NBS, "--labels", LABELS, "--top-p", "0.5",
                          "--draws", "1000", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_non_null(strstr(r.out, "strategy combined, temperature 1, top-k off, top-p 0.5"));
    assert_non_null(strstr(r.out, "kept 2 of 8 tokens, entropy 0.9840 bits"));
    assert_non_null(strstr(r.out, "p(orig)"));
    /* cat: original 0.3890, filtered 0.5744, a count and the longest bar */
    const char *cat = strstr(r.out, "\n  cat ");
    assert_non_null(cat);
    assert_non_null(strstr(cat, "0.3890"));
    assert_non_null(strstr(cat, "0.5744"));
    assert_true(strstr(cat, "#") < strchr(cat + 1, '\n'));
    const char *sat = strstr(r.out, "\n  sat ");
    assert_non_null(sat);
    assert_non_null(strstr(sat, "0.0390       0.0000         0\n"));
    tt_cli_result_free(&r);
    /* without labels the ids label the rows; large V shows the top of the kept set */
    char big[4096] = "";
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof v, "%s%d", i ? "," : "", i % 13);
        strcat(big, v);
    }
    const char *b[] = {"tt", "sample", "--logits", big, "--top-k", "30", NULL};
    assert_int_equal(tt_cli_run(b, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "kept 30 of 100 tokens"));
    assert_non_null(strstr(r.out, "\n  12 ")); /* the most probable: id 12 */
    assert_non_null(strstr(r.out, "80 more tokens"));
    tt_cli_result_free(&r);
    const char *h[] = {"tt", "sample", "--help", NULL};
    assert_int_equal(tt_cli_run(h, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--logits-file"));
    tt_cli_result_free(&r);
}

/* Issue 17: the tempered distribution before the cut, with its running sum,
 * explains a cut: at T = 0.5 the logits [3, 2, 1] give [0.8668, 0.1173,
 * 0.0159], so top-p 0.8 keeps one token. The table and the JSON keys of
 * issue 2 stay as they were; "tempered" is added. */
static void test_tempered_before_the_cut(void **state) {
    (void)state;
    const char *argv[] = {"tt", "sample", "--logits", "3,2,1", "--temperature", "0.5", "--top-p", "0.8",
                          "--draws", "50", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "kept 1 of 3 tokens"));
    const char *t = strstr(r.out, "  before the cut: softmax(logits / 0.5), most probable first\n");
    assert_non_null(t);
    assert_non_null(strstr(t, "\n  0         0.8668      0.8668  <- last kept: the running sum reaches top-p 0.8\n"
                              "  1         0.1173      0.9841\n"
                              "  2         0.0159      1.0000\n"));
    tt_cli_result_free(&r);
    /* combined: the running sum top-p uses is the one within top-k */
    const char *c[] = {"tt", "sample", "--logits", NBS, "--labels", LABELS, "--temperature", "0.8",
                       "--top-k", "4", "--top-p", "0.9", NULL};
    assert_int_equal(tt_cli_run(c, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "cum. in top-k"));
    assert_non_null(strstr(r.out, "\n  the         0.0891      0.8523          0.9470  <- last kept: the running sum reaches top-p 0.9\n"));
    tt_cli_result_free(&r);
    /* greedy and plain temperature do not cut: no block */
    const char *g[] = {"tt", "sample", "--logits", "3,2,1", "--strategy", "temperature", NULL};
    assert_int_equal(tt_cli_run(g, NULL, &r), 0);
    assert_null(strstr(r.out, "before the cut"));
    tt_cli_result_free(&r);
    const char *j[] = {"tt", "sample", "--logits", "3,2,1", "--temperature", "0.5", "--top-p", "0.8", "--json", NULL};
    cJSON *o = run_json(j);
    cJSON *row = cJSON_GetArrayItem(get(o, "rows"), 0);
    cJSON *tp = get(row, "tempered");
    assert_int_equal(cJSON_GetArraySize(tp), 3);
    double e1 = exp(-2.0), e2 = exp(-4.0), z = 1.0 + e1 + e2;
    assert_true(fabs(cJSON_GetArrayItem(tp, 0)->valuedouble - 1.0 / z) < 1e-6);
    assert_true(fabs(cJSON_GetArrayItem(tp, 2)->valuedouble - e2 / z) < 1e-6);
    assert_int_equal(cJSON_GetArraySize(get(row, "kept")), 1);
    cJSON_Delete(o);
}

/* Bad input: exit 2, nothing on stdout, one line on stderr naming it. */
static void expect_usage(const char *const *argv, const char *needle) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 2) fail_msg("%s: exit %d, stderr '%s'", needle, r.status, r.err);
    assert_string_equal(r.out, "");
    if (!strstr(r.err, needle)) fail_msg("stderr '%s' lacks '%s'", r.err, needle);
    assert_true(r.err_len > 0 && r.err[r.err_len - 1] == '\n');
    int lines = 0;
    for (size_t i = 0; i < r.err_len; i++) lines += r.err[i] == '\n';
    assert_int_equal(lines, 1);
    tt_cli_result_free(&r);
}

static void test_usage_errors(void **state) {
    (void)state;
#define BAD(needle, ...)                                                                           \
    do {                                                                                           \
        const char *a_[] = {"tt", "sample", __VA_ARGS__, NULL};                                    \
        expect_usage(a_, needle);                                                                  \
    } while (0)
    BAD("'beam'", "--logits", NBS, "--strategy", "beam");
    BAD("--temperature", "--logits", NBS, "--temperature", "-1");
    BAD("--temperature", "--logits", NBS, "--temperature", "nan");
    BAD("--top-k: -1 is out of range", "--logits", NBS, "--top-k", "-1");
    BAD("--top-k", "--logits", NBS, "--top-k", "two");
    BAD("--top-k: strategy top-k needs K >= 1", "--logits", NBS, "--strategy", "top-k");
    BAD("--top-p: must be in (0, 1], got 0", "--logits", NBS, "--top-p", "0");
    BAD("--top-p: must be in (0, 1], got 1.5", "--logits", NBS, "--top-p", "1.5");
    BAD("'nan'", "--logits", "1.5,nan,2.5");
    BAD("'inf'", "--logits", "1.5,inf,2.5");
    BAD("every logit is -inf", "--logits", "-inf,-inf");
    BAD("'x'", "--logits", "1,x");
    BAD("--labels: 3 labels for 8 logits", "--logits", NBS, "--labels", "a,b,c");
    BAD("--labels: label 2 is empty", "--logits", "1,2", "--labels", "a,");
    BAD("unknown option '--frobnicate'", "--logits", NBS, "--frobnicate");
    BAD("unexpected argument 'extra'", "--logits", NBS, "extra");
    BAD("--temperature needs a value", "--logits", NBS, "--temperature");
    BAD("--logits needs a value", "--logits");
    BAD("--logits-file: cannot open '/nonexistent/logits.txt'", "--logits-file",
        "/nonexistent/logits.txt");
    BAD("--logits-file: '/' is a directory", "--logits-file", "/");
    BAD("no logits", "--draws", "3");
    BAD("--draws", "--logits", NBS, "--draws", "0");
    BAD("--seed", "--logits", NBS, "--seed", "-1");
    BAD("row 1 has 3 logits, expected 2", "--logits", "1,2", "--logits", "1,2,3");
    BAD("--logits: expected one row", "--logits", "1,2\n3,4");
#undef BAD
    /* a ragged logits file */
    char *dir = tt_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/ragged.txt", dir);
    assert_int_equal(tt_test_write_file(path, "1,2,3\n4,5\n", 10), 0);
    const char *r[] = {"tt", "sample", "--logits-file", path, NULL};
    expect_usage(r, "line 2 has 2 values, expected 3");
    tt_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_contract),    cmocka_unit_test(test_json_defaults),
        cmocka_unit_test(test_rows_and_files),   cmocka_unit_test(test_greedy_and_combined),
        cmocka_unit_test(test_human_table),      cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_tempered_before_the_cut), cmocka_unit_test(test_temperature_zero_is_greedy),
    };
    return cmocka_run_group_tests_name("cli_sample", tests, NULL, NULL);
}
