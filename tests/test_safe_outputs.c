/*
 * Issue 11, "safe outputs and honest failures": one test per defect of the
 * adversarial pass (docs/robustness.md, "Outputs, signals and non-finite
 * results"), each failing on the code before the fix, then the first-hour
 * items (progress from step 1, the resumed-run summary, Ctrl-C in tt chat,
 * samples on a terminal, tt_generate_text).
 *
 * The corpus is the issue's: 500 copies of "the cat sat on the mat. ". Runs
 * that must be interrupted train a tiny model for many steps and are stopped
 * by the test; runs under a memory limit use RLIMIT_AS in the child (not
 * under the sanitizers, which reserve terabytes of shadow memory).
 */
#define _GNU_SOURCE /* posix_openpt & co., wait4 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/outputs.h"
#include "tt/tokenizer.h"
#include "util.h"

#define MAX_ARGV 64

static char *g_dir;
static char g_corpus[600], g_model[600];
static bool g_sanitize;

static const char *p_in(const char *name) {
    static char bufs[16][700];
    static int k;
    char *b = bufs[k++ % 16];
    snprintf(b, 700, "%s/%s", g_dir, name);
    return b;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *TINY[] = {
    "--d-model", "16", "--n-heads",    "2", "--n-layers", "1", "--d-ff", "32", "--max-len", "32",
    "--seq-len", "16", "--batch-size", "4", "--dropout",  "0", "--seed", "3",  NULL};

/* argv = {"tt", "train", "--data", corpus, "--out", out, "--max-steps", steps, TINY..., extra...}
 */
static int train_argv(const char **argv, const char *out, const char *steps,
                      const char *const *extra) {
    int n = 0;
    argv[n++] = "tt";
    argv[n++] = "train";
    argv[n++] = "--data";
    argv[n++] = g_corpus;
    argv[n++] = "--out";
    argv[n++] = out;
    argv[n++] = "--max-steps";
    argv[n++] = steps;
    for (int i = 0; TINY[i]; i++)
        argv[n++] = TINY[i];
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return n;
}

static void show(const char *const *argv, const tt_cli_result *r) {
    fprintf(stderr, "$");
    for (int i = 0; argv[i]; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\nexit %d\nstdout: %s\nstderr: %s\n", r->status, r->out ? r->out : "",
            r->err ? r->err : "");
}

static tt_cli_result run(const char *const *argv) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    return r;
}

/* Runs argv; it must exit with `status` and (when needle) name it on stderr. */
static void expect(int status, const char *needle, const char *const *argv) {
    tt_cli_result r = run(argv);
    bool ok = r.status == status && (!needle || strstr(r.err, needle));
    if (!ok) {
        show(argv, &r);
        fprintf(stderr, "expected: exit %d%s%s\n", status, needle ? ", stderr naming " : "",
                needle ? needle : "");
    }
    tt_cli_result_free(&r);
    assert_true(ok);
}

static void train_ok(const char *out, const char *steps, const char *const *extra) {
    const char *argv[MAX_ARGV];
    train_argv(argv, out, steps, extra);
    expect(0, NULL, argv);
}

/* A child tt with stdout/stderr to files (or stdout to out_fd), optionally
 * under an address-space limit; SIGPIPE at its default. */
static pid_t spawn(const char *const *argv, int out_fd, const char *out_path, const char *err_path,
                   rlim_t as_limit) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        int o = out_fd >= 0
                    ? out_fd
                    : open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        if (as_limit) {
            struct rlimit rl = {as_limit, as_limit};
            setrlimit(RLIMIT_AS, &rl);
        }
        execv(tt_cli_path(), (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits up to timeout_s; kills the child (and fails) after that. The raw
 * wait status; rusage of the child in *ru when given. */
static int wait_child(pid_t pid, double timeout_s, struct rusage *ru) {
    double t0 = now_s();
    int st = 0;
    struct rusage r;
    for (;;) {
        pid_t w = wait4(pid, &st, WNOHANG, &r);
        if (w == pid) break;
        if (now_s() - t0 > timeout_s) {
            kill(pid, SIGKILL);
            wait4(pid, &st, 0, &r);
            fail_msg("the child ran for more than %.0f s (a hang)", timeout_s);
        }
        sleep_ms(20);
    }
    if (ru) *ru = r;
    return st;
}

static int count_lines_of(const char *path) {
    char *t = tt_test_read_file(path, NULL);
    int n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

static void wait_for_lines(const char *path, int n) {
    double t0 = now_s();
    while (count_lines_of(path) < n) {
        if (now_s() - t0 > 120) fail_msg("no progress in %s", path);
        sleep_ms(20);
    }
}

static bool loads(const char *path) {
    tt_model *m = NULL;
    tt_error err;
    tt_status st = tt_checkpoint_load(path, &m, NULL, &err);
    if (st != TT_OK) fprintf(stderr, "%s: %s\n", path, err.msg);
    tt_model_free(m);
    return st == TT_OK;
}

static int setup_all(void **state) {
    (void)state;
    const char *san = getenv("TT_SANITIZE");
    g_sanitize = san && *san && strcmp(san, "0");
    g_dir = tt_test_tmpdir();
    if (!g_dir) return -1;
    snprintf(g_corpus, sizeof g_corpus, "%s/c.txt", g_dir);
    snprintf(g_model, sizeof g_model, "%s/m.safetensors", g_dir);
    static const char unit[] = "the cat sat on the mat. ";
    size_t ul = sizeof unit - 1;
    char *text = malloc(ul * 500);
    if (!text) return -1;
    for (int i = 0; i < 500; i++)
        memcpy(text + ul * (size_t)i, unit, ul);
    int rc = tt_test_write_file(g_corpus, text, ul * 500);
    free(text);
    if (rc) return -1;
    const char *argv[MAX_ARGV];
    train_argv(argv, g_model, "6", NULL);
    tt_cli_result r;
    if (tt_cli_run(argv, NULL, &r) != 0 || r.status != 0) return -1;
    tt_cli_result_free(&r);
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* ---- 1. outputs are regular files; links followed; modes kept ------------ */

static void test_outputs_regular_files(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    /* a FIFO at --out: refused before training, still a FIFO */
    const char *fifo = p_in("fifo.safetensors");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    train_argv(argv, fifo, "2", NULL);
    expect(2, "FIFO", argv);
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    /* a device as --log-json (writing /dev/null is harmless; replacing it is not) */
    const char *extra_dev[] = {"--log-json", "/dev/null", NULL};
    train_argv(argv, p_in("dev.safetensors"), "2", extra_dev);
    expect(2, "/dev/null", argv);
    /* a symbolic link is followed: the target is replaced, the link stays */
    const char *target = p_in("target.safetensors"), *link = p_in("link.safetensors");
    train_ok(target, "2", NULL);
    assert_int_equal(symlink(target, link), 0);
    struct stat before;
    assert_int_equal(stat(target, &before), 0);
    train_ok(link, "4", NULL);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    struct stat after;
    assert_int_equal(stat(target, &after), 0);
    assert_true(after.st_ino !=
                before.st_ino); /* a new file (atomic rename) at the target's name */
    assert_true(loads(link));
    /* a dangling link is refused */
    const char *dangling = p_in("dangling.safetensors");
    assert_int_equal(symlink(p_in("nowhere/x"), dangling), 0);
    train_argv(argv, dangling, "2", NULL);
    expect(2, "missing file", argv);
    /* an existing file keeps its mode; a new one honours the umask */
    assert_int_equal(chmod(target, 0600), 0);
    train_ok(target, "2", NULL);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    mode_t old = umask(027);
    train_ok(p_in("umask.safetensors"), "2", NULL);
    umask(old);
    assert_int_equal(stat(p_in("umask.safetensors"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(stat(p_in("umask.state"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

/* ---- 2. inputs never overwritten; outputs distinct ----------------------- */

static void test_inputs_not_overwritten(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    /* the same file under another name: compared by device and inode */
    const char *alias = p_in("alias.txt");
    assert_int_equal(link(g_corpus, alias), 0);
    size_t n0;
    char *c0 = tt_test_read_file(g_corpus, &n0);
    train_argv(argv, alias, "2", NULL);
    expect(2, "--data", argv);
    const char *extra_log[] = {"--log-json", alias, NULL};
    train_argv(argv, p_in("x.safetensors"), "2", extra_log);
    expect(2, "--data", argv);
    const char *val = p_in("v.txt"), *val_alias = p_in("v-alias.txt");
    assert_int_equal(
        tt_test_write_file(val, "the cat sat on the mat. the mat sat on the cat. ", 48), 0);
    assert_int_equal(link(val, val_alias), 0);
    const char *extra_val[] = {"--val-data", val, "--log-json", val_alias, NULL};
    train_argv(argv, p_in("x.safetensors"), "2", extra_val);
    expect(2, "--val-data", argv);
    size_t n1;
    char *c1 = tt_test_read_file(g_corpus, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(c0, c1, n0);
    free(c0);
    free(c1);
    /* two outputs of one run on the same file */
    const char *extra_same[] = {"--log-json", p_in("y.safetensors"), NULL};
    train_argv(argv, p_in("y.safetensors"), "2", extra_same);
    expect(2, "another output", argv);
    const char *extra_state[] = {"--log-json", p_in("y.state"), NULL};
    train_argv(argv, p_in("y.safetensors"), "2", extra_state);
    expect(2, "another output", argv);
    struct stat st;
    assert_int_not_equal(stat(p_in("x.safetensors"), &st), 0);
    assert_int_not_equal(stat(p_in("y.safetensors"), &st), 0);
}

/* ---- 3. a checkpoint's config is checked against its size first -------- */

typedef struct {
    unsigned char *bytes;
    size_t len;
    size_t hlen;
    char *header; /* NUL-terminated copy, without the padding */
} ckpt;

static void ckpt_read(ckpt *c, const char *path) {
    c->bytes = (unsigned char *)tt_test_read_file(path, &c->len);
    assert_non_null(c->bytes);
    c->hlen = 0;
    for (int b = 7; b >= 0; b--)
        c->hlen = (c->hlen << 8) | c->bytes[b];
    c->header = malloc(c->hlen + 1);
    memcpy(c->header, c->bytes + 8, c->hlen);
    c->header[c->hlen] = '\0';
    size_t k = c->hlen;
    while (k > 0 && c->header[k - 1] == ' ')
        c->header[--k] = '\0';
}

static void ckpt_free(ckpt *c) {
    free(c->bytes);
    free(c->header);
}

/* Writes header (padded with spaces to 8) and the tensor data of c. */
static void write_with_header(const char *path, const ckpt *c, const char *header) {
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8, data = c->len - 8 - c->hlen;
    unsigned char *b = malloc(8 + padded + data);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    memcpy(b + 8 + padded, c->bytes + 8 + c->hlen, data);
    assert_int_equal(tt_test_write_file(path, b, 8 + padded + data), 0);
    free(b);
}

/* header with the first `from` replaced by `to` */
static char *replaced(const char *header, const char *from, const char *to) {
    const char *at = strstr(header, from);
    assert_non_null(at);
    size_t a = (size_t)(at - header), fl = strlen(from), tl = strlen(to), hl = strlen(header);
    char *s = malloc(hl - fl + tl + 1);
    memcpy(s, header, a);
    memcpy(s + a, to, tl);
    memcpy(s + a + tl, at + fl, hl - a - fl + 1);
    return s;
}

static void test_checkpoint_size_before_allocating(void **state) {
    (void)state;
    ckpt c;
    ckpt_read(&c, g_model);
    /* d_ff 2^24: about 2 GB of parameters in a file of a few KB */
    char *h = replaced(c.header, "\\\"d_ff\\\":32", "\\\"d_ff\\\":16777216");
    const char *big = p_in("dff.safetensors");
    write_with_header(big, &c, h);
    const char *argv[] = {"tt", "info", "--model", big, NULL};
    const char *errp = p_in("dff.err");
    pid_t pid = spawn(argv, -1, NULL, errp, 0);
    struct rusage ru;
    int st = wait_child(pid, 120, &ru);
    char *err = tt_test_read_file(errp, NULL);
    fprintf(stderr, "tt info on a %zu-byte file claiming d_ff 2^24: exit %d, max RSS %ld KiB: %s",
            c.len, WIFEXITED(st) ? WEXITSTATUS(st) : -1, ru.ru_maxrss, err ? err : "");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    assert_non_null(strstr(err, "needs"));
    assert_true(ru.ru_maxrss < 400 * 1024); /* nothing like the 2 GB the config implies */
    free(err);
    free(h);
    ckpt_free(&c);
}

/* ---- 4. SIGHUP saves; a closed stdout never kills training ------------- */

static void test_signals_and_closed_stdout(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    /* SIGHUP: saved, exit 128 + 1 (not killed by the signal) */
    const char *log = p_in("hup.jsonl"), *out = p_in("hup.safetensors");
    const char *extra[] = {"--log-interval", "1", "--save-interval", "0", "--log-json", log, NULL};
    train_argv(argv, out, "1000000", extra);
    pid_t pid = spawn(argv, -1, NULL, p_in("hup.err"), 0);
    wait_for_lines(log, 3);
    kill(pid, SIGHUP);
    int st = wait_child(pid, 120, NULL);
    if (!WIFEXITED(st)) fprintf(stderr, "killed by signal %d\n", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 128 + SIGHUP);
    assert_true(loads(out));
    char *err = tt_test_read_file(p_in("hup.err"), NULL);
    assert_non_null(strstr(err, "interrupted"));
    free(err);
    /* stdout closed by its reader (`tt train | head -1`): the run goes on to
     * its end and saves */
    const char *log2 = p_in("pipe.jsonl"), *out2 = p_in("pipe.safetensors");
    const char *extra2[] = {"--log-interval", "1", "--log-json", log2, NULL};
    train_argv(argv, out2, "150", extra2);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid = spawn(argv, fds[1], NULL, p_in("pipe.err"), 0);
    close(fds[1]);
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') {
    }
    close(fds[0]); /* like head -1 */
    st = wait_child(pid, 120, NULL);
    if (!WIFEXITED(st)) fprintf(stderr, "killed by signal %d\n", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(count_lines_of(log2), 150); /* every step logged: it ran to the end */
    assert_true(loads(out2));
}

/* ---- 5. divergence stops the run; no NaN saved ---------------------------- */

static void test_divergence_not_saved(void **state) {
    (void)state;
    const char *out = p_in("div.safetensors");
    const char *ex1[] = {"--save-interval", "2", NULL};
    train_ok(out, "4", ex1);
    const char *argv[MAX_ARGV];
    const char *ex2[] = {"--resume", out, "--learning-rate", "1e30", "--save-interval", "1", NULL};
    train_argv(argv, out, "40", ex2);
    expect(1, "diverged", argv);
    assert_true(loads(out)); /* the loader refuses non-finite weights */
}

/* ---- 6. a memory limit ends in a clear message, never a hang ------------ */

static void test_memory_limit(void **state) {
    (void)state;
    if (g_sanitize) {
        fprintf(stderr,
                "skipped under the sanitizers (ASan cannot run under an address-space limit)\n");
        return;
    }
    /* 300 MB (the limit that once hung training inside OpenBLAS): a small
     * run fits and ends normally */
    const char *argv[MAX_ARGV];
    train_argv(argv, p_in("lim.safetensors"), "20", (const char *[]){"--threads", "2", NULL});
    const char *errp = p_in("lim.err");
    pid_t pid = spawn(argv, -1, NULL, errp, (rlim_t)300000 * 1024);
    int st = wait_child(pid, 90, NULL);
    char *err = tt_test_read_file(errp, NULL);
    fprintf(stderr, "train under ulimit -v 300000: %s", err ? err : "");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    free(err);
    /* a limit too tight for the work: a clear out-of-memory message and
     * exit 1, never a hang or a crash */
    const char *tiny_model[] = {"--d-model", "64", "--n-heads", "4", "--n-layers", "2", "--d-ff",
                                "256", "--max-len", "256", "--seq-len", "256", "--batch-size",
                                "32", "--threads", "2", NULL};
    train_argv(argv, p_in("lim2.safetensors"), "20", tiny_model);
    pid = spawn(argv, -1, NULL, errp, (rlim_t)30000 * 1024);
    st = wait_child(pid, 90, NULL);
    err = tt_test_read_file(errp, NULL);
    fprintf(stderr, "train under ulimit -v 30000: %s", err ? err : "");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(err, "out of memory"));
    free(err);
    const char *ev[] = {"tt",     "eval",      "--model", g_model, "--text-file",
                        g_corpus, "--threads", "2",       NULL};
    pid = spawn(ev, -1, NULL, errp, (rlim_t)22000 * 1024);
    st = wait_child(pid, 90, NULL);
    err = tt_test_read_file(errp, NULL);
    fprintf(stderr, "eval under ulimit -v 22000: %s", err ? err : "");
    assert_true(WIFEXITED(st));
    assert_true(WEXITSTATUS(st) == 0 || (WEXITSTATUS(st) == 1 && strstr(err, "out of memory")));
    free(err);
    /* every command ends under a tight limit: sample and generate (whose
     * auto threads fall back to one thread when no team can start) */
    const char *sm[] = {"tt", "sample", "--logits", "1,2,3", NULL};
    pid = spawn(sm, -1, NULL, errp, (rlim_t)22000 * 1024);
    st = wait_child(pid, 60, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    const char *gen[] = {"tt", "generate", "--model", g_model, "--prompt", "the", "--max-new-tokens", "5", NULL};
    for (int k = 0; k < 2; k++) {
        pid = spawn(gen, -1, NULL, errp, (rlim_t)(k ? 22000 : 100000) * 1024);
        st = wait_child(pid, 60, NULL);
        err = tt_test_read_file(errp, NULL);
        fprintf(stderr, "generate under ulimit -v %d: %s", k ? 22000 : 100000, err ? err : "");
        assert_true(WIFEXITED(st));
        if (k == 0) assert_int_equal(WEXITSTATUS(st), 0);
        else assert_true(WEXITSTATUS(st) == 0 || (WEXITSTATUS(st) == 1 && strstr(err, "out of memory")));
        free(err);
    }
}

/* ---- 7. non-finite results never leak out ------------------------------- */

static void test_nonfinite_results(void **state) {
    (void)state;
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    tt_error err;
    assert_int_equal(tt_checkpoint_load(g_model, &m, &tok, &err), TT_OK);
    float *w = tt_model_params_flat(m);
    for (size_t i = 0; i < tt_model_num_params(m); i++)
        w[i] = 3e38f; /* finite, absurd */
    const char *huge = p_in("huge.safetensors");
    assert_int_equal(tt_checkpoint_save(huge, m, tok, &err), TT_OK);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    const char *ev[] = {"tt", "eval", "--model", huge, "--text", "the cat sat", "--json", NULL};
    tt_cli_result r = run(ev);
    if (r.status != 1) show(ev, &r);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "not finite"));
    tt_cli_result_free(&r);
    const char *gen[] = {"tt",  "generate",         "--model", huge, "--prompt",
                         "the", "--max-new-tokens", "3",       NULL};
    r = run(gen);
    if (r.status != 1) show(gen, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "the model produced a non-finite logit"));
    tt_cli_result_free(&r);
}

/* ---- 8. every output path probed before training ------------------------ */

static void test_output_paths_probed(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    const char *sub = p_in("outdir");
    assert_int_equal(mkdir(sub, 0755), 0);
    char slash[720], longname[1000];
    snprintf(slash, sizeof slash, "%s/", sub);
    const char *cases[3] = {slash, sub, longname};
    /* 240 characters: NAME fits, NAME.best.safetensors does not */
    int k = snprintf(longname, sizeof longname, "%s/", sub);
    memset(longname + k, 'a', 240);
    strcpy(longname + k + 240, ".safetensors");
    for (int i = 0; i < 3; i++) {
        train_argv(argv, cases[i], "3", NULL);
        tt_cli_result r = run(argv);
        bool ok = r.status == 2 && r.out_len == 0 && strstr(r.err, "--out");
        if (!ok) show(argv, &r);
        tt_cli_result_free(&r);
        assert_true(ok); /* refused before training: nothing on stdout */
    }
    struct stat st;
    char p[800];
    snprintf(p, sizeof p, "%s.best.safetensors", sub);
    assert_int_not_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/.state", sub);
    assert_int_not_equal(stat(p, &st), 0);
}

/* ---- 9. no false "saved" -------------------------------------------------- */

static void test_resume_at_max_steps(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    const char *r1 = p_in("r1.safetensors"), *r2 = p_in("r2.safetensors");
    const char *ex_val[] = {"--val-fraction", "0", NULL};
    train_ok(r1, "6", ex_val);
    const char *ex[] = {"--resume", r1, "--val-fraction", "0", NULL};
    train_argv(argv, r2, "6", ex);
    tt_cli_result r = run(argv);
    if (r.status) show(argv, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "nothing to train"));
    assert_true(loads(r2)); /* what the message says is written */
    struct stat st;
    assert_int_equal(stat(p_in("r2.state"), &st), 0);
    tt_cli_result_free(&r);
}

/* The copy of a run with nothing to train keeps the resumed checkpoint's
 * training record, its validation loss included (tt info shows it). */
static void test_resume_at_max_steps_keeps_val_loss(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    const char *v1 = p_in("v1.safetensors"), *v2 = p_in("v2.safetensors");
    train_ok(v1, "6", NULL); /* validation (10 %) at the last step */
    const char *ex[] = {"--resume", v1, NULL};
    train_argv(argv, v2, "6", ex);
    tt_cli_result r = run(argv);
    if (r.status) show(argv, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "nothing to train"));
    tt_cli_result_free(&r);
    tt_model *a = NULL, *b = NULL;
    assert_int_equal(tt_checkpoint_load(v1, &a, NULL, NULL), TT_OK);
    assert_int_equal(tt_checkpoint_load(v2, &b, NULL, NULL), TT_OK);
    const tt_train_info *ia = tt_model_train_info(a), *ib = tt_model_train_info(b);
    assert_false(isnan(ia->val_loss));
    assert_true(ib->val_loss == ia->val_loss);
    assert_int_equal(ib->steps, 6);
    assert_string_equal(ib->data_sha256, ia->data_sha256);
    tt_model_free(a);
    tt_model_free(b);
    const char *info[] = {"tt", "info", "--model", v2, NULL};
    r = run(info);
    assert_int_equal(r.status, 0);
    if (!strstr(r.out, "val loss")) fail_msg("tt info shows no val loss:\n%s", r.out);
    tt_cli_result_free(&r);
}

/* ---- 10. two writers of one output -------------------------------------- */

static void test_two_writers(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    const char *out = p_in("lock.safetensors"), *log = p_in("lock.jsonl");
    const char *extra[] = {"--log-interval", "1", "--save-interval", "0", "--log-json", log, NULL};
    train_argv(argv, out, "1000000", extra);
    pid_t pid = spawn(argv, -1, NULL, NULL, 0);
    wait_for_lines(log, 2);
    const char *argv2[MAX_ARGV];
    train_argv(argv2, out, "2", NULL);
    char needle[64];
    snprintf(needle, sizeof needle, "pid %ld", (long)pid);
    expect(1, needle, argv2);
    kill(pid, SIGINT);
    int st = wait_child(pid, 120, NULL);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 130);
    struct stat s;
    char lp[800];
    snprintf(lp, sizeof lp, "%s.lock", out);
    assert_int_not_equal(stat(lp, &s), 0); /* released and removed */
    /* and now the output is free */
    train_ok(out, "2", NULL);
}

/* ---- 11. strict JSON in checkpoints --------------------------------------- */

static void expect_info_refuses(const char *path, const char *needle) {
    const char *argv[] = {"tt", "info", "--model", path, NULL};
    expect(2, needle, argv);
}

static void test_strict_json(void **state) {
    (void)state;
    ckpt c;
    ckpt_read(&c, g_model);
    const char *p = p_in("strict.safetensors");
    /* a byte-order mark before the header */
    char *bom = malloc(strlen(c.header) + 4);
    memcpy(bom, "\xEF\xBB\xBF", 3);
    strcpy(bom + 3, c.header);
    write_with_header(p, &c, bom);
    expect_info_refuses(p, "byte-order mark");
    free(bom);
    /* garbage after the JSON (spaces are the padding and stay allowed) */
    char *trail = malloc(strlen(c.header) + 4);
    sprintf(trail, "%s  x", c.header);
    write_with_header(p, &c, trail);
    expect_info_refuses(p, "trailing");
    free(trail);
    /* a key twice in the metadata, the first one valid */
    char *dup = replaced(c.header, "\"format_version\":\"1\"",
                         "\"format_version\":\"1\",\"format_version\":\"99\"");
    write_with_header(p, &c, dup);
    expect_info_refuses(p, "twice");
    free(dup);
    /* a key twice inside the config string */
    char *dupc = replaced(c.header, "\\\"d_model\\\":16", "\\\"d_model\\\":16,\\\"d_model\\\":32");
    write_with_header(p, &c, dupc);
    expect_info_refuses(p, "twice");
    free(dupc);
    /* the untouched header still loads */
    write_with_header(p, &c, c.header);
    assert_true(loads(p));
    ckpt_free(&c);
}

/* ---- 12. messages --------------------------------------------------------- */

static bool valid_utf8(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tt_utf8_decode(s + i, n - i, &cp);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

static void test_messages(void **state) {
    (void)state;
    /* floats: decimal only, like the integers; underflow and overflow named */
    expect(2, "decimal",
           (const char *[]){"tt", "sample", "--logits", "1,2", "--temperature", "0x1p1", NULL});
    expect(2, "underflows",
           (const char *[]){"tt", "sample", "--logits", "1,2", "--temperature", "1e-50", NULL});
    expect(2, "too large",
           (const char *[]){"tt", "sample", "--logits", "1,2", "--temperature", "3.4e38", NULL});
    /* a truncated .state says so */
    const char *t = p_in("trunc.safetensors");
    train_ok(t, "2", NULL);
    size_t n;
    char *s = tt_test_read_file(p_in("trunc.state"), &n);
    assert_int_equal(tt_test_write_file(p_in("trunc.state"), s, n - 8), 0);
    free(s);
    const char *argv[MAX_ARGV];
    train_argv(argv, t, "4", (const char *[]){"--resume", t, NULL});
    tt_cli_result r = run(argv);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "truncated"));
    tt_cli_result_free(&r);
    /* invalid UTF-8 in --labels: the JSON stays valid UTF-8 */
    const char *lab[] = {"tt", "sample", "--logits", "1,2", "--labels", "a\xff,b", "--json", NULL};
    r = run(lab);
    if (r.status == 0) {
        assert_true(valid_utf8(r.out));
        cJSON *j = cJSON_Parse(r.out);
        assert_non_null(j);
        cJSON_Delete(j);
    } else {
        assert_int_equal(r.status, 2); /* refusing it would be as good */
    }
    tt_cli_result_free(&r);
    /* a NUL byte in --logits-file is not the end of the input */
    const char *lf = p_in("nul.txt");
    assert_int_equal(tt_test_write_file(lf, "1,2\0,3\n", 7), 0);
    expect(2, "NUL", (const char *[]){"tt", "sample", "--logits-file", lf, NULL});
    /* tt chat's errors name the command */
    const char *chat[] = {"tt", "chat", "--model", g_model, NULL};
    assert_int_equal(tt_cli_run(chat, "/temp -1\n/quit\n", &r), 0);
    assert_int_equal(r.status, 0);
    assert_true(strncmp(r.err, "tt chat: ", 9) == 0);
    tt_cli_result_free(&r);
    /* tt tour --out FILE is a bad value */
    expect(2, "--out", (const char *[]){"tt", "tour", "--no-plots", "--out", g_corpus, NULL});
    /* an endless input is capped */
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    lim = old;
    if (!g_sanitize) { /* should the cap fail, fail without eating the machine */
        lim.rlim_cur = (rlim_t)4 << 30;
        setrlimit(RLIMIT_AS, &lim);
    }
    train_argv(argv, p_in("zero.safetensors"), "2", NULL);
    argv[3] = "/dev/zero";
    r = run(argv);
    setrlimit(RLIMIT_AS, &old);
    if (r.status != 2) show(argv, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "limit"));
    tt_cli_result_free(&r);
}

/* ---- the first hour --------------------------------------------------------- */

static void test_progress_and_resume_summary(void **state) {
    (void)state;
    const char *argv[MAX_ARGV];
    const char *out = p_in("prog.safetensors");
    train_argv(argv, out, "3", (const char *[]){"--log-interval", "100", NULL});
    tt_cli_result r = run(argv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "step 1/3 |")); /* at once, not at step 100 */
    assert_non_null(strstr(r.out, "ETA"));
    tt_cli_result_free(&r);
    train_argv(argv, out, "7", (const char *[]){"--resume", out, NULL});
    r = run(argv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "4 steps (4-7)"));
    assert_non_null(strstr(r.out, "the lr schedule is that of --max-steps 7"));
    tt_cli_result_free(&r);
}

/* A child on a new pseudo-terminal (its controlling terminal); *master gets
 * the other end. */
static pid_t spawn_pty(const char *const *argv, int *master) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    const char *name = ptsname(m);
    assert_non_null(name);
    char sname[256];
    snprintf(sname, sizeof sname, "%s", name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        int s = open(sname, O_RDWR); /* becomes the controlling terminal */
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        close(m);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv(tt_cli_path(), (char *const *)argv);
        _exit(127);
    }
    *master = m;
    return pid;
}

/* Reads what the pty gives for up to ms (or until `until` appears). */
static void pty_read(int m, char *buf, size_t cap, size_t *len, int ms, const char *until) {
    double t0 = now_s();
    while ((now_s() - t0) * 1000 < ms) {
        struct pollfd pf = {m, POLLIN, 0};
        if (poll(&pf, 1, 50) > 0) {
            ssize_t k = read(m, buf + *len, cap - 1 - *len);
            if (k <= 0) break;
            *len += (size_t)k;
            buf[*len] = '\0';
            if (until && strstr(buf, until)) return;
        }
    }
}

static void test_chat_ctrl_c_clears_the_line(void **state) {
    (void)state;
    const char *argv[] = {"tt", "chat", "--model", g_model, "--max-new-tokens", "3", NULL};
    int m;
    pid_t pid = spawn_pty(argv, &m);
    static char buf[1 << 16];
    size_t len = 0;
    buf[0] = '\0';
    pty_read(m, buf, sizeof buf, &len, 20000, "> ");
    assert_non_null(strstr(buf, "> "));
    assert_int_equal(write(m, "the ca", 6), 6);
    sleep_ms(200);
    assert_int_equal(write(m, "\x03", 1), 1); /* Ctrl-C, through the terminal */
    pty_read(m, buf, sizeof buf, &len, 3000, "^C");
    assert_non_null(strstr(buf, "^C"));
    assert_int_equal(write(m, "/quit\n", 6), 6);
    pty_read(m, buf, sizeof buf, &len, 2000, NULL);
    int st = wait_child(pid, 30, NULL);
    close(m);
    if (!WIFEXITED(st)) fprintf(stderr, "tt chat killed by signal %d\n%s\n", WTERMSIG(st), buf);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_generate_on_a_terminal(void **state) {
    (void)state;
    /* a vocabulary with ESC in it */
    const char *data = p_in("esc.txt"), *model = p_in("esc.safetensors");
    static const char unit[] = "the \x1b[1mcat\x1b[0m sat.\n\nthe mat. ";
    size_t ul = sizeof unit - 1;
    char *text = malloc(ul * 200);
    for (int i = 0; i < 200; i++)
        memcpy(text + ul * (size_t)i, unit, ul);
    assert_int_equal(tt_test_write_file(data, text, ul * 200), 0);
    free(text);
    const char *argv[MAX_ARGV];
    train_argv(argv, model, "2", NULL);
    argv[3] = data;
    expect(0, NULL, argv);
    const char *gen[] = {
        "tt", "generate",         "--model", model,      "--prompt", "\x1b[1mthe", "--num-samples",
        "2",  "--max-new-tokens", "5",       "--greedy", NULL};
    int m;
    pid_t pid = spawn_pty(gen, &m);
    static char buf[1 << 16];
    size_t len = 0;
    buf[0] = '\0';
    pty_read(m, buf, sizeof buf, &len, 20000, "sample 2 of 2");
    pty_read(m, buf, sizeof buf, &len, 1000, NULL);
    int st = wait_child(pid, 30, NULL);
    close(m);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(buf, "--- sample 1 of 2 ---"));
    assert_non_null(strstr(buf, "--- sample 2 of 2 ---"));
    assert_non_null(strstr(buf, "\\x1b[1mthe"));
    assert_null(strchr(buf, '\x1b'));
    /* piped: the text as it is (a blank line between samples) */
    tt_cli_result r = run(gen);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\x1b[1mthe"));
    assert_null(strstr(r.out, "--- sample"));
    tt_cli_result_free(&r);
}

static void test_eval_progress_on_a_terminal(void **state) {
    (void)state;
    const char *argv[] = {"tt", "eval", "--model", g_model, "--text-file", g_corpus, NULL};
    int m;
    pid_t pid = spawn_pty(argv, &m);
    static char buf[1 << 16];
    size_t len = 0;
    buf[0] = '\0';
    pty_read(m, buf, sizeof buf, &len, 60000, "perplexity");
    pty_read(m, buf, sizeof buf, &len, 300, NULL);
    int st = wait_child(pid, 60, NULL);
    close(m);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the default window is the model's training length, 16: ceil(11999 / 16) windows */
    assert_non_null(strstr(buf, "evaluating: window 750/750 (11999 tokens)"));
    /* the same loss as without a terminal, to the last printed digit */
    tt_cli_result r = run(argv);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    char *line = strstr(buf, "loss ");
    assert_non_null(line);
    assert_int_equal(strncmp(line, r.out, strlen(r.out) - 1), 0);
    tt_cli_result_free(&r);
}

static void test_generate_text_api(void **state) {
    (void)state;
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    tt_error err;
    assert_int_equal(tt_checkpoint_load(g_model, &m, &tok, &err), TT_OK);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 12;
    gc.sampling.strategy = TT_STRATEGY_GREEDY;
    char *text = NULL;
    assert_int_equal(tt_generate_text(m, tok, "the ", &gc, &text, &err), TT_OK);
    /* the same as tt generate --greedy */
    const char *argv[] = {"tt",   "generate",         "--model", g_model,    "--prompt",
                          "the ", "--max-new-tokens", "12",      "--greedy", NULL};
    tt_cli_result r = run(argv);
    assert_int_equal(r.status, 0);
    char *want = malloc(strlen(text) + 2);
    sprintf(want, "%s\n", text);
    assert_string_equal(r.out, want);
    assert_int_equal(strncmp(text, "the ", 4), 0);
    assert_int_equal(strlen(text), 16);
    free(want);
    tt_cli_result_free(&r);
    free(text);
    /* seeded sampling through the default config is reproducible */
    char *a = NULL, *b = NULL;
    assert_int_equal(tt_generate_text(m, tok, "the", NULL, &a, &err), TT_OK);
    assert_int_equal(tt_generate_text(m, tok, "the", NULL, &b, &err), TT_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* errors are values */
    assert_int_equal(tt_generate_text(NULL, tok, "x", NULL, &text, &err), TT_ERR_ARG);
    assert_null(text);
    assert_int_equal(tt_generate_text(m, NULL, "x", NULL, &text, &err), TT_ERR_ARG);
    assert_int_equal(tt_generate_text(m, tok, NULL, NULL, &text, &err), TT_ERR_ARG);
    assert_int_equal(tt_generate_text(m, tok, "x", NULL, NULL, &err), TT_ERR_ARG);
    assert_int_equal(tt_generate_text(m, tok, "", NULL, &text, &err), TT_ERR_ARG);
    assert_int_equal(tt_generate_text(m, tok, "Z", NULL, &text, &err), TT_ERR_RANGE);
    assert_null(text);
    tt_model_free(m);
    tt_tokenizer_free(tok);
}

static void test_output_api(void **state) {
    (void)state;
    tt_error err;
    assert_int_equal(tt_output_check(NULL, &err), TT_ERR_ARG);
    assert_int_equal(tt_output_check("", &err), TT_ERR_ARG);
    assert_int_equal(tt_output_check("/dev/null", &err), TT_ERR_ARG);
    assert_int_equal(tt_output_check(g_dir, &err), TT_ERR_ARG);
    assert_int_equal(tt_output_check(p_in("fresh.bin"), &err), TT_OK);
    assert_int_equal(tt_output_check("/nonexistent-tt-dir/x", &err), TT_ERR_IO);
    assert_true(tt_output_same_file(g_corpus, p_in("./c.txt")));
    assert_true(tt_output_same_file(p_in("new1"), p_in("./new1")));
    assert_false(tt_output_same_file(p_in("new1"), p_in("new2")));
    tt_output_lock *a = NULL, *b = NULL;
    assert_int_equal(tt_output_lock_acquire(p_in("locked"), &a, &err), TT_OK);
    /* flock locks are per open file: a second acquire, even here, is refused */
    assert_int_equal(tt_output_lock_acquire(p_in("locked"), &b, &err), TT_ERR_STATE);
    assert_null(b);
    tt_output_lock_release(a);
    assert_int_equal(tt_output_lock_acquire(p_in("locked"), &b, &err), TT_OK);
    tt_output_lock_release(b);
    tt_output_lock_release(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_regular_files),
        cmocka_unit_test(test_inputs_not_overwritten),
        cmocka_unit_test(test_checkpoint_size_before_allocating),
        cmocka_unit_test(test_signals_and_closed_stdout),
        cmocka_unit_test(test_divergence_not_saved),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_nonfinite_results),
        cmocka_unit_test(test_output_paths_probed),
        cmocka_unit_test(test_resume_at_max_steps),
        cmocka_unit_test(test_resume_at_max_steps_keeps_val_loss),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_strict_json),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_progress_and_resume_summary),
        cmocka_unit_test(test_chat_ctrl_c_clears_the_line),
        cmocka_unit_test(test_generate_on_a_terminal),
        cmocka_unit_test(test_eval_progress_on_a_terminal),
        cmocka_unit_test(test_generate_text_api),
        cmocka_unit_test(test_output_api),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
