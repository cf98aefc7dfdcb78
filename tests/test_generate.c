/* The TextGenerator: config and validation, cache == no-cache (also past
 * max_len), ragged batches == rows alone, EOS and padding, overrides,
 * streaming, entropies, and golden token sequences for the committed fixture
 * checkpoint (tests/fixtures/gen_model.safetensors, scripts/make_generate_fixture.py). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fixture.h"

#include "gen_helpers.h"
#include "gen_weights.h"
#include "generate_internal.h"
#include "model_internal.h"
#include "tensor_table.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"

/* A small random model: V 23, C 32, NH 4, L 2, F 64, max_len 16. Small
 * max_len so that the sliding window is exercised. */
static tt_model *small_model(int max_len, tt_positional pos) {
    return tt_test_small_model(23, max_len, pos);
}
#define make_gen tt_test_make_gen

static void gen1(tt_generator *g, const int *p, int n, const tt_generate_overrides *o,
                 const uint64_t *row_id, tt_generation *out) {
    tt_error e;
    const int *ps[1] = {p};
    tt_status st = tt_generator_generate(g, ps, &n, 1, o, row_id, NULL, NULL, out, &e);
    if (st) fprintf(stderr, "generate: %s\n", e.msg);
    assert_int_equal(st, TT_OK);
}

static void assert_same(const tt_generation *a, const tt_generation *b) {
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_int_equal(a->n_prompt, b->n_prompt);
    assert_int_equal(a->n_generated, b->n_generated);
    assert_int_equal(a->finish, b->finish);
    assert_memory_equal(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int));
}

static void test_defaults(void **state) {
    (void)state;
    tt_generator_config c = tt_generator_config_default();
    assert_int_equal(c.max_new_tokens, 50);
    assert_true(c.sampling.temperature == 1.0f);
    assert_int_equal(c.sampling.top_k, 0);
    assert_true(c.sampling.top_p == 1.0f);
    assert_int_equal(c.sampling.strategy, TT_STRATEGY_COMBINED);
    assert_int_equal(c.eos_token_id, TT_TOKEN_NONE);
    assert_int_equal(c.pad_token_id, TT_TOKEN_NONE);
    assert_true(c.seed == 42);
    assert_true(c.use_cache);
    assert_string_equal(tt_finish_reason_str(TT_FINISH_EOS), "eos");
    assert_string_equal(tt_finish_reason_str(TT_FINISH_LENGTH), "length");
    tt_error e;
    assert_int_equal(tt_generator_config_validate(&c, 65, &e), TT_OK);
}

static void expect_bad(const tt_generator_config *c, const char *needle) {
    tt_error e;
    assert_int_equal(tt_generator_config_validate(c, 23, &e), TT_ERR_ARG);
    if (!strstr(e.msg, needle)) fprintf(stderr, "message '%s' lacks '%s'\n", e.msg, needle);
    assert_non_null(strstr(e.msg, needle));
}

static void test_config_validation(void **state) {
    (void)state;
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = -1;
    expect_bad(&c, "max_new_tokens");
    c = tt_generator_config_default();
    c.sampling.temperature = -0.5f;
    expect_bad(&c, "temperature");
    c.sampling.temperature = NAN;
    expect_bad(&c, "temperature");
    c.sampling.temperature = INFINITY;
    expect_bad(&c, "temperature");
    c = tt_generator_config_default();
    c.sampling.top_k = -1;
    expect_bad(&c, "top_k");
    c = tt_generator_config_default();
    c.sampling.top_p = 0.0f;
    expect_bad(&c, "top_p");
    c.sampling.top_p = 1.5f;
    expect_bad(&c, "top_p");
    c.sampling.top_p = NAN;
    expect_bad(&c, "top_p");
    c = tt_generator_config_default();
    c.pad_token_id = 3;
    expect_bad(&c, "pad_token_id");
    c.eos_token_id = 23;
    expect_bad(&c, "eos_token_id");
    c.eos_token_id = -7;
    expect_bad(&c, "eos_token_id");
    c.eos_token_id = 4;
    c.pad_token_id = 99;
    expect_bad(&c, "pad_token_id");
    c.pad_token_id = 3;
    tt_error e;
    assert_int_equal(tt_generator_config_validate(&c, 23, &e), TT_OK);
    c.sampling.temperature = 0.0f; /* greedy */
    assert_int_equal(tt_generator_config_validate(&c, 23, &e), TT_OK);

    tt_model *m = small_model(16, TT_POS_SINUSOIDAL);
    tt_generator *g = NULL;
    c = tt_generator_config_default();
    c.sampling.top_k = -2;
    assert_int_equal(tt_generator_create(&g, m, &c, &e), TT_ERR_ARG);
    assert_null(g);
    assert_int_equal(tt_generator_create(&g, NULL, NULL, &e), TT_ERR_ARG);
    tt_generator_free(NULL);
    tt_model_free(m);
}

static void test_bad_inputs(void **state) {
    (void)state;
    tt_model *m = small_model(16, TT_POS_SINUSOIDAL);
    tt_generator *g = make_gen(m, NULL);
    tt_error e;
    tt_generation out[2];
    int p0[3] = {1, 2, 3}, bad[2] = {1, 23}, neg[2] = {-1, 2};
    const int *ps[2] = {p0, p0};
    int lens[2] = {3, 0};
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, NULL, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "prompt 1 is empty"));
    assert_null(out[0].tokens);
    lens[1] = 2;
    ps[1] = bad;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, NULL, NULL, NULL, NULL, out, &e),
                     TT_ERR_RANGE);
    assert_non_null(strstr(e.msg, "23"));
    ps[1] = neg;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, NULL, NULL, NULL, NULL, out, &e),
                     TT_ERR_RANGE);
    assert_non_null(strstr(e.msg, "-1"));
    assert_int_equal(tt_generator_generate(g, ps, lens, 0, NULL, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    assert_int_equal(tt_generator_generate(g, NULL, lens, 1, NULL, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    /* bad overrides */
    tt_generate_overrides o = {TT_OVR_MAX_NEW_TOKENS, tt_generator_config_default()};
    o.values.max_new_tokens = -3;
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, &o, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "max_new_tokens"));
    o.set = TT_OVR_TOP_P;
    o.values.sampling.top_p = 0.0f;
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, &o, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    o.set = TT_OVR_PAD;
    o.values.pad_token_id = 1;
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, &o, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "pad_token_id"));
    o.set = TT_OVR_TEMPERATURE;
    o.values.sampling.temperature = -1.0f;
    assert_int_equal(tt_generator_generate(g, ps, lens, 1, &o, NULL, NULL, NULL, out, &e),
                     TT_ERR_ARG);
    const double *ent;
    int n;
    assert_int_equal(tt_generator_step_entropies(g, 5, &ent, &n, &e), TT_ERR_RANGE);
    tt_generator_free(g);
    tt_model_free(m);
}

/* Head size 32 (C 64, NH 2) takes the two-heads-at-a-time path, and
 * max_len 80 the 64-position score blocks. */
static tt_model *hs32_model(void) {
    tt_model_config c = {23, 64, 2, 1, 64, 80, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &c, 11, &e), TT_OK);
    return m;
}

static void test_head_size_32(void **state) {
    (void)state;
    tt_model *m = hs32_model();
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 30;
    tt_generator *g = make_gen(m, &c);
    int toks[75];
    for (int i = 0; i < 75; i++)
        toks[i] = (i * 5 + 3) % 23;
    tt_error e;
    const int ns[4] = {1, 9, 64, 75};
    for (int k = 0; k < 4; k++) {
        float lg[23];
        assert_int_equal(tt_generator_next_logits(g, toks, ns[k], lg, &e), TT_OK);
        assert_int_equal(tt_model_forward(m, toks, NULL, 1, ns[k], TT_MODE_EVAL, NULL, NULL, &e),
                         TT_OK);
        const float *ref = tt_model_logits(m) + (size_t)(ns[k] - 1) * 23;
        for (int v = 0; v < 23; v++)
            assert_true(fabsf(lg[v] - ref[v]) < 1e-4f);
    }
    /* cache == recompute across the slide past max_len 80 */
    tt_generation a, b;
    tt_generate_overrides o = {TT_OVR_USE_CACHE, tt_generator_config_default()};
    o.values.use_cache = true;
    gen1(g, toks, 70, &o, NULL, &a);
    o.values.use_cache = false;
    gen1(g, toks, 70, &o, NULL, &b);
    assert_same(&a, &b);
    tt_generations_free(&a, 1);
    tt_generations_free(&b, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

/* A team splits output columns and (row, head) pairs, never a sum: the
 * tokens (cache, no cache, ragged batch) are the same for 1, 2 and 3 threads
 * (3 splits every range unevenly) and auto, and the logits bit for bit. */
static void test_threads_same_tokens(void **state) {
    (void)state;
    tt_model_config mc = {23, 128, 4, 1, 512, 64, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &mc, 5, &e), TT_OK);
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 40;
    int p[8][30];
    const int *ps[8];
    int lens[8];
    for (int r = 0; r < 8; r++) {
        lens[r] = 5 + 3 * r;
        for (int i = 0; i < lens[r]; i++)
            p[r][i] = (r * 7 + i * 3) % 23;
        ps[r] = p[r];
    }
    c.n_threads = 1;
    tt_generator *g1 = make_gen(m, &c);
    tt_generation a[8], b[8];
    assert_int_equal(tt_generator_generate(g1, ps, lens, 8, NULL, NULL, NULL, NULL, a, &e), TT_OK);
    float l1[23], l2[23];
    assert_int_equal(tt_generator_next_logits(g1, a[7].tokens, a[7].n_tokens, l1, &e), TT_OK);
    /* 0: auto, which switches between one thread and the team as it runs */
    const int teams[3] = {2, 3, 0};
    for (int ti = 0; ti < 3; ti++) {
        const int nt = teams[ti];
        c.n_threads = nt;
        tt_generator *g2 = make_gen(m, &c);
        for (int cache = 0; cache <= 1; cache++) {
            tt_generate_overrides o = {TT_OVR_USE_CACHE, tt_generator_config_default()};
            o.values.use_cache = cache;
            assert_int_equal(tt_generator_generate(g2, ps, lens, 8, &o, NULL, NULL, NULL, b, &e),
                             TT_OK);
            for (int r = 0; r < 8; r++)
                assert_same(&a[r], &b[r]);
            tt_generations_free(b, 8);
        }
        assert_int_equal(tt_generator_next_logits(g2, a[7].tokens, a[7].n_tokens, l2, &e), TT_OK);
        assert_memory_equal(l1, l2, sizeof l1);
        tt_generator_free(g2);
    }
    tt_generations_free(a, 8);
    tt_generator_free(g1);
    /* n_threads is checked */
    c.n_threads = -1;
    tt_generator *bad = NULL;
    assert_int_equal(tt_generator_create(&bad, m, &c, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "n_threads"));
    assert_null(bad);
    tt_model_free(m);
}

/* The kernels against plain references: a packed linear layer is, value for
 * value, fmaf(x[i], w[o][i], acc) over i from 0, then + b[o] (bit for bit,
 * for every shape, row count, tile and output range); GELU and residual
 * epilogues; LayerNorm against a double-precision one; attention against a
 * plain softmax in double, and split head ranges equal to the whole. */
static float ref_gelu(float v) { return (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0)))); }

static void test_kernels(void **state) {
    (void)state;
    tt_rng g;
    tt_rng_seed(&g, 11);
    const int Os[] = {1, 7, 8, 9, 24, 65, 100}, Is[] = {1, 5, 8, 17, 128}, Ns[] = {1, 3, 4, 5, 8, 9};
    for (int a = 0; a < 7; a++)
        for (int c = 0; c < 5; c++)
            for (int d = 0; d < 6; d++) {
                const int O = Os[a], I = Is[c], N = Ns[d], nb = (O + 7) / 8;
                float *w = malloc((size_t)O * I * sizeof *w), *x = malloc((size_t)N * I * sizeof *x);
                float *b = malloc((size_t)O * sizeof *b), *wp = malloc(tt_gen_packed_floats(O, I) * sizeof *wp);
                float *y = malloc((size_t)N * O * sizeof *y), *z = malloc((size_t)N * O * sizeof *z);
                for (int i = 0; i < O * I; i++) w[i] = (float)tt_rng_normal(&g);
                for (int i = 0; i < N * I; i++) x[i] = (float)tt_rng_normal(&g);
                for (int i = 0; i < O; i++) b[i] = (float)tt_rng_normal(&g);
                tt_gen_pack(wp, w, O, I);
                for (int epi = 0; epi < 3; epi++) {
                    for (int i = 0; i < N * O; i++) y[i] = z[i] = (float)i * 0.25f;
                    /* in two ranges, to check that a split changes nothing */
                    const int mid = nb / 2;
                    tt_gen_linear_blocks(y, x, wp, b, N, I, O, 0, mid, (tt_gen_epilogue)epi);
                    tt_gen_linear_blocks(y, x, wp, b, N, I, O, mid, nb, (tt_gen_epilogue)epi);
                    for (int t = 0; t < N; t++)
                        for (int o = 0; o < O; o++) {
                            float acc = 0.0f;
                            for (int i = 0; i < I; i++) acc = fmaf(x[t * I + i], w[o * I + i], acc);
                            const float v = acc + b[o];
                            const float got = y[t * O + o];
                            if (epi == TT_GEN_EPI_STORE) {
                                if (got != v) fail_msg("O %d I %d N %d (%d,%d): %g vs %g", O, I, N, t, o, (double)got, (double)v);
                            } else if (epi == TT_GEN_EPI_ADD) {
                                if (got != z[t * O + o] + v) fail_msg("add O %d I %d N %d", O, I, N);
                            } else {
                                assert_true(fabsf(got - ref_gelu(v)) <= 2e-6f * (1.0f + fabsf(v)));
                            }
                        }
                }
                free(w), free(x), free(b), free(wp), free(y), free(z);
            }
    /* LayerNorm */
    const int Cs[] = {1, 7, 16, 33, 128};
    for (int k = 0; k < 5; k++) {
        const int C = Cs[k];
        float xr[128], gw[128], gb[128], out[128];
        for (int i = 0; i < C; i++) {
            xr[i] = (float)(3.0 + 2.0 * tt_rng_normal(&g));
            gw[i] = (float)tt_rng_normal(&g);
            gb[i] = (float)tt_rng_normal(&g);
        }
        tt_gen_layernorm(out, xr, gw, gb, 1, C);
        double m = 0, v = 0;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= C;
        for (int i = 0; i < C; i++) {
            const double want = (xr[i] - m) / sqrt(v + 1e-5) * gw[i] + gb[i];
            assert_true(fabs(out[i] - want) <= 1e-5 * (1.0 + fabs(want)));
        }
    }
    /* Attention: NH 4, hs 32 and NH 3, hs 5 (the general path); TP 256 */
    const int cfg[2][2] = {{4, 32}, {3, 5}};
    for (int k = 0; k < 2; k++) {
        const int NH = cfg[k][0], hs = cfg[k][1], C = NH * hs, TP = 256;
        const size_t hstride = (size_t)TP * hs + 64;
        float *K = calloc(NH * hstride, sizeof *K), *Vc = calloc(NH * hstride, sizeof *Vc);
        float *s = malloc((size_t)NH * TP * sizeof *s), q[128], y1[128], y2[128];
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < TP; t++)
                for (int i = 0; i < hs; i++) {
                    K[h * hstride + ((size_t)(t / 64) * hs + i) * 64 + t % 64] = (float)tt_rng_normal(&g);
                    Vc[h * hstride + (size_t)t * hs + i] = (float)tt_rng_normal(&g);
                }
        for (int i = 0; i < C; i++) q[i] = (float)tt_rng_normal(&g);
        const int ns[] = {1, 2, 15, 16, 17, 33, 64, 65, 100, 200, 256};
        for (int j = 0; j < 11; j++) {
            const int n = ns[j];
            tt_gen_attend(y1, q, K, Vc, n, C, NH, hstride, s, TP, 0, NH);
            for (int h = 0; h < NH; h++)
                tt_gen_attend(y2, q, K, Vc, n, C, NH, hstride, s, TP, h, h + 1);
            assert_memory_equal(y1, y2, (size_t)C * sizeof(float));
            for (int h = 0; h < NH; h++) {
                double sc[256], mx = -1e300, sum = 0;
                for (int t = 0; t < n; t++) {
                    double a = 0;
                    for (int i = 0; i < hs; i++)
                        a += (double)q[h * hs + i] * K[h * hstride + ((size_t)(t / 64) * hs + i) * 64 + t % 64];
                    sc[t] = a / sqrt((double)hs);
                    if (sc[t] > mx) mx = sc[t];
                }
                for (int t = 0; t < n; t++) sum += (sc[t] = exp(sc[t] - mx));
                for (int i = 0; i < hs; i++) {
                    double want = 0;
                    for (int t = 0; t < n; t++) want += sc[t] / sum * Vc[h * hstride + (size_t)t * hs + i];
                    assert_true(fabs(y1[h * hs + i] - want) <= 2e-5 * (1.0 + fabs(want)));
                }
            }
        }
        free(K), free(Vc), free(s);
    }
}

/* A model whose logits are NaN: generate fails with the sampler's message
 * (on a team too, where the rows are drawn by the team) and hands nothing
 * out; afterwards the team's workers sleep instead of spinning (process CPU
 * time over 300 ms of idling stays far below 300 ms). */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_nan_logits_error(void **state) {
    (void)state;
    tt_model_config mc = {23, 128, 4, 1, 512, 64, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &mc, 5, &e), TT_OK);
    tt_model_params_flat(m)[0] = NAN; /* token 0's embedding: NaN everywhere after it */
    for (int nt = 1; nt <= 2; nt++) {
        tt_generator_config c = tt_generator_config_default();
        c.n_threads = nt;
        c.max_new_tokens = 5;
        tt_generator *g = make_gen(m, &c);
        int p[8][4];
        const int *ps[8];
        int lens[8];
        for (int r = 0; r < 8; r++) {
            for (int i = 0; i < 4; i++)
                p[r][i] = i == 3 ? 0 : 1 + r;
            ps[r] = p[r];
            lens[r] = 4;
        }
        tt_generation out[8];
        /* the model's own logits, not the caller's: TT_ERR_NUMERIC (issue 11) */
        assert_int_equal(tt_generator_generate(g, ps, lens, 8, NULL, NULL, NULL, NULL, out, &e),
                         TT_ERR_NUMERIC);
        assert_non_null(strstr(e.msg, "NaN"));
        assert_non_null(strstr(e.msg, "the model produced a non-finite logit"));
        for (int r = 0; r < 8; r++)
            assert_null(out[r].tokens);
        const double c0 = cpu_seconds();
        const struct timespec nap = {0, 300000000};
        nanosleep(&nap, NULL);
        assert_true(cpu_seconds() - c0 < 0.15);
        tt_generator_free(g);
    }
    tt_model_free(m);
}

/* The tensor table is the one description of the packed weights too: every
 * matrix the table marks for packing is found by the decoder at the place
 * the packer wrote it (gen_weights.h's `packed`, set through the table's
 * slots; the decoder used to compute the offsets itself from a fixed order
 * wq, wk, wv, wo, fc1, fc2, head), holding that tensor's values in the
 * packed layout [ceil(O / 8), I, 8]; for both head layouts. */
static void test_packed_weights_follow_the_table(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        tt_model_config mc = {17, 24, 2, 2, 40, 16, 0.0f, TT_POS_LEARNED, tied == 1};
        tt_model *m = NULL;
        tt_error e;
        assert_int_equal(tt_model_create(&m, &mc, 3, &e), TT_OK);
        tt_gen_weights *gw = NULL;
        assert_int_equal(tt_gen_weights_use(m, &gw, NULL, &e), TT_OK);
        const tt_model_weights *W = tt_model_weights_get(m);
        int n_matrices = 0;
        for (size_t i = 0; i < tt_model_num_tensors(m); i++) {
            const tt_tensor_entry *t = tt_model_tensor_entry(m, i);
            float *const *model_slot = (float *const *)tt_tensor_slot((tt_model_weights *)W, t);
            float *const *packed_slot = (float *const *)tt_tensor_slot(&gw->packed, t);
            if (t->def->pack != TT_PACK_MATRIX) {
                if (t->def->per_layer || t->def->field != offsetof(tt_model_weights, lm_head))
                    assert_null(*packed_slot); /* not packed: not the decoder's to read */
                continue;
            }
            n_matrices++;
            const size_t O = t->shape[0], I = t->shape[1];
            const float *w = *model_slot, *wp = *packed_slot;
            assert_non_null(wp);
            assert_true(wp >= gw->wp);
            for (size_t o = 0; o < O; o++)
                for (size_t k = 0; k < I; k++)
                    if (wp[((o / 8) * I + k) * 8 + o % 8] != w[o * I + k])
                        fail_msg("%s: packed element (%zu, %zu) is not the tensor's", t->name, o, k);
        }
        assert_int_equal(n_matrices, 6 * mc.n_layers + 1);
        tt_gen_weights_release(gw);
        tt_model_free(m);
    }
}

/* The generator's kernels agree with the model's forward pass. */
static void test_logits_match_model(void **state) {
    (void)state;
    for (int pk = 0; pk < 2; pk++) {
        tt_model *m = small_model(16, pk ? TT_POS_LEARNED : TT_POS_SINUSOIDAL);
        tt_generator *g = make_gen(m, NULL);
        int toks[12] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
        tt_error e;
        for (int n = 1; n <= 12; n += 5) {
            float lg[23];
            assert_int_equal(tt_generator_next_logits(g, toks, n, lg, &e), TT_OK);
            assert_int_equal(tt_model_forward(m, toks, NULL, 1, n, TT_MODE_EVAL, NULL, NULL, &e),
                             TT_OK);
            const float *ref = tt_model_logits(m) + (size_t)(n - 1) * 23;
            for (int v = 0; v < 23; v++)
                assert_true(fabsf(lg[v] - ref[v]) < 1e-4f);
        }
        tt_generator_free(g);
        tt_model_free(m);
    }
}

/* Cache and full recompute give identical tokens, before and past max_len,
 * greedy and sampled, with a prompt longer than max_len too, in both
 * context-shift modes. The greedy step-by-step crop reference is the exact
 * mode's rule (pinned to TT_CONTEXT_SHIFT_EXACT since issue 12 made half the
 * default; tests/test_context.c checks half against its own rule). */
static void test_cache_equals_recompute(void **state) {
    (void)state;
    tt_model *m = small_model(16, TT_POS_SINUSOIDAL);
    for (int shift = 0; shift < 2; shift++) {
        tt_generator_config c = tt_generator_config_default();
        c.max_new_tokens = 40; /* runs well past max_len 16 */
        c.context_shift = shift ? TT_CONTEXT_SHIFT_EXACT : TT_CONTEXT_SHIFT_HALF;
        tt_generator *g = make_gen(m, &c);
        int p1[5] = {1, 2, 3, 4, 5};
        int p2[20];
        for (int i = 0; i < 20; i++)
            p2[i] = (i * 7) % 23;
        const int *prompts[2] = {p1, p2};
        int lens[2] = {5, 20};
        for (int mode = 0; mode < 3; mode++) {
            tt_generate_overrides o = {TT_OVR_USE_CACHE | TT_OVR_STRATEGY | TT_OVR_TOP_K,
                                       tt_generator_config_default()};
            o.values.sampling.strategy = mode != 0 ? TT_STRATEGY_COMBINED : TT_STRATEGY_GREEDY;
            o.values.sampling.top_k = mode == 2 ? 5 : 0;
            for (int pi = 0; pi < 2; pi++) {
                tt_generation a, b;
                o.values.use_cache = true;
                gen1(g, prompts[pi], lens[pi], &o, NULL, &a);
                o.values.use_cache = false;
                gen1(g, prompts[pi], lens[pi], &o, NULL, &b);
                assert_int_equal(a.n_generated, 40);
                assert_same(&a, &b);
                /* and a step-by-step reference from the model's own forward for greedy */
                if (mode == 0 && c.context_shift == TT_CONTEXT_SHIFT_EXACT) {
                    int ctx[64];
                    int n = lens[pi];
                    memcpy(ctx, prompts[pi], (size_t)n * sizeof(int));
                    tt_error e;
                    for (int s = 0; s < 40; s++) {
                        const int w = n < 16 ? n : 16;
                        assert_int_equal(
                            tt_model_forward(m, ctx + n - w, NULL, 1, w, TT_MODE_EVAL, NULL, NULL, &e),
                            TT_OK);
                        const float *lg = tt_model_logits(m) + (size_t)(w - 1) * 23;
                        int best = 0;
                        for (int v = 1; v < 23; v++)
                            if (lg[v] > lg[best]) best = v;
                        ctx[n++] = best;
                    }
                    assert_memory_equal(ctx, a.tokens, (size_t)n * sizeof(int));
                }
                tt_generations_free(&a, 1);
                tt_generations_free(&b, 1);
            }
        }
        tt_generator_free(g);
    }
    tt_model_free(m);
}

/* A ragged batch yields, row by row, what each prompt yields alone with the
 * same row id. */
static void test_ragged_batch(void **state) {
    (void)state;
    tt_model *m = small_model(16, TT_POS_LEARNED);
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 25;
    c.sampling.temperature = 0.9f;
    c.sampling.top_p = 0.9f;
    tt_generator *g = make_gen(m, &c);
    int p0[1] = {7}, p1[6] = {1, 2, 3, 4, 5, 6}, p2[3] = {22, 0, 11};
    const int *ps[3] = {p0, p1, p2};
    int lens[3] = {1, 6, 3};
    uint64_t ids[3] = {10, 11, 12};
    for (int cache = 0; cache < 2; cache++) {
        tt_generate_overrides o = {TT_OVR_USE_CACHE, tt_generator_config_default()};
        o.values.use_cache = cache;
        tt_generation batch[3];
        tt_error e;
        assert_int_equal(tt_generator_generate(g, ps, lens, 3, &o, ids, NULL, NULL, batch, &e),
                         TT_OK);
        for (int r = 0; r < 3; r++) {
            tt_generation alone;
            gen1(g, ps[r], lens[r], &o, &ids[r], &alone);
            assert_same(&batch[r], &alone);
            tt_generations_free(&alone, 1);
        }
        /* default row ids are 0, 1, 2: row 2 alone needs row id 2 */
        tt_generation b2[3], alone;
        assert_int_equal(tt_generator_generate(g, ps, lens, 3, &o, NULL, NULL, NULL, b2, &e),
                         TT_OK);
        uint64_t two = 2;
        gen1(g, p2, 3, &o, &two, &alone);
        assert_same(&b2[2], &alone);
        tt_generations_free(&alone, 1);
        tt_generations_free(b2, 3);
        tt_generations_free(batch, 3);
    }
    tt_generator_free(g);
    tt_model_free(m);
}

/* Greedy first without EOS; then the token it produced at step 3 becomes the
 * EOS: row 0 must stop right there (EOS kept), and pad fills the rest when
 * another row goes on. */
static void test_eos_and_pad(void **state) {
    (void)state;
    tt_model *m = small_model(32, TT_POS_SINUSOIDAL);
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 12;
    c.sampling.strategy = TT_STRATEGY_GREEDY;
    tt_generator *g = make_gen(m, &c);
    int p0[2] = {1, 2}, p1[3] = {9, 8, 7};
    const int *ps[2] = {p0, p1};
    int lens[2] = {2, 3};
    tt_generation ref[2], out[2];
    tt_error e;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, NULL, NULL, NULL, NULL, ref, &e), TT_OK);
    assert_int_equal(ref[0].finish, TT_FINISH_LENGTH);
    const int eos = ref[0].tokens[2 + 3];
    int first = -1; /* first occurrence of eos in row 0's generated part */
    for (int s = 0; s < 12 && first < 0; s++)
        if (ref[0].tokens[2 + s] == eos) first = s;
    int first1 = -1;
    for (int s = 0; s < 12 && first1 < 0; s++)
        if (ref[1].tokens[3 + s] == eos) first1 = s;

    /* EOS without pad: row 0 ends at its EOS. */
    tt_generate_overrides o = {TT_OVR_EOS, tt_generator_config_default()};
    o.values.eos_token_id = eos;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, &o, NULL, NULL, NULL, out, &e), TT_OK);
    assert_int_equal(out[0].finish, TT_FINISH_EOS);
    assert_int_equal(out[0].n_generated, first + 1);
    assert_int_equal(out[0].n_tokens, 2 + first + 1);
    assert_int_equal(out[0].tokens[out[0].n_tokens - 1], eos);
    assert_memory_equal(out[0].tokens, ref[0].tokens, (size_t)out[0].n_tokens * sizeof(int));
    const int steps = first1 < 0 ? 12 : (first1 > first ? first1 : first) + 1;
    assert_int_equal(out[1].n_tokens, 3 + (first1 < 0 ? 12 : first1 + 1));
    assert_int_equal(out[1].finish, first1 < 0 ? TT_FINISH_LENGTH : TT_FINISH_EOS);
    tt_generations_free(out, 2);

    /* EOS and pad: every row has n_prompt + steps tokens. */
    o.set |= TT_OVR_PAD;
    o.values.pad_token_id = 0;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, &o, NULL, NULL, NULL, out, &e), TT_OK);
    assert_int_equal(out[0].n_tokens, 2 + steps);
    assert_int_equal(out[1].n_tokens, 3 + steps);
    assert_int_equal(out[0].n_generated, first + 1);
    for (int s = first + 1; s < steps; s++)
        assert_int_equal(out[0].tokens[2 + s], 0);
    tt_generations_free(out, 2);

    /* Both rows finish: early stop. Use row 0 alone. */
    tt_generation one;
    gen1(g, p0, 2, &o, NULL, &one);
    assert_int_equal(one.n_tokens, 2 + first + 1);
    assert_int_equal(one.finish, TT_FINISH_EOS);
    tt_generations_free(&one, 1);

    /* An override switches the config's EOS off again. */
    tt_generator_config c2 = c;
    c2.eos_token_id = eos;
    c2.pad_token_id = 0;
    tt_generator *g2 = make_gen(m, &c2);
    tt_generate_overrides off = {TT_OVR_EOS | TT_OVR_PAD, tt_generator_config_default()};
    off.values.eos_token_id = TT_TOKEN_NONE;
    off.values.pad_token_id = TT_TOKEN_NONE;
    gen1(g2, p0, 2, &off, NULL, &one);
    assert_same(&one, &ref[0]);
    tt_generations_free(&one, 1);
    tt_generator_free(g2);
    tt_generations_free(ref, 2);
    tt_generator_free(g);
    tt_model_free(m);
}

static void test_overrides_and_greedy(void **state) {
    (void)state;
    tt_model *m = small_model(32, TT_POS_SINUSOIDAL);
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 15;
    c.sampling.top_k = 3;
    c.sampling.top_p = 0.5f;
    c.sampling.temperature = 1.3f;
    tt_generator *g = make_gen(m, &c);
    tt_generator_config plain = tt_generator_config_default();
    plain.max_new_tokens = 15;
    plain.sampling.temperature = 1.3f;
    tt_generator *gp = make_gen(m, &plain);
    int p[2] = {4, 5};
    tt_generation a, b;
    /* switch top-k and top-p off per call: same as a config without them */
    tt_generate_overrides o = {TT_OVR_TOP_K | TT_OVR_TOP_P, tt_generator_config_default()};
    o.values.sampling.top_k = 0;
    o.values.sampling.top_p = 1.0f;
    gen1(g, p, 2, &o, NULL, &a);
    gen1(gp, p, 2, NULL, NULL, &b);
    assert_same(&a, &b);
    tt_generations_free(&a, 1);
    tt_generations_free(&b, 1);
    /* greedy three ways: do_sample false, temperature 0, top_k 1 */
    tt_generate_overrides og = {TT_OVR_STRATEGY, tt_generator_config_default()};
    og.values.sampling.strategy = TT_STRATEGY_GREEDY;
    gen1(g, p, 2, &og, NULL, &a);
    tt_generate_overrides ot = {TT_OVR_TEMPERATURE, tt_generator_config_default()};
    ot.values.sampling.temperature = 0.0f;
    gen1(g, p, 2, &ot, NULL, &b);
    assert_same(&a, &b);
    tt_generations_free(&b, 1);
    tt_generate_overrides ok = {TT_OVR_TOP_K | TT_OVR_SEED, tt_generator_config_default()};
    ok.values.sampling.top_k = 1;
    ok.values.seed = 999;
    gen1(g, p, 2, &ok, NULL, &b);
    assert_same(&a, &b);
    tt_generations_free(&b, 1);
    /* the one rule: temperature 0 is greedy with every strategy of
     * gc.sampling (top-k 3, top-p 0.5, temperature alone), whatever the seed */
    const tt_strategy st0[] = {TT_STRATEGY_TOP_K, TT_STRATEGY_TOP_P, TT_STRATEGY_TEMPERATURE};
    for (int k = 0; k < 3; k++) {
        tt_generate_overrides o0 = {TT_OVR_STRATEGY | TT_OVR_TEMPERATURE | TT_OVR_TOP_K | TT_OVR_TOP_P |
                                        TT_OVR_SEED,
                                    tt_generator_config_default()};
        o0.values.sampling.strategy = st0[k];
        o0.values.sampling.temperature = 0.0f;
        o0.values.sampling.top_k = 3;
        o0.values.sampling.top_p = 0.5f;
        o0.values.seed = 100 + (uint64_t)k;
        gen1(g, p, 2, &o0, NULL, &b);
        assert_same(&a, &b);
        tt_generations_free(&b, 1);
    }
    tt_generations_free(&a, 1);
    /* max_new_tokens 0 returns the prompt */
    tt_generate_overrides oz = {TT_OVR_MAX_NEW_TOKENS, tt_generator_config_default()};
    oz.values.max_new_tokens = 0;
    gen1(g, p, 2, &oz, NULL, &a);
    assert_int_equal(a.n_tokens, 2);
    assert_int_equal(a.n_generated, 0);
    tt_generations_free(&a, 1);
    /* the seed matters; the same seed repeats */
    tt_generate_overrides os = {TT_OVR_SEED, tt_generator_config_default()};
    os.values.seed = 1;
    gen1(gp, p, 2, &os, NULL, &a);
    gen1(gp, p, 2, &os, NULL, &b);
    assert_same(&a, &b);
    tt_generations_free(&b, 1);
    os.values.seed = 2;
    gen1(gp, p, 2, &os, NULL, &b);
    assert_memory_not_equal(a.tokens, b.tokens, 17 * sizeof(int));
    tt_generations_free(&a, 1);
    tt_generations_free(&b, 1);
    assert_true(tt_generator_get_config(g)->sampling.top_k == 3);
    tt_generator_free(gp);
    tt_generator_free(g);
    tt_model_free(m);
}

typedef struct {
    int n;
    int rows[64], toks[64], steps[64];
    int stop_after;
} cb_log;

static int record(void *user, int row, int token, int step) {
    cb_log *l = user;
    l->rows[l->n] = row;
    l->toks[l->n] = token;
    l->steps[l->n] = step;
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void test_streaming_and_entropy(void **state) {
    (void)state;
    tt_model *m = small_model(32, TT_POS_SINUSOIDAL);
    tt_generator_config c = tt_generator_config_default();
    c.max_new_tokens = 6;
    c.sampling.top_k = 4;
    tt_generator *g = make_gen(m, &c);
    int p0[2] = {1, 2}, p1[1] = {3};
    const int *ps[2] = {p0, p1};
    int lens[2] = {2, 1};
    tt_generation out[2];
    cb_log lg0 = {0};
    tt_error e;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, NULL, NULL, record, &lg0, out, &e),
                     TT_OK);
    assert_int_equal(lg0.n, 12);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(lg0.rows[i], i % 2);
        assert_int_equal(lg0.steps[i], i / 2);
        assert_int_equal(lg0.toks[i], out[i % 2].tokens[lens[i % 2] + i / 2]);
    }
    /* entropies: the filtered distribution's, step by step */
    for (int r = 0; r < 2; r++) {
        const double *ent;
        int n;
        assert_int_equal(tt_generator_step_entropies(g, r, &ent, &n, &e), TT_OK);
        assert_int_equal(n, 6);
        tt_sampler *s;
        assert_int_equal(tt_sampler_create(&s, 23, &e), TT_OK);
        tt_sampling_params sp = tt_sampling_params_default();
        sp.top_k = 4;
        for (int k = 0; k < n; k++) {
            float lg[23], probs[23];
            int nk;
            double h;
            assert_int_equal(tt_generator_next_logits(g, out[r].tokens, lens[r] + k, lg, &e),
                             TT_OK);
            assert_int_equal(tt_sampler_filter(s, &sp, lg, probs, NULL, &nk, &h, &e), TT_OK);
            assert_true(fabs(h - ent[k]) < 1e-12);
            assert_true(ent[k] > 0.0 && ent[k] <= log(4.0) + 1e-9);
        }
        tt_sampler_free(s);
    }
    tt_generations_free(out, 2);
    /* the callback stops generation: results so far */
    cb_log stop = {0};
    stop.stop_after = 3;
    assert_int_equal(tt_generator_generate(g, ps, lens, 2, NULL, NULL, record, &stop, out, &e),
                     TT_ERR_INTERRUPTED);
    assert_int_equal(stop.n, 3);
    assert_int_equal(out[0].n_generated, 2);
    assert_int_equal(out[1].n_generated, 1);
    tt_generations_free(out, 2);
    /* greedy entropies are 0 */
    tt_generate_overrides og = {TT_OVR_STRATEGY, tt_generator_config_default()};
    og.values.sampling.strategy = TT_STRATEGY_GREEDY;
    tt_generation one;
    gen1(g, p0, 2, &og, NULL, &one);
    const double *ent;
    int n;
    assert_int_equal(tt_generator_step_entropies(g, 0, &ent, &n, &e), TT_OK);
    assert_int_equal(n, 6);
    for (int k = 0; k < n; k++)
        assert_true(ent[k] == 0.0);
    tt_generations_free(&one, 1);
    tt_generator_free(g);
    tt_model_free(m);
}

/* ---- golden sequences for the committed fixture ------------------------- */

/* tests/fixtures/gen_golden.txt: lines "name key=value ... : ids" (see
 * scripts/make_generate_fixture.py). */
static void test_golden(void **state) {
    (void)state;
    char *mp = tt_fixture_path("gen_model.safetensors"), *gp = tt_fixture_path("gen_golden.txt");
    assert_non_null(mp);
    assert_non_null(gp);
    tt_model *m;
    tt_tokenizer *tok;
    tt_error e;
    tt_status st = tt_checkpoint_load(mp, &m, &tok, &e);
    if (st) fprintf(stderr, "load: %s\n", e.msg);
    assert_int_equal(st, TT_OK);
    FILE *f = fopen(gp, "r");
    assert_non_null(f);
    char line[8192];
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        /* name prompt_ids=a,b,c max_new=N temperature=T top_k=K top_p=P do_sample=D seed=S : ids */
        char name[64], prompt[1024];
        int max_new, top_k, do_sample;
        float temp, top_p;
        unsigned long long seed;
        int off = 0;
        assert_int_equal(sscanf(line,
                                "%63s prompt=%1023s max_new=%d temperature=%f top_k=%d top_p=%f "
                                "do_sample=%d seed=%llu :%n",
                                name, prompt, &max_new, &temp, &top_k, &top_p, &do_sample, &seed,
                                &off),
                         8);
        int pids[512], np = 0;
        for (char *t = strtok(prompt, ","); t; t = strtok(NULL, ","))
            pids[np++] = atoi(t);
        int want[1024], nw = 0;
        for (char *t = strtok(line + off, " \n"); t; t = strtok(NULL, " \n"))
            want[nw++] = atoi(t);
        tt_generator_config c = tt_generator_config_default();
        c.max_new_tokens = max_new;
        c.sampling.temperature = temp;
        c.sampling.top_k = top_k;
        c.sampling.top_p = top_p;
        c.sampling.strategy = do_sample ? TT_STRATEGY_COMBINED : TT_STRATEGY_GREEDY;
        c.seed = seed;
        /* the goldens crop to the last max_len tokens at every step: the exact
         * mode (pinned since issue 12 made half the default) */
        c.context_shift = TT_CONTEXT_SHIFT_EXACT;
        for (int cache = 0; cache < 2; cache++) {
            c.use_cache = cache;
            tt_generator *g = make_gen(m, &c);
            tt_generation out;
            gen1(g, pids, np, NULL, NULL, &out);
            if (out.n_tokens != nw || memcmp(out.tokens, want, (size_t)nw * sizeof(int))) {
                fprintf(stderr, "golden '%s' (cache %d) differs:\n  got ", name, cache);
                for (int i = 0; i < out.n_tokens; i++)
                    fprintf(stderr, " %d", out.tokens[i]);
                fprintf(stderr, "\n  want");
                for (int i = 0; i < nw; i++)
                    fprintf(stderr, " %d", want[i]);
                fprintf(stderr, "\n");
            }
            assert_int_equal(out.n_tokens, nw);
            assert_memory_equal(out.tokens, want, (size_t)nw * sizeof(int));
            tt_generations_free(&out, 1);
            tt_generator_free(g);
            checked++;
        }
    }
    fclose(f);
    assert_true(checked >= 4);
    tt_tokenizer_free(tok);
    tt_model_free(m);
    free(mp);
    free(gp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_packed_weights_follow_the_table),
        cmocka_unit_test(test_logits_match_model),
        cmocka_unit_test(test_head_size_32),
        cmocka_unit_test(test_threads_same_tokens),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_nan_logits_error),
        cmocka_unit_test(test_cache_equals_recompute),
        cmocka_unit_test(test_ragged_batch),
        cmocka_unit_test(test_eos_and_pad),
        cmocka_unit_test(test_overrides_and_greedy),
        cmocka_unit_test(test_streaming_and_entropy),
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests_name("generate", tests, NULL, NULL);
}
