/* tt info — a checkpoint's config, parameter count and vocabulary. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "tt/checkpoint.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tt info --model FILE [--json]\n"
               "\n"
               "Shows the model config, the number of trainable parameters and the vocabulary of a\n"
               "checkpoint (the whole file is validated). --json prints\n"
               "{\"model\", \"format_version\", \"config\": {...}, \"parameters\", \"vocab_size\", \"vocab\": [...]}.\n");
}

/* the vocabulary as one string, for the plain output */
static void print_vocab_plain(const tt_tokenizer *tok) {
    int V = tt_tokenizer_vocab_size(tok);
    char *s = malloc((size_t)V * 4 + 1);
    if (!s) return;
    size_t n = 0;
    for (int i = 0; i < V; i++) {
        char b[5];
        int k = tt_tokenizer_token_utf8(tok, i, b);
        for (int j = 0; j < k; j++) s[n++] = b[j];
    }
    s[n] = '\0';
    cli_json_string(stdout, s);
    free(s);
}

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    bool json = false;
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
        } else {
            return cli_unknown(argv[i]);
        }
    }
    if (!model) return cli_usage_error("--model FILE is required (see 'tt info --help')");
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    int load_rc = cli_load_model(model, &m, &tok);
    if (load_rc != CLI_EXIT_OK) return load_rc;
    const tt_model_config *c = tt_model_get_config(m);
    const char *pos = c->positional == TT_POS_LEARNED ? "learned" : "sinusoidal";
    const int V = tt_tokenizer_vocab_size(tok);
    if (json) {
        char db[32];
        printf("{\"model\":");
        cli_json_string(stdout, model);
        printf(",\"format\":\"%s\",\"format_version\":%d,\"config\":{\"vocab_size\":%d,\"d_model\":%d,"
               "\"n_heads\":%d,\"n_layers\":%d,\"d_ff\":%d,\"max_len\":%d,\"dropout\":%s,"
               "\"positional\":\"%s\",\"tie_weights\":%s},\"parameters\":%zu,\"vocab_size\":%d,\"vocab\":[",
               TT_CHECKPOINT_FORMAT, TT_CHECKPOINT_FORMAT_VERSION, c->vocab_size, c->d_model, c->n_heads,
               c->n_layers, c->d_ff, c->max_len, cli_float_str(c->dropout, db), pos, c->tie_weights ? "true" : "false",
               tt_model_num_params(m), V);
        for (int i = 0; i < V; i++) {
            char b[5];
            tt_tokenizer_token_utf8(tok, i, b);
            if (i) putchar(',');
            if (b[0] == '\0') fputs("\"\\u0000\"", stdout);
            else cli_json_string(stdout, b);
        }
        printf("]}\n");
    } else {
        char db[32];
        printf("model:        %s (%s format %d)\n", model, TT_CHECKPOINT_FORMAT, TT_CHECKPOINT_FORMAT_VERSION);
        printf("config:       d_model %d, n_heads %d, n_layers %d, d_ff %d, max_len %d, dropout %s,\n"
               "              positional %s, tie_weights %s\n",
               c->d_model, c->n_heads, c->n_layers, c->d_ff, c->max_len, cli_float_str(c->dropout, db), pos,
               c->tie_weights ? "true" : "false");
        printf("parameters:   %zu\n", tt_model_num_params(m));
        printf("vocab_size:   %d\n", V);
        printf("vocab:        ");
        print_vocab_plain(tok);
        putchar('\n');
    }
    tt_model_free(m);
    tt_tokenizer_free(tok);
    return CLI_EXIT_OK;
}
