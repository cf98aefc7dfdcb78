/*
 * tt/generate.h — the TextGenerator: autoregressive generation with a KV
 * cache, batched and ragged prompts, EOS and padding, per-call overrides and
 * streaming.
 *
 *     tt_generator_config gc = tt_generator_config_default(); // notebook defaults
 *     gc.max_new_tokens = 30;
 *     gc.sampling.temperature = 0.8f; gc.sampling.top_k = 10; // tt/sampling.h
 *     tt_generator *g;
 *     tt_generator_create(&g, model, &gc, &err);
 *     const int *prompts[2] = {p0, p1}; int lens[2] = {n0, n1};
 *     tt_generation out[2];
 *     tt_generator_generate(g, prompts, lens, 2, NULL, NULL, NULL, NULL, out, &err);
 *     ... out[i].tokens (prompt + generated), out[i].finish ...
 *     tt_generations_free(out, 2);
 *     tt_generator_free(g);
 *
 * Rules:
 *  - gc.sampling is a tt_sampling_params (tt/sampling.h), validated by
 *    tt_sampling_params_validate and drawn by its sampler: the default is the
 *    combined strategy (temperature, then top-k, 0 = off, then top-p, 1 =
 *    off) with every control (min-p, typical, penalties over each row's
 *    tokens, DRY, logit bias, order) off; TT_STRATEGY_GREEDY, or temperature
 *    0 with any strategy (the one rule, docs/sampling.md), is greedy; a
 *    negative temperature is TT_ERR_ARG. Stop strings, logprobs and beam
 *    search are generation controls (gc.sampling.x; docs/generation.md).
 *  - Row r draws from the random stream (seed, row_ids ? row_ids[r] : r), so a
 *    row yields the same tokens alone or in any batch; each row is conditioned
 *    only on its own prompt (no padding is ever attended).
 *  - With an EOS id, a row stops at its EOS (the EOS is kept); with a pad id
 *    too, later positions of a finished row hold pad, so every row has
 *    n_prompt + steps tokens; without pad a finished row's output simply ends
 *    at its EOS. Generation stops early once every row has finished.
 *    pad_token_id without eos_token_id is TT_ERR_ARG.
 *  - The context window: W = context_len, or when 0 the model's default
 *    (tt_model_default_context: the training length when its checkpoint
 *    records it, else max_len). The prompt's last W tokens fill the window.
 *    Past W, context_shift says how it slides (docs/generation.md):
 *    TT_CONTEXT_SHIFT_HALF (the default): when a drawn token would go at
 *    position W, the window restarts with the row's last max(1, floor(W/2))
 *    tokens (the new one included) at positions 0.., prefilled once, and
 *    decoding goes on with the cache; every draw sees between floor(W/2)
 *    and W tokens. TT_CONTEXT_SHIFT_EXACT: every draw sees the last
 *    min(n, W) tokens at positions 0.. (nanoGPT's crop; the cache is rebuilt
 *    at every step past W). Rows slide independently; cache on and off give
 *    the same tokens in both modes.
 *
 * Thread safety: a generator holds caches and scratch; one per thread. The
 * model's weights may be shared by several generators: the packed copy the
 * kernels read is made once per model (at the first generation after the
 * weights last changed) and shared by all of them, read-only.
 * Threads: with n_threads > 1 a generator runs each forward pass on a team
 * of that many threads (its own, started by the first call that uses it,
 * never at create; or a pool shared with other generators, tt/threads.h:
 * tt_generator_set_thread_pool), splitting output
 * columns and (row, head) pairs, never a sum, so the results are the same
 * for any thread count. n_threads 0 (the default) is auto: a team of
 * OMP_NUM_THREADS threads when set, else every core, that the generator
 * uses only while it measures it faster than one thread (it is not when
 * other processes keep the cores busy). Calls too small to gain run on the
 * calling thread. It does not call BLAS.
 */
#ifndef TT_GENERATE_H
#define TT_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/common.h"
#include "tt/model.h"
#include "tt/sampling.h"
#include "tt/threads.h"
#include "tt/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_TOKEN_NONE (-1)
#define TT_GEN_MAX_THREADS 256 /* the most threads a generator uses */

/* How the context window slides past W tokens (see the rules above). */
typedef enum { TT_CONTEXT_SHIFT_HALF = 0, TT_CONTEXT_SHIFT_EXACT = 1 } tt_context_shift;
/* "half", "exact" ("unknown" otherwise). */
TT_API const char *tt_context_shift_str(tt_context_shift s);

typedef struct {
    size_t struct_size; /* sizeof: set by tt_generator_config_default(); the
                           library reads older, shorter layouts (ABI policy,
                           docs/embedding.md) */
    int max_new_tokens; /* 50, >= 0                     */
    int eos_token_id;   /* TT_TOKEN_NONE                */
    int pad_token_id;   /* TT_TOKEN_NONE                */
    uint64_t seed;      /* 42                           */
    bool use_cache;     /* true: KV cache; false: full recompute each step */
    int n_threads;      /* 0 = auto (a team of OMP_NUM_THREADS or every core, used
                           while measured faster than one thread); 1..256
                           exactly that many. The tokens do not depend on
                           it. Read at create (which starts no thread: the
                           team starts at the first call that uses it);
                           tt_generator_set_threads changes it. */
    int context_len;    /* 0 = the model's default (tt_model_default_context);
                           1..max_len: the window W */
    tt_context_shift context_shift; /* TT_CONTEXT_SHIFT_HALF */
    tt_sampling_params sampling; /* tt_sampling_params_default(): strategy,
                           temperature, top_k, top_p, and in .x min-p,
                           typical, penalties, DRY, logit bias, sampler
                           order, stop strings, logprobs, beam search (see
                           tt/sampling.h; its pointers must outlive the
                           generator or the call they are given to). The
                           last member, so that a new control grows both
                           structs; its own struct_size is not read (the
                           config's covers it). */
} tt_generator_config;

TT_API tt_generator_config tt_generator_config_default(void);
/* @return TT_OK or TT_ERR_ARG naming the field, or saying gc is NULL (vocab
 * checks need V). context_len > max_len is refused by create and generate,
 * which know the model. */
TT_API tt_status tt_generator_config_validate(const tt_generator_config *gc, int vocab_size,
                                       tt_error *err);

/* Per-call overrides: a field applies only when its bit is set in `set`;
 * it may switch a setting off (top_k 0, top_p 1, eos TT_TOKEN_NONE). The
 * sampling bits take values.sampling's field of that name. */
enum {
    TT_OVR_MAX_NEW_TOKENS = 1u << 0,
    TT_OVR_TEMPERATURE = 1u << 1,
    TT_OVR_TOP_K = 1u << 2,
    TT_OVR_TOP_P = 1u << 3,
    TT_OVR_STRATEGY = 1u << 4,
    TT_OVR_EOS = 1u << 5,
    TT_OVR_PAD = 1u << 6,
    TT_OVR_SEED = 1u << 7,
    TT_OVR_USE_CACHE = 1u << 8,
    TT_OVR_CONTEXT_LEN = 1u << 9,
    TT_OVR_CONTEXT_SHIFT = 1u << 10,
    TT_OVR_CONTROLS = 1u << 11, /* the whole controls struct, sampling.x */
};
typedef struct {
    unsigned set;
    tt_generator_config values;
} tt_generate_overrides;

typedef enum { TT_FINISH_LENGTH = 0, TT_FINISH_EOS = 1, TT_FINISH_STOP = 2 } tt_finish_reason;
TT_API const char *tt_finish_reason_str(tt_finish_reason r); /* "length", "eos", "stop" */

/* One row's result. tokens is malloc'ed (prompt + generated, and pads). */
typedef struct {
    int *tokens;
    int n_tokens;    /* total length                                  */
    int n_prompt;
    int n_generated; /* real generated tokens (EOS included, pads not) */
    tt_finish_reason finish;
    int stop_index;  /* TT_FINISH_STOP: the stop string found (index into
                        sampling.x.stop; it is not in tokens); else -1     */
    tt_token_logprob *logprobs; /* [n_generated] with sampling.x.logprobs > 0,
                                   else NULL (malloc'ed)                 */
    double score;    /* beam search: sum of log-probs / length^length_penalty;
                        else 0                                           */
} tt_generation;

/* Frees the token and logprob arrays of n results (NULL-safe). */
TT_API void tt_generations_free(tt_generation *g, int n);

/* Streaming: called once per generated token of each unfinished row, in row
 * order within a step. Return non-zero to stop generation (the call then
 * returns TT_ERR_INTERRUPTED with the results so far filled in). */
typedef int (*tt_token_callback)(void *user, int row, int token, int step);

typedef struct tt_generator tt_generator;

/* gc may be NULL: tt_generator_config_default() is used. The config is
 * copied; the model is borrowed (it must outlive the generator).
 * @return TT_OK, TT_ERR_ARG (NULL out or model, invalid config),
 * TT_ERR_NOMEM. */
TT_API tt_status tt_generator_create(tt_generator **out, const tt_model *model,
                              const tt_generator_config *gc, tt_error *err);
/* NULL-safe. */
TT_API void tt_generator_free(tt_generator *g);
/* The vocabulary for stop strings (required when sampling.x.n_stop > 0) and
 * DRY's sequence breakers (without it they are not used). Borrowed: it must
 * outlive the generator or be replaced. NULL clears it. */
TT_API void tt_generator_set_tokenizer(tt_generator *g, const struct tt_tokenizer *tok);
/* The generator's own copy of its config; NULL for a NULL generator. */
TT_API const tt_generator_config *tt_generator_get_config(const tt_generator *g);
/* The context window W its config resolves to (context_len, or the model's
 * default when 0); 0 for a NULL generator. */
TT_API int tt_generator_context_len(const tt_generator *g);

/* Threads: the number a generator's calls use from now on, as
 * gc.n_threads (0 = auto, 1..TT_GEN_MAX_THREADS); its team is stopped and
 * started again by the next call that uses more than one thread (creating
 * a generator starts no thread; 1 never starts one). With a pool attached,
 * 0 probes the pool against the calling thread, 1 uses the calling thread
 * alone, N > 1 the pool (whatever its size). Tokens do not depend on it.
 * Not while a call of this generator runs. @return TT_OK, TT_ERR_ARG (NULL
 * g, n out of range), TT_ERR_NOMEM (the generator then runs on one thread). */
TT_API tt_status tt_generator_set_threads(tt_generator *g, int n_threads, tt_error *err);

/* Runs the generator's forward passes on a shared pool (tt/threads.h)
 * instead of its own team (stopped now); NULL goes back to its own team
 * (started by the next call that uses it). The generator holds a reference
 * to the pool until it is detached or freed. A pass that finds the pool
 * busy with another generator runs on the calling thread instead of
 * waiting (the same tokens). Not while a call of this generator runs.
 * @return TT_OK, TT_ERR_ARG (NULL g), TT_ERR_NOMEM (per-thread scratch; the
 * generator keeps its previous threads, or one). */
TT_API tt_status tt_generator_set_thread_pool(tt_generator *g, tt_thread_pool *pool, tt_error *err);

/* The most bytes one call (or the step API's rows together) may use for
 * its KV caches, results and scratch; 0 (the default) = the machine's
 * physical memory. A request that could exceed it is refused up front with
 * TT_ERR_NOMEM and a message naming the bytes. Results grow as tokens come:
 * a large max_new_tokens costs only what is generated. NULL-safe. */
TT_API void tt_generator_set_memory_limit(tt_generator *g, size_t bytes);

/* Abort: called with user before each decode step and each prefill chunk
 * (128 token rows) of tt_generator_generate, beam search and the step
 * API; returning non-zero stops the call with TT_ERR_INTERRUPTED, the
 * results so far filled in (prompt and the tokens of the completed steps).
 * NULL clears it. It may be called from the calling thread only. */
typedef int (*tt_abort_callback)(void *user);
TT_API void tt_generator_set_abort_callback(tt_generator *g, tt_abort_callback cb, void *user);

/* Bytes the generator itself holds now (KV caches, scratch, per-row and
 * per-thread buffers), not counting the model's packed weights, which every
 * generator of the model shares (tt/model.h: tt_model_weights_changed).
 * The KV caches grow with the positions calls use (to max_len) and the
 * rows. 0 for NULL. */
TT_API size_t tt_generator_memory_bytes(const tt_generator *g);

/* Generates for B prompts (prompts[r] has lens[r] >= 1 ids). overrides,
 * row_ids, cb may be NULL. out [B] receives the results (free with
 * tt_generations_free). @return TT_OK, TT_ERR_ARG (NULL g, prompts, lens
 * or out; B < 1; empty or NULL prompt; bad setting), TT_ERR_RANGE (an id >= V or < 0), TT_ERR_NOMEM,
 * TT_ERR_INTERRUPTED (the callback or the abort callback), TT_ERR_STATE (the
 * generator has rows of the step API). */
TT_API tt_status tt_generator_generate(tt_generator *g, const int *const *prompts, const int *lens,
                                int B, const tt_generate_overrides *overrides,
                                const uint64_t *row_ids, tt_token_callback cb, void *user,
                                tt_generation *out, tt_error *err);

/* Beam search (sampling.x.num_beams > 1, greedy: strategy greedy or
 * temperature 0) for one prompt, with Hugging Face's algorithm: 2 * num_beams
 * candidates per step ranked by summed log-probs (log_softmax of the logits
 * after the logit bias and penalties); a candidate ending in EOS (kept in the
 * output) becomes a finished hypothesis scored sum / n_generated^
 * length_penalty; early_stopping true stops once num_beams hypotheses are
 * finished, false when no running beam can beat the worst of them. out
 * [sampling.x.num_return_sequences] receives the best first, each with its
 * score (free with tt_generations_free). Deterministic.
 * @return TT_OK, TT_ERR_ARG (NULL argument, bad setting, sampling asked
 * for), TT_ERR_RANGE, TT_ERR_NOMEM. */
TT_API tt_status tt_generator_beam_search(tt_generator *g, const int *prompt, int len,
                                   const tt_generate_overrides *overrides, tt_generation *out,
                                   tt_error *err);

/* ---- Step API: rows that join and leave between decode steps ------------
 *
 *     int row;
 *     tt_generator_add_row(g, prompt, n, &row_cfg, request_id, &row, &err);
 *     tt_step_token toks[16]; int n_toks;
 *     while (tt_generator_n_rows(g) > 0) {
 *         tt_generator_step(g, toks, 16, &n_toks, &err); // one token per row
 *         for (int i = 0; i < n_toks; i++)
 *             if (toks[i].finished) { ...tt_generator_row_result...;
 *                                     tt_generator_remove_row(g, toks[i].row, &err); }
 *         // new rows may be added here; they are prefilled at the next step
 *     }
 *
 * A row has its own settings (a whole tt_generator_config: its sampling
 * params with penalties and stop strings, logprobs, seed, EOS,
 * max_new_tokens, context_len and context_shift, use_cache (false: the
 * row's window is recomputed every step); n_threads and pad_token_id are
 * not the row's: the generator's threads run every row and a finished row
 * is not padded; num_beams must be 1) and draws from the stream
 * (seed, row_id): its tokens are exactly those tt_generator_generate gives
 * for that prompt alone with the same settings and row id, whatever other
 * rows run beside it and whenever it joins. Its pointers (sampling.x.stop,
 * logit_bias...) are borrowed for the row's life.
 * A step: (1) the logits of every unfinished row that needs them (a new
 * row's prefill, in chunks, or one cached decode token; windows slide per
 * row as in tt_generator_generate), (2) one token per unfinished row (drawn,
 * or the one set by tt_generator_row_set_token), appended, with EOS, stop
 * strings and max_new_tokens checked. tt_generator_eval does (1) alone, so
 * that tt_generator_row_logits can be read before the token is picked.
 * Rows and generate calls do not mix: tt_generator_generate and beam search
 * refuse while rows are in the generator. Row handles are small ints,
 * reused after remove. The abort callback is asked before each step and
 * each prefill chunk; an aborted call returns TT_ERR_INTERRUPTED and
 * leaves every row as it was before the call (it may be called again). */

/* One row's token of a step. */
typedef struct {
    int row;
    int token;       /* the token appended (a stop string's last token is
                        reported too, though the row's result drops it) */
    bool finished;   /* the row has finished: finish says why */
    tt_finish_reason finish;
    int hold;        /* tokens at the end of the row's generated text a
                        stream should hold back (a stop string may still
                        take them; 0 when finished) */
} tt_step_token;

/* Adds a row with prompt [len] (copied; len >= 1) and settings cfg (NULL:
 * the generator's config; copied and validated), drawing from the stream
 * (cfg->seed, row_id). It is prefilled at the next eval or step. *row
 * receives its handle. @return TT_OK, TT_ERR_ARG (NULL argument, bad
 * setting, beam search), TT_ERR_RANGE (an id outside the vocabulary),
 * TT_ERR_NOMEM (also when the rows' memory could exceed the limit). */
TT_API tt_status tt_generator_add_row(tt_generator *g, const int *prompt, int len,
                               const tt_generator_config *cfg, uint64_t row_id, int *row,
                               tt_error *err);
/* Removes a row (finished or not), freeing its slot. @return TT_OK,
 * TT_ERR_RANGE (no such row), TT_ERR_ARG (NULL g). */
TT_API tt_status tt_generator_remove_row(tt_generator *g, int row, tt_error *err);
/* Rows in the generator (0 for NULL). */
TT_API int tt_generator_n_rows(const tt_generator *g);

/* Appends input tokens [n] to a row (a user's next turn): the row's tokens
 * so far all become its prompt, its generated count, logprobs and finish
 * start again (max_new_tokens applies to the new turn) and it is unfinished.
 * They are fed with the cache at the next eval (in the window: when they
 * overflow it, the window restarts with the last context_len tokens).
 * @return TT_OK, TT_ERR_ARG, TT_ERR_RANGE, TT_ERR_NOMEM. */
TT_API tt_status tt_generator_row_append(tt_generator *g, int row, const int *tokens, int n,
                                  tt_error *err);

/* Computes the next-token logits of every unfinished row that lacks them.
 * @return TT_OK, TT_ERR_ARG, TT_ERR_NOMEM, TT_ERR_INTERRUPTED. */
TT_API tt_status tt_generator_eval(tt_generator *g, tt_error *err);
/* A row's next-token logits [V] (raw, before its sampling settings),
 * after tt_generator_eval or a step; borrowed, valid until the next call
 * that changes the row. @return TT_OK, TT_ERR_ARG (NULL argument; the row
 * has no logits yet: call tt_generator_eval), TT_ERR_RANGE (no such row). */
TT_API tt_status tt_generator_row_logits(tt_generator *g, int row, const float **logits, tt_error *err);
/* Sets the token the next step appends to the row instead of drawing one
 * (no draw is made: the row's random stream does not advance). Its logprob
 * entry, when asked for, is that of this token. @return TT_OK, TT_ERR_ARG,
 * TT_ERR_RANGE (no such row, token outside the vocabulary). */
TT_API tt_status tt_generator_row_set_token(tt_generator *g, int row, int token, tt_error *err);

/* One decode step of every unfinished row: out [cap] receives a token per
 * row that got one (row order), *n_out how many (cap must hold
 * tt_generator_n_rows). Finished rows stay until removed. @return TT_OK,
 * TT_ERR_ARG (NULL argument, cap too small), TT_ERR_NOMEM, TT_ERR_NUMERIC,
 * TT_ERR_INTERRUPTED (nothing appended). */
TT_API tt_status tt_generator_step(tt_generator *g, tt_step_token *out, int cap, int *n_out,
                            tt_error *err);

/* A row's result so far: tokens (prompt + generated, a stop string cut
 * off), counts, finish, logprobs. Borrowed (owned by the generator), valid
 * until the next call that changes the row. @return TT_OK, TT_ERR_ARG,
 * TT_ERR_RANGE. */
TT_API tt_status tt_generator_row_result(const tt_generator *g, int row, const tt_generation **res,
                                  tt_error *err);

/* KV state: a row's tokens, counters, random stream and KV cache (a real
 * copy of K and V of the positions fed, not a recompute) in a malloc'ed
 * buffer (*buf, *size; free with tt_free). A state continues where it
 * stopped: a row restored from it makes exactly the tokens the saved row
 * would have made (same settings), in this or another generator of a model
 * with the same shape; or it is a prefix reused by several rows (each then
 * appends its own tokens). The buffer is for this library version and
 * model shape (checked on restore), not a file format.
 * @return TT_OK, TT_ERR_ARG, TT_ERR_RANGE, TT_ERR_NOMEM. */
TT_API tt_status tt_generator_row_state_save(tt_generator *g, int row, void **buf, size_t *size,
                                      tt_error *err);
/* Adds a row from a saved state with settings cfg (NULL: the generator's;
 * the state's random stream is used, not cfg->seed). @return TT_OK,
 * TT_ERR_ARG (NULL argument, bad setting), TT_ERR_FORMAT (not a state of
 * this library and model shape, or truncated), TT_ERR_NOMEM. */
TT_API tt_status tt_generator_row_state_load(tt_generator *g, const void *buf, size_t size,
                                      const tt_generator_config *cfg, int *row, tt_error *err);

/* The log-probability of each token of tokens[0..n) given the ones before
 * it, from the forward pass tt eval uses (windows of max_len + 1 tokens
 * starting every max_len tokens), with its top_n (0..20) alternatives:
 * out[0] has id tokens[0], n_top -1 and logprob 0 (nothing predicts it).
 * @return TT_OK, TT_ERR_ARG (NULL argument, n < 1, top_n out of range),
 * TT_ERR_RANGE (an id outside the vocabulary), TT_ERR_NOMEM. */
TT_API tt_status tt_model_token_logprobs(tt_model *m, const int *tokens, int n, int top_n,
                                  tt_token_logprob *out, tt_error *err);

/* The sampling distribution's entropy (nats) at each generated step of the
 * last generate call for row r, for diversity analysis: *n values, borrowed,
 * valid until the next generate call. @return TT_OK, TT_ERR_ARG (NULL g,
 * ent or n), TT_ERR_RANGE (row outside the last call's rows, or no generate
 * call yet). */
TT_API tt_status tt_generator_step_entropies(const tt_generator *g, int row, const double **ent, int *n,
                                      tt_error *err);

/* Text in, text out, in one call: encodes prompt with tok, generates with
 * the settings of gc (NULL: tt_generator_config_default()) and returns the
 * prompt followed by its continuation (an EOS character included, pads not)
 * as a malloc'ed UTF-8 string in *text (caller frees).
 *
 *     tt_model *m; tt_tokenizer *tok; char *text;
 *     tt_checkpoint_load("model.safetensors", &m, &tok, &err);
 *     tt_generator_config gc = tt_generator_config_default();
 *     gc.max_new_tokens = 100; gc.sampling.temperature = 0.8f;
 *     if (tt_generate_text(m, tok, "ROMEO:", &gc, &text, &err) == TT_OK) puts(text);
 *     free(text);
 *
 * Each call makes (and frees) a generator: for many calls, or a batch, use
 * tt_generator_generate. The same seed gives the same text as
 * tt_generator_generate of the encoded prompt as row 0.
 * @return TT_OK, TT_ERR_ARG (a NULL argument, an empty prompt, a tokenizer
 * of another size, a bad setting), TT_ERR_FORMAT (invalid UTF-8),
 * TT_ERR_RANGE (a character outside the vocabulary), TT_ERR_NOMEM,
 * TT_ERR_NUMERIC (the model produced non-finite logits). */
TT_API tt_status tt_generate_text(const tt_model *model, const tt_tokenizer *tok, const char *prompt,
                           const tt_generator_config *gc, char **text, tt_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TT_GENERATE_H */
