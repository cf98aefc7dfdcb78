/*
 * tt serve — an OpenAI-compatible HTTP server with continuous batching
 * (docs/serve.md).
 *
 *   tt serve --model FILE [--host 127.0.0.1] [--port 8080] [--api-key KEY]
 *            [--max-batch 16] [--max-queue 64] [--max-tokens-cap 4096]
 *            [--threads N] [--context N] [--chat-template FILE]
 *            [--timeout S] [--grace S]
 *
 * Prints "tt serve: listening on http://HOST:PORT" on stdout once it
 * accepts connections (--port 0: a free port, named there). SIGINT or
 * SIGTERM: stop accepting, finish the running rows within --grace seconds,
 * exit 0.
 */
#include <pthread.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve.h"
#include "tt/checkpoint.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tt serve --model FILE [options]\n"
            "\n"
            "An OpenAI-compatible HTTP API (POST /v1/completions, /v1/chat/completions,\n"
            "GET /v1/models, /health, /metrics, POST /tokenize, /detokenize) and the\n"
            "sampling explorer at GET /. Concurrent requests decode together (continuous\n"
            "batching); a request with a seed returns what tt generate returns alone.\n"
            "\n"
            "  --model FILE          checkpoint (.safetensors) written by tt train\n"
            "  --host ADDR           the address to listen on (default 127.0.0.1)\n"
            "  --port N              the port (default 8080; 0 = a free port, printed)\n"
            "  --api-key KEY         require 'Authorization: Bearer KEY' (401 otherwise)\n"
            "  --max-batch N         rows decoding at once (default 16); more wait in the queue\n"
            "  --max-queue N         requests waiting (default 64); more get 503 + Retry-After\n"
            "  --max-tokens-cap N    the largest max_tokens a request may ask (default 4096)\n"
            "  --threads N           threads per forward pass (default: every core, or\n"
            "                        OMP_NUM_THREADS); the tokens do not depend on it\n"
            "  --context N           context window W (default: the model's training length,\n"
            "                        else max_len); a longer prompt is refused\n"
            "  --chat-template FILE  how /v1/chat/completions renders messages (JSON; default\n"
            "                        a play script: 'NAME:\\ncontent\\n\\n' per message)\n"
            "  --timeout S           close a connection idle for S seconds (default 30)\n"
            "  --grace S             on SIGINT/SIGTERM, let running rows finish for up to S\n"
            "                        seconds (default 10), then end them\n");
}

/* The /v1/models id: the checkpoint's file name without .safetensors. */
static char *model_id_of(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *id = strdup(*b ? b : "model");
    if (!id) return NULL;
    const size_t n = strlen(id), ext = strlen(".safetensors");
    if (n > ext && !strcmp(id + n - ext, ".safetensors")) id[n - ext] = '\0';
    return id;
}

int cmd_serve(int argc, char **argv) {
    const char *model_path = NULL, *host = "127.0.0.1", *api_key = NULL, *tmpl_path = NULL;
    int port = 8080, max_batch = 16, max_queue = 64, cap = 4096, threads = 0, context = 0;
    int timeout = 30, grace = 10;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            model_path = v;
        } else if (cli_opt(argc, argv, &i, "--host", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            host = v;
        } else if (cli_opt(argc, argv, &i, "--port", &v)) {
            if (!v || cli_int("--port", v, 0, 65535, &port)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--api-key", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            if (!v[0]) return cli_usage_error("--api-key: the key must not be empty");
            api_key = v;
        } else if (cli_opt(argc, argv, &i, "--max-batch", &v)) {
            if (!v || cli_int("--max-batch", v, 1, 1024, &max_batch)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--max-queue", &v)) {
            if (!v || cli_int("--max-queue", v, 0, 100000, &max_queue)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--max-tokens-cap", &v)) {
            if (!v || cli_int("--max-tokens-cap", v, 1, 1000000, &cap)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!v || cli_int("--threads", v, 1, TT_GEN_MAX_THREADS, &threads))
                return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--context", &v)) {
            if (!v || cli_int("--context", v, 1, 1000000000, &context)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--chat-template", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            tmpl_path = v;
        } else if (cli_opt(argc, argv, &i, "--timeout", &v)) {
            if (!v || cli_int("--timeout", v, 1, 86400, &timeout)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--grace", &v)) {
            if (!v || cli_int("--grace", v, 0, 86400, &grace)) return CLI_EXIT_USAGE;
        } else {
            return cli_unknown(argv[i]);
        }
    }
    if (!model_path) return cli_usage_error("--model FILE is required (see 'tt serve --help')");
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        return cli_usage_error("--host: '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, "
                               "0.0.0.0, ::1)",
                               host);

    char *tmpl = NULL;
    if (tmpl_path) {
        size_t len;
        tmpl = cli_read_file("--chat-template", tmpl_path, &len);
        if (!tmpl) return CLI_EXIT_USAGE;
    }
    tt_model *model = NULL;
    tt_tokenizer *tok = NULL;
    serve_sched *sched = NULL;
    serve_server *srv = NULL;
    char *id = NULL, msg[512];
    int rc = cli_load_model(model_path, &model, &tok);
    if (rc != CLI_EXIT_OK) goto done;
    if (!tok) {
        rc = cli_usage_error("--model: '%s' has no vocabulary", model_path);
        goto done;
    }
    tt_generator_config gc = tt_generator_config_default();
    gc.context_len = context;
    if ((rc = cli_check_context(model, &gc)) != CLI_EXIT_OK) goto done;
    const int W = context ? context : tt_model_default_context(model);
    id = model_id_of(model_path);
    if (!id) {
        rc = cli_fail("out of memory");
        goto done;
    }

    /* SIGINT and SIGTERM are taken by sigwait below, in this thread alone:
     * every thread started from here on inherits the blocked mask */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    serve_sched_config sc = {max_batch, max_queue, threads, context};
    if (serve_sched_start(&sched, model, tok, &sc, msg, sizeof msg)) {
        rc = cli_fail("%s", msg);
        goto done;
    }
    serve_options o = {host,       port, api_key, timeout,   model, tok,   id,
                       model_path, W,    cap,     max_batch, tmpl,  sched, NULL};
    srv = serve_server_create(&o, msg, sizeof msg);
    if (!srv) {
        rc = cli_usage_error("%s", msg);
        goto done;
    }
    if (serve_chat_problem(srv))
        fprintf(stderr, "tt serve: warning: %s; /v1/chat/completions refuses requests\n",
                serve_chat_problem(srv));
    int bound;
    if (serve_server_start(srv, &bound, msg, sizeof msg)) {
        rc = cli_fail("%s", msg);
        goto done;
    }
    const bool v6 = strchr(host, ':') != NULL;
    printf("tt serve: listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", bound);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "tt serve: %s: stopping (running rows have %d s to finish)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
    serve_server_quiesce(srv);
    serve_sched_stop(sched, (double)grace);
    serve_server_drain(srv, 10.0); /* the last answers are sent */
    rc = CLI_EXIT_OK;

done:
    serve_server_free(srv); /* closes the connections left */
    serve_sched_free(sched);
    tt_tokenizer_free(tok);
    tt_model_free(model);
    free(id);
    free(tmpl);
    return rc;
}
