/*
 * src/gen_kernels.h — the decoder's kernels (src/gen_kernels.c): packed
 * linear layers with fused epilogues, LayerNorm, and attention of one query
 * row over a KV cache.
 *
 * Legend: N token rows, I inputs, O outputs, C = d_model, NH heads,
 * hs = C / NH, TP = the cache's position stride.
 *
 * Like the other kernel files, src/gen_kernels.c is compiled once per
 * instruction-set path (src/isa.h); inside a per-ISA copy these names are
 * renamed (src/kernel_names.h), elsewhere they reach the path in use through
 * src/kernels_dispatch.c. Every value is one fixed chain of float operations,
 * so the results are bit-identical on every path and for any N, range or
 * thread (docs/numerics.md).
 */
#ifndef TT_SRC_GEN_KERNELS_H
#define TT_SRC_GEN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/* Floats of the packed copy of a weight matrix w[O, I]. */
size_t tt_gen_packed_floats(int O, int I);

/* Packs w[O, I] (row-major, PyTorch's layout) into wp [ceil(O / 8), I, 8]
 * (outputs past O zero). */
void tt_gen_pack(float *wp, const float *w, int O, int I);

/* What a linear kernel does with v = acc + b[o]: y = v, y = gelu(v) (the
 * erf GELU), or y = y + v (a residual add). */
typedef enum { TT_GEN_EPI_STORE, TT_GEN_EPI_GELU, TT_GEN_EPI_ADD } tt_gen_epilogue;

/* The output blocks [ob0, ob1) (outputs ob0 * 8 .. min(ob1 * 8, O) - 1) of
 * out[N, O] = epi(x[N, I] @ w^T + b), w packed by tt_gen_pack, on the
 * calling thread. Each value is one fma chain over i = 0..I-1 from 0, then
 * + b[o], then the epilogue, whatever N and the range. */
void tt_gen_linear_blocks(float *out, const float *x, const float *wp, const float *b, int N,
                          int I, int O, int ob0, int ob1, tt_gen_epilogue epi);

/* out[N, C] = LayerNorm(x[N, C]) * w + b, eps 1e-5, biased variance (float,
 * two passes, fixed summation order). out and x must not overlap. */
void tt_gen_layernorm(float *out, const float *x, const float *w, const float *b, int N, int C);

/* Heads [h0, h1) of one query row q[C] against positions 0..n-1 of one cache
 * slot: head h's K at K + h * hstride in groups of 64 positions [hs][64]
 * (position t, element i at ((t / 64) * hs + i) * 64 + t % 64), its V at
 * Vc + h * hstride as [t][hs]. y_h = softmax(q_h K_h^T / sqrt(hs)) V_h into
 * y[h * hs ..]. s: scratch, head h at s + h * TP (TP >= n rounded up to 64).
 * With AVX2 the scores of a whole group of 64 are computed, so K must be
 * allocated up to n rounded up to 64 (values past n are masked out). */
void tt_gen_attend(float *y, const float *q, const float *K, const float *Vc, int n, int C, int NH,
                   size_t hstride, float *s, int TP, int h0, int h1);

#endif /* TT_SRC_GEN_KERNELS_H */
