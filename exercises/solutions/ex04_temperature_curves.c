/*
 * Exercise 04 — temperature curves: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex04_temperature_curves.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: logits [V]; probs [EX04_N_TEMPERATURES, V]; entropy_bits [EX04_N_TEMPERATURES].
 */
#include <math.h>
#include <stddef.h>

#include "exercises.h"

tt_status ex04_temperature_curves(const float *logits, int V, float *probs, double *entropy_bits)
{
    if (!logits || !probs || !entropy_bits || V < 1)
        return TT_ERR_ARG;

    float maxv = -INFINITY;
    for (int v = 0; v < V; v++) {
        if (isnan(logits[v]) || logits[v] == INFINITY)
            return TT_ERR_ARG;
        if (logits[v] > maxv)
            maxv = logits[v];
    }
    if (maxv == -INFINITY)
        return TT_ERR_ARG; /* all masked: no distribution exists */

    const float temps[EX04_N_TEMPERATURES] = EX04_TEMPERATURES;
    for (int i = 0; i < EX04_N_TEMPERATURES; i++) {
        float *row = probs + (size_t)i * (size_t)V; /* [V] */
        /* Stable softmax of z / T: subtracting max(z) / T before exp keeps
         * every exponent <= 0, so nothing overflows even for logits of 1000. */
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += exp(((double)logits[v] - maxv) / temps[i]);
        double h = 0.0;
        for (int v = 0; v < V; v++) {
            double p = exp(((double)logits[v] - maxv) / temps[i]) / sum;
            row[v] = (float)p;
            if (p > 0.0) /* lim p->0 of p log p is 0: skip, don't compute log 0 */
                h -= p * log2(p);
        }
        entropy_bits[i] = h;
    }
    return TT_OK;
}
