/* The exercise checker itself (issue 17): `make exercises SHOW=1` shows every
 * exercise's results beside the reference's, for passing and failing ones; a
 * learner file that does not compile is reported as such while the others
 * build and run; and every planted bug (a mistake learners make, planted in a
 * copy of a reference solution) fails the checker, with the message naming
 * the rule where the issue asks for one.
 *
 * Each case runs `make exercises` on a temporary exercise directory
 * (EX_DIR, objects in EX_OBJDIR), never on the learner's exercises/. Run from
 * the repository root (as tests/run.sh does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util.h"

static const char *build_dir(void) {
    const char *b = getenv("TT_BUILD");
    return b && *b ? b : "build";
}

/* Runs `make exercises` on dir (objects in objdir), or on the solutions;
 * ex: the EX list ("" for all). */
static void run_make(const char *dir, const char *objdir, const char *ex, bool show, bool solutions,
                     tt_cli_result *r) {
    char a_dir[512], a_obj[512], a_build[512], a_ex[64];
    snprintf(a_dir, sizeof a_dir, "EX_DIR=%s", dir ? dir : "exercises");
    snprintf(a_obj, sizeof a_obj, "EX_OBJDIR=%s", objdir ? objdir : "");
    snprintf(a_build, sizeof a_build, "BUILD=%s", build_dir());
    snprintf(a_ex, sizeof a_ex, "EX=%s", ex ? ex : "");
    const char *argv[12];
    int n = 0;
    argv[n++] = "make";
    argv[n++] = "--no-print-directory";
    argv[n++] = "exercises";
    argv[n++] = a_build;
    argv[n++] = a_ex;
    if (solutions)
        argv[n++] = "SOLUTIONS=1";
    else {
        argv[n++] = a_dir;
        argv[n++] = a_obj;
    }
    if (show) argv[n++] = "SHOW=1";
    argv[n] = NULL;
    assert_int_equal(tt_run_program(argv, NULL, r), 0);
}

static char *read_or_fail(const char *path) {
    size_t len;
    char *s = tt_test_read_file(path, &len);
    if (!s) fail_msg("cannot read %s", path);
    return s;
}

static void write_or_fail(const char *path, const char *text) {
    if (tt_test_write_file(path, text, strlen(text)) != 0) fail_msg("cannot write %s", path);
}

/* Copies exercises/solutions/<name>.c to dir/<name>.c. */
static void copy_solution(const char *dir, const char *name) {
    char src[256], dst[512];
    snprintf(src, sizeof src, "exercises/solutions/%s.c", name);
    snprintf(dst, sizeof dst, "%s/%s.c", dir, name);
    char *s = read_or_fail(src);
    write_or_fail(dst, s);
    free(s);
}

/* s with the one occurrence of old replaced by new (malloc'ed); fails the
 * test when old does not occur exactly once (the solution changed). */
static char *replace_once(const char *s, const char *old, const char *new_text, const char *what) {
    const char *at = strstr(s, old);
    if (!at || strstr(at + 1, old))
        fail_msg("%s: the text to replace occurs %s", what, at ? "twice" : "nowhere");
    size_t a = (size_t)(at - s), lo = strlen(old), ln = strlen(new_text), ls = strlen(s);
    char *out = malloc(ls - lo + ln + 1);
    assert_non_null(out);
    memcpy(out, s, a);
    memcpy(out + a, new_text, ln);
    memcpy(out + a + ln, at + lo, ls - a - lo + 1);
    return out;
}

/* The output line of an exercise ("ex05_top_k   ..."), copied, or fails. */
static char *result_line(const char *out, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(out, key);
    if (!p && strncmp(out, key + 1, strlen(key) - 1) == 0) p = out - 1;
    if (!p) fail_msg("no result line for %s in:\n%s", name, out);
    p++;
    size_t n = strcspn(p, "\n");
    char *line = malloc(n + 1);
    assert_non_null(line);
    memcpy(line, p, n);
    line[n] = '\0';
    return line;
}

static const char *const all_names[14] = {"ex01_greedy",
                                          "ex02_temperature",
                                          "ex03_compare",
                                          "ex04_temperature_curves",
                                          "ex05_top_k",
                                          "ex06_top_p",
                                          "ex07_generator",
                                          "ex08_combined",
                                          "ex09_temperature_effects",
                                          "ex10_custom_generator",
                                          "ex11_compare_all",
                                          "ex12_completion",
                                          "ex13_temperature_schedule",
                                          "ex14_story"};

/* SHOW=1 with the solutions: every exercise passes, and its block shows
 * yours and the reference, identical (no "<- differs"). */
static void test_show_solutions(void **state) {
    (void)state;
    tt_cli_result r;
    run_make(NULL, NULL, NULL, true, true, &r);
    if (r.status != 0) fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    for (int i = 0; i < 14; i++) {
        char *line = result_line(r.out, all_names[i]);
        if (!strstr(line, "passed")) fail_msg("%s", line);
        free(line);
        char key[64];
        snprintf(key, sizeof key, "\n%s ", all_names[i]);
        const char *blk = strstr(r.out, key);
        const char *next =
            i < 13 ? strstr(r.out, (snprintf(key, sizeof key, "\n%s ", all_names[i + 1]), key))
                   : strstr(r.out, "\nexercises: ");
        assert_non_null(blk);
        assert_non_null(next);
        size_t n = (size_t)(next - blk);
        char *b = malloc(n + 1);
        memcpy(b, blk, n);
        b[n] = '\0';
        if (!strstr(b, "yours") || !(strstr(b, "reference") || strstr(b, " ref")))
            fail_msg("%s shows nothing:\n%s", all_names[i], b);
        if (strstr(b, "differs"))
            fail_msg("%s: the reference solution differs from the reference:\n%s", all_names[i], b);
        free(b);
    }
    /* readable: the notebook's words and the kept sets */
    assert_non_null(strstr(r.out, "kept: yours     {cat, dog} (2 tokens, mass 0.6772)"));
    assert_non_null(strstr(r.out, "ranking, best first: yours"));
    assert_non_null(strstr(r.out, "exercises: 14 passed, 0 failed, 0 not done yet"));
    tt_cli_result_free(&r);
}

/* SHOW=1 on a failing exercise still shows it, with the differences marked;
 * and the failure names the kept sets and the rule. */
static void test_show_failing(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir(), obj[512], path[512];
    snprintf(obj, sizeof obj, "%s/obj", dir);
    copy_solution(dir, "ex02_temperature");
    char *src = read_or_fail("exercises/solutions/ex05_top_k.c");
    char *bug = replace_once(src, "double kept_mass = 0.0;\n    for (int i = 0; i < keep; i++)",
                             "double kept_mass = 0.0;\n    for (int i = 0; i < V; i++)", "ex05");
    snprintf(path, sizeof path, "%s/ex05_top_k.c", dir);
    write_or_fail(path, bug);
    tt_cli_result r;
    run_make(dir, obj, "5", true, false, &r);
    assert_int_equal(r.status, 2); /* make: the checker exited 1 */
    char *line = result_line(r.out, "ex05_top_k");
    if (!strstr(line, "failed: ex05_top_k_filter on [1,2,3,4,5] (k = 2, T = 1): the kept set {4, "
                      "3} (2 tokens, mass ") ||
        !strstr(line, "is right, but probs[3] is not"))
        fail_msg("%s", line);
    if (!strstr(line, "the kept probabilities were not renormalised")) fail_msg("%s", line);
    assert_non_null(strstr(r.out, "kept: yours     {cat, dog} (2 tokens, mass 0.6772)"));
    assert_non_null(strstr(r.out, "<- differs"));
    tt_cli_result_free(&r);
    free(line);
    free(bug);
    free(src);
    tt_test_rmtree(dir);
    free(dir);
}

/* A file that does not compile: reported with the compiler's first message;
 * the others build and run; one that calls it says why it cannot; a stale
 * object from an earlier good build is not used; fixing it makes it pass. */
static void test_compile_error(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir(), obj[512], path[512];
    snprintf(obj, sizeof obj, "%s/obj", dir);
    copy_solution(dir, "ex01_greedy");
    copy_solution(dir, "ex02_temperature");
    copy_solution(dir, "ex05_top_k");
    tt_cli_result r;
    run_make(dir, obj, "1 2 5", false, false, &r);
    if (r.status != 0) fail_msg("exit %d:\n%s\n%s", r.status, r.out, r.err);
    tt_cli_result_free(&r);

    char *good = read_or_fail("exercises/solutions/ex02_temperature.c");
    char *bad = replace_once(good, "    return st;\n}", "    return st\n}", "ex02");
    snprintf(path, sizeof path, "%s/ex02_temperature.c", dir);
    write_or_fail(path, bad);
    run_make(dir, obj, "1 2 5", false, false, &r);
    assert_int_equal(r.status, 2); /* the checker exits 1: one exercise failed */
    char *l1 = result_line(r.out, "ex01_greedy"), *l2 = result_line(r.out, "ex02_temperature"),
         *l5 = result_line(r.out, "ex05_top_k");
    if (!strstr(l1, "passed")) fail_msg("%s", l1);
    if (!strstr(l2, "does not compile: ") || !strstr(l2, "ex02_temperature.c:") ||
        !strstr(l2, "error"))
        fail_msg("%s", l2);
    if (!strstr(l5, "not done yet (ex05_top_k_sample: it calls ex02_sample_from_probs, and "
                    "ex02_temperature.c does not compile)"))
        fail_msg("%s", l5);
    assert_non_null(strstr(r.out, "exercises: 1 passed, 1 failed, 1 not done yet"));
    assert_non_null(
        strstr(r.err, "does not compile; the checker reports it and runs the other exercises"));
    tt_cli_result_free(&r);
    free(l1);
    free(l2);
    free(l5);

    write_or_fail(path, good);
    run_make(dir, obj, "2", false, false, &r);
    if (r.status != 0) fail_msg("after the fix: exit %d:\n%s\n%s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "exercises: 1 passed, 0 failed, 0 not done yet"));
    tt_cli_result_free(&r);
    free(good);
    free(bad);
    tt_test_rmtree(dir);
    free(dir);
}

/* A planted bug: in solution `file`, replace old by new (and old2 by new2);
 * exercise `ex` must fail, its message containing `expect`. */
typedef struct {
    const char *name, *file, *ex;
    const char *old, *new_text, *old2, *new2;
    const char *expect;
} planted_bug;

#define T_FIRST "exp(((double)logits[v] - maxv) / temperature)"
#define T_NONE "exp(((double)logits[v] - maxv))"
#define T_MUL "exp(((double)logits[v] - maxv) * temperature)"
/* Temperature last: the cut on softmax(z), then softmax(z / T) over the kept. */
#define TEMPER_KEPT(n, den)                                                                        \
    "double tz = 0.0;\n    for (int i = 0; i < " n "; i++)\n"                                      \
    "        tz += exp(((double)logits[c[i].id] - maxv) / temperature);\n"                         \
    "    for (int i = 0; i < " n "; i++)\n"                                                        \
    "        probs[c[i].id] = (float)(exp(((double)logits[c[i].id] - maxv) / temperature) / "      \
    "tz);\n"                                                                                       \
    "    (void)" den ";"

static const planted_bug bugs[] = {
    /* the five the issue names, on top-p (06) and combined (08) */
    {"06 crossing token dropped", "ex06_top_p", "6", "        cum += c[n].p;\n        n++;",
     "        if (n > 0 && cum + c[n].p > p)\n            break;\n        cum += c[n].p;\n        "
     "n++;",
     NULL, NULL, "the token whose probability crosses p was dropped"},
    {"06 > for >=", "ex06_top_p", "6", "if (cum >= p)", "if (cum > p)", NULL, NULL,
     "you stop only once the running sum is > p"},
    {"06 temperature last", "ex06_top_p", "6", "c[v].p = " T_FIRST, "c[v].p = " T_NONE,
     "    for (int i = 0; i < n; i++)\n        probs[c[i].id] = (float)(c[i].p / cum);",
     "    " TEMPER_KEPT("n", "cum"), "the temperature applied afterwards"},
    {"06 no renormalisation", "ex06_top_p", "6", "(float)(c[i].p / cum)", "(float)c[i].p", NULL,
     NULL, "not renormalised"},
    {"06 logits multiplied by T", "ex06_top_p", "6", T_FIRST, T_MUL, NULL, NULL,
     "the logits were multiplied by T"},
    {"08 crossing token dropped", "ex08_combined", "8", "        cum += c[m].p / mass;",
     "        if (m > 0 && cum + c[m].p / mass > top_p)\n            break;\n        cum += c[m].p "
     "/ mass;",
     NULL, NULL, "the token whose probability crosses p was dropped"},
    {"08 > for >=", "ex08_combined", "8", "if (cum >= top_p)", "if (cum > top_p)", NULL, NULL,
     "you stop only once the running sum is > p"},
    {"08 temperature last", "ex08_combined", "8", "c[v].p = " T_FIRST, "c[v].p = " T_NONE,
     "    for (int i = 0; i < m; i++)\n        probs[c[i].id] = (float)(c[i].p / kept);",
     "    " TEMPER_KEPT("m", "kept"), "the temperature applied afterwards"},
    {"08 no renormalisation", "ex08_combined", "8",
     "double kept = 0.0;\n    for (int i = 0; i < m; i++)",
     "double kept = 0.0;\n    for (int i = 0; i < V; i++)", NULL, NULL, "not renormalised"},
    {"08 logits multiplied by T", "ex08_combined", "8", T_FIRST, T_MUL, NULL, NULL,
     "the logits were multiplied by T"},
    {"08 top-p before top-k renormalises", "ex08_combined", "8",
     "    double mass = 0.0;\n    for (int i = 0; i < n; i++)",
     "    double mass = 0.0;\n    for (int i = 0; i < V; i++)", NULL, NULL,
     "RENORMALISED top-k distribution"},
    /* the same mistakes where else they can be made */
    {"05 no renormalisation", "ex05_top_k", "5",
     "double kept_mass = 0.0;\n    for (int i = 0; i < keep; i++)",
     "double kept_mass = 0.0;\n    for (int i = 0; i < V; i++)", NULL, NULL, "not renormalised"},
    {"05 logits multiplied by T", "ex05_top_k", "5", T_FIRST, T_MUL, NULL, NULL,
     "the logits were multiplied by T"},
    {"05 k + 1 kept", "ex05_top_k", "5", "int keep = k < V ? k : V;",
     "int keep = k + 1 < V ? k + 1 : V;", NULL, NULL, "k + 1 tokens were kept"},
    {"05 ties to the higher id", "ex05_top_k", "5", "return (x->id > y->id) - (x->id < y->id);",
     "return (x->id < y->id) - (x->id > y->id);", NULL, NULL, "ties rank the LOWER id first"},
    {"02 logits multiplied by T", "ex02_temperature", "2",
     "exp(((double)row[v] - maxv) / temperature)", "exp(((double)row[v] - maxv) * temperature)",
     NULL, NULL, "failed: ex02_temperature_sample at T = 0.5"},
    {"01 ties to the higher id", "ex01_greedy", "1", "if (row[v] > row[best])",
     "if (row[v] >= row[best])", NULL, NULL, "ties go to the lowest id"},
    {"04 entropy in nats", "ex04_temperature_curves", "4", "h -= p * log2(p);", "h -= p * log(p);",
     NULL, NULL, "entropy_bits[0]"},
    {"13 progress = step / n", "ex13_temperature_schedule", "13",
     "int denom = max_new_tokens - 1 > 1 ? max_new_tokens - 1 : 1;", "int denom = max_new_tokens;",
     NULL, NULL, "step 1 of 5"},
    {"12 sum instead of mean", "ex12_completion", "12", "*mean_logprob = total / (double)(n - np);",
     "*mean_logprob = total;", NULL, NULL, "mean log-probability of the generated tokens"},
    /* temperature 0 means greedy (docs/sampling.md): the old "T <= 0 is an
     * error" rule, a division by T = 0, and a draw where greedy takes none */
    {"02 T = 0 is an error", "ex02_temperature", "2", "!(temperature >= 0.0f)",
     "temperature <= 0.0f", NULL, NULL, "at temperature 0 the draw must be the argmax (greedy)"},
    {"05 T = 0 divides by zero", "ex05_top_k", "5",
     "    if (temperature == 0.0f) {\n        /* Temperature 0 means greedy",
     "    if (V < 0) {\n        /* Temperature 0 means greedy", NULL, NULL,
     "at temperature 0 the draw must be the argmax (greedy)"},
    {"06 T = 0 is an error", "ex06_top_p", "6", "!(temperature >= 0.0f)", "!(temperature > 0.0f)",
     NULL, NULL, "at temperature 0 the draw must be the argmax (greedy)"},
    {"08 T = 0 draws a random number", "ex08_combined", "8",
     "if (st == TT_OK && temperature == 0.0f) {",
     "if (st == TT_OK && temperature == 0.0f && V < 0) {", NULL, NULL,
     "random numbers were taken from rng"},
    {"13 T = 0 is an error", "ex13_temperature_schedule", "13", "!(end_temp >= 0.0f)",
     "!(end_temp > 0.0f)", NULL, NULL, "a temperature of 0 is allowed"},
    {"14 one seed for every chunk", "ex14_story", "14", "ov.values.seed = seed + c;",
     "ov.values.seed = seed;", NULL, NULL, "failed: ex14_"},
};

static void test_planted_bugs_fail(void **state) {
    (void)state;
    char *root = tt_test_tmpdir();
    char failures[8192] = "";
    size_t nf = 0;
    for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
        const planted_bug *b = &bugs[i];
        char dir[512], obj[600], path[700], src[256];
        snprintf(dir, sizeof dir, "%s/bug%02zu", root, i);
        snprintf(obj, sizeof obj, "%s/obj", dir);
        const char *argv[] = {"mkdir", "-p", obj, NULL};
        tt_cli_result m;
        assert_int_equal(tt_run_program(argv, NULL, &m), 0);
        tt_cli_result_free(&m);
        /* the mutated file, and the exercises it calls */
        if (strcmp(b->file, "ex01_greedy") != 0) copy_solution(dir, "ex01_greedy");
        if (strcmp(b->file, "ex02_temperature") != 0) copy_solution(dir, "ex02_temperature");
        snprintf(src, sizeof src, "exercises/solutions/%s.c", b->file);
        char *s = read_or_fail(src);
        char *t = replace_once(s, b->old, b->new_text, b->name);
        if (b->old2) {
            char *t2 = replace_once(t, b->old2, b->new2, b->name);
            free(t);
            t = t2;
        }
        snprintf(path, sizeof path, "%s/%s.c", dir, b->file);
        write_or_fail(path, t);
        free(s);
        free(t);
        tt_cli_result r;
        run_make(dir, obj, b->ex, false, false, &r);
        const char *name = NULL;
        for (int e = 0; e < 14; e++)
            if (strcmp(all_names[e], b->file) == 0) name = all_names[e];
        assert_non_null(name);
        char *line = result_line(r.out, name);
        if (r.status == 0 || !strstr(line, "failed: ") || !strstr(line, b->expect))
            nf += (size_t)snprintf(
                failures + strlen(failures), sizeof failures - strlen(failures),
                "\n  planted bug '%s' (exit %d): expected a failure naming '%s', got: %.600s",
                b->name, r.status, b->expect, line);
        free(line);
        tt_cli_result_free(&r);
    }
    tt_test_rmtree(root);
    free(root);
    if (nf) fail_msg("%zu planted bug(s) not caught as expected:%s", nf, failures);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_show_solutions),
        cmocka_unit_test(test_show_failing),
        cmocka_unit_test(test_compile_error),
        cmocka_unit_test(test_planted_bugs_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
