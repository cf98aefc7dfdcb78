/*
 * Exercise 08 — combined sampling (Hard)
 *
 * Why:
 *   What production systems use: temperature, then top-k, then top-p. Top-k
 *   puts a hard cap on the candidates (cheap, and it bounds the damage of a
 *   flat distribution); top-p then trims that short list adaptively. Top-p is
 *   computed on the RENORMALISED top-k distribution: after the cut, the kept
 *   tokens' probabilities are divided by their total, and p is a fraction of
 *   that. (Hugging Face, vLLM and the Python package all do it this way;
 *   llama.cpp applies temperature last, which gives different results.)
 *
 *   top_k = 0 switches top-k off; top_p = 1 switches top-p off; with both off
 *   this is plain temperature sampling.
 *
 * Task 1: ex08_combined_filter — probs [V]: temperature, then top-k (top_k = 0
 *         means off), then top-p (top_p = 1 means off) computed on the
 *         RENORMALISED top-k distribution, with the rules of exercises 05 and 06.
 * Task 2: ex08_combined_sample — for each row of logits [B, V], draw out[b]
 *         from that distribution.
 * Rules: top_k < 0, top_p outside (0, 1], or a temperature that is not finite
 *        and >= 0 is TT_ERR_ARG. T = 0 is greedy: probs is one-hot on the
 *        argmax (ties: the lowest id) whatever k and p, and the sampler
 *        returns that token without taking a random number from rng.
 * Hint:  one sort serves both filters: top-k keeps a prefix of the sorted
 *        list, top-p a shorter prefix of that. Renormalise between the two.
 *        With k = 0 and p = 1 you must get plain temperature sampling.
 * Check: make exercises EX=8   (SHOW=1 also shows your results beside the
 *        reference's)
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
