/* Every public entry point of every header with NULL and degenerate
 * arguments: no crash, and the documented status code (with a message that
 * names the argument) or the documented 0 / NULL / no-op. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tt/checkpoint.h"
#include "tt/common.h"
#include "tt/data.h"
#include "tt/diversity.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/optim.h"
#include "tt/rng.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"
#include "tt/train.h"
#include "common_internal.h"
#include "sampling_internal.h"
#include "util.h"

/* Checks a status, the code stored in err and, when needle is non-NULL, that
 * the message names it. */
static void check(tt_status got, const tt_error *e, tt_status want, const char *needle,
                  const char *what, int line) {
    if (got != want || e->code != want || (needle && !strstr(e->msg, needle)))
        fail_msg("line %d: %s -> %s (\"%s\"), want %s with \"%s\"", line, what, tt_status_str(got),
                 e->msg, tt_status_str(want), needle ? needle : "");
    assert_true(strlen(e->msg) > 0);
}

#define EXPECT(call, want, needle)                                                                 \
    do {                                                                                           \
        tt_error e_;                                                                               \
        memset(&e_, 0, sizeof e_);                                                                 \
        tt_status s_ = call(&e_);                                                                  \
        check(s_, &e_, (want), (needle), #call, __LINE__);                                         \
        /* and the same call without an error object */                                           \
        assert_int_equal(call(NULL), (want));                                                      \
    } while (0)

/* ---- a tiny model shared by the model / generate / train / checkpoint tests */

static tt_model_config tiny_cfg(void) {
    tt_model_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 5;
    c.d_model = 8;
    c.n_heads = 2;
    c.n_layers = 1;
    c.d_ff = 16;
    c.max_len = 8;
    c.dropout = 0.0f;
    c.positional = TT_POS_SINUSOIDAL;
    c.tie_weights = true;
    return c;
}

/* ---- common.h --------------------------------------------------------------- */

static void test_common(void **state) {
    (void)state;
    assert_non_null(tt_status_str((tt_status)-1));
    assert_non_null(tt_status_str(TT_STATUS_COUNT_));
    assert_int_equal(tt_error_set(NULL, TT_ERR_ARG, "x %d", 1), TT_ERR_ARG);
    tt_error_clear(NULL);
    tt_error e;
    assert_int_equal(tt_error_set(&e, TT_ERR_IO, "%s", ""), TT_ERR_IO);
    assert_int_equal(e.code, TT_ERR_IO);
}

/* ---- rng.h ------------------------------------------------------------------- */

static void test_rng(void **state) {
    (void)state;
    tt_rng_seed(NULL, 1);
    tt_rng_seed_stream(NULL, 1, 2);
    assert_true(tt_rng_u64(NULL) == 0);
    assert_true(tt_rng_u32(NULL) == 0);
    assert_true(tt_rng_uniform(NULL) == 0.0);
    assert_true(tt_rng_uniform_f32(NULL) == 0.0f);
    assert_true(tt_rng_below(NULL, 10) == 0);
    assert_true(tt_rng_normal(NULL) == 0.0);

    /* n == 0 used to raise SIGFPE ((0 - n) % n): now 0, and no draw taken */
    tt_rng a, b;
    tt_rng_seed(&a, 7);
    tt_rng_seed(&b, 7);
    assert_true(tt_rng_below(&a, 0) == 0);
    assert_true(tt_rng_u64(&a) == tt_rng_u64(&b));
    assert_true(tt_rng_below(&a, 1) == 0);
    for (int i = 0; i < 100; i++) assert_true(tt_rng_below(&a, 3) < 3);
    assert_true(tt_rng_below(&a, UINT64_MAX) < UINT64_MAX);
}

/* ---- data.h ------------------------------------------------------------------ */

#define DS_INIT_NULL(e) tt_dataset_init(NULL, toks, 10, 4, 4, e)
#define DS_INIT_NULLTOK(e) tt_dataset_init(&ds, NULL, 10, 4, 4, e)
#define DS_INIT_T0(e) tt_dataset_init(&ds, toks, 10, 0, 4, e)
#define DS_INIT_S0(e) tt_dataset_init(&ds, toks, 10, 4, 0, e)
#define DS_INIT_SHORT(e) tt_dataset_init(&ds, toks, 4, 4, 4, e)
#define DS_GET_NULLDS(e) tt_dataset_get(NULL, 0, x, y, e)
#define DS_GET_NULLX(e) tt_dataset_get(&ds, 0, NULL, y, e)
#define DS_GET_NULLY(e) tt_dataset_get(&ds, 0, x, NULL, e)
#define DS_GET_RANGE(e) tt_dataset_get(&ds, ds.n_windows, x, y, e)
#define DS_GET_ZERO(e) tt_dataset_get(&zero, 0, x, y, e)
#define LD_NULLOUT(e) tt_loader_create(NULL, &ds, 2, true, 1, e)
#define LD_NULLDS(e) tt_loader_create(&ld, NULL, 2, true, 1, e)
#define LD_ZERO(e) tt_loader_create(&ld, &zero, 2, true, 1, e)
#define LD_B0(e) tt_loader_create(&ld, &ds, 0, true, 1, e)
#define LD_SET_NULL(e) tt_loader_set_state(NULL, st0, e)
#define LD_SET_FAR(e) tt_loader_set_state(ld, far, e)
#define SPLIT_NULL(e) tt_data_split(10, 0.1, NULL, e)
#define SPLIT_BAD(e) tt_data_split(10, 1.0, &n_train, e)
#define SPLIT_NAN(e) tt_data_split(10, NAN, &n_train, e)

static void test_data(void **state) {
    (void)state;
    int toks[10] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
    int x[8], y[8];
    tt_dataset ds, zero;
    memset(&zero, 0, sizeof zero);
    EXPECT(DS_INIT_NULL, TT_ERR_ARG, "ds");
    EXPECT(DS_INIT_NULLTOK, TT_ERR_ARG, "tokens");
    EXPECT(DS_INIT_T0, TT_ERR_ARG, "seq_len");
    EXPECT(DS_INIT_S0, TT_ERR_ARG, "stride");
    EXPECT(DS_INIT_SHORT, TT_ERR_ARG, "not enough tokens");
    assert_int_equal(tt_dataset_init(&ds, toks, 10, 4, 4, NULL), TT_OK);
    EXPECT(DS_GET_NULLDS, TT_ERR_ARG, "ds");
    EXPECT(DS_GET_NULLX, TT_ERR_ARG, "x is NULL");
    EXPECT(DS_GET_NULLY, TT_ERR_ARG, "y is NULL");
    EXPECT(DS_GET_RANGE, TT_ERR_RANGE, "out of range");
    EXPECT(DS_GET_ZERO, TT_ERR_ARG, "not initialised");
    assert_int_equal(tt_dataset_get(NULL, 0, NULL, NULL, NULL), TT_ERR_ARG);

    tt_loader *ld = (tt_loader *)1;
    EXPECT(LD_NULLOUT, TT_ERR_ARG, "NULL");
    EXPECT(LD_NULLDS, TT_ERR_ARG, "ds");
    assert_null(ld);
    EXPECT(LD_ZERO, TT_ERR_ARG, "dataset");
    EXPECT(LD_B0, TT_ERR_ARG, "batch_size");
    tt_loader_free(NULL);
    tt_loader_next(NULL, x, y);
    tt_loader_state st0 = tt_loader_get_state(NULL);
    assert_true(st0.epoch == 0 && st0.pos == 0);
    EXPECT(LD_SET_NULL, TT_ERR_ARG, "l is NULL");

    assert_int_equal(tt_loader_create(&ld, &ds, 2, true, 1, NULL), TT_OK);
    tt_loader_next(ld, NULL, y); /* documented no-op: the loader does not advance */
    tt_loader_next(ld, x, NULL);
    st0 = tt_loader_get_state(ld);
    assert_true(st0.epoch == 0 && st0.pos == 0);
    tt_loader_next(ld, x, y);
    st0 = tt_loader_get_state(ld);
    assert_true(st0.pos == 2);
    tt_loader_state far = {0, 1000};
    EXPECT(LD_SET_FAR, TT_ERR_ARG, "beyond");
    tt_loader_free(ld);

    size_t n_train = 0;
    EXPECT(SPLIT_NULL, TT_ERR_ARG, "n_train");
    EXPECT(SPLIT_BAD, TT_ERR_ARG, "val_fraction");
    EXPECT(SPLIT_NAN, TT_ERR_ARG, "val_fraction");
    assert_int_equal(tt_data_split(0, 0.5, &n_train, NULL), TT_OK);
    assert_int_equal(n_train, 0);
}

/* ---- optim.h ----------------------------------------------------------------- */

#define ADAM_NULL(e) tt_adamw_create(NULL, 4, e)
#define ADAM_ZERO(e) tt_adamw_create(&o, 0, e)
#define ADAM_THREADS_NULL(e) tt_adamw_set_threads(NULL, 1, e)
#define ADAM_THREADS_BAD(e) tt_adamw_set_threads(o, -1, e)

static void test_optim(void **state) {
    (void)state;
    tt_adamw *o = (tt_adamw *)1;
    EXPECT(ADAM_NULL, TT_ERR_ARG, "NULL");
    EXPECT(ADAM_ZERO, TT_ERR_ARG, "at least one");
    assert_null(o);
    tt_adamw_free(NULL);
    assert_int_equal(tt_adamw_size(NULL), 0);
    assert_int_equal(tt_adamw_step_count(NULL), 0);
    assert_null(tt_adamw_m(NULL));
    assert_null(tt_adamw_v(NULL));
    tt_adamw_set_step_count(NULL, 3);
    EXPECT(ADAM_THREADS_NULL, TT_ERR_ARG, "NULL");

    float p[4] = {1, 2, 3, 4}, g[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    tt_adamw_config oc = tt_adamw_config_default();
    tt_adamw_step(NULL, &oc, 0.1f, p, g, NULL);
    assert_int_equal(tt_adamw_create(&o, 4, NULL), TT_OK);
    EXPECT(ADAM_THREADS_BAD, TT_ERR_ARG, "n_threads");
    tt_adamw_step(o, NULL, 0.1f, p, g, NULL);
    tt_adamw_step(o, &oc, 0.1f, NULL, g, NULL);
    tt_adamw_step(o, &oc, 0.1f, p, NULL, NULL);
    assert_int_equal(tt_adamw_step_count(o), 0); /* nothing happened */
    assert_true(p[0] == 1.0f && p[3] == 4.0f);
    tt_adamw_step(o, &oc, 0.1f, p, g, NULL);
    assert_int_equal(tt_adamw_step_count(o), 1);
    assert_true(p[0] < 1.0f);
    tt_adamw_free(o);

    assert_true(tt_grad_global_norm(NULL, 10) == 0.0f);
    assert_true(tt_grad_global_norm(g, 0) == 0.0f);
    assert_true(tt_grad_clip(NULL, 10, 1.0f) == 0.0f);
    assert_true(tt_grad_clip(g, 0, 1.0f) == 0.0f);
    float h[2] = {3, 4};
    assert_float_equal(tt_grad_global_norm(h, 2), 5.0f, 1e-6f);
    assert_float_equal(tt_grad_clip(h, 2, 1.0f), 5.0f, 1e-6f);
    assert_float_equal(tt_grad_global_norm(h, 2), 1.0f, 1e-5f);
}

/* ---- tokenizer.h --------------------------------------------------------------- */

#define TK_FIT_NULLOUT(e) tt_tokenizer_fit(NULL, "ab", 2, e)
#define TK_FIT_NULLTEXT(e) tt_tokenizer_fit(&t, NULL, 2, e)
#define TK_FIT_EMPTY(e) tt_tokenizer_fit(&t, "", 0, e)
#define TK_FIT_NUL(e) tt_tokenizer_fit(&t, "a\0b", 3, e)
#define TK_CP_NULLOUT(e) tt_tokenizer_from_codepoints(NULL, cps, 2, e)
#define TK_CP_NULL(e) tt_tokenizer_from_codepoints(&t, NULL, 2, e)
#define TK_CP_ZERO_N(e) tt_tokenizer_from_codepoints(&t, cps, 0, e)
#define TK_CP_NUL(e) tt_tokenizer_from_codepoints(&t, cps0, 2, e)
#define TK_ENC_NULLT(e) tt_tokenizer_encode(NULL, "a", 1, &ids, &n, e)
#define TK_ENC_NULLTEXT(e) tt_tokenizer_encode(tok, NULL, 1, &ids, &n, e)
#define TK_ENC_NULLIDS(e) tt_tokenizer_encode(tok, "a", 1, NULL, &n, e)
#define TK_ENC_NULLN(e) tt_tokenizer_encode(tok, "a", 1, &ids, NULL, e)
#define TK_DEC_NULLT(e) tt_tokenizer_decode(NULL, ids1, 1, &s, e)
#define TK_DEC_NULLIDS(e) tt_tokenizer_decode(tok, NULL, 1, &s, e)
#define TK_DEC_NULLTEXT(e) tt_tokenizer_decode(tok, ids1, 1, NULL, e)
#define TK_DEC_RANGE(e) tt_tokenizer_decode(tok, bad_id, 1, &s, e)
#define TK_TOJ_NULLT(e) tt_tokenizer_to_json(NULL, &s, e)
#define TK_TOJ_NULLJ(e) tt_tokenizer_to_json(tok, NULL, e)
#define TK_FROMJ_NULLOUT(e) tt_tokenizer_from_json(NULL, "[\"a\"]", e)
#define TK_FROMJ_NULLJ(e) tt_tokenizer_from_json(&t, NULL, e)
#define TK_SAVE_NULLT(e) tt_tokenizer_save(NULL, "x.json", e)
#define TK_SAVE_NULLP(e) tt_tokenizer_save(tok, NULL, e)
#define TK_SAVE_EMPTYP(e) tt_tokenizer_save(tok, "", e)
#define TK_LOAD_NULLOUT(e) tt_tokenizer_load(NULL, "x.json", e)
#define TK_LOAD_NULLP(e) tt_tokenizer_load(&t, NULL, e)

static void test_tokenizer(void **state) {
    (void)state;
    tt_tokenizer *t = (tt_tokenizer *)1, *tok;
    const uint32_t cps[2] = {'a', 'b'}, cps0[2] = {0, 'a'};
    EXPECT(TK_FIT_NULLOUT, TT_ERR_ARG, "NULL");
    EXPECT(TK_FIT_NULLTEXT, TT_ERR_ARG, "empty text");
    assert_null(t);
    EXPECT(TK_FIT_EMPTY, TT_ERR_ARG, "empty text");
    EXPECT(TK_FIT_NUL, TT_ERR_FORMAT, "byte offset 1");
    assert_null(t);
    EXPECT(TK_CP_NULLOUT, TT_ERR_ARG, "NULL");
    EXPECT(TK_CP_NULL, TT_ERR_ARG, "cps is NULL");
    EXPECT(TK_CP_ZERO_N, TT_ERR_ARG, "vocabulary size");
    EXPECT(TK_CP_NUL, TT_ERR_ARG, "U+0000");
    tt_tokenizer_free(NULL);

    assert_int_equal(tt_tokenizer_vocab_size(NULL), 0);
    assert_true(tt_tokenizer_codepoint(NULL, 0) == 0);
    int id = 7;
    assert_int_equal(tt_tokenizer_id(NULL, 'a', &id), TT_ERR_ARG);

    assert_int_equal(tt_tokenizer_from_codepoints(&tok, cps, 2, NULL), TT_OK);
    assert_true(tt_tokenizer_codepoint(tok, -1) == 0);
    assert_true(tt_tokenizer_codepoint(tok, 2) == 0);
    assert_int_equal(tt_tokenizer_id(tok, 'a', NULL), TT_ERR_ARG);
    assert_int_equal(tt_tokenizer_id(tok, 'z', &id), TT_ERR_RANGE);
    assert_int_equal(id, 7);

    int *ids = NULL;
    size_t n = 0;
    const int ids1[1] = {1}, bad_id[1] = {2};
    char *s = NULL;
    EXPECT(TK_ENC_NULLT, TT_ERR_ARG, "t is NULL");
    EXPECT(TK_ENC_NULLTEXT, TT_ERR_ARG, "text is NULL");
    EXPECT(TK_ENC_NULLIDS, TT_ERR_ARG, "ids is NULL");
    EXPECT(TK_ENC_NULLN, TT_ERR_ARG, "n is NULL");
    assert_int_equal(tt_tokenizer_encode(tok, NULL, 0, &ids, &n, NULL), TT_OK);
    assert_int_equal(n, 0);
    free(ids);
    EXPECT(TK_DEC_NULLT, TT_ERR_ARG, "t is NULL");
    EXPECT(TK_DEC_NULLIDS, TT_ERR_ARG, "ids is NULL");
    EXPECT(TK_DEC_NULLTEXT, TT_ERR_ARG, "text is NULL");
    EXPECT(TK_DEC_RANGE, TT_ERR_RANGE, "unknown token id 2");
    assert_int_equal(tt_tokenizer_decode(tok, NULL, 0, &s, NULL), TT_OK);
    assert_string_equal(s, "");
    free(s);

    char buf[5] = "zzzz";
    assert_int_equal(tt_tokenizer_token_utf8(tok, 0, NULL), 0);
    assert_int_equal(tt_tokenizer_token_utf8(NULL, 0, NULL), 0);
    assert_int_equal(tt_tokenizer_token_utf8(NULL, 0, buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tt_tokenizer_token_utf8(tok, 5, buf), 0);
    assert_int_equal(tt_tokenizer_token_utf8(tok, 1, buf), 1);
    assert_string_equal(buf, "b");

    EXPECT(TK_TOJ_NULLT, TT_ERR_ARG, "t is NULL");
    EXPECT(TK_TOJ_NULLJ, TT_ERR_ARG, "json is NULL");
    EXPECT(TK_FROMJ_NULLOUT, TT_ERR_ARG, "out is NULL");
    EXPECT(TK_FROMJ_NULLJ, TT_ERR_ARG, "json is NULL");
    EXPECT(TK_SAVE_NULLT, TT_ERR_ARG, "t is NULL");
    EXPECT(TK_SAVE_NULLP, TT_ERR_ARG, "path");
    EXPECT(TK_SAVE_EMPTYP, TT_ERR_ARG, "path");
    EXPECT(TK_LOAD_NULLOUT, TT_ERR_ARG, "NULL");
    EXPECT(TK_LOAD_NULLP, TT_ERR_ARG, "path");

    uint32_t cp = 9;
    assert_int_equal(tt_utf8_decode(NULL, 3, &cp), 0);
    assert_int_equal(tt_utf8_decode("a", 0, &cp), 0);
    assert_int_equal(tt_utf8_decode("a", 1, NULL), 0);
    assert_true(cp == 9);
    assert_int_equal(tt_utf8_encode('a', NULL), 0);
    assert_int_equal(tt_utf8_encode(0x1F642, NULL), 0);
    tt_tokenizer_free(tok);
}

/* from_json accepts only strings of exactly one code point, never U+0000. */
static void test_tokenizer_json_entries(void **state) {
    (void)state;
    const char *bad[] = {
        "[\"\"]",               /* empty string                        */
        "[\"\\u0000\"]",        /* U+0000 (cJSON reads it as "")       */
        "[\"\\u0000\",\"a\"]",  /* U+0000 first of several             */
        "[\"a\\u0000\"]",       /* one character then U+0000: 2 points */
        "[\"\\u0000a\"]",       /* reads as "" in cJSON                */
        "[\"a\",\"\"]",         /* empty later entry                   */
        "[\"ab\"]",             /* two code points                     */
        "[\"\xc3\xa9\xc3\xa9\"]", /* two 2-byte code points            */
        "[\"e\xcc\x81\"]",      /* e + combining acute: two points     */
        "[\"\xc3\"]",           /* truncated UTF-8 (cJSON passes it)   */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tt_tokenizer *t = (tt_tokenizer *)1;
        tt_error err;
        memset(&err, 0, sizeof err);
        tt_status st = tt_tokenizer_from_json(&t, bad[i], &err);
        if (st != TT_ERR_FORMAT) fail_msg("entry %zu (%s): got %s", i, bad[i], tt_status_str(st));
        assert_null(t);
        assert_true(strlen(err.msg) > 0);
    }
    /* a backslash followed by u0000 as text is fine: "\\u0000" is 6 chars */
    tt_tokenizer *t;
    tt_error err;
    assert_int_equal(tt_tokenizer_from_json(&t, "[\"\\\\\",\"u\"]", &err), TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(t), 2);
    tt_tokenizer_free(t);
    assert_int_equal(tt_tokenizer_from_json(&t, "[\"\\\\u0000\"]", &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "exactly one character"));
    /* one code point of each UTF-8 length still loads */
    assert_int_equal(tt_tokenizer_from_json(&t, "[\"\\u0001\",\"a\",\"\xc3\xa9\",\"\xe2\x82\xac\",\"\xf0\x9f\x99\x82\"]", &err),
                     TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(t), 5);
    assert_true(tt_tokenizer_codepoint(t, 0) == 1);
    assert_true(tt_tokenizer_codepoint(t, 4) == 0x1F642);
    tt_tokenizer_free(t);
}

/* ---- sampling.h --------------------------------------------------------------- */

#define SP_VALIDATE(e) tt_sampling_params_validate(NULL, e)
#define SP_PARSE_NULLNAME(e) tt_strategy_parse(NULL, &strat, e)
#define SP_PARSE_NULLOUT(e) tt_strategy_parse("greedy", NULL, e)
#define SP_CREATE_NULL(e) tt_sampler_create(NULL, 3, e)
#define SP_CREATE_V0(e) tt_sampler_create(&s, 0, e)
#define SP_SAMPLE_NULLS(e) tt_sampler_sample(NULL, &p, logits, &rng, &tok, e)
#define SP_SAMPLE_NULLP(e) tt_sampler_sample(s, NULL, logits, &rng, &tok, e)
#define SP_SAMPLE_NULLL(e) tt_sampler_sample(s, &p, NULL, &rng, &tok, e)
#define SP_SAMPLE_NULLR(e) tt_sampler_sample(s, &p, logits, NULL, &tok, e)
#define SP_SAMPLE_NULLT(e) tt_sampler_sample(s, &p, logits, &rng, NULL, e)
#define SP_ENT_NULLS(e) tt_sampler_sample_entropy(NULL, &p, logits, &rng, &tok, &ent, e)
#define SP_ENT_NULLR(e) tt_sampler_sample_entropy(s, &p, logits, NULL, &tok, &ent, e)
#define SP_ENT_NULLT(e) tt_sampler_sample_entropy(s, &p, logits, &rng, NULL, &ent, e)
#define SP_ENT_NULLH(e) tt_sampler_sample_entropy(s, &p, logits, &rng, &tok, NULL, e)
#define SP_REF_NULLS(e) tt_sampler_sample_reference(NULL, &p, logits, &rng, &tok, e)
#define SP_REF_NULLT(e) tt_sampler_sample_reference(s, &p, logits, &rng, NULL, e)
#define SP_FILT_NULLS(e) tt_sampler_filter(NULL, &p, logits, probs, NULL, NULL, NULL, e)
#define SP_FILT_NULLPR(e) tt_sampler_filter(s, &p, logits, NULL, NULL, NULL, NULL, e)
#define SP_FILT_NULLL(e) tt_sampler_filter(s, &p, NULL, probs, NULL, NULL, NULL, e)
#define SP_BATCH_NULLP(e) tt_sample_batch(NULL, logits, 1, 3, 1, 1, out, e)
#define SP_BATCH_NULLL(e) tt_sample_batch(&p, NULL, 1, 3, 1, 1, out, e)
#define SP_BATCH_NULLO(e) tt_sample_batch(&p, logits, 1, 3, 1, 1, NULL, e)
#define SP_BATCH_B0(e) tt_sample_batch(&p, logits, 0, 3, 1, 1, out, e)
#define SP_BATCH_V0(e) tt_sample_batch(&p, logits, 1, 0, 1, 1, out, e)
#define SP_BATCH_D0(e) tt_sample_batch(&p, logits, 1, 3, 0, 1, out, e)
#define SP_SOFT_NULLL(e) tt_softmax(NULL, 3, 1.0f, probs, e)
#define SP_SOFT_NULLP(e) tt_softmax(logits, 3, 1.0f, NULL, e)
#define SP_SOFT_V0(e) tt_softmax(logits, 0, 1.0f, probs, e)
#define SP_SOFT_TNEG(e) tt_softmax(logits, 3, -1.0f, probs, e)
#define SP_LSOFT_NULLL(e) tt_log_softmax(NULL, 3, probs, e)
#define SP_LSOFT_NULLO(e) tt_log_softmax(logits, 3, NULL, e)
#define SP_LSOFT_V0(e) tt_log_softmax(logits, 0, probs, e)
#define SP_PARSE_NULLV(e) tt_logits_parse("1 2", 3, NULL, &rows, &V, e)
#define SP_PARSE_NULLROWS(e) tt_logits_parse("1 2", 3, &vals, NULL, &V, e)
#define SP_PARSE_NULLVV(e) tt_logits_parse("1 2", 3, &vals, &rows, NULL, e)
#define SP_PARSE_NULLTEXT(e) tt_logits_parse(NULL, 3, &vals, &rows, &V, e)

static void test_sampling(void **state) {
    (void)state;
    tt_strategy strat;
    tt_sampler *s = (tt_sampler *)1;
    tt_sampling_params p = tt_sampling_params_default();
    const float logits[3] = {1.0f, 2.0f, 3.0f};
    float probs[3];
    int tok = -1, out[1], rows = 0, V = 0;
    float *vals = NULL;
    tt_rng rng;
    tt_rng_seed(&rng, 1);

    EXPECT(SP_VALIDATE, TT_ERR_ARG, "NULL");
    EXPECT(SP_PARSE_NULLNAME, TT_ERR_ARG, "name is NULL");
    EXPECT(SP_PARSE_NULLOUT, TT_ERR_ARG, "out is NULL");
    assert_string_equal(tt_strategy_name((tt_strategy)-3), "unknown");
    assert_string_equal(tt_strategy_name(TT_STRATEGY_COUNT_), "unknown");
    EXPECT(SP_CREATE_NULL, TT_ERR_ARG, "NULL");
    EXPECT(SP_CREATE_V0, TT_ERR_ARG, "vocab_size");
    assert_null(s);
    tt_sampler_free(NULL);
    assert_int_equal(tt_sampler_vocab_size(NULL), 0);

    assert_int_equal(tt_sampler_create(&s, 3, NULL), TT_OK);
    EXPECT(SP_SAMPLE_NULLS, TT_ERR_ARG, "s is NULL");
    EXPECT(SP_SAMPLE_NULLP, TT_ERR_ARG, "p is NULL");
    EXPECT(SP_SAMPLE_NULLL, TT_ERR_ARG, "logits is NULL");
    EXPECT(SP_SAMPLE_NULLR, TT_ERR_ARG, "rng is NULL");
    EXPECT(SP_SAMPLE_NULLT, TT_ERR_ARG, "token is NULL");
    double ent = -1.0;
    EXPECT(SP_ENT_NULLS, TT_ERR_ARG, "s is NULL");
    EXPECT(SP_ENT_NULLR, TT_ERR_ARG, "rng is NULL");
    EXPECT(SP_ENT_NULLT, TT_ERR_ARG, "token is NULL");
    EXPECT(SP_ENT_NULLH, TT_ERR_ARG, "entropy_nats is NULL");
    assert_true(ent == -1.0);
    EXPECT(SP_REF_NULLS, TT_ERR_ARG, "s is NULL");
    EXPECT(SP_REF_NULLT, TT_ERR_ARG, "token is NULL");
    EXPECT(SP_FILT_NULLS, TT_ERR_ARG, "s is NULL");
    EXPECT(SP_FILT_NULLPR, TT_ERR_ARG, "probs is NULL");
    EXPECT(SP_FILT_NULLL, TT_ERR_ARG, "logits is NULL");
    assert_int_equal(tok, -1);

    /* entropy in bits = tt_nats_to_bits(nats): uniform over 4 tokens is 2 bits */
    const float flat[4] = {0, 0, 0, 0};
    float probs4[4];
    double h = -1.0;
    tt_sampler *s4;
    assert_int_equal(tt_sampler_create(&s4, 4, NULL), TT_OK);
    assert_int_equal(tt_sampler_filter(s4, &p, flat, probs4, NULL, NULL, &h, NULL), TT_OK);
    assert_true(fabs((h) - (log(4.0))) <= 1e-9);
    assert_true(fabs((tt_nats_to_bits(h)) - (2.0)) <= 1e-9);
    tt_rng r4;
    tt_rng_seed(&r4, 3);
    assert_int_equal(tt_sampler_sample_entropy(s4, &p, flat, &r4, &tok, &h, NULL), TT_OK);
    assert_true(fabs(h - log(4.0)) <= 1e-9 && tok >= 0 && tok < 4);
    assert_true(fabs((tt_nats_to_bits(log(2.0))) - (1.0)) <= 1e-15);
    assert_true(fabs((tt_nats_to_bits(0.0)) - (0.0)) <= 0.0);
    tt_sampler_free(s4);

    EXPECT(SP_BATCH_NULLP, TT_ERR_ARG, "p is NULL");
    EXPECT(SP_BATCH_NULLL, TT_ERR_ARG, "logits is NULL");
    EXPECT(SP_BATCH_NULLO, TT_ERR_ARG, "out is NULL");
    EXPECT(SP_BATCH_B0, TT_ERR_ARG, "batch size");
    EXPECT(SP_BATCH_V0, TT_ERR_ARG, "vocab_size");
    EXPECT(SP_BATCH_D0, TT_ERR_ARG, "draws");
    EXPECT(SP_SOFT_NULLL, TT_ERR_ARG, "logits is NULL");
    EXPECT(SP_SOFT_NULLP, TT_ERR_ARG, "probs is NULL");
    EXPECT(SP_SOFT_V0, TT_ERR_ARG, "V must be");
    EXPECT(SP_SOFT_TNEG, TT_ERR_ARG, "temperature");
    EXPECT(SP_LSOFT_NULLL, TT_ERR_ARG, "logits is NULL");
    EXPECT(SP_LSOFT_NULLO, TT_ERR_ARG, "out is NULL");
    EXPECT(SP_LSOFT_V0, TT_ERR_ARG, "V must be");
    EXPECT(SP_PARSE_NULLV, TT_ERR_ARG, "values is NULL");
    EXPECT(SP_PARSE_NULLROWS, TT_ERR_ARG, "rows is NULL");
    EXPECT(SP_PARSE_NULLVV, TT_ERR_ARG, "V is NULL");
    EXPECT(SP_PARSE_NULLTEXT, TT_ERR_ARG, "text");
    assert_null(vals);
    tt_sampler_free(s);
}

/* ---- diversity.h --------------------------------------------------------------- */

#define DV_NULLTEXTS(e) tt_diversity_measure(NULL, 1, NULL, NULL, NULL, &m, e)
#define DV_N0(e) tt_diversity_measure(texts, 0, NULL, NULL, NULL, &m, e)
#define DV_NULLTEXT(e) tt_diversity_measure(with_null, 2, NULL, NULL, NULL, &m, e)
#define DV_NULLOUT(e) tt_diversity_measure(texts, 1, NULL, NULL, NULL, NULL, e)
#define DV_HALF(e) tt_diversity_measure(texts, 1, NULL, ents, NULL, &m, e)
#define DV_NULLROW(e) tt_diversity_measure(texts, 1, NULL, null_rows, n_ent, &m, e)
#define DN_NULLTEXTS(e) tt_distinct_n(NULL, 1, 1, &d, NULL, e)
#define DN_NULLOUT(e) tt_distinct_n(texts, 1, 1, NULL, NULL, e)
#define DN_N0(e) tt_distinct_n(texts, 1, 0, &d, NULL, e)

static void test_diversity(void **state) {
    (void)state;
    const char *texts[1] = {"ab"};
    const char *with_null[2] = {"ab", NULL};
    const double e0[1] = {0.5};
    const double *const ents[1] = {e0};
    const double *const null_rows[1] = {NULL};
    const int n_ent[1] = {1};
    tt_diversity_metrics m;
    double d;
    EXPECT(DV_NULLTEXTS, TT_ERR_ARG, "texts is NULL");
    EXPECT(DV_N0, TT_ERR_ARG, "at least one");
    EXPECT(DV_NULLTEXT, TT_ERR_ARG, "sample 1 is NULL");
    EXPECT(DV_NULLOUT, TT_ERR_ARG, "out is NULL");
    EXPECT(DV_HALF, TT_ERR_ARG, "both");
    EXPECT(DV_NULLROW, TT_ERR_ARG, "entropies is NULL");
    EXPECT(DN_NULLTEXTS, TT_ERR_ARG, "texts is NULL");
    EXPECT(DN_NULLOUT, TT_ERR_ARG, "out is NULL");
    EXPECT(DN_N0, TT_ERR_ARG, "n-gram size");
    const char *empty[1] = {""};
    assert_int_equal(tt_distinct_n(empty, 1, 2, &d, NULL, NULL), TT_OK);
    assert_true(d == 0.0);
}

/* ---- model.h ------------------------------------------------------------------- */

#define MD_PRESET_NULLNAME(e) tt_model_config_preset(NULL, 5, &cfg, e)
#define MD_PRESET_NULLOUT(e) tt_model_config_preset("tiny", 5, NULL, e)
#define MD_VALIDATE_NULL(e) tt_model_config_validate(NULL, e)
#define MD_CREATE_NULLOUT(e) tt_model_create(NULL, &cfg, 1, e)
#define MD_CREATE_NULLCFG(e) tt_model_create(&m, NULL, 1, e)
#define MD_FWD_NULLM(e) tt_model_forward(NULL, toks, toks, 1, 2, TT_MODE_EVAL, NULL, NULL, e)
#define MD_FWD_NULLTOK(e) tt_model_forward(m, NULL, NULL, 1, 2, TT_MODE_EVAL, NULL, NULL, e)
#define MD_FWD_B0(e) tt_model_forward(m, toks, NULL, 0, 2, TT_MODE_EVAL, NULL, NULL, e)
#define MD_FWD_T0(e) tt_model_forward(m, toks, NULL, 1, 0, TT_MODE_EVAL, NULL, NULL, e)
#define MD_FWD_TBIG(e) tt_model_forward(m, toks, NULL, 1, 9, TT_MODE_EVAL, NULL, NULL, e)
#define MD_FWD_RANGE(e) tt_model_forward(m, bad, NULL, 1, 2, TT_MODE_EVAL, NULL, NULL, e)
#define MD_BWD_NULL(e) tt_model_backward(NULL, e)
#define MD_BWD_STATE(e) tt_model_backward(m, e)
#define MD_COPY_NULLDST(e) tt_model_copy_weights(NULL, m, e)
#define MD_COPY_NULLSRC(e) tt_model_copy_weights(m, NULL, e)

static void test_model(void **state) {
    (void)state;
    tt_model_config cfg = tiny_cfg();
    tt_model *m = (tt_model *)1;
    EXPECT(MD_PRESET_NULLNAME, TT_ERR_ARG, "name");
    EXPECT(MD_PRESET_NULLOUT, TT_ERR_ARG, "output");
    EXPECT(MD_VALIDATE_NULL, TT_ERR_ARG, "NULL");
    EXPECT(MD_CREATE_NULLOUT, TT_ERR_ARG, "NULL");
    EXPECT(MD_CREATE_NULLCFG, TT_ERR_ARG, "NULL");
    assert_null(m);
    assert_int_equal(tt_model_config_num_params(NULL), 0);
    assert_int_equal(tt_model_activation_bytes(NULL, 1, 1), 0);
    assert_int_equal(tt_model_activation_bytes(&cfg, 0, 1), 0);
    assert_int_equal(tt_model_activation_bytes(&cfg, 1, 0), 0);
    tt_model_free(NULL);
    tt_error te;
    assert_int_equal(tt_model_set_threads(NULL, 1, &te), TT_ERR_ARG);
    assert_non_null(strstr(te.msg, "NULL"));
    assert_int_equal(tt_model_threads(NULL), 0);
    assert_null(tt_model_get_config(NULL));
    assert_null(tt_model_weights_get(NULL));
    assert_int_equal(tt_model_num_tensors(NULL), 0);
    assert_int_equal(tt_model_num_params(NULL), 0);
    assert_null(tt_model_params_flat(NULL));
    assert_null(tt_model_grads_flat(NULL));
    assert_null(tt_model_decay_mask(NULL));
    assert_null(tt_model_logits(NULL));
    tt_model_zero_grad(NULL);
    tt_tensor_info ti;
    /* documented: TT_ERR_RANGE (not TT_ERR_ARG) for NULL, no tt_error */
    assert_int_equal(tt_model_tensor(NULL, 0, &ti), TT_ERR_RANGE);
    assert_int_equal(tt_model_tensor_by_name(NULL, "x", &ti), TT_ERR_RANGE);
    EXPECT(MD_BWD_NULL, TT_ERR_ARG, "NULL");
    EXPECT(MD_COPY_NULLDST, TT_ERR_ARG, "NULL");

    assert_int_equal(tt_model_create(&m, &cfg, 1, NULL), TT_OK);
    assert_int_equal(tt_model_tensor(m, 0, NULL), TT_ERR_RANGE);
    assert_int_equal(tt_model_tensor(m, tt_model_num_tensors(m), &ti), TT_ERR_RANGE);
    assert_int_equal(tt_model_tensor_by_name(m, NULL, &ti), TT_ERR_RANGE);
    assert_int_equal(tt_model_tensor_by_name(m, "lm_head.weight", NULL), TT_ERR_RANGE);
    assert_null(tt_model_logits(m)); /* no forward yet */
    const int toks[9] = {0, 1, 2, 3, 4, 0, 1, 2, 3}, bad[2] = {0, 5};
    EXPECT(MD_FWD_NULLM, TT_ERR_ARG, NULL);
    EXPECT(MD_FWD_NULLTOK, TT_ERR_ARG, NULL);
    EXPECT(MD_FWD_B0, TT_ERR_ARG, "batch size");
    EXPECT(MD_FWD_T0, TT_ERR_ARG, "sequence length");
    EXPECT(MD_FWD_TBIG, TT_ERR_ARG, "max_len");
    EXPECT(MD_FWD_RANGE, TT_ERR_RANGE, "token id 5");
    EXPECT(MD_BWD_STATE, TT_ERR_STATE, "forward");
    EXPECT(MD_COPY_NULLSRC, TT_ERR_ARG, "NULL");
    tt_model_free(m);
}

/* ---- generate.h ---------------------------------------------------------------- */

#define GN_VALIDATE_NULL(e) tt_generator_config_validate(NULL, 5, e)
#define GN_CREATE_NULLOUT(e) tt_generator_create(NULL, m, NULL, e)
#define GN_CREATE_NULLM(e) tt_generator_create(&g, NULL, NULL, e)
#define GN_GEN_NULLG(e) tt_generator_generate(NULL, prompts, lens, 1, NULL, NULL, NULL, NULL, out, e)
#define GN_GEN_NULLPR(e) tt_generator_generate(g, NULL, lens, 1, NULL, NULL, NULL, NULL, out, e)
#define GN_GEN_NULLLENS(e) tt_generator_generate(g, prompts, NULL, 1, NULL, NULL, NULL, NULL, out, e)
#define GN_GEN_NULLOUT(e) tt_generator_generate(g, prompts, lens, 1, NULL, NULL, NULL, NULL, NULL, e)
#define GN_GEN_B0(e) tt_generator_generate(g, prompts, lens, 0, NULL, NULL, NULL, NULL, out, e)
#define GN_GEN_NULLROW(e) tt_generator_generate(g, null_prompts, lens, 1, NULL, NULL, NULL, NULL, out, e)
#define GN_GEN_EMPTY(e) tt_generator_generate(g, prompts, zero_lens, 1, NULL, NULL, NULL, NULL, out, e)
#define GN_ENT_NULLG(e) tt_generator_step_entropies(NULL, 0, &ent, &n, e)
#define GN_ENT_NULLENT(e) tt_generator_step_entropies(g, 0, NULL, &n, e)
#define GN_ENT_NULLN(e) tt_generator_step_entropies(g, 0, &ent, NULL, e)
#define GN_ENT_NOCALL(e) tt_generator_step_entropies(g, 0, &ent, &n, e)
#define GN_ENT_ROW(e) tt_generator_step_entropies(g, 1, &ent, &n, e)

static void test_generate(void **state) {
    (void)state;
    tt_model_config cfg = tiny_cfg();
    tt_model *m;
    assert_int_equal(tt_model_create(&m, &cfg, 1, NULL), TT_OK);
    tt_generator *g = (tt_generator *)1;
    EXPECT(GN_VALIDATE_NULL, TT_ERR_ARG, "NULL");
    EXPECT(GN_CREATE_NULLOUT, TT_ERR_ARG, "out is NULL");
    EXPECT(GN_CREATE_NULLM, TT_ERR_ARG, "model is NULL");
    assert_null(g);
    tt_generator_free(NULL);
    assert_null(tt_generator_get_config(NULL));
    tt_generations_free(NULL, 3);
    assert_string_equal(tt_finish_reason_str((tt_finish_reason)9), "unknown");

    /* gc NULL: the defaults */
    assert_int_equal(tt_generator_create(&g, m, NULL, NULL), TT_OK);
    tt_generator_config def = tt_generator_config_default();
    const tt_generator_config *got = tt_generator_get_config(g);
    assert_int_equal(got->max_new_tokens, def.max_new_tokens);
    assert_true(got->seed == def.seed);
    assert_int_equal(got->sampling.top_k, def.sampling.top_k);

    const int p0[2] = {1, 2};
    const int *prompts[1] = {p0}, *null_prompts[1] = {NULL};
    const int lens[1] = {2}, zero_lens[1] = {0};
    tt_generation out[1];
    const double *ent = NULL;
    int n = -1;
    EXPECT(GN_ENT_NOCALL, TT_ERR_RANGE, "row 0");
    EXPECT(GN_GEN_NULLG, TT_ERR_ARG, NULL);
    EXPECT(GN_GEN_NULLPR, TT_ERR_ARG, NULL);
    EXPECT(GN_GEN_NULLLENS, TT_ERR_ARG, NULL);
    EXPECT(GN_GEN_NULLOUT, TT_ERR_ARG, NULL);
    EXPECT(GN_GEN_B0, TT_ERR_ARG, "at least one prompt");
    EXPECT(GN_GEN_NULLROW, TT_ERR_ARG, "prompt 0");
    EXPECT(GN_GEN_EMPTY, TT_ERR_ARG, "prompt 0");
    EXPECT(GN_ENT_NULLG, TT_ERR_ARG, NULL);
    EXPECT(GN_ENT_NULLENT, TT_ERR_ARG, NULL);
    EXPECT(GN_ENT_NULLN, TT_ERR_ARG, NULL);
    tt_generate_overrides ov;
    memset(&ov, 0, sizeof ov);
    ov.set = TT_OVR_MAX_NEW_TOKENS;
    ov.values.max_new_tokens = 0; /* degenerate but valid: the prompt back */
    assert_int_equal(tt_generator_generate(g, prompts, lens, 1, &ov, NULL, NULL, NULL, out, NULL), TT_OK);
    assert_int_equal(out[0].n_tokens, 2);
    assert_int_equal(out[0].n_generated, 0);
    assert_int_equal(tt_generator_step_entropies(g, 0, &ent, &n, NULL), TT_OK);
    assert_int_equal(n, 0);
    EXPECT(GN_ENT_ROW, TT_ERR_RANGE, "row 1");
    tt_generations_free(out, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

/* ---- train.h -------------------------------------------------------------------- */

#define TR_VALIDATE_NULL(e) tt_train_config_validate(NULL, e)
#define TR_NULLM(e) tt_train(NULL, NULL, toks, 40, NULL, 0, &tc, NULL, NULL, NULL, e)
#define TR_NULLTC(e) tt_train(m, NULL, toks, 40, NULL, 0, NULL, NULL, NULL, NULL, e)
#define TR_NULLTOK(e) tt_train(m, NULL, NULL, 40, NULL, 0, &tc, NULL, NULL, NULL, e)
#define TR_NULLTOK0(e) tt_train(m, NULL, NULL, 0, NULL, 0, &tc, NULL, NULL, NULL, e)
#define TR_SHORT(e) tt_train(m, NULL, toks, 3, NULL, 0, &tc, NULL, NULL, NULL, e)
#define TR_NEEDTOK(e) tt_train(m, NULL, toks, 40, NULL, 0, &tc_out, NULL, NULL, NULL, e)
#define EV_NULLM(e) tt_evaluate_tokens(NULL, toks, 4, &loss, NULL, e)
#define EV_NULLTOK(e) tt_evaluate_tokens(m, NULL, 4, &loss, NULL, e)
#define EV_NULLLOSS(e) tt_evaluate_tokens(m, toks, 4, NULL, NULL, e)
#define EV_N1(e) tt_evaluate_tokens(m, toks, 1, &loss, NULL, e)
#define EV_RANGE(e) tt_evaluate_tokens(m, bad, 3, &loss, NULL, e)
#define EVW_NULLM(e) tt_evaluate_tokens_window(NULL, toks, 4, 2, &loss, NULL, e)
#define EVW_W0(e) tt_evaluate_tokens_window(m, toks, 4, 0, &loss, NULL, e)
#define EVW_WBIG(e) tt_evaluate_tokens_window(m, toks, 4, 9, &loss, NULL, e)

static void test_train(void **state) {
    (void)state;
    tt_model_config cfg = tiny_cfg();
    tt_model *m;
    assert_int_equal(tt_model_create(&m, &cfg, 1, NULL), TT_OK);
    int toks[40];
    for (int i = 0; i < 40; i++) toks[i] = i % 5;
    const int bad[3] = {0, 7, 1};
    tt_train_config tc = tt_train_config_default();
    tc.seq_len = 4;
    tc.batch_size = 2;
    tc.max_steps = 1;
    tt_train_config tc_out = tc;
    tc_out.out_path = "never-written.safetensors";
    double loss = -1.0;

    EXPECT(TR_VALIDATE_NULL, TT_ERR_ARG, "NULL");
    EXPECT(TR_NULLM, TT_ERR_ARG, "m is NULL");
    EXPECT(TR_NULLTC, TT_ERR_ARG, "tc is NULL");
    EXPECT(TR_NULLTOK, TT_ERR_ARG, "train_tokens is NULL");
    EXPECT(TR_NULLTOK0, TT_ERR_ARG, "train_tokens is NULL");
    EXPECT(TR_SHORT, TT_ERR_ARG, "not enough tokens");
    EXPECT(TR_NEEDTOK, TT_ERR_ARG, "tokenizer");
    EXPECT(EV_NULLM, TT_ERR_ARG, "m is NULL");
    EXPECT(EV_NULLTOK, TT_ERR_ARG, "tokens is NULL");
    EXPECT(EV_NULLLOSS, TT_ERR_ARG, "mean_loss is NULL");
    EXPECT(EV_N1, TT_ERR_ARG, "at least 2");
    EXPECT(EV_RANGE, TT_ERR_RANGE, "id 7");
    EXPECT(EVW_NULLM, TT_ERR_ARG, "m is NULL");
    EXPECT(EVW_W0, TT_ERR_ARG, "window");
    EXPECT(EVW_WBIG, TT_ERR_ARG, "window");
    assert_true(loss == -1.0);

    int w = 9;
    assert_true(tt_train_lr_at(NULL, 0, &w) == 0.0f);
    assert_int_equal(w, 0);
    assert_true(tt_train_lr_at(NULL, 5, NULL) == 0.0f);
    assert_true(tt_train_lr_at(&tc, -4, NULL) == tt_train_lr_at(&tc, 0, NULL));
    assert_true(tt_train_lr_at(&tc, 1000000, NULL) > 0.0f);
    tt_train_config zero;
    memset(&zero, 0, sizeof zero);
    float lr0 = tt_train_lr_at(&zero, 3, &w); /* max_steps 0: no division by 0 */
    assert_true(lr0 == 0.0f);
    assert_null(tt_train_sibling_path(NULL, ".state"));
    assert_null(tt_train_sibling_path("a.safetensors", NULL));
    char *sp = tt_train_sibling_path("", ".state");
    assert_string_equal(sp, ".state");
    free(sp);
    tt_model_free(m);
}

/* ---- checkpoint.h --------------------------------------------------------------- */

#define CK_SAVE_NULLP(e) tt_checkpoint_save(NULL, m, tok, e)
#define CK_SAVE_EMPTYP(e) tt_checkpoint_save("", m, tok, e)
#define CK_SAVE_NULLM(e) tt_checkpoint_save(path, NULL, tok, e)
#define CK_SAVE_BADTOK(e) tt_checkpoint_save(path, m, tok2, e)
#define CK_LOAD_NULLP(e) tt_checkpoint_load(NULL, &lm, &ltok, e)
#define CK_LOAD_NULLM(e) tt_checkpoint_load(path, NULL, &ltok, e)
#define CK_LOAD_MISSING(e) tt_checkpoint_load(missing, &lm, &ltok, e)
#define CK_RC_NULLP(e) tt_checkpoint_read_config(NULL, &rc, &ltok, e)
#define CK_RC_NULLCFG(e) tt_checkpoint_read_config(path, NULL, &ltok, e)

static void test_checkpoint(void **state) {
    (void)state;
    tt_model_config cfg = tiny_cfg();
    tt_model *m, *lm = (tt_model *)1;
    tt_tokenizer *tok, *tok2, *ltok = (tt_tokenizer *)1;
    tt_model_config rc;
    const uint32_t cps[5] = {'a', 'b', 'c', 'd', 'e'};
    assert_int_equal(tt_model_create(&m, &cfg, 1, NULL), TT_OK);
    assert_int_equal(tt_tokenizer_from_codepoints(&tok, cps, 5, NULL), TT_OK);
    assert_int_equal(tt_tokenizer_from_codepoints(&tok2, cps, 4, NULL), TT_OK);
    char *dir = tt_test_tmpdir();
    assert_non_null(dir);
    char path[512], missing[512];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(missing, sizeof missing, "%s/none.safetensors", dir);

    EXPECT(CK_SAVE_NULLP, TT_ERR_ARG, "path");
    EXPECT(CK_SAVE_EMPTYP, TT_ERR_ARG, "path");
    EXPECT(CK_SAVE_NULLM, TT_ERR_ARG, "m is NULL");
    EXPECT(CK_SAVE_BADTOK, TT_ERR_ARG, "vocab_size");
    EXPECT(CK_LOAD_NULLP, TT_ERR_ARG, "path");
    assert_null(lm);
    assert_null(ltok);
    ltok = (tt_tokenizer *)1;
    EXPECT(CK_LOAD_NULLM, TT_ERR_ARG, "m is NULL");
    assert_null(ltok);
    EXPECT(CK_LOAD_MISSING, TT_ERR_IO, "none.safetensors");
    ltok = (tt_tokenizer *)1;
    EXPECT(CK_RC_NULLP, TT_ERR_ARG, "path");
    assert_null(ltok);
    ltok = (tt_tokenizer *)1;
    EXPECT(CK_RC_NULLCFG, TT_ERR_ARG, "cfg is NULL");
    assert_null(ltok);

    /* read_config: *tok is the caller's; tok NULL only checks */
    assert_int_equal(tt_checkpoint_save(path, m, tok, NULL), TT_OK);
    assert_int_equal(tt_checkpoint_read_config(path, &rc, NULL, NULL), TT_OK);
    assert_int_equal(rc.vocab_size, 5);
    assert_int_equal(tt_checkpoint_read_config(path, &rc, &ltok, NULL), TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(ltok), 5);
    tt_tokenizer_free(ltok);
    assert_int_equal(tt_checkpoint_load(path, &lm, NULL, NULL), TT_OK);
    tt_model_free(lm);

    tt_test_rmtree(dir);
    free(dir);
    tt_tokenizer_free(tok);
    tt_tokenizer_free(tok2);
    tt_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common),     cmocka_unit_test(test_rng),
        cmocka_unit_test(test_data),       cmocka_unit_test(test_optim),
        cmocka_unit_test(test_tokenizer),  cmocka_unit_test(test_tokenizer_json_entries),
        cmocka_unit_test(test_sampling),   cmocka_unit_test(test_diversity),
        cmocka_unit_test(test_model),      cmocka_unit_test(test_generate),
        cmocka_unit_test(test_train),      cmocka_unit_test(test_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
