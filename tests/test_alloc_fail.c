/*
 * Allocation-failure injection: every library entry point that allocates is
 * run with its n-th allocation failing, for n = 1, 2, ... until a run makes no
 * more allocations than n - 1 (every allocation site has then failed once).
 * Each failing run must return TT_ERR_NOMEM (TT_ERR_FORMAT is also accepted
 * where a JSON parser reports its own out-of-memory as a parse failure), hand
 * nothing out (outputs stay NULL) and free everything it allocated.
 *
 * How: this program is linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc,--wrap=free (mk/robust.mk), so every call from libtt.a and
 * from this file goes through the __wrap_ functions below; cJSON's
 * allocations are routed there too (cJSON_InitHooks). Live blocks are kept in
 * a hash set, so a leak on an error path is caught here in the plain build,
 * not only by LeakSanitizer in the sanitizer build (where __real_malloc is
 * ASan's malloc, and the wrapping works the same).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"
#include "tt/train.h"
#include "util.h"

/* ---- the wrapped allocator ------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long g_fail_at; /* 0: never fail; else fail the g_fail_at-th allocation */
static long g_count;   /* allocations since the counter was reset */
static int g_failed;   /* the injected failure happened */

#define SET_CAP (1u << 18)
static void *g_live[SET_CAP]; /* open addressing; (void *)1 marks a deleted slot */
static long g_n_live;

static size_t slot_of(const void *p) {
    uintptr_t h = (uintptr_t)p;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (SET_CAP - 1);
}

static void live_add(void *p) {
    if (!p) return;
    size_t i = slot_of(p);
    while (g_live[i] && g_live[i] != (void *)1) i = (i + 1) & (SET_CAP - 1);
    g_live[i] = p;
    g_n_live++;
}

static int live_del(void *p) {
    size_t i = slot_of(p);
    while (g_live[i]) {
        if (g_live[i] == p) {
            g_live[i] = (void *)1;
            g_n_live--;
            return 1;
        }
        i = (i + 1) & (SET_CAP - 1);
    }
    return 0; /* allocated outside the wrapped code (a shared library) */
}

static int inject(void) {
    g_count++;
    if (g_fail_at && g_count == g_fail_at) {
        g_failed = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) {
    if (inject()) return NULL;
    void *p = __real_malloc(n);
    live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size) {
    if (inject()) return NULL;
    void *p = __real_calloc(n, size);
    live_add(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    if (inject()) return NULL;
    void *q = __real_realloc(p, n);
    if (q || n == 0) {
        if (p) live_del(p);
        live_add(q);
    }
    return q;
}

void __wrap_free(void *p) {
    if (p) live_del(p);
    __real_free(p);
}

static void *hook_malloc(size_t n) { return __wrap_malloc(n); }
static void hook_free(void *p) { __wrap_free(p); }

/* ---- the driver ---------------------------------------------------------------- */

/* One run of an entry point. Returns its status; on TT_OK it must also have
 * freed what it made (the driver checks the live count either way). */
typedef tt_status (*op_fn)(void *ctx);

typedef struct {
    long sites;    /* allocations of a clean run */
    long failures; /* runs that failed cleanly */
} drive_result;

static int g_accept_format;

static drive_result drive(const char *name, op_fn op, void *ctx) {
    drive_result r = {0, 0};
    /* a clean run first: it must succeed and free everything */
    long live0 = g_n_live;
    g_fail_at = 0;
    g_count = 0;
    tt_status s = op(ctx);
    if (s != TT_OK) fprintf(stderr, "%s: the run without failures returned %s\n", name, tt_status_str(s));
    assert_int_equal(s, TT_OK);
    r.sites = g_count;
    assert_int_equal(g_n_live, live0);
    for (long n = 1; n <= r.sites; n++) {
        g_fail_at = n;
        g_count = 0;
        g_failed = 0;
        s = op(ctx);
        g_fail_at = 0;
        int ok = 1;
        if (g_failed) {
            /* TT_OK after a failed allocation is allowed only if the code
             * had a real fallback; everything else must be NOMEM */
            ok = s == TT_OK || s == TT_ERR_NOMEM || (g_accept_format && s == TT_ERR_FORMAT);
            if (s != TT_OK) r.failures++;
        }
        if (!ok)
            fprintf(stderr, "%s: allocation %ld of %ld failed -> %s (expected out of memory)\n", name, n, r.sites,
                    tt_status_str(s));
        if (g_n_live != live0)
            fprintf(stderr, "%s: allocation %ld of %ld failed -> %ld block(s) leaked\n", name, n, r.sites,
                    g_n_live - live0);
        assert_true(ok);
        assert_int_equal(g_n_live, live0);
    }
    fprintf(stderr, "%s: %ld allocation sites, each failed once: clean\n", name, r.sites);
    return r;
}

/* ---- entry points ------------------------------------------------------------- */

static const char *TEXT = "hello world this is a test of the text generation system. caf\xc3\xa9 \xe2\x82\xac";

static tt_status op_tokenizer(void *ctx) {
    (void)ctx;
    tt_tokenizer *t = NULL, *u = NULL;
    int *ids = NULL;
    size_t n = 0;
    char *back = NULL, *json = NULL;
    tt_error err;
    tt_status s = tt_tokenizer_fit(&t, TEXT, strlen(TEXT), &err);
    if (s != TT_OK) {
        assert_null(t);
        return s;
    }
    if ((s = tt_tokenizer_encode(t, TEXT, strlen(TEXT), &ids, &n, &err)) != TT_OK) {
        assert_null(ids);
        goto done;
    }
    if ((s = tt_tokenizer_decode(t, ids, n, &back, &err)) != TT_OK) {
        assert_null(back);
        goto done;
    }
    assert_string_equal(back, TEXT);
    if ((s = tt_tokenizer_to_json(t, &json, &err)) != TT_OK) {
        assert_null(json);
        goto done;
    }
    if ((s = tt_tokenizer_from_json(&u, json, &err)) != TT_OK) {
        assert_null(u);
        goto done;
    }
    assert_int_equal(tt_tokenizer_vocab_size(u), tt_tokenizer_vocab_size(t));
done:
    tt_tokenizer_free(u);
    free(json);
    free(back);
    free(ids);
    tt_tokenizer_free(t);
    return s;
}

static tt_status op_sampler(void *ctx) {
    (void)ctx;
    tt_error err;
    float *values = NULL;
    int rows = 0, V = 0;
    const char *txt = "1.5,2.8,2.5,0.5,1.0,0.8,0.3,0.2\n1 2 3 4 5 6 7 8\n";
    tt_status s = tt_logits_parse(txt, strlen(txt), &values, &rows, &V, &err);
    if (s != TT_OK) {
        assert_null(values);
        return s;
    }
    tt_sampler *smp = NULL;
    s = tt_sampler_create(&smp, V, &err);
    if (s != TT_OK) {
        assert_null(smp);
        free(values);
        return s;
    }
    tt_sampling_params p = tt_sampling_params_default();
    p.strategy = TT_STRATEGY_COMBINED;
    p.top_k = 4;
    p.top_p = 0.9f;
    tt_rng rng;
    tt_rng_seed(&rng, 1);
    int tok = -1;
    s = tt_sampler_sample(smp, &p, values, &rng, &tok, &err);
    if (s == TT_OK) assert_true(tok >= 0 && tok < V);
    int out[2 * 4];
    if (s == TT_OK) s = tt_sample_batch(&p, values, rows, V, 4, 7, out, &err);
    tt_sampler_free(smp);
    free(values);
    return s;
}

static tt_model_config tiny_cfg(int V) {
    tt_model_config cfg;
    tt_error err;
    assert_int_equal(tt_model_config_preset("tiny", V, &cfg, &err), TT_OK);
    cfg.d_model = 16;
    cfg.n_heads = 2;
    cfg.n_layers = 2;
    cfg.d_ff = 32;
    cfg.max_len = 16;
    cfg.dropout = 0.1f;
    return cfg;
}

static tt_status op_model(void *ctx) {
    (void)ctx;
    tt_model_config cfg = tiny_cfg(11);
    tt_model *m = NULL;
    tt_error err;
    tt_status s = tt_model_create(&m, &cfg, 3, &err);
    if (s != TT_OK) {
        assert_null(m);
        return s;
    }
    int tokens[2 * 5] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, targets[2 * 5] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    tt_rng rng;
    tt_rng_seed(&rng, 9);
    float loss = 0;
    s = tt_model_forward(m, tokens, targets, 2, 5, TT_MODE_TRAIN, &rng, &loss, &err);
    if (s == TT_OK) {
        tt_model_zero_grad(m);
        s = tt_model_backward(m, &err);
    }
    tt_model_free(m);
    return s;
}

static char g_ckpt[600];
static char *g_dir;

static tt_status op_checkpoint_load(void *ctx) {
    (void)ctx;
    tt_model *m = NULL;
    tt_tokenizer *tok = NULL;
    tt_error err;
    tt_status s = tt_checkpoint_load(g_ckpt, &m, &tok, &err);
    if (s != TT_OK) {
        assert_null(m);
        assert_null(tok);
        return s;
    }
    tt_model_config cfg;
    tt_tokenizer *tok2 = NULL;
    s = tt_checkpoint_read_config(g_ckpt, &cfg, &tok2, &err);
    if (s != TT_OK) assert_null(tok2);
    tt_tokenizer_free(tok2);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    return s;
}

typedef struct {
    tt_model *m;
    tt_tokenizer *tok;
} model_ctx;

static tt_status op_checkpoint_save(void *ctx) {
    model_ctx *c = ctx;
    char path[700];
    snprintf(path, sizeof path, "%s/save.safetensors", g_dir);
    unlink(path);
    tt_error err;
    tt_status s = tt_checkpoint_save(path, c->m, c->tok, &err);
    struct stat st;
    if (s != TT_OK) assert_int_not_equal(stat(path, &st), 0); /* no partial file */
    return s;
}

static tt_status op_generate(void *ctx) {
    model_ctx *c = ctx;
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 6;
    gc.sampling.top_k = 5;
    gc.sampling.top_p = 0.9f;
    tt_generator *g = NULL;
    tt_error err;
    tt_status s = tt_generator_create(&g, c->m, &gc, &err);
    if (s != TT_OK) {
        assert_null(g);
        return s;
    }
    int p0[3] = {1, 2, 3}, p1[1] = {4};
    const int *prompts[2] = {p0, p1};
    int lens[2] = {3, 1};
    tt_generation out[2];
    memset(out, 0, sizeof out);
    s = tt_generator_generate(g, prompts, lens, 2, NULL, NULL, NULL, NULL, out, &err);
    if (s == TT_OK) {
        assert_int_equal(out[0].n_tokens, 3 + 6);
        tt_generations_free(out, 2);
    } else {
        assert_null(out[0].tokens);
        assert_null(out[1].tokens);
    }
    if (s == TT_OK) {
        /* the no-cache path allocates differently */
        tt_generate_overrides o;
        memset(&o, 0, sizeof o);
        o.set = TT_OVR_USE_CACHE;
        o.values = gc;
        o.values.use_cache = false;
        memset(out, 0, sizeof out);
        s = tt_generator_generate(g, prompts, lens, 2, &o, NULL, NULL, NULL, out, &err);
        if (s == TT_OK) tt_generations_free(out, 2);
    }
    tt_generator_free(g);
    /* the model keeps the packed weights its generators share until its
     * weights change or it is freed: drop them, so the run frees all it made */
    tt_model_weights_changed(c->m);
    return s;
}

/* The step API: two rows, steps, a state saved and loaded into a row. */
static tt_status op_step(void *ctx) {
    model_ctx *c = ctx;
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 4;
    gc.sampling.x.logprobs = 2;
    tt_generator *g = NULL;
    tt_error err;
    tt_status s = tt_generator_create(&g, c->m, &gc, &err);
    if (s != TT_OK) return s;
    int p0[3] = {1, 2, 3}, p1[1] = {4}, r0 = -1, r1 = -1, r2 = -1, n;
    tt_step_token t[3];
    void *buf = NULL;
    size_t size = 0;
    if ((s = tt_generator_add_row(g, p0, 3, NULL, 0, &r0, &err)) == TT_OK &&
        (s = tt_generator_step(g, t, 3, &n, &err)) == TT_OK &&
        (s = tt_generator_add_row(g, p1, 1, NULL, 1, &r1, &err)) == TT_OK &&
        (s = tt_generator_step(g, t, 3, &n, &err)) == TT_OK &&
        (s = tt_generator_row_state_save(g, r0, &buf, &size, &err)) == TT_OK &&
        (s = tt_generator_row_state_load(g, buf, size, NULL, &r2, &err)) == TT_OK &&
        (s = tt_generator_row_append(g, r1, p0, 3, &err)) == TT_OK)
        s = tt_generator_step(g, t, 3, &n, &err);
    tt_free(buf);
    tt_generator_free(g);
    tt_model_weights_changed(c->m);
    return s;
}

static tt_status op_train(void *ctx) {
    model_ctx *c = ctx;
    tt_model_config cfg = *tt_model_get_config(c->m);
    tt_model *m = NULL;
    tt_error err;
    tt_status s = tt_model_create(&m, &cfg, 5, &err);
    if (s != TT_OK) return s;
    static int ids[200];
    int V = cfg.vocab_size;
    for (int i = 0; i < 200; i++) ids[i] = (i * 7 + i / 3) % V;
    tt_train_config tc = tt_train_config_default();
    tc.seq_len = 8;
    tc.batch_size = 2;
    tc.max_steps = 2;
    tc.warmup_steps = 1;
    tc.eval_interval = 0;
    tc.eval_batches = 1;
    tc.log_interval = 1;
    tt_train_result res;
    s = tt_train(m, c->tok, ids, 160, ids + 160, 40, &tc, NULL, NULL, &res, &err);
    tt_model_free(m);
    return s;
}

/* ---- tests ------------------------------------------------------------------------ */

static model_ctx g_mc;

static int setup_all(void **state) {
    (void)state;
    cJSON_Hooks hooks = {hook_malloc, hook_free};
    cJSON_InitHooks(&hooks);
    g_dir = tt_test_tmpdir();
    if (!g_dir) return -1;
    snprintf(g_ckpt, sizeof g_ckpt, "%s/m.safetensors", g_dir);
    tt_error err;
    if (tt_tokenizer_fit(&g_mc.tok, TEXT, strlen(TEXT), &err) != TT_OK) return -1;
    tt_model_config cfg = tiny_cfg(tt_tokenizer_vocab_size(g_mc.tok));
    if (tt_model_create(&g_mc.m, &cfg, 1, &err) != TT_OK) return -1;
    if (tt_checkpoint_save(g_ckpt, g_mc.m, g_mc.tok, &err) != TT_OK) return -1;
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    tt_model_free(g_mc.m);
    tt_tokenizer_free(g_mc.tok);
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static void test_tokenizer(void **state) {
    (void)state;
    g_accept_format = 1; /* from_json parses with cJSON */
    drive_result r = drive("tokenizer fit/encode/decode/json", op_tokenizer, NULL);
    g_accept_format = 0;
    assert_true(r.sites >= 4);
}

static void test_sampler(void **state) {
    (void)state;
    drive_result r = drive("logits parse + sampler create/sample + batch", op_sampler, NULL);
    assert_true(r.sites >= 2);
}

static void test_model(void **state) {
    (void)state;
    drive_result r = drive("model create/forward/backward", op_model, NULL);
    assert_true(r.sites >= 1);
}

static void test_checkpoint(void **state) {
    (void)state;
    g_accept_format = 1; /* the header is parsed with cJSON */
    drive_result r = drive("checkpoint load/read_config", op_checkpoint_load, NULL);
    g_accept_format = 0;
    assert_true(r.sites >= 2);
    r = drive("checkpoint save", op_checkpoint_save, &g_mc);
    assert_true(r.sites >= 1);
}

static void test_generator(void **state) {
    (void)state;
    drive_result r = drive("generator create/generate (cache and no cache)", op_generate, &g_mc);
    assert_true(r.sites >= 2);
    r = drive("generator step API and KV state", op_step, &g_mc);
    assert_true(r.sites >= 2);
}

static void test_train(void **state) {
    (void)state;
    drive_result r = drive("train (2 steps, no checkpoint)", op_train, &g_mc);
    assert_true(r.sites >= 2);
}

/* The wrapping is live: a failed allocation is seen by the library. */
static void test_wrap_is_active(void **state) {
    (void)state;
    g_fail_at = 1;
    g_count = 0;
    g_failed = 0;
    tt_sampler *s = NULL;
    tt_error err;
    tt_status st = tt_sampler_create(&s, 10, &err);
    g_fail_at = 0;
    assert_true(g_failed);
    assert_int_equal(st, TT_ERR_NOMEM);
    assert_null(s);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    setenv("OMP_NUM_THREADS", "1", 1); /* auto threads: one (the allocation counter is not thread-safe) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_is_active), cmocka_unit_test(test_tokenizer), cmocka_unit_test(test_sampler),
        cmocka_unit_test(test_model),          cmocka_unit_test(test_checkpoint), cmocka_unit_test(test_generator),
        cmocka_unit_test(test_train),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
