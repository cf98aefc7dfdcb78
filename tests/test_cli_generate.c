/* `tt generate`: the command-line contract (flags, --json shape, exit codes)
 * on the committed fixture checkpoint tests/fixtures/gen_model.safetensors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cJSON.h>

#include "util.h"

#define MODEL "tests/fixtures/gen_model.safetensors"

/* Reads the ids of golden case `name` from tests/fixtures/gen_golden.txt. */
static int golden_ids(const char *name, int *ids, int cap) {
    size_t len;
    char *text = tt_test_read_file("tests/fixtures/gen_golden.txt", &len);
    assert_non_null(text);
    int n = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        size_t k = strlen(name);
        if (strncmp(line, name, k) || line[k] != ' ') continue;
        char *colon = strstr(line, " : ");
        assert_non_null(colon);
        n = 0;
        char *p = colon + 3, *end;
        for (long v = strtol(p, &end, 10); end != p && n < cap; v = strtol(p, &end, 10)) {
            ids[n++] = (int)v;
            p = end;
        }
        break;
    }
    free(text);
    assert_true(n > 0);
    return n;
}

static cJSON *run_json(const char *const *argv) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fprintf(stderr, "tt generate failed (%d): %s\n", r.status, r.err);
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fprintf(stderr, "not JSON: %s\n", r.out);
    assert_non_null(j);
    tt_cli_result_free(&r);
    return j;
}

static void assert_tokens(const cJSON *o, const int *ids, int n) {
    const cJSON *t = cJSON_GetObjectItem(o, "tokens");
    assert_true(cJSON_IsArray(t));
    assert_int_equal(cJSON_GetArraySize(t), n);
    for (int i = 0; i < n; i++)
        assert_int_equal((int)cJSON_GetArrayItem(t, i)->valuedouble, ids[i]);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static void test_json_greedy_golden(void **state) {
    (void)state;
    int want[128];
    int n = golden_ids("greedy_romeo", want, 128);
    for (int cache = 0; cache < 2; cache++) {
        const char *argv[] = {"tt",
                              "generate",
                              "--model",
                              MODEL,
                              "--prompt",
                              "ROMEO:",
                              "--greedy",
                              "--max-new-tokens",
                              "40",
                              "--context-shift", /* the golden crops at every step (issue 12) */
                              "exact",
                              "--json",
                              cache ? NULL : "--no-cache",
                              NULL};
        cJSON *j = run_json(argv);
        const cJSON *outs = cJSON_GetObjectItem(j, "outputs");
        assert_int_equal(cJSON_GetArraySize(outs), 1);
        const cJSON *o = cJSON_GetArrayItem(outs, 0);
        assert_tokens(o, want, n);
        assert_string_equal(jstr(o, "prompt"), "ROMEO:");
        assert_string_equal(jstr(o, "finish_reason"), "length");
        const char *text = jstr(o, "text"), *gen = jstr(o, "generated");
        assert_int_equal(strlen(text), strlen("ROMEO:") + strlen(gen));
        assert_int_equal(strncmp(text, "ROMEO:", 6), 0);
        assert_string_equal(text + 6, gen);
        assert_int_equal(strlen(gen), 40);
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "tokens_per_s")));
        assert_true(cJSON_GetObjectItem(j, "tokens_per_s")->valuedouble >= 0.0);
        cJSON_Delete(j);
    }
}

static void test_json_sampled_golden(void **state) {
    (void)state;
    int want[128];
    int n = golden_ids("sample_combined", want, 128);
    const char *argv[] = {"tt",
                          "generate",
                          "--model",
                          MODEL,
                          "--prompt",
                          "JULIET:",
                          "--max-new-tokens",
                          "40",
                          "--temperature",
                          "0.8",
                          "--top-k",
                          "10",
                          "--top-p",
                          "0.95",
                          "--seed",
                          "7",
                          "--context-shift", /* the golden crops at every step (issue 12) */
                          "exact",
                          "--json",
                          NULL};
    cJSON *j = run_json(argv);
    assert_tokens(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 0), want, n);
    cJSON_Delete(j);
}

/* Two prompts x 3 samples: 6 outputs, prompt-major; samples differ; the
 * first sample of prompt 0 is row 0, as a single-prompt run. */
static void test_batch_and_samples(void **state) {
    (void)state;
    const char *argv[] = {"tt",
                          "generate",
                          "--model",
                          MODEL,
                          "--prompt",
                          "KING",
                          "--prompt",
                          "To be, or not",
                          "--num-samples",
                          "3",
                          "--max-new-tokens",
                          "25",
                          "--json",
                          NULL};
    cJSON *j = run_json(argv);
    const cJSON *outs = cJSON_GetObjectItem(j, "outputs");
    assert_int_equal(cJSON_GetArraySize(outs), 6);
    for (int i = 0; i < 6; i++) {
        const cJSON *o = cJSON_GetArrayItem(outs, i);
        assert_string_equal(jstr(o, "prompt"), i < 3 ? "KING" : "To be, or not");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "tokens")),
                         (i < 3 ? 4 : 13) + 25);
    }
    assert_string_not_equal(jstr(cJSON_GetArrayItem(outs, 0), "generated"),
                            jstr(cJSON_GetArrayItem(outs, 1), "generated"));
    const char *one[] = {"tt",   "generate",         "--model", MODEL,    "--prompt",
                         "KING", "--max-new-tokens", "25",      "--json", NULL};
    cJSON *j1 = run_json(one);
    assert_string_equal(jstr(cJSON_GetArrayItem(outs, 0), "text"),
                        jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(j1, "outputs"), 0), "text"));
    cJSON_Delete(j1);
    /* --threads: the same tokens on one thread and on three */
    for (int nt = 1; nt <= 3; nt += 2) {
        const char *th[] = {"tt",       "generate", "--model",          MODEL, "--prompt",
                            "KING",     "--prompt", "To be, or not",    "--num-samples",
                            "3",        "--max-new-tokens", "25",       "--json",
                            "--threads", nt == 1 ? "1" : "3", NULL};
        cJSON *jt = run_json(th);
        const cJSON *ot = cJSON_GetObjectItem(jt, "outputs");
        assert_int_equal(cJSON_GetArraySize(ot), 6);
        for (int i = 0; i < 6; i++)
            assert_string_equal(jstr(cJSON_GetArrayItem(ot, i), "text"),
                                jstr(cJSON_GetArrayItem(outs, i), "text"));
        cJSON_Delete(jt);
    }
    cJSON_Delete(j);
}

/* EOS as a character: the row stops at its first newline (kept); with a
 * pad id and a second row that goes on, the finished row is padded. */
static void test_eos_and_pad(void **state) {
    (void)state;
    const char *argv[] = {"tt",     "generate", "--model", MODEL, "--prompt",
                          "ROMEO:", "--greedy", "--eos",   "\n",  "--max-new-tokens",
                          "30",     "--json",   NULL};
    cJSON *j = run_json(argv);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 0);
    assert_string_equal(jstr(o, "finish_reason"), "eos");
    assert_string_equal(jstr(o, "generated"), "\n"); /* the golden's first token is "\n" */
    cJSON_Delete(j);
    const char *pad[] = {
        "tt", "generate", "--model", MODEL, "--prompt", "ROMEO:", "--prompt",
        "a",  "--greedy", "--eos",   "\n",  "--pad-id", "1",      "--max-new-tokens",
        "10", "--json",   NULL};
    j = run_json(pad);
    const cJSON *outs = cJSON_GetObjectItem(j, "outputs");
    o = cJSON_GetArrayItem(outs, 0);
    assert_string_equal(jstr(o, "finish_reason"), "eos");
    assert_int_equal((int)cJSON_GetObjectItem(o, "n_generated")->valuedouble, 1);
    const cJSON *o1 = cJSON_GetArrayItem(outs, 1);
    const int steps = cJSON_GetArraySize(cJSON_GetObjectItem(o1, "tokens")) - 1;
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "tokens")), 6 + steps);
    const cJSON *t = cJSON_GetObjectItem(o, "tokens");
    for (int i = 7; i < 6 + steps; i++)
        assert_int_equal((int)cJSON_GetArrayItem(t, i)->valuedouble, 1);
    cJSON_Delete(j);
}

/* --temperature 0 is greedy (docs/sampling.md): the text of --greedy, with
 * --top-k and --top-p given too, whatever the seed */
static void test_temperature_zero_is_greedy(void **state) {
    (void)state;
    const char *g[] = {"tt", "generate", "--model", MODEL, "--prompt", "ROMEO:", "--greedy",
                       "--max-new-tokens", "30", NULL};
    const char *t0[] = {"tt", "generate", "--model", MODEL, "--prompt", "ROMEO:", "--temperature", "0",
                        "--top-k", "5", "--top-p", "0.9", "--seed", "7", "--max-new-tokens", "30", NULL};
    tt_cli_result a, b;
    assert_int_equal(tt_cli_run(g, NULL, &a), 0);
    assert_int_equal(tt_cli_run(t0, NULL, &b), 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.out, b.out);
    tt_cli_result_free(&a);
    tt_cli_result_free(&b);
}

static void test_plain_and_stream(void **state) {
    (void)state;
    const char *plain[] = {"tt",     "generate", "--model",          MODEL, "--prompt",
                           "ROMEO:", "--greedy", "--max-new-tokens", "40",  NULL};
    const char *stream[] = {"tt",       "generate", "--model",  MODEL,
                            "--prompt", "ROMEO:",   "--greedy", "--max-new-tokens",
                            "40",       "--stream", NULL};
    tt_cli_result a, b;
    assert_int_equal(tt_cli_run(plain, NULL, &a), 0);
    assert_int_equal(tt_cli_run(stream, NULL, &b), 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_int_equal(strncmp(a.out, "ROMEO:\n", 7), 0);
    assert_int_equal(a.out_len, 6 + 40 + 1);
    /* the stream prints the plain output, token by token */
    assert_string_equal(b.out, a.out);
    tt_cli_result_free(&a);
    tt_cli_result_free(&b);
    /* several rows: the same text too (rows one after the other) */
    const char *plain2[] = {
        "tt",       "generate", "--model",       MODEL, "--prompt",         "KING",
        "--prompt", "To be",    "--num-samples", "2",   "--max-new-tokens", "15",
        NULL};
    const char *stream2[] = {
        "tt",       "generate", "--model",       MODEL, "--prompt",         "KING",
        "--prompt", "To be",    "--num-samples", "2",   "--max-new-tokens", "15",
        "--stream", NULL};
    assert_int_equal(tt_cli_run(plain2, NULL, &a), 0);
    assert_int_equal(tt_cli_run(stream2, NULL, &b), 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(b.out, a.out);
    assert_int_equal(strncmp(a.out, "KING", 4), 0);
    tt_cli_result_free(&a);
    tt_cli_result_free(&b);
    /* --json with --stream: JSON on stdout, the stream on stderr */
    const char *js[] = {"tt", "generate", "--model", MODEL, "--prompt", "KING", "--max-new-tokens",
                        "10", "--stream", "--json",  NULL};
    cJSON *j = run_json(js);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "outputs")), 1);
    cJSON_Delete(j);
}

static void expect_exit(const char *const *argv, int status, const char *needle) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != status || !strstr(r.err, needle))
        fprintf(stderr, "status %d, stderr '%s' (wanted %d and '%s')\n", r.status, r.err, status,
                needle);
    assert_int_equal(r.status, status);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, needle));
    /* one line */
    assert_non_null(strchr(r.err, '\n'));
    assert_null(strchr(r.err, '\n') + 1 < r.err + r.err_len ? strchr(strchr(r.err, '\n') + 1, '\n')
                                                            : NULL);
    tt_cli_result_free(&r);
}

static void test_bad_arguments(void **state) {
    (void)state;
#define T(status, needle, ...)                                                                     \
    do {                                                                                           \
        const char *a[] = {"tt", "generate", __VA_ARGS__, NULL};                                   \
        expect_exit(a, status, needle);                                                            \
    } while (0)
    T(2, "--model", "--prompt", "hi");
    T(2, "--prompt", "--model", MODEL);
    T(2, "unknown option '--frobnicate'", "--model", MODEL, "--prompt", "a", "--frobnicate");
    T(2, "--temperature", "--model", MODEL, "--prompt", "a", "--temperature", "-1");
    T(2, "--temperature", "--model", MODEL, "--prompt", "a", "--temperature", "hot");
    T(2, "--top-k", "--model", MODEL, "--prompt", "a", "--top-k", "-1");
    T(2, "--top-p", "--model", MODEL, "--prompt", "a", "--top-p", "0");
    T(2, "--top-p", "--model", MODEL, "--prompt", "a", "--top-p", "1.5");
    T(2, "--max-new-tokens", "--model", MODEL, "--prompt", "a", "--max-new-tokens", "-1");
    T(2, "--num-samples", "--model", MODEL, "--prompt", "a", "--num-samples", "0");
    T(2, "--seed", "--model", MODEL, "--prompt", "a", "--seed", "x");
    T(2, "--eos", "--model", MODEL, "--prompt", "a", "--eos", "ab");
    T(2, "vocabulary", "--model", MODEL, "--prompt", "a", "--eos", "@");
    T(2, "exclusive", "--model", MODEL, "--prompt", "a", "--eos", "a", "--eos-id", "3");
    T(2, "--pad-id", "--model", MODEL, "--prompt", "a", "--pad-id", "3");
    T(2, "--eos-id", "--model", MODEL, "--prompt", "a", "--eos-id", "65");
    T(2, "--pad-id", "--model", MODEL, "--prompt", "a", "--eos-id", "3", "--pad-id", "99");
    T(2, "empty", "--model", MODEL, "--prompt", "");
    T(2, "--prompt 2", "--model", MODEL, "--prompt", "a", "--prompt", "x@y");
    T(2, "needs a value", "--model", MODEL, "--prompt");
    T(2, "--threads", "--model", MODEL, "--prompt", "a", "--threads", "0");
    T(2, "--threads", "--model", MODEL, "--prompt", "a", "--threads", "many");
    T(2, "--threads", "--model", MODEL, "--prompt", "a", "--threads", "257");
    T(2, "missing.safetensors", "--model", "tests/fixtures/missing.safetensors", "--prompt", "a");
    T(2, "--model", "--model", "tests/fixtures/gen_golden.txt", "--prompt",
      "a"); /* not a checkpoint */
#undef T
    tt_cli_result r;
    const char *help[] = {"tt", "generate", "--help", NULL};
    assert_int_equal(tt_cli_run(help, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--num-samples"));
    tt_cli_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_greedy_golden), cmocka_unit_test(test_json_sampled_golden),
        cmocka_unit_test(test_batch_and_samples),  cmocka_unit_test(test_eos_and_pad),
        cmocka_unit_test(test_plain_and_stream),   cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_temperature_zero_is_greedy),
    };
    return cmocka_run_group_tests_name("cli_generate", tests, NULL, NULL);
}
