/* tt info — a checkpoint's config, parameter count and vocabulary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "tt/checkpoint.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tt info --model FILE [--json] [--tensors]\n"
               "\n"
               "Shows the model config, the number of trainable parameters and the vocabulary of a\n"
               "checkpoint (the whole file is validated). --json prints\n"
               "{\"model\", \"format_version\", \"config\": {...}, \"parameters\", \"vocab_size\", \"vocab\": [...],\n"
               " \"training\": {...}, \"default_context\"}: training holds what the checkpoint records of its\n"
               "training (train_seq_len, train_steps, train_tokens, train_val_loss, train_data_sha256; a key\n"
               "is absent when not recorded); default_context is the context generation and eval use by\n"
               "default (train_seq_len when recorded, else max_len).\n"
               "--tensors also lists the state-dict tensors in order: name, shape, elements, whether AdamW\n"
               "decays them and how they are initialised (normal(0, 0.02), zeros, ones; sinusoidal: a\n"
               "buffer computed from the config; tied: the token embedding's memory); with --json as\n"
               "\"tensors\": [{\"name\", \"shape\", \"numel\", \"decay\", \"init\"}, ...].\n");
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

/* The recorded training fields as JSON members (none when nothing is recorded). */
static void print_training_json(const tt_train_info *t) {
    char b[32];
    const char *sep = "";
    printf("{");
    if (t->seq_len > 0) printf("%s\"train_seq_len\":%d", sep, t->seq_len), sep = ",";
    if (t->steps > 0) printf("%s\"train_steps\":%lld", sep, t->steps), sep = ",";
    if (t->tokens > 0) printf("%s\"train_tokens\":%lld", sep, t->tokens), sep = ",";
    if (!isnan(t->val_loss)) printf("%s\"train_val_loss\":%s", sep, cli_float_str(t->val_loss, b)), sep = ",";
    if (t->data_sha256[0]) printf("%s\"train_data_sha256\":\"%s\"", sep, t->data_sha256);
    printf("}");
}

static void print_training_plain(const tt_train_info *t) {
    char b[32];
    if (t->seq_len <= 0 && t->steps <= 0 && t->tokens <= 0 && isnan(t->val_loss) && !t->data_sha256[0]) {
        printf("training:     not recorded\n");
        return;
    }
    printf("training:     ");
    const char *sep = "";
    if (t->seq_len > 0) printf("seq_len %d", t->seq_len), sep = ", ";
    if (t->steps > 0) printf("%s%lld steps", sep, t->steps), sep = ", ";
    if (t->tokens > 0) printf("%s%lld tokens", sep, t->tokens), sep = ", ";
    if (!isnan(t->val_loss)) printf("%sval loss %s", sep, cli_float_str(t->val_loss, b));
    putchar('\n');
    if (t->data_sha256[0]) printf("              data sha256 %s\n", t->data_sha256);
}

/* The model's tensor table, as --tensors shows it. */
static void print_tensors(const tt_model *m, bool json) {
    const size_t n = tt_model_num_tensors(m);
    if (!json) printf("tensors:      %zu (state-dict order: name, shape, elements, decay, init)\n", n);
    for (size_t i = 0; i < n; i++) {
        tt_tensor_info t;
        if (tt_model_tensor(m, i, &t) != TT_OK) continue;
        char shape[48];
        if (t.ndim == 2) snprintf(shape, sizeof shape, "%zu, %zu", t.shape[0], t.shape[1]);
        else snprintf(shape, sizeof shape, "%zu", t.shape[0]);
        if (json)
            printf("%s{\"name\":\"%s\",\"shape\":[%s],\"numel\":%zu,\"decay\":%s,\"init\":\"%s\"}",
                   i ? "," : "", t.name, shape, t.numel, t.decay ? "true" : "false",
                   tt_model_tensor_init(m, i));
        else
            printf("  %-58s [%s] %zu%s, %s\n", t.name, shape, t.numel, t.decay ? ", decay" : "",
                   tt_model_tensor_init(m, i));
    }
}

int cmd_info(int argc, char **argv) {
    const char *model = NULL;
    bool json = false, tensors = false;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (cli_is_flag(argv[i], "--json")) {
            json = true;
        } else if (cli_is_flag(argv[i], "--tensors")) {
            tensors = true;
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
        printf("],\"training\":");
        print_training_json(tt_model_train_info(m));
        printf(",\"default_context\":%d", tt_model_default_context(m));
        if (tensors) {
            printf(",\"tensors\":[");
            print_tensors(m, true);
            putchar(']');
        }
        printf("}\n");
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
        print_training_plain(tt_model_train_info(m));
        printf("context:      %d (%s; generation and eval use it by default)\n", tt_model_default_context(m),
               tt_model_train_info(m)->seq_len > 0 ? "the training length" : "max_len: no training length recorded");
        if (tensors) print_tensors(m, false);
    }
    tt_model_free(m);
    tt_tokenizer_free(tok);
    return CLI_EXIT_OK;
}
