/*
 * The next-token distribution of the sampling explorer (cli/serve_dist.h):
 * logits from the step API, the chain from tt_sampler_filter, and the JSON of
 * POST /v1/distribution.
 *
 * Legend: V = vocabulary size; a context is prompt + generated tokens.
 */
#include "serve_dist.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct serve_dist_ctx {
    pthread_mutex_t lock;
    const tt_model *model;
    const tt_tokenizer *tok;
    tt_generator *gen; /* one thread; rows come and go within a call */
    tt_sampler *sampler;
    int V;
};

void serve_dist_free(serve_dist *d) {
    if (!d) return;
    free(d->prob);
    free(d->prob_scaled);
    free(d->prob_final);
    free(d->kept);
    free(d->order);
    memset(d, 0, sizeof *d);
}

tt_sampling_params serve_dist_params(const tt_generator_config *cfg) {
    tt_sampling_params sp = cfg->sampling; /* the generator's own settings */
    /* generation-only controls: the sampler ignores them, keep them off */
    sp.x.n_stop = 0;
    sp.x.logprobs = 0;
    sp.x.prompt_logprobs = false;
    sp.x.num_beams = 1;
    sp.x.num_return_sequences = 1;
    return sp;
}

typedef struct {
    float p;
    int id;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static double entropy_of(const float *p, int V) {
    double h = 0.0;
    for (int i = 0; i < V; i++)
        if (p[i] > 0.0f) h -= (double)p[i] * log((double)p[i]);
    return h;
}

tt_status serve_dist_from_logits(tt_sampler *s, const tt_tokenizer *tok,
                                 const tt_generator_config *cfg, const float *logits, int V,
                                 const tt_token_history *h, serve_dist *out, tt_error *err) {
    if (!s || !cfg || !logits || !out)
        return tt_error_set(err, TT_ERR_ARG, "distribution: NULL argument");
    memset(out, 0, sizeof *out);
    if (V < 1 || tt_sampler_vocab_size(s) != V)
        return tt_error_set(err, TT_ERR_ARG,
                            "distribution: the sampler has %d tokens, the logits %d",
                            tt_sampler_vocab_size(s), V);
    const size_t nv = (size_t)V;
    out->V = V;
    out->n_context = h ? h->n_tokens : 0;
    out->prob = malloc(nv * sizeof *out->prob);
    out->prob_scaled = malloc(nv * sizeof *out->prob_scaled);
    out->prob_final = malloc(nv * sizeof *out->prob_final);
    out->kept = malloc(nv * sizeof *out->kept);
    out->order = malloc(nv * sizeof *out->order);
    float *processed = malloc(nv * sizeof *processed);
    ranked *rk = malloc(nv * sizeof *rk);
    tt_status st = TT_OK;
    if (!out->prob || !out->prob_scaled || !out->prob_final || !out->kept || !out->order ||
        !processed || !rk) {
        st = tt_error_set(err, TT_ERR_NOMEM, "distribution: out of memory (V %d)", V);
        goto done;
    }
    const tt_sampling_params sp = serve_dist_params(cfg);
    if ((st = tt_sampling_params_validate(&sp, err))) goto done;
    tt_sampler_set_history(s, h, tok);
    if ((st = tt_softmax(logits, V, 1.0f, out->prob, err))) goto done;
    if ((st = tt_sampler_filter(s, &sp, logits, out->prob_final, out->kept, &out->n_kept,
                                &out->entropy_final, err)))
        goto done;
    if (sp.strategy == TT_STRATEGY_GREEDY) {
        memcpy(out->prob_scaled, out->prob_final, nv * sizeof *processed);
    } else {
        if ((st = tt_sampler_process_logits(s, &sp, logits, processed, err))) goto done;
        if ((st = tt_softmax(processed, V, sp.temperature, out->prob_scaled, err))) goto done;
    }
    out->entropy_raw = entropy_of(out->prob, V);
    for (int i = 0; i < V; i++)
        rk[i] = (ranked){out->prob[i], i};
    qsort(rk, nv, sizeof *rk, cmp_ranked);
    for (int i = 0; i < V; i++)
        out->order[i] = rk[i].id;
done:
    tt_sampler_set_history(s, NULL, NULL);
    free(processed);
    free(rk);
    if (st) serve_dist_free(out);
    return st;
}

tt_status serve_dist_ctx_create(serve_dist_ctx **out, const tt_model *model,
                                const tt_tokenizer *tok, tt_error *err) {
    if (!out || !model || !tok) return tt_error_set(err, TT_ERR_ARG, "distribution: NULL argument");
    *out = NULL;
    const int V = tt_model_get_config(model)->vocab_size;
    if (tt_tokenizer_vocab_size(tok) != V)
        return tt_error_set(err, TT_ERR_ARG,
                            "distribution: the tokenizer has %d tokens, the model %d",
                            tt_tokenizer_vocab_size(tok), V);
    serve_dist_ctx *d = calloc(1, sizeof *d);
    if (!d) return tt_error_set(err, TT_ERR_NOMEM, "distribution: out of memory");
    d->model = model;
    d->tok = tok;
    d->V = V;
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1; /* a tiny model: one row's decode gains nothing from a team */
    tt_status st = tt_generator_create(&d->gen, model, &gc, err);
    if (!st) st = tt_sampler_create(&d->sampler, V, err);
    if (st) {
        serve_dist_ctx_free(d);
        return st;
    }
    tt_generator_set_tokenizer(d->gen, tok);
    pthread_mutex_init(&d->lock, NULL);
    *out = d;
    return TT_OK;
}

void serve_dist_ctx_free(serve_dist_ctx *d) {
    if (!d) return;
    if (d->sampler) pthread_mutex_destroy(&d->lock);
    tt_generator_free(d->gen);
    tt_sampler_free(d->sampler);
    free(d);
}

/* Feeds prompt + generated through a row of the step API and computes the
 * distribution of the next token; the caller holds the lock. */
static tt_status compute_locked(serve_dist_ctx *d, const int *prompt, int n_prompt,
                                const int *generated, int n_generated,
                                const tt_generator_config *cfg, serve_dist *out, tt_error *err) {
    tt_generator_config rc = *cfg;
    rc.n_threads = 1;
    rc.max_new_tokens = n_generated + 1; /* the row must not finish before the last token */
    rc.eos_token_id = TT_TOKEN_NONE;
    rc.pad_token_id = TT_TOKEN_NONE;
    rc.sampling.x.n_stop = 0;
    rc.sampling.x.logprobs = 0;
    rc.sampling.x.prompt_logprobs = false;
    rc.sampling.x.num_beams = 1;
    rc.sampling.x.num_return_sequences = 1;
    int row = -1;
    tt_status st = tt_generator_add_row(d->gen, prompt, n_prompt, &rc, 0, &row, err);
    if (st) return st;
    for (int j = 0; j < n_generated && !st; j++) {
        tt_step_token tk;
        int n_tk = 0;
        st = tt_generator_row_set_token(d->gen, row, generated[j], err);
        if (!st) st = tt_generator_step(d->gen, &tk, 1, &n_tk, err);
    }
    const float *logits = NULL;
    const tt_generation *res = NULL;
    if (!st) st = tt_generator_eval(d->gen, err);
    if (!st) st = tt_generator_row_logits(d->gen, row, &logits, err);
    if (!st) st = tt_generator_row_result(d->gen, row, &res, err);
    if (!st) {
        const tt_token_history h = {res->tokens, res->n_tokens, res->n_prompt};
        st = serve_dist_from_logits(d->sampler, d->tok, cfg, logits, d->V, &h, out, err);
    }
    tt_error keep;
    if (st && err) keep = *err;
    tt_generator_remove_row(d->gen, row, NULL);
    if (st && err) *err = keep;
    return st;
}

tt_status serve_dist_compute(serve_dist_ctx *d, const int *prompt, int n_prompt,
                             const int *generated, int n_generated, const tt_generator_config *cfg,
                             serve_dist *out, tt_error *err) {
    if (!d || !prompt || !cfg || !out || (n_generated > 0 && !generated))
        return tt_error_set(err, TT_ERR_ARG, "distribution: NULL argument");
    memset(out, 0, sizeof *out);
    if (n_prompt < 1) return tt_error_set(err, TT_ERR_ARG, "distribution: the prompt is empty");
    if (n_generated < 0)
        return tt_error_set(err, TT_ERR_ARG, "distribution: n_generated %d < 0", n_generated);
    for (int i = 0; i < n_generated; i++)
        if (generated[i] < 0 || generated[i] >= d->V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "distribution: token id %d is outside the vocabulary (V %d)",
                                generated[i], d->V);
    pthread_mutex_lock(&d->lock);
    const tt_status st = compute_locked(d, prompt, n_prompt, generated, n_generated, cfg, out, err);
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* ---- JSON ------------------------------------------------------------- */

cJSON *serve_dist_json(const serve_dist *ds, const tt_tokenizer *tok, const char *model_name,
                       int position) {
    cJSON *root = cJSON_CreateObject();
    bool *is_kept = calloc((size_t)ds->V, sizeof *is_kept);
    if (!root || !is_kept) {
        free(is_kept);
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(root, "object", "distribution");
    cJSON_AddStringToObject(root, "model", model_name ? model_name : "tt");
    cJSON_AddNumberToObject(root, "vocab_size", ds->V);
    cJSON_AddNumberToObject(root, "n_context", ds->n_context);
    cJSON_AddNumberToObject(root, "position", position);
    cJSON_AddNumberToObject(root, "n_kept", ds->n_kept);
    cJSON_AddNumberToObject(root, "entropy_raw", ds->entropy_raw);
    cJSON_AddNumberToObject(root, "entropy", ds->entropy_final);
    cJSON *arr = cJSON_AddArrayToObject(root, "tokens");
    for (int i = 0; i < ds->n_kept; i++)
        is_kept[ds->kept[i]] = true;
    bool ok = arr != NULL;
    for (int i = 0; i < ds->V && ok; i++) {
        const int id = ds->order[i];
        char text[5];
        tt_tokenizer_token_utf8(tok, id, text);
        cJSON *t = cJSON_CreateObject();
        ok = t && cJSON_AddNumberToObject(t, "id", id) &&
             cJSON_AddStringToObject(t, "text", text) &&
             cJSON_AddNumberToObject(t, "prob", ds->prob[id]) &&
             cJSON_AddNumberToObject(t, "prob_scaled", ds->prob_scaled[id]) &&
             cJSON_AddNumberToObject(t, "prob_final", ds->prob_final[id]) &&
             cJSON_AddBoolToObject(t, "kept", is_kept[id]);
        if (t && !cJSON_AddItemToArray(arr, t)) {
            cJSON_Delete(t);
            ok = false;
        }
    }
    free(is_kept);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
