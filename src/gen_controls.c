/*
 * The generator's use of the sampling controls: logprobs of generated
 * tokens, stop strings and the stream's hold-back. The loop itself is in src/generate.c.
 *
 * Legend: V = vocabulary size; a row's generated tokens are
 * o->tokens[n_prompt .. n_prompt + n_generated).
 */
#include <string.h>

#include "generate_internal.h"

tt_status tt_gen_logprobs(tt_sampler *s, const tt_token_history *h, const struct tt_tokenizer *tok,
                          float *probs, const tt_sampling_params *sp, const float *lr, int V,
                          int id, tt_token_logprob *lp, tt_error *err) {
    if (sp->x.logprobs_mode == TT_LOGPROBS_RAW)
        return tt_logprobs_from_logits(lr, V, id, sp->x.logprobs, lp, err);
    tt_sampler_set_history(s, h, tok);
    tt_status st = tt_sampler_filter(s, sp, lr, probs, NULL, NULL, NULL, err);
    if (st != TT_OK) return st;
    return tt_logprobs_from_probs(probs, V, id, sp->x.logprobs, lp, err);
}

bool tt_gen_stop_check(const tt_stop_set *ss, tt_generation *o, int pad, int *hold) {
    *hold = 0;
    if (ss->n == 0) return false;
    int len = 0;
    const int si = tt_stop_check(ss, o->tokens + o->n_prompt, o->n_generated, &len, hold);
    if (si < 0) return false;
    o->n_generated -= len;
    o->n_tokens -= len;
    if (pad != TT_TOKEN_NONE) /* a finished row holds pads, as after an EOS */
        for (int i = 0; i < len; i++)
            o->tokens[o->n_tokens++] = pad;
    o->finish = TT_FINISH_STOP;
    o->stop_index = si;
    return true;
}

int tt_gen_emit(int *emitted, int row, const tt_generation *o, int hold, tt_token_callback cb,
                void *user) {
    const int upto = o->n_generated - hold;
    while (*emitted < upto) {
        const int j = (*emitted)++;
        /* token j of a row is drawn at step j */
        if (cb && cb(user, row, o->tokens[o->n_prompt + j], j)) return 1;
    }
    return 0;
}
