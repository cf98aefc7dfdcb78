/*
 * Log-probabilities of tokens: of a generated token and its top alternatives
 * (from the raw logits or from the chain's distribution), and of every token
 * of a text given the ones before it (the forward pass of tt eval).
 *
 * Legend: V = vocabulary size, N = top alternatives (<= TT_MAX_LOGPROBS),
 * T = positions in one window.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tt/generate.h"
#include "tt/sampling.h"

/* Inserts (id, v) into the descending list top[0..*n) of at most cap entries
 * (ties: the lower id first, which the id order of the scan gives). */
static void top_insert(tt_top_logprob *top, int *n, int cap, int id, float v) {
    if (cap == 0) return;
    if (*n == cap && !(v > top[cap - 1].logprob)) return;
    int i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && v > top[i - 1].logprob) {
        top[i] = top[i - 1];
        i--;
    }
    top[i].id = id;
    top[i].logprob = v;
}

tt_status tt_logprobs_from_logits(const float *logits, int V, int id, int top_n,
                                  tt_token_logprob *out, tt_error *err) {
    if (!logits || !out) return tt_error_set(err, TT_ERR_ARG, "logprobs: NULL argument");
    if (V < 1) return tt_error_set(err, TT_ERR_ARG, "logprobs: V must be >= 1, got %d", V);
    if (id < 0 || id >= V)
        return tt_error_set(err, TT_ERR_ARG, "logprobs: token %d is outside [0, %d)", id, V);
    if (top_n < 0 || top_n > TT_MAX_LOGPROBS)
        return tt_error_set(err, TT_ERR_ARG, "logprobs must be in [0, %d], got %d", TT_MAX_LOGPROBS,
                            top_n);
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) {
        if (isnan(logits[i]) || logits[i] == INFINITY)
            return tt_error_set(err, TT_ERR_ARG, "logprobs: logit %d is %s", i,
                                isnan(logits[i]) ? "NaN" : "+inf");
        mx = logits[i] > mx ? logits[i] : mx;
    }
    if (mx == -INFINITY) return tt_error_set(err, TT_ERR_ARG, "logprobs: every logit is -inf");
    double sum = 0.0;
    for (int i = 0; i < V; i++)
        sum += exp((double)logits[i] - mx);
    const double lse = (double)mx + log(sum);
    out->id = id;
    out->logprob = (float)((double)logits[id] - lse);
    out->n_top = 0;
    for (int i = 0; i < V; i++)
        if (logits[i] != -INFINITY)
            top_insert(out->top, &out->n_top, top_n, i, (float)((double)logits[i] - lse));
    return TT_OK;
}

tt_status tt_logprobs_from_probs(const float *probs, int V, int id, int top_n,
                                 tt_token_logprob *out, tt_error *err) {
    if (!probs || !out) return tt_error_set(err, TT_ERR_ARG, "logprobs: NULL argument");
    if (V < 1) return tt_error_set(err, TT_ERR_ARG, "logprobs: V must be >= 1, got %d", V);
    if (id < 0 || id >= V || !(probs[id] > 0.0f))
        return tt_error_set(err, TT_ERR_ARG, "logprobs: token %d is outside [0, %d) or has p = 0",
                            id, V);
    if (top_n < 0 || top_n > TT_MAX_LOGPROBS)
        return tt_error_set(err, TT_ERR_ARG, "logprobs must be in [0, %d], got %d", TT_MAX_LOGPROBS,
                            top_n);
    out->id = id;
    out->logprob = logf(probs[id]);
    out->n_top = 0;
    for (int i = 0; i < V; i++)
        if (probs[i] > 0.0f) top_insert(out->top, &out->n_top, top_n, i, logf(probs[i]));
    return TT_OK;
}

tt_status tt_model_token_logprobs(tt_model *m, const int *tokens, int n, int top_n,
                                  tt_token_logprob *out, tt_error *err) {
    if (!m || !tokens || !out)
        return tt_error_set(err, TT_ERR_ARG, "token_logprobs: NULL argument");
    if (n < 1) return tt_error_set(err, TT_ERR_ARG, "token_logprobs: n must be >= 1, got %d", n);
    if (top_n < 0 || top_n > TT_MAX_LOGPROBS)
        return tt_error_set(err, TT_ERR_ARG, "logprobs must be in [0, %d], got %d", TT_MAX_LOGPROBS,
                            top_n);
    const tt_model_config *mc = tt_model_get_config(m);
    const int V = mc->vocab_size, L = mc->max_len;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "token id %d at position %d is out of range [0, %d)", tokens[i], i,
                                V);
    memset(&out[0], 0, sizeof out[0]);
    out[0].id = tokens[0];
    out[0].n_top = -1;
    /* windows of up to L + 1 tokens starting every L tokens, as
     * tt_evaluate_tokens_window: each token after the first once */
    for (int start = 0; start + 1 < n; start += L) {
        const int T = (n - start < L + 1 ? n - start : L + 1) - 1;
        tt_status st =
            tt_model_forward(m, tokens + start, NULL, 1, T, TT_MODE_EVAL, NULL, NULL, err);
        if (st != TT_OK) return st;
        const float *lg = tt_model_logits(m); /* [1, T, V] */
        for (int t = 0; t < T; t++) {
            st = tt_logprobs_from_logits(lg + (size_t)t * V, V, tokens[start + t + 1], top_n,
                                         &out[start + t + 1], err);
            if (st != TT_OK) return st;
        }
    }
    return TT_OK;
}
