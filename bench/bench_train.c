/*
 * Training-step benchmark (issues 3 and 13): ms/step and tokens/s of one full
 * step (zero_grad, forward, backward, clip 1.0, AdamW as tt train runs them; default threads) for
 *   (a) the tiny preset, dropout 0, seq_len 64, batch 12 (V = 65)
 *   (b) the tiny preset (dropout 0.1), seq_len 256, batch 16
 *   (c) the small preset, dropout 0, seq_len 64, batch 12
 * after checking the model's logits and loss against a plain double-precision
 * reference written here (no BLAS, no threads), and the fraction of the
 * machine's FP32 peak each reaches: the model's matrix-product FLOPs per step
 * (forward, and backward without the recomputed attention scores) over the
 * peak of an FMA loop on every CPU (each thread timed by its own CPU clock,
 * as bench_gemm does, so other processes do not lower it). When
 * /usr/bin/python3 can import torch, bench/torch_train.py measures the same
 * model in PyTorch (2 threads) as the environment is and with
 * OPENBLAS_CORETYPE unset + OPENBLAS_NUM_THREADS=1.
 *
 *     build/bench/bench_train [--steps N] [--no-torch] [--only a|b|c]
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_env.h"
#include "tt/model.h"
#include "tt/optim.h"
#include "optim_internal.h" /* the step as tt train runs it */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

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

static double thread_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the FP32 peak: independent FMA chains on every CPU -------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PEAK_X86 1
__attribute__((target("avx512f"))) static float fma_loop_zmm(long iters) {
    __m512 a[24];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_ymm(long iters) {
    __m256 a[12];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float f[8];
    _mm256_storeu_ps(f, s);
    return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#else
#define PEAK_X86 0
#endif

typedef struct {
    int zmm;
    double gflops;
    float sink;
} peak_arg;

static void *peak_thread(void *p) {
    peak_arg *a = p;
#if PEAK_X86
    const long iters = a->zmm ? 2000000 : 4000000;
    const double flops = a->zmm ? (double)iters * 24 * 16 * 2 : (double)iters * 12 * 8 * 2;
    const double t0 = thread_s();
    a->sink = a->zmm ? fma_loop_zmm(iters) : fma_loop_ymm(iters);
    a->gflops = flops / (thread_s() - t0) * 1e-9;
#else
    a->gflops = 0;
#endif
    return NULL;
}

/* GFLOP/s of one FMA loop per online CPU, summed; best of 3 (0: not x86) */
static double fp32_peak(void) {
    const char *isa = tt_kernel_isa();
    const int zmm = !strcmp(isa, "avx512"), ok = zmm || !strcmp(isa, "avx2");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (!ok || ncpu < 1) return 0;
    if (ncpu > 256) ncpu = 256;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        pthread_t th[256];
        peak_arg a[256];
        double g = 0;
        for (long i = 0; i < ncpu; i++) {
            a[i] = (peak_arg){zmm, 0, 0};
            if (pthread_create(&th[i], NULL, peak_thread, &a[i])) return 0;
        }
        for (long i = 0; i < ncpu; i++) {
            pthread_join(th[i], NULL);
            g += a[i].gflops;
        }
        best = g > best ? g : best;
    }
    return best;
}

/* Matrix-product FLOPs of one training step: the forward's products, twice
 * that for the Linear backward (dx and dW), and four attention products in
 * backward (the recomputed scores not counted). Attention counts the full
 * [T, T] squares, as the kernels compute them. */
static double step_flops(const tt_model_config *c, int B, int T) {
    const double N = (double)B * T, C = c->d_model, F = c->d_ff, V = c->vocab_size, L = c->n_layers;
    const double lin = L * (4 * 2 * N * C * C + 2 * 2 * N * C * F) + 2 * N * C * V;
    const double att1 = 2.0 * B * T * T * C; /* one [T, T] x hs product over every (b, h) */
    return 3 * lin + L * 6 * att1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- plain reference: the forward in double, straight loops --------------- */

static void ref_layernorm(double *out, const double *x, const float *w, const float *b, int N, int C) {
    for (int n = 0; n < N; n++) {
        double mu = 0, var = 0;
        for (int c = 0; c < C; c++) mu += x[n * C + c];
        mu /= C;
        for (int c = 0; c < C; c++) var += (x[n * C + c] - mu) * (x[n * C + c] - mu);
        double r = 1.0 / sqrt(var / C + 1e-5);
        for (int c = 0; c < C; c++) out[n * C + c] = (x[n * C + c] - mu) * r * w[c] + b[c];
    }
}

static void ref_linear(double *out, const double *x, const float *w, const float *b, int N, int In, int Out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < Out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < In; i++) s += x[n * In + i] * w[(size_t)o * In + i];
            out[n * Out + o] = s;
        }
}

/* logits [B*T, V] and mean CE of the model's current weights (eval mode) */
static double ref_forward(const tt_model *m, const int *tok, const int *tgt, int B, int T, double *logits) {
    const tt_model_config *c = tt_model_get_config(m);
    const tt_model_weights *w = tt_model_weights_get(m);
    const int C = c->d_model, F = c->d_ff, V = c->vocab_size, NH = c->n_heads, hs = C / NH, N = B * T;
    double *x = calloc((size_t)N * C, sizeof(double)), *h = calloc((size_t)N * C, sizeof(double));
    double *q = calloc((size_t)N * C, sizeof(double)), *k = calloc((size_t)N * C, sizeof(double));
    double *v = calloc((size_t)N * C, sizeof(double)), *y = calloc((size_t)N * C, sizeof(double));
    double *o = calloc((size_t)N * C, sizeof(double)), *f = calloc((size_t)N * F, sizeof(double));
    double *att = calloc((size_t)T, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++)
            x[n * C + i] = (double)w->tok_emb[tok[n] * C + i] * sqrt((double)C) + w->pos[(n % T) * C + i];
    for (int l = 0; l < c->n_layers; l++) {
        const tt_layer_weights *lw = &w->layers[l];
        ref_layernorm(h, x, lw->ln1_w, lw->ln1_b, N, C);
        ref_linear(q, h, lw->wq, lw->bq, N, C, C);
        ref_linear(k, h, lw->wk, lw->bk, N, C, C);
        ref_linear(v, h, lw->wv, lw->bv, N, C, C);
        for (int b = 0; b < B; b++)
            for (int hd = 0; hd < NH; hd++)
                for (int t = 0; t < T; t++) {
                    double mx = -1e300, sum = 0;
                    for (int s = 0; s <= t; s++) {
                        double d = 0;
                        for (int j = 0; j < hs; j++)
                            d += q[(b * T + t) * C + hd * hs + j] * k[(b * T + s) * C + hd * hs + j];
                        att[s] = d / sqrt((double)hs);
                        if (att[s] > mx) mx = att[s];
                    }
                    for (int s = 0; s <= t; s++) sum += (att[s] = exp(att[s] - mx));
                    for (int j = 0; j < hs; j++) {
                        double acc = 0;
                        for (int s = 0; s <= t; s++) acc += att[s] / sum * v[(b * T + s) * C + hd * hs + j];
                        y[(b * T + t) * C + hd * hs + j] = acc;
                    }
                }
        ref_linear(o, y, lw->wo, lw->bo, N, C, C);
        for (int i = 0; i < N * C; i++) x[i] += o[i];
        ref_layernorm(h, x, lw->ln2_w, lw->ln2_b, N, C);
        ref_linear(f, h, lw->fc1_w, lw->fc1_b, N, C, F);
        for (int i = 0; i < N * F; i++) f[i] = 0.5 * f[i] * (1.0 + erf(f[i] / sqrt(2.0)));
        ref_linear(o, f, lw->fc2_w, lw->fc2_b, N, F, C);
        for (int i = 0; i < N * C; i++) x[i] += o[i];
    }
    ref_layernorm(h, x, w->lnf_w, w->lnf_b, N, C);
    ref_linear(logits, h, w->lm_head, NULL, N, C, V);
    double loss = 0;
    for (int n = 0; n < N; n++) {
        double mx = -1e300, s = 0;
        for (int i = 0; i < V; i++) mx = fmax(mx, logits[n * V + i]);
        for (int i = 0; i < V; i++) s += exp(logits[n * V + i] - mx);
        loss += log(s) + mx - logits[n * V + tgt[n]];
    }
    free(x), free(h), free(q), free(k), free(v), free(y), free(o), free(f), free(att);
    return loss / N;
}

/* ---- one configuration ------------------------------------------------------ */

typedef struct {
    const char *label, *preset;
    int T, B;
    float dropout;
} bench_case;

static int run_case(const bench_case *bc, int steps, double peak, double *ms_out, double *tps_out) {
    tt_model_config c;
    tt_error err;
    tt_model_config_preset(bc->preset, 65, &c, &err);
    c.dropout = bc->dropout;
    tt_model *m;
    if (tt_model_create(&m, &c, 1337, &err) != TT_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    const int B = bc->B, T = bc->T, N = B * T;
    int *tok = malloc((size_t)N * sizeof(int)), *tgt = malloc((size_t)N * sizeof(int));
    tt_rng rng;
    tt_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) {
        tok[i] = (int)tt_rng_below(&rng, 65);
        tgt[i] = (int)tt_rng_below(&rng, 65);
    }
    /* verify: 2 rows against the plain reference */
    {
        int vb = 2;
        float loss;
        double *ref = malloc((size_t)vb * T * 65 * sizeof(double));
        double rl = ref_forward(m, tok, tgt, vb, T, ref);
        if (tt_model_forward(m, tok, tgt, vb, T, TT_MODE_EVAL, NULL, &loss, &err) != TT_OK) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
        const float *lg = tt_model_logits(m);
        double worst = 0;
        for (int i = 0; i < vb * T * 65; i++) {
            double d = fabs(lg[i] - ref[i]) / (1e-2 + fabs(ref[i])); /* float32 vs double */
            if (d > worst) worst = d;
        }
        free(ref);
        if (worst > 1e-3 || fabs(loss - rl) > 1e-4 * rl) {
            fprintf(stderr, "bench_train: %s: logits differ from the plain reference (rel %.3g, loss %.6f vs %.6f)\n",
                    bc->label, worst, (double)loss, rl);
            return 1;
        }
        printf("  %s: verified against the plain reference (max rel diff %.2g, loss %.6f vs %.6f)\n", bc->label,
               worst, (double)loss, rl);
    }
    tt_adamw *opt;
    if (tt_adamw_create(&opt, tt_model_num_params(m), &err) != TT_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    tt_adamw_config oc = tt_adamw_config_default();
    size_t np = tt_model_num_params(m);
    /* the step as tt train runs it (src/train.c): weight decay by the tensor
     * table's spans, the clipping factor applied inside AdamW */
    const size_t n_tensors = tt_model_decay_span_count(m);
    tt_decay_span *spans = malloc(n_tensors * sizeof *spans);
    if (!spans) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    size_t n_spans = 0;
    for (size_t t = 0; t < n_tensors; t++) n_spans += tt_model_decay_spans(m, &spans[n_spans], t);
    double *times = malloc((size_t)steps * sizeof(double));
    float first = 0, last = 0;
    double cpu0 = 0;
    for (int s = -3; s < steps; s++) {
        if (s == 0) cpu0 = cpu_s();
        double t0 = now_s();
        float loss;
        tt_model_zero_grad(m);
        if (tt_model_forward(m, tok, tgt, B, T, TT_MODE_TRAIN, &rng, &loss, &err) != TT_OK ||
            tt_model_backward(m, &err) != TT_OK) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
        const float norm = tt_adamw_grad_norm(opt, tt_model_grads_flat(m), np), coef = 1.0f / (norm + 1e-6f);
        tt_adamw_step_spans(opt, &oc, 1e-3f, tt_model_params_flat(m), tt_model_grads_flat(m), spans, n_spans,
                            coef < 1.0f ? coef : 1.0f);
        double dt = now_s() - t0;
        if (s >= 0) times[s] = dt;
        if (s == -3) first = loss;
        last = loss;
    }
    double cpu_ms = (cpu_s() - cpu0) / steps * 1e3;
    qsort(times, (size_t)steps, sizeof(double), cmp_double);
    double med = times[steps / 2];
    *ms_out = med * 1e3;
    *tps_out = N / med;
    printf("  %s: %d steps, loss %.4f -> %.4f, median %.2f ms/step (min %.2f), %.0f tokens/s; CPU %.1f ms/step\n",
           bc->label, steps + 3, (double)first, (double)last, med * 1e3, times[0] * 1e3, N / med, cpu_ms);
    const double gf = step_flops(&c, B, T) * 1e-9;
    if (peak > 0)
        printf("  %s: %.2f GFLOP/step: %.0f GFLOP/s at the median = %.1f %% of the FP32 peak (%.1f %% at the min)\n",
               bc->label, gf, gf / med, 100 * gf / med / peak, 100 * gf / times[0] / peak);
    free(times);
    free(spans);
    free(tok);
    free(tgt);
    tt_adamw_free(opt);
    tt_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    bench_print_env();
    int steps = 30, torch = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-torch") == 0) torch = 0;
        else if (strcmp(argv[i], "--no-passive") == 0) continue; /* accepted: there is no OpenMP left */
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && strlen(argv[i + 1]) == 1 &&
                 strchr("abc", argv[i + 1][0]))
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_train [--steps N] [--no-torch] [--only a|b|c]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    const double peak = fp32_peak();
    if (peak > 0)
        printf("FP32 peak: %.0f GFLOP/s (%s FMA loop on each of the %ld online CPUs, per-thread CPU time)\n", peak,
               tt_kernel_isa(), sysconf(_SC_NPROCESSORS_ONLN));
    printf("== training step (zero_grad + forward + backward + clip + AdamW), V=65, default threads\n");
    const bench_case cases[3] = {{"(a) tiny T=64 B=12 dropout 0", "tiny", 64, 12, 0.0f},
                                 {"(b) tiny T=256 B=16 dropout 0.1", "tiny", 256, 16, 0.1f},
                                 {"(c) small T=64 B=12 dropout 0", "small", 64, 12, 0.0f}};
    double ms[3] = {0, 0, 0}, tps[3] = {0, 0, 0};
    long rss_a = 0;
    for (int i = 0; i < 3; i++) {
        if (only && only[0] != "abc"[i]) continue;
        if (run_case(&cases[i], i == 0 ? steps : (steps + 5) / 6, peak, &ms[i], &tps[i]) != 0) return 1;
        if (i == 0) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            rss_a = ru.ru_maxrss;
            printf("  peak resident memory after (a): %.1f MB\n", rss_a / 1024.0);
        }
    }
    if (torch && only && only[0] == 'c') torch = 0; /* PyTorch runs (a) and (b) */
    if (torch && system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
        printf("== PyTorch (bench/torch_train.py, 2 threads), as the environment is:\n");
        fflush(stdout);
        char args[64];
        snprintf(args, sizeof args, " --steps %d%s%s", steps, only ? " --only " : "", only && only[0] == 'b' ? "b" : only ? "a" : "");
        char cmd[256];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/torch_train.py%s", args);
        int r1 = system(cmd);
        printf("== PyTorch with OPENBLAS_CORETYPE unset, OPENBLAS_NUM_THREADS=1:\n");
        fflush(stdout);
        snprintf(cmd, sizeof cmd, "env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_train.py%s", args);
        int r2 = system(cmd);
        if (r1 != 0 || r2 != 0) printf("  (a PyTorch run failed: status %d / %d)\n", r1, r2);
    } else if (torch) {
        printf("== PyTorch: /usr/bin/python3 cannot import torch; skipped\n");
    }
    return 0;
}
