/*
 * stop.h — stop strings over generated token ids (private).
 *
 * The tokenizer maps one character to one token, so a text contains a stop
 * string exactly when its tokens contain the string's tokens; checking after
 * every token, a match is always at the end. A stop string with a character
 * outside the vocabulary can never occur and is dropped.
 */
#ifndef TT_STOP_H
#define TT_STOP_H

#include "tt/sampling.h"

typedef struct {
    int n;                                 /* usable stop strings */
    int index[TT_MAX_STOP];                /* their index in c->stop */
    int len[TT_MAX_STOP];                  /* tokens */
    int ids[TT_MAX_STOP][TT_MAX_STOP_LEN]; /* token ids */
} tt_stop_set;

/* From c->stop[0..n_stop) with the vocabulary tok (required when n_stop > 0).
 * @return TT_OK or TT_ERR_ARG (no tokenizer). */
tt_status tt_stop_set_init(tt_stop_set *ss, const tt_sampling_controls *c,
                           const struct tt_tokenizer *tok, tt_error *err);

/* After a token was appended to gen[0..n): the stop string the tokens end
 * with (its index in c->stop, the longest when several do), or -1.
 * *match_len receives its length in tokens; *hold the number of tokens at
 * the end that could still become the start of a stop string (0 when none),
 * which a stream must not show yet. */
int tt_stop_check(const tt_stop_set *ss, const int *gen, int n, int *match_len, int *hold);

#endif
