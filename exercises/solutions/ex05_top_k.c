/*
 * Exercise 05 — top-k sampling: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex05_top_k.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: logits [V] or [B, V]; probs [V]; out [B].
 */
#include <math.h>
#include <stdlib.h>

#include "exercises.h"

/* One candidate token: its probability and id. Sorting these (instead of the
 * probabilities alone) keeps track of which id each probability belongs to. */
typedef struct {
    double p;
    int id;
} candidate;

/* Most probable first; on equal probability the lower id first, so that the
 * result never depends on how qsort happens to order equal elements. */
static int by_prob_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

tt_status ex05_top_k_filter(const float *logits, int V, int k, float temperature, float *probs)
{
    if (!logits || !probs || V < 1 || k < 1)
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
    /* softmax(z / T), unnormalised: the normalising constant cancels when we
     * renormalise over the kept tokens below, so we never need it. */
    for (int v = 0; v < V; v++) {
        c[v].p = exp(((double)logits[v] - maxv) / temperature);
        c[v].id = v;
    }
    /* A full sort is O(V log V); a real sampler would use a partial sort or a
     * selection algorithm (O(V)), but the full sort is easiest to read. */
    qsort(c, (size_t)V, sizeof *c, by_prob_desc);

    int keep = k < V ? k : V;
    double kept_mass = 0.0;
    for (int i = 0; i < keep; i++)
        kept_mass += c[i].p;

    for (int v = 0; v < V; v++)
        probs[v] = 0.0f;
    for (int i = 0; i < keep; i++)
        probs[c[i].id] = (float)(c[i].p / kept_mass); /* renormalise: sums to 1 */
    free(c);
    return TT_OK;
}

tt_status ex05_top_k_sample(const float *logits, int B, int V, int k, float temperature,
                            tt_rng *rng, int *out)
{
    if (!logits || !rng || !out || B < 1 || V < 1)
        return TT_ERR_ARG;
    float *probs = malloc((size_t)V * sizeof *probs); /* [V] */
    if (!probs)
        return TT_ERR_NOMEM;
    tt_status st = TT_OK;
    /* Filter, then draw: the same two steps as tt_sampler_filter and
     * tt_sampler_sample in the library. The draw is exercise 02's. */
    for (int b = 0; b < B && st == TT_OK; b++) {
        st = ex05_top_k_filter(logits + (size_t)b * (size_t)V, V, k, temperature, probs);
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
