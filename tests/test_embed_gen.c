/*
 * The generator as an embedder uses it (issue 18): weights packed once per
 * model and shared, thread count and memory limit set after create, the
 * abort callback, results that grow as tokens come, tt_free.
 * (The step API, per-row settings and KV state save/restore are tested in
 * the second half.)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <malloc.h>

#include "gen_helpers.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/tokenizer.h"

/* A small random model: V 23, C 32, NH 4, L 2, F 64, max_len ml. */
static tt_model *small_model(int max_len) {
    return tt_test_small_model(23, max_len, TT_POS_SINUSOIDAL);
}
#define make_gen tt_test_make_gen

/* One row, its result into *o (the call's status returned). */
static tt_status gen1(tt_generator *g, const int *p, int n, const tt_generate_overrides *ov,
                      tt_generation *o) {
    const int *ps[1] = {p};
    int lens[1] = {n};
    tt_error e;
    tt_status st = tt_generator_generate(g, ps, lens, 1, ov, NULL, NULL, NULL, o, &e);
    if (st && st != TT_ERR_INTERRUPTED) fprintf(stderr, "generate: %s\n", e.msg);
    return st;
}

/* Bytes the heap holds (malloc'ed and mmap'ed blocks); 0 where the
 * allocator does not say (the sanitizers'). */
static size_t heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* ---- weights packed once per model ------------------------------------------- */

/* A second generator of the medium preset adds less than 10 % of the
 * weights' bytes (its KV cache, scratch and threads' buffers), measured by
 * the generator itself and by the heap. */
static void test_second_generator_shares_weights(void **state) {
    (void)state;
    tt_model_config mc;
    tt_error e;
    assert_int_equal(tt_model_config_preset("medium", 65, &mc, &e), TT_OK);
    tt_model *m = NULL;
    assert_int_equal(tt_model_create(&m, &mc, 1, &e), TT_OK);
    const size_t wbytes = tt_model_num_params(m) * sizeof(float);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 4;
    gc.n_threads = 1;
    int p[6] = {1, 2, 3, 4, 5, 6};
    tt_generation a, b;
    tt_generator *g1 = make_gen(m, &gc);
    assert_int_equal(gen1(g1, p, 6, NULL, &a), TT_OK);
    const size_t h0 = heap_bytes();
    tt_generator *g2 = make_gen(m, &gc);
    assert_int_equal(gen1(g2, p, 6, NULL, &b), TT_OK);
    const size_t h1 = heap_bytes();
    const size_t own = tt_generator_memory_bytes(g2);
    printf("medium: weights %zu bytes; second generator: %zu bytes by its count, heap +%zu\n",
           wbytes, own, h1 - h0);
    assert_true(own > 0 && own < wbytes / 10);
    if (h0 > 0) assert_true(h1 - h0 < wbytes / 10);
    assert_int_equal(a.n_tokens, b.n_tokens);
    assert_memory_equal(a.tokens, b.tokens, (size_t)a.n_tokens * sizeof(int));
    tt_generations_free(&a, 1);
    tt_generations_free(&b, 1);
    tt_generator_free(g1);
    tt_generator_free(g2);
    tt_model_free(m);
}

/* Weights changed in place are seen after tt_model_weights_changed, by a
 * generator made before the change too: its tokens are those of a fresh
 * model holding the new weights. */
static void test_weights_changed(void **state) {
    (void)state;
    tt_model *m = small_model(32), *m2 = small_model(32);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 12;
    gc.n_threads = 1;
    tt_generator *g = make_gen(m, &gc);
    int p[3] = {3, 1, 4};
    tt_generation before, after, fresh;
    assert_int_equal(gen1(g, p, 3, NULL, &before), TT_OK);
    float *w = tt_model_params_flat(m);
    for (size_t i = 0; i < tt_model_num_params(m); i++)
        w[i] *= 1.5f;
    tt_model_weights_changed(m);
    assert_int_equal(gen1(g, p, 3, NULL, &after), TT_OK);
    tt_error e;
    assert_int_equal(tt_model_copy_weights(m2, m, &e), TT_OK);
    tt_generator *g2 = make_gen(m2, &gc);
    assert_int_equal(gen1(g2, p, 3, NULL, &fresh), TT_OK);
    assert_memory_equal(after.tokens, fresh.tokens, (size_t)fresh.n_tokens * sizeof(int));
    assert_true(memcmp(after.tokens, before.tokens, (size_t)before.n_tokens * sizeof(int)) != 0);
    tt_model_weights_changed(NULL); /* NULL-safe */
    tt_generations_free(&before, 1);
    tt_generations_free(&after, 1);
    tt_generations_free(&fresh, 1);
    tt_generator_free(g);
    tt_generator_free(g2);
    tt_model_free(m);
    tt_model_free(m2);
}

/* ---- threads, memory limit, abort, growth -------------------------------------- */

static void test_set_threads(void **state) {
    (void)state;
    tt_model *m = small_model(32);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 20;
    gc.n_threads = 1;
    tt_generator *g = make_gen(m, &gc);
    int p[4] = {1, 2, 3, 4};
    tt_generation ref, o;
    assert_int_equal(gen1(g, p, 4, NULL, &ref), TT_OK);
    tt_error e;
    for (int n = 0; n <= 3; n++) {
        assert_int_equal(tt_generator_set_threads(g, n, &e), TT_OK);
        assert_int_equal(tt_generator_get_config(g)->n_threads, n);
        assert_int_equal(gen1(g, p, 4, NULL, &o), TT_OK);
        assert_memory_equal(o.tokens, ref.tokens, (size_t)ref.n_tokens * sizeof(int));
        tt_generations_free(&o, 1);
    }
    assert_int_equal(tt_generator_set_threads(g, -1, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_set_threads(g, TT_GEN_MAX_THREADS + 1, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "n_threads"));
    assert_int_equal(tt_generator_set_threads(NULL, 1, &e), TT_ERR_ARG);
    tt_generations_free(&ref, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

static void test_memory_limit(void **state) {
    (void)state;
    tt_model *m = small_model(32);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 1000;
    gc.n_threads = 1;
    tt_generator *g = make_gen(m, &gc);
    int p[2] = {5, 6};
    tt_generation o;
    tt_error e;
    const int *ps[1] = {p};
    int lens[1] = {2};
    tt_generator_set_memory_limit(g, 100000); /* under what 1000 tokens could take */
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, NULL, NULL, NULL, NULL, &o, &e),
                     TT_ERR_NOMEM);
    assert_non_null(strstr(e.msg, "bytes"));
    assert_non_null(strstr(e.msg, "memory limit"));
    assert_null(o.tokens);
    tt_generator_set_memory_limit(g, 0); /* the machine */
    assert_int_equal(gen1(g, p, 2, NULL, &o), TT_OK);
    assert_int_equal(o.n_generated, 1000);
    tt_generations_free(&o, 1);
    tt_generator_set_memory_limit(NULL, 1); /* NULL-safe */
    tt_generator_free(g);
    tt_model_free(m);
}

typedef struct {
    int calls, tokens, stop_at;
} abort_ctx;

/* Stops once stop_at tokens were streamed. */
static int abort_after(void *user) {
    abort_ctx *a = user;
    a->calls++;
    return a->tokens >= a->stop_at;
}

static int count_token(void *user, int row, int token, int step) {
    (void)row, (void)token, (void)step;
    ((abort_ctx *)user)->tokens++;
    return 0;
}

static tt_status gen_counted(tt_generator *g, const int *p, int n, const tt_generate_overrides *ov,
                             abort_ctx *a, tt_generation *o) {
    const int *ps[1] = {p};
    int lens[1] = {n};
    tt_error e;
    return tt_generator_generate(g, ps, lens, 1, ov, NULL, count_token, a, o, &e);
}

/* max_new_tokens 1e8 allocates as it goes: aborted after 40 steps, the
 * generator and the result hold a few KB, and the tokens are those of an
 * uninterrupted 40-token run. */
static void test_abort_and_growth(void **state) {
    (void)state;
    tt_model *m = small_model(32);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = 40;
    tt_generator *g = make_gen(m, &gc);
    int p[3] = {7, 8, 9};
    tt_generation ref, o;
    assert_int_equal(gen1(g, p, 3, NULL, &ref), TT_OK);
    tt_generate_overrides ov;
    memset(&ov, 0, sizeof ov);
    ov.set = TT_OVR_MAX_NEW_TOKENS;
    ov.values.max_new_tokens = 100000000;
    abort_ctx a = {0, 0, 40};
    tt_generator_set_abort_callback(g, abort_after, &a);
    const size_t h0 = heap_bytes();
    assert_int_equal(gen_counted(g, p, 3, &ov, &a, &o), TT_ERR_INTERRUPTED);
    const size_t h1 = heap_bytes();
    if (h0 > 0) assert_true(h1 < h0 + (1u << 20)); /* not 1e8 ints and doubles */
    assert_true(tt_generator_memory_bytes(g) < (4u << 20));
    assert_int_equal(o.n_generated, 40);
    assert_int_equal(o.n_tokens, ref.n_tokens);
    assert_memory_equal(o.tokens, ref.tokens, (size_t)ref.n_tokens * sizeof(int));
    const double *ent;
    int n;
    tt_error e;
    assert_int_equal(tt_generator_step_entropies(g, 0, &ent, &n, &e), TT_OK);
    assert_int_equal(n, 40);
    tt_generations_free(&o, 1);
    /* asked before the prefill too: stopping at once leaves the prompt */
    a = (abort_ctx){0, 0, 0};
    assert_int_equal(gen_counted(g, p, 3, NULL, &a, &o), TT_ERR_INTERRUPTED);
    assert_int_equal(o.n_generated, 0);
    assert_int_equal(o.n_tokens, 3);
    assert_int_equal(a.calls, 1);
    tt_generations_free(&o, 1);
    tt_generator_set_abort_callback(g, NULL, NULL);
    assert_int_equal(gen1(g, p, 3, NULL, &o), TT_OK);
    tt_generations_free(&o, 1);
    tt_generations_free(&ref, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

/* Results past the first growth (256 tokens) and the window (max_len 24,
 * exact): greedy tokens equal argmax of an independent full recompute of
 * the last 24 tokens at every step; logprobs and entropies grow alongside. */
static void test_growth_matches_recompute(void **state) {
    (void)state;
    tt_model *m = small_model(24);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.sampling.strategy = TT_STRATEGY_GREEDY;
    gc.max_new_tokens = 600;
    gc.context_shift = TT_CONTEXT_SHIFT_EXACT;
    gc.sampling.x.logprobs = 2;
    tt_generator *g = make_gen(m, &gc);
    int p[2] = {1, 2};
    tt_generation o;
    assert_int_equal(gen1(g, p, 2, NULL, &o), TT_OK);
    assert_int_equal(o.n_generated, 600);
    assert_non_null(o.logprobs);
    tt_generator_config c1 = gc;
    c1.sampling.x.logprobs = 0;
    tt_model *m2 = small_model(24);
    tt_generator *g2 = make_gen(m2, &c1);
    tt_generation r;
    tt_generate_overrides ov;
    memset(&ov, 0, sizeof ov);
    ov.set = TT_OVR_MAX_NEW_TOKENS;
    for (int t = 2; t < o.n_tokens; t += 61) { /* spot checks: a 1-token greedy call */
        ov.values.max_new_tokens = 1;
        const int from = t > 24 ? t - 24 : 0;
        assert_int_equal(gen1(g2, o.tokens + from, t - from, &ov, &r), TT_OK);
        assert_int_equal(r.tokens[t - from], o.tokens[t]);
        assert_int_equal(o.logprobs[t - 2].id, o.tokens[t]);
        tt_generations_free(&r, 1);
    }
    const double *ent;
    int n;
    tt_error e;
    assert_int_equal(tt_generator_step_entropies(g, 0, &ent, &n, &e), TT_OK);
    assert_int_equal(n, 600);
    tt_free(o.logprobs); /* tt_free frees what the library allocated */
    o.logprobs = NULL;
    tt_generations_free(&o, 1);
    tt_free(NULL);
    tt_generator_free(g);
    tt_generator_free(g2);
    tt_model_free(m);
    tt_model_free(m2);
}

/* ---- the step API ------------------------------------------------------------- */

/* The 23 letters a..w as the vocabulary (stop strings need one). */
static tt_tokenizer *letters(void) {
    uint32_t cps[23];
    for (int i = 0; i < 23; i++)
        cps[i] = (uint32_t)('a' + i);
    tt_tokenizer *tok = NULL;
    assert_int_equal(tt_tokenizer_from_codepoints(&tok, cps, 23, NULL), TT_OK);
    return tok;
}

/* Five rows with settings of their own. */
static tt_generator_config row_settings(int k) {
    tt_generator_config c = tt_generator_config_default();
    c.n_threads = 1;
    switch (k) {
    case 0: /* sampling past the window (max_len 16, half) */
        c.sampling.temperature = 0.9f, c.sampling.top_k = 5, c.seed = 1, c.max_new_tokens = 30;
        break;
    case 1: /* greedy, exact window of 8 */
        c.sampling.strategy = TT_STRATEGY_GREEDY, c.context_len = 8, c.context_shift = TT_CONTEXT_SHIFT_EXACT;
        c.max_new_tokens = 25;
        break;
    case 2: /* penalties, logprobs, stop strings */
        c.sampling.top_p = 0.8f, c.seed = 7, c.max_new_tokens = 20, c.sampling.x.logprobs = 3;
        c.sampling.x.repetition_penalty = 1.3f, c.sampling.x.presence_penalty = 0.5f;
        c.sampling.x.n_stop = 2, c.sampling.x.stop[0] = "d", c.sampling.x.stop[1] = "ef";
        break;
    case 3: /* an EOS */
        c.sampling.temperature = 1.5f, c.eos_token_id = 4, c.max_new_tokens = 40, c.seed = 3;
        break;
    default: /* no cache, min-p */
        c.use_cache = false, c.sampling.x.min_p = 0.1f, c.max_new_tokens = 18, c.seed = 11;
        break;
    }
    return c;
}

/* What tt_generator_generate gives for the prompt alone (row id rid). */
static void solo(tt_generator *g, const int *p, int n, const tt_generator_config *c, uint64_t rid,
                 tt_generation *o) {
    tt_generate_overrides ov;
    memset(&ov, 0, sizeof ov);
    ov.set = TT_OVR_MAX_NEW_TOKENS | TT_OVR_TEMPERATURE | TT_OVR_TOP_K | TT_OVR_TOP_P |
             TT_OVR_STRATEGY | TT_OVR_EOS | TT_OVR_SEED | TT_OVR_USE_CACHE | TT_OVR_CONTEXT_LEN |
             TT_OVR_CONTEXT_SHIFT | TT_OVR_CONTROLS;
    ov.values = *c;
    const int *ps[1] = {p};
    int lens[1] = {n};
    tt_error e;
    tt_status st = tt_generator_generate(g, ps, lens, 1, &ov, &rid, NULL, NULL, o, &e);
    if (st) fprintf(stderr, "solo: %s\n", e.msg);
    assert_int_equal(st, TT_OK);
}

static void assert_same(const tt_generation *a, const tt_generation *b) {
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_int_equal(a->n_generated, b->n_generated);
    assert_int_equal(a->finish, b->finish);
    assert_int_equal(a->stop_index, b->stop_index);
    assert_memory_equal(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int));
    if (a->logprobs || b->logprobs) {
        assert_non_null(a->logprobs);
        assert_non_null(b->logprobs);
        for (int i = 0; i < a->n_generated; i++) {
            assert_int_equal(a->logprobs[i].id, b->logprobs[i].id);
            assert_true(a->logprobs[i].logprob == b->logprobs[i].logprob);
        }
    }
}

/* Rows join at steps 0, 3, 7 and 12, one leaves at step 10, with settings
 * of their own: each finished row equals its solo generate call. */
static void test_rows_join_and_leave(void **state) {
    (void)state;
    tt_model *m = small_model(16);
    tt_tokenizer *tok = letters();
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    for (int nt = 1; nt <= 2; nt++) {
        gc.n_threads = nt;
        tt_generator *g = make_gen(m, &gc), *g2 = make_gen(m, &gc);
        tt_generator_set_tokenizer(g, tok);
        tt_generator_set_tokenizer(g2, tok);
        const int prompts[5][5] = {{1, 2, 3}, {4, 5}, {6, 7, 8, 9, 10}, {11}, {12, 13, 14, 15}};
        const int plen[5] = {3, 2, 5, 1, 4}, join[5] = {0, 0, 3, 7, 12};
        const uint64_t rid[5] = {0, 9, 5, 2, 77};
        tt_generator_config rc[5];
        int handle[5] = {-1, -1, -1, -1, -1};
        bool checked[5] = {false};
        tt_error e;
        tt_step_token toks[8];
        int n;
        for (int step = 0; step < 200; step++) {
            for (int k = 0; k < 5; k++)
                if (join[k] == step) {
                    rc[k] = row_settings(k);
                    assert_int_equal(tt_generator_add_row(g, prompts[k], plen[k], &rc[k], rid[k],
                                                          &handle[k], &e),
                                     TT_OK);
                }
            if (step == 10) { /* row 1 leaves mid-way: what it has is a prefix of its solo run */
                const tt_generation *res;
                assert_int_equal(tt_generator_row_result(g, handle[1], &res, &e), TT_OK);
                tt_generation ref;
                solo(g2, prompts[1], plen[1], &rc[1], rid[1], &ref);
                assert_true(res->n_generated == 10);
                assert_memory_equal(res->tokens, ref.tokens, (size_t)res->n_tokens * sizeof(int));
                tt_generations_free(&ref, 1);
                assert_int_equal(tt_generator_remove_row(g, handle[1], &e), TT_OK);
                checked[1] = true;
            }
            if (tt_generator_n_rows(g) == 0) break;
            tt_status st = tt_generator_step(g, toks, 8, &n, &e);
            if (st) fprintf(stderr, "step: %s\n", e.msg);
            assert_int_equal(st, TT_OK);
            for (int i = 0; i < n; i++) {
                if (!toks[i].finished) continue;
                int k = 0;
                while (handle[k] != toks[i].row || checked[k])
                    k++;
                const tt_generation *res;
                assert_int_equal(tt_generator_row_result(g, toks[i].row, &res, &e), TT_OK);
                tt_generation ref;
                solo(g2, prompts[k], plen[k], &rc[k], rid[k], &ref);
                assert_same(res, &ref);
                tt_generations_free(&ref, 1);
                assert_int_equal(tt_generator_remove_row(g, toks[i].row, &e), TT_OK);
                checked[k] = true;
            }
        }
        for (int k = 0; k < 5; k++)
            assert_true(checked[k]);
        assert_int_equal(tt_generator_n_rows(g), 0);
        tt_generator_free(g);
        tt_generator_free(g2);
    }
    tt_tokenizer_free(tok);
    tt_model_free(m);
}

/* Logits before the pick equal a full recompute; a set token is appended
 * without a draw; bad handles and calls are refused. */
static void test_logits_and_set_token(void **state) {
    (void)state;
    tt_model *m = small_model(32);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = 6;
    tt_generator *g = make_gen(m, &gc), *g2 = make_gen(m, &gc);
    tt_error e;
    int p[4] = {3, 4, 5, 6}, row;
    assert_int_equal(tt_generator_add_row(g, p, 4, NULL, 0, &row, &e), TT_OK);
    const float *lg;
    assert_int_equal(tt_generator_row_logits(g, row, &lg, &e), TT_ERR_STATE);
    assert_int_equal(tt_generator_eval(g, &e), TT_OK);
    assert_int_equal(tt_generator_row_logits(g, row, &lg, &e), TT_OK);
    float ref[23];
    tt_generation o;
    assert_int_equal(gen1(g2, p, 4, NULL, &o), TT_OK); /* the solo run, for the tokens */
    /* a 1-token greedy solo call per prefix gives the raw logits' argmax */
    int best = 0;
    for (int i = 1; i < 23; i++)
        best = lg[i] > lg[best] ? i : best;
    tt_generate_overrides ov;
    memset(&ov, 0, sizeof ov);
    ov.set = TT_OVR_MAX_NEW_TOKENS | TT_OVR_STRATEGY;
    ov.values.max_new_tokens = 1;
    ov.values.sampling.strategy = TT_STRATEGY_GREEDY;
    tt_generation gr;
    assert_int_equal(gen1(g2, p, 4, &ov, &gr), TT_OK);
    assert_int_equal(gr.tokens[4], best);
    tt_generations_free(&gr, 1);
    (void)ref;
    tt_step_token t[2];
    int n;
    assert_int_equal(tt_generator_step(g, t, 2, &n, &e), TT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].token, o.tokens[4]); /* drawn as the solo run */
    /* a set token, then the draws go on from the same stream: the solo
     * run's next draw is what follows a forced token */
    assert_int_equal(tt_generator_row_set_token(g, row, 22, &e), TT_OK);
    assert_int_equal(tt_generator_step(g, t, 2, &n, &e), TT_OK);
    assert_int_equal(t[0].token, 22);
    assert_int_equal(tt_generator_row_set_token(g, row, 23, &e), TT_ERR_RANGE);
    assert_int_equal(tt_generator_row_set_token(g, row + 1, 1, &e), TT_ERR_RANGE);
    assert_int_equal(tt_generator_step(g, t, 0, &n, &e), TT_ERR_ARG);
    /* generate refuses while rows are in */
    tt_generation x;
    assert_int_equal(gen1(g, p, 4, NULL, &x), TT_ERR_STATE);
    assert_int_equal(tt_generator_remove_row(g, row, &e), TT_OK);
    assert_int_equal(tt_generator_remove_row(g, row, &e), TT_ERR_RANGE);
    assert_int_equal(gen1(g, p, 4, NULL, &x), TT_OK);
    assert_same(&x, &o);
    tt_generations_free(&x, 1);
    /* bad rows */
    int bad[2] = {1, 99};
    assert_int_equal(tt_generator_add_row(g, bad, 2, NULL, 0, &row, &e), TT_ERR_RANGE);
    assert_int_equal(row, -1);
    assert_int_equal(tt_generator_add_row(g, bad, 0, NULL, 0, &row, &e), TT_ERR_ARG);
    tt_generator_config beams = gc;
    beams.sampling.strategy = TT_STRATEGY_GREEDY;
    beams.sampling.x.num_beams = 2;
    assert_int_equal(tt_generator_add_row(g, p, 4, &beams, 0, &row, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_add_row(NULL, p, 4, NULL, 0, &row, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_n_rows(NULL), 0);
    tt_generations_free(&o, 1);
    tt_generator_free(g);
    tt_generator_free(g2);
    tt_model_free(m);
}

/* The abort callback stops a step before anything is appended; the next
 * steps go on as if it had not been asked. */
static int abort_always(void *user) {
    (void)user;
    return 1;
}

static void test_step_abort(void **state) {
    (void)state;
    tt_model *m = small_model(32);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = 12;
    tt_generator *g = make_gen(m, &gc), *g2 = make_gen(m, &gc);
    tt_error e;
    int p[3] = {2, 9, 4}, row;
    tt_generation o;
    assert_int_equal(gen1(g2, p, 3, NULL, &o), TT_OK);
    assert_int_equal(tt_generator_add_row(g, p, 3, NULL, 0, &row, &e), TT_OK);
    tt_step_token t[1];
    int n;
    for (int s = 0; s < 12; s++) {
        if (s == 0 || s == 5) {
            tt_generator_set_abort_callback(g, abort_always, NULL);
            assert_int_equal(tt_generator_step(g, t, 1, &n, &e), TT_ERR_INTERRUPTED);
            assert_int_equal(n, 0);
            tt_generator_set_abort_callback(g, NULL, NULL);
        }
        assert_int_equal(tt_generator_step(g, t, 1, &n, &e), TT_OK);
        assert_int_equal(n, 1);
    }
    const tt_generation *res;
    assert_int_equal(tt_generator_row_result(g, row, &res, &e), TT_OK);
    assert_same(res, &o);
    tt_generations_free(&o, 1);
    /* beam search stops too */
    tt_generate_overrides ov;
    memset(&ov, 0, sizeof ov);
    ov.set = TT_OVR_STRATEGY | TT_OVR_CONTROLS;
    ov.values.sampling.strategy = TT_STRATEGY_GREEDY;
    ov.values.sampling.x = tt_sampling_controls_default();
    ov.values.sampling.x.num_beams = 2;
    tt_generation beams[1];
    tt_generator_set_abort_callback(g2, abort_always, NULL);
    assert_int_equal(tt_generator_beam_search(g2, p, 3, &ov, beams, &e), TT_ERR_INTERRUPTED);
    tt_generator_set_abort_callback(g2, NULL, NULL);
    assert_int_equal(tt_generator_beam_search(g2, p, 3, &ov, beams, &e), TT_OK);
    tt_generations_free(beams, 1);
    tt_generator_free(g);
    tt_generator_free(g2);
    tt_model_free(m);
}

/* ---- KV state ------------------------------------------------------------------ */

/* A row saved after k steps and restored (into another generator, and
 * into the same one) makes the tokens of the uninterrupted run, past a
 * window restart too; a saved prefix with a suffix appended makes those of
 * the whole prompt. */
static void test_state_round_trip(void **state) {
    (void)state;
    tt_model *m = small_model(16);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = 30;
    gc.sampling.temperature = 0.8f;
    gc.sampling.x.logprobs = 2;
    tt_generator *g = make_gen(m, &gc), *g2 = make_gen(m, &gc), *g3 = make_gen(m, &gc);
    tt_error e;
    int p[5] = {1, 5, 9, 13, 17};
    tt_generation ref;
    uint64_t rid = 4;
    solo(g3, p, 5, &gc, rid, &ref);
    for (int k = 0; k <= 20; k += 4) { /* saved after k steps (windows slide at 11) */
        int row;
        assert_int_equal(tt_generator_add_row(g, p, 5, NULL, rid, &row, &e), TT_OK);
        tt_step_token t[4];
        int n;
        for (int s = 0; s < k; s++)
            assert_int_equal(tt_generator_step(g, t, 4, &n, &e), TT_OK);
        if (k % 8 == 4) assert_int_equal(tt_generator_eval(g, &e), TT_OK); /* with logits */
        void *buf;
        size_t size;
        assert_int_equal(tt_generator_row_state_save(g, row, &buf, &size, &e), TT_OK);
        assert_int_equal(tt_generator_remove_row(g, row, &e), TT_OK);
        tt_generator *into = k % 8 == 0 ? g2 : g;
        int r2;
        tt_status st = tt_generator_row_state_load(into, buf, size, NULL, &r2, &e);
        if (st) fprintf(stderr, "load: %s\n", e.msg);
        assert_int_equal(st, TT_OK);
        /* a damaged state is refused */
        int bad;
        assert_int_equal(tt_generator_row_state_load(into, buf, size - 1, NULL, &bad, &e),
                         TT_ERR_FORMAT);
        ((unsigned char *)buf)[0] ^= 1;
        assert_int_equal(tt_generator_row_state_load(into, buf, size, NULL, &bad, &e),
                         TT_ERR_FORMAT);
        assert_int_equal(bad, -1);
        tt_free(buf);
        for (int s = k; s < 30; s++)
            assert_int_equal(tt_generator_step(into, t, 4, &n, &e), TT_OK);
        const tt_generation *res;
        assert_int_equal(tt_generator_row_result(into, r2, &res, &e), TT_OK);
        assert_same(res, &ref);
        assert_int_equal(tt_generator_remove_row(into, r2, &e), TT_OK);
    }
    /* a prefix reused: prompt p prefilled and saved, then each of two rows
     * appends its own suffix = a fresh row of the whole prompt */
    int row;
    tt_generator_config c0 = gc;
    c0.sampling.x.logprobs = 0;
    assert_int_equal(tt_generator_add_row(g, p, 5, &c0, rid, &row, &e), TT_OK);
    assert_int_equal(tt_generator_eval(g, &e), TT_OK);
    void *buf;
    size_t size;
    assert_int_equal(tt_generator_row_state_save(g, row, &buf, &size, &e), TT_OK);
    assert_int_equal(tt_generator_remove_row(g, row, &e), TT_OK);
    const int suf[2][3] = {{2, 2, 3}, {7, 1, 0}};
    for (int k = 0; k < 2; k++) {
        int r2;
        assert_int_equal(tt_generator_row_state_load(g, buf, size, &c0, &r2, &e), TT_OK);
        assert_int_equal(tt_generator_row_append(g, r2, suf[k], 3, &e), TT_OK);
        tt_step_token t[4];
        int n;
        for (int s = 0; s < 30; s++)
            assert_int_equal(tt_generator_step(g, t, 4, &n, &e), TT_OK);
        int whole[8];
        memcpy(whole, p, sizeof p);
        memcpy(whole + 5, suf[k], sizeof suf[k]);
        tt_generation r;
        solo(g3, whole, 8, &c0, rid, &r);
        const tt_generation *res;
        assert_int_equal(tt_generator_row_result(g, r2, &res, &e), TT_OK);
        assert_same(res, &r);
        tt_generations_free(&r, 1);
        assert_int_equal(tt_generator_remove_row(g, r2, &e), TT_OK);
    }
    tt_free(buf);
    /* a model of another shape refuses the state */
    tt_model *m2 = small_model(32);
    tt_generator *g4 = make_gen(m2, &gc);
    assert_int_equal(tt_generator_add_row(g, p, 5, NULL, rid, &row, &e), TT_OK);
    assert_int_equal(tt_generator_row_state_save(g, row, &buf, &size, &e), TT_OK);
    int r4;
    assert_int_equal(tt_generator_row_state_load(g4, buf, size, NULL, &r4, &e), TT_ERR_FORMAT);
    tt_free(buf);
    tt_generations_free(&ref, 1);
    tt_generator_free(g);
    tt_generator_free(g2);
    tt_generator_free(g3);
    tt_generator_free(g4);
    tt_model_free(m);
    tt_model_free(m2);
}

/* A state saved after any step loads back, also once the window is full
 * (a full row holds W + 1 tokens until the next eval slides it): save and
 * load after every step of 30 with context_len 16, half and exact shift,
 * gives the tokens of the uninterrupted run. */
static void test_state_full_window(void **state) {
    (void)state;
    tt_model *m = small_model(64);
    tt_error e;
    for (int shift = 0; shift < 2; shift++) {
        tt_generator_config gc = tt_generator_config_default();
        gc.n_threads = 1;
        gc.max_new_tokens = 30;
        gc.context_len = 16;
        gc.context_shift = shift ? TT_CONTEXT_SHIFT_EXACT : TT_CONTEXT_SHIFT_HALF;
        tt_generator *g = make_gen(m, &gc);
        int p[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        tt_generation ref;
        assert_int_equal(gen1(g, p, 10, NULL, &ref), TT_OK);
        int row;
        assert_int_equal(tt_generator_add_row(g, p, 10, NULL, 0, &row, &e), TT_OK);
        for (int k = 0; k < 30; k++) {
            tt_step_token t[4];
            int n;
            assert_int_equal(tt_generator_step(g, t, 4, &n, &e), TT_OK);
            assert_int_equal(n, 1);
            void *buf;
            size_t size;
            assert_int_equal(tt_generator_row_state_save(g, row, &buf, &size, &e), TT_OK);
            int r2;
            tt_status st = tt_generator_row_state_load(g, buf, size, NULL, &r2, &e);
            if (st) fprintf(stderr, "step %d: load: %s\n", k, e.msg);
            assert_int_equal(st, TT_OK);
            tt_free(buf);
            assert_int_equal(tt_generator_remove_row(g, row, &e), TT_OK);
            row = r2;
        }
        const tt_generation *res;
        assert_int_equal(tt_generator_row_result(g, row, &res, &e), TT_OK);
        assert_int_equal(res->n_tokens, ref.n_tokens);
        assert_memory_equal(res->tokens, ref.tokens, (size_t)ref.n_tokens * sizeof(int));
        tt_generations_free(&ref, 1);
        tt_generator_free(g);
    }
    tt_model_free(m);
}

/* The state's header, as src/gen_step.c writes it. */
typedef struct {
    uint32_t magic, version;
    int32_t V, C, L, NH, Tmax, hs;
    int32_t n_tokens, n_prompt, n_generated, wstart, npos, finished, finish, stop_index;
    int32_t n_logprobs;
    uint64_t rng[4];
} state_hdr;

/* A state whose counters the library would not write is refused: npos
 * covering the whole window (its logits were never computed) and
 * stop_index out of range or set without a stop. */
static void test_state_bad_counters(void **state) {
    (void)state;
    tt_model *m = small_model(64);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = 5;
    tt_generator *g = make_gen(m, &gc);
    tt_error e;
    int p[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, row;
    assert_int_equal(tt_generator_add_row(g, p, 10, NULL, 0, &row, &e), TT_OK);
    assert_int_equal(tt_generator_eval(g, &e), TT_OK);
    void *buf;
    size_t size;
    assert_int_equal(tt_generator_row_state_save(g, row, &buf, &size, &e), TT_OK);
    state_hdr h0;
    memcpy(&h0, buf, sizeof h0);
    assert_int_equal(h0.npos, 9);
    const size_t per = (size_t)h0.L * h0.NH * 2 * (size_t)h0.hs * sizeof(float);
    unsigned char *b = calloc(1, size + per);
    assert_non_null(b);
    for (int k = 0; k < 5; k++) {
        state_hdr h = h0;
        size_t sz = size;
        switch (k) {
        case 0: h.npos++, sz += per; break; /* the whole window cached */
        case 1: h.finish = TT_FINISH_STOP, h.stop_index = 1000000; break;
        case 2: h.finish = TT_FINISH_STOP, h.stop_index = -1; break;
        case 3: h.stop_index = 0; break; /* a stop index without a stop */
        default: h.finish = TT_FINISH_STOP, h.stop_index = 7; break; /* sound */
        }
        memset(b, 0, size + per);
        memcpy(b, buf, size);
        memcpy(b, &h, sizeof h);
        int r2;
        tt_status st = tt_generator_row_state_load(g, b, sz, NULL, &r2, &e);
        assert_int_equal(st, k < 4 ? TT_ERR_FORMAT : TT_OK);
        if (k < 4) assert_int_equal(r2, -1);
        else assert_int_equal(tt_generator_remove_row(g, r2, &e), TT_OK);
    }
    free(b);
    tt_free(buf);
    tt_generator_free(g);
    tt_model_free(m);
}

/* The memory limit holds with step-API rows: eval reserves KV for every
 * slot of the grown row table at the largest window of any row, and
 * add_row checks that. */
static void test_rows_memory_limit(void **state) {
    (void)state;
    tt_model *m = small_model(512);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = 4;
    gc.context_len = 512;
    tt_generator *g = make_gen(m, &gc);
    tt_generator_config small = gc;
    small.context_len = 8;
    tt_error e;
    const size_t lim = (size_t)2 << 20;
    tt_generator_set_memory_limit(g, lim);
    int p[4] = {1, 2, 3, 4}, r, added = 0;
    for (int i = 0; i < 4; i++)
        if (!tt_generator_add_row(g, p, 4, &small, (uint64_t)i, &r, &e)) added++;
    assert_int_equal(added, 4);
    /* a fifth row of 512 positions grows the table to 8 slots of 512 */
    assert_int_equal(tt_generator_add_row(g, p, 4, NULL, 9, &r, &e), TT_ERR_NOMEM);
    assert_int_equal(tt_generator_eval(g, &e), TT_OK);
    assert_true(tt_generator_memory_bytes(g) <= lim);
    tt_generator_free(g);
    tt_model_free(m);
}

/* NULL arguments: an error, never a crash. */
static void test_null_arguments(void **state) {
    (void)state;
    tt_error e;
    int row = 0, n = 0, tok = 1;
    const float *lg;
    const tt_generation *res;
    void *buf;
    size_t size;
    tt_step_token t[1];
    assert_int_equal(tt_generator_remove_row(NULL, 0, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_append(NULL, 0, &tok, 1, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_eval(NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_logits(NULL, 0, &lg, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_set_token(NULL, 0, 1, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_step(NULL, t, 1, &n, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_result(NULL, 0, &res, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_state_save(NULL, 0, &buf, &size, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_state_load(NULL, &tok, 4, NULL, &row, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_memory_bytes(NULL), 0);
    tt_generator_set_abort_callback(NULL, NULL, NULL);
    tt_model *m = small_model(16);
    tt_generator *g = make_gen(m, NULL);
    assert_int_equal(tt_generator_step(g, NULL, 1, &n, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_step(g, t, 1, NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_step(g, t, 1, &n, &e), TT_OK); /* no rows: nothing */
    assert_int_equal(n, 0);
    assert_int_equal(tt_generator_row_logits(g, 0, NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_logits(g, 0, &lg, &e), TT_ERR_RANGE);
    assert_int_equal(tt_generator_row_result(g, 0, NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_state_save(g, 0, NULL, &size, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_state_save(g, 0, &buf, &size, &e), TT_ERR_RANGE);
    assert_int_equal(tt_generator_row_state_load(g, NULL, 4, NULL, &row, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_state_load(g, &tok, sizeof tok, NULL, &row, &e),
                     TT_ERR_FORMAT);
    assert_int_equal(tt_generator_add_row(g, &tok, 1, NULL, 0, NULL, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_add_row(g, NULL, 1, NULL, 0, &row, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_add_row(g, &tok, 1, NULL, 0, &row, &e), TT_OK);
    assert_int_equal(tt_generator_row_append(g, row, NULL, 1, &e), TT_ERR_ARG);
    assert_int_equal(tt_generator_row_append(g, row, &tok, 0, &e), TT_ERR_ARG);
    tt_generator_free(g);
    tt_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_generator_shares_weights),
        cmocka_unit_test(test_weights_changed),
        cmocka_unit_test(test_set_threads),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_abort_and_growth),
        cmocka_unit_test(test_growth_matches_recompute),
        cmocka_unit_test(test_rows_join_and_leave),
        cmocka_unit_test(test_logits_and_set_token),
        cmocka_unit_test(test_step_abort),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_full_window),
        cmocka_unit_test(test_state_bad_counters),
        cmocka_unit_test(test_rows_memory_limit),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
