/*
 * tests/test_gemm.c — the matrix products (src/gemm.h) on every
 * instruction-set path this machine has (scalar always; avx2, avx512 where
 * the CPU has them), forced in turn with tt_isa_force.
 *
 *  - every case (NN, NT, TN, TT) and beta 0, 1 and 0.5 on odd shapes (edges
 *    of the micro-tile in M and N, K across the K-block boundaries), with
 *    leading dimensions larger than the rows, against a double-precision
 *    triple loop: each element within the worst-case float bound
 *    (K + 2) u sum_k |a b| (+ |beta c|) for any order of summation;
 *  - beta 0 never reads C (NaN there stays out), nothing outside the M x N
 *    window of C is written;
 *  - the result of an element does not depend on how the product is split
 *    into row or column blocks, nor on the leading dimensions: bit for bit
 *    (this is what makes the model's results independent of the thread
 *    count);
 *  - M, N or K = 0;
 *  - library calls change no process-wide thread setting: a training step
 *    (forward, backward, AdamW) and an evaluation on 2 threads, a tt_train
 *    run and a generation leave OpenMP's omp_get_max_threads() and, where the
 *    program is linked with OpenBLAS, its thread count as the program set
 *    them (the library used to set OpenBLAS to one thread for the whole
 *    process, and the model's backward OpenMP's count).
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

#include <omp.h>
#if defined(__has_include)
#if __has_include(<cblas.h>)
#include <cblas.h>
#endif
#endif

#include "gemm.h"
#include "isa.h"
#include "tt/common.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/optim.h"
#include "tt/train.h"
#include "tt/rng.h"

#define PAD 3          /* extra floats per row of every operand */
#define SENTINEL 7.25f /* in C's padding: must survive */

typedef struct {
    int M, N, K;
} dims;

/* micro-tile edges (1, 5, 7, 9, 13, 31, 33, 65, 70 against MR 8/6/4 and NR
 * 32/16/8), K below, at and across the K block (256); transposed A read in
 * place and packed (when its K block spans more than 32 KiB) */
static const dims shapes[] = {
    {1, 1, 1},     {7, 5, 3},     {13, 33, 17}, {8, 32, 256}, {9, 31, 257},
    {65, 65, 65},  {33, 70, 300}, {64, 64, 32}, {64, 32, 64}, {3, 100, 513},
    {50, 17, 130}, {800, 5, 40}, /* a transposed A packed in two row blocks (768 rows at most at
                                    once) */
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static void fill(float *x, size_t n, tt_rng *g) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)tt_rng_normal(g);
}

/* op(A)[i, k] and op(B)[k, j] of the stored operands */
static float at_a(const float *A, int lda, tt_gemm_op ta, int i, int k) {
    return ta == TT_GEMM_N ? A[(size_t)i * lda + k] : A[(size_t)k * lda + i];
}
static float at_b(const float *B, int ldb, tt_gemm_op tb, int k, int j) {
    return tb == TT_GEMM_N ? B[(size_t)k * ldb + j] : B[(size_t)j * ldb + k];
}

static const char *op_name(tt_gemm_op o) { return o == TT_GEMM_N ? "N" : "T"; }

/* one product checked against doubles; returns the number of bad elements */
static int check_one(tt_gemm_op ta, tt_gemm_op tb, dims d, float beta, tt_rng *g) {
    const int M = d.M, N = d.N, K = d.K;
    const int arows = ta == TT_GEMM_N ? M : K, acols = ta == TT_GEMM_N ? K : M;
    const int brows = tb == TT_GEMM_N ? K : N, bcols = tb == TT_GEMM_N ? N : K;
    const int lda = acols + PAD, ldb = bcols + PAD, ldc = N + PAD;
    float *A = malloc((size_t)arows * lda * sizeof(float)),
          *B = malloc((size_t)brows * ldb * sizeof(float));
    /* one guard row after C: nothing may be written there either */
    float *C = malloc((size_t)(M + 1) * ldc * sizeof(float)),
          *C0 = malloc((size_t)(M + 1) * ldc * sizeof(float));
    assert_non_null(A), assert_non_null(B), assert_non_null(C), assert_non_null(C0);
    fill(A, (size_t)arows * lda, g);
    fill(B, (size_t)brows * ldb, g);
    fill(C0, (size_t)M * ldc, g);
    for (int i = 0; i <= M; i++)
        for (int j = i < M ? N : 0; j < ldc; j++)
            C0[(size_t)i * ldc + j] = SENTINEL;
    memcpy(C, C0, (size_t)(M + 1) * ldc * sizeof(float));
    if (beta == 0.0f) /* must not be read */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = NAN;
    tt_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    const double u = ldexp(1.0, -24);
    int bad = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double r = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            double s = fabs(r);
            for (int k = 0; k < K; k++) {
                const double p = (double)at_a(A, lda, ta, i, k) * at_b(B, ldb, tb, k, j);
                r += p;
                s += fabs(p);
            }
            const double got = C[(size_t)i * ldc + j], tol = (K + 2) * u * s * 1.01 + 1e-30;
            if (!(fabs(got - r) <= tol)) {
                if (bad++ < 3)
                    print_error("%s %s%s M %d N %d K %d beta %g: C[%d, %d] = %.9g, expected %.9g "
                                "(tol %.3g)\n",
                                tt_kernel_isa(), op_name(ta), op_name(tb), M, N, K, (double)beta, i,
                                j, got, r, tol);
            }
        }
    }
    for (int i = 0; i <= M; i++)
        for (int j = i < M ? N : 0; j < ldc; j++)
            if (C[(size_t)i * ldc + j] != SENTINEL && bad++ < 3)
                print_error("%s %s%s M %d N %d K %d: C[%d, %d] outside the product written\n",
                            tt_kernel_isa(), op_name(ta), op_name(tb), M, N, K, i, j);
    free(A), free(B), free(C), free(C0);
    return bad;
}

static void test_every_case_every_path(void **state) {
    (void)state;
    int paths = 0;
    for (int p = 0; p < TT_ISA_COUNT_; p++) {
        if (!tt_isa_force((tt_isa)p)) continue;
        paths++;
        tt_rng g;
        tt_rng_seed(&g, 11 + (uint64_t)p);
        int bad = 0;
        const float betas[3] = {0.0f, 1.0f, 0.5f};
        for (int s = 0; s < N_SHAPES; s++)
            for (int c = 0; c < 4; c++)
                for (int b = 0; b < 3; b++)
                    bad += check_one((tt_gemm_op)(c >> 1), (tt_gemm_op)(c & 1), shapes[s], betas[b],
                                     &g);
        int mr, nr, kc;
        tt_gemm_blocking(&mr, &nr, &kc);
        print_message("gemm %s: micro-tile %d x %d, K block %d: %s\n", tt_kernel_isa(), mr, nr, kc,
                      bad ? "FAILED" : "all cases within the float bound");
        assert_int_equal(bad, 0);
    }
    assert_true(paths >= 1);
    tt_isa_force(tt_isa_best());
}

/* C of the whole product == C computed in row blocks, in column blocks and
 * with other leading dimensions, bit for bit */
static void test_split_bit_identical(void **state) {
    (void)state;
    const int M = 45, N = 77, K = 530;
    for (int p = 0; p < TT_ISA_COUNT_; p++) {
        if (!tt_isa_force((tt_isa)p)) continue;
        tt_rng g;
        tt_rng_seed(&g, 5);
        for (int c = 0; c < 4; c++) {
            const tt_gemm_op ta = (tt_gemm_op)(c >> 1), tb = (tt_gemm_op)(c & 1);
            const int lda = ta == TT_GEMM_N ? K : M, ldb = tb == TT_GEMM_N ? N : K;
            const size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
            float *A = malloc(na * 4), *B = malloc(nb * 4), *C0 = malloc(nc * 4);
            float *whole = malloc(nc * 4), *rows = malloc(nc * 4), *cols = malloc(nc * 4);
            fill(A, na, &g), fill(B, nb, &g), fill(C0, nc, &g);
            for (int beta = 0; beta <= 1; beta++) {
                memcpy(whole, C0, nc * 4), memcpy(rows, C0, nc * 4), memcpy(cols, C0, nc * 4);
                tt_gemm(ta, tb, M, N, K, A, lda, B, ldb, (float)beta, whole, N);
                /* rows [0, 5), [5, 22), [22, 45): as threads would split them */
                const int r[4] = {0, 5, 22, M};
                for (int q = 0; q < 3; q++) {
                    const float *Aq = ta == TT_GEMM_N ? A + (size_t)r[q] * lda : A + r[q];
                    tt_gemm(ta, tb, r[q + 1] - r[q], N, K, Aq, lda, B, ldb, (float)beta,
                            rows + (size_t)r[q] * N, N);
                }
                /* columns [0, 19), [19, 77) */
                const int cs[3] = {0, 19, N};
                for (int q = 0; q < 2; q++) {
                    const float *Bq = tb == TT_GEMM_N ? B + cs[q] : B + (size_t)cs[q] * ldb;
                    tt_gemm(ta, tb, M, cs[q + 1] - cs[q], K, A, lda, Bq, ldb, (float)beta,
                            cols + cs[q], N);
                }
                assert_memory_equal(whole, rows, nc * 4);
                assert_memory_equal(whole, cols, nc * 4);
            }
            /* the same A and B stored with wider rows */
            const int arows = ta == TT_GEMM_N ? M : K, acols = ta == TT_GEMM_N ? K : M;
            const int brows = tb == TT_GEMM_N ? K : N, bcols = tb == TT_GEMM_N ? N : K;
            float *A2 = malloc((size_t)arows * (acols + 9) * 4),
                  *B2 = malloc((size_t)brows * (bcols + 5) * 4);
            float *C2 = malloc((size_t)M * (N + 2) * 4);
            for (int i = 0; i < arows; i++)
                memcpy(A2 + (size_t)i * (acols + 9), A + (size_t)i * acols, acols * 4);
            for (int i = 0; i < brows; i++)
                memcpy(B2 + (size_t)i * (bcols + 5), B + (size_t)i * bcols, bcols * 4);
            tt_gemm(ta, tb, M, N, K, A, lda, B, ldb, 0.0f, whole, N);
            tt_gemm(ta, tb, M, N, K, A2, acols + 9, B2, bcols + 5, 0.0f, C2, N + 2);
            for (int i = 0; i < M; i++)
                assert_memory_equal(whole + (size_t)i * N, C2 + (size_t)i * (N + 2), N * 4);
            free(A2), free(B2), free(C2);
            free(A), free(B), free(C0), free(whole), free(rows), free(cols);
        }
    }
    tt_isa_force(tt_isa_best());
}

static void test_empty(void **state) {
    (void)state;
    for (int p = 0; p < TT_ISA_COUNT_; p++) {
        if (!tt_isa_force((tt_isa)p)) continue;
        float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 2, 3, 4, 5, 6}, C[6];
        for (int i = 0; i < 6; i++)
            C[i] = NAN;
        tt_gemm(TT_GEMM_N, TT_GEMM_N, 2, 3, 0, A, 1, B, 3, 0.0f, C, 3); /* K = 0, beta 0: zeros */
        for (int i = 0; i < 6; i++)
            assert_true(C[i] == 0.0f);
        for (int i = 0; i < 6; i++)
            C[i] = (float)i;
        tt_gemm(TT_GEMM_N, TT_GEMM_N, 2, 3, 0, A, 1, B, 3, 1.0f, C,
                3); /* K = 0, beta 1: unchanged */
        for (int i = 0; i < 6; i++)
            assert_true(C[i] == (float)i);
        tt_gemm(TT_GEMM_N, TT_GEMM_N, 0, 3, 2, A, 2, B, 3, 0.0f, C, 3); /* M = 0, N = 0: nothing */
        tt_gemm(TT_GEMM_N, TT_GEMM_N, 2, 0, 2, A, 2, B, 3, 0.0f, C, 3);
        for (int i = 0; i < 6; i++)
            assert_true(C[i] == (float)i);
        /* a 2x2 product by hand: [1 2; 3 4] [1 2; 3 4] = [7 10; 15 22] */
        float a[4] = {1, 2, 3, 4}, c[4];
        tt_gemm(TT_GEMM_N, TT_GEMM_N, 2, 2, 2, a, 2, a, 2, 0.0f, c, 2);
        assert_true(c[0] == 7 && c[1] == 10 && c[2] == 15 && c[3] == 22);
        tt_gemm(TT_GEMM_T, TT_GEMM_T, 2, 2, 2, a, 2, a, 2, 0.0f, c,
                2); /* (a a)^T = [7 15; 10 22] */
        assert_true(c[0] == 7 && c[1] == 15 && c[2] == 10 && c[3] == 22);
    }
    tt_isa_force(tt_isa_best());
}

static void test_no_process_wide_state(void **state) {
    (void)state;
    omp_set_num_threads(3); /* the program's own choices, unlike any default */
    const int omp_before = omp_get_max_threads();
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(3);
    const int blas_before = openblas_get_num_threads();
#endif
    tt_model_config c;
    tt_error err;
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    c.dropout = 0.0f;
    tt_model *m = NULL;
    assert_int_equal(tt_model_create(&m, &c, 7, &err), TT_OK);
    assert_int_equal(tt_model_set_threads(m, 2, &err), TT_OK);
    enum { B = 4, T = 64 };
    int tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++)
        tok[i] = i % 65, tgt[i] = (i * 7) % 65;
    tt_rng g;
    tt_rng_seed(&g, 1);
    float loss;
    assert_int_equal(tt_model_forward(m, tok, tgt, B, T, TT_MODE_TRAIN, &g, &loss, &err), TT_OK);
    assert_int_equal(tt_model_backward(m, &err), TT_OK);
    assert_true(isfinite(loss));
    tt_adamw *opt = NULL;
    assert_int_equal(tt_adamw_create(&opt, tt_model_num_params(m), &err), TT_OK);
    assert_int_equal(tt_adamw_set_threads(opt, 2, &err), TT_OK);
    tt_adamw_config oc = tt_adamw_config_default();
    tt_adamw_step(opt, &oc, 1e-3f, tt_model_params_flat(m), tt_model_grads_flat(m), tt_model_decay_mask(m));
    tt_adamw_free(opt);
    tt_model_weights_changed(m);
    double mean;
    assert_int_equal(tt_evaluate_tokens_window(m, tok, B * T, T, &mean, NULL, &err), TT_OK);
    /* a short tt_train run with auto threads */
    int *data = malloc(4096 * sizeof(int));
    for (int i = 0; i < 4096; i++) data[i] = (i * 31 + i / 7) % 65;
    tt_train_config tc = tt_train_config_default();
    tc.max_steps = 2;
    tc.eval_interval = 0;
    tc.log_interval = 1;
    assert_int_equal(tt_train(m, NULL, data, 3584, data + 3584, 512, &tc, NULL, NULL, NULL, &err), TT_OK);
    free(data);
    /* generation on the generator's team */
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = 2;
    gc.max_new_tokens = 8;
    tt_generator *gen = NULL;
    assert_int_equal(tt_generator_create(&gen, m, &gc, &err), TT_OK);
    const int *prompts[1] = {tok};
    int lens[1] = {4};
    tt_generation out[1];
    assert_int_equal(tt_generator_generate(gen, prompts, lens, 1, NULL, NULL, NULL, NULL, out, &err), TT_OK);
    tt_generations_free(out, 1);
    tt_generator_free(gen);
    tt_model_free(m);
    assert_int_equal(omp_get_max_threads(), omp_before);
#ifdef OPENBLAS_VERSION
    assert_int_equal(openblas_get_num_threads(), blas_before);
    print_message("threads unchanged: OpenMP %d, OpenBLAS %d\n", omp_before, blas_before);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case_every_path),
        cmocka_unit_test(test_split_bit_identical),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_no_process_wide_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
