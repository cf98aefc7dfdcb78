/*
 * The bad-input table (docs/robustness.md), through the real `tt` binary.
 *
 * Every row: the command exits with the documented status (2 for a bad flag
 * or value, 1 or 2 for a bad file), prints exactly one line on stderr that
 * names what is wrong, prints nothing on stdout, and never crashes (a status
 * >= 128 is a signal). Fixtures (a corpus, a tiny checkpoint) are made in a
 * temporary directory at start-up by `tt train` itself.
 *
 * Read-only output directory: the tests run as root, so a chmod'ed directory
 * would still be writable; we use /sys (sysfs: no file can be created there,
 * even by root) and a path under a regular file (/etc/passwd/x: ENOTDIR).
 * Full disk: RLIMIT_FSIZE on the child (inherited through exec) with SIGXFSZ
 * ignored, so a write past the limit fails with EFBIG like a full disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/tokenizer.h"
#include "util.h"

#define MAX_ARGV 64
#define ANY_FAIL (-12) /* exit status 1 or 2 */

/* Under the sanitizers (TT_SANITIZE=1, every tt start costs ~0.5 s) the
 * long tables are sampled: every third value, and checkpoints through info
 * only. The plain build runs every row. */
static int g_stride = 1;

static char *g_dir;
static char g_corpus[512], g_model[512], g_small[512], g_empty[512], g_binary[512], g_one[512];
static const char *g_unreadable = "/proc/self/mem"; /* readable mode, read() fails with EIO */

static const char *CORPUS_LINE = "hello world this is a test of the text generation system. ";

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

/* ---- running tt and checking what the user sees ------------------------- */

static void show(const char *const *argv, const tt_cli_result *r) {
    fprintf(stderr, "command:");
    for (int i = 0; argv[i]; i++) fprintf(stderr, " '%s'", argv[i]);
    fprintf(stderr, "\nstatus %d\nstdout: %.400s\nstderr: %.800s\n", r->status, r->out, r->err);
}

static const char *ci_strstr(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return hay;
    return n == 0 ? hay : NULL;
}
#define strcasestr ci_strstr

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* True when msg names the flag: "--top-p", "top-p" or "top_p" (any case). */
static int names(const char *msg, const char *what) {
    if (!what || !*what) return 1;
    char alt[128];
    /* '|' separates alternatives */
    const char *p = what;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n >= sizeof alt) n = sizeof alt - 1;
        memcpy(alt, p, n);
        alt[n] = '\0';
        if (strcasestr(msg, alt)) return 1;
        const char *bare = alt;
        while (*bare == '-') bare++;
        if (*bare && strcasestr(msg, bare)) return 1;
        char under[128];
        snprintf(under, sizeof under, "%s", bare);
        for (char *c = under; *c; c++)
            if (*c == '-') *c = '_';
        if (*under && strcasestr(msg, under)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* Rows that failed in the current test: every row is checked and reported,
 * then the test fails once at its end (ROWS_DONE) if any row did. */
static int g_bad_rows;
#define ROWS_DONE()                                                                \
    do {                                                                           \
        int bad_ = g_bad_rows;                                                     \
        g_bad_rows = 0;                                                            \
        if (bad_) fprintf(stderr, "%d row(s) of this test failed\n", bad_);        \
        assert_int_equal(bad_, 0);                                                 \
    } while (0)

/* Runs argv; checks the failure contract. Returns the status. */
static int expect_failv(int want, const char *needle, const char *const *argv, const char *stdin_text,
                        int allow_stdout) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, stdin_text, &r), 0);
    int ok = r.status < 128 && r.status != 0;
    if (want == ANY_FAIL) ok = ok && (r.status == 1 || r.status == 2);
    else ok = ok && r.status == want;
    if (!allow_stdout) ok = ok && r.out_len == 0;
    /* exactly one line, starting "tt" */
    ok = ok && r.err_len > 0 && r.err[r.err_len - 1] == '\n' && count_lines(r.err) == 1 &&
         strncmp(r.err, "tt", 2) == 0;
    ok = ok && names(r.err, needle);
    if (!ok) {
        fprintf(stderr, "---- row failed\n");
        show(argv, &r);
        fprintf(stderr, "expected: status %s, one line on stderr naming '%s'%s\n",
                want == ANY_FAIL ? "1 or 2" : (want == 2 ? "2" : "1"), needle ? needle : "",
                allow_stdout ? "" : ", empty stdout");
        g_bad_rows++;
    }
    int st = r.status;
    tt_cli_result_free(&r);
    return st;
}

static void build_argv(const char **argv, const char *first, va_list ap) {
    int n = 0;
    argv[n++] = "tt";
    for (const char *a = first; a && n < MAX_ARGV - 1; a = va_arg(ap, const char *)) argv[n++] = a;
    argv[n] = NULL;
}

/* expect_fail(2, "--top-p", "sample", "--logits", "1,2", "--top-p", "0", NULL) */
static int expect_fail(int want, const char *needle, const char *first, ...) {
    const char *argv[MAX_ARGV];
    va_list ap;
    va_start(ap, first);
    build_argv(argv, first, ap);
    va_end(ap);
    return expect_failv(want, needle, argv, NULL, 0);
}

static tt_cli_result run_ok(const char *stdin_text, const char *first, ...) {
    const char *argv[MAX_ARGV];
    va_list ap;
    va_start(ap, first);
    build_argv(argv, first, ap);
    va_end(ap);
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, stdin_text, &r), 0);
    if (r.status != 0) show(argv, &r);
    assert_int_equal(r.status, 0);
    return r;
}

/* ---- fixtures ----------------------------------------------------------- */

static const char *TINY[] = {"--d-model", "16",    "--n-heads",    "2",  "--n-layers",  "1",
                             "--d-ff",    "32",    "--max-len",    "32", "--seq-len",   "16",
                             "--batch-size", "4",  "--log-interval", "1", NULL};

static void train_tiny(const char *data, const char *out, int steps, const char *extra) {
    const char *argv[MAX_ARGV];
    int n = 0;
    char steps_s[16];
    snprintf(steps_s, sizeof steps_s, "%d", steps);
    argv[n++] = "tt";
    argv[n++] = "train";
    argv[n++] = "--data";
    argv[n++] = data;
    argv[n++] = "--out";
    argv[n++] = out;
    argv[n++] = "--max-steps";
    argv[n++] = steps_s;
    for (int i = 0; TINY[i]; i++) argv[n++] = TINY[i];
    if (extra) argv[n++] = extra;
    argv[n] = NULL;
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) show(argv, &r);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
}

static int setup_all(void **state) {
    (void)state;
    const char *san = getenv("TT_SANITIZE");
    if (san && *san && strcmp(san, "0")) g_stride = 3;
    g_dir = tt_test_tmpdir();
    if (!g_dir) return -1;
    path_in(g_corpus, sizeof g_corpus, "corpus.txt");
    path_in(g_model, sizeof g_model, "m.safetensors");
    path_in(g_small, sizeof g_small, "small.txt");
    path_in(g_empty, sizeof g_empty, "empty.txt");
    path_in(g_binary, sizeof g_binary, "binary.bin");
    path_in(g_one, sizeof g_one, "one.txt");
    size_t ln = strlen(CORPUS_LINE);
    char *text = malloc(ln * 20 + 1);
    if (!text) return -1;
    for (int i = 0; i < 20; i++) memcpy(text + ln * (size_t)i, CORPUS_LINE, ln);
    text[ln * 20] = '\0';
    int rc = tt_test_write_file(g_corpus, text, strlen(text));
    free(text);
    rc |= tt_test_write_file(g_small, "hello world", 11);
    rc |= tt_test_write_file(g_empty, "", 0);
    static const unsigned char bin[] = {0x7f, 'E', 'L', 'F', 0xff, 0xfe, 0x00, 0xc0, 0x80, 0xed, 0xa0, 0x80, 'h', 0x9f};
    rc |= tt_test_write_file(g_binary, bin, sizeof bin);
    char ones[200];
    memset(ones, 'a', sizeof ones);
    rc |= tt_test_write_file(g_one, ones, sizeof ones);
    return rc ? -1 : 0;
}

static int teardown_all(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static int have_model;
static void need_model(void) {
    if (have_model) return;
    train_tiny(g_corpus, g_model, 3, NULL);
    have_model = 1;
}

/* ---- 1. numeric flags ------------------------------------------------------ */

typedef enum { K_INT, K_FLOAT, K_U64, K_LIST } flag_kind;

typedef struct {
    const char *cmd;
    const char *flag;
    flag_kind kind;
} num_flag;

static const num_flag NUM_FLAGS[] = {
    {"sample", "--temperature", K_FLOAT}, {"sample", "--top-k", K_INT},
    {"sample", "--top-p", K_FLOAT},       {"sample", "--draws", K_INT},
    {"sample", "--seed", K_U64},
    {"train", "--seq-len", K_INT},        {"train", "--batch-size", K_INT},
    {"train", "--max-steps", K_INT},      {"train", "--learning-rate", K_FLOAT},
    {"train", "--weight-decay", K_FLOAT}, {"train", "--warmup-steps", K_INT},
    {"train", "--grad-clip", K_FLOAT},    {"train", "--eval-interval", K_INT},
    {"train", "--eval-batches", K_INT},   {"train", "--log-interval", K_INT},
    {"train", "--save-interval", K_INT},  {"train", "--seed", K_U64},
    {"train", "--threads", K_INT},        {"train", "--d-model", K_INT},
    {"train", "--n-heads", K_INT},        {"train", "--n-layers", K_INT},
    {"train", "--d-ff", K_INT},           {"train", "--max-len", K_INT},
    {"train", "--dropout", K_FLOAT},      {"train", "--val-fraction", K_FLOAT},
    {"eval", "--threads", K_INT},
    {"generate", "--max-new-tokens", K_INT}, {"generate", "--temperature", K_FLOAT},
    {"generate", "--top-k", K_INT},       {"generate", "--top-p", K_FLOAT},
    {"generate", "--seed", K_U64},        {"generate", "--num-samples", K_INT},
    {"generate", "--eos-id", K_INT},      {"generate", "--pad-id", K_INT},
    {"diversity", "--samples", K_INT},    {"diversity", "--max-new-tokens", K_INT},
    {"diversity", "--top-k", K_INT},      {"diversity", "--top-p", K_FLOAT},
    {"diversity", "--temperatures", K_LIST},
    {"diversity", "--seed", K_U64},
    {"chat", "--temperature", K_FLOAT},   {"chat", "--top-k", K_INT},
    {"chat", "--top-p", K_FLOAT},         {"chat", "--max-new-tokens", K_INT},
    {"chat", "--seed", K_U64},            {"chat", "--eos-id", K_INT},
    {"tour", "--seed", K_U64},            {"tour", "--train-steps", K_INT},
    {"generate", "--context", K_INT},     {"chat", "--context", K_INT},
    {"diversity", "--context", K_INT},    {"tour", "--context", K_INT},
};

/* Values that are wrong for every flag of the kind. */
static const char *const BAD_INT[] = {"abc", "nan", "1.5", "1e3", "0x10", "-5", "99999999999999999999",
                                      "2147483648", "", " 7", "7 ", NULL};
static const char *const BAD_FLOAT[] = {"abc", "nan", "NaN", "inf", "-inf", "1e999", "-1e999", "", "1.5x",
                                        NULL};
static const char *const BAD_U64[] = {"abc", "nan", "-1", " -1", "1.5", "18446744073709551616",
                                      "99999999999999999999999", "", NULL};
static const char *const BAD_LIST[] = {"abc", "0.1,abc", "0.1,,0.5", "nan", "-1", "", ",", NULL};

/* Values in range for the type but out of range for the flag. */
static const struct {
    const char *cmd, *flag, *value;
} OUT_OF_RANGE[] = {
    {"sample", "--temperature", "-0.5"}, {"sample", "--temperature", "-1"},
    {"sample", "--top-p", "0"},          {"sample", "--top-p", "1.5"},
    {"sample", "--top-p", "-0.5"},       {"sample", "--top-k", "-1"},
    {"sample", "--draws", "0"},          {"sample", "--draws", "-3"},
    {"train", "--seq-len", "0"},         {"train", "--batch-size", "0"},
    {"train", "--max-steps", "0"},       {"train", "--learning-rate", "0"},
    {"train", "--learning-rate", "-1"},  {"train", "--weight-decay", "-0.5"},
    {"train", "--warmup-steps", "-1"},   {"train", "--grad-clip", "-1"},
    {"train", "--eval-interval", "-1"},  {"train", "--eval-batches", "0"},
    {"train", "--log-interval", "0"},    {"train", "--save-interval", "-1"},
    {"train", "--threads", "0"},         {"train", "--threads", "100000"},
    {"train", "--d-model", "0"},         {"train", "--n-heads", "0"},
    {"train", "--n-heads", "3"},         {"train", "--n-layers", "0"},
    {"train", "--d-ff", "0"},            {"train", "--max-len", "0"},
    {"train", "--max-len", "8"},         {"train", "--dropout", "1"},
    {"train", "--dropout", "-0.1"},      {"train", "--val-fraction", "1"},
    {"train", "--val-fraction", "-0.1"}, {"train", "--preset", "huge"},
    {"train", "--positional", "rotary"}, {"eval", "--threads", "0"},
    {"generate", "--max-new-tokens", "-1"}, {"generate", "--temperature", "-1"},
    {"generate", "--top-k", "-1"},       {"generate", "--top-p", "0"},
    {"generate", "--top-p", "1.01"},     {"generate", "--num-samples", "0"},
    {"generate", "--eos-id", "999"},     {"generate", "--pad-id", "999"},
    {"generate", "--eos-id", "-5"},      {"generate", "--eos", "ab"},
    {"generate", "--eos", "Z"},          {"diversity", "--samples", "0"},
    {"diversity", "--max-new-tokens", "-1"}, {"diversity", "--top-k", "-1"},
    {"diversity", "--top-p", "0"},       {"diversity", "--temperatures", "-0.5"},
    {"sample", "--strategy", "nucleus"},
    {"chat", "--temperature", "-1"},     {"chat", "--top-p", "0"},
    {"chat", "--top-k", "-1"},           {"chat", "--eos-id", "999"},
    {"tour", "--train-steps", "0"},
    {"generate", "--context", "0"},      {"generate", "--context", "100000"},
    {"generate", "--context-shift", "quarter"}, {"chat", "--context", "0"},
    {"chat", "--context-shift", "HALF"}, {"diversity", "--context", "100000"},
    {"diversity", "--context-shift", ""}, {"tour", "--context", "100000"},
    {"tour", "--context-shift", "both"},
};

/* A valid command line for cmd (the bad flag goes after it). */
static int base_args(const char *cmd, const char **argv, char *scratch, size_t cap) {
    int n = 0;
    argv[n++] = "tt";
    argv[n++] = cmd;
    if (!strcmp(cmd, "sample")) {
        argv[n++] = "--logits";
        argv[n++] = "1.5,2.8,2.5,0.5";
    } else if (!strcmp(cmd, "train")) {
        snprintf(scratch, cap, "%s/never.safetensors", g_dir);
        argv[n++] = "--data";
        argv[n++] = g_corpus;
        argv[n++] = "--out";
        argv[n++] = scratch;
        argv[n++] = "--max-steps";
        argv[n++] = "1";
        for (int i = 0; TINY[i]; i++) argv[n++] = TINY[i];
    } else if (!strcmp(cmd, "eval")) {
        argv[n++] = "--model";
        argv[n++] = g_model;
        argv[n++] = "--text";
        argv[n++] = "hello world";
    } else if (!strcmp(cmd, "generate") || !strcmp(cmd, "diversity")) {
        argv[n++] = "--model";
        argv[n++] = g_model;
        argv[n++] = "--prompt";
        argv[n++] = "hello";
        argv[n++] = "--max-new-tokens";
        argv[n++] = "2";
        if (!strcmp(cmd, "diversity")) {
            argv[n++] = "--samples";
            argv[n++] = "2";
        }
    } else if (!strcmp(cmd, "tour")) {
        snprintf(scratch, cap, "%s/tour-never", g_dir);
        argv[n++] = "--no-plots";
        argv[n++] = "--out";
        argv[n++] = scratch;
    } else if (!strcmp(cmd, "info") || !strcmp(cmd, "chat")) {
        argv[n++] = "--model";
        argv[n++] = g_model;
    }
    return n;
}

static void expect_bad_value(const char *cmd, const char *flag, const char *value, int joined) {
    /* the library's field name is accepted too (chat reports eos_token_id) */
    char needle[200];
    snprintf(needle, sizeof needle, "%s%s", flag, !strcmp(flag, "--eos-id") ? "|eos_token_id" : "");
    const char *argv[MAX_ARGV];
    char scratch[600], eq[256];
    int n = base_args(cmd, argv, scratch, sizeof scratch);
    if (joined) {
        snprintf(eq, sizeof eq, "%s=%s", flag, value);
        argv[n++] = eq;
    } else {
        argv[n++] = flag;
        argv[n++] = value;
    }
    argv[n] = NULL;
    expect_failv(2, needle, argv, NULL, 0);
}

static void test_numeric_flags_malformed(void **state) {
    (void)state;
    need_model();
    for (size_t i = 0; i < sizeof NUM_FLAGS / sizeof *NUM_FLAGS; i++) {
        const char *const *bad = NUM_FLAGS[i].kind == K_INT     ? BAD_INT
                                 : NUM_FLAGS[i].kind == K_FLOAT ? BAD_FLOAT
                                 : NUM_FLAGS[i].kind == K_U64   ? BAD_U64
                                                                : BAD_LIST;
        for (int j = 0; bad[j]; j++)
            if ((int)((i + (size_t)j) % (size_t)g_stride) == 0)
                expect_bad_value(NUM_FLAGS[i].cmd, NUM_FLAGS[i].flag, bad[j], j % 2);
    }
    ROWS_DONE();
}

static void test_numeric_flags_out_of_range(void **state) {
    (void)state;
    need_model();
    for (size_t i = 0; i < sizeof OUT_OF_RANGE / sizeof *OUT_OF_RANGE; i += (size_t)g_stride)
        expect_bad_value(OUT_OF_RANGE[i].cmd, OUT_OF_RANGE[i].flag, OUT_OF_RANGE[i].value, 0);
    ROWS_DONE();
}

/* A flag at the end of the line without its value. */
static void test_flag_without_value(void **state) {
    (void)state;
    need_model();
    for (size_t i = 0; i < sizeof NUM_FLAGS / sizeof *NUM_FLAGS; i++) {
        const char *argv[MAX_ARGV];
        char scratch[600];
        int n = base_args(NUM_FLAGS[i].cmd, argv, scratch, sizeof scratch);
        argv[n++] = NUM_FLAGS[i].flag;
        argv[n] = NULL;
        expect_failv(2, NUM_FLAGS[i].flag, argv, NULL, 0);
    }
    ROWS_DONE();
}

/* ---- 2. unknown flags, subcommands, arguments ------------------------------ */

static const char *const COMMANDS[] = {"sample", "train", "eval", "info", "generate", "chat", "tour", "diversity"};

static void test_unknown_flags_and_commands(void **state) {
    (void)state;
    need_model();
    expect_fail(2, "frobnicate", "frobnicate", NULL);
    expect_fail(2, "SAMPLE", "SAMPLE", NULL);
    expect_fail(2, "--frobnicate", "--frobnicate", NULL);
    {
        const char *argv[] = {"tt", NULL};
        tt_cli_result r;
        assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
        assert_int_equal(r.status, 2); /* usage on stderr */
        assert_int_equal(r.out_len, 0);
        assert_true(strstr(r.err, "usage") != NULL);
        tt_cli_result_free(&r);
    }
    for (size_t c = 0; c < sizeof COMMANDS / sizeof *COMMANDS; c++) {
        const char *argv[MAX_ARGV];
        char scratch[600];
        int n = base_args(COMMANDS[c], argv, scratch, sizeof scratch);
        argv[n] = "--frobnicate";
        argv[n + 1] = NULL;
        expect_failv(2, "--frobnicate", argv, NULL, 0);
        argv[n] = "-x";
        expect_failv(2, "-x", argv, NULL, 0);
        argv[n] = "stray";
        expect_failv(2, "stray", argv, NULL, 0);
        argv[n] = "--seed=";
        if (strcmp(COMMANDS[c], "info") && strcmp(COMMANDS[c], "eval") && strcmp(COMMANDS[c], "chat"))
            expect_failv(2, "--seed", argv, NULL, 0);
        /* --help always works and prints to stdout only */
        const char *help[] = {"tt", COMMANDS[c], "--help", NULL};
        tt_cli_result r;
        assert_int_equal(tt_cli_run(help, NULL, &r), 0);
        if (r.status != 0 || r.out_len == 0 || r.err_len != 0) show(help, &r);
        assert_int_equal(r.status, 0);
        assert_true(r.out_len > 0);
        assert_int_equal(r.err_len, 0);
        tt_cli_result_free(&r);
    }
    ROWS_DONE();
}

/* Required arguments missing. */
static void test_missing_required(void **state) {
    (void)state;
    expect_fail(2, "--data", "train", "--out", "x.safetensors", NULL);
    expect_fail(2, "--out", "train", "--data", g_corpus, NULL);
    expect_fail(2, "--model", "info", NULL);
    expect_fail(2, "--model", "eval", "--text", "hello", NULL);
    expect_fail(2, "--model", "generate", "--prompt", "hello", NULL);
    expect_fail(2, "--model", "diversity", "--prompt", "hello", NULL);
    expect_fail(2, "--model", "chat", NULL);
    expect_fail(2, "--logits", "sample", NULL);
    ROWS_DONE();
}

/* ---- 3. input files --------------------------------------------------------- */

typedef struct {
    const char *cmd, *flag;
} file_flag;

static const file_flag FILE_FLAGS[] = {
    {"train", "--data"},    {"train", "--val-data"}, {"train", "--resume"},   {"eval", "--text-file"},
    {"eval", "--model"},    {"info", "--model"},     {"generate", "--model"}, {"diversity", "--model"},
    {"chat", "--model"},    {"sample", "--logits-file"},
};

/* The command line with `flag PATH` as the file under test. */
static void file_case(const file_flag *ff, const char *path, const char *needle) {
    const char *argv[MAX_ARGV];
    char out[600];
    int n = 0;
    argv[n++] = "tt";
    argv[n++] = ff->cmd;
    if (!strcmp(ff->cmd, "train")) {
        snprintf(out, sizeof out, "%s/never.safetensors", g_dir);
        if (strcmp(ff->flag, "--data")) {
            argv[n++] = "--data";
            argv[n++] = g_corpus;
        }
        argv[n++] = "--out";
        argv[n++] = out;
        argv[n++] = "--max-steps";
        argv[n++] = "1";
        for (int i = 0; TINY[i]; i++) argv[n++] = TINY[i];
    } else if (!strcmp(ff->cmd, "eval")) {
        if (!strcmp(ff->flag, "--model")) {
            argv[n++] = "--text";
            argv[n++] = "hello world";
        } else {
            argv[n++] = "--model";
            argv[n++] = g_model;
        }
    } else if (!strcmp(ff->cmd, "generate") || !strcmp(ff->cmd, "diversity")) {
        argv[n++] = "--prompt";
        argv[n++] = "hello";
    }
    argv[n++] = ff->flag;
    argv[n++] = path;
    argv[n] = NULL;
    expect_failv(ANY_FAIL, needle, argv, "hello\n/quit\n", 0);
}

static void test_input_files(void **state) {
    (void)state;
    need_model();
    char missing[600];
    path_in(missing, sizeof missing, "no-such-file.txt");
    for (size_t i = 0; i < sizeof FILE_FLAGS / sizeof *FILE_FLAGS; i++) {
        const file_flag *ff = &FILE_FLAGS[i];
        char needle[700];
        snprintf(needle, sizeof needle, "%s", missing);
        file_case(ff, missing, needle);
        file_case(ff, g_dir, g_dir); /* a directory */
        file_case(ff, g_unreadable, g_unreadable);
        snprintf(needle, sizeof needle, "%s|%s|empty", g_empty, ff->flag);
        file_case(ff, g_empty, needle);
        snprintf(needle, sizeof needle, "%s|%s|UTF-8|utf8", g_binary, ff->flag);
        file_case(ff, g_binary, needle);
    }
    ROWS_DONE();
}

/* ---- 4. prompts and texts --------------------------------------------------- */

static void test_prompts(void **state) {
    (void)state;
    need_model();
    /* characters outside the vocabulary (Z, q, é are not in the corpus) */
    expect_fail(2, "--prompt|vocab", "generate", "--model", g_model, "--prompt", "Zq", NULL);
    expect_fail(2, "--prompt|vocab", "generate", "--model", g_model, "--prompt", "hello", "--prompt",
                "caf\xc3\xa9", NULL);
    expect_fail(2, "--prompt|vocab", "diversity", "--model", g_model, "--prompt", "Zq", NULL);
    expect_fail(2, "--text|vocab", "eval", "--model", g_model, "--text", "Zebra", NULL);
    /* invalid UTF-8 in an argument */
    expect_fail(2, "--prompt|UTF-8", "generate", "--model", g_model, "--prompt", "h\xff", NULL);
    /* empty prompts and texts */
    expect_fail(2, "--prompt|empty", "generate", "--model", g_model, "--prompt", "", NULL);
    expect_fail(2, "--prompt|empty", "diversity", "--model", g_model, "--prompt", "", NULL);
    expect_fail(2, "--text", "eval", "--model", g_model, "--text", "", NULL);
    expect_fail(2, "--text|token", "eval", "--model", g_model, "--text", "h", NULL);

    /* a prompt longer than max_len (32): the context is cropped, not an error */
    char long_prompt[400] = "";
    while (strlen(long_prompt) + 6 < 200) strcat(long_prompt, "hello ");
    tt_cli_result r = run_ok(NULL, "generate", "--model", g_model, "--prompt", long_prompt,
                             "--max-new-tokens", "5", "--json", NULL);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 0);
    assert_non_null(o);
    cJSON *tok = cJSON_GetObjectItem(o, "tokens");
    assert_int_equal(cJSON_GetArraySize(tok), (int)strlen(long_prompt) + 5);
    assert_int_equal(strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "text")), long_prompt,
                             strlen(long_prompt)),
                     0);
    cJSON_Delete(j);
    tt_cli_result_free(&r);
    /* a text longer than max_len + 1: evaluated in windows */
    r = run_ok(NULL, "eval", "--model", g_model, "--text", long_prompt, "--json", NULL);
    j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "tokens")), (int)strlen(long_prompt) - 1);
    cJSON_Delete(j);
    tt_cli_result_free(&r);
    ROWS_DONE();
}

/* chat: bad input on stdin is answered and the session goes on. */
static void test_chat_bad_input(void **state) {
    (void)state;
    need_model();
    tt_cli_result r = run_ok("Zebra\n/temp abc\n/temp -1\n/topk -3\n/topp 2\n/len -1\n/seed x\n/bogus\n\nhello\n/quit\n",
                             "chat", "--model", g_model, NULL);
    /* one message per bad line (7 commands + the unknown character) */
    assert_true(count_lines(r.err) >= 7);
    assert_true(strstr(r.err, "Z") != NULL);
    tt_cli_result_free(&r);
    /* end of input without /quit ends the session normally */
    r = run_ok("hello\n", "chat", "--model", g_model, NULL);
    tt_cli_result_free(&r);
    ROWS_DONE();
}

/* ---- 5. degenerate corpora ---------------------------------------------------- */

static void test_vocab_of_one(void **state) {
    (void)state;
    char out[600];
    path_in(out, sizeof out, "one.safetensors");
    train_tiny(g_one, out, 2, "--val-fraction=0");
    tt_cli_result r = run_ok(NULL, "generate", "--model", out, "--prompt", "a", "--max-new-tokens", "5", NULL);
    assert_true(strstr(r.out, "aaaaaa") != NULL);
    tt_cli_result_free(&r);
    r = run_ok(NULL, "info", "--model", out, "--json", NULL);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    cJSON *cfg = cJSON_GetObjectItem(j, "config");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cfg ? cfg : j, "vocab_size")), 1);
    cJSON_Delete(j);
    tt_cli_result_free(&r);
    ROWS_DONE();
}

static void test_seq_len_vs_corpus(void **state) {
    (void)state;
    char out[600];
    path_in(out, sizeof out, "seqlen-never.safetensors");
    /* 11 characters cannot make one window of 16 + 1 */
    expect_fail(2, "--seq-len", "train", "--data", g_small, "--out", out, "--seq-len", "16", "--max-len", "32",
                "--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", "--val-fraction", "0",
                NULL);
    /* seq_len beyond the model's max_len */
    expect_fail(2, "--seq-len|max_len", "train", "--data", g_corpus, "--out", out, "--seq-len", "64", "--max-len",
                "32", "--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", NULL);
    /* a validation split too small for one window */
    expect_fail(2, "--val-fraction|valid", "train", "--data", g_corpus, "--out", out, "--seq-len", "16", "--max-len",
                "32", "--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", "--val-fraction",
                "0.001", NULL);
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0); /* nothing written */
    ROWS_DONE();
}

/* ---- 6. memory limits: fail up front with the number ------------------------ */

static int has_size(const char *msg) {
    int digit = 0;
    for (const char *p = msg; *p; p++) digit |= (*p >= '0' && *p <= '9');
    return digit && (strcasestr(msg, "byte") || strstr(msg, "MB") || strstr(msg, "GB") || strstr(msg, "TB") ||
                     strstr(msg, "MiB") || strstr(msg, "GiB") || strstr(msg, "TiB"));
}

static void test_memory_limits(void **state) {
    (void)state;
    need_model();
    char out[600];
    path_in(out, sizeof out, "never.safetensors");
    const char *cases[][MAX_ARGV] = {
        /* ~2e14 bytes of parameters */
        {"tt", "train", "--data", g_corpus, "--out", out, "--d-model", "65536", "--n-heads", "1", "--n-layers",
         "1024", "--d-ff", "262144", "--max-len", "64", "--seq-len", "16", "--max-steps", "1", NULL},
        /* a small model with a batch whose activations need ~1e13 bytes */
        {"tt", "train", "--data", g_corpus, "--out", out, "--d-model", "16", "--n-heads", "2", "--n-layers", "1",
         "--d-ff", "32", "--max-len", "1048576", "--seq-len", "1024", "--batch-size", "1048576", "--max-steps", "1",
         "--val-fraction", "0", NULL},
        /* 100000 rows x 1e6 new tokens: ~1e11 token slots (and per-step entropies) */
        {"tt", "generate", "--model", g_model, "--prompt", "hello", "--num-samples", "100000", "--max-new-tokens",
         "1000000", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tt_cli_result r;
        assert_int_equal(tt_cli_run(cases[i], NULL, &r), 0);
        int ok = (r.status == 1 || r.status == 2) && has_size(r.err) && count_lines(r.err) == 1;
        if (!ok) {
            show(cases[i], &r);
            fprintf(stderr, "expected: exit 1 or 2 up front, one line giving the bytes needed\n");
        }
        tt_cli_result_free(&r);
        assert_true(ok);
    }
    ROWS_DONE();
}

/* ---- 7. corrupt checkpoints ------------------------------------------------------ */

typedef struct {
    unsigned char *bytes;
    size_t len;
    uint64_t hlen;
    cJSON *header;
} ckpt;

static void ckpt_read(ckpt *c, const char *path) {
    size_t len = 0;
    char *b = tt_test_read_file(path, &len);
    assert_non_null(b);
    assert_true(len > 8);
    c->bytes = (unsigned char *)b;
    c->len = len;
    c->hlen = 0;
    for (int i = 7; i >= 0; i--) c->hlen = (c->hlen << 8) | c->bytes[i];
    assert_true(c->hlen + 8 <= len);
    char *h = malloc(c->hlen + 1);
    memcpy(h, c->bytes + 8, c->hlen);
    h[c->hlen] = '\0';
    c->header = cJSON_Parse(h);
    free(h);
    assert_non_null(c->header);
}

static void ckpt_free(ckpt *c) {
    free(c->bytes);
    cJSON_Delete(c->header);
}

static size_t data_len(const ckpt *c) { return c->len - 8 - c->hlen; }
static const unsigned char *data_of(const ckpt *c) { return c->bytes + 8 + c->hlen; }

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes header text + data (+ extra bytes) as a safetensors file. */
static void write_st(const char *path, const char *header, const unsigned char *data, size_t n_data,
                     const unsigned char *extra, size_t n_extra) {
    size_t hl = strlen(header);
    size_t total = 8 + hl + n_data + n_extra;
    unsigned char *b = malloc(total);
    put_le64(b, hl);
    memcpy(b + 8, header, hl);
    if (n_data) memcpy(b + 8 + hl, data, n_data);
    if (n_extra) memcpy(b + 8 + hl + n_data, extra, n_extra);
    assert_int_equal(tt_test_write_file(path, b, total), 0);
    free(b);
}

static void write_json(const char *path, const ckpt *c, cJSON *h, const unsigned char *extra, size_t n_extra) {
    char *s = cJSON_PrintUnformatted(h);
    write_st(path, s, data_of(c), data_len(c), extra, n_extra);
    free(s);
}

/* The checkpoint at `path` must be refused by info and generate. */
static void expect_refused(const char *path, const char *needle) {
    expect_fail(ANY_FAIL, needle, "info", "--model", path, NULL);
    if (g_stride == 1)
        expect_fail(ANY_FAIL, needle, "generate", "--model", path, "--prompt", "hello", "--max-new-tokens", "2", NULL);
}

static cJSON *tensor(cJSON *h, const char *name) {
    cJSON *t = cJSON_GetObjectItem(h, name);
    assert_non_null(t);
    return t;
}

static void set_offsets(cJSON *t, double a, double b) {
    cJSON_ReplaceItemInObject(t, "data_offsets", cJSON_CreateDoubleArray((double[]){a, b}, 2));
}

static double offset(cJSON *t, int i) {
    return cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), i));
}

static cJSON *meta_config(cJSON *h) {
    cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    return cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "config")));
}

static void set_meta_string(cJSON *h, const char *key, const char *value) {
    cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    cJSON_ReplaceItemInObject(meta, key, cJSON_CreateString(value));
}

static void set_config_field(cJSON *h, const char *key, double v) {
    cJSON *cfg = meta_config(h);
    assert_non_null(cfg);
    cJSON_ReplaceItemInObject(cfg, key, cJSON_CreateNumber(v));
    char *s = cJSON_PrintUnformatted(cfg);
    set_meta_string(h, "config", s);
    free(s);
    cJSON_Delete(cfg);
}

#define W_Q "blocks.0.self_attn.W_q.weight"
#define W_K "blocks.0.self_attn.W_k.weight"
#define FC1 "blocks.0.feed_forward.fc1.weight"
#define LNF_B "ln_f.bias"
#define EMB "embedding.token_embedding.embedding.weight"

static void test_checkpoint_truncated(void **state) {
    (void)state;
    need_model();
    ckpt c;
    ckpt_read(&c, g_model);
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    size_t cuts[] = {0, 4, 7, 8, 9, 8 + (size_t)c.hlen / 2, 8 + (size_t)c.hlen, 8 + (size_t)c.hlen + 3,
                     8 + (size_t)c.hlen + data_len(&c) / 2, c.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        assert_int_equal(tt_test_write_file(p, c.bytes, cuts[i]), 0);
        expect_refused(p, NULL);
    }
    /* trailing garbage after the last tensor is also refused (the data size
     * must match the offsets) */
    unsigned char *b = malloc(c.len + 3);
    memcpy(b, c.bytes, c.len);
    memset(b + c.len, 0xAB, 3);
    assert_int_equal(tt_test_write_file(p, b, c.len + 3), 0);
    expect_refused(p, NULL);
    free(b);
    ckpt_free(&c);
    ROWS_DONE();
}

static void test_checkpoint_header_length(void **state) {
    (void)state;
    need_model();
    ckpt c;
    ckpt_read(&c, g_model);
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    uint64_t lens[] = {c.len, c.len - 7, (uint64_t)1 << 40, UINT64_MAX, (uint64_t)1 << 63, 0, 1, c.hlen - 1};
    unsigned char *b = malloc(c.len);
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        memcpy(b, c.bytes, c.len);
        put_le64(b, lens[i]);
        assert_int_equal(tt_test_write_file(p, b, c.len), 0);
        expect_refused(p, NULL);
    }
    free(b);
    ckpt_free(&c);
    ROWS_DONE();
}

static void test_checkpoint_bad_json(void **state) {
    (void)state;
    need_model();
    ckpt c;
    ckpt_read(&c, g_model);
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    const char *headers[] = {"{\"a\":", "[1,2,3]", "null", "\"text\"", "{}", "{\"__metadata__\":{}}",
                             "{\"" W_Q "\":7}", "{\"" W_Q "\":{\"dtype\":\"F32\"}}"};
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        write_st(p, headers[i], data_of(&c), data_len(&c), NULL, 0);
        expect_refused(p, NULL);
    }
    /* the real header with one byte corrupted into invalid JSON */
    unsigned char *b = malloc(c.len);
    memcpy(b, c.bytes, c.len);
    b[8] = '[';
    assert_int_equal(tt_test_write_file(p, b, c.len), 0);
    expect_refused(p, NULL);
    /* a NUL inside the header */
    memcpy(b, c.bytes, c.len);
    b[8 + c.hlen / 2] = '\0';
    assert_int_equal(tt_test_write_file(p, b, c.len), 0);
    expect_refused(p, NULL);
    free(b);
    ckpt_free(&c);
    ROWS_DONE();
}

static void test_checkpoint_dtype(void **state) {
    (void)state;
    need_model();
    const char *dtypes[] = {"F16", "BF16", "F64", "I32", "U8", "f32", "", "F32 "};
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++) {
        ckpt c;
        ckpt_read(&c, g_model);
        cJSON_ReplaceItemInObject(tensor(c.header, W_Q), "dtype", cJSON_CreateString(dtypes[i]));
        write_json(p, &c, c.header, NULL, 0);
        expect_refused(p, "dtype");
        ckpt_free(&c);
    }
    ckpt c;
    ckpt_read(&c, g_model);
    cJSON_ReplaceItemInObject(tensor(c.header, W_Q), "dtype", cJSON_CreateNumber(32));
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "dtype");
    ckpt_free(&c);
    ROWS_DONE();
}

static void test_checkpoint_shapes(void **state) {
    (void)state;
    need_model();
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    /* fc1 is [d_ff, d_model] = [32, 16]: [16, 32] has the same size and offsets */
    ckpt c;
    ckpt_read(&c, g_model);
    cJSON_ReplaceItemInObject(tensor(c.header, FC1), "shape", cJSON_CreateIntArray((int[]){16, 32}, 2));
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "shape|" FC1);
    ckpt_free(&c);
    /* a shape whose size does not match its offsets */
    ckpt_read(&c, g_model);
    cJSON_ReplaceItemInObject(tensor(c.header, W_Q), "shape", cJSON_CreateIntArray((int[]){16, 17}, 2));
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "shape|offset|" W_Q);
    ckpt_free(&c);
    /* three dimensions, a negative and a zero dimension, a non-integer */
    const char *shapes[] = {"[16,16,1]", "[-16,-16]", "[0,16]", "[16.5,16]", "[256]", "\"16x16\"",
                            "[18446744073709551615,16]"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        ckpt_read(&c, g_model);
        cJSON_ReplaceItemInObject(tensor(c.header, W_Q), "shape", cJSON_Parse(shapes[i]));
        write_json(p, &c, c.header, NULL, 0);
        expect_refused(p, "shape|" W_Q);
        ckpt_free(&c);
    }
    /* a config that disagrees with every shape (d_model 32) */
    ckpt_read(&c, g_model);
    set_config_field(c.header, "d_model", 32);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "shape|d_model");
    ckpt_free(&c);
    /* an invalid config: n_heads does not divide d_model */
    ckpt_read(&c, g_model);
    set_config_field(c.header, "n_heads", 3);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "n_heads");
    ckpt_free(&c);
    ROWS_DONE();
}

static void test_checkpoint_offsets(void **state) {
    (void)state;
    need_model();
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    ckpt c;
    /* W_k points at W_q's bytes: overlapping */
    ckpt_read(&c, g_model);
    set_offsets(tensor(c.header, W_K), offset(tensor(c.header, W_Q), 0), offset(tensor(c.header, W_Q), 1));
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "offset|overlap");
    ckpt_free(&c);
    /* partly overlapping: shifted by 4 bytes */
    ckpt_read(&c, g_model);
    set_offsets(tensor(c.header, W_K), offset(tensor(c.header, W_K), 0) - 4, offset(tensor(c.header, W_K), 1) - 4);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "offset|overlap");
    ckpt_free(&c);
    /* beyond the data, reversed, negative, huge, misaligned, wrong arity */
    ckpt_read(&c, g_model);
    double end = (double)data_len(&c);
    ckpt_free(&c);
    const char *bad[] = {NULL, NULL, "[-64,0]", "[0,1e300]", "[18446744073709551615,0]", "[2,66]", "[0]",
                         "[0,64,128]", "\"0-64\"", "[0.5,64.5]"};
    char beyond[64], reversed[64];
    snprintf(beyond, sizeof beyond, "[%.0f,%.0f]", end - 60, end + 4);
    snprintf(reversed, sizeof reversed, "[64,0]");
    bad[0] = beyond;
    bad[1] = reversed;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ckpt_read(&c, g_model);
        cJSON_ReplaceItemInObject(tensor(c.header, LNF_B), "data_offsets", cJSON_Parse(bad[i]));
        write_json(p, &c, c.header, NULL, 0);
        expect_refused(p, "offset|" LNF_B);
        ckpt_free(&c);
    }
    ROWS_DONE();
}

static void test_checkpoint_tensors(void **state) {
    (void)state;
    need_model();
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    ckpt c;
    /* a missing tensor */
    ckpt_read(&c, g_model);
    cJSON_DeleteItemFromObject(c.header, LNF_B);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, LNF_B "|missing");
    ckpt_free(&c);
    /* an extra tensor, with its own 4 bytes after the others */
    ckpt_read(&c, g_model);
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "dtype", "F32");
    cJSON_AddItemToObject(x, "shape", cJSON_CreateIntArray((int[]){1}, 1));
    cJSON_AddItemToObject(x, "data_offsets", cJSON_CreateDoubleArray((double[]){(double)data_len(&c),
                                                                              (double)data_len(&c) + 4}, 2));
    cJSON_AddItemToObject(c.header, "extra.weight", x);
    static const unsigned char four[4] = {0, 0, 128, 63};
    write_json(p, &c, c.header, four, 4);
    expect_refused(p, "extra.weight|unexpected|unknown");
    ckpt_free(&c);
    /* a tensor name from another layer count */
    ckpt_read(&c, g_model);
    cJSON *q = cJSON_DetachItemFromObject(c.header, W_Q);
    cJSON_AddItemToObject(c.header, "blocks.7.self_attn.W_q.weight", q);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "blocks.7|" W_Q);
    ckpt_free(&c);
    ROWS_DONE();
}

static void test_checkpoint_metadata(void **state) {
    (void)state;
    need_model();
    char p[600];
    path_in(p, sizeof p, "bad.safetensors");
    ckpt c;
    /* a vocabulary with one character fewer than the embedding has rows */
    ckpt_read(&c, g_model);
    cJSON *meta = cJSON_GetObjectItem(c.header, "__metadata__");
    cJSON *vocab = cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "vocab")));
    assert_non_null(vocab);
    cJSON_DeleteItemFromArray(vocab, cJSON_GetArraySize(vocab) - 1);
    char *vs = cJSON_PrintUnformatted(vocab);
    set_meta_string(c.header, "vocab", vs);
    free(vs);
    cJSON_Delete(vocab);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "vocab");
    ckpt_free(&c);
    /* config vocab_size disagreeing with the vocabulary and embedding */
    ckpt_read(&c, g_model);
    cJSON *cfg = meta_config(c.header);
    int V = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(cfg, "vocab_size"));
    cJSON_Delete(cfg);
    set_config_field(c.header, "vocab_size", V + 1);
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "vocab");
    ckpt_free(&c);
    /* a vocabulary that is not sorted, has duplicates, is not JSON */
    const char *vocabs[] = {"[\"b\",\"a\"]", "not json", "[\"aa\"]", "[1,2]", "{}"};
    for (size_t i = 0; i < sizeof vocabs / sizeof *vocabs; i++) {
        ckpt_read(&c, g_model);
        set_meta_string(c.header, "vocab", vocabs[i]);
        write_json(p, &c, c.header, NULL, 0);
        expect_refused(p, "vocab");
        ckpt_free(&c);
    }
    /* format and version */
    ckpt_read(&c, g_model);
    set_meta_string(c.header, "format", "pytorch");
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "format");
    ckpt_free(&c);
    ckpt_read(&c, g_model);
    set_meta_string(c.header, "format_version", "99");
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "version|format");
    ckpt_free(&c);
    ckpt_read(&c, g_model);
    set_meta_string(c.header, "config", "{\"vocab_size\":");
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "config");
    ckpt_free(&c);
    ckpt_read(&c, g_model);
    cJSON_DeleteItemFromObject(c.header, "__metadata__");
    write_json(p, &c, c.header, NULL, 0);
    expect_refused(p, "metadata|config|format");
    ckpt_free(&c);
    ROWS_DONE();
}

/* A corrupt --resume file is refused before any training. */
static void test_resume_bad(void **state) {
    (void)state;
    need_model();
    char out[600], bad[600];
    path_in(out, sizeof out, "resume-out.safetensors");
    path_in(bad, sizeof bad, "bad.safetensors");
    assert_int_equal(tt_test_write_file(bad, "\x08\0\0\0\0\0\0\0{}      ", 16), 0);
    expect_fail(ANY_FAIL, "--resume", "train", "--data", g_corpus, "--out", out, "--resume", bad, "--max-steps", "1",
                "--d-model", "16", "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", "--max-len", "32",
                "--seq-len", "16", NULL);
    /* a checkpoint of another config */
    expect_fail(2, "--resume|config", "train", "--data", g_corpus, "--out", out, "--resume", g_model, "--max-steps",
                "1", "--d-model", "32", "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", "--max-len", "32",
                "--seq-len", "16", NULL);
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    ROWS_DONE();
}

/* ---- 8. output paths, full disk --------------------------------------------------- */

static void test_output_paths(void **state) {
    (void)state;
    need_model();
    /* Refused before training starts (nothing on stdout): a long run must not
     * end with nowhere to save. The message names the directory. */
    const char *outs[] = {"/nonexistent-tt-dir/m.safetensors", "/etc/passwd/m.safetensors", "/sys/m.safetensors"};
    const char *dirs[] = {"/nonexistent-tt-dir", "/etc/passwd", "/sys"};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        const char *argv[MAX_ARGV];
        char scratch[600];
        int n = base_args("train", argv, scratch, sizeof scratch);
        argv[n++] = "--out";
        argv[n++] = outs[i];
        argv[n] = NULL;
        expect_failv(ANY_FAIL, dirs[i], argv, NULL, 0);
        struct stat st;
        assert_int_not_equal(stat(outs[i], &st), 0);
        /* --log-json in the same places */
        n = base_args("train", argv, scratch, sizeof scratch);
        argv[n++] = "--log-json";
        argv[n++] = outs[i];
        argv[n] = NULL;
        expect_failv(ANY_FAIL, outs[i], argv, NULL, 0);
    }
    expect_fail(ANY_FAIL, "/etc/passwd/x", "diversity", "--model", g_model, "--prompt", "hello", "--samples", "2",
                "--max-new-tokens", "2", "--temperatures", "0.5", "--plot", "/etc/passwd/x.png", NULL);
    expect_failv(ANY_FAIL, "/etc/passwd/tour",
                 (const char *[]){"tt", "tour", "--no-plots", "--model", g_model, "--out", "/etc/passwd/tour", NULL},
                 NULL, 1);
    ROWS_DONE();
}

static char **list_dir(const char *dir, int *n) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        names = realloc(names, (size_t)(*n + 1) * sizeof *names);
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    return names;
}

static void free_list(char **l, int n) {
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

/* Full disk (RLIMIT_FSIZE): the save fails with a message, the previous
 * checkpoint is byte-identical, and no temporary file is left behind. */
static void test_full_disk(void **state) {
    (void)state;
    char dir[600], out[700];
    path_in(dir, sizeof dir, "fulldisk");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(out, sizeof out, "%s/m.safetensors", dir);
    train_tiny(g_corpus, out, 2, NULL);
    size_t before_len = 0;
    char *before = tt_test_read_file(out, &before_len);
    assert_non_null(before);
    int n_before = 0;
    char **l_before = list_dir(dir, &n_before);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = before_len / 2;
    void (*old_h)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    const char *argv[MAX_ARGV];
    int n = 0;
    argv[n++] = "tt";
    argv[n++] = "train";
    argv[n++] = "--data";
    argv[n++] = g_corpus;
    argv[n++] = "--out";
    argv[n++] = out;
    argv[n++] = "--max-steps";
    argv[n++] = "3";
    argv[n++] = "--seed";
    argv[n++] = "7";
    for (int i = 0; TINY[i]; i++) argv[n++] = TINY[i];
    argv[n] = NULL;
    tt_cli_result r;
    int rc = tt_cli_run(argv, NULL, &r);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_h);
    assert_int_equal(rc, 0);
    int ok = r.status == 1 && strstr(r.err, dir) != NULL && strstr(r.err, "File too large") != NULL;
    if (!ok) {
        show(argv, &r);
        fprintf(stderr, "expected: exit 1 with a message naming a file in %s and the error\n", dir);
    }
    tt_cli_result_free(&r);
    assert_true(ok);

    size_t after_len = 0;
    char *after = tt_test_read_file(out, &after_len);
    assert_non_null(after);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    int n_after = 0;
    char **l_after = list_dir(dir, &n_after);
    if (n_after != n_before)
        for (int i = 0; i < n_after; i++) fprintf(stderr, "after: %s\n", l_after[i]);
    assert_int_equal(n_after, n_before);
    free_list(l_before, n_before);
    free_list(l_after, n_after);
    free(before);
    free(after);
    ROWS_DONE();
}

/* ---- 9. sample: bad logits ------------------------------------------------------- */

static void test_sample_bad_logits(void **state) {
    (void)state;
    const char *bad[] = {"", ",", "1,,2", "1,nan,3", "1,inf,3", "1,+inf", "-inf,-inf", "1;2", "1,2x", "0x", "1e999,1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_fail(2, "--logits|-inf", "sample", "--logits", bad[i], NULL);
    expect_fail(2, "--logits|row|values", "sample", "--logits", "1,2,3", "--logits", "1,2", NULL);
    expect_fail(2, "--labels", "sample", "--logits", "1,2,3", "--labels", "a,b", NULL);
    expect_fail(2, "--top-k", "sample", "--logits", "1,2,3", "--strategy", "top-k", "--top-k", "0", NULL);
    expect_fail(2, "--logits|--logits-file", "sample", "--logits", "1,2", "--logits-file", g_corpus, NULL);
    ROWS_DONE();
}

/* ---- 10. the API: token ids >= V ---------------------------------------------------- */

static void test_api_ids_out_of_range(void **state) {
    (void)state;
    need_model();
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    tt_error err;
    assert_int_equal(tt_checkpoint_load(g_model, &m, &tok, &err), TT_OK);
    int V = tt_model_get_config(m)->vocab_size;
    int tokens[3] = {0, V, 1};
    float loss;
    assert_int_equal(tt_model_forward(m, tokens, NULL, 1, 3, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_RANGE);
    assert_true(strstr(err.msg, "") != NULL && err.msg[0]);
    tokens[1] = -1;
    assert_int_equal(tt_model_forward(m, tokens, NULL, 1, 3, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_RANGE);
    int good[3] = {0, 1, 2}, targets[3] = {1, V, 0};
    assert_int_equal(tt_model_forward(m, good, targets, 1, 3, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_RANGE);
    char *text = NULL;
    assert_int_equal(tt_tokenizer_decode(tok, tokens, 3, &text, &err), TT_ERR_RANGE);
    assert_null(text);

    tt_generator *g = NULL;
    tt_generator_config gc = tt_generator_config_default();
    assert_int_equal(tt_generator_create(&g, m, &gc, &err), TT_OK);
    int prompt[2] = {0, V};
    const int *prompts[1] = {prompt};
    int lens[1] = {2};
    tt_generation out[1];
    memset(out, 0, sizeof out);
    tt_status s = tt_generator_generate(g, prompts, lens, 1, NULL, NULL, NULL, NULL, out, &err);
    assert_true(s == TT_ERR_RANGE || s == TT_ERR_ARG);
    assert_true(err.msg[0] != '\0');
    lens[0] = 0;
    s = tt_generator_generate(g, prompts, lens, 1, NULL, NULL, NULL, NULL, out, &err);
    assert_true(s == TT_ERR_ARG || s == TT_ERR_RANGE);
    tt_generator_free(g);
    gc.eos_token_id = V;
    assert_int_not_equal(tt_generator_create(&g, m, &gc, &err), TT_OK);
    assert_null(g);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    ROWS_DONE();
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0); /* keep cmocka's lines and the row reports in order */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_flags_malformed),
        cmocka_unit_test(test_numeric_flags_out_of_range),
        cmocka_unit_test(test_flag_without_value),
        cmocka_unit_test(test_unknown_flags_and_commands),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_input_files),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_chat_bad_input),
        cmocka_unit_test(test_vocab_of_one),
        cmocka_unit_test(test_seq_len_vs_corpus),
        cmocka_unit_test(test_memory_limits),
        cmocka_unit_test(test_checkpoint_truncated),
        cmocka_unit_test(test_checkpoint_header_length),
        cmocka_unit_test(test_checkpoint_bad_json),
        cmocka_unit_test(test_checkpoint_dtype),
        cmocka_unit_test(test_checkpoint_shapes),
        cmocka_unit_test(test_checkpoint_offsets),
        cmocka_unit_test(test_checkpoint_tensors),
        cmocka_unit_test(test_checkpoint_metadata),
        cmocka_unit_test(test_resume_bad),
        cmocka_unit_test(test_output_paths),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_sample_bad_logits),
        cmocka_unit_test(test_api_ids_out_of_range),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
