/*
 * Exercise 10 — a custom generator with EOS and padding: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex10_custom_generator.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: prompts [B, T]; seq [B, T + step] (contiguous, what the model
 * reads); logits [B, T + step, V]; out: B rows of stride T + max_new_tokens.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "exercises.h"

tt_status ex10_generate(tt_model *model, const int *prompts, int B, int T, int max_new_tokens,
                        float temperature, int top_k, float top_p, int eos_token_id,
                        int pad_token_id, tt_rng *rng, int *out, int *n_steps)
{
    if (!model || !prompts || !rng || !out || !n_steps || B < 1 || T < 1 || max_new_tokens < 1)
        return TT_ERR_ARG;
    const tt_model_config *cfg = tt_model_get_config(model);
    const int V = cfg->vocab_size;
    if (T + max_new_tokens > cfg->max_len) /* no cropping in this exercise */
        return TT_ERR_ARG;
    if (eos_token_id < 0 || eos_token_id >= V || pad_token_id < 0 || pad_token_id >= V)
        return TT_ERR_ARG;

    tt_sampling_params sp = tt_sampling_params_default();
    sp.strategy = TT_STRATEGY_COMBINED;
    sp.temperature = temperature;
    sp.top_k = top_k;
    sp.top_p = top_p;
    tt_error err;
    tt_status st = tt_sampling_params_validate(&sp, &err); /* fail before any work */
    if (st != TT_OK)
        return st;

    const int W = T + max_new_tokens; /* row stride of out */
    int *seq = malloc((size_t)B * (size_t)W * sizeof *seq);
    bool *finished = calloc((size_t)B, sizeof *finished);
    int *next = malloc((size_t)B * sizeof *next);
    tt_sampler *sampler = NULL;
    if (!seq || !finished || !next) {
        st = TT_ERR_NOMEM;
        goto done;
    }
    st = tt_sampler_create(&sampler, V, &err);
    if (st != TT_OK)
        goto done;

    /* out starts as the prompts. */
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * W, prompts + (size_t)b * T, (size_t)T * sizeof *out);

    int steps = 0;
    for (int step = 0; step < max_new_tokens; step++) {
        const int L = T + step; /* current length of every row */
        /* The model wants a contiguous [B, L] array; out rows have stride W. */
        for (int b = 0; b < B; b++)
            memcpy(seq + (size_t)b * L, out + (size_t)b * W, (size_t)L * sizeof *seq);
        /* EVAL mode: no dropout, and no activations kept for backward. */
        st = tt_model_forward(model, seq, NULL, B, L, TT_MODE_EVAL, NULL, NULL, &err);
        if (st != TT_OK)
            goto done;
        const float *logits = tt_model_logits(model); /* [B, L, V], borrowed */

        /* Sample for EVERY row, in row order (see the header comment). */
        for (int b = 0; b < B; b++) {
            const float *last = logits + ((size_t)b * L + (size_t)(L - 1)) * V; /* [V] */
            st = tt_sampler_sample(sampler, &sp, last, rng, &next[b], &err);
            if (st != TT_OK)
                goto done;
        }
        /* Rows finished BEFORE this step get pad; then update finished with
         * the token just appended (so the EOS itself is kept). */
        bool all_done = true;
        for (int b = 0; b < B; b++) {
            int tok = finished[b] ? pad_token_id : next[b];
            out[(size_t)b * W + L] = tok;
            if (tok == eos_token_id)
                finished[b] = true;
            all_done = all_done && finished[b];
        }
        steps = step + 1;
        if (all_done)
            break; /* early stop: nothing left to generate */
    }
    *n_steps = steps;

done:
    tt_sampler_free(sampler);
    free(next);
    free(finished);
    free(seq);
    return st;
}
