/*
 * Exercise 12 — a completion system: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex12_completion.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: ids [n]; logits [1, n, V]; completions/scores/order [n_completions].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exercises.h"

tt_status ex12_complete(const tt_model *model, const tt_tokenizer *tok, const char *prompt,
                        int n_completions, int max_new_tokens, float temperature, int top_k,
                        float top_p, uint64_t seed, char **completions)
{
    if (!model || !tok || !prompt || !completions || n_completions < 1 || max_new_tokens < 1)
        return TT_ERR_ARG;
    for (int i = 0; i < n_completions; i++)
        completions[i] = NULL; /* so that cleanup after an error is safe */

    tt_error err;
    int *ids = NULL;
    size_t n = 0;
    tt_status st = tt_tokenizer_encode(tok, prompt, strlen(prompt), &ids, &n, &err);
    if (st != TT_OK)
        return st;
    if (n == 0) { /* nothing to condition on */
        free(ids);
        return TT_ERR_ARG;
    }

    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = max_new_tokens;
    gc.sampling.temperature = temperature;
    gc.sampling.top_k = top_k;
    gc.sampling.top_p = top_p;
    gc.seed = seed;
    tt_generator *g = NULL;
    const int **rows = malloc((size_t)n_completions * sizeof *rows);
    int *lens = malloc((size_t)n_completions * sizeof *lens);
    tt_generation *res = calloc((size_t)n_completions, sizeof *res);
    if (!rows || !lens || !res) {
        st = TT_ERR_NOMEM;
        goto done;
    }
    st = tt_generator_create(&g, model, &gc, &err);
    if (st != TT_OK)
        goto done;

    /* A batch of identical prompts: row r samples from the random stream
     * (seed, r), so the rows differ, and the whole set is reproducible. */
    for (int r = 0; r < n_completions; r++) {
        rows[r] = ids;
        lens[r] = (int)n;
    }
    st = tt_generator_generate(g, rows, lens, n_completions, NULL, NULL, NULL, NULL, res, &err);
    if (st != TT_OK)
        goto done;
    for (int r = 0; r < n_completions && st == TT_OK; r++)
        st = tt_tokenizer_decode(tok, res[r].tokens, (size_t)res[r].n_tokens, &completions[r],
                                 &err); /* prompt included: tokens holds it */

done:
    if (st != TT_OK)
        for (int i = 0; i < n_completions; i++) {
            free(completions[i]);
            completions[i] = NULL;
        }
    if (res)
        tt_generations_free(res, n_completions);
    free(res);
    free(lens);
    free(rows);
    tt_generator_free(g);
    free(ids);
    return st;
}

tt_status ex12_mean_logprob(tt_model *model, const tt_tokenizer *tok, const char *prompt,
                            const char *text, double *mean_logprob)
{
    if (!model || !tok || !prompt || !text || !mean_logprob)
        return TT_ERR_ARG;
    size_t plen = strlen(prompt);
    if (strncmp(text, prompt, plen) != 0)
        return TT_ERR_ARG; /* text must continue the prompt */

    tt_error err;
    int *ids = NULL, *pids = NULL;
    size_t n = 0, np = 0;
    float *lp = NULL;
    tt_status st = tt_tokenizer_encode(tok, text, strlen(text), &ids, &n, &err);
    if (st == TT_OK)
        st = tt_tokenizer_encode(tok, prompt, plen, &pids, &np, &err);
    if (st != TT_OK)
        goto done;
    const tt_model_config *cfg = tt_model_get_config(model);
    /* Need a first token to condition on and at least one generated token. */
    if (np < 1 || n <= np || n > (size_t)cfg->max_len) {
        st = TT_ERR_ARG;
        goto done;
    }
    const int V = cfg->vocab_size;
    st = tt_model_forward(model, ids, NULL, 1, (int)n, TT_MODE_EVAL, NULL, NULL, &err);
    if (st != TT_OK)
        goto done;
    const float *logits = tt_model_logits(model); /* [1, n, V] */

    lp = malloc((size_t)V * sizeof *lp); /* [V] */
    if (!lp) {
        st = TT_ERR_NOMEM;
        goto done;
    }
    double total = 0.0;
    for (size_t i = np; i < n; i++) {
        /* log_softmax, not log(softmax): it is computed as z - logsumexp(z),
         * which stays accurate where softmax would round to 0. */
        st = tt_log_softmax(logits + (i - 1) * (size_t)V, V, lp, &err);
        if (st != TT_OK)
            goto done;
        total += lp[ids[i]];
    }
    *mean_logprob = total / (double)(n - np);

done:
    free(lp);
    free(pids);
    free(ids);
    return st;
}

tt_status ex12_rank(tt_model *model, const tt_tokenizer *tok, const char *prompt,
                    const char *const *completions, int n, int *order, double *scores)
{
    if (!model || !tok || !prompt || !completions || !order || !scores || n < 1)
        return TT_ERR_ARG;
    for (int i = 0; i < n; i++) {
        tt_status st = ex12_mean_logprob(model, tok, prompt, completions[i], &scores[i]);
        if (st != TT_OK)
            return st;
        order[i] = i;
    }
    /* Insertion sort on the indices, best score first. It is stable (equal
     * scores keep their input order) and n is a handful of completions. */
    for (int i = 1; i < n; i++) {
        int idx = order[i], j = i - 1;
        while (j >= 0 && scores[order[j]] < scores[idx]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = idx;
    }
    return TT_OK;
}
