/*
 * src/gen_kernels.c — the generator's inference kernels: packed linear
 * layers with fused epilogues, LayerNorm, exact GELU, and attention of one
 * query row over a KV cache.
 *
 * Legend: N token rows, I inputs, O outputs, C = d_model, NH heads,
 * hs = C / NH, TP = the cache's position stride.
 *
 * The rule every kernel keeps: a value is computed by the same sequence of
 * float operations whatever N, the tile, the output range or the thread that
 * computes it. The tiles only choose which independent chains run side by
 * side. That is what makes prefill, decoding with the cache, full recompute,
 * any batch composition and any thread count give bit-identical logits.
 */
#include "kernel_names.h" /* first: renames this per-ISA copy (src/isa.h) */
#include "gen_kernels.h"
#include "row_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GEN_AVX2 1
#else
#define GEN_AVX2 0
#endif

/* ------------------------------------------------------------------------ */
/* Packing                                                                  */

/* Packed weights: w[O, I] (PyTorch's layout) as blocks of 8 outputs,
 * wp[O8 / 8][I][8] with wp[(ob * I + i) * 8 + j] = w[ob * 8 + j][i], outputs
 * past O zero (O8 = O rounded up to 8). */
size_t tt_gen_packed_floats(int O, int I) { return (size_t)((O + 7) & ~7) * (size_t)I; }

#if GEN_AVX2
/* d[k * 8 + j] = src[j][i + k] for j, k < 8. */
static inline void transpose8(float *d, const float *const *src, int i) {
    const __m256 r0 = _mm256_loadu_ps(src[0] + i), r1 = _mm256_loadu_ps(src[1] + i),
                 r2 = _mm256_loadu_ps(src[2] + i), r3 = _mm256_loadu_ps(src[3] + i),
                 r4 = _mm256_loadu_ps(src[4] + i), r5 = _mm256_loadu_ps(src[5] + i),
                 r6 = _mm256_loadu_ps(src[6] + i), r7 = _mm256_loadu_ps(src[7] + i);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 32, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 40, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 48, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 56, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

void tt_gen_pack(float *wp, const float *w, int O, int I) {
    const int nb = (O + 7) >> 3;
    for (int ob = 0; ob < nb; ob++) {
        const float *src[8];
        for (int j = 0; j < 8; j++)
            src[j] = ob * 8 + j < O ? w + (size_t)(ob * 8 + j) * I : NULL;
        float *d = wp + (size_t)ob * I * 8;
        if (ob * 8 + 8 <= O) {
            /* contiguous writes, 8 read streams; 8 x 8 tiles transposed in
             * registers (a plain copy, so any path gives the same floats) */
            int i = 0;
#if GEN_AVX2
            for (; i + 8 <= I; i += 8, d += 64)
                transpose8(d, src, i);
#endif
            for (; i < I; i++, d += 8) {
                d[0] = src[0][i], d[1] = src[1][i], d[2] = src[2][i], d[3] = src[3][i];
                d[4] = src[4][i], d[5] = src[5][i], d[6] = src[6][i], d[7] = src[7][i];
            }
        } else {
            for (int i = 0; i < I; i++, d += 8)
                for (int j = 0; j < 8; j++)
                    d[j] = src[j] ? src[j][i] : 0.0f;
        }
    }
}

/* exp, erf, GELU, LayerNorm and softmax rows: src/row_kernels.h, shared with the model. */


/* ------------------------------------------------------------------------ */
/* Linear layers                                                            */

#if GEN_AVX2
#if defined(__GNUC__) || defined(__clang__)
/* Keeps a vector in a register: without it the compilers fold the weight
 * loads into each FMA, one load per FMA instead of one per row tile. */
#define GEN_IN_REG(v) __asm__("" : "+x"(v))
#else
#define GEN_IN_REG(v) ((void)0)
#endif

/* Writes outputs o..o+7 of one row (only those < O): v = acc + b[o], then
 * y = v (TT_GEN_EPI_STORE) or y = y + v (TT_GEN_EPI_ADD). */
static inline void store8(float *y, __m256 acc, const float *b, int o, int O, tt_gen_epilogue epi) {
    if (o + 8 <= O) {
        if (b) acc = _mm256_add_ps(acc, _mm256_loadu_ps(b + o));
        if (epi == TT_GEN_EPI_ADD) acc = _mm256_add_ps(_mm256_loadu_ps(y + o), acc);
        _mm256_storeu_ps(y + o, acc);
    } else {
        float r[8];
        _mm256_storeu_ps(r, acc);
        for (int j = 0; o + j < O; j++) {
            const float v = b ? r[j] + b[o + j] : r[j];
            y[o + j] = epi == TT_GEN_EPI_ADD ? y[o + j] + v : v;
        }
    }
}

/* 4 rows x 3 blocks (24 outputs): 12 accumulators, 3 weight vectors and one
 * broadcast fill the 16 registers; 7 loads per 12 FMAs keeps both FMA pipes
 * busy (~85 GFLOP/s of a ~90 peak on one Zen 3 core, against ~60 for 4 x 2). */
static void tile4x3(float *out, int ldo, const float *x, const float *w0, const float *b, int I,
                    int O, int o, tt_gen_epilogue epi) {
    const size_t bs = (size_t)I * 8;
    const float *x0 = x, *x1 = x0 + I, *x2 = x1 + I, *x3 = x2 + I;
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
           a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    const float *wi = w0;
    for (int i = 0; i < I; i++, wi += 8) {
        __m256 v0 = _mm256_loadu_ps(wi), v1 = _mm256_loadu_ps(wi + bs),
               v2 = _mm256_loadu_ps(wi + 2 * bs);
        GEN_IN_REG(v0);
        GEN_IN_REG(v1);
        GEN_IN_REG(v2);
        __m256 u = _mm256_broadcast_ss(x0 + i);
        a00 = _mm256_fmadd_ps(u, v0, a00);
        a01 = _mm256_fmadd_ps(u, v1, a01);
        a02 = _mm256_fmadd_ps(u, v2, a02);
        u = _mm256_broadcast_ss(x1 + i);
        a10 = _mm256_fmadd_ps(u, v0, a10);
        a11 = _mm256_fmadd_ps(u, v1, a11);
        a12 = _mm256_fmadd_ps(u, v2, a12);
        u = _mm256_broadcast_ss(x2 + i);
        a20 = _mm256_fmadd_ps(u, v0, a20);
        a21 = _mm256_fmadd_ps(u, v1, a21);
        a22 = _mm256_fmadd_ps(u, v2, a22);
        u = _mm256_broadcast_ss(x3 + i);
        a30 = _mm256_fmadd_ps(u, v0, a30);
        a31 = _mm256_fmadd_ps(u, v1, a31);
        a32 = _mm256_fmadd_ps(u, v2, a32);
    }
    float *y = out;
    store8(y, a00, b, o, O, epi);
    store8(y, a01, b, o + 8, O, epi);
    store8(y, a02, b, o + 16, O, epi);
    y += ldo;
    store8(y, a10, b, o, O, epi);
    store8(y, a11, b, o + 8, O, epi);
    store8(y, a12, b, o + 16, O, epi);
    y += ldo;
    store8(y, a20, b, o, O, epi);
    store8(y, a21, b, o + 8, O, epi);
    store8(y, a22, b, o + 16, O, epi);
    y += ldo;
    store8(y, a30, b, o, O, epi);
    store8(y, a31, b, o + 8, O, epi);
    store8(y, a32, b, o + 16, O, epi);
}

/* 4 rows x 1 block, for the one or two blocks a range has past its
 * triples. */
static void tile4x1(float *out, int ldo, const float *x, const float *w0, const float *b, int I,
                    int O, int o, tt_gen_epilogue epi) {
    const float *x0 = x, *x1 = x0 + I, *x2 = x1 + I, *x3 = x2 + I;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *wi = w0;
    for (int i = 0; i < I; i++, wi += 8) {
        const __m256 v0 = _mm256_loadu_ps(wi);
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x0 + i), v0, a0);
        a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(x1 + i), v0, a1);
        a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(x2 + i), v0, a2);
        a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(x3 + i), v0, a3);
    }
    store8(out, a0, b, o, O, epi);
    store8(out + ldo, a1, b, o, O, epi);
    store8(out + 2 * (size_t)ldo, a2, b, o, O, epi);
    store8(out + 3 * (size_t)ldo, a3, b, o, O, epi);
}

/* One row x 8 blocks (64 outputs): a matrix-vector product streams the
 * weights once; 8 independent chains cover the FMA latency. */
static void tile1x8(float *y, const float *x0, const float *w0, const float *b, int I, int O, int o,
                    tt_gen_epilogue epi) {
    const size_t bs = (size_t)I * 8;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const float *wi = w0;
    for (int i = 0; i < I; i++, wi += 8) {
        const __m256 u = _mm256_broadcast_ss(x0 + i);
        a0 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi), a0);
        a1 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + bs), a1);
        a2 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + 2 * bs), a2);
        a3 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + 3 * bs), a3);
        a4 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + 4 * bs), a4);
        a5 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + 5 * bs), a5);
        a6 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + 6 * bs), a6);
        a7 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + 7 * bs), a7);
    }
    store8(y, a0, b, o, O, epi);
    store8(y, a1, b, o + 8, O, epi);
    store8(y, a2, b, o + 16, O, epi);
    store8(y, a3, b, o + 24, O, epi);
    store8(y, a4, b, o + 32, O, epi);
    store8(y, a5, b, o + 40, O, epi);
    store8(y, a6, b, o + 48, O, epi);
    store8(y, a7, b, o + 56, O, epi);
}

/* One row x 2 blocks and one row x 1 block, for what is left of a range. */
static void tile1x2(float *y, const float *x0, const float *w0, const float *b, int I, int O, int o,
                    tt_gen_epilogue epi) {
    const size_t bs = (size_t)I * 8;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    const float *wi = w0;
    for (int i = 0; i < I; i++, wi += 8) {
        const __m256 u = _mm256_broadcast_ss(x0 + i);
        a0 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi), a0);
        a1 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + bs), a1);
    }
    store8(y, a0, b, o, O, epi);
    store8(y, a1, b, o + 8, O, epi);
}

static void tile1x1(float *y, const float *x0, const float *w0, const float *b, int I, int O, int o,
                    tt_gen_epilogue epi) {
    __m256 a0 = _mm256_setzero_ps();
    const float *wi = w0;
    for (int i = 0; i < I; i++, wi += 8)
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x0 + i), _mm256_loadu_ps(wi), a0);
    store8(y, a0, b, o, O, epi);
}
#endif

/* gelu in place on outputs [o0, o1) of rows 0..N-1 of out[N, O]: a pass of
 * its own keeps many independent GELUs in flight (fused into the tiles'
 * stores they ran one at a time, at more than twice the cost). o0 is a
 * multiple of 8; a block of 8 that O cuts short goes lane by lane. */
static void gelu_cols(float *out, int N, int O, int o0, int o1) {
    for (int t = 0; t < N; t++) {
        float *y = out + (size_t)t * O;
        int o = o0;
#if GEN_AVX2
        for (; o + 8 <= o1; o += 8)
            _mm256_storeu_ps(y + o, tt_gelu8(_mm256_loadu_ps(y + o)));
#endif
        for (; o < o1; o++)
            y[o] = tt_gelu1(y[o]);
    }
}

void tt_gen_linear_blocks(float *out, const float *x, const float *wp, const float *b, int N,
                          int I, int O, int ob0, int ob1, tt_gen_epilogue epi) {
    if (N <= 0 || ob0 >= ob1) return;
    if (epi == TT_GEN_EPI_GELU) {
        tt_gen_linear_blocks(out, x, wp, b, N, I, O, ob0, ob1, TT_GEN_EPI_STORE);
        gelu_cols(out, N, O, ob0 * 8, ob1 * 8 < O ? ob1 * 8 : O);
        return;
    }
#if GEN_AVX2
    const size_t bs = (size_t)I * 8; /* floats per packed block of 8 outputs */
    const int N4 = N & ~3;
    /* Row tiles inside the block loop: a block's weights come from memory
     * once per call and serve every row tile from the L1/L2 cache. */
    int ob = ob0;
    for (; ob + 3 <= ob1; ob += 3)
        for (int t = 0; t < N4; t += 4)
            tile4x3(out + (size_t)t * O, O, x + (size_t)t * I, wp + (size_t)ob * bs, b, I, O,
                    ob * 8, epi);
    for (; ob < ob1; ob++)
        for (int t = 0; t < N4; t += 4)
            tile4x1(out + (size_t)t * O, O, x + (size_t)t * I, wp + (size_t)ob * bs, b, I, O,
                    ob * 8, epi);
    /* The rows past a multiple of 4 (a decode step at batch 1), one at a
     * time. */
    for (int t = N4; t < N; t++) {
        const float *xr = x + (size_t)t * I;
        float *y = out + (size_t)t * O;
        ob = ob0;
        for (; ob + 8 <= ob1; ob += 8)
            tile1x8(y, xr, wp + (size_t)ob * bs, b, I, O, ob * 8, epi);
        for (; ob + 2 <= ob1; ob += 2)
            tile1x2(y, xr, wp + (size_t)ob * bs, b, I, O, ob * 8, epi);
        for (; ob < ob1; ob++)
            tile1x1(y, xr, wp + (size_t)ob * bs, b, I, O, ob * 8, epi);
    }
#else
    for (int t = 0; t < N; t++) {
        const float *xr = x + (size_t)t * I;
        float *y = out + (size_t)t * O;
        for (int o = ob0 * 8; o < ob1 * 8 && o < O; o++) {
            const float *wr = wp + (size_t)(o >> 3) * I * 8 + (o & 7);
            float s = 0.0f;
            for (int i = 0; i < I; i++)
                s = fmaf(xr[i], wr[(size_t)i * 8], s);
            const float v = b ? s + b[o] : s;
            y[o] = epi == TT_GEN_EPI_ADD ? y[o] + v : v;
        }
    }
#endif
}

/* ------------------------------------------------------------------------ */
/* LayerNorm                                                                */

void tt_gen_layernorm(float *out, const float *x, const float *w, const float *b, int N, int C) {
    for (int t = 0; t < N; t++)
        tt_row_layernorm(out + (size_t)t * C, x + (size_t)t * C, w, b, C, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Attention                                                                */



#if GEN_AVX2
#if defined(__GNUC__) || defined(__clang__)
#define GEN_INLINE inline __attribute__((always_inline))
#else
#define GEN_INLINE inline
#endif
/* Scores of 64 positions (one group of the K layout, [hs][64]) of one head:
 * s[t] = (sum_i q[i] k_t[i]) / scale, each lane one fma chain in i order.
 * Always 8 chains, enough to cover the FMA latency: a group that runs past
 * the row's length costs what a shorter, latency-bound one would. Inlined
 * with hs = 32 the block stride is a constant. */
static GEN_INLINE void scores64(float *s, const float *q, const float *kg, int hs, __m256 vscale) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int i = 0; i < hs; i++, kg += 64) {
        const __m256 qi = _mm256_broadcast_ss(q + i);
        a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg), a0);
        a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 8), a1);
        a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 16), a2);
        a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 24), a3);
        a4 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 32), a4);
        a5 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 40), a5);
        a6 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 48), a6);
        a7 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 56), a7);
    }
    _mm256_storeu_ps(s, _mm256_div_ps(a0, vscale));
    _mm256_storeu_ps(s + 8, _mm256_div_ps(a1, vscale));
    _mm256_storeu_ps(s + 16, _mm256_div_ps(a2, vscale));
    _mm256_storeu_ps(s + 24, _mm256_div_ps(a3, vscale));
    _mm256_storeu_ps(s + 32, _mm256_div_ps(a4, vscale));
    _mm256_storeu_ps(s + 40, _mm256_div_ps(a5, vscale));
    _mm256_storeu_ps(s + 48, _mm256_div_ps(a6, vscale));
    _mm256_storeu_ps(s + 56, _mm256_div_ps(a7, vscale));
}

/* The first 32 or 16 positions of a group (the last group of a row, when
 * that is all it holds): the K reads stop at the cache lines the row uses.
 * The lanes are the same chains as scores64's. */
static GEN_INLINE void scores32(float *s, const float *q, const float *kg, int hs, __m256 vscale) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < hs; i++, kg += 64) {
        const __m256 qi = _mm256_broadcast_ss(q + i);
        a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg), a0);
        a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 8), a1);
        a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 16), a2);
        a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 24), a3);
    }
    _mm256_storeu_ps(s, _mm256_div_ps(a0, vscale));
    _mm256_storeu_ps(s + 8, _mm256_div_ps(a1, vscale));
    _mm256_storeu_ps(s + 16, _mm256_div_ps(a2, vscale));
    _mm256_storeu_ps(s + 24, _mm256_div_ps(a3, vscale));
}

static GEN_INLINE void scores16(float *s, const float *q, const float *kg, int hs, __m256 vscale) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (int i = 0; i < hs; i++, kg += 64) {
        const __m256 qi = _mm256_broadcast_ss(q + i);
        a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg), a0);
        a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kg + 8), a1);
    }
    _mm256_storeu_ps(s, _mm256_div_ps(a0, vscale));
    _mm256_storeu_ps(s + 8, _mm256_div_ps(a1, vscale));
}

/* Scores of positions t.. of a group, as many as the row has (up to 64). */
static GEN_INLINE void scores_group(float *s, const float *q, const float *kg, int hs, int left,
                                    __m256 vscale) {
    if (left > 32)
        scores64(s, q, kg, hs, vscale);
    else if (left > 16)
        scores32(s, q, kg, hs, vscale);
    else
        scores16(s, q, kg, hs, vscale);
}
#endif


/* One query row against positions 0..n-1 of one slot's K/V (layouts in
 * generate_internal.h). Every score is fma(q[i], k[i], acc) in i order, then
 * / sqrt(hs); every output element sums p_t v_t in t order: the grouping of
 * blocks and heads below only feeds independent chains to the FMA units. */
void tt_gen_attend(float *y, const float *q, const float *K, const float *Vc, int n, int C, int NH,
                   size_t hstride, float *s, int TP, int h0, int h1) {
    const int hs = C / NH;
    const float scale = sqrtf((float)hs);
    const size_t ss = (size_t)TP; /* scratch stride per head */
    (void)NH;
    for (int h = h0; h < h1; h++) {
        const float *qh = q + h * hs;
        const float *Kh = K + (size_t)h * hstride;
        float *sh = s + (size_t)h * ss;
#if GEN_AVX2
        /* groups of 64 positions (the last one cut to 16 or 32 when it
         * holds no more); TP is a multiple of 64 and the cache is allocated
         * (zeroed) up to TP, so a group never reads past it */
        const __m256 vscale = _mm256_set1_ps(scale);
        for (int t = 0; t < n; t += 64) {
            const float *kg = Kh + (size_t)t * hs; /* group t / 64 */
            if (hs == 32)
                scores_group(sh + t, qh, kg, 32, n - t, vscale);
            else
                scores_group(sh + t, qh, kg, hs, n - t, vscale);
        }
#else
        for (int t = 0; t < n; t++) {
            float a = 0.0f;
            for (int i = 0; i < hs; i++)
                a = fmaf(qh[i], Kh[((size_t)(t >> 6) * hs + i) * 64 + (t & 63)], a);
            sh[t] = a / scale;
        }
#endif
        tt_row_softmax(sh, n);
    }
    /* y_h[i] = sum_t p_t v_t[i] */
    int h = h0;
#if GEN_AVX2
    if (hs == 32) {
        /* two heads at a time: 8 independent chains */
        for (; h + 2 <= h1; h += 2) {
            const float *V0 = Vc + (size_t)h * hstride, *V1 = V0 + hstride;
            const float *p0 = s + (size_t)h * ss, *p1 = p0 + ss;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0,
                   b3 = a0;
            for (int t = 0; t < n; t++) {
                const float *v0 = V0 + (size_t)t * 32, *v1 = V1 + (size_t)t * 32;
                const __m256 w0 = _mm256_set1_ps(p0[t]), w1 = _mm256_set1_ps(p1[t]);
                a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v0), a0);
                a1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v0 + 8), a1);
                a2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v0 + 16), a2);
                a3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v0 + 24), a3);
                b0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(v1), b0);
                b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(v1 + 8), b1);
                b2 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(v1 + 16), b2);
                b3 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(v1 + 24), b3);
            }
            float *y0 = y + h * 32;
            _mm256_storeu_ps(y0, a0);
            _mm256_storeu_ps(y0 + 8, a1);
            _mm256_storeu_ps(y0 + 16, a2);
            _mm256_storeu_ps(y0 + 24, a3);
            _mm256_storeu_ps(y0 + 32, b0);
            _mm256_storeu_ps(y0 + 40, b1);
            _mm256_storeu_ps(y0 + 48, b2);
            _mm256_storeu_ps(y0 + 56, b3);
        }
    }
#endif
    for (; h < h1; h++) {
        const float *Vh = Vc + (size_t)h * hstride, *ph = s + (size_t)h * ss;
        float *yh = y + h * hs;
        int i = 0;
#if GEN_AVX2
        for (; i + 8 <= hs; i += 8) {
            __m256 a0 = _mm256_setzero_ps();
            for (int t = 0; t < n; t++)
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(ph[t]),
                                     _mm256_loadu_ps(Vh + (size_t)t * hs + i), a0);
            _mm256_storeu_ps(yh + i, a0);
        }
#endif
        for (; i < hs; i++) {
            float a = 0.0f;
            for (int t = 0; t < n; t++)
                a = fmaf(ph[t], Vh[(size_t)t * hs + i], a);
            yh[i] = a;
        }
    }
}
