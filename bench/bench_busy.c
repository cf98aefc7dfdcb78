/*
 * Busy-core benchmark (issue 13): `tt train`, `tt eval` and `tt generate`
 * with default threads, on a quiet machine and with one core kept busy by
 * another process (`yes > /dev/null`), in alternation; prints each run's
 * throughput and busy / quiet as a ratio of medians (target >= 0.45).
 *
 *     build/bench/bench_busy [--rounds N] [--quick]
 *
 * Data: the first 200 kB of ../shared/data/tinyshakespeare.txt when it is
 * there, else a generated text of the same size. The tt binary is
 * $TT_BUILD/tt (build/tt by default). A figure means nothing without its
 * machine: the CPU line comes first; other processes on the machine make
 * both columns noisy.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_env.h"

extern char **environ;

static char g_tt[512], g_dir[256], g_data[300], g_eval[300], g_model[300];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs sh -c cmd; its stdout into out (cap bytes). @return the exit status. */
static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    return pclose(p);
}

static int write_data(void) {
    const size_t want = 200000;
    char *text = malloc(want);
    if (!text) return -1;
    size_t n = 0;
    FILE *f = fopen("../shared/data/tinyshakespeare.txt", "rb");
    if (f) {
        n = fread(text, 1, want, f);
        fclose(f);
    }
    if (n < want) { /* a text of words from a fixed stream */
        static const char *const words[] = {"the ",  "king ", "and ",   "queen ", "of ",
                                            "a ",    "fair ", "land\n", "my ",    "lord, ",
                                            "thou ", "art ",  "sweet ", "love. "};
        unsigned x = 12345;
        n = 0;
        while (n < want) {
            x = x * 1103515245u + 12345u;
            const char *w = words[(x >> 16) % 14];
            for (; *w && n < want; w++)
                text[n++] = *w;
        }
    }
    FILE *o = fopen(g_data, "wb"), *e = fopen(g_eval, "wb");
    int rc = !o || !e || fwrite(text, 1, n, o) != n || fwrite(text, 1, n / 2, e) != n / 2;
    if (o) rc |= fclose(o) != 0;
    if (e) rc |= fclose(e) != 0;
    free(text);
    return rc ? -1 : 0;
}

typedef struct {
    const char *name;
    double quiet[16], busy[16];
} series;

/* tokens/s of one run of each command; 0 on failure */
static double train_tps(int steps) {
    char cmd[2048], out[65536];
    snprintf(cmd, sizeof cmd,
             "'%s' train --data '%s' --max-steps %d --eval-interval 0 --log-interval 1000 --out "
             "'%s/run.safetensors' "
             "2>&1",
             g_tt, g_data, steps, g_dir);
    if (run(cmd, out, sizeof out) != 0) {
        fprintf(stderr, "bench_busy: tt train failed:\n%s\n", out);
        return 0;
    }
    const char *d = strstr(out, "done: ");
    const char *p = d ? strchr(d, '(') : NULL;
    return p ? atof(p + 1) : 0;
}

static double eval_tps(void) {
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --text-file '%s' --window 64 --json", g_tt,
             g_model, g_eval);
    const double t0 = now_s();
    if (run(cmd, out, sizeof out) != 0) {
        fprintf(stderr, "bench_busy: tt eval failed:\n%s\n", out);
        return 0;
    }
    const double dt = now_s() - t0;
    const char *t = strstr(out, "\"tokens\":");
    return t ? atof(t + 9) / dt : 0;
}

static double generate_tps(int samples, int tokens) {
    char cmd[2048];
    static char out[1 << 20];
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s' --prompt 'ROMEO:' --num-samples %d --max-new-tokens %d "
             "--seed 1 --json",
             g_tt, g_model, samples, tokens);
    if (run(cmd, out, sizeof out) != 0) {
        fprintf(stderr, "bench_busy: tt generate failed\n");
        return 0;
    }
    const char *t = strstr(out, "\"tokens_per_s\":");
    return t ? atof(t + 15) : 0;
}

static pid_t start_busy(void) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *argv[] = {"yes", NULL};
    pid_t pid = -1;
    if (posix_spawnp(&pid, "yes", &fa, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    usleep(200000); /* let it take its core */
    return pid;
}

static void stop_busy(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv) {
    bench_print_env();
    int rounds = 3, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_busy [--rounds N] [--quick]\n");
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    if (rounds > 16) rounds = 16;
    const char *b = getenv("TT_BUILD");
    snprintf(g_tt, sizeof g_tt, "%s/tt", b && *b ? b : "build");
    if (access(g_tt, X_OK) != 0) {
        fprintf(stderr, "bench_busy: %s not found (make first)\n", g_tt);
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/tt-bench-busy-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("bench_busy: mkdtemp");
        return 1;
    }
    snprintf(g_data, sizeof g_data, "%s/data.txt", g_dir);
    snprintf(g_eval, sizeof g_eval, "%s/eval.txt", g_dir);
    snprintf(g_model, sizeof g_model, "%s/run.safetensors", g_dir);
    if (write_data() != 0) {
        fprintf(stderr, "bench_busy: could not write the data in %s\n", g_dir);
        return 1;
    }
    const int steps = quick ? 60 : 150;
    printf("== busy core: default threads, quiet vs one core kept busy by `yes > /dev/null`, %d "
           "rounds in "
           "alternation\n   train: tiny, %d steps, T 64, B 12 on 200 kB; eval: --window 64 on 100 "
           "kB; generate: "
           "'ROMEO:' + 1000 tokens, batch 1 and 8\n",
           rounds, steps);
    if (train_tps(steps) <= 0) return 1; /* the checkpoint that eval and generate read */
    series s[4] = {{"tt train (tokens/s)", {0}, {0}},
                   {"tt eval (tokens/s)", {0}, {0}},
                   {"tt generate, batch 1 (tokens/s)", {0}, {0}},
                   {"tt generate, batch 8 (tokens/s)", {0}, {0}}};
    int failed = 0;
    for (int r = 0; r < rounds && !failed; r++) {
        for (int busy = 0; busy <= 1; busy++) {
            const pid_t y = busy ? start_busy() : 0;
            if (busy && y <= 0) {
                fprintf(stderr, "bench_busy: could not start `yes`\n");
                return 1;
            }
            double v[4] = {train_tps(steps), eval_tps(), generate_tps(1, 1000),
                           generate_tps(8, 1000)};
            stop_busy(y);
            for (int k = 0; k < 4; k++) {
                (busy ? s[k].busy : s[k].quiet)[r] = v[k];
                failed |= v[k] <= 0;
            }
            printf("   round %d %-5s train %8.0f  eval %8.0f  generate %8.0f / %8.0f\n", r + 1,
                   busy ? "busy" : "quiet", v[0], v[1], v[2], v[3]);
            fflush(stdout);
        }
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_busy: could not remove %s\n", g_dir);
    if (failed) return 1;
    printf("   %-34s %10s %10s %7s\n", "median of the rounds", "quiet", "busy", "ratio");
    for (int k = 0; k < 4; k++) {
        qsort(s[k].quiet, (size_t)rounds, sizeof(double), cmp_double);
        qsort(s[k].busy, (size_t)rounds, sizeof(double), cmp_double);
        const double q = s[k].quiet[rounds / 2], bz = s[k].busy[rounds / 2];
        printf("   %-34s %10.0f %10.0f %6.2f%s\n", s[k].name, q, bz, bz / q,
               bz / q >= 0.45 ? "" : "  (< 0.45)");
    }
    return 0;
}
