/*
 * cli/serve_dist.h — the next-token distribution behind the sampling
 * explorer's chart (`tt serve`, POST /v1/distribution): for a context and a
 * set of sampling settings, every token's probability under the model, after
 * the logit-changing stages and temperature, and after the whole chain (what
 * the sampler draws from), with the kept set and the entropies.
 *
 *     serve_dist_ctx *d;  serve_dist out;  tt_error err;
 *     serve_dist_ctx_create(&d, model, tok, &err);
 *     tt_generator_config cfg = tt_generator_config_default();
 *     cfg.top_k = 5;
 *     serve_dist_compute(d, prompt, n_prompt, generated, n_generated, &cfg, &out, &err);
 *     ... out.prob_final[id], out.kept[0 .. out.n_kept) ...
 *     serve_dist_free(&out);
 *     serve_dist_ctx_free(d);
 *
 * Exactness: the logits are the ones the generator computes for a row with
 * this prompt whose first n_generated tokens were the given ones (they are
 * fed through the step API, so the context window slides as it did while
 * generating), and the distribution is tt_sampler_filter's with the chain's
 * params for cfg and the row's history: the chart shows what the sampler does.
 *
 * Thread safety: a serve_dist_ctx holds a generator and a sampler; its calls
 * take its own mutex, so several threads may share one. The model and the
 * tokenizer are borrowed and must outlive it.
 */
#ifndef TT_CLI_SERVE_DIST_H
#define TT_CLI_SERVE_DIST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "tt/generate.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"

/* One distribution over the vocabulary; arrays [V] malloc'ed (serve_dist_free). */
typedef struct {
    int V;
    int n_context;      /* tokens before the predicted one (prompt + generated)    */
    float *prob;        /* softmax(raw logits): the model's own distribution       */
    float *prob_scaled; /* softmax(logits after bias, penalties and DRY, / T): the
                           distribution before any cut (greedy: one-hot)           */
    float *prob_final;  /* what the sampler draws from; 0 where the chain cuts     */
    int *kept;          /* kept ids, most probable first (ties: lower id first)   */
    int n_kept;
    int *order;           /* every id, by prob (most probable first, ties: lower id) */
    double entropy_raw;   /* nats, of prob        */
    double entropy_final; /* nats, of prob_final  */
} serve_dist;

/* NULL-safe; leaves *d zeroed. */
void serve_dist_free(serve_dist *d);

/* The chain's params for a generator config: cfg->sampling (greedy for
 * TT_STRATEGY_GREEDY or temperature 0, the one rule of tt/sampling.h) with
 * the generation-only controls (stop, logprobs, beams) off. */
tt_sampling_params serve_dist_params(const tt_generator_config *cfg);

/* The distribution for one row of logits [V] with the history h (NULL: no
 * penalties context) and cfg's settings. s must be a sampler of V tokens.
 * @return TT_OK, TT_ERR_ARG (bad settings or logits), TT_ERR_NOMEM. */
tt_status serve_dist_from_logits(tt_sampler *s, const tt_tokenizer *tok,
                                 const tt_generator_config *cfg, const float *logits, int V,
                                 const tt_token_history *h, serve_dist *out, tt_error *err);

typedef struct serve_dist_ctx serve_dist_ctx;

/* @return TT_OK, TT_ERR_ARG (NULL argument, a tokenizer of another size),
 * TT_ERR_NOMEM. */
tt_status serve_dist_ctx_create(serve_dist_ctx **out, const tt_model *model,
                                const tt_tokenizer *tok, tt_error *err);
void serve_dist_ctx_free(serve_dist_ctx *d); /* NULL-safe */

/* The distribution of the token that follows prompt [n_prompt >= 1] and
 * generated [n_generated >= 0] with the settings cfg (its seed, stop
 * strings, logprobs, EOS and max_new_tokens do not matter here).
 * @return TT_OK, TT_ERR_ARG (bad settings: the message names the field),
 * TT_ERR_RANGE (an id outside the vocabulary), TT_ERR_NOMEM. */
tt_status serve_dist_compute(serve_dist_ctx *d, const int *prompt, int n_prompt,
                             const int *generated, int n_generated, const tt_generator_config *cfg,
                             serve_dist *out, tt_error *err);

/* The JSON of POST /v1/distribution (docs/serve.md): the settings'
 * outcome for every token, most probable (under the model) first. position
 * is the number of generated tokens in the context. NULL when out of memory;
 * the caller frees it (cJSON_Delete). */
cJSON *serve_dist_json(const serve_dist *ds, const tt_tokenizer *tok, const char *model_name,
                       int position);

#endif
