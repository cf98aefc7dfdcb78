/*
 * tests/test_numerics.c — one forward, one numerics contract (docs/numerics.md).
 *
 * Training/evaluation (src/model_kernels.c on tt_gemm) and decoding
 * (src/gen_kernels.c over the KV cache) share their per-row arithmetic
 * (src/row_kernels.h) and compute every matrix product as one chain over K.
 * On every path this machine has, plus the forced scalar path:
 *   - the shared pieces agree kernel by kernel (bit for bit on the FMA paths);
 *   - a small model trained here on real text, and the committed trained
 *     fixture: the logits of `tt eval`'s forward pass and of teacher-forced
 *     decoding of the same text with the KV cache agree at every position —
 *     bit for bit on the avx2 and avx512 paths, within 1e-5 on the scalar
 *     path (its products round a*b and the sum apart, the decoder's fmaf once);
 *   - `tt eval` gives the same loss on every path within 1e-5 (bit for bit
 *     between avx2 and avx512).
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

#include "gemm.h"
#include "generate_internal.h"
#include "isa.h"
#include "model_internal.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/optim.h"
#include "tt/rng.h"
#include "tt/tokenizer.h"
#include "util.h"

/* Real text: the prologue of Romeo and Juliet and the start of Act I. */
static const char TEXT[] = "Two households, both alike in dignity,\n"
                           "In fair Verona, where we lay our scene,\n"
                           "From ancient grudge break to new mutiny,\n"
                           "Where civil blood makes civil hands unclean.\n"
                           "From forth the fatal loins of these two foes\n"
                           "A pair of star-cross'd lovers take their life;\n"
                           "Whose misadventured piteous overthrows\n"
                           "Do with their death bury their parents' strife.\n"
                           "The fearful passage of their death-mark'd love,\n"
                           "And the continuance of their parents' rage,\n"
                           "Which, but their children's end, nought could remove,\n"
                           "Is now the two hours' traffic of our stage;\n"
                           "The which if you with patient ears attend,\n"
                           "What here shall miss, our toil shall strive to mend.\n"
                           "SAMPSON: Gregory, o' my word, we'll not carry coals.\n"
                           "GREGORY: No, for then we should be colliers.\n"
                           "SAMPSON: I mean, an we be in choler, we'll draw.\n"
                           "GREGORY: Ay, while you live, draw your neck out o' the collar.\n"
                           "SAMPSON: I strike quickly, being moved.\n"
                           "GREGORY: But thou art not quickly moved to strike.\n"
                           "SAMPSON: A dog of the house of Montague moves me.\n";

static bool fma_path(tt_isa isa) { return isa != TT_ISA_SCALAR; }

static void fill(float *x, size_t n, tt_rng *g, double sd) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(sd * tt_rng_normal(g));
}

/* max |a - b| over n */
static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return d;
}

/* ---- the shared kernels, piece by piece ---------------------------------- */

/* A Linear layer: tt_gemm_bias (training, evaluation) and the decoder's
 * packed kernel, with K past the GEMM's K block (256) so that the chain is
 * parked in C between blocks; GELU and residual epilogues as the two
 * forwards apply them. */
static void test_linear_one_chain(void **state) {
    (void)state;
    tt_rng g;
    tt_rng_seed(&g, 21);
    const int N = 7, I = 600, O = 45;
    float *x = malloc((size_t)N * I * 4), *w = malloc((size_t)O * I * 4), *b = malloc(O * 4);
    float *wp = malloc(tt_gen_packed_floats(O, I) * 4), *res = malloc((size_t)N * O * 4);
    float *yt = malloc((size_t)N * O * 4), *yd = malloc((size_t)N * O * 4);
    fill(x, (size_t)N * I, &g, 1.0), fill(w, (size_t)O * I, &g, 0.05), fill(b, O, &g, 0.5);
    fill(res, (size_t)N * O, &g, 1.0);
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_force(isa)) continue;
        const double tol = fma_path(isa) ? 0.0 : 1e-5;
        tt_gen_pack(wp, w, O, I);
        /* y = x W^T + b */
        tt_gemm_bias(TT_GEMM_N, TT_GEMM_T, N, O, I, x, I, w, I, b, yt, O);
        tt_gen_linear_blocks(yd, x, wp, b, N, I, O, 0, (O + 7) / 8, TT_GEN_EPI_STORE);
        double d = max_abs_diff(yt, yd, (size_t)N * O);
        if (d > tol) fail_msg("%s: linear differs by %g", tt_isa_name(isa), d);
        /* gelu(x W^T + b) */
        tt_gelu_forward(yt, yt, (size_t)N * O);
        tt_gen_linear_blocks(yd, x, wp, b, N, I, O, 0, (O + 7) / 8, TT_GEN_EPI_GELU);
        d = max_abs_diff(yt, yd, (size_t)N * O);
        if (d > tol) fail_msg("%s: linear + GELU differs by %g", tt_isa_name(isa), d);
        /* r + (x W^T + b) */
        tt_gemm_bias(TT_GEMM_N, TT_GEMM_T, N, O, I, x, I, w, I, b, yt, O);
        tt_residual_add(yt, res, yt, (size_t)N * O);
        memcpy(yd, res, (size_t)N * O * 4);
        tt_gen_linear_blocks(yd, x, wp, b, N, I, O, 0, (O + 7) / 8, TT_GEN_EPI_ADD);
        d = max_abs_diff(yt, yd, (size_t)N * O);
        if (d > tol) fail_msg("%s: linear + residual differs by %g", tt_isa_name(isa), d);
    }
    free(x), free(w), free(b), free(wp), free(res), free(yt), free(yd);
    tt_isa_force(tt_isa_best());
}

/* LayerNorm and causal attention: the model's kernels over [B, T] and the
 * decoder's over a KV cache, row by row. */
static void test_layernorm_and_attention_rows(void **state) {
    (void)state;
    tt_rng g;
    tt_rng_seed(&g, 22);
    const int B = 2, T = 150, C = 96, NH = 3, hs = 32, N = B * T;
    const size_t nc = (size_t)N * C;
    float *x = malloc(nc * 4), *w = malloc(C * 4), *bb = malloc(C * 4);
    float *q = malloc(nc * 4), *k = malloc(nc * 4), *v = malloc(nc * 4);
    float *yt = malloc(nc * 4), *yd = malloc(nc * 4), *mean = malloc(N * 4), *rstd = malloc(N * 4);
    fill(x, nc, &g, 2.0), fill(w, C, &g, 1.0), fill(bb, C, &g, 1.0);
    fill(q, nc, &g, 1.0), fill(k, nc, &g, 1.0), fill(v, nc, &g, 1.0);
    for (size_t i = 0; i < nc; i++)
        x[i] += 3.0f; /* a mean far from 0 */
    const int TP = (T + 63) / 64 * 64;
    const size_t hstride = (size_t)TP * hs + 64;
    float *K = calloc((size_t)NH * hstride, 4), *Vc = calloc((size_t)NH * hstride, 4);
    float *s = malloc((size_t)NH * TP * 4);
    float *scratch = malloc(tt_attention_scratch_floats(T) * 4); /* called directly: one thread (src/par.h) */
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_force(isa)) continue;
        /* LayerNorm: the same function on both sides, bit for bit on every path */
        tt_layernorm_forward(yt, mean, rstd, x, w, bb, N, C);
        tt_gen_layernorm(yd, x, w, bb, N, C);
        assert_memory_equal(yt, yd, nc * 4);
        /* attention: row t of sequence b against the cache of positions 0..t */
        tt_attention_forward(yt, NULL, q, k, v, NULL, 1.0f, B, T, C, NH, scratch);
        double worst = 0.0;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) { /* cache layouts: src/generate_internal.h */
                const float *kr = k + ((size_t)b * T + t) * C, *vr = v + ((size_t)b * T + t) * C;
                for (int h = 0; h < NH; h++) {
                    float *kt = K + (size_t)h * hstride + (size_t)(t >> 6) * hs * 64 + (t & 63);
                    for (int j = 0; j < hs; j++)
                        kt[(size_t)j * 64] = kr[h * hs + j];
                    memcpy(Vc + (size_t)h * hstride + (size_t)t * hs, vr + h * hs, (size_t)hs * 4);
                }
                const size_t row = ((size_t)b * T + t) * C;
                tt_gen_attend(yd + row, q + row, K, Vc, t + 1, C, NH, hstride, s, TP, 0, NH);
            }
        }
        worst = max_abs_diff(yt, yd, nc);
        if (worst > (fma_path(isa) ? 0.0 : 1e-5))
            fail_msg("%s: attention rows differ by %g", tt_isa_name(isa), worst);
    }
    free(x), free(w), free(bb), free(q), free(k), free(v), free(yt), free(yd), free(mean);
    free(rstd), free(K), free(Vc), free(s), free(scratch);
    tt_isa_force(tt_isa_best());
}

/* ---- eval vs teacher-forced decoding ---------------------------------------- */

/* A small model trained here on TEXT: K past the GEMM's K block in fc2
 * (d_ff 320), windows past the cache's group of 64 positions (max_len 96),
 * learned positions and an untied head (the other layout the decoder has). */
static tt_model *train_small(const int *ids, int n, tt_error *e) {
    tt_model_config mc = {0, 64, 4, 2, 320, 96, 0.0f, TT_POS_LEARNED, false};
    int V = 0;
    for (int i = 0; i < n; i++)
        V = ids[i] + 1 > V ? ids[i] + 1 : V;
    mc.vocab_size = V;
    tt_model *m = NULL;
    if (tt_model_create(&m, &mc, 5, e) != TT_OK) return NULL;
    tt_adamw *opt = NULL;
    assert_int_equal(tt_adamw_create(&opt, tt_model_num_params(m), e), TT_OK);
    tt_adamw_config ac = tt_adamw_config_default();
    const int B = 4, T = 64;
    int tok[4 * 64], tgt[4 * 64];
    tt_rng g;
    tt_rng_seed(&g, 9);
    float first = 0.0f, loss = 0.0f;
    for (int step = 0; step < 60; step++) {
        for (int b = 0; b < B; b++) {
            const int at = (int)tt_rng_below(&g, (uint64_t)(n - T - 1));
            for (int t = 0; t < T; t++)
                tok[b * T + t] = ids[at + t], tgt[b * T + t] = ids[at + t + 1];
        }
        tt_model_zero_grad(m);
        assert_int_equal(tt_model_forward(m, tok, tgt, B, T, TT_MODE_TRAIN, &g, &loss, e), TT_OK);
        assert_int_equal(tt_model_backward(m, e), TT_OK);
        tt_adamw_step(opt, &ac, 3e-3f, tt_model_params_flat(m), tt_model_grads_flat(m),
                      tt_model_decay_mask(m));
        if (step == 0) first = loss;
    }
    tt_model_weights_changed(m);
    print_message("trained: loss %.3f -> %.3f over 60 steps\n", (double)first, (double)loss);
    assert_true(loss < first - 0.5f); /* it learned something */
    tt_adamw_free(opt);
    return m;
}

/* The logits of eval's forward pass over ids[0..T) and of the generator fed
 * the same tokens one at a time (teacher forcing, the KV cache), at every
 * position; fails when they differ by more than tol. Returns the largest
 * difference. */
static double eval_vs_decode(tt_model *m, const int *ids, int T, double tol, const char *what) {
    tt_error e;
    const int V = tt_model_get_config(m)->vocab_size;
    float loss;
    assert_int_equal(tt_model_forward(m, ids, ids + 1, 1, T, TT_MODE_EVAL, NULL, &loss, &e), TT_OK);
    const float *ev = tt_model_logits(m);
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 1;
    gc.max_new_tokens = T;
    gc.sampling.strategy = TT_STRATEGY_GREEDY;
    tt_generator *g = NULL;
    assert_int_equal(tt_generator_create(&g, m, &gc, &e), TT_OK);
    int row = -1;
    assert_int_equal(tt_generator_add_row(g, ids, 1, NULL, 0, &row, &e), TT_OK);
    double worst = 0.0;
    for (int p = 0; p < T; p++) {
        const float *lg = NULL;
        assert_int_equal(tt_generator_eval(g, &e), TT_OK);
        assert_int_equal(tt_generator_row_logits(g, row, &lg, &e), TT_OK);
        const double d = max_abs_diff(ev + (size_t)p * V, lg, (size_t)V);
        worst = d > worst ? d : worst;
        if (!(d <= tol))
            fail_msg("%s on %s: position %d: eval and decoding differ by %g (allowed %g)", what,
                     tt_kernel_isa(), p, d, tol);
        if (p + 1 < T) {
            tt_step_token st;
            int n_out = 0;
            assert_int_equal(tt_generator_row_set_token(g, row, ids[p + 1], &e), TT_OK);
            assert_int_equal(tt_generator_step(g, &st, 1, &n_out, &e), TT_OK);
            assert_int_equal(st.token, ids[p + 1]);
        }
    }
    tt_generator_free(g);
    return worst;
}

static void test_eval_equals_teacher_forced(void **state) {
    (void)state;
    tt_error e;
    tt_tokenizer *tok = NULL;
    assert_int_equal(tt_tokenizer_fit(&tok, TEXT, strlen(TEXT), &e), TT_OK);
    int *ids = NULL;
    size_t n = 0;
    assert_int_equal(tt_tokenizer_encode(tok, TEXT, strlen(TEXT), &ids, &n, &e), TT_OK);
    tt_model *m = train_small(ids, (int)n, &e);
    assert_non_null(m);
    /* the committed fixture: trained 1000 steps on Tiny Shakespeare (sinusoidal, tied) */
    tt_model *fx = NULL;
    tt_tokenizer *ftok = NULL;
    const char *fp = "tests/fixtures/gen_model.safetensors";
    assert_int_equal(tt_checkpoint_load(fp, &fx, &ftok, &e), TT_OK);
    int *fids = NULL;
    size_t fn = 0;
    assert_int_equal(tt_tokenizer_encode(ftok, TEXT + 40, 200, &fids, &fn, &e), TT_OK);
    const int fT = tt_model_get_config(fx)->max_len;
    assert_true((int)fn > fT);
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_force(isa)) continue;
        const double tol = fma_path(isa) ? 0.0 : 1e-5;
        const double d1 = eval_vs_decode(m, ids + 100, 96, tol, "trained here");
        const double d2 = eval_vs_decode(fx, fids, fT, tol, "fixture");
        print_message("%s: eval vs teacher-forced decoding, max |diff| %g (trained here), %g "
                      "(fixture)\n",
                      tt_isa_name(isa), d1, d2);
    }
    free(ids), free(fids);
    tt_model_free(m), tt_model_free(fx);
    tt_tokenizer_free(tok), tt_tokenizer_free(ftok);
    tt_isa_force(tt_isa_best());
}

/* ---- tt eval on every path ---------------------------------------------------- */

/* "loss": F from tt eval --json */
static double json_loss(const char *out) {
    const char *p = strstr(out, "\"loss\":");
    assert_non_null(p);
    return strtod(p + 7, NULL);
}

static void test_tt_eval_every_path(void **state) {
    (void)state;
    tt_error e;
    tt_tokenizer *tok = NULL;
    assert_int_equal(tt_tokenizer_fit(&tok, TEXT, strlen(TEXT), &e), TT_OK);
    int *ids = NULL;
    size_t n = 0;
    assert_int_equal(tt_tokenizer_encode(tok, TEXT, strlen(TEXT), &ids, &n, &e), TT_OK);
    tt_isa_force(tt_isa_best());
    tt_model *m = train_small(ids, (int)n, &e);
    char *dir = tt_test_tmpdir(), mp[1024], tp[1024];
    snprintf(mp, sizeof mp, "%s/m.safetensors", dir);
    snprintf(tp, sizeof tp, "%s/text.txt", dir);
    assert_int_equal(tt_checkpoint_save(mp, m, tok, &e), TT_OK);
    assert_int_equal(tt_test_write_file(tp, TEXT, strlen(TEXT)), 0);
    double ref = 0.0, loss[TT_ISA_COUNT_] = {0};
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_available(isa)) continue;
        setenv("TT_ISA", tt_isa_name(isa), 1);
        const char *argv[] = {"tt", "eval", "--model", mp, "--text-file", tp, "--json", NULL};
        tt_cli_result r;
        assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
        if (r.status != 0) fail_msg("tt eval on %s: %s", tt_isa_name(isa), r.err);
        loss[pass] = json_loss(r.out);
        tt_cli_result_free(&r);
        if (isa == TT_ISA_SCALAR) ref = loss[pass];
        print_message("tt eval on %s: loss %.9f\n", tt_isa_name(isa), loss[pass]);
        if (fabs(loss[pass] - ref) > 1e-5)
            fail_msg("tt eval on %s: loss %.9f vs scalar %.9f", tt_isa_name(isa), loss[pass], ref);
    }
    unsetenv("TT_ISA");
    if (tt_isa_available(TT_ISA_AVX2) && tt_isa_available(TT_ISA_AVX512))
        assert_true(loss[TT_ISA_AVX2] == loss[TT_ISA_AVX512]); /* the same products and rows */
    tt_test_rmtree(dir);
    free(dir), free(ids);
    tt_model_free(m);
    tt_tokenizer_free(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_one_chain),
        cmocka_unit_test(test_layernorm_and_attention_rows),
        cmocka_unit_test(test_eval_equals_teacher_forced),
        cmocka_unit_test(test_tt_eval_every_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
