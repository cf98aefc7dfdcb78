/* Context length (issue 12): the training record in checkpoints (round trip,
 * old files, bad values, tt_train keeping it current across a resume), the
 * generator's context window (defaults with and without train_seq_len,
 * validation), the two ways it slides (exact and half) against a reference
 * that applies the rule step by step, batch independence and cache == no
 * cache past the window, the PyTorch goldens (tests/fixtures/context_golden.txt,
 * scripts/make_context_fixture.py), and the CLI (--context, --context-shift,
 * tt generate --json context_len, tt info training, tt eval's default window). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cJSON.h>

#include "gen_helpers.h"
#include "generate_internal.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/rng.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"
#include "tt/train.h"
#include "util.h"

#define V 23

static tt_model *small_model(int max_len, tt_positional pos) {
    return tt_test_small_model(V, max_len, pos);
}
#define make_gen tt_test_make_gen

static void assert_same(const tt_generation *a, const tt_generation *b) {
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_int_equal(a->n_generated, b->n_generated);
    assert_memory_equal(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int));
}

/* ---- the training record ------------------------------------------------- */

static void test_train_info_round_trip(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    tt_model *m = small_model(16, TT_POS_LEARNED);
    tt_tokenizer *tok;
    tt_error e;
    const char *chars = "abcdefghijklmnopqrstuvw"; /* 23 characters */
    assert_int_equal(tt_tokenizer_fit(&tok, chars, strlen(chars), &e), TT_OK);
    /* a fresh model records nothing; its default context is max_len */
    const tt_train_info *ti = tt_model_train_info(m);
    assert_int_equal(ti->seq_len, 0);
    assert_true(ti->steps == 0 && ti->tokens == 0 && isnan(ti->val_loss) && !ti->data_sha256[0]);
    assert_int_equal(tt_model_default_context(m), 16);
    assert_int_equal(tt_checkpoint_save(path, m, tok, &e), TT_OK);
    char *hdr = tt_test_read_file(path, NULL);
    assert_null(strstr(hdr + 8, "train_")); /* nothing unknown is written */
    free(hdr);
    tt_model *m2 = NULL;
    assert_int_equal(tt_checkpoint_load(path, &m2, NULL, &e), TT_OK);
    assert_int_equal(tt_model_train_info(m2)->seq_len, 0);
    assert_true(isnan(tt_model_train_info(m2)->val_loss));
    tt_model_free(m2);
    /* every field */
    tt_train_info in = tt_train_info_unknown();
    in.seq_len = 12;
    in.steps = 3000000000LL; /* past 32 bits */
    in.tokens = 1152000000000LL;
    in.val_loss = 1.7923f;
    strcpy(in.data_sha256, "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789cdef");
    assert_int_equal(tt_model_set_train_info(m, &in, &e), TT_OK);
    assert_int_equal(tt_model_default_context(m), 12);
    assert_int_equal(tt_checkpoint_save(path, m, tok, &e), TT_OK);
    hdr = tt_test_read_file(path, NULL);
    assert_non_null(strstr(hdr + 8, "\"train_seq_len\":\"12\""));
    assert_non_null(strstr(hdr + 8, "\"train_steps\":\"3000000000\""));
    assert_non_null(strstr(hdr + 8, "\"train_tokens\":\"1152000000000\""));
    assert_non_null(strstr(hdr + 8, "\"train_val_loss\":\"1.7923\""));
    assert_non_null(strstr(hdr + 8, "\"format_version\":\"1\""));
    free(hdr);
    assert_int_equal(tt_checkpoint_load(path, &m2, NULL, &e), TT_OK);
    const tt_train_info *out = tt_model_train_info(m2);
    assert_int_equal(out->seq_len, 12);
    assert_true(out->steps == in.steps && out->tokens == in.tokens && out->val_loss == in.val_loss);
    assert_string_equal(out->data_sha256, in.data_sha256);
    assert_int_equal(tt_model_default_context(m2), 12);
    tt_model_free(m2);
    /* validation of the setter */
    tt_train_info bad = in;
    bad.seq_len = 17;
    assert_int_equal(tt_model_set_train_info(m, &bad, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "seq_len"));
    bad = in;
    bad.steps = -1;
    assert_int_equal(tt_model_set_train_info(m, &bad, &e), TT_ERR_ARG);
    bad = in;
    bad.val_loss = INFINITY;
    assert_int_equal(tt_model_set_train_info(m, &bad, &e), TT_ERR_ARG);
    bad = in;
    bad.data_sha256[5] = 'G';
    assert_int_equal(tt_model_set_train_info(m, &bad, &e), TT_ERR_ARG);
    assert_int_equal(tt_model_set_train_info(NULL, &in, &e), TT_ERR_ARG);
    assert_null(tt_model_train_info(NULL));
    assert_int_equal(tt_model_default_context(NULL), 0);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    tt_test_rmtree(dir);
    free(dir);
}

/* Rewrites metadata key `key` of the checkpoint at src into dst with value
 * `val` (a JSON string literal, quotes included); the header keeps its length
 * by padding, so the offsets stay valid. */
static void write_with_meta(const char *src, const char *dst, const char *key, const char *val) {
    size_t len;
    char *data = tt_test_read_file(src, &len);
    assert_non_null(data);
    uint64_t h = 0;
    for (int b = 7; b >= 0; b--)
        h = (h << 8) | (unsigned char)data[b];
    char *hdr = malloc(h + 256);
    memcpy(hdr, data + 8, h);
    hdr[h] = '\0';
    char *meta = strstr(hdr, "\"__metadata__\":{");
    assert_non_null(meta);
    meta += strlen("\"__metadata__\":{");
    char ins[256];
    snprintf(ins, sizeof ins, "\"%s\":%s,", key, val);
    size_t il = strlen(ins), nh = h + il, padded = (nh + 7) / 8 * 8;
    char *out = malloc(8 + padded + (len - 8 - h));
    for (int b = 0; b < 8; b++)
        out[b] = (char)((padded >> (8 * b)) & 0xFF);
    size_t pre = (size_t)(meta - hdr);
    memcpy(out + 8, hdr, pre);
    memcpy(out + 8 + pre, ins, il);
    memcpy(out + 8 + pre + il, hdr + pre, h - pre);
    memset(out + 8 + nh, ' ', padded - nh);
    memcpy(out + 8 + padded, data + 8 + h, len - 8 - h);
    assert_int_equal(tt_test_write_file(dst, out, 8 + padded + (len - 8 - h)), 0);
    free(out);
    free(hdr);
    free(data);
}

static const char *fixture(const char *name) {
    static char buf[4][512];
    static int k;
    const char *dirs[] = {"tests/fixtures", "../tests/fixtures"};
    for (size_t i = 0; i < 2; i++) {
        char *p = buf[k++ % 4];
        snprintf(p, 512, "%s/%s", dirs[i], name);
        FILE *f = fopen(p, "rb");
        if (f) {
            fclose(f);
            return p;
        }
    }
    fail_msg("fixture %s not found", name);
    return NULL;
}

/* Files without a record load (old files; the sinusoidal fixture), files
 * written from PyTorch with one load, and a bad value is a format error. */
static void test_train_info_files(void **state) {
    (void)state;
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_checkpoint_load(fixture("gen_model.safetensors"), &m, NULL, &e), TT_OK);
    assert_int_equal(tt_model_train_info(m)->seq_len, 0);
    assert_int_equal(tt_model_default_context(m), 24);
    tt_model_free(m);
    assert_int_equal(tt_checkpoint_load(fixture("gen_model_learned.safetensors"), &m, NULL, &e),
                     TT_OK);
    const tt_train_info *ti = tt_model_train_info(m);
    assert_int_equal(ti->seq_len, 12);
    assert_true(ti->steps == 600 && ti->tokens == 600LL * 32 * 12);
    assert_int_equal(strlen(ti->data_sha256), 64);
    assert_int_equal(tt_model_default_context(m), 12);
    tt_model_free(m);

    char *dir = tt_test_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/bad.safetensors", dir);
    static const struct {
        const char *key, *val, *needle;
    } bad[] = {
        {"train_seq_len", "\"25\"", "train_seq_len"},
        {"train_seq_len", "\"0\"", "train_seq_len"},
        {"train_seq_len", "\"12x\"", "train_seq_len"},
        {"train_seq_len", "\"\"", "train_seq_len"},
        {"train_steps", "\"-3\"", "train_steps"},
        {"train_tokens", "\"1e9\"", "train_tokens"},
        {"train_steps", "\"99999999999999999999\"", "train_steps"},
        {"train_val_loss", "\"nan\"", "train_val_loss"},
        {"train_val_loss", "\"1.5 \"", "train_val_loss"},
        {"train_data_sha256", "\"abc\"", "train_data_sha256"},
        {"train_seq_len", "12", "not a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_with_meta(fixture("gen_model.safetensors"), p, bad[i].key, bad[i].val);
        m = NULL;
        tt_status st = tt_checkpoint_load(p, &m, NULL, &e);
        if (st != TT_ERR_FORMAT || !strstr(e.msg, bad[i].needle))
            fail_msg("%s=%s: status %d, '%s'", bad[i].key, bad[i].val, st, e.msg);
        assert_null(m);
    }
    /* valid values written by another tool (upper-case hex is accepted) */
    write_with_meta(fixture("gen_model.safetensors"), p, "train_seq_len", "\"20\"");
    assert_int_equal(tt_checkpoint_load(p, &m, NULL, &e), TT_OK);
    assert_int_equal(tt_model_default_context(m), 20);
    tt_model_free(m);
    tt_test_rmtree(dir);
    free(dir);
}

/* tt_train records seq_len, steps, tokens, the validation loss of the saved
 * weights and the data hash in every checkpoint; a resumed run counts on. */
static void test_train_keeps_record_current(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/run.safetensors", dir);
    const char *text = "the cat sat on the mat and the dog sat on the log. ";
    char corpus[4096] = "";
    for (int i = 0; i < 30; i++)
        strcat(corpus, text);
    tt_tokenizer *tok;
    tt_error e;
    assert_int_equal(tt_tokenizer_fit(&tok, corpus, strlen(corpus), &e), TT_OK);
    int *ids;
    size_t n;
    assert_int_equal(tt_tokenizer_encode(tok, corpus, strlen(corpus), &ids, &n, &e), TT_OK);
    tt_model_config mc = {
        tt_tokenizer_vocab_size(tok), 16, 2, 1, 32, 32, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m;
    assert_int_equal(tt_model_create(&m, &mc, 1, &e), TT_OK);
    tt_train_config tc = tt_train_config_default();
    tc.seq_len = 8;
    tc.batch_size = 3;
    tc.max_steps = 6;
    tc.warmup_steps = 0;
    tc.eval_interval = 0;
    tc.eval_batches = 2;
    tc.save_interval = 3;
    tc.out_path = out;
    const char *sha = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    tc.data_sha256 = sha;
    const size_t n_train = n - 200;
    tt_train_result res;
    assert_int_equal(tt_train(m, tok, ids, n_train, ids + n_train, 200, &tc, NULL, NULL, &res, &e),
                     TT_OK);
    const tt_train_info *ti = tt_model_train_info(m);
    assert_int_equal(ti->seq_len, 8);
    assert_true(ti->steps == 6 && ti->tokens == 6 * 3 * 8);
    assert_true(ti->val_loss == res.final_val_loss);
    assert_string_equal(ti->data_sha256, sha);
    tt_model *l = NULL;
    assert_int_equal(tt_checkpoint_load(out, &l, NULL, &e), TT_OK);
    ti = tt_model_train_info(l);
    assert_int_equal(ti->seq_len, 8);
    assert_true(ti->steps == 6 && ti->tokens == 144 && ti->val_loss == res.final_val_loss);
    assert_string_equal(ti->data_sha256, sha);
    tt_model_free(l);
    /* the best checkpoint carries its own (best) validation loss */
    char best[600];
    snprintf(best, sizeof best, "%s/run.best.safetensors", dir);
    assert_int_equal(tt_checkpoint_load(best, &l, NULL, &e), TT_OK);
    assert_true(tt_model_train_info(l)->val_loss == res.best_val_loss);
    tt_model_free(l);
    /* resume to 10 steps (no hash given: the checkpoint's is kept) */
    tt_model *m2;
    assert_int_equal(tt_model_create(&m2, &mc, 1, &e), TT_OK);
    tc.max_steps = 10;
    tc.resume_path = out;
    tc.data_sha256 = NULL;
    tt_status st = tt_train(m2, tok, ids, n_train, ids + n_train, 200, &tc, NULL, NULL, &res, &e);
    if (st) fprintf(stderr, "resume: %s\n", e.msg);
    assert_int_equal(st, TT_OK);
    assert_int_equal(tt_checkpoint_load(out, &l, NULL, &e), TT_OK);
    ti = tt_model_train_info(l);
    assert_true(ti->steps == 10 && ti->tokens == 10 * 3 * 8 && ti->val_loss == res.final_val_loss);
    assert_string_equal(ti->data_sha256, sha);
    tt_model_free(l);
    /* a bad hash is refused */
    tc.data_sha256 = "xyz";
    assert_int_equal(tt_train_config_validate(&tc, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "data_sha256"));
    tt_model_free(m);
    tt_model_free(m2);
    free(ids);
    tt_tokenizer_free(tok);
    tt_test_rmtree(dir);
    free(dir);
}

/* ---- the generator's window ------------------------------------------------ */

static void test_context_defaults_and_validation(void **state) {
    (void)state;
    tt_generator_config c = tt_generator_config_default();
    assert_int_equal(c.context_len, 0);
    assert_int_equal(c.context_shift, TT_CONTEXT_SHIFT_HALF);
    assert_string_equal(tt_context_shift_str(TT_CONTEXT_SHIFT_HALF), "half");
    assert_string_equal(tt_context_shift_str(TT_CONTEXT_SHIFT_EXACT), "exact");
    tt_model *m = small_model(16, TT_POS_SINUSOIDAL);
    tt_error e;
    /* without train_seq_len: max_len */
    tt_generator *g = make_gen(m, &c);
    assert_int_equal(tt_generator_context_len(g), 16);
    tt_generator_free(g);
    /* with it: train_seq_len, read when the generator is made */
    tt_train_info ti = tt_train_info_unknown();
    ti.seq_len = 6;
    assert_int_equal(tt_model_set_train_info(m, &ti, &e), TT_OK);
    g = make_gen(m, &c);
    assert_int_equal(tt_generator_context_len(g), 6);
    tt_generator_free(g);
    c.context_len = 9; /* explicit wins */
    g = make_gen(m, &c);
    assert_int_equal(tt_generator_context_len(g), 9);
    tt_generator_free(g);
    assert_int_equal(tt_generator_context_len(NULL), 0);
    /* never more than max_len; negative and unknown shifts refused */
    c.context_len = 17;
    g = NULL;
    assert_int_equal(tt_generator_create(&g, m, &c, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "context_len 17 exceeds the model's max_len 16"));
    assert_null(g);
    c.context_len = -1;
    assert_int_equal(tt_generator_config_validate(&c, V, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "context_len"));
    c.context_len = 0;
    c.context_shift = (tt_context_shift)7;
    assert_int_equal(tt_generator_config_validate(&c, V, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "context_shift"));
    /* per-call overrides are checked too */
    c = tt_generator_config_default();
    g = make_gen(m, &c);
    int p[3] = {1, 2, 3};
    const int *ps[1] = {p};
    int lens[1] = {3};
    tt_generation out;
    tt_generate_overrides o = {TT_OVR_CONTEXT_LEN, tt_generator_config_default()};
    o.values.context_len = 40;
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, &o, NULL, NULL, NULL, &out, &e),
                     TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "context_len 40"));
    o.set = 1u << 30;
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, &o, NULL, NULL, NULL, &out, &e),
                     TT_ERR_ARG);
    tt_generator_free(g);
    tt_model_free(m);
}

/* The reference: the window rule applied step by step, with the logits of a
 * full recompute over the window (tt_generator_next_logits on the window,
 * which never crops it: W <= max_len) and the sampler drawing from the row's
 * stream, as tt/generate.h specifies. */
static void reference(const tt_model *m, const int *prompt, int np, int n_new, int W,
                      tt_context_shift shift, const tt_generator_config *c, uint64_t row,
                      int *ids) {
    tt_generator *g = make_gen(m, NULL);
    tt_sampler *s;
    tt_error e;
    assert_int_equal(tt_sampler_create(&s, V, &e), TT_OK);
    tt_rng rng;
    tt_rng_seed_stream(&rng, c->seed, row);
    tt_sampling_params sp = tt_sampling_params_default();
    if (c->sampling.strategy == TT_STRATEGY_GREEDY) {
        sp.strategy = TT_STRATEGY_GREEDY;
    } else {
        sp.strategy = TT_STRATEGY_COMBINED;
        sp.temperature = c->sampling.temperature;
        sp.top_k = c->sampling.top_k;
        sp.top_p = c->sampling.top_p;
    }
    const int H = W / 2 > 0 ? W / 2 : 1;
    memcpy(ids, prompt, (size_t)np * sizeof(int));
    int n = np, start = np > W ? np - W : 0;
    for (int k = 0; k < n_new; k++) {
        if (shift == TT_CONTEXT_SHIFT_EXACT)
            start = n > W ? n - W : 0;
        else if (n - start > W)
            start = n - H;
        const int w = n - start;
        assert_true(w >= 1 && w <= W);
        if (shift == TT_CONTEXT_SHIFT_HALF && n > W) assert_true(w >= H); /* between W/2 and W */
        float lg[V];
        assert_int_equal(tt_generator_next_logits(g, ids + start, w, lg, &e), TT_OK);
        double ent;
        assert_int_equal(tt_sampler_sample_entropy(s, &sp, lg, &rng, &ids[n], &ent, &e), TT_OK);
        n++;
    }
    tt_sampler_free(s);
    tt_generator_free(g);
}

/* exact and half against the reference, greedy and sampled, sinusoidal and
 * learned positions, several windows and prompt lengths (shorter and longer
 * than W), cache on and off. */
static void test_shift_modes_vs_reference(void **state) {
    (void)state;
    static const int Ws[] = {1, 2, 3, 5, 8, 16};
    static const int lens[] = {1, 4, 20};
    int prompt[20];
    for (int i = 0; i < 20; i++)
        prompt[i] = (i * 7 + 3) % V;
    int checked = 0;
    for (int pk = 0; pk < 2; pk++) {
        tt_model *m = small_model(16, pk ? TT_POS_LEARNED : TT_POS_SINUSOIDAL);
        for (int shift = 0; shift < 2; shift++)
            for (size_t wi = 0; wi < sizeof Ws / sizeof *Ws; wi++)
                for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
                    for (int sample = 0; sample < 2; sample++) {
                        tt_generator_config c = tt_generator_config_default();
                        c.max_new_tokens = 30;
                        c.context_len = Ws[wi];
                        c.context_shift = (tt_context_shift)shift;
                        c.sampling.strategy = sample ? TT_STRATEGY_COMBINED : TT_STRATEGY_GREEDY;
                        c.sampling.temperature = 0.9f;
                        c.sampling.top_k = sample && wi % 2 ? 8 : 0;
                        c.seed = 100 + wi;
                        int want[64];
                        reference(m, prompt, lens[li], 30, Ws[wi], c.context_shift, &c, 0, want);
                        for (int cache = 0; cache < 2; cache++) {
                            c.use_cache = cache;
                            tt_generator *g = make_gen(m, &c);
                            const int *ps[1] = {prompt};
                            int n = lens[li];
                            tt_generation out;
                            tt_error e;
                            assert_int_equal(tt_generator_generate(g, ps, &n, 1, NULL, NULL, NULL,
                                                                   NULL, &out, &e),
                                             TT_OK);
                            if (out.n_tokens != lens[li] + 30 ||
                                memcmp(out.tokens, want, (size_t)out.n_tokens * sizeof(int)))
                                fail_msg("%s pos, %s, W %d, prompt %d, %s, cache %d: differs from "
                                         "the reference",
                                         pk ? "learned" : "sinusoidal", shift ? "exact" : "half",
                                         Ws[wi], lens[li], sample ? "sampled" : "greedy", cache);
                            tt_generations_free(&out, 1);
                            tt_generator_free(g);
                            checked++;
                        }
                    }
        tt_model_free(m);
    }
    assert_int_equal(checked, 2 * 2 * 6 * 3 * 2 * 2);
}

/* The two modes agree until the window first slides and then differ (on
 * this model, for these settings): the test can tell them apart. Greedy
 * past max_len with W = max_len in exact mode is the old crop. */
static void test_modes_differ_past_window(void **state) {
    (void)state;
    tt_model *m = small_model(16, TT_POS_SINUSOIDAL);
    int p[4] = {1, 2, 3, 4};
    tt_generation a, b;
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 40;
    c.context_len = 8;
    c.seed = 3;
    tt_generator *g = make_gen(m, &c);
    const int *ps[1] = {p};
    int n = 4;
    tt_error e;
    assert_int_equal(tt_generator_generate(g, ps, &n, 1, NULL, NULL, NULL, NULL, &a, &e), TT_OK);
    tt_generate_overrides o = {TT_OVR_CONTEXT_SHIFT, tt_generator_config_default()};
    o.values.context_shift = TT_CONTEXT_SHIFT_EXACT;
    assert_int_equal(tt_generator_generate(g, ps, &n, 1, &o, NULL, NULL, NULL, &b, &e), TT_OK);
    /* draws 1..5 see the same window (at most 8 tokens) */
    assert_memory_equal(a.tokens, b.tokens, 9 * sizeof(int));
    assert_memory_not_equal(a.tokens, b.tokens, (size_t)a.n_tokens * sizeof(int));
    tt_generations_free(&a, 1);
    tt_generations_free(&b, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

/* Rows slide independently: a ragged batch (prompts shorter and longer than
 * W) yields each row's tokens alone, in both modes, cache on and off. */
static void test_batch_independent_past_window(void **state) {
    (void)state;
    tt_model *m = small_model(16, TT_POS_LEARNED);
    int p0[1] = {7}, p1[7] = {1, 2, 3, 4, 5, 6, 7}, p2[20], p3[3] = {22, 0, 11};
    for (int i = 0; i < 20; i++)
        p2[i] = (i * 5) % V;
    const int *ps[4] = {p0, p1, p2, p3};
    int lens[4] = {1, 7, 20, 3};
    uint64_t ids[4] = {10, 11, 12, 13};
    for (int shift = 0; shift < 2; shift++) {
        tt_generator_config c = tt_generator_config_default();
        c.max_new_tokens = 33;
        c.context_len = 5;
        c.context_shift = (tt_context_shift)shift;
        c.sampling.temperature = 0.9f;
        c.sampling.top_p = 0.9f;
        tt_generator *g = make_gen(m, &c);
        tt_generation first[4];
        for (int cache = 0; cache < 2; cache++) {
            tt_generate_overrides o = {TT_OVR_USE_CACHE, tt_generator_config_default()};
            o.values.use_cache = cache;
            tt_generation batch[4];
            tt_error e;
            assert_int_equal(tt_generator_generate(g, ps, lens, 4, &o, ids, NULL, NULL, batch, &e),
                             TT_OK);
            for (int r = 0; r < 4; r++) {
                tt_generation alone;
                assert_int_equal(tt_generator_generate(g, &ps[r], &lens[r], 1, &o, &ids[r], NULL,
                                                       NULL, &alone, &e),
                                 TT_OK);
                assert_same(&batch[r], &alone);
                tt_generations_free(&alone, 1);
                if (cache) assert_same(&batch[r], &first[r]); /* cache == no cache */
            }
            if (cache) {
                tt_generations_free(batch, 4);
                tt_generations_free(first, 4);
            } else {
                memcpy(first, batch, sizeof first);
            }
        }
        tt_generator_free(g);
    }
    tt_model_free(m);
}

/* With train_seq_len recorded and context_len 0, the window is the training
 * length: the same tokens as an explicit context_len of that length. */
static void test_default_window_from_record(void **state) {
    (void)state;
    tt_model *m = small_model(16, TT_POS_SINUSOIDAL);
    tt_error e;
    tt_train_info ti = tt_train_info_unknown();
    ti.seq_len = 6;
    assert_int_equal(tt_model_set_train_info(m, &ti, &e), TT_OK);
    int p[3] = {4, 5, 6};
    const int *ps[1] = {p};
    int n = 3;
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 30;
    tt_generation a, b, d;
    tt_generator *g = make_gen(m, &c);
    assert_int_equal(tt_generator_generate(g, ps, &n, 1, NULL, NULL, NULL, NULL, &a, &e), TT_OK);
    tt_generate_overrides o = {TT_OVR_CONTEXT_LEN, tt_generator_config_default()};
    o.values.context_len = 6;
    assert_int_equal(tt_generator_generate(g, ps, &n, 1, &o, NULL, NULL, NULL, &b, &e), TT_OK);
    assert_same(&a, &b);
    o.values.context_len = 16;
    assert_int_equal(tt_generator_generate(g, ps, &n, 1, &o, NULL, NULL, NULL, &d, &e), TT_OK);
    assert_memory_not_equal(a.tokens, d.tokens, (size_t)a.n_tokens * sizeof(int));
    tt_generations_free(&a, 1);
    tt_generations_free(&b, 1);
    tt_generations_free(&d, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

/* tests/fixtures/context_golden.txt: "name model=F prompt=IDS max_new=N
 * temperature=T top_k=K top_p=P do_sample=D seed=S context=W shift=X : IDS",
 * from PyTorch (scripts/make_context_fixture.py); cache on and off. */
static void test_pytorch_goldens(void **state) {
    (void)state;
    FILE *f = fopen(fixture("context_golden.txt"), "r");
    assert_non_null(f);
    char line[8192];
    int checked = 0, exact = 0, half = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char name[96], model[128], prompt[1024], shift[16];
        int max_new, top_k, do_sample, context, off = 0;
        float temp, top_p;
        unsigned long long seed;
        assert_int_equal(
            sscanf(line,
                   "%95s model=%127s prompt=%1023s max_new=%d temperature=%f top_k=%d top_p=%f "
                   "do_sample=%d seed=%llu context=%d shift=%15s :%n",
                   name, model, prompt, &max_new, &temp, &top_k, &top_p, &do_sample, &seed,
                   &context, shift, &off),
            11);
        int pids[256], np = 0, want[512], nw = 0;
        for (char *t = strtok(prompt, ","); t; t = strtok(NULL, ","))
            pids[np++] = atoi(t);
        for (char *t = strtok(line + off, " \n"); t; t = strtok(NULL, " \n"))
            want[nw++] = atoi(t);
        tt_model *m;
        tt_error e;
        assert_int_equal(tt_checkpoint_load(fixture(model), &m, NULL, &e), TT_OK);
        tt_generator_config c = tt_generator_config_default();
        c.max_new_tokens = max_new;
        c.sampling.temperature = temp;
        c.sampling.top_k = top_k;
        c.sampling.top_p = top_p;
        c.sampling.strategy = do_sample ? TT_STRATEGY_COMBINED : TT_STRATEGY_GREEDY;
        c.seed = seed;
        c.context_len = context;
        c.context_shift = strcmp(shift, "exact") ? TT_CONTEXT_SHIFT_HALF : TT_CONTEXT_SHIFT_EXACT;
        exact += c.context_shift == TT_CONTEXT_SHIFT_EXACT;
        half += c.context_shift == TT_CONTEXT_SHIFT_HALF;
        for (int cache = 0; cache < 2; cache++) {
            c.use_cache = cache;
            tt_generator *g = make_gen(m, &c);
            const int *ps[1] = {pids};
            tt_generation out;
            assert_int_equal(tt_generator_generate(g, ps, &np, 1, NULL, NULL, NULL, NULL, &out, &e),
                             TT_OK);
            if (out.n_tokens != nw || memcmp(out.tokens, want, (size_t)nw * sizeof(int)))
                fail_msg("golden '%s' (cache %d) differs", name, cache);
            tt_generations_free(&out, 1);
            tt_generator_free(g);
            checked++;
        }
        tt_model_free(m);
    }
    fclose(f);
    assert_true(exact >= 10 && half >= 10);
    assert_int_equal(checked, 2 * (exact + half));
}

/* ---- the CLI -------------------------------------------------------------- */

static cJSON *run_json(const char *const *argv) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fprintf(stderr, "%s failed (%d): %s\n", argv[1], r.status, r.err);
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    tt_cli_result_free(&r);
    return j;
}

static void expect_usage(const char *const *argv, const char *needle) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 2 || !strstr(r.err, needle) || r.out_len)
        fail_msg("%s %s: status %d, stderr '%s'", argv[1], argv[2], r.status, r.err);
    assert_non_null(strchr(r.err, '\n'));
    assert_null(strchr(strchr(r.err, '\n') + 1, '\n')); /* one line */
    tt_cli_result_free(&r);
}

static void test_cli(void **state) {
    (void)state;
    const char *learned = fixture("gen_model_learned.safetensors"),
               *sin = fixture("gen_model.safetensors");
    /* --json reports the context used: the record's 12, max_len 24, or --context */
    const char *a1[] = {"tt",   "generate",         "--model", learned,  "--prompt",
                        "KING", "--max-new-tokens", "30",      "--json", NULL};
    cJSON *j = run_json(a1);
    assert_int_equal((int)cJSON_GetObjectItem(j, "context_len")->valuedouble, 12);
    assert_string_equal(cJSON_GetObjectItem(j, "context_shift")->valuestring, "half");
    cJSON_Delete(j);
    const char *a2[] = {"tt", "generate", "--model", sin, "--prompt", "KING", "--json", NULL};
    j = run_json(a2);
    assert_int_equal((int)cJSON_GetObjectItem(j, "context_len")->valuedouble, 24);
    cJSON_Delete(j);
    const char *a3[] = {"tt",        "generate", "--model",
                        sin,         "--prompt", "KING",
                        "--context", "9",        "--context-shift=exact",
                        "--json",    NULL};
    j = run_json(a3);
    assert_int_equal((int)cJSON_GetObjectItem(j, "context_len")->valuedouble, 9);
    assert_string_equal(cJSON_GetObjectItem(j, "context_shift")->valuestring, "exact");
    cJSON_Delete(j);
    /* bad values: exit 2, one line naming the flag */
    static const char *const cmds[4] = {"generate", "chat", "diversity", "tour"};
    for (int k = 0; k < 4; k++) {
        const char *extra = k == 0 || k == 2 ? "--prompt" : NULL;
        const char *b1[] = {"tt", cmds[k], "--model", sin, "--context", "0", extra, "x", NULL};
        expect_usage(b1, "--context");
        const char *b2[] = {"tt", cmds[k], "--model", sin, "--context", "abc", extra, "x", NULL};
        expect_usage(b2, "--context");
        const char *b3[] = {"tt",      cmds[k], "--model", sin, "--context-shift",
                            "quarter", extra,   "x",       NULL};
        expect_usage(b3, "--context-shift");
        const char *b4[] = {"tt", cmds[k], "--model", sin, "--context", "25", extra, "x", NULL};
        expect_usage(b4, "--context: 25 exceeds the model's max_len 24");
        const char *b5[] = {"tt", cmds[k], "--model", sin, "--context", NULL};
        expect_usage(b5, "--context");
    }
    /* tt info: the training key */
    const char *i1[] = {"tt", "info", "--model", learned, "--json", NULL};
    j = run_json(i1);
    const cJSON *tr = cJSON_GetObjectItem(j, "training");
    assert_true(cJSON_IsObject(tr));
    assert_int_equal((int)cJSON_GetObjectItem(tr, "train_seq_len")->valuedouble, 12);
    assert_int_equal((int)cJSON_GetObjectItem(tr, "train_steps")->valuedouble, 600);
    assert_int_equal((long long)cJSON_GetObjectItem(tr, "train_tokens")->valuedouble,
                     600LL * 32 * 12);
    assert_int_equal(strlen(cJSON_GetObjectItem(tr, "train_data_sha256")->valuestring), 64);
    assert_null(cJSON_GetObjectItem(tr, "train_val_loss")); /* not recorded */
    assert_int_equal((int)cJSON_GetObjectItem(j, "default_context")->valuedouble, 12);
    cJSON_Delete(j);
    const char *i2[] = {"tt", "info", "--model", sin, "--json", NULL};
    j = run_json(i2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "training")), 0);
    cJSON_Delete(j);
    tt_cli_result r;
    const char *i3[] = {"tt", "info", "--model", learned, NULL};
    assert_int_equal(tt_cli_run(i3, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "training:     seq_len 12, 600 steps, 230400 tokens\n"));
    assert_non_null(strstr(r.out, "context:      12 (the training length"));
    tt_cli_result_free(&r);
    /* tt eval: the default window is the context */
    const char *e1[] = {"tt",     "eval",   "--model",
                        learned,  "--text", "First Citizen:\nBefore we proceed any further",
                        "--json", NULL};
    j = run_json(e1);
    assert_int_equal((int)cJSON_GetObjectItem(j, "window")->valuedouble, 12);
    const double l12 = cJSON_GetObjectItem(j, "loss")->valuedouble;
    cJSON_Delete(j);
    const char *e2[] = {"tt",       "eval",   "--model",
                        learned,    "--text", "First Citizen:\nBefore we proceed any further",
                        "--window", "12",     "--json",
                        NULL};
    j = run_json(e2);
    assert_true(cJSON_GetObjectItem(j, "loss")->valuedouble == l12);
    cJSON_Delete(j);
    const char *e3[] = {"tt",     "eval",   "--model",
                        sin,      "--text", "First Citizen:\nBefore we proceed any further",
                        "--json", NULL};
    j = run_json(e3);
    assert_int_equal((int)cJSON_GetObjectItem(j, "window")->valuedouble, 24);
    cJSON_Delete(j);
}

/* tt train records the SHA-256 of --data (what sha256sum prints) and the
 * training length; tt generate then uses it as the window. */
static void test_cli_train_records(void **state) {
    (void)state;
    char *dir = tt_test_tmpdir();
    char data[512], out[512];
    snprintf(data, sizeof data, "%s/data.txt", dir);
    snprintf(out, sizeof out, "%s/m.safetensors", dir);
    char text[8192] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "to be or not to be, that is the question. ");
    assert_int_equal(tt_test_write_file(data, text, strlen(text)), 0);
    const char *t[] = {"tt",
                       "train",
                       "--data",
                       data,
                       "--out",
                       out,
                       "--d-model",
                       "16",
                       "--n-heads",
                       "2",
                       "--n-layers",
                       "1",
                       "--d-ff",
                       "32",
                       "--max-len",
                       "48",
                       "--seq-len",
                       "16",
                       "--batch-size",
                       "2",
                       "--max-steps",
                       "4",
                       "--eval-interval",
                       "0",
                       "--log-interval",
                       "2",
                       NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(t, NULL, &r), 0);
    if (r.status) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.status, 0);
    tt_cli_result_free(&r);
    /* "to be or ... question. " x 60, as sha256sum prints it */
    const char *s[] = {"sha256sum", data, NULL};
    assert_int_equal(tt_run_program(s, NULL, &r), 0);
    char want[65];
    memcpy(want, r.out, 64);
    want[64] = '\0';
    tt_cli_result_free(&r);
    const char *i1[] = {"tt", "info", "--model", out, "--json", NULL};
    cJSON *j = run_json(i1);
    const cJSON *tr = cJSON_GetObjectItem(j, "training");
    assert_string_equal(cJSON_GetObjectItem(tr, "train_data_sha256")->valuestring, want);
    assert_int_equal((int)cJSON_GetObjectItem(tr, "train_seq_len")->valuedouble, 16);
    assert_int_equal((int)cJSON_GetObjectItem(tr, "train_steps")->valuedouble, 4);
    assert_int_equal((int)cJSON_GetObjectItem(tr, "train_tokens")->valuedouble, 4 * 2 * 16);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(tr, "train_val_loss")));
    cJSON_Delete(j);
    const char *g[] = {"tt",    "generate",         "--model", out,      "--prompt",
                       "to be", "--max-new-tokens", "40",      "--json", NULL};
    j = run_json(g);
    assert_int_equal((int)cJSON_GetObjectItem(j, "context_len")->valuedouble, 16);
    cJSON_Delete(j);
    tt_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_info_round_trip),
        cmocka_unit_test(test_train_info_files),
        cmocka_unit_test(test_train_keeps_record_current),
        cmocka_unit_test(test_context_defaults_and_validation),
        cmocka_unit_test(test_shift_modes_vs_reference),
        cmocka_unit_test(test_modes_differ_past_window),
        cmocka_unit_test(test_batch_independent_past_window),
        cmocka_unit_test(test_default_window_from_record),
        cmocka_unit_test(test_pytorch_goldens),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_cli_train_records),
    };
    return cmocka_run_group_tests_name("context", tests, NULL, NULL);
}
