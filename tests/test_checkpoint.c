/* safetensors checkpoints: round trip, a file written by PyTorch
 * (scripts/torch_interop.py write-fixtures), and corrupt files that must fail
 * with TT_ERR_FORMAT (never a crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>

#include "fixture.h"
#include "tt/checkpoint.h"
#include "tt/train.h"
#include "tt/rng.h"
#include "util.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = tt_test_tmpdir();
    return g_dir ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static const char *path_in(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static tt_model *small_model(tt_positional pos, bool tie, tt_tokenizer **tok) {
    const char *text = "hello, world\n\xc3\xa9t\xc3\xa9!";
    tt_error err;
    assert_int_equal(tt_tokenizer_fit(tok, text, strlen(text), &err), TT_OK);
    tt_model_config c = {tt_tokenizer_vocab_size(*tok), 16, 2, 2, 32, 24, 0.1f, pos, tie};
    tt_model *m;
    assert_int_equal(tt_model_create(&m, &c, 99, &err), TT_OK);
    /* perturb biases / LayerNorm so that every tensor is distinctive */
    tt_rng r;
    tt_rng_seed(&r, 5);
    float *p = tt_model_params_flat(m);
    for (size_t i = 0; i < tt_model_num_params(m); i++) p[i] += (float)(0.01 * tt_rng_normal(&r));
    return m;
}

static void assert_same_model(const tt_model *a, const tt_model *b) {
    const tt_model_config *ca = tt_model_get_config(a), *cb = tt_model_get_config(b);
    assert_int_equal(ca->vocab_size, cb->vocab_size);
    assert_int_equal(ca->d_model, cb->d_model);
    assert_int_equal(ca->n_heads, cb->n_heads);
    assert_int_equal(ca->n_layers, cb->n_layers);
    assert_int_equal(ca->d_ff, cb->d_ff);
    assert_int_equal(ca->max_len, cb->max_len);
    assert_true(ca->dropout == cb->dropout);
    assert_int_equal(ca->positional, cb->positional);
    assert_int_equal(ca->tie_weights, cb->tie_weights);
    assert_int_equal(tt_model_num_tensors(a), tt_model_num_tensors(b));
    for (size_t i = 0; i < tt_model_num_tensors(a); i++) {
        tt_tensor_info x, y;
        tt_model_tensor(a, i, &x);
        tt_model_tensor(b, i, &y);
        assert_string_equal(x.name, y.name);
        assert_int_equal(x.numel, y.numel);
        assert_memory_equal(x.data, y.data, x.numel * sizeof(float));
    }
}

static void round_trip(tt_positional pos, bool tie) {
    tt_tokenizer *tok, *tok2;
    tt_model *m = small_model(pos, tie, &tok), *m2;
    tt_error err;
    const char *p = path_in("rt.safetensors");
    assert_int_equal(tt_checkpoint_save(p, m, tok, &err), TT_OK);
    /* saving again over it (atomic replace) works too */
    assert_int_equal(tt_checkpoint_save(p, m, tok, &err), TT_OK);
    assert_int_equal(tt_checkpoint_load(p, &m2, &tok2, &err), TT_OK);
    assert_same_model(m, m2);
    assert_int_equal(tt_tokenizer_vocab_size(tok2), tt_tokenizer_vocab_size(tok));
    for (int i = 0; i < tt_tokenizer_vocab_size(tok); i++)
        assert_int_equal(tt_tokenizer_codepoint(tok2, i), tt_tokenizer_codepoint(tok, i));
    tt_model_config c;
    tt_tokenizer *tok3;
    assert_int_equal(tt_checkpoint_read_config(p, &c, &tok3, &err), TT_OK);
    assert_int_equal(c.d_ff, 32);
    assert_true(c.dropout == 0.1f);
    assert_int_equal(tt_tokenizer_vocab_size(tok3), tt_tokenizer_vocab_size(tok));
    /* the header is what the format says: 8-byte aligned data, F32, metadata strings */
    size_t len;
    char *file = tt_test_read_file(p, &len);
    uint64_t hl = 0;
    for (int b = 7; b >= 0; b--) hl = (hl << 8) | (unsigned char)file[b];
    assert_int_equal(hl % 8, 0);
    char *h = strndup(file + 8, (size_t)hl);
    cJSON *root = cJSON_Parse(h);
    assert_non_null(root);
    cJSON *meta = cJSON_GetObjectItem(root, "__metadata__");
    assert_string_equal(cJSON_GetObjectItem(meta, "format")->valuestring, "tiny-transformer");
    assert_string_equal(cJSON_GetObjectItem(meta, "format_version")->valuestring, "1");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(meta, "config")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(meta, "vocab")));
    cJSON *emb = cJSON_GetObjectItem(root, "embedding.token_embedding.embedding.weight");
    assert_string_equal(cJSON_GetObjectItem(emb, "dtype")->valuestring, "F32");
    assert_non_null(cJSON_GetObjectItem(root, "lm_head.weight")); /* also when tied */
    assert_int_equal(len, 8 + hl + tt_model_num_params(m) * 4 +
                              (tie ? (size_t)c.vocab_size * 16 * 4 : 0) +
                              (pos == TT_POS_SINUSOIDAL ? (size_t)24 * 16 * 4 : 0));
    cJSON_Delete(root);
    free(h);
    free(file);
    /* no temporary file is left behind */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, ".tmp"));
    closedir(d);
    tt_tokenizer_free(tok3);
    tt_model_free(m);
    tt_model_free(m2);
    tt_tokenizer_free(tok);
    tt_tokenizer_free(tok2);
}

static void test_round_trip_sinusoidal_tied(void **state) {
    (void)state;
    round_trip(TT_POS_SINUSOIDAL, true);
}
static void test_round_trip_learned_untied(void **state) {
    (void)state;
    round_trip(TT_POS_LEARNED, false);
}

static void pytorch_file(const char *name) {
    char file[128], ref[128];
    snprintf(file, sizeof file, "%s.safetensors", name);
    snprintf(ref, sizeof ref, "%s_ref.safetensors", name);
    tt_fixture fx;
    if (tt_fixture_load(&fx, ref) != 0) fail_msg("%s", fx.error);
    /* the fixture loader found the directory; the checkpoint sits beside the ref */
    tt_fixture probe;
    if (tt_fixture_load(&probe, file) != 0) fail_msg("%s", probe.error);
    tt_fixture_free(&probe);
    const char *cands[] = {"tests/fixtures", "../tests/fixtures", "../../tests/fixtures", NULL};
    char path[512] = "";
    for (int i = 0; cands[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", cands[i], file);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            break;
        }
        path[0] = '\0';
    }
    if (!path[0] && getenv("TT_FIXTURES")) snprintf(path, sizeof path, "%s/%s", getenv("TT_FIXTURES"), file);
    tt_model *m;
    tt_tokenizer *tok;
    tt_error err;
    if (tt_checkpoint_load(path, &m, &tok, &err) != TT_OK) fail_msg("%s: %s", path, err.msg);
    int V = tt_model_get_config(m)->vocab_size;
    assert_int_equal(tt_tokenizer_vocab_size(tok), V);
    assert_int_equal(tt_tokenizer_codepoint(tok, V - 1), 0xE9); /* 'é' */
    size_t n;
    const int32_t *t32 = tt_fixture_i32(&fx, "tokens", &n);
    const float *want = tt_fixture_f32(&fx, "logits", NULL), *want_loss = tt_fixture_f32(&fx, "loss", NULL);
    assert_non_null(t32);
    int *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = t32[i];
    float loss;
    assert_int_equal(tt_model_forward(m, ids, ids + 1, 1, (int)n - 1, TT_MODE_EVAL, NULL, &loss, &err), TT_OK);
    char msg[256];
    size_t bad = tt_fixture_compare(tt_model_logits(m), want, (n - 1) * (size_t)V, 1e-5, 1e-5, msg, sizeof msg);
    if (bad) fail_msg("%s logits: %s", file, msg);
    assert_float_equal(loss, want_loss[0], 1e-5 * fabs(want_loss[0]));
    double mean;
    size_t np;
    assert_int_equal(tt_evaluate_tokens(m, ids, n, &mean, &np, &err), TT_OK);
    assert_int_equal(np, n - 1);
    assert_float_equal(mean, want_loss[0], 1e-5 * fabs(want_loss[0]));
    free(ids);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    tt_fixture_free(&fx);
}

static void test_pytorch_written_file_loads(void **state) {
    (void)state;
    pytorch_file("torch_ckpt");
    pytorch_file("torch_ckpt_learned");
}

/* ---- corrupt files ---------------------------------------------------- */

typedef struct {
    char *file;
    size_t len;
    uint64_t hl;
    cJSON *root;
} parsed;

static parsed valid_file(void) {
    tt_tokenizer *tok;
    tt_model *m = small_model(TT_POS_SINUSOIDAL, true, &tok);
    tt_error err;
    const char *p = path_in("valid.safetensors");
    assert_int_equal(tt_checkpoint_save(p, m, tok, &err), TT_OK);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    parsed v;
    v.file = tt_test_read_file(p, &v.len);
    v.hl = 0;
    for (int b = 7; b >= 0; b--) v.hl = (v.hl << 8) | (unsigned char)v.file[b];
    char *h = strndup(v.file + 8, (size_t)v.hl);
    v.root = cJSON_Parse(h);
    free(h);
    assert_non_null(v.root);
    return v;
}

/* Writes header json + data[0..dlen) as a file and expects TT_ERR_FORMAT with
 * `needle` in the message. */
static void expect_format(const char *json, const char *data, size_t dlen, const char *needle) {
    size_t hl = strlen(json);
    char *buf = malloc(8 + hl + dlen);
    for (int b = 0; b < 8; b++) buf[b] = (char)(((uint64_t)hl >> (8 * b)) & 0xFF);
    memcpy(buf + 8, json, hl);
    if (dlen) memcpy(buf + 8 + hl, data, dlen);
    const char *p = path_in("bad.safetensors");
    assert_int_equal(tt_test_write_file(p, buf, 8 + hl + dlen), 0);
    free(buf);
    tt_model *m = (tt_model *)1;
    tt_tokenizer *tok = (tt_tokenizer *)1;
    tt_error err;
    tt_status st = tt_checkpoint_load(p, &m, &tok, &err);
    if (st != TT_ERR_FORMAT || !strstr(err.msg, needle))
        fail_msg("expected a format error with '%s', got %s: %s", needle, tt_status_str(st), err.msg);
    assert_null(m);
    assert_null(tok);
}

static void mutate(const parsed *v, void (*edit)(cJSON *root), const char *needle) {
    cJSON *root = cJSON_Duplicate(v->root, 1);
    edit(root);
    char *json = cJSON_PrintUnformatted(root);
    expect_format(json, v->file + 8 + v->hl, v->len - 8 - v->hl, needle);
    free(json);
    cJSON_Delete(root);
}

static cJSON *entry(cJSON *root, const char *name) { return cJSON_GetObjectItem(root, name); }
static void set_offsets(cJSON *e, double b, double en) {
    cJSON_ReplaceItemInObject(e, "data_offsets", cJSON_CreateDoubleArray((double[]){b, en}, 2));
}
static double off0(cJSON *e) { return cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 0)->valuedouble; }
static double off1(cJSON *e) { return cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 1)->valuedouble; }

static void ed_dtype(cJSON *r) {
    cJSON_ReplaceItemInObject(entry(r, "ln_f.bias"), "dtype", cJSON_CreateString("F16"));
}
static void ed_shape(cJSON *r) {
    cJSON_ReplaceItemInObject(entry(r, "ln_f.bias"), "shape", cJSON_CreateDoubleArray((double[]){8, 2}, 2));
}
static void ed_shape_swap(cJSON *r) {
    cJSON *e = entry(r, "blocks.0.feed_forward.fc1.weight"); /* [32, 16] -> [16, 32] */
    cJSON_ReplaceItemInObject(e, "shape", cJSON_CreateDoubleArray((double[]){16, 32}, 2));
}
static void ed_overlap(cJSON *r) {
    cJSON *e = entry(r, "ln_f.bias");
    set_offsets(e, off0(e) - 4, off1(e) - 4);
}
static void ed_range(cJSON *r) {
    cJSON *e = entry(r, "ln_f.bias");
    set_offsets(e, off0(e) + 1e6, off1(e) + 1e6);
}
static void ed_negative(cJSON *r) { set_offsets(entry(r, "ln_f.bias"), -64, 0); }
static void ed_extra(cJSON *r) {
    cJSON *e = cJSON_Duplicate(entry(r, "ln_f.bias"), 1);
    cJSON_AddItemToObject(r, "blocks.7.norm1.bias", e);
}
static void ed_missing(cJSON *r) { cJSON_DeleteItemFromObject(r, "blocks.1.norm2.weight"); }
static void ed_vocab(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "vocab",
                              cJSON_CreateString("[\"a\",\"b\"]"));
}
static void ed_vocab_json(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "vocab", cJSON_CreateString("[\"a\","));
}
static void ed_config_object(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "config", cJSON_CreateObject());
}
static void ed_config_bad(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "config",
                              cJSON_CreateString("{\"vocab_size\":13,\"d_model\":15,\"n_heads\":2,\"n_layers\":2,"
                                                 "\"d_ff\":32,\"max_len\":24,\"dropout\":0.1,"
                                                 "\"positional\":\"sinusoidal\",\"tie_weights\":true}"));
}
static void ed_no_meta(cJSON *r) { cJSON_DeleteItemFromObject(r, "__metadata__"); }
static void ed_version(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "format_version", cJSON_CreateString("2"));
}
static void ed_not_object(cJSON *r) {
    cJSON_ReplaceItemInObject(r, "ln_f.bias", cJSON_CreateString("x"));
}

static void test_corrupt_headers(void **state) {
    (void)state;
    parsed v = valid_file();
    mutate(&v, ed_dtype, "dtype F16");
    mutate(&v, ed_shape, "shape [8, 2], expected [16]");
    mutate(&v, ed_shape_swap, "expected [32, 16]");
    mutate(&v, ed_overlap, "overlaps");
    mutate(&v, ed_range, "out of range");
    mutate(&v, ed_negative, "out of range");
    mutate(&v, ed_extra, "unexpected tensor 'blocks.7.norm1.bias'");
    mutate(&v, ed_missing, "blocks.1.norm2.weight");
    mutate(&v, ed_vocab, "vocab has 2 characters");
    mutate(&v, ed_vocab_json, "vocabulary");
    mutate(&v, ed_config_object, "not a string");
    mutate(&v, ed_config_bad, "config");
    mutate(&v, ed_no_meta, "__metadata__");
    mutate(&v, ed_version, "format_version");
    mutate(&v, ed_not_object, "ln_f.bias");
    cJSON_Delete(v.root);
    free(v.file);
}

static void test_corrupt_bytes(void **state) {
    (void)state;
    parsed v = valid_file();
    const char *p = path_in("bytes.safetensors");
    tt_model *m;
    tt_tokenizer *tok;
    tt_error err;
    /* truncated: half the file, 7 bytes, empty */
    size_t cuts[] = {v.len / 2, v.len - 1, 8 + (size_t)v.hl, 7, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        tt_test_write_file(p, v.file, cuts[i]);
        assert_int_equal(tt_checkpoint_load(p, &m, &tok, &err), TT_ERR_FORMAT);
        assert_null(m);
    }
    /* a header length beyond the file */
    char *copy = malloc(v.len);
    memcpy(copy, v.file, v.len);
    copy[5] = 0x10;
    tt_test_write_file(p, copy, v.len);
    assert_int_equal(tt_checkpoint_load(p, &m, &tok, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "header length"));
    /* invalid JSON */
    memcpy(copy, v.file, v.len);
    copy[8] = '[';
    tt_test_write_file(p, copy, v.len);
    assert_int_equal(tt_checkpoint_load(p, &m, &tok, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "JSON"));
    /* extra trailing bytes */
    char *longer = malloc(v.len + 4);
    memcpy(longer, v.file, v.len);
    memset(longer + v.len, 0, 4);
    tt_test_write_file(p, longer, v.len + 4);
    assert_int_equal(tt_checkpoint_load(p, &m, &tok, &err), TT_ERR_FORMAT);
    free(longer);
    /* a NaN in the data */
    memcpy(copy, v.file, v.len);
    uint32_t nan_bits = 0x7FC00000u;
    memcpy(copy + 8 + v.hl, &nan_bits, 4);
    tt_test_write_file(p, copy, v.len);
    assert_int_equal(tt_checkpoint_load(p, &m, &tok, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "non-finite"));
    /* a tied lm_head that differs from the embedding */
    cJSON *lm = cJSON_GetObjectItem(v.root, "lm_head.weight");
    size_t at = 8 + (size_t)v.hl + (size_t)off0(lm);
    memcpy(copy, v.file, v.len);
    copy[at] ^= 0x01;
    tt_test_write_file(p, copy, v.len);
    assert_int_equal(tt_checkpoint_load(p, &m, &tok, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "tied"));
    /* random byte flips in the header: any status, never a crash or a leak */
    tt_rng r;
    tt_rng_seed(&r, 2024);
    int failed = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(copy, v.file, v.len);
        int flips = 1 + (int)tt_rng_below(&r, 3);
        for (int k = 0; k < flips; k++)
            copy[tt_rng_below(&r, 8 + v.hl)] = (char)tt_rng_below(&r, 256);
        tt_test_write_file(p, copy, v.len);
        tt_status st = tt_checkpoint_load(p, &m, &tok, &err);
        if (st == TT_OK) {
            tt_model_free(m);
            tt_tokenizer_free(tok);
        } else {
            assert_true(st == TT_ERR_FORMAT || st == TT_ERR_IO || st == TT_ERR_NOMEM);
            assert_null(m);
            assert_true(strlen(err.msg) > 0);
            failed++;
        }
    }
    assert_true(failed > 100);
    free(copy);
    /* missing file, a directory */
    assert_int_equal(tt_checkpoint_load(path_in("nope.safetensors"), &m, &tok, &err), TT_ERR_IO);
    assert_non_null(strstr(err.msg, "nope.safetensors"));
    assert_int_equal(tt_checkpoint_load(g_dir, &m, &tok, &err), TT_ERR_IO);
    cJSON_Delete(v.root);
    free(v.file);
}

static void test_save_errors(void **state) {
    (void)state;
    tt_tokenizer *tok, *other;
    tt_model *m = small_model(TT_POS_SINUSOIDAL, true, &tok);
    tt_error err;
    assert_int_equal(tt_tokenizer_fit(&other, "ab", 2, &err), TT_OK);
    assert_int_equal(tt_checkpoint_save(path_in("x.safetensors"), m, other, &err), TT_ERR_ARG);
    assert_int_equal(tt_checkpoint_save("/nonexistent-dir/x.safetensors", m, tok, &err), TT_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.safetensors"));
    tt_tokenizer_free(other);
    tt_tokenizer_free(tok);
    tt_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_sinusoidal_tied),
        cmocka_unit_test(test_round_trip_learned_untied),
        cmocka_unit_test(test_pytorch_written_file_loads),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_save_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
