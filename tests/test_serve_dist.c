/*
 * The sampling explorer's distribution (cli/serve_dist.c, POST
 * /v1/distribution of `tt serve`) against the library:
 *  - tests/fixtures/sampling_controls.txt (PyTorch implementations of HF's
 *    and OpenAI's rules): every "filter" case's probabilities within 1e-6,
 *    the kept set exactly the tokens PyTorch keeps, the entropy;
 *  - a real generation of the fixture model (tests/fixtures/gen_model,
 *    window 24 so the context slides): at every generated position the
 *    distribution keeps the drawn token and its probabilities are the
 *    logprobs the generator reports, raw and processed; top-k keeps k;
 *    greedy keeps exactly the token greedy generation takes;
 *  - the JSON of the endpoint (serve_dist_json); the endpoint itself, and
 *    its bad requests, are tested over HTTP in tests/test_serve_page.c.
 * Links build/cli/serve_dist.o (mk/serve_page.mk).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "fixture.h"

#include "../cli/serve_dist.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"

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
        tt_generator_config cfg = tt_generator_config_default();
        cfg.sampling.temperature = strtof(tt_fixture_field(line, "T"), NULL);
        cfg.sampling.top_k = atoi(tt_fixture_field(line, "top_k"));
        cfg.sampling.top_p = strtof(tt_fixture_field(line, "top_p"), NULL);
        tt_sampling_controls *c = &cfg.sampling.x;
        c->min_p = strtof(tt_fixture_field(line, "min_p"), NULL);
        c->typical_p = strtof(tt_fixture_field(line, "typical_p"), NULL);
        c->repetition_penalty = strtof(tt_fixture_field(line, "rep"), NULL);
        c->presence_penalty = strtof(tt_fixture_field(line, "presence"), NULL);
        c->frequency_penalty = strtof(tt_fixture_field(line, "frequency"), NULL);
        c->penalty_last_n = atoi(tt_fixture_field(line, "last_n"));
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
        c->logit_bias = bias;
        c->n_logit_bias = nb;
        const char *s = strstr(line, " : ") + 3;
        float l[64], want[64], raw[64];
        for (int i = 0; i < V; i++)
            l[i] = strtof(s, (char **)&s);
        s = strstr(s, "|") + 1;
        for (int i = 0; i < V; i++)
            want[i] = strtof(s, (char **)&s);
        assert_int_equal(tt_softmax(l, V, 1.0f, raw, NULL), TT_OK);

        tt_sampler *sm;
        assert_int_equal(tt_sampler_create(&sm, V, NULL), TT_OK);
        serve_dist d;
        tt_error err;
        if (serve_dist_from_logits(sm, NULL, &cfg, l, V, &h, &d, &err))
            fail_msg("%s: %s", name, err.msg);
        int n_want = 0;
        double h_want = 0.0;
        for (int i = 0; i < V; i++) {
            if (fabs((double)d.prob_final[i] - (double)want[i]) > 1e-6)
                fail_msg("%s: token %d: prob_final %.7f, PyTorch %.7f", name, i,
                         (double)d.prob_final[i], (double)want[i]);
            if (d.prob[i] != raw[i]) fail_msg("%s: token %d: prob is not softmax(logits)", name, i);
            if (want[i] > 0) {
                n_want++;
                h_want -= (double)want[i] * log((double)want[i]);
                bool found = false;
                for (int k = 0; k < d.n_kept; k++)
                    found |= d.kept[k] == i;
                if (!found)
                    fail_msg("%s: token %d is kept by PyTorch, not in the kept list", name, i);
            }
        }
        /* a token the chain keeps may still have a probability that underflows
         * to 0 (a -100 logit bias): it is kept, not cut */
        int n_pos = 0;
        for (int k = 0; k < d.n_kept; k++)
            n_pos += d.prob_final[d.kept[k]] > 0.0f;
        if (n_pos != n_want) fail_msg("%s: %d kept, PyTorch keeps %d", name, n_pos, n_want);
        assert_true(fabs(d.entropy_final - h_want) < 1e-5);
        for (int k = 1; k < V; k++) /* by raw probability, most probable first */
            assert_true(d.prob[d.order[k - 1]] >= d.prob[d.order[k]]);
        serve_dist_free(&d);
        tt_sampler_free(sm);
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

/* Generates n_new tokens of prompt with gc (logprobs 5 in mode), row 0. */
static void generate(const tt_generator_config *gc, const int *prompt, int n_prompt,
                     tt_generation *out) {
    tt_generator *g;
    tt_error e;
    if (tt_generator_create(&g, g_model, gc, &e)) fail_msg("create: %s", e.msg);
    tt_generator_set_tokenizer(g, g_tok);
    const int *ps[1] = {prompt};
    if (tt_generator_generate(g, ps, &n_prompt, 1, NULL, NULL, NULL, NULL, out, &e))
        fail_msg("generate: %s", e.msg);
    tt_generator_free(g);
}

static void test_matches_generation(void **state) {
    (void)state;
    const char *text = "ROMEO:\nI will not";
    int *prompt;
    size_t n_prompt;
    assert_int_equal(tt_tokenizer_encode(g_tok, text, strlen(text), &prompt, &n_prompt, NULL),
                     TT_OK);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 30; /* 17 + 30 > the window of 24: the context slides */
    gc.seed = 11;
    gc.sampling.temperature = 0.9f;
    gc.sampling.top_k = 12;
    gc.sampling.top_p = 0.95f;
    gc.sampling.x.repetition_penalty = 1.2f;
    gc.sampling.x.presence_penalty = 0.3f;
    gc.sampling.x.logprobs = 5;
    gc.sampling.x.logprobs_mode = TT_LOGPROBS_RAW;
    tt_generation raw, proc;
    generate(&gc, prompt, (int)n_prompt, &raw);
    gc.sampling.x.logprobs_mode = TT_LOGPROBS_PROCESSED;
    generate(&gc, prompt, (int)n_prompt, &proc);
    assert_int_equal(raw.n_generated, 30);
    assert_memory_equal(raw.tokens, proc.tokens, (size_t)raw.n_tokens * sizeof *raw.tokens);

    serve_dist_ctx *ctx;
    tt_error e;
    if (serve_dist_ctx_create(&ctx, g_model, g_tok, &e)) fail_msg("%s", e.msg);
    const int *gen = raw.tokens + raw.n_prompt;
    for (int j = 0; j < raw.n_generated; j++) {
        serve_dist d;
        if (serve_dist_compute(ctx, prompt, (int)n_prompt, gen, j, &gc, &d, &e))
            fail_msg("%d: %s", j, e.msg);
        const int tok = gen[j];
        assert_int_equal(d.n_context, (int)n_prompt + j);
        assert_true(d.n_kept >= 1 && d.n_kept <= 12);
        if (d.prob_final[tok] <= 0.0f) fail_msg("position %d: the drawn token %d is cut", j, tok);
        const double lr = log((double)d.prob[tok]), lp = log((double)d.prob_final[tok]);
        if (fabs(lr - (double)raw.logprobs[j].logprob) > 1e-5)
            fail_msg("position %d: raw log p %.7f, the generator's %.7f", j, lr,
                     (double)raw.logprobs[j].logprob);
        if (fabs(lp - (double)proc.logprobs[j].logprob) > 1e-5)
            fail_msg("position %d: processed log p %.7f, the generator's %.7f", j, lp,
                     (double)proc.logprobs[j].logprob);
        /* the generator's processed top alternatives are the kept list's head */
        for (int k = 0; k < proc.logprobs[j].n_top && k < d.n_kept; k++)
            assert_int_equal(proc.logprobs[j].top[k].id, d.kept[k]);
        for (int k = 0; k < raw.logprobs[j].n_top; k++)
            assert_int_equal(raw.logprobs[j].top[k].id, d.order[k]);
        serve_dist_free(&d);
    }

    /* greedy keeps exactly the token greedy generation takes */
    tt_generator_config gg = tt_generator_config_default();
    gg.max_new_tokens = 20;
    gg.sampling.temperature = 0.0f;
    gg.sampling.x.repetition_penalty = 1.5f;
    tt_generation greedy;
    generate(&gg, prompt, (int)n_prompt, &greedy);
    for (int j = 0; j < greedy.n_generated; j++) {
        serve_dist d;
        if (serve_dist_compute(ctx, prompt, (int)n_prompt, greedy.tokens + greedy.n_prompt, j, &gg,
                               &d, &e))
            fail_msg("%s", e.msg);
        assert_int_equal(d.n_kept, 1);
        assert_int_equal(d.kept[0], greedy.tokens[greedy.n_prompt + j]);
        assert_true(d.prob_final[d.kept[0]] == 1.0f);
        assert_true(d.entropy_final == 0.0);
        serve_dist_free(&d);
    }
    /* bad input: ids outside the vocabulary, empty prompt, bad settings */
    serve_dist d;
    const int bad_id = 65;
    assert_int_equal(serve_dist_compute(ctx, prompt, (int)n_prompt, &bad_id, 1, &gc, &d, &e),
                     TT_ERR_RANGE);
    assert_int_equal(serve_dist_compute(ctx, prompt, 0, NULL, 0, &gc, &d, &e), TT_ERR_ARG);
    tt_generator_config bad = gc;
    bad.sampling.top_p = 1.5f;
    assert_int_equal(serve_dist_compute(ctx, prompt, (int)n_prompt, NULL, 0, &bad, &d, &e),
                     TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "top_p"));
    serve_dist_ctx_free(ctx);
    serve_dist_ctx_free(NULL);
    tt_generations_free(&raw, 1);
    tt_generations_free(&proc, 1);
    tt_generations_free(&greedy, 1);
    free(prompt);
}

/* serve_dist_json: every token once, most probable first, kept as listed. */
static void test_json(void **state) {
    (void)state;
    serve_dist_ctx *ctx;
    tt_error e;
    if (serve_dist_ctx_create(&ctx, g_model, g_tok, &e)) fail_msg("%s", e.msg);
    tt_generator_config gc = tt_generator_config_default();
    gc.sampling.temperature = 0.7f;
    gc.sampling.top_k = 8;
    const int prompt[3] = {18, 47, 56}, gen[2] = {57, 58};
    serve_dist d;
    if (serve_dist_compute(ctx, prompt, 3, gen, 2, &gc, &d, &e)) fail_msg("%s", e.msg);
    cJSON *r = serve_dist_json(&d, g_tok, "fixture", 2);
    assert_non_null(r);
    assert_string_equal(cJSON_GetObjectItem(r, "object")->valuestring, "distribution");
    assert_string_equal(cJSON_GetObjectItem(r, "model")->valuestring, "fixture");
    assert_int_equal(cJSON_GetObjectItem(r, "vocab_size")->valueint, 65);
    assert_int_equal(cJSON_GetObjectItem(r, "n_context")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(r, "position")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(r, "n_kept")->valueint, 8);
    assert_true(fabs(cJSON_GetObjectItem(r, "entropy")->valuedouble - d.entropy_final) < 1e-12);
    const cJSON *toks = cJSON_GetObjectItem(r, "tokens");
    assert_int_equal(cJSON_GetArraySize(toks), 65);
    int i = 0, kept = 0;
    bool seen[65] = {false};
    for (const cJSON *t = toks->child; t; t = t->next, i++) {
        const int id = cJSON_GetObjectItem(t, "id")->valueint;
        assert_int_equal(id, d.order[i]);
        assert_false(seen[id]);
        seen[id] = true;
        char want[5];
        tt_tokenizer_token_utf8(g_tok, id, want);
        assert_string_equal(cJSON_GetObjectItem(t, "text")->valuestring, want);
        assert_true(cJSON_GetObjectItem(t, "prob")->valuedouble == (double)d.prob[id]);
        assert_true(cJSON_GetObjectItem(t, "prob_scaled")->valuedouble ==
                    (double)d.prob_scaled[id]);
        assert_true(cJSON_GetObjectItem(t, "prob_final")->valuedouble == (double)d.prob_final[id]);
        const bool k = cJSON_IsTrue(cJSON_GetObjectItem(t, "kept"));
        kept += k;
        assert_true(k == (d.prob_final[id] > 0.0f));
    }
    assert_int_equal(kept, 8);
    cJSON_Delete(r);
    serve_dist_free(&d);
    serve_dist_free(&d); /* twice: it was zeroed */
    serve_dist_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_filters),
        cmocka_unit_test(test_matches_generation),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests_name("serve_dist", tests, load_model, free_model);
}
