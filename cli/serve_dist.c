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
#include <stdarg.h>
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
    tt_sampling_params sp = tt_sampling_params_default();
    if (!cfg->do_sample || cfg->temperature == 0.0f) {
        sp.strategy = TT_STRATEGY_GREEDY;
    } else {
        sp.temperature = cfg->temperature;
        sp.top_k = cfg->top_k;
        sp.top_p = cfg->top_p;
    }
    sp.x = cfg->controls;
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

tt_status serve_dist_from_logits(tt_sampler *s, const tt_tokenizer *tok, const tt_generator_config *cfg,
                                 const float *logits, int V, const tt_token_history *h, serve_dist *out,
                                 tt_error *err) {
    if (!s || !cfg || !logits || !out) return tt_error_set(err, TT_ERR_ARG, "distribution: NULL argument");
    memset(out, 0, sizeof *out);
    if (V < 1 || tt_sampler_vocab_size(s) != V)
        return tt_error_set(err, TT_ERR_ARG, "distribution: the sampler has %d tokens, the logits %d",
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
    if (!out->prob || !out->prob_scaled || !out->prob_final || !out->kept || !out->order || !processed || !rk) {
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
    for (int i = 0; i < V; i++) rk[i] = (ranked){out->prob[i], i};
    qsort(rk, nv, sizeof *rk, cmp_ranked);
    for (int i = 0; i < V; i++) out->order[i] = rk[i].id;
done:
    tt_sampler_set_history(s, NULL, NULL);
    free(processed);
    free(rk);
    if (st) serve_dist_free(out);
    return st;
}

tt_status serve_dist_ctx_create(serve_dist_ctx **out, const tt_model *model, const tt_tokenizer *tok,
                                tt_error *err) {
    if (!out || !model || !tok) return tt_error_set(err, TT_ERR_ARG, "distribution: NULL argument");
    *out = NULL;
    const int V = tt_model_get_config(model)->vocab_size;
    if (tt_tokenizer_vocab_size(tok) != V)
        return tt_error_set(err, TT_ERR_ARG, "distribution: the tokenizer has %d tokens, the model %d",
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
static tt_status compute_locked(serve_dist_ctx *d, const int *prompt, int n_prompt, const int *generated,
                                int n_generated, const tt_generator_config *cfg, serve_dist *out,
                                tt_error *err) {
    tt_generator_config rc = *cfg;
    rc.n_threads = 1;
    rc.max_new_tokens = n_generated + 1; /* the row must not finish before the last token */
    rc.eos_token_id = TT_TOKEN_NONE;
    rc.pad_token_id = TT_TOKEN_NONE;
    rc.controls.n_stop = 0;
    rc.controls.logprobs = 0;
    rc.controls.prompt_logprobs = false;
    rc.controls.num_beams = 1;
    rc.controls.num_return_sequences = 1;
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

tt_status serve_dist_compute(serve_dist_ctx *d, const int *prompt, int n_prompt, const int *generated,
                             int n_generated, const tt_generator_config *cfg, serve_dist *out,
                             tt_error *err) {
    if (!d || !prompt || !cfg || !out || (n_generated > 0 && !generated))
        return tt_error_set(err, TT_ERR_ARG, "distribution: NULL argument");
    memset(out, 0, sizeof *out);
    if (n_prompt < 1) return tt_error_set(err, TT_ERR_ARG, "distribution: the prompt is empty");
    if (n_generated < 0) return tt_error_set(err, TT_ERR_ARG, "distribution: n_generated %d < 0", n_generated);
    for (int i = 0; i < n_generated; i++)
        if (generated[i] < 0 || generated[i] >= d->V)
            return tt_error_set(err, TT_ERR_RANGE, "distribution: token id %d is outside the vocabulary (V %d)",
                                generated[i], d->V);
    pthread_mutex_lock(&d->lock);
    const tt_status st = compute_locked(d, prompt, n_prompt, generated, n_generated, cfg, out, err);
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* ---- JSON ------------------------------------------------------------- */

/* An OpenAI error object (malloc'ed; NULL when out of memory). */
static char *error_json(const char *type, const char *param, const char *code, const char *msg) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

typedef struct {
    int status;
    char *json;
} reply;

/* A 400 reply naming param; returns -1. */
static int bad(reply *r, const char *param, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int bad(reply *r, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(r->json);
    r->status = 400;
    r->json = error_json("invalid_request_error", param, "invalid_value", msg);
    return -1;
}
#define BAD(param, ...) bad(r, (param), __VA_ARGS__)

static int fail500(reply *r, const char *msg) {
    free(r->json);
    r->status = 500;
    r->json = error_json("server_error", NULL, NULL, msg);
    return -1;
}

/* A number field in [lo, hi] (open ends with the flags); absent leaves *out. */
static int num_field(const cJSON *root, const char *name, double lo, double hi, bool lo_open, float *out,
                     reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) return BAD(name, "'%s' must be a number", name);
    const double x = v->valuedouble;
    if (!isfinite(x) || x > hi || x < lo || (lo_open && x == lo))
        return BAD(name, "'%s' is %g: expected a number in %s%g, %g]", name, x, lo_open ? "(" : "[", lo, hi);
    *out = (float)x;
    return 0;
}

static int int_field(const cJSON *root, const char *name, double lo, double hi, int *out, reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return BAD(name, "'%s' must be an integer", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return BAD(name, "'%s' is %.17g: expected an integer in [%.0f, %.0f]", name, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

/* A string (encoded) or an array of token ids; *ids malloc'ed. */
static int tokens_field(const serve_dist_ctx *d, const cJSON *root, const char *name, bool required, int **ids,
                        int *n, reply *r) {
    *ids = NULL;
    *n = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) {
        if (required) return BAD(name, "'%s' is required", name);
        return 0;
    }
    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring), cnt = 0;
        tt_error e;
        if (tt_tokenizer_encode(d->tok, v->valuestring, len, ids, &cnt, &e))
            return BAD(name, "'%s': %s", name, e.msg);
        if (cnt > (size_t)1 << 24) return free(*ids), *ids = NULL, BAD(name, "'%s' is too long", name);
        *n = (int)cnt;
    } else if (cJSON_IsArray(v)) {
        const int cnt = cJSON_GetArraySize(v);
        *ids = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof **ids);
        if (!*ids) return fail500(r, "out of memory");
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
                e->valuedouble >= d->V) {
                free(*ids);
                *ids = NULL;
                return BAD(name, "'%s'[%d] must be a token id in [0, %d)", name, i, d->V);
            }
            (*ids)[i] = (int)e->valuedouble;
        }
        *n = cnt;
    } else {
        return BAD(name, "'%s' must be a string or an array of token ids", name);
    }
    if (required && *n == 0) {
        free(*ids);
        *ids = NULL;
        return BAD(name, "'%s' must not be empty", name);
    }
    return 0;
}

/* The settings of a request; the fields tt serve's completions take, by
 * the same names. Fields a distribution does not use are accepted and
 * ignored, so that a client can send the object it generates with. */
static int settings(const serve_dist_ctx *d, const cJSON *root, tt_generator_config *cfg, tt_logit_bias *bias,
                    reply *r) {
    static const char *const known[] = {"prompt", "continuation", "temperature", "top_k", "top_p", "min_p",
                                        "typical_p", "repetition_penalty", "presence_penalty",
                                        "frequency_penalty", "penalty_last_n", "logit_bias", "samplers",
                                        "context_shift", "model", "seed", "max_tokens", "user"};
    for (const cJSON *e = root->child; e; e = e->next) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known && !ok; i++) ok = !strcmp(e->string, known[i]);
        if (!ok) return BAD(e->string, "Unrecognized request argument supplied: %s", e->string);
    }
    *cfg = tt_generator_config_default();
    tt_sampling_controls *c = &cfg->controls;
    if (num_field(root, "temperature", 0, 100, false, &cfg->temperature, r) ||
        int_field(root, "top_k", 0, 1e9, &cfg->top_k, r) ||
        num_field(root, "top_p", 0, 1, true, &cfg->top_p, r) ||
        num_field(root, "min_p", 0, 1, false, &c->min_p, r) ||
        num_field(root, "typical_p", 0, 1, true, &c->typical_p, r) ||
        num_field(root, "repetition_penalty", 0, 100, true, &c->repetition_penalty, r) ||
        num_field(root, "presence_penalty", -2, 2, false, &c->presence_penalty, r) ||
        num_field(root, "frequency_penalty", -2, 2, false, &c->frequency_penalty, r) ||
        int_field(root, "penalty_last_n", 0, 1e9, &c->penalty_last_n, r))
        return -1;
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(root, "logit_bias");
    if (lb && !cJSON_IsNull(lb)) {
        if (!cJSON_IsObject(lb)) return BAD("logit_bias", "'logit_bias' must be an object of token id -> bias");
        int n = 0;
        for (const cJSON *e = lb->child; e; e = e->next) {
            char *end;
            const long id = strtol(e->string, &end, 10);
            if (!*e->string || *end || id < 0 || id >= d->V)
                return BAD("logit_bias", "'logit_bias' key '%.40s' is not a token id in [0, %d)", e->string, d->V);
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || e->valuedouble < -100 || e->valuedouble > 100)
                return BAD("logit_bias", "'logit_bias' of token %ld must be a number in [-100, 100]", id);
            for (int i = 0; i < n; i++)
                if (bias[i].id == (int)id) return BAD("logit_bias", "'logit_bias' names token %ld twice", id);
            bias[n++] = (tt_logit_bias){(int)id, (float)e->valuedouble};
        }
        c->logit_bias = bias;
        c->n_logit_bias = n;
    }
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(root, "samplers");
    if (sm && !cJSON_IsNull(sm)) {
        char list[256] = "";
        if (cJSON_IsString(sm)) {
            snprintf(list, sizeof list, "%s", sm->valuestring);
        } else if (cJSON_IsArray(sm)) {
            for (const cJSON *e = sm->child; e; e = e->next) {
                if (!cJSON_IsString(e)) return BAD("samplers", "'samplers' must be stage names");
                const size_t at = strlen(list);
                snprintf(list + at, sizeof list - at, "%s%s", at ? "," : "", e->valuestring);
            }
        } else {
            return BAD("samplers", "'samplers' must be a string or an array of stage names");
        }
        tt_error e;
        if (tt_sampler_order_parse(list, c, &e)) return BAD("samplers", "'samplers': %s", e.msg);
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(root, "context_shift");
    if (cs && !cJSON_IsNull(cs)) {
        if (cJSON_IsString(cs) && !strcmp(cs->valuestring, "half")) cfg->context_shift = TT_CONTEXT_SHIFT_HALF;
        else if (cJSON_IsString(cs) && !strcmp(cs->valuestring, "exact")) cfg->context_shift = TT_CONTEXT_SHIFT_EXACT;
        else return BAD("context_shift", "'context_shift' must be \"half\" or \"exact\"");
    }
    tt_error e;
    if (tt_generator_config_validate(cfg, d->V, &e)) return BAD(NULL, "%s", e.msg);
    return 0;
}

static char *response_json(const serve_dist_ctx *d, const char *model_name, const serve_dist *ds, int n_cont) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "distribution");
    cJSON_AddStringToObject(root, "model", model_name ? model_name : "tt");
    cJSON_AddNumberToObject(root, "vocab_size", ds->V);
    cJSON_AddNumberToObject(root, "n_context", ds->n_context);
    cJSON_AddNumberToObject(root, "position", n_cont);
    cJSON_AddNumberToObject(root, "n_kept", ds->n_kept);
    cJSON_AddNumberToObject(root, "entropy_raw", ds->entropy_raw);
    cJSON_AddNumberToObject(root, "entropy", ds->entropy_final);
    bool *is_kept = calloc((size_t)ds->V, sizeof *is_kept);
    cJSON *arr = cJSON_AddArrayToObject(root, "tokens");
    if (!is_kept || !arr) {
        free(is_kept);
        cJSON_Delete(root);
        return NULL;
    }
    for (int i = 0; i < ds->n_kept; i++) is_kept[ds->kept[i]] = true;
    for (int i = 0; i < ds->V; i++) {
        const int id = ds->order[i];
        char text[5];
        tt_tokenizer_token_utf8(d->tok, id, text);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", id);
        cJSON_AddStringToObject(t, "text", text);
        cJSON_AddNumberToObject(t, "prob", ds->prob[id]);
        cJSON_AddNumberToObject(t, "prob_scaled", ds->prob_scaled[id]);
        cJSON_AddNumberToObject(t, "prob_final", ds->prob_final[id]);
        cJSON_AddBoolToObject(t, "kept", is_kept[id]);
        cJSON_AddItemToArray(arr, t);
    }
    free(is_kept);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void serve_dist_handle(serve_dist_ctx *d, const char *model_name, const char *body, size_t len, int *status,
                       char **json) {
    reply rr = {400, NULL}, *r = &rr;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int *prompt = NULL, *cont = NULL, n_prompt = 0, n_cont = 0;
    tt_logit_bias bias[256];
    tt_generator_config cfg;
    if (!root || !cJSON_IsObject(root)) {
        BAD(NULL, "the request body must be a JSON object");
        goto done;
    }
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(root, "logit_bias");
    if (cJSON_GetArraySize(lb) > (int)(sizeof bias / sizeof *bias)) {
        BAD("logit_bias", "'logit_bias' has more than %d entries", (int)(sizeof bias / sizeof *bias));
        goto done;
    }
    if (settings(d, root, &cfg, bias, r) || tokens_field(d, root, "prompt", true, &prompt, &n_prompt, r) ||
        tokens_field(d, root, "continuation", false, &cont, &n_cont, r))
        goto done;
    serve_dist ds;
    tt_error e;
    tt_status st = serve_dist_compute(d, prompt, n_prompt, cont, n_cont, &cfg, &ds, &e);
    if (st == TT_ERR_ARG || st == TT_ERR_RANGE) {
        BAD(NULL, "%s", e.msg);
    } else if (st) {
        fail500(r, e.msg);
    } else {
        rr.status = 200;
        rr.json = response_json(d, model_name, &ds, n_cont);
        serve_dist_free(&ds);
        if (!rr.json) fail500(r, "out of memory");
    }
done:
    cJSON_Delete(root);
    free(prompt);
    free(cont);
    *status = rr.status;
    *json = rr.json;
}
