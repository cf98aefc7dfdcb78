/*
 * Exercise 07 — using the generator: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex07_generator.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: prompts [B, T] row-major; out [B, T + max_new_tokens].
 */
#include <stdlib.h>
#include <string.h>

#include "exercises.h"

tt_status ex07_generate(const tt_model *model, const int *prompts, int B, int T,
                        int max_new_tokens, float temperature, uint64_t seed, int *out)
{
    if (!model || !prompts || !out || B < 1 || T < 1 || max_new_tokens < 1)
        return TT_ERR_ARG;

    /* Defaults first, so a field added to the config later still gets a
     * sensible value; then only what this exercise asks for. */
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = max_new_tokens;
    gc.sampling.temperature = temperature;
    gc.sampling.strategy = TT_STRATEGY_COMBINED;
    gc.seed = seed;

    tt_generator *g = NULL;
    tt_error err;
    /* create validates the config (a negative temperature is TT_ERR_ARG,
     * 0 is greedy);
     * we pass its status on rather than inventing our own. */
    tt_status st = tt_generator_create(&g, model, &gc, &err);
    if (st != TT_OK)
        return st;

    /* The generator takes one pointer per row, because prompts may have
     * different lengths; ours all have T. */
    const int **rows = malloc((size_t)B * sizeof *rows);
    int *lens = malloc((size_t)B * sizeof *lens);
    tt_generation *res = calloc((size_t)B, sizeof *res);
    if (!rows || !lens || !res) {
        st = TT_ERR_NOMEM;
        goto done;
    }
    for (int b = 0; b < B; b++) {
        rows[b] = prompts + (size_t)b * (size_t)T;
        lens[b] = T;
    }

    st = tt_generator_generate(g, rows, lens, B, NULL, NULL, NULL, NULL, res, &err);
    if (st != TT_OK)
        goto done;

    /* Without an EOS every row has exactly T + max_new_tokens tokens
     * (prompt included). We check rather than assume: copying a shorter
     * array would read past its end. */
    const int W = T + max_new_tokens;
    for (int b = 0; b < B; b++) {
        if (res[b].n_tokens != W) {
            st = TT_ERR_STATE;
            goto done;
        }
        memcpy(out + (size_t)b * (size_t)W, res[b].tokens, (size_t)W * sizeof *out);
    }

done:
    if (res)
        tt_generations_free(res, B); /* frees each row's tokens, not res */
    free(res);
    free(lens);
    free(rows);
    tt_generator_free(g);
    return st;
}
