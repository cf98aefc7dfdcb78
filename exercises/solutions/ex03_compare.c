/*
 * Exercise 03 — greedy against temperature: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex03_compare.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: logits [V]; samples [EX03_N_STRATEGIES, n_samples], row s for the
 * strategy EX03_STRATEGY_NAMES[s].
 */
#include <stddef.h>

#include "exercises.h"

tt_status ex03_compare(const float *logits, int V, int n_samples, tt_rng *rng, int *samples)
{
    if (!logits || !rng || !samples || V < 1 || n_samples < 1)
        return TT_ERR_ARG;

    /* Row 0: greedy. Calling it n_samples times is wasteful on purpose: it
     * demonstrates that every call gives the same answer. */
    for (int i = 0; i < n_samples; i++) {
        tt_status st = ex01_greedy(logits, 1, V, &samples[i]);
        if (st != TT_OK)
            return st;
    }

    /* Rows 1..3: temperature 0.5, 1.0, 2.0 (the order of the names). Each
     * draw is a batch of one row. */
    const float temps[3] = {0.5f, 1.0f, 2.0f};
    for (int s = 0; s < 3; s++) {
        int *row = samples + (size_t)(s + 1) * (size_t)n_samples;
        for (int i = 0; i < n_samples; i++) {
            tt_status st = ex02_temperature_sample(logits, 1, V, temps[s], rng, &row[i]);
            if (st != TT_OK)
                return st;
        }
    }
    return TT_OK;
}
