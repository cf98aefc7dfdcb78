/*
 * cli/serve.h — tt serve, the OpenAI-compatible HTTP server (docs/serve.md).
 *
 * Four parts, one job each:
 *   cmd_serve.c     flags, model loading, signals, start and graceful stop
 *   serve_http.c    libmicrohttpd: the daemon, the route table, request
 *                   bodies (1 MiB cap), API key, error replies, waiting
 *                   for a job while watching the client's socket
 *   serve_sched.c   the scheduler thread: the one generator, continuous
 *                   batching of the jobs' rows, the queue
 *   serve_openai.c  the endpoints: /v1/completions, /v1/chat/completions,
 *                   /v1/models, /health, /tokenize, /detokenize, /metrics
 *   serve_page.c    GET / (the sampling explorer) and its own endpoints,
 *                   registered by serve_page_routes()
 *
 * Threads: libmicrohttpd runs one thread per connection; a handler parses
 * and validates its request, then hands a job to the scheduler thread,
 * which alone touches the generator. A job is shared by the two threads
 * under the scheduler's mutex (serve_job_* below).
 */
#ifndef TT_CLI_SERVE_H
#define TT_CLI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tt/generate.h"
#include "tt/model.h"
#include "tt/tokenizer.h"

#define SERVE_MAX_BODY ((size_t)1 << 20) /* request bodies over 1 MiB get 413 */

typedef struct serve_server serve_server;
typedef struct serve_sched serve_sched;

/* ---- The server (serve_http.c) ------------------------------------------ */

typedef struct {
    const char *host;    /* "127.0.0.1" */
    int port;            /* 0: a free port */
    const char *api_key; /* NULL: no key */
    int timeout_s;       /* idle connection timeout */
    const tt_model *model;
    const tt_tokenizer *tok;
    const char *model_id;
    const char *model_path; /* loaded again, once, for prompt logprobs */
    int context_len;        /* the window W (resolved) */
    int max_tokens_cap;
    int max_batch;
    const char *chat_template_json; /* NULL: the play-script template */
    serve_sched *sched;
    tt_model *eval_model; /* the model for prompt logprobs (one at a time) */
} serve_options;

/* Creates the server (routes registered, not listening). Returns NULL with
 * a message in msg on failure. */
serve_server *serve_server_create(const serve_options *o, char *msg, size_t msg_size);
/* Starts listening; *port receives the port bound. Returns 0 or -1 (msg). */
int serve_server_start(serve_server *s, int *port, char *msg, size_t msg_size);
/* Stops accepting new connections (the ones open keep being served). */
void serve_server_quiesce(serve_server *s);
/* Waits (up to timeout_s) until every request begun has been answered: the
 * answers of the rows finished at a graceful stop reach their clients. */
void serve_server_drain(serve_server *s, double timeout_s);
/* Stops the daemon (closing every connection) and frees the server. */
void serve_server_free(serve_server *s);

/* ---- Routes ---------------------------------------------------------- */

/* One request as a handler sees it: the body is complete (NUL-terminated),
 * the API key already checked when the route asks for it. */
typedef struct {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const char *body;   /* NULL for an empty body */
    size_t body_len;
    struct MHD_Connection *conn; /* for query arguments and the socket */
} serve_request;

/* A handler's reply: a status and a malloc'ed body (the server frees it).
 * A handler that streams sets `stream` instead (serve_openai.c). */
#define SERVE_STREAM_END (-1L)   /* the stream is complete */
#define SERVE_STREAM_ERROR (-2L) /* abandon the stream (the client has gone) */
typedef struct {
    int status;
    char *body;
    size_t body_len;
    const char *content_type; /* static string; NULL: application/json */
    int retry_after;          /* > 0: a Retry-After header (seconds) */
    /* A streamed body instead (text/event-stream): stream_read blocks until
     * it has bytes for buf [max], returns their count, SERVE_STREAM_END or
     * SERVE_STREAM_ERROR; stream_free(stream_ctx) is called once when the
     * response is done or the client has gone. */
    long (*stream_read)(void *ctx, char *buf, size_t max);
    void (*stream_free)(void *ctx);
    void *stream_ctx;
} serve_reply;

typedef void (*serve_handler)(serve_server *s, const serve_request *req, serve_reply *out);

/* Registers a handler for (method, exact path). needs_auth: the route is
 * refused with 401 unless the request carries the --api-key. A path
 * registered twice is replaced by the later handler (so serve_page.c can
 * replace the placeholder of GET /). Registration happens before the
 * server starts (not thread-safe). Returns 0, or -1 when the table is full. */
int serve_route_add(serve_server *s, const char *method, const char *path, serve_handler fn,
                    bool needs_auth);

/* Registers GET / and the explorer's own endpoints (cli/serve_page.c). */
void serve_page_routes(serve_server *s);

/* ---- Replies ------------------------------------------------------------ */

/* An OpenAI error object {"error": {"message", "type", "param", "code"}}:
 * type "invalid_request_error" for 4xx, "server_error" for 5xx... param
 * may be NULL (JSON null). The message is printf-formatted. */
void serve_reply_error(serve_reply *out, int status, const char *param, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* A JSON reply (status 200) printed from j, which it frees. */
void serve_reply_json(serve_reply *out, cJSON *j);
/* A reply with a static or malloc'ed text body (copied). */
void serve_reply_text(serve_reply *out, int status, const char *content_type, const char *text,
                      size_t len);

/* ---- What handlers may use -------------------------------------------- */
/* The model is shared read-only: a handler that needs its own forward pass
 * (the explorer's next-token distribution) may create a tt_generator on
 * serve_model() for the request (tt/generate.h: generators of one model may
 * run in parallel); it never touches the scheduler's generator. */

const tt_model *serve_model(const serve_server *s); /* shared, read-only */
const tt_tokenizer *serve_tokenizer(const serve_server *s);
const char *serve_model_id(const serve_server *s); /* the /v1/models id */
int serve_context_len(const serve_server *s);      /* the window W */
int serve_max_tokens_cap(const serve_server *s);
serve_sched *serve_scheduler(serve_server *s);
/* Why /v1/chat/completions refuses every request (the default chat template
 * does not fit the model's vocabulary), or NULL. */
const char *serve_chat_problem(const serve_server *s);

/* Request fields shared by every endpoint that generates: the sampling
 * controls (temperature, top_p, top_k, min_p, typical_p, penalties, DRY,
 * logit_bias, samplers, stop, seed, max_tokens, context_shift, logprobs,
 * logprobs_mode, eos) read from a JSON object into a row's config. The
 * strings and arrays the config points to live in `own` (free with
 * serve_settings_free). Returns 0, or -1 after setting an OpenAI error
 * naming the field in out. `known` receives whether each member of obj was
 * one of these fields (the caller refuses the unknown ones). */
typedef struct {
    tt_generator_config gc;
    tt_logit_bias *bias;
    char **strings; /* stop strings and DRY breakers */
    int n_strings;
    int logprobs; /* -1: not asked; else 0..20 (OpenAI's number) */
    bool seed_given;
} serve_settings;
int serve_settings_parse(serve_server *s, const cJSON *obj, bool chat, serve_settings *st,
                         serve_reply *out);
void serve_settings_free(serve_settings *st);
/* Whether name is a field serve_settings_parse reads. */
bool serve_settings_field(const char *name, bool chat);

/* ---- Jobs (serve_sched.c) ------------------------------------------------ */

typedef struct {
    int n_prompt;
    int *prompt;           /* [n_prompt] ids */
    int *ids;              /* [n_tokens] the visible generated tokens (a stop
                              string and the tokens held back for one are not) */
    tt_token_logprob *lps; /* [n_tokens] when logprobs were asked, else NULL */
    int n_tokens, cap_tokens;
    bool finished;
    tt_finish_reason finish;
} serve_choice;

typedef enum {
    SERVE_JOB_QUEUED = 0,
    SERVE_JOB_RUNNING = 1,
    SERVE_JOB_DONE = 2, /* every choice finished (or failed: error set) */
} serve_job_state;

typedef struct serve_job {
    /* set before serve_sched_submit, then read-only */
    tt_generator_config gc; /* each row's settings (seed: the request's) */
    int n_choices;          /* rows: prompts x n; choice i draws from (seed, i) */
    serve_choice *choices;
    /* under the scheduler's mutex */
    serve_job_state state;
    bool cancelled;   /* the client went away: rows freed at the next step */
    int error_status; /* != 0: the job failed (message in error) */
    char error[TT_ERROR_MSG_MAX];
    int refs;               /* the handler and the scheduler */
    int *rows;              /* [n_choices] generator rows, -1 when none */
    struct serve_job *next; /* the queue */
} serve_job;

/* A job for prompts (each [n_prompt] ids, copied) x n choices with the
 * settings gc (copied: its pointers must live as long as the job). NULL
 * when out of memory. The caller holds one reference. */
serve_job *serve_job_new(const tt_generator_config *gc, int **prompts, const int *lens,
                         int n_prompts, int n);

typedef struct {
    int max_batch, max_queue;
    int n_threads;   /* the generator's threads, 0 = auto */
    int context_len; /* 0 = the model's default */
} serve_sched_config;

int serve_sched_start(serve_sched **out, const tt_model *m, const tt_tokenizer *tok,
                      const serve_sched_config *cfg, char *msg, size_t msg_size);
/* Queues a job (taking a reference). Returns 0, or -1 when the queue is
 * full or the server is stopping (*stopping tells which). */
int serve_sched_submit(serve_sched *q, serve_job *job, bool *stopping);
/* Waits until the job changed (new tokens, finished) or timeout_ms passed;
 * returns with the scheduler's mutex held: copy what you need, then
 * serve_sched_unlock. */
void serve_sched_wait(serve_sched *q, serve_job *job, int timeout_ms);
/* The same with the mutex already held (the caller looked at the job first,
 * so a step that came meanwhile is not missed). */
void serve_sched_wait_locked(serve_sched *q, serve_job *job, int timeout_ms);
void serve_sched_lock(serve_sched *q);
void serve_sched_unlock(serve_sched *q);
/* The client went away: the job's rows are freed at the next step. */
void serve_job_cancel(serve_sched *q, serve_job *job);
/* Drops a reference (the job is freed with the last). NULL-safe. */
void serve_job_release(serve_sched *q, serve_job *job);

/* Graceful stop: refuse new jobs, fail the queued ones (503), let the
 * running rows finish for up to grace_s seconds, then end them
 * (finish_reason "length"); returns once the scheduler thread has ended. */
void serve_sched_stop(serve_sched *q, double grace_s);
void serve_sched_free(serve_sched *q);

/* Figures for /metrics and /health (under the scheduler's mutex). */
typedef struct {
    int queued, rows, max_batch, max_queue;
    uint64_t tokens_generated, prompt_tokens, steps;
    double step_seconds; /* total time in steps */
} serve_sched_stats;
void serve_sched_get_stats(serve_sched *q, serve_sched_stats *st);

/* A job that waits: serve_http.c watches the socket while the handler
 * waits, and tells whether the client has gone (true) */
bool serve_client_gone(struct MHD_Connection *conn);

/* Counts a reply by status for /metrics. */
void serve_count_status(serve_server *s, int status);
void serve_metrics_text(serve_server *s, char **text, size_t *len);

#endif
