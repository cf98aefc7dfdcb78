/* cli/serve_internal.h — the server's own state, shared by serve_http.c and
 * serve_openai.c (handlers elsewhere use the accessors of serve.h). */
#ifndef TT_CLI_SERVE_INTERNAL_H
#define TT_CLI_SERVE_INTERNAL_H

#include <pthread.h>

#include "serve.h"

typedef struct {
    char method[8];
    char path[64];
    serve_handler fn;
    bool needs_auth;
} serve_route;

/* How /v1/chat/completions renders messages to a prompt (docs/serve.md,
 * "Chat template"): each message is `message` with {name} and {content}
 * replaced, then `assistant` with {name}; a role's name is names[role]
 * unless the message has its own "name". stop: the default stop strings of
 * a chat request (the end of a turn). */
enum { SERVE_ROLE_SYSTEM, SERVE_ROLE_USER, SERVE_ROLE_ASSISTANT, SERVE_N_ROLES };
typedef struct {
    char *message;
    char *assistant;
    char *names[SERVE_N_ROLES];
    int n_stop;
    char *stop[TT_MAX_STOP];
    char problem[TT_ERROR_MSG_MAX + 160]; /* non-empty: chat requests are refused
                                             with this (the default template's
                                             text is not in the vocabulary) */
} serve_chat_template;

#define SERVE_N_STATUS 24

struct serve_server {
    serve_options opt;
    const char *api_key;
    serve_route *routes;
    int n_routes;
    struct MHD_Daemon *daemon;
    pthread_mutex_t stats_mu; /* the counters below */
    int status_code[SERVE_N_STATUS];
    uint64_t status_count[SERVE_N_STATUS];
    int in_flight;           /* requests begun and not yet answered (stats_mu) */
    pthread_mutex_t eval_mu; /* opt.eval_model's forward pass (prompt logprobs) */
    serve_chat_template tmpl;
    long created; /* the server's start (the model's "created") */
};

/* Parses a template (JSON text; NULL: the play-script default) and checks
 * that its fixed text is in the vocabulary. Returns 0 or -1 (msg). */
int serve_chat_template_init(serve_chat_template *t, const char *json, const tt_tokenizer *tok,
                             char *msg, size_t msg_size);
void serve_chat_template_free(serve_chat_template *t);

/* Registers the OpenAI endpoints and /health, /tokenize, /detokenize, /metrics. */
void serve_openai_routes(serve_server *s);

#endif
