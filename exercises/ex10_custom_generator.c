/*
 * Exercise 10 — a custom generator with EOS and padding (Hard)
 *
 * Why:
 *   This is what tt_generator does inside, minus its KV cache: the
 *   autoregressive loop. Each step
 *     1. runs the model over the whole sequence so far [B, T + step] (without
 *        a cache, every step recomputes every position: O(n^2) in total);
 *     2. keeps only the last position's logits: the prediction of the NEXT
 *        token (the other positions predict tokens we already have);
 *     3. samples one token per row and appends it.
 *
 *   EOS and padding: a batch is a rectangle, but rows end at different times.
 *   Once a row has produced EOS it is "finished": its later positions hold the
 *   pad id, which means "nothing here". We still SAMPLE for finished rows and
 *   throw the draw away: then row b always consumes the same random numbers,
 *   whatever the other rows do, and the output is reproducible. When every row
 *   has finished, further steps would only add pads, so we stop.
 *
 * Task:  your own generation loop (no tt_generator). For step = 0, 1, ...:
 *   1. tt_model_forward(model, seq, NULL, B, T + step, TT_MODE_EVAL, NULL, NULL, &err)
 *      on the sequences so far, copied into a contiguous [B, T + step] array;
 *   2. for each row b IN ORDER (finished rows too, so the random numbers do
 *      not depend on which rows finished): the last position's logits are
 *      tt_model_logits(model) + (b * (T + step) + T + step - 1) * V; draw one
 *      token with tt_sampler_sample, strategy TT_STRATEGY_COMBINED
 *      (temperature, 0 = greedy; top_k, 0 = off; top_p, 1 = off), and the
 *      given rng;
 *   3. a row that had finished BEFORE this step gets pad_token_id instead of
 *      its draw; append; a row whose new token is eos_token_id is finished;
 *   4. when every row has finished, stop early.
 * Shapes: prompts [B, T]; out: B rows of stride T + max_new_tokens (prompt,
 *        then *n_steps tokens); *n_steps = the number of steps run.
 * Rules: T + max_new_tokens > max_len, eos/pad outside [0, V), or bad sizes
 *        are TT_ERR_ARG; pass on the model's or sampler's error.
 * Hint:  tt_model_get_config(model) gives V and max_len; one tt_sampler
 *        (tt_sampler_create) for the whole loop; a bool finished[B].
 * Check: make exercises EX=10   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex10_generate(tt_model *model, const int *prompts, int B, int T, int max_new_tokens,
                        float temperature, int top_k, float top_p, int eos_token_id,
                        int pad_token_id, tt_rng *rng, int *out, int *n_steps)
{
    (void)model, (void)prompts, (void)B, (void)T, (void)max_new_tokens, (void)temperature,
        (void)top_k, (void)top_p, (void)eos_token_id, (void)pad_token_id, (void)rng, (void)out,
        (void)n_steps;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
