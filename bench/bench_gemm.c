/*
 * Matrix-product benchmark (issue 13): the machine's measured FP32 peak, then
 * GFLOP/s of every product of one training step of the tiny preset (T 64,
 * B 12, C 128, F 512, V 65, 4 layers, 4 heads) on ONE thread, for
 *   - tt_gemm on each instruction-set path the CPU has (src/gemm.c),
 *   - OpenBLAS cblas_sgemm as the environment is (OPENBLAS_CORETYPE is read
 *     by OpenBLAS at load time; the core it chose is printed),
 *   - dnnl_sgemm from oneDNN when libdnnl.so.2 can be loaded (dlopen; for
 *     information only, not a dependency).
 * Every variant is first checked against a double-precision triple loop
 * (max |err| / max |ref| <= 1e-5) and the program exits 1 if one is off.
 * Timing is interleaved: each round times every shape with every variant
 * (the variant order rotates between rounds); a sample is the mean time of
 * back-to-back calls over >= 4 ms of this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: on a shared machine, time spent descheduled does
 * not count; cache contention still does); the table gives the median over
 * rounds and the range (min-max) as a measure of the noise. "step, weighted" is
 * the FLOPs of one step's mix of products over the time of that mix.
 *
 *     build/bench/bench_gemm [--rounds N] [--quick]
 *
 * The peak: independent register-only FMA chains (24 zmm or 12 ymm) per
 * thread, best of 5 runs of ~0.1 s, on one thread and on one thread per
 * logical CPU at once; each thread's rate is its FLOPs over its own CPU time,
 * the all-CPU figure is their sum.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bench_env.h"
#include "gemm.h"
#include "isa.h"

/* this thread's CPU time: a loaded machine's other processes do not count */
static double thread_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the peak ---------------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PEAK_X86 1
/* 24 independent chains of vfmadd: 2 FLOPs x lanes x 24 per iteration */
__attribute__((target("avx512f"))) static float fma_loop_zmm(long iters) {
    __m512 a[24];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            a[i] = _mm512_fmadd_ps(a[i], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 24; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_ymm(long iters) {
    __m256 a[12];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, a[i]);
    float f[8];
    _mm256_storeu_ps(f, s);
    return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#else
#define PEAK_X86 0
#endif

static volatile float sink;

/* GFLOP/s of `threads` threads each running the loop; best of 5 */
static double peak(int zmm, int threads) {
#if PEAK_X86
    const long iters = zmm ? 2000000 : 4000000;
    const double flops = zmm ? (double)iters * 24 * 16 * 2 : (double)iters * 12 * 8 * 2;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double g = 0;
#pragma omp parallel num_threads(threads) reduction(+ : g)
        {
            const double t0 = thread_s();
            const float v = zmm ? fma_loop_zmm(iters) : fma_loop_ymm(iters);
            g = flops / (thread_s() - t0) * 1e-9;
#pragma omp critical
            sink += v;
        }
        if (g > best) best = g;
    }
    return best;
#else
    (void)zmm, (void)threads;
    return 0;
#endif
}

/* ---- the products of one step ----------------------------------------------- */

typedef struct {
    const char *name;
    tt_gemm_op ta, tb;
    int M, N, K;
    float beta;
    int per_step; /* uses per training step */
    int heads;    /* 0: one call; else B * NH strided attention calls */
} shape;

enum { Bt = 12, Tt = 64, Ct = 128, NHt = 4, HS = 32 };

static const shape shapes[] = {
    {"fwd q/k/v/o 768x128x128 NT", TT_GEMM_N, TT_GEMM_T, 768, 128, 128, 1, 16, 0},
    {"fwd fc1 768x512x128 NT", TT_GEMM_N, TT_GEMM_T, 768, 512, 128, 1, 4, 0},
    {"fwd fc2 768x128x512 NT", TT_GEMM_N, TT_GEMM_T, 768, 128, 512, 1, 4, 0},
    {"fwd head 768x65x128 NT", TT_GEMM_N, TT_GEMM_T, 768, 65, 128, 0, 1, 0},
    {"dX q/k/v/o 768x128x128 NN", TT_GEMM_N, TT_GEMM_N, 768, 128, 128, 1, 16, 0},
    {"dX fc1 768x128x512 NN", TT_GEMM_N, TT_GEMM_N, 768, 128, 512, 1, 4, 0},
    {"dX fc2 768x512x128 NN", TT_GEMM_N, TT_GEMM_N, 768, 512, 128, 1, 4, 0},
    {"dX head 768x128x65 NN", TT_GEMM_N, TT_GEMM_N, 768, 128, 65, 1, 1, 0},
    {"dW q/k/v/o 128x128x768 TN", TT_GEMM_T, TT_GEMM_N, 128, 128, 768, 1, 16, 0},
    {"dW fc1 512x128x768 TN", TT_GEMM_T, TT_GEMM_N, 512, 128, 768, 1, 4, 0},
    {"dW fc2 128x512x768 TN", TT_GEMM_T, TT_GEMM_N, 128, 512, 768, 1, 4, 0},
    {"dW head 65x128x768 TN", TT_GEMM_T, TT_GEMM_N, 65, 128, 768, 1, 1, 0},
    /* attention: per layer Q K^T (forward, backward recompute) and dY V^T */
    {"att Q.K^T 64x64x32 NT x48", TT_GEMM_N, TT_GEMM_T, Tt, Tt, HS, 0, 12, 1},
    /* P V (forward) and dZ K (backward, beta 1) */
    {"att P.V 64x32x64 NN x48", TT_GEMM_N, TT_GEMM_N, Tt, HS, Tt, 0, 8, 1},
    /* P^T dY and dZ^T Q (backward, beta 1) */
    {"att P^T.dY 64x32x64 TN x48", TT_GEMM_T, TT_GEMM_N, Tt, HS, Tt, 1, 8, 1},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* operands of one shape: linear shapes dense; attention shapes as the model
 * lays them out (q, k, v, dy: [B, T, C] with a head's hs columns at h * hs;
 * P, dZ: [T, T] per head) */
typedef struct {
    float *a, *b, *c, *c0;
    size_t na, nb, nc;
    int lda, ldb, ldc;
} operands;

typedef void (*gemm_fn)(const shape *s, operands *o, const float *a, const float *b, float *c,
                        int lda, int ldb, int ldc);

/* one call of a shape (all heads for attention) through `call` */
typedef void (*one_call)(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);

static void call_tt(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    tt_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void call_openblas(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A,
                          int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta == TT_GEMM_T ? CblasTrans : CblasNoTrans,
                tb == TT_GEMM_T ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                ldc);
}

typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t,
                             const float *, int64_t, float, float *, int64_t);
static dnnl_sgemm_fn dnnl_sgemm_p;

static void call_dnnl(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
    dnnl_sgemm_p(ta == TT_GEMM_T ? 'T' : 'N', tb == TT_GEMM_T ? 'T' : 'N', M, N, K, 1.0f, A, lda, B,
                 ldb, beta, C, ldc);
}

static void set_operands(const shape *s, operands *o, uint64_t seed) {
    if (s->heads) {
        const size_t big = (size_t)Bt * Tt * Ct, sq = (size_t)Bt * NHt * Tt * Tt;
        /* NT: A = q, B = k [B,T,C]; C = S [T,T] per head.
         * NN: A = P [T,T] per head, B = v [B,T,C], C = y [B,T,C].
         * TN: A = P [T,T] per head, B = dy [B,T,C], C = dv [B,T,C]. */
        if (s->tb == TT_GEMM_T) {
            o->na = big, o->nb = big, o->nc = sq;
            o->lda = Ct, o->ldb = Ct, o->ldc = Tt;
        } else {
            o->na = sq, o->nb = big, o->nc = big;
            o->lda = Tt, o->ldb = Ct, o->ldc = Ct;
        }
    } else {
        o->na = (size_t)s->M * s->K, o->nb = (size_t)s->K * s->N, o->nc = (size_t)s->M * s->N;
        o->lda = s->ta == TT_GEMM_N ? s->K : s->M;
        o->ldb = s->tb == TT_GEMM_N ? s->N : s->K;
        o->ldc = s->N;
    }
    o->a = malloc(o->na * sizeof(float)), o->b = malloc(o->nb * sizeof(float));
    o->c = malloc(o->nc * sizeof(float)), o->c0 = malloc(o->nc * sizeof(float));
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    float *arrs[3] = {o->a, o->b, o->c0};
    size_t ns[3] = {o->na, o->nb, o->nc};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < ns[k]; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            arrs[k][i] = (float)((double)(x >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
        }
}

/* the head (b, h) pointers of an attention shape */
static void head_ptrs(const shape *s, const operands *o, int bh, const float **a, const float **b,
                      float **c) {
    const int bb = bh / NHt, h = bh % NHt;
    const size_t base = (size_t)bb * Tt * Ct + (size_t)h * HS, sq = (size_t)bh * Tt * Tt;
    if (s->tb == TT_GEMM_T) {
        *a = o->a + base, *b = o->b + base, *c = o->c + sq;
    } else {
        *a = o->a + sq, *b = o->b + base, *c = o->c + base;
    }
}

static void run_shape(one_call f, const shape *s, operands *o) {
    if (!s->heads) {
        f(s->ta, s->tb, s->M, s->N, s->K, o->a, o->lda, o->b, o->ldb, s->beta, o->c, o->ldc);
        return;
    }
    for (int bh = 0; bh < Bt * NHt; bh++) {
        const float *a, *b;
        float *c;
        head_ptrs(s, o, bh, &a, &b, &c);
        f(s->ta, s->tb, s->M, s->N, s->K, a, o->lda, b, o->ldb, s->beta, c, o->ldc);
    }
}

/* max |got - ref| / max |ref| of one call from C = c0, against doubles */
static double check(one_call f, const shape *s, operands *o) {
    memcpy(o->c, o->c0, o->nc * sizeof(float));
    run_shape(f, s, o);
    double worst = 0, scale = 0;
    const int calls = s->heads ? Bt * NHt : 1;
    for (int bh = 0; bh < calls; bh++) {
        const float *a = o->a, *b = o->b;
        float *c = o->c;
        if (s->heads) head_ptrs(s, o, bh, &a, &b, &c);
        const float *c0 = o->c0 + (c - o->c);
        for (int i = 0; i < s->M; i++)
            for (int j = 0; j < s->N; j++) {
                double r = s->beta * (double)c0[(size_t)i * o->ldc + j];
                for (int k = 0; k < s->K; k++) {
                    double av =
                        s->ta == TT_GEMM_N ? a[(size_t)i * o->lda + k] : a[(size_t)k * o->lda + i];
                    double bv =
                        s->tb == TT_GEMM_N ? b[(size_t)k * o->ldb + j] : b[(size_t)j * o->ldb + k];
                    r += av * bv;
                }
                double d = fabs(r - c[(size_t)i * o->ldc + j]);
                worst = d > worst ? d : worst;
                scale = fabs(r) > scale ? fabs(r) : scale;
            }
    }
    return worst / (scale > 0 ? scale : 1);
}

/* seconds per call: back-to-back calls for >= min_s */
static double time_shape(one_call f, const shape *s, operands *o, double min_s) {
    run_shape(f, s, o); /* warm */
    int n = 0;
    double t0 = thread_s(), t;
    do {
        run_shape(f, s, o);
        n++;
        t = thread_s() - t0;
    } while (t < min_s || n < 3);
    return t / n;
}

typedef struct {
    const char *name;
    one_call f;
    tt_isa isa; /* for tt_gemm */
} variant;

int main(int argc, char **argv) {
    int rounds = 7;
    double min_s = 0.004;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > 1000) {
                fprintf(stderr, "bench_gemm: --rounds: '%s' is not in 1..1000\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--quick") == 0) {
            rounds = 3, min_s = 0.001;
        } else {
            fprintf(stderr, "usage: bench_gemm [--rounds N] [--quick]\n");
            return 2;
        }
    }
    char cpu[256];
    bench_cpu_name(cpu, sizeof cpu);
    int ncpu = 1;
#ifdef _OPENMP
    ncpu = omp_get_num_procs();
#endif
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    printf("== matrix products of one training step (tiny preset, T 64, B 12), 1 thread\n");
    printf(
        "CPU: %s, %d logical CPUs; OpenBLAS %s, core %s (OPENBLAS_CORETYPE=%s); best tt path %s\n",
        cpu, ncpu, openblas_get_config(), openblas_get_corename(), coretype ? coretype : "(unset)",
        tt_isa_name(tt_isa_best()));

    /* the peak */
    double pz1 = 0, pzn = 0, py1 = 0, pyn = 0;
    if (PEAK_X86 && tt_isa_available(TT_ISA_AVX512)) pz1 = peak(1, 1), pzn = peak(1, ncpu);
    if (PEAK_X86 && tt_isa_available(TT_ISA_AVX2)) py1 = peak(0, 1), pyn = peak(0, ncpu);
    printf("FP32 peak (FMA loop, best of 5): zmm %.0f GFLOP/s on 1 thread, %.0f on %d; ymm %.0f on "
           "1, %.0f on %d\n",
           pz1, pzn, ncpu, py1, pyn, ncpu);
    const double peak1 = pz1 > 0 ? pz1 : py1;

    /* single-threaded libraries from here on (this program's own setting) */
    openblas_set_num_threads(1);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    void *dnnl = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (dnnl) {
        void *sym = dlsym(dnnl, "dnnl_sgemm");
        memcpy(&dnnl_sgemm_p, &sym, sizeof sym);
    }

    variant vars[6];
    int nv = 0;
    for (int i = TT_ISA_COUNT_ - 1; i >= 0; i--)
        if (tt_isa_available((tt_isa)i) && i != TT_ISA_SCALAR)
            vars[nv++] = (variant){tt_isa_name((tt_isa)i), call_tt, (tt_isa)i};
    vars[nv++] = (variant){"OpenBLAS", call_openblas, TT_ISA_SCALAR};
    if (dnnl_sgemm_p)
        vars[nv++] = (variant){"dnnl_sgemm", call_dnnl, TT_ISA_SCALAR};
    else
        printf("(libdnnl.so.2 not loadable: dnnl_sgemm column left out)\n");

    operands ops[N_SHAPES];
    double flops[N_SHAPES];
    for (int s = 0; s < N_SHAPES; s++) {
        set_operands(&shapes[s], &ops[s], (uint64_t)s + 1);
        flops[s] = 2.0 * shapes[s].M * shapes[s].N * shapes[s].K * (shapes[s].heads ? Bt * NHt : 1);
    }
    /* verify every variant (and the scalar path, which is not timed) */
    int bad = 0;
    for (int s = 0; s < N_SHAPES; s++) {
        for (int v = -1; v < nv; v++) {
            const variant sc = {"scalar", call_tt, TT_ISA_SCALAR};
            const variant *va = v < 0 ? &sc : &vars[v];
            if (va->f == call_tt) tt_isa_force(va->isa);
            double e = check(va->f, &shapes[s], &ops[s]);
            if (!(e <= 1e-5)) {
                fprintf(stderr, "bench_gemm: %s on %s: relative error %.3g\n", va->name,
                        shapes[s].name, e);
                bad = 1;
            }
        }
    }
    if (bad) return 1;
    printf("verified: every variant (and tt scalar) within 1e-5 of a double reference on every "
           "shape\n");

    double *t = calloc((size_t)N_SHAPES * nv * rounds, sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int i = 0; i < nv; i++) {
                const int v = (i + r) % nv;
                if (vars[v].f == call_tt) tt_isa_force(vars[v].isa);
                memcpy(ops[s].c, ops[s].c0, ops[s].nc * sizeof(float));
                t[((size_t)s * nv + v) * rounds + r] =
                    time_shape(vars[v].f, &shapes[s], &ops[s], min_s);
            }

    printf(
        "\nGFLOP/s, median of %d interleaved rounds [min-max]; %% of the 1-thread %s peak (%.0f)\n",
        rounds, pz1 > 0 ? "zmm" : "ymm", peak1);
    printf("| shape (M x N x K) | per step |");
    for (int v = 0; v < nv; v++)
        printf(" %s |", vars[v].name);
    printf("\n|---|---:|");
    for (int v = 0; v < nv; v++)
        printf("---|");
    printf("\n");
    double step_s[8] = {0}, step_lo[8] = {0}, step_hi[8] = {0}, step_flops = 0;
    for (int s = 0; s < N_SHAPES; s++) {
        printf("| %s | %d |", shapes[s].name, shapes[s].per_step);
        step_flops += flops[s] * shapes[s].per_step;
        for (int v = 0; v < nv; v++) {
            double *x = &t[((size_t)s * nv + v) * rounds];
            qsort(x, (size_t)rounds, sizeof(double), cmp_double);
            const double med = x[rounds / 2];
            step_s[v] += med * shapes[s].per_step;
            step_lo[v] += x[0] * shapes[s].per_step;
            step_hi[v] += x[rounds - 1] * shapes[s].per_step;
            printf(" %.0f [%.0f-%.0f] (%.0f%%) |", flops[s] / med * 1e-9,
                   flops[s] / x[rounds - 1] * 1e-9, flops[s] / x[0] * 1e-9,
                   peak1 > 0 ? 100 * flops[s] / med * 1e-9 / peak1 : 0);
        }
        printf("\n");
    }
    printf("| **step, weighted** (%.2f GFLOP) | |", step_flops * 1e-9);
    for (int v = 0; v < nv; v++)
        printf(" **%.0f** [%.0f-%.0f] (%.0f%%) |", step_flops / step_s[v] * 1e-9,
               step_flops / step_hi[v] * 1e-9, step_flops / step_lo[v] * 1e-9,
               peak1 > 0 ? 100 * step_flops / step_s[v] * 1e-9 / peak1 : 0);
    printf("\n| products' time per step, ms | |");
    for (int v = 0; v < nv; v++)
        printf(" %.1f |", step_s[v] * 1e3);
    printf("\n");
    for (int s = 0; s < N_SHAPES; s++)
        free(ops[s].a), free(ops[s].b), free(ops[s].c), free(ops[s].c0);
    free(t);
    if (dnnl) dlclose(dnnl);
    return 0;
}
