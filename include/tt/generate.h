/*
 * tt/generate.h — the TextGenerator: autoregressive generation with a KV
 * cache, batched and ragged prompts, EOS and padding, per-call overrides and
 * streaming.
 *
 *     tt_generator_config gc = tt_generator_config_default(); // notebook defaults
 *     gc.max_new_tokens = 30; gc.temperature = 0.8f; gc.top_k = 10;
 *     tt_generator *g;
 *     tt_generator_create(&g, model, &gc, &err);
 *     const int *prompts[2] = {p0, p1}; int lens[2] = {n0, n1};
 *     tt_generation out[2];
 *     tt_generator_generate(g, prompts, lens, 2, NULL, NULL, NULL, out, &err);
 *     ... out[i].tokens (prompt + generated), out[i].finish ...
 *     tt_generations_free(out, 2);
 *     tt_generator_free(g);
 *
 * Rules:
 *  - do_sample false is greedy; temperature 0 with do_sample is greedy too;
 *    a negative temperature is TT_ERR_ARG.
 *  - Sampling: temperature, then top-k (0 = off), then top-p (1 = off), as
 *    tt/sampling.h's combined strategy, with gc.controls (min-p, typical,
 *    penalties over each row's tokens, DRY, logit bias, order); stop strings,
 *    logprobs and beam search are generation controls (docs/generation.md).
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
 * model's weights may be shared by several generators.
 * Threads: with n_threads > 1 a generator runs each forward pass on a team
 * of that many threads (its own, started at create), splitting output
 * columns and (row, head) pairs, never a sum, so the results are the same
 * for any thread count. n_threads 0 (the default) is auto: a team of
 * omp_get_max_threads() (every core, or OMP_NUM_THREADS) that the generator
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
    int max_new_tokens; /* 50, >= 0                     */
    float temperature;  /* 1.0, >= 0 (0 = greedy)       */
    int top_k;          /* 0 = off, >= 0                */
    float top_p;        /* 1.0 = off, in (0, 1]         */
    bool do_sample;     /* true                         */
    int eos_token_id;   /* TT_TOKEN_NONE                */
    int pad_token_id;   /* TT_TOKEN_NONE                */
    uint64_t seed;      /* 42                           */
    bool use_cache;     /* true: KV cache; false: full recompute each step */
    int n_threads;      /* 0 = auto (a team of omp_get_max_threads(), used
                           while measured faster than one thread); 1..256
                           exactly that many. The tokens do not depend on
                           it. Read at create. */
    int context_len;    /* 0 = the model's default (tt_model_default_context);
                           1..max_len: the window W */
    tt_context_shift context_shift; /* TT_CONTEXT_SHIFT_HALF */
    tt_sampling_controls controls; /* tt_sampling_controls_default(): min-p,
                           typical, penalties, DRY, logit bias, sampler
                           order, stop strings, logprobs, beam search (see
                           tt/sampling.h; its pointers must outlive the
                           generator or the call they are given to) */
} tt_generator_config;

TT_API tt_generator_config tt_generator_config_default(void);
/* @return TT_OK or TT_ERR_ARG naming the field, or saying gc is NULL (vocab
 * checks need V). context_len > max_len is refused by create and generate,
 * which know the model. */
TT_API tt_status tt_generator_config_validate(const tt_generator_config *gc, int vocab_size,
                                       tt_error *err);

/* Per-call overrides: a field applies only when its bit is set in `set`;
 * it may switch a setting off (top_k 0, top_p 1, eos TT_TOKEN_NONE). */
enum {
    TT_OVR_MAX_NEW_TOKENS = 1u << 0,
    TT_OVR_TEMPERATURE = 1u << 1,
    TT_OVR_TOP_K = 1u << 2,
    TT_OVR_TOP_P = 1u << 3,
    TT_OVR_DO_SAMPLE = 1u << 4,
    TT_OVR_EOS = 1u << 5,
    TT_OVR_PAD = 1u << 6,
    TT_OVR_SEED = 1u << 7,
    TT_OVR_USE_CACHE = 1u << 8,
    TT_OVR_CONTEXT_LEN = 1u << 9,
    TT_OVR_CONTEXT_SHIFT = 1u << 10,
    TT_OVR_CONTROLS = 1u << 11, /* the whole controls struct */
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
                        controls.stop; it is not in tokens); else -1     */
    tt_token_logprob *logprobs; /* [n_generated] with controls.logprobs > 0,
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
/* The vocabulary for stop strings (required when controls.n_stop > 0) and
 * DRY's sequence breakers (without it they are not used). Borrowed: it must
 * outlive the generator or be replaced. NULL clears it. */
TT_API void tt_generator_set_tokenizer(tt_generator *g, const struct tt_tokenizer *tok);
/* The generator's own copy of its config; NULL for a NULL generator. */
TT_API const tt_generator_config *tt_generator_get_config(const tt_generator *g);
/* The context window W its config resolves to (context_len, or the model's
 * default when 0); 0 for a NULL generator. */
TT_API int tt_generator_context_len(const tt_generator *g);

/* Generates for B prompts (prompts[r] has lens[r] >= 1 ids). overrides,
 * row_ids, cb may be NULL. out [B] receives the results (free with
 * tt_generations_free). @return TT_OK, TT_ERR_ARG (NULL g, prompts, lens
 * or out; B < 1; empty or NULL prompt; bad setting), TT_ERR_RANGE (an id >= V or < 0), TT_ERR_NOMEM,
 * TT_ERR_INTERRUPTED. */
TT_API tt_status tt_generator_generate(tt_generator *g, const int *const *prompts, const int *lens,
                                int B, const tt_generate_overrides *overrides,
                                const uint64_t *row_ids, tt_token_callback cb, void *user,
                                tt_generation *out, tt_error *err);

/* Beam search (controls.num_beams > 1, greedy: do_sample false or
 * temperature 0) for one prompt, with Hugging Face's algorithm: 2 * num_beams
 * candidates per step ranked by summed log-probs (log_softmax of the logits
 * after the logit bias and penalties); a candidate ending in EOS (kept in the
 * output) becomes a finished hypothesis scored sum / n_generated^
 * length_penalty; early_stopping true stops once num_beams hypotheses are
 * finished, false when no running beam can beat the worst of them. out
 * [controls.num_return_sequences] receives the best first, each with its
 * score (free with tt_generations_free). Deterministic.
 * @return TT_OK, TT_ERR_ARG (NULL argument, bad setting, sampling asked
 * for), TT_ERR_RANGE, TT_ERR_NOMEM. */
TT_API tt_status tt_generator_beam_search(tt_generator *g, const int *prompt, int len,
                                   const tt_generate_overrides *overrides, tt_generation *out,
                                   tt_error *err);

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
 *     gc.max_new_tokens = 100; gc.temperature = 0.8f;
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
