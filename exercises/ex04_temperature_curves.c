/*
 * Exercise 04 — temperature curves (Easy)
 *
 * Task:  for each temperature t of EX04_TEMPERATURES (0.5, 1, 2, 5) compute
 *        row i of probs = softmax(logits / t), and entropy_bits[i] =
 *        -sum_v p_v log2 p_v of that row (terms with p_v = 0 count as 0).
 * Shapes: logits [V]; probs [4, V]; entropy_bits [4].
 * Rules: V < 1, or every logit -inf, is TT_ERR_ARG. -inf logits get p = 0.
 *        Must not overflow for logits like 1000.
 * Hint:  stable softmax: exp((z_v - max z) / t). Watch how the ranking
 *        stays the same while the entropy grows with t toward log2(V).
 * Check: make exercises EX=4
 */
#include "exercises.h"

tt_status ex04_temperature_curves(const float *logits, int V, float *probs, double *entropy_bits)
{
    (void)logits, (void)V, (void)probs, (void)entropy_bits;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
