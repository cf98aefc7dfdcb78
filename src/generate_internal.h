/*
 * src/generate_internal.h — the generator's private inference path, exposed
 * for tests and benchmarks.
 *
 * Dimension legend: B batch rows, T time, C = d_model, V vocabulary,
 * L layers, NH heads, hs = C / NH, F = d_ff, Tmax = max_len.
 *
 * The generator has its own inference kernels (src/generate.c): every kernel
 * computes each token row with the same sequence of float operations whatever
 * the other rows are, so prefill of T tokens, one-token decoding with the KV
 * cache, a full recompute, and any batch composition give bit-identical
 * logits for a row. That is what makes "cache == no-cache" and "ragged batch
 * == rows alone" exact.
 */
#ifndef TT_SRC_GENERATE_INTERNAL_H
#define TT_SRC_GENERATE_INTERNAL_H

#include "tt/generate.h"

/* Logits [V] for the next token after tokens [n] (n >= 1), computed by the
 * generator's kernels over the last min(n, max_len) tokens (positions from 0),
 * as a full recompute. Uses (and clobbers) cache row 0.
 * @return TT_OK, TT_ERR_ARG, TT_ERR_RANGE, TT_ERR_NOMEM. */
tt_status tt_generator_next_logits(tt_generator *g, const int *tokens, int n, float *logits,
                                   tt_error *err);

/* Floats of the packed copy of a weight matrix w[O, I]. */
size_t tt_gen_packed_floats(int O, int I);

/* Packs w[O, I] (row-major, PyTorch's layout) into wp [ceil(O / 8), I, 8]
 * (outputs past O zero). */
void tt_gen_pack(float *wp, const float *w, int O, int I);

/* out[N, O] = x[N, I] @ w[O, I]^T + b[O] (b may be NULL), w packed by
 * tt_gen_pack; each (row, out) value is one fma chain over i = 0..I-1, then
 * + b[o], whatever N and n_threads (OpenMP threads used when N >= 4 and the
 * product is large enough). */
void tt_gen_linear(float *out, const float *x, const float *wp, const float *b, int N, int I, int O,
                   int n_threads);

#endif /* TT_SRC_GENERATE_INTERNAL_H */
