/*
 * Exercise 13 — temperature schedules (Very Hard)
 *
 * Why:
 *   One temperature for a whole text is a compromise. A schedule changes it as
 *   the text grows: start hot (2.0) to explore different openings, end cool
 *   (0.5) to finish coherently. Three shapes between the same endpoints:
 *    - linear: the same change every step;
 *    - exponential: the same RATIO every step, i.e. linear in log T; it
 *      drops fast at first (halfway it is the geometric mean, 1.0 here);
 *    - cosine: flat at both ends, steepest in the middle; halfway it is the
 *      arithmetic mean (1.25 here), like linear.
 *   progress = step / max(max_new_tokens - 1, 1) runs from 0 at the first step
 *   to exactly 1 at the last, so the last token really is drawn at end_temp.
 *   (step / max_new_tokens would never reach it.)
 *
 * Task 1: ex13_temperature_at — the temperature at step (0-based) of
 *         max_new_tokens steps, with progress = step / max(max_new_tokens - 1, 1):
 *           "linear"       start + (end - start) * progress
 *           "exponential"  start * (end / start) ^ progress
 *           "cosine"       end + (start - end) * (1 + cos(pi * progress)) / 2
 *         so step 0 is at start_temp and the last step exactly at end_temp.
 *         A temperature may be 0 (greedy at that step). With an end at 0,
 *         "exponential" is the limit of start^(1 - progress) * end^progress
 *         (the same curve written without end / start): 0 between the ends.
 * Task 2: ex13_generate — the loop of exercise 10 (one tt_model_forward per
 *         step on [B, T + step], last position's logits), without EOS; each
 *         row, in order, draws with tt_sampler_sample, TT_STRATEGY_TEMPERATURE
 *         at ex13_temperature_at(step), from rng.
 * Shapes: prompts [B, T]; out [B, T + max_new_tokens].
 * Rules: an unknown schedule name, step outside [0, max_new_tokens), a
 *        temperature not finite and >= 0, or T + max_new_tokens > max_len is
 *        TT_ERR_ARG.
 * Hint:  from 2.0 to 0.5, halfway is 1.25 (linear, cosine) or 1.0 (exponential).
 * Check: make exercises EX=13   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex13_temperature_at(const char *schedule, int step, int max_new_tokens,
                              float start_temp, float end_temp, float *temperature)
{
    (void)schedule, (void)step, (void)max_new_tokens, (void)start_temp, (void)end_temp,
        (void)temperature;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex13_generate(tt_model *model, const int *prompts, int B, int T, int max_new_tokens,
                        float start_temp, float end_temp, const char *schedule, tt_rng *rng,
                        int *out)
{
    (void)model, (void)prompts, (void)B, (void)T, (void)max_new_tokens, (void)start_temp,
        (void)end_temp, (void)schedule, (void)rng, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
