/*
 * src/model_kernels.h — the model's layer kernels (src/model_kernels.c):
 * forward/backward pairs on raw float arrays for training and evaluation.
 *
 * Dimension legend (as in llm.c): B batch, T time, C = d_model, V vocabulary,
 * L layers, NH heads, hs = C / NH, F = d_ff, N = B * T rows.
 *
 * Every layer is a pair of free functions on raw float arrays: the forward
 * writes its outputs; the backward ACCUMULATES (+=) into the gradients it is
 * given (input gradients included), so a caller zeroes once. They are
 * exposed so that tests/test_gradcheck.c can check each one by central
 * differences. They never allocate, never fail and never print; they may use
 * the model's team across rows (src/par.h: tt_par_range, tt_par_barrier;
 * serial when called outside a team) and tt_gemm (src/gemm.h) for matrix products; none of
 * them reduces across threads in a varying order, so results are identical
 * for a thread count. Compiled once per instruction-set path (src/isa.h),
 * renamed inside each copy (src/kernel_names.h), reached through
 * src/kernels_dispatch.c elsewhere.
 */
#ifndef TT_SRC_MODEL_KERNELS_H
#define TT_SRC_MODEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- embedding ----------------------------------------------------------
 * out[n, c] = tok_emb[tokens[n], c] * scale + pos[n % T, c]      (scale = sqrt(C)) */
void tt_embed_forward(float *out, const int *tokens, const float *tok_emb, const float *pos, int N,
                      int T, int C, float scale);
/* dtok_emb[V, C] += scale * dout at each token row; dpos[max_len, C] (may be
 * NULL: the sinusoidal buffer has no gradient) += dout summed over the batch. */
void tt_embed_backward(float *dtok_emb, float *dpos, const float *dout, const int *tokens, int N,
                       int T, int C, float scale);

/* ---- LayerNorm (eps 1e-5, biased variance, as nn.LayerNorm) --------------
 * out[N, C] = (x - mean) * rstd * w + b; mean[N], rstd[N] are kept for backward. */
void tt_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int C);
/* dx[N, C] += ...; dw[C] += ...; db[C] += ... (dx may be NULL). */
void tt_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C);

/* ---- Linear (PyTorch layout: w[Cout, Cin]) -------------------------------------
 * out[N, Cout] = x[N, Cin] @ w[Cout, Cin]^T + b[Cout]   (b may be NULL) */
void tt_linear_forward(float *out, const float *x, const float *w, const float *b, int N, int Cin,
                       int Cout);
/* dx[N, Cin] += dout @ w; dw[Cout, Cin] += dout^T @ x; db[Cout] += sum_n dout (dx, dw, db may be
 * NULL). */
void tt_linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, int N, int Cin, int Cout);
/* The same with dx WRITTEN (dx = dout @ w; no zeroing first): the same numbers
 * as accumulating into a zeroed dx (0 + v == v). */
void tt_linear_backward_write(float *dx, float *dw, float *db, const float *dout, const float *x,
                              const float *w, int N, int Cin, int Cout);

/* Fused forms (the same numbers as the kernels they join, one pass less and
 * no barrier between them; src/par.h):
 *   tt_linear_gelu_forward:     out = x @ w^T + b (b required), act = GELU(out)
 *   tt_linear_residual_forward: out = x @ w^T + b (b required), res_out = res_in + out
 *                               (out may be res_out itself: the product is
 *                               parked there, then res_in added)
 *   tt_linear_backward_gelu:    as tt_linear_backward, but dx is WRITTEN (not
 *                               accumulated: no zeroing first) with
 *                               (dout @ w) * GELU'(pre): the gradient at pre of
 *                               a Linear fed by GELU(pre). dx may be x itself
 *                               (the GELU output is not needed after): the
 *                               weight gradient runs first, then a barrier */
void tt_linear_gelu_forward(float *out, float *act, const float *x, const float *w, const float *b, int N,
                            int Cin, int Cout);
void tt_linear_residual_forward(float *out, float *res_out, const float *res_in, const float *x,
                                const float *w, const float *b, int N, int Cin, int Cout);
void tt_linear_backward_gelu(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, const float *pre, int N, int Cin, int Cout);

/* ---- causal multi-head self-attention core ---------------------------------
 * q, k, v, y: [B, T, C] with head h in columns [h*hs, (h+1)*hs).
 * att[B, NH, T, T] (may be NULL: not kept): softmax(q k^T / sqrt(hs) + causal
 * mask), before dropout (entries above the diagonal are 0). keep[B, NH, T, T] (NULL: no dropout):
 * 1 where the attention weight survives dropout; kept weights are scaled by
 * drop_scale = 1 / (1 - p). y = dropout(att) @ v. scratch:
 * tt_attention_scratch_floats(T) floats per thread of the model's team. */
size_t tt_attention_scratch_floats(int T);
void tt_attention_forward(float *y, float *att, const float *q, const float *k, const float *v,
                          const uint8_t *keep, float drop_scale, int B, int T, int C, int NH,
                          float *scratch);
/* dq, dk, dv [B, T, C] += ...; att as the forward wrote it, or NULL to recompute
 * it from q and k (bit-identical to the forward's); scratch as for the forward. */
void tt_attention_backward(float *dq, float *dk, float *dv, const float *dy, const float *att,
                           const float *q, const float *k, const float *v, const uint8_t *keep,
                           float drop_scale, int B, int T, int C, int NH, float *scratch);
/* The same with the weights recomputed, dq, dk, dv WRITTEN (not accumulated:
 * no zeroing first; the same numbers), and y [B, T, C] = the forward's output,
 * recomputed on the way (bit-identical): training keeps no attention output
 * per layer; W_o's weight gradient reads y after this. */
void tt_attention_backward_y(float *y, float *dq, float *dk, float *dv, const float *dy,
                             const float *q, const float *k, const float *v, const uint8_t *keep,
                             float drop_scale, int B, int T, int C, int NH, float *scratch);

/* ---- exact GELU: out = 0.5 x (1 + erf(x / sqrt 2)) ---------------------- */
void tt_gelu_forward(float *out, const float *x, size_t n);
/* dx += dout * gelu'(x) */
void tt_gelu_backward(float *dx, const float *dout, const float *x, size_t n);

/* ---- dropout: out = x * keep * scale (in place allowed) ------------------ */
void tt_dropout_apply(float *out, const float *x, const uint8_t *keep, float scale, size_t n);
/* Fills keep[rows, width] with 1 (probability 1 - p) or 0; row r draws from
 * stream (seed, stream_base + r), so masks never depend on the thread count. */
void tt_dropout_mask(uint8_t *keep, size_t rows, size_t width, float p, uint64_t seed,
                     uint64_t stream_base);

/* ---- residual: out[n] = a[n] + b[n] (out may be a, not b) ---------------- */
void tt_residual_add(float *out, const float *a, const float *b, size_t n);

/* ---- softmax cross-entropy over logits[N, V] ------------------------------
 * losses[N] = logsumexp(logits[n]) - logits[n, targets[n]]; returns the mean. */
float tt_crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V);
/* dlogits[N, V] += (softmax(logits) - onehot(targets)) * dloss (dloss = 1/N for a mean). */
void tt_crossentropy_backward(float *dlogits, const float *logits, const int *targets, int N, int V,
                              float dloss);

/* Sinusoidal table pe[max_len, C] in float32, as the teaching package builds it. */
void tt_sinusoidal_table(float *pe, int max_len, int C);

#endif /* TT_SRC_MODEL_KERNELS_H */
