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

/* out[N, O] = x[N, I] @ w[O, I]^T + b[O] (b may be NULL); each (row, out)
 * sum is accumulated the same way whatever N and n_threads (OpenMP threads
 * used when N >= 4 and the product is large enough). */
void tt_gen_linear(float *out, const float *x, const float *w, const float *b, int N, int I, int O,
                   int n_threads);

#endif /* TT_SRC_GENERATE_INTERNAL_H */
