/* tt serve with real clients (docs/serve.md): curl for every endpoint, the
 * bad requests of docs/robustness.md, the API key, the body cap, the queue
 * limit, a client that disconnects mid-stream, 16 concurrent clients each
 * equal to its solo `tt generate`, 200 idle connections, a graceful
 * SIGTERM; and the official `openai` npm package (tests/serve_openai.mjs,
 * installed once into ~/.cache/tiny-transformer/npm).
 *
 * The model is the committed fixture tests/fixtures/gen_model.safetensors
 * (65 characters, a 24-token window). */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "util.h"

#define MODEL "tests/fixtures/gen_model.safetensors"

static char tmp[4096]; /* a scratch directory for this run */

/* ---- The server process ------------------------------------------------------ */

typedef struct {
    pid_t pid;
    int port;
    char url[64];
    char err_path[4200];
} server;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts `tt serve --model MODEL --port 0 extra...` and reads the port from
 * its "listening on" line. */
static void server_start(server *s, const char *const *extra) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    static int n_started;
    snprintf(s->err_path, sizeof s->err_path, "%s/serve%d.err", tmp, n_started++);
    const char *argv[40];
    int n = 0;
    argv[n++] = tt_cli_path();
    argv[n++] = "serve";
    argv[n++] = "--model";
    argv[n++] = MODEL;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fd[1], 1);
        FILE *e = fopen(s->err_path, "w");
        if (e) dup2(fileno(e), 2);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    char line[256];
    size_t k = 0;
    const double t0 = now_s();
    while (k + 1 < sizeof line && now_s() - t0 < 30.0) {
        struct pollfd p = {fd[0], POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0) continue;
        if (read(fd[0], &line[k], 1) != 1) break;
        if (line[k++] == '\n') break;
    }
    line[k] = '\0';
    close(fd[0]);
    const char *at = strstr(line, "tt serve: listening on http://127.0.0.1:");
    if (!at) fprintf(stderr, "tt serve printed '%s'\n", line);
    assert_non_null(at);
    s->port = atoi(at + strlen("tt serve: listening on http://127.0.0.1:"));
    assert_true(s->port > 0);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
}

/* Sends sig and returns the exit status (128 + signal when killed). */
static int server_stop(server *s, int sig) {
    kill(s->pid, sig);
    int st = 0;
    const double t0 = now_s();
    while (waitpid(s->pid, &st, WNOHANG) == 0) {
        if (now_s() - t0 > 60.0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        sleep_ms(10);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        size_t len;
        char *e = tt_test_read_file(s->err_path, &len);
        fprintf(stderr, "tt serve's stderr:\n%s\n", e ? e : "");
        free(e);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- HTTP through curl -------------------------------------------------------------- */

typedef struct {
    int status;
    char *headers; /* the last response's header block */
    char *body;
    cJSON *json; /* body parsed, when it is JSON */
} reply;

static void reply_free(reply *r) {
    free(r->headers);
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

/* Splits curl -i output (headers, blank line, body) and the status that
 * -w appended on a last line. */
static void parse_curl(const char *out, reply *r) {
    memset(r, 0, sizeof *r);
    const char *nl = strrchr(out, '\n');
    assert_non_null(nl);
    r->status = atoi(nl + 1);
    while (!strncmp(out, "HTTP/1.1 100", 12) && strstr(out, "\r\n\r\n"))
        out = strstr(out, "\r\n\r\n") + 4; /* a 100 Continue before the answer */
    const char *sep = strstr(out, "\r\n\r\n");
    size_t hlen = sep ? (size_t)(sep - out) : 0;
    const char *b = sep ? sep + 4 : out;
    r->headers = strndup(out, hlen);
    r->body = strndup(b, (size_t)(nl - b));
    r->json = cJSON_Parse(r->body);
}

static void curl_argv(const char **argv, int *n, const char *method, const char *url,
                      const char *const *headers, bool body) {
    argv[(*n)++] = "curl";
    argv[(*n)++] = "-sS";
    argv[(*n)++] = "-i";
    argv[(*n)++] = "-N";
    argv[(*n)++] = "--max-time";
    argv[(*n)++] = "120";
    argv[(*n)++] = "-X";
    argv[(*n)++] = method;
    argv[(*n)++] = "-w";
    argv[(*n)++] = "\n%{http_code}";
    for (int i = 0; headers && headers[i]; i++) {
        argv[(*n)++] = "-H";
        argv[(*n)++] = headers[i];
    }
    if (body) {
        argv[(*n)++] = "-H";
        argv[(*n)++] = "Content-Type: application/json";
        argv[(*n)++] = "--data-binary";
        argv[(*n)++] = "@-";
    }
    argv[(*n)++] = url;
    argv[*n] = NULL;
}

static void http(const server *s, const char *method, const char *path, const char *body,
                 const char *const *headers, reply *r) {
    char url[256];
    snprintf(url, sizeof url, "%.63s%.180s", s->url, path);
    const char *argv[40];
    int n = 0;
    curl_argv(argv, &n, method, url, headers, body != NULL);
    tt_cli_result cr;
    assert_int_equal(tt_run_program(argv, body, &cr), 0);
    if (cr.status != 0) fprintf(stderr, "curl: %s\n", cr.err);
    assert_int_equal(cr.status, 0);
    parse_curl(cr.out, r);
    tt_cli_result_free(&cr);
}

static void post(const server *s, const char *path, const char *body, reply *r) {
    http(s, "POST", path, body, NULL, r);
}

/* A curl in the background: its output goes to out_path. */
static pid_t curl_spawn(const server *s, const char *path, const char *body, const char *out_path) {
    char url[256], body_path[4300];
    snprintf(url, sizeof url, "%.63s%.180s", s->url, path);
    snprintf(body_path, sizeof body_path, "%s.body", out_path);
    assert_int_equal(tt_test_write_file(body_path, body, strlen(body)), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[40];
        int n = 0;
        curl_argv(argv, &n, "POST", url, NULL, true);
        char at[4400];
        snprintf(at, sizeof at, "@%s", body_path);
        argv[n - 2] = at; /* the body from its file, not stdin */
        FILE *o = fopen(out_path, "w");
        if (!o) _exit(126);
        dup2(fileno(o), 1);
        execvp("curl", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void curl_wait(pid_t pid, const char *out_path, reply *r) {
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t len;
    char *out = tt_test_read_file(out_path, &len);
    assert_non_null(out);
    parse_curl(out, r);
    free(out);
}

/* ---- Reading answers -------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *path) {
    /* "choices.0.text" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9')
            cur = cJSON_GetArrayItem(cur, atoi(tok));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    return cur;
}

static const char *get_str(const cJSON *o, const char *path) {
    const cJSON *v = get(o, path);
    if (!cJSON_IsString(v)) fail_msg("no string at %s", path);
    return v->valuestring;
}

/* The events of a stream: each `data: {...}` parsed, [DONE] checked last. */
typedef struct {
    cJSON **ev;
    int n, cap;
    bool done;
} events;

static void parse_events(const char *body, events *e) {
    memset(e, 0, sizeof *e);
    const char *p = body;
    while ((p = strstr(p, "data: "))) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        assert_false(e->done); /* nothing after [DONE] */
        if (!strncmp(p, "[DONE]", 6))
            e->done = true;
        else {
            if (e->n == e->cap) {
                e->cap = e->cap ? 2 * e->cap : 256;
                e->ev = realloc(e->ev, (size_t)e->cap * sizeof *e->ev);
                assert_non_null(e->ev);
            }
            e->ev[e->n] = cJSON_ParseWithLength(p, (size_t)(end - p));
            assert_non_null(e->ev[e->n]);
            e->n++;
        }
        p = end + 2;
    }
}

static void events_free(events *e) {
    for (int i = 0; i < e->n; i++)
        cJSON_Delete(e->ev[i]);
    free(e->ev);
}

/* ---- tt generate, the reference ----------------------------------------------------- */

/* Runs tt generate --json with args; returns the parsed output. */
static cJSON *tt_generate(const char *const *args) {
    const char *argv[64];
    int n = 0;
    argv[n++] = "tt";
    argv[n++] = "generate";
    argv[n++] = "--model";
    argv[n++] = MODEL;
    argv[n++] = "--json";
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status) fprintf(stderr, "tt generate: %s\n", r.err);
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    tt_cli_result_free(&r);
    return j;
}

static server shared; /* the server most tests use */

static int setup(void **state) {
    (void)state;
    char *d = tt_test_tmpdir();
    if (!d) return -1;
    snprintf(tmp, sizeof tmp, "%s", d);
    free(d);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (shared.pid > 0) server_stop(&shared, SIGTERM);
    tt_test_rmtree(tmp);
    return 0;
}

static const server *the_server(void) {
    if (shared.pid <= 0) server_start(&shared, (const char *[]){"--threads", "1", NULL});
    return &shared;
}

/* ---- Tests -------------------------------------------------------------------------- */

/* Each case: a request body, and the tt generate flags of the same settings. */
typedef struct {
    const char *body;
    const char *args[24];
} same_case;

static const same_case cases[] = {
    {"{\"prompt\": \"ROMEO:\", \"max_tokens\": 30, \"seed\": 7}",
     {"--prompt", "ROMEO:", "--max-new-tokens", "30", "--seed", "7", NULL}},
    {"{\"prompt\": \"the \", \"max_tokens\": 25, \"temperature\": 0}",
     {"--prompt", "the ", "--max-new-tokens", "25", "--temperature", "0", NULL}},
    {"{\"prompt\": \"An\", \"max_tokens\": 40, \"seed\": 3, \"temperature\": 0.8, \"top_k\": 8, "
     "\"top_p\": 0.9, \"min_p\": 0.05, \"repetition_penalty\": 1.3, \"presence_penalty\": 0.5, "
     "\"frequency_penalty\": 0.25, \"logit_bias\": {\"1\": -100}}",
     {"--prompt",
      "An",
      "--max-new-tokens",
      "40",
      "--seed",
      "3",
      "--temperature",
      "0.8",
      "--top-k",
      "8",
      "--top-p",
      "0.9",
      "--min-p",
      "0.05",
      "--repetition-penalty",
      "1.3",
      "--presence-penalty",
      "0.5",
      "--frequency-penalty",
      "0.25",
      "--logit-bias",
      "1=-100",
      NULL}},
    {"{\"prompt\": \"we \", \"max_tokens\": 60, \"seed\": 11, \"stop\": [\"e\", \"zz\"], "
     "\"typical_p\": 0.9, \"dry_multiplier\": 0.8, \"samplers\": [\"dry\", \"top_k\", "
     "\"temperature\", \"typ_p\"]}",
     {"--prompt", "we ", "--max-new-tokens", "60", "--seed", "11", "--stop", "e", "--stop", "zz",
      "--typical-p", "0.9", "--dry-multiplier", "0.8", "--samplers", "dry,top_k,temperature,typ_p",
      NULL}},
    {"{\"prompt\": [\"ab\", \"KING\"], \"n\": 3, \"max_tokens\": 50, \"seed\": 5, "
     "\"context_shift\": \"exact\"}",
     {"--prompt", "ab", "--prompt", "KING", "--num-samples", "3", "--max-new-tokens", "50",
      "--seed", "5", "--context-shift", "exact", NULL}},
};

/* The text and finish_reason of every choice equal tt generate's, plain
 * and streamed (the chunks' texts concatenated). */
static void test_completions_equal_generate(void **state) {
    (void)state;
    const server *s = the_server();
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        cJSON *ref = tt_generate(cases[k].args);
        const cJSON *outs = cJSON_GetObjectItemCaseSensitive(ref, "outputs");
        const int n = cJSON_GetArraySize(outs);
        reply r;
        post(s, "/v1/completions", cases[k].body, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(r.json);
        assert_string_equal(get_str(r.json, "object"), "text_completion");
        assert_int_equal(cJSON_GetArraySize(get(r.json, "choices")), n);
        long completion = 0;
        for (int i = 0; i < n; i++) {
            const cJSON *o = cJSON_GetArrayItem(outs, i);
            const cJSON *c = cJSON_GetArrayItem(get(r.json, "choices"), i);
            assert_string_equal(get_str(c, "text"), get_str(o, "generated"));
            assert_int_equal((int)get(c, "index")->valuedouble, i);
            const char *fr = get_str(o, "finish_reason");
            assert_string_equal(get_str(c, "finish_reason"),
                                !strcmp(fr, "length") ? "length" : "stop");
            completion += (long)strlen(get_str(o, "generated")); /* ASCII: a byte a token */
        }
        assert_int_equal((long)get(r.json, "usage.completion_tokens")->valuedouble, completion);
        assert_int_equal((long)get(r.json, "usage.total_tokens")->valuedouble,
                         completion + (long)get(r.json, "usage.prompt_tokens")->valuedouble);
        reply_free(&r);

        /* streamed: one chunk per token, then one with finish_reason, then [DONE] */
        char body[1024];
        snprintf(body, sizeof body, "%.*s, \"stream\": true}", (int)strlen(cases[k].body) - 1,
                 cases[k].body);
        post(s, "/v1/completions", body, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.headers, "text/event-stream"));
        events e;
        parse_events(r.body, &e);
        assert_true(e.done);
        for (int i = 0; i < n; i++) {
            const cJSON *o = cJSON_GetArrayItem(outs, i);
            char text[4096] = "";
            const char *finish = NULL;
            int chunks = 0;
            for (int j = 0; j < e.n; j++) {
                const cJSON *c = get(e.ev[j], "choices.0");
                if ((int)get(c, "index")->valuedouble != i) continue;
                assert_null(finish); /* finish_reason comes last */
                const char *t = get_str(c, "text");
                if (t[0]) chunks++, assert_int_equal(strlen(t), 1);
                strcat(text, t);
                if (cJSON_IsString(get(c, "finish_reason"))) finish = get_str(c, "finish_reason");
            }
            assert_string_equal(text, get_str(o, "generated"));
            assert_int_equal(chunks, (int)strlen(text));
            assert_non_null(finish);
            const char *fr = get_str(o, "finish_reason");
            assert_string_equal(finish, !strcmp(fr, "length") ? "length" : "stop");
        }
        events_free(&e);
        reply_free(&r);
        cJSON_Delete(ref);
    }
    /* the seed in the answer is written as digits (it was "1e+15": a float to
     * typed clients), so it can be sent back as it came */
    reply r;
    post(s, "/v1/completions",
         "{\"prompt\": \"ab\", \"max_tokens\": 1, \"seed\": 1000000000000000}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"seed\":1000000000000000}"));
    reply_free(&r);
}

/* logprobs in OpenAI's legacy shape, with tt generate's values; echo puts
 * the prompt first (its first token without a logprob). */
static void test_logprobs(void **state) {
    (void)state;
    const server *s = the_server();
    cJSON *ref = tt_generate((const char *[]){"--prompt", "KING:", "--max-new-tokens", "12",
                                              "--seed", "9", "--logprobs", "3", NULL});
    const cJSON *lps = get(ref, "outputs.0.logprobs");
    reply r;
    post(
        s, "/v1/completions",
        "{\"prompt\": \"KING:\", \"max_tokens\": 12, \"seed\": 9, \"logprobs\": 3, \"echo\": true}",
        &r);
    assert_int_equal(r.status, 200);
    const cJSON *lo = get(r.json, "choices.0.logprobs");
    const cJSON *toks = get(lo, "tokens"), *tlp = get(lo, "token_logprobs"),
                *top = get(lo, "top_logprobs"), *off = get(lo, "text_offset");
    assert_int_equal(cJSON_GetArraySize(toks), 5 + 12);
    assert_int_equal(cJSON_GetArraySize(tlp), 17);
    assert_int_equal(cJSON_GetArraySize(top), 17);
    assert_int_equal(cJSON_GetArraySize(off), 17);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(tlp, 0)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(top, 0)));
    const char *text = get_str(r.json, "choices.0.text");
    assert_int_equal(strncmp(text, "KING:", 5), 0);
    for (int i = 0; i < 17; i++) {
        const char *t = cJSON_GetArrayItem(toks, i)->valuestring;
        assert_int_equal((int)cJSON_GetArrayItem(off, i)->valuedouble, i);
        assert_int_equal(t[0], text[i]);
        if (i == 0) continue;
        assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(top, i)), 3);
        if (i < 5) continue;
        const cJSON *ref_i = cJSON_GetArrayItem(lps, i - 5);
        assert_string_equal(get_str(ref_i, "token"), t);
        assert_float_equal(cJSON_GetArrayItem(tlp, i)->valuedouble,
                           get(ref_i, "logprob")->valuedouble, 1e-6);
        for (int k = 0; k < 3; k++) {
            const cJSON *alt = cJSON_GetArrayItem(get(ref_i, "top"), k);
            const cJSON *mine =
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(top, i), get_str(alt, "token"));
            assert_non_null(mine);
            assert_float_equal(mine->valuedouble, get(alt, "logprob")->valuedouble, 1e-6);
        }
    }
    reply_free(&r);
    /* without echo the offsets start after the prompt */
    post(s, "/v1/completions",
         "{\"prompt\": \"KING:\", \"max_tokens\": 4, \"seed\": 9, \"logprobs\": 0}", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal((int)get(r.json, "choices.0.logprobs.text_offset.0")->valuedouble, 5);
    assert_int_equal(cJSON_GetArraySize(get(r.json, "choices.0.logprobs.top_logprobs.0")), 0);
    reply_free(&r);
    cJSON_Delete(ref);
}

/* Chat: the play-script prompt, the template's stop, message/delta. */
static void test_chat(void **state) {
    (void)state;
    const server *s = the_server();
    cJSON *ref =
        tt_generate((const char *[]){"--prompt", "USER:\nhi\n\nASSISTANT:\n", "--max-new-tokens",
                                     "30", "--seed", "4", "--stop", "\n\n", NULL});
    const char *want = get_str(ref, "outputs.0.generated");
    const char *body =
        "{\"model\": \"gen_model\", \"messages\": [{\"role\": \"user\", \"content\": "
        "\"hi\"}], \"max_tokens\": 30, \"seed\": 4}";
    reply r;
    post(s, "/v1/chat/completions", body, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(get_str(r.json, "object"), "chat.completion");
    assert_string_equal(get_str(r.json, "choices.0.message.role"), "assistant");
    assert_string_equal(get_str(r.json, "choices.0.message.content"), want);
    reply_free(&r);
    post(s, "/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 30, "
         "\"seed\": 4, \"stream\": true, \"stream_options\": {\"include_usage\": true}}",
         &r);
    assert_int_equal(r.status, 200);
    events e;
    parse_events(r.body, &e);
    assert_true(e.done && e.n >= 3);
    assert_string_equal(get_str(e.ev[0], "choices.0.delta.role"), "assistant");
    char text[256] = "";
    for (int j = 0; j < e.n; j++) {
        assert_string_equal(get_str(e.ev[j], "object"), "chat.completion.chunk");
        const cJSON *c = get(e.ev[j], "choices.0.delta.content");
        if (cJSON_IsString(c)) strcat(text, c->valuestring);
    }
    assert_string_equal(text, want);
    assert_non_null(get(e.ev[e.n - 1], "usage.total_tokens")); /* include_usage */
    events_free(&e);
    reply_free(&r);
    cJSON_Delete(ref);
}

/* Chat logprobs in the chat shape; a template file of one's own. */
static void test_chat_logprobs_and_template(void **state) {
    (void)state;
    const server *s = the_server();
    reply r;
    post(s, "/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 8, "
         "\"seed\": 4, \"logprobs\": true, \"top_logprobs\": 2, \"stop\": null}",
         &r);
    assert_int_equal(r.status, 200);
    const cJSON *content = get(r.json, "choices.0.logprobs.content");
    assert_int_equal(cJSON_GetArraySize(content), 8);
    const char *text = get_str(r.json, "choices.0.message.content");
    for (int k = 0; k < 8; k++) {
        const cJSON *e = cJSON_GetArrayItem(content, k);
        assert_int_equal(get_str(e, "token")[0], text[k]);
        assert_true(get(e, "logprob")->valuedouble <= 0.0);
        assert_int_equal(cJSON_GetArraySize(get(e, "top_logprobs")), 2);
        assert_int_equal((int)get(e, "bytes.0")->valuedouble, (unsigned char)text[k]);
    }
    reply_free(&r);

    char path[4200];
    snprintf(path, sizeof path, "%s/template.json", tmp);
    const char *tmpl = "{\"message\": \"{name}: {content}\\n\", \"assistant\": \"{name}:\", "
                       "\"names\": {\"user\": \"KING\", \"assistant\": \"LEAR\"}, \"stop\": []}";
    assert_int_equal(tt_test_write_file(path, tmpl, strlen(tmpl)), 0);
    server t;
    server_start(&t, (const char *[]){"--chat-template", path, "--threads", "1", NULL});
    post(&t, "/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"user\", "
         "\"name\": \"GLOU\", \"content\": \"so\"}], \"max_tokens\": 20, \"seed\": 6}",
         &r);
    assert_int_equal(r.status, 200);
    cJSON *ref = tt_generate((const char *[]){
        "--prompt", "KING: hi\nGLOU: so\nLEAR:", "--max-new-tokens", "20", "--seed", "6", NULL});
    assert_string_equal(get_str(r.json, "choices.0.message.content"),
                        get_str(ref, "outputs.0.generated"));
    cJSON_Delete(ref);
    reply_free(&r);
    assert_int_equal(server_stop(&t, SIGTERM), 0);
}

/* An idle connection is closed after --timeout seconds. */
static void test_idle_timeout(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--timeout", "1", "--threads", "1", NULL});
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, "GET /hea", 8), 8); /* and then nothing */
    const double t0 = now_s();
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 10000), 1);
    char c;
    assert_int_equal(read(fd, &c, 1), 0); /* closed by the server */
    const double dt = now_s() - t0;
    assert_true(dt > 0.5 && dt < 8.0);
    close(fd);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* The other endpoints. */
static void test_models_health_tokenize_metrics(void **state) {
    (void)state;
    const server *s = the_server();
    reply r;
    http(s, "GET", "/v1/models", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(get_str(r.json, "data.0.id"), "gen_model");
    reply_free(&r);
    http(s, "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(get_str(r.json, "status"), "ok");
    reply_free(&r);
    post(s, "/tokenize", "{\"content\": \"ab\"}", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(get(r.json, "tokens")), 2);
    const int a = (int)get(r.json, "tokens.0")->valuedouble,
              b = (int)get(r.json, "tokens.1")->valuedouble;
    reply_free(&r);
    char body[64];
    snprintf(body, sizeof body, "{\"tokens\": [%d, %d, %d]}", b, a, b);
    post(s, "/detokenize", body, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(get_str(r.json, "content"), "bab");
    reply_free(&r);
    http(s, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tt_serve_requests_total{status=\"200\"}"));
    assert_non_null(strstr(r.body, "tt_serve_tokens_generated_total"));
    assert_non_null(strstr(r.body, "tt_serve_queue_length 0"));
    assert_non_null(strstr(r.body, "tt_serve_time_per_token_seconds"));
    reply_free(&r);
    http(s, "GET", "/", NULL, NULL, &r); /* the explorer's page, or its placeholder */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/html"));
    reply_free(&r);
}

/* docs/robustness.md, "tt serve": each bad request, its status, the param
 * named and a piece of the message. */
typedef struct {
    const char *method, *path, *body;
    int status;
    const char *param; /* NULL: JSON null */
    const char *msg;
} bad_case;

static const bad_case bad[] = {
    {"POST", "/v1/completions", "{\"prompt\": \"ab\"", 400, NULL, "not valid JSON"},
    {"POST", "/v1/completions", "[1, 2]", 400, NULL, "must be a JSON object"},
    /* cJSON's strings end at a NUL: "a\u0000b" was silently the prompt "a" */
    {"POST", "/v1/completions", "{\"prompt\": \"a\\u0000b\"}", 400, NULL, "NUL character"},
    {"POST", "/tokenize", "{\"content\": \"a\\u0000b\"}", 400, NULL, "NUL character"},
    {"POST", "/v1/completions", "", 400, NULL, "must be a JSON object"},
    {"POST", "/v1/completions", "{\"max_tokens\": 5}", 400, "prompt", "'prompt' is required"},
    {"POST", "/v1/completions", "{\"prompt\": 5}", 400, "prompt", "must be a string"},
    {"POST", "/v1/completions", "{\"prompt\": \"\"}", 400, "prompt", "is empty"},
    {"POST", "/v1/completions", "{\"prompt\": \"a\\u20acb\"}", 400, "prompt", "unknown character"},
    {"POST", "/v1/completions", "{\"prompt\": \"abcdefghijklmnopqrstuvwxyz\"}", 400, "prompt",
     "context window holds 24"},
    {"POST", "/v1/completions", "{\"prompt\": [1, 99]}", 400, "prompt", "must be in [0, 64]"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 5000}", 400, "max_tokens",
     "must be in [0, 4096]"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 2.5}", 400, "max_tokens",
     "must be an integer"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": \"5\"}", 400, "max_tokens",
     "must be an integer"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"temperature\": -0.5}", 400, "temperature",
     ">= 0"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"temperature\": \"hot\"}", 400,
     "temperature", "must be a number"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"top_p\": 0}", 400, "top_p", "(0, 1]"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"top_p\": 1.5}", 400, "top_p", "(0, 1]"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"top_k\": -1}", 400, "top_k", "must be in"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"min_p\": 2}", 400, "min_p", "min_p"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"presence_penalty\": 3}", 400,
     "presence_penalty", "presence_penalty"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"repetition_penalty\": 0}", 400,
     "repetition_penalty", "repetition_penalty"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"n\": 0}", 400, "n", "must be in [1, 16]"},
    {"POST", "/v1/completions", "{\"prompt\": [\"ab\", \"cd\"], \"n\": 9}", 400, "n",
     "the batch holds 16"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"logprobs\": 21}", 400, "logprobs",
     "must be in [0, 20]"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"stop\": 7}", 400, "stop",
     "string or an array"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"stop\": [\"\"]}", 400, "stop", "non-empty"},
    {"POST", "/v1/completions",
     "{\"prompt\": \"ab\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\","
     "\"f\",\"g\",\"h\",\"i\"]}",
     400, "stop", "at most 8"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"logit_bias\": {\"x\": 1}}", 400,
     "logit_bias", "not a token id"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"logit_bias\": {\"65\": 1}}", 400,
     "logit_bias", "not a token id in [0, 65)"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"logit_bias\": {\"3\": 500}}", 400,
     "logit_bias", "[-100, 100]"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"seed\": -1}", 400, "seed", "must be in"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"samplers\": [\"top_k\", \"warp\"]}", 400,
     "samplers", "warp"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"context_shift\": \"left\"}", 400,
     "context_shift", "\"half\" or \"exact\""},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"eos\": \"\\u20ac\"}", 400, "eos",
     "not in the model's vocabulary"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"stream\": \"yes\"}", 400, "stream",
     "true or false"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"best_of\": 3}", 400, "best_of",
     "not supported"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"suffix\": \"x\"}", 400, "suffix",
     "not supported"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"temprature\": 1}", 400, "temprature",
     "unrecognized request argument"},
    {"POST", "/v1/completions", "{\"prompt\": \"ab\", \"model\": \"gpt-4\"}", 404, "model",
     "does not exist"},
    {"POST", "/v1/chat/completions", "{\"messages\": []}", 400, "messages", "non-empty array"},
    {"POST", "/v1/chat/completions", "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}",
     400, "messages[0]", "\"system\", \"developer\", \"user\" or \"assistant\""},
    {"POST", "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400,
     "messages[0]", "must be a string"},
    {"POST", "/v1/chat/completions",
     "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
     "\"top_logprobs\": 2}",
     400, "top_logprobs", "needs 'logprobs': true"},
    {"POST", "/tokenize", "{\"text\": \"ab\"}", 400, "text", "unrecognized"},
    {"POST", "/tokenize", "{\"content\": \"a\\u20ac\"}", 400, "content", "unknown character"},
    {"POST", "/detokenize", "{\"tokens\": [1, -2]}", 400, "tokens", "must be in [0, 64]"},
    {"GET", "/v1/completions", NULL, 405, NULL, "not allowed"},
    {"DELETE", "/health", NULL, 405, NULL, "not allowed"},
    {"GET", "/v2/completions", NULL, 404, NULL, "no such endpoint"},
};

static void check_error(const reply *r, int status, const char *param, const char *msg) {
    if (r->status != status) fail_msg("status %d, wanted %d: %s", r->status, status, r->body);
    assert_non_null(r->json);
    const cJSON *e = get(r->json, "error");
    assert_non_null(e);
    const char *m = get_str(e, "message");
    if (!strstr(m, msg)) fail_msg("message '%s' lacks '%s'", m, msg);
    assert_true(cJSON_IsString(get(e, "type")));
    assert_true(cJSON_IsString(get(e, "code")));
    const cJSON *p = get(e, "param");
    if (param) {
        assert_true(cJSON_IsString(p));
        assert_string_equal(p->valuestring, param);
    } else {
        assert_true(cJSON_IsNull(p));
    }
}

static void test_bad_requests(void **state) {
    (void)state;
    const server *s = the_server();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reply r;
        http(s, bad[i].method, bad[i].path, bad[i].body, NULL, &r);
        check_error(&r, bad[i].status, bad[i].param, bad[i].msg);
        if (bad[i].status == 405) assert_non_null(strstr(r.headers, "Allow: "));
        reply_free(&r);
    }
    /* nothing broke: a good request still works */
    reply r;
    post(s, "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 3}", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* Bodies over 1 MiB: 413, announced (Content-Length) or chunked. */
static void test_body_limit(void **state) {
    (void)state;
    const server *s = the_server();
    const size_t n = ((size_t)1 << 20) + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"prompt\": \"ab\"}", 16);
    big[n] = '\0';
    reply r;
    post(s, "/v1/completions", big, &r);
    check_error(&r, 413, NULL, "larger than 1048576 bytes");
    reply_free(&r);
    http(s, "POST", "/v1/completions", big, (const char *[]){"Transfer-Encoding: chunked", NULL},
         &r);
    check_error(&r, 413, NULL, "larger than 1048576 bytes");
    reply_free(&r);
    free(big);
}

static void test_api_key(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--api-key", "sekret-123", "--threads", "1", NULL});
    const char *body = "{\"prompt\": \"ab\", \"max_tokens\": 2}";
    reply r;
    http(&s, "POST", "/v1/completions", body, NULL, &r);
    check_error(&r, 401, NULL, "API key");
    reply_free(&r);
    http(&s, "POST", "/v1/completions", body,
         (const char *[]){"Authorization: Bearer sekret-12", NULL}, &r);
    check_error(&r, 401, NULL, "API key");
    reply_free(&r);
    http(&s, "GET", "/v1/models", NULL, (const char *[]){"Authorization: Bearer sekret-1234", NULL},
         &r);
    check_error(&r, 401, NULL, "API key");
    reply_free(&r);
    http(&s, "POST", "/v1/completions", body,
         (const char *[]){"Authorization: Bearer sekret-123", NULL}, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    /* RFC 7235: the scheme's name is case-insensitive; the key is not */
    http(&s, "POST", "/v1/completions", body,
         (const char *[]){"Authorization: bearer sekret-123", NULL}, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http(&s, "POST", "/v1/completions", body,
         (const char *[]){"Authorization: Bearer SEKRET-123", NULL}, &r);
    check_error(&r, 401, NULL, "API key");
    reply_free(&r);
    http(&s, "GET", "/health", NULL, NULL, &r); /* for load balancers: no key */
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* A sample's value in /metrics text. */
static double metric(const char *text, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(text, key);
    if (!at) fail_msg("no metric %s", name);
    return atof(at + strlen(key));
}

static int health_field(const server *s, const char *field) {
    reply r;
    http(s, "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    const int v = (int)get(r.json, field)->valuedouble;
    reply_free(&r);
    return v;
}

static void wait_health(const server *s, const char *field, int want) {
    const double t0 = now_s();
    while (health_field(s, field) != want) {
        if (now_s() - t0 > 30.0) fail_msg("/health %s never became %d", field, want);
        sleep_ms(20);
    }
}

/* One row of batch, one place in the queue: a long stream holds the row, a
 * second request waits, a third gets 503 with Retry-After. The stream's
 * client goes away: its row is freed at the next step and the waiting
 * request runs, with the text it has alone. */
static void test_queue_limit_and_disconnect(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--max-batch", "1", "--max-queue", "1", "--max-tokens-cap",
                                      "1000000", "--threads", "1", NULL});
    char a_out[4200], b_out[4200];
    snprintf(a_out, sizeof a_out, "%s/a.out", tmp);
    snprintf(b_out, sizeof b_out, "%s/b.out", tmp);
    const pid_t a =
        curl_spawn(&s, "/v1/completions",
                   "{\"prompt\": \"ab\", \"max_tokens\": 1000000, \"stream\": true}", a_out);
    wait_health(&s, "rows", 1);
    const pid_t b = curl_spawn(&s, "/v1/completions",
                               "{\"prompt\": \"KING\", \"max_tokens\": 20, \"seed\": 8}", b_out);
    wait_health(&s, "queued", 1);
    reply r;
    post(&s, "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 2}", &r);
    check_error(&r, 503, NULL, "queue is full");
    assert_non_null(strstr(r.headers, "Retry-After: 1"));
    reply_free(&r);
    /* the stream's client disconnects mid-stream */
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    curl_wait(b, b_out, &r);
    assert_int_equal(r.status, 200);
    cJSON *ref = tt_generate(
        (const char *[]){"--prompt", "KING", "--max-new-tokens", "20", "--seed", "8", NULL});
    assert_string_equal(get_str(r.json, "choices.0.text"), get_str(ref, "outputs.0.generated"));
    cJSON_Delete(ref);
    reply_free(&r);
    wait_health(&s, "rows", 0);
    /* the freed row stays free: no token is generated any more */
    http(&s, "GET", "/metrics", NULL, NULL, &r);
    const long n1 = (long)metric(r.body, "tt_serve_tokens_generated_total");
    reply_free(&r);
    sleep_ms(100);
    http(&s, "GET", "/metrics", NULL, NULL, &r);
    const long n2 = (long)metric(r.body, "tt_serve_tokens_generated_total");
    assert_int_equal(n1, n2);
    reply_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* A queued request whose client goes away leaves the queue at once: behind
 * a waiting head it used to hold its place in --max-queue (new requests got
 * 503) until it reached the head, i.e. until the jobs before it finished. */
static void test_queued_client_leaves(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--max-batch", "1", "--max-queue", "2", "--max-tokens-cap",
                                      "1000000", "--threads", "1", NULL});
    char a_out[4200], b_out[4200], c_out[4200], d_out[4200];
    snprintf(a_out, sizeof a_out, "%s/qa.out", tmp);
    snprintf(b_out, sizeof b_out, "%s/qb.out", tmp);
    snprintf(c_out, sizeof c_out, "%s/qc.out", tmp);
    snprintf(d_out, sizeof d_out, "%s/qd.out", tmp);
    const pid_t a =
        curl_spawn(&s, "/v1/completions",
                   "{\"prompt\": \"ab\", \"max_tokens\": 1000000, \"stream\": true}", a_out);
    wait_health(&s, "rows", 1);
    const pid_t b = curl_spawn(&s, "/v1/completions",
                               "{\"prompt\": \"KING\", \"max_tokens\": 20, \"seed\": 8}", b_out);
    wait_health(&s, "queued", 1);
    const pid_t c =
        curl_spawn(&s, "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 5}", c_out);
    wait_health(&s, "queued", 2);
    kill(c, SIGKILL); /* C's client goes away while A runs and B waits */
    waitpid(c, NULL, 0);
    const double t0 = now_s();
    while (health_field(&s, "queued") != 1) {
        if (now_s() - t0 > 5.0) fail_msg("the gone client still holds its place in the queue");
        sleep_ms(20);
    }
    reply r;
    const pid_t d = curl_spawn(&s, "/v1/completions",
                               "{\"prompt\": \"An\", \"max_tokens\": 20, \"seed\": 3}", d_out);
    wait_health(&s, "queued", 2); /* queued, not refused */
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    const char *prompt[2] = {"KING", "An"}, *seed[2] = {"8", "3"};
    const pid_t pid[2] = {b, d};
    const char *out[2] = {b_out, d_out};
    for (int i = 0; i < 2; i++) {
        curl_wait(pid[i], out[i], &r);
        assert_int_equal(r.status, 200);
        cJSON *ref = tt_generate((const char *[]){"--prompt", prompt[i], "--max-new-tokens", "20",
                                                  "--seed", seed[i], NULL});
        assert_string_equal(get_str(r.json, "choices.0.text"), get_str(ref, "outputs.0.generated"));
        cJSON_Delete(ref);
        reply_free(&r);
    }
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* A stream that waits in the queue longer than --timeout keeps its
 * connection (SSE keep-alive comments): it used to be cut off after
 * --timeout seconds with no event at all. */
static void test_stream_waits_past_timeout(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--max-batch", "1", "--timeout", "1", "--max-tokens-cap",
                                      "1000000", "--threads", "1", NULL});
    char a_out[4200], b_out[4200];
    snprintf(a_out, sizeof a_out, "%s/ta.out", tmp);
    snprintf(b_out, sizeof b_out, "%s/tb.out", tmp);
    const pid_t a =
        curl_spawn(&s, "/v1/completions",
                   "{\"prompt\": \"ab\", \"max_tokens\": 1000000, \"stream\": true}", a_out);
    wait_health(&s, "rows", 1);
    const pid_t b = curl_spawn(
        &s, "/v1/completions",
        "{\"prompt\": \"KING\", \"max_tokens\": 20, \"seed\": 8, \"stream\": true}", b_out);
    wait_health(&s, "queued", 1);
    sleep_ms(2500); /* B waits 2.5 timeouts */
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    reply r;
    curl_wait(b, b_out, &r); /* curl exits 0: the stream was not cut */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ": keep-alive\n\n"));
    events e;
    parse_events(r.body, &e);
    assert_true(e.done);
    char text[64] = "";
    for (int j = 0; j < e.n; j++)
        strcat(text, get_str(e.ev[j], "choices.0.text"));
    cJSON *ref = tt_generate(
        (const char *[]){"--prompt", "KING", "--max-new-tokens", "20", "--seed", "8", NULL});
    assert_string_equal(text, get_str(ref, "outputs.0.generated"));
    cJSON_Delete(ref);
    events_free(&e);
    reply_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* 16 clients at once, half streaming, each equal to its solo tt generate;
 * the batch really held several rows (more tokens than steps). */
static void test_concurrent_clients(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--threads", "1", NULL});
    enum { N = 16 };
    const char *prompts[4] = {"ROMEO:", "the ", "KING", "An"};
    pid_t pid[N];
    char out[N][4200];
    for (int i = 0; i < N; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"prompt\": \"%s\", \"max_tokens\": %d, \"seed\": %d, \"top_k\": %d%s}",
                 prompts[i % 4], 60 + 7 * i, 100 + i, i % 3 ? 10 : 0,
                 i % 2 ? ", \"stream\": true" : "");
        snprintf(out[i], sizeof out[i], "%s/c%d.out", tmp, i);
        pid[i] = curl_spawn(&s, "/v1/completions", body, out[i]);
    }
    for (int i = 0; i < N; i++) {
        reply r;
        curl_wait(pid[i], out[i], &r);
        assert_int_equal(r.status, 200);
        char mt[16], seed[16], k[16];
        snprintf(mt, sizeof mt, "%d", 60 + 7 * i);
        snprintf(seed, sizeof seed, "%d", 100 + i);
        snprintf(k, sizeof k, "%d", i % 3 ? 10 : 0);
        cJSON *ref = tt_generate((const char *[]){"--prompt", prompts[i % 4], "--max-new-tokens",
                                                  mt, "--seed", seed, "--top-k", k, NULL});
        const char *want = get_str(ref, "outputs.0.generated");
        if (i % 2) {
            events e;
            parse_events(r.body, &e);
            assert_true(e.done);
            char text[1024] = "";
            for (int j = 0; j < e.n; j++)
                strcat(text, get_str(e.ev[j], "choices.0.text"));
            assert_string_equal(text, want);
            events_free(&e);
        } else {
            assert_string_equal(get_str(r.json, "choices.0.text"), want);
        }
        cJSON_Delete(ref);
        reply_free(&r);
    }
    reply r;
    http(&s, "GET", "/metrics", NULL, NULL, &r);
    const long tokens = (long)metric(r.body, "tt_serve_tokens_generated_total");
    const long steps = (long)metric(r.body, "tt_serve_step_seconds_count");
    reply_free(&r);
    long want_tokens = 0;
    for (int i = 0; i < N; i++)
        want_tokens += 60 + 7 * i;
    assert_int_equal(tokens, want_tokens);
    assert_true(steps < tokens); /* some steps decoded several rows */
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* 200 idle connections (connected, silent) do not stop a new client. */
static void test_idle_connections(void **state) {
    (void)state;
    const server *s = the_server();
    enum { N = 200 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)s->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        if (i % 2) assert_int_equal(write(fds[i], "POST /v1/comp", 13), 13); /* half a request */
    }
    const double t0 = now_s();
    reply r;
    post(s, "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 5, \"seed\": 1}", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_true(now_s() - t0 < 20.0);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* SIGTERM: a stream that ends within the grace period gets all its tokens
 * (equal to its solo run); a request that would run longer is ended with
 * finish_reason "length" when the grace period is over; tt serve exits 0. */
static void test_graceful_stop(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--grace", "1", "--max-tokens-cap", "1000000", "--threads",
                                      "1", NULL});
    char a_out[4200], b_out[4200];
    snprintf(a_out, sizeof a_out, "%s/ga.out", tmp);
    snprintf(b_out, sizeof b_out, "%s/gb.out", tmp);
    const pid_t b =
        curl_spawn(&s, "/v1/completions", "{\"prompt\": \"ab\", \"max_tokens\": 1000000}", b_out);
    wait_health(&s, "rows", 1);
    const pid_t a = curl_spawn(&s, "/v1/completions",
                               "{\"prompt\": \"KING\", \"max_tokens\": 300, \"seed\": 2, "
                               "\"stream\": true}",
                               a_out);
    /* A has started once its 4 prompt tokens are counted (B's 2 were);
     * it may have finished already: the model is tiny */
    for (const double t1 = now_s();;) {
        reply m;
        http(&s, "GET", "/metrics", NULL, NULL, &m);
        const long n = (long)metric(m.body, "tt_serve_prompt_tokens_total");
        reply_free(&m);
        if (n == 6) break;
        if (now_s() - t1 > 30.0) fail_msg("the second request never started");
        sleep_ms(10);
    }
    const double t0 = now_s();
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    assert_true(now_s() - t0 < 30.0);
    reply r;
    curl_wait(a, a_out, &r);
    assert_int_equal(r.status, 200);
    events e;
    parse_events(r.body, &e);
    assert_true(e.done);
    char *text = calloc(1, 400);
    assert_non_null(text);
    for (int j = 0; j < e.n; j++)
        strcat(text, get_str(e.ev[j], "choices.0.text"));
    cJSON *ref = tt_generate(
        (const char *[]){"--prompt", "KING", "--max-new-tokens", "300", "--seed", "2", NULL});
    assert_string_equal(text, get_str(ref, "outputs.0.generated"));
    assert_string_equal(get_str(e.ev[e.n - 1], "choices.0.finish_reason"), "length");
    free(text);
    cJSON_Delete(ref);
    events_free(&e);
    reply_free(&r);
    curl_wait(b, b_out, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(get_str(r.json, "choices.0.finish_reason"), "length");
    const long n = (long)get(r.json, "usage.completion_tokens")->valuedouble;
    assert_true(n > 0 && n < 1000000);
    assert_int_equal((long)strlen(get_str(r.json, "choices.0.text")), n);
    reply_free(&r);
}

/* A client still sending its body (slowloris) has no answer begun: SIGTERM
 * does not wait for it (it used to hold the stop for the 10 s drain). */
static void test_stop_with_slow_client(void **state) {
    (void)state;
    server s;
    server_start(&s, (const char *[]){"--threads", "1", NULL});
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *part =
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro";
    assert_int_equal(write(fd, part, strlen(part)), (ssize_t)strlen(part));
    reply r; /* the server has read those headers: a later request is answered */
    http(&s, "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    const double t0 = now_s();
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    assert_true(now_s() - t0 < 5.0);
    close(fd);
}

/* The shared server stops cleanly too (no leak report under ASan). */
static void test_shared_server_stops(void **state) {
    (void)state;
    the_server();
    assert_int_equal(server_stop(&shared, SIGINT), 0);
    shared.pid = 0;
}

/* The official openai npm package (tests/serve_openai.mjs). */
static void test_openai_client(void **state) {
    (void)state;
    const char *home = getenv("HOME");
    char cache[4096], pkg[4200];
    snprintf(cache, sizeof cache, "%s/.cache/tiny-transformer/npm", home ? home : "/tmp");
    snprintf(pkg, sizeof pkg, "%s/node_modules/openai/package.json", cache);
    struct stat st;
    if (stat(pkg, &st) != 0) { /* once: npm install openai@4 into the cache */
        const char *mk[] = {"mkdir", "-p", cache, NULL};
        tt_cli_result r;
        assert_int_equal(tt_run_program(mk, NULL, &r), 0);
        tt_cli_result_free(&r);
        const char *npm[] = {"npm",       "install",  "--prefix", cache, "--no-audit",
                             "--no-fund", "--silent", "openai@4", NULL};
        assert_int_equal(tt_run_program(npm, NULL, &r), 0);
        if (r.status) fprintf(stderr, "npm install openai failed:\n%s\n", r.err);
        assert_int_equal(r.status, 0);
        tt_cli_result_free(&r);
    }
    const server *s = the_server();
    cJSON *c = tt_generate((const char *[]){"--prompt", "ROMEO:", "--max-new-tokens", "30",
                                            "--seed", "7", "--temperature", "0.9", NULL});
    cJSON *ch =
        tt_generate((const char *[]){"--prompt", "USER:\nhi\n\nASSISTANT:\n", "--max-new-tokens",
                                     "30", "--seed", "4", "--stop", "\n\n", NULL});
    char url[128], script[4200];
    snprintf(url, sizeof url, "%.63s/v1", s->url);
    snprintf(script, sizeof script, "tests/serve_openai.mjs");
    char mod[4300];
    snprintf(mod, sizeof mod, "%s/node_modules", cache);
    const char *argv[] = {"env",
                          NULL,
                          "node",
                          script,
                          url,
                          get_str(c, "outputs.0.generated"),
                          get_str(ch, "outputs.0.generated"),
                          NULL};
    char np[4400];
    snprintf(np, sizeof np, "NODE_PATH=%s", mod);
    argv[1] = np;
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    fputs(r.out, stdout);
    if (r.status) fprintf(stderr, "%s\n", r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "openai client: 4 checks passed"));
    tt_cli_result_free(&r);
    cJSON_Delete(c);
    cJSON_Delete(ch);
}

/* The command line: --help, and bad flags named with exit 2. */
static void test_cli(void **state) {
    (void)state;
    tt_cli_result r;
    assert_int_equal(tt_cli_run((const char *[]){"tt", "serve", "--help", NULL}, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--max-batch N"));
    tt_cli_result_free(&r);
    const struct {
        const char *args[8];
        const char *msg;
    } t[] = {
        {{"tt", "serve", NULL}, "--model FILE is required"},
        {{"tt", "serve", "--model", MODEL, "--port", "70000", NULL}, "--port"},
        {{"tt", "serve", "--model", MODEL, "--max-batch", "0", NULL}, "--max-batch"},
        {{"tt", "serve", "--model", MODEL, "--context", "25", NULL}, "--context"},
        {{"tt", "serve", "--model", MODEL, "--host", "localhost:x", NULL}, "--host"},
        {{"tt", "serve", "--model", "tests/fixtures/missing.safetensors", NULL}, "--model"},
        {{"tt", "serve", "--model", MODEL, "--chat-template", "tests/fixtures/missing.json", NULL},
         "--chat-template"},
        {{"tt", "serve", "--model", MODEL, "--bogus", NULL}, "--bogus"},
        {{"tt", "serve", "--model", MODEL, "--chat-template", "tests/serve_openai.mjs", NULL},
         "--chat-template: not a JSON object"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        assert_int_equal(tt_cli_run(t[i].args, NULL, &r), 0);
        if (r.status == 0 || !strstr(r.err, t[i].msg))
            fail_msg("case %zu: status %d, stderr '%s'", i, r.status, r.err);
        assert_int_equal(r.status, 2);
        tt_cli_result_free(&r);
    }
}

/* Every numeric flag refuses malformed and out-of-range values before it
 * starts (run under `timeout`: a server that started anyway would hang). */
static void test_cli_numbers(void **state) {
    (void)state;
    const char *flags[] = {"--port",    "--max-batch", "--max-queue", "--max-tokens-cap",
                           "--threads", "--context",   "--timeout",   "--grace"};
    const char *values[] = {"abc", "1.5", "-5", "99999999999", "", " 7", "0x10", "1e3"};
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++)
        for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
            const char *argv[] = {"timeout", "20",     tt_cli_path(), "serve", "--model",
                                  MODEL,     flags[f], values[v],     NULL};
            tt_cli_result r;
            assert_int_equal(tt_run_program(argv, NULL, &r), 0);
            if (r.status != 2 || !strstr(r.err, flags[f]))
                fail_msg("%s '%s': status %d, stderr '%s'", flags[f], values[v], r.status, r.err);
            tt_cli_result_free(&r);
        }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows as it comes */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_cli_numbers),
        cmocka_unit_test(test_completions_equal_generate),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_chat_logprobs_and_template),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_models_health_tokenize_metrics),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_idle_connections),
        cmocka_unit_test(test_openai_client),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_queue_limit_and_disconnect),
        cmocka_unit_test(test_stream_waits_past_timeout),
        cmocka_unit_test(test_queued_client_leaves),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_stop_with_slow_client),
        cmocka_unit_test(test_shared_server_stops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
