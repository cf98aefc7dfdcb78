/* The model: presets and parameter counts, the tensor table, init, errors, and
 * the reference comparison against PyTorch fixtures (tests/fixtures/model_ref*.safetensors,
 * written by scripts/make_fixtures.py).
 *
 * Tolerances (|got - want| <= atol + rtol |want|), float32 against PyTorch's float32:
 *   logits and loss   rtol 1e-5, atol 1e-6
 *   gradients         rtol 1e-4, atol 1e-6
 *   AdamW losses      rtol 1e-5, atol 1e-6; parameters after 10 steps rtol 1e-4, atol 1e-6
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
#include "tt/model.h"
#include "model_internal.h" /* tt_model_backward_hooked */


static tt_model_config small_cfg(void) {
    tt_model_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = 11;
    c.d_model = 16;
    c.n_heads = 2;
    c.n_layers = 2;
    c.d_ff = 32;
    c.max_len = 16;
    c.dropout = 0.0f;
    c.positional = TT_POS_SINUSOIDAL;
    c.tie_weights = true;
    return c;
}

/* ---- presets, counts, validation --------------------------------------- */

static void test_param_counts(void **state) {
    (void)state;
    tt_model_config c;
    tt_error err;
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    assert_int_equal(c.d_model, 128);
    assert_int_equal(c.n_heads, 4);
    assert_int_equal(c.n_layers, 4);
    assert_int_equal(c.d_ff, 512);
    assert_int_equal(c.max_len, 512);
    assert_true(fabsf(c.dropout - 0.1f) < 1e-7f);
    assert_true(c.tie_weights);
    assert_int_equal(c.positional, TT_POS_SINUSOIDAL);
    assert_int_equal(tt_model_config_num_params(&c), 801664);
    assert_int_equal(tt_model_config_preset("tiny", 100, &c, &err), TT_OK);
    assert_int_equal(tt_model_config_num_params(&c), 806144);
    const struct {
        const char *name;
        size_t n;
    } want[] = {{"tiny", 921344}, {"small", 4995072}, {"medium", 25732096}, {"large", 85824000}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tt_model_config_preset(want[i].name, 1000, &c, &err), TT_OK);
        assert_int_equal(tt_model_config_num_params(&c), want[i].n);
    }
    /* learned positions add max_len * C; untying adds V * C */
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    c.positional = TT_POS_LEARNED;
    assert_int_equal(tt_model_config_num_params(&c), 801664 + 512 * 128);
    c.tie_weights = false;
    assert_int_equal(tt_model_config_num_params(&c), 801664 + 512 * 128 + 65 * 128);
    assert_string_equal(tt_model_preset_names(), "tiny,small,medium,large");
}

static void test_unknown_preset(void **state) {
    (void)state;
    tt_model_config c;
    tt_error err;
    assert_int_equal(tt_model_config_preset("huge", 65, &c, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "huge"));
    assert_non_null(strstr(err.msg, "tiny,small,medium,large"));
}

static void test_validate(void **state) {
    (void)state;
    tt_error err;
    tt_model_config c = small_cfg();
    assert_int_equal(tt_model_config_validate(&c, &err), TT_OK);
    c.n_heads = 3;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "n_heads"));
    c = small_cfg();
    c.dropout = 1.0f;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "dropout"));
    c.dropout = -0.1f;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_ERR_ARG);
    c = small_cfg();
    c.vocab_size = 0;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "vocab_size"));
    c = small_cfg();
    c.d_model = 15;
    c.n_heads = 1;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_ERR_ARG); /* odd for sinusoidal */
    c.positional = TT_POS_LEARNED;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_OK);
    c = small_cfg();
    c.max_len = -1;
    assert_int_equal(tt_model_config_validate(&c, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "max_len"));
    assert_int_equal(tt_model_config_num_params(&c), 0);
    tt_model *m = (tt_model *)&err;
    assert_int_equal(tt_model_create(&m, &c, 1, &err), TT_ERR_ARG);
    assert_null(m);
}

/* ---- tensor table and init -------------------------------------------------- */

static void test_tensor_table(void **state) {
    (void)state;
    tt_model_config c = small_cfg();
    tt_model *m;
    tt_error err;
    assert_int_equal(tt_model_create(&m, &c, 7, &err), TT_OK);
    /* 2 embedding entries + 16 per block + ln_f (2) + lm_head */
    assert_int_equal(tt_model_num_tensors(m), 2 + 16 * 2 + 2 + 1);
    tt_tensor_info t;
    assert_int_equal(tt_model_tensor(m, 0, &t), TT_OK);
    assert_string_equal(t.name, "embedding.token_embedding.embedding.weight");
    assert_int_equal(t.shape[0], 11);
    assert_int_equal(t.shape[1], 16);
    assert_true(t.decay);
    const float *tok = t.data;
    assert_int_equal(tt_model_tensor(m, 1, &t), TT_OK);
    assert_string_equal(t.name, "embedding.positional_encoding.pe");
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[0], 16);
    assert_int_equal(t.shape[1], 16);
    assert_null(t.grad);
    /* PE[pos, 2i] = sin(pos * 10000^(-2i/C)), PE[pos, 2i+1] = cos(...) */
    for (int pos = 0; pos < 16; pos++)
        for (int i = 0; i < 8; i++) {
            double a = pos * pow(10000.0, -2.0 * i / 16);
            assert_true(fabs(t.data[pos * 16 + 2 * i] - sin(a)) < 1e-5);
            assert_true(fabs(t.data[pos * 16 + 2 * i + 1] - cos(a)) < 1e-5);
        }
    const char *expect[] = {
        "blocks.0.self_attn.W_q.weight", "blocks.0.self_attn.W_q.bias", "blocks.0.self_attn.W_k.weight",
        "blocks.0.self_attn.W_k.bias",   "blocks.0.self_attn.W_v.weight", "blocks.0.self_attn.W_v.bias",
        "blocks.0.self_attn.W_o.weight", "blocks.0.self_attn.W_o.bias", "blocks.0.feed_forward.fc1.weight",
        "blocks.0.feed_forward.fc1.bias", "blocks.0.feed_forward.fc2.weight", "blocks.0.feed_forward.fc2.bias",
        "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.norm2.weight", "blocks.0.norm2.bias"};
    for (size_t i = 0; i < 16; i++) {
        assert_int_equal(tt_model_tensor(m, 2 + i, &t), TT_OK);
        assert_string_equal(t.name, expect[i]);
        assert_int_equal(t.decay, strstr(t.name, "norm") == NULL && t.ndim == 2);
    }
    assert_int_equal(tt_model_tensor(m, 2 + 16 * 2, &t), TT_OK);
    assert_string_equal(t.name, "ln_f.weight");
    assert_int_equal(tt_model_tensor(m, 36, &t), TT_OK);
    assert_string_equal(t.name, "lm_head.weight");
    assert_ptr_equal(t.data, tok); /* tied: aliases the embedding */
    assert_int_equal(tt_model_tensor(m, 37, &t), TT_ERR_RANGE);
    assert_int_equal(tt_model_tensor_by_name(m, "blocks.1.feed_forward.fc1.weight", &t), TT_OK);
    assert_int_equal(t.shape[0], 32);
    assert_int_equal(t.shape[1], 16);
    assert_int_equal(tt_model_tensor_by_name(m, "nope", &t), TT_ERR_RANGE);

    /* the flat block, the decay mask and the table agree */
    size_t n = tt_model_num_params(m), sum = 0, decayed = 0;
    assert_int_equal(n, tt_model_config_num_params(&c));
    const unsigned char *mask = tt_model_decay_mask(m);
    for (size_t i = 0; i < tt_model_num_tensors(m); i++) {
        assert_int_equal(tt_model_tensor(m, i, &t), TT_OK);
        if (!t.grad || (i > 0 && t.data == tok)) continue;
        assert_true(t.data >= tt_model_params_flat(m) && t.data + t.numel <= tt_model_params_flat(m) + n);
        assert_ptr_equal(t.grad - tt_model_grads_flat(m), t.data - tt_model_params_flat(m));
        size_t off = (size_t)(t.data - tt_model_params_flat(m));
        for (size_t j = 0; j < t.numel; j++) assert_int_equal(mask[off + j], t.decay ? 1 : 0);
        sum += t.numel;
        decayed += t.decay ? t.numel : 0;
    }
    assert_int_equal(sum, n);
    assert_int_equal(decayed, 11 * 16 + 2 * (4 * 16 * 16 + 2 * 16 * 32));

    /* weights struct points at the same memory */
    const tt_model_weights *w = tt_model_weights_get(m);
    assert_ptr_equal(w->tok_emb, tok);
    assert_ptr_equal(w->lm_head, tok);
    assert_int_equal(tt_model_tensor_by_name(m, "blocks.1.norm2.bias", &t), TT_OK);
    assert_ptr_equal(w->layers[1].ln2_b, t.data);
    tt_model_free(m);
    tt_model_free(NULL);

    /* learned + untied */
    c.positional = TT_POS_LEARNED;
    c.tie_weights = false;
    assert_int_equal(tt_model_create(&m, &c, 7, &err), TT_OK);
    assert_int_equal(tt_model_tensor(m, 1, &t), TT_OK);
    assert_string_equal(t.name, "embedding.positional_encoding.position_embeddings.weight");
    assert_non_null(t.grad);
    assert_true(t.decay);
    assert_int_equal(tt_model_tensor(m, 36, &t), TT_OK);
    assert_string_equal(t.name, "lm_head.weight");
    assert_true(t.data != tt_model_weights_get(m)->tok_emb);
    assert_int_equal(tt_model_num_params(m), tt_model_config_num_params(&c));
    tt_model_free(m);
}

/* tt_model_tensor_init and the weight structs read the same table: every
 * float * of tt_model_weights / tt_layer_weights is one tensor's data. */
static void test_tensor_init(void **state) {
    (void)state;
    for (int learned = 0; learned <= 1; learned++) {
        tt_model_config c = small_cfg();
        c.positional = learned ? TT_POS_LEARNED : TT_POS_SINUSOIDAL;
        c.tie_weights = !learned;
        tt_model *m;
        assert_int_equal(tt_model_create(&m, &c, 7, NULL), TT_OK);
        const size_t n = tt_model_num_tensors(m);
        assert_null(tt_model_tensor_init(m, n));
        assert_null(tt_model_tensor_init(NULL, 0));
        const tt_model_weights *w = tt_model_weights_get(m);
        size_t covered = 0;
        for (size_t i = 0; i < n; i++) {
            tt_tensor_info t;
            assert_int_equal(tt_model_tensor(m, i, &t), TT_OK);
            const char *init = tt_model_tensor_init(m, i), *nm = t.name;
            const size_t len = strlen(nm);
            const char *want = "normal(0, 0.02)";
            if (len > 5 && !strcmp(nm + len - 5, ".bias")) want = "zeros";
            else if (strstr(nm, "norm") || !strncmp(nm, "ln_f", 4)) want = "ones";
            else if (!strcmp(nm, "embedding.positional_encoding.pe")) want = "sinusoidal";
            else if (!strcmp(nm, "lm_head.weight") && c.tie_weights) want = "tied";
            assert_string_equal(init, want);
            for (size_t j = 0; j < t.numel && !strcmp(want, "ones"); j++) assert_true(t.data[j] == 1.0f);
            for (size_t j = 0; j < t.numel && !strcmp(want, "zeros"); j++) assert_true(t.data[j] == 0.0f);
            /* the pointer fields that hold this tensor */
            const float *ptrs[] = {w->tok_emb, w->pos, w->lnf_w, w->lnf_b, w->lm_head};
            for (size_t k = 0; k < sizeof ptrs / sizeof ptrs[0]; k++)
                covered += ptrs[k] == t.data && (k != 4 || i == n - 1) && (k != 0 || i == 0);
            for (int l = 0; l < c.n_layers; l++) {
                const float *const *lp = (const float *const *)&w->layers[l];
                for (size_t k = 0; k < sizeof(tt_layer_weights) / sizeof(float *); k++)
                    covered += lp[k] == t.data;
            }
        }
        assert_int_equal(covered, 5 + (size_t)c.n_layers * (sizeof(tt_layer_weights) / sizeof(float *)));
        tt_model_free(m);
    }
}

static void test_init(void **state) {
    (void)state;
    tt_model_config c;
    tt_error err;
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    tt_model *a, *b, *d;
    assert_int_equal(tt_model_create(&a, &c, 42, &err), TT_OK);
    assert_int_equal(tt_model_create(&b, &c, 42, &err), TT_OK);
    assert_int_equal(tt_model_create(&d, &c, 43, &err), TT_OK);
    size_t n = tt_model_num_params(a);
    assert_memory_equal(tt_model_params_flat(a), tt_model_params_flat(b), n * sizeof(float));
    assert_memory_not_equal(tt_model_params_flat(a), tt_model_params_flat(d), n * sizeof(float));
    const tt_model_weights *w = tt_model_weights_get(a);
    for (int i = 0; i < 128; i++) {
        assert_true(w->layers[2].ln1_w[i] == 1.0f && w->layers[2].ln1_b[i] == 0.0f);
        assert_true(w->lnf_w[i] == 1.0f && w->lnf_b[i] == 0.0f);
        assert_true(w->layers[3].bq[i] == 0.0f && w->layers[0].fc2_b[i] == 0.0f);
    }
    /* N(0, 0.02): fc1 of layer 1 has 65,536 draws */
    double s = 0, s2 = 0;
    for (int i = 0; i < 512 * 128; i++) {
        s += w->layers[1].fc1_w[i];
        s2 += (double)w->layers[1].fc1_w[i] * w->layers[1].fc1_w[i];
    }
    double mean = s / 65536, sd = sqrt(s2 / 65536 - mean * mean);
    assert_true(fabs(mean) < 0.001);
    assert_true(fabs(sd - 0.02) < 0.0005);
    /* gradients start at zero */
    for (size_t i = 0; i < n; i++) assert_true(tt_model_grads_flat(a)[i] == 0.0f);
    /* copy_weights */
    assert_int_equal(tt_model_copy_weights(d, a, &err), TT_OK);
    assert_memory_equal(tt_model_params_flat(a), tt_model_params_flat(d), n * sizeof(float));
    tt_model_config c2 = c;
    c2.d_ff = 256;
    tt_model *e;
    assert_int_equal(tt_model_create(&e, &c2, 1, &err), TT_OK);
    assert_int_equal(tt_model_copy_weights(e, a, &err), TT_ERR_ARG);
    tt_model_free(e);
    tt_model_free(a);
    tt_model_free(b);
    tt_model_free(d);
}

/* ---- errors -------------------------------------------------------------------- */

static void test_bad_inputs(void **state) {
    (void)state;
    tt_model_config c = small_cfg();
    tt_model *m;
    tt_error err;
    assert_int_equal(tt_model_create(&m, &c, 1, &err), TT_OK);
    int tok[32] = {0}, tgt[32] = {0};
    float loss;
    assert_int_equal(tt_model_backward(m, &err), TT_ERR_STATE);
    tok[5] = 11;
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_TRAIN, NULL, &loss, &err), TT_ERR_RANGE);
    assert_non_null(strstr(err.msg, "11"));
    tok[5] = -1;
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_RANGE);
    assert_non_null(strstr(err.msg, "-1"));
    tok[5] = 3;
    tgt[31] = 11;
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 16, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_RANGE);
    tgt[31] = 0;
    assert_int_equal(tt_model_forward(m, tok, tgt, 1, 17, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "max_len"));
    assert_int_equal(tt_model_forward(m, tok, tgt, 0, 8, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_ARG);
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 0, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_ARG);
    assert_int_equal(tt_model_forward(m, NULL, tgt, 2, 8, TT_MODE_EVAL, NULL, &loss, &err), TT_ERR_ARG);
    /* eval forward, or training without targets: no backward */
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_EVAL, NULL, &loss, &err), TT_OK);
    assert_true(isfinite(loss) && loss > 0.0f);
    assert_non_null(tt_model_logits(m));
    assert_int_equal(tt_model_backward(m, &err), TT_ERR_STATE);
    assert_int_equal(tt_model_forward(m, tok, NULL, 2, 8, TT_MODE_TRAIN, NULL, NULL, &err), TT_OK);
    assert_int_equal(tt_model_backward(m, &err), TT_ERR_STATE);
    tt_model_free(m);

    /* dropout in training needs an rng */
    c.dropout = 0.1f;
    assert_int_equal(tt_model_create(&m, &c, 1, &err), TT_OK);
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_TRAIN, NULL, &loss, &err), TT_ERR_ARG);
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_EVAL, NULL, &loss, &err), TT_OK);
    tt_model_free(m);
}

static void test_memory_limit(void **state) {
    (void)state;
    tt_model_config c;
    tt_error err;
    assert_int_equal(tt_model_config_preset("large", 1 << 24, &c, &err), TT_OK);
    tt_model *m = NULL;
    /* 16.8M x 768 embedding: ~13e9 parameters, far above physical memory */
    assert_int_equal(tt_model_create(&m, &c, 1, &err), TT_ERR_NOMEM);
    assert_null(m);
    assert_non_null(strstr(err.msg, "bytes"));
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    size_t a = tt_model_activation_bytes(&c, 12, 64), b = tt_model_activation_bytes(&c, 16, 256);
    assert_true(a > 12 * 64 * 128 * 4 && b > a);
    assert_int_equal(tt_model_activation_bytes(&c, 0, 64), 0);
    /* a forward whose activations cannot fit fails cleanly with the number:
     * T = 100,000 gives a [1, 1, T, T] attention table of 40 GB */
    tt_model_config h = small_cfg();
    h.n_heads = 1;
    h.n_layers = 1;
    h.max_len = 100000;
    assert_int_equal(tt_model_create(&m, &h, 1, &err), TT_OK);
    int *tok = calloc(100000, sizeof(int));
    assert_int_equal(tt_model_forward(m, tok, NULL, 1, 100000, TT_MODE_EVAL, NULL, NULL, &err), TT_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "bytes"));
    free(tok);
    tt_model_free(m);
}

/* ---- reference against PyTorch --------------------------------------------------- */

static void load_fixture_model(tt_fixture *fx, const char *file, tt_model **out, tt_model_config *c) {
    if (tt_fixture_load(fx, file) != 0) fail_msg("%s", fx->error);
    *c = small_cfg();
    if (strstr(file, "learned")) {
        c->positional = TT_POS_LEARNED;
        c->tie_weights = false;
    }
    tt_error err;
    assert_int_equal(tt_model_create(out, c, 99, &err), TT_OK);
    for (size_t i = 0; i < tt_model_num_tensors(*out); i++) {
        tt_tensor_info t;
        assert_int_equal(tt_model_tensor(*out, i, &t), TT_OK);
        const tt_fixture_tensor *ft = tt_fixture_get(fx, t.name);
        if (!ft) fail_msg("fixture %s lacks tensor %s", file, t.name);
        if (ft->numel != t.numel || ft->shape[0] != t.shape[0] || (t.ndim == 2 && ft->shape[1] != t.shape[1]))
            fail_msg("%s: shape mismatch", t.name);
        if (!t.grad) { /* the sinusoidal buffer: ours must match PyTorch's float32 table */
            char msg[256];
            if (tt_fixture_compare(t.data, ft->data, t.numel, 0.0, 2e-6, msg, sizeof msg))
                fail_msg("pe: %s", msg);
        }
        memcpy(t.data, ft->data, t.numel * sizeof(float));
    }
}

static void check(const char *what, const float *got, const float *want, size_t n, double rtol, double atol) {
    char msg[256];
    if (!want) fail_msg("fixture lacks %s", what);
    if (tt_fixture_compare(got, want, n, rtol, atol, msg, sizeof msg) != 0) fail_msg("%s: %s", what, msg);
}

static void reference(const char *file) {
    tt_fixture fx;
    tt_model *m;
    tt_model_config c;
    load_fixture_model(&fx, file, &m, &c);
    size_t nt, ng;
    const int32_t *tok32 = tt_fixture_i32(&fx, "tokens", &nt);
    const int32_t *tgt32 = tt_fixture_i32(&fx, "targets", &ng);
    assert_non_null(tok32);
    assert_non_null(tgt32);
    assert_int_equal(nt, 16);
    int tok[16], tgt[16];
    for (int i = 0; i < 16; i++) {
        tok[i] = tok32[i];
        tgt[i] = tgt32[i];
    }
    tt_error err;
    float loss = 0.0f;
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_EVAL, NULL, &loss, &err), TT_OK);
    check("logits (eval)", tt_model_logits(m), tt_fixture_f32(&fx, "logits", NULL), 2 * 8 * 11, 1e-5, 1e-6);
    check("loss (eval)", &loss, tt_fixture_f32(&fx, "loss", NULL), 1, 1e-5, 1e-6);

    tt_model_zero_grad(m);
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_TRAIN, NULL, &loss, &err), TT_OK);
    check("logits (train)", tt_model_logits(m), tt_fixture_f32(&fx, "logits", NULL), 2 * 8 * 11, 1e-5, 1e-6);
    check("loss (train)", &loss, tt_fixture_f32(&fx, "loss", NULL), 1, 1e-5, 1e-6);
    assert_int_equal(tt_model_backward(m, &err), TT_OK);
    size_t checked = 0;
    for (size_t i = 0; i < tt_model_num_tensors(m); i++) {
        tt_tensor_info t;
        tt_model_tensor(m, i, &t);
        if (!t.grad) continue;
        if (c.tie_weights && strcmp(t.name, "lm_head.weight") == 0) continue; /* = the embedding */
        char name[160];
        snprintf(name, sizeof name, "grad.%s", t.name);
        size_t n = 0;
        const float *want = tt_fixture_f32(&fx, name, &n);
        if (!want || n != t.numel) fail_msg("fixture lacks %s", name);
        check(name, t.grad, want, n, 1e-4, 1e-6);
        checked++;
    }
    assert_int_equal(checked, c.tie_weights ? 35 : 37);

    /* backward accumulates: a second backward doubles every gradient */
    size_t np = tt_model_num_params(m);
    float *g1 = malloc(np * sizeof(float));
    memcpy(g1, tt_model_grads_flat(m), np * sizeof(float));
    assert_int_equal(tt_model_backward(m, &err), TT_OK);
    for (size_t i = 0; i < np; i++) assert_true(fabsf(tt_model_grads_flat(m)[i] - 2 * g1[i]) <= 1e-5f * fabsf(g1[i]) + 1e-9f);

    /* 10 AdamW steps (a local flat loop with the model's decay mask) reproduce PyTorch's losses */
    size_t n = 0;
    const float *want_losses = tt_fixture_f32(&fx, "adamw_losses", &n);
    assert_non_null(want_losses);
    assert_int_equal(n, 11);
    float *mom = calloc(np, sizeof(float)), *vel = calloc(np, sizeof(float)), got[11];
    float *p = tt_model_params_flat(m), *g = tt_model_grads_flat(m);
    const unsigned char *mask = tt_model_decay_mask(m);
    for (int step = 1; step <= 10; step++) {
        tt_model_zero_grad(m);
        assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_TRAIN, NULL, &got[step - 1], &err), TT_OK);
        assert_int_equal(tt_model_backward(m, &err), TT_OK);
        double norm = 0;
        for (size_t i = 0; i < np; i++) norm += (double)g[i] * g[i];
        norm = sqrt(norm);
        float clip = norm > 1.0 ? (float)(1.0 / (norm + 1e-6)) : 1.0f;
        double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.95, step);
        for (size_t i = 0; i < np; i++) {
            float gi = g[i] * clip;
            if (mask[i]) p[i] -= 1e-3f * 0.01f * p[i];
            mom[i] = 0.9f * mom[i] + 0.1f * gi;
            vel[i] = 0.95f * vel[i] + 0.05f * gi * gi;
            p[i] -= (float)(1e-3 / bc1) * mom[i] / (float)(sqrt(vel[i]) / sqrt(bc2) + 1e-8);
        }
    }
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_EVAL, NULL, &got[10], &err), TT_OK);
    check("adamw_losses", got, want_losses, 11, 1e-5, 1e-6);
    free(mom);
    free(vel);
    free(g1);
    tt_model_free(m);
    tt_fixture_free(&fx);
}

static void test_reference_sinusoidal_tied(void **state) {
    (void)state;
    reference("model_ref.safetensors");
}

static void test_reference_learned_untied(void **state) {
    (void)state;
    reference("model_ref_learned.safetensors");
}

/* ---- dropout and determinism -------------------------------------------------------- */

static void run_dropout(float *loss, float *grads, uint64_t seed, size_t *np) {
    tt_model_config c = small_cfg();
    c.dropout = 0.2f;
    tt_model *m;
    tt_error err;
    assert_int_equal(tt_model_create(&m, &c, 5, &err), TT_OK);
    int tok[16], tgt[16];
    for (int i = 0; i < 16; i++) {
        tok[i] = (i * 7) % 11;
        tgt[i] = (i * 3 + 1) % 11;
    }
    tt_rng rng;
    tt_rng_seed(&rng, seed);
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_TRAIN, &rng, loss, &err), TT_OK);
    assert_int_equal(tt_model_backward(m, &err), TT_OK);
    *np = tt_model_num_params(m);
    if (grads) memcpy(grads, tt_model_grads_flat(m), *np * sizeof(float));
    /* eval ignores dropout: same as a dropout-0 model with these weights */
    float le, l0;
    assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_EVAL, NULL, &le, &err), TT_OK);
    c.dropout = 0.0f;
    tt_model *z;
    assert_int_equal(tt_model_create(&z, &c, 5, &err), TT_OK);
    assert_int_equal(tt_model_forward(z, tok, tgt, 2, 8, TT_MODE_TRAIN, NULL, &l0, &err), TT_OK);
    assert_true(le == l0);
    tt_model_free(z);
    tt_model_free(m);
}

static void test_dropout_deterministic(void **state) {
    (void)state;
    size_t np;
    float la, lb, lc;
    float *ga = malloc(8192 * sizeof(float)), *gb = malloc(8192 * sizeof(float));
    run_dropout(&la, NULL, 1, &np);
    assert_true(np <= 8192);
    run_dropout(&la, ga, 1, &np);
    run_dropout(&lb, gb, 1, &np);
    run_dropout(&lc, NULL, 2, &np);
    assert_true(la == lb);
    assert_memory_equal(ga, gb, np * sizeof(float));
    assert_true(la != lc);
    free(ga);
    free(gb);
}

/* identical results for a seed and a thread count, run after run (tiny preset,
 * dropout 0.1, B=3, T=40 so that every kernel's rows split across threads) */
static void step_grads(int threads, float *loss, float **grads, size_t *np) {
    tt_model_config c;
    tt_error err;
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    tt_model *m;
    assert_int_equal(tt_model_create(&m, &c, 11, &err), TT_OK);
    assert_int_equal(tt_model_set_threads(m, threads > 0 ? threads : 1, &err), TT_OK);
    assert_int_equal(tt_model_threads(m), threads > 0 ? threads : 1);
    int tok[120], tgt[120];
    for (int i = 0; i < 120; i++) {
        tok[i] = (i * 13 + 5) % 65;
        tgt[i] = (i * 7 + 1) % 65;
    }
    tt_rng rng;
    tt_rng_seed(&rng, 99);
    assert_int_equal(tt_model_forward(m, tok, tgt, 3, 40, TT_MODE_TRAIN, &rng, loss, &err), TT_OK);
    if (threads < 0) /* more threads for backward than forward */
        assert_int_equal(tt_model_set_threads(m, -threads, &err), TT_OK);
    assert_int_equal(tt_model_backward(m, &err), TT_OK);
    *np = tt_model_num_params(m);
    *grads = malloc(*np * sizeof(float));
    memcpy(*grads, tt_model_grads_flat(m), *np * sizeof(float));
    tt_model_free(m);
}

static void test_thread_determinism(void **state) {
    (void)state;
    for (int threads = 1; threads <= 3; threads++) {
        float la, lb;
        float *ga, *gb;
        size_t n;
        step_grads(threads, &la, &ga, &n);
        step_grads(threads, &lb, &gb, &n);
        assert_true(la == lb);
        assert_memory_equal(ga, gb, n * sizeof(float));
        free(ga);
        free(gb);
    }
    /* forward on 1 thread, backward asked for 2: runs on the forward's count */
    float la, lb;
    float *ga, *gb;
    size_t n;
    step_grads(1, &la, &ga, &n);
    step_grads(-2, &lb, &gb, &n);
    assert_memory_equal(ga, gb, n * sizeof(float));
    free(ga);
    free(gb);
    /* and across thread counts: 1, 2 and 3 threads give the same bits */
    step_grads(1, &la, &ga, &n);
    for (int threads = 2; threads <= 3; threads++) {
        step_grads(threads, &lb, &gb, &n);
        assert_true(la == lb);
        assert_memory_equal(ga, gb, n * sizeof(float));
        free(gb);
    }
    free(ga);
    /* bad settings are refused */
    tt_error err;
    tt_model_config c;
    tt_model *m;
    assert_int_equal(tt_model_config_preset("tiny", 65, &c, &err), TT_OK);
    assert_int_equal(tt_model_create(&m, &c, 11, &err), TT_OK);
    assert_int_equal(tt_model_set_threads(NULL, 1, &err), TT_ERR_ARG);
    assert_int_equal(tt_model_set_threads(m, -1, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "n_threads"));
    assert_int_equal(tt_model_set_threads(m, 257, &err), TT_ERR_ARG);
    assert_int_equal(tt_model_threads(NULL), 0);
    tt_model_free(m);
}

/* The ranges the backward reports as complete (for data-parallel overlap)
 * come from the tensor table: the tail, each block from the last, then the
 * embeddings, adjacent and descending, each holding exactly its tensors. */
typedef struct {
    size_t lo[16], hi[16];
    int n;
} ready_ranges;
static void record_ready(void *user, size_t lo, size_t hi) {
    ready_ranges *r = user;
    if (r->n < 16) r->lo[r->n] = lo, r->hi[r->n] = hi;
    r->n++;
}

static void test_backward_phases_follow_the_table(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        tt_error err = {0};
        tt_model_config c;
        assert_int_equal(tt_model_config_preset("tiny", 20, &c, &err), TT_OK);
        c.n_layers = 3, c.max_len = 16, c.dropout = 0.0f;
        c.tie_weights = variant == 0;
        c.positional = variant == 0 ? TT_POS_SINUSOIDAL : TT_POS_LEARNED;
        tt_model *m = NULL;
        assert_int_equal(tt_model_create(&m, &c, 1, &err), TT_OK);
        int tok[2 * 8], tgt[2 * 8];
        for (int i = 0; i < 16; i++) tok[i] = (i * 7) % 20, tgt[i] = (i * 3 + 1) % 20;
        assert_int_equal(tt_model_forward(m, tok, tgt, 2, 8, TT_MODE_TRAIN, NULL, NULL, &err), TT_OK);
        ready_ranges r = {0};
        assert_int_equal(tt_model_backward_hooked(m, record_ready, &r, &err), TT_OK);
        const int L = c.n_layers;
        assert_int_equal(r.n, L + 2);
        assert_int_equal(r.hi[0], tt_model_num_params(m));
        for (int i = 0; i + 1 < r.n; i++) assert_int_equal(r.lo[i], r.hi[i + 1]);
        assert_int_equal(r.lo[r.n - 1], 0);
        const float *g0 = tt_model_grads_flat(m);
        for (size_t i = 0; i < tt_model_num_tensors(m); i++) {
            tt_tensor_info t;
            assert_int_equal(tt_model_tensor(m, i, &t), TT_OK);
            if (!t.grad || (c.tie_weights && !strcmp(t.name, "lm_head.weight"))) continue;
            int layer = -1, k;
            if (sscanf(t.name, "blocks.%d.", &layer) == 1)
                k = 1 + (L - 1 - layer);
            else
                k = !strncmp(t.name, "embedding.", 10) ? L + 1 : 0;
            const size_t off = (size_t)(t.grad - g0);
            if (off < r.lo[k] || off + t.numel > r.hi[k]) fail_msg("%s is outside its phase %d", t.name, k);
        }
        tt_model_free(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_unknown_preset),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_tensor_table),
        cmocka_unit_test(test_tensor_init),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_reference_sinusoidal_tied),
        cmocka_unit_test(test_reference_learned_untied),
        cmocka_unit_test(test_dropout_deterministic),
        cmocka_unit_test(test_thread_determinism),
        cmocka_unit_test(test_backward_phases_follow_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
