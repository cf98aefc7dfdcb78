/*
 * Exercise 02 — temperature sampling: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex02_temperature.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: probs [V]; logits [B, V]; out [B].
 */
#include <math.h>
#include <stdlib.h>

#include "exercises.h"

tt_status ex02_sample_from_probs(const float *probs, int V, tt_rng *rng, int *token)
{
    if (!probs || !rng || !token || V < 1)
        return TT_ERR_ARG;

    /* Sum in double: summing many small floats in float loses precision. We
     * also do not assume the sum is exactly 1 (it rarely is after rounding):
     * scaling u by the sum makes the draw correct either way. */
    double total = 0.0;
    for (int v = 0; v < V; v++) {
        if (!(probs[v] >= 0.0f)) /* also catches NaN: NaN >= 0 is false */
            return TT_ERR_ARG;
        total += probs[v];
    }
    if (!(total > 0.0) || !isfinite(total))
        return TT_ERR_ARG;

    double target = tt_rng_uniform(rng) * total; /* in [0, total) */
    double cum = 0.0;
    int last_nonzero = -1;
    for (int v = 0; v < V; v++) {
        if (probs[v] <= 0.0f)
            continue; /* a zero-probability token owns an empty interval */
        cum += probs[v];
        last_nonzero = v;
        if (target < cum) {
            *token = v;
            return TT_OK;
        }
    }
    /* Rounding can leave target a hair above the final running sum; the
     * last token of non-zero probability owns that end of the interval. */
    *token = last_nonzero;
    return TT_OK;
}

tt_status ex02_temperature_sample(const float *logits, int B, int V, float temperature,
                                  tt_rng *rng, int *out)
{
    if (!logits || !rng || !out || B < 1 || V < 1)
        return TT_ERR_ARG;
    /* T = 0 is allowed: it means greedy (below). Written so that NaN fails. */
    if (!isfinite(temperature) || !(temperature >= 0.0f))
        return TT_ERR_ARG;

    float *probs = malloc((size_t)V * sizeof *probs); /* [V] scratch */
    if (!probs)
        return TT_ERR_NOMEM;

    tt_status st = TT_OK;
    for (int b = 0; b < B && st == TT_OK; b++) {
        const float *row = logits + (size_t)b * (size_t)V;
        /* Numerically stable softmax: subtract the largest scaled logit
         * first, so exp() never overflows (exp(1000) is inf in float) and
         * the largest term is exp(0) = 1. The result is unchanged, because
         * softmax(z) = softmax(z - c) for any constant c. */
        float maxv = -INFINITY;
        for (int v = 0; v < V; v++)
            if (row[v] > maxv)
                maxv = row[v];
        if (maxv == -INFINITY) { /* every token masked: nothing to draw */
            st = TT_ERR_ARG;
            break;
        }
        if (temperature == 0.0f) {
            /* Temperature 0 means greedy: as T -> 0, softmax(z / T) puts all
             * its mass on the largest logit, so the "draw" is the argmax (the
             * first, lowest id on a tie). Nothing is random, so no number is
             * taken from rng, as in the library's sampler. Dividing by T here
             * would give 0 / 0 = NaN for the top token. */
            int best = -1;
            for (int v = 0; v < V && st == TT_OK; v++) {
                if (isnan(row[v]) || row[v] == INFINITY)
                    st = TT_ERR_ARG; /* no argmax of a NaN or +inf logit */
                else if (best < 0 && row[v] == maxv)
                    best = v;
            }
            if (st == TT_OK)
                out[b] = best;
            continue;
        }
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            /* exp(-inf) = 0: a masked token gets probability 0. */
            double e = exp(((double)row[v] - maxv) / temperature);
            probs[v] = (float)e;
            sum += e;
        }
        for (int v = 0; v < V; v++)
            probs[v] = (float)(probs[v] / sum);
        st = ex02_sample_from_probs(probs, V, rng, &out[b]);
    }
    free(probs);
    return st;
}
