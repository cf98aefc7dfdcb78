/* Gradient checks by central differences, layer by layer (the kernels of
 * src/model_internal.h), then the whole model on a tiny config.
 *
 * For a layer y = f(x), the scalar is S = sum(y * R) with a fixed random R,
 * accumulated in double; the analytic gradient is the layer's backward with
 * dout = R, and the numeric one (S(x + h) - S(x - h)) / 2h per element, with
 * h = 1e-2 on O(1) inputs (float32 kernels: rounding ~1e-5, truncation ~1e-4).
 * Each element must satisfy |analytic - numeric| <= 1e-3 + 5e-3 |numeric|.
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

#include "model_internal.h"
#include "tt/model.h"
#include "tt/rng.h"

static tt_rng g_rng;

static float *randv(size_t n, double scale) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (float)(scale * tt_rng_normal(&g_rng));
    return v;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*scalar_fn)(void *ctx);

/* Perturbs x[i] in place and compares (S+ - S-)/2h with grad[i]. */
static void check_grad(const char *what, scalar_fn f, void *ctx, float *x, const float *grad, size_t n) {
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        float old = x[i];
        x[i] = old + h;
        double sp = f(ctx);
        x[i] = old - h;
        double sm = f(ctx);
        x[i] = old;
        double num = (sp - sm) / (2.0 * (double)h);
        double err = fabs(num - (double)grad[i]);
        if (!(err <= 1e-3 + 5e-3 * fabs(num)))
            fail_msg("%s[%zu]: analytic %.6g, numeric %.6g", what, i, (double)grad[i], num);
    }
}

/* ---- embedding ------------------------------------------------------------------- */
typedef struct {
    int N, T, C, V;
    int *tok;
    float *emb, *pos, *out, *R;
} emb_ctx;

static double emb_f(void *p) {
    emb_ctx *c = p;
    tt_embed_forward(c->out, c->tok, c->emb, c->pos, c->N, c->T, c->C, 2.5f);
    return dotd(c->out, c->R, (size_t)c->N * c->C);
}

static void test_embedding(void **state) {
    (void)state;
    emb_ctx c = {.N = 6, .T = 3, .C = 4, .V = 5};
    int tok[6] = {1, 4, 1, 0, 1, 3}; /* repeated ids accumulate */
    c.tok = tok;
    c.emb = randv(20, 1), c.pos = randv(12, 1), c.out = zeros(24), c.R = randv(24, 1);
    float *de = zeros(20), *dp = zeros(12);
    tt_embed_backward(de, dp, c.R, tok, c.N, c.T, c.C, 2.5f);
    check_grad("d tok_emb", emb_f, &c, c.emb, de, 20);
    check_grad("d pos", emb_f, &c, c.pos, dp, 12);
    /* dpos NULL: only the token table */
    float *de2 = zeros(20);
    tt_embed_backward(de2, NULL, c.R, tok, c.N, c.T, c.C, 2.5f);
    assert_memory_equal(de, de2, 20 * sizeof(float));
    free(de2), free(de), free(dp), free(c.emb), free(c.pos), free(c.out), free(c.R);
}

/* ---- layernorm --------------------------------------------------------------------- */
typedef struct {
    int N, C;
    float *x, *w, *b, *out, *mean, *rstd, *R;
} ln_ctx;

static double ln_f(void *p) {
    ln_ctx *c = p;
    tt_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C);
    return dotd(c->out, c->R, (size_t)c->N * c->C);
}

static void test_layernorm(void **state) {
    (void)state;
    ln_ctx c = {.N = 5, .C = 7};
    size_t n = 35;
    c.x = randv(n, 1), c.w = randv(7, 1), c.b = randv(7, 1), c.out = zeros(n), c.mean = zeros(5),
    c.rstd = zeros(5), c.R = randv(n, 1);
    ln_f(&c);
    /* forward: mean 0, biased variance 1 before the affine */
    for (int r = 0; r < 5; r++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < 7; i++) s += c.x[r * 7 + i];
        for (int i = 0; i < 7; i++) s2 += (c.x[r * 7 + i] - s / 7) * (c.x[r * 7 + i] - s / 7);
        assert_true(fabs(c.mean[r] - s / 7) < 1e-6);
        assert_true(fabs(c.rstd[r] - 1.0 / sqrt(s2 / 7 + 1e-5)) < 1e-4 * c.rstd[r]);
    }
    float *dx = zeros(n), *dw = zeros(7), *db = zeros(7);
    tt_layernorm_backward(dx, dw, db, c.R, c.x, c.w, c.mean, c.rstd, c.N, c.C);
    check_grad("LN dx", ln_f, &c, c.x, dx, n);
    check_grad("LN dw", ln_f, &c, c.w, dw, 7);
    check_grad("LN db", ln_f, &c, c.b, db, 7);
    free(dx), free(dw), free(db), free(c.x), free(c.w), free(c.b), free(c.out), free(c.mean), free(c.rstd), free(c.R);
}

/* ---- linear ------------------------------------------------------------------------ */
typedef struct {
    int N, I, O;
    float *x, *w, *b, *out, *R;
} lin_ctx;

static double lin_f(void *p) {
    lin_ctx *c = p;
    tt_linear_forward(c->out, c->x, c->w, c->b, c->N, c->I, c->O);
    return dotd(c->out, c->R, (size_t)c->N * c->O);
}

static void test_linear(void **state) {
    (void)state;
    lin_ctx c = {.N = 4, .I = 5, .O = 3};
    c.x = randv(20, 1), c.w = randv(15, 1), c.b = randv(3, 1), c.out = zeros(12), c.R = randv(12, 1);
    lin_f(&c);
    for (int n = 0; n < 4; n++) /* out = x w^T + b */
        for (int o = 0; o < 3; o++) {
            double s = c.b[o];
            for (int i = 0; i < 5; i++) s += (double)c.x[n * 5 + i] * c.w[o * 5 + i];
            assert_true(fabs(c.out[n * 3 + o] - s) < 1e-5);
        }
    float *dx = zeros(20), *dw = zeros(15), *db = zeros(3);
    tt_linear_backward(dx, dw, db, c.R, c.x, c.w, c.N, c.I, c.O);
    check_grad("linear dx", lin_f, &c, c.x, dx, 20);
    check_grad("linear dw", lin_f, &c, c.w, dw, 15);
    check_grad("linear db", lin_f, &c, c.b, db, 3);
    free(dx), free(dw), free(db), free(c.x), free(c.w), free(c.b), free(c.out), free(c.R);
}

/* ---- attention --------------------------------------------------------------------- */
typedef struct {
    int B, T, C, NH;
    float *q, *k, *v, *y, *att, *R, *scratch;
    uint8_t *keep;
    float ds;
} att_ctx;

static double att_f(void *p) {
    att_ctx *c = p;
    tt_attention_forward(c->y, c->att, c->q, c->k, c->v, c->keep, c->ds, c->B, c->T, c->C, c->NH, c->scratch);
    return dotd(c->y, c->R, (size_t)c->B * c->T * c->C);
}

static void attention_case(bool dropout) {
    att_ctx c = {.B = 2, .T = 5, .C = 6, .NH = 2, .ds = 1.0f};
    size_t n = 60, na = 2 * 2 * 5 * 5;
    c.q = randv(n, 1), c.k = randv(n, 1), c.v = randv(n, 1), c.y = zeros(n), c.att = zeros(na), c.R = randv(n, 1);
    c.scratch = zeros(tt_attention_scratch_floats(5)); /* called directly: one thread (src/par.h) */
    if (dropout) {
        c.keep = malloc(na);
        tt_dropout_mask(c.keep, 20, 5, 0.3f, 77, 0);
        c.ds = 1.0f / 0.7f;
    }
    att_f(&c);
    /* causal: weights above the diagonal are 0, each row sums to 1 */
    for (size_t r = 0; r < 20; r++) {
        int t = (int)(r % 5);
        double s = 0;
        for (int j = 0; j < 5; j++) {
            if (j > t) assert_true(c.att[r * 5 + j] == 0.0f);
            s += c.att[r * 5 + j];
        }
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    float *dq = zeros(n), *dk = zeros(n), *dv = zeros(n);
    tt_attention_backward(dq, dk, dv, c.R, c.att, c.q, c.k, c.v, c.keep, c.ds, c.B, c.T, c.C, c.NH, c.scratch);
    check_grad("attention dq", att_f, &c, c.q, dq, n);
    check_grad("attention dk", att_f, &c, c.k, dk, n);
    check_grad("attention dv", att_f, &c, c.v, dv, n);
    free(dq), free(dk), free(dv), free(c.q), free(c.k), free(c.v), free(c.y), free(c.att), free(c.R);
    free(c.scratch), free(c.keep);
}

static void test_attention(void **state) {
    (void)state;
    attention_case(false);
}
static void test_attention_dropout(void **state) {
    (void)state;
    attention_case(true);
}

/* ---- GELU and FFN (fc1 -> GELU -> fc2) --------------------------------------------- */
typedef struct {
    int N, C, F;
    float *x, *w1, *b1, *w2, *b2, *h, *g, *out, *R;
} ffn_ctx;

static double ffn_f(void *p) {
    ffn_ctx *c = p;
    tt_linear_forward(c->h, c->x, c->w1, c->b1, c->N, c->C, c->F);
    tt_gelu_forward(c->g, c->h, (size_t)c->N * c->F);
    tt_linear_forward(c->out, c->g, c->w2, c->b2, c->N, c->F, c->C);
    return dotd(c->out, c->R, (size_t)c->N * c->C);
}

static void test_gelu_ffn(void **state) {
    (void)state;
    /* GELU values: exact erf form */
    float xs[5] = {-3.0f, -1.0f, 0.0f, 0.5f, 2.0f}, ys[5];
    tt_gelu_forward(ys, xs, 5);
    for (int i = 0; i < 5; i++) {
        double want = 0.5 * xs[i] * (1.0 + erf(xs[i] / sqrt(2.0)));
        assert_true(fabs(ys[i] - want) < 1e-6);
    }
    ffn_ctx c = {.N = 3, .C = 4, .F = 6};
    c.x = randv(12, 1), c.w1 = randv(24, 0.7), c.b1 = randv(6, 0.5), c.w2 = randv(24, 0.7), c.b2 = randv(4, 0.5);
    c.h = zeros(18), c.g = zeros(18), c.out = zeros(12), c.R = randv(12, 1);
    ffn_f(&c);
    float *dout2 = zeros(18), *dh = zeros(18), *dx = zeros(12), *dw1 = zeros(24), *db1 = zeros(6), *dw2 = zeros(24),
          *db2 = zeros(4);
    tt_linear_backward(dout2, dw2, db2, c.R, c.g, c.w2, c.N, c.F, c.C);
    tt_gelu_backward(dh, dout2, c.h, 18);
    tt_linear_backward(dx, dw1, db1, dh, c.x, c.w1, c.N, c.C, c.F);
    check_grad("FFN dx", ffn_f, &c, c.x, dx, 12);
    check_grad("FFN dfc1_w", ffn_f, &c, c.w1, dw1, 24);
    check_grad("FFN dfc1_b", ffn_f, &c, c.b1, db1, 6);
    check_grad("FFN dfc2_w", ffn_f, &c, c.w2, dw2, 24);
    check_grad("FFN dfc2_b", ffn_f, &c, c.b2, db2, 4);
    free(dout2), free(dh), free(dx), free(dw1), free(db1), free(dw2), free(db2);
    free(c.x), free(c.w1), free(c.b1), free(c.w2), free(c.b2), free(c.h), free(c.g), free(c.out), free(c.R);
}

/* ---- cross-entropy through the tied head: logits = x @ E^T ---------------------- */
typedef struct {
    int N, C, V;
    float *x, *E, *logits, *losses;
    int *tgt;
} ce_ctx;

static double ce_f(void *p) {
    ce_ctx *c = p;
    tt_linear_forward(c->logits, c->x, c->E, NULL, c->N, c->C, c->V);
    return (double)tt_crossentropy_forward(c->losses, c->logits, c->tgt, c->N, c->V);
}

static void test_crossentropy_head(void **state) {
    (void)state;
    int tgt[4] = {0, 6, 3, 3};
    ce_ctx c = {.N = 4, .C = 5, .V = 7, .tgt = tgt};
    c.x = randv(20, 1), c.E = randv(35, 1), c.logits = zeros(28), c.losses = zeros(4);
    double loss = ce_f(&c);
    double want = 0;
    for (int n = 0; n < 4; n++) {
        double mx = -1e30, s = 0;
        for (int v = 0; v < 7; v++) mx = fmax(mx, c.logits[n * 7 + v]);
        for (int v = 0; v < 7; v++) s += exp(c.logits[n * 7 + v] - mx);
        want += log(s) + mx - c.logits[n * 7 + tgt[n]];
    }
    assert_true(fabs(loss - want / 4) < 1e-5);
    float *dl = zeros(28), *dx = zeros(20), *dE = zeros(35);
    tt_crossentropy_backward(dl, c.logits, tgt, 4, 7, 0.25f);
    tt_linear_backward(dx, dE, NULL, dl, c.x, c.E, 4, 5, 7);
    check_grad("CE dx", ce_f, &c, c.x, dx, 20);
    check_grad("CE dhead", ce_f, &c, c.E, dE, 35);
    free(dl), free(dx), free(dE), free(c.x), free(c.E), free(c.logits), free(c.losses);
}

/* ---- dropout -------------------------------------------------------------------------- */
static void test_dropout(void **state) {
    (void)state;
    size_t n = 200 * 100;
    uint8_t *a = malloc(n), *b = malloc(n);
    tt_dropout_mask(a, 200, 100, 0.25f, 9, 1000);
    tt_dropout_mask(b, 200, 100, 0.25f, 9, 1000);
    assert_memory_equal(a, b, n);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) kept += a[i];
    /* binomial(20000, 0.75): sd ~61 */
    assert_true(kept > 15000 - 400 && kept < 15000 + 400);
    /* a row depends only on (seed, stream): row 5 of base 1000 is row 0 of base 1005 */
    tt_dropout_mask(b, 1, 100, 0.25f, 9, 1005);
    assert_memory_equal(a + 500, b, 100);
    float x[4] = {1, 2, 3, 4}, y[4];
    uint8_t k[4] = {1, 0, 1, 0};
    tt_dropout_apply(y, x, k, 2.0f, 4);
    assert_true(y[0] == 2.0f && y[1] == 0.0f && y[2] == 6.0f && y[3] == 0.0f);
    free(a), free(b);
}

/* ---- the whole model, a few parameters of each tensor ----------------------------- */
static void test_model_end_to_end(void **state) {
    (void)state;
    tt_model_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 7, c.d_model = 8, c.n_heads = 2, c.n_layers = 2, c.d_ff = 12, c.max_len = 6;
    c.positional = TT_POS_LEARNED, c.tie_weights = true, c.dropout = 0.0f;
    tt_model *m;
    tt_error err;
    assert_int_equal(tt_model_create(&m, &c, 3, &err), TT_OK);
    /* larger weights than the 0.02 init so every path matters */
    float *p = tt_model_params_flat(m);
    size_t np = tt_model_num_params(m);
    for (size_t i = 0; i < np; i++) p[i] += (float)(0.3 * tt_rng_normal(&g_rng));
    int tok[10] = {1, 2, 3, 4, 5, 0, 6, 6, 2, 1}, tgt[10] = {2, 3, 4, 5, 6, 6, 6, 2, 1, 0};
    float loss;
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 5, TT_MODE_TRAIN, NULL, &loss, &err), TT_OK);
    tt_model_zero_grad(m);
    assert_int_equal(tt_model_backward(m, &err), TT_OK);
    float *g = malloc(np * sizeof(float));
    memcpy(g, tt_model_grads_flat(m), np * sizeof(float));
    for (size_t i = 0; i < tt_model_num_tensors(m); i++) {
        tt_tensor_info t;
        tt_model_tensor(m, i, &t);
        if (!t.grad || i == tt_model_num_tensors(m) - 1) continue; /* lm_head = the embedding */
        for (size_t j = 0; j < t.numel; j += 1 + t.numel / 5) {
            size_t off = (size_t)(t.data + j - p);
            float old = p[off], h = 2e-3f, lp, lm;
            p[off] = old + h;
            tt_model_forward(m, tok, tgt, 2, 5, TT_MODE_EVAL, NULL, &lp, &err);
            p[off] = old - h;
            tt_model_forward(m, tok, tgt, 2, 5, TT_MODE_EVAL, NULL, &lm, &err);
            p[off] = old;
            double num = ((double)lp - lm) / (2.0 * h);
            if (!(fabs(num - g[off]) <= 1e-3 + 1e-2 * fabs(num)))
                fail_msg("model %s[%zu]: analytic %.6g numeric %.6g", t.name, j, (double)g[off], num);
        }
    }
    free(g);
    tt_model_free(m);
}

int main(void) {
    tt_rng_seed(&g_rng, 2024);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),       cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_linear),          cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_dropout), cmocka_unit_test(test_gelu_ffn),
        cmocka_unit_test(test_crossentropy_head), cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_model_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
