/*
 * Stop strings: which one the generated tokens end with, and how many tokens
 * a stream has to hold back because they may still begin one.
 *
 * Legend: n = generated tokens of a row, S = tokens of one stop string.
 */
#include "stop.h"

#include <string.h>

#include "tt/tokenizer.h"

tt_status tt_stop_set_init(tt_stop_set *ss, const tt_sampling_controls *c,
                           const struct tt_tokenizer *tok, tt_error *err) {
    ss->n = 0;
    if (c->n_stop == 0) return TT_OK;
    if (!tok)
        return tt_error_set(err, TT_ERR_ARG,
                            "stop strings need the vocabulary (tt_generator_set_tokenizer)");
    for (int i = 0; i < c->n_stop; i++) {
        const char *s = c->stop[i];
        const size_t len = strlen(s);
        size_t pos = 0;
        int k = 0;
        bool ok = true;
        while (pos < len && ok) {
            uint32_t cp;
            const int b = tt_utf8_decode(s + pos, len - pos, &cp);
            ok = b > 0 && k < TT_MAX_STOP_LEN &&
                 tt_tokenizer_id(tok, cp, &ss->ids[ss->n][k]) == TT_OK;
            pos += b > 0 ? (size_t)b : len;
            k++;
        }
        if (!ok || k == 0) continue; /* can never occur */
        ss->len[ss->n] = k;
        ss->index[ss->n] = i;
        ss->n++;
    }
    return TT_OK;
}

static bool ends_with(const int *gen, int n, const int *ids, int k) {
    if (k > n) return false;
    return memcmp(gen + n - k, ids, (size_t)k * sizeof *ids) == 0;
}

int tt_stop_check(const tt_stop_set *ss, const int *gen, int n, int *match_len, int *hold) {
    int found = -1, best = 0, h = 0;
    for (int s = 0; s < ss->n; s++) {
        const int S = ss->len[s];
        if (ends_with(gen, n, ss->ids[s], S) && S > best) {
            best = S;
            found = ss->index[s];
        }
        /* the longest proper prefix of the stop string that gen ends with */
        for (int k = (S - 1 < n ? S - 1 : n); k > h; k--)
            if (ends_with(gen, n, ss->ids[s], k)) {
                h = k;
                break;
            }
    }
    *match_len = best;
    *hold = found >= 0 ? 0 : h;
    return found;
}
