/*
 * Exercise 13 — temperature schedules: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex13_temperature_schedule.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: prompts [B, T]; seq [B, T + step]; logits [B, T + step, V];
 * out [B, T + max_new_tokens].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exercises.h"

tt_status ex13_temperature_at(const char *schedule, int step, int max_new_tokens,
                              float start_temp, float end_temp, float *temperature)
{
    if (!schedule || !temperature || max_new_tokens < 1 || step < 0 || step >= max_new_tokens)
        return TT_ERR_ARG;
    /* A temperature may be 0 (greedy at that step); negative, NaN or inf is
     * an error. Written as !(x >= 0) so that NaN fails too. */
    if (!isfinite(start_temp) || !isfinite(end_temp) || !(start_temp >= 0.0f) ||
        !(end_temp >= 0.0f))
        return TT_ERR_ARG;

    int denom = max_new_tokens - 1 > 1 ? max_new_tokens - 1 : 1;
    double progress = (double)step / denom; /* in [0, 1] */
    double s = start_temp, e = end_temp, t;
    if (strcmp(schedule, "linear") == 0)
        t = s + (e - s) * progress;
    else if (strcmp(schedule, "exponential") == 0)
        /* With both ends > 0, s * (e / s)^progress. With an end at 0 (greedy)
         * e / s has no value, so we take the same curve in its other form,
         * s^(1 - progress) * e^progress (its limit as an end goes to 0):
         * with e = 0, s at the first step and 0 (greedy) after it; with
         * s = 0, 0 until the last step, which is at e (C's pow gives
         * pow(0, 0) = 1 and pow(0, x) = 0 for x > 0). */
        t = (s > 0.0 && e > 0.0) ? s * pow(e / s, progress)
                                 : pow(s, 1.0 - progress) * pow(e, progress);
    else if (strcmp(schedule, "cosine") == 0)
        t = e + (s - e) * 0.5 * (1.0 + cos(M_PI * progress));
    else
        return TT_ERR_ARG; /* an unknown name is an error, never a silent default */
    *temperature = (float)t;
    return TT_OK;
}

tt_status ex13_generate(tt_model *model, const int *prompts, int B, int T, int max_new_tokens,
                        float start_temp, float end_temp, const char *schedule, tt_rng *rng,
                        int *out)
{
    if (!model || !prompts || !schedule || !rng || !out || B < 1 || T < 1 || max_new_tokens < 1)
        return TT_ERR_ARG;
    const tt_model_config *cfg = tt_model_get_config(model);
    const int V = cfg->vocab_size;
    if (T + max_new_tokens > cfg->max_len)
        return TT_ERR_ARG;
    float t0;
    /* Validate the schedule and temperatures once, before any work. */
    tt_status st = ex13_temperature_at(schedule, 0, max_new_tokens, start_temp, end_temp, &t0);
    if (st != TT_OK)
        return st;

    const int W = T + max_new_tokens;
    tt_error err;
    tt_sampler *sampler = NULL;
    int *seq = malloc((size_t)B * (size_t)W * sizeof *seq);
    if (!seq)
        return TT_ERR_NOMEM;
    st = tt_sampler_create(&sampler, V, &err);
    if (st != TT_OK)
        goto done;
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * W, prompts + (size_t)b * T, (size_t)T * sizeof *out);

    tt_sampling_params sp = tt_sampling_params_default();
    sp.strategy = TT_STRATEGY_TEMPERATURE;
    for (int step = 0; step < max_new_tokens; step++) {
        /* The only difference from a plain generation loop: the
         * temperature is recomputed every step. */
        st = ex13_temperature_at(schedule, step, max_new_tokens, start_temp, end_temp,
                                 &sp.temperature);
        if (st != TT_OK)
            goto done;
        const int L = T + step;
        for (int b = 0; b < B; b++)
            memcpy(seq + (size_t)b * L, out + (size_t)b * W, (size_t)L * sizeof *seq);
        st = tt_model_forward(model, seq, NULL, B, L, TT_MODE_EVAL, NULL, NULL, &err);
        if (st != TT_OK)
            goto done;
        const float *logits = tt_model_logits(model); /* [B, L, V] */
        for (int b = 0; b < B; b++) {
            const float *last = logits + ((size_t)b * L + (size_t)(L - 1)) * V;
            st = tt_sampler_sample(sampler, &sp, last, rng, &out[(size_t)b * W + L], &err);
            if (st != TT_OK)
                goto done;
        }
    }

done:
    tt_sampler_free(sampler);
    free(seq);
    return st;
}
