/*
 * Exercise 04 — temperature curves (Easy)
 *
 * Why:
 *   The same logits at four temperatures. What to notice in the numbers:
 *    - the ORDER of the tokens never changes (dividing by T > 0 keeps it);
 *    - T = 0.5 squares the odds between two tokens (p_i / p_j = e^{(z_i - z_j)/T}),
 *      T = 2 takes their square root, T = 5 their fifth root: high T pulls
 *      everything toward uniform;
 *    - the entropy H = -sum p log2 p (in bits: how many yes/no questions the
 *      choice is worth) grows with T, from near 0 (certain) toward log2 V
 *      (uniform).
 *
 * Task:  for each temperature t of EX04_TEMPERATURES (0.5, 1, 2, 5) compute
 *        row i of probs = softmax(logits / t), and entropy_bits[i] =
 *        -sum_v p_v log2 p_v of that row (terms with p_v = 0 count as 0).
 * Shapes: logits [V]; probs [4, V]; entropy_bits [4].
 * Rules: V < 1, or every logit -inf, is TT_ERR_ARG. -inf logits get p = 0.
 *        Must not overflow for logits like 1000.
 * Hint:  stable softmax: exp((z_v - max z) / t). Watch how the ranking
 *        stays the same while the entropy grows with t toward log2(V).
 * Check: make exercises EX=4   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex04_temperature_curves(const float *logits, int V, float *probs, double *entropy_bits)
{
    (void)logits, (void)V, (void)probs, (void)entropy_bits;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
