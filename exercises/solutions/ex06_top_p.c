/*
 * Exercise 06 — top-p (nucleus) sampling: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex06_top_p.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: logits [V] or [B, V]; probs [V]; out [B].
 */
#include <math.h>
#include <stdlib.h>

#include "exercises.h"

typedef struct {
    double p;
    int id;
} candidate;

/* Most probable first, ties to the lower id (deterministic). */
static int by_prob_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

tt_status ex06_top_p_filter(const float *logits, int V, float p, float temperature, float *probs)
{
    if (!logits || !probs || V < 1)
        return TT_ERR_ARG;
    if (!(p > 0.0f && p <= 1.0f)) /* written so that NaN fails too */
        return TT_ERR_ARG;
    if (!isfinite(temperature) || !(temperature >= 0.0f)) /* 0 is greedy; NaN fails */
        return TT_ERR_ARG;

    float maxv = -INFINITY;
    for (int v = 0; v < V; v++) {
        if (isnan(logits[v]) || logits[v] == INFINITY)
            return TT_ERR_ARG;
        if (logits[v] > maxv)
            maxv = logits[v];
    }
    if (maxv == -INFINITY)
        return TT_ERR_ARG;

    if (temperature == 0.0f) {
        /* Temperature 0 means greedy: the limit of softmax(z / T) as T -> 0
         * is one-hot on the argmax (the lowest id on a tie), whatever the
         * cut; dividing by T would give 0 / 0 = NaN for the top token. */
        int best = 0;
        while (logits[best] != maxv)
            best++;
        for (int v = 0; v < V; v++)
            probs[v] = 0.0f;
        probs[best] = 1.0f;
        return TT_OK;
    }

    candidate *c = malloc((size_t)V * sizeof *c); /* [V] */
    if (!c)
        return TT_ERR_NOMEM;
    /* Here we DO need normalised probabilities: p is a fraction of the total. */
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        c[v].p = exp(((double)logits[v] - maxv) / temperature);
        c[v].id = v;
        sum += c[v].p;
    }
    for (int v = 0; v < V; v++)
        c[v].p /= sum;
    qsort(c, (size_t)V, sizeof *c, by_prob_desc);

    /* Find the nucleus: the first n tokens whose mass reaches p. */
    int n = 0;
    double cum = 0.0;
    while (n < V && c[n].p > 0.0) {
        cum += c[n].p;
        n++;
        if (cum >= p)
            break; /* the crossing token is already counted in n: kept */
    }
    /* If rounding left cum a hair below p = 1, n covers every token of
     * non-zero probability, which is exactly what p = 1 means. */

    for (int v = 0; v < V; v++)
        probs[v] = 0.0f;
    for (int i = 0; i < n; i++)
        probs[c[i].id] = (float)(c[i].p / cum);
    free(c);
    return TT_OK;
}

tt_status ex06_top_p_sample(const float *logits, int B, int V, float p, float temperature,
                            tt_rng *rng, int *out)
{
    if (!logits || !rng || !out || B < 1 || V < 1)
        return TT_ERR_ARG;
    float *probs = malloc((size_t)V * sizeof *probs); /* [V] */
    if (!probs)
        return TT_ERR_NOMEM;
    tt_status st = TT_OK;
    for (int b = 0; b < B && st == TT_OK; b++) {
        st = ex06_top_p_filter(logits + (size_t)b * (size_t)V, V, p, temperature, probs);
        if (st == TT_OK && temperature == 0.0f) {
            /* Greedy: the one-hot's token, and no random number is drawn
             * (as in the library), so the rng stream is left as it was. */
            int id = 0;
            while (probs[id] == 0.0f)
                id++;
            out[b] = id;
        } else if (st == TT_OK) {
            st = ex02_sample_from_probs(probs, V, rng, &out[b]);
        }
    }
    free(probs);
    return st;
}
