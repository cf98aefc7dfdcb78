/*
 * Crash-safe training: `tt train` killed with SIGKILL at random moments
 * (a fixed seed picks them) never leaves a corrupt checkpoint, and --resume
 * from whatever it left continues bit-exactly: the same per-step losses (from
 * --log-json) and the same final weights as an uninterrupted run with the
 * same seed. SIGINT, SIGTERM and SIGHUP save and exit with status 128 + the
 * signal's number (130, 143, 129).
 *
 * The run is small (a 1-layer d_model 16 model, 120 steps, a save every 4
 * steps) so that 24 kills plus their resumes take a few seconds; the kill
 * moments are spread over 1.1x the measured length of the reference run, so
 * some land before the first save, most between saves and some during one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tt/checkpoint.h"
#include "tt/model.h"
#include "util.h"

#define N_KILLS 24 /* the issue asks for at least 20 */
#define MAX_STEPS "120"

static char *g_dir;
static char g_corpus[512];
static double g_ref_seconds;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* tt train into dir/m.safetensors with the fixed configuration. */
static const char *save_interval = "4";

static void train_argv(const char **argv, const char *dir, const char *max_steps, const char *resume,
                       const char *log_name, char bufs[3][600]) {
    int n = 0;
    snprintf(bufs[0], 600, "%s/m.safetensors", dir);
    snprintf(bufs[1], 600, "%s/%s", dir, log_name);
    argv[n++] = tt_cli_path();
    argv[n++] = "train";
    argv[n++] = "--data";
    argv[n++] = g_corpus;
    argv[n++] = "--out";
    argv[n++] = bufs[0];
    argv[n++] = "--log-json";
    argv[n++] = bufs[1];
    /* one thread: the machine is shared, and OpenMP barriers under load
     * would only make the run slower, not the test stronger */
    const char *fixed[] = {"--d-model", "16",   "--n-heads",     "2",  "--n-layers",      "1",   "--d-ff",
                           "32",        "--max-len", "16",       "--seq-len", "16",          "--batch-size",
                           "4",         "--dropout", "0.1",      "--seed",    "5",           "--threads",
                           "1",         "--save-interval", save_interval, "--log-interval", "1", "--eval-interval",
                           "20",        "--eval-batches", "2",   "--warmup-steps", "10",     "--max-steps",
                           max_steps,   NULL};
    for (int i = 0; fixed[i]; i++) argv[n++] = fixed[i];
    if (resume) {
        snprintf(bufs[2], 600, "%s", resume);
        argv[n++] = "--resume";
        argv[n++] = bufs[2];
    }
    argv[n] = NULL;
}

/* Starts argv with stdout/stderr into dir/out.txt, dir/err.txt. */
static pid_t spawn(const char *const *argv, const char *dir) {
    char out[700], errp[700];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int fe = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int fi = open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0) _exit(127);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void dump_err(const char *dir) {
    char p[700];
    snprintf(p, sizeof p, "%s/err.txt", dir);
    char *e = tt_test_read_file(p, NULL);
    fprintf(stderr, "stderr of the run in %s:\n%s\n", dir, e ? e : "(none)");
    free(e);
}

static int run_to_end(const char *const *argv, const char *dir) {
    int st = wait_status(spawn(argv, dir));
    if (st != 0) dump_err(dir);
    return st;
}

/* ---- logs and weights ----------------------------------------------------- */

typedef struct {
    int n;
    int step[512];
    double loss[512];
    double lr[512];
} loss_log;

static void read_log(const char *path, loss_log *lg) {
    lg->n = 0;
    char *text = tt_test_read_file(path, NULL);
    if (!text) return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j); /* every line of the log is complete JSON */
        if (lg->n < 512) {
            lg->step[lg->n] = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "step"));
            lg->loss[lg->n] = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "loss"));
            lg->lr[lg->n] = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "lr"));
            lg->n++;
        }
        cJSON_Delete(j);
    }
    free(text);
}

static tt_model *load_model(const char *path) {
    tt_model *m = NULL;
    tt_error err;
    if (tt_checkpoint_load(path, &m, NULL, &err) != TT_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
        return NULL;
    }
    return m;
}

static int same_weights(tt_model *a, tt_model *b) {
    size_t n = tt_model_num_params(a);
    if (n != tt_model_num_params(b)) return 0;
    return memcmp(tt_model_params_flat(a), tt_model_params_flat(b), n * sizeof(float)) == 0;
}

/* ---- fixtures --------------------------------------------------------------- */

static char g_ref_dir[600];
static loss_log g_ref_log;

static int setup_all(void **state) {
    (void)state;
    g_dir = tt_test_tmpdir();
    if (!g_dir) return -1;
    snprintf(g_corpus, sizeof g_corpus, "%s/corpus.txt", g_dir);
    const char *shakespeare = tt_test_shakespeare_path();
    size_t len = 0;
    char *text = shakespeare ? tt_test_read_file(shakespeare, &len) : NULL;
    if (!text) return -1;
    if (len > 20000) len = 20000;
    int rc = tt_test_write_file(g_corpus, text, len);
    free(text);
    return rc;
}

static int teardown_all(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* The uninterrupted reference run. */
static void test_reference_run(void **state) {
    (void)state;
    snprintf(g_ref_dir, sizeof g_ref_dir, "%s/ref", g_dir);
    assert_int_equal(mkdir(g_ref_dir, 0755), 0);
    const char *argv[80];
    char bufs[3][600];
    train_argv(argv, g_ref_dir, MAX_STEPS, NULL, "log.jsonl", bufs);
    double t0 = now_s();
    assert_int_equal(run_to_end(argv, g_ref_dir), 0);
    g_ref_seconds = now_s() - t0;
    read_log(bufs[1], &g_ref_log);
    assert_int_equal(g_ref_log.n, atoi(MAX_STEPS));
    for (int i = 0; i < g_ref_log.n; i++) assert_int_equal(g_ref_log.step[i], i + 1);
    tt_model *m = load_model(bufs[0]);
    assert_non_null(m);
    tt_model_free(m);
    /* the same run again gives the same bytes: the baseline is deterministic */
    char again[600];
    snprintf(again, sizeof again, "%s/again", g_dir);
    assert_int_equal(mkdir(again, 0755), 0);
    char bufs2[3][600];
    train_argv(argv, again, MAX_STEPS, NULL, "log.jsonl", bufs2);
    assert_int_equal(run_to_end(argv, again), 0);
    size_t la = 0, lb = 0;
    char *a = tt_test_read_file(bufs[0], &la), *b = tt_test_read_file(bufs2[0], &lb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

/* Compares a resumed run's log and final weights with the reference. */
static int check_resumed(const char *dir, const char *resumed_log) {
    loss_log lg;
    read_log(resumed_log, &lg);
    int ok = 1;
    for (int i = 0; i < lg.n; i++) {
        int s = lg.step[i];
        if (s < 1 || s > g_ref_log.n || lg.loss[i] != g_ref_log.loss[s - 1] || lg.lr[i] != g_ref_log.lr[s - 1]) {
            fprintf(stderr, "%s: step %d: loss %.9g lr %.9g, reference loss %.9g lr %.9g\n", dir, s, lg.loss[i],
                    lg.lr[i], s >= 1 && s <= g_ref_log.n ? g_ref_log.loss[s - 1] : -1.0,
                    s >= 1 && s <= g_ref_log.n ? g_ref_log.lr[s - 1] : -1.0);
            ok = 0;
            break;
        }
        if (i > 0 && s != lg.step[i - 1] + 1) ok = 0;
    }
    if (lg.n > 0 && lg.step[lg.n - 1] != g_ref_log.n) ok = 0;
    char final_path[700], ref_path[700];
    snprintf(final_path, sizeof final_path, "%s/m.safetensors", dir);
    snprintf(ref_path, sizeof ref_path, "%s/m.safetensors", g_ref_dir);
    tt_model *a = load_model(final_path), *b = load_model(ref_path);
    if (!a || !b || !same_weights(a, b)) {
        fprintf(stderr, "%s: final weights differ from the uninterrupted run\n", dir);
        ok = 0;
    }
    tt_model_free(a);
    tt_model_free(b);
    return ok;
}

static void test_sigkill_and_resume(void **state) {
    (void)state;
    assert_true(g_ref_seconds > 0);
    uint64_t x = 0x9E3779B97F4A7C15ull; /* the kill moments: a fixed xorshift stream */
    int absent = 0, present = 0, bad = 0;
    for (int k = 0; k < N_KILLS; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double frac = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        double delay = frac * 1.1 * g_ref_seconds;
        char dir[600];
        snprintf(dir, sizeof dir, "%s/kill%02d", g_dir, k);
        assert_int_equal(mkdir(dir, 0755), 0);
        const char *argv[80];
        char bufs[3][600];
        train_argv(argv, dir, MAX_STEPS, NULL, "log.jsonl", bufs);
        pid_t pid = spawn(argv, dir);
        assert_true(pid > 0);
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        wait_status(pid);

        struct stat st;
        if (stat(bufs[0], &st) != 0) {
            absent++;
            continue; /* killed before the first save */
        }
        tt_model *m = load_model(bufs[0]);
        if (!m) {
            fprintf(stderr, "kill %d after %.3f s: the checkpoint does not load\n", k, delay);
            bad++;
            continue;
        }
        tt_model_free(m);
        present++;
        /* resume from what was left, to the end */
        char ck[700];
        snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
        /* resume reads NAME.state beside the checkpoint: resume in place */
        char bufs2[3][600];
        train_argv(argv, dir, MAX_STEPS, ck, "resumed.jsonl", bufs2);
        int rs = run_to_end(argv, dir);
        if (rs != 0) {
            fprintf(stderr, "kill %d after %.3f s: --resume failed with status %d\n", k, delay, rs);
            bad++;
            continue;
        }
        if (!check_resumed(dir, bufs2[1])) {
            fprintf(stderr, "kill %d after %.3f s: the resumed run is not bit-exact\n", k, delay);
            bad++;
        }
    }
    fprintf(stderr, "%d kills: %d before the first save, %d resumed, %d bad\n", N_KILLS, absent, present, bad);
    assert_int_equal(bad, 0);
    assert_true(present >= N_KILLS / 2); /* most kills land after a save */
}

/* SIGINT / SIGTERM / SIGHUP: save, exit 128 + N, and the saved run resumes bit-exactly. */
static void signal_case(int sig, const char *name) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *argv[80];
    char bufs[3][600];
    train_argv(argv, dir, MAX_STEPS, NULL, "log.jsonl", bufs);
    pid_t pid = spawn(argv, dir);
    /* wait until a few steps are logged */
    double t0 = now_s();
    for (;;) {
        loss_log lg;
        read_log(bufs[1], &lg);
        if (lg.n >= 6) break;
        if (now_s() - t0 > 60) break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, sig);
    int st = wait_status(pid);
    if (st != 128 + sig) dump_err(dir);
    assert_int_equal(st, 128 + sig);
    tt_model *m = load_model(bufs[0]);
    assert_non_null(m);
    tt_model_free(m);
    char errp[700];
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    char *e = tt_test_read_file(errp, NULL);
    assert_non_null(e);
    assert_non_null(strstr(e, "interrupted"));
    free(e);
    loss_log before;
    read_log(bufs[1], &before);
    char ck[700];
    snprintf(ck, sizeof ck, "%s/m.safetensors", dir);
    char bufs2[3][600];
    train_argv(argv, dir, MAX_STEPS, ck, "resumed.jsonl", bufs2);
    assert_int_equal(run_to_end(argv, dir), 0);
    loss_log after;
    read_log(bufs2[1], &after);
    assert_true(after.n > 0);
    /* it continues right after the step it logged last */
    assert_int_equal(after.step[0], before.step[before.n - 1] + 1);
    assert_true(check_resumed(dir, bufs2[1]));
}

static void test_sigint(void **state) {
    (void)state;
    signal_case(SIGINT, "sigint");
}

static void test_sigterm(void **state) {
    (void)state;
    signal_case(SIGTERM, "sigterm");
}

static void test_sighup(void **state) {
    (void)state;
    signal_case(SIGHUP, "sighup");
}

/* A SIGKILL during a save leaves NAME.tmp.XXXXXX behind (nothing can remove
 * it at that moment); the next run in that place (here the --resume that
 * finished each killed run) must clear such leftovers, or every kill leaks a
 * checkpoint-sized file. */
static void test_no_stale_temp_files(void **state) {
    (void)state;
    int stale = 0;
    for (int k = 0; k < N_KILLS; k++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/kill%02d", g_dir, k);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)))
            if (strstr(e->d_name, ".tmp")) {
                fprintf(stderr, "left behind: %s/%s\n", dir, e->d_name);
                stale++;
            }
        closedir(d);
    }
    assert_int_equal(stale, 0);
}

/* What a SIGKILL between writing NAME.state and NAME.safetensors leaves: a
 * state from step 8 beside weights from step 4 (here: of a 4-step run with
 * the same seed). --resume must refuse the pair with a message, not continue
 * silently from weights that do not belong to the state. */
static void test_state_newer_than_checkpoint(void **state) {
    (void)state;
    char d4[600], d8[600];
    snprintf(d4, sizeof d4, "%s/steps4", g_dir);
    snprintf(d8, sizeof d8, "%s/steps8", g_dir);
    assert_int_equal(mkdir(d4, 0755), 0);
    assert_int_equal(mkdir(d8, 0755), 0);
    const char *argv[80];
    char b4[3][600], b8[3][600];
    train_argv(argv, d4, "4", NULL, "log.jsonl", b4);
    assert_int_equal(run_to_end(argv, d4), 0);
    train_argv(argv, d8, "8", NULL, "log.jsonl", b8);
    assert_int_equal(run_to_end(argv, d8), 0);
    /* d8 now holds state(8); put the step-4 weights beside it */
    size_t len = 0;
    char *w4 = tt_test_read_file(b4[0], &len);
    assert_non_null(w4);
    assert_int_equal(tt_test_write_file(b8[0], w4, len), 0);
    free(w4);
    char bufs[3][600];
    train_argv(argv, d8, "12", b8[0], "resumed.jsonl", bufs);
    int st = wait_status(spawn(argv, d8));
    if (st == 0) fprintf(stderr, "--resume accepted a state (step 8) beside weights of another step\n");
    assert_true(st == 1 || st == 2);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_run),
        cmocka_unit_test(test_sigkill_and_resume),
        cmocka_unit_test(test_no_stale_temp_files),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_sighup),
        cmocka_unit_test(test_state_newer_than_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
