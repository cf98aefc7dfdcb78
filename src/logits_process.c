/*
 * The sampling chain's logit stages and its settings: the logit bias,
 * repetition / presence / frequency penalties, DRY, the chain order, and the
 * validation of every control (tt_sampling_controls).
 *
 * Legend: V = vocabulary size; n = tokens in the window of a row's history
 * that a stage looks at (the last penalty_last_n / dry_penalty_last_n, or all).
 *
 * Semantics (docs/sampling.md#beyond-the-notebook):
 *  - bias (OpenAI): l[id] += bias.
 *  - repetition (HF / CTRL): each distinct token of the window, prompt
 *    included, once: l > 0 is divided by the penalty, l <= 0 multiplied.
 *  - presence / frequency (OpenAI): l -= frequency * count + presence *
 *    [count > 0], counting the window's generated tokens only.
 *  - DRY (llama.cpp): a token that would extend a repeat of the window's end
 *    of length L >= allowed_length loses multiplier * base^(L - allowed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling_internal.h"
#include "tt/tokenizer.h"

const tt_sampler_kind tt_sampler_default_order[TT_SAMPLER_COUNT_] = {
    TT_SAMPLER_PENALTIES, TT_SAMPLER_DRY,   TT_SAMPLER_TEMPERATURE, TT_SAMPLER_TOP_K,
    TT_SAMPLER_TOP_P,     TT_SAMPLER_MIN_P, TT_SAMPLER_TYPICAL};

static const char *const kind_names[TT_SAMPLER_COUNT_] = {
    "penalties", "dry", "top_k", "typ_p", "top_p", "min_p", "temperature"};

const char *tt_sampler_kind_name(tt_sampler_kind k) {
    if ((int)k < 0 || k >= TT_SAMPLER_COUNT_) return "unknown";
    return kind_names[k];
}

tt_sampling_controls tt_sampling_controls_default(void) {
    tt_sampling_controls c;
    memset(&c, 0, sizeof c);
    c.min_p = 0.0f;
    c.typical_p = 1.0f;
    c.repetition_penalty = 1.0f;
    c.dry_base = 1.75f;
    c.dry_allowed_length = 2;
    c.n_dry_breakers = 4;
    c.dry_breakers[0] = "\n";
    c.dry_breakers[1] = ":";
    c.dry_breakers[2] = "\"";
    c.dry_breakers[3] = "*";
    c.logprobs_mode = TT_LOGPROBS_RAW;
    c.num_beams = 1;
    c.length_penalty = 1.0f;
    c.num_return_sequences = 1;
    return c;
}

tt_status tt_sampler_order_parse(const char *list, tt_sampling_controls *c, tt_error *err) {
    if (!list || !c) return tt_error_set(err, TT_ERR_ARG, "sampler order: NULL argument");
    tt_sampler_kind order[TT_SAMPLER_COUNT_];
    int n = 0;
    const char *s = list;
    for (;;) {
        const char *e = s;
        while (*e && *e != ',' && *e != ';')
            e++;
        size_t len = (size_t)(e - s);
        while (len && (*s == ' '))
            s++, len--;
        while (len && s[len - 1] == ' ')
            len--;
        if (len == 0)
            return tt_error_set(err, TT_ERR_ARG, "sampler order '%.64s' has an empty name", list);
        int k = -1;
        for (int j = 0; j < TT_SAMPLER_COUNT_; j++)
            if (strlen(kind_names[j]) == len && !strncmp(s, kind_names[j], len)) k = j;
        if (k < 0 &&
            ((len == 7 && !strncmp(s, "typical", 7)) || (len == 9 && !strncmp(s, "typical_p", 9))))
            k = TT_SAMPLER_TYPICAL;
        if (k < 0)
            return tt_error_set(err, TT_ERR_ARG,
                                "unknown sampler '%.*s' (penalties, dry, top_k, typ_p, top_p, "
                                "min_p, temperature)",
                                (int)(len > 40 ? 40 : len), s);
        for (int j = 0; j < n; j++)
            if (order[j] == (tt_sampler_kind)k)
                return tt_error_set(err, TT_ERR_ARG, "sampler '%s' appears twice", kind_names[k]);
        order[n++] = (tt_sampler_kind)k;
        if (!*e) break;
        s = e + 1;
    }
    memcpy(c->samplers, order, (size_t)n * sizeof *order);
    c->n_samplers = n;
    return TT_OK;
}

int tt_sampling_chain(const tt_sampling_params *p, tt_sampler_kind order[TT_MAX_SAMPLERS]) {
    tt_sampling_params p_in;
    if (p && tt_sampling_params_in(&p, &p_in, NULL) != TT_OK) p = NULL; /* unreadable: default */
    if (!p || p->x.n_samplers <= 0 || p->x.n_samplers > TT_SAMPLER_COUNT_) {
        memcpy(order, tt_sampler_default_order, sizeof tt_sampler_default_order);
        return TT_SAMPLER_COUNT_;
    }
    memcpy(order, p->x.samplers, (size_t)p->x.n_samplers * sizeof *order);
    return p->x.n_samplers;
}

static bool finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

/* v printed with %.*g (prec digits). */
typedef struct {
    char s[32];
} fmt_buf;
static fmt_buf fmt_g(int prec, float v) {
    fmt_buf b;
    snprintf(b.s, sizeof b.s, "%.*g", prec, (double)v);
    return b;
}

/* Whether s is whole UTF-8 (a stop string or breaker is matched by code point). */
static bool utf8_ok(const char *s) {
    size_t len = strlen(s), pos = 0;
    while (pos < len) {
        uint32_t cp;
        const int k = tt_utf8_decode(s + pos, len - pos, &cp);
        if (k <= 0) return false;
        pos += (size_t)k;
    }
    return true;
}

tt_status tt_sampling_controls_check(const tt_sampling_controls *c, tt_error *err) {
    if (!finite_in(c->min_p, 0.0f, 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "min_p must be in [0, 1], got %g", (double)c->min_p);
    if (!(c->typical_p > 0.0f && c->typical_p <= 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "typical_p must be in (0, 1], got %g",
                            (double)c->typical_p);
    if (!isfinite(c->repetition_penalty) || !(c->repetition_penalty > 0.0f))
        return tt_error_set(err, TT_ERR_ARG,
                            "repetition_penalty must be finite and > 0 (1 = off), got %g",
                            (double)c->repetition_penalty);
    if (!finite_in(c->presence_penalty, -2.0f, 2.0f))
        return tt_error_set(err, TT_ERR_ARG, "presence_penalty must be in [-2, 2], got %g",
                            (double)c->presence_penalty);
    if (!finite_in(c->frequency_penalty, -2.0f, 2.0f))
        return tt_error_set(err, TT_ERR_ARG, "frequency_penalty must be in [-2, 2], got %g",
                            (double)c->frequency_penalty);
    if (c->penalty_last_n < 0)
        return tt_error_set(err, TT_ERR_ARG, "penalty_last_n must be >= 0 (0 = all), got %d",
                            c->penalty_last_n);
    if (!isfinite(c->dry_multiplier) || !(c->dry_multiplier >= 0.0f))
        return tt_error_set(err, TT_ERR_ARG, "dry_multiplier must be finite and >= 0, got %g",
                            (double)c->dry_multiplier);
    if (!isfinite(c->dry_base) || !(c->dry_base >= 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "dry_base must be finite and >= 1, got %g",
                            (double)c->dry_base);
    if (c->dry_allowed_length < 1)
        return tt_error_set(err, TT_ERR_ARG, "dry_allowed_length must be >= 1, got %d",
                            c->dry_allowed_length);
    if (c->dry_penalty_last_n < 0)
        return tt_error_set(err, TT_ERR_ARG, "dry_penalty_last_n must be >= 0 (0 = all), got %d",
                            c->dry_penalty_last_n);
    if (c->n_dry_breakers < 0 || c->n_dry_breakers > TT_DRY_MAX_BREAKERS)
        return tt_error_set(err, TT_ERR_ARG, "n_dry_breakers must be in [0, %d], got %d",
                            TT_DRY_MAX_BREAKERS, c->n_dry_breakers);
    for (int i = 0; i < c->n_dry_breakers; i++)
        if (!c->dry_breakers[i] || !c->dry_breakers[i][0] ||
            strlen(c->dry_breakers[i]) >= TT_MAX_STOP_LEN)
            return tt_error_set(err, TT_ERR_ARG,
                                "dry sequence breaker %d must be non-empty and shorter than %d "
                                "bytes",
                                i + 1, TT_MAX_STOP_LEN);
    for (int i = 0; i < c->n_dry_breakers; i++)
        if (!utf8_ok(c->dry_breakers[i]))
            return tt_error_set(err, TT_ERR_ARG, "dry sequence breaker %d is not valid UTF-8",
                                i + 1);
    if (c->n_logit_bias < 0 || (c->n_logit_bias > 0 && !c->logit_bias))
        return tt_error_set(err, TT_ERR_ARG, "logit_bias: %d entries but %s", c->n_logit_bias,
                            c->n_logit_bias < 0 ? "a negative count" : "a NULL array");
    for (int i = 0; i < c->n_logit_bias; i++) {
        const tt_logit_bias *b = &c->logit_bias[i];
        if (b->id < 0)
            return tt_error_set(err, TT_ERR_ARG, "logit_bias: token id %d is negative", b->id);
        if (!finite_in(b->bias, -100.0f, 100.0f)) {
            int prec = 6; /* the fewest digits that give the float back (100.0001, not 100) */
            while (prec < 9 && strtof(fmt_g(prec, b->bias).s, NULL) != b->bias) prec++;
            return tt_error_set(err, TT_ERR_ARG,
                                "logit bias %.*g for token %d is outside [-100, 100]", prec,
                                (double)b->bias, b->id);
        }
        for (int j = 0; j < i; j++)
            if (c->logit_bias[j].id == b->id)
                return tt_error_set(err, TT_ERR_ARG, "logit_bias: token %d appears twice", b->id);
    }
    if (c->n_samplers < 0 || c->n_samplers > TT_SAMPLER_COUNT_)
        return tt_error_set(err, TT_ERR_ARG, "n_samplers must be in [0, %d], got %d",
                            TT_SAMPLER_COUNT_, c->n_samplers);
    for (int i = 0; i < c->n_samplers; i++) {
        if ((int)c->samplers[i] < 0 || c->samplers[i] >= TT_SAMPLER_COUNT_)
            return tt_error_set(err, TT_ERR_ARG, "samplers[%d] = %d is not a sampler", i,
                                (int)c->samplers[i]);
        for (int j = 0; j < i; j++)
            if (c->samplers[j] == c->samplers[i])
                return tt_error_set(err, TT_ERR_ARG, "sampler '%s' appears twice",
                                    kind_names[c->samplers[i]]);
    }
    if (c->n_stop < 0 || c->n_stop > TT_MAX_STOP)
        return tt_error_set(err, TT_ERR_ARG, "at most %d stop strings, got %d", TT_MAX_STOP,
                            c->n_stop);
    for (int i = 0; i < c->n_stop; i++) {
        if (!c->stop[i] || !c->stop[i][0])
            return tt_error_set(err, TT_ERR_ARG, "stop string %d is empty", i + 1);
        if (strlen(c->stop[i]) >= TT_MAX_STOP_LEN)
            return tt_error_set(err, TT_ERR_ARG, "stop string %d is longer than %d bytes", i + 1,
                                TT_MAX_STOP_LEN - 1);
        if (!utf8_ok(c->stop[i]))
            return tt_error_set(err, TT_ERR_ARG, "stop string %d is not valid UTF-8", i + 1);
    }
    if (c->logprobs < 0 || c->logprobs > TT_MAX_LOGPROBS)
        return tt_error_set(err, TT_ERR_ARG, "logprobs must be in [0, %d], got %d", TT_MAX_LOGPROBS,
                            c->logprobs);
    if (c->logprobs_mode != TT_LOGPROBS_RAW && c->logprobs_mode != TT_LOGPROBS_PROCESSED)
        return tt_error_set(err, TT_ERR_ARG, "logprobs_mode %d is not raw (0) or processed (1)",
                            (int)c->logprobs_mode);
    if (c->num_beams < 1 || c->num_beams > 64)
        return tt_error_set(err, TT_ERR_ARG, "num_beams must be in [1, 64], got %d", c->num_beams);
    if (!isfinite(c->length_penalty))
        return tt_error_set(err, TT_ERR_ARG, "length_penalty must be finite, got %g",
                            (double)c->length_penalty);
    if (c->num_return_sequences < 1 || c->num_return_sequences > c->num_beams)
        return tt_error_set(err, TT_ERR_ARG,
                            "num_return_sequences must be in [1, num_beams = %d], got %d",
                            c->num_beams, c->num_return_sequences);
    return TT_OK;
}

void tt_lp_scratch_free(tt_lp_scratch *sc) {
    if (!sc) return;
    free(sc->count);
    free(sc->ibuf);
    sc->count = sc->ibuf = NULL;
    sc->cap = 0;
}

bool tt_lp_bias_active(const tt_sampling_controls *c) { return c->n_logit_bias > 0; }

bool tt_lp_penalties_active(const tt_sampling_controls *c, const tt_token_history *h) {
    return h && h->n_tokens > 0 &&
           (c->repetition_penalty != 1.0f || c->presence_penalty != 0.0f ||
            c->frequency_penalty != 0.0f);
}

bool tt_lp_dry_active(const tt_sampling_controls *c, const tt_token_history *h) {
    return h && c->dry_multiplier > 0.0f && h->n_tokens > c->dry_allowed_length;
}

tt_status tt_lp_apply_bias(const tt_sampling_controls *c, float *l, int V, tt_error *err) {
    for (int i = 0; i < c->n_logit_bias; i++) {
        const tt_logit_bias *b = &c->logit_bias[i];
        if (b->id >= V)
            return tt_error_set(err, TT_ERR_ARG,
                                "logit bias token %d is outside the vocabulary (%d tokens)", b->id,
                                V);
        l[b->id] += b->bias; /* -inf stays -inf */
    }
    return TT_OK;
}

static tt_status check_history(const tt_token_history *h, int from, int V, tt_error *err) {
    for (int i = from; i < h->n_tokens; i++)
        if (h->tokens[i] < 0 || h->tokens[i] >= V)
            return tt_error_set(err, TT_ERR_ARG,
                                "history token %d (position %d) is outside the vocabulary (%d "
                                "tokens)",
                                h->tokens[i], i, V);
    return TT_OK;
}

static tt_status ensure_count(tt_lp_scratch *sc, int V, tt_error *err) {
    if (sc->count) return TT_OK;
    sc->count = calloc((size_t)V, sizeof *sc->count);
    if (!sc->count) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for penalties");
    return TT_OK;
}

tt_status tt_lp_apply_penalties(const tt_sampling_controls *c, const tt_token_history *h, float *l,
                                int V, tt_lp_scratch *sc, tt_error *err) {
    const int n = h->n_tokens;
    const int w0 = c->penalty_last_n > 0 && c->penalty_last_n < n ? n - c->penalty_last_n : 0;
    tt_status st = check_history(h, w0, V, err);
    if (st) return st;
    st = ensure_count(sc, V, err);
    if (st) return st;
    const int SEEN = 1 << 30; /* count[id] = SEEN | (generated occurrences) */
    int *count = sc->count;
    for (int i = w0; i < n; i++) {
        const int id = h->tokens[i];
        count[id] |= SEEN;
        count[id] += i >= h->n_prompt;
    }
    const float rp = c->repetition_penalty, fp = c->frequency_penalty, pp = c->presence_penalty;
    for (int i = w0; i < n; i++) {
        const int id = h->tokens[i];
        if (!count[id]) continue; /* done already */
        const int k = count[id] & (SEEN - 1);
        count[id] = 0;
        float v = l[id];
        if (v == -INFINITY) continue;
        if (rp != 1.0f) v = v > 0.0f ? v / rp : v * rp;
        if (k > 0) v -= fp * (float)k + pp;
        l[id] = v;
    }
    return TT_OK;
}

/* A breaker's token ids (a char tokenizer: one per code point); false when a
 * character is not in the vocabulary (the breaker can never occur). */
static bool breaker_ids(const struct tt_tokenizer *tok, const char *s, int *ids, int *n) {
    size_t len = strlen(s), pos = 0;
    *n = 0;
    while (pos < len) {
        uint32_t cp;
        int k = tt_utf8_decode(s + pos, len - pos, &cp);
        if (k <= 0) return false;
        if (tt_tokenizer_id(tok, cp, &ids[*n]) != TT_OK) return false;
        (*n)++;
        pos += (size_t)k;
    }
    return *n > 0;
}

tt_status tt_lp_apply_dry(const tt_sampling_controls *c, const tt_token_history *h,
                          const struct tt_tokenizer *tok, float *l, int V, tt_lp_scratch *sc,
                          tt_error *err) {
    const int nt = h->n_tokens;
    const int n =
        c->dry_penalty_last_n > 0 && c->dry_penalty_last_n < nt ? c->dry_penalty_last_n : nt;
    const int allowed = c->dry_allowed_length;
    if (n <= allowed) return TT_OK;
    const int *ctx = h->tokens + (nt - n); /* the window, oldest first */
    tt_status st = check_history(h, nt - n, V, err);
    if (st) return st;
    st = ensure_count(sc, V, err);
    if (st) return st;
    if (sc->cap < n) {
        int *nb = realloc(sc->ibuf, (size_t)n * sizeof *nb);
        if (!nb) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for DRY");
        sc->ibuf = nb;
        sc->cap = n;
    }
    /* The breakers as ids; a single-token breaker is never penalised. */
    int bids[TT_DRY_MAX_BREAKERS][TT_MAX_STOP_LEN], blen[TT_DRY_MAX_BREAKERS];
    int nb = 0;
    if (tok)
        for (int b = 0; b < c->n_dry_breakers; b++)
            if (breaker_ids(tok, c->dry_breakers[b], bids[nb], &blen[nb])) nb++;
    /* 1. A repeat may not span a breaker: limit the length to the tokens
     *    after the last breaker (i counts back from the end, 0 = last). */
    int rep_limit = n;
    for (int i = 0; i < n && rep_limit == n; i++) {
        const int t = ctx[n - 1 - i];
        int longest = -1;
        for (int b = 0; b < nb; b++) {
            const int tail = blen[b] - 1; /* tokens after the head */
            if (bids[b][0] != t || tail <= longest || tail > i) continue;
            bool match = true;
            for (int o = 0; o < tail && match; o++)
                match = bids[b][1 + o] == ctx[n - 1 - (i - o - 1)];
            if (match) longest = tail;
        }
        if (longest >= 0) rep_limit = i - longest;
    }
    if (rep_limit < allowed) return TT_OK;
    /* 2. z[k] = the length of the common suffix of the window and the window
     *    without its last k tokens (a Z-function over the reversed window):
     *    position j = n - 1 - k ends a copy of the window's last z[k] tokens. */
    int *z = sc->ibuf;
#define REV(i) ctx[n - 1 - (i)]
    z[0] = n;
    for (int k = 1, lo = 0, hi = 0; k < n; k++) {
        int v = 0;
        if (k < hi) v = z[k - lo] < hi - k ? z[k - lo] : hi - k;
        while (k + v < n && REV(v) == REV(k + v))
            v++;
        z[k] = v;
        if (k + v > hi) {
            lo = k;
            hi = k + v;
        }
    }
#undef REV
    /* 3. The token that followed each long enough copy would extend it:
     *    count[token] = the longest such repeat (>= allowed >= 1). */
    int *best = sc->count;
    for (int k = 1; k < n; k++) {
        const int len = z[k] < rep_limit ? z[k] : rep_limit;
        if (len < allowed) continue;
        const int next = ctx[n - k]; /* follows position n - 1 - k */
        if (best[next] < len) best[next] = len;
    }
    /* 4. Penalise them (not single-token breakers), then clear count. */
    const float FLOAT_MAX_LOG = 88.7228391f;
    int max_exp = 0;
    if (c->dry_base > 1.000001f) max_exp = (int)(FLOAT_MAX_LOG / logf(c->dry_base));
    for (int k = 1; k < n; k++) {
        const int next = ctx[n - k];
        const int len = best[next];
        if (!len) continue;
        best[next] = 0;
        bool single = false;
        for (int b = 0; b < nb; b++)
            single |= blen[b] == 1 && bids[b][0] == next;
        if (single) continue;
        int e = len - allowed;
        if (max_exp > 0 && e > max_exp) e = max_exp;
        l[next] -= c->dry_multiplier * powf(c->dry_base, (float)e);
    }
    return TT_OK;
}
