/*
 * sampling_internal.h — the parts of the sampling chain that live outside
 * src/sampling.c: the stages that change logits (logit bias, penalties, DRY;
 * src/logits_process.c) and the truncations that need no rank order
 * (min-p, typical).
 *
 * Legend: V = vocabulary size, n = tokens in a row's history.
 */
#ifndef TT_SAMPLING_INTERNAL_H
#define TT_SAMPLING_INTERNAL_H

#include "tt/sampling.h"

/* The number of strategies and of chain stages (kept out of the public
 * enums, so that adding one changes no public value). */
#define TT_STRATEGY_COUNT_ ((int)TT_STRATEGY_COMBINED + 1)
#define TT_SAMPLER_COUNT_ ((int)TT_SAMPLER_TEMPERATURE + 1)
_Static_assert(TT_SAMPLER_COUNT_ <= TT_MAX_SAMPLERS, "TT_MAX_SAMPLERS is too small");

/* The default chain order: Hugging Face's (penalties, dry, temperature,
 * top_k, top_p, min_p, typ_p). */
extern const tt_sampler_kind tt_sampler_default_order[TT_SAMPLER_COUNT_];

/* Points *p at params of today's layout: the caller's own when its
 * struct_size is today's, else *copy (abi.h). @return TT_OK, or TT_ERR_ARG
 * for a struct_size this library cannot read. A NULL *p stays NULL. */
tt_status tt_sampling_params_in(const tt_sampling_params **p, tt_sampling_params *copy,
                                tt_error *err);

/* The one temperature-0 rule (docs/sampling.md): temperature 0 means greedy
 * wherever a temperature is taken, whatever the strategy: the argmax after
 * the bias, penalties and DRY, no random number drawn. */
static inline bool tt_sampling_greedy(const tt_sampling_params *p) {
    return p->strategy == TT_STRATEGY_GREEDY || p->temperature == 0.0f;
}

/* Scratch the logit stages keep between calls (one per sampler). */
typedef struct {
    int *count; /* [V] zero between calls                               */
    int *ibuf;  /* [cap] DRY: the window, then its repeat counts        */
    int cap;
} tt_lp_scratch;

void tt_lp_scratch_free(tt_lp_scratch *sc);

/* Validates the controls (p->x); V < 1 skips the checks that need it. */
tt_status tt_sampling_controls_check(const tt_sampling_controls *c, tt_error *err);

/* Whether a logit stage (bias, penalties, DRY) would change a row. */
bool tt_lp_bias_active(const tt_sampling_controls *c);
bool tt_lp_penalties_active(const tt_sampling_controls *c, const tt_token_history *h);
bool tt_lp_dry_active(const tt_sampling_controls *c, const tt_token_history *h);

/* In place on l [V]; -inf stays -inf. Bias ids are checked here (V). */
tt_status tt_lp_apply_bias(const tt_sampling_controls *c, float *l, int V, tt_error *err);
tt_status tt_lp_apply_penalties(const tt_sampling_controls *c, const tt_token_history *h, float *l,
                                int V, tt_lp_scratch *sc, tt_error *err);
tt_status tt_lp_apply_dry(const tt_sampling_controls *c, const tt_token_history *h,
                          const struct tt_tokenizer *tok, float *l, int V, tt_lp_scratch *sc,
                          tt_error *err);

#endif
