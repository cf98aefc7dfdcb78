/*
 * Exercise 14 — story continuation: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex14_story.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: ctx [n_ctx] token ids of the story so far (prompt included).
 */
#include <stdlib.h>
#include <string.h>

#include "exercises.h"

#define CHUNK_TOKENS 50

tt_status ex14_continue_story(const tt_model *model, const tt_tokenizer *tok,
                              const char *story_start, int num_sentences, float temperature,
                              int top_k, float top_p, uint64_t seed, char **continuation)
{
    if (!model || !tok || !story_start || !continuation || num_sentences < 1)
        return TT_ERR_ARG;
    *continuation = NULL;

    tt_error err;
    int *ctx = NULL;
    size_t n_ctx = 0;
    tt_status st = tt_tokenizer_encode(tok, story_start, strlen(story_start), &ctx, &n_ctx, &err);
    if (st != TT_OK)
        return st;
    const size_t n_prompt = n_ctx;
    if (n_prompt == 0) {
        free(ctx);
        return TT_ERR_ARG;
    }
    /* The sentence end as a token id; a vocabulary without '.' simply never
     * ends a sentence, and the safety limit stops the loop. */
    int dot = -1;
    if (tt_tokenizer_id(tok, '.', &dot) != TT_OK)
        dot = -1;
    const size_t limit = n_prompt + (size_t)num_sentences * CHUNK_TOKENS;

    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = CHUNK_TOKENS;
    gc.sampling.temperature = temperature;
    gc.sampling.top_k = top_k;
    gc.sampling.top_p = top_p;
    gc.seed = seed;
    tt_generator *g = NULL;
    char *text = NULL;
    st = tt_generator_create(&g, model, &gc, &err);
    if (st != TT_OK)
        goto done;

    int sentences = 0;
    for (uint64_t c = 0; sentences < num_sentences; c++) {
        tt_generate_overrides ov = {.set = TT_OVR_SEED, .values = gc};
        ov.values.seed = seed + c;
        const int *rows[1] = {ctx};
        int lens[1] = {(int)n_ctx};
        tt_generation res[1];
        memset(res, 0, sizeof res);
        st = tt_generator_generate(g, rows, lens, 1, &ov, NULL, NULL, NULL, res, &err);
        if (st != TT_OK) {
            tt_generations_free(res, 1);
            goto done;
        }
        /* res[0].tokens = context + up to 50 new tokens. Keep the new ones up
         * to and including the first '.', or all of them. */
        size_t keep = (size_t)res[0].n_tokens;
        int ended = 0;
        for (size_t i = n_ctx; i < (size_t)res[0].n_tokens; i++)
            if (res[0].tokens[i] == dot) {
                keep = i + 1;
                ended = 1;
                break;
            }
        int *grown = realloc(ctx, keep * sizeof *ctx);
        if (!grown) {
            tt_generations_free(res, 1);
            st = TT_ERR_NOMEM;
            goto done;
        }
        ctx = grown;
        memcpy(ctx + n_ctx, res[0].tokens + n_ctx, (keep - n_ctx) * sizeof *ctx);
        n_ctx = keep;
        tt_generations_free(res, 1);
        if (ended)
            sentences++;
        else if (n_ctx > limit)
            break; /* safety: the model is not ending sentences */
    }

    /* Decode only what follows the prompt (one token per character, so the
     * prompt is exactly the first n_prompt ids), then trim whitespace. */
    st = tt_tokenizer_decode(tok, ctx + n_prompt, n_ctx - n_prompt, &text, &err);
    if (st != TT_OK)
        goto done;
    {
        const char *ws = " \n\t\r";
        size_t a = strspn(text, ws), len = strlen(text);
        while (len > a && strchr(ws, text[len - 1]))
            len--;
        memmove(text, text + a, len - a);
        text[len - a] = '\0';
    }
    *continuation = text;
    text = NULL;

done:
    free(text);
    tt_generator_free(g);
    free(ctx);
    return st;
}

tt_status ex14_style_params(const char *style, float *temperature, int *top_k, float *top_p)
{
    if (!style || !temperature || !top_k || !top_p)
        return TT_ERR_ARG;
    static const struct {
        const char *name;
        float temperature;
        int top_k;
        float top_p;
    } presets[] = {
        {"fantasy", 0.9f, 50, 0.92f}, /* warm and wide: invention      */
        {"scifi", 0.8f, 60, 0.9f},    /* technical, with room to roam  */
        {"mystery", 0.7f, 40, 0.85f}, /* cool and narrow: logic        */
        {"romance", 0.85f, 45, 0.88f},
    };
    *temperature = 0.8f; /* any other style: the general-purpose default */
    *top_k = 50;
    *top_p = 0.9f;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(style, presets[i].name) == 0) {
            *temperature = presets[i].temperature;
            *top_k = presets[i].top_k;
            *top_p = presets[i].top_p;
        }
    return TT_OK;
}

tt_status ex14_generate_with_style(const tt_model *model, const tt_tokenizer *tok,
                                   const char *story_start, const char *style,
                                   int num_sentences, uint64_t seed, char **continuation)
{
    float t, p;
    int k;
    tt_status st = ex14_style_params(style, &t, &k, &p);
    if (st != TT_OK)
        return st;
    return ex14_continue_story(model, tok, story_start, num_sentences, t, k, p, seed,
                               continuation);
}
