/* bench_sampling — ns per draw for every strategy, fast path beside the plain
 * full-sort reference, on Gaussian logits (std 1 and 3), V = 65, 32000 and
 * 128256, batch 1 and 32. Every configuration is first checked: the fast
 * path must draw the same tokens as the reference for the same streams.
 * Prints a Markdown table (docs/benchmarks.md): thread CPU time per draw,
 * the best of three alternating rounds of each variant.
 *
 *   build/bench/bench_sampling [--quick] [--vocab V]   (--quick: shorter timings;
 *                                                      --vocab: one of 65, 32000, 128256)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_env.h"
#include "tt/rng.h"
#include "tt/sampling.h"

/* Thread CPU time: the machine these figures come from is shared, and CPU
 * time leaves out the time the thread waited for a core. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *name;
    tt_sampling_params p;
    bool hist; /* penalties over a history: single draws with tt_sampler_set_history */
} config;

/* The history the penalties see (256 tokens, 64 distinct). */
static int g_hist[256];
static const tt_token_history g_history = {g_hist, 256, 64};

static volatile int sink;

static tt_sampling_params P(tt_strategy st, float t, int k, float p) {
    tt_sampling_params q = tt_sampling_params_default();
    q.strategy = st;
    q.temperature = t;
    q.top_k = k;
    q.top_p = p;
    return q;
}

/* One pass: one draw per row. batch > 1 goes through tt_sample_batch (fast)
 * or a loop of reference draws. Returns 0, or -1 on a library error. */
static int pass(tt_sampler *s, const config *c, const float *logits, int B, int V, bool reference,
                tt_rng *rngs, uint64_t seed, int *out) {
    tt_sampler_set_history(s, c->hist ? &g_history : NULL, NULL);
    if (reference || B == 1 || c->hist) {
        for (int r = 0; r < B; r++) {
            int tok;
            tt_status st = reference
                               ? tt_sampler_sample_reference(s, &c->p, logits + (size_t)r * V,
                                                             &rngs[r], &tok, NULL)
                               : tt_sampler_sample(s, &c->p, logits + (size_t)r * V, &rngs[r],
                                                   &tok, NULL);
            if (st != TT_OK) return -1;
            sink += tok;
        }
        return 0;
    }
    if (tt_sample_batch(&c->p, logits, B, V, 1, seed, out, NULL) != TT_OK) return -1;
    sink += out[0];
    return 0;
}

/* ns per draw, timing for at least min_s seconds (and 3 passes). */
static double time_ns(tt_sampler *s, const config *c, const float *logits, int B, int V,
                      bool reference, double min_s) {
    tt_rng *rngs = malloc((size_t)B * sizeof *rngs);
    int *out = malloc((size_t)B * sizeof *out);
    for (int r = 0; r < B; r++) tt_rng_seed_stream(&rngs[r], 1, (uint64_t)r);
    long passes = 0, chunk = 1; /* read the clock rarely: it costs about 1 us */
    double t0 = now_s(), t;
    do {
        for (long j = 0; j < chunk; j++, passes++) {
            if (pass(s, c, logits, B, V, reference, rngs, (uint64_t)passes, out)) {
                fprintf(stderr, "bench_sampling: %s failed\n", c->name);
                exit(1);
            }
        }
        if (chunk < 4096) chunk *= 2;
        t = now_s() - t0;
    } while (t < min_s || passes * B < 3);
    free(rngs);
    free(out);
    return t * 1e9 / ((double)passes * B);
}

/* The fast path and the reference must agree, draw for draw. */
static void verify(tt_sampler *s, const config *c, const float *logits, int B, int V) {
    tt_sampler_set_history(s, c->hist ? &g_history : NULL, NULL);
    for (int r = 0; r < B && r < 4; r++) {
        tt_rng a, b;
        tt_rng_seed_stream(&a, 2024, (uint64_t)r);
        b = a;
        for (int d = 0; d < 10; d++) {
            int t1, t2;
            if (tt_sampler_sample(s, &c->p, logits + (size_t)r * V, &a, &t1, NULL) != TT_OK ||
                tt_sampler_sample_reference(s, &c->p, logits + (size_t)r * V, &b, &t2, NULL) !=
                    TT_OK ||
                t1 != t2) {
                fprintf(stderr, "bench_sampling: %s, V %d, row %d: fast and reference differ\n",
                        c->name, V, r);
                exit(1);
            }
        }
    }
    tt_sampler_set_history(s, NULL, NULL);
    if (c->hist) return;
    /* the batch entry point draws what tt_sampler_sample draws */
    int *out = malloc((size_t)B * 3 * sizeof *out);
    if (tt_sample_batch(&c->p, logits, B, V, 3, 77, out, NULL) != TT_OK) exit(1);
    for (int r = 0; r < B; r++) {
        tt_rng a;
        tt_rng_seed_stream(&a, 77, (uint64_t)r);
        for (int d = 0; d < 3; d++) {
            int t;
            if (tt_sampler_sample(s, &c->p, logits + (size_t)r * V, &a, &t, NULL) != TT_OK ||
                t != out[r * 3 + d]) {
                fprintf(stderr, "bench_sampling: %s: batch and single draws differ\n", c->name);
                exit(1);
            }
        }
    }
    free(out);
}

int main(int argc, char **argv) {
    bench_print_env();
    double min_s = 0.2;
    int only_v = 0; /* --vocab V: just that row of the table */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) min_s = 0.02;
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) only_v = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_sampling [--quick] [--vocab V]\n");
            return 2;
        }
    }
    const config configs[] = {
        {"greedy", P(TT_STRATEGY_GREEDY, 1.0f, 0, 1.0f), false},
        {"temperature 0.8", P(TT_STRATEGY_TEMPERATURE, 0.8f, 0, 1.0f), false},
        {"top-k 50", P(TT_STRATEGY_TOP_K, 1.0f, 50, 1.0f), false},
        {"top-p 0.9", P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.9f), false},
        {"combined T0.8 k50 p0.9", P(TT_STRATEGY_COMBINED, 0.8f, 50, 0.9f), false},
        {"combined T1 k0 p0.95", P(TT_STRATEGY_COMBINED, 1.0f, 0, 0.95f), false},
    };
    tt_sampling_params full = P(TT_STRATEGY_COMBINED, 0.8f, 50, 0.9f);
    full.x.min_p = 0.05f;
    full.x.typical_p = 0.95f;
    full.x.repetition_penalty = 1.1f;
    full.x.presence_penalty = 0.2f;
    full.x.frequency_penalty = 0.2f;
    tt_sampling_params full_k0 = full;
    full_k0.top_k = 0;
    const config full_configs[] = {
        {"full chain + penalties (T0.8 k50 p0.9 min-p0.05 typ0.95 rep1.1 pres/freq0.2)", full, true},
        {"full chain + penalties, k0 (T0.8 p0.9 min-p0.05 typ0.95 rep1.1 pres/freq0.2)", full_k0, true},
    };
    for (int i = 0; i < 256; i++) g_hist[i] = (i * 37) % 64;
    const int Vs[] = {65, 32000, 128256}, Bs[] = {1, 32};
    const double sds[] = {1.0, 3.0};
    printf("| V | batch | std | strategy | kept (row 0) | fast ns/draw | full-sort ns/draw | "
           "speed-up |\n");
    printf("|---:|---:|---:|---|---:|---:|---:|---:|\n");
    for (size_t vi = 0; vi < 3; vi++) {
        const int V = Vs[vi];
        if (only_v && V != only_v) continue;
        tt_sampler *s;
        if (tt_sampler_create(&s, V, NULL) != TT_OK) return 1;
        float *probs = malloc((size_t)V * sizeof *probs);
        for (size_t bi = 0; bi < 2; bi++) {
            const int B = Bs[bi];
            float *logits = malloc((size_t)B * V * sizeof *logits);
            for (size_t si = 0; si < 2; si++) {
                tt_rng g;
                tt_rng_seed_stream(&g, 12345, vi * 10 + si);
                for (size_t i = 0; i < (size_t)B * V; i++)
                    logits[i] = (float)(sds[si] * tt_rng_normal(&g));
                const size_t n_cfg = sizeof configs / sizeof *configs;
                for (size_t ci = 0; ci < n_cfg + 2; ci++) {
                    const config *cc = ci < n_cfg ? &configs[ci] : &full_configs[ci - n_cfg];
                    verify(s, cc, logits, B, V);
                    int n_kept = 0;
                    tt_sampler_set_history(s, cc->hist ? &g_history : NULL, NULL);
                    tt_sampler_filter(s, &cc->p, logits, probs, NULL, &n_kept, NULL, NULL);
                    /* alternate the two, keep the best of three rounds of each */
                    double fast = INFINITY, ref = INFINITY;
                    for (int round = 0; round < 3; round++) {
                        double f = time_ns(s, cc, logits, B, V, false, min_s / 3);
                        double r = time_ns(s, cc, logits, B, V, true, min_s / 3);
                        if (f < fast) fast = f;
                        if (r < ref) ref = r;
                    }
                    printf("| %d | %d | %g | %s | %d | %.0f | %.0f | %.1fx |\n", V, B, sds[si],
                           cc->name, n_kept, fast, ref, ref / fast);
                    fflush(stdout);
                }
            }
            free(logits);
        }
        free(probs);
        tt_sampler_free(s);
    }
    return 0;
}
