/*
 * Exercise 09 — temperature effects: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex09_temperature_effects.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: samples [n] (ex09_sample_stats); logits [V], samples
 * [EX09_N_TEMPERATURES, n_samples], stats [EX09_N_TEMPERATURES].
 */
#include <math.h>
#include <stdlib.h>

#include "exercises.h"

tt_status ex09_sample_stats(const int *samples, int n, int V, ex09_stats *stats)
{
    if (!samples || !stats || n < 1 || V < 1)
        return TT_ERR_ARG;
    /* A count per id: V is small here. (For a huge vocabulary you would
     * sort the n samples instead and count runs: O(n log n), no V.) */
    int *count = calloc((size_t)V, sizeof *count);
    if (!count)
        return TT_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        if (samples[i] < 0 || samples[i] >= V) {
            free(count);
            return TT_ERR_ARG;
        }
        count[samples[i]]++;
    }
    int unique = 0, max_count = 0;
    double h = 0.0;
    for (int v = 0; v < V; v++) {
        if (count[v] == 0)
            continue; /* unseen ids contribute nothing (0 log 0 = 0) */
        unique++;
        if (count[v] > max_count)
            max_count = count[v];
        double p = (double)count[v] / n;
        h -= p * log2(p);
    }
    free(count);
    stats->unique_tokens = unique;
    stats->diversity = (double)unique / n;
    stats->entropy_bits = h;
    stats->max_frequency = (double)max_count / n;
    return TT_OK;
}

tt_status ex09_temperature_effects(const float *logits, int V, int n_samples, tt_rng *rng,
                                   int *samples, ex09_stats *stats)
{
    if (!logits || !rng || !samples || !stats || V < 1 || n_samples < 1)
        return TT_ERR_ARG;
    const float temps[EX09_N_TEMPERATURES] = EX09_TEMPERATURES;
    for (int t = 0; t < EX09_N_TEMPERATURES; t++) {
        int *row = samples + (size_t)t * (size_t)n_samples;
        /* One draw at a time from the same row of logits: the draws are
         * independent, so this is n_samples samples of one distribution. */
        for (int i = 0; i < n_samples; i++) {
            tt_status st = ex02_temperature_sample(logits, 1, V, temps[t], rng, &row[i]);
            if (st != TT_OK)
                return st;
        }
        tt_status st = ex09_sample_stats(row, n_samples, V, &stats[t]);
        if (st != TT_OK)
            return st;
        stats[t].temperature = temps[t];
    }
    return TT_OK;
}
