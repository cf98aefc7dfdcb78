/*
 * Exercise 11 — comparing all strategies (Hard)
 *
 * Why:
 *   Nine generator runs from the same prompt with the same seed, one per
 *   strategy. Same prompt and seed make the comparison fair: the differences
 *   come from the strategy, not from luck. Print them side by side (the
 *   tt CLI's `tt generate` and `tt diversity` do that) and you will see greedy
 *   repeat itself, temp_2.0 fall apart, and top-k / top-p / combined sit in
 *   between.
 *
 *   Each strategy is a table row, not a copy of the same ten lines: adding a
 *   strategy is adding a row.
 *
 * Task:  nine generations from the same prompt and seed, one tt_generator run
 *        each, in the order of EX11_STRATEGY_NAMES:
 *          greedy       sampling.strategy = TT_STRATEGY_GREEDY
 *          temp_0.5     temperature 0.5
 *          temp_1.0     temperature 1.0
 *          temp_2.0     temperature 2.0
 *          top_k_10     top_k 10  (temperature 1)
 *          top_k_50     top_k 50  (temperature 1)
 *          top_p_0.9    top_p 0.9 (temperature 1)
 *          top_p_0.95   top_p 0.95 (temperature 1)
 *          combined     temperature 0.8, top_k 50, top_p 0.9
 *        Every run: tt_generator_config_default() with max_new_tokens and
 *        seed set, plus the strategy's settings.
 * Shapes: prompt [T]; out [9, T + max_new_tokens], row s = prompt + tokens of
 *        strategy s.
 * Hint:  a table of the nine settings and one loop beat nine copies of the
 *        same code. Then print the rows (tt_tokenizer_decode) and compare.
 * Check: make exercises EX=11   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex11_compare_all(const tt_model *model, const int *prompt, int T, int max_new_tokens,
                           uint64_t seed, int *out)
{
    (void)model, (void)prompt, (void)T, (void)max_new_tokens, (void)seed, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
