/*
 * Exercise 14 — story continuation (Very Hard)
 *
 * Why:
 *   Generating a whole story in one call gives no control over where it stops.
 *   Here we work in sentences: generate a chunk (at most 50 tokens), cut it at
 *   the first '.', append that sentence to the context, and go again from the
 *   longer context — the next sentence sees the previous ones. A chunk with no
 *   '.' is kept whole and generation continues from it; a safety limit stops
 *   a model that never ends a sentence.
 *
 *   Each chunk uses seed + c (c = chunk number): reproducible as a whole, yet
 *   each chunk draws fresh random numbers. (Re-using one seed for every chunk
 *   would restart the same random stream each time: correlated draws.)
 *
 *   Styles are just presets of (temperature, top_k, top_p): mystery is the
 *   coolest and narrowest (logical, coherent), fantasy the warmest and widest.
 *
 * Task 1: ex14_continue_story — the context starts as the ids of
 *         story_start. Chunk c = 0, 1, 2, ...: one tt_generator_generate on
 *         the context with max_new_tokens 50, temperature, top_k, top_p and
 *         seed + c (a TT_OVR_SEED override, or a new config per chunk).
 *           - if the chunk's NEW tokens contain '.', append them up to and
 *             including the first '.'; that is one sentence;
 *           - otherwise append all 50; if the context is now longer than
 *             (prompt length + num_sentences * 50) tokens, stop (safety).
 *         Stop after num_sentences sentences. *continuation = malloc'ed text
 *         of the context WITHOUT the prompt, leading and trailing ' ', '\n',
 *         '\t', '\r' removed.
 * Task 2: ex14_style_params — (temperature, top_k, top_p) of a style:
 *         fantasy (0.9, 50, 0.92), scifi (0.8, 60, 0.9), mystery (0.7, 40,
 *         0.85), romance (0.85, 45, 0.88), anything else (0.8, 50, 0.9).
 * Task 3: ex14_generate_with_style — continue_story with the style's preset.
 * Rules: num_sentences < 1, an empty story_start or NULL is TT_ERR_ARG.
 * Hint:  work on token ids, not text: tt_tokenizer_id(tok, '.', &dot) gives
 *        the id of '.'; decode only at the end.
 * Check: make exercises EX=14   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex14_continue_story(const tt_model *model, const tt_tokenizer *tok,
                              const char *story_start, int num_sentences, float temperature,
                              int top_k, float top_p, uint64_t seed, char **continuation)
{
    (void)model, (void)tok, (void)story_start, (void)num_sentences, (void)temperature,
        (void)top_k, (void)top_p, (void)seed, (void)continuation;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex14_style_params(const char *style, float *temperature, int *top_k, float *top_p)
{
    (void)style, (void)temperature, (void)top_k, (void)top_p;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}

tt_status ex14_generate_with_style(const tt_model *model, const tt_tokenizer *tok,
                                   const char *story_start, const char *style,
                                   int num_sentences, uint64_t seed, char **continuation)
{
    (void)model, (void)tok, (void)story_start, (void)style, (void)num_sentences, (void)seed,
        (void)continuation;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
