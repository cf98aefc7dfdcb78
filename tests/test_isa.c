/*
 * tests/test_isa.c — the kernels' instruction-set paths (src/isa.h).
 *
 * Every path this CPU has (scalar always; avx2 and avx512 where present) is
 * checked against the scalar path: the generator's kernels and its tokens
 * bit for bit, the training kernels and the model's loss and gradients to
 * float rounding (their `omp simd` sums reassociate with the vector width),
 * and TT_ISA picks the path at first use.
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

#include "generate_internal.h"
#include "isa.h"
#include "model_internal.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/rng.h"

static const char *first_isa; /* what the first kernel call chose (TT_ISA=scalar) */

static void fill(float *x, size_t n, tt_rng *g) {
    for (size_t i = 0; i < n; i++) x[i] = (float)tt_rng_normal(g);
}

static void test_env_and_names(void **state) {
    (void)state;
    /* main() set TT_ISA=scalar before the first kernel call */
    assert_string_equal(first_isa, "scalar");
    assert_true(tt_isa_available(TT_ISA_SCALAR));
    assert_false(tt_isa_force((tt_isa)TT_ISA_COUNT_));
    assert_false(tt_isa_force((tt_isa)-1));
    for (int i = 0; i < TT_ISA_COUNT_; i++) {
        if (!tt_isa_available((tt_isa)i)) {
            const tt_isa before = tt_isa_active();
            assert_false(tt_isa_force((tt_isa)i)); /* refused, nothing changed */
            assert_int_equal(tt_isa_active(), before);
            continue;
        }
        assert_true(tt_isa_force((tt_isa)i));
        assert_string_equal(tt_kernel_isa(), tt_isa_name((tt_isa)i));
    }
    assert_true(tt_isa_force(tt_isa_best()));
    print_message("kernel paths: best %s\n", tt_isa_name(tt_isa_best()));
}

/* The generator's kernels: identical floats on every path. */
static void test_gen_kernels_identical(void **state) {
    (void)state;
    tt_rng g;
    tt_rng_seed(&g, 3);
    const int N = 9, I = 136, O = 77, C = 96, NH = 3, hs = 32, TP = 192, n = 150;
    const size_t hstride = (size_t)TP * hs + 64;
    float *w = malloc((size_t)O * I * 4), *x = malloc((size_t)N * I * 4), *b = malloc(O * 4);
    float *wp = malloc(tt_gen_packed_floats(O, I) * 4);
    float *K = malloc(NH * hstride * 4), *Vc = malloc(NH * hstride * 4), *s = malloc(NH * TP * 4);
    float q[96], lw[96], lb[96], lx[5 * 96];
    fill(w, (size_t)O * I, &g), fill(x, (size_t)N * I, &g), fill(b, O, &g);
    fill(K, NH * hstride, &g), fill(Vc, NH * hstride, &g), fill(q, C, &g);
    fill(lw, C, &g), fill(lb, C, &g), fill(lx, 5 * C, &g);
    float *ref[5] = {0}, *got = NULL;
    const size_t sz[5] = {tt_gen_packed_floats(O, I), (size_t)N * O, (size_t)N * O, 5 * C, C};
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_force(isa)) continue;
        float *out[5];
        for (int k = 0; k < 5; k++) out[k] = calloc(sz[k], 4);
        tt_gen_pack(out[0], w, O, I);
        memcpy(wp, out[0], sz[0] * 4);
        tt_gen_linear_blocks(out[1], x, wp, b, N, I, O, 0, (O + 7) / 8, TT_GEN_EPI_STORE);
        tt_gen_linear_blocks(out[2], x, wp, b, N, I, O, 0, (O + 7) / 8, TT_GEN_EPI_GELU);
        tt_gen_layernorm(out[3], lx, lw, lb, 5, C);
        tt_gen_attend(out[4], q, K, Vc, n, C, NH, hstride, s, TP, 0, NH);
        for (int k = 0; k < 5; k++) {
            if (isa == TT_ISA_SCALAR) {
                ref[k] = out[k];
            } else {
                if (memcmp(ref[k], out[k], sz[k] * 4))
                    fail_msg("%s: kernel %d differs from the scalar path", tt_isa_name(isa), k);
                free(out[k]);
            }
        }
    }
    for (int k = 0; k < 5; k++) free(ref[k]);
    free(got), free(w), free(x), free(b), free(wp), free(K), free(Vc), free(s);
    tt_isa_force(tt_isa_best());
}

/* The training kernels: every path within float rounding of the scalar one. */
static void close_to(const float *a, const float *b, size_t n, double tol, const char *what,
                     tt_isa isa) {
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > tol * (1.0 + fabs((double)b[i])))
            fail_msg("%s on %s: [%zu] %.9g vs scalar %.9g", what, tt_isa_name(isa), i,
                     (double)a[i], (double)b[i]);
}

static void test_model_kernels_close(void **state) {
    (void)state;
    tt_rng g;
    tt_rng_seed(&g, 5);
    const int B = 2, T = 24, C = 64, NH = 4, N = B * T, V = 67;
    const size_t nc = (size_t)N * C;
    float *x = malloc(nc * 4), *w = malloc(C * 4), *bb = malloc(C * 4), *q = malloc(nc * 4);
    float *k = malloc(nc * 4), *v = malloc(nc * 4), *lg = malloc((size_t)N * V * 4);
    int *tg = malloc(N * sizeof *tg);
    fill(x, nc, &g), fill(w, C, &g), fill(bb, C, &g), fill(q, nc, &g), fill(k, nc, &g);
    fill(v, nc, &g), fill(lg, (size_t)N * V, &g);
    for (int i = 0; i < N; i++) tg[i] = (int)tt_rng_below(&g, V);
    float *scratch = malloc(tt_attention_scratch_floats(T) * 4 * 64);
    float *ref_ln = NULL, *ref_gelu = NULL, *ref_att = NULL, *ref_dq = NULL;
    float ref_loss = 0;
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_force(isa)) continue;
        float *ln = malloc(nc * 4), *mean = malloc(N * 4), *rstd = malloc(N * 4);
        float *ge = malloc(nc * 4), *att = malloc(nc * 4), *dq = calloc(nc, 4);
        float *dk = calloc(nc, 4), *dv = calloc(nc, 4), *losses = malloc(N * 4);
        tt_layernorm_forward(ln, mean, rstd, x, w, bb, N, C);
        tt_gelu_forward(ge, x, nc);
        tt_attention_forward(att, NULL, q, k, v, NULL, 1.0f, B, T, C, NH, scratch);
        tt_attention_backward(dq, dk, dv, x, NULL, q, k, v, NULL, 1.0f, B, T, C, NH, scratch);
        const float loss = tt_crossentropy_forward(losses, lg, tg, N, V);
        if (isa == TT_ISA_SCALAR) {
            ref_ln = ln, ref_gelu = ge, ref_att = att, ref_dq = dq, ref_loss = loss;
            ln = ge = att = dq = NULL;
        } else {
            close_to(ln, ref_ln, nc, 1e-5, "layernorm", isa);
            close_to(ge, ref_gelu, nc, 1e-6, "gelu", isa);
            close_to(att, ref_att, nc, 1e-5, "attention", isa);
            close_to(dq, ref_dq, nc, 1e-5, "attention backward", isa);
            assert_true(fabsf(loss - ref_loss) <= 1e-5f * ref_loss);
        }
        free(ln), free(mean), free(rstd), free(ge), free(att), free(dq), free(dk), free(dv);
        free(losses);
    }
    free(ref_ln), free(ref_gelu), free(ref_att), free(ref_dq);
    free(x), free(w), free(bb), free(q), free(k), free(v), free(lg), free(tg), free(scratch);
    tt_isa_force(tt_isa_best());
}

/* A whole model: the loss within 1e-5 and the greedy and sampled tokens
 * identical on every path. */
static void test_model_and_generation(void **state) {
    (void)state;
    tt_model_config mc = {29, 64, 4, 2, 128, 64, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &mc, 7, &e), TT_OK);
    int tok[2 * 40], tgt[2 * 40];
    for (int i = 0; i < 80; i++) tok[i] = (i * 7 + 3) % 29, tgt[i] = (i * 5 + 1) % 29;
    float ref_loss = 0;
    int ref_tokens[2][60];
    for (int pass = 0; pass < TT_ISA_COUNT_; pass++) {
        const tt_isa isa = (tt_isa)pass;
        if (!tt_isa_force(isa)) continue;
        float loss = 0;
        assert_int_equal(tt_model_forward(m, tok, tgt, 2, 40, TT_MODE_EVAL, NULL, &loss, &e), TT_OK);
        tt_generator_config gc = tt_generator_config_default();
        gc.max_new_tokens = 50;
        gc.n_threads = 1;
        tt_generator *gen = NULL;
        assert_int_equal(tt_generator_create(&gen, m, &gc, &e), TT_OK);
        const int *ps[2] = {tok, tok + 40};
        const int lens[2] = {10, 3};
        tt_generation out[2];
        assert_int_equal(tt_generator_generate(gen, ps, lens, 2, NULL, NULL, NULL, NULL, out, &e), TT_OK);
        if (isa == TT_ISA_SCALAR) {
            ref_loss = loss;
            for (int r = 0; r < 2; r++) memcpy(ref_tokens[r], out[r].tokens, (size_t)out[r].n_tokens * sizeof(int));
        } else {
            if (fabsf(loss - ref_loss) > 1e-5f)
                fail_msg("%s: loss %.9g vs scalar %.9g", tt_isa_name(isa), (double)loss, (double)ref_loss);
            for (int r = 0; r < 2; r++)
                assert_memory_equal(ref_tokens[r], out[r].tokens, (size_t)out[r].n_tokens * sizeof(int));
        }
        tt_generations_free(out, 2);
        tt_generator_free(gen);
    }
    tt_model_free(m);
    tt_isa_force(tt_isa_best());
}

int main(void) {
    setenv("TT_ISA", "scalar", 1);
    first_isa = tt_kernel_isa();
    unsetenv("TT_ISA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_and_names),
        cmocka_unit_test(test_gen_kernels_identical),
        cmocka_unit_test(test_model_kernels_close),
        cmocka_unit_test(test_model_and_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
