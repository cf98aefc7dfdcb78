/*
 * Fuzzing regressions: every input that once crashed (or failed an oracle of)
 * a fuzz harness lives under tests/regress/<harness>/ and is replayed here
 * through the same harness code, compiled in (fuzz/fuzz_*.c, whose checks
 * abort on failure), under the plain and the sanitizer builds. The committed
 * seed corpora (fuzz/corpus/<harness>/) are replayed too.
 *
 * CLI inputs (tests/regress/cli/, fuzz/corpus/cli/) are replayed through the
 * tt binary in a scratch directory: byte 0 picks the subcommand, NUL bytes
 * separate the arguments (the fuzz_cli layout); the run must end with status
 * 0, 1 or 2, never a signal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include "util.h"

/* The harnesses, each under its own entry-point name. */
#define LLVMFuzzerTestOneInput fuzz_tokenizer_one
#include "../fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#undef CHECK
#define LLVMFuzzerTestOneInput fuzz_logits_one
#include "../fuzz/fuzz_logits.c"
#undef LLVMFuzzerTestOneInput
#undef CHECK
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#define LLVMFuzzerInitialize fuzz_safetensors_init
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize
#undef CHECK

typedef int (*one_fn)(const uint8_t *data, size_t size);

static char g_root[PATH_MAX]; /* the repository root (the test's working directory) */

/* Replays every regular file in dir; returns how many. */
static int replay_dir(const char *dir, one_fn fn) {
    char full[PATH_MAX + 300];
    snprintf(full, sizeof full, "%s/%s", g_root, dir);
    DIR *d = opendir(full);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md")) continue;
        char p[PATH_MAX + 600];
        snprintf(p, sizeof p, "%s/%s", full, e->d_name);
        size_t len = 0;
        char *data = tt_test_read_file(p, &len);
        if (!data) continue;
        fprintf(stderr, "replay %s/%s (%zu bytes)\n", dir, e->d_name, len);
        fn((const uint8_t *)data, len);
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

static void test_tokenizer_inputs(void **state) {
    (void)state;
    int n = replay_dir("tests/regress/tokenizer", fuzz_tokenizer_one);
    n += replay_dir("fuzz/corpus/tokenizer", fuzz_tokenizer_one);
    assert_true(n >= 5);
}

static void test_logits_inputs(void **state) {
    (void)state;
    int n = replay_dir("tests/regress/logits", fuzz_logits_one);
    n += replay_dir("fuzz/corpus/logits", fuzz_logits_one);
    assert_true(n >= 5);
}

static void test_safetensors_inputs(void **state) {
    (void)state;
    fuzz_safetensors_init(NULL, NULL);
    int n = replay_dir("tests/regress/safetensors", fuzz_safetensors_one);
    n += replay_dir("fuzz/corpus/safetensors", fuzz_safetensors_one);
    unlink(path); /* the harness's temporary file */
    assert_true(n >= 3);
}

/* ---- CLI inputs through the binary -------------------------------------------- */

static const char *const CLI_TARGETS[] = {"sample", "train", "eval", "info", "generate", "chat", "tour", "diversity"};

static char *g_scratch;

static int replay_cli(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned pick = data[0] % 9;
    if (pick == 8) return 0; /* the cli_* helpers: in-process only (fuzz_cli) */
    const char *argv[40];
    int argc = 0;
    argv[argc++] = "tt";
    argv[argc++] = CLI_TARGETS[pick];
    char *buf = malloc(size);
    assert_non_null(buf);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    size_t off = 0;
    while (off < size - 1 && argc < 26) {
        argv[argc++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    if (pick == 1 || pick == 6) argv[argc++] = "--zz-fuzz-stop"; /* train, tour: parse only */
    argv[argc] = NULL;
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, "", &r), 0);
    if (r.status > 2) fprintf(stderr, "status %d, stderr: %.500s\n", r.status, r.err);
    assert_true(r.status >= 0 && r.status <= 2);
    tt_cli_result_free(&r);
    free(buf);
    return 0;
}

static void test_cli_inputs(void **state) {
    (void)state;
    /* tt_cli_run finds tt through $TT_BUILD: make it absolute, then work in a
     * scratch directory so that relative names touch nothing of ours */
    const char *b = getenv("TT_BUILD");
    char abs[PATH_MAX + 20];
    snprintf(abs, sizeof abs, "%s/%s", g_root, b && *b ? b : "build");
    if (b && b[0] == '/') snprintf(abs, sizeof abs, "%s", b);
    setenv("TT_BUILD", abs, 1);
    g_scratch = tt_test_tmpdir();
    assert_non_null(g_scratch);
    assert_int_equal(chdir(g_scratch), 0);
    int n = replay_dir("tests/regress/cli", replay_cli);
    n += replay_dir("fuzz/corpus/cli", replay_cli);
    assert_int_equal(chdir(g_root), 0);
    tt_test_rmtree(g_scratch);
    free(g_scratch);
    assert_true(n >= 5);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!getcwd(g_root, sizeof g_root)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer_inputs),
        cmocka_unit_test(test_logits_inputs),
        cmocka_unit_test(test_safetensors_inputs),
        cmocka_unit_test(test_cli_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
