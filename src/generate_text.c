/*
 * tt_generate_text: text in, text out, in one call (see tt/generate.h). It
 * joins what a caller would otherwise write by hand: encode the prompt, make a
 * generator, generate one row, decode prompt + continuation, free.
 */
#include <stdlib.h>
#include <string.h>

#include "tt/generate.h"

tt_status tt_generate_text(const tt_model *model, const tt_tokenizer *tok, const char *prompt,
                           const tt_generator_config *gc, char **text, tt_error *err) {
    if (text) *text = NULL;
    if (!model) return tt_error_set(err, TT_ERR_ARG, "generate_text: model is NULL");
    if (!tok) return tt_error_set(err, TT_ERR_ARG, "generate_text: tok is NULL");
    if (!prompt) return tt_error_set(err, TT_ERR_ARG, "generate_text: prompt is NULL");
    if (!text) return tt_error_set(err, TT_ERR_ARG, "generate_text: text is NULL");
    if (tt_tokenizer_vocab_size(tok) != tt_model_get_config(model)->vocab_size)
        return tt_error_set(err, TT_ERR_ARG,
                            "generate_text: the tokenizer has %d characters, the model %d",
                            tt_tokenizer_vocab_size(tok), tt_model_get_config(model)->vocab_size);
    int *ids = NULL;
    size_t n = 0;
    tt_generator *g = NULL;
    tt_generation out;
    int have_out = 0;
    tt_status st = tt_tokenizer_encode(tok, prompt, strlen(prompt), &ids, &n, err);
    if (st != TT_OK) goto done;
    if (n == 0) {
        st = tt_error_set(err, TT_ERR_ARG,
                          "generate_text: the prompt is empty (it needs at least one character)");
        goto done;
    }
    if ((st = tt_generator_create(&g, model, gc, err)) != TT_OK) goto done;
    const int *rows[1] = {ids};
    int lens[1] = {(int)n};
    if ((st = tt_generator_generate(g, rows, lens, 1, NULL, NULL, NULL, NULL, &out, err)) != TT_OK)
        goto done;
    have_out = 1;
    /* prompt + generated tokens (an EOS included); pads are not text */
    st = tt_tokenizer_decode(tok, out.tokens, (size_t)(out.n_prompt + out.n_generated), text, err);
done:
    if (have_out) tt_generations_free(&out, 1);
    tt_generator_free(g);
    free(ids);
    if (st == TT_OK) tt_error_clear(err);
    return st;
}
