/* The CLI contract of tt train / tt eval / tt info: flags, --log-json lines,
 * eval --json, info --json, resume, SIGINT (saves, exit 130), bad args (exit 2,
 * one line on stderr, nothing on stdout). Runs $TT_BUILD/tt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <cJSON.h>

#include "util.h"

static char *g_dir;
static char g_data[512], g_out[512], g_log[512];

static const char *path_in(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

#define SMALL_MODEL "--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", "--max-len", "32"

static int setup(void **state) {
    (void)state;
    g_dir = tt_test_tmpdir();
    const char *base = "the cat sat on the mat. the dog sat on the log.\n";
    size_t bl = strlen(base);
    char *text = malloc(bl * 50);
    for (int i = 0; i < 50; i++) memcpy(text + i * bl, base, bl);
    snprintf(g_data, sizeof g_data, "%s/data.txt", g_dir);
    snprintf(g_out, sizeof g_out, "%s/run.safetensors", g_dir);
    snprintf(g_log, sizeof g_log, "%s/log.jsonl", g_dir);
    int rc = tt_test_write_file(g_data, text, bl * 50);
    free(text);
    if (rc) return -1;
    /* the run every other test uses */
    const char *argv[] = {"tt", "train", "--data", g_data, SMALL_MODEL, "--dropout", "0", "--seq-len", "16",
                          "--batch-size", "4", "--max-steps", "12", "--log-interval", "4", "--eval-interval", "6",
                          "--eval-batches", "2", "--seed", "5", "--threads", "1", "--out", g_out, "--log-json",
                          g_log, NULL};
    tt_cli_result r;
    if (tt_cli_run(argv, NULL, &r) != 0 || r.status != 0) {
        fprintf(stderr, "setup train failed (%d): %s\n", r.status, r.err);
        return -1;
    }
    tt_cli_result_free(&r);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static void test_train_outputs(void **state) {
    (void)state;
    /* the files */
    assert_int_equal(access(g_out, F_OK), 0);
    assert_int_equal(access(path_in("run.best.safetensors"), F_OK), 0);
    assert_int_equal(access(path_in("run.state"), F_OK), 0);
    /* --log-json: one object per logged step (4, 8, 12) and per evaluation (6, 12) */
    size_t len;
    char *log = tt_test_read_file(g_log, &len);
    assert_non_null(log);
    int want_steps[] = {4, 6, 8, 12}, k = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"), k++) {
        cJSON *o = cJSON_Parse(line);
        if (!o) fail_msg("not JSON: %s", line);
        assert_true(k < 4);
        assert_int_equal((int)cJSON_GetObjectItem(o, "step")->valuedouble, want_steps[k]);
        double loss = cJSON_GetObjectItem(o, "loss")->valuedouble;
        assert_true(loss > 0 && loss < 5);
        assert_true(cJSON_GetObjectItem(o, "lr")->valuedouble > 0);
        assert_true(cJSON_GetObjectItem(o, "tokens_per_s")->valuedouble > 0);
        cJSON *v = cJSON_GetObjectItem(o, "val_loss");
        if (want_steps[k] == 6 || want_steps[k] == 12) assert_true(cJSON_IsNumber(v) && v->valuedouble > 0);
        else assert_null(v);
        cJSON_Delete(o);
    }
    assert_int_equal(k, 4);
    free(log);
}

static void test_train_header_and_log_lines(void **state) {
    (void)state;
    /* warmup 100 does not fit in 12 steps: capped at 1, and the header says so */
    const char *argv[] = {"tt", "train", "--data", g_data, SMALL_MODEL, "--seq-len", "16", "--batch-size", "2",
                          "--max-steps", "12", "--log-interval", "6", "--val-fraction", "0.2",
                          "--positional", "learned", "--out", path_in("h.safetensors"), NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "warmup capped at 1"));
    assert_non_null(strstr(r.out, "step 6/12"));  /* plain log lines when not a terminal */
    assert_non_null(strstr(r.out, "step 12/12"));
    assert_null(strstr(r.out, "\r"));
    assert_non_null(strstr(r.out, "learned"));
    tt_cli_result_free(&r);
}

static void test_info_json(void **state) {
    (void)state;
    const char *argv[] = {"tt", "info", "--model", g_out, "--json", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    cJSON *c = cJSON_GetObjectItem(o, "config");
    assert_int_equal((int)cJSON_GetObjectItem(c, "d_model")->valuedouble, 16);
    assert_int_equal((int)cJSON_GetObjectItem(c, "n_layers")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItem(c, "positional")->valuestring, "sinusoidal");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "tie_weights")));
    int V = (int)cJSON_GetObjectItem(c, "vocab_size")->valuedouble;
    assert_int_equal(V, 15); /* "\n .acdeghlmnost" */
    cJSON *vocab = cJSON_GetObjectItem(o, "vocab");
    assert_int_equal(cJSON_GetArraySize(vocab), V);
    assert_string_equal(cJSON_GetArrayItem(vocab, 0)->valuestring, "\n");
    assert_string_equal(cJSON_GetArrayItem(vocab, 1)->valuestring, " ");
    /* V*C + per-block 4(C*C+C) + 2*C*F + F + C + 4C, + final 2C (tied, sinusoidal) */
    double want = 15 * 16 + 4 * (16 * 16 + 16) + 2 * 16 * 32 + 32 + 16 + 4 * 16 + 2 * 16;
    assert_true(cJSON_GetObjectItem(o, "parameters")->valuedouble == want);
    cJSON_Delete(o);
    tt_cli_result_free(&r);
    const char *plain[] = {"tt", "info", "--model", g_out, NULL};
    assert_int_equal(tt_cli_run(plain, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "parameters:"));
    assert_non_null(strstr(r.out, "d_model 16"));
    tt_cli_result_free(&r);
}

/* --tensors lists the tensor table: 2 + 16 per block + 3 rows, in order */
static void test_info_tensors(void **state) {
    (void)state;
    const char *argv[] = {"tt", "info", "--model", g_out, "--json", "--tensors", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    cJSON *ts = cJSON_GetObjectItem(o, "tensors");
    assert_int_equal(cJSON_GetArraySize(ts), 2 + 16 + 3);
    cJSON *pe = cJSON_GetArrayItem(ts, 1), *head = cJSON_GetArrayItem(ts, 20);
    assert_string_equal(cJSON_GetObjectItem(pe, "name")->valuestring, "embedding.positional_encoding.pe");
    assert_string_equal(cJSON_GetObjectItem(pe, "init")->valuestring, "sinusoidal");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(pe, "decay")));
    assert_string_equal(cJSON_GetObjectItem(head, "name")->valuestring, "lm_head.weight");
    assert_string_equal(cJSON_GetObjectItem(head, "init")->valuestring, "tied");
    assert_int_equal((int)cJSON_GetArrayItem(cJSON_GetObjectItem(head, "shape"), 0)->valuedouble, 15);
    assert_int_equal((int)cJSON_GetObjectItem(head, "numel")->valuedouble, 15 * 16);
    assert_non_null(cJSON_GetObjectItem(o, "default_context"));
    cJSON_Delete(o);
    tt_cli_result_free(&r);
    const char *plain[] = {"tt", "info", "--model", g_out, "--tensors", NULL};
    assert_int_equal(tt_cli_run(plain, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "tensors:      21 (state-dict order"));
    assert_non_null(strstr(r.out, "blocks.0.norm2.weight"));
    assert_non_null(strstr(r.out, "[16] 16, ones\n"));
    assert_non_null(strstr(r.out, "[32, 16] 512, decay, normal(0, 0.02)\n"));
    tt_cli_result_free(&r);
}

static void test_eval_json(void **state) {
    (void)state;
    const char *argv[] = {"tt", "eval", "--model", g_out, "--text", "the cat sat on the log.", "--json", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    double loss = cJSON_GetObjectItem(o, "loss")->valuedouble;
    double ppl = cJSON_GetObjectItem(o, "perplexity")->valuedouble;
    assert_true(loss > 0 && loss < log(15.0));
    assert_float_equal(ppl, exp(loss), 1e-6 * ppl);
    assert_int_equal((int)cJSON_GetObjectItem(o, "tokens")->valuedouble, 22);
    cJSON_Delete(o);
    tt_cli_result_free(&r);
    /* a longer text than max_len + 1 = 33 tokens: windows; every token after the first counted */
    const char *f[] = {"tt", "eval", "--model", g_out, "--text-file", g_data, "--json", NULL};
    assert_int_equal(tt_cli_run(f, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    o = cJSON_Parse(r.out);
    assert_int_equal((int)cJSON_GetObjectItem(o, "tokens")->valuedouble, 48 * 50 - 1);
    cJSON_Delete(o);
    tt_cli_result_free(&r);
    /* --window 8: 22 predictions in windows of 8, 8 and 6 */
    const char *w[] = {"tt", "eval", "--model", g_out, "--text", "the cat sat on the log.", "--window", "8",
                       "--json", NULL};
    assert_int_equal(tt_cli_run(w, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    o = cJSON_Parse(r.out);
    assert_int_equal((int)cJSON_GetObjectItem(o, "tokens")->valuedouble, 22);
    assert_true(cJSON_GetObjectItem(o, "loss")->valuedouble > 0);
    cJSON_Delete(o);
    tt_cli_result_free(&r);
    const char *plain[] = {"tt", "eval", "--model", g_out, "--text", "the mat", NULL};
    assert_int_equal(tt_cli_run(plain, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "perplexity"));
    tt_cli_result_free(&r);
}

static void test_resume(void **state) {
    (void)state;
    /* continue the setup run from step 12 to 16 (same options) */
    const char *argv[] = {"tt", "train", "--data", g_data, SMALL_MODEL, "--dropout", "0", "--seq-len", "16",
                          "--batch-size", "4", "--max-steps", "16", "--log-interval", "4", "--eval-interval", "6",
                          "--eval-batches", "2", "--seed", "5", "--out", path_in("resumed.safetensors"),
                          "--resume", g_out, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "resuming from"));
    assert_non_null(strstr(r.out, "step 16/16"));
    assert_null(strstr(r.out, "step 12/16"));
    tt_cli_result_free(&r);
    /* another architecture cannot resume it */
    const char *bad[] = {"tt", "train", "--data", g_data, "--d-model", "32", "--n-heads", "2", "--n-layers", "1",
                         "--d-ff", "32", "--max-len", "32", "--seq-len", "16", "--out", path_in("x.safetensors"),
                         "--resume", g_out, NULL};
    assert_int_equal(tt_cli_run(bad, NULL, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--resume"));
    tt_cli_result_free(&r);
}

static void test_val_data_file(void **state) {
    (void)state;
    /* --val-data: the whole --data trains, the other file validates; the
     * tokenizer is fit on both (the 'Z' only occurs in the validation file) */
    const char *val = path_in("val.txt");
    const char *vt = "Zthe cat sat on the log. the dog sat on the mat.\n";
    assert_int_equal(tt_test_write_file(val, vt, strlen(vt)), 0);
    const char *argv[] = {"tt", "train", "--data", g_data, "--val-data", val, SMALL_MODEL, "--seq-len", "16",
                          "--batch-size", "2", "--max-steps", "2", "--out", path_in("v.safetensors"), NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "2400 train + 49 val tokens, vocab 16"));
    assert_non_null(strstr(r.out, "val "));
    tt_cli_result_free(&r);
}

static void expect_usage(const char *const *argv, const char *needle) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 2 || r.out_len != 0 || !strstr(r.err, needle))
        fail_msg("%s %s: exit %d, stdout '%s', stderr '%s' (wanted '%s')", argv[1], argv[2] ? argv[2] : "",
                 r.status, r.out, r.err, needle);
    /* exactly one line */
    assert_true(r.err_len > 0 && r.err[r.err_len - 1] == '\n');
    assert_null(memchr(r.err, '\n', r.err_len - 1));
    tt_cli_result_free(&r);
}

static void test_bad_args(void **state) {
    (void)state;
    const char *o = path_in("bad.safetensors");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--bogus", NULL}, "--bogus");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", "/nonexistent-dir/x.safetensors", NULL},
                 "/nonexistent-dir");
    expect_usage((const char *[]){"tt", "train", "--out", o, NULL}, "--data");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, NULL}, "--out");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--max-steps", "0", NULL}, "--max-steps");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--max-steps", "1x", NULL}, "--max-steps");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--max-steps", NULL}, "--max-steps");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--preset", "huge", NULL}, "huge");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--positional", "rope", NULL}, "rope");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--dropout", "1", NULL}, "--dropout");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--learning-rate", "-1", NULL},
                 "--learning-rate");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--learning-rate", "0", NULL},
                 "--learning-rate");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--val-fraction", "1", NULL},
                 "--val-fraction");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--val-data", g_data,
                                  "--val-fraction", "0.2", NULL},
                 "--val-data");
    expect_usage((const char *[]){"tt", "train", "--data", path_in("missing.txt"), "--out", o, NULL}, "missing.txt");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--val-data", "/dev/null", "--out", o, NULL},
                 "empty");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, SMALL_MODEL, "--seq-len", "64", NULL},
                 "max_len");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--d-model", "30", "--n-heads", "4",
                                  NULL},
                 "d_model");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--threads", "0", NULL}, "--threads");
    expect_usage((const char *[]){"tt", "train", "--data", g_data, "--out", o, "--resume", path_in("nope"), NULL},
                 "nope");
    expect_usage((const char *[]){"tt", "eval", "--model", g_out, NULL}, "--text");
    expect_usage((const char *[]){"tt", "eval", "--model", g_out, "--text", "ab", "--text-file", g_data, NULL},
                 "--text");
    expect_usage((const char *[]){"tt", "eval", "--text", "the", NULL}, "--model");
    expect_usage((const char *[]){"tt", "eval", "--model", g_out, "--text", "the CAT", NULL}, "'C'");
    expect_usage((const char *[]){"tt", "eval", "--model", g_out, "--text", "t", NULL}, "at least 2");
    expect_usage((const char *[]){"tt", "eval", "--model", g_data, "--text", "the", NULL}, "--model");
    expect_usage((const char *[]){"tt", "eval", "--model", g_out, "--text", "the", "--window", "33", NULL},
                 "--window");
    expect_usage((const char *[]){"tt", "eval", "--model", g_out, "--text", "the", "--window", "0", NULL},
                 "--window");
    expect_usage((const char *[]){"tt", "info", NULL}, "--model");
    expect_usage((const char *[]){"tt", "info", "--model", path_in("nope.safetensors"), NULL}, "nope.safetensors");
    expect_usage((const char *[]){"tt", "info", "--model", g_data, NULL}, "--model");
    expect_usage((const char *[]){"tt", "info", "--model", g_out, "--what", NULL}, "--what");
}

static void test_help(void **state) {
    (void)state;
    const char *cmds[] = {"train", "eval", "info"};
    for (int i = 0; i < 3; i++) {
        const char *argv[] = {"tt", cmds[i], "--help", NULL};
        tt_cli_result r;
        assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "usage: tt"));
        tt_cli_result_free(&r);
    }
}

/* SIGINT during training: the run saves and exits 130, and can be resumed */
static void test_sigint_saves(void **state) {
    (void)state;
    const char *out = path_in("int.safetensors"), *log = path_in("int.jsonl");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(tt_cli_path(), "tt", "train", "--data", g_data, "--d-model", "16", "--n-heads", "2", "--n-layers",
              "1", "--d-ff", "32", "--max-len", "32", "--seq-len", "16", "--batch-size", "4", "--max-steps",
              "100000000", "--log-interval", "1", "--out", out, "--log-json", log, (char *)NULL);
        _exit(127);
    }
    /* wait until it logs a step (at most 60 s), then interrupt */
    for (int i = 0; i < 600; i++) {
        size_t len = 0;
        char *s = tt_test_read_file(log, &len);
        free(s);
        if (len > 0) break;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGINT);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    assert_int_equal(access(out, F_OK), 0);
    assert_int_equal(access(path_in("int.state"), F_OK), 0);
    const char *argv[] = {"tt", "info", "--model", out, NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_outputs), cmocka_unit_test(test_train_header_and_log_lines),
        cmocka_unit_test(test_info_json),
        cmocka_unit_test(test_info_tensors),
        cmocka_unit_test(test_eval_json),
        cmocka_unit_test(test_resume),        cmocka_unit_test(test_val_data_file),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_help),          cmocka_unit_test(test_sigint_saves),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
