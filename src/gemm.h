/*
 * src/gemm.h — the matrix products of training and evaluation (src/gemm.c).
 *
 *     // out[N, Cout] = x[N, Cin] @ w[Cout, Cin]^T
 *     tt_gemm(TT_GEMM_N, TT_GEMM_T, N, Cout, Cin, x, Cin, w, Cin, 0.0f, out, Cout);
 *
 * Row-major single-precision C = op(A) op(B) + beta C, alpha 1, on the calling
 * thread only (no threads of its own, no process-wide state). Like the other
 * kernel files it is compiled once per instruction-set path (src/isa.h):
 * AVX-512 and AVX2+FMA micro-kernels on packed panels, and a portable C one;
 * inside a per-ISA copy the name is renamed (src/kernel_names.h), so the
 * model's kernels call their own path directly, while tests and benchmarks
 * reach the path in use through src/kernels_dispatch.c.
 *
 * Numerics (docs/numerics.md): each C[i, j] is ONE chain over k = 0..K-1 in
 * order, in one float lane, starting from 0 (beta 0) or from C[i, j] (beta
 * 1): acc = fma(a_k, b_k, acc) on the avx2 and avx512 paths, acc = acc +
 * a_k * b_k (two roundings) on the portable scalar path; tt_gemm_bias then
 * adds bias[j] once. The K blocking only decides when the chain is parked in
 * C, never its order, so the result does not depend on M, N, K blocks, the
 * position of the element, the leading dimensions, how rows or columns are
 * split over threads, nor (avx2 vs avx512) on the vector width: the two FMA
 * paths give bit-identical products, and the same value as the decoder's
 * packed kernels (src/gen_kernels.h), whose outputs are the same chain.
 */
#ifndef TT_SRC_GEMM_H
#define TT_SRC_GEMM_H

#include <stddef.h>

/* The K block and the rows of a transposed A packed at once (every ISA path;
 * src/gemm.c) */
#define TT_GEMM_KC 256
#define TT_GEMM_MC_T 768

/* How an operand is stored: as is, or transposed. */
typedef enum { TT_GEMM_N = 0, TT_GEMM_T = 1 } tt_gemm_op;

/* C[M, N] = op(A)[M, K] @ op(B)[K, N] + beta * C[M, N]
 * op(A) = A[M, K] (lda >= K) for TT_GEMM_N, A[K, M]^T (lda >= M) for TT_GEMM_T;
 * op(B) = B[K, N] (ldb >= N) for TT_GEMM_N, B[N, K]^T (ldb >= K) for TT_GEMM_T;
 * ldc >= N. beta 0 writes C without reading it (it may hold anything); beta 1
 * accumulates; any other beta scales C first. M, N or K = 0 is allowed
 * (K = 0: C = beta C). C must not overlap A or B. Thread-safe: it touches only
 * its arguments, its own stack or heap workspace, or the one lent to its
 * thread (tt_gemm_workspace_set). */
void tt_gemm(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);

/* C[M, N] = op(A)[M, K] @ op(B)[K, N] + bias[N] (beta 0): the chain above,
 * then + bias[j] (bias NULL: none), as a Linear layer's y = x W^T + b; the
 * same arguments and rules as tt_gemm otherwise. */
void tt_gemm_bias(tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, const float *bias, float *C, int ldc);

/* The blocking of the path this copy was built for: rows and columns of a
 * micro-tile and the K block (the sum-order unit above); for tests and docs. */
void tt_gemm_blocking(int *mr, int *nr, int *kc);

/* The calling thread's workspace for packing a transposed A (the weight
 * gradients dout^T x): tt_gemm uses it when it is large enough and
 * allocates otherwise. A caller that runs many such products on a thread
 * (the model's backward, on each thread of its team) lends it a piece of its
 * own memory, so no thread keeps a malloc arena of its own for the packing.
 * Not renamed per ISA: one thread-local record (src/gemm_workspace.c).
 *   tt_gemm_workspace_floats: the floats a product of op(A) = A[K, M]^T
 *                             needs (every ISA path; a multiple of 16, so
 *                             64-byte aligned pieces stay aligned)
 *   tt_gemm_workspace_set:    lends ws[floats] (64-byte aligned) to this
 *                             thread's products until set again (NULL, 0) */
size_t tt_gemm_workspace_floats(int M, int K);
void tt_gemm_workspace_set(float *ws, size_t floats);
float *tt_gemm_workspace(size_t *floats);

#endif /* TT_SRC_GEMM_H */
