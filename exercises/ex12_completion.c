/*
 * Exercise 12 — a completion system (Very Hard)
 *
 * Why:
 *   Text in, several candidate texts out, best first. Three parts:
 *    1. complete: encode the prompt, generate several continuations, decode;
 *    2. score: how likely does the model itself find each continuation?
 *    3. rank: sort by that score.
 *
 *   Scoring. By the chain rule, log P(x_np .. x_n-1 | prompt) is the sum of
 *   log p(x_i | x_<i) over the generated positions i; ONE forward pass over the
 *   whole text gives every term, because position i - 1's logits predict token
 *   i (the causal mask makes position i - 1 see only x_<i). We take the MEAN
 *   rather than the sum: a sum of negative numbers favours short texts, the
 *   mean compares texts of different lengths fairly. Only the generated tokens
 *   count: the prompt is the same for every completion.
 *
 * Task 1: ex12_complete — encode prompt; ONE tt_generator_generate call on a
 *         batch of n_completions copies of it (config: defaults plus
 *         max_new_tokens, temperature, top_k, top_p, seed); decode each row.
 *         completions[i] = malloc'ed text INCLUDING the prompt.
 * Task 2: ex12_mean_logprob — with x = ids of text (text = prompt + more) and
 *         n_p = the number of prompt ids: one tt_model_forward over x [1, n],
 *         then the mean over i = n_p .. n-1 of log_softmax(logits[i - 1])[x[i]]
 *         (position i - 1 predicts token i). Only generated tokens count.
 * Task 3: ex12_rank — scores[i] = ex12_mean_logprob of completions[i];
 *         order = the indices sorted by score, highest first (ties: lower
 *         index first).
 * Rules: text not starting with prompt, no generated token, or longer than
 *        max_len is TT_ERR_ARG; pass on tokenizer / model errors.
 * Hint:  tt_tokenizer_encode / _decode (caller frees), tt_log_softmax.
 *        Why the MEAN: a sum of log-probs always favours shorter texts.
 * Check: make exercises EX=12   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex12_complete(const tt_model *model, const tt_tokenizer *tok, const char *prompt,
                        int n_completions, int max_new_tokens, float temperature, int top_k,
                        float top_p, uint64_t seed, char **completions)
{
    (void)model, (void)tok, (void)prompt, (void)n_completions, (void)max_new_tokens,
        (void)temperature, (void)top_k, (void)top_p, (void)seed, (void)completions;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex12_mean_logprob(tt_model *model, const tt_tokenizer *tok, const char *prompt,
                            const char *text, double *mean_logprob)
{
    (void)model, (void)tok, (void)prompt, (void)text, (void)mean_logprob;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex12_rank(tt_model *model, const tt_tokenizer *tok, const char *prompt,
                    const char *const *completions, int n, int *order, double *scores)
{
    (void)model, (void)tok, (void)prompt, (void)completions, (void)n, (void)order, (void)scores;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
