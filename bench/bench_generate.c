/*
 * Generation throughput: the tiny preset (V 65, random weights), batch 1 and
 * batch 8, 200 new tokens from an 8-token prompt, with and without the KV
 * cache; then PyTorch (bench/torch_generate.py) when /usr/bin/python3 has torch.
 *
 *   build/bench/bench_generate [--reps N] [--no-torch] [--new N]
 *
 * Each variant is first checked against the no-cache path (identical tokens),
 * then timed; tokens/s counts the generated tokens of all rows over the whole
 * generate call (prompt pass included; it is 8 tokens). Sampling: temperature
 * 1, no top-k/top-p (the notebook's defaults). The cache path is timed on one
 * thread, on a team of every core (OMP_NUM_THREADS if set), and with the
 * default n_threads = 0 (auto: one thread or the team, whichever the
 * generator measures faster as it runs), each as the median and the best of
 * --reps calls (default 21); the tokens are checked to be identical first.
 *
 * Then the context window (issue 12): W = 64 (tt train's default --seq-len),
 * an 8-token prompt and --window-new new tokens (default 300), in each
 * context-shift mode: the time of every decode step is taken in the token
 * callback, and the steps before the window first fills ("in-window") and
 * after ("past W") give two rates from the same calls (the median over
 * --reps calls, on one thread and with the default auto threads). Cache and
 * no-cache are checked to give the same tokens in both modes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "bench_env.h"
#include "par.h"
#include "tt/generate.h"
#include "tt/model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs one generate call; *secs wall time, *cpu process CPU time (robust to
 * a shared machine: time spent descheduled does not count). */
static int run(tt_generator *g, int B, int n_new, bool cache, tt_generation *out, double *secs,
               double *cpu) {
    static int prompt[8] = {18, 47, 56, 57, 58, 1, 15, 47};
    const int *ps[8];
    int lens[8];
    for (int r = 0; r < B; r++) {
        ps[r] = prompt;
        lens[r] = 8;
    }
    tt_generate_overrides o = {TT_OVR_USE_CACHE | TT_OVR_MAX_NEW_TOKENS,
                               tt_generator_config_default()};
    o.values.use_cache = cache;
    o.values.max_new_tokens = n_new;
    tt_error e;
    double t0 = now_s(), c0 = cpu_s();
    tt_status st = tt_generator_generate(g, ps, lens, B, &o, NULL, NULL, NULL, out, &e);
    *secs = now_s() - t0;
    *cpu = cpu_s() - c0;
    if (st) {
        fprintf(stderr, "bench_generate: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times the cache path: median and best of reps calls. */
static int time_cache(tt_generator *g, int B, int n_new, int reps, const char *label) {
    tt_generation out[8];
    double *ts = malloc((size_t)reps * sizeof(double)), *cs = malloc((size_t)reps * sizeof(double));
    if (!ts || !cs) return -1;
    for (int k = 0; k < reps; k++) {
        if (run(g, B, n_new, true, out, &ts[k], &cs[k])) return -1;
        tt_generations_free(out, B);
    }
    qsort(ts, (size_t)reps, sizeof(double), cmp_d);
    qsort(cs, (size_t)reps, sizeof(double), cmp_d);
    const double n_tok = (double)B * n_new;
    char name[64];
    snprintf(name, sizeof name, "%s (median)", label);
    printf("%-34s %6d %10.2f %12.0f %16.0f\n", name, B, 1e3 * ts[reps / 2], n_tok / ts[reps / 2],
           n_tok / cs[reps / 2]);
    snprintf(name, sizeof name, "%s (best)", label);
    printf("%-34s %6d %10.2f %12.0f %16.0f\n", name, B, 1e3 * ts[0], n_tok / ts[0], n_tok / cs[0]);
    free(ts);
    free(cs);
    fflush(stdout);
    return 0;
}

static bool same(const tt_generation *a, const tt_generation *b, int B);

/* The decode-step times of one call, split at the step whose context first
 * exceeds W (the prompt has P tokens: step s is drawn from P + s tokens). */
typedef struct {
    int P, W, B;
    double last;             /* time of the previous step's first row */
    double in_s, past_s;     /* summed step times */
    long in_n, past_n;       /* tokens (all rows) */
} win_clock;

static int on_step(void *user, int row, int token, int step) {
    (void)token;
    win_clock *w = user;
    if (row != 0) return 0;
    const double t = now_s();
    if (step > 0) {
        if (w->P + step <= w->W) w->in_s += t - w->last, w->in_n += w->B;
        else w->past_s += t - w->last, w->past_n += w->B;
    }
    w->last = t;
    return 0;
}

/* Tokens/s in-window and past W (medians of reps calls) of one mode. */
static int time_window(tt_generator *g, int B, int W, tt_context_shift shift, int n_new, int reps,
                       const char *label) {
    static int prompt[8] = {18, 47, 56, 57, 58, 1, 15, 47};
    const int *ps[8];
    int lens[8];
    for (int r = 0; r < B; r++) ps[r] = prompt, lens[r] = 8;
    tt_generate_overrides o = {TT_OVR_USE_CACHE | TT_OVR_MAX_NEW_TOKENS | TT_OVR_CONTEXT_LEN | TT_OVR_CONTEXT_SHIFT,
                               tt_generator_config_default()};
    o.values.max_new_tokens = n_new;
    o.values.context_len = W;
    o.values.context_shift = shift;
    tt_generation ref[8], out[8];
    tt_error e;
    /* verify: cache == no-cache in this mode */
    o.values.use_cache = false;
    if (tt_generator_generate(g, ps, lens, B, &o, NULL, NULL, NULL, ref, &e)) goto fail;
    o.values.use_cache = true;
    double *in = malloc((size_t)reps * sizeof(double)), *past = malloc((size_t)reps * sizeof(double));
    if (!in || !past) return -1;
    for (int k = 0; k < reps; k++) {
        win_clock wc = {8, W, B, 0.0, 0.0, 0.0, 0, 0};
        if (tt_generator_generate(g, ps, lens, B, &o, NULL, on_step, &wc, out, &e)) goto fail;
        if (!same(ref, out, B)) {
            fprintf(stderr, "bench_generate: cache and no-cache differ (%s)\n", tt_context_shift_str(shift));
            return -1;
        }
        tt_generations_free(out, B);
        in[k] = wc.in_n / wc.in_s;
        past[k] = wc.past_n / wc.past_s;
    }
    tt_generations_free(ref, B);
    qsort(in, (size_t)reps, sizeof(double), cmp_d);
    qsort(past, (size_t)reps, sizeof(double), cmp_d);
    printf("%-34s %6d %14.0f %14.0f %8.2f\n", label, B, in[reps / 2], past[reps / 2],
           past[reps / 2] / in[reps / 2]);
    fflush(stdout);
    free(in);
    free(past);
    return 0;
fail:
    fprintf(stderr, "bench_generate: %s\n", e.msg);
    return -1;
}

static bool same(const tt_generation *a, const tt_generation *b, int B) {
    for (int r = 0; r < B; r++)
        if (a[r].n_tokens != b[r].n_tokens ||
            memcmp(a[r].tokens, b[r].tokens, (size_t)a[r].n_tokens * sizeof(int)))
            return false;
    return true;
}

int main(int argc, char **argv) {
    bench_print_env();
    int reps = 21, n_new = 200, win_new = 300;
    bool torch = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--new") && i + 1 < argc)
            n_new = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--window-new") && i + 1 < argc)
            win_new = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-torch"))
            torch = false;
        else {
            fprintf(stderr, "usage: bench_generate [--reps N] [--new N] [--window-new N] [--no-torch]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    tt_model_config cfg;
    tt_error e;
    tt_model *m;
    /* one thread; every core, always; the default (auto: up to every core,
     * measured as it runs) */
    tt_generator *g1, *gn, *ga;
    const int nt = tt_par_auto_threads(); /* auto's count: OMP_NUM_THREADS or every CPU */
    tt_generator_config c1 = tt_generator_config_default(), cn = c1;
    c1.n_threads = 1;
    cn.n_threads = nt;
    if (tt_model_config_preset("tiny", 65, &cfg, &e) || tt_model_create(&m, &cfg, 1337, &e) ||
        tt_generator_create(&g1, m, &c1, &e) || tt_generator_create(&gn, m, &cn, &e) ||
        tt_generator_create(&ga, m, NULL, &e)) {
        fprintf(stderr, "bench_generate: %s\n", e.msg);
        return 1;
    }
    printf("tiny preset (C %d, L %d, NH %d, F %d, V %d, max_len %d), %d new tokens, 8-token prompt, "
           "%d calls per timing\n",
           cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.vocab_size, cfg.max_len, n_new,
           reps);
    printf("%-34s %6s %10s %12s %16s\n", "variant", "batch", "ms/call", "tokens/s", "tokens/CPU-s");
    char label[64];
    snprintf(label, sizeof label, "tt, KV cache, %d thread%s", nt, nt > 1 ? "s" : "");
    const int batches[2] = {1, 8};
    for (int bi = 0; bi < 2; bi++) {
        const int B = batches[bi];
        tt_generation ref[8], out[8];
        double t_nc, c_nc, t, c;
        /* verify: cache == no-cache, one thread == all of them */
        if (run(gn, B, n_new, false, ref, &t_nc, &c_nc) || run(gn, B, n_new, true, out, &t, &c))
            return 1;
        if (!same(ref, out, B)) {
            fprintf(stderr, "bench_generate: cache and no-cache differ at batch %d\n", B);
            return 1;
        }
        tt_generations_free(out, B);
        if (run(g1, B, n_new, true, out, &t, &c)) return 1;
        if (!same(ref, out, B)) {
            fprintf(stderr, "bench_generate: 1 and %d threads differ at batch %d\n", nt, B);
            return 1;
        }
        tt_generations_free(out, B);
        if (time_cache(g1, B, n_new, reps, "tt, KV cache, 1 thread")) return 1;
        if (nt > 1 && time_cache(gn, B, n_new, reps, label)) return 1;
        if (nt > 1 && time_cache(ga, B, n_new, reps, "tt, KV cache, auto (default)")) return 1;
        const double n_tok = (double)B * n_new;
        snprintf(label, sizeof label, "tt, no cache, %d thread%s", nt, nt > 1 ? "s" : "");
        printf("%-34s %6d %10.2f %12.0f %16.0f\n", label, B, 1e3 * t_nc, n_tok / t_nc,
               n_tok / c_nc);
        snprintf(label, sizeof label, "tt, KV cache, %d thread%s", nt, nt > 1 ? "s" : "");
        tt_generations_free(ref, B);
    }
    /* the context window: in-window against past W, both modes */
    const int W = 64;
    printf("\ncontext window W = %d, 8-token prompt, %d new tokens: decode tokens/s before the window "
           "first fills and after (medians of %d calls)\n",
           W, win_new, reps);
    printf("%-34s %6s %14s %14s %8s\n", "variant", "batch", "in-window", "past W", "ratio");
    for (int bi = 0; bi < 2; bi++)
        for (int sh = 0; sh < 2; sh++) {
            const tt_context_shift shift = sh ? TT_CONTEXT_SHIFT_EXACT : TT_CONTEXT_SHIFT_HALF;
            char lab[64];
            snprintf(lab, sizeof lab, "%s, 1 thread", tt_context_shift_str(shift));
            if (time_window(g1, batches[bi], W, shift, win_new, reps, lab)) return 1;
            snprintf(lab, sizeof lab, "%s, auto (default)", tt_context_shift_str(shift));
            if (nt > 1 && time_window(ga, batches[bi], W, shift, win_new, reps, lab)) return 1;
        }
    tt_generator_free(g1);
    tt_generator_free(gn);
    tt_generator_free(ga);
    tt_model_free(m);
    if (torch) {
        if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
            char cmd[256];
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/torch_generate.py --new %d", n_new);
            fflush(stdout);
            if (system(cmd) != 0) fprintf(stderr, "bench_generate: torch_generate.py failed\n");
        } else {
            printf("(PyTorch not available under /usr/bin/python3: skipped)\n");
        }
    }
    return 0;
}
