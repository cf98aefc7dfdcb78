/* tt eval — mean next-token cross-entropy (and perplexity) of a text under a model. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
               "--json prints {\"loss\": L, \"perplexity\": exp(L), \"tokens\": predicted tokens, \"window\": N}.\n");
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
            if (!v || cli_int("--threads", v, 1, 1024, &threads)) return CLI_EXIT_USAGE;
        } else {
            return cli_unknown(argv[i]);
        }
    }
    if (!model) return cli_usage_error("--model FILE is required (see 'tt eval --help')");
    if (!text == !text_file) return cli_usage_error("give exactly one of --text STRING and --text-file FILE");
    if (threads > 0) omp_set_num_threads(threads);
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
    if (tt_evaluate_tokens_window(m, ids, n, window, &loss, &n_pred, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    if (json)
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
