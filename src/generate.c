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
    float *logits;     /* [cap_b, V] next-token logits of each row */
    tt_rng *rngs;      /* [cap_b]                                  */
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
        return tt_error_set(err, TT_ERR_ARG, "%s %d is out of range for vocabulary size %d",
                            field, id, V);
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

#if GEN_AVX2
/* Lane j of the result is the sum of the 8 lanes of a_j, always by the tree
 * ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)), whichever accumulators
 * share the call (zero vectors fill unused slots). Every dot product of
 * tt_gen_linear ends here, so a (row, out) sum never depends on its tile. */
static inline __m256 reduce8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5,
                             __m256 a6, __m256 a7) {
    const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* The one way a (row, out) dot product ends: the lane tree (s), then the
 * tail (I % 8 elements) in order, then the bias. */
static inline float dot_end(float s, const float *x, const float *w, int I8, int I, const float *b,
                            int o) {
    for (int i = I8; i < I; i++) s += x[i] * w[i];
    if (b) s += b[o];
    return s;
}
#endif

/* out[N, O] (row stride ldo) = x[N, I] @ w[O, I]^T + b[O]. */
static void linear_block(float *out, int ldo, const float *x, const float *w, const float *b, int N,
                         int I, int O) {
#if GEN_AVX2
    const int I8 = I & ~7;
    const __m256 z = _mm256_setzero_ps();
    float r[16];
    int t = 0;
    /* 4 rows x 3 outputs: 12 accumulators, 7 loads per 12 FMAs. */
    for (; t + 4 <= N; t += 4) {
        const float *x0 = x + (size_t)t * I, *x1 = x0 + I, *x2 = x1 + I, *x3 = x2 + I;
        const float *xr[4] = {x0, x1, x2, x3};
        float *y0 = out + (size_t)t * ldo;
        int o = 0;
        for (; o + 3 <= O; o += 3) {
            const float *w0 = w + (size_t)o * I, *w1 = w0 + I, *w2 = w1 + I;
            const float *wr[3] = {w0, w1, w2};
            __m256 a00 = z, a01 = z, a02 = z, a10 = z, a11 = z, a12 = z, a20 = z, a21 = z, a22 = z,
                   a30 = z, a31 = z, a32 = z;
            for (int i = 0; i < I8; i += 8) {
                __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i),
                       v2 = _mm256_loadu_ps(w2 + i);
                __m256 u = _mm256_loadu_ps(x0 + i);
                a00 = _mm256_fmadd_ps(u, v0, a00);
                a01 = _mm256_fmadd_ps(u, v1, a01);
                a02 = _mm256_fmadd_ps(u, v2, a02);
                u = _mm256_loadu_ps(x1 + i);
                a10 = _mm256_fmadd_ps(u, v0, a10);
                a11 = _mm256_fmadd_ps(u, v1, a11);
                a12 = _mm256_fmadd_ps(u, v2, a12);
                u = _mm256_loadu_ps(x2 + i);
                a20 = _mm256_fmadd_ps(u, v0, a20);
                a21 = _mm256_fmadd_ps(u, v1, a21);
                a22 = _mm256_fmadd_ps(u, v2, a22);
                u = _mm256_loadu_ps(x3 + i);
                a30 = _mm256_fmadd_ps(u, v0, a30);
                a31 = _mm256_fmadd_ps(u, v1, a31);
                a32 = _mm256_fmadd_ps(u, v2, a32);
            }
            _mm256_storeu_ps(r, reduce8(a00, a01, a02, a10, a11, a12, a20, a21));
            _mm256_storeu_ps(r + 8, reduce8(a22, a30, a31, a32, z, z, z, z));
            if (I8 == I && b) {
                const float b0 = b[o], b1 = b[o + 1], b2 = b[o + 2];
                float *y = y0 + o;
                y[0] = r[0] + b0, y[1] = r[1] + b1, y[2] = r[2] + b2;
                y += ldo;
                y[0] = r[3] + b0, y[1] = r[4] + b1, y[2] = r[5] + b2;
                y += ldo;
                y[0] = r[6] + b0, y[1] = r[7] + b1, y[2] = r[8] + b2;
                y += ldo;
                y[0] = r[9] + b0, y[1] = r[10] + b1, y[2] = r[11] + b2;
            } else {
                for (int k = 0; k < 12; k++) {
                    const int rt = k / 3, j = k % 3;
                    y0[(size_t)rt * ldo + o + j] = dot_end(r[k], xr[rt], wr[j], I8, I, b, o + j);
                }
            }
        }
        for (; o < O; o++) {
            const float *w0 = w + (size_t)o * I;
            __m256 a0 = z, a1 = z, a2 = z, a3 = z;
            for (int i = 0; i < I8; i += 8) {
                __m256 v0 = _mm256_loadu_ps(w0 + i);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + i), v0, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + i), v0, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + i), v0, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + i), v0, a3);
            }
            _mm256_storeu_ps(r, reduce8(a0, a1, a2, a3, z, z, z, z));
            for (int rt = 0; rt < 4; rt++)
                y0[(size_t)rt * ldo + o] = dot_end(r[rt], xr[rt], w0, I8, I, b, o);
        }
    }
    /* Single rows: 1 row x 8 outputs (8 independent FMA chains). */
    for (; t < N; t++) {
        const float *x0 = x + (size_t)t * I;
        float *y0 = out + (size_t)t * ldo;
        for (int o = 0; o < O; o += 8) {
            const int m = O - o < 8 ? O - o : 8;
            const float *w0 = w + (size_t)o * I;
            __m256 a[8];
            for (int j = 0; j < 8; j++) a[j] = z;
            if (m == 8) {
                for (int i = 0; i < I8; i += 8) {
                    const __m256 u = _mm256_loadu_ps(x0 + i);
                    a[0] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + i), a[0]);
                    a[1] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)I + i), a[1]);
                    a[2] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)2 * I + i), a[2]);
                    a[3] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)3 * I + i), a[3]);
                    a[4] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)4 * I + i), a[4]);
                    a[5] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)5 * I + i), a[5]);
                    a[6] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)6 * I + i), a[6]);
                    a[7] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)7 * I + i), a[7]);
                }
            } else {
                for (int i = 0; i < I8; i += 8) {
                    const __m256 u = _mm256_loadu_ps(x0 + i);
                    for (int j = 0; j < m; j++)
                        a[j] = _mm256_fmadd_ps(u, _mm256_loadu_ps(w0 + (size_t)j * I + i), a[j]);
                }
            }
            __m256 s = reduce8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
            if (m == 8 && I8 == I && b) {
                _mm256_storeu_ps(y0 + o, _mm256_add_ps(s, _mm256_loadu_ps(b + o)));
            } else if (m == 8 && I8 == I) {
                _mm256_storeu_ps(y0 + o, s);
            } else {
                _mm256_storeu_ps(r, s);
                for (int j = 0; j < m; j++)
                    y0[o + j] = dot_end(r[j], x0, w0 + (size_t)j * I, I8, I, b, o + j);
            }
        }
    }
#else
    for (int t = 0; t < N; t++) {
        const float *xr = x + (size_t)t * I;
        for (int o = 0; o < O; o++) {
            const float *wr = w + (size_t)o * I;
            float s = 0.0f;
            for (int i = 0; i < I; i++) s += xr[i] * wr[i];
            out[(size_t)t * ldo + o] = b ? s + b[o] : s;
        }
    }
#endif
}

void tt_gen_linear(float *out, const float *x, const float *w, const float *b, int N, int I,
                   int O, int n_threads) {
#ifdef _OPENMP
    /* Batched rows: split the outputs between threads. Each (row, out) sum
     * is computed the same way in any block, so results do not depend on
     * the thread count. One row (a decode step at batch 1) stays serial:
     * there the fork/join costs about what the work does. */
    const int nt = n_threads;
    if (nt > 1 && N >= 4 && (size_t)N * I * O >= 131072) {
        const int chunks = nt < O ? nt : O;
#pragma omp parallel for num_threads(chunks) schedule(static)
        for (int c = 0; c < chunks; c++) {
            const int o0 = (int)((long)O * c / chunks), o1 = (int)((long)O * (c + 1) / chunks);
            linear_block(out + o0, O, x, w + (size_t)o0 * I, b ? b + o0 : NULL, N, I, o1 - o0);
        }
        return;
    }
#else
    (void)n_threads;
#endif
    linear_block(out, O, x, w, b, N, I, O);
}

/* out[N, C] = LayerNorm(x) * w + b, eps 1e-5, biased variance. */
static void layernorm(float *out, const float *x, const float *w, const float *b, int N, int C) {
    for (int t = 0; t < N; t++) {
        const float *xr = x + (size_t)t * C;
        float *yr = out + (size_t)t * C;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += xr[c];
        const float mean = (float)(s / C);
        double v = 0.0;
        for (int c = 0; c < C; c++) {
            const double d = (double)xr[c] - mean;
            v += d * d;
        }
        const float rstd = (float)(1.0 / sqrt(v / C + 1e-5));
        for (int c = 0; c < C; c++) yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
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
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                                   _mm256_fmadd_ps(_mm256_set1_ps(ERF_P), ax, _mm256_set1_ps(1.0f)));
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
    for (; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erf1(x[i] * 0.70710678118654752f));
}

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
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(qh[i]), _mm256_loadu_ps(kb + (size_t)i * 8), a0);
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
        for (t = 0; t < n; t++)
            if (sh[t] > mx) mx = sh[t];
        int t0 = 0;
#if GEN_AVX2
        const __m256 vmx = _mm256_set1_ps(mx);
        for (; t0 + 8 <= n; t0 += 8)
            _mm256_storeu_ps(sh + t0, exp8(_mm256_sub_ps(_mm256_loadu_ps(sh + t0), vmx)));
#endif
        for (t = t0; t < n; t++) sh[t] = exp1(sh[t] - mx);
        float sum = 0.0f;
        for (t = 0; t < n; t++) sum += sh[t];
        const float inv = 1.0f / sum;
        for (t = 0; t < n; t++) sh[t] *= inv;
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
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(ph[t]), _mm256_loadu_ps(Vh + (size_t)t * hs + i),
                                     a0);
            _mm256_storeu_ps(yh + i, a0);
        }
#endif
        for (; i < hs; i++) {
            float a = 0.0f;
            for (int t = 0; t < n; t++) a = fmaf(ph[t], Vh[(size_t)t * hs + i], a);
            yh[i] = a;
        }
    }
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
        for (int c = 0; c < C; c++) xr[c] = e[c] * emb_scale + p[c];
    }
    for (int l = 0; l < L; l++) {
        const tt_layer_weights *w = &W->layers[l];
        layernorm(g->xn, g->x, w->ln1_w, w->ln1_b, N, C);
        tt_gen_linear(g->q, g->xn, w->wq, w->bq, N, C, C, nt);
        tt_gen_linear(g->kb, g->xn, w->wk, w->bk, N, C, C, nt);
        tt_gen_linear(g->vb, g->xn, w->wv, w->bv, N, C, C, nt);
        const int hs = g->hs, T8 = g->T8;
        for (int i = 0; i < N; i++) {
            float *kd = kslot(g, g->kc, slot[i], l), *vd = kslot(g, g->vc, slot[i], l);
            for (int h = 0; h < NH; h++) {
                const float *kr = g->kb + (size_t)i * C + h * hs;
                float *kt = kd + (size_t)h * hs * T8 + (size_t)(pos[i] >> 3) * hs * 8 + (pos[i] & 7);
                for (int j = 0; j < hs; j++) kt[(size_t)j * 8] = kr[j];
                memcpy(vd + ((size_t)h * T8 + pos[i]) * hs, g->vb + (size_t)i * C + h * hs,
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
#endif
            attend(g->att + (size_t)i * C, g->q + (size_t)i * C, kslot(g, g->kc, slot[i], l),
                   kslot(g, g->vc, slot[i], l), pos[i] + 1, C, NH, T8, sc);
        }
        tt_gen_linear(g->xn, g->att, w->wo, w->bo, N, C, C, nt);
        for (size_t j = 0; j < (size_t)N * C; j++) g->x[j] += g->xn[j];
        layernorm(g->xn, g->x, w->ln2_w, w->ln2_b, N, C);
        tt_gen_linear(g->h, g->xn, w->fc1_w, w->fc1_b, N, C, F, nt);
        gelu(g->h, (size_t)N * F);
        tt_gen_linear(g->xn, g->h, w->fc2_w, w->fc2_b, N, F, C, nt);
        for (size_t j = 0; j < (size_t)N * C; j++) g->x[j] += g->xn[j];
    }
    /* Final LayerNorm and head only for the rows that want logits. */
    int m = 0;
    for (int i = 0; i < N; i++) {
        if (!dst[i]) continue;
        layernorm(g->xn + (size_t)m * C, g->x + (size_t)i * C, W->lnf_w, W->lnf_b, 1, C);
        g->sel[m++] = i;
    }
    if (!m) return;
    tt_gen_linear(g->lg, g->xn, W->lm_head, NULL, m, C, V, nt);
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
    free(g->wtok);
    free(g->wpos);
    free(g->wslot);
    free(g->wdst);
    tt_sampler_free(g->sampler);
    free(g);
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
    g->kc = malloc((size_t)B * slot_floats * sizeof(float));
    g->vc = malloc((size_t)B * slot_floats * sizeof(float));
    g->x = malloc(rows * C * sizeof(float));
    g->xn = malloc(rows * C * sizeof(float));
    g->q = malloc(rows * C * sizeof(float));
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
    if (!g->scores || !g->wtok || !g->wpos || !g->wslot || !g->wdst) {
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
        return tt_error_set(err, TT_ERR_ARG, "prompt %d is empty (a prompt needs at least one token)",
                            r);
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

tt_status tt_generator_generate(tt_generator *g, const int *const *prompts, const int *lens,
                                int B, const tt_generate_overrides *overrides,
                                const uint64_t *row_ids, tt_token_callback cb, void *user,
                                tt_generation *out, tt_error *err) {
    if (!g || !prompts || !lens || !out)
        return tt_error_set(err, TT_ERR_ARG, "generate: NULL argument");
    if (B < 1) return tt_error_set(err, TT_ERR_ARG, "generate: need at least one prompt, got %d", B);
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
            return tt_error_set(err, TT_ERR_ARG, "prompt %d: length %d + max_new_tokens %d overflows",
                                r, lens[r], cfg.max_new_tokens);
    }
    st = reserve(g, B, err);
    if (st) return st;
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
            result = tt_error_set(err, TT_ERR_INTERRUPTED, "generation stopped by the callback at step %d",
                                  step);
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
        return tt_error_set(err, TT_ERR_RANGE, "step_entropies: row %d is out of range [0, %d)", row,
                            g->ent_rows);
    *ent = g->ent + (size_t)row * g->ent_cap;
    *n = g->n_ent[row];
    return TT_OK;
}
