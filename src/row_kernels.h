/*
 * src/row_kernels.h — the per-row arithmetic that training, evaluation and
 * decoding share: exp, erf, the exact GELU, LayerNorm of a row, the softmax
 * of a row, the attention weights of a query row, and the fixed-order sums
 * they use (docs/numerics.md).
 *
 * Static inline functions, included by the kernel files (src/gen_kernels.c
 * for the decoder, src/model_kernels.c for training and evaluation), which
 * are compiled once per instruction-set path (src/isa.h) with
 * -ffp-contract=off: every fused multiply-add below is written as one, and
 * nothing else is fused. Each function computes every value with the same
 * float operations on every path — the AVX2 lanes (also used by the avx512
 * copies, which run the element-wise GELU loops and the softmax's exps 16
 * lanes at a time with the same operations) and the scalar forms are
 * operation-for-operation twins — so the
 * results are bit-identical across paths, and the same for the decoder and
 * the model: that is what makes `tt eval` and teacher-forced decoding give
 * the same logits.
 *
 * Legend: C channels of a row, n entries of a softmax row.
 */
#ifndef TT_SRC_ROW_KERNELS_H
#define TT_SRC_ROW_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TT_ROW_AVX2 1
#else
#define TT_ROW_AVX2 0
#endif
/* 16 lanes where the copy is built for AVX-512: the same operations as the
 * 8-lane forms, element by element, so the same values (used by the
 * element-wise GELU loops, whose results do not depend on the lane count) */
#if TT_ROW_AVX2 && defined(__AVX512F__)
#define TT_ROW_AVX512 1
#else
#define TT_ROW_AVX512 0
#endif

/* ---- exp, erf, GELU ------------------------------------------------------ */

#if TT_ROW_AVX2
/* exp for 8 floats (Cephes expf: range reduction by ln 2, degree-5
 * polynomial; ~1 ulp), inputs <= 0 here; very negative inputs give ~0. */
static inline __m256 tt_exp8(__m256 x) {
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

#if TT_ROW_AVX512
/* tt_exp8 on 16 lanes, operation for operation */
static inline __m512 tt_exp16(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-87.0f);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 z = _mm512_mul_ps(x, x);
    __m512 y = _mm512_set1_ps(1.9875691500E-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
    y = _mm512_fmadd_ps(y, z, x);
    y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_cvttps_epi32(fx);
    e = _mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}
#endif

/* exp(x) as tt_exp8 computes it, one lane: the same operations in scalar
 * form, so a score gets the same value in a vector block or in the tail. */
static inline float tt_exp1(float x) {
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
 * t = 1 / (1 + p |x|). tt_erf1 is tt_erf8's twin, operation for operation. */
#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 -0.284496736f
#define ERF_A3 1.421413741f
#define ERF_A4 -1.453152027f
#define ERF_A5 1.061405429f
static inline float tt_erf1(float x) {
    const float ax = fabsf(x);
    const float t = 1.0f / fmaf(ERF_P, ax, 1.0f);
    float r = fmaf(ERF_A5, t, ERF_A4);
    r = fmaf(r, t, ERF_A3);
    r = fmaf(r, t, ERF_A2);
    r = fmaf(r, t, ERF_A1);
    r = r * t;
    const float y = 1.0f - r * tt_exp1(-(ax * ax));
    return copysignf(y, x);
}

#if TT_ROW_AVX2
static inline __m256 tt_erf8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 t = _mm256_div_ps(
        _mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(ERF_P), ax, _mm256_set1_ps(1.0f)));
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(ERF_A5), t, _mm256_set1_ps(ERF_A4));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A3));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A2));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A1));
    r = _mm256_mul_ps(r, t);
    const __m256 e = tt_exp8(_mm256_xor_ps(_mm256_mul_ps(ax, ax), sign));
    const __m256 y = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(r, e));
    return _mm256_or_ps(y, _mm256_and_ps(x, sign)); /* y >= 0: copysign */
}
#endif

/* The erf ("exact") GELU of one value and of 8 lanes, operation for
 * operation alike: 0.5 x (1 + erf(x / sqrt 2)). */
static inline float tt_gelu1(float x) {
    return 0.5f * x * (1.0f + tt_erf1(x * 0.70710678118654752f));
}

#if TT_ROW_AVX2
static inline __m256 tt_gelu8(__m256 v) {
    const __m256 e = tt_erf8(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}
#endif

#if TT_ROW_AVX512
/* bitwise float operations through the integer forms (AVX-512F alone) */
static inline __m512 tt_and16(__m512 a, __m512 b) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
static inline __m512 tt_andnot16(__m512 a, __m512 b) { /* ~a & b */
    return _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
static inline __m512 tt_xor16(__m512 a, __m512 b) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
static inline __m512 tt_or16(__m512 a, __m512 b) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
/* tt_erf8 on 16 lanes, operation for operation */
static inline __m512 tt_erf16(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 ax = tt_andnot16(sign, x);
    const __m512 t = _mm512_div_ps(
        _mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(ERF_P), ax, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(ERF_A5), t, _mm512_set1_ps(ERF_A4));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(ERF_A3));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(ERF_A2));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(ERF_A1));
    r = _mm512_mul_ps(r, t);
    const __m512 e = tt_exp16(tt_xor16(_mm512_mul_ps(ax, ax), sign));
    const __m512 y = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(r, e));
    return tt_or16(y, tt_and16(x, sign)); /* y >= 0: copysign */
}
static inline __m512 tt_gelu16(__m512 v) {
    const __m512 e = tt_erf16(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v),
                         _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
/* tt_gelu_grad8 on 16 lanes with its two exps shared: the erf's e^{-z^2}
 * (z = x / sqrt 2) is the density term's exp of the same argument (|z|^2 and
 * z^2 are the same float), so one exp gives both, the same values */
static inline __m512 tt_gelu_grad16(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    const __m512 az = tt_andnot16(sign, z);
    const __m512 t = _mm512_div_ps(
        _mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(ERF_P), az, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(ERF_A5), t, _mm512_set1_ps(ERF_A4));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(ERF_A3));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(ERF_A2));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(ERF_A1));
    r = _mm512_mul_ps(r, t);
    const __m512 e = tt_exp16(tt_xor16(_mm512_mul_ps(az, az), sign));
    const __m512 y = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(r, e));
    const __m512 erf = tt_or16(y, tt_and16(z, sign));
    const __m512 cdf =
        _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
    return _mm512_add_ps(cdf,
                         _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.3989422804014327f)), e));
}
#endif

/* ---- fixed-order sums ---------------------------------------------------- */

#if TT_ROW_AVX2
/* The 8 lanes' sum, always in the same order. */
static inline float tt_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#if !TT_ROW_AVX2
/* The scalar form of the AVX2 path's sums: 16 lanes (two vectors of 8) of
 * partial sums over the whole groups of 16, then tt_hsum8(s0 + s1)'s order. */
static inline float tt_lanes16_total(const float l[16]) {
    float a[8], t[4];
    for (int j = 0; j < 8; j++)
        a[j] = l[j] + l[8 + j];
    for (int j = 0; j < 4; j++)
        t[j] = a[j] + a[j + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}
#endif

/* The total of 8 lane sums in tt_hsum8's order. */
static inline float tt_lanes8_total(const float l[8]) {
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* x[n] *= a (elementwise: the same products in any grouping) */
static inline void tt_row_scale(float *x, float a, int n) {
    int t = 0;
#if TT_ROW_AVX2
    const __m256 va = _mm256_set1_ps(a);
    for (; t + 8 <= n; t += 8)
        _mm256_storeu_ps(x + t, _mm256_mul_ps(_mm256_loadu_ps(x + t), va));
#endif
    for (; t < n; t++)
        x[t] *= a;
}

/* ---- GELU over a row ----------------------------------------------------- */

/* y[i] = gelu(x[i]) for i < n (y may be x): blocks of 8 lanes, then one at
 * a time (the same value either way). */
static inline void tt_row_gelu(float *y, const float *x, size_t n) {
    size_t i = 0;
#if TT_ROW_AVX512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, tt_gelu16(_mm512_loadu_ps(x + i)));
#endif
#if TT_ROW_AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, tt_gelu8(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        y[i] = tt_gelu1(x[i]);
}

/* dx[i] += dout[i] * gelu'(x[i]), gelu'(x) = Phi(x) + x phi(x) with Phi
 * from tt_erf1 and phi = exp(-x^2 / 2) / sqrt(2 pi) from tt_exp1 (the
 * derivative of the GELU the forward computes, to the erf's 1.5e-7). */
static inline float tt_gelu_grad1(float x) {
    const float z = x * 0.70710678118654752f;
    const float cdf = 0.5f * (1.0f + tt_erf1(z));
    return cdf + x * 0.3989422804014327f * tt_exp1(-(z * z));
}
#if TT_ROW_AVX2
static inline __m256 tt_gelu_grad8(__m256 x) {
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    const __m256 cdf =
        _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_add_ps(_mm256_set1_ps(1.0f), tt_erf8(z)));
    const __m256 e = tt_exp8(_mm256_xor_ps(_mm256_mul_ps(z, z), _mm256_set1_ps(-0.0f)));
    return _mm256_add_ps(cdf,
                         _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.3989422804014327f)), e));
}
#endif
static inline void tt_row_gelu_backward(float *dx, const float *dout, const float *x, size_t n) {
    size_t i = 0;
#if TT_ROW_AVX512
    for (; i + 16 <= n; i += 16) {
        const __m512 g =
            _mm512_mul_ps(_mm512_loadu_ps(dout + i), tt_gelu_grad16(_mm512_loadu_ps(x + i)));
        _mm512_storeu_ps(dx + i, _mm512_add_ps(_mm512_loadu_ps(dx + i), g));
    }
#endif
#if TT_ROW_AVX2
    for (; i + 8 <= n; i += 8) {
        const __m256 g =
            _mm256_mul_ps(_mm256_loadu_ps(dout + i), tt_gelu_grad8(_mm256_loadu_ps(x + i)));
        _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), g));
    }
#endif
    for (; i < n; i++)
        dx[i] += dout[i] * tt_gelu_grad1(x[i]);
}

/* d[i] = d[i] * GELU'(x[i]): what tt_row_gelu_backward adds into a zeroed
 * dx, computed in place (the fused backward of a Linear fed by GELU). */
static inline void tt_row_gelu_grad_mul(float *d, const float *x, size_t n) {
    size_t i = 0;
#if TT_ROW_AVX512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(
            d + i, _mm512_mul_ps(_mm512_loadu_ps(d + i), tt_gelu_grad16(_mm512_loadu_ps(x + i))));
#endif
#if TT_ROW_AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            d + i, _mm256_mul_ps(_mm256_loadu_ps(d + i), tt_gelu_grad8(_mm256_loadu_ps(x + i))));
#endif
    for (; i < n; i++)
        d[i] = d[i] * tt_gelu_grad1(x[i]);
}

/* ---- LayerNorm of a row -------------------------------------------------- */

/* y[C] = (x - mean) * rstd * w + b, eps 1e-5, biased variance (as
 * nn.LayerNorm), in float: two passes (the mean, then the variance about
 * it), each summed in 16 lanes (two vectors of 8) over the whole groups of
 * 16, the lanes totalled in a fixed order, then the tail in order; rstd =
 * 1 / sqrtf(var / C + 1e-5). *mean_out and *rstd_out (may be NULL) receive
 * them for a backward pass. y and x must not overlap. */
static inline void tt_row_layernorm(float *yr, const float *xr, const float *w, const float *b,
                                    int C, float *mean_out, float *rstd_out) {
    int c = 0;
    float s = 0.0f;
#if TT_ROW_AVX2
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (; c + 16 <= C; c += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(xr + c));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(xr + c + 8));
    }
    s = tt_hsum8(_mm256_add_ps(s0, s1));
#else
    float l[16] = {0};
    for (; c + 16 <= C; c += 16)
        for (int j = 0; j < 16; j++)
            l[j] += xr[c + j];
    s = tt_lanes16_total(l);
#endif
    for (; c < C; c++)
        s += xr[c];
    const float mean = s / (float)C;
    c = 0;
    float v = 0.0f;
#if TT_ROW_AVX2
    const __m256 vm = _mm256_set1_ps(mean);
    s0 = _mm256_setzero_ps(), s1 = s0;
    for (; c + 16 <= C; c += 16) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(xr + c), vm);
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(xr + c + 8), vm);
        s0 = _mm256_add_ps(s0, _mm256_mul_ps(d0, d0));
        s1 = _mm256_add_ps(s1, _mm256_mul_ps(d1, d1));
    }
    v = tt_hsum8(_mm256_add_ps(s0, s1));
#else
    for (int j = 0; j < 16; j++)
        l[j] = 0.0f;
    for (; c + 16 <= C; c += 16)
        for (int j = 0; j < 16; j++) {
            const float d = xr[c + j] - mean;
            l[j] += d * d;
        }
    v = tt_lanes16_total(l);
#endif
    for (; c < C; c++) {
        const float d = xr[c] - mean;
        v += d * d;
    }
    const float rstd = 1.0f / sqrtf(v / (float)C + 1e-5f);
    c = 0;
#if TT_ROW_AVX2
    const __m256 vr = _mm256_set1_ps(rstd);
    for (; c + 8 <= C; c += 8) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + c), vm);
        _mm256_storeu_ps(yr + c,
                         _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(d, vr), _mm256_loadu_ps(w + c)),
                                       _mm256_loadu_ps(b + c)));
    }
#endif
    for (; c < C; c++)
        yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
    if (mean_out) *mean_out = mean;
    if (rstd_out) *rstd_out = rstd;
}

/* ---- softmax of a row ---------------------------------------------------- */

/* s[0..n) = softmax(s[0..n)) in place (n >= 1; nothing past n is read or
 * written): the maximum (exact in any order), e_t = tt_exp(s_t - max), the
 * sum of the e_t in 8 lanes (lane t % 8, in t order) totalled in
 * tt_lanes8_total's order, then e_t * (1 / sum). */
static inline void tt_row_softmax(float *s, int n) {
    int t = 0;
    float mx = -INFINITY, l[8];
#if TT_ROW_AVX2
    const int n8 = n & ~7;
    if (n8) {
        __m256 m8 = _mm256_loadu_ps(s);
        for (t = 8; t < n8; t += 8)
            m8 = _mm256_max_ps(m8, _mm256_loadu_ps(s + t));
        _mm256_storeu_ps(l, m8);
        for (int j = 0; j < 8; j++)
            mx = l[j] > mx ? l[j] : mx;
    }
    for (t = n8; t < n; t++)
        mx = s[t] > mx ? s[t] : mx;
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    t = 0;
#if TT_ROW_AVX512
    /* two blocks of 8 per exp; the sum still adds the first block, then the second */
    const __m512 vmx16 = _mm512_set1_ps(mx);
    for (; t + 16 <= n8; t += 16) {
        const __m512 e = tt_exp16(_mm512_sub_ps(_mm512_loadu_ps(s + t), vmx16));
        _mm512_storeu_ps(s + t, e);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
        acc = _mm256_add_ps(acc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    }
#endif
    for (; t < n8; t += 8) {
        const __m256 e = tt_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + t), vmx));
        _mm256_storeu_ps(s + t, e);
        acc = _mm256_add_ps(acc, e);
    }
    _mm256_storeu_ps(l, acc);
#else
    for (; t < n; t++)
        mx = s[t] > mx ? s[t] : mx;
    for (int j = 0; j < 8; j++)
        l[j] = 0.0f;
    t = 0;
#endif
    for (; t < n; t++) {
        s[t] = tt_exp1(s[t] - mx);
        l[t & 7] += s[t];
    }
    tt_row_scale(s, 1.0f / tt_lanes8_total(l), n);
}

/* ---- attention weights of a query row ------------------------------------ */

/* s[0..n) = softmax(s[0..n) / sqrt_hs) in place, from the scores q . k_t
 * (each one product chain over hs): the division (not a product with the
 * reciprocal), then tt_row_softmax. The decoder (one query row against its
 * KV cache) and training (row t of a [T, T] score matrix, causal: n = t + 1)
 * both call it. */
static inline void tt_row_attention_weights(float *s, int n, float sqrt_hs) {
    int t = 0;
#if TT_ROW_AVX2
    const __m256 vd = _mm256_set1_ps(sqrt_hs);
    for (; t + 8 <= n; t += 8)
        _mm256_storeu_ps(s + t, _mm256_div_ps(_mm256_loadu_ps(s + t), vd));
#endif
    for (; t < n; t++)
        s[t] = s[t] / sqrt_hs;
    tt_row_softmax(s, n);
}

#endif /* TT_SRC_ROW_KERNELS_H */
