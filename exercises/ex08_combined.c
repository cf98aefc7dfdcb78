/*
 * Exercise 08 — combined sampling (Hard)
 *
 * Task 1: ex08_combined_filter — probs [V]: temperature, then top-k (top_k = 0
 *         means off), then top-p (top_p = 1 means off) computed on the
 *         RENORMALISED top-k distribution, with the rules of exercises 05 and 06.
 * Task 2: ex08_combined_sample — for each row of logits [B, V], draw out[b]
 *         from that distribution.
 * Rules: top_k < 0, top_p outside (0, 1], or a bad temperature is TT_ERR_ARG.
 * Hint:  one sort serves both filters: top-k keeps a prefix of the sorted
 *        list, top-p a shorter prefix of that. Renormalise between the two.
 *        With k = 0 and p = 1 you must get plain temperature sampling.
 * Check: make exercises EX=8
 */
#include "exercises.h"

tt_status ex08_combined_filter(const float *logits, int V, float temperature, int top_k,
                               float top_p, float *probs)
{
    (void)logits, (void)V, (void)temperature, (void)top_k, (void)top_p, (void)probs;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex08_combined_sample(const float *logits, int B, int V, float temperature, int top_k,
                               float top_p, tt_rng *rng, int *out)
{
    (void)logits, (void)B, (void)V, (void)temperature, (void)top_k, (void)top_p, (void)rng,
        (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
