/*
 * Exercise 11 — comparing all strategies: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex11_compare_all.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: prompt [T]; out [EX11_N_STRATEGIES, T + max_new_tokens].
 */
#include <stdbool.h>
#include <string.h>

#include "exercises.h"

typedef struct {
    bool do_sample;
    float temperature;
    int top_k;   /* 0 = off */
    float top_p; /* 1 = off */
} strategy;

/* In the order of EX11_STRATEGY_NAMES. Unmentioned settings keep the
 * generator's defaults: temperature 1, top-k off, top-p off. */
static const strategy strategies[EX11_N_STRATEGIES] = {
    {false, 1.0f, 0, 1.0f},   /* greedy: do_sample off ignores the rest */
    {true, 0.5f, 0, 1.0f},    /* temp_0.5 */
    {true, 1.0f, 0, 1.0f},    /* temp_1.0 */
    {true, 2.0f, 0, 1.0f},    /* temp_2.0 */
    {true, 1.0f, 10, 1.0f},   /* top_k_10 */
    {true, 1.0f, 50, 1.0f},   /* top_k_50 */
    {true, 1.0f, 0, 0.9f},    /* top_p_0.9 */
    {true, 1.0f, 0, 0.95f},   /* top_p_0.95 */
    {true, 0.8f, 50, 0.9f},   /* combined */
};

tt_status ex11_compare_all(const tt_model *model, const int *prompt, int T, int max_new_tokens,
                           uint64_t seed, int *out)
{
    if (!model || !prompt || !out || T < 1 || max_new_tokens < 1)
        return TT_ERR_ARG;
    const int W = T + max_new_tokens;
    for (int s = 0; s < EX11_N_STRATEGIES; s++) {
        tt_generator_config gc = tt_generator_config_default();
        gc.max_new_tokens = max_new_tokens;
        gc.seed = seed; /* the SAME seed for every strategy */
        gc.sampling.strategy = strategies[s].do_sample ? TT_STRATEGY_COMBINED : TT_STRATEGY_GREEDY;
        gc.sampling.temperature = strategies[s].temperature;
        gc.sampling.top_k = strategies[s].top_k;
        gc.sampling.top_p = strategies[s].top_p;

        tt_generator *g = NULL;
        tt_error err;
        tt_status st = tt_generator_create(&g, model, &gc, &err);
        if (st != TT_OK)
            return st;
        const int *rows[1] = {prompt};
        int lens[1] = {T};
        tt_generation res[1];
        memset(res, 0, sizeof res);
        st = tt_generator_generate(g, rows, lens, 1, NULL, NULL, NULL, NULL, res, &err);
        if (st == TT_OK && res[0].n_tokens != W) /* no EOS: always the full width */
            st = TT_ERR_STATE;
        if (st == TT_OK)
            memcpy(out + (size_t)s * W, res[0].tokens, (size_t)W * sizeof *out);
        tt_generations_free(res, 1);
        tt_generator_free(g);
        if (st != TT_OK)
            return st;
    }
    return TT_OK;
}
