/* Data-parallel `tt train` under mpirun (issue 16, docs/distributed.md):
 * 2 and 3 ranks against one process with the same global batch (every
 * logged loss and validation loss within 1e-5 relative, final and best
 * weights within 1e-5), a SIGKILL of one rank mid-run then a resume that
 * reaches the uninterrupted run's weights bit for bit, a stopped rank that
 * makes the others give up within --comm-timeout, and bad input: a batch
 * not divisible by the ranks, different --data contents on two ranks, a
 * rank that cannot read its --data, a tt built without MPI under mpirun.
 * Needs mpirun (scripts/deps.sh test); skipped without it. As root it sets
 * OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM). Under the sanitizers the ranks run
 * without LeakSanitizer: Open MPI's dlopen'ed components are unloaded at
 * exit, so their one-time allocations cannot be named in a suppression. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <cJSON.h>

#include "tt/checkpoint.h"
#include "tt/dist.h"
#include "tt/model.h"
#include "tt/train.h"
#include "util.h"

static char *g_dir;
static bool g_have_mpirun;

static const char *path_in(const char *name) {
    static char buf[16][512];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* The shared training options: a small model, dropout on (masks must follow
 * the global rows), evaluations, a best checkpoint, global batch 6. */
/* 3 blocks of 27.9k parameters: each block's gradients are a bucket of its own */
#define MODEL                                                                                      \
    "--d-model", "48", "--n-heads", "2", "--n-layers", "3", "--d-ff", "192", "--max-len", "32"
#define TRAIN                                                                                      \
    MODEL, "--dropout", "0.1", "--seq-len", "16", "--batch-size", "6", "--log-interval", "5",      \
        "--eval-interval", "10", "--eval-batches", "3", "--seed", "5", "--threads", "1"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int setup(void **state) {
    (void)state;
    g_dir = tt_test_tmpdir();
    const char *base = "the cat sat on the mat. the dog sat on the log.\n";
    size_t bl = strlen(base);
    char *text = malloc(bl * 200);
    for (int i = 0; i < 200; i++)
        memcpy(text + i * bl, base, bl);
    int rc = tt_test_write_file(path_in("data.txt"), text, bl * 200);
    text[7] = 'X'; /* one byte differs */
    rc |= tt_test_write_file(path_in("other.txt"), text, bl * 200);
    free(text);
    /* mpirun refuses root unless told; a container often runs as root */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0); /* containers without CMA */
    if (getenv("TT_SANITIZE")) setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    const char *argv[] = {"mpirun", "--version", NULL};
    tt_cli_result r;
    g_have_mpirun = tt_run_program(argv, NULL, &r) == 0 && r.status == 0;
    tt_cli_result_free(&r);
    if (!g_have_mpirun)
        fprintf(stderr, "test_dist: mpirun not found (scripts/deps.sh test): skipping\n");
    if (g_have_mpirun && !tt_dist_built_with_mpi()) {
        fprintf(stderr,
                "test_dist: this build has no MPI (make MPI=0): skipping the mpirun tests\n");
        g_have_mpirun = false;
    }
    return rc;
}

static int teardown(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* argv for `mpirun ... -np N tt train <args>` (NULL-terminated args). */
static const char **mpi_argv(int np, const char *const *args) {
    static const char *a[128];
    static char nps[16];
    snprintf(nps, sizeof nps, "%d", np);
    int k = 0;
    a[k++] = "mpirun";
    a[k++] = "--oversubscribe";
    a[k++] = "--bind-to";
    a[k++] = "none";
    a[k++] = "-np";
    a[k++] = nps;
    a[k++] = tt_cli_path();
    a[k++] = "train";
    for (int i = 0; args[i]; i++)
        a[k++] = args[i];
    a[k] = NULL;
    return a;
}

static int mpi_train(int np, const char *const *args, tt_cli_result *r) {
    return tt_run_program(mpi_argv(np, args), NULL, r);
}

/* step -> loss and val_loss from a --log-json file */
typedef struct {
    int n;
    int step[64];
    double loss[64], val[64];
} log_lines;

static void read_log(const char *path, log_lines *l) {
    memset(l, 0, sizeof *l);
    char *txt = tt_test_read_file(path, NULL);
    assert_non_null(txt);
    for (char *line = strtok(txt, "\n"); line && l->n < 64; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        l->step[l->n] = cJSON_GetObjectItem(j, "step")->valueint;
        l->loss[l->n] = cJSON_GetObjectItem(j, "loss")->valuedouble;
        cJSON *v = cJSON_GetObjectItem(j, "val_loss");
        l->val[l->n] = v ? v->valuedouble : NAN;
        l->n++;
        cJSON_Delete(j);
    }
    free(txt);
}

static void assert_close(double a, double b, double rel, const char *what, int step) {
    if (isnan(a) && isnan(b)) return;
    if (!(fabs(a - b) <= rel * fabs(b))) {
        fail_msg("%s at step %d: %.9g vs %.9g (relative %.3g > %.1g)", what, step, a, b,
                 fabs(a - b) / fabs(b), rel);
    }
}

static void assert_logs_close(const char *a, const char *b) {
    log_lines x, y;
    read_log(a, &x);
    read_log(b, &y);
    assert_true(x.n > 0);
    assert_int_equal(x.n, y.n);
    for (int i = 0; i < x.n; i++) {
        assert_int_equal(x.step[i], y.step[i]);
        assert_close(x.loss[i], y.loss[i], 1e-5, "training loss", x.step[i]);
        assert_close(x.val[i], y.val[i], 1e-5, "validation loss", x.step[i]);
    }
}

/* max |a - b| / max(1, |b|) over every parameter; -1 when the configs differ */
static double weights_diff(const char *pa, const char *pb) {
    tt_model *a = NULL, *b = NULL;
    tt_error err;
    if (tt_checkpoint_load(pa, &a, NULL, &err) != TT_OK) fail_msg("%s: %s", pa, err.msg);
    if (tt_checkpoint_load(pb, &b, NULL, &err) != TT_OK) fail_msg("%s: %s", pb, err.msg);
    double d = -1.0;
    if (tt_model_num_params(a) == tt_model_num_params(b)) {
        const float *x = tt_model_params_flat(a), *y = tt_model_params_flat(b);
        d = 0.0;
        for (size_t i = 0; i < tt_model_num_params(a); i++) {
            double e = fabs((double)x[i] - (double)y[i]) / fmax(1.0, fabs((double)y[i]));
            if (e > d) d = e;
        }
    }
    tt_model_free(a);
    tt_model_free(b);
    return d;
}

static bool same_bytes(const char *pa, const char *pb) {
    size_t la, lb;
    char *a = tt_test_read_file(pa, &la), *b = tt_test_read_file(pb, &lb);
    bool same = a && b && la == lb && memcmp(a, b, la) == 0;
    free(a);
    free(b);
    return same;
}

/* The one-process reference for 50 steps (made once). */
static void reference_run(void) {
    static bool done;
    if (done) return;
    const char *argv[] = {"tt",
                          "train",
                          "--data",
                          path_in("data.txt"),
                          TRAIN,
                          "--max-steps",
                          "50",
                          "--out",
                          path_in("one.safetensors"),
                          "--log-json",
                          path_in("one.jsonl"),
                          NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("one process: %s", r.err);
    tt_cli_result_free(&r);
    done = true;
}

static void check_against_reference(int np) {
    if (!g_have_mpirun) skip();
    reference_run();
    char out[64], log[64], best[64];
    snprintf(out, sizeof out, "np%d.safetensors", np);
    snprintf(log, sizeof log, "np%d.jsonl", np);
    snprintf(best, sizeof best, "np%d.best.safetensors", np);
    const char *args[] = {"--data", path_in("data.txt"), TRAIN,        "--max-steps", "50",
                          "--out",  path_in(out),        "--log-json", path_in(log),  NULL};
    tt_cli_result r;
    assert_int_equal(mpi_train(np, args, &r), 0);
    if (r.status != 0) fail_msg("mpirun -np %d: %d\n%s\n%s", np, r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "distributed:"));
    assert_non_null(strstr(r.out, "communication (rank 0):"));
    tt_cli_result_free(&r);
    /* rank 0 alone wrote: one log line per logged step, not N */
    assert_logs_close(path_in(log), path_in("one.jsonl"));
    double d = weights_diff(path_in(out), path_in("one.safetensors"));
    if (!(d >= 0.0 && d <= 1e-5)) fail_msg("final weights differ by %g", d);
    d = weights_diff(path_in(best), path_in("one.best.safetensors"));
    if (!(d >= 0.0 && d <= 1e-5)) fail_msg("best weights differ by %g", d);
    /* averaging after backward instead of during it: the same bits */
    char out2[64];
    snprintf(out2, sizeof out2, "np%d-noov.safetensors", np);
    const char *args2[] = {"--data", path_in("data.txt"), TRAIN,   "--max-steps",
                           "50",     "--no-overlap",      "--out", path_in(out2),
                           NULL};
    assert_int_equal(mpi_train(np, args2, &r), 0);
    if (r.status != 0) fail_msg("mpirun -np %d --no-overlap: %s", np, r.err);
    assert_non_null(strstr(r.out, "overlap off"));
    tt_cli_result_free(&r);
    assert_true(same_bytes(path_in(out), path_in(out2)));
}

static void test_two_ranks_match_one_process(void **state) {
    (void)state;
    check_against_reference(2);
}

static void test_three_ranks_match_one_process(void **state) {
    (void)state;
    check_against_reference(3);
}

/* ---- killing and stopping a rank ------------------------------------------ */

static pid_t spawn(const char *const *argv, const char *out_path) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setpgid(0, 0);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The pid of the `tt` child of launcher pid whose OMPI_COMM_WORLD_RANK is
 * rank; 0 when not (yet) there. */
static pid_t find_rank(pid_t launcher, int rank) {
    DIR *d = opendir("/proc");
    if (!d) return 0;
    pid_t found = 0;
    struct dirent *e;
    char want[64];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    while (!found && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        char p[64], buf[512];
        snprintf(p, sizeof p, "/proc/%ld/stat", pid);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        if (!rp || sscanf(rp + 2, "%*c %d", &ppid) != 1 || ppid != launcher) continue;
        snprintf(p, sizeof p, "/proc/%ld/environ", pid);
        size_t len;
        char *env = tt_test_read_file(p, &len);
        for (size_t i = 0; env && i < len; i += strlen(env + i) + 1)
            if (!strcmp(env + i, want)) found = (pid_t)pid;
        free(env);
    }
    closedir(d);
    return found;
}

/* Waits up to limit seconds for pid; its exit status (128 + signal), or -1
 * on timeout (then the process group is killed). */
static int wait_for(pid_t pid, double limit) {
    const double t0 = now_s();
    int st;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (now_s() - t0 > limit) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

/* Starts a 2-rank run of `steps` steps saving every 20 into out, waits for
 * the first save, then sends sig to rank 1. Returns mpirun's exit status and
 * the seconds it took to end after the signal. */
static int run_and_signal(const char *out, const char *steps, int sig, const char *timeout,
                          double *secs, char **output) {
    const char *args[] = {
        "--data", path_in("data.txt"), TRAIN,   "--max-steps", steps, "--save-interval",
        "20",     "--comm-timeout",    timeout, "--out",       out,   NULL};
    char state[600];
    snprintf(state, sizeof state, "%.*s.state", (int)(strlen(out) - strlen(".safetensors")), out);
    pid_t pid = spawn(mpi_argv(2, args), path_in("signal.out"));
    assert_true(pid > 0);
    const double t0 = now_s();
    while (access(state, F_OK) != 0 && now_s() - t0 < 60) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    pid_t victim = find_rank(pid, 1);
    if (!victim) {
        wait_for(pid, 0);
        fail_msg("rank 1 not found (or the run ended before its first save)");
    }
    kill(victim, sig);
    const double t1 = now_s();
    int status = wait_for(pid, 120);
    *secs = now_s() - t1;
    if (sig == SIGSTOP) kill(victim, SIGKILL); /* if MPI_Abort did not reach it */
    *output = tt_test_read_file(path_in("signal.out"), NULL);
    return status;
}

static void test_sigkill_a_rank_then_resume(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    /* the uninterrupted 2-rank run */
    const char *ref[] = {
        "--data", path_in("data.txt"),         TRAIN, "--max-steps", "200", "--save-interval", "20",
        "--out",  path_in("ref2.safetensors"), NULL};
    tt_cli_result r;
    assert_int_equal(mpi_train(2, ref, &r), 0);
    if (r.status != 0) fail_msg("reference: %s", r.err);
    tt_cli_result_free(&r);

    double secs;
    char *out;
    int status = run_and_signal(path_in("kill.safetensors"), "200", SIGKILL, "30", &secs, &out);
    if (status == 0 || status == -1)
        fail_msg("mpirun ended with %d after a SIGKILL of rank 1:\n%s", status, out);
    assert_true(secs < 30 + 10); /* the survivors did not hang */
    free(out);
    /* the saved state is from before the kill; resuming ends where the
     * uninterrupted run ended, bit for bit (same N) */
    tt_train_state_info si;
    assert_int_equal(tt_train_state_info_read(path_in("kill.safetensors"), &si, NULL), TT_OK);
    assert_int_equal(si.n_procs, 2);
    assert_true(si.step >= 20 && si.step < 200);
    const char *res[] = {"--data",
                         path_in("data.txt"),
                         TRAIN,
                         "--max-steps",
                         "200",
                         "--save-interval",
                         "20",
                         "--out",
                         path_in("kill.safetensors"),
                         "--resume",
                         path_in("kill.safetensors"),
                         NULL};
    assert_int_equal(mpi_train(2, res, &r), 0);
    if (r.status != 0) fail_msg("resume: %s", r.err);
    assert_null(strstr(r.out, "note: the run was saved by"));
    tt_cli_result_free(&r);
    assert_true(same_bytes(path_in("kill.safetensors"), path_in("ref2.safetensors")));
}

static void test_resume_on_another_count(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    /* one process: 30 steps, then resumed to 50 (the schedule follows
     * max_steps, so this is the run to compare with) */
    const char *a1[] = {"tt",          "train", "--data", path_in("data.txt"),        TRAIN,
                        "--max-steps", "30",    "--out",  path_in("seq.safetensors"), NULL};
    const char *b1[] = {"tt",
                        "train",
                        "--data",
                        path_in("data.txt"),
                        TRAIN,
                        "--max-steps",
                        "50",
                        "--out",
                        path_in("seq.safetensors"),
                        "--resume",
                        path_in("seq.safetensors"),
                        NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(a1, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
    assert_int_equal(tt_cli_run(b1, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
    /* 2 ranks for 30 steps, then 3 ranks (and, from the same files, 1 process) to 50 */
    const char *a[] = {"--data", path_in("data.txt"),        TRAIN, "--max-steps", "30",
                       "--out",  path_in("mix.safetensors"), NULL};
    assert_int_equal(mpi_train(2, a, &r), 0);
    if (r.status != 0) fail_msg("%s", r.err);
    tt_cli_result_free(&r);
    size_t len;
    char *c = tt_test_read_file(path_in("mix.safetensors"), &len);
    assert_int_equal(tt_test_write_file(path_in("mixb.safetensors"), c, len), 0);
    free(c);
    c = tt_test_read_file(path_in("mix.state"), &len);
    assert_int_equal(tt_test_write_file(path_in("mixb.state"), c, len), 0);
    free(c);
    const char *b[] = {"--data",
                       path_in("data.txt"),
                       TRAIN,
                       "--max-steps",
                       "50",
                       "--out",
                       path_in("mix.safetensors"),
                       "--resume",
                       path_in("mix.safetensors"),
                       NULL};
    assert_int_equal(mpi_train(3, b, &r), 0);
    if (r.status != 0) fail_msg("%s", r.err);
    assert_non_null(strstr(r.out, "note: the run was saved by 2 processes and continues on 3"));
    tt_cli_result_free(&r);
    double d = weights_diff(path_in("mix.safetensors"), path_in("seq.safetensors"));
    if (!(d >= 0.0 && d <= 1e-5)) fail_msg("2 then 3 ranks vs 1 process: weights differ by %g", d);
    const char *b2[] = {"tt",
                        "train",
                        "--data",
                        path_in("data.txt"),
                        TRAIN,
                        "--max-steps",
                        "50",
                        "--out",
                        path_in("mixb.safetensors"),
                        "--resume",
                        path_in("mixb.safetensors"),
                        NULL};
    assert_int_equal(tt_cli_run(b2, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "note: the run was saved by 2 processes and continues on 1"));
    tt_cli_result_free(&r);
    d = weights_diff(path_in("mixb.safetensors"), path_in("seq.safetensors"));
    if (!(d >= 0.0 && d <= 1e-5))
        fail_msg("2 ranks then 1 process vs 1 process: weights differ by %g", d);
}

static void test_stopped_rank_times_out(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    double secs;
    char *out;
    int status = run_and_signal(path_in("stop.safetensors"), "100000", SIGSTOP, "2", &secs, &out);
    if (status == 0 || status == -1)
        fail_msg("mpirun ended with %d with rank 1 stopped:\n%s", status, out);
    assert_true(secs < 2 + 20);
    if (!strstr(out, "did not complete within 2 s")) fail_msg("no timeout message:\n%s", out);
    free(out);
}

/* ---- signals and failures of one rank (build/tt-faults) -------------------- */

/* argv for `mpirun ... -x TT_TEST_FAULT -np 2 tt-faults train <args>`. */
static const char **faults_argv(const char *const *args) {
    static const char *a[128];
    static char prog[600];
    snprintf(prog, sizeof prog, "%s-faults", tt_cli_path());
    int k = 0;
    a[k++] = "mpirun";
    a[k++] = "--oversubscribe";
    a[k++] = "--bind-to";
    a[k++] = "none";
    a[k++] = "-x";
    a[k++] = "TT_TEST_FAULT";
    a[k++] = "-np";
    a[k++] = "2";
    a[k++] = prog;
    a[k++] = "train";
    for (int i = 0; args[i]; i++)
        a[k++] = args[i];
    a[k] = NULL;
    return a;
}

/* A 2-rank run under tt-faults with TT_TEST_FAULT=fault: after its first save
 * the ranks in `who` (bit r: rank r) get sig. Returns mpirun's status (-1:
 * still running after `limit` s) and its output. */
static int faults_signal(const char *fault, const char *name, unsigned who, int sig, double limit,
                         char **output) {
    char out[64], state[64];
    snprintf(out, sizeof out, "%s.safetensors", name);
    snprintf(state, sizeof state, "%s.state", name);
    const char *args[] = {"--data",   path_in("data.txt"), TRAIN, "--max-steps", "100000",
                          "--save-interval", "20", "--comm-timeout", "60", "--out", path_in(out),
                          NULL};
    setenv("TT_TEST_FAULT", fault, 1);
    pid_t pid = spawn(faults_argv(args), path_in("faults.out"));
    assert_true(pid > 0);
    const double t0 = now_s();
    while (access(path_in(state), F_OK) != 0 && now_s() - t0 < 60) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    pid_t r0 = find_rank(pid, 0), r1 = find_rank(pid, 1);
    if (!r0 || !r1) {
        wait_for(pid, 0);
        fail_msg("ranks not found (or the run ended before its first save)");
    }
    if (who & 1) kill(r0, sig);
    if (who & 2) kill(r1, sig);
    int status = wait_for(pid, limit);
    unsetenv("TT_TEST_FAULT");
    *output = tt_test_read_file(path_in("faults.out"), NULL);
    return status;
}

/* SIGTERM to every rank (what srun, or mpirun after Ctrl-C, does) while rank 0
 * takes 1.5 s for each save, three times the signal grace: rank 1 waits for
 * the save instead of giving up, and the run ends saved with 128 + 15. */
static void test_signal_to_every_rank_saves(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    char *out;
    int status = faults_signal("0:slowsave", "sigall", 3, SIGTERM, 50, &out);
    if (status != 128 + SIGTERM) fail_msg("mpirun ended with %d, not 143:\n%s", status, out);
    if (!strstr(out, "tt train: interrupted (Terminated) at step")) fail_msg("%s", out);
    if (strstr(out, "second signal") || strstr(out, "probably died")) fail_msg("%s", out);
    free(out);
    /* the stop's save: a checkpoint and its state at the same step, past the first save */
    tt_train_state_info si;
    assert_int_equal(tt_train_state_info_read(path_in("sigall.safetensors"), &si, NULL), TT_OK);
    assert_true(si.step > 20);
    tt_model *m = NULL;
    assert_int_equal(tt_checkpoint_load(path_in("sigall.safetensors"), &m, NULL, NULL), TT_OK);
    assert_int_equal(tt_model_train_info(m)->steps, si.step);
    tt_model_free(m);
}

/* SIGTERM to rank 1 alone: every rank stops at the same step and exits
 * 128 + 15 (rank 0 learns the signal's number, not just that there was one). */
static void test_signal_to_one_rank_exit_status(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    char *out;
    int status = faults_signal("", "sigone", 2, SIGTERM, 50, &out);
    if (status != 128 + SIGTERM) fail_msg("mpirun ended with %d, not 143:\n%s", status, out);
    if (!strstr(out, "tt train: interrupted (Terminated) at step")) fail_msg("%s", out);
    free(out);
}

/* A failure on rank 1 alone: it says so itself and the job ends at once,
 * not after --comm-timeout (60 s). */
static void fail_alone(const char *fault, const char *needle) {
    const char *args[] = {"--data",         path_in("data.txt"), TRAIN, "--max-steps", "50",
                          "--comm-timeout", "60", "--out", path_in("alone.safetensors"), NULL};
    setenv("TT_TEST_FAULT", fault, 1);
    pid_t pid = spawn(faults_argv(args), path_in("alone.out"));
    const double t0 = now_s();
    int status = wait_for(pid, 30);
    const double secs = now_s() - t0;
    unsetenv("TT_TEST_FAULT");
    char *out = tt_test_read_file(path_in("alone.out"), NULL);
    if (status <= 0 || secs > 25) fail_msg("%s: mpirun ended with %d after %.1f s:\n%s", fault, status, secs, out);
    if (!strstr(out, needle)) fail_msg("%s: no '%s' in:\n%s", fault, needle, out);
    free(out);
}

static void test_rank_fails_alone(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    /* during set-up: every rank agrees, rank 0 names rank 1's error */
    fail_alone("1:setup", "rank 1: out of memory (test fault)");
    /* in step 5's forward, which only rank 1 knows about: it prints its own error */
    fail_alone("1:forward:5", "tt train (rank 1 of 2): rank 1: forward: out of memory (test fault)");
}

/* ---- bad input ------------------------------------------------------------- */

static void test_batch_not_divisible(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    const char *args[] = {"--data",
                          path_in("data.txt"),
                          MODEL,
                          "--seq-len",
                          "16",
                          "--batch-size",
                          "5",
                          "--max-steps",
                          "5",
                          "--out",
                          path_in("bad.safetensors"),
                          NULL};
    tt_cli_result r;
    assert_int_equal(mpi_train(2, args, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--batch-size 5 is not divisible by the 2 processes"));
    tt_cli_result_free(&r);
    assert_int_not_equal(access(path_in("bad.safetensors"), F_OK), 0);
}

/* mpirun's MPMD form gives each rank its own arguments. */
static void mpmd(const char *data0, const char *data1, tt_cli_result *r) {
    const char *argv[] = {"mpirun",
                          "--oversubscribe",
                          "--bind-to",
                          "none",
                          "-np",
                          "1",
                          tt_cli_path(),
                          "train",
                          "--data",
                          data0,
                          MODEL,
                          "--seq-len",
                          "16",
                          "--batch-size",
                          "4",
                          "--max-steps",
                          "5",
                          "--out",
                          path_in("mpmd.safetensors"),
                          ":",
                          "-np",
                          "1",
                          tt_cli_path(),
                          "train",
                          "--data",
                          data1,
                          MODEL,
                          "--seq-len",
                          "16",
                          "--batch-size",
                          "4",
                          "--max-steps",
                          "5",
                          "--out",
                          path_in("mpmd.safetensors"),
                          NULL};
    assert_int_equal(tt_run_program(argv, NULL, r), 0);
}

static void test_different_data_on_ranks(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    tt_cli_result r;
    mpmd(path_in("data.txt"), path_in("other.txt"), &r);
    assert_int_equal(r.status, 2);
    if (!strstr(r.err, "has different contents on different processes")) fail_msg("%s", r.err);
    assert_non_null(strstr(r.err, "rank 1 has"));
    tt_cli_result_free(&r);
    assert_int_not_equal(access(path_in("mpmd.safetensors"), F_OK), 0);
}

static void test_rank_cannot_read_data(void **state) {
    (void)state;
    if (!g_have_mpirun) skip();
    tt_cli_result r;
    mpmd(path_in("data.txt"), path_in("missing.txt"), &r);
    assert_int_equal(r.status, 2);
    if (!strstr(r.err, "tt train (rank 1 of 2): --data:")) fail_msg("%s", r.err);
    assert_non_null(strstr(r.err, "stopping every process: rank 1"));
    tt_cli_result_free(&r);
}

static void test_tt_without_mpi_refuses(void **state) {
    (void)state;
    /* tt-nompi: the same tt linked with the no-MPI dist.c (Makefile) */
    char path[600];
    snprintf(path, sizeof path, "%s-nompi", tt_cli_path());
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    const char *argv[] = {
        path, "train", "--data", path_in("data.txt"), "--out", path_in("nompi.safetensors"), NULL};
    tt_cli_result r;
    int rc = tt_run_program(argv, NULL, &r);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 1);
    if (!strstr(r.err, "this tt was built without MPI, but was started as one of 2 processes"))
        fail_msg("%s", r.err);
    assert_string_equal(r.out, "");
    tt_cli_result_free(&r);
    assert_int_not_equal(access(path_in("nompi.safetensors"), F_OK), 0);
    /* without a launcher it trains as always */
    const char *ok[] = {
        path,          "train", "--data", path_in("data.txt"),          MODEL, "--seq-len", "16",
        "--max-steps", "2",     "--out",  path_in("nompi.safetensors"), NULL};
    assert_int_equal(tt_run_program(ok, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
}

/* The library side without a launcher: a NULL dist is one process. */
static void test_dist_api_single_process(void **state) {
    (void)state;
    tt_dist_config dc = tt_dist_config_default();
    assert_true(dc.timeout_s == 300.0 && dc.overlap);
    assert_int_equal(tt_dist_rank(NULL), 0);
    assert_int_equal(tt_dist_size(NULL), 1);
    assert_true(tt_dist_comm_seconds(NULL) == 0.0);
    tt_dist_free(NULL);
    tt_dist_abort(NULL, 3); /* does nothing */
    assert_false(tt_dist_broken(NULL));
    tt_error e, mine;
    assert_int_equal(tt_dist_init(NULL, NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_dist_agree(NULL, TT_OK, NULL, &e), TT_OK);
    tt_error_set(&mine, TT_ERR_IO, "disk full");
    assert_int_equal(tt_dist_agree(NULL, TT_ERR_IO, &mine, &e), TT_ERR_IO);
    assert_string_equal(e.msg, "disk full");
    assert_int_equal(tt_dist_check_same(NULL, 42, "x", &e), TT_OK);
    assert_string_equal(tt_status_str(TT_ERR_COMM), "distributed run failed");
    /* the launcher's environment */
    const char *var = "unset";
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("MV2_COMM_WORLD_SIZE");
    unsetenv("SLURM_STEP_NUM_TASKS");
    assert_int_equal(tt_dist_launcher_size(&var), 0);
    assert_null(var);
    setenv("PMI_SIZE", "4", 1);
    setenv("PMI_RANK", "3", 1);
    assert_int_equal(tt_dist_launcher_size(&var), 4);
    assert_string_equal(var, "PMI_SIZE");
    assert_int_equal(tt_dist_launcher_rank(), 3);
    setenv("PMI_SIZE", "4x", 1); /* not a number: ignored */
    assert_int_equal(tt_dist_launcher_size(NULL), 0);
    unsetenv("PMI_SIZE");
    unsetenv("PMI_RANK");
    /* the state header */
    tt_train_state_info si;
    assert_int_equal(tt_train_state_info_read(NULL, &si, &e), TT_ERR_ARG);
    assert_int_equal(tt_train_state_info_read(path_in("none.safetensors"), &si, &e), TT_ERR_IO);
    assert_non_null(strstr(e.msg, "none.state"));
    assert_int_equal(tt_test_write_file(path_in("junk.state"), "TTSTATE1", 8), 0);
    assert_int_equal(tt_train_state_info_read(path_in("junk.safetensors"), &si, &e), TT_ERR_FORMAT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dist_api_single_process),
        cmocka_unit_test(test_two_ranks_match_one_process),
        cmocka_unit_test(test_three_ranks_match_one_process),
        cmocka_unit_test(test_sigkill_a_rank_then_resume),
        cmocka_unit_test(test_resume_on_another_count),
        cmocka_unit_test(test_stopped_rank_times_out),
        cmocka_unit_test(test_signal_to_every_rank_saves),
        cmocka_unit_test(test_signal_to_one_rank_exit_status),
        cmocka_unit_test(test_rank_fails_alone),
        cmocka_unit_test(test_batch_not_divisible),
        cmocka_unit_test(test_different_data_on_ranks),
        cmocka_unit_test(test_rank_cannot_read_data),
        cmocka_unit_test(test_tt_without_mpi_refuses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
