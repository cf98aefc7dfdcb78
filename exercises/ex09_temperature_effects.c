/*
 * Exercise 09 — temperature effects (Medium)
 *
 * Why:
 *   Exercise 04 looked at the exact distributions; this one looks at what
 *   actually comes out: draw 100 tokens at each temperature and measure them.
 *    - diversity = unique / n: 1/n means one token every time, 1 means all
 *      different;
 *    - entropy (bits) of the EMPIRICAL counts: -sum (c/n) log2(c/n). With few
 *      samples it underestimates the true entropy (unseen tokens count as 0),
 *      and it can never exceed log2(n);
 *    - max_frequency: the share of the most common token (greedy would be 1).
 *   As T rises, diversity and entropy rise and max_frequency falls.
 *
 * Task 1: ex09_sample_stats — statistics of n sampled ids (ex09_stats in
 *         exercises.h): unique_tokens; diversity = unique / n; entropy_bits =
 *         -sum c/n log2(c/n) over the count c of each distinct id;
 *         max_frequency = (largest count) / n. Leave stats->temperature alone.
 * Task 2: ex09_temperature_effects — for each t of EX09_TEMPERATURES
 *         (0.1, 0.5, 1, 1.5, 2): n_samples draws from softmax(logits / t)
 *         into row t of samples, and their statistics (temperature filled in).
 * Shapes: samples [n]; logits [V]; samples [5, n_samples]; stats [5].
 * Rules: n < 1, V < 1 or an id outside [0, V) is TT_ERR_ARG.
 * Hint:  count with an array of V ints. Draw with your ex02_temperature_sample
 *        (B = 1). Expect entropy and diversity to grow with t.
 * Check: make exercises EX=9   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex09_sample_stats(const int *samples, int n, int V, ex09_stats *stats)
{
    (void)samples, (void)n, (void)V, (void)stats;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex09_temperature_effects(const float *logits, int V, int n_samples, tt_rng *rng,
                                   int *samples, ex09_stats *stats)
{
    (void)logits, (void)V, (void)n_samples, (void)rng, (void)samples, (void)stats;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
