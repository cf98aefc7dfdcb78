/*
 * src/generate.c — the TextGenerator's generation loop: config and
 * validation, create/free, prompts and context windows, a sampled token per
 * row and step (sampling controls, stop strings, callbacks), the results.
 *
 * The decoder (token rows through the model with KV caches) is
 * src/gen_decoder.c, the thread policy src/gen_threads.c; the three share
 * the object's layout in src/gen_object.h.
 *
 * Legend: B batch rows, V vocabulary, W context window, M max_new_tokens.
 */
#include "abi.h"
#include "gen_object.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Config                                                                   */

tt_generator_config tt_generator_config_default(void) {
    tt_generator_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.max_new_tokens = 50;
    c.eos_token_id = TT_TOKEN_NONE;
    c.pad_token_id = TT_TOKEN_NONE;
    c.seed = 42;
    c.use_cache = true;
    c.n_threads = 0;
    c.context_len = 0;
    c.context_shift = TT_CONTEXT_SHIFT_HALF;
    c.sampling = tt_sampling_params_default(); /* combined, T 1, top-k off, top-p off */
    return c;
}

const char *tt_context_shift_str(tt_context_shift s) {
    switch (s) {
    case TT_CONTEXT_SHIFT_HALF: return "half";
    case TT_CONTEXT_SHIFT_EXACT: return "exact";
    }
    return "unknown";
}

static tt_status check_id(const char *field, int id, int V, tt_error *err) {
    if (id == TT_TOKEN_NONE) return TT_OK;
    if (id < 0)
        return tt_error_set(err, TT_ERR_ARG, "%s must be a token id >= 0 or none (-1), got %d",
                            field, id);
    if (V > 0 && id >= V)
        return tt_error_set(err, TT_ERR_ARG, "%s %d is out of range for vocabulary size %d", field,
                            id, V);
    return TT_OK;
}

/* The first layout of this major version ends with the sampling params
 * (ABI policy, src/abi.h). */
#define TT_GENERATOR_CONFIG_SIZE_0 TT_STRUCT_END(tt_generator_config, sampling)

tt_status tt_gen_config_in(tt_generator_config *dst, const tt_generator_config *src, tt_error *err) {
    *dst = tt_generator_config_default();
    tt_status st = tt_struct_in(dst, sizeof *dst, src, TT_GENERATOR_CONFIG_SIZE_0, "generator config", err);
    /* the embedded params were read with the config (its struct_size covers
     * them): they are today's layout now */
    dst->sampling.struct_size = sizeof dst->sampling;
    return st;
}

tt_status tt_generator_config_validate(const tt_generator_config *gc_in, int vocab_size,
                                       tt_error *err) {
    if (!gc_in) return tt_error_set(err, TT_ERR_ARG, "generator config is NULL");
    tt_generator_config today;
    tt_status in = tt_gen_config_in(&today, gc_in, err);
    if (in != TT_OK) return in;
    const tt_generator_config *gc = &today;
    if (gc->max_new_tokens < 0)
        return tt_error_set(err, TT_ERR_ARG, "max_new_tokens must be >= 0, got %d",
                            gc->max_new_tokens);
    tt_status st = check_id("eos_token_id", gc->eos_token_id, vocab_size, err);
    if (st) return st;
    st = check_id("pad_token_id", gc->pad_token_id, vocab_size, err);
    if (st) return st;
    if (gc->n_threads < 0 || gc->n_threads > TT_GEN_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "n_threads must be in [0, %d] (0 = auto), got %d",
                            TT_GEN_MAX_THREADS, gc->n_threads);
    if (gc->pad_token_id != TT_TOKEN_NONE && gc->eos_token_id == TT_TOKEN_NONE)
        return tt_error_set(err, TT_ERR_ARG,
                            "pad_token_id %d is set without eos_token_id (padding needs an EOS)",
                            gc->pad_token_id);
    if (gc->context_len < 0)
        return tt_error_set(err, TT_ERR_ARG,
                            "context_len must be >= 0 (0 = the model's default), got %d",
                            gc->context_len);
    if (gc->context_shift != TT_CONTEXT_SHIFT_HALF && gc->context_shift != TT_CONTEXT_SHIFT_EXACT)
        return tt_error_set(err, TT_ERR_ARG, "context_shift must be half or exact, got %d",
                            (int)gc->context_shift);
    return tt_sampling_params_validate(&gc->sampling, err); /* the sampler's own validator */
}

const char *tt_finish_reason_str(tt_finish_reason r) {
    switch (r) {
    case TT_FINISH_LENGTH: return "length";
    case TT_FINISH_EOS: return "eos";
    case TT_FINISH_STOP: return "stop";
    }
    return "unknown";
}

void tt_generations_free(tt_generation *g, int n) {
    if (!g) return;
    for (int i = 0; i < n; i++) {
        free(g[i].tokens);
        g[i].tokens = NULL;
        free(g[i].logprobs);
        g[i].logprobs = NULL;
        g[i].n_tokens = g[i].n_prompt = g[i].n_generated = 0;
    }
}

/* True when the abort callback asks to stop (remembered for the call). */
bool tt_gen_abort_asked(tt_generator *g) {
    if (!g->aborted && g->abort_cb && g->abort_cb(g->abort_user)) g->aborted = true;
    return g->aborted;
}
void tt_gen_abort_reset(tt_generator *g) { g->aborted = false; }

/* Queues the window ctx[0..w) of slot `slot` (positions 0..w-1, its
 * logits to dst) for one batched recompute: windows of several rows go
 * through one forward_rows call, so that the weights are streamed once for
 * all of them instead of once per row; a full queue (g->CH token rows, a
 * chunk) is run first, so a long window is computed in chunks, each
 * attending to the cache its predecessors wrote (the same logits: a row's
 * values do not depend on the call it is in). *n: the rows queued so far. */
static void queue_window(tt_generator *g, int *n, const int *ctx, int w, int slot, float *dst) {
    tt_gen_queue_span(g, n, ctx, 0, w, slot, dst);
}

/* Recomputes slot `slot` over the window ctx[0..w) (positions 0..w-1,
 * 1 <= w <= Tmax) and writes the next-token logits to dst. */
static void forward_window(tt_generator *g, const int *ctx, int w, int slot, float *dst) {
    int n = 0;
    queue_window(g, &n, ctx, w, slot, dst);
    tt_gen_flush_span(g, n);
}

/* The prompt pass of every row: its window (the last W tokens, from
 * g->wstart), batched; each row's logits go to g->logits. */
static void prefill(tt_generator *g, const tt_generation *out, int B) {
    int n = 0;
    for (int r = 0; r < B; r++)
        queue_window(g, &n, out[r].tokens + g->wstart[r], out[r].n_tokens - g->wstart[r], r,
                     g->logits + (size_t)r * g->V);
    tt_gen_flush_span(g, n);
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                */

static void free_batch(tt_generator *g) {
    tt_gen_ffree(g->x);
    tt_gen_ffree(g->xns);
    tt_gen_ffree(g->q);
    tt_gen_ffree(g->kb);
    tt_gen_ffree(g->vb);
    tt_gen_ffree(g->att);
    tt_gen_ffree(g->h);
    tt_gen_ffree(g->lg);
    free(g->sel);
    free(g->logits);
    free(g->rngs);
    free(g->ctok);
    free(g->cpos);
    free(g->cslot);
    free(g->wstart);
    free(g->cdst);
    free(g->finished);
    free(g->stok);
    free(g->sent);
    free(g->sst);
    free(g->sampled);
    free(g->n_ent);
    free(g->hist);
    free(g->emitted);
    free(g->tcap);
    g->x = g->xns = g->q = g->kb = g->vb = g->att = g->h = g->lg = NULL;
    g->logits = NULL;
    g->sel = g->ctok = g->cpos = g->cslot = g->wstart = g->n_ent = g->tcap = NULL;
    g->rngs = NULL;
    g->cdst = NULL;
    g->finished = g->sampled = NULL;
    g->stok = NULL;
    g->sent = NULL;
    g->sst = NULL;
    g->hist = NULL;
    g->emitted = NULL;
    g->cap_b = g->cap_rows = 0;
}


void tt_generator_free(tt_generator *g) {
    if (!g) return;
    free_batch(g);
    tt_gen_free_threads(g);
    tt_pool_unref(g->pool);
    tt_gen_ffree(g->kc);
    tt_gen_ffree(g->vc);
    tt_gen_rows_free(g->rows);
    free(g->ent);
    tt_gen_weights_release(g->gw);
    if (g->fc) tt_gen_ffree((float *)g->fc->ctr);
    free(g->fc);
    free(g->wtok);
    free(g->wpos);
    free(g->wslot);
    free(g->wdst);
    free(g->probs);
    free(g);
}

/* The memory limit in force and what it is, for messages. */
static size_t mem_limit(const tt_generator *g, const char **what) {
    if (g->mem_limit) {
        *what = "the generator's memory limit is";
        return g->mem_limit;
    }
    *what = "the machine has";
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? tt_gen_mul_sat((size_t)pages, (size_t)page) : SIZE_MAX;
}

static tt_status check_request_memory(const tt_generator *g, const int *lens, int B, int M, int W,
                                      tt_error *err) {
    int maxlen = 1;
    for (int r = 0; r < B; r++) maxlen = lens[r] > maxlen ? lens[r] : maxlen;
    const int npos = M > W - maxlen ? W : maxlen + M; /* min(W, maxlen + M), no overflow */
    size_t need = tt_gen_mul_sat(tt_gen_kv_floats(g, (size_t)B, npos), sizeof(float));
    for (int r = 0; r < B; r++) /* prompt + generated ids */
        need = tt_gen_add_sat(need, tt_gen_mul_sat(tt_gen_add_sat((size_t)lens[r], (size_t)M), sizeof(int)));
    need = tt_gen_add_sat(need, tt_gen_mul_sat(tt_gen_mul_sat((size_t)B, (size_t)(M > 0 ? M : 1)),
                                         sizeof(double))); /* entropies */
    /* scratch for max(B, CH) rows and each thread's buffers */
    const size_t rows = (size_t)(B > g->CH ? B : g->CH);
    need = tt_gen_add_sat(
        need, tt_gen_mul_sat(tt_gen_add_sat(tt_gen_mul_sat(rows, (size_t)g->C * 8 + g->F + 2 * g->V),
                                      tt_gen_mul_sat((size_t)g->n_threads,
                                                  (size_t)GEN_PRIV_ROWS * g->C +
                                                      (size_t)g->NH * g->TPmax)),
                          sizeof(float)));
    const char *what;
    const size_t have = mem_limit(g, &what);
    if (need > have)
        return tt_error_set(err, TT_ERR_NOMEM,
                            "generating %d rows of up to %d new tokens needs %zu bytes but %s "
                            "%zu bytes%s",
                            B, M, need, what, have, g->mem_limit ? "" : " of physical memory");
    return TT_OK;
}

/* Makes room for B rows of per-call state and max(B, CH) scratch rows. */
static tt_status reserve(tt_generator *g, int B, tt_error *err) {
    if (B <= g->cap_b) return TT_OK;
    const size_t C = (size_t)g->C, F = (size_t)g->F, V = (size_t)g->V;
    const size_t rows = (size_t)(B > g->CH ? B : g->CH);
    if (rows > SIZE_MAX / sizeof(float) / (8 * C + F + V))
        return tt_error_set(err, TT_ERR_NOMEM, "scratch for %d rows is too large", B);
    free_batch(g);
    g->x = tt_gen_falloc(rows * C, false);
    g->xns = tt_gen_falloc(rows * C, false);
    g->q = tt_gen_falloc(rows * 3 * C, false); /* q, k, v of a fused product */
    g->kb = tt_gen_falloc(rows * C, false);
    g->vb = tt_gen_falloc(rows * C, false);
    g->att = tt_gen_falloc(rows * C, false);
    g->h = tt_gen_falloc(rows * F, false);
    g->lg = tt_gen_falloc(rows * V, false);
    g->sel = malloc(rows * sizeof(int));
    g->logits = malloc((size_t)B * V * sizeof(float));
    g->rngs = malloc((size_t)B * sizeof(tt_rng));
    g->ctok = malloc((size_t)B * sizeof(int));
    g->cpos = malloc((size_t)B * sizeof(int));
    g->cslot = malloc((size_t)B * sizeof(int));
    g->wstart = malloc((size_t)B * sizeof(int));
    g->cdst = malloc((size_t)B * sizeof(float *));
    g->finished = malloc((size_t)B);
    g->n_ent = calloc((size_t)B, sizeof(int));
    g->stok = malloc((size_t)B * sizeof(int));
    g->sent = malloc((size_t)B * sizeof(double));
    g->sst = malloc((size_t)B * sizeof(tt_status));
    g->sampled = calloc((size_t)B, 1);
    g->hist = calloc((size_t)B, sizeof *g->hist);
    g->emitted = calloc((size_t)B, sizeof *g->emitted);
    g->tcap = calloc((size_t)B, sizeof *g->tcap);
    if (!g->hist || !g->emitted || !g->tcap || !g->x || !g->xns || !g->q || !g->kb || !g->vb ||
        !g->att || !g->h || !g->lg || !g->sel || !g->logits || !g->rngs || !g->ctok || !g->cpos ||
        !g->cslot || !g->wstart || !g->cdst || !g->finished || !g->n_ent || !g->stok ||
        !g->sent || !g->sst || !g->sampled) {
        free_batch(g);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a batch of %d rows", B);
    }
    g->cap_b = B;
    g->cap_rows = (int)rows;
    return TT_OK;
}

/* A generator whose set_threads failed to get even one thread back has no
 * sampler: it refuses calls until set_threads succeeds. */
static tt_status check_ready(const tt_generator *g, tt_error *err) {
    if (!g->sampler)
        return tt_error_set(err, TT_ERR_STATE,
                            "the generator has no threads (tt_generator_set_threads failed)");
    return TT_OK;
}

tt_status tt_gen_prepare(tt_generator *g, int slots, int rows, int npos, tt_error *err) {
    tt_status st = check_ready(g, err);
    if (!st) st = reserve(g, rows, err);
    if (!st) st = tt_gen_reserve_kv(g, slots, npos, err);
    if (!st) {
        tt_gen_call_threads(g);
        st = tt_gen_use_weights(g, err);
    }
    return st;
}

tt_status tt_gen_check_memory(const tt_generator *g, int slots, int npos, size_t extra,
                              tt_error *err) {
    size_t need = tt_gen_add_sat(tt_gen_mul_sat(tt_gen_kv_floats(g, (size_t)slots, npos), sizeof(float)), extra);
    const size_t rows = (size_t)(slots > g->CH ? slots : g->CH);
    need = tt_gen_add_sat(need, tt_gen_mul_sat(tt_gen_mul_sat(rows, (size_t)g->C * 8 + g->F + 2 * g->V),
                                         sizeof(float)));
    const char *what;
    const size_t have = mem_limit(g, &what);
    if (need > have)
        return tt_error_set(err, TT_ERR_NOMEM,
                            "%d rows of up to %d positions need %zu bytes but %s %zu bytes%s",
                            slots, npos, need, what, have, g->mem_limit ? "" : " of physical memory");
    return TT_OK;
}

tt_gen_rows **tt_gen_rows_of(tt_generator *g) { return &g->rows; }
tt_sampler *tt_gen_sampler(tt_generator *g) { return g->sampler; }
float *tt_gen_probs(tt_generator *g) { return g->probs; }
int tt_gen_max_len(const tt_generator *g) { return g->Tmax; }
const tt_model *tt_gen_model(const tt_generator *g) { return g->model; }

size_t tt_generator_memory_bytes(const tt_generator *g) {
    if (!g) return 0;
    const size_t C = (size_t)g->C, F = (size_t)g->F, V = (size_t)g->V, f = sizeof(float);
    size_t b = sizeof *g + sizeof *g->fc + GEN_PHASES((size_t)g->L) * sizeof(gen_counter);
    b += tt_gen_kv_floats(g, (size_t)g->cap_slots, g->TP) * f * (g->kc != NULL);
    b += (size_t)g->cap_rows * ((8 * C + F + V) * f + sizeof(int));
    b += (size_t)g->cap_b * (V * f + sizeof(tt_rng) + 6 * sizeof(int) + sizeof(float *) + 2 +
                             sizeof(double) + sizeof(tt_status) + sizeof(tt_token_history));
    b += (size_t)g->n_threads * (GEN_PRIV_ROWS * C + (size_t)g->NH * g->TP) * f;
    b += (size_t)g->n_threads * (V + 1) * 64; /* a sampler's V-sized arrays (~57 bytes a token) */
    b += g->ent_alloc * sizeof(double) + (size_t)g->Tmax * (3 * sizeof(int) + sizeof(float *));
    b += V * f + tt_gen_rows_bytes(g->rows);
    return b;
}

tt_status tt_generator_create(tt_generator **out, const tt_model *model,
                              const tt_generator_config *gc, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "generator: out is NULL");
    *out = NULL;
    if (!model) return tt_error_set(err, TT_ERR_ARG, "generator: model is NULL");
    const tt_model_config *mc = tt_model_get_config(model);
    tt_generator_config cfg = tt_generator_config_default();
    tt_status st = gc ? tt_gen_config_in(&cfg, gc, err) : TT_OK;
    if (st) return st;
    if ((st = tt_generator_config_validate(&cfg, mc->vocab_size, err))) return st;
    if (cfg.context_len > mc->max_len)
        return tt_error_set(err, TT_ERR_ARG, "context_len %d exceeds the model's max_len %d",
                            cfg.context_len, mc->max_len);
    tt_generator *g = calloc(1, sizeof *g);
    if (!g) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the generator");
    g->model = model;
    g->cfg = cfg;
    g->V = mc->vocab_size;
    g->C = mc->d_model;
    g->NH = mc->n_heads;
    g->hs = mc->d_model / mc->n_heads;
    g->L = mc->n_layers;
    g->F = mc->d_ff;
    g->Tmax = mc->max_len;
    g->TPmax = (mc->max_len + 63) & ~63;
    g->CH = mc->max_len < GEN_CHUNK ? mc->max_len : GEN_CHUNK;
    g->TP = 0; /* the KV caches come with the first call */
    g->wtok = malloc((size_t)g->Tmax * sizeof(int));
    g->wpos = malloc((size_t)g->Tmax * sizeof(int));
    g->wslot = malloc((size_t)g->Tmax * sizeof(int));
    g->wdst = malloc((size_t)g->Tmax * sizeof(float *));
    g->probs = malloc((size_t)g->V * sizeof(float));
    g->fc = calloc(1, sizeof *g->fc);
    if (g->fc)
        g->fc->ctr = (gen_counter *)tt_gen_falloc(GEN_PHASES((size_t)g->L) * sizeof(gen_counter) /
                                               sizeof(float),
                                           false);
    if (!g->wtok || !g->wpos || !g->wslot || !g->wdst || !g->probs || !g->fc || !g->fc->ctr) {
        tt_generator_free(g);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the generator");
    }
    st = tt_gen_setup_threads(g, cfg.n_threads, err);
    if (!st) st = reserve(g, 1, err);
    if (st) {
        tt_generator_free(g);
        return st;
    }
    *out = g;
    tt_error_clear(err);
    return TT_OK;
}

void tt_generator_set_memory_limit(tt_generator *g, size_t bytes) {
    if (g) g->mem_limit = bytes;
}

void tt_generator_set_abort_callback(tt_generator *g, tt_abort_callback cb, void *user) {
    if (!g) return;
    g->abort_cb = cb;
    g->abort_user = user;
}

void tt_generator_set_tokenizer(tt_generator *g, const struct tt_tokenizer *tok) {
    if (g) g->tok = tok;
}

const tt_generator_config *tt_generator_get_config(const tt_generator *g) {
    return g ? &g->cfg : NULL;
}

/* The window W of a config (validated: context_len <= max_len). */
static int context_of(const tt_generator *g, const tt_generator_config *c) {
    return c->context_len > 0 ? c->context_len : tt_model_default_context(g->model);
}

int tt_generator_context_len(const tt_generator *g) { return g ? context_of(g, &g->cfg) : 0; }
int tt_gen_context_of(const tt_generator *g, const tt_generator_config *cfg) { return context_of(g, cfg); }

static tt_status check_prompt(const tt_generator *g, const int *p, int n, int r, tt_error *err) {
    if (!p || n < 1)
        return tt_error_set(err, TT_ERR_ARG,
                            "prompt %d is empty (a prompt needs at least one token)", r);
    for (int i = 0; i < n; i++)
        if (p[i] < 0 || p[i] >= g->V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "prompt %d: token id %d at position %d is out of range [0, %d)", r,
                                p[i], i, g->V);
    return TT_OK;
}

tt_status tt_generator_next_logits(tt_generator *g, const int *tokens, int n, float *logits,
                                   tt_error *err) {
    if (!g || !logits) return tt_error_set(err, TT_ERR_ARG, "next_logits: NULL argument");
    if (tt_gen_rows_active(g->rows) > 0)
        return tt_error_set(err, TT_ERR_STATE,
                            "the generator has rows of the step API; remove them first");
    tt_status st = check_ready(g, err);
    if (!st) st = check_prompt(g, tokens, n, 0, err);
    if (st) return st;
    const int w = n < g->Tmax ? n : g->Tmax;
    st = reserve(g, 1, err); /* a failed reserve of a generate call leaves none */
    if (!st) st = tt_gen_reserve_kv(g, 1, w, err);
    if (!st) st = tt_gen_use_weights(g, err);
    if (st) return st;
    g->aborted = false;
    forward_window(g, tokens + (n - w), w, 0, logits);
    if (g->aborted) /* beam search's steps: the abort callback said stop */
        return tt_error_set(err, TT_ERR_INTERRUPTED, "aborted by the abort callback");
    return TT_OK;
}


static tt_generator_config apply_overrides(const tt_generator_config *base,
                                           const tt_generate_overrides *o) {
    tt_generator_config c = *base;
    if (!o) return c;
    const tt_generator_config *v = &o->values;
    if (o->set & TT_OVR_MAX_NEW_TOKENS) c.max_new_tokens = v->max_new_tokens;
    if (o->set & TT_OVR_TEMPERATURE) c.sampling.temperature = v->sampling.temperature;
    if (o->set & TT_OVR_TOP_K) c.sampling.top_k = v->sampling.top_k;
    if (o->set & TT_OVR_TOP_P) c.sampling.top_p = v->sampling.top_p;
    if (o->set & TT_OVR_STRATEGY) c.sampling.strategy = v->sampling.strategy;
    if (o->set & TT_OVR_EOS) c.eos_token_id = v->eos_token_id;
    if (o->set & TT_OVR_PAD) c.pad_token_id = v->pad_token_id;
    if (o->set & TT_OVR_SEED) c.seed = v->seed;
    if (o->set & TT_OVR_USE_CACHE) c.use_cache = v->use_cache;
    if (o->set & TT_OVR_CONTEXT_LEN) c.context_len = v->context_len;
    if (o->set & TT_OVR_CONTEXT_SHIFT) c.context_shift = v->context_shift;
    if (o->set & TT_OVR_CONTROLS) c.sampling.x = v->sampling.x;
    return c;
}

tt_status tt_gen_call_config(const tt_generator *g, const tt_generate_overrides *o,
                             tt_generator_config *cfg, tt_error *err) {
    const unsigned known = TT_OVR_CONTROLS * 2u - 1u; /* every TT_OVR_* bit */
    if (o && (o->set & ~known))
        return tt_error_set(err, TT_ERR_ARG, "generate: unknown override bits 0x%x", o->set & ~known);
    *cfg = apply_overrides(&g->cfg, o);
    return tt_generator_config_validate(cfg, g->V, err);
}

int tt_gen_vocab_size(const tt_generator *g) { return g->V; }
const struct tt_tokenizer *tt_gen_tokenizer(const tt_generator *g) { return g->tok; }

/* Makes room for one more token (and its logprob) in row r's result:
 * doubling, up to n_prompt + M (a result never holds more). */
static tt_status grow_result(tt_generator *g, tt_generation *o, int r, int M, bool lp,
                             tt_error *err) {
    if (o->n_tokens < g->tcap[r]) return TT_OK;
    const int had = g->tcap[r] - o->n_prompt; /* generated tokens it has room for */
    const int cap = had > M / 2 ? M : had < GEN_GROW / 2 ? GEN_GROW : 2 * had;
    int *t = realloc(o->tokens, ((size_t)o->n_prompt + (size_t)cap) * sizeof(int));
    if (!t) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d tokens of row %d", cap, r);
    o->tokens = t;
    g->hist[r].tokens = t;
    if (lp) {
        tt_token_logprob *l = realloc(o->logprobs, (size_t)cap * sizeof *l);
        if (!l) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d logprobs", cap);
        o->logprobs = l;
    }
    g->tcap[r] = o->n_prompt + cap;
    return TT_OK;
}

/* Makes room for one more entropy in every row (a step adds at most one):
 * doubling the stride, up to M. */
static tt_status grow_entropies(tt_generator *g, int B, int M, tt_error *err) {
    bool full = false;
    for (int r = 0; r < B && !full; r++) full = g->n_ent[r] >= g->ent_cap;
    if (!full) return TT_OK;
    const int cap = g->ent_cap > M / 2 ? M : 2 * g->ent_cap;
    double *e = malloc((size_t)B * (size_t)cap * sizeof(double));
    if (!e) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d entropies", cap);
    for (int r = 0; r < B; r++)
        memcpy(e + (size_t)r * cap, g->ent + (size_t)r * g->ent_cap,
               (size_t)g->n_ent[r] * sizeof(double));
    free(g->ent);
    g->ent = e;
    g->ent_alloc = (size_t)B * (size_t)cap;
    g->ent_cap = cap;
    return TT_OK;
}

tt_status tt_generator_generate(tt_generator *g, const int *const *prompts, const int *lens, int B,
                                const tt_generate_overrides *overrides, const uint64_t *row_ids,
                                tt_token_callback cb, void *user, tt_generation *out,
                                tt_error *err) {
    if (!g || !prompts || !lens || !out)
        return tt_error_set(err, TT_ERR_ARG, "generate: NULL argument");
    if (B < 1)
        return tt_error_set(err, TT_ERR_ARG, "generate: need at least one prompt, got %d", B);
    for (int r = 0; r < B; r++) {
        out[r].tokens = NULL;
        out[r].n_tokens = out[r].n_prompt = out[r].n_generated = 0;
        out[r].finish = TT_FINISH_LENGTH;
        out[r].stop_index = -1;
        out[r].logprobs = NULL;
        out[r].score = 0.0;
    }
    const unsigned known = TT_OVR_CONTROLS * 2u - 1u; /* every TT_OVR_* bit */
    if (overrides && (overrides->set & ~known))
        return tt_error_set(err, TT_ERR_ARG, "generate: unknown override bits 0x%x",
                            overrides->set & ~known);
    if (tt_gen_rows_active(g->rows) > 0)
        return tt_error_set(err, TT_ERR_STATE,
                            "generate: the generator has %d rows of the step API; remove them "
                            "first (or use another generator)",
                            tt_gen_rows_active(g->rows));
    const tt_generator_config cfg = apply_overrides(&g->cfg, overrides);
    tt_status st = check_ready(g, err);
    if (!st) st = tt_generator_config_validate(&cfg, g->V, err);
    if (st) return st;
    if (cfg.context_len > g->Tmax)
        return tt_error_set(err, TT_ERR_ARG, "context_len %d exceeds the model's max_len %d",
                            cfg.context_len, g->Tmax);
    const tt_sampling_controls *X = &cfg.sampling.x;
    if (X->num_beams > 1) return tt_gen_beams_per_row(g, prompts, lens, B, overrides, out, err);
    st = tt_stop_set_init(&g->stops, X, g->tok, err);
    if (st) return st;
    /* The window: W tokens; half restarts it with the last H tokens. */
    const int W = context_of(g, &cfg), H = W / 2 > 0 ? W / 2 : 1;
    const bool half = cfg.context_shift == TT_CONTEXT_SHIFT_HALF;
    for (int r = 0; r < B; r++) {
        st = check_prompt(g, prompts[r], lens[r], r, err);
        if (st) return st;
        if (lens[r] > INT_MAX - cfg.max_new_tokens)
            return tt_error_set(err, TT_ERR_ARG,
                                "prompt %d: length %d + max_new_tokens %d overflows", r, lens[r],
                                cfg.max_new_tokens);
    }
    st = check_request_memory(g, lens, B, cfg.max_new_tokens, W, err);
    if (st) return st;
    st = reserve(g, B, err);
    if (st) return st;
    const int M = cfg.max_new_tokens, V = g->V;
    int maxlen = 1;
    for (int r = 0; r < B; r++) maxlen = lens[r] > maxlen ? lens[r] : maxlen;
    st = tt_gen_reserve_kv(g, B, M > W - maxlen ? W : maxlen + M, err);
    if (st) return st;
    /* results and entropies grow as tokens come (max_new_tokens may be far
     * more than a row ever generates): GEN_GROW tokens to start with */
    const int M0 = M < GEN_GROW ? M : GEN_GROW;
    const size_t ent_need = (size_t)B * (size_t)(M0 > 0 ? M0 : 1);
    if (ent_need > g->ent_alloc) {
        free(g->ent);
        g->ent = malloc(ent_need * sizeof(double));
        g->ent_alloc = g->ent ? ent_need : 0;
        g->ent_cap = g->ent_rows = 0;
        if (!g->ent) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for entropies");
    }
    g->ent_cap = M0 > 0 ? M0 : 1;
    g->ent_rows = B;
    for (int r = 0; r < B; r++) {
        g->tcap[r] = lens[r] + M0;
        out[r].tokens = malloc(((size_t)lens[r] + (size_t)M0) * sizeof(int));
        if (!out[r].tokens) {
            tt_generations_free(out, B);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the results");
        }
        if (X->logprobs > 0 &&
            !(out[r].logprobs = malloc((size_t)(M0 > 0 ? M0 : 1) * sizeof *out[r].logprobs))) {
            tt_generations_free(out, B);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the logprobs");
        }
        memcpy(out[r].tokens, prompts[r], (size_t)lens[r] * sizeof(int));
        out[r].n_tokens = out[r].n_prompt = lens[r];
        g->wstart[r] = lens[r] > W ? lens[r] - W : 0; /* the prompt's last W tokens */
        g->finished[r] = 0;
        g->n_ent[r] = 0;
        g->emitted[r] = 0;
        g->hist[r] = (tt_token_history){out[r].tokens, out[r].n_tokens, out[r].n_prompt};
        tt_rng_seed_stream(&g->rngs[r], cfg.seed, row_ids ? row_ids[r] : (uint64_t)r);
    }

    const tt_sampling_params sp = cfg.sampling;
    tt_sampler_set_history(g->sampler, NULL, g->tok);
    const int eos = cfg.eos_token_id, pad = cfg.pad_token_id;

    /* The workers stay awake (spinning, then yielding) while the team is in
     * use: a worker woken from sleep took up to ~1 ms to start in this VM. */
    tt_gen_call_threads(g);
    st = tt_gen_use_weights(g, err); /* starts the own team when more than one thread is used */
    if (st) {
        tt_generations_free(out, B);
        return st;
    }
    if (g->use_threads > 1) tt_gen_start_team(g); /* no pool: the own team, at its first use */
    if (g->team) tt_team_set_hot(g->team, g->use_threads > 1); /* a pool stays cold */
    memset(g->sampled, 0, (size_t)B); /* none drawn ahead (a stopped call may leave some) */
    g->aborted = false;
    /* Prefill: the next-token logits of every row. */
    if (M > 0) prefill(g, out, B);

    tt_status result = TT_OK;
    for (int step = 0; step < M; step++) {
        if (tt_gen_abort_asked(g)) { /* between steps, or during the prefill or a window's */
            result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                  "generation aborted by the abort callback at step %d", step);
            break;
        }
        if (step > 0) {
            /* Auto threads (src/gen_threads.c): now and then a few decode steps
             * run on the team and on one thread, and the faster runs until
             * the next probe. A team is only faster when its cores are
             * free: where another process keeps a core busy, its barriers
             * wait for a thread that is not running (measured with one of
             * 2 cores busy: 1.3-2.8x slower than one thread). The workers
             * stay awake (hot) only while the team is in use: a worker
             * spinning beside the caller on a busy machine slows one-thread
             * steps down. The tokens do not depend on any of this. */
            const tt_gen_step_clock clock = tt_gen_step_begin(g, true);
            /* Feed each unfinished row's last token; rows whose window is
             * recomputed are batched apart (nw rows queued). */
            int n = 0, nw = 0;
            for (int r = 0; r < B; r++) {
                if (g->finished[r]) continue;
                const int len = out[r].n_tokens;
                float *dst = g->logits + (size_t)r * V;
                /* The new token would go at position len - 1 - wstart; at W
                 * the window is full and slides: exact keeps the last W
                 * tokens (every position changes: a full recompute), half
                 * restarts with the last H (prefilled once, then cached). */
                bool rebuild = !cfg.use_cache;
                if (len - g->wstart[r] > W) {
                    g->wstart[r] = len - (half ? H : W);
                    rebuild = true;
                }
                if (rebuild) {
                    queue_window(g, &nw, out[r].tokens + g->wstart[r], len - g->wstart[r], r, dst);
                } else {
                    g->ctok[n] = out[r].tokens[len - 1];
                    g->cpos[n] = len - 1 - g->wstart[r];
                    g->cslot[n] = r;
                    g->cdst[n] = dst;
                    n++;
                }
            }
            tt_gen_flush_span(g, nw);
            if (g->aborted) { /* asked during the windows' recompute */
                result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                      "generation aborted by the abort callback at step %d", step);
                break;
            }
            if (n) tt_gen_forward_rows(g, n, g->ctok, g->cpos, g->cslot, g->cdst, false, &sp);
            /* only plain decode steps are timed: a step that also
             * prefills restarted windows is slower on any thread count and
             * would skew the verdict */
            tt_gen_step_end(g, clock, !nw);
        }
        bool stop = false, all_done = true;
        for (int r = 0; r < B; r++) {
            /* room for this step's token (or pad) */
            if ((st = grow_result(g, &out[r], r, M, X->logprobs > 0, err)) != TT_OK ||
                (st = grow_entropies(g, B, M, err)) != TT_OK) {
                tt_generations_free(out, B);
                result = st;
                stop = true;
                break;
            }
            if (g->finished[r]) {
                if (pad != TT_TOKEN_NONE) out[r].tokens[out[r].n_tokens++] = pad;
                continue;
            }
            const float *lr = g->logits + (size_t)r * V;
            int tok;
            double ent; /* of the filtered distribution; greedy: 0 */
            if (g->sampled[r]) { /* drawn by the forward pass's team */
                g->sampled[r] = 0;
                tok = g->stok[r];
                ent = g->sent[r];
                st = g->sst[r];
                if (st) { /* the same call again, for its message */
                    tt_sampler_set_history(g->sampler, &g->hist[r], g->tok);
                    st = tt_sampler_sample_entropy(g->sampler, &sp, lr, &g->rngs[r], &tok, &ent,
                                                   err);
                }
            } else {
                tt_sampler_set_history(g->sampler, &g->hist[r], g->tok);
                st = tt_sampler_sample_entropy(g->sampler, &sp, lr, &g->rngs[r], &tok, &ent, err);
            }
            if (!st && X->logprobs > 0)
                st = tt_gen_logprobs(g->sampler, &g->hist[r], g->tok, g->probs, &sp, lr, V, tok,
                                     &out[r].logprobs[out[r].n_generated], err);
            if (st) {
                tt_generations_free(out, B);
                result = st;
                for (int i = 0; i < V; i++)
                    if (!isfinite(lr[i])) { /* not the caller's logits: the model's own */
                        result = tt_error_set(err, TT_ERR_NUMERIC,
                                              "the model produced a non-finite logit (%s for token %d, row %d, "
                                              "step %d): its weights are too large or corrupt",
                                              isnan(lr[i]) ? "NaN" : lr[i] > 0 ? "+inf" : "-inf", i, r, step);
                        break;
                    }
                stop = true;
                break;
            }
            out[r].tokens[out[r].n_tokens++] = tok;
            out[r].n_generated++;
            g->ent[(size_t)r * g->ent_cap + g->n_ent[r]++] = ent;
            int hold = 0;
            if (eos != TT_TOKEN_NONE && tok == eos) {
                g->finished[r] = 1;
                out[r].finish = TT_FINISH_EOS;
            } else if (!tt_gen_stop_check(&g->stops, &out[r], pad, &hold)) {
                all_done = false;
            } else {
                g->finished[r] = 1;
            }
            g->hist[r].n_tokens = out[r].n_tokens;
            /* the callback sees each token once no stop string can take it back */
            if (tt_gen_emit(&g->emitted[r], r, &out[r], g->finished[r] ? 0 : hold, cb, user)) {
                stop = true;
                break;
            }
        }
        if (!stop && (all_done || step == M - 1)) /* the end: what was held back */
            for (int r = 0; r < B && !stop; r++) stop = tt_gen_emit(&g->emitted[r], r, &out[r], 0, cb, user);
        if (stop) {
            if (result == TT_OK)
                result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                      "generation stopped by the callback at step %d", step);
            break;
        }
        if (all_done) break;
    }
    if (g->team) tt_team_set_hot(g->team, false); /* idle workers sleep between calls */
    if (result == TT_OK) tt_error_clear(err);
    return result;
}

tt_status tt_generator_step_entropies(const tt_generator *g, int row, const double **ent, int *n,
                                      tt_error *err) {
    if (!g || !ent || !n) return tt_error_set(err, TT_ERR_ARG, "step_entropies: NULL argument");
    if (row < 0 || row >= g->ent_rows || !g->ent)
        return tt_error_set(err, TT_ERR_RANGE, "step_entropies: row %d is out of range [0, %d)",
                            row, g->ent_rows);
    *ent = g->ent + (size_t)row * g->ent_cap;
    *n = g->n_ent[row];
    return TT_OK;
}
