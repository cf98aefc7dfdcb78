/*
 * Exercise 08 — combined sampling: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex08_combined.c,
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

static int by_prob_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

tt_status ex08_combined_filter(const float *logits, int V, float temperature, int top_k,
                               float top_p, float *probs)
{
    if (!logits || !probs || V < 1 || top_k < 0)
        return TT_ERR_ARG;
    if (!(top_p > 0.0f && top_p <= 1.0f))
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

    /* 1. Temperature: unnormalised softmax(z / T). */
    for (int v = 0; v < V; v++) {
        c[v].p = exp(((double)logits[v] - maxv) / temperature);
        c[v].id = v;
    }
    /* One sort serves both filters: both keep a prefix of this order. */
    qsort(c, (size_t)V, sizeof *c, by_prob_desc);

    /* 2. Top-k: keep the first k; 0 means off. */
    int n = (top_k > 0 && top_k < V) ? top_k : V;

    /* Renormalise over the top-k survivors, so top-p measures a fraction
     * of THEIR mass. */
    double mass = 0.0;
    for (int i = 0; i < n; i++)
        mass += c[i].p;

    /* 3. Top-p on the renormalised list: the shortest prefix whose mass
     * reaches top_p, the crossing token kept (exercise 06). With top_p = 1
     * the walk simply keeps every token of non-zero probability. */
    int m = 0;
    double cum = 0.0;
    while (m < n && c[m].p > 0.0) {
        cum += c[m].p / mass;
        m++;
        if (cum >= top_p)
            break;
    }

    double kept = 0.0;
    for (int i = 0; i < m; i++)
        kept += c[i].p;
    for (int v = 0; v < V; v++)
        probs[v] = 0.0f;
    for (int i = 0; i < m; i++)
        probs[c[i].id] = (float)(c[i].p / kept);
    free(c);
    return TT_OK;
}

tt_status ex08_combined_sample(const float *logits, int B, int V, float temperature, int top_k,
                               float top_p, tt_rng *rng, int *out)
{
    if (!logits || !rng || !out || B < 1 || V < 1)
        return TT_ERR_ARG;
    float *probs = malloc((size_t)V * sizeof *probs); /* [V] */
    if (!probs)
        return TT_ERR_NOMEM;
    tt_status st = TT_OK;
    for (int b = 0; b < B && st == TT_OK; b++) {
        st = ex08_combined_filter(logits + (size_t)b * (size_t)V, V, temperature, top_k, top_p,
                                  probs);
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
