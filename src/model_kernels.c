/*
 * Layer kernels of the model: forward/backward pairs on raw float arrays
 * (see model_internal.h for the contract of each).
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary, NH heads,
 * hs = C / NH head size, F = d_ff, N = B * T rows.
 *
 * Parallelism: every kernel may run on all threads of a team run (src/par.h):
 * each thread takes its share of independent rows (or columns for the
 * reductions over rows) with tt_par_range, and our own single-threaded tt_gemm
 * (src/gemm.h, this ISA path's copy) for the matrix products; no reduction
 * ever combines thread-partial sums, and a product's sums do not depend on
 * how its rows are split, so a thread count gives bit-identical results run
 * after run.
 *
 * Numerics (docs/numerics.md): the forward is the decoder's arithmetic —
 * LayerNorm, GELU and the attention's softmax rows from src/row_kernels.h,
 * products as one chain over K with the bias after it (src/gemm.h) — so
 * `tt eval` and teacher-forced decoding give the same logits.
 */
#include <math.h>
#include <string.h>

#include "kernel_names.h" /* first: renames this per-ISA copy (src/isa.h) */
#include "gemm.h"
#include "model_kernels.h"
#include "par.h"
#include "row_kernels.h"
#include "tt/rng.h"

/* Vectorise an inner loop (no aliasing between its arrays). With -O2, GCC only
 * vectorises loops it can prove safe cheaply; these pragmas say so. A simd
 * sum reassociates in a fixed way for a given binary, so results stay
 * identical run after run and across thread counts. */
#ifdef __clang__
/* clang reports a `omp simd` loop it leaves scalar (e.g. at -O1) as a warning */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* Work (elements or multiply-adds) below which a kernel runs on the calling
 * thread alone: a parallel region costs a few microseconds, far more on a
 * loaded machine, and generation calls the model on a few rows at a time. */
#define TT_PAR_MIN ((size_t)1 << 16)

#if defined(_OPENMP) || defined(TT_OMP_SIMD)
#define TT_SIMD _Pragma("omp simd")
#define TT_SIMD_SUM(a) _Pragma(TT_STR(omp simd reduction(+ : a)))
#define TT_SIMD_SUM2(a, b) _Pragma(TT_STR(omp simd reduction(+ : a, b)))
#define TT_SIMD_MAX(a) _Pragma(TT_STR(omp simd reduction(max : a)))
#define TT_STR(x) #x
#else
#define TT_SIMD_MAX(a)
#define TT_SIMD
#define TT_SIMD_SUM(a)
#define TT_SIMD_SUM2(a, b)
#endif

/* This thread's share [lo, hi) of n items in blocks of `block`; all of them
 * on thread 0 when the work is too small to share (parallel false). */
static inline void share(size_t n, size_t block, int parallel, size_t *lo, size_t *hi) {
    tt_par_range_min(n, block, parallel ? 0 : SIZE_MAX, lo, hi);
}

/* ---- embedding ---------------------------------------------------------- */

void tt_embed_forward(float *out, const int *tokens, const float *tok_emb, const float *pos, int N,
                      int T, int C, float scale) {
    size_t lo, hi;
    share((size_t)N, 1, (size_t)N * C >= TT_PAR_MIN, &lo, &hi);
    for (int n = (int)lo; n < (int)hi; n++) {
        const float *e = tok_emb + (size_t)tokens[n] * C; /* [C] */
        const float *p = pos + (size_t)(n % T) * C;       /* [C] */
        float *o = out + (size_t)n * C;
        TT_SIMD
        for (int c = 0; c < C; c++) o[c] = e[c] * scale + p[c];
    }
}

void tt_embed_backward(float *dtok_emb, float *dpos, const float *dout, const int *tokens, int N,
                       int T, int C, float scale) {
    /* Rows of dtok_emb may repeat across n: accumulate serially in n order,
     * parallel over channel blocks (each thread owns its columns). */
    size_t lo, hi;
    share((size_t)C, 16, (size_t)N * C >= TT_PAR_MIN, &lo, &hi);
    for (int c0 = (int)lo; c0 < (int)hi; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int n = 0; n < N; n++) {
            float *d = dtok_emb + (size_t)tokens[n] * C;
            const float *g = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) d[c] += g[c] * scale;
            if (dpos) {
                float *dp = dpos + (size_t)(n % T) * C;
                for (int c = c0; c < c1; c++) dp[c] += g[c];
            }
        }
    }
}

/* A sum in 16 lanes (lane j takes the entries s = j mod 16), combined by
 * halves: a fixed order, whatever the instruction set. */
static inline float lanes_sum(float *acc) {
    for (int w = 8; w > 0; w >>= 1) {
        TT_SIMD
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    }
    return acc[0];
}

/* ---- LayerNorm (eps 1e-5, float, fixed order: src/row_kernels.h) ----------- */

void tt_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int C) {
    size_t lo, hi;
    share((size_t)N, 1, (size_t)N * C >= TT_PAR_MIN, &lo, &hi);
    for (int n = (int)lo; n < (int)hi; n++) {
        /* the decoder's LayerNorm, operation for operation (src/row_kernels.h) */
        tt_row_layernorm(out + (size_t)n * C, x + (size_t)n * C, w, b, C, &mean[n], &rstd[n]);
    }
}

void tt_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C) {
    size_t lo, hi;
    if (dx) {
        share((size_t)N, 1, (size_t)N * C >= TT_PAR_MIN, &lo, &hi);
        for (int n = (int)lo; n < (int)hi; n++) {
            const float *g = dout + (size_t)n * C, *xr = x + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            /* xhat = (x - m) r; dxhat = g w;
             * dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) */
            /* the two sums in 16 float lanes (lane j: c = j mod 16), then
             * combined by halves: one order on every ISA and thread count */
            float a1[16] = {0}, a2[16] = {0};
            const int C16 = C & ~15;
            for (int c0 = 0; c0 < C16; c0 += 16) {
                TT_SIMD
                for (int j = 0; j < 16; j++) {
                    const float dxh = g[c0 + j] * w[c0 + j], xh = (xr[c0 + j] - m) * r;
                    a1[j] += dxh;
                    a2[j] += dxh * xh;
                }
            }
            for (int c = C16; c < C; c++) {
                const float dxh = g[c] * w[c], xh = (xr[c] - m) * r;
                a1[c & 15] += dxh;
                a2[c & 15] += dxh * xh;
            }
            const float m1 = lanes_sum(a1) / (float)C, m2 = lanes_sum(a2) / (float)C;
            float *d = dx + (size_t)n * C;
            TT_SIMD
            for (int c = 0; c < C; c++) {
                float xh = (xr[c] - m) * r;
                d[c] += r * (g[c] * w[c] - m1 - xh * m2);
            }
        }
    }
    /* dw[c] += sum_n g xhat; db[c] += sum_n g: each thread owns columns */
    share((size_t)C, 16, (size_t)N * C >= TT_PAR_MIN, &lo, &hi);
    for (int c0 = (int)lo; c0 < (int)hi; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        float sw[16] = {0}, sb[16] = {0};
        if (c1 - c0 == 16) /* a whole block: one vector of columns (the same sums) */
            for (int n = 0; n < N; n++) {
                const float *g = dout + (size_t)n * C + c0, *xr = x + (size_t)n * C + c0;
                const float m = mean[n], r = rstd[n];
                TT_SIMD
                for (int j = 0; j < 16; j++) {
                    sw[j] += g[j] * (xr[j] - m) * r;
                    sb[j] += g[j];
                }
            }
        else
            for (int n = 0; n < N; n++) {
                const float *g = dout + (size_t)n * C, *xr = x + (size_t)n * C;
                float m = mean[n], r = rstd[n];
                for (int c = c0; c < c1; c++) {
                    sw[c - c0] += g[c] * (xr[c] - m) * r;
                    sb[c - c0] += g[c];
                }
            }
        for (int c = c0; c < c1; c++) {
            dw[c] += sw[c - c0];
            db[c] += sb[c - c0];
        }
    }
}

/* ---- Linear ------------------------------------------------------------------
 * Each thread of the run multiplies its own block of output rows (weight-gradient
 * rows for dw) with tt_gemm on the calling thread: no second thread pool, no
 * process-wide BLAS setting. Each output element is computed by one thread in
 * an order that does not depend on the split (src/gemm.h), so results do not
 * depend on the thread count. A weight gradient wider than tall (fc2's,
 * [C, F]) splits its columns instead: tt_gemm packs B (x, [N, F]) one panel
 * of columns at a time and dout^T (A, [C, N]) whole, so each thread then
 * packs half of the larger operand rather than all of it. The products that
 * feed the next kernel (y, dx) keep the split by rows: split by columns,
 * measured 1-3 ms slower per tiny step (docs/benchmarks.md), as each thread
 * then reads rows the other one wrote. */

/* this thread's rows [r0, r1), in blocks of 8 */
static void split(int rows, int parallel, int *r0, int *r1) {
    size_t lo, hi;
    share((size_t)rows, 8, parallel, &lo, &hi);
    *r0 = (int)lo;
    *r1 = (int)hi;
}

void tt_linear_forward(float *out, const float *x, const float *w, const float *b, int N, int Cin,
                       int Cout) {
    {
        int r0, r1;
        split(N, (size_t)N * Cin * Cout >= TT_PAR_MIN, &r0, &r1);
        /* out[r0:r1, Cout] = x[r0:r1, Cin] @ w[Cout, Cin]^T + b: each value one chain over
         * Cin from 0, then + b, as the decoder's packed kernels compute it (src/gemm.h) */
        if (r1 > r0)
            tt_gemm_bias(TT_GEMM_N, TT_GEMM_T, r1 - r0, Cout, Cin, x + (size_t)r0 * Cin, Cin, w, Cin, b,
                         out + (size_t)r0 * Cout, Cout);
    }
}

/* dx (+)= dout @ w: written when `write` (beta 0, no zeroing first), else accumulated */
static void linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                            const float *w, int N, int Cin, int Cout, int write) {
    {
        const int par = (size_t)N * Cin * Cout >= TT_PAR_MIN;
        int r0, r1;
        if (dx) { /* dx[r0:r1, Cin] (+)= dout[r0:r1, Cout] @ w[Cout, Cin] */
            split(N, par, &r0, &r1);
            if (r1 > r0)
                tt_gemm(TT_GEMM_N, TT_GEMM_N, r1 - r0, Cin, Cout, dout + (size_t)r0 * Cout, Cout, w, Cin,
                        write ? 0.0f : 1.0f, dx + (size_t)r0 * Cin, Cin);
        }
        /* dw[o0:o1, Cin] += dout[:, o0:o1]^T @ x[N, Cin] */
        split(Cout, par, &r0, &r1);
        const int nt = tt_par_nt();
        if (dw && par && nt > 1 && Cin > Cout && Cin % 32 == 0 && Cin / 32 % nt == 0) {
            /* wider than tall (fc2's): split the columns in blocks of 32, so each
             * thread packs only its part of x, the larger operand */
            size_t lo, hi;
            share((size_t)Cin, 32, 1, &lo, &hi);
            if (hi > lo)
                tt_gemm(TT_GEMM_T, TT_GEMM_N, Cout, (int)(hi - lo), N, dout, Cout, x + lo, Cin, 1.0f, dw + lo, Cin);
        } else if (dw && r1 > r0) {
            tt_gemm(TT_GEMM_T, TT_GEMM_N, r1 - r0, Cin, N, dout + r0, Cout, x, Cin, 1.0f, dw + (size_t)r0 * Cin, Cin);
        }
        if (dw && r1 > r0) {
            if (db)
                for (int n = 0; n < N; n++) {
                    const float *g = dout + (size_t)n * Cout;
                    TT_SIMD
                    for (int o = r0; o < r1; o++) db[o] += g[o];
                }
        }
    }
}

void tt_linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, int N, int Cin, int Cout) {
    linear_backward(dx, dw, db, dout, x, w, N, Cin, Cout, 0);
}

void tt_linear_backward_write(float *dx, float *dw, float *db, const float *dout, const float *x,
                              const float *w, int N, int Cin, int Cout) {
    linear_backward(dx, dw, db, dout, x, w, N, Cin, Cout, 1);
}

/* Epilogues fused into tt_linear_forward / tt_linear_backward: applied by
 * each thread to the rows it has just computed (still in its cache), which
 * saves a pass over memory and a barrier. The same operations as the
 * kernels they join (src/row_kernels.h), so the same numbers. */
void tt_linear_gelu_forward(float *out, float *act, const float *x, const float *w, const float *b, int N,
                            int Cin, int Cout) {
    int r0, r1;
    split(N, (size_t)N * Cin * Cout >= TT_PAR_MIN, &r0, &r1);
    if (r1 <= r0) return;
    float *o = out + (size_t)r0 * Cout;
    tt_gemm_bias(TT_GEMM_N, TT_GEMM_T, r1 - r0, Cout, Cin, x + (size_t)r0 * Cin, Cin, w, Cin, b, o, Cout);
    tt_row_gelu(act + (size_t)r0 * Cout, o, (size_t)(r1 - r0) * Cout);
}

void tt_linear_residual_forward(float *out, float *res_out, const float *res_in, const float *x,
                                const float *w, const float *b, int N, int Cin, int Cout) {
    int r0, r1;
    split(N, (size_t)N * Cin * Cout >= TT_PAR_MIN, &r0, &r1);
    if (r1 <= r0) return;
    const size_t off = (size_t)r0 * Cout, n = (size_t)(r1 - r0) * Cout;
    tt_gemm_bias(TT_GEMM_N, TT_GEMM_T, r1 - r0, Cout, Cin, x + (size_t)r0 * Cin, Cin, w, Cin, b, out + off,
                 Cout);
    const float *o = out + off, *ri = res_in + off;
    float *ro = res_out + off;
    TT_SIMD
    for (size_t i = 0; i < n; i++) ro[i] = ri[i] + o[i];
}

void tt_linear_backward_gelu(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, const float *pre, int N, int Cin, int Cout) {
    /* the weight gradient first: it reads every row of x, which dx may overwrite */
    linear_backward(NULL, dw, db, dout, x, w, N, Cin, Cout, 0);
    if (dx == x) tt_par_barrier();
    int r0, r1;
    split(N, (size_t)N * Cin * Cout >= TT_PAR_MIN, &r0, &r1);
    if (r1 > r0) { /* dx[r0:r1] = GELU'(pre) (dout @ w), written (beta 0): no zeroing first */
        const size_t off = (size_t)r0 * Cin;
        tt_gemm(TT_GEMM_N, TT_GEMM_N, r1 - r0, Cin, Cout, dout + (size_t)r0 * Cout, Cout, w, Cin, 0.0f, dx + off,
                Cin);
        tt_row_gelu_grad_mul(dx + off, pre + off, (size_t)(r1 - r0) * Cin);
    }
}

/* ---- attention ------------------------------------------------------------------
 * One (b, h) pair per share of a thread; the products of a head run as tt_gemm
 * calls on the strided head columns of q, k, v (leading dimension C), so
 * nothing is copied. The products cover the full [T, T] square: above the
 * diagonal the weights are exactly 0, which keeps the causal result while the
 * (2x) wasted flops run at GEMM speed — measured about 5x faster than the
 * triangular scalar/axpy loops this replaced. */

size_t tt_attention_scratch_floats(int T) {
    return 3 * (size_t)T * (size_t)T + 16;
}

/* The row t of a causal [T, T] in whole 16-float vectors: its n = t + 1
 * entries and the masked rest of their last vector (at most T). Loops over
 * that length vectorise without a tail (the backward's rows). */
static inline int causal_span(int t, int T) {
    const int m = (t + 16) & ~15;
    return m < T ? m : T;
}


/* causal softmax of the rows of a [T, T] (the scores q.k in place, divided
 * by sqrt_hs): the decoder's attention row (tt_row_attention_weights,
 * src/row_kernels.h) */
static void causal_softmax(float *a, int T, float sqrt_hs) {
    for (int t = 0; t < T; t++) {
        float *r = a + (size_t)t * T;
        const int n = t + 1;
        tt_row_attention_weights(r, n, sqrt_hs);
        for (int s = n; s < T; s++) r[s] = 0.0f;
    }
}

void tt_attention_forward(float *y, float *att, const float *q, const float *k, const float *v,
                          const uint8_t *keep, float drop_scale, int B, int T, int C, int NH,
                          float *scratch) {
    const int hs = C / NH;
    const float sqrt_hs = sqrtf((float)hs);
    const size_t per = tt_attention_scratch_floats(T), TT2 = (size_t)T * T;
    size_t lo, hi;
    share((size_t)B * NH, 1, (size_t)B * NH * T * T * hs >= TT_PAR_MIN, &lo, &hi);
    const int tid = tt_par_tid();
    for (int bh = (int)lo; bh < (int)hi; bh++) {
        const int b = bh / NH, h = bh % NH;
        const size_t base = (size_t)b * T * C + (size_t)h * hs;
        float *a = att ? att + (size_t)bh * TT2 : scratch + (size_t)tid * per + 2 * TT2; /* [T, T] */
        /* a = q_h k_h^T, then the causal softmax of a / sqrt(hs) */
        tt_gemm(TT_GEMM_N, TT_GEMM_T, T, T, hs, q + base, C, k + base, C, 0.0f, a, T);
        causal_softmax(a, T, sqrt_hs);
        const float *pw = a;
        if (keep) { /* dropped weights into scratch */
            float *pd = scratch + (size_t)tid * per;
            const uint8_t *kp = keep + (size_t)bh * TT2;
            TT_SIMD
            for (size_t i = 0; i < TT2; i++) pd[i] = a[i] * ((float)kp[i] * drop_scale);
            pw = pd;
        }
        /* y_h[T, hs] = pw[T, T] @ v_h[T, hs] */
        tt_gemm(TT_GEMM_N, TT_GEMM_N, T, hs, T, pw, T, v + base, C, 0.0f, y + base, C);
    }
}

static void attention_backward(float *y, float *dq, float *dk, float *dv, const float *dy, const float *att,
                               const float *q, const float *k, const float *v, const uint8_t *keep,
                               float drop_scale, int B, int T, int C, int NH, float *scratch) {
    const int hs = C / NH;
    const float sqrt_hs = sqrtf((float)hs), scale = 1.0f / sqrt_hs;
    const float beta = y ? 0.0f : 1.0f; /* the y form writes dq, dk, dv (each head's columns, all rows) */
    const size_t per = tt_attention_scratch_floats(T), TT2 = (size_t)T * T;
    size_t lo, hi;
    share((size_t)B * NH, 1, (size_t)B * NH * T * T * hs >= TT_PAR_MIN, &lo, &hi);
    const int tid = tt_par_tid();
    for (int bh = (int)lo; bh < (int)hi; bh++) {
        const int b = bh / NH, h = bh % NH;
        const size_t base = (size_t)b * T * C + (size_t)h * hs;
        const uint8_t *kp = keep ? keep + (size_t)bh * TT2 : NULL;
        float *pd = scratch + (size_t)tid * per; /* [T, T] dropped weights */
        float *dp = pd + TT2;                            /* [T, T] */
        const float *a = att ? att + (size_t)bh * TT2 : NULL;
        if (!a) { /* recompute the weights exactly as the forward did */
            float *ar = dp + TT2;
            tt_gemm(TT_GEMM_N, TT_GEMM_T, T, T, hs, q + base, C, k + base, C, 0.0f, ar, T);
            causal_softmax(ar, T, sqrt_hs);
            a = ar;
        }
        const float *pw = a;
        if (kp) {
            TT_SIMD
            for (size_t i = 0; i < TT2; i++) pd[i] = a[i] * ((float)kp[i] * drop_scale);
            pw = pd;
        }
        /* y = pw v, recomputed as the forward computed it (the same call) */
        if (y) tt_gemm(TT_GEMM_N, TT_GEMM_N, T, hs, T, pw, T, v + base, C, 0.0f, y + base, C);
        /* y = pw v: dv (+)= pw^T dy; d pw = dy v^T */
        tt_gemm(TT_GEMM_T, TT_GEMM_N, T, hs, T, pw, T, dy + base, C, beta, dv + base, C);
        tt_gemm(TT_GEMM_N, TT_GEMM_T, T, T, hs, dy + base, C, v + base, C, 0.0f, dp, T);
        /* through dropout, then softmax: dz = a (dp - sum_s a dp) / sqrt(hs), z = q k^T / sqrt(hs) */
        for (int t = 0; t < T; t++) {
            const float *ar = a + (size_t)t * T;
            float *dr = dp + (size_t)t * T;
            const int n = t + 1, m = causal_span(t, T);
            if (kp) {
                const uint8_t *kr = kp + (size_t)t * T;
                TT_SIMD
                for (int s = 0; s < n; s++) dr[s] *= (float)kr[s] * drop_scale;
            }
            float acc[16] = {0}; /* ar is 0 past the diagonal */
            const int m16 = m & ~15;
            for (int s0 = 0; s0 < m16; s0 += 16) {
                TT_SIMD
                for (int j = 0; j < 16; j++) acc[j] += ar[s0 + j] * dr[s0 + j];
            }
            for (int s = m16; s < m; s++) acc[s & 15] += ar[s] * dr[s];
            const float dot = lanes_sum(acc);
            TT_SIMD
            for (int s = 0; s < m; s++) dr[s] = s < n ? ar[s] * (dr[s] - dot) * scale : 0.0f;
            if (m < T) memset(dr + m, 0, (size_t)(T - m) * sizeof(float));
        }
        /* dq (+)= dz k; dk (+)= dz^T q */
        tt_gemm(TT_GEMM_N, TT_GEMM_N, T, hs, T, dp, T, k + base, C, beta, dq + base, C);
        tt_gemm(TT_GEMM_T, TT_GEMM_N, T, hs, T, dp, T, q + base, C, beta, dk + base, C);
    }
}

void tt_attention_backward(float *dq, float *dk, float *dv, const float *dy, const float *att,
                           const float *q, const float *k, const float *v, const uint8_t *keep,
                           float drop_scale, int B, int T, int C, int NH, float *scratch) {
    attention_backward(NULL, dq, dk, dv, dy, att, q, k, v, keep, drop_scale, B, T, C, NH, scratch);
}

void tt_attention_backward_y(float *y, float *dq, float *dk, float *dv, const float *dy,
                             const float *q, const float *k, const float *v, const uint8_t *keep,
                             float drop_scale, int B, int T, int C, int NH, float *scratch) {
    attention_backward(y, dq, dk, dv, dy, NULL, q, k, v, keep, drop_scale, B, T, C, NH, scratch);
}

/* ---- GELU (exact, erf form as nn.GELU()) ------------------------------------
 * The decoder's GELU, operation for operation (src/row_kernels.h): erf by
 * Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7) with its Cephes-style exp,
 * vectorised by hand; GELU stays within ~2e-7 |x| of the exact value
 * (tests/test_gradcheck.c checks it). */

void tt_gelu_forward(float *out, const float *x, size_t n) {
    size_t lo, hi;
    share(n, 1024, n * 16 >= TT_PAR_MIN, &lo, &hi);
    for (size_t i0 = lo; i0 < hi; i0 += 1024) tt_row_gelu(out + i0, x + i0, (i0 + 1024 < n ? i0 + 1024 : n) - i0);
}

void tt_gelu_backward(float *dx, const float *dout, const float *x, size_t n) {
    size_t lo, hi;
    share(n, 1024, n * 16 >= TT_PAR_MIN, &lo, &hi);
    for (size_t i0 = lo; i0 < hi; i0 += 1024)
        tt_row_gelu_backward(dx + i0, dout + i0, x + i0, (i0 + 1024 < n ? i0 + 1024 : n) - i0);
}

/* ---- dropout ----------------------------------------------------------------- */

void tt_dropout_apply(float *out, const float *x, const uint8_t *keep, float scale, size_t n) {
    size_t lo, hi;
    share(n, 4096, n >= TT_PAR_MIN, &lo, &hi);
    for (size_t i0 = lo; i0 < hi; i0 += 4096) {
        size_t i1 = i0 + 4096 < n ? i0 + 4096 : n;
        TT_SIMD
        for (size_t i = i0; i < i1; i++) out[i] = x[i] * ((float)keep[i] * scale);
    }
}

/* xoshiro256** as tt_rng_u64 (src/rng.c), inlined for the mask loops */
static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t xoshiro_next(uint64_t *s) {
    const uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

void tt_dropout_mask(uint8_t *keep, size_t rows, size_t width, float p, uint64_t seed,
                     uint64_t stream_base) {
    /* keep when a 32-bit uniform draw is >= p * 2^32 (probability 1 - p) */
    const uint64_t thr = (uint64_t)((double)p * 4294967296.0);
    size_t lo, hi;
    share(rows, 1, rows * width >= TT_PAR_MIN, &lo, &hi);
    for (size_t r = lo; r < hi; r++) {
        tt_rng rng;
        tt_rng_seed_stream(&rng, seed, stream_base + r);
        uint64_t st[4] = {rng.s[0], rng.s[1], rng.s[2], rng.s[3]};
        uint8_t *kr = keep + r * width;
        size_t i = 0;
        for (; i + 1 < width; i += 2) {
            uint64_t u = xoshiro_next(st);
            kr[i] = (u & 0xffffffffu) >= thr;
            kr[i + 1] = (u >> 32) >= thr;
        }
        if (i < width) kr[i] = (xoshiro_next(st) >> 32) >= thr;
    }
}

void tt_residual_add(float *out, const float *a, const float *b, size_t n) {
    size_t lo, hi;
    share(n, 1024, n >= TT_PAR_MIN, &lo, &hi);
    TT_SIMD
    for (size_t i = lo; i < hi; i++) out[i] = a[i] + b[i];
}

/* ---- cross-entropy ----------------------------------------------------------------- */

float tt_crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V) {
    size_t lo, hi;
    share((size_t)N, 1, (size_t)N * V * 8 >= TT_PAR_MIN, &lo, &hi);
    for (int n = (int)lo; n < (int)hi; n++) {
        const float *z = logits + (size_t)n * V;
        float mx = z[0];
        for (int i = 1; i < V; i++)
            if (z[i] > mx) mx = z[i];
        double s = 0.0;
        for (int i = 0; i < V; i++) s += exp((double)(z[i] - mx));
        losses[n] = (float)(log(s) + mx - z[targets[n]]);
    }
    tt_par_barrier(); /* every row's loss, then the same sum on every thread */
    double tot = 0.0;
    for (int n = 0; n < N; n++) tot += losses[n];
    return (float)(tot / N);
}

#define CE_KEEP 1024 /* vocabularies up to this keep their row's exps (8 KiB of stack) */

void tt_crossentropy_backward(float *dlogits, const float *logits, const int *targets, int N, int V,
                              float dloss) {
    size_t lo, hi;
    share((size_t)N, 1, (size_t)N * V * 8 >= TT_PAR_MIN, &lo, &hi);
    for (int n = (int)lo; n < (int)hi; n++) {
        const float *z = logits + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        float mx = z[0];
        for (int i = 1; i < V; i++)
            if (z[i] > mx) mx = z[i];
        /* the exps kept for the second pass when the row fits (one exp per
         * entry instead of two; the same values) */
        double e[CE_KEEP];
        const int keep = V <= CE_KEEP;
        double s = 0.0;
        for (int i = 0; i < V; i++) {
            const double x = exp((double)(z[i] - mx));
            if (keep) e[i] = x;
            s += x;
        }
        const double inv = 1.0 / s;
        for (int i = 0; i < V; i++) {
            float pr = (float)((keep ? e[i] : exp((double)(z[i] - mx))) * inv);
            d[i] += (pr - (i == targets[n] ? 1.0f : 0.0f)) * dloss;
        }
    }
}

/* ---- sinusoidal table -------------------------------------------------------------
 * As the package: div[i] = exp(2i * -(ln 10000 / C)) and pe = sin/cos(pos * div),
 * each step in float32. */
void tt_sinusoidal_table(float *pe, int max_len, int C) {
    const float k = (float)(-(log(10000.0) / C));
    for (int pos = 0; pos < max_len; pos++) {
        float *row = pe + (size_t)pos * C;
        for (int i = 0; i < C / 2; i++) {
            float div = expf((float)(2 * i) * k);
            float arg = (float)pos * div;
            row[2 * i] = sinf(arg);
            row[2 * i + 1] = cosf(arg);
        }
    }
}
