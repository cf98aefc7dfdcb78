/*
 * Exercise 03 — greedy against temperature (Easy)
 *
 * Why:
 *   The point is to SEE the difference: greedy returns the same id every
 *   time; temperature sampling varies, and varies more as T grows. We simply
 *   reuse the functions of exercises 01 and 02 (they are linked into the same
 *   program), one draw at a time, as the Python original does.
 *
 * Task:  draw n_samples tokens from one row of logits [V] with each of four
 *        strategies, in this order (EX03_STRATEGY_NAMES): greedy, temperature
 *        0.5, temperature 1.0, temperature 2.0.
 * Shapes: logits [V]; samples [4, n_samples] — row s holds strategy s.
 * Rules: V < 1 or n_samples < 1 is TT_ERR_ARG.
 * Hint:  call your ex01_greedy and ex02_temperature_sample with B = 1. Then
 *        look at the rows: greedy never varies; the others vary more as T grows.
 * Check: make exercises EX=3   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex03_compare(const float *logits, int V, int n_samples, tt_rng *rng, int *samples)
{
    (void)logits, (void)V, (void)n_samples, (void)rng, (void)samples;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
