/*
 * tt/sampling.h — greedy, temperature, top-k, top-p (nucleus) and combined
 * sampling over logits, and the filtered distributions they draw from.
 *
 *     tt_sampler *s;  tt_error err;  tt_rng rng;
 *     tt_sampler_create(&s, V, &err);
 *     tt_sampling_params p = tt_sampling_params_default();   // combined, T=1, off, off
 *     p.temperature = 0.8f; p.top_k = 50; p.top_p = 0.9f;
 *     tt_rng_seed_stream(&rng, seed, row);
 *     int id; tt_sampler_sample(s, &p, logits_row, &rng, &id, &err);
 *     tt_sampler_free(s);
 *
 * Semantics (documented in docs/sampling.md):
 *  - greedy: argmax; ties go to the lowest id. Its distribution is one-hot.
 *  - temperature(T): softmax(logits / T); T finite and >= 0. T = 0 is
 *    greedy whatever the strategy (k and p then unused; docs/sampling.md).
 *  - top_k(k, T): temperature, then keep exactly k tokens (ties at the k-th
 *    value broken toward the lower id); k >= 1; k >= V keeps all.
 *  - top_p(p, T): temperature, then keep the smallest set of most probable
 *    tokens whose cumulative probability reaches p (the crossing token is
 *    kept; at least one token); p in (0, 1]; p = 1 keeps all.
 *  - combined(T, k, p): temperature, then top-k, then top-p on the
 *    renormalised top-k distribution; k = 0 and p = 1 mean "off".
 *  - beyond the notebook (p.x, tt_sampling_controls): logit bias, penalties,
 *    DRY, min-p, typical and the chain's order; with all of them off the
 *    results are the four strategies' bit for bit (docs/sampling.md).
 *  Logits: NaN or +inf is TT_ERR_ARG; -inf is a masked token; a row with
 *  every logit -inf is TT_ERR_ARG. The caller's logits are never modified.
 *
 * Thread safety: a tt_sampler holds scratch memory; use one per thread.
 */
#ifndef TT_SAMPLING_H
#define TT_SAMPLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/common.h"
#include "tt/rng.h"

struct tt_tokenizer;

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TT_STRATEGY_GREEDY = 0,
    TT_STRATEGY_TEMPERATURE,
    TT_STRATEGY_TOP_K,
    TT_STRATEGY_TOP_P,
    TT_STRATEGY_COMBINED
} tt_strategy;

/* The stages of the sampling chain, by llama.cpp's names (tt_sampler_kind_name):
 * "penalties" (repetition, presence, frequency), "dry", "top_k", "typ_p",
 * "top_p", "min_p", "temperature". A logit bias always applies first. */
typedef enum {
    TT_SAMPLER_PENALTIES = 0,
    TT_SAMPLER_DRY,
    TT_SAMPLER_TOP_K,
    TT_SAMPLER_TYPICAL,
    TT_SAMPLER_TOP_P,
    TT_SAMPLER_MIN_P,
    TT_SAMPLER_TEMPERATURE
} tt_sampler_kind;
/* Room for a chain's order (tt_sampling_controls.samplers,
 * tt_sampling_chain): every stage, and room for stages added later. */
#define TT_MAX_SAMPLERS 16

#define TT_MAX_STOP 8          /* stop strings per request              */
#define TT_MAX_LOGPROBS 20     /* top alternatives per token            */
#define TT_DRY_MAX_BREAKERS 8  /* DRY sequence breakers                 */
#define TT_MAX_STOP_LEN 256    /* bytes in one stop string or breaker   */

/* One entry of a logit bias map: logit[id] += bias, bias in [-100, 100]. */
typedef struct {
    int id;
    float bias;
} tt_logit_bias;

typedef enum { TT_LOGPROBS_RAW = 0, TT_LOGPROBS_PROCESSED = 1 } tt_logprobs_mode;

/* Every control beyond the notebook's four, with the value that switches it
 * off. tt_sampling_controls_default() gives them; all are validated by
 * tt_sampling_params_validate. Pointers are borrowed: what they point to must
 * stay valid while the params are in use (a generator keeps them from create
 * to free). Semantics: docs/sampling.md#beyond-the-notebook. */
typedef struct {
    float min_p;              /* 0 = off; [0, 1]: keep p >= min_p * p_max (HF)        */
    float typical_p;          /* 1 = off; (0, 1]: HF's TypicalLogitsWarper             */
    float repetition_penalty; /* 1 = off; > 0: HF/CTRL, prompt + generated, once/token */
    float presence_penalty;   /* 0 = off; [-2, 2]: OpenAI, generated tokens only       */
    float frequency_penalty;  /* 0 = off; [-2, 2]: OpenAI, generated tokens only       */
    int penalty_last_n;       /* 0 = the whole context; > 0 the last n tokens          */
    float dry_multiplier;     /* 0 = off; >= 0 (llama.cpp DRY)                          */
    float dry_base;           /* 1.75; >= 1                                             */
    int dry_allowed_length;   /* 2; >= 1                                                */
    int dry_penalty_last_n;   /* 0 = the whole context; > 0 the last n tokens          */
    int n_dry_breakers;       /* 4: "\n", ":", "\"", "*"; 0..TT_DRY_MAX_BREAKERS     */
    const char *dry_breakers[TT_DRY_MAX_BREAKERS]; /* UTF-8, non-empty                 */
    int n_logit_bias;                 /* entries in logit_bias                          */
    const tt_logit_bias *logit_bias;  /* [n_logit_bias]; ids < V, distinct              */
    int n_samplers;                   /* 0 = the default (HF) order                     */
    tt_sampler_kind samplers[TT_MAX_SAMPLERS]; /* the chain's order, no repeats      */
    /* Generation only (tt/generate.h); the tt_sampler_* calls ignore them. */
    int n_stop;                       /* 0..TT_MAX_STOP                                 */
    const char *stop[TT_MAX_STOP];    /* UTF-8, non-empty, < TT_MAX_STOP_LEN bytes      */
    int logprobs;                     /* 0 = off; 1..20: the token and its top N        */
    tt_logprobs_mode logprobs_mode;   /* RAW: log_softmax(logits); PROCESSED: the chain's */
    bool prompt_logprobs;             /* also for the prompt's tokens                   */
    int num_beams;                    /* 1 = off (sampling or greedy); > 1 beam search  */
    float length_penalty;             /* 1.0: beam score = sum logp / len^length_penalty */
    bool early_stopping;              /* false: HF's heuristic; true: stop at num_beams */
    int num_return_sequences;         /* 1; 1..num_beams                                */
} tt_sampling_controls;

typedef struct {
    size_t struct_size; /* sizeof this struct, set by tt_sampling_params_default(): keep it
                           (docs/embedding.md#abi-policy) */
    tt_strategy strategy;
    float temperature; /* finite, >= 0; 0 = greedy; ignored by greedy      */
    int top_k;         /* TOP_K: >= 1.  COMBINED: >= 0, 0 = off            */
    float top_p;       /* TOP_P and COMBINED: in (0, 1], 1 = off           */
    tt_sampling_controls x; /* min-p, typical, penalties, DRY, bias, order, stop,
                               logprobs, beams: tt_sampling_controls_default() */
} tt_sampling_params;

/* Every control off (min_p 0, typical_p 1, penalties 1/0/0, DRY off with
 * base 1.75, allowed length 2 and breakers \n : " *, no bias, default order,
 * no stop strings, no logprobs, one beam, length_penalty 1). */
TT_API tt_sampling_controls tt_sampling_controls_default(void);

/* "penalties", "dry", "top_k", "typ_p", "top_p", "min_p", "temperature";
 * "unknown" outside the enum. */
TT_API const char *tt_sampler_kind_name(tt_sampler_kind k);
/* Parses a comma-separated list of stage names (llama.cpp's; "typical" and
 * "typical_p" too) into c->samplers / c->n_samplers. @return TT_OK or
 * TT_ERR_ARG (unknown or repeated name, empty list). */
TT_API tt_status tt_sampler_order_parse(const char *list, tt_sampling_controls *c, tt_error *err);
/* The order the chain applies for p: writes the stages to order and returns
 * their number. When n_samplers is 0 (or p is NULL) that is the default
 * order, Hugging Face's: penalties, dry, temperature, top_k, top_p, min_p,
 * typ_p. */
TT_API int tt_sampling_chain(const tt_sampling_params *p, tt_sampler_kind order[TT_MAX_SAMPLERS]);

/* A token's log-probability and its most probable alternatives (most
 * probable first; ties: lower id first). */
typedef struct {
    int id;
    float logprob;
} tt_top_logprob;
typedef struct {
    int id;
    float logprob;
    int n_top; /* entries in top; -1: no prediction (a prompt's first token) */
    tt_top_logprob top[TT_MAX_LOGPROBS];
} tt_token_logprob;

/* out->id = id, out->logprob = log_softmax(logits)[id], out->top = the
 * top_n (0..20) largest. @return TT_OK or TT_ERR_ARG (NULL, V < 1, id or
 * top_n out of range, bad logits). */
TT_API tt_status tt_logprobs_from_logits(const float *logits, int V, int id, int top_n,
                                         tt_token_logprob *out, tt_error *err);
/* The same from a distribution probs [V] (tokens with 0 are never listed);
 * probs[id] must be > 0. */
TT_API tt_status tt_logprobs_from_probs(const float *probs, int V, int id, int top_n,
                                        tt_token_logprob *out, tt_error *err);

/* The tokens a row's penalties look at: tokens[0..n_prompt) are the prompt,
 * tokens[n_prompt..n_tokens) the generated ones (borrowed). */
typedef struct {
    const int *tokens;
    int n_tokens;
    int n_prompt;
} tt_token_history;

/* nats to bits: nats / ln 2 (e.g. an entropy from tt_sampler_filter). */
static inline double tt_nats_to_bits(double nats) { return nats / 0.69314718055994530942; }

/* combined, temperature 1, top_k 0 (off), top_p 1 (off): plain sampling. */
TT_API tt_sampling_params tt_sampling_params_default(void);

/* @return TT_OK, or TT_ERR_ARG with a message naming the bad value (or
 * saying p is NULL). */
TT_API tt_status tt_sampling_params_validate(const tt_sampling_params *p, tt_error *err);

/* "greedy", "temperature", "top-k", "top-p", "combined"; "unknown" for a
 * value outside the enum. Never NULL. */
TT_API const char *tt_strategy_name(tt_strategy s);
/* Parses one of the names above. @return TT_OK or TT_ERR_ARG (unknown name,
 * NULL name or out). */
TT_API tt_status tt_strategy_parse(const char *name, tt_strategy *out, tt_error *err);

typedef struct tt_sampler tt_sampler;

/* Creates a sampler (scratch space) for rows of `vocab_size` logits.
 * @return TT_OK, TT_ERR_ARG (NULL out, vocab_size < 1), TT_ERR_NOMEM. */
TT_API tt_status tt_sampler_create(tt_sampler **out, int vocab_size, tt_error *err);
/* NULL-safe. */
TT_API void tt_sampler_free(tt_sampler *s);
/* V; 0 for a NULL sampler. */
TT_API int tt_sampler_vocab_size(const tt_sampler *s);

/* Sets the context that the penalties and DRY look at for the following
 * calls on s (borrowed: it must stay valid until it is set again); NULL (the
 * state after create) means no context, so penalties and DRY change nothing.
 * tok (may be NULL) maps DRY's sequence breakers to token ids: without it,
 * breakers are not used. */
TT_API void tt_sampler_set_history(tt_sampler *s, const tt_token_history *h,
                                   const struct tt_tokenizer *tok);

/* Every tt_sampler_* call below applies one chain: the logit bias, then the
 * stages of tt_sampling_chain(p) (penalties and DRY over the history set
 * above; greedy takes the argmax after bias, penalties and DRY). With every
 * control of p->x off the results are those of the four-field params, bit for
 * bit. */

/* Draws one token id from one row of logits [V] with `rng`.
 * Greedy consumes no random numbers; every other strategy consumes exactly one
 * uniform draw per call, so the stream position does not depend on the logits.
 * @return TT_OK or TT_ERR_ARG (NULL s, p, logits, rng or token; bad params
 * or logits). rng must be non-NULL even for greedy. */
TT_API tt_status tt_sampler_sample(tt_sampler *s, const tt_sampling_params *p, const float *logits,
                                   tt_rng *rng, int *token, tt_error *err);

/* The exact distribution `tt_sampler_sample` draws from for these logits.
 * probs [V] (caller's buffer) receives the probabilities, 0 where filtered.
 * kept [V] (may be NULL) receives the kept ids, most probable first (ties:
 * lower id first); *n_kept their number. entropy_nats (may be NULL) receives
 * -sum p ln p over the kept tokens; the entropy in bits is
 * tt_nats_to_bits(*entropy_nats).
 * @return TT_OK or TT_ERR_ARG (NULL s, p, logits or probs; bad params or
 * logits). */
TT_API tt_status tt_sampler_filter(tt_sampler *s, const tt_sampling_params *p, const float *logits,
                                   float *probs, int *kept, int *n_kept, double *entropy_nats,
                                   tt_error *err);

/* tt_sampler_sample (the same draw, the same use of rng) that also gives
 * the entropy tt_sampler_filter reports for these logits, from one pass of
 * filtering: what a generator records at every step.
 * @return as tt_sampler_sample; TT_ERR_ARG for a NULL entropy_nats. */
TT_API tt_status tt_sampler_sample_entropy(tt_sampler *s, const tt_sampling_params *p,
                                           const float *logits, tt_rng *rng, int *token,
                                           double *entropy_nats, tt_error *err);

/* Batch: B rows of V logits (row-major), n_draws draws per row into
 * out [B, n_draws]. Row r uses the stream (seed, r), so its draws do not
 * depend on the other rows. @return TT_OK, TT_ERR_ARG (NULL p, logits or
 * out; B, V or n_draws < 1; bad params or logits), TT_ERR_NOMEM. */
TT_API tt_status tt_sample_batch(const tt_sampling_params *p, const float *logits, int B, int V,
                                 int n_draws, uint64_t seed, int *out, tt_error *err);

/* The plain reference: full sort of the vocabulary on every call. Same
 * results as tt_sampler_sample (same draws for the same rng); slow; kept for
 * tests and benchmarks. @return as tt_sampler_sample. */
TT_API tt_status tt_sampler_sample_reference(tt_sampler *s, const tt_sampling_params *p,
                                             const float *logits, tt_rng *rng, int *token,
                                             tt_error *err);

/* The row's logits after the logit bias, penalties and DRY (the chain's
 * stages that change logits; the truncations are what tt_sampler_filter
 * reports). processed [V] is the caller's. @return as tt_sampler_filter. */
TT_API tt_status tt_sampler_process_logits(tt_sampler *s, const tt_sampling_params *p,
                                           const float *logits, float *processed, tt_error *err);

/* Softmax helpers (numerically stable, max-subtracted). @return TT_OK or
 * TT_ERR_ARG (NULL logits or output, V < 1, bad temperature, NaN/+inf
 * logits, every logit -inf). */
/* probs[i] = softmax(logits / T)[i]; -inf logits give 0. T = 0 gives the
 * limit: 1 at the argmax (ties: the lowest id), 0 elsewhere. */
TT_API tt_status tt_softmax(const float *logits, int V, float temperature, float *probs,
                            tt_error *err);
/* out[i] = log_softmax(logits)[i]. */
TT_API tt_status tt_log_softmax(const float *logits, int V, float *out, tt_error *err);

/* Parses rows of logits from text: one row per non-empty line, values
 * separated by commas and/or blanks ("1.5, 2.8 -inf"). Every row must have the
 * same number of values. *values [rows * V] is malloc'ed (caller frees).
 * NaN and +inf are rejected here too. text may be NULL only when len is 0.
 * @return TT_OK, TT_ERR_ARG (NULL values, rows or V; NULL text with
 * len > 0), TT_ERR_FORMAT (the message gives the line and the bad field),
 * TT_ERR_NOMEM. */
TT_API tt_status tt_logits_parse(const char *text, size_t len, float **values, int *rows, int *V,
                                 tt_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TT_SAMPLING_H */
