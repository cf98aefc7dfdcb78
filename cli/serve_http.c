/*
 * tt serve's HTTP layer on libmicrohttpd (docs/serve.md, "Why
 * libmicrohttpd"): the daemon, the route table, request bodies, the API key,
 * replies and error objects. libmicrohttpd parses HTTP; this file never
 * does.
 *
 * One thread per connection: a handler may block (waiting for its job's
 * tokens) without holding up any other client, and an idle connection costs
 * a sleeping thread, not a slot of the batch.
 */
#define _GNU_SOURCE 1 /* POLLRDHUP: the peer closed its end */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "serve.h"
#include "serve_internal.h"

#define MAX_ROUTES 32

typedef serve_route route;

/* The state of one request across libmicrohttpd's calls of the handler. */
typedef struct {
    const route *rt;
    char *body;
    size_t len, cap;
    bool too_large; /* over SERVE_MAX_BODY: the rest is read and dropped */
    bool answering; /* counted in in_flight: its answer has begun */
} conn_state;

/* An answer begins: a stop waits for it (serve_server_drain). A request whose
 * body is still arriving has none yet, so a slow client cannot hold a stop. */
static void answer_begins(serve_server *s, conn_state *cs) {
    if (cs->answering) return;
    cs->answering = true;
    pthread_mutex_lock(&s->stats_mu);
    s->in_flight++;
    pthread_mutex_unlock(&s->stats_mu);
}

static serve_server *server_of(void *cls) { return cls; }

int serve_route_add(serve_server *s, const char *method, const char *path, serve_handler fn,
                    bool needs_auth) {
    for (int i = 0; i < s->n_routes; i++)
        if (!strcmp(s->routes[i].method, method) && !strcmp(s->routes[i].path, path)) {
            s->routes[i].fn = fn;
            s->routes[i].needs_auth = needs_auth;
            return 0;
        }
    if (s->n_routes == MAX_ROUTES || strlen(method) >= sizeof s->routes[0].method ||
        strlen(path) >= sizeof s->routes[0].path)
        return -1;
    route *r = &s->routes[s->n_routes++];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->fn = fn;
    r->needs_auth = needs_auth;
    return 0;
}

/* ---- Replies ---------------------------------------------------------- */

static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 503: return "server_overloaded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static const char *error_code(int status, const char *param) {
    switch (status) {
    case 401: return "invalid_api_key";
    case 404: return param ? "model_not_found" : "not_found";
    case 405: return "method_not_allowed";
    case 413: return "request_too_large";
    case 503: return "server_busy";
    default: return status >= 500 ? "internal_error" : "invalid_value";
    }
}

void serve_reply_json(serve_reply *out, cJSON *j) {
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    free(out->body);
    if (!text) {
        static const char oom[] = "{\"error\": {\"message\": \"out of memory\", \"type\": "
                                  "\"server_error\", \"param\": null, \"code\": "
                                  "\"internal_error\"}}";
        out->status = 500;
        out->body = strdup(oom);
        out->body_len = out->body ? strlen(out->body) : 0;
        return;
    }
    if (!out->status) out->status = 200;
    out->body = text;
    out->body_len = strlen(text);
    out->content_type = "application/json";
}

void serve_reply_error(serve_reply *out, int status, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", error_type(status));
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    cJSON_AddStringToObject(e, "code", error_code(status, param));
    out->status = status;
    serve_reply_json(out, j);
    out->status = status;
}

void serve_reply_text(serve_reply *out, int status, const char *content_type, const char *text,
                      size_t len) {
    free(out->body);
    out->body = malloc(len + 1);
    if (!out->body) {
        serve_reply_error(out, 500, NULL, "out of memory");
        return;
    }
    memcpy(out->body, text, len);
    out->body[len] = '\0';
    out->body_len = len;
    out->status = status;
    out->content_type = content_type;
}

/* ---- Streaming ----------------------------------------------------------- */

typedef struct {
    serve_reply r;
} stream_box;

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_box *b = cls;
    const long n = b->r.stream_read(b->r.stream_ctx, buf, max);
    if (n == SERVE_STREAM_END) return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void stream_done(void *cls) {
    stream_box *b = cls;
    if (b->r.stream_free) b->r.stream_free(b->r.stream_ctx);
    free(b);
}

bool serve_client_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
    if (p.revents & POLLIN) { /* pipelined bytes, or the end of the stream */
        char c;
        const ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return false;
}

/* ---- The request handler ------------------------------------------------ */

static enum MHD_Result send_reply(serve_server *s, struct MHD_Connection *conn, serve_reply *r) {
    struct MHD_Response *resp;
    stream_box *box = NULL;
    if (r->stream_read) {
        box = malloc(sizeof *box);
        if (!box) {
            if (r->stream_free) r->stream_free(r->stream_ctx);
            r->stream_read = NULL;
            serve_reply_error(r, 500, NULL, "out of memory");
            return send_reply(s, conn, r);
        }
        box->r = *r;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, box,
                                                 stream_done);
        if (!resp) {
            stream_done(box);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        if (!r->status) r->status = 200;
    } else {
        if (!r->body) serve_reply_error(r, 500, NULL, "internal error: empty reply");
        resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(r->body);
            r->body = NULL;
            return MHD_NO;
        }
        r->body = NULL; /* owned by the response now */
        MHD_add_response_header(resp, "Content-Type",
                                r->content_type ? r->content_type : "application/json");
    }
    if (r->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    serve_count_status(s, r->status);
    const enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(serve_server *s, struct MHD_Connection *conn, int status,
                                  const char *param, const char *msg, const char *allow) {
    serve_reply r = {0};
    serve_reply_error(&r, status, param, "%s", msg);
    if (!allow) return send_reply(s, conn, &r);
    /* 405 names the methods the path has */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.body_len, r.body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Allow", allow);
    serve_count_status(s, status);
    const enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Compares the Authorization header with "Bearer KEY" in time that does not
 * depend on where they differ (nor on the key's length beyond the header's). */
static bool key_ok(const serve_server *s, struct MHD_Connection *conn) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false; /* a scheme is caseless */
    const char *given = h + 7;
    const size_t n_given = strlen(given), n_key = strlen(s->api_key);
    unsigned char diff = (unsigned char)(n_given != n_key);
    for (size_t i = 0; i < n_given; i++)
        diff |= (unsigned char)(given[i] ^ s->api_key[i < n_key ? i : 0]);
    return diff == 0;
}

/* A JSON string's \u0000: cJSON's strings end at a NUL, so "a\u0000b"
 * would silently be "a". Outside strings valid JSON has no backslash, so
 * every one here starts an escape. */
static bool has_nul_escape(const char *b, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != '\\') continue;
        if (b[i + 1] == 'u' && i + 5 < n && !memcmp(b + i + 2, "0000", 4)) return true;
        i++; /* the escaped character: \\ is one escape */
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    serve_server *s = server_of(cls);
    conn_state *cs = *con_cls;
    if (!cs) { /* the headers have arrived: route, method, key, size */
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        *con_cls = cs;
        answer_begins(s, cs); /* until the headers are found good */
        char allow[64] = "";
        for (int i = 0; i < s->n_routes; i++) {
            if (strcmp(s->routes[i].path, url)) continue;
            if (!strcmp(s->routes[i].method, method) ||
                (!strcmp(method, "HEAD") && !strcmp(s->routes[i].method, "GET")))
                cs->rt = &s->routes[i];
            else if (strlen(allow) + strlen(s->routes[i].method) + 3 < sizeof allow)
                snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                         allow[0] ? ", " : "", s->routes[i].method);
        }
        if (!cs->rt) {
            char msg[256];
            if (allow[0]) {
                snprintf(msg, sizeof msg, "method %.10s is not allowed on %.80s (allowed: %s)",
                         method, url, allow);
                return send_error(s, conn, 405, NULL, msg, allow);
            }
            snprintf(msg, sizeof msg, "no such endpoint: %.10s %.100s", method, url);
            return send_error(s, conn, 404, NULL, msg, NULL);
        }
        if (cs->rt->needs_auth && !key_ok(s, conn))
            return send_error(s, conn, 401, NULL,
                              "missing or wrong API key (send 'Authorization: Bearer KEY')", NULL);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            const unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > SERVE_MAX_BODY) {
                char msg[128];
                snprintf(msg, sizeof msg, "the request body is larger than %zu bytes (1 MiB)",
                         SERVE_MAX_BODY);
                return send_error(s, conn, 413, NULL, msg, NULL);
            }
        }
        cs->answering = false; /* the body is to come: nothing is answered yet */
        pthread_mutex_lock(&s->stats_mu);
        s->in_flight--;
        pthread_mutex_unlock(&s->stats_mu);
        return MHD_YES;
    }
    if (*upload_data_size) { /* a piece of the body */
        const size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (cs->too_large || cs->len + n > SERVE_MAX_BODY) {
            cs->too_large = true;
            return MHD_YES;
        }
        if (cs->len + n + 1 > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 4096;
            while (cap < cs->len + n + 1)
                cap *= 2;
            char *b = realloc(cs->body, cap);
            if (!b) return MHD_NO;
            cs->body = b;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->len, upload_data, n);
        cs->len += n;
        cs->body[cs->len] = '\0';
        return MHD_YES;
    }
    answer_begins(s, cs);
    if (cs->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body is larger than %zu bytes (1 MiB)",
                 SERVE_MAX_BODY);
        return send_error(s, conn, 413, NULL, msg, NULL);
    }
    if (has_nul_escape(cs->body, cs->len))
        return send_error(s, conn, 400, NULL,
                          "the request body has a NUL character (\\u0000) in a string; no field "
                          "takes one",
                          NULL);
    serve_request req = {method, url, cs->body, cs->len, conn};
    serve_reply r = {0};
    cs->rt->fn(s, &req, &r);
    return send_reply(s, conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    (void)toe;
    serve_server *s = server_of(cls);
    conn_state *cs = *con_cls;
    if (cs) { /* the answer is sent (or the client has gone) */
        if (cs->answering) {
            pthread_mutex_lock(&s->stats_mu);
            s->in_flight--;
            pthread_mutex_unlock(&s->stats_mu);
        }
        free(cs->body);
        free(cs);
    }
    *con_cls = NULL;
}

/* ---- Metrics counters ------------------------------------------------------ */

void serve_count_status(serve_server *s, int status) {
    pthread_mutex_lock(&s->stats_mu);
    for (int i = 0; i < SERVE_N_STATUS; i++) {
        if (s->status_code[i] == status || s->status_code[i] == 0) {
            s->status_code[i] = status;
            s->status_count[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&s->stats_mu);
}

/* ---- The server ---------------------------------------------------------- */

serve_server *serve_server_create(const serve_options *o, char *msg, size_t msg_size) {
    serve_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(msg, msg_size, "out of memory");
        return NULL;
    }
    s->routes = calloc(MAX_ROUTES, sizeof *s->routes);
    if (!s->routes) {
        free(s);
        snprintf(msg, msg_size, "out of memory");
        return NULL;
    }
    s->opt = *o;
    s->api_key = o->api_key;
    s->created = (long)time(NULL);
    pthread_mutex_init(&s->stats_mu, NULL);
    pthread_mutex_init(&s->eval_mu, NULL);
    if (serve_chat_template_init(&s->tmpl, o->chat_template_json, o->tok, msg, msg_size)) {
        serve_server_free(s);
        return NULL;
    }
    serve_openai_routes(s);
    serve_page_routes(s);
    return s;
}

int serve_server_start(serve_server *s, int *port, char *msg, size_t msg_size) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    const struct sockaddr *addr;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (inet_pton(AF_INET, s->opt.host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->opt.port);
        addr = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->opt.host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->opt.port);
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(msg, msg_size, "--host: '%s' is not an IPv4 or IPv6 address", s->opt.host);
        return -1;
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->opt.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)s->opt.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)2000, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)1 << 20, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(msg, msg_size, "--host %s --port %d: cannot listen there (%s)", s->opt.host,
                 s->opt.port, errno ? strerror(errno) : "in use or not permitted");
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : s->opt.port;
    return 0;
}

void serve_server_quiesce(serve_server *s) {
    if (s && s->daemon) {
        const MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
}

void serve_server_drain(serve_server *s, double timeout_s) {
    if (!s) return;
    for (double waited = 0.0; waited < timeout_s; waited += 0.01) {
        pthread_mutex_lock(&s->stats_mu);
        const int n = s->in_flight;
        pthread_mutex_unlock(&s->stats_mu);
        if (n <= 0) return;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
}

void serve_server_free(serve_server *s) {
    if (!s) return;
    if (s->daemon) MHD_stop_daemon(s->daemon);
    tt_model_free(s->opt.eval_model);
    serve_chat_template_free(&s->tmpl);
    pthread_mutex_destroy(&s->stats_mu);
    pthread_mutex_destroy(&s->eval_mu);
    free(s->routes);
    free(s);
}

const tt_model *serve_model(const serve_server *s) { return s->opt.model; }
const tt_tokenizer *serve_tokenizer(const serve_server *s) { return s->opt.tok; }
const char *serve_model_id(const serve_server *s) { return s->opt.model_id; }
int serve_context_len(const serve_server *s) { return s->opt.context_len; }
int serve_max_tokens_cap(const serve_server *s) { return s->opt.max_tokens_cap; }
serve_sched *serve_scheduler(serve_server *s) { return s->opt.sched; }
const char *serve_chat_problem(const serve_server *s) {
    return s->tmpl.problem[0] ? s->tmpl.problem : NULL;
}
