/*
 * Exercise 01 — greedy sampling (Easy)
 *
 * Why:
 *   Greedy decoding always takes the most probable next token. Softmax is
 *   monotonic (a larger logit always means a larger probability), so the most
 *   probable token is simply the largest logit: we never need the
 *   probabilities at all, and no random numbers are used. That makes greedy
 *   deterministic: the same logits always give the same token.
 *
 * Task:  for each row of logits, return the id of the largest logit.
 * Shapes: logits [B, V] row-major (row b starts at logits + b * V); out [B].
 * Rules: ties go to the LOWEST id; B < 1, V < 1 or a NULL pointer is TT_ERR_ARG.
 * Hint:  softmax never changes which logit is largest, so you need no
 *        probabilities and no random numbers. Compare with '>' (not '>=') to
 *        keep the first maximum.
 * Check: make exercises EX=1   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex01_greedy(const float *logits, int B, int V, int *out)
{
    (void)logits, (void)B, (void)V, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
