/*
 * tt serve's endpoints (docs/serve.md): the OpenAI Completions and Chat
 * Completions APIs with every `tt generate` control as an extension, and
 * /v1/models, /health, /tokenize, /detokenize, /metrics.
 *
 * A generating handler parses and validates the whole request first (an
 * error names the field: OpenAI's error object), makes a job and queues it;
 * then it either waits for the job (watching the client's socket) and
 * answers once, or streams server-sent events as the scheduler hands over
 * tokens: `data: {chunk}\n\n` per token, a last chunk with finish_reason,
 * then `data: [DONE]\n\n`.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve.h"
#include "serve_internal.h"
#include "tt/checkpoint.h"

#define WAIT_MS 50 /* a waiting handler looks at its socket this often */

/* ---- Small JSON helpers ---------------------------------------------------- */

/* An integer in [lo, hi]; -1 after an error naming name. */
static int get_int(const cJSON *v, const char *name, long lo, long hi, long *out, serve_reply *r) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        serve_reply_error(r, 400, name, "'%s' must be an integer", name);
        return -1;
    }
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        serve_reply_error(r, 400, name, "'%s' must be in [%ld, %ld], got %.17g", name, lo, hi,
                          v->valuedouble);
        return -1;
    }
    *out = (long)v->valuedouble;
    return 0;
}

static int get_float(const cJSON *v, const char *name, float *out, serve_reply *r) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        serve_reply_error(r, 400, name, "'%s' must be a number", name);
        return -1;
    }
    *out = (float)v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *v, const char *name, bool *out, serve_reply *r) {
    if (!cJSON_IsBool(v)) {
        serve_reply_error(r, 400, name, "'%s' must be true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static char *own_string(serve_settings *st, const char *s) {
    char **ns = realloc(st->strings, (size_t)(st->n_strings + 1) * sizeof *ns);
    if (!ns) return NULL;
    st->strings = ns;
    char *c = strdup(s);
    if (c) st->strings[st->n_strings++] = c;
    return c;
}

void serve_settings_free(serve_settings *st) {
    if (!st) return;
    for (int i = 0; i < st->n_strings; i++)
        free(st->strings[i]);
    free(st->strings);
    free(st->bias);
    st->strings = NULL;
    st->bias = NULL;
    st->n_strings = 0;
}

/* ---- Settings: the fields every generating endpoint shares ------------- */

static const char *const common_fields[] = {
    "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "user",
    /* extensions: the controls of tt generate */
    "top_k", "min_p", "typical_p", "repetition_penalty", "penalty_last_n", "dry_multiplier",
    "dry_base", "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "samplers",
    "context_shift", "logprobs_mode", "eos", NULL};
static const char *const completion_fields[] = {"prompt",  "logprobs", "echo",
                                                "best_of", "suffix",   NULL};
static const char *const chat_fields[] = {"messages", "logprobs", "top_logprobs",
                                          "max_completion_tokens", NULL};

static bool in_list(const char *const *l, const char *name) {
    for (; *l; l++)
        if (!strcmp(*l, name)) return true;
    return false;
}

bool serve_settings_field(const char *name, bool chat) {
    return in_list(common_fields, name) || in_list(chat ? chat_fields : completion_fields, name);
}

/* The library's verdict on the config after `name` was set. */
static int check(serve_server *s, serve_settings *st, const char *name, serve_reply *r) {
    tt_error err;
    if (tt_generator_config_validate(&st->gc, tt_tokenizer_vocab_size(serve_tokenizer(s)), &err) !=
        TT_OK) {
        serve_reply_error(r, 400, name, "'%s': %s", name, err.msg);
        return -1;
    }
    return 0;
}

static int set_stop(serve_settings *st, const cJSON *v, serve_reply *r) {
    tt_sampling_controls *c = &st->gc.sampling.x;
    c->n_stop = 0;
    if (cJSON_IsNull(v)) return 0;
    const cJSON *items = v;
    if (cJSON_IsString(v)) {
        items = NULL;
    } else if (!cJSON_IsArray(v)) {
        serve_reply_error(r, 400, "stop", "'stop' must be a string or an array of strings");
        return -1;
    }
    const int n = items ? cJSON_GetArraySize(items) : 1;
    if (n > TT_MAX_STOP) {
        serve_reply_error(r, 400, "stop", "'stop' has %d strings; at most %d", n, TT_MAX_STOP);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *e = items ? cJSON_GetArrayItem(items, i) : v;
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            serve_reply_error(r, 400, "stop", "'stop' strings must be non-empty strings");
            return -1;
        }
        const char *own = own_string(st, e->valuestring);
        if (!own) {
            serve_reply_error(r, 500, NULL, "out of memory");
            return -1;
        }
        c->stop[c->n_stop++] = own;
    }
    return 0;
}

static int set_logit_bias(serve_server *s, serve_settings *st, const cJSON *v, serve_reply *r) {
    if (cJSON_IsNull(v)) return 0;
    if (!cJSON_IsObject(v)) {
        serve_reply_error(r, 400, "logit_bias",
                          "'logit_bias' must be an object of token-id strings to numbers");
        return -1;
    }
    const int n = cJSON_GetArraySize(v), V = tt_tokenizer_vocab_size(serve_tokenizer(s));
    if (n == 0) return 0;
    st->bias = calloc((size_t)n, sizeof *st->bias);
    if (!st->bias) {
        serve_reply_error(r, 500, NULL, "out of memory");
        return -1;
    }
    int k = 0;
    for (const cJSON *e = v->child; e; e = e->next, k++) {
        char *end;
        const long id = strtol(e->string, &end, 10);
        if (!e->string[0] || *end || e->string[0] == '-' || e->string[0] == '+' ||
            e->string[0] == ' ' || id < 0 || id >= V) {
            serve_reply_error(r, 400, "logit_bias",
                              "'logit_bias': key '%.40s' is not a token id in [0, %d)", e->string,
                              V);
            return -1;
        }
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            serve_reply_error(r, 400, "logit_bias",
                              "'logit_bias': the bias of token %ld must be "
                              "a number",
                              id);
            return -1;
        }
        for (int j = 0; j < k; j++)
            if (st->bias[j].id == (int)id) {
                serve_reply_error(r, 400, "logit_bias", "'logit_bias': token %ld appears twice",
                                  id);
                return -1;
            }
        st->bias[k].id = (int)id;
        st->bias[k].bias = (float)e->valuedouble;
    }
    st->gc.sampling.x.logit_bias = st->bias;
    st->gc.sampling.x.n_logit_bias = n;
    return check(s, st, "logit_bias", r);
}

static int set_breakers(serve_server *s, serve_settings *st, const cJSON *v, serve_reply *r) {
    tt_sampling_controls *c = &st->gc.sampling.x;
    if (!cJSON_IsArray(v)) {
        serve_reply_error(r, 400, "dry_sequence_breakers",
                          "'dry_sequence_breakers' must be an array of strings");
        return -1;
    }
    const int n = cJSON_GetArraySize(v);
    if (n > TT_DRY_MAX_BREAKERS) {
        serve_reply_error(r, 400, "dry_sequence_breakers",
                          "'dry_sequence_breakers' has %d strings; at most %d", n,
                          TT_DRY_MAX_BREAKERS);
        return -1;
    }
    c->n_dry_breakers = 0;
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            serve_reply_error(r, 400, "dry_sequence_breakers",
                              "'dry_sequence_breakers' must be an array of strings");
            return -1;
        }
        const char *own = own_string(st, e->valuestring);
        if (!own) {
            serve_reply_error(r, 500, NULL, "out of memory");
            return -1;
        }
        c->dry_breakers[c->n_dry_breakers++] = own;
    }
    return check(s, st, "dry_sequence_breakers", r);
}

static int set_samplers(serve_server *s, serve_settings *st, const cJSON *v, serve_reply *r) {
    char list[512] = "";
    if (cJSON_IsString(v)) {
        snprintf(list, sizeof list, "%s", v->valuestring);
    } else if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next) {
            if (!cJSON_IsString(e) || strchr(e->valuestring, ',')) {
                serve_reply_error(r, 400, "samplers", "'samplers' must be an array of names");
                return -1;
            }
            const size_t at = strlen(list);
            snprintf(list + at, sizeof list - at, "%s%s", at ? "," : "", e->valuestring);
        }
    } else {
        serve_reply_error(
            r, 400, "samplers",
            "'samplers' must be a list of names (array, or a comma-separated string)");
        return -1;
    }
    tt_error err;
    if (tt_sampler_order_parse(list, &st->gc.sampling.x, &err) != TT_OK) {
        serve_reply_error(r, 400, "samplers", "'samplers': %s", err.msg);
        return -1;
    }
    return check(s, st, "samplers", r);
}

int serve_settings_parse(serve_server *s, const cJSON *obj, bool chat, serve_settings *st,
                         serve_reply *r) {
    memset(st, 0, sizeof *st);
    st->gc = tt_generator_config_default();
    st->gc.max_new_tokens = 16;
    st->gc.context_len = serve_context_len(s);
    st->logprobs = -1;
    const int cap = serve_max_tokens_cap(s);
    for (const cJSON *v = obj->child; v; v = v->next) {
        const char *k = v->string;
        long n;
        if (cJSON_IsNull(v) && strcmp(k, "stop")) continue; /* null: the default */
        if (!strcmp(k, "max_tokens") || !strcmp(k, "max_completion_tokens")) {
            if (get_int(v, k, 0, cap, &n, r)) return -1;
            st->gc.max_new_tokens = (int)n;
        } else if (!strcmp(k, "temperature")) {
            if (get_float(v, k, &st->gc.sampling.temperature, r) || check(s, st, k, r)) return -1;
            if (st->gc.sampling.temperature < 0.0f) {
                serve_reply_error(r, 400, k, "'temperature' must be >= 0 (0 = greedy)");
                return -1;
            }
        } else if (!strcmp(k, "top_p")) {
            if (get_float(v, k, &st->gc.sampling.top_p, r) || check(s, st, k, r)) return -1;
        } else if (!strcmp(k, "top_k")) {
            if (get_int(v, k, 0, 1000000000L, &n, r)) return -1;
            st->gc.sampling.top_k = (int)n;
        } else if (!strcmp(k, "seed")) {
            if (get_int(v, k, 0, 9007199254740991L, &n, r)) return -1; /* 2^53 - 1 */
            st->gc.seed = (uint64_t)n;
            st->seed_given = true;
        } else if (!strcmp(k, "stop")) {
            if (set_stop(st, v, r) || check(s, st, k, r)) return -1;
        } else if (!strcmp(k, "presence_penalty")) {
            if (get_float(v, k, &st->gc.sampling.x.presence_penalty, r) || check(s, st, k, r))
                return -1;
        } else if (!strcmp(k, "frequency_penalty")) {
            if (get_float(v, k, &st->gc.sampling.x.frequency_penalty, r) || check(s, st, k, r))
                return -1;
        } else if (!strcmp(k, "repetition_penalty")) {
            if (get_float(v, k, &st->gc.sampling.x.repetition_penalty, r) || check(s, st, k, r))
                return -1;
        } else if (!strcmp(k, "min_p")) {
            if (get_float(v, k, &st->gc.sampling.x.min_p, r) || check(s, st, k, r)) return -1;
        } else if (!strcmp(k, "typical_p")) {
            if (get_float(v, k, &st->gc.sampling.x.typical_p, r) || check(s, st, k, r)) return -1;
        } else if (!strcmp(k, "penalty_last_n")) {
            if (get_int(v, k, 0, 1000000000L, &n, r)) return -1;
            st->gc.sampling.x.penalty_last_n = (int)n;
        } else if (!strcmp(k, "dry_multiplier")) {
            if (get_float(v, k, &st->gc.sampling.x.dry_multiplier, r) || check(s, st, k, r))
                return -1;
        } else if (!strcmp(k, "dry_base")) {
            if (get_float(v, k, &st->gc.sampling.x.dry_base, r) || check(s, st, k, r)) return -1;
        } else if (!strcmp(k, "dry_allowed_length")) {
            if (get_int(v, k, 1, 1000000000L, &n, r)) return -1;
            st->gc.sampling.x.dry_allowed_length = (int)n;
        } else if (!strcmp(k, "dry_penalty_last_n")) {
            if (get_int(v, k, 0, 1000000000L, &n, r)) return -1;
            st->gc.sampling.x.dry_penalty_last_n = (int)n;
        } else if (!strcmp(k, "dry_sequence_breakers")) {
            if (set_breakers(s, st, v, r)) return -1;
        } else if (!strcmp(k, "logit_bias")) {
            if (set_logit_bias(s, st, v, r)) return -1;
        } else if (!strcmp(k, "samplers")) {
            if (set_samplers(s, st, v, r)) return -1;
        } else if (!strcmp(k, "context_shift")) {
            if (!cJSON_IsString(v) ||
                (strcmp(v->valuestring, "half") && strcmp(v->valuestring, "exact"))) {
                serve_reply_error(r, 400, k, "'context_shift' must be \"half\" or \"exact\"");
                return -1;
            }
            st->gc.context_shift =
                strcmp(v->valuestring, "half") ? TT_CONTEXT_SHIFT_EXACT : TT_CONTEXT_SHIFT_HALF;
        } else if (!strcmp(k, "logprobs_mode")) {
            if (!cJSON_IsString(v) ||
                (strcmp(v->valuestring, "raw") && strcmp(v->valuestring, "processed"))) {
                serve_reply_error(r, 400, k, "'logprobs_mode' must be \"raw\" or \"processed\"");
                return -1;
            }
            st->gc.sampling.x.logprobs_mode =
                strcmp(v->valuestring, "raw") ? TT_LOGPROBS_PROCESSED : TT_LOGPROBS_RAW;
        } else if (!strcmp(k, "eos")) {
            uint32_t cp;
            int id;
            const size_t len = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
            if (!len || tt_utf8_decode(v->valuestring, len, &cp) != (int)len) {
                serve_reply_error(r, 400, k, "'eos' must be a string of one character");
                return -1;
            }
            if (tt_tokenizer_id(serve_tokenizer(s), cp, &id) != TT_OK) {
                serve_reply_error(r, 400, k,
                                  "'eos': character '%s' is not in the model's vocabulary",
                                  v->valuestring);
                return -1;
            }
            st->gc.eos_token_id = id;
        } else if (!strcmp(k, "logprobs") && !chat) {
            if (get_int(v, k, 0, TT_MAX_LOGPROBS, &n, r)) return -1;
            st->logprobs = (int)n;
        } else if (!strcmp(k, "logprobs") && chat) {
            bool on;
            if (get_bool(v, k, &on, r)) return -1;
            if (on && st->logprobs < 0) st->logprobs = 0;
            if (!on) st->logprobs = -1;
        } else if (!strcmp(k, "top_logprobs") && chat) {
            if (get_int(v, k, 0, TT_MAX_LOGPROBS, &n, r)) return -1;
            if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "logprobs"))) {
                serve_reply_error(r, 400, k, "'top_logprobs' needs 'logprobs': true");
                return -1;
            }
            st->logprobs = (int)n;
        } else if (!strcmp(k, "model")) {
            if (!cJSON_IsString(v)) {
                serve_reply_error(r, 400, k, "'model' must be a string");
                return -1;
            }
            if (strcmp(v->valuestring, serve_model_id(s))) {
                serve_reply_error(r, 404, k,
                                  "the model '%.100s' does not exist (this server has '%s')",
                                  v->valuestring, serve_model_id(s));
                return -1;
            }
        } else if (!strcmp(k, "user")) {
            if (!cJSON_IsString(v)) {
                serve_reply_error(r, 400, k, "'user' must be a string");
                return -1;
            }
        } else if (!serve_settings_field(k, chat)) {
            serve_reply_error(r, 400, k, "unrecognized request argument supplied: %.80s", k);
            return -1;
        }
    }
    if (st->gc.sampling.temperature == 0.0f)
        st->gc.sampling.strategy = TT_STRATEGY_GREEDY; /* greedy, as tt generate */
    if (st->logprobs >= 0) st->gc.sampling.x.logprobs = st->logprobs > 0 ? st->logprobs : 1;
    if (!st->seed_given) { /* OpenAI: no seed, a different draw each time */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        static unsigned long counter;
        st->gc.seed = ((uint64_t)ts.tv_nsec * 2654435761u) ^ ((uint64_t)ts.tv_sec << 20) ^
                      (uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        st->gc.seed &= 0x1FFFFFFFFFFFFFull; /* reported back: fits a JSON number */
    }
    return check(s, st, "temperature", r);
}

/* ---- Text helpers ------------------------------------------------------------ */

static char *decode(const tt_tokenizer *tok, const int *ids, int n) {
    char *text = NULL;
    if (n == 0) return strdup("");
    if (tt_tokenizer_decode(tok, ids, (size_t)n, &text, NULL) != TT_OK) return NULL;
    return text;
}

static const char *tok_str(const tt_tokenizer *tok, int id, char buf[5]) {
    if (!tt_tokenizer_token_utf8(tok, id, buf)) snprintf(buf, 5, "?");
    return buf;
}

static void make_id(char *buf, size_t n, const char *prefix) {
    static unsigned long counter;
    const unsigned long k = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    snprintf(buf, n, "%s%lx%06lx", prefix, (unsigned long)time(NULL), k);
}

/* Encodes one prompt; a 400 naming param on a bad one. */
static int encode_prompt(serve_server *s, const char *text, size_t len, const char *param,
                         int **ids, int *n, serve_reply *r) {
    size_t m = 0;
    tt_error err;
    *ids = NULL;
    if (len == 0) {
        serve_reply_error(r, 400, param, "'%s' is empty (a prompt needs at least one character)",
                          param);
        return -1;
    }
    if (tt_tokenizer_encode(serve_tokenizer(s), text, len, ids, &m, &err) != TT_OK) {
        serve_reply_error(r, err.code == TT_ERR_NOMEM ? 500 : 400, param, "'%s': %s", param,
                          err.msg);
        return -1;
    }
    if ((int)m > serve_context_len(s)) {
        serve_reply_error(r, 400, param, "'%s' has %zu tokens; the context window holds %d", param,
                          m, serve_context_len(s));
        free(*ids);
        *ids = NULL;
        return -1;
    }
    *n = (int)m;
    return 0;
}

static int ids_prompt(serve_server *s, const cJSON *arr, int **ids, int *n, serve_reply *r) {
    const int m = cJSON_GetArraySize(arr), V = tt_tokenizer_vocab_size(serve_tokenizer(s));
    if (m == 0) {
        serve_reply_error(r, 400, "prompt",
                          "'prompt' is empty (a prompt needs at least one token)");
        return -1;
    }
    if (m > serve_context_len(s)) {
        serve_reply_error(r, 400, "prompt", "'prompt' has %d tokens; the context window holds %d",
                          m, serve_context_len(s));
        return -1;
    }
    *ids = malloc((size_t)m * sizeof **ids);
    if (!*ids) {
        serve_reply_error(r, 500, NULL, "out of memory");
        return -1;
    }
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        long id;
        if (get_int(e, "prompt", 0, V - 1, &id, r)) {
            free(*ids);
            *ids = NULL;
            return -1;
        }
        (*ids)[i] = (int)id;
    }
    *n = m;
    return 0;
}

/* ---- A generation request -------------------------------------------------- */

/* A choice's tokens that the client has not seen, copied out of the job
 * under the scheduler's mutex, so that they are formatted without it. */
typedef struct {
    int *ids;
    tt_token_logprob *lps;
    int n, cap;
    bool finished;
    tt_finish_reason finish;
} stream_snap;

typedef struct {
    serve_server *s;
    bool chat, stream, echo, include_usage;
    int n; /* choices per prompt */
    int n_prompts;
    int **ids; /* [n_prompts] */
    int *lens;
    serve_settings st;
    serve_job *job;
    char id[48];
    long created;
    tt_token_logprob **plp; /* [n_prompts] echo with logprobs: the prompt's */
    /* streaming */
    struct MHD_Connection *conn;
    int *cursor; /* [n_choices] tokens already sent */
    int *offset; /* [n_choices] text_offset of the next token */
    bool *head_sent, *tail_sent;
    bool done_sent;
    int job_choices;
    stream_snap *snap; /* [n_choices] what the job had new at the last look */
    int error_status;
    char error[TT_ERROR_MSG_MAX];
    char *buf; /* formatted events not yet sent */
    size_t len, off, cap;
    double quiet_since; /* the stream has sent nothing since (monotonic s; 0: not yet begun) */
} gen_req;

static void gen_req_free(gen_req *q) {
    if (!q) return;
    if (q->job) {
        serve_job_cancel(serve_scheduler(q->s), q->job);
        serve_job_release(serve_scheduler(q->s), q->job);
    }
    for (int p = 0; p < q->n_prompts; p++) {
        free(q->ids[p]);
        if (q->plp) free(q->plp[p]);
    }
    free(q->ids);
    free(q->lens);
    free(q->plp);
    serve_settings_free(&q->st);
    free(q->cursor);
    free(q->offset);
    free(q->head_sent);
    free(q->tail_sent);
    if (q->snap)
        for (int c = 0; c < q->job_choices; c++) {
            free(q->snap[c].ids);
            free(q->snap[c].lps);
        }
    free(q->snap);
    free(q->buf);
    free(q);
}

static int add_prompt(gen_req *q, int *ids, int n) {
    int **ni = realloc(q->ids, (size_t)(q->n_prompts + 1) * sizeof *ni);
    if (!ni) return -1;
    q->ids = ni;
    int *nl = realloc(q->lens, (size_t)(q->n_prompts + 1) * sizeof *nl);
    if (!nl) return -1;
    q->lens = nl;
    q->ids[q->n_prompts] = ids;
    q->lens[q->n_prompts++] = n;
    return 0;
}

/* The prompts of a completion: a string, an array of strings, an array of
 * token ids, or an array of arrays of ids. */
static int parse_prompts(gen_req *q, const cJSON *p, serve_reply *r) {
    int *ids, n;
    if (!p) {
        serve_reply_error(r, 400, "prompt", "'prompt' is required");
        return -1;
    }
    if (cJSON_IsString(p)) {
        if (encode_prompt(q->s, p->valuestring, strlen(p->valuestring), "prompt", &ids, &n, r))
            return -1;
        if (add_prompt(q, ids, n)) goto oom;
        return 0;
    }
    if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) == 0) {
        serve_reply_error(r, 400, "prompt",
                          "'prompt' must be a string, an array of strings or token ids");
        return -1;
    }
    if (cJSON_IsNumber(p->child)) {
        if (ids_prompt(q->s, p, &ids, &n, r)) return -1;
        if (add_prompt(q, ids, n)) goto oom;
        return 0;
    }
    for (const cJSON *e = p->child; e; e = e->next) {
        if (cJSON_IsString(e)) {
            if (encode_prompt(q->s, e->valuestring, strlen(e->valuestring), "prompt", &ids, &n, r))
                return -1;
        } else if (cJSON_IsArray(e)) {
            if (ids_prompt(q->s, e, &ids, &n, r)) return -1;
        } else {
            serve_reply_error(r, 400, "prompt",
                              "'prompt' must be a string, an array of strings or token ids");
            return -1;
        }
        if (add_prompt(q, ids, n)) {
            free(ids);
            goto oom;
        }
    }
    return 0;
oom:
    serve_reply_error(r, 500, NULL, "out of memory");
    return -1;
}

/* Appends to a growing string; -1 when out of memory. */
typedef struct {
    char *s;
    size_t len, cap;
} strbuf;
static int sb_add(strbuf *b, const char *t, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) return -1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, t, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

/* {placeholder} substitution of the chat template. */
static int sb_template(strbuf *b, const char *tmpl, const char *name, const char *content) {
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{name}", 6)) {
            if (sb_add(b, name, strlen(name))) return -1;
            p += 6;
        } else if (!strncmp(p, "{content}", 9) && content) {
            if (sb_add(b, content, strlen(content))) return -1;
            p += 9;
        } else {
            if (sb_add(b, p, 1)) return -1;
            p++;
        }
    }
    return 0;
}

static int parse_messages(gen_req *q, const cJSON *m, serve_reply *r) {
    const serve_chat_template *t = &q->s->tmpl;
    if (t->problem[0]) {
        serve_reply_error(r, 400, "messages", "%s", t->problem);
        return -1;
    }
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0) {
        serve_reply_error(r, 400, "messages", "'messages' must be a non-empty array of messages");
        return -1;
    }
    strbuf b = {0};
    int i = 0;
    for (const cJSON *e = m->child; e; e = e->next, i++) {
        char param[40];
        snprintf(param, sizeof param, "messages[%d]", i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(e, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        int ri = -1;
        if (cJSON_IsString(role)) {
            if (!strcmp(role->valuestring, "system") || !strcmp(role->valuestring, "developer"))
                ri = SERVE_ROLE_SYSTEM;
            else if (!strcmp(role->valuestring, "user"))
                ri = SERVE_ROLE_USER;
            else if (!strcmp(role->valuestring, "assistant"))
                ri = SERVE_ROLE_ASSISTANT;
        }
        if (!cJSON_IsObject(e) || ri < 0) {
            free(b.s);
            serve_reply_error(
                r, 400, param,
                "'%s.role' must be \"system\", \"developer\", \"user\" or \"assistant\"", param);
            return -1;
        }
        if (name && !cJSON_IsNull(name) && (!cJSON_IsString(name) || !name->valuestring[0])) {
            free(b.s);
            serve_reply_error(r, 400, param, "'%s.name' must be a non-empty string", param);
            return -1;
        }
        strbuf text = {0};
        if (cJSON_IsString(content)) {
            if (sb_add(&text, content->valuestring, strlen(content->valuestring))) goto oom;
        } else if (cJSON_IsArray(content)) { /* [{"type": "text", "text": ...}] */
            for (const cJSON *part = content->child; part; part = part->next) {
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(part, "type");
                const cJSON *tx = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "text") || !cJSON_IsString(tx)) {
                    free(b.s);
                    free(text.s);
                    serve_reply_error(
                        r, 400, param,
                        "'%s.content' parts must be {\"type\": \"text\", \"text\": ...}", param);
                    return -1;
                }
                if (sb_add(&text, tx->valuestring, strlen(tx->valuestring))) goto oom;
            }
        } else {
            free(b.s);
            serve_reply_error(r, 400, param,
                              "'%s.content' must be a string or an array of text parts", param);
            return -1;
        }
        const char *who = cJSON_IsString(name) ? name->valuestring : t->names[ri];
        const int rc = sb_template(&b, t->message, who, text.s ? text.s : "");
        free(text.s);
        if (rc) goto oom;
    }
    if (sb_template(&b, t->assistant, t->names[SERVE_ROLE_ASSISTANT], NULL)) goto oom;
    int *ids, n;
    const int rc = encode_prompt(q->s, b.s, b.len, "messages", &ids, &n, r);
    free(b.s);
    if (rc) return -1;
    if (add_prompt(q, ids, n)) {
        free(ids);
        serve_reply_error(r, 500, NULL, "out of memory");
        return -1;
    }
    return 0;
oom:
    free(b.s);
    serve_reply_error(r, 500, NULL, "out of memory");
    return -1;
}

/* The prompt's own logprobs, for echo with logprobs: a second copy of the
 * model's weights runs tt eval's forward pass (one request at a time), so
 * the generator's model is never written. */
static int prompt_logprobs(gen_req *q, serve_reply *r) {
    serve_server *s = q->s;
    q->plp = calloc((size_t)q->n_prompts, sizeof *q->plp);
    if (!q->plp) goto oom;
    pthread_mutex_lock(&s->eval_mu);
    int rc = 0;
    tt_error err;
    if (!s->opt.eval_model) {
        tt_model *m = NULL;
        tt_tokenizer *tok = NULL;
        if (tt_checkpoint_load(s->opt.model_path, &m, &tok, &err) != TT_OK) {
            pthread_mutex_unlock(&s->eval_mu);
            serve_reply_error(r, 500, NULL, "cannot load the model for prompt logprobs: %s",
                              err.msg);
            return -1;
        }
        tt_tokenizer_free(tok);
        s->opt.eval_model = m;
    }
    for (int p = 0; p < q->n_prompts && !rc; p++) {
        q->plp[p] = malloc((size_t)q->lens[p] * sizeof *q->plp[p]);
        if (!q->plp[p] || tt_model_token_logprobs(s->opt.eval_model, q->ids[p], q->lens[p],
                                                  q->st.logprobs, q->plp[p], &err) != TT_OK)
            rc = -1;
    }
    pthread_mutex_unlock(&s->eval_mu);
    if (!rc) return 0;
oom:
    serve_reply_error(r, 500, NULL, "out of memory");
    return -1;
}

/* ---- Logprobs in OpenAI's shapes -------------------------------------------- */

static cJSON *top_object(const tt_tokenizer *tok, const tt_token_logprob *lp, int n_top) {
    cJSON *o = cJSON_CreateObject();
    char buf[5];
    for (int k = 0; k < lp->n_top && k < n_top; k++)
        cJSON_AddNumberToObject(o, tok_str(tok, lp->top[k].id, buf), (double)lp->top[k].logprob);
    return o;
}

/* The legacy completions object: tokens, token_logprobs, top_logprobs,
 * text_offset (in characters from the start of the prompt). */
typedef struct {
    cJSON *obj, *tokens, *lps, *tops, *offs;
} legacy_lp;

static legacy_lp legacy_new(void) {
    legacy_lp l;
    l.obj = cJSON_CreateObject();
    l.tokens = cJSON_AddArrayToObject(l.obj, "tokens");
    l.lps = cJSON_AddArrayToObject(l.obj, "token_logprobs");
    l.tops = cJSON_AddArrayToObject(l.obj, "top_logprobs");
    l.offs = cJSON_AddArrayToObject(l.obj, "text_offset");
    return l;
}

static void legacy_add(legacy_lp *l, const tt_tokenizer *tok, int id, const tt_token_logprob *lp,
                       int n_top, int offset) {
    char buf[5];
    cJSON_AddItemToArray(l->tokens, cJSON_CreateString(tok_str(tok, id, buf)));
    if (lp && lp->n_top >= 0) {
        cJSON_AddItemToArray(l->lps, cJSON_CreateNumber((double)lp->logprob));
        cJSON_AddItemToArray(l->tops, top_object(tok, lp, n_top));
    } else {
        cJSON_AddItemToArray(l->lps, cJSON_CreateNull());
        cJSON_AddItemToArray(l->tops, cJSON_CreateNull());
    }
    cJSON_AddItemToArray(l->offs, cJSON_CreateNumber(offset));
}

static cJSON *bytes_array(const char *s) {
    cJSON *a = cJSON_CreateArray();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(*p));
    return a;
}

/* The chat object's entry: {token, logprob, bytes, top_logprobs: [...]}. */
static cJSON *chat_lp(const tt_tokenizer *tok, int id, const tt_token_logprob *lp, int n_top) {
    char buf[5];
    cJSON *o = cJSON_CreateObject();
    tok_str(tok, id, buf);
    cJSON_AddStringToObject(o, "token", buf);
    cJSON_AddNumberToObject(o, "logprob", lp ? (double)lp->logprob : 0.0);
    cJSON_AddItemToObject(o, "bytes", bytes_array(buf));
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    for (int k = 0; lp && k < lp->n_top && k < n_top; k++) {
        cJSON *t = cJSON_CreateObject();
        tok_str(tok, lp->top[k].id, buf);
        cJSON_AddStringToObject(t, "token", buf);
        cJSON_AddNumberToObject(t, "logprob", (double)lp->top[k].logprob);
        cJSON_AddItemToObject(t, "bytes", bytes_array(buf));
        cJSON_AddItemToArray(tops, t);
    }
    return o;
}

static const char *finish_str(tt_finish_reason f) {
    return f == TT_FINISH_LENGTH ? "length" : "stop";
}

/* counts: the tokens of each choice (NULL: the finished job's). */
static cJSON *usage_object(const gen_req *q, const int *counts) {
    long prompt = 0, completion = 0;
    for (int p = 0; p < q->n_prompts; p++)
        prompt += q->lens[p];
    for (int c = 0; c < q->job->n_choices; c++)
        completion += counts ? counts[c] : q->job->choices[c].n_tokens;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt + completion));
    return u;
}

static cJSON *response_head(const gen_req *q, const char *object) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", q->id);
    cJSON_AddStringToObject(j, "object", object);
    cJSON_AddNumberToObject(j, "created", (double)q->created);
    cJSON_AddStringToObject(j, "model", serve_model_id(q->s));
    return j;
}

/* The whole answer of a finished job. */
static void complete_reply(gen_req *q, serve_reply *r) {
    const tt_tokenizer *tok = serve_tokenizer(q->s);
    const serve_job *job = q->job;
    cJSON *j = response_head(q, q->chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(j, "choices");
    for (int c = 0; c < job->n_choices; c++) {
        const serve_choice *ch = &job->choices[c];
        const int p = c / q->n;
        char *gen = decode(tok, ch->ids, ch->n_tokens);
        char *prompt = q->echo ? decode(tok, q->ids[p], q->lens[p]) : NULL;
        if (!gen || (q->echo && !prompt)) {
            free(gen);
            free(prompt);
            cJSON_Delete(j);
            serve_reply_error(r, 500, NULL, "out of memory");
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", c);
        if (q->chat) {
            cJSON *m = cJSON_AddObjectToObject(o, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", gen);
        } else {
            strbuf t = {0};
            if (prompt) sb_add(&t, prompt, strlen(prompt));
            sb_add(&t, gen, strlen(gen));
            cJSON_AddStringToObject(o, "text", t.s ? t.s : "");
            free(t.s);
        }
        if (q->st.logprobs < 0) {
            cJSON_AddNullToObject(o, "logprobs");
        } else if (q->chat) {
            cJSON *lo = cJSON_AddObjectToObject(o, "logprobs");
            cJSON *content = cJSON_AddArrayToObject(lo, "content");
            for (int k = 0; k < ch->n_tokens; k++)
                cJSON_AddItemToArray(content, chat_lp(tok, ch->ids[k], ch->lps ? &ch->lps[k] : NULL,
                                                      q->st.logprobs));
        } else {
            legacy_lp l = legacy_new();
            int off = 0;
            if (q->echo)
                for (int k = 0; k < q->lens[p]; k++, off++)
                    legacy_add(&l, tok, q->ids[p][k], q->plp ? &q->plp[p][k] : NULL, q->st.logprobs,
                               off);
            else
                off = q->lens[p];
            for (int k = 0; k < ch->n_tokens; k++, off++)
                legacy_add(&l, tok, ch->ids[k], ch->lps ? &ch->lps[k] : NULL, q->st.logprobs, off);
            cJSON_AddItemToObject(o, "logprobs", l.obj);
        }
        cJSON_AddStringToObject(o, "finish_reason", finish_str(ch->finish));
        cJSON_AddItemToArray(choices, o);
        free(gen);
        free(prompt);
    }
    cJSON_AddItemToObject(j, "usage", usage_object(q, NULL));
    char seed[24]; /* digits: cJSON would write 1e+15, a float to some clients */
    snprintf(seed, sizeof seed, "%" PRIu64, q->st.gc.seed);
    cJSON_AddRawToObject(j, "seed", seed);
    serve_reply_json(r, j);
}

/* ---- Streaming --------------------------------------------------------------- */

static int emit_json(gen_req *q, cJSON *j) {
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return -1;
    strbuf b = {q->buf, q->len, q->cap};
    const int rc =
        sb_add(&b, "data: ", 6) || sb_add(&b, text, strlen(text)) || sb_add(&b, "\n\n", 2);
    q->buf = b.s;
    q->len = b.len;
    q->cap = b.cap;
    free(text);
    return rc ? -1 : 0;
}

/* One chunk: a choice's piece of text (NULL: none), its token (< 0: none)
 * and logprobs, and its finish_reason when it ends. */
static int emit_chunk(gen_req *q, int c, const char *text, int token, const tt_token_logprob *lp,
                      const int *prompt_ids, int n_prompt, const tt_token_logprob *plp,
                      const char *finish) {
    const tt_tokenizer *tok = serve_tokenizer(q->s);
    cJSON *j = response_head(q, q->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(j, "choices");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, o);
    cJSON_AddNumberToObject(o, "index", c);
    if (q->chat) {
        cJSON *d = cJSON_AddObjectToObject(o, "delta");
        if (!q->head_sent[c]) cJSON_AddStringToObject(d, "role", "assistant");
        if (text) cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON_AddStringToObject(o, "text", text ? text : "");
    }
    if (q->st.logprobs < 0 || (token < 0 && !n_prompt)) {
        cJSON_AddNullToObject(o, "logprobs");
    } else if (q->chat) {
        cJSON *lo = cJSON_AddObjectToObject(o, "logprobs");
        cJSON *content = cJSON_AddArrayToObject(lo, "content");
        cJSON_AddItemToArray(content, chat_lp(tok, token, lp, q->st.logprobs));
    } else {
        legacy_lp l = legacy_new();
        for (int k = 0; k < n_prompt; k++)
            legacy_add(&l, tok, prompt_ids[k], plp ? &plp[k] : NULL, q->st.logprobs,
                       q->offset[c]++);
        if (token >= 0) legacy_add(&l, tok, token, lp, q->st.logprobs, q->offset[c]++);
        cJSON_AddItemToObject(o, "logprobs", l.obj);
    }
    if (finish)
        cJSON_AddStringToObject(o, "finish_reason", finish);
    else
        cJSON_AddNullToObject(o, "finish_reason");
    q->head_sent[c] = true;
    return emit_json(q, j);
}

/* Copies what the job has that the client has not seen yet (under the
 * scheduler's mutex). Returns 1 when there is something, 0 when not, -1
 * when out of memory. */
static int stream_snapshot(gen_req *q) {
    const serve_job *job = q->job;
    int any = 0;
    if (job->error_status) {
        q->error_status = job->error_status;
        snprintf(q->error, sizeof q->error, "%s", job->error);
        return 1;
    }
    for (int c = 0; c < job->n_choices; c++) {
        const serve_choice *ch = &job->choices[c];
        stream_snap *sn = &q->snap[c];
        const int n = ch->n_tokens - q->cursor[c];
        sn->n = 0;
        if (n > sn->cap) {
            int *ids = realloc(sn->ids, (size_t)n * sizeof *ids);
            if (ids) sn->ids = ids;
            tt_token_logprob *lps = ch->lps ? realloc(sn->lps, (size_t)n * sizeof *lps) : NULL;
            if (lps) sn->lps = lps;
            if (!ids || (ch->lps && !lps)) return -1;
            sn->cap = n;
        }
        if (n > 0) {
            memcpy(sn->ids, ch->ids + q->cursor[c], (size_t)n * sizeof *sn->ids);
            if (ch->lps) memcpy(sn->lps, ch->lps + q->cursor[c], (size_t)n * sizeof *sn->lps);
            sn->n = n;
            q->cursor[c] = ch->n_tokens;
            any = 1;
        }
        if (ch->finished && !sn->finished) {
            sn->finished = true;
            sn->finish = ch->finish;
            any = 1;
        }
    }
    return any;
}

static int emit_done(gen_req *q) {
    strbuf b = {q->buf, q->len, q->cap};
    const int rc = sb_add(&b, "data: [DONE]\n\n", 14);
    q->buf = b.s, q->len = b.len, q->cap = b.cap;
    q->done_sent = true;
    return rc;
}

/* Formats the snapshot as events (without the scheduler's mutex). Returns
 * 0, or -1 when out of memory. */
static int stream_format(gen_req *q) {
    const tt_tokenizer *tok = serve_tokenizer(q->s);
    if (q->error_status) { /* the job failed: an error event, then the end */
        cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
        cJSON_AddStringToObject(e, "message", q->error);
        cJSON_AddStringToObject(e, "type",
                                q->error_status >= 500 ? "server_error" : "invalid_request_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
        return emit_json(q, j) || emit_done(q) ? -1 : 0;
    }
    bool all = true;
    for (int c = 0; c < q->job_choices; c++) {
        const stream_snap *sn = &q->snap[c];
        const int p = c / q->n;
        if (!q->head_sent[c] && (q->chat || q->echo)) {
            /* chat: the role first; echo: the prompt's text */
            char *pt = q->echo ? decode(tok, q->ids[p], q->lens[p]) : NULL;
            const int rc = emit_chunk(q, c, q->chat ? "" : pt, -1, NULL, q->echo ? q->ids[p] : NULL,
                                      q->echo ? q->lens[p] : 0, q->plp ? q->plp[p] : NULL, NULL);
            free(pt);
            if (rc) return -1;
        }
        for (int k = 0; k < sn->n; k++) {
            char buf[5];
            if (emit_chunk(q, c, tok_str(tok, sn->ids[k], buf), sn->ids[k],
                           sn->lps ? &sn->lps[k] : NULL, NULL, 0, NULL, NULL))
                return -1;
        }
        if (sn->finished && !q->tail_sent[c]) {
            if (q->chat) {
                cJSON *j = response_head(q, "chat.completion.chunk");
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), o);
                cJSON_AddNumberToObject(o, "index", c);
                cJSON_AddObjectToObject(o, "delta");
                cJSON_AddNullToObject(o, "logprobs");
                cJSON_AddStringToObject(o, "finish_reason", finish_str(sn->finish));
                if (emit_json(q, j)) return -1;
            } else if (emit_chunk(q, c, "", -1, NULL, NULL, 0, NULL, finish_str(sn->finish))) {
                return -1;
            }
            q->tail_sent[c] = true;
        }
        if (!q->tail_sent[c]) all = false;
    }
    if (all) {
        if (q->include_usage) {
            cJSON *j = response_head(q, q->chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(j, "choices");
            cJSON_AddItemToObject(j, "usage", usage_object(q, q->cursor));
            if (emit_json(q, j)) return -1;
        }
        if (emit_done(q)) return -1;
    }
    return 0;
}

/* The next bytes of the event stream: what the job has new, formatted; when
 * it has nothing, waits for the scheduler's next step (looking at the
 * client's socket between waits). */
static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long stream_read(void *ctx, char *buf, size_t max) {
    gen_req *q = ctx;
    serve_sched *sc = serve_scheduler(q->s);
    /* libmicrohttpd closes a connection that sent nothing for --timeout
     * seconds, even while this callback waits: a stream still queued behind
     * a full batch (or between slow steps) sends an SSE comment, which
     * clients ignore, every half timeout */
    const double keep_alive_s = 0.5 * q->s->opt.timeout_s;
    if (q->quiet_since == 0.0) q->quiet_since = mono_s();
    while (q->off == q->len) {
        if (q->done_sent) return SERVE_STREAM_END;
        if (mono_s() - q->quiet_since >= keep_alive_s) {
            static const char ka[] = ": keep-alive\n\n";
            const size_t n = sizeof ka - 1 < max ? sizeof ka - 1 : max;
            memcpy(buf, ka, n);
            q->quiet_since = mono_s();
            return (long)n;
        }
        q->off = q->len = 0;
        serve_sched_lock(sc);
        int rc = stream_snapshot(q); /* first look: no step is missed */
        if (rc == 0) {
            serve_sched_wait_locked(sc, q->job, WAIT_MS);
            rc = stream_snapshot(q);
        }
        serve_sched_unlock(sc);
        if (rc < 0) return SERVE_STREAM_ERROR;
        if (rc == 0) {
            if (serve_client_gone(q->conn)) return SERVE_STREAM_ERROR;
            continue;
        }
        if (stream_format(q)) return SERVE_STREAM_ERROR;
    }
    size_t n = q->len - q->off;
    if (n > max) n = max;
    memcpy(buf, q->buf + q->off, n);
    q->off += n;
    q->quiet_since = mono_s();
    return (long)n;
}

static void stream_free(void *ctx) { gen_req_free(ctx); }

/* ---- The generating endpoints ------------------------------------------------ */

static cJSON *parse_body(const serve_request *req, serve_reply *r) {
    if (!req->body || !req->body_len) {
        serve_reply_error(r, 400, NULL, "the request body must be a JSON object");
        return NULL;
    }
    const char *end = NULL;
    cJSON *j =
        cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, &end, true); /* the NUL too */
    if (!j) {
        const size_t at = end ? (size_t)(end - req->body) : 0;
        serve_reply_error(r, 400, NULL, "the request body is not valid JSON (at byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        serve_reply_error(r, 400, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

static void generate(serve_server *s, const serve_request *req, serve_reply *r, bool chat) {
    cJSON *body = parse_body(req, r);
    if (!body) return;
    gen_req *q = calloc(1, sizeof *q);
    if (!q) {
        cJSON_Delete(body);
        serve_reply_error(r, 500, NULL, "out of memory");
        return;
    }
    q->s = s;
    q->chat = chat;
    q->n = 1;
    q->conn = req->conn;
    q->created = (long)time(NULL);
    make_id(q->id, sizeof q->id, chat ? "chatcmpl-" : "cmpl-");
    if (serve_settings_parse(s, body, chat, &q->st, r)) goto fail;
    const cJSON *v;
    long n;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "n")) && !cJSON_IsNull(v)) {
        if (get_int(v, "n", 1, s->opt.max_batch, &n, r)) goto fail;
        q->n = (int)n;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "best_of")) && !cJSON_IsNull(v)) {
        if (get_int(v, "best_of", 1, s->opt.max_batch, &n, r)) goto fail;
        if (n != q->n) {
            serve_reply_error(
                r, 400, "best_of",
                "'best_of' other than 'n' is not supported (every choice is returned)");
            goto fail;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "suffix")) && !cJSON_IsNull(v)) {
        serve_reply_error(r, 400, "suffix", "'suffix' (insertion) is not supported");
        goto fail;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "stream")) && !cJSON_IsNull(v) &&
        get_bool(v, "stream", &q->stream, r))
        goto fail;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "stream_options")) && !cJSON_IsNull(v)) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(v, "include_usage");
        if (!cJSON_IsObject(v) || (u && get_bool(u, "stream_options", &q->include_usage, r))) {
            if (!r->body)
                serve_reply_error(r, 400, "stream_options",
                                  "'stream_options' must be {\"include_usage\": true|false}");
            goto fail;
        }
    }
    if (!chat && (v = cJSON_GetObjectItemCaseSensitive(body, "echo")) && !cJSON_IsNull(v) &&
        get_bool(v, "echo", &q->echo, r))
        goto fail;
    if (chat) {
        if (parse_messages(q, cJSON_GetObjectItemCaseSensitive(body, "messages"), r)) goto fail;
        /* a turn ends where the template says, unless the request says */
        if (!cJSON_GetObjectItemCaseSensitive(body, "stop"))
            for (int i = 0; i < s->tmpl.n_stop; i++)
                q->st.gc.sampling.x.stop[q->st.gc.sampling.x.n_stop++] = s->tmpl.stop[i];
    } else if (parse_prompts(q, cJSON_GetObjectItemCaseSensitive(body, "prompt"), r)) {
        goto fail;
    }
    if ((long)q->n_prompts * q->n > s->opt.max_batch) {
        serve_reply_error(r, 400, "n",
                          "%d prompts x n = %d is %d rows; the batch holds %d (--max-batch)",
                          q->n_prompts, q->n, q->n_prompts * q->n, s->opt.max_batch);
        goto fail;
    }
    if (q->echo && q->st.logprobs >= 0 && prompt_logprobs(q, r)) goto fail;
    cJSON_Delete(body);
    body = NULL;
    q->job = serve_job_new(&q->st.gc, q->ids, q->lens, q->n_prompts, q->n);
    if (!q->job) {
        serve_reply_error(r, 500, NULL, "out of memory");
        goto fail;
    }
    bool stopping;
    if (serve_sched_submit(serve_scheduler(s), q->job, &stopping)) {
        if (stopping) {
            serve_reply_error(r, 503, NULL, "the server is shutting down");
        } else {
            serve_sched_stats st;
            serve_sched_get_stats(serve_scheduler(s), &st);
            serve_reply_error(r, 503, NULL, "the queue is full (%d waiting); retry later",
                              st.queued);
        }
        r->retry_after = 1;
        goto fail;
    }
    const int nc = q->job->n_choices;
    if (q->stream) {
        q->cursor = calloc((size_t)nc, sizeof *q->cursor);
        q->offset = calloc((size_t)nc, sizeof *q->offset);
        q->head_sent = calloc((size_t)nc, sizeof *q->head_sent);
        q->tail_sent = calloc((size_t)nc, sizeof *q->tail_sent);
        q->snap = calloc((size_t)nc, sizeof *q->snap);
        q->job_choices = nc;
        if (!q->cursor || !q->offset || !q->head_sent || !q->tail_sent || !q->snap) {
            serve_reply_error(r, 500, NULL, "out of memory");
            goto fail;
        }
        for (int c = 0; c < nc; c++)
            q->offset[c] = q->echo ? 0 : q->lens[c / q->n];
        r->status = 200;
        r->stream_read = stream_read;
        r->stream_free = stream_free;
        r->stream_ctx = q;
        return;
    }
    /* wait for the whole answer, watching the client */
    serve_sched *sc = serve_scheduler(s);
    for (;;) {
        serve_sched_wait(sc, q->job, WAIT_MS);
        const bool done = q->job->state == SERVE_JOB_DONE;
        serve_sched_unlock(sc);
        if (done) break;
        if (serve_client_gone(req->conn)) {
            serve_reply_error(r, 499, NULL, "the client closed the connection");
            goto fail;
        }
    }
    if (q->job->error_status) {
        serve_reply_error(r, q->job->error_status, NULL, "%s", q->job->error);
        if (q->job->error_status == 503) r->retry_after = 1;
    } else {
        complete_reply(q, r);
    }
fail:
    cJSON_Delete(body);
    gen_req_free(q);
}

static void h_completions(serve_server *s, const serve_request *req, serve_reply *r) {
    generate(s, req, r, false);
}

static void h_chat(serve_server *s, const serve_request *req, serve_reply *r) {
    generate(s, req, r, true);
}

/* ---- The others ------------------------------------------------------------------ */

static void h_models(serve_server *s, const serve_request *req, serve_reply *r) {
    (void)req;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(j, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", serve_model_id(s));
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "tt");
    const tt_model_config *mc = tt_model_get_config(serve_model(s));
    cJSON_AddNumberToObject(m, "context_length", serve_context_len(s));
    cJSON_AddNumberToObject(m, "vocab_size", mc->vocab_size);
    cJSON_AddItemToArray(d, m);
    serve_reply_json(r, j);
}

static void h_health(serve_server *s, const serve_request *req, serve_reply *r) {
    (void)req;
    serve_sched_stats st;
    serve_sched_get_stats(serve_scheduler(s), &st);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", "ok");
    cJSON_AddStringToObject(j, "model", serve_model_id(s));
    cJSON_AddNumberToObject(j, "rows", st.rows);
    cJSON_AddNumberToObject(j, "max_batch", st.max_batch);
    cJSON_AddNumberToObject(j, "queued", st.queued);
    cJSON_AddNumberToObject(j, "max_queue", st.max_queue);
    serve_reply_json(r, j);
}

static void h_tokenize(serve_server *s, const serve_request *req, serve_reply *r) {
    cJSON *body = parse_body(req, r);
    if (!body) return;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "content");
    for (const cJSON *v = body->child; v; v = v->next)
        if (strcmp(v->string, "content")) {
            serve_reply_error(r, 400, v->string, "unrecognized request argument supplied: %.80s",
                              v->string);
            cJSON_Delete(body);
            return;
        }
    if (!cJSON_IsString(c)) {
        serve_reply_error(r, 400, "content", "'content' must be a string");
        cJSON_Delete(body);
        return;
    }
    int *ids = NULL;
    size_t n = 0;
    tt_error err;
    if (c->valuestring[0] && tt_tokenizer_encode(serve_tokenizer(s), c->valuestring,
                                                 strlen(c->valuestring), &ids, &n, &err) != TT_OK) {
        serve_reply_error(r, err.code == TT_ERR_NOMEM ? 500 : 400, "content", "'content': %s",
                          err.msg);
        cJSON_Delete(body);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(j, "tokens");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    free(ids);
    cJSON_Delete(body);
    serve_reply_json(r, j);
}

static void h_detokenize(serve_server *s, const serve_request *req, serve_reply *r) {
    cJSON *body = parse_body(req, r);
    if (!body) return;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "tokens");
    for (const cJSON *v = body->child; v; v = v->next)
        if (strcmp(v->string, "tokens")) {
            serve_reply_error(r, 400, v->string, "unrecognized request argument supplied: %.80s",
                              v->string);
            cJSON_Delete(body);
            return;
        }
    if (!cJSON_IsArray(t)) {
        serve_reply_error(r, 400, "tokens", "'tokens' must be an array of token ids");
        cJSON_Delete(body);
        return;
    }
    const int n = cJSON_GetArraySize(t), V = tt_tokenizer_vocab_size(serve_tokenizer(s));
    int *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) {
        serve_reply_error(r, 500, NULL, "out of memory");
        cJSON_Delete(body);
        return;
    }
    int i = 0;
    for (const cJSON *e = t->child; e; e = e->next, i++) {
        long id;
        if (get_int(e, "tokens", 0, V - 1, &id, r)) {
            free(ids);
            cJSON_Delete(body);
            return;
        }
        ids[i] = (int)id;
    }
    char *text = decode(serve_tokenizer(s), ids, n);
    free(ids);
    cJSON_Delete(body);
    if (!text) {
        serve_reply_error(r, 500, NULL, "out of memory");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "content", text);
    free(text);
    serve_reply_json(r, j);
}

static void h_metrics(serve_server *s, const serve_request *req, serve_reply *r) {
    (void)req;
    serve_sched_stats st;
    serve_sched_get_stats(serve_scheduler(s), &st);
    strbuf b = {0};
    char line[256];
#define LINE(...)                                                                                  \
    do {                                                                                           \
        snprintf(line, sizeof line, __VA_ARGS__);                                                  \
        sb_add(&b, line, strlen(line));                                                            \
    } while (0)
    LINE("# HELP tt_serve_requests_total HTTP requests answered, by status.\n");
    LINE("# TYPE tt_serve_requests_total counter\n");
    pthread_mutex_lock(&s->stats_mu);
    for (int i = 0; i < SERVE_N_STATUS && s->status_code[i]; i++)
        LINE("tt_serve_requests_total{status=\"%d\"} %llu\n", s->status_code[i],
             (unsigned long long)s->status_count[i]);
    pthread_mutex_unlock(&s->stats_mu);
    LINE("# HELP tt_serve_tokens_generated_total Tokens generated (every row, every step).\n");
    LINE("# TYPE tt_serve_tokens_generated_total counter\n");
    LINE("tt_serve_tokens_generated_total %llu\n", (unsigned long long)st.tokens_generated);
    LINE("# HELP tt_serve_prompt_tokens_total Prompt tokens of the rows started.\n");
    LINE("# TYPE tt_serve_prompt_tokens_total counter\n");
    LINE("tt_serve_prompt_tokens_total %llu\n", (unsigned long long)st.prompt_tokens);
    LINE("# HELP tt_serve_queue_length Requests waiting for room in the batch.\n");
    LINE("# TYPE tt_serve_queue_length gauge\n");
    LINE("tt_serve_queue_length %d\n", st.queued);
    LINE("# HELP tt_serve_batch_rows Rows decoding in the batch now.\n");
    LINE("# TYPE tt_serve_batch_rows gauge\n");
    LINE("tt_serve_batch_rows %d\n", st.rows);
    LINE("# HELP tt_serve_batch_rows_max The batch's size (--max-batch).\n");
    LINE("# TYPE tt_serve_batch_rows_max gauge\n");
    LINE("tt_serve_batch_rows_max %d\n", st.max_batch);
    LINE("# HELP tt_serve_step_seconds Time in decode steps (prefill included).\n");
    LINE("# TYPE tt_serve_step_seconds summary\n");
    LINE("tt_serve_step_seconds_sum %.6f\n", st.step_seconds);
    LINE("tt_serve_step_seconds_count %llu\n", (unsigned long long)st.steps);
    LINE("# HELP tt_serve_time_per_token_seconds Mean step time per token generated.\n");
    LINE("# TYPE tt_serve_time_per_token_seconds gauge\n");
    LINE("tt_serve_time_per_token_seconds %.9f\n",
         st.tokens_generated ? st.step_seconds / (double)st.tokens_generated : 0.0);
#undef LINE
    if (!b.s) {
        serve_reply_error(r, 500, NULL, "out of memory");
        return;
    }
    r->status = 200;
    r->body = b.s;
    r->body_len = b.len;
    r->content_type = "text/plain; version=0.0.4";
}

void serve_openai_routes(serve_server *s) {
    serve_route_add(s, "POST", "/v1/completions", h_completions, true);
    serve_route_add(s, "POST", "/v1/chat/completions", h_chat, true);
    serve_route_add(s, "GET", "/v1/models", h_models, true);
    serve_route_add(s, "POST", "/tokenize", h_tokenize, true);
    serve_route_add(s, "POST", "/detokenize", h_detokenize, true);
    serve_route_add(s, "GET", "/health", h_health, false);
    serve_route_add(s, "GET", "/metrics", h_metrics, false);
}

/* ---- The chat template ------------------------------------------------------------ */

static const char default_template[] =
    "{\"message\": \"{name}:\\n{content}\\n\\n\", \"assistant\": \"{name}:\\n\", "
    "\"names\": {\"system\": \"SYSTEM\", \"user\": \"USER\", \"assistant\": \"ASSISTANT\"}, "
    "\"stop\": [\"\\n\\n\"]}";

void serve_chat_template_free(serve_chat_template *t) {
    free(t->message);
    free(t->assistant);
    for (int i = 0; i < SERVE_N_ROLES; i++)
        free(t->names[i]);
    for (int i = 0; i < t->n_stop; i++)
        free(t->stop[i]);
    memset(t, 0, sizeof *t);
}

/* Every character of the template's fixed text must be in the vocabulary. */
static int in_vocab(const tt_tokenizer *tok, const char *what, const char *text, char *msg,
                    size_t msg_size) {
    char stripped[1024];
    size_t k = 0;
    for (const char *p = text; *p && k + 1 < sizeof stripped;) {
        if (!strncmp(p, "{name}", 6))
            p += 6;
        else if (!strncmp(p, "{content}", 9))
            p += 9;
        else
            stripped[k++] = *p++;
    }
    stripped[k] = '\0';
    if (!k) return 0;
    int *ids = NULL;
    size_t n;
    tt_error err;
    if (tt_tokenizer_encode(tok, stripped, k, &ids, &n, &err) != TT_OK) {
        snprintf(msg, msg_size, "--chat-template: %s: %s", what, err.msg);
        return -1;
    }
    free(ids);
    return 0;
}

int serve_chat_template_init(serve_chat_template *t, const char *json, const tt_tokenizer *tok,
                             char *msg, size_t msg_size) {
    memset(t, 0, sizeof *t);
    cJSON *j = cJSON_Parse(json ? json : default_template);
    if (!cJSON_IsObject(j)) {
        snprintf(msg, msg_size, "--chat-template: not a JSON object (see docs/serve.md)");
        cJSON_Delete(j);
        return -1;
    }
    const char *role_names[SERVE_N_ROLES] = {"system", "user", "assistant"};
    const char *defaults[SERVE_N_ROLES] = {"SYSTEM", "USER", "ASSISTANT"};
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "assistant");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "names");
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(j, "stop");
    for (const cJSON *v = j->child; v; v = v->next)
        if (strcmp(v->string, "message") && strcmp(v->string, "assistant") &&
            strcmp(v->string, "names") && strcmp(v->string, "stop")) {
            snprintf(msg, msg_size,
                     "--chat-template: unknown member '%.60s' (message, assistant, "
                     "names, stop)",
                     v->string);
            goto fail;
        }
    if (!cJSON_IsString(m) || !strstr(m->valuestring, "{content}")) {
        snprintf(msg, msg_size, "--chat-template: 'message' must be a string with {content}");
        goto fail;
    }
    if (!cJSON_IsString(a)) {
        snprintf(msg, msg_size, "--chat-template: 'assistant' must be a string");
        goto fail;
    }
    if (names && !cJSON_IsObject(names)) {
        snprintf(msg, msg_size, "--chat-template: 'names' must be an object of role -> name");
        goto fail;
    }
    t->message = strdup(m->valuestring);
    t->assistant = strdup(a->valuestring);
    if (!t->message || !t->assistant) goto oom;
    for (int i = 0; i < SERVE_N_ROLES; i++) {
        const cJSON *nm = names ? cJSON_GetObjectItemCaseSensitive(names, role_names[i]) : NULL;
        if (nm && !cJSON_IsString(nm)) {
            snprintf(msg, msg_size, "--chat-template: names.%s must be a string", role_names[i]);
            goto fail;
        }
        t->names[i] = strdup(nm ? nm->valuestring : defaults[i]);
        if (!t->names[i]) goto oom;
        if (in_vocab(tok, role_names[i], t->names[i], msg, msg_size)) goto vocab;
    }
    if (stop) {
        if (!cJSON_IsArray(stop) || cJSON_GetArraySize(stop) > TT_MAX_STOP) {
            snprintf(msg, msg_size, "--chat-template: 'stop' must be an array of up to %d strings",
                     TT_MAX_STOP);
            goto fail;
        }
        for (const cJSON *e = stop->child; e; e = e->next) {
            if (!cJSON_IsString(e) || !e->valuestring[0] ||
                strlen(e->valuestring) >= TT_MAX_STOP_LEN) {
                snprintf(msg, msg_size,
                         "--chat-template: 'stop' strings must be non-empty and "
                         "shorter than %d bytes",
                         TT_MAX_STOP_LEN);
                goto fail;
            }
            t->stop[t->n_stop] = strdup(e->valuestring);
            if (!t->stop[t->n_stop++]) goto oom;
        }
    }
    if (in_vocab(tok, "message", t->message, msg, msg_size) ||
        in_vocab(tok, "assistant", t->assistant, msg, msg_size))
        goto vocab;
    cJSON_Delete(j);
    return 0;
vocab:
    /* The default's text may not suit a model (one without capitals): the
     * server still serves completions, and chat requests are told why not.
     * A template file the user gave must fit. */
    if (!json && (t->message || t->assistant)) {
        snprintf(t->problem, sizeof t->problem,
                 "the default chat template does not fit this model (%s); start tt serve with "
                 "--chat-template FILE",
                 msg + strlen("--chat-template: "));
        msg[0] = '\0';
        cJSON_Delete(j);
        return 0;
    }
    goto fail;
oom:
    snprintf(msg, msg_size, "out of memory");
fail:
    cJSON_Delete(j);
    serve_chat_template_free(t);
    return -1;
}
