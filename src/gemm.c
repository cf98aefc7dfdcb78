/*
 * src/gemm.c — single-precision matrix products, row-major, for the model's
 * kernels (contract in src/gemm.h). Compiled once per instruction-set path
 * (src/isa.h); the preprocessor picks the micro-kernel of the copy:
 *   avx512: 8 x 32 micro-tile (16 zmm accumulators), AVX-512F FMAs
 *   avx2:   6 x 16 micro-tile (12 ymm accumulators), AVX2 + FMA
 *   scalar: 4 x 8 micro-tile in plain C (the compiler vectorises what the
 *           target allows; no fused multiply-add on the x86-64 baseline)
 *
 * Dimension legend: M, N, K as in C[M, N] = op(A)[M, K] op(B)[K, N]; MR x NR
 * is the micro-tile, KC the K block.
 *
 * The loops: for each NR-wide column panel of C and each K block, op(B)'s
 * block [kc, NR] is packed (k-major, zero-padded: 32 KiB at most, on the
 * stack, in L1 while it is used), then the micro-kernel runs down the rows of
 * C, MR at a time, reading the rows of op(A) where they lie (in cache: the
 * model's operands are at most a few hundred KiB) — no packing of A, which
 * at these sizes (K of 32 to 768) cost a quarter of the time. Only the last,
 * partial row tile is copied into a zero-padded panel. The exception is a
 * transposed A whose K block spans more than L1 (the weight gradients,
 * dout^T x): read in place, each k-step would touch a new cache line at a
 * power-of-two stride, so it is packed once per K block into a buffer
 * shared by all column panels (the workspace the caller lent the thread, or
 * the heap; without memory for it, the in-place loops do the same
 * arithmetic). No threads, and no state but the workspace a caller lent its
 * thread: a call is safe on any thread.
 *
 * Why our own and not a BLAS: measured in docs/benchmarks.md ("Matrix
 * products") and docs/dependencies.md.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "kernel_names.h" /* first: renames this per-ISA copy (src/isa.h) */
#include "gemm.h"

#if defined(__AVX512F__)
#define GEMM_MR 8
#define GEMM_NR 32
#elif defined(__AVX2__) && defined(__FMA__)
#define GEMM_MR 6
#define GEMM_NR 16
#else
#define GEMM_MR 4
#define GEMM_NR 8
#endif
#define GEMM_KC TT_GEMM_KC
/* packed rows of op(A) on the stack (16 KiB): the last, partial row tile, or
 * a whole transposed A of up to 4096 floats that is packed */
#define GEMM_A_STACK_FLOATS 4096
_Static_assert(GEMM_A_STACK_FLOATS >= GEMM_MR * GEMM_KC, "the partial row tile must fit");
/* rows of a transposed A packed at once (768 KiB at most on the heap; a
 * multiple of every MR) */
#define GEMM_MC_T TT_GEMM_MC_T

void tt_gemm_blocking(int *mr, int *nr, int *kc) {
    *mr = GEMM_MR;
    *nr = GEMM_NR;
    *kc = GEMM_KC;
}

/* ---- micro-kernels: c[m, n] (+)= A-rows times a packed B panel ---------------
 * a: op(A)[i, k] = a[i * rs + k * cs], read in place (rows of A, or columns
 * of a transposed A) for the MR rows of a full tile, or from a zero-padded
 * packed panel (rs 1, cs MR) for the last, partial one; b: packed B panel,
 * b[k * NR + j] = op(B)[k, j]; c: the tile's first element; m <= MR, n <= NR
 * the valid rows and columns; add: C += tile, else C = tile. The kernels are
 * inlined at each call with constant strides where the layout has them. */
#if defined(__GNUC__) || defined(__clang__)
#define KERNEL static inline __attribute__((always_inline)) void
#else
#define KERNEL static inline void
#endif

#if defined(__AVX512F__)

KERNEL micro_kernel(int kc, const float *restrict a, size_t rs, size_t cs, const float *restrict b,
                    float *restrict c, int ldc, int m, int n, int add, const float *bias) {
    __m512 c0[GEMM_MR], c1[GEMM_MR];
    const __mmask16 k0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
    const __mmask16 k1 = n >= 32  ? (__mmask16)0xFFFF
                         : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u)
                                  : 0;
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
        if (add && i < m) { /* the chain goes on from C */
            c0[i] = _mm512_maskz_loadu_ps(k0, c + (size_t)i * ldc);
            c1[i] = _mm512_maskz_loadu_ps(k1, c + (size_t)i * ldc + 16);
        } else {
            c0[i] = c1[i] = _mm512_setzero_ps();
        }
    }
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 8
        for (int i = 0; i < GEMM_MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * rs]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
        a += cs;
        b += GEMM_NR;
    }
    __m512 bv0 = _mm512_setzero_ps(), bv1 = bv0;
    if (bias) {
        bv0 = _mm512_maskz_loadu_ps(k0, bias);
        bv1 = _mm512_maskz_loadu_ps(k1, bias + 16);
    }
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
        if (i >= m) break;
        float *ci = c + (size_t)i * ldc;
        __m512 r0 = c0[i], r1 = c1[i];
        if (bias) {
            r0 = _mm512_add_ps(r0, bv0);
            r1 = _mm512_add_ps(r1, bv1);
        }
        _mm512_mask_storeu_ps(ci, k0, r0);
        _mm512_mask_storeu_ps(ci + 16, k1, r1);
    }
}

#elif defined(__AVX2__) && defined(__FMA__)

/* lanes [0, n) of 8 set, as a maskload/maskstore mask */
static inline __m256i lane_mask(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

KERNEL micro_kernel(int kc, const float *restrict a, size_t rs, size_t cs, const float *restrict b,
                    float *restrict c, int ldc, int m, int n, int add, const float *bias) {
    __m256 c0[GEMM_MR], c1[GEMM_MR];
    const __m256i k0 = lane_mask(n), k1 = lane_mask(n - 8);
#pragma GCC unroll 6
    for (int i = 0; i < GEMM_MR; i++) {
        if (add && i < m) { /* the chain goes on from C */
            const float *ci = c + (size_t)i * ldc;
            if (n == GEMM_NR) {
                c0[i] = _mm256_loadu_ps(ci);
                c1[i] = _mm256_loadu_ps(ci + 8);
            } else {
                c0[i] = _mm256_maskload_ps(ci, k0);
                c1[i] = _mm256_maskload_ps(ci + 8, k1);
            }
        } else {
            c0[i] = c1[i] = _mm256_setzero_ps();
        }
    }
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < GEMM_MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * rs);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
        a += cs;
        b += GEMM_NR;
    }
    __m256 bv0 = _mm256_setzero_ps(), bv1 = bv0;
    if (bias) {
        bv0 = n == GEMM_NR ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, k0);
        bv1 = n == GEMM_NR ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, k1);
    }
    if (n == GEMM_NR) {
#pragma GCC unroll 6
        for (int i = 0; i < GEMM_MR; i++) {
            if (i >= m) break;
            float *ci = c + (size_t)i * ldc;
            __m256 r0 = c0[i], r1 = c1[i];
            if (bias) {
                r0 = _mm256_add_ps(r0, bv0);
                r1 = _mm256_add_ps(r1, bv1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
        return;
    }
#pragma GCC unroll 6
    for (int i = 0; i < GEMM_MR; i++) {
        if (i >= m) break;
        float *ci = c + (size_t)i * ldc;
        __m256 r0 = c0[i], r1 = c1[i];
        if (bias) {
            r0 = _mm256_add_ps(r0, bv0);
            r1 = _mm256_add_ps(r1, bv1);
        }
        _mm256_maskstore_ps(ci, k0, r0);
        _mm256_maskstore_ps(ci + 8, k1, r1);
    }
}

#else

KERNEL micro_kernel(int kc, const float *restrict a, size_t rs, size_t cs, const float *restrict b,
                    float *restrict c, int ldc, int m, int n, int add, const float *bias) {
    float acc[GEMM_MR][GEMM_NR];
    memset(acc, 0, sizeof acc);
    if (add) /* the chain goes on from C */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                acc[i][j] = c[(size_t)i * ldc + j];
    for (int k = 0; k < kc; k++) {
        for (int i = 0; i < GEMM_MR; i++) {
            const float ai = a[i * rs];
            for (int j = 0; j < GEMM_NR; j++)
                acc[i][j] += ai * b[j];
        }
        a += cs;
        b += GEMM_NR;
    }
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * ldc;
        if (bias)
            for (int j = 0; j < n; j++)
                ci[j] = acc[i][j] + bias[j];
        else
            for (int j = 0; j < n; j++)
                ci[j] = acc[i][j];
    }
}

#endif

/* ---- packing ---------------------------------------------------------------- */

/* rows [i0, i0 + m) of op(A)[:, k0 : k0+kc], m < MR, into one zero-padded
 * panel of kc * MR floats (the last, partial row tile) */
static void pack_a_edge(float *restrict dst, tt_gemm_op ta, const float *A, int lda, int i0, int m,
                        int k0, int kc) {
    memset(dst, 0, (size_t)kc * GEMM_MR * sizeof(float));
    for (int i = 0; i < m; i++)
        for (int k = 0; k < kc; k++)
            dst[(size_t)k * GEMM_MR + i] = ta == TT_GEMM_N ? A[(size_t)(i0 + i) * lda + k0 + k]
                                                           : A[(size_t)(k0 + k) * lda + i0 + i];
}

/* op(A)[:, k0 : k0+kc] of a transposed A (op(A)[i, k] = A[k, i]) into
 * ceil(M / MR) zero-padded panels of kc * MR floats: contiguous copies. Read
 * in place, the MR floats a k-step needs sit in a new cache line at the
 * stride of A's rows (a power of two here), which L1 cannot hold. */
static void pack_a_t(float *restrict dst, const float *A, int lda, int M, int k0, int kc) {
    for (int p = 0; p < M; p += GEMM_MR) {
        const int m = M - p < GEMM_MR ? M - p : GEMM_MR;
        float *d = dst + (size_t)p * kc;
        for (int k = 0; k < kc; k++) {
            const float *s = A + (size_t)(k0 + k) * lda + p;
            float *dk = d + (size_t)k * GEMM_MR;
            if (m == GEMM_MR) {
                memcpy(dk, s, GEMM_MR * sizeof(float)); /* a vector move or two */
                continue;
            }
            for (int i = 0; i < m; i++)
                dk[i] = s[i];
            for (int i = m; i < GEMM_MR; i++)
                dk[i] = 0.0f;
        }
    }
}

#if defined(__AVX2__)
/* d[k * NR + j] = s[j * lds + k] for an 8 x 8 block: 8 rows of 8 floats in,
 * transposed, 8 rows out */
static inline void transpose8(float *restrict d, const float *restrict s, size_t lds) {
    __m256 r[8], t[8];
    for (int j = 0; j < 8; j++)
        r[j] = _mm256_loadu_ps(s + j * lds);
    for (int j = 0; j < 8; j += 2) {
        t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
    }
    for (int j = 0; j < 8; j += 4) {
        r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
        r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
        r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
    }
    /* r[q], q < 4: k = q (low half) and k = q + 4 (high half) of rows 0-3; r[q + 4]: of rows 4-7 */
    _mm256_storeu_ps(d + 0 * GEMM_NR, _mm256_permute2f128_ps(r[0], r[4], 0x20));
    _mm256_storeu_ps(d + 1 * GEMM_NR, _mm256_permute2f128_ps(r[1], r[5], 0x20));
    _mm256_storeu_ps(d + 2 * GEMM_NR, _mm256_permute2f128_ps(r[2], r[6], 0x20));
    _mm256_storeu_ps(d + 3 * GEMM_NR, _mm256_permute2f128_ps(r[3], r[7], 0x20));
    _mm256_storeu_ps(d + 4 * GEMM_NR, _mm256_permute2f128_ps(r[0], r[4], 0x31));
    _mm256_storeu_ps(d + 5 * GEMM_NR, _mm256_permute2f128_ps(r[1], r[5], 0x31));
    _mm256_storeu_ps(d + 6 * GEMM_NR, _mm256_permute2f128_ps(r[2], r[6], 0x31));
    _mm256_storeu_ps(d + 7 * GEMM_NR, _mm256_permute2f128_ps(r[3], r[7], 0x31));
}
#endif

/* op(B)[k0 : k0+kc, j0 : j0+n], n <= NR, into one zero-padded panel of
 * kc * NR floats */
static void pack_b(float *restrict d, tt_gemm_op tb, const float *B, int ldb, int k0, int kc,
                   int j0, int n) {
    if (tb == TT_GEMM_N) { /* row k of op(B) is contiguous */
        for (int k = 0; k < kc; k++) {
            const float *s = B + (size_t)(k0 + k) * ldb + j0;
            float *dk = d + (size_t)k * GEMM_NR;
            if (n == GEMM_NR) {
                memcpy(dk, s, GEMM_NR * sizeof(float)); /* inlined: vector moves */
                continue;
            }
            memcpy(dk, s, (size_t)n * sizeof(float));
            for (int j = n; j < GEMM_NR; j++)
                dk[j] = 0.0f;
        }
        return;
    }
    /* op(B)[k, j] = B[j, k]: column j of op(B) is contiguous */
    int k = 0;
#if defined(__AVX2__)
    if (n == GEMM_NR) /* whole 8 x 8 blocks by register transposes */
        for (; k + 8 <= kc; k += 8)
            for (int j = 0; j < GEMM_NR; j += 8)
                transpose8(d + (size_t)k * GEMM_NR + j, B + (size_t)(j0 + j) * ldb + k0 + k,
                           (size_t)ldb);
#endif
    for (int j = 0; j < n; j++) {
        const float *s = B + (size_t)(j0 + j) * ldb + k0;
        for (int kk = k; kk < kc; kk++)
            d[(size_t)kk * GEMM_NR + j] = s[kk];
    }
    if (n < GEMM_NR)
        for (int kk = 0; kk < kc; kk++)
            for (int j = n; j < GEMM_NR; j++)
                d[(size_t)kk * GEMM_NR + j] = 0.0f;
}

/* ---- the driver ------------------------------------------------------------- */

static inline int min_int(int a, int b) { return a < b ? a : b; }

/* C = op(A) op(B) + beta C, then + bias[j] (bias NULL: none) */
static void gemm(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, float beta, const float *bias, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (beta != 0.0f && beta != 1.0f) { /* general beta: scale, then accumulate */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] *= beta;
        beta = 1.0f;
    }
    if (K <= 0) {
        if (beta == 0.0f)
            for (int i = 0; i < M; i++)
                memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        if (bias)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    C[(size_t)i * ldc + j] += bias[j];
        return;
    }
    _Alignas(64) float bp[GEMM_KC * GEMM_NR];   /* op(B)[k0 : k0+kc, j0 : j0+NR], packed */
    _Alignas(64) float ap[GEMM_A_STACK_FLOATS]; /* packed rows of op(A): the last partial tile,
                                                 * or all of a small transposed A */
    const int m_full = M / GEMM_MR * GEMM_MR, m_pad = (M + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    const size_t lda_s = (size_t)lda;
    const int kc_max = K < GEMM_KC ? K : GEMM_KC;
    /* A transposed, its K block larger than L1 (32 KiB taken): packed once
     * per K block and shared by every column panel; without memory for it,
     * the loops below do the same arithmetic reading A in place */
    if (ta == TT_GEMM_T && (size_t)kc_max * lda_s * sizeof(float) > 32768) {
        const int mc_max = m_pad < GEMM_MC_T ? m_pad : GEMM_MC_T;
        const size_t need = (size_t)mc_max * (size_t)kc_max;
        float *heap = NULL, *apack = ap;
        if (need > GEMM_A_STACK_FLOATS) { /* the thread's lent workspace, else the heap */
            size_t cap;
            float *ws = tt_gemm_workspace(&cap);
            apack = ws && cap >= need
                        ? ws
                        : (heap = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64));
        }
        if (apack) {
            for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
                const int kc = min_int(K - k0, GEMM_KC), add = k0 > 0 || beta != 0.0f;
                const bool last = k0 + kc == K;
                for (int i0 = 0; i0 < M; i0 += GEMM_MC_T) {
                    const int mc = min_int(M - i0, GEMM_MC_T);
                    pack_a_t(apack, A + i0, lda, mc, k0, kc);
                    for (int j0 = 0; j0 < N; j0 += GEMM_NR) {
                        const int n = min_int(N - j0, GEMM_NR);
                        pack_b(bp, tb, B, ldb, k0, kc, j0, n);
                        for (int i = 0; i < mc; i += GEMM_MR)
                            micro_kernel(kc, apack + (size_t)i * kc, 1, GEMM_MR, bp,
                                         C + (size_t)(i0 + i) * ldc + j0, ldc,
                                         min_int(mc - i, GEMM_MR), n, add,
                                         last && bias ? bias + j0 : NULL);
                    }
                }
            }
            free(heap);
            return;
        }
    }
    for (int j0 = 0; j0 < N; j0 += GEMM_NR) { /* A read in place */
        const int n = min_int(N - j0, GEMM_NR);
        float *cj = C + j0;
        for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
            const int kc = min_int(K - k0, GEMM_KC), add = k0 > 0 || beta != 0.0f;
            const float *bj = k0 + kc == K && bias ? bias + j0 : NULL;
            pack_b(bp, tb, B, ldb, k0, kc, j0, n);
            if (ta == TT_GEMM_N) /* rows of A */
                for (int i = 0; i < m_full; i += GEMM_MR)
                    micro_kernel(kc, A + i * lda_s + k0, lda_s, 1, bp, cj + (size_t)i * ldc, ldc,
                                 GEMM_MR, n, add, bj);
            else /* columns of a transposed A */
                for (int i = 0; i < m_full; i += GEMM_MR)
                    micro_kernel(kc, A + k0 * lda_s + i, 1, lda_s, bp, cj + (size_t)i * ldc, ldc,
                                 GEMM_MR, n, add, bj);
            if (m_full < M) {
                pack_a_edge(ap, ta, A, lda, m_full, M - m_full, k0, kc);
                micro_kernel(kc, ap, 1, GEMM_MR, bp, cj + (size_t)m_full * ldc, ldc, M - m_full, n,
                             add, bj);
            }
        }
    }
}

void tt_gemm(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, NULL, C, ldc);
}

void tt_gemm_bias(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, const float *bias, float *C, int ldc) {
    gemm(ta, tb, M, N, K, A, lda, B, ldb, 0.0f, bias, C, ldc);
}
