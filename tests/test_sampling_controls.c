/*
 * Tests of the sampling controls (issue 14): min-p, typical, penalties, DRY,
 * logit bias, sampler order, stop strings, logprobs, beam search.
 *  - reference vectors of HF transformers and llama.cpp
 *    (../shared/reference/sampling-systems.md);
 *  - tests/fixtures/sampling_controls.txt, made with PyTorch implementations
 *    of HF's and OpenAI's rules (scripts/make_sampling_controls_fixture.py):
 *    filtered distributions within 1e-6, beam sequences exactly;
 *  - chi-square tests of draws for min-p and typical;
 *  - stop strings across tokens, in ragged batches and streams.
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

#include "fixture.h"

#include "generate_internal.h"
#include "sampling_internal.h"
#include "stop.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"
#include "tt/train.h"
#include "util.h"

static tt_sampling_params P(tt_strategy s, float t, int k, float p) {
    tt_sampling_params q = tt_sampling_params_default();
    q.strategy = s;
    q.temperature = t;
    q.top_k = k;
    q.top_p = p;
    return q;
}

static void logs_of(const float *p, int n, float *l) {
    for (int i = 0; i < n; i++)
        l[i] = logf(p[i]);
}

/* tt_sampler_filter's probabilities, compared entry by entry. */
static void expect_probs(const tt_sampling_params *p, const float *l, int V,
                         const tt_token_history *h, const tt_tokenizer *tok, const float *want,
                         double tol, const char *what) {
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, V, NULL), TT_OK);
    tt_sampler_set_history(s, h, tok);
    float got[64];
    tt_error err;
    tt_status st = tt_sampler_filter(s, p, l, got, NULL, NULL, NULL, &err);
    if (st) fail_msg("%s: %s", what, err.msg);
    for (int i = 0; i < V; i++)
        if (fabs((double)got[i] - (double)want[i]) > tol)
            fail_msg("%s: token %d: got %.7f, want %.7f", what, i, (double)got[i], (double)want[i]);
    tt_sampler_free(s);
}

/* ---- reference vectors ----------------------------------------------------- */

static void test_llama_min_p_typical(void **state) {
    (void)state;
    const float p4[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float l[4];
    logs_of(p4, 4, l);
    struct {
        float min_p;
        float want[4];
    } mp[] = {
        {0.00f, {0.1f, 0.2f, 0.3f, 0.4f}},
        {0.24f, {0.1f, 0.2f, 0.3f, 0.4f}},
        {0.26f, {0, 0.2f / 0.9f, 0.3f / 0.9f, 0.4f / 0.9f}},
        {0.49f, {0, 0.2f / 0.9f, 0.3f / 0.9f, 0.4f / 0.9f}},
        {0.51f, {0, 0, 0.3f / 0.7f, 0.4f / 0.7f}},
        {0.74f, {0, 0, 0.3f / 0.7f, 0.4f / 0.7f}},
        {0.76f, {0, 0, 0, 1}},
        {1.00f, {0, 0, 0, 1}},
    };
    for (size_t i = 0; i < sizeof mp / sizeof *mp; i++) {
        tt_sampling_params p = P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
        p.x.min_p = mp[i].min_p;
        expect_probs(&p, l, 4, NULL, NULL, mp[i].want, 1e-5, "llama.cpp min_p");
    }
    /* typical 0.5 (llama.cpp and HF) */
    const float a[4] = {0.97f, 0.01f, 0.01f, 0.01f}, b[4] = {0.4f, 0.2f, 0.2f, 0.2f};
    const float wa[4] = {1, 0, 0, 0}, wb[4] = {0, 1.0f / 3, 1.0f / 3, 1.0f / 3};
    tt_sampling_params p = P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
    p.x.typical_p = 0.5f;
    logs_of(a, 4, l);
    expect_probs(&p, l, 4, NULL, NULL, wa, 1e-5, "typical a");
    logs_of(b, 4, l);
    expect_probs(&p, l, 4, NULL, NULL, wb, 1e-5, "typical b");
    /* HF min-p 0.05 rows */
    const float r[3][4] = {
        {0.9f, 0.0274f, 0.047f, 0.0274f}, {0.15f, 0.3f, 0.3f, 0.25f}, {0.97f, 0.01f, 0.01f, 0.01f}};
    const int keep[3][4] = {{1, 0, 1, 0}, {1, 1, 1, 1}, {1, 0, 0, 0}};
    p = P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
    p.x.min_p = 0.05f;
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 4, NULL), TT_OK);
    for (int i = 0; i < 3; i++) {
        float got[4];
        logs_of(r[i], 4, l);
        assert_int_equal(tt_sampler_filter(s, &p, l, got, NULL, NULL, NULL, NULL), TT_OK);
        for (int j = 0; j < 4; j++)
            assert_int_equal(got[j] > 0.0f, keep[i][j]);
    }
    tt_sampler_free(s);
}

static void test_llama_penalties_dry(void **state) {
    (void)state;
    /* penalties on logits ln 0.2 (the internal stage: llama.cpp's vectors use
     * presence and frequency 5, outside OpenAI's [-2, 2] that params allow) */
    struct {
        float rep, fp, pp;
        int hist[5], n;
        float want[5];
    } pc[] = {
        {50, 0, 0, {0}, 1, {0, 0.25f, 0.25f, 0.25f, 0.25f}},
        {50, 0, 0, {0, 1, 2}, 3, {0, 0, 0, 0.5f, 0.5f}},
        {50, 0, 0, {0, 1, 2, 0, 0}, 5, {0, 0, 0, 0.5f, 0.5f}},
        {1, 5, 5, {0}, 1, {0.000011f, 0.249997f, 0.249997f, 0.249997f, 0.249997f}},
        {1, 5, 5, {0, 1, 2}, 3, {0.000023f, 0.000023f, 0.000023f, 0.499966f, 0.499966f}},
        {1, 5, 5, {0, 1, 2, 0, 0}, 5, {0.000000f, 0.000023f, 0.000023f, 0.499977f, 0.499977f}},
    };
    for (size_t i = 0; i < sizeof pc / sizeof *pc; i++) {
        tt_sampling_controls c = tt_sampling_controls_default();
        c.repetition_penalty = pc[i].rep;
        c.frequency_penalty = pc[i].fp;
        c.presence_penalty = pc[i].pp;
        float l[5], pr[5];
        for (int j = 0; j < 5; j++)
            l[j] = logf(0.2f);
        tt_token_history h = {pc[i].hist, pc[i].n, 0};
        tt_lp_scratch sc = {0};
        assert_int_equal(tt_lp_apply_penalties(&c, &h, l, 5, &sc, NULL), TT_OK);
        tt_lp_scratch_free(&sc);
        assert_int_equal(tt_softmax(l, 5, 1.0f, pr, NULL), TT_OK);
        for (int j = 0; j < 5; j++)
            if (fabsf(pr[j] - pc[i].want[j]) > 1e-5f)
                fail_msg("penalties case %zu token %d: %g vs %g", i, j, (double)pr[j],
                         (double)pc[i].want[j]);
    }
    /* DRY (llama.cpp tests/test-sampling.cpp), through the public chain: the
     * vocabulary "abcde" so that ids 0..4 are the characters a..e */
    const uint32_t cps[5] = {'a', 'b', 'c', 'd', 'e'};
    tt_tokenizer *tok;
    assert_int_equal(tt_tokenizer_from_codepoints(&tok, cps, 5, NULL), TT_OK);
    struct {
        int V;
        float p;
        int hist[8], n;
        float want[5], mult, base;
        int allowed, last_n;
        const char *breaker;
    } dc[] = {
        {4, 0.25f, {0, 1}, 2, {0.25f, 0.25f, 0.25f, 0.25f}, 1.0f, 1.1f, 2, 4, NULL},
        {4,
         0.25f,
         {0, 1, 2, 0, 1},
         5,
         {0.296923f, 0.296923f, 0.109232f, 0.296923f},
         1.0f,
         1.1f,
         2,
         5,
         NULL},
        {5, 0.2f, {0, 1, 3, 4, 0, 1}, 6, {0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, 1.0f, 1.1f, 2, 6, "d"},
        {5,
         0.2f,
         {0, 1, 2, 0, 1},
         5,
         {0.241818f, 0.241818f, 0.032727f, 0.241818f, 0.241818f},
         2.0f,
         1.1f,
         2,
         5,
         NULL},
        {5, 0.2f, {0, 1, 2, 3, 4, 0, 1}, 7, {0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, 1.0f, 1.1f, 4, 7, NULL},
    };
    for (size_t i = 0; i < sizeof dc / sizeof *dc; i++) {
        tt_sampling_params p = P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
        p.x.dry_multiplier = dc[i].mult;
        p.x.dry_base = dc[i].base;
        p.x.dry_allowed_length = dc[i].allowed;
        p.x.dry_penalty_last_n = dc[i].last_n;
        p.x.n_dry_breakers = dc[i].breaker ? 1 : 0;
        p.x.dry_breakers[0] = dc[i].breaker;
        float l[5];
        for (int j = 0; j < dc[i].V; j++)
            l[j] = logf(dc[i].p);
        tt_token_history h = {dc[i].hist, dc[i].n, 0};
        char what[32];
        snprintf(what, sizeof what, "DRY case %zu", i);
        expect_probs(&p, l, dc[i].V, &h, tok, dc[i].want, 1e-5, what);
    }
    tt_tokenizer_free(tok);
}

static void test_hf_repetition_and_bias(void **state) {
    (void)state;
    /* HF: ids [[0, 1], [5, 0]], vocab 10, scores 0.1 except [0,0] = -0.1, [1,5] = 0.4 */
    const int ids[2][2] = {{0, 1}, {5, 0}};
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 10, NULL), TT_OK);
    for (int r = 0; r < 2; r++) {
        float l[10], out[10];
        for (int i = 0; i < 10; i++)
            l[i] = 0.1f;
        if (r == 0)
            l[0] = -0.1f;
        else
            l[5] = 0.4f;
        tt_sampling_params p = tt_sampling_params_default();
        p.x.repetition_penalty = 2.0f;
        tt_token_history h = {ids[r], 2, 2};
        tt_sampler_set_history(s, &h, NULL);
        assert_int_equal(tt_sampler_process_logits(s, &p, l, out, NULL), TT_OK);
        if (r == 0) {
            assert_float_equal(out[0], -0.2f, 1e-7);
            assert_float_equal(out[1], 0.05f, 1e-7);
        } else {
            assert_float_equal(out[0], 0.05f, 1e-7);
            assert_float_equal(out[5], 0.2f, 1e-7);
        }
        for (int i = 2; i < 10; i++)
            if (i != 5) assert_float_equal(out[i], 0.1f, 0);
        /* presence / frequency count generated tokens only: here none */
        p.x.repetition_penalty = 1.0f;
        p.x.presence_penalty = 1.0f;
        assert_int_equal(tt_sampler_process_logits(s, &p, l, out, NULL), TT_OK);
        assert_memory_equal(out, l, sizeof l);
    }
    /* a bias of -100 bans a token in practice; greedy takes the biased argmax */
    tt_sampler_set_history(s, NULL, NULL);
    float l[10] = {5, 1, 2, 3, 4, 0, 0, 0, 0, 0};
    tt_logit_bias b[2] = {{0, -100.0f}, {3, 1.5f}};
    tt_sampling_params g = P(TT_STRATEGY_GREEDY, 1.0f, 0, 1.0f);
    g.x.logit_bias = b;
    g.x.n_logit_bias = 2;
    tt_rng rng;
    tt_rng_seed(&rng, 1);
    int tok;
    assert_int_equal(tt_sampler_sample(s, &g, l, &rng, &tok, NULL), TT_OK);
    assert_int_equal(tok, 3); /* 3 + 1.5 > 4 */
    /* the caller's logits are never modified */
    const float l0[10] = {5, 1, 2, 3, 4, 0, 0, 0, 0, 0};
    assert_memory_equal(l, l0, sizeof l);
    /* a bias id outside the vocabulary */
    b[1].id = 10;
    tt_error err;
    assert_int_equal(tt_sampler_sample(s, &g, l, &rng, &tok, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    tt_sampler_free(s);
}

static void test_order(void **state) {
    (void)state;
    /* Camelid's vector: logits [3, 2, 1], top_p 0.8, T 0.5. HF order
     * (temperature first) keeps {0}; llama.cpp's (temperature last) {0, 1}. */
    const float l[3] = {3, 2, 1};
    tt_sampling_params p = P(TT_STRATEGY_COMBINED, 0.5f, 0, 0.8f);
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 3, NULL), TT_OK);
    float pr[3];
    int n;
    assert_int_equal(tt_sampler_filter(s, &p, l, pr, NULL, &n, NULL, NULL), TT_OK);
    assert_int_equal(n, 1);
    tt_error err;
    assert_int_equal(
        tt_sampler_order_parse("penalties,dry,top_k,top_p,min_p,temperature", &p.x, &err), TT_OK);
    assert_int_equal(tt_sampler_filter(s, &p, l, pr, NULL, &n, NULL, NULL), TT_OK);
    assert_int_equal(n, 2);
    /* kept {0, 1}, then temperature 0.5: e^(2*3) : e^(2*2) */
    assert_float_equal(pr[0], 1.0 / (1.0 + exp(-2.0)), 1e-6);
    /* the default order spelled out gives the same draws bit for bit */
    tt_sampling_params d = P(TT_STRATEGY_COMBINED, 0.8f, 2, 0.9f), e = d;
    assert_int_equal(
        tt_sampler_order_parse("penalties,dry,temperature,top_k,top_p,min_p,typ_p", &e.x, NULL),
        TT_OK);
    tt_rng r1, r2;
    tt_rng_seed(&r1, 9);
    tt_rng_seed(&r2, 9);
    for (int i = 0; i < 200; i++) {
        int a, b;
        assert_int_equal(tt_sampler_sample(s, &d, l, &r1, &a, NULL), TT_OK);
        assert_int_equal(tt_sampler_sample(s, &e, l, &r2, &b, NULL), TT_OK);
        assert_int_equal(a, b);
    }
    /* names: aliases, unknown, repeated, empty; temperature left out */
    assert_int_equal(tt_sampler_order_parse("typical,top_k", &e.x, NULL), TT_OK);
    assert_int_equal(e.x.samplers[0], TT_SAMPLER_TYPICAL);
    assert_int_equal(tt_sampler_order_parse("top_k,nucleus", &e.x, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "unknown sampler 'nucleus'"));
    assert_int_equal(tt_sampler_order_parse("top_k,top_k", &e.x, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "appears twice"));
    assert_int_equal(tt_sampler_order_parse("top_k,,min_p", &e.x, &err), TT_ERR_ARG);
    e = P(TT_STRATEGY_COMBINED, 0.7f, 0, 1.0f);
    assert_int_equal(tt_sampler_order_parse("top_k,min_p", &e.x, NULL), TT_OK);
    assert_int_equal(tt_sampling_params_validate(&e, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "'temperature' is not in the sampler order"));
    tt_sampler_free(s);
}

static void test_validation(void **state) {
    (void)state;
    tt_sampling_params p;
    tt_error err;
#define EXPECT_BAD(stmt, m)                                                                        \
    do {                                                                                           \
        p = tt_sampling_params_default();                                                          \
        stmt;                                                                                      \
        assert_int_equal(tt_sampling_params_validate(&p, &err), TT_ERR_ARG);                       \
        if (!strstr(err.msg, m)) fail_msg("'%s' lacks '%s'", err.msg, m);                          \
    } while (0)
    EXPECT_BAD(p.x.min_p = 1.5f, "min_p must be in [0, 1], got 1.5");
    EXPECT_BAD(p.x.min_p = -0.1f, "min_p must be in [0, 1]");
    EXPECT_BAD(p.x.typical_p = 0.0f, "typical_p must be in (0, 1], got 0");
    EXPECT_BAD(p.x.typical_p = NAN, "typical_p");
    EXPECT_BAD(p.x.repetition_penalty = 0.0f, "repetition_penalty must be finite and > 0");
    EXPECT_BAD(p.x.repetition_penalty = -1.0f, "got -1");
    EXPECT_BAD(p.x.presence_penalty = 2.5f, "presence_penalty must be in [-2, 2]");
    EXPECT_BAD(p.x.frequency_penalty = -3.0f, "frequency_penalty");
    EXPECT_BAD(p.x.penalty_last_n = -1, "penalty_last_n must be >= 0");
    EXPECT_BAD(p.x.dry_multiplier = -1.0f, "dry_multiplier");
    EXPECT_BAD(p.x.dry_base = 0.5f, "dry_base must be finite and >= 1");
    EXPECT_BAD(p.x.dry_allowed_length = 0, "dry_allowed_length");
    EXPECT_BAD(p.x.dry_breakers[0] = "", "sequence breaker 1");
    tt_logit_bias b[2] = {{1, 101.0f}, {1, 1.0f}};
    EXPECT_BAD((p.x.logit_bias = b, p.x.n_logit_bias = 1),
               "logit bias 101 for token 1 is outside [-100, 100]");
    b[0].bias = 1.0f;
    EXPECT_BAD((p.x.logit_bias = b, p.x.n_logit_bias = 2), "token 1 appears twice");
    EXPECT_BAD(p.x.n_logit_bias = 3, "NULL array");
    EXPECT_BAD((p.x.n_samplers = 2, p.x.samplers[0] = TT_SAMPLER_TOP_K,
                p.x.samplers[1] = TT_SAMPLER_TOP_K),
               "appears twice");
    EXPECT_BAD(p.x.n_stop = 9, "at most 8 stop strings");
    EXPECT_BAD((p.x.n_stop = 1, p.x.stop[0] = ""), "stop string 1 is empty");
    EXPECT_BAD((p.x.n_stop = 2, p.x.stop[0] = "ok", p.x.stop[1] = "a\xc3"),
               "stop string 2 is not valid UTF-8");
    EXPECT_BAD((p.x.n_stop = 1, p.x.stop[0] = "\xed\xa0\x80"), "stop string 1 is not valid UTF-8");
    EXPECT_BAD(p.x.dry_breakers[1] = "\xff", "dry sequence breaker 2 is not valid UTF-8");
    EXPECT_BAD(p.x.logprobs = 21, "logprobs must be in [0, 20], got 21");
    EXPECT_BAD(p.x.num_beams = 0, "num_beams");
    EXPECT_BAD(p.x.num_beams = 3, "excludes sampling");
    EXPECT_BAD((p.strategy = TT_STRATEGY_GREEDY, p.x.num_beams = 2, p.x.num_return_sequences = 3),
               "num_return_sequences");
    /* greedy validates the controls too */
    EXPECT_BAD((p.strategy = TT_STRATEGY_GREEDY, p.x.min_p = 2.0f), "min_p");
    /* and the generator's config */
    tt_generator_config gc = tt_generator_config_default();
    gc.sampling.x.num_beams = 2;
    assert_int_equal(tt_generator_config_validate(&gc, 10, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "excludes sampling"));
    gc.sampling.strategy = TT_STRATEGY_GREEDY;
    assert_int_equal(tt_generator_config_validate(&gc, 10, &err), TT_OK);
}

/* ---- the PyTorch fixture ------------------------------------------------------ */

static void test_fixture_filters(void **state) {
    (void)state;
    char *path = tt_fixture_path("sampling_controls.txt");
    assert_non_null(path);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[16384];
    int n_cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "filter ", 7)) continue;
        char name[64];
        sscanf(line + 7, "%63s", name);
        const int V = atoi(tt_fixture_field(line, "V"));
        assert_true(V <= 64);
        tt_sampling_params p = P(TT_STRATEGY_COMBINED, strtof(tt_fixture_field(line, "T"), NULL),
                                 atoi(tt_fixture_field(line, "top_k")), strtof(tt_fixture_field(line, "top_p"), NULL));
        p.x.min_p = strtof(tt_fixture_field(line, "min_p"), NULL);
        p.x.typical_p = strtof(tt_fixture_field(line, "typical_p"), NULL);
        p.x.repetition_penalty = strtof(tt_fixture_field(line, "rep"), NULL);
        p.x.presence_penalty = strtof(tt_fixture_field(line, "presence"), NULL);
        p.x.frequency_penalty = strtof(tt_fixture_field(line, "frequency"), NULL);
        p.x.penalty_last_n = atoi(tt_fixture_field(line, "last_n"));
        int prompt[32], gen[32], hist[64];
        const int np = tt_fixture_ids(tt_fixture_field(line, "prompt"), prompt, 32),
                  ng = tt_fixture_ids(tt_fixture_field(line, "gen"), gen, 32);
        memcpy(hist, prompt, (size_t)np * sizeof *hist);
        memcpy(hist + np, gen, (size_t)ng * sizeof *hist);
        tt_token_history h = {hist, np + ng, np};
        tt_logit_bias bias[16];
        int nb = 0;
        const char *b = tt_fixture_field(line, "bias");
        while (*b != '-' && *b != ' ' && nb < 16) {
            char *e;
            bias[nb].id = (int)strtol(b, &e, 10);
            bias[nb].bias = strtof(e + 1, &e);
            nb++;
            b = *e == ',' ? e + 1 : e;
        }
        p.x.logit_bias = bias;
        p.x.n_logit_bias = nb;
        const char *s = strstr(line, " : ") + 3;
        float l[64], want[64];
        for (int i = 0; i < V; i++)
            l[i] = strtof(s, (char **)&s);
        s = strstr(s, "|") + 1;
        for (int i = 0; i < V; i++)
            want[i] = strtof(s, (char **)&s);
        expect_probs(&p, l, V, &h, NULL, want, 1e-6, name);
        n_cases++;
    }
    fclose(f);
    free(path);
    assert_true(n_cases >= 10);
}

static tt_model *g_model;
static tt_tokenizer *g_tok;

static int load_model(void **state) {
    (void)state;
    char *mp = tt_fixture_path("gen_model.safetensors");
    if (!mp) return -1;
    tt_error e;
    tt_status st = tt_checkpoint_load(mp, &g_model, &g_tok, &e);
    free(mp);
    return st == TT_OK ? 0 : -1;
}

static int free_model(void **state) {
    (void)state;
    tt_model_free(g_model);
    tt_tokenizer_free(g_tok);
    return 0;
}

static void test_fixture_beams(void **state) {
    (void)state;
    char *path = tt_fixture_path("sampling_controls.txt");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[16384];
    int n_cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "beam ", 5)) continue;
        char name[64];
        sscanf(line + 5, "%63s", name);
        int prompt[64];
        const int np = tt_fixture_ids(tt_fixture_field(line, "prompt"), prompt, 64);
        tt_generator_config gc = tt_generator_config_default();
        gc.sampling.strategy = TT_STRATEGY_GREEDY;
        gc.n_threads = 1;
        gc.max_new_tokens = atoi(tt_fixture_field(line, "max_new"));
        gc.eos_token_id = atoi(tt_fixture_field(line, "eos"));
        gc.sampling.x.num_beams = atoi(tt_fixture_field(line, "num_beams"));
        gc.sampling.x.length_penalty = strtof(tt_fixture_field(line, "length_penalty"), NULL);
        gc.sampling.x.early_stopping = atoi(tt_fixture_field(line, "early_stopping")) != 0;
        gc.sampling.x.repetition_penalty = strtof(tt_fixture_field(line, "rep"), NULL);
        const int R = atoi(tt_fixture_field(line, "R_ret"));
        gc.sampling.x.num_return_sequences = R;
        tt_generator *g;
        tt_error err;
        assert_int_equal(tt_generator_create(&g, g_model, &gc, &err), TT_OK);
        tt_generation out[8];
        tt_status st = tt_generator_beam_search(g, prompt, np, NULL, out, &err);
        if (st) fail_msg("%s: %s", name, err.msg);
        const char *s = strstr(line, " : ") + 3;
        for (int r = 0; r < R; r++) {
            int want[128], n = 0;
            char *e;
            const char *end = strchr(s, ';');
            if (!end) end = s + strlen(s);
            double score = 0.0;
            while (s < end) { /* ids, then the score (the last number) */
                double v = strtod(s, &e);
                if (e == s) break;
                want[n++] = (int)v;
                score = v;
                s = e;
                while (*s == ' ')
                    s++;
            }
            n--; /* the last was the score */
            if (out[r].n_tokens != n || memcmp(out[r].tokens, want, (size_t)n * sizeof *want))
                fail_msg("%s: sequence %d differs (length %d vs %d)", name, r, out[r].n_tokens, n);
            if (fabs(out[r].score - score) > 1e-4 * fmax(1.0, fabs(score)))
                fail_msg("%s: sequence %d score %.7f vs %.7f", name, r, out[r].score, score);
            if (*s == ';') s++;
        }
        tt_generations_free(out, R);
        /* tt_generator_generate with beams: the best one */
        const int *rows[1] = {prompt};
        int lens[1] = {np};
        tt_generation best;
        assert_int_equal(
            tt_generator_generate(g, rows, lens, 1, NULL, NULL, NULL, NULL, &best, NULL), TT_OK);
        assert_true(best.n_tokens > np);
        tt_generations_free(&best, 1);
        tt_generator_free(g);
        n_cases++;
    }
    fclose(f);
    free(path);
    assert_true(n_cases >= 4);
}

/* ---- chi-square of the new truncations ------------------------------------- */

static void test_chi_square_new(void **state) {
    (void)state;
    static const double CRIT[9] = {0,      10.828, 13.816, 16.266, 18.467,
                                   20.515, 22.458, 24.322, 26.124};
    const float l[8] = {1.5f, 2.8f, 2.5f, 0.5f, 1.0f, 0.8f, 0.3f, 0.2f};
    tt_sampling_params ps[4];
    ps[0] = P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
    ps[0].x.min_p = 0.2f;
    ps[1] = P(TT_STRATEGY_COMBINED, 1.3f, 6, 1.0f);
    ps[1].x.min_p = 0.1f;
    ps[2] = P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
    ps[2].x.typical_p = 0.7f;
    ps[3] = P(TT_STRATEGY_COMBINED, 1.0f, 0, 0.95f);
    assert_int_equal(tt_sampler_order_parse("min_p,top_p,temperature,typ_p", &ps[3].x, NULL),
                     TT_OK);
    ps[3].x.min_p = 0.1f;
    ps[3].x.typical_p = 0.9f;
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    for (int k = 0; k < 4; k++) {
        enum { N = 20000 };
        float pr[8];
        assert_int_equal(tt_sampler_filter(s, &ps[k], l, pr, NULL, NULL, NULL, NULL), TT_OK);
        int c[8] = {0};
        tt_rng rng;
        tt_rng_seed(&rng, 100 + (uint64_t)k);
        for (int i = 0; i < N; i++) {
            int t;
            assert_int_equal(tt_sampler_sample(s, &ps[k], l, &rng, &t, NULL), TT_OK);
            c[t]++;
        }
        double chi2 = 0.0;
        int df = -1;
        for (int i = 0; i < 8; i++) {
            if (pr[i] == 0.0f) {
                assert_int_equal(c[i], 0);
                continue;
            }
            const double e = N * (double)pr[i];
            chi2 += (c[i] - e) * (c[i] - e) / e;
            df++;
        }
        assert_true(df >= 1 && df <= 8);
        if (chi2 > CRIT[df]) fail_msg("case %d: chi2 %.2f > %.3f (df %d)", k, chi2, CRIT[df], df);
    }
    tt_sampler_free(s);
}

/* ---- stop strings, streams, logprobs ---------------------------------------- */

static void test_stop_check(void **state) {
    (void)state;
    const uint32_t cps[5] = {'a', 'b', 'c', 'd', 'e'};
    tt_tokenizer *tok;
    assert_int_equal(tt_tokenizer_from_codepoints(&tok, cps, 5, NULL), TT_OK);
    tt_sampling_controls c = tt_sampling_controls_default();
    c.n_stop = 3;
    c.stop[0] = "abc";
    c.stop[1] = "bcd";
    c.stop[2] = "xyz"; /* not in the vocabulary: never matches */
    tt_stop_set ss;
    assert_int_equal(tt_stop_set_init(&ss, &c, tok, NULL), TT_OK);
    assert_int_equal(ss.n, 2);
    const int g1[] = {4, 0, 1}; /* "eab": "ab" may begin "abc" */
    int len, hold;
    assert_int_equal(tt_stop_check(&ss, g1, 3, &len, &hold), -1);
    assert_int_equal(hold, 2);
    const int g2[] = {4, 0, 1, 2}; /* "eabc" */
    assert_int_equal(tt_stop_check(&ss, g2, 4, &len, &hold), 0);
    assert_int_equal(len, 3);
    const int g3[] = {4, 4}; /* nothing to hold */
    assert_int_equal(tt_stop_check(&ss, g3, 2, &len, &hold), -1);
    assert_int_equal(hold, 0);
    c.n_stop = 1;
    tt_error err;
    assert_int_equal(tt_stop_set_init(&ss, &c, NULL, &err), TT_ERR_ARG);
    tt_tokenizer_free(tok);
}

typedef struct {
    char text[4][256];
    int n[4];
    int last_step[4];
} stream_rec;

static int record(void *user, int row, int token, int step) {
    stream_rec *r = user;
    char buf[5];
    int k = tt_tokenizer_token_utf8(g_tok, token, buf);
    memcpy(r->text[row] + r->n[row], buf, (size_t)k);
    r->n[row] += k;
    r->text[row][r->n[row]] = '\0';
    assert_true(step > r->last_step[row]); /* each token once, in order */
    r->last_step[row] = step;
    return 0;
}

static char *decode_gen(const tt_generation *o) {
    char *t;
    assert_int_equal(
        tt_tokenizer_decode(g_tok, o->tokens + o->n_prompt, (size_t)o->n_generated, &t, NULL),
        TT_OK);
    return t;
}

static void test_stop_generate(void **state) {
    (void)state;
    /* greedy from "ROMEO:" gives "\nI the the the ..." (gen_golden.txt) */
    const char *prompts[3] = {"ROMEO:", "And ", "the "};
    int *ids[3];
    int lens[3];
    for (int r = 0; r < 3; r++) {
        size_t n;
        assert_int_equal(
            tt_tokenizer_encode(g_tok, prompts[r], strlen(prompts[r]), &ids[r], &n, NULL), TT_OK);
        lens[r] = (int)n;
    }
    tt_generator_config gc = tt_generator_config_default();
    gc.sampling.strategy = TT_STRATEGY_GREEDY;
    gc.max_new_tokens = 20;
    gc.n_threads = 1;
    gc.sampling.x.n_stop = 2;
    gc.sampling.x.stop[0] = "he t"; /* spans four tokens */
    gc.sampling.x.stop[1] = "qqq";  /* never */
    tt_generator *g;
    assert_int_equal(tt_generator_create(&g, g_model, &gc, NULL), TT_OK);
    tt_generation out[3], alone;
    tt_error err;
    const int *rows[3] = {ids[0], ids[1], ids[2]};
    /* no tokenizer: stop strings cannot be matched */
    assert_int_equal(tt_generator_generate(g, rows, lens, 3, NULL, NULL, NULL, NULL, out, &err),
                     TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "tt_generator_set_tokenizer"));
    tt_generator_set_tokenizer(g, g_tok);
    stream_rec rec;
    memset(&rec, 0, sizeof rec);
    for (int r = 0; r < 4; r++)
        rec.last_step[r] = -1;
    assert_int_equal(tt_generator_generate(g, rows, lens, 3, NULL, NULL, record, &rec, out, &err),
                     TT_OK);
    char *t0 = decode_gen(&out[0]);
    assert_string_equal(t0, "\nI t");
    assert_int_equal(out[0].finish, TT_FINISH_STOP);
    assert_int_equal(out[0].stop_index, 0);
    for (int r = 0; r < 3; r++) {
        char *t = decode_gen(&out[r]);
        assert_null(strstr(t, "he t"));
        /* the stream showed exactly the returned text: nothing was taken back */
        assert_string_equal(rec.text[r], t);
        /* a row alone (its row id) gives the same as in the ragged batch */
        const uint64_t rid = (uint64_t)r;
        assert_int_equal(
            tt_generator_generate(g, &rows[r], &lens[r], 1, NULL, &rid, NULL, NULL, &alone, NULL),
            TT_OK);
        assert_int_equal(alone.n_tokens, out[r].n_tokens);
        assert_memory_equal(alone.tokens, out[r].tokens, (size_t)alone.n_tokens * sizeof(int));
        assert_int_equal(alone.finish, out[r].finish);
        tt_generations_free(&alone, 1);
        free(t);
    }
    free(t0);
    tt_generations_free(out, 3);
    /* with pads, a stopped row keeps n_prompt + steps tokens */
    tt_generate_overrides o = {TT_OVR_EOS | TT_OVR_PAD, gc};
    o.values.eos_token_id = 2; /* '!' */
    o.values.pad_token_id = 3;
    assert_int_equal(tt_generator_generate(g, rows, lens, 3, &o, NULL, NULL, NULL, out, NULL),
                     TT_OK);
    assert_int_equal(out[0].finish, TT_FINISH_STOP);
    for (int r = 0; r < 3; r++)
        assert_int_equal(out[r].n_tokens, out[0].n_tokens - lens[0] + lens[r]);
    tt_generations_free(out, 3);
    /* a stop prefix held back and then released */
    gc.sampling.x.n_stop = 1;
    gc.sampling.x.stop[0] = "the q";
    tt_generate_overrides o2 = {TT_OVR_CONTROLS, gc};
    memset(&rec, 0, sizeof rec);
    for (int r = 0; r < 4; r++)
        rec.last_step[r] = -1;
    assert_int_equal(tt_generator_generate(g, rows, lens, 1, &o2, NULL, record, &rec, out, NULL),
                     TT_OK);
    char *t = decode_gen(&out[0]);
    assert_string_equal(rec.text[0], t);
    assert_int_equal(out[0].finish, TT_FINISH_LENGTH);
    free(t);
    tt_generations_free(out, 1);
    tt_generator_free(g);
    for (int r = 0; r < 3; r++)
        free(ids[r]);
}

static void test_logprobs(void **state) {
    (void)state;
    const char *text = "ROMEO: and the";
    int *ids;
    size_t n;
    assert_int_equal(tt_tokenizer_encode(g_tok, text, strlen(text), &ids, &n, NULL), TT_OK);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 8;
    gc.n_threads = 1;
    gc.sampling.x.logprobs = 3;
    tt_generator *g;
    assert_int_equal(tt_generator_create(&g, g_model, &gc, NULL), TT_OK);
    const int *rows[1] = {ids};
    int lens[1] = {6};
    tt_generation out;
    assert_int_equal(tt_generator_generate(g, rows, lens, 1, NULL, NULL, NULL, NULL, &out, NULL),
                     TT_OK);
    assert_non_null(out.logprobs);
    for (int j = 0; j < out.n_generated; j++) {
        const tt_token_logprob *lp = &out.logprobs[j];
        assert_int_equal(lp->id, out.tokens[out.n_prompt + j]);
        assert_int_equal(lp->n_top, 3);
        /* raw: the model's log_softmax at this step */
        float lg[65], ls[65];
        assert_int_equal(tt_generator_next_logits(g, out.tokens, out.n_prompt + j, lg, NULL),
                         TT_OK);
        assert_int_equal(tt_log_softmax(lg, 65, ls, NULL), TT_OK);
        assert_float_equal(lp->logprob, ls[lp->id], 1e-5);
        for (int k = 1; k < 3; k++)
            assert_true(lp->top[k].logprob <= lp->top[k - 1].logprob);
        assert_float_equal(lp->top[0].logprob, ls[lp->top[0].id], 1e-5);
    }
    tt_generations_free(&out, 1);
    /* processed, with top-k 2: the two alternatives hold all the mass */
    tt_generate_overrides o = {TT_OVR_CONTROLS | TT_OVR_TOP_K, gc};
    o.values.sampling.top_k = 2;
    o.values.sampling.x.logprobs_mode = TT_LOGPROBS_PROCESSED;
    assert_int_equal(tt_generator_generate(g, rows, lens, 1, &o, NULL, NULL, NULL, &out, NULL),
                     TT_OK);
    for (int j = 0; j < out.n_generated; j++) {
        const tt_token_logprob *lp = &out.logprobs[j];
        assert_true(lp->n_top >= 1 && lp->n_top <= 2);
        double sum = 0.0;
        for (int k = 0; k < lp->n_top; k++)
            sum += exp(lp->top[k].logprob);
        assert_float_equal(sum, 1.0, 1e-5);
    }
    tt_generations_free(&out, 1);
    tt_generator_free(g);
    /* prompt logprobs: the forward pass of tt eval (mean -logprob = its loss) */
    tt_token_logprob *pl = malloc(n * sizeof *pl);
    assert_int_equal(tt_model_token_logprobs(g_model, ids, (int)n, 2, pl, NULL), TT_OK);
    assert_int_equal(pl[0].n_top, -1);
    double nll = 0.0;
    for (size_t i = 1; i < n; i++)
        nll -= pl[i].logprob;
    double loss;
    assert_int_equal(tt_evaluate_tokens(g_model, ids, n, &loss, NULL, NULL), TT_OK);
    assert_float_equal(nll / (double)(n - 1), loss, 1e-5);
    free(pl);
    free(ids);
}

/* ---- the CLI ----------------------------------------------------------------- */

static void run_expect(const char *const *argv, int status, const char *in_err,
                       const char *in_out) {
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != status || (in_err && !strstr(r.err, in_err)) ||
        (in_out && !strstr(r.out, in_out)))
        fail_msg("%s %s: status %d (want %d)\nstderr: %s\nstdout: %.400s", argv[1], argv[2],
                 r.status, status, r.err, r.out);
    if (status == 2) { /* one line */
        const char *nl = strchr(r.err, '\n');
        assert_true(nl && nl[1] == '\0');
    }
    tt_cli_result_free(&r);
}

static void test_cli(void **state) {
    (void)state;
    char *mp = tt_fixture_path("gen_model.safetensors");
    const char *L = "1.5,2.8,2.5,0.5,1.0,0.8,0.3,0.2";
    /* tt sample: the chain in JSON */
    run_expect((const char *[]){"tt", "sample", "--logits", L, "--min-p", "0.3", "--top-k", "5",
                                "--logit-bias", "0=1", "--json", NULL},
               0, NULL, "\"chain\": [\"logit_bias\", \"temperature\", \"top_k\", \"min_p\"]");
    run_expect((const char *[]){"tt", "sample", "--logits", L, "--samplers", "top_k,temperature",
                                "--strategy", "greedy", "--json", NULL},
               0, NULL, "\"chain\": [\"greedy\"]");
    run_expect((const char *[]){"tt", "sample", "--logits", L, "--repetition-penalty", "3",
                                "--history", "1,1", "--json", NULL},
               0, NULL, "\"penalties\", \"temperature\"");
    /* bad values: flag and value named, exit 2 */
    struct {
        const char *a, *b, *msg;
    } bad[] = {
        {"--min-p", "1.5", "--min-p 1.5: min_p must be in [0, 1]"},
        {"--typical-p", "0", "--typical-p 0: typical_p must be in (0, 1]"},
        {"--repetition-penalty", "0", "--repetition-penalty 0: "},
        {"--presence-penalty", "3", "--presence-penalty 3: "},
        {"--logit-bias", "3=101", "--logit-bias 3=101: logit bias 101"},
        {"--logit-bias", "x=1", "--logit-bias x=1: "},
        {"--logit-bias", "9=1", "--logit-bias 9=1: token id 9 is out of range"},
        {"--samplers", "top_k,bogus", "--samplers top_k,bogus: unknown sampler 'bogus'"},
        {"--samplers", "min_p,min_p", "appears twice"},
        {"--dry-base", "0.5", "--dry-base 0.5: dry_base"},
        {"--history", "1,x", "--history 1,x: "},
        {"--logit-bias", "5=100.0001", "--logit-bias 5=100.0001: logit bias 100.0001 for token 5"},
        {"--samplers", "top_k", "--temperature 0.7: has no effect, 'temperature' is not in "
                                "--samplers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        run_expect((const char *[]){"tt", "sample", "--logits", L, "--temperature", "0.7",
                                    bad[i].a, bad[i].b, NULL},
                   2, bad[i].msg, NULL);
    /* --samplers: stages after "temperature" see tempered logits (llama.cpp);
     * [0, 0], token 0 seen, presence 1, T 0.5: -1 after tempering is
     * 1/(1+e) : e/(1+e); tempering after the penalty, -2 : 0 */
    run_expect((const char *[]){"tt", "sample", "--logits", "0,0", "--history", "0",
                                "--presence-penalty", "1", "--temperature", "0.5", "--samplers",
                                "temperature,penalties", "--json", NULL},
               0, NULL, "\"probs\": [0.268941432, 0.731058598]");
    run_expect((const char *[]){"tt", "sample", "--logits", "0,0", "--history", "0",
                                "--presence-penalty", "1", "--temperature", "0.5", "--samplers",
                                "penalties,temperature", "--json", NULL},
               0, NULL, "\"probs\": [0.119202919, 0.880797088]");
    /* DRY: token 0 would repeat "0 1" (length 2): -1 * 1.75^(2-1) */
    run_expect((const char *[]){"tt", "sample", "--logits", "0,0", "--history", "0,1,0,1",
                                "--dry-multiplier", "1", "--dry-allowed-length", "1",
                                "--temperature", "0.5", "--samplers", "temperature,dry", "--json",
                                NULL},
               0, NULL, "\"probs\": [0.148047194, 0.851952791]"); /* 1/(1+e^1.75) */
    run_expect((const char *[]){"tt", "sample", "--logits", "0,0", "--history", "0,1,0,1",
                                "--dry-multiplier", "1", "--dry-allowed-length", "1",
                                "--temperature", "0.5", "--samplers", "dry,temperature", "--json",
                                NULL},
               0, NULL, "\"probs\": [0.0293122288, 0.970687747]"); /* 1/(1+e^3.5) */
    /* tt generate */
    run_expect((const char *[]){"tt", "generate", "--model", mp, "--prompt", "ROMEO:", "--greedy",
                                "--max-new-tokens", "20", "--stop", "he t", "--json", NULL},
               0, NULL, "\"generated\": \"\\nI t\", \"tokens\"");
    run_expect((const char *[]){"tt", "generate", "--model", mp, "--prompt", "ROMEO:", "--greedy",
                                "--max-new-tokens", "20", "--stop", "he t", "--json", NULL},
               0, NULL,
               "\"finish_reason\": \"stop\", \"n_generated\": 4, \"stop_string\": \"he t\"");
    run_expect((const char *[]){"tt", "generate", "--model", mp, "--prompt", "ROMEO:", "--greedy",
                                "--max-new-tokens", "20", "--stop", "he t", "--stream", NULL},
               0, NULL, "ROMEO:\nI t\n");
    /* -100 bans 'h': greedy never writes "the" */
    tt_cli_result r;
    assert_int_equal(tt_cli_run((const char *[]){"tt", "generate", "--model", mp, "--prompt",
                                                 "ROMEO:", "--greedy", "--max-new-tokens", "20",
                                                 "--logit-bias", "'h'=-100", NULL},
                                NULL, &r),
                     0);
    assert_int_equal(r.status, 0);
    assert_null(strchr(r.out + 6, 'h'));
    tt_cli_result_free(&r);
    run_expect((const char *[]){"tt", "generate", "--model", mp, "--prompt",
                                "ROMEO:", "--max-new-tokens", "3", "--logprobs", "2",
                                "--prompt-logprobs", "--json", NULL},
               0, NULL, "\"prompt_logprobs\": [null, {\"token\": \"O\"");
    run_expect((const char *[]){"tt", "generate", "--model", mp, "--prompt",
                                "ROMEO:", "--num-beams", "3", "--num-return-sequences", "2",
                                "--max-new-tokens", "12", "--json", NULL},
               0, NULL, "\"score\": -0.750866");
    run_expect((const char *[]){"tt", "diversity", "--model", mp, "--prompt", "a", "--samplers",
                                "top_k", "--temperatures", "1,0.5", "--samples", "2", NULL},
               2, "--temperatures: temperature 0.5: has no effect, 'temperature' is not in --samplers",
               NULL);
    run_expect((const char *[]){"tt", "chat", "--model", mp, "--samplers", "top_k",
                                "--temperature", "0.5", NULL},
               2, "tt chat: --temperature 0.5: has no effect", NULL);
    /* beam search applies DRY after the penalties, as greedy does */
    const char *beam[] = {"tt", "generate", "--model", mp, "--prompt", "abab", "--num-beams", "3",
                          "--max-new-tokens", "20", "--dry-multiplier", "2",
                          "--dry-allowed-length", "1", NULL};
    beam[11] = "0";
    run_expect(beam, 0, NULL, "ababe the the the the th\n");
    beam[11] = "2";
    run_expect(beam, 0, NULL, "abably the will and his \n");
    struct {
        const char *a, *b, *c, *d, *msg;
    } gbad[] = {
        {"--num-beams", "2", "--temperature", "0.8",
         "--num-beams 2: beam search excludes sampling (--temperature given)"},
        {"--num-beams", "2", "--min-p", "0.1", "excludes sampling (--min-p given)"},
        {"--logprobs", "21", "--json", NULL, "--logprobs 21: logprobs must be in [0, 20]"},
        {"--logprobs", "2", NULL, NULL, "--logprobs: needs --json"},
        {"--stop", "", NULL, NULL, "--stop '': a stop string must not be empty"},
        {"--num-return-sequences", "2", NULL, NULL, "needs --num-beams"},
        {"--logit-bias", "'\xd0\xb6'=1", NULL, NULL, "is not in the model's vocabulary"},
        {"--logprobs-mode", "cooked", NULL, NULL,
         "--logprobs-mode cooked: expected raw or processed"},
        {"--logprobs-mode", "processed", "--json", NULL,
         "--logprobs-mode processed: needs --logprobs N"},
        {"--samplers", "top_k,min_p", "--temperature", "2",
         "--temperature 2: has no effect, 'temperature' is not in --samplers"},
        {"--stop", "a\xc3", NULL, NULL, "--stop a\xc3: stop string 1 is not valid UTF-8"},
        {"--dry-sequence-breaker", "\xff", NULL, NULL,
         "--dry-sequence-breaker \xff: dry sequence breaker 1 is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof gbad / sizeof *gbad; i++)
        run_expect((const char *[]){"tt", "generate", "--model", mp, "--prompt", "a", gbad[i].a,
                                    gbad[i].b, gbad[i].c, gbad[i].d, NULL},
                   2, gbad[i].msg, NULL);
    const char *nine[32] = {"tt", "generate", "--model", mp, "--prompt", "a"};
    int k = 6;
    for (int i = 0; i < 9; i++) {
        nine[k++] = "--stop";
        nine[k++] = "zz";
    }
    nine[k] = NULL;
    run_expect(nine, 2, "--stop zz: at most 8 stop strings", NULL);
    /* the tour's section 11 */
    char *dir = tt_test_tmpdir();
    run_expect((const char *[]){"tt", "tour", "--sections", "11", "--no-plots", "--model", mp,
                                "--out", dir, NULL},
               0, NULL, "off (1)             'hello the the the the the");
    run_expect((const char *[]){"tt", "tour", "--sections", "11", "--no-plots", "--model", mp,
                                "--out", dir, NULL},
               0, NULL, "Peaked: top-p keeps 4 tokens, min-p 2. Flat: top-p keeps 7, min-p 8.");
    tt_test_rmtree(dir);
    free(dir);
    free(mp);
}

/* Every new entry point with NULL arguments: an error, never a crash. */
static void test_null_api(void **state) {
    (void)state;
    tt_error err;
    float l[3] = {0, 1, 2}, out[3];
    tt_sampler_set_history(NULL, NULL, NULL);
    assert_int_equal(tt_sampler_process_logits(NULL, NULL, l, out, &err), TT_ERR_ARG);
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 3, NULL), TT_OK);
    tt_sampling_params p = tt_sampling_params_default();
    assert_int_equal(tt_sampler_process_logits(s, &p, NULL, out, &err), TT_ERR_ARG);
    assert_int_equal(tt_sampler_process_logits(s, &p, l, NULL, &err), TT_ERR_ARG);
    /* a history token outside the vocabulary */
    const int bad[2] = {1, 7};
    tt_token_history h = {bad, 2, 0};
    p.x.repetition_penalty = 1.2f;
    tt_sampler_set_history(s, &h, NULL);
    assert_int_equal(tt_sampler_process_logits(s, &p, l, out, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "history token 7"));
    tt_sampler_free(s);
    assert_int_equal(tt_sampler_order_parse(NULL, &p.x, &err), TT_ERR_ARG);
    assert_int_equal(tt_sampler_order_parse("top_k", NULL, &err), TT_ERR_ARG);
    assert_string_equal(tt_sampler_kind_name((tt_sampler_kind)99), "unknown");
    assert_string_equal(tt_sampler_kind_name(TT_SAMPLER_TYPICAL), "typ_p");
    tt_token_logprob lp;
    assert_int_equal(tt_logprobs_from_logits(NULL, 3, 0, 1, &lp, &err), TT_ERR_ARG);
    assert_int_equal(tt_logprobs_from_logits(l, 3, 3, 1, &lp, &err), TT_ERR_ARG);
    assert_int_equal(tt_logprobs_from_logits(l, 3, 0, 21, &lp, &err), TT_ERR_ARG);
    assert_int_equal(tt_logprobs_from_logits(l, 3, 0, 5, &lp, &err), TT_OK);
    assert_int_equal(lp.n_top, 3); /* no more than V */
    assert_int_equal(lp.top[0].id, 2);
    const float pr[3] = {0.5f, 0.0f, 0.5f};
    assert_int_equal(tt_logprobs_from_probs(pr, 3, 1, 2, &lp, &err), TT_ERR_ARG); /* p = 0 */
    assert_int_equal(tt_logprobs_from_probs(pr, 3, 2, 3, &lp, &err), TT_OK);
    assert_int_equal(lp.n_top, 2); /* zero-probability tokens are not listed */
    assert_int_equal(tt_model_token_logprobs(NULL, bad, 2, 1, &lp, &err), TT_ERR_ARG);
    assert_int_equal(tt_model_token_logprobs(g_model, bad, 0, 1, &lp, &err), TT_ERR_ARG);
    tt_generation o;
    assert_int_equal(tt_generator_beam_search(NULL, bad, 2, NULL, &o, &err), TT_ERR_ARG);
    tt_generator_set_tokenizer(NULL, NULL);
    tt_generator_config gc = tt_generator_config_default();
    gc.sampling.strategy = TT_STRATEGY_GREEDY;
    gc.sampling.x.num_beams = 2;
    tt_generator *g;
    assert_int_equal(tt_generator_create(&g, g_model, &gc, NULL), TT_OK);
    const int far[1] = {999};
    assert_int_equal(tt_generator_beam_search(g, far, 1, NULL, &o, &err), TT_ERR_RANGE);
    assert_int_equal(tt_generator_beam_search(g, bad, 0, NULL, &o, &err), TT_ERR_ARG);
    tt_generate_overrides ov = {1u << 20, gc};
    assert_int_equal(tt_generator_beam_search(g, bad, 2, &ov, &o, &err), TT_ERR_ARG);
    /* max_new_tokens 0: the prompt comes back, no score */
    ov.set = TT_OVR_MAX_NEW_TOKENS;
    ov.values.max_new_tokens = 0;
    assert_int_equal(tt_generator_beam_search(g, bad, 2, &ov, &o, &err), TT_OK);
    assert_int_equal(o.n_generated, 0);
    tt_generations_free(&o, 1);
    tt_generator_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_min_p_typical),
        cmocka_unit_test(test_llama_penalties_dry),
        cmocka_unit_test(test_hf_repetition_and_bias),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_fixture_filters),
        cmocka_unit_test(test_fixture_beams),
        cmocka_unit_test(test_chi_square_new),
        cmocka_unit_test(test_stop_check),
        cmocka_unit_test(test_stop_generate),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_null_api),
    };
    return cmocka_run_group_tests(tests, load_model, free_model);
}
