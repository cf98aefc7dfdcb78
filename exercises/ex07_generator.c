/*
 * Exercise 07 — using the generator (Medium)
 *
 * Why:
 *   The library's tt_generator runs the whole autoregressive loop for you:
 *   forward the context, take the last position's logits, sample, append,
 *   repeat — with a KV cache, so each step only computes the newest position.
 *   Using it is three steps: a config (start from the defaults and change what
 *   you need), create, generate.
 *
 * Task:  generate max_new_tokens tokens after each of B prompts with the
 *        library's tt_generator (tt/generate.h).
 * Shapes: prompts [B, T] row-major; out [B, T + max_new_tokens]: each row is
 *        its prompt followed by the generated tokens.
 * Config: start from tt_generator_config_default(), then set max_new_tokens,
 *        sampling.temperature, seed (the sampling strategy stays combined;
 *        no top-k, top-p or EOS).
 * Rules: B, T or max_new_tokens < 1 is TT_ERR_ARG; pass on the generator's
 *        error status (e.g. TT_ERR_ARG for a negative temperature; a
 *        temperature of 0 is greedy, not an error).
 * Hint:  tt_generator_create, then tt_generator_generate with an array of B
 *        row pointers (prompts + b * T) and lengths; copy out[b].tokens;
 *        free with tt_generations_free and tt_generator_free.
 * Check: make exercises EX=7   (SHOW=1 also shows your results beside the
 *        reference's)
 */
#include "exercises.h"

tt_status ex07_generate(const tt_model *model, const int *prompts, int B, int T,
                        int max_new_tokens, float temperature, uint64_t seed, int *out)
{
    (void)model, (void)prompts, (void)B, (void)T, (void)max_new_tokens, (void)temperature,
        (void)seed, (void)out;
    /* TODO: your code here */
    return TT_ERR_NOT_IMPLEMENTED;
}
