/*
 * src/generate_internal.h — the generator's private inference path, exposed
 * for tests and benchmarks.
 *
 * Dimension legend: B batch rows, T time, C = d_model, V vocabulary,
 * L layers, NH heads, hs = C / NH, F = d_ff, Tmax = max_len.
 *
 * The generator's kernels (src/gen_kernels.h) compute each token row with the
 * same sequence of float operations whatever the other rows are, so prefill
 * of T tokens, one-token decoding with the KV cache, a full recompute, and
 * any batch composition give bit-identical logits for a row. That is what
 * makes "cache == no-cache" and "ragged batch == rows alone" exact.
 */
#ifndef TT_SRC_GENERATE_INTERNAL_H
#define TT_SRC_GENERATE_INTERNAL_H

#include "gen_kernels.h"
#include "tt/generate.h"

/* Logits [V] for the next token after tokens [n] (n >= 1), computed by the
 * generator's kernels over the last min(n, max_len) tokens (positions from 0),
 * as a full recompute. Uses (and clobbers) cache row 0.
 * @return TT_OK, TT_ERR_ARG, TT_ERR_RANGE, TT_ERR_NOMEM. */
tt_status tt_generator_next_logits(tt_generator *g, const int *tokens, int n, float *logits,
                                   tt_error *err);

/* 64-byte aligned float arrays (2 MiB aligned, on huge pages, from 2 MiB):
 * n floats, zeroed when asked; NULL when out of memory. Free with
 * tt_gen_ffree (NULL-safe). */
float *tt_gen_falloc(size_t n, bool zero);
void tt_gen_ffree(float *p);

/* ---- Sampling controls in generation (src/gen_controls.c, src/beam.c) ---- */
struct tt_tokenizer;
#include "stop.h"

/* A generated token's logprob entry: raw (log_softmax of lr) or processed
 * (the chain's distribution for the row's history h, into probs [V]). */
tt_status tt_gen_logprobs(tt_sampler *s, const tt_token_history *h, const struct tt_tokenizer *tok,
                          float *probs, const tt_sampling_params *sp, const float *lr, int V,
                          int id, tt_token_logprob *lp, tt_error *err);

/* After a token was appended to o: true when o ends with a stop string, which
 * is then cut off (replaced by pads when pad is set) and o finishes with
 * TT_FINISH_STOP; *hold = tokens a stream must hold back. */
bool tt_gen_stop_check(const tt_stop_set *ss, tt_generation *o, int pad, int *hold);

/* Gives the callback the row's generated tokens from *emitted up to
 * n_generated - hold. Returns non-zero when the callback asked to stop. */
int tt_gen_emit(int *emitted, int row, const tt_generation *o, int hold, tt_token_callback cb,
                void *user);

/* A call's config: the generator's with the overrides, validated. */
tt_status tt_gen_call_config(const tt_generator *g, const tt_generate_overrides *o,
                             tt_generator_config *cfg, tt_error *err);
int tt_gen_vocab_size(const tt_generator *g);
const struct tt_tokenizer *tt_gen_tokenizer(const tt_generator *g);

/* tt_generator_generate with num_beams > 1: each row's best beam. */
tt_status tt_gen_beams_per_row(tt_generator *g, const int *const *prompts, const int *lens, int B,
                               const tt_generate_overrides *overrides, tt_generation *out,
                               tt_error *err);

/* The context window W of a call with config cfg (context_len, else the
 * model's default: train_seq_len when known, else max_len). */
int tt_gen_context_of(const tt_generator *g, const tt_generator_config *cfg);

/* ---- The step API's hooks (src/gen_step.c) ---- */

/* The step API's rows of a generator (opaque to generate.c). */
typedef struct tt_gen_rows tt_gen_rows;
void tt_gen_rows_free(tt_gen_rows *r);   /* NULL-safe */
size_t tt_gen_rows_bytes(const tt_gen_rows *r);
int tt_gen_rows_active(const tt_gen_rows *r); /* rows in use (0 for NULL) */
tt_gen_rows **tt_gen_rows_of(tt_generator *g);

/* Room for `slots` cache slots of npos positions (kept), `rows` token rows
 * of a call, and the model's packed weights. */
tt_status tt_gen_prepare(tt_generator *g, int slots, int rows, int npos, tt_error *err);
/* TT_ERR_NOMEM naming the bytes when `slots` rows of npos positions and
 * `extra` bytes could exceed the memory limit. */
tt_status tt_gen_check_memory(const tt_generator *g, int slots, int npos, size_t extra,
                              tt_error *err);
/* Queues rows ctx[p0..w) of slot `slot` at positions p0..w-1 (the logits
 * of the last to dst) for a batched, chunked run; *n rows queued. */
void tt_gen_queue_span(tt_generator *g, int *n, const int *ctx, int p0, int w, int slot,
                       float *dst);
/* Runs the n queued rows (nothing once the abort callback said stop). */
void tt_gen_flush_span(tt_generator *g, int n);
/* One token of each of n slots (one row per slot) with the cache. */
void tt_gen_decode(tt_generator *g, int n, const int *tok, const int *pos, const int *slot,
                   float *const *dst);
/* The abort callback: asked once per call until it says stop. */
bool tt_gen_abort_asked(tt_generator *g);
void tt_gen_abort_reset(tt_generator *g);
tt_sampler *tt_gen_sampler(tt_generator *g);
float *tt_gen_probs(tt_generator *g); /* [V] scratch */
int tt_gen_max_len(const tt_generator *g);
const tt_model *tt_gen_model(const tt_generator *g);
/* Copies the K and V of positions 0..npos-1 of a slot to buf (save) or
 * from it: per layer, per head, K [npos][hs] then V [npos][hs]. */
void tt_gen_kv_copy(tt_generator *g, int slot, int npos, float *buf, bool save);

/* A caller's generator config (any released layout, by its struct_size) as
 * today's struct; missing fields take their defaults. @return TT_OK or
 * TT_ERR_ARG (NULL, a struct_size not from tt_generator_config_default, or
 * unknown fields set by a newer caller). */
tt_status tt_gen_config_in(tt_generator_config *dst, const tt_generator_config *src, tt_error *err);

#endif /* TT_SRC_GENERATE_INTERNAL_H */
