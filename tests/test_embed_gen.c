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

#include "tt/generate.h"
#include "tt/model.h"
#include "tt/tokenizer.h"

/* A small random model: V 23, C 32, NH 4, L 2, F 64, max_len ml. */
static tt_model *small_model(int max_len) {
    tt_model_config c = {23, 32, 4, 2, 64, max_len, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &c, 7, &e), TT_OK);
    return m;
}

static tt_generator *make_gen(const tt_model *m, const tt_generator_config *gc) {
    tt_generator *g = NULL;
    tt_error e;
    tt_status st = tt_generator_create(&g, m, gc, &e);
    if (st) fprintf(stderr, "create: %s\n", e.msg);
    assert_int_equal(st, TT_OK);
    return g;
}

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
    for (size_t i = 0; i < tt_model_num_params(m); i++) w[i] *= 1.5f;
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
    gc.do_sample = false;
    gc.max_new_tokens = 600;
    gc.context_shift = TT_CONTEXT_SHIFT_EXACT;
    gc.controls.logprobs = 2;
    tt_generator *g = make_gen(m, &gc);
    int p[2] = {1, 2};
    tt_generation o;
    assert_int_equal(gen1(g, p, 2, NULL, &o), TT_OK);
    assert_int_equal(o.n_generated, 600);
    assert_non_null(o.logprobs);
    tt_generator_config c1 = gc;
    c1.controls.logprobs = 0;
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_generator_shares_weights),
        cmocka_unit_test(test_weights_changed),
        cmocka_unit_test(test_set_threads),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_abort_and_growth),
        cmocka_unit_test(test_growth_matches_recompute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
