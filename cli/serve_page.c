/*
 * tt serve's page routes (issue 15 item 4): GET / is the sampling explorer,
 * GET /explorer/{app.js,style.css} its script and style, and POST
 * /v1/distribution the next-token distribution its chart draws
 * (docs/serve.md#the-sampling-explorer).
 *
 * The page's files are real sources in cli/serve_page/, turned into C arrays
 * at build time (scripts/embed_files.sh, mk/serve_page.mk): the binary serves
 * them with no file beside it and no network (no CDN; the chart is SVG drawn
 * by the page's own script).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_dist.h"
#include "serve_page_files.inc"

#define EXPLORER_PREFIX "/explorer/"

static const struct serve_page_file *page_file(const char *name) {
    for (size_t i = 0; i < sizeof serve_page_files / sizeof *serve_page_files; i++)
        if (!strcmp(serve_page_files[i].name, name)) return &serve_page_files[i];
    return NULL;
}

static const char *content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (dot && !strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (dot && !strcmp(dot, ".css")) return "text/css; charset=utf-8";
    return "application/octet-stream";
}

static void h_file(serve_server *s, const serve_request *req, serve_reply *r) {
    (void)s;
    const char *name = !strcmp(req->path, "/") ? "index.html" : req->path + strlen(EXPLORER_PREFIX);
    const struct serve_page_file *f = page_file(name);
    if (!f) {
        serve_reply_error(r, 404, NULL, "no such file: %.100s", req->path);
        return;
    }
    serve_reply_text(r, 200, content_type(name), (const char *)f->data, f->size);
}

/* prompt or continuation: a string (encoded) or an array of token ids.
 * *ids malloc'ed (NULL when empty). */
/* max_what names the limit in the message ("the context window holds"). */
static int token_field(serve_server *s, const cJSON *v, const char *param, int max,
                       const char *max_what, int **ids, int *n, serve_reply *r) {
    const tt_tokenizer *tok = serve_tokenizer(s);
    const int V = tt_tokenizer_vocab_size(tok);
    *ids = NULL;
    *n = 0;
    if (cJSON_IsString(v)) {
        size_t m = 0;
        tt_error err;
        if (tt_tokenizer_encode(tok, v->valuestring, strlen(v->valuestring), ids, &m, &err) !=
            TT_OK) {
            serve_reply_error(r, err.code == TT_ERR_NOMEM ? 500 : 400, param, "'%s': %s", param,
                              err.msg);
            return -1;
        }
        if (m > (size_t)max) {
            serve_reply_error(r, 400, param, "'%s' has %zu tokens; %s %d", param, m, max_what, max);
            free(*ids);
            *ids = NULL;
            return -1;
        }
        *n = (int)m;
    } else if (cJSON_IsArray(v)) {
        const int m = cJSON_GetArraySize(v);
        if (m > max) {
            *n = m;
        } else {
            *ids = malloc((size_t)(m > 0 ? m : 1) * sizeof **ids);
            if (!*ids) {
                serve_reply_error(r, 500, NULL, "out of memory");
                return -1;
            }
            int i = 0;
            for (const cJSON *e = v->child; e; e = e->next, i++) {
                if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int)e->valuedouble ||
                    e->valuedouble < 0 || e->valuedouble >= V) {
                    serve_reply_error(r, 400, param, "'%s'[%d] must be a token id in [0, %d)",
                                      param, i, V);
                    free(*ids);
                    *ids = NULL;
                    return -1;
                }
                (*ids)[i] = (int)e->valuedouble;
            }
            *n = m;
        }
    } else {
        serve_reply_error(r, 400, param, "'%s' must be a string or an array of token ids", param);
        return -1;
    }
    if (*n > max) {
        serve_reply_error(r, 400, param, "'%s' has %d tokens; %s %d", param, *n, max_what, max);
        free(*ids);
        *ids = NULL;
        return -1;
    }
    return 0;
}

/* POST /v1/distribution: {"prompt", "continuation" (the generated text so
 * far, optional; at most --max-tokens-cap tokens, as a completion), the
 * sampling fields of /v1/completions} -> every token's
 * probability under the model, after penalties and temperature, and after
 * the whole chain (kept or cut), with the entropies. */
static void h_distribution(serve_server *s, const serve_request *req, serve_reply *r) {
    const char *end = NULL; /* as the other endpoints: the NUL too, and nothing after the JSON */
    cJSON *body = req->body && req->body_len
                      ? cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, &end, true)
                      : NULL;
    cJSON *cont = NULL;
    serve_settings st;
    bool have_settings = false;
    int *prompt = NULL, *gen = NULL, n_prompt = 0, n_gen = 0;
    serve_dist_ctx *d = NULL;
    if (req->body && req->body_len && !body) {
        serve_reply_error(r, 400, NULL, "the request body is not valid JSON (at byte %zu)",
                          end ? (size_t)(end - req->body) : (size_t)0);
        goto done;
    }
    if (!cJSON_IsObject(body)) {
        serve_reply_error(r, 400, NULL, "the request body must be a JSON object");
        goto done;
    }
    /* the one field that is the explorer's own; the rest are the completions' */
    cont = cJSON_DetachItemFromObjectCaseSensitive(body, "continuation");
    have_settings = true; /* parse zeroes st first: free it whatever it says */
    if (serve_settings_parse(s, body, false, &st, r)) goto done;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "prompt");
    if (!p || cJSON_IsNull(p)) {
        serve_reply_error(r, 400, "prompt", "'prompt' is required");
        goto done;
    }
    if (token_field(s, p, "prompt", serve_context_len(s), "the context window holds", &prompt,
                    &n_prompt, r))
        goto done;
    if (n_prompt == 0) {
        serve_reply_error(r, 400, "prompt",
                          "'prompt' is empty (a prompt needs at least one token)");
        goto done;
    }
    if (cont && !cJSON_IsNull(cont) &&
        token_field(s, cont, "continuation", serve_max_tokens_cap(s), "--max-tokens-cap is", &gen,
                    &n_gen, r))
        goto done;
    tt_error err;
    serve_dist ds;
    tt_status rc = serve_dist_ctx_create(&d, serve_model(s), serve_tokenizer(s), &err);
    if (!rc) rc = serve_dist_compute(d, prompt, n_prompt, gen, n_gen, &st.gc, &ds, &err);
    if (rc) {
        serve_reply_error(r, rc == TT_ERR_ARG || rc == TT_ERR_RANGE ? 400 : 500, NULL, "%s",
                          err.msg);
        goto done;
    }
    cJSON *j = serve_dist_json(&ds, serve_tokenizer(s), serve_model_id(s), n_gen);
    serve_dist_free(&ds);
    if (!j)
        serve_reply_error(r, 500, NULL, "out of memory");
    else
        serve_reply_json(r, j);
done:
    serve_dist_ctx_free(d);
    if (have_settings) serve_settings_free(&st);
    free(prompt);
    free(gen);
    cJSON_Delete(cont);
    cJSON_Delete(body);
}

void serve_page_routes(serve_server *s) {
    serve_route_add(s, "GET", "/", h_file, false);
    for (size_t i = 0; i < sizeof serve_page_files / sizeof *serve_page_files; i++) {
        char path[128];
        if (!strcmp(serve_page_files[i].name, "index.html")) continue;
        snprintf(path, sizeof path, EXPLORER_PREFIX "%s", serve_page_files[i].name);
        serve_route_add(s, "GET", path, h_file, false);
    }
    serve_route_add(s, "POST", "/v1/distribution", h_distribution, true);
}
