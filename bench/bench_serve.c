/*
 * tt serve under load (issue 15's targets), against the library in this
 * process on the same model and threads:
 *  1. throughput: --clients (16) concurrent streaming clients, --tokens (200)
 *     each, all with one seed and their own 8-character prompt; aggregate
 *     tokens/s (every client's tokens over the time from the start until the
 *     last stream ends) vs tt_generator_generate of the 16 prompts in one
 *     batch (what `tt generate --prompt ... x16` runs): the median of the
 *     per-run ratios over --reps (9) runs that take the two in turn; and
 *     tokens per CPU second of the server process against the batch's.
 *     Verified first: each client's text equals its row of the batch (the
 *     batch gives every row the stream (seed, 0), as the server gives each
 *     request).
 *  2. time to first token: the median over every client of every rep, vs one
 *     decode step of the 16-row batch plus the prefill of the 16 prompts
 *     (both timed in-process with the step API: the first step prefills and
 *     draws, the next ones decode).
 *  3. --requests (1000) requests (16 at a time: streaming and not, some with
 *     logprobs, 24 tokens each): zero failures, and the server's RSS after
 *     them within 10 % of its RSS after the first 100.
 * The model is the tiny preset (V 65, random weights, seed 1337), saved to a
 * temporary checkpoint that `$TT_BUILD/tt serve --port 0` loads.
 *
 *   build/bench/bench_serve [--clients N] [--tokens N] [--requests N] [--reps N] [--threads N]
 *
 * --threads (default 1) is given to tt serve and to the in-process batch, so
 * the ratio compares the serving path, not two thread policies. Exits 1 when
 * a verification fails or a request fails; a missed target is printed, not
 * an error (the machine may be shared).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench_env.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/tokenizer.h"

#define MAX_CLIENTS 64
#define PROMPT_LEN 8

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the server ---------------------------------------------------------- */

static pid_t server_pid = -1;
static int server_port;
static char tmp_dir[64];

static void stop_server(void) {
    if (server_pid <= 0) return;
    kill(server_pid, SIGTERM);
    int st;
    for (int i = 0; i < 200 && waitpid(server_pid, &st, WNOHANG) == 0; i++)
        usleep(50000);
    if (waitpid(server_pid, &st, WNOHANG) == 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, &st, 0);
    }
    server_pid = -1;
}

static int start_server(const char *ckpt, int threads, int clients) {
    char out_path[128], err_path[128], threads_s[16], batch_s[16];
    snprintf(out_path, sizeof out_path, "%s/serve.out", tmp_dir);
    snprintf(err_path, sizeof err_path, "%s/serve.err", tmp_dir);
    snprintf(threads_s, sizeof threads_s, "%d", threads);
    snprintf(batch_s, sizeof batch_s, "%d", clients);
    const char *b = getenv("TT_BUILD");
    char tt[512];
    snprintf(tt, sizeof tt, "%s/tt", b && *b ? b : "build");
    server_pid = fork();
    if (server_pid < 0) return -1;
    if (server_pid == 0) {
        const int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
                  e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        const char *argv[] = {tt,          "serve",   "--model",     ckpt,    "--port",      "0",
                              "--threads", threads_s, "--max-batch", batch_s, "--max-queue", "256",
                              NULL};
        execv(tt, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(out_path, "r");
        char line[256];
        if (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "http://127.0.0.1:");
            if (p && strchr(p, '\n')) {
                server_port = atoi(p + strlen("http://127.0.0.1:"));
                fclose(f);
                return 0;
            }
        }
        if (f) fclose(f);
        int st;
        if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
            fprintf(stderr, "bench_serve: %s serve exited at start\n", tt);
            server_pid = -1;
            return -1;
        }
        usleep(50000);
    }
    fprintf(stderr, "bench_serve: tt serve printed no URL\n");
    return -1;
}

/* The server's CPU time so far (every thread, user + system), in seconds. */
static double server_cpu_s(void) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long server_rss_kb(void) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)server_pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* ---- a small HTTP client: one POST, the reply read as it comes ---------- */

typedef struct {
    int status;
    char *body; /* de-chunked */
    size_t len, cap;
    double t_first;  /* when the first streamed token arrived (0: none) */
    char text[4096]; /* the streamed or returned text */
    size_t text_len;
    int n_tokens; /* streamed chunks with text */
    bool done;    /* [DONE] seen, or a complete JSON reply */
} reply;

static void body_add(reply *r, const char *d, size_t n) {
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8192;
        while (cap < r->len + n + 1)
            cap *= 2;
        r->body = realloc(r->body, cap);
        if (!r->body) abort();
        r->cap = cap;
    }
    memcpy(r->body + r->len, d, n);
    r->len += n;
    r->body[r->len] = '\0';
}

static void text_add(reply *r, const char *t) {
    const size_t n = strlen(t);
    if (r->text_len + n < sizeof r->text) {
        memcpy(r->text + r->text_len, t, n + 1);
        r->text_len += n;
    }
}

/* Takes the complete server-sent events at the start of body [from ..). */
static size_t take_events(reply *r, size_t from) {
    for (;;) {
        char *end = strstr(r->body + from, "\n\n");
        if (!end) return from;
        *end = '\0';
        const char *data = strstr(r->body + from, "data: ");
        if (data) {
            data += 6;
            if (!strcmp(data, "[DONE]")) {
                r->done = true;
            } else {
                cJSON *j = cJSON_Parse(data);
                const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
                const cJSON *t = cJSON_GetObjectItem(c, "text");
                if (cJSON_IsString(t) && t->valuestring[0]) {
                    if (!r->n_tokens) r->t_first = now_s();
                    r->n_tokens++;
                    text_add(r, t->valuestring);
                }
                cJSON_Delete(j);
            }
        }
        from = (size_t)(end - r->body) + 2;
    }
}

static int http_post(const char *path, const char *json, bool stream, reply *r) {
    memset(r, 0, sizeof *r);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)server_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    char head[512];
    const size_t blen = strlen(json);
    const int hl =
        snprintf(head, sizeof head,
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 path, blen);
    if (write(fd, head, (size_t)hl) != hl || write(fd, json, blen) != (ssize_t)blen) {
        close(fd);
        return -1;
    }
    char raw_head[4096];
    size_t hlen = 0;
    bool chunked = false, in_body = false;
    char *pend = NULL; /* raw bytes after the headers not yet de-chunked */
    size_t pend_len = 0, events_from = 0;
    char buf[16384];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t off = 0;
        if (!in_body) {
            while (off < (size_t)n && hlen + 1 < sizeof raw_head) {
                raw_head[hlen++] = buf[off++];
                raw_head[hlen] = '\0';
                if (hlen >= 4 && !memcmp(raw_head + hlen - 4, "\r\n\r\n", 4)) {
                    in_body = true;
                    break;
                }
            }
            if (!in_body) continue;
            r->status = atoi(raw_head + 9);
            for (char *p = raw_head; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            chunked = strstr(raw_head, "transfer-encoding: chunked") != NULL;
        }
        if (!chunked) {
            body_add(r, buf + off, (size_t)n - off);
        } else {
            pend = realloc(pend, pend_len + (size_t)n - off + 1);
            if (!pend) abort();
            memcpy(pend + pend_len, buf + off, (size_t)n - off);
            pend_len += (size_t)n - off;
            size_t p = 0;
            for (;;) { /* whole chunks: SIZE\r\nDATA\r\n */
                char *crlf = memchr(pend + p, '\n', pend_len - p);
                if (!crlf) break;
                const size_t size = strtoul(pend + p, NULL, 16), data = (size_t)(crlf - pend) + 1;
                if (pend_len < data + size + 2) break;
                body_add(r, pend + data, size);
                p = data + size + 2;
                if (size == 0) break;
            }
            memmove(pend, pend + p, pend_len - p);
            pend_len -= p;
        }
        if (stream && r->body) events_from = take_events(r, events_from);
    }
    close(fd);
    free(pend);
    if (!stream && r->status == 200 && r->body) {
        cJSON *j = cJSON_Parse(r->body);
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        const cJSON *t = cJSON_GetObjectItem(c, "text");
        if (cJSON_IsString(t)) {
            text_add(r, t->valuestring);
            r->done = true;
        }
        cJSON_Delete(j);
    }
    return 0;
}

/* ---- the throughput run ------------------------------------------------- */

static const char *corpus =
    "First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.";

typedef struct {
    int i, tokens;
    uint64_t seed;
    pthread_barrier_t *start;
    double t0, t_first, t_end;
    reply r;
    int failed;
} client;

static void *client_run(void *arg) {
    client *c = arg;
    char body[256], prompt[PROMPT_LEN + 1];
    memcpy(prompt, corpus + 3 * c->i, PROMPT_LEN);
    prompt[PROMPT_LEN] = '\0';
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "prompt", prompt);
    cJSON_AddNumberToObject(j, "max_tokens", c->tokens);
    cJSON_AddNumberToObject(j, "seed", (double)c->seed);
    cJSON_AddBoolToObject(j, "stream", 1);
    char *s = cJSON_PrintUnformatted(j);
    snprintf(body, sizeof body, "%s", s);
    free(s);
    cJSON_Delete(j);
    pthread_barrier_wait(c->start);
    c->t0 = now_s();
    if (http_post("/v1/completions", body, true, &c->r) || c->r.status != 200 || !c->r.done)
        c->failed = 1;
    c->t_end = now_s();
    c->t_first = c->r.t_first;
    return NULL;
}

/* 16 clients at once; returns aggregate tokens/s, appends TTFTs. */
static int throughput_run(int n_clients, int tokens, uint64_t seed, char (*texts)[4096],
                          double *tps, double *ttft, int *n_ttft) {
    client cs[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n_clients + 1);
    for (int i = 0; i < n_clients; i++) {
        cs[i] = (client){.i = i, .tokens = tokens, .seed = seed, .start = &start};
        pthread_create(&th[i], NULL, client_run, &cs[i]);
    }
    pthread_barrier_wait(&start);
    const double t0 = now_s();
    int failed = 0;
    long n_tok = 0;
    double t_last = t0;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        failed += cs[i].failed;
        n_tok += cs[i].r.n_tokens;
        if (cs[i].t_end > t_last) t_last = cs[i].t_end;
        if (cs[i].t_first > 0) ttft[(*n_ttft)++] = cs[i].t_first - cs[i].t0;
        if (texts) memcpy(texts[i], cs[i].r.text, sizeof cs[i].r.text);
        free(cs[i].r.body);
    }
    pthread_barrier_destroy(&start);
    *tps = (double)n_tok / (t_last - t0);
    if (failed) fprintf(stderr, "bench_serve: %d of %d streams failed\n", failed, n_clients);
    return failed ? -1 : 0;
}

/* ---- the 1,000 requests ------------------------------------------------- */

typedef struct {
    atomic_int next;
    int end;
    atomic_int failures;
} request_pool;

static void *request_worker(void *arg) {
    request_pool *p = arg;
    for (;;) {
        const int k = atomic_fetch_add(&p->next, 1);
        if (k >= p->end) return NULL;
        char body[256], prompt[PROMPT_LEN + 1];
        memcpy(prompt, corpus + 3 * (k % 16), PROMPT_LEN);
        prompt[PROMPT_LEN] = '\0';
        const bool stream = k % 2 == 0;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "prompt", prompt);
        cJSON_AddNumberToObject(j, "max_tokens", 24);
        cJSON_AddNumberToObject(j, "seed", k);
        cJSON_AddBoolToObject(j, "stream", stream);
        if (k % 3 == 0) cJSON_AddNumberToObject(j, "logprobs", 2);
        char *s = cJSON_PrintUnformatted(j);
        snprintf(body, sizeof body, "%s", s);
        free(s);
        cJSON_Delete(j);
        reply r;
        if (http_post("/v1/completions", body, stream, &r) || r.status != 200 || !r.done ||
            r.text_len != 24) {
            if (atomic_fetch_add(&p->failures, 1) < 5)
                fprintf(stderr, "bench_serve: request %d failed (HTTP %d): %.200s\n", k, r.status,
                        r.body ? r.body : "");
        }
        free(r.body);
    }
}

static int run_requests(request_pool *p, int from, int to, int n_threads) {
    pthread_t th[MAX_CLIENTS];
    atomic_store(&p->next, from);
    p->end = to;
    for (int i = 0; i < n_threads; i++)
        pthread_create(&th[i], NULL, request_worker, p);
    for (int i = 0; i < n_threads; i++)
        pthread_join(th[i], NULL);
    return atomic_load(&p->failures);
}

/* ---- the in-process reference ------------------------------------------ */

typedef struct {
    tt_generator *g;
    tt_generator_config gc;
    const tt_tokenizer *tok;
    int B, *ids[MAX_CLIENTS], lens[MAX_CLIENTS];
} reference;

static void ref_close(reference *r) {
    for (int i = 0; i < r->B; i++)
        free(r->ids[i]);
    tt_generator_free(r->g);
}

static int ref_open(reference *r, const tt_model *m, const tt_tokenizer *tok, int B, int tokens,
                    uint64_t seed, int threads) {
    memset(r, 0, sizeof *r);
    r->gc = tt_generator_config_default();
    r->gc.max_new_tokens = tokens;
    r->gc.seed = seed;
    r->gc.n_threads = threads;
    r->tok = tok;
    tt_error e;
    if (tt_generator_create(&r->g, m, &r->gc, &e))
        return fprintf(stderr, "bench_serve: %s\n", e.msg), -1;
    for (int i = 0; i < B; i++) {
        size_t n;
        if (tt_tokenizer_encode(tok, corpus + 3 * i, PROMPT_LEN, &r->ids[i], &n, &e)) return -1;
        r->lens[i] = (int)n;
        r->B = i + 1;
    }
    return 0;
}

/* One generate call of the B prompts (what `tt generate` with 16 prompts
 * runs); every row draws from the stream (seed, 0), as every request does.
 * texts (may be NULL) receives each row's generated text. */
static int ref_generate(reference *r, char (*texts)[4096], double *secs, double *cpu) {
    const uint64_t row_ids[MAX_CLIENTS] = {0};
    tt_generation out[MAX_CLIENTS];
    tt_error e;
    const double t0 = now_s(), c0 = cpu_now_s(); /* no other thread of ours runs now */
    if (tt_generator_generate(r->g, (const int *const *)r->ids, r->lens, r->B, NULL, row_ids, NULL,
                              NULL, out, &e))
        return fprintf(stderr, "bench_serve: %s\n", e.msg), -1;
    *secs = now_s() - t0;
    *cpu = cpu_now_s() - c0;
    for (int i = 0; texts && i < r->B; i++) {
        char *t;
        if (tt_tokenizer_decode(r->tok, out[i].tokens + out[i].n_prompt, (size_t)out[i].n_generated,
                                &t, &e))
            return -1;
        snprintf(texts[i], 4096, "%s", t);
        free(t);
    }
    tt_generations_free(out, r->B);
    return 0;
}

/* The step API: the first step prefills the B prompts and draws, the next
 * ones decode one token a row; medians of reps (after a warm-up). */
static int ref_steps(reference *r, int reps, double *prefill_s, double *step_s) {
    double *pf = malloc((size_t)reps * sizeof *pf), *st = malloc((size_t)reps * sizeof *st);
    tt_error e;
    for (int k = -1; k < reps; k++) {
        int rows[MAX_CLIENTS];
        for (int i = 0; i < r->B; i++)
            if (tt_generator_add_row(r->g, r->ids[i], r->lens[i], &r->gc, 0, &rows[i], &e))
                return fprintf(stderr, "bench_serve: %s\n", e.msg), -1;
        tt_step_token out[MAX_CLIENTS];
        int n_out;
        double t0 = now_s();
        if (tt_generator_step(r->g, out, MAX_CLIENTS, &n_out, &e)) return -1;
        const double t_pf = now_s() - t0;
        double steps[16];
        for (int s = 0; s < 16; s++) {
            t0 = now_s();
            if (tt_generator_step(r->g, out, MAX_CLIENTS, &n_out, &e)) return -1;
            steps[s] = now_s() - t0;
        }
        for (int i = 0; i < r->B; i++)
            tt_generator_remove_row(r->g, rows[i], &e);
        if (k < 0) continue;
        pf[k] = t_pf;
        st[k] = median(steps, 16);
    }
    *prefill_s = median(pf, reps);
    *step_s = median(st, reps);
    free(pf);
    free(st);
    return 0;
}

static int make_checkpoint(const char *path, tt_model **m, tt_tokenizer **tok) {
    static const char chars[] =
        "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint32_t cps[65];
    for (int i = 0; i < 65; i++)
        cps[i] = (unsigned char)chars[i];
    tt_model_config cfg;
    tt_error e;
    if (tt_model_config_preset("tiny", 65, &cfg, &e) || tt_model_create(m, &cfg, 1337, &e) ||
        tt_tokenizer_from_codepoints(tok, cps, 65, &e) || tt_checkpoint_save(path, *m, *tok, &e)) {
        fprintf(stderr, "bench_serve: %s\n", e.msg);
        return -1;
    }
    printf("tiny preset (C %d, L %d, NH %d, F %d, V %d, max_len %d), random weights\n", cfg.d_model,
           cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.vocab_size, cfg.max_len);
    return 0;
}

int main(int argc, char **argv) {
    int clients = 16, tokens = 200, requests = 1000, reps = 9, threads = 1;
    for (int i = 1; i < argc; i++) {
        int *dst = !strcmp(argv[i], "--clients")    ? &clients
                   : !strcmp(argv[i], "--tokens")   ? &tokens
                   : !strcmp(argv[i], "--requests") ? &requests
                   : !strcmp(argv[i], "--reps")     ? &reps
                   : !strcmp(argv[i], "--threads")  ? &threads
                                                    : NULL;
        if (!dst || i + 1 >= argc || (*dst = atoi(argv[++i])) < 1) {
            fprintf(stderr, "usage: bench_serve [--clients N<=16] [--tokens N] [--requests N>=100] "
                            "[--reps N] [--threads N]\n");
            return 2;
        }
    }
    if (clients > 16 || requests < 100) {
        fprintf(stderr,
                "bench_serve: --clients at most 16 (one prompt each), --requests at least 100\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_print_env();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tt-bench-serve-XXXXXX");
    if (!mkdtemp(tmp_dir)) return perror("mkdtemp"), 1;
    char ckpt[128];
    snprintf(ckpt, sizeof ckpt, "%s/tiny.safetensors", tmp_dir);
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    int rc = 1;
    static char ref_text[MAX_CLIENTS][4096], srv_text[MAX_CLIENTS][4096];
    double prefill_s, step_s;
    const uint64_t seed = 1234;
    reference ref = {0};
    if (make_checkpoint(ckpt, &m, &tok)) goto out;
    printf("%d clients x %d tokens, 8-character prompts, temperature 1, %d thread(s) for both, %d "
           "reps (the batch and the clients in turn)\n\n",
           clients, tokens, threads, reps);
    double t_warm, c_warm, ref_cpu = 0, srv_cpu = 0;
    if (ref_open(&ref, m, tok, clients, tokens, seed, threads) ||
        ref_generate(&ref, ref_text, &t_warm, &c_warm) ||
        ref_steps(&ref, reps, &prefill_s, &step_s))
        goto out;
    if (start_server(ckpt, threads, clients)) goto out;

    double *tps = malloc((size_t)reps * sizeof *tps),
           *ref_tps = malloc((size_t)reps * sizeof *ref_tps),
           *ratio = malloc((size_t)reps * sizeof *ratio),
           *ttft = malloc((size_t)(reps + 1) * MAX_CLIENTS * sizeof *ttft);
    int n_ttft = 0;
    /* k = -1: the verification run (the server's warm-up), not timed */
    for (int k = -1; k < reps; k++) {
        double t_ref, srv;
        int n_unused = 0;
        double c_ref = 0;
        if (k >= 0 && ref_generate(&ref, NULL, &t_ref, &c_ref)) goto out_server;
        ref_cpu += c_ref;
        const double c_srv0 = server_cpu_s();
        if (throughput_run(clients, tokens, seed, k < 0 ? srv_text : NULL, &srv,
                           k < 0 ? ttft + MAX_CLIENTS * reps : ttft, k < 0 ? &n_unused : &n_ttft))
            goto out_server;
        if (k < 0) {
            for (int i = 0; i < clients; i++)
                if (strcmp(ref_text[i], srv_text[i])) {
                    fprintf(stderr,
                            "bench_serve: client %d's text differs from its row of the batch:\n"
                            "  %.80s\n  %.80s\n",
                            i, srv_text[i], ref_text[i]);
                    goto out_server;
                }
            continue;
        }
        srv_cpu += server_cpu_s() - c_srv0;
        tps[k] = srv;
        ref_tps[k] = (double)clients * tokens / t_ref;
        ratio[k] = srv / ref_tps[k];
    }
    const double srv_med = median(tps, reps), ref_med = median(ref_tps, reps);
    const double ratio_med = median(ratio, reps), ratio_lo = ratio[0], ratio_hi = ratio[reps - 1];
    const double ttft_med = median(ttft, n_ttft);
    const double ttft_ref = prefill_s + step_s;
    printf("verified: each client's text equals its row of the in-process batch\n\n");
    printf("%-52s %12s\n", "", "value");
    printf("%-52s %12.0f\n", "batch of 16, in process (tokens/s, median)", ref_med);
    printf("%-52s %12.0f\n", "tt serve, 16 streaming clients (tokens/s, median)", srv_med);
    printf("%-52s %11.0f%%   target >= 70%% %s (runs: %.0f-%.0f%%)\n",
           "  ratio (median of the runs)", 100 * ratio_med, ratio_med >= 0.7 ? "(met)" : "(MISSED)",
           100 * ratio_lo, 100 * ratio_hi);
    /* robust to a shared machine: tokens per CPU second, the server's every
     * thread (HTTP, streams, decoding) against the batch's */
    const double n_all = (double)clients * tokens * reps;
    printf("%-52s %12.0f\n", "batch: tokens per CPU second", n_all / ref_cpu);
    printf("%-52s %12.0f\n", "tt serve: tokens per CPU second (all its threads)", n_all / srv_cpu);
    printf("%-52s %11.0f%%\n", "  ratio", 100 * ref_cpu / srv_cpu);
    printf("%-52s %12.2f\n", "prefill of the 16 prompts, one step (ms)", 1e3 * prefill_s);
    printf("%-52s %12.2f\n", "one decode step of 16 rows, steps 2-17 (ms)", 1e3 * step_s);
    printf("%-52s %12.2f\n", "  (the batch's mean step over all its tokens, ms)",
           1e3 * clients / ref_med);
    printf("%-52s %12.2f\n", "time to first token, median of every client (ms)", 1e3 * ttft_med);
    printf("%-52s %11.2fx   target < 2x %s\n", "  vs prefill + one step", ttft_med / ttft_ref,
           ttft_med < 2 * ttft_ref ? "(met)" : "(MISSED)");
    fflush(stdout);

    request_pool pool = {.failures = 0};
    const double t_req = now_s();
    int failures = run_requests(&pool, 0, 100, clients);
    const long rss100 = server_rss_kb();
    failures = run_requests(&pool, 100, requests, clients);
    const long rss_end = server_rss_kb();
    printf("%-52s %12d   (%.1f s)\n", "requests (24 tokens, half streamed, a third logprobs)",
           requests, now_s() - t_req);
    printf("%-52s %12d   target 0 %s\n", "  failures", failures, failures ? "(MISSED)" : "(met)");
    printf("%-52s %9ld kB\n", "  server RSS after 100", rss100);
    printf("%-52s %9ld kB   %+.1f%%, target within 10%% %s\n", "  server RSS after all", rss_end,
           100.0 * (double)(rss_end - rss100) / (double)rss100,
           rss_end <= rss100 * 1.1 && rss_end >= rss100 * 0.9 ? "(met)" : "(MISSED)");
    rc = failures ? 1 : 0;
    free(tps);
    free(ref_tps);
    free(ratio);
    free(ttft);
out_server:
    stop_server();
out:
    ref_close(&ref);
    unlink(ckpt);
    char p[128];
    snprintf(p, sizeof p, "%s/serve.out", tmp_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/serve.err", tmp_dir);
    unlink(p);
    rmdir(tmp_dir);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    return rc;
}
