/*
 * Exercise 06 — top-p (nucleus) sampling (Medium)
 *
 * Why:
 *   Top-k keeps a fixed NUMBER of tokens, which is wrong at both ends: when the
 *   model is sure, k = 50 still admits 49 bad tokens; when it is unsure, k = 50
 *   may cut good ones. Top-p keeps a fixed MASS instead: the smallest set of
 *   most probable tokens whose probabilities add up to at least p. A confident
 *   distribution gives a small nucleus, a flat one a large nucleus.
 *
 *   Our rule (docs/sampling.md), the same as Hugging Face's: walk the tokens
 *   from most to least probable, adding up probabilities, and stop at the
 *   first token where the running sum reaches p — that token is KEPT. So the
 *   kept mass is always >= p, and at least one token is kept. (The Python
 *   package's HEAD instead drops the crossing token; its exercises teach the
 *   rule we use.) Example: probs [0.5, 0.3, 0.2], p = 0.6: 0.5 < 0.6, then
 *   0.8 >= 0.6, so {0, 1} are kept and renormalised to [0.625, 0.375, 0].
 *
 *   Temperature comes first, and here it matters: a higher T flattens the
 *   distribution, so the same p admits more tokens.
 *
 * Task 1: ex06_top_p_filter — probs [V]: softmax(logits / temperature), then
 *         keep the SMALLEST set of most probable tokens whose cumulative
 *         probability reaches p, renormalised; 0 elsewhere.
 * Task 2: ex06_top_p_sample — for each row of logits [B, V], draw out[b]
 *         from that filtered distribution.
 * Rules (our documented rule, docs/sampling.md): walk the tokens from most to
 *        least probable (ties: lower id first), adding probabilities; stop at
 *        the first token where the sum is >= p — that crossing token is KEPT.
 *        At least one token is kept; p = 1 keeps every token of non-zero
 *        probability. p outside (0, 1] or a temperature that is not finite
 *        and >= 0 is TT_ERR_ARG. T = 0 is greedy: probs is one-hot on the
 *        argmax (ties: the lowest id), and the sampler returns that token
 *        without taking a random number from rng.
 *        Example: probs [0.5, 0.3, 0.2], p = 0.6 keeps {0, 1} -> [0.625, 0.375, 0].
 * Hint:  same sort as exercise 05, then a running sum. Apply the
 *        temperature FIRST: it changes which tokens make up the nucleus.
 * Check: make exercises EX=6   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex06_top_p_filter(const float *logits, int V, float p, float temperature, float *probs)
{
    (void)logits, (void)V, (void)p, (void)temperature, (void)probs;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex06_top_p_sample(const float *logits, int B, int V, float p, float temperature,
                            tt_rng *rng, int *out)
{
    (void)logits, (void)B, (void)V, (void)p, (void)temperature, (void)rng, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
