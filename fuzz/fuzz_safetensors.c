/*
 * fuzz_safetensors — the checkpoint loader (tt_checkpoint_load and
 * tt_checkpoint_read_config) on arbitrary bytes written to a temporary file.
 *
 * Oracles: no crash, leak or UB, no huge allocation from a lying header
 * (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch those); on an error a
 * message and nothing handed out; on TT_OK a valid config, a tokenizer whose
 * size matches the config's vocab_size, and a model that runs one forward.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/checkpoint.h"

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_safetensors: check failed at line %d: %s\n", __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

static char path[64];


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* /dev/shm when there is one: a file in memory, no disk traffic */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/tt-fuzz-st-%ld.safetensors", dir, (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    tt_error err;
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    tt_status s = tt_checkpoint_load(path, &m, &tok, &err);
    if (s != TT_OK) {
        CHECK(s == TT_ERR_FORMAT || s == TT_ERR_IO || s == TT_ERR_NOMEM || s == TT_ERR_ARG);
        CHECK(err.msg[0] != '\0');
        CHECK(m == NULL && tok == NULL);
    } else {
        CHECK(m != NULL && tok != NULL);
        const tt_model_config *cfg = tt_model_get_config(m);
        CHECK(tt_model_config_validate(cfg, &err) == TT_OK);
        CHECK(tt_tokenizer_vocab_size(tok) == cfg->vocab_size);
        int tokens[2] = {0, cfg->vocab_size - 1};
        int T = cfg->max_len >= 2 ? 2 : 1;
        float loss = 0;
        s = tt_model_forward(m, tokens, NULL, 1, T, TT_MODE_EVAL, NULL, &loss, &err);
        CHECK(s == TT_OK || s == TT_ERR_NOMEM);
    }
    tt_model_free(m);
    tt_tokenizer_free(tok);

    tt_model_config cfg;
    tt_tokenizer *tok2 = NULL;
    s = tt_checkpoint_read_config(path, &cfg, &tok2, &err);
    if (s != TT_OK) {
        CHECK(err.msg[0] != '\0');
        CHECK(tok2 == NULL);
    }
    tt_tokenizer_free(tok2);
    unlink(path); /* libFuzzer may end with _Exit: leave nothing behind */
    return 0;
}
