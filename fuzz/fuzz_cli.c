/*
 * fuzz_cli — the tt command line: the strict number parsers of cli/cli.c and
 * the argument parsing of every subcommand (linked from the tools objects, all but main.o).
 *
 * Input layout: byte 0 picks the target (a subcommand, or the cli_* helpers);
 * the rest is split on NUL bytes into at most 24 arguments.
 *
 * Keeping commands from doing real work: they run in a scratch directory
 * made at start-up and removed at once (so no relative name can exist or be
 * created); arguments containing '/' are rejected (so no
 * existing file can be named and no model or corpus can load); flags that
 * write files (--out, --plot, --log-json, --resume) are rejected; large
 * counts after --draws-like flags are rejected. `train` and `tour` get a final
 * unknown flag, so every flag before it is parsed and checked but the command
 * stops at the end of parsing. Oracles: no crash, no leak, no UB, an exit code
 * in {0, 1, 2}, and for the helpers: an accepted value is in range and is
 * what strtol/strtod read.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/cli.h"

#define MAX_ARGS 24

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    int stop_at_end; /* append an unknown flag: parse everything, run nothing */
} target;

static const target targets[] = {
    {"sample", cmd_sample, 0},     {"train", cmd_train, 1},   {"eval", cmd_eval, 0},
    {"info", cmd_info, 0},         {"generate", cmd_generate, 0}, {"chat", cmd_chat, 0},
    {"tour", cmd_tour, 1},         {"diversity", cmd_diversity, 0},
};
#define N_TARGETS (sizeof targets / sizeof *targets)

static const char *const writers[] = {"--out", "--plot", "--log-json", "--resume"};
static const char *const counts[] = {"--draws", "--num-samples", "--samples", "--max-new-tokens",
                                     "--max-steps", "--eval-batches", "--threads", "--len"};

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int is_count_flag(const char *a) {
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        if (starts_with(a, counts[i])) return 1;
    return 0;
}

static int too_big(const char *v) {
    char *end;
    double x = strtod(v, &end);
    return end != v && !(fabs(x) <= 2000.0); /* NaN too */
}

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_cli: %s\n", what);
        abort();
    }
}

static void fuzz_helpers(int argc, char **argv) {
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        int iv = 12345;
        if (cli_int("--n", s, -50, 1000000, &iv) == 0) {
            char *end;
            errno = 0;
            long ref = strtol(s, &end, 10);
            check(*s && !*end && errno == 0 && ref == iv && iv >= -50 && iv <= 1000000,
                  "cli_int accepted a value strtol disagrees with");
        }
        uint64_t u = 0;
        if (cli_u64("--seed", s, &u) == 0) {
            char *end;
            errno = 0;
            unsigned long long ref = strtoull(s, &end, 10);
            check(*s && !*end && errno == 0 && ref == u && s[0] != '-',
                  "cli_u64 accepted a value strtoull disagrees with");
        }
        float f = 0;
        if (cli_float("--p", s, 0.0, 1.0, &f) == 0)
            check(isfinite(f) && f >= 0.0f && f <= 1.0f, "cli_float accepted an out-of-range value");
        if (cli_float("--t", s, -INFINITY, INFINITY, &f) == 0)
            check(isfinite(f), "cli_float accepted a non-finite value");
        const char *v = NULL;
        int j = i;
        if (cli_opt(argc, argv, &j, "--x", &v)) check(j == i || j == i + 1, "cli_opt moved too far");
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            cli_json_string(null, s);
            fclose(null);
        }
    }
}

static char scratch[64];


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(scratch, sizeof scratch, "/tmp/tt-fuzz-cli-XXXXXX");
    if (!mkdtemp(scratch) || chdir(scratch) != 0) abort();
    /* remove it while it is the working directory: relative names then
     * neither exist nor can be created, and nothing is left behind */
    if (rmdir(scratch) != 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 2048) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    unsigned pick = data[0] % (N_TARGETS + 1);

    char *argv[MAX_ARGS + 4];
    int argc = 0;
    argv[argc++] = "tt";
    argv[argc++] = (char *)(pick < N_TARGETS ? targets[pick].name : "helpers");
    size_t off = 0;
    while (off < size - 1 && argc < MAX_ARGS + 2) {
        argv[argc++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    int reject = 0;
    for (int i = 2; i < argc && !reject; i++) {
        const char *a = argv[i];
        if (strchr(a, '/')) reject = 1;
        for (size_t w = 0; w < sizeof writers / sizeof *writers; w++)
            if (starts_with(a, writers[w])) reject = 1;
        if (is_count_flag(a)) {
            const char *eq = strchr(a, '=');
            if (eq ? too_big(eq + 1) : (i + 1 < argc && too_big(argv[i + 1]))) reject = 1;
        }
    }
    if (reject) {
        free(buf);
        return -1; /* not added to the corpus */
    }
    if (pick == N_TARGETS) {
        cli_command = "helpers";
        fuzz_helpers(argc, argv);
    } else {
        if (targets[pick].stop_at_end) argv[argc++] = "--zz-fuzz-stop";
        argv[argc] = NULL;
        cli_command = targets[pick].name;
        int rc = targets[pick].run(argc, argv);
        check(rc == 0 || rc == 1 || rc == 2, "a command returned an exit code outside {0, 1, 2}");
        int help = 0;
        for (int i = 2; i < argc; i++) help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
        if (targets[pick].stop_at_end && !help) check(rc != 0, "the final unknown flag was accepted");
    }
    free(buf);
    return 0;
}
