/*
 * The step API (tt/generate.h): rows that join and leave a running batch
 * between decode steps, each with its own settings, and their KV states.
 *
 * Legend: V vocabulary, W a row's context window, H = max(1, W / 2) (the
 * tokens a "half" window restart keeps), L layers, NH heads, hs head size.
 *
 * Row r lives in KV cache slot r of its generator. It follows exactly the
 * steps tt_generator_generate takes for one row (src/generate.c): the
 * window's start wstart (the prompt's last W tokens), a cached decode token
 * per step, a window restart at W (half: the last H tokens; exact: the last
 * W, every step), the same sampler call on the same logits with the row's
 * own random stream; and the generator's kernels give a row the same
 * logits whatever the other rows of a call are. So its tokens are those of
 * a solo generate call.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate_internal.h"
#include "stop.h"
#include "tt/rng.h"

typedef struct {
    bool used;
    tt_generator_config cfg; /* validated */
    tt_sampling_params sp;
    tt_stop_set stops;
    tt_rng rng;
    tt_generation out; /* tokens [tcap]: prompt + generated; logprobs [lcap] */
    int tcap, lcap;
    tt_token_history hist;
    int W, wstart; /* the window and its first token */
    int fed;       /* window tokens whose K/V are in the slot: positions 0..fed-1 */
    bool finished, have_logits;
    int forced;    /* the next step's token, or TT_TOKEN_NONE */
    float *logits; /* [V] */
} gen_row;

struct tt_gen_rows {
    gen_row *r; /* [cap] */
    int cap, active;
    int V;
    int *tok, *pos, *slot; /* [cap] a decode call's inputs */
    float **dst;           /* [cap] */
};

void tt_gen_rows_free(tt_gen_rows *rs) {
    if (!rs) return;
    for (int i = 0; i < rs->cap; i++) {
        free(rs->r[i].out.tokens);
        free(rs->r[i].out.logprobs);
        free(rs->r[i].logits);
    }
    free(rs->r);
    free(rs->tok);
    free(rs->pos);
    free(rs->slot);
    free(rs->dst);
    free(rs);
}

size_t tt_gen_rows_bytes(const tt_gen_rows *rs) {
    if (!rs) return 0;
    size_t b = sizeof *rs + (size_t)rs->cap * (sizeof(gen_row) + 3 * sizeof(int) + sizeof(float *));
    for (int i = 0; i < rs->cap; i++) {
        const gen_row *w = &rs->r[i];
        b += (size_t)w->tcap * sizeof(int) + (size_t)w->lcap * sizeof(tt_token_logprob);
        if (w->logits) b += (size_t)rs->V * sizeof(float);
    }
    return b;
}

int tt_gen_rows_active(const tt_gen_rows *rs) { return rs ? rs->active : 0; }

int tt_generator_n_rows(const tt_generator *g) {
    return g ? tt_gen_rows_active(*tt_gen_rows_of((tt_generator *)g)) : 0;
}

/* The row's handle checked. */
static tt_status get_row(tt_generator *g, int row, gen_row **w, tt_error *err) {
    if (!g) return tt_error_set(err, TT_ERR_ARG, "generator is NULL");
    tt_gen_rows *rs = *tt_gen_rows_of(g);
    if (!rs || row < 0 || row >= rs->cap || !rs->r[row].used)
        return tt_error_set(err, TT_ERR_RANGE, "row %d is not a row of this generator", row);
    *w = &rs->r[row];
    return TT_OK;
}

/* A free row (growing the table), its index in *row. */
static tt_status new_row(tt_generator *g, int *row, tt_error *err) {
    tt_gen_rows **rp = tt_gen_rows_of(g);
    if (!*rp && !(*rp = calloc(1, sizeof **rp)))
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the rows");
    tt_gen_rows *rs = *rp;
    rs->V = tt_gen_vocab_size(g);
    for (int i = 0; i < rs->cap; i++)
        if (!rs->r[i].used) {
            *row = i;
            return TT_OK;
        }
    const int cap = rs->cap ? 2 * rs->cap : 4;
    gen_row *r = realloc(rs->r, (size_t)cap * sizeof *r);
    if (!r) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d rows", cap);
    rs->r = r;
    memset(r + rs->cap, 0, (size_t)(cap - rs->cap) * sizeof *r);
    int *tok = realloc(rs->tok, (size_t)cap * sizeof(int));
    if (tok) rs->tok = tok;
    int *pos = realloc(rs->pos, (size_t)cap * sizeof(int));
    if (pos) rs->pos = pos;
    int *slot = realloc(rs->slot, (size_t)cap * sizeof(int));
    if (slot) rs->slot = slot;
    float **dst = realloc(rs->dst, (size_t)cap * sizeof(float *));
    if (dst) rs->dst = dst;
    if (!tok || !pos || !slot || !dst)
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d rows", cap);
    *row = rs->cap;
    rs->cap = cap;
    return TT_OK;
}

/* Room for n more tokens (and logprobs) in a row's result. */
static tt_status row_room(gen_row *w, int n, tt_error *err) {
    if (n > INT_MAX - w->out.n_tokens - 256)
        return tt_error_set(err, TT_ERR_ARG, "a row of more than INT_MAX tokens");
    if (w->out.n_tokens + n > w->tcap) {
        const size_t want = (size_t)w->out.n_tokens + (size_t)n;
        const size_t grown = want + want / 2 + 16;
        const int cap = grown > (size_t)INT_MAX ? INT_MAX : (int)grown;
        int *t = realloc(w->out.tokens, (size_t)cap * sizeof(int));
        if (!t) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d tokens", cap);
        w->out.tokens = t;
        w->tcap = cap;
    }
    if (w->cfg.sampling.x.logprobs > 0 && w->out.n_generated + n > w->lcap) {
        const size_t want = (size_t)w->out.n_generated + (size_t)n;
        const size_t grown = want + (size_t)w->out.n_generated / 2 + 16;
        const int cap = grown > (size_t)INT_MAX ? INT_MAX : (int)grown;
        tt_token_logprob *l = realloc(w->out.logprobs, (size_t)cap * sizeof *l);
        if (!l) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d logprobs", cap);
        w->out.logprobs = l;
        w->lcap = cap;
    }
    w->hist = (tt_token_history){w->out.tokens, w->out.n_tokens, w->out.n_prompt};
    return TT_OK;
}

/* The row's settings: cfg (or the generator's) validated. */
static tt_status row_config(tt_generator *g, gen_row *w, const tt_generator_config *cfg,
                            tt_error *err) {
    tt_status st = TT_OK;
    if (cfg) st = tt_gen_config_in(&w->cfg, cfg, err);
    else w->cfg = *tt_generator_get_config(g);
    if (st) return st;
    if ((st = tt_generator_config_validate(&w->cfg, tt_gen_vocab_size(g), err))) return st;
    if (w->cfg.context_len > tt_gen_max_len(g))
        return tt_error_set(err, TT_ERR_ARG, "context_len %d exceeds the model's max_len %d",
                            w->cfg.context_len, tt_gen_max_len(g));
    if (w->cfg.sampling.x.num_beams > 1)
        return tt_error_set(err, TT_ERR_ARG,
                            "num_beams %d: beam search is not a step-API row (use "
                            "tt_generator_beam_search)",
                            w->cfg.sampling.x.num_beams);
    st = tt_stop_set_init(&w->stops, &w->cfg.sampling.x, tt_gen_tokenizer(g), err);
    if (st) return st;
    w->sp = w->cfg.sampling;
    w->W = tt_gen_context_of(g, &w->cfg);
    return TT_OK;
}

static tt_status check_ids(const tt_generator *g, const int *p, int n, const char *what,
                           tt_error *err) {
    if (!p || n < 1) return tt_error_set(err, TT_ERR_ARG, "%s is empty (at least one token)", what);
    const int V = tt_gen_vocab_size(g);
    for (int i = 0; i < n; i++)
        if (p[i] < 0 || p[i] >= V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "%s: token id %d at position %d is out of range [0, %d)", what,
                                p[i], i, V);
    return TT_OK;
}

/* The rows' memory with one more of n tokens and max_new_tokens M, as eval
 * reserves it: KV for every slot of the table (after new_row grows it) at
 * the largest window of any row. */
static tt_status check_rows_memory(tt_generator *g, const gen_row *w, int n, tt_error *err) {
    const tt_gen_rows *rs = *tt_gen_rows_of(g);
    int slots = 4; /* new_row's first table */
    if (rs && rs->cap) slots = rs->active < rs->cap ? rs->cap : 2 * rs->cap;
    int npos = w->W;
    for (int r = 0; rs && r < rs->cap; r++)
        if (rs->r[r].used && rs->r[r].W > npos) npos = rs->r[r].W;
    const int rows = tt_generator_n_rows(g) + 1, M = w->cfg.max_new_tokens;
    const size_t extra = ((size_t)n + (size_t)M) * sizeof(int) +
                         (size_t)tt_gen_vocab_size(g) * sizeof(float) * (size_t)rows;
    return tt_gen_check_memory(g, slots, npos, extra, err);
}

static void drop_row(tt_generator *g, gen_row *w) {
    free(w->out.tokens);
    free(w->out.logprobs);
    free(w->logits);
    memset(w, 0, sizeof *w);
    (*tt_gen_rows_of(g))->active--;
}

/* A row in slot `row` ready for its first eval, given its tokens. */
static tt_status start_row(tt_generator *g, gen_row *w, tt_error *err) {
    w->used = true;
    (*tt_gen_rows_of(g))->active++;
    w->forced = TT_TOKEN_NONE;
    w->out.stop_index = -1;
    w->out.finish = TT_FINISH_LENGTH;
    if (!(w->logits = malloc((size_t)tt_gen_vocab_size(g) * sizeof(float)))) {
        drop_row(g, w);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a row's logits");
    }
    if (w->cfg.max_new_tokens == 0) w->finished = true; /* as generate: nothing to make */
    return TT_OK;
}

tt_status tt_generator_add_row(tt_generator *g, const int *prompt, int len,
                               const tt_generator_config *cfg, uint64_t row_id, int *row,
                               tt_error *err) {
    if (!g || !row) return tt_error_set(err, TT_ERR_ARG, "add_row: NULL argument");
    *row = -1;
    tt_status st = check_ids(g, prompt, len, "prompt", err);
    if (st) return st;
    gen_row tmp;
    memset(&tmp, 0, sizeof tmp);
    if ((st = row_config(g, &tmp, cfg, err)) || (st = check_rows_memory(g, &tmp, len, err)))
        return st;
    int r;
    if ((st = new_row(g, &r, err))) return st;
    gen_row *w = &(*tt_gen_rows_of(g))->r[r];
    *w = tmp;
    if ((st = row_room(w, len + (w->cfg.max_new_tokens < 64 ? w->cfg.max_new_tokens : 64), err))) {
        free(w->out.tokens);
        free(w->out.logprobs);
        memset(w, 0, sizeof *w);
        return st;
    }
    memcpy(w->out.tokens, prompt, (size_t)len * sizeof(int));
    w->out.n_tokens = w->out.n_prompt = len;
    w->hist.n_tokens = w->hist.n_prompt = len;
    w->wstart = len > w->W ? len - w->W : 0; /* the prompt's last W tokens */
    tt_rng_seed_stream(&w->rng, w->cfg.seed, row_id);
    if ((st = start_row(g, w, err))) return st;
    *row = r;
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_remove_row(tt_generator *g, int row, tt_error *err) {
    gen_row *w;
    tt_status st = get_row(g, row, &w, err);
    if (st) return st;
    drop_row(g, w);
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_row_append(tt_generator *g, int row, const int *tokens, int n,
                                  tt_error *err) {
    gen_row *w;
    tt_status st = get_row(g, row, &w, err);
    if (st || (st = check_ids(g, tokens, n, "appended tokens", err)) || (st = row_room(w, n, err)))
        return st;
    memcpy(w->out.tokens + w->out.n_tokens, tokens, (size_t)n * sizeof(int));
    w->out.n_tokens += n;
    w->out.n_prompt = w->out.n_tokens; /* a new turn */
    w->out.n_generated = 0;
    w->out.finish = TT_FINISH_LENGTH;
    w->out.stop_index = -1;
    w->hist = (tt_token_history){w->out.tokens, w->out.n_tokens, w->out.n_prompt};
    w->finished = w->cfg.max_new_tokens == 0;
    w->have_logits = false;
    w->forced = TT_TOKEN_NONE;
    tt_error_clear(err);
    return TT_OK;
}

/* Queues what row r needs for its logits: one cached decode token (into
 * the decode list, *nd) or a window (re)computed from position fed (into
 * the span queue, *nq), exactly as tt_generator_generate does. */
static void plan_row(tt_generator *g, tt_gen_rows *rs, int r, int *nd, int *nq) {
    gen_row *w = &rs->r[r];
    const int len = w->out.n_tokens, W = w->W, H = W / 2 > 0 ? W / 2 : 1;
    const bool half = w->cfg.context_shift == TT_CONTEXT_SHIFT_HALF;
    int from = w->fed;
    if (len - w->wstart > W) { /* the window is full: it slides */
        /* one new token (a decode step): half keeps the last H, exact the
         * last W; more (appended input): the last W, as a prompt */
        w->wstart = len - (half && len - w->wstart == W + 1 && w->fed == W ? H : W);
        from = 0;
    } else if (!w->cfg.use_cache) {
        from = 0;
    }
    const int wl = len - w->wstart;
    if (from == wl - 1 && from > 0) { /* one token with the cache */
        rs->tok[*nd] = w->out.tokens[len - 1];
        rs->pos[*nd] = from;
        rs->slot[*nd] = r;
        rs->dst[*nd] = w->logits;
        ++*nd;
    } else {
        tt_gen_queue_span(g, nq, w->out.tokens + w->wstart, from, wl, r, w->logits);
    }
    w->fed = wl;
}

tt_status tt_generator_eval(tt_generator *g, tt_error *err) {
    if (!g) return tt_error_set(err, TT_ERR_ARG, "eval: generator is NULL");
    tt_gen_rows *rs = *tt_gen_rows_of(g);
    int need = 0, maxw = 1;
    for (int r = 0; rs && r < rs->cap; r++) {
        gen_row *w = &rs->r[r];
        if (!w->used || w->finished || w->have_logits) continue;
        need++;
        maxw = w->W > maxw ? w->W : maxw;
    }
    tt_gen_abort_reset(g);
    if (!need) {
        tt_error_clear(err);
        return TT_OK;
    }
    /* the cache's positions cover every row's window */
    tt_status st = tt_gen_prepare(g, rs->cap, rs->cap, maxw, err);
    if (st) return st;
    if (tt_gen_abort_asked(g))
        return tt_error_set(err, TT_ERR_INTERRUPTED, "eval aborted by the abort callback");
    int nd = 0, nq = 0;
    for (int r = 0; r < rs->cap; r++) {
        gen_row *w = &rs->r[r];
        if (w->used && !w->finished && !w->have_logits) plan_row(g, rs, r, &nd, &nq);
    }
    tt_gen_flush_span(g, nq);
    if (!tt_gen_abort_asked(g)) tt_gen_decode(g, nd, rs->tok, rs->pos, rs->slot, rs->dst);
    const bool aborted = tt_gen_abort_asked(g);
    for (int r = 0; r < rs->cap; r++) {
        gen_row *w = &rs->r[r];
        if (!w->used || w->finished || w->have_logits) continue;
        if (aborted)
            w->fed = 0; /* recomputed in full next time: the same logits */
        else
            w->have_logits = true;
    }
    if (aborted) return tt_error_set(err, TT_ERR_INTERRUPTED, "eval aborted by the abort callback");
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_row_logits(tt_generator *g, int row, const float **logits, tt_error *err) {
    gen_row *w;
    if (!logits) return tt_error_set(err, TT_ERR_ARG, "row_logits: logits is NULL");
    tt_status st = get_row(g, row, &w, err);
    if (st) return st;
    if (!w->have_logits)
        return tt_error_set(err, TT_ERR_STATE,
                            "row %d has no logits yet (call tt_generator_eval)%s", row,
                            w->finished ? "; it has finished" : "");
    *logits = w->logits;
    return TT_OK;
}

tt_status tt_generator_row_set_token(tt_generator *g, int row, int token, tt_error *err) {
    gen_row *w;
    tt_status st = get_row(g, row, &w, err);
    if (st) return st;
    if (token < 0 || token >= tt_gen_vocab_size(g))
        return tt_error_set(err, TT_ERR_RANGE, "token %d is out of range [0, %d)", token,
                            tt_gen_vocab_size(g));
    w->forced = token;
    return TT_OK;
}

/* The model's logits of row r had a non-finite value: the error. */
static tt_status numeric_error(const gen_row *w, int r, int V, tt_status st, tt_error *err) {
    for (int i = 0; i < V; i++)
        if (!isfinite(w->logits[i]))
            return tt_error_set(err, TT_ERR_NUMERIC,
                                "the model produced a non-finite logit (%s for token %d, row %d): "
                                "its weights are too large or corrupt",
                                isnan(w->logits[i]) ? "NaN"
                                : w->logits[i] > 0  ? "+inf"
                                                    : "-inf",
                                i, r);
    return st;
}

tt_status tt_generator_step(tt_generator *g, tt_step_token *out, int cap, int *n_out,
                            tt_error *err) {
    if (!g || !out || !n_out) return tt_error_set(err, TT_ERR_ARG, "step: NULL argument");
    *n_out = 0;
    if (cap < tt_generator_n_rows(g))
        return tt_error_set(err, TT_ERR_ARG,
                            "step: out has room for %d tokens, the generator has %d rows", cap,
                            tt_generator_n_rows(g));
    tt_status st = tt_generator_eval(g, err);
    if (st) return st;
    tt_gen_rows *rs = *tt_gen_rows_of(g);
    const int V = tt_gen_vocab_size(g);
    tt_sampler *s = tt_gen_sampler(g);
    if (!s)
        return tt_error_set(err, TT_ERR_STATE,
                            "the generator has no threads (tt_generator_set_threads failed)");
    /* room first: out of memory leaves every row as it was */
    for (int r = 0; rs && r < rs->cap; r++) {
        gen_row *w = &rs->r[r];
        if (!w->used || w->finished) continue;
        if ((st = row_room(w, 1, err))) return st;
    }
    for (int r = 0; rs && r < rs->cap; r++) {
        gen_row *w = &rs->r[r];
        if (!w->used || w->finished) continue;
        int tok = w->forced;
        tt_sampler_set_history(s, &w->hist, tt_gen_tokenizer(g));
        if (tok == TT_TOKEN_NONE) {
            double ent;
            tt_rng keep = w->rng;
            st = tt_sampler_sample_entropy(s, &w->sp, w->logits, &w->rng, &tok, &ent, err);
            if (st) {
                w->rng = keep;
                return numeric_error(w, r, V, st, err);
            }
        }
        if (w->cfg.sampling.x.logprobs > 0 &&
            (st = tt_gen_logprobs(s, &w->hist, tt_gen_tokenizer(g), tt_gen_probs(g), &w->sp,
                                  w->logits, V, tok, &w->out.logprobs[w->out.n_generated], err)))
            return numeric_error(w, r, V, st, err);
        w->forced = TT_TOKEN_NONE;
        w->have_logits = false;
        w->out.tokens[w->out.n_tokens++] = tok;
        w->out.n_generated++;
        int hold = 0;
        const int eos = w->cfg.eos_token_id;
        if (eos != TT_TOKEN_NONE && tok == eos) {
            w->finished = true;
            w->out.finish = TT_FINISH_EOS;
        } else if (tt_gen_stop_check(&w->stops, &w->out, TT_TOKEN_NONE, &hold)) {
            w->finished = true;
            hold = 0;
        } else if (w->out.n_generated >= w->cfg.max_new_tokens) {
            w->finished = true;
            w->out.finish = TT_FINISH_LENGTH;
            hold = 0;
        }
        w->hist.n_tokens = w->out.n_tokens;
        out[*n_out].row = r;
        out[*n_out].token = tok;
        out[*n_out].finished = w->finished;
        out[*n_out].finish = w->out.finish;
        out[*n_out].hold = hold;
        ++*n_out;
    }
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_row_result(const tt_generator *g, int row, const tt_generation **res,
                                  tt_error *err) {
    gen_row *w;
    if (!res) return tt_error_set(err, TT_ERR_ARG, "row_result: res is NULL");
    tt_status st = get_row((tt_generator *)g, row, &w, err);
    if (st) return st;
    *res = &w->out;
    return TT_OK;
}

/* ---- KV state ------------------------------------------------------------- */

#define STATE_MAGIC 0x5454534bu /* "KSTT" */
#define STATE_VERSION 1u

typedef struct {
    uint32_t magic, version;
    int32_t V, C, L, NH, Tmax, hs;
    int32_t n_tokens, n_prompt, n_generated, wstart, npos, finished, finish, stop_index;
    int32_t n_logprobs;
    uint64_t rng[4];
} state_header;

tt_status tt_generator_row_state_save(tt_generator *g, int row, void **buf, size_t *size,
                                      tt_error *err) {
    gen_row *w;
    if (!buf || !size) return tt_error_set(err, TT_ERR_ARG, "state_save: NULL argument");
    *buf = NULL;
    *size = 0;
    tt_status st = get_row(g, row, &w, err);
    if (st) return st;
    const tt_model_config *mc = tt_model_get_config(tt_gen_model(g));
    const int hs = mc->d_model / mc->n_heads;
    /* the K/V of the window's tokens but the last: restored, the row
     * feeds that one with the cache and has the same logits */
    int npos = w->out.n_tokens - w->wstart - 1;
    if (npos > w->fed) npos = w->fed;
    if (npos < 0) npos = 0;
    const int nlp = w->cfg.sampling.x.logprobs > 0 ? w->out.n_generated : 0;
    const size_t kv = (size_t)mc->n_layers * mc->n_heads * 2 * (size_t)npos * hs;
    const size_t bytes = sizeof(state_header) + (size_t)w->out.n_tokens * sizeof(int32_t) +
                         (size_t)nlp * sizeof(tt_token_logprob) + kv * sizeof(float);
    unsigned char *b = malloc(bytes);
    if (!b) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a state of %zu bytes", bytes);
    state_header h;
    memset(&h, 0, sizeof h);
    h.magic = STATE_MAGIC;
    h.version = STATE_VERSION;
    h.V = mc->vocab_size, h.C = mc->d_model, h.L = mc->n_layers, h.NH = mc->n_heads;
    h.Tmax = mc->max_len, h.hs = hs;
    h.n_tokens = w->out.n_tokens, h.n_prompt = w->out.n_prompt;
    h.n_generated = w->out.n_generated, h.wstart = w->wstart, h.npos = npos;
    h.finished = w->finished, h.finish = (int32_t)w->out.finish, h.stop_index = w->out.stop_index;
    h.n_logprobs = nlp;
    memcpy(h.rng, w->rng.s, sizeof h.rng);
    unsigned char *p = b;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, w->out.tokens, (size_t)w->out.n_tokens * sizeof(int32_t));
    p += (size_t)w->out.n_tokens * sizeof(int32_t);
    if (nlp) memcpy(p, w->out.logprobs, (size_t)nlp * sizeof(tt_token_logprob));
    p += (size_t)nlp * sizeof(tt_token_logprob);
    if (npos) {
        float *f = malloc(kv * sizeof(float)); /* aligned copy, then bytes */
        if (!f) {
            free(b);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a state");
        }
        tt_gen_kv_copy(g, row, npos, f, true);
        memcpy(p, f, kv * sizeof(float));
        free(f);
    }
    *buf = b;
    *size = bytes;
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_row_state_load(tt_generator *g, const void *buf, size_t size,
                                      const tt_generator_config *cfg, int *row, tt_error *err) {
    if (!g || !buf || !row) return tt_error_set(err, TT_ERR_ARG, "state_load: NULL argument");
    *row = -1;
    state_header h;
    if (size < sizeof h)
        return tt_error_set(err, TT_ERR_FORMAT, "state: %zu bytes is too short", size);
    memcpy(&h, buf, sizeof h);
    const tt_model_config *mc = tt_model_get_config(tt_gen_model(g));
    const int hs = mc->d_model / mc->n_heads;
    if (h.magic != STATE_MAGIC || h.version != STATE_VERSION)
        return tt_error_set(err, TT_ERR_FORMAT, "not a KV state of this library (magic/version)");
    if (h.V != mc->vocab_size || h.C != mc->d_model || h.L != mc->n_layers || h.NH != mc->n_heads ||
        h.Tmax != mc->max_len || h.hs != hs)
        return tt_error_set(err, TT_ERR_FORMAT,
                            "the state is of a model of another shape (V %d C %d L %d NH %d "
                            "max_len %d)",
                            h.V, h.C, h.L, h.NH, h.Tmax);
    if (h.n_tokens < 1 || h.n_prompt < 1 || h.n_prompt > h.n_tokens || h.n_generated < 0 ||
        h.n_generated > h.n_tokens - h.n_prompt || h.wstart < 0 || h.wstart >= h.n_tokens ||
        h.npos < 0 || h.npos >= h.n_tokens - h.wstart || h.npos > mc->max_len ||
        h.n_logprobs < 0 || h.n_logprobs > h.n_generated || h.finish < 0 || h.finish > 2 ||
        (h.finish == TT_FINISH_STOP ? h.stop_index < 0 || h.stop_index >= TT_MAX_STOP
                                    : h.stop_index != -1))
        return tt_error_set(err, TT_ERR_FORMAT, "the state's counters are inconsistent");
    const size_t kv = (size_t)mc->n_layers * mc->n_heads * 2 * (size_t)h.npos * hs;
    const size_t bytes = sizeof h + (size_t)h.n_tokens * sizeof(int32_t) +
                         (size_t)h.n_logprobs * sizeof(tt_token_logprob) + kv * sizeof(float);
    if (size != bytes)
        return tt_error_set(err, TT_ERR_FORMAT, "the state has %zu bytes, its header says %zu",
                            size, bytes);
    const unsigned char *p = (const unsigned char *)buf + sizeof h;
    gen_row tmp;
    memset(&tmp, 0, sizeof tmp);
    tt_status st = row_config(g, &tmp, cfg, err);
    if (st) return st;
    /* the window may be longer than W (a full window holds W + 1 tokens
     * until the next eval slides it, as plan_row does); the cached
     * positions must fit the row's cache */
    if (h.npos > tmp.W)
        return tt_error_set(err, TT_ERR_ARG,
                            "the state's %d cached positions exceed the row's context_len %d",
                            h.npos, tmp.W);
    if ((st = check_rows_memory(g, &tmp, h.n_tokens, err))) return st;
    int r;
    if ((st = new_row(g, &r, err))) return st;
    /* the slot's cache holds the positions */
    if ((st = tt_gen_prepare(g, (*tt_gen_rows_of(g))->cap, (*tt_gen_rows_of(g))->cap, tmp.W, err)))
        return st;
    gen_row *w = &(*tt_gen_rows_of(g))->r[r];
    *w = tmp;
    if ((st = row_room(w, h.n_tokens + 16, err))) {
        free(w->out.tokens);
        free(w->out.logprobs);
        memset(w, 0, sizeof *w);
        return st;
    }
    memcpy(w->out.tokens, p, (size_t)h.n_tokens * sizeof(int32_t));
    p += (size_t)h.n_tokens * sizeof(int32_t);
    for (int i = 0; i < h.n_tokens; i++)
        if (w->out.tokens[i] < 0 || w->out.tokens[i] >= mc->vocab_size) {
            free(w->out.tokens);
            free(w->out.logprobs);
            memset(w, 0, sizeof *w);
            return tt_error_set(err, TT_ERR_FORMAT, "the state holds token id %d, outside [0, %d)",
                                w->out.tokens[i], mc->vocab_size);
        }
    w->out.n_tokens = h.n_tokens;
    w->out.n_prompt = h.n_prompt;
    w->out.n_generated = h.n_generated;
    if (w->cfg.sampling.x.logprobs > 0 && h.n_logprobs == h.n_generated) {
        if ((st = row_room(w, 16, err))) {
            free(w->out.tokens);
            free(w->out.logprobs);
            memset(w, 0, sizeof *w);
            return st;
        }
        memcpy(w->out.logprobs, p, (size_t)h.n_logprobs * sizeof(tt_token_logprob));
    } else if (w->cfg.sampling.x.logprobs > 0) {
        free(w->out.tokens);
        free(w->out.logprobs);
        memset(w, 0, sizeof *w);
        return tt_error_set(err, TT_ERR_ARG,
                            "the row asks for logprobs but the state was saved without them");
    }
    p += (size_t)h.n_logprobs * sizeof(tt_token_logprob);
    w->hist = (tt_token_history){w->out.tokens, w->out.n_tokens, w->out.n_prompt};
    w->wstart = h.wstart;
    w->fed = h.npos;
    memcpy(w->rng.s, h.rng, sizeof h.rng);
    if ((st = start_row(g, w, err))) return st;
    w->finished = h.finished != 0;
    w->out.finish = (tt_finish_reason)h.finish;
    w->out.stop_index = h.stop_index;
    if (h.npos) {
        float *f = malloc(kv * sizeof(float));
        if (!f) {
            drop_row(g, w);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a state");
        }
        memcpy(f, p, kv * sizeof(float));
        tt_gen_kv_copy(g, r, h.npos, f, false);
        free(f);
    }
    *row = r;
    tt_error_clear(err);
    return TT_OK;
}
