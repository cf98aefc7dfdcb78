/*
 * Exercise 02 — temperature sampling (Easy)
 *
 * Why:
 *   Temperature T rescales the logits before the softmax: p = softmax(z / T).
 *   T < 1 sharpens the distribution (the top token gets even more of the mass),
 *   T > 1 flattens it toward uniform, and as T -> 0 all the mass goes to the
 *   largest logit: the limit of softmax(z / T) is one-hot on the argmax. So
 *   T = 0 means greedy (the project's rule, wherever a temperature is taken):
 *   you cannot divide by 0, so handle it before the softmax. T < 0 would
 *   reverse the ranking and has no meaning, so it is an error.
 *
 *   Drawing from a distribution with one uniform number u in [0, 1) is
 *   "inverse transform sampling": walk the ids, adding up probabilities, and
 *   stop at the first id whose running sum passes u. Each id is chosen with
 *   exactly its probability, because it owns an interval of [0, 1) as long as
 *   its probability.
 *
 * Task 1: ex02_sample_from_probs — draw one id from probs [V] using ONE
 *         uniform number u = tt_rng_uniform(rng) in [0, 1).
 * Task 2: ex02_temperature_sample — for each row b of logits [B, V], draw
 *         out[b] from softmax(logits[b] / temperature).
 * Rules: temperature must be finite and >= 0 (else TT_ERR_ARG); at T = 0
 *        out[b] is the argmax of row b (ties: the lowest id), and no random
 *        number is taken from rng (greedy has nothing to draw); a probability
 *        that is negative or NaN, or probs summing to 0, is TT_ERR_ARG; a
 *        token of probability 0 (a -inf logit) is never drawn.
 * Hint:  inverse transform sampling: walk the ids adding up probabilities and
 *        return the first id whose running sum exceeds u * total. For the
 *        softmax, subtract the largest logit before exp() (exp(1000) is inf
 *        in float; softmax(z - c) = softmax(z)). Sum in double.
 *        Later exercises reuse ex02_sample_from_probs.
 * Check: make exercises EX=2   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex02_sample_from_probs(const float *probs, int V, tt_rng *rng, int *token)
{
    (void)probs, (void)V, (void)rng, (void)token;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex02_temperature_sample(const float *logits, int B, int V, float temperature,
                                  tt_rng *rng, int *out)
{
    (void)logits, (void)B, (void)V, (void)temperature, (void)rng, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
