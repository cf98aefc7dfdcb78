/* tt eval — mean next-token cross-entropy (and perplexity) of a text under a model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tt/checkpoint.h"
#include "tt/train.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tt eval --model FILE (--text STRING | --text-file FILE) [--json] [--window N] [--threads N]\n"
               "\n"
               "Mean next-token cross-entropy of the text over consecutive windows of N + 1 tokens starting\n"
               "every N tokens (one window when the text fits), so that every token after the first is\n"
               "predicted exactly once. N = --window (1..max_len); by default the model's context: its\n"
               "training length (--seq-len T, recorded in the checkpoint) when known, else max_len. A model\n"
               "trained with --seq-len T has never seen positions >= T.\n"
               "--json prints {\"loss\": L, \"perplexity\": exp(L), \"tokens\": predicted tokens, \"window\": N}\n"
               "(perplexity null when exp(L) overflows a double). A model whose loss is NaN or infinite\n"
               "(weights too large or corrupt) is an error (exit 1). On a terminal, a long text shows its\n"
               "progress on stderr. The loss is in nats (natural log).\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* tt_evaluate_tokens_window one window at a time, so that a long text shows
 * its progress on a terminal (stderr). The mean is the same, bit for bit:
 * each window's mean times its count is the window's exact total. */
static tt_status evaluate_with_progress(tt_model *m, const int *ids, size_t n, int window, double *loss,
                                        size_t *n_pred, tt_error *err) {
    const size_t L = (size_t)window, n_windows = (n - 1 + L - 1) / L;
    const bool show = isatty(STDERR_FILENO) && n_windows >= 64;
    if (!show) return tt_evaluate_tokens_window(m, ids, n, window, loss, n_pred, err);
    double total = 0.0, t0 = now_s(), last = -1.0;
    size_t count = 0, w = 0;
    for (size_t start = 0; start + 1 < n; start += L, w++) {
        size_t len = n - start < L + 1 ? n - start : L + 1, got = 0;
        double mean;
        tt_status st = tt_evaluate_tokens_window(m, ids + start, len, window, &mean, &got, err);
        if (st != TT_OK) {
            fputc('\n', stderr);
            return st;
        }
        total += mean * (double)got;
        count += got;
        double t = now_s() - t0;
        if (t - last >= 0.5 || w + 1 == n_windows) {
            last = t;
            double eta = (double)(n_windows - w - 1) * t / (double)(w + 1);
            fprintf(stderr, "\revaluating: window %zu/%zu (%zu tokens), %.0f s left   ", w + 1, n_windows, count,
                    eta);
        }
    }
    fputc('\n', stderr);
    *loss = total / (double)count;
    if (n_pred) *n_pred = count;
    return TT_OK;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *text_file = NULL;
    bool json = false;
    int threads = 0, window = 0;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (cli_is_flag(argv[i], "--json")) {
            json = true;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            model = v;
        } else if (cli_opt(argc, argv, &i, "--text", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            text = v;
        } else if (cli_opt(argc, argv, &i, "--text-file", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            text_file = v;
        } else if (cli_opt(argc, argv, &i, "--window", &v)) {
            if (!v || cli_int("--window", v, 1, 1 << 24, &window)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!v || cli_int("--threads", v, 1, 256, &threads)) return CLI_EXIT_USAGE;
        } else {
            return cli_unknown(argv[i]);
        }
    }
    if (!model) return cli_usage_error("--model FILE is required (see 'tt eval --help')");
    if (!text == !text_file) return cli_usage_error("give exactly one of --text STRING and --text-file FILE");
    size_t len = 0;
    char *owned = NULL;
    if (text_file) {
        if (!(owned = cli_read_file("--text-file", text_file, &len))) return CLI_EXIT_USAGE;
        text = owned;
    } else {
        len = strlen(text);
    }
    tt_error err;
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    int *ids = NULL;
    size_t n = 0, n_pred = 0;
    double loss = 0.0;
    int rc = CLI_EXIT_OK;
    rc = cli_load_model(model, &m, &tok);
    if (rc != CLI_EXIT_OK) goto done;
    if (tt_tokenizer_encode(tok, text, len, &ids, &n, &err) != TT_OK) {
        rc = cli_usage_error("%s: %s", text_file ? "--text-file" : "--text", err.msg);
        goto done;
    }
    if (n < 2) {
        rc = cli_usage_error("%s: need at least 2 characters to evaluate, got %zu",
                             text_file ? "--text-file" : "--text", n);
        goto done;
    }
    if (window > tt_model_get_config(m)->max_len) {
        rc = cli_usage_error("--window: %d exceeds the model's max_len %d", window, tt_model_get_config(m)->max_len);
        goto done;
    }
    if (!window) window = tt_model_default_context(m);
    if (tt_model_set_threads(m, threads, &err) != TT_OK) { /* 0: auto */
        rc = cli_usage_error("--threads: %s", err.msg);
        goto done;
    }
    if (evaluate_with_progress(m, ids, n, window, &loss, &n_pred, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    if (json && !isfinite(exp(loss))) /* JSON has no inf: a perplexity beyond a double is null */
        printf("{\"loss\":%.9g,\"perplexity\":null,\"tokens\":%zu,\"window\":%d}\n", loss, n_pred, window);
    else if (json)
        printf("{\"loss\":%.9g,\"perplexity\":%.9g,\"tokens\":%zu,\"window\":%d}\n", loss, exp(loss), n_pred,
               window);
    else
        printf("loss %.4f  perplexity %.3f  tokens %zu\n", loss, exp(loss), n_pred);
done:
    free(ids);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    free(owned);
    return rc;
}
