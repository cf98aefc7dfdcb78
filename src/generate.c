/*
 * The TextGenerator: autoregressive generation with per-layer KV caches.
 *
 * Legend: B batch rows, T time, C = d_model, V vocabulary, L layers,
 * NH heads, hs = C / NH, F = d_ff, Tmax = max_len, N token rows in one
 * kernel call (rows of different sequences, or the positions of one prompt).
 *
 * The inference kernels here are the generator's own, on the model's weights
 * (borrowed, PyTorch layout, Linear w[O, I]). One function, forward_rows(),
 * runs N token rows through the model: row i is token tok[i] at position
 * pos[i] of the sequence held in cache slot slot[i]; its K and V are written
 * to that slot's cache and its query attends to positions 0..pos[i] of the
 * slot. A prompt prefill is forward_rows over the prompt's positions, a
 * decode step is forward_rows over one token of each active row, and the
 * no-cache path is forward_rows over the whole (cropped) context at every
 * step. Each kernel computes a row with the same float operations whatever
 * N and the other rows are, so all three give bit-identical logits.
 *
 * Math (as the teaching package, eval mode): x = tok_emb[id] * sqrt(C) +
 * pos[p]; per block x += W_o(attn(LN1(x))) + ..., x += fc2(gelu(fc1(LN2(x))))
 * with biases, exact erf GELU, LayerNorm eps 1e-5; logits = LN_f(x) @ lm_head^T.
 */
#include "generate_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/rng.h"
#include "tt/sampling.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GEN_AVX2 1
#else
#define GEN_AVX2 0
#endif

struct tt_generator {
    const tt_model *model;
    tt_generator_config cfg;
    int V, C, NH, hs, L, F, Tmax;
    int T8; /* Tmax rounded up to a multiple of 8: the cache's position stride */
    /* KV caches of slot s, layer l, head h (base (s * L + l) * NH * T8 * hs
     * + h * T8 * hs): K in blocks of 8 positions, each block [hs, 8]
     * (position t, element i at ((t / 8) * hs + i) * 8 + t % 8), so that
     * 8 scores come from one vector chain; V head-major [T8, hs]. */
    int cap_slots;
    float *kc, *vc; /* [cap_slots, L, NH, T8 / 8, hs, 8] and [cap_slots, L, NH, T8, hs] */
    /* Scratch for up to cap_rows token rows. */
    int cap_rows;
    float *x, *xn, *q, *kb, *vb, *att; /* [cap_rows, C]                 */
    float *h;                          /* [cap_rows, F]                 */
    float *lg;                         /* [cap_rows, V] compact logits  */
    int *sel;                          /* [cap_rows] rows wanting logits */
    float *scores;                     /* [n_threads, NH, T8 + 8]       */
    int n_threads;                     /* OpenMP threads (1 unless OMP_NUM_THREADS is set) */
    /* Per-call batch state. */
    int cap_b;
    float *logits;            /* [cap_b, V] next-token logits of each row */
    tt_rng *rngs;             /* [cap_b]                                  */
    int *ctok, *cpos, *cslot; /* [cap_b] decode-step inputs        */
    float **cdst;             /* [cap_b]                           */
    unsigned char *finished;  /* [cap_b]                           */
    double *ent;              /* [cap_b, ent_cap]                  */
    int *n_ent;               /* [cap_b]                           */
    int ent_cap, ent_rows;    /* stride and rows of the last call */
    size_t ent_alloc;         /* doubles allocated in ent          */
    int *wtok, *wpos, *wslot; /* [Tmax] window inputs              */
    float **wdst;             /* [Tmax]                            */
    tt_sampler *sampler;
    /* Packed copy of the model's matrices (tt_gen_pack), refreshed at the
     * start of every call: per layer wq, wk, wv, wo, fc1, fc2, then lm_head. */
    float *wp;
    float *bqkv; /* [L, 3C]: bq, bk, bv of each layer (fused product) */
};

/* ------------------------------------------------------------------------ */
/* Config                                                                   */

tt_generator_config tt_generator_config_default(void) {
    tt_generator_config c;
    c.max_new_tokens = 50;
    c.temperature = 1.0f;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.do_sample = true;
    c.eos_token_id = TT_TOKEN_NONE;
    c.pad_token_id = TT_TOKEN_NONE;
    c.seed = 42;
    c.use_cache = true;
    return c;
}

static tt_status check_id(const char *field, int id, int V, tt_error *err) {
    if (id == TT_TOKEN_NONE) return TT_OK;
    if (id < 0)
        return tt_error_set(err, TT_ERR_ARG, "%s must be a token id >= 0 or none (-1), got %d",
                            field, id);
    if (V > 0 && id >= V)
        return tt_error_set(err, TT_ERR_ARG, "%s %d is out of range for vocabulary size %d", field,
                            id, V);
    return TT_OK;
}

tt_status tt_generator_config_validate(const tt_generator_config *gc, int vocab_size,
                                       tt_error *err) {
    if (!gc) return tt_error_set(err, TT_ERR_ARG, "generator config is NULL");
    if (gc->max_new_tokens < 0)
        return tt_error_set(err, TT_ERR_ARG, "max_new_tokens must be >= 0, got %d",
                            gc->max_new_tokens);
    if (!(gc->temperature >= 0.0f) || isinf(gc->temperature))
        return tt_error_set(err, TT_ERR_ARG,
                            "temperature must be finite and >= 0 (0 = greedy), got %g",
                            (double)gc->temperature);
    if (gc->top_k < 0)
        return tt_error_set(err, TT_ERR_ARG, "top_k must be >= 0 (0 = off), got %d", gc->top_k);
    if (!(gc->top_p > 0.0f && gc->top_p <= 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "top_p must be in (0, 1] (1 = off), got %g",
                            (double)gc->top_p);
    tt_status st = check_id("eos_token_id", gc->eos_token_id, vocab_size, err);
    if (st) return st;
    st = check_id("pad_token_id", gc->pad_token_id, vocab_size, err);
    if (st) return st;
    if (gc->pad_token_id != TT_TOKEN_NONE && gc->eos_token_id == TT_TOKEN_NONE)
        return tt_error_set(err, TT_ERR_ARG,
                            "pad_token_id %d is set without eos_token_id (padding needs an EOS)",
                            gc->pad_token_id);
    return TT_OK;
}

const char *tt_finish_reason_str(tt_finish_reason r) {
    switch (r) {
    case TT_FINISH_LENGTH: return "length";
    case TT_FINISH_EOS: return "eos";
    }
    return "unknown";
}

void tt_generations_free(tt_generation *g, int n) {
    if (!g) return;
    for (int i = 0; i < n; i++) {
        free(g[i].tokens);
        g[i].tokens = NULL;
        g[i].n_tokens = g[i].n_prompt = g[i].n_generated = 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Kernels                                                                  */

/* Packed weights: w[O, I] (PyTorch's layout) as blocks of 8 outputs,
 * wp[O8 / 8][I][8] with wp[(ob * I + i) * 8 + j] = w[ob * 8 + j][i], outputs
 * past O zero (O8 = O rounded up to 8). */
size_t tt_gen_packed_floats(int O, int I) { return (size_t)((O + 7) & ~7) * (size_t)I; }

void tt_gen_pack(float *wp, const float *w, int O, int I) {
    const int nb = (O + 7) >> 3;
    for (int ob = 0; ob < nb; ob++) {
        const float *src[8];
        for (int j = 0; j < 8; j++)
            src[j] = ob * 8 + j < O ? w + (size_t)(ob * 8 + j) * I : NULL;
        float *d = wp + (size_t)ob * I * 8;
        if (ob * 8 + 8 <= O) {
            /* contiguous writes, 8 read streams */
            for (int i = 0; i < I; i++, d += 8) {
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

#if GEN_AVX2
#if defined(__GNUC__) || defined(__clang__)
#define GEN_IN_REG(v) __asm__("" : "+x"(v))
#else
#define GEN_IN_REG(v) ((void)0)
#endif
/* Writes 8 outputs o..o+7 of one row (only those < O): acc + b. */
static inline void store8(float *y, __m256 acc, const float *b, int o, int O) {
    if (o + 8 <= O) {
        if (b) acc = _mm256_add_ps(acc, _mm256_loadu_ps(b + o));
        _mm256_storeu_ps(y + o, acc);
    } else {
        float r[8];
        _mm256_storeu_ps(r, acc);
        for (int j = 0; o + j < O; j++)
            y[o + j] = b ? r[j] + b[o + j] : r[j];
    }
}
#endif

/* out[N, O] (row stride ldo) = x[N, I] @ w^T + b for the output blocks
 * [ob0, ob1) of packed weights wp (columns ob0 * 8 ..). Every (row, out)
 * value is acc = fma(x[i], w[o][i], acc) for i = 0..I-1 from acc = 0, then
 * acc + b[o]: the tiles below only choose which chains run side by side,
 * so a value never depends on N, the tile or the thread. */
static void linear_block(float *out, int ldo, const float *x, const float *wp, const float *b,
                         int N, int I, int O, int ob0, int ob1) {
#if GEN_AVX2
    const size_t bs = (size_t)I * 8; /* floats per output block */
    const int N4 = N & ~3;
    int ob = ob0;
    /* 4 rows x 2 blocks (16 outputs): 8 accumulators (enough chains for
     * two FMA pipes of latency 4), 2 loads and 4 broadcasts per 8 FMAs
     * (4 x 3 ran out of registers: GCC re-loaded the weights per FMA). The
     * row tiles are the inner loop so a block of weights is read from
     * memory once per call. */
    for (; ob + 2 <= ob1; ob += 2) {
        const float *w0 = wp + (size_t)ob * bs;
        for (int t = 0; t < N4; t += 4) {
            const float *x0 = x + (size_t)t * I, *x1 = x0 + I, *x2 = x1 + I, *x3 = x2 + I;
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
                   a30 = a00, a31 = a00;
            const float *wi = w0;
            for (int i = 0; i < I; i++, wi += 8) {
                __m256 v0 = _mm256_loadu_ps(wi), v1 = _mm256_loadu_ps(wi + bs);
                /* keep v0, v1 in registers: GCC otherwise folds the loads
                 * into each FMA, 12 loads per 8 FMAs instead of 6 */
                GEN_IN_REG(v0);
                GEN_IN_REG(v1);
                __m256 u = _mm256_broadcast_ss(x0 + i);
                a00 = _mm256_fmadd_ps(u, v0, a00);
                a01 = _mm256_fmadd_ps(u, v1, a01);
                u = _mm256_broadcast_ss(x1 + i);
                a10 = _mm256_fmadd_ps(u, v0, a10);
                a11 = _mm256_fmadd_ps(u, v1, a11);
                u = _mm256_broadcast_ss(x2 + i);
                a20 = _mm256_fmadd_ps(u, v0, a20);
                a21 = _mm256_fmadd_ps(u, v1, a21);
                u = _mm256_broadcast_ss(x3 + i);
                a30 = _mm256_fmadd_ps(u, v0, a30);
                a31 = _mm256_fmadd_ps(u, v1, a31);
            }
            float *y = out + (size_t)t * ldo;
            const int o = ob * 8;
            store8(y, a00, b, o, O);
            store8(y, a01, b, o + 8, O);
            y += ldo;
            store8(y, a10, b, o, O);
            store8(y, a11, b, o + 8, O);
            y += ldo;
            store8(y, a20, b, o, O);
            store8(y, a21, b, o + 8, O);
            y += ldo;
            store8(y, a30, b, o, O);
            store8(y, a31, b, o + 8, O);
        }
    }
    /* 4 rows x 1 block for an odd last block */
    for (; ob < ob1; ob++) {
        const float *w0 = wp + (size_t)ob * bs;
        for (int t = 0; t < N4; t += 4) {
            const float *x0 = x + (size_t)t * I, *x1 = x0 + I, *x2 = x1 + I, *x3 = x2 + I;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            const float *wi = w0;
            for (int i = 0; i < I; i++, wi += 8) {
                const __m256 v0 = _mm256_loadu_ps(wi);
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x0 + i), v0, a0);
                a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(x1 + i), v0, a1);
                a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(x2 + i), v0, a2);
                a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(x3 + i), v0, a3);
            }
            float *y = out + (size_t)t * ldo;
            store8(y, a0, b, ob * 8, O);
            store8(y + ldo, a1, b, ob * 8, O);
            store8(y + 2 * (size_t)ldo, a2, b, ob * 8, O);
            store8(y + 3 * (size_t)ldo, a3, b, ob * 8, O);
        }
    }
    /* Remaining rows one at a time (a decode step at batch 1): 1 row x 8
     * blocks, 8 independent chains. */
    for (int t = N4; t < N; t++) {
        const float *x0 = x + (size_t)t * I;
        float *y = out + (size_t)t * ldo;
        ob = ob0;
        for (; ob + 8 <= ob1; ob += 8) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
                   a7 = a0;
            const float *wi = wp + (size_t)ob * bs;
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
            const int o = ob * 8;
            store8(y, a0, b, o, O);
            store8(y, a1, b, o + 8, O);
            store8(y, a2, b, o + 16, O);
            store8(y, a3, b, o + 24, O);
            store8(y, a4, b, o + 32, O);
            store8(y, a5, b, o + 40, O);
            store8(y, a6, b, o + 48, O);
            store8(y, a7, b, o + 56, O);
        }
        for (; ob + 2 <= ob1; ob += 2) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            const float *wi = wp + (size_t)ob * bs;
            for (int i = 0; i < I; i++, wi += 8) {
                const __m256 u = _mm256_broadcast_ss(x0 + i);
                a0 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi), a0);
                a1 = _mm256_fmadd_ps(u, _mm256_loadu_ps(wi + bs), a1);
            }
            store8(y, a0, b, ob * 8, O);
            store8(y, a1, b, ob * 8 + 8, O);
        }
        for (; ob < ob1; ob++) {
            __m256 a0 = _mm256_setzero_ps();
            const float *wi = wp + (size_t)ob * bs;
            for (int i = 0; i < I; i++, wi += 8)
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x0 + i), _mm256_loadu_ps(wi), a0);
            store8(y, a0, b, ob * 8, O);
        }
    }
#else
    for (int t = 0; t < N; t++) {
        const float *xr = x + (size_t)t * I;
        for (int o = ob0 * 8; o < ob1 * 8 && o < O; o++) {
            const float *wr = wp + (size_t)(o >> 3) * I * 8 + (o & 7);
            float s = 0.0f;
            for (int i = 0; i < I; i++)
                s = fmaf(xr[i], wr[(size_t)i * 8], s);
            out[(size_t)t * ldo + o] = b ? s + b[o] : s;
        }
    }
#endif
}

void tt_gen_linear(float *out, const float *x, const float *wp, const float *b, int N, int I, int O,
                   int n_threads) {
    const int nb = (O + 7) >> 3;
#ifdef _OPENMP
    /* Batched rows: split the output blocks between threads. Each (row,
     * out) value is computed the same way in any block, so results do not
     * depend on the thread count. One row (a decode step at batch 1) stays
     * serial: there the fork/join costs about what the work does. */
    const int nt = n_threads;
    if (nt > 1 && N >= 4 && (size_t)N * I * O >= 131072) {
        const int chunks = nt < nb ? nt : nb;
#pragma omp parallel for num_threads(chunks) schedule(static)
        for (int c = 0; c < chunks; c++)
            linear_block(out, O, x, wp, b, N, I, O, (int)((long)nb * c / chunks),
                         (int)((long)nb * (c + 1) / chunks));
        return;
    }
#else
    (void)n_threads;
#endif
    linear_block(out, O, x, wp, b, N, I, O, 0, nb);
}

/* out[N, C] = LayerNorm(x) * w + b, eps 1e-5, biased variance. */
static void layernorm(float *out, const float *x, const float *w, const float *b, int N, int C) {
    for (int t = 0; t < N; t++) {
        const float *xr = x + (size_t)t * C;
        float *yr = out + (size_t)t * C;
        double s = 0.0;
        for (int c = 0; c < C; c++)
            s += xr[c];
        const float mean = (float)(s / C);
        double v = 0.0;
        for (int c = 0; c < C; c++) {
            const double d = (double)xr[c] - mean;
            v += d * d;
        }
        const float rstd = (float)(1.0 / sqrt(v / C + 1e-5));
        for (int c = 0; c < C; c++)
            yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
    }
}

#if GEN_AVX2
/* exp for 8 floats (Cephes expf: range reduction by ln 2, degree-5
 * polynomial; ~1 ulp), inputs <= 0 here; very negative inputs give ~0. */
static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.0f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, z, x);
    y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_cvttps_epi32(fx);
    e = _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
#endif

/* exp(x) as exp8 computes it, one lane: the same operations in scalar
 * form, so a score gets the same value in a vector block or in the tail. */
static inline float exp1(float x) {
    x = fminf(fmaxf(x, -87.0f), 88.3762626647949f);
    float fx = floorf(fmaf(x, 1.44269504088896341f, 0.5f));
    x = fmaf(-fx, 0.693359375f, x);
    x = fmaf(-fx, -2.12194440e-4f, x);
    const float z = x * x;
    float y = 1.9875691500E-4f;
    y = fmaf(y, x, 1.3981999507E-3f);
    y = fmaf(y, x, 8.3334519073E-3f);
    y = fmaf(y, x, 4.1665795894E-2f);
    y = fmaf(y, x, 1.6666665459E-1f);
    y = fmaf(y, x, 5.0000001201E-1f);
    y = fmaf(y, z, x);
    y = y + 1.0f;
    const int e = (int)fx;
    uint32_t bits = (uint32_t)(e + 127) << 23;
    float p2;
    memcpy(&p2, &bits, sizeof p2);
    return y * p2;
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the formula of
 * PyTorch's vectorised CPU erf): erf(x) = sign(x) (1 - poly(t) t e^{-x^2}),
 * t = 1 / (1 + p |x|). erf1 is erf8's twin, operation for operation. */
#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 -0.284496736f
#define ERF_A3 1.421413741f
#define ERF_A4 -1.453152027f
#define ERF_A5 1.061405429f
static inline float erf1(float x) {
    const float ax = fabsf(x);
    const float t = 1.0f / fmaf(ERF_P, ax, 1.0f);
    float r = fmaf(ERF_A5, t, ERF_A4);
    r = fmaf(r, t, ERF_A3);
    r = fmaf(r, t, ERF_A2);
    r = fmaf(r, t, ERF_A1);
    r = r * t;
    const float y = 1.0f - r * exp1(-(ax * ax));
    return copysignf(y, x);
}

#if GEN_AVX2
static inline __m256 erf8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 t = _mm256_div_ps(
        _mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(ERF_P), ax, _mm256_set1_ps(1.0f)));
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(ERF_A5), t, _mm256_set1_ps(ERF_A4));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A3));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A2));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A1));
    r = _mm256_mul_ps(r, t);
    const __m256 e = exp8(_mm256_xor_ps(_mm256_mul_ps(ax, ax), sign));
    const __m256 y = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(r, e));
    return _mm256_or_ps(y, _mm256_and_ps(x, sign)); /* y >= 0: copysign */
}
#endif

/* In place: x = 0.5 x (1 + erf(x / sqrt 2)), the erf ("exact") GELU. */
static void gelu(float *x, size_t n) {
    size_t i = 0;
#if GEN_AVX2
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f),
                 rs2 = _mm256_set1_ps(0.70710678118654752f);
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 e = erf8(_mm256_mul_ps(v, rs2));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
    }
#endif
    for (; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erf1(x[i] * 0.70710678118654752f));
}

/* x[n] *= a (elementwise: the same products in any grouping) */
static inline void scale_row(float *x, float a, int n) {
    int t = 0;
#if GEN_AVX2
    const __m256 va = _mm256_set1_ps(a);
    for (; t + 8 <= n; t += 8)
        _mm256_storeu_ps(x + t, _mm256_mul_ps(_mm256_loadu_ps(x + t), va));
#endif
    for (; t < n; t++)
        x[t] *= a;
}

#if GEN_AVX2
/* Scores of one head with hs == 32: s[t] = (sum_i q[i] k_t[i]) / scale for
 * blocks of 8 positions covering 0..n-1 (lanes past n are junk, written to
 * s[n..n+7)); each lane is the same fma chain in i order as the scalar
 * path. Returns the number of positions done (n rounded up to 8). */
static int scores_hs32(float *s, const float *q, const float *K, int n, __m256 vscale) {
    enum { BS = 32 * 8 };
    const int nb = (n + 7) >> 3;
    int b = 0;
    for (; b + 8 <= nb; b += 8) {
        const float *kb = K + (size_t)b * BS;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        for (int i = 0; i < 32; i++, kb += 8) {
            const __m256 qi = _mm256_broadcast_ss(q + i);
            a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb), a0);
            a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + BS), a1);
            a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 2 * BS), a2);
            a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 3 * BS), a3);
            a4 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 4 * BS), a4);
            a5 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 5 * BS), a5);
            a6 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 6 * BS), a6);
            a7 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 7 * BS), a7);
        }
        float *st = s + (size_t)b * 8;
        _mm256_storeu_ps(st, _mm256_div_ps(a0, vscale));
        _mm256_storeu_ps(st + 8, _mm256_div_ps(a1, vscale));
        _mm256_storeu_ps(st + 16, _mm256_div_ps(a2, vscale));
        _mm256_storeu_ps(st + 24, _mm256_div_ps(a3, vscale));
        _mm256_storeu_ps(st + 32, _mm256_div_ps(a4, vscale));
        _mm256_storeu_ps(st + 40, _mm256_div_ps(a5, vscale));
        _mm256_storeu_ps(st + 48, _mm256_div_ps(a6, vscale));
        _mm256_storeu_ps(st + 56, _mm256_div_ps(a7, vscale));
    }
    for (; b + 4 <= nb; b += 4) {
        const float *kb = K + (size_t)b * BS;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < 32; i++, kb += 8) {
            const __m256 qi = _mm256_broadcast_ss(q + i);
            a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb), a0);
            a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + BS), a1);
            a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 2 * BS), a2);
            a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 3 * BS), a3);
        }
        float *st = s + (size_t)b * 8;
        _mm256_storeu_ps(st, _mm256_div_ps(a0, vscale));
        _mm256_storeu_ps(st + 8, _mm256_div_ps(a1, vscale));
        _mm256_storeu_ps(st + 16, _mm256_div_ps(a2, vscale));
        _mm256_storeu_ps(st + 24, _mm256_div_ps(a3, vscale));
    }
    if (b < nb) {
        /* 1 to 3 blocks left: two half chains each (i even / odd would
         * change the sum), so keep one chain per block, up to 3 at once */
        const int m = nb - b;
        const float *kb = K + (size_t)b * BS;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0;
        if (m == 3) {
            for (int i = 0; i < 32; i++, kb += 8) {
                const __m256 qi = _mm256_broadcast_ss(q + i);
                a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb), a0);
                a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + BS), a1);
                a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + 2 * BS), a2);
            }
        } else if (m == 2) {
            for (int i = 0; i < 32; i++, kb += 8) {
                const __m256 qi = _mm256_broadcast_ss(q + i);
                a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb), a0);
                a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kb + BS), a1);
            }
        } else {
            for (int i = 0; i < 32; i++, kb += 8)
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(q + i), _mm256_loadu_ps(kb), a0);
        }
        float *st = s + (size_t)b * 8;
        _mm256_storeu_ps(st, _mm256_div_ps(a0, vscale));
        if (m >= 2) _mm256_storeu_ps(st + 8, _mm256_div_ps(a1, vscale));
        if (m == 3) _mm256_storeu_ps(st + 16, _mm256_div_ps(a2, vscale));
    }
    return nb * 8;
}
#endif

/* One query row against positions 0..n-1 of one slot's K/V (layouts at
 * struct tt_generator; T8 = the position stride). K in blocks of 8
 * positions gives 8 scores per vector chain without horizontal sums.
 * y[C] = concat_h softmax(q_h k_h^T / sqrt(hs)) v_h. s: scratch
 * [NH, T8 + 8]. Every score is fma(q[i], k[i], acc) in i order, then
 * / sqrt(hs); every output element sums p_t v_t in t order: the grouping
 * of blocks and heads below only feeds independent chains to the FMA units. */
static void attend(float *y, const float *q, const float *K, const float *Vc, int n, int C, int NH,
                   int T8, float *s) {
    const int hs = C / NH;
    const float scale = sqrtf((float)hs);
    const size_t ss = (size_t)T8 + 8; /* scratch stride per head */
    for (int h = 0; h < NH; h++) {
        const float *qh = q + h * hs;
        const float *Kh = K + (size_t)h * hs * T8;
        float *sh = s + (size_t)h * ss;
        int t = 0;
#if GEN_AVX2
        const __m256 vscale = _mm256_set1_ps(scale);
        if (hs == 32) {
            /* Compile-time block stride (no pointer spills), and the last,
             * partial block also in a vector: its lanes past n read
             * positions not yet written in this call (zeroed at allocation
             * or left by an earlier one) and land in the scratch's padding
             * or are overwritten; no lane mixes with another. */
            t = scores_hs32(sh, qh, Kh, n, vscale);
        }
        const size_t bs = (size_t)hs * 8; /* floats per block of 8 positions */
        for (; t + 64 <= n; t += 64) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
                   a7 = a0;
            const float *kb = Kh + (size_t)(t >> 3) * bs;
            for (int i = 0; i < hs; i++) {
                const __m256 qi = _mm256_set1_ps(qh[i]);
                const float *kr = kb + (size_t)i * 8;
                a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr), a0);
                a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + bs), a1);
                a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + 2 * bs), a2);
                a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + 3 * bs), a3);
                a4 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + 4 * bs), a4);
                a5 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + 5 * bs), a5);
                a6 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + 6 * bs), a6);
                a7 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(kr + 7 * bs), a7);
            }
            float *st = sh + t;
            _mm256_storeu_ps(st, _mm256_div_ps(a0, vscale));
            _mm256_storeu_ps(st + 8, _mm256_div_ps(a1, vscale));
            _mm256_storeu_ps(st + 16, _mm256_div_ps(a2, vscale));
            _mm256_storeu_ps(st + 24, _mm256_div_ps(a3, vscale));
            _mm256_storeu_ps(st + 32, _mm256_div_ps(a4, vscale));
            _mm256_storeu_ps(st + 40, _mm256_div_ps(a5, vscale));
            _mm256_storeu_ps(st + 48, _mm256_div_ps(a6, vscale));
            _mm256_storeu_ps(st + 56, _mm256_div_ps(a7, vscale));
        }
        for (; t + 8 <= n; t += 8) {
            __m256 a0 = _mm256_setzero_ps();
            const float *kb = Kh + (size_t)(t >> 3) * bs;
            for (int i = 0; i < hs; i++)
                a0 =
                    _mm256_fmadd_ps(_mm256_set1_ps(qh[i]), _mm256_loadu_ps(kb + (size_t)i * 8), a0);
            _mm256_storeu_ps(sh + t, _mm256_div_ps(a0, vscale));
        }
#endif
        for (; t < n; t++) {
            float a = 0.0f;
            for (int i = 0; i < hs; i++)
                a = fmaf(qh[i], Kh[((size_t)(t >> 3) * hs + i) * 8 + (t & 7)], a);
            sh[t] = a / scale;
        }
        float mx = -INFINITY;
        t = 0;
#if GEN_AVX2
        /* the maximum does not depend on the order it is taken in */
        if (n >= 8) {
            __m256 m8 = _mm256_loadu_ps(sh);
            for (t = 8; t + 8 <= n; t += 8)
                m8 = _mm256_max_ps(_mm256_loadu_ps(sh + t), m8);
            float mv[8];
            _mm256_storeu_ps(mv, m8);
            for (int j = 0; j < 8; j++)
                if (mv[j] > mx) mx = mv[j];
        }
#endif
        for (; t < n; t++)
            if (sh[t] > mx) mx = sh[t];
        int t0 = 0;
#if GEN_AVX2
        const __m256 vmx = _mm256_set1_ps(mx);
        for (; t0 + 8 <= n; t0 += 8)
            _mm256_storeu_ps(sh + t0, exp8(_mm256_sub_ps(_mm256_loadu_ps(sh + t0), vmx)));
#endif
        for (t = t0; t < n; t++)
            sh[t] = exp1(sh[t] - mx);
    }
    /* Normalise: each head's sum runs in t order; four heads at a time give
     * the adder four independent chains. */
    {
        int h = 0;
        for (; h + 4 <= NH; h += 4) {
            float *s0 = s + (size_t)h * ss, *s1 = s0 + ss, *s2 = s1 + ss, *s3 = s2 + ss;
            float u0 = 0.0f, u1 = 0.0f, u2 = 0.0f, u3 = 0.0f;
            for (int t = 0; t < n; t++) {
                u0 += s0[t];
                u1 += s1[t];
                u2 += s2[t];
                u3 += s3[t];
            }
            scale_row(s0, 1.0f / u0, n);
            scale_row(s1, 1.0f / u1, n);
            scale_row(s2, 1.0f / u2, n);
            scale_row(s3, 1.0f / u3, n);
        }
        for (; h < NH; h++) {
            float *sh = s + (size_t)h * ss;
            float sum = 0.0f;
            for (int t = 0; t < n; t++)
                sum += sh[t];
            scale_row(sh, 1.0f / sum, n);
        }
    }
    /* y_h[i] = sum_t p_t v_t[i] */
    int h = 0;
#if GEN_AVX2
    if (hs == 32) {
        /* two heads at a time: 8 independent chains */
        for (; h + 2 <= NH; h += 2) {
            const float *V0 = Vc + (size_t)h * T8 * hs, *V1 = V0 + (size_t)T8 * hs;
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
    for (; h < NH; h++) {
        const float *Vh = Vc + (size_t)h * T8 * hs, *ph = s + (size_t)h * ss;
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

/* Floats of one layer's packed matrices. */
static size_t layer_packed(const tt_generator *g) {
    return 4 * tt_gen_packed_floats(g->C, g->C) + tt_gen_packed_floats(g->F, g->C) +
           tt_gen_packed_floats(g->C, g->F);
}

/* Refreshes g->wp from the model's current weights. */
static void pack_weights(tt_generator *g) {
    const tt_model_weights *W = tt_model_weights_get(g->model);
    const int C = g->C, F = g->F;
    const size_t pcc = tt_gen_packed_floats(C, C), pfc = tt_gen_packed_floats(F, C);
    for (int l = 0; l < g->L; l++) {
        const tt_layer_weights *w = &W->layers[l];
        float *d = g->wp + (size_t)l * layer_packed(g);
        tt_gen_pack(d, w->wq, C, C);
        tt_gen_pack(d + pcc, w->wk, C, C);
        tt_gen_pack(d + 2 * pcc, w->wv, C, C);
        tt_gen_pack(d + 3 * pcc, w->wo, C, C);
        tt_gen_pack(d + 4 * pcc, w->fc1_w, F, C);
        tt_gen_pack(d + 4 * pcc + pfc, w->fc2_w, C, F);
        if (w->bq) {
            float *bd = g->bqkv + (size_t)l * 3 * C;
            memcpy(bd, w->bq, (size_t)C * sizeof(float));
            memcpy(bd + C, w->bk, (size_t)C * sizeof(float));
            memcpy(bd + 2 * C, w->bv, (size_t)C * sizeof(float));
        }
    }
    tt_gen_pack(g->wp + (size_t)g->L * layer_packed(g), W->lm_head, g->V, C);
}

static inline float *kslot(const tt_generator *g, float *base, int slot, int l) {
    return base + ((size_t)slot * g->L + l) * (size_t)g->T8 * g->C;
}

/* Runs N token rows (N <= cap_rows) through the model. Row i: token tok[i] at
 * position pos[i] of cache slot slot[i]; rows of one slot must cover its
 * positions up to pos[i] in this call or earlier ones. dst[i] (may be NULL)
 * receives the row's logits [V]. */
static void forward_rows(tt_generator *g, int N, const int *tok, const int *pos, const int *slot,
                         float *const *dst) {
    const tt_model_weights *W = tt_model_weights_get(g->model);
    const int C = g->C, L = g->L, F = g->F, V = g->V, NH = g->NH;
    const float emb_scale = sqrtf((float)C);
    const int nt = g->n_threads;
    for (int i = 0; i < N; i++) {
        const float *e = W->tok_emb + (size_t)tok[i] * C, *p = W->pos + (size_t)pos[i] * C;
        float *xr = g->x + (size_t)i * C;
        for (int c = 0; c < C; c++)
            xr[c] = e[c] * emb_scale + p[c];
    }
    for (int l = 0; l < L; l++) {
        const tt_layer_weights *w = &W->layers[l];
        layernorm(g->xn, g->x, w->ln1_w, w->ln1_b, N, C);
        const size_t pcc = tt_gen_packed_floats(C, C), pfc = tt_gen_packed_floats(F, C);
        const float *wpl = g->wp + (size_t)l * layer_packed(g);
        /* q, k, v of row i at qp, kp, vp + i * rs */
        const float *qp = g->q, *kp, *vp;
        size_t rs;
        if (C % 8 == 0) {
            /* the three packed matrices are one [3C, C] product */
            tt_gen_linear(g->q, g->xn, wpl, w->bq ? g->bqkv + (size_t)l * 3 * C : NULL, N, C, 3 * C,
                          nt);
            kp = g->q + C, vp = g->q + 2 * C, rs = (size_t)3 * C;
        } else {
            tt_gen_linear(g->q, g->xn, wpl, w->bq, N, C, C, nt);
            tt_gen_linear(g->kb, g->xn, wpl + pcc, w->bk, N, C, C, nt);
            tt_gen_linear(g->vb, g->xn, wpl + 2 * pcc, w->bv, N, C, C, nt);
            kp = g->kb, vp = g->vb, rs = (size_t)C;
        }
        const int hs = g->hs, T8 = g->T8;
        for (int i = 0; i < N; i++) {
            float *kd = kslot(g, g->kc, slot[i], l), *vd = kslot(g, g->vc, slot[i], l);
            for (int h = 0; h < NH; h++) {
                const float *kr = kp + i * rs + h * hs;
                float *kt =
                    kd + (size_t)h * hs * T8 + (size_t)(pos[i] >> 3) * hs * 8 + (pos[i] & 7);
                for (int j = 0; j < hs; j++)
                    kt[(size_t)j * 8] = kr[j];
                memcpy(vd + ((size_t)h * T8 + pos[i]) * hs, vp + i * rs + h * hs,
                       (size_t)hs * sizeof(float));
            }
        }
        /* rows in parallel: each row's attention is one thread's work */
        const size_t sstride = (size_t)NH * ((size_t)T8 + 8);
#ifdef _OPENMP
#pragma omp parallel for num_threads(g->n_threads) schedule(static) if (N >= 2 && g->n_threads > 1)
#endif
        for (int i = 0; i < N; i++) {
#ifdef _OPENMP
            float *sc = g->scores + (size_t)omp_get_thread_num() * sstride;
#else
            float *sc = g->scores;
            (void)sstride;
#endif
            attend(g->att + (size_t)i * C, qp + i * rs, kslot(g, g->kc, slot[i], l),
                   kslot(g, g->vc, slot[i], l), pos[i] + 1, C, NH, T8, sc);
        }
        tt_gen_linear(g->xn, g->att, wpl + 3 * pcc, w->bo, N, C, C, nt);
        for (size_t j = 0; j < (size_t)N * C; j++)
            g->x[j] += g->xn[j];
        layernorm(g->xn, g->x, w->ln2_w, w->ln2_b, N, C);
        tt_gen_linear(g->h, g->xn, wpl + 4 * pcc, w->fc1_b, N, C, F, nt);
        gelu(g->h, (size_t)N * F);
        tt_gen_linear(g->xn, g->h, wpl + 4 * pcc + pfc, w->fc2_b, N, F, C, nt);
        for (size_t j = 0; j < (size_t)N * C; j++)
            g->x[j] += g->xn[j];
    }
    /* Final LayerNorm and head only for the rows that want logits. */
    int m = 0;
    for (int i = 0; i < N; i++) {
        if (!dst[i]) continue;
        layernorm(g->xn + (size_t)m * C, g->x + (size_t)i * C, W->lnf_w, W->lnf_b, 1, C);
        g->sel[m++] = i;
    }
    if (!m) return;
    tt_gen_linear(g->lg, g->xn, g->wp + (size_t)L * layer_packed(g), NULL, m, C, V, nt);
    for (int j = 0; j < m; j++)
        memcpy(dst[g->sel[j]], g->lg + (size_t)j * V, (size_t)V * sizeof(float));
}

/* Recomputes slot `slot` over the context tokens[0..n) cropped to its last
 * Tmax tokens (positions from 0) and writes the next-token logits to dst. */
static void forward_window(tt_generator *g, const int *tokens, int n, int slot, float *dst) {
    const int w = n < g->Tmax ? n : g->Tmax;
    const int *ctx = tokens + (n - w);
    for (int i = 0; i < w; i++) {
        g->wtok[i] = ctx[i];
        g->wpos[i] = i;
        g->wslot[i] = slot;
        g->wdst[i] = NULL;
    }
    g->wdst[w - 1] = dst;
    forward_rows(g, w, g->wtok, g->wpos, g->wslot, g->wdst);
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                */

static void free_batch(tt_generator *g) {
    free(g->kc);
    free(g->vc);
    free(g->x);
    free(g->xn);
    free(g->q);
    free(g->kb);
    free(g->vb);
    free(g->att);
    free(g->h);
    free(g->lg);
    free(g->sel);
    free(g->logits);
    free(g->rngs);
    free(g->ctok);
    free(g->cpos);
    free(g->cslot);
    free(g->cdst);
    free(g->finished);
    free(g->n_ent);
}

void tt_generator_free(tt_generator *g) {
    if (!g) return;
    free_batch(g);
    free(g->ent);
    free(g->scores);
    free(g->wp);
    free(g->bqkv);
    free(g->wtok);
    free(g->wpos);
    free(g->wslot);
    free(g->wdst);
    tt_sampler_free(g->sampler);
    free(g);
}

/* Refuses up front a request whose memory (KV cache, results, per-step
 * entropies) would exceed the machine's physical memory, naming the bytes,
 * instead of failing (or being killed) part-way. Saturating arithmetic. */
static size_t gen_add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t gen_mul_sat(size_t a, size_t b) { return b && a > SIZE_MAX / b ? SIZE_MAX : a * b; }

static tt_status check_request_memory(const tt_generator *g, const int *lens, int B, int M,
                                      tt_error *err) {
    const size_t slot = gen_mul_sat(gen_mul_sat((size_t)g->L, (size_t)g->T8), (size_t)g->C);
    size_t need = gen_mul_sat(gen_mul_sat((size_t)B, slot), 2 * sizeof(float)); /* K and V */
    for (int r = 0; r < B; r++) /* prompt + generated ids */
        need = gen_add_sat(need, gen_mul_sat(gen_add_sat((size_t)lens[r], (size_t)M), sizeof(int)));
    need = gen_add_sat(need, gen_mul_sat(gen_mul_sat((size_t)B, (size_t)(M > 0 ? M : 1)),
                                         sizeof(double))); /* entropies */
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const size_t have = pages > 0 && page > 0 ? gen_mul_sat((size_t)pages, (size_t)page) : SIZE_MAX;
    if (need > have)
        return tt_error_set(err, TT_ERR_NOMEM,
                            "generating %d rows of up to %d new tokens needs %zu bytes but the "
                            "machine has %zu bytes of physical memory",
                            B, M, need, have);
    return TT_OK;
}

/* Makes room for B rows: B cache slots, max(B, Tmax) scratch rows. */
static tt_status reserve(tt_generator *g, int B, tt_error *err) {
    if (B <= g->cap_b) return TT_OK;
    const size_t C = (size_t)g->C, F = (size_t)g->F, V = (size_t)g->V;
    const size_t slot_floats = (size_t)g->L * g->T8 * C;
    if ((size_t)B > SIZE_MAX / sizeof(float) / slot_floats / 2)
        return tt_error_set(err, TT_ERR_NOMEM, "KV cache for %d rows is too large", B);
    const size_t rows = (size_t)(B > g->Tmax ? B : g->Tmax);
    free_batch(g);
    g->cap_b = g->cap_slots = g->cap_rows = 0;
    /* zeroed: attention reads whole blocks of 8 positions (lanes past the
     * row's length are discarded) */
    g->kc = calloc((size_t)B * slot_floats, sizeof(float));
    g->vc = malloc((size_t)B * slot_floats * sizeof(float));
    g->x = malloc(rows * C * sizeof(float));
    g->xn = malloc(rows * C * sizeof(float));
    g->q = malloc(rows * 3 * C * sizeof(float)); /* q, k, v of a fused product */
    g->kb = malloc(rows * C * sizeof(float));
    g->vb = malloc(rows * C * sizeof(float));
    g->att = malloc(rows * C * sizeof(float));
    g->h = malloc(rows * F * sizeof(float));
    g->lg = malloc(rows * V * sizeof(float));
    g->sel = malloc(rows * sizeof(int));
    g->logits = malloc((size_t)B * V * sizeof(float));
    g->rngs = malloc((size_t)B * sizeof(tt_rng));
    g->ctok = malloc((size_t)B * sizeof(int));
    g->cpos = malloc((size_t)B * sizeof(int));
    g->cslot = malloc((size_t)B * sizeof(int));
    g->cdst = malloc((size_t)B * sizeof(float *));
    g->finished = malloc((size_t)B);
    g->n_ent = calloc((size_t)B, sizeof(int));
    if (!g->kc || !g->vc || !g->x || !g->xn || !g->q || !g->kb || !g->vb || !g->att || !g->h ||
        !g->lg || !g->sel || !g->logits || !g->rngs || !g->ctok || !g->cpos || !g->cslot ||
        !g->cdst || !g->finished || !g->n_ent) {
        free_batch(g);
        g->kc = g->vc = g->x = g->xn = g->q = g->kb = g->vb = g->att = g->h = g->lg = NULL;
        g->logits = NULL;
        g->sel = g->ctok = g->cpos = g->cslot = g->n_ent = NULL;
        g->rngs = NULL;
        g->cdst = NULL;
        g->finished = NULL;
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a batch of %d rows", B);
    }
    g->cap_b = g->cap_slots = B;
    g->cap_rows = (int)rows;
    return TT_OK;
}

tt_status tt_generator_create(tt_generator **out, const tt_model *model,
                              const tt_generator_config *gc, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "generator: out is NULL");
    *out = NULL;
    if (!model) return tt_error_set(err, TT_ERR_ARG, "generator: model is NULL");
    const tt_model_config *mc = tt_model_get_config(model);
    tt_generator_config cfg = gc ? *gc : tt_generator_config_default();
    tt_status st = tt_generator_config_validate(&cfg, mc->vocab_size, err);
    if (st) return st;
    tt_generator *g = calloc(1, sizeof *g);
    if (!g) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the generator");
    g->model = model;
    g->cfg = cfg;
    g->V = mc->vocab_size;
    g->C = mc->d_model;
    g->NH = mc->n_heads;
    g->hs = mc->d_model / mc->n_heads;
    g->L = mc->n_layers;
    g->F = mc->d_ff;
    g->Tmax = mc->max_len;
    g->T8 = (mc->max_len + 7) & ~7;
#ifdef _OPENMP
    /* Threads only on request (OMP_NUM_THREADS set): on a small shared
     * machine a second thread costs more than it gains (docs/generation.md). */
    const char *omp_env = getenv("OMP_NUM_THREADS");
    g->n_threads = omp_env && *omp_env ? omp_get_max_threads() : 1;
#else
    g->n_threads = 1;
#endif
    if (g->n_threads < 1) g->n_threads = 1;
    g->scores = malloc((size_t)g->n_threads * g->NH * ((size_t)g->T8 + 8) * sizeof(float));
    g->wtok = malloc((size_t)g->Tmax * sizeof(int));
    g->wpos = malloc((size_t)g->Tmax * sizeof(int));
    g->wslot = malloc((size_t)g->Tmax * sizeof(int));
    g->wdst = malloc((size_t)g->Tmax * sizeof(float *));
    g->wp =
        malloc(((size_t)g->L * layer_packed(g) + tt_gen_packed_floats(g->V, g->C)) * sizeof(float));
    g->bqkv = malloc((size_t)g->L * 3 * g->C * sizeof(float));
    if (!g->scores || !g->wtok || !g->wpos || !g->wslot || !g->wdst || !g->wp || !g->bqkv) {
        tt_generator_free(g);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the generator");
    }
    st = tt_sampler_create(&g->sampler, g->V, err);
    if (!st) st = reserve(g, 1, err);
    if (st) {
        tt_generator_free(g);
        return st;
    }
    *out = g;
    tt_error_clear(err);
    return TT_OK;
}

const tt_generator_config *tt_generator_get_config(const tt_generator *g) {
    return g ? &g->cfg : NULL;
}

static tt_status check_prompt(const tt_generator *g, const int *p, int n, int r, tt_error *err) {
    if (!p || n < 1)
        return tt_error_set(err, TT_ERR_ARG,
                            "prompt %d is empty (a prompt needs at least one token)", r);
    for (int i = 0; i < n; i++)
        if (p[i] < 0 || p[i] >= g->V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "prompt %d: token id %d at position %d is out of range [0, %d)", r,
                                p[i], i, g->V);
    return TT_OK;
}

tt_status tt_generator_next_logits(tt_generator *g, const int *tokens, int n, float *logits,
                                   tt_error *err) {
    if (!g || !logits) return tt_error_set(err, TT_ERR_ARG, "next_logits: NULL argument");
    tt_status st = check_prompt(g, tokens, n, 0, err);
    if (st) return st;
    pack_weights(g);
    forward_window(g, tokens, n, 0, logits);
    return TT_OK;
}

static tt_generator_config apply_overrides(const tt_generator_config *base,
                                           const tt_generate_overrides *o) {
    tt_generator_config c = *base;
    if (!o) return c;
    const tt_generator_config *v = &o->values;
    if (o->set & TT_OVR_MAX_NEW_TOKENS) c.max_new_tokens = v->max_new_tokens;
    if (o->set & TT_OVR_TEMPERATURE) c.temperature = v->temperature;
    if (o->set & TT_OVR_TOP_K) c.top_k = v->top_k;
    if (o->set & TT_OVR_TOP_P) c.top_p = v->top_p;
    if (o->set & TT_OVR_DO_SAMPLE) c.do_sample = v->do_sample;
    if (o->set & TT_OVR_EOS) c.eos_token_id = v->eos_token_id;
    if (o->set & TT_OVR_PAD) c.pad_token_id = v->pad_token_id;
    if (o->set & TT_OVR_SEED) c.seed = v->seed;
    if (o->set & TT_OVR_USE_CACHE) c.use_cache = v->use_cache;
    return c;
}

tt_status tt_generator_generate(tt_generator *g, const int *const *prompts, const int *lens, int B,
                                const tt_generate_overrides *overrides, const uint64_t *row_ids,
                                tt_token_callback cb, void *user, tt_generation *out,
                                tt_error *err) {
    if (!g || !prompts || !lens || !out)
        return tt_error_set(err, TT_ERR_ARG, "generate: NULL argument");
    if (B < 1)
        return tt_error_set(err, TT_ERR_ARG, "generate: need at least one prompt, got %d", B);
    for (int r = 0; r < B; r++) {
        out[r].tokens = NULL;
        out[r].n_tokens = out[r].n_prompt = out[r].n_generated = 0;
        out[r].finish = TT_FINISH_LENGTH;
    }
    if (overrides && (overrides->set & ~0x1FFu))
        return tt_error_set(err, TT_ERR_ARG, "generate: unknown override bits 0x%x",
                            overrides->set & ~0x1FFu);
    const tt_generator_config cfg = apply_overrides(&g->cfg, overrides);
    tt_status st = tt_generator_config_validate(&cfg, g->V, err);
    if (st) return st;
    for (int r = 0; r < B; r++) {
        st = check_prompt(g, prompts[r], lens[r], r, err);
        if (st) return st;
        if (lens[r] > INT_MAX - cfg.max_new_tokens)
            return tt_error_set(err, TT_ERR_ARG,
                                "prompt %d: length %d + max_new_tokens %d overflows", r, lens[r],
                                cfg.max_new_tokens);
    }
    st = check_request_memory(g, lens, B, cfg.max_new_tokens, err);
    if (st) return st;
    st = reserve(g, B, err);
    if (st) return st;
    pack_weights(g);
    const int M = cfg.max_new_tokens, V = g->V;
    const size_t ent_need = (size_t)B * (size_t)(M > 0 ? M : 1);
    if (ent_need > g->ent_alloc) {
        free(g->ent);
        g->ent = malloc(ent_need * sizeof(double));
        g->ent_alloc = g->ent ? ent_need : 0;
        g->ent_cap = g->ent_rows = 0;
        if (!g->ent) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for entropies");
    }
    g->ent_cap = M > 0 ? M : 1;
    g->ent_rows = B;
    for (int r = 0; r < B; r++) {
        out[r].tokens = malloc(((size_t)lens[r] + (size_t)M) * sizeof(int));
        if (!out[r].tokens) {
            tt_generations_free(out, B);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the results");
        }
        memcpy(out[r].tokens, prompts[r], (size_t)lens[r] * sizeof(int));
        out[r].n_tokens = out[r].n_prompt = lens[r];
        g->finished[r] = 0;
        g->n_ent[r] = 0;
        tt_rng_seed_stream(&g->rngs[r], cfg.seed, row_ids ? row_ids[r] : (uint64_t)r);
    }

    tt_sampling_params sp = tt_sampling_params_default();
    const bool greedy = !cfg.do_sample || cfg.temperature == 0.0f;
    if (greedy) {
        sp.strategy = TT_STRATEGY_GREEDY;
    } else {
        sp.strategy = TT_STRATEGY_COMBINED;
        sp.temperature = cfg.temperature;
        sp.top_k = cfg.top_k;
        sp.top_p = cfg.top_p;
    }
    const int eos = cfg.eos_token_id, pad = cfg.pad_token_id;

    /* Prefill: the next-token logits of every row. */
    if (M > 0)
        for (int r = 0; r < B; r++)
            forward_window(g, out[r].tokens, out[r].n_tokens, r, g->logits + (size_t)r * V);

    tt_status result = TT_OK;
    for (int step = 0; step < M; step++) {
        if (step > 0) {
            /* Feed each unfinished row's last token. */
            int n = 0;
            for (int r = 0; r < B; r++) {
                if (g->finished[r]) continue;
                const int len = out[r].n_tokens;
                float *dst = g->logits + (size_t)r * V;
                if (!cfg.use_cache || len > g->Tmax) {
                    /* Full recompute; past max_len the window slides, so
                     * every position changes and the cache is rebuilt. */
                    forward_window(g, out[r].tokens, len, r, dst);
                } else {
                    g->ctok[n] = out[r].tokens[len - 1];
                    g->cpos[n] = len - 1;
                    g->cslot[n] = r;
                    g->cdst[n] = dst;
                    n++;
                }
            }
            if (n) forward_rows(g, n, g->ctok, g->cpos, g->cslot, g->cdst);
        }
        bool stop = false, all_done = true;
        for (int r = 0; r < B; r++) {
            if (g->finished[r]) {
                if (pad != TT_TOKEN_NONE) out[r].tokens[out[r].n_tokens++] = pad;
                continue;
            }
            const float *lr = g->logits + (size_t)r * V;
            int tok;
            double ent = 0.0; /* greedy: one-hot, entropy 0 */
            int n_kept;
            st = tt_sampler_sample(g->sampler, &sp, lr, &g->rngs[r], &tok, err);
            if (!st && !greedy)
                st = tt_sampler_filter(g->sampler, &sp, lr, g->lg, NULL, &n_kept, &ent, err);
            if (st) {
                tt_generations_free(out, B);
                return st;
            }
            out[r].tokens[out[r].n_tokens++] = tok;
            out[r].n_generated++;
            g->ent[(size_t)r * g->ent_cap + g->n_ent[r]++] = ent;
            if (eos != TT_TOKEN_NONE && tok == eos) {
                g->finished[r] = 1;
                out[r].finish = TT_FINISH_EOS;
            } else {
                all_done = false;
            }
            if (cb && cb(user, r, tok, step)) {
                stop = true;
                break;
            }
        }
        if (stop) {
            result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                  "generation stopped by the callback at step %d", step);
            break;
        }
        if (all_done) break;
    }
    if (result == TT_OK) tt_error_clear(err);
    return result;
}

tt_status tt_generator_step_entropies(const tt_generator *g, int row, const double **ent, int *n,
                                      tt_error *err) {
    if (!g || !ent || !n) return tt_error_set(err, TT_ERR_ARG, "step_entropies: NULL argument");
    if (row < 0 || row >= g->ent_rows || !g->ent)
        return tt_error_set(err, TT_ERR_RANGE, "step_entropies: row %d is out of range [0, %d)",
                            row, g->ent_rows);
    *ent = g->ent + (size_t)row * g->ent_cap;
    *n = g->n_ent[row];
    return TT_OK;
}
