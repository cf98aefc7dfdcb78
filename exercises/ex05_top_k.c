/*
 * Exercise 05 — top-k sampling (Medium)
 *
 * Why:
 *   Plain temperature sampling can pick a very unlikely token: each one is
 *   rare, but a vocabulary has many, and together the tail holds real mass.
 *   Top-k cuts the tail: keep only the k most probable tokens, renormalise,
 *   and draw. k = 1 is greedy; k >= V is plain temperature sampling.
 *
 *   Order of operations: temperature first, then the cut. (For top-k alone the
 *   order does not matter, since dividing by T keeps the ranking; for top-p it
 *   does, see exercise 06.)
 *
 * Task 1: ex05_top_k_filter — probs [V] = softmax(logits / temperature) kept
 *         only on the k most probable tokens, renormalised to sum to 1, and 0
 *         on every other token.
 * Task 2: ex05_top_k_sample — for each row of logits [B, V], draw out[b]
 *         from that filtered distribution.
 * Rules: exactly k tokens are kept; on equal logits at the cut, the LOWER id
 *        is kept; k >= V keeps everything; k < 1 or a temperature that is not
 *        finite and >= 0 is TT_ERR_ARG. T = 0 is greedy: probs is one-hot on
 *        the argmax (ties: the lowest id), and the sampler returns that token
 *        without taking a random number from rng.
 * Hint:  sort (probability, id) pairs with qsort — most probable first, then
 *        lower id — and keep the first k. Draw with your ex02_sample_from_probs.
 *        k = 1 must behave exactly like greedy.
 * Check: make exercises EX=5   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex05_top_k_filter(const float *logits, int V, int k, float temperature, float *probs)
{
    (void)logits, (void)V, (void)k, (void)temperature, (void)probs;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex05_top_k_sample(const float *logits, int B, int V, int k, float temperature,
                            tt_rng *rng, int *out)
{
    (void)logits, (void)B, (void)V, (void)k, (void)temperature, (void)rng, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
