/* The trainer: lr schedule, config checks, evaluation windows, learning,
 * best checkpoint, and bit-identical resume (N steps == k steps + resume). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tt/checkpoint.h"
#include "tt/train.h"
#include "util.h"

static char *g_dir;
static tt_tokenizer *g_tok;
static int *g_ids;
static size_t g_n;

static int setup(void **state) {
    (void)state;
    g_dir = tt_test_tmpdir();
    /* a small, learnable text */
    const char *base = "the cat sat on the mat. the dog sat on the log. ";
    size_t bl = strlen(base);
    char *text = malloc(bl * 60 + 1);
    for (int i = 0; i < 60; i++) memcpy(text + i * bl, base, bl);
    text[bl * 60] = '\0';
    tt_error err;
    if (tt_tokenizer_fit(&g_tok, text, bl * 60, &err) != TT_OK) return -1;
    if (tt_tokenizer_encode(g_tok, text, bl * 60, &g_ids, &g_n, &err) != TT_OK) return -1;
    free(text);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tt_test_rmtree(g_dir);
    free(g_dir);
    free(g_ids);
    tt_tokenizer_free(g_tok);
    return 0;
}

static const char *path_in(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static tt_model *make_model(float dropout) {
    tt_model_config c = {tt_tokenizer_vocab_size(g_tok), 16, 2, 1, 32, 32, dropout, TT_POS_SINUSOIDAL, true};
    tt_model *m;
    tt_error err;
    assert_int_equal(tt_model_create(&m, &c, 7, &err), TT_OK);
    return m;
}

static void test_lr_schedule(void **state) {
    (void)state;
    tt_train_config tc = tt_train_config_default();
    tc.learning_rate = 1e-3f;
    tc.warmup_steps = 4;
    tc.max_steps = 10;
    int W;
    /* linear warmup from lr/W: the first step is not at lr 0 */
    assert_float_equal(tt_train_lr_at(&tc, 0, &W), 2.5e-4, 1e-9);
    assert_int_equal(W, 4);
    assert_float_equal(tt_train_lr_at(&tc, 1, NULL), 5e-4, 1e-9);
    assert_float_equal(tt_train_lr_at(&tc, 3, NULL), 1e-3, 1e-9);
    /* then cosine from lr at step W to 0.1 lr at max_steps */
    assert_float_equal(tt_train_lr_at(&tc, 4, NULL), 1e-3, 1e-9);
    for (int s = 5; s < 10; s++) {
        double prog = (s - 4) / 6.0;
        double want = 1e-4 + 9e-4 * 0.5 * (1 + cos(M_PI * prog));
        assert_float_equal(tt_train_lr_at(&tc, s, NULL), want, 1e-9);
        assert_true(tt_train_lr_at(&tc, s, NULL) < tt_train_lr_at(&tc, s - 1, NULL));
    }
    assert_float_equal(tt_train_lr_at(&tc, 10, NULL), 1e-4, 1e-10);
    assert_float_equal(tt_train_lr_at(&tc, 50, NULL), 1e-4, 1e-10);
    /* warmup capped at max_steps / 10 when it does not fit */
    tc.warmup_steps = 100;
    tc.max_steps = 50;
    assert_float_equal(tt_train_lr_at(&tc, 0, &W), 2e-4, 1e-9);
    assert_int_equal(W, 5);
    tc.max_steps = 100; /* W == max_steps does not fit either */
    tt_train_lr_at(&tc, 0, &W);
    assert_int_equal(W, 10);
    tc.max_steps = 101; /* fits */
    tt_train_lr_at(&tc, 0, &W);
    assert_int_equal(W, 100);
    /* max_steps 1: no warmup, the single step at the peak */
    tc.max_steps = 1;
    assert_float_equal(tt_train_lr_at(&tc, 0, &W), 1e-3, 1e-9);
    assert_int_equal(W, 0);
    tc.max_steps = 9;
    for (int s = 0; s < 9; s++) assert_true(tt_train_lr_at(&tc, s, NULL) > 0.0f);
    /* warmup 0: starts at the peak */
    tc.warmup_steps = 0;
    tc.max_steps = 2000;
    assert_float_equal(tt_train_lr_at(&tc, 0, &W), 1e-3, 1e-9);
}

static void test_config_validate(void **state) {
    (void)state;
    tt_train_config d = tt_train_config_default();
    tt_error err;
    assert_int_equal(tt_train_config_validate(&d, &err), TT_OK);
    assert_int_equal(d.seq_len, 64);
    assert_int_equal(d.batch_size, 12);
    assert_float_equal(d.learning_rate, 1e-3, 1e-12);
    assert_float_equal(d.weight_decay, 0.01, 1e-12);
    assert_float_equal(d.grad_clip, 1.0, 0);
    assert_int_equal(d.warmup_steps, 100);
    assert_int_equal(d.log_interval, 100);
    assert_int_equal(d.eval_interval, 500);
    assert_int_equal(d.save_interval, 1000);
    struct {
        tt_train_config c;
        const char *field;
    } bad[12];
    for (int i = 0; i < 12; i++) bad[i].c = d;
    bad[0].c.seq_len = 0, bad[0].field = "seq_len";
    bad[1].c.batch_size = 0, bad[1].field = "batch_size";
    bad[2].c.max_steps = 0, bad[2].field = "max_steps";
    bad[3].c.learning_rate = 0, bad[3].field = "learning_rate";
    bad[4].c.weight_decay = -1, bad[4].field = "weight_decay";
    bad[5].c.beta1 = 1.0f, bad[5].field = "beta1";
    bad[6].c.eps = 0, bad[6].field = "eps";
    bad[7].c.grad_clip = NAN, bad[7].field = "grad_clip";
    bad[8].c.warmup_steps = -1, bad[8].field = "warmup_steps";
    bad[9].c.log_interval = 0, bad[9].field = "log_interval";
    bad[10].c.eval_batches = 0, bad[10].field = "eval_batches";
    bad[11].c.save_interval = -1, bad[11].field = "save_interval";
    for (int i = 0; i < 12; i++) {
        assert_int_equal(tt_train_config_validate(&bad[i].c, &err), TT_ERR_ARG);
        assert_non_null(strstr(err.msg, bad[i].field));
    }
}

static void test_evaluate_windows(void **state) {
    (void)state;
    tt_model *m = make_model(0.0f); /* max_len 32 */
    tt_error err;
    double mean;
    size_t np;
    float l1, l2;
    /* one window when n <= max_len + 1 */
    assert_int_equal(tt_evaluate_tokens(m, g_ids, 33, &mean, &np, &err), TT_OK);
    assert_int_equal(np, 32);
    assert_int_equal(tt_model_forward(m, g_ids, g_ids + 1, 1, 32, TT_MODE_EVAL, NULL, &l1, &err), TT_OK);
    assert_float_equal(mean, l1, 1e-6);
    /* 50 tokens: windows [0, 33) and [32, 50): 32 + 17 predictions */
    assert_int_equal(tt_evaluate_tokens(m, g_ids, 50, &mean, &np, &err), TT_OK);
    assert_int_equal(np, 49);
    assert_int_equal(tt_model_forward(m, g_ids + 32, g_ids + 33, 1, 17, TT_MODE_EVAL, NULL, &l2, &err), TT_OK);
    assert_float_equal(mean, (32.0 * l1 + 17.0 * l2) / 49.0, 1e-6);
    /* window 16: [0, 17) and [16, 33) give the same as two forwards of 16 */
    float a, b;
    assert_int_equal(tt_evaluate_tokens_window(m, g_ids, 33, 16, &mean, &np, &err), TT_OK);
    assert_int_equal(np, 32);
    assert_int_equal(tt_model_forward(m, g_ids, g_ids + 1, 1, 16, TT_MODE_EVAL, NULL, &a, &err), TT_OK);
    assert_int_equal(tt_model_forward(m, g_ids + 16, g_ids + 17, 1, 16, TT_MODE_EVAL, NULL, &b, &err), TT_OK);
    assert_float_equal(mean, (a + b) / 2.0, 1e-6);
    assert_int_equal(tt_evaluate_tokens_window(m, g_ids, 33, 0, &mean, &np, &err), TT_ERR_ARG);
    assert_int_equal(tt_evaluate_tokens_window(m, g_ids, 33, 33, &mean, &np, &err), TT_ERR_ARG);
    assert_int_equal(tt_evaluate_tokens(m, g_ids, 1, &mean, &np, &err), TT_ERR_ARG);
    int bad[3] = {0, 999, 1};
    assert_int_equal(tt_evaluate_tokens(m, bad, 3, &mean, &np, &err), TT_ERR_RANGE);
    tt_model_free(m);
}

typedef struct {
    float loss[64];
    float val[64];
    int stop_at;
    int calls;
} recorder;

static int record(void *user, const tt_train_progress *p) {
    recorder *r = user;
    r->loss[p->step] = p->loss;
    r->val[p->step] = p->has_val ? p->val_loss : -1.0f;
    r->calls++;
    return r->stop_at && p->step == r->stop_at;
}

static tt_train_config small_config(int max_steps, const char *out) {
    tt_train_config tc = tt_train_config_default();
    tc.seq_len = 16;
    tc.batch_size = 4;
    tc.max_steps = max_steps;
    tc.warmup_steps = 3;
    tc.learning_rate = 3e-3f;
    tc.eval_interval = 4;
    tc.eval_batches = 2;
    tc.log_interval = 5;
    tc.save_interval = 0;
    tc.seed = 11;
    tc.out_path = out;
    return tc;
}

static void assert_same_weights(const char *a, const char *b) {
    tt_model *ma, *mb;
    tt_error err;
    assert_int_equal(tt_checkpoint_load(a, &ma, NULL, &err), TT_OK);
    assert_int_equal(tt_checkpoint_load(b, &mb, NULL, &err), TT_OK);
    assert_int_equal(tt_model_num_params(ma), tt_model_num_params(mb));
    assert_memory_equal(tt_model_params_flat(ma), tt_model_params_flat(mb),
                        tt_model_num_params(ma) * sizeof(float));
    tt_model_free(ma);
    tt_model_free(mb);
}

static void test_resume_bit_identical(void **state) {
    (void)state;
    const size_t n_train = g_n * 9 / 10;
    const int *val = g_ids + n_train;
    const size_t n_val = g_n - n_train;
    tt_error err;
    tt_train_result res;
    /* dropout 0.1 so that the RNG state matters too */
    const int N = 14, K = 6;
    recorder straight = {0}, first = {0}, second = {0};
    tt_model *m = make_model(0.1f);
    tt_train_config tc = small_config(N, path_in("a.safetensors"));
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, record, &straight, &res, &err), TT_OK);
    assert_int_equal(res.steps_done, N);
    assert_int_equal(straight.calls, N);
    tt_model_free(m);

    /* interrupted at K: the run saves and returns TT_ERR_INTERRUPTED */
    m = make_model(0.1f);
    tc = small_config(N, path_in("b.safetensors"));
    first.stop_at = K;
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, record, &first, &res, &err),
                     TT_ERR_INTERRUPTED);
    assert_int_equal(res.steps_done, K);
    assert_int_equal(access(path_in("b.state"), F_OK), 0);
    tt_model_free(m);

    /* a fresh model of the same config resumes from b */
    m = make_model(0.1f);
    tc = small_config(N, path_in("b.safetensors"));
    tc.resume_path = path_in("b.safetensors");
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, record, &second, &res, &err), TT_OK);
    assert_int_equal(second.calls, N - K);
    assert_int_equal(res.steps_done, N);
    for (int s = 1; s <= K; s++) assert_true(first.loss[s] == straight.loss[s]);
    for (int s = K + 1; s <= N; s++) {
        if (second.loss[s] != straight.loss[s])
            fail_msg("step %d: resumed loss %.9g != straight %.9g", s, (double)second.loss[s],
                     (double)straight.loss[s]);
        assert_true(second.val[s] == straight.val[s]);
    }
    assert_same_weights(path_in("a.safetensors"), path_in("b.safetensors"));
    assert_same_weights(path_in("a.best.safetensors"), path_in("b.best.safetensors"));
    tt_model_free(m);

    /* a resume with another seq_len, or from a missing or corrupt state, fails clearly */
    m = make_model(0.1f);
    tc = small_config(N, NULL);
    tc.resume_path = path_in("b.safetensors");
    tc.seq_len = 8;
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, NULL, NULL, &res, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "seq_len"));
    tc.seq_len = 16;
    size_t len;
    char *st = tt_test_read_file(path_in("b.state"), &len);
    st[len / 2] ^= 0x40;
    tt_test_write_file(path_in("b.state"), st, len);
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, NULL, NULL, &res, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "corrupt"));
    tt_test_write_file(path_in("b.state"), st, 20);
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, NULL, NULL, &res, &err), TT_ERR_FORMAT);
    free(st);
    unlink(path_in("b.state"));
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, val, n_val, &tc, NULL, NULL, &res, &err), TT_ERR_IO);
    assert_non_null(strstr(err.msg, "b.state"));
    tt_model_free(m);
}

/* A stop asked at the last step (a signal during it) is still a stop: the
 * run saves and says TT_ERR_INTERRUPTED, with the callback's value. */
/* tt_train_view over ids of 1 and 2 bytes: the run of tt_train over ints,
 * bit for bit (losses, validation losses, weights, the state file), and an
 * int run resumes from a byte run's state. */
static void test_train_view_widths(void **state) {
    (void)state;
    const size_t n_train = g_n * 9 / 10, n_val = g_n - n_train;
    tt_error err;
    tt_train_result res;
    const int N = 9;
    recorder ref = {0};
    tt_model *m = make_model(0.1f);
    tt_train_config tc = small_config(N, path_in("w4.safetensors"));
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, g_ids + n_train, n_val, &tc, record, &ref, &res, &err),
                     TT_OK);
    tt_model_free(m);
    assert_int_equal(tt_token_width(tt_tokenizer_vocab_size(g_tok)), 1);
    for (int width = 1; width <= 2; width++) {
        tt_token_view all, tv, vv;
        assert_int_equal(tt_tokens_pack(g_ids, g_n, width, &all, &err), TT_OK);
        tv = all;
        tv.n = n_train;
        vv = all;
        vv.ids = (const char *)all.ids + n_train * (size_t)width;
        vv.n = n_val;
        recorder r = {0};
        const char *out = path_in(width == 1 ? "w1.safetensors" : "w2.safetensors");
        m = make_model(0.1f);
        tc = small_config(N, out);
        assert_int_equal(tt_train_view(m, g_tok, &tv, &vv, &tc, record, &r, &res, &err), TT_OK);
        tt_model_free(m);
        for (int s = 1; s <= N; s++) {
            assert_true(r.loss[s] == ref.loss[s]);
            assert_true(r.val[s] == ref.val[s]);
        }
        assert_same_weights(out, path_in("w4.safetensors"));
        /* the state (optimizer, loader, the data's hash) is the int run's, byte for byte */
        size_t la, lb;
        char *sa = tt_test_read_file(path_in(width == 1 ? "w1.state" : "w2.state"), &la);
        char *sb = tt_test_read_file(path_in("w4.state"), &lb);
        assert_non_null(sa);
        assert_non_null(sb);
        assert_int_equal(la, lb);
        assert_memory_equal(sa, sb, la);
        free(sa);
        free(sb);
        tt_free((void *)all.ids);
    }
    /* width and range errors */
    tt_token_view v;
    int bad[2] = {3, 256};
    assert_int_equal(tt_tokens_pack(bad, 2, 1, &v, &err), TT_ERR_RANGE);
    assert_non_null(strstr(err.msg, "id 256 at 1"));
    assert_int_equal(tt_tokens_pack(bad, 2, 3, &v, &err), TT_ERR_ARG);
    assert_int_equal(tt_tokens_pack(bad, 2, 2, &v, &err), TT_OK);
    assert_int_equal(((const uint16_t *)v.ids)[1], 256);
    tt_free((void *)v.ids);
    assert_int_equal(tt_token_width(256), 1);
    assert_int_equal(tt_token_width(257), 2);
    assert_int_equal(tt_token_width(65537), 4);
    tt_token_view odd = {g_ids, g_n, 3};
    m = make_model(0.0f);
    tc = small_config(2, NULL);
    assert_int_equal(tt_train_view(m, g_tok, &odd, NULL, &tc, NULL, NULL, NULL, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "width"));
    tt_model_free(m);
}

static int stop_with_15(void *user, const tt_train_progress *p) {
    (void)user;
    return p->step == p->max_steps ? 15 : 0;
}

static void test_stop_at_last_step(void **state) {
    (void)state;
    tt_model *m = make_model(0.0f);
    tt_train_config tc = small_config(3, path_in("last.safetensors"));
    tt_train_result res;
    tt_error err;
    assert_int_equal(tt_train(m, g_tok, g_ids, g_n, NULL, 0, &tc, stop_with_15, NULL, &res, &err),
                     TT_ERR_INTERRUPTED);
    assert_int_equal(res.steps_done, 3);
    assert_int_equal(res.stop_request, 15);
    assert_true(res.saved);
    assert_int_equal(access(path_in("last.state"), F_OK), 0);
    tt_model_free(m);
}

static void test_learns_and_keeps_best(void **state) {
    (void)state;
    const size_t n_train = g_n * 9 / 10;
    tt_error err;
    tt_train_result res;
    recorder r = {0};
    tt_model *m = make_model(0.0f);
    tt_train_config tc = small_config(40, path_in("learn.safetensors"));
    tc.eval_interval = 10;
    tc.warmup_steps = 100; /* capped to 4 */
    tc.save_interval = 20;
    tc.learning_rate = 1e-2f;
    assert_int_equal(tt_train(m, g_tok, g_ids, n_train, g_ids + n_train, g_n - n_train, &tc, record, &r, &res, &err),
                     TT_OK);
    assert_true(res.warmup_capped);
    assert_int_equal(res.warmup_used, 4);
    /* from about ln(V) = 2.6 to well below: the text is very repetitive */
    if (!(r.loss[40] < 0.8f * r.loss[1])) fail_msg("loss %g -> %g", (double)r.loss[1], (double)r.loss[40]);
    assert_true(r.val[10] > 0 && r.val[20] > 0 && r.val[30] > 0 && r.val[40] > 0);
    assert_true(r.val[5] < 0);
    float best = fminf(fminf(r.val[10], r.val[20]), fminf(r.val[30], r.val[40]));
    assert_true(res.best_val_loss == best);
    assert_true(res.final_val_loss == r.val[40]);
    /* the best checkpoint has the best validation loss */
    tt_model *b;
    assert_int_equal(tt_checkpoint_load(path_in("learn.best.safetensors"), &b, NULL, &err), TT_OK);
    tt_model_free(b);
    /* the final checkpoint is the model as it ended */
    tt_model *f;
    assert_int_equal(tt_checkpoint_load(path_in("learn.safetensors"), &f, NULL, &err), TT_OK);
    assert_memory_equal(tt_model_params_flat(f), tt_model_params_flat(m), tt_model_num_params(m) * sizeof(float));
    tt_model_free(f);
    tt_model_free(m);
}

static void test_edge_cases(void **state) {
    (void)state;
    tt_error err;
    tt_train_result res;
    tt_model *m = make_model(0.0f);
    tt_train_config tc = small_config(1, NULL); /* one step, no val, no files */
    assert_int_equal(tt_train(m, NULL, g_ids, g_n, NULL, 0, &tc, NULL, NULL, &res, &err), TT_OK);
    assert_int_equal(res.steps_done, 1);
    assert_true(isnan(res.best_val_loss));
    assert_true(res.final_loss > 0);
    assert_int_equal(tt_train(m, NULL, g_ids, 16, NULL, 0, &tc, NULL, NULL, &res, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "not enough tokens"));
    assert_int_equal(tt_train(m, NULL, g_ids, g_n, g_ids, 10, &tc, NULL, NULL, &res, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "validation"));
    tc.seq_len = 64; /* > max_len 32 */
    assert_int_equal(tt_train(m, NULL, g_ids, g_n, NULL, 0, &tc, NULL, NULL, &res, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "max_len"));
    tc = small_config(1, path_in("x.safetensors"));
    assert_int_equal(tt_train(m, NULL, g_ids, g_n, NULL, 0, &tc, NULL, NULL, &res, &err), TT_ERR_ARG);
    tc.out_path = "/nonexistent-dir/x.safetensors";
    assert_int_equal(tt_train(m, g_tok, g_ids, g_n, NULL, 0, &tc, NULL, NULL, &res, &err), TT_ERR_IO);
    char *p = tt_train_sibling_path("dir/run.safetensors", ".state");
    assert_string_equal(p, "dir/run.state");
    free(p);
    p = tt_train_sibling_path("run.bin", ".best.safetensors");
    assert_string_equal(p, "run.bin.best.safetensors");
    free(p);
    tt_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_schedule),          cmocka_unit_test(test_config_validate),
        cmocka_unit_test(test_evaluate_windows),     cmocka_unit_test(test_resume_bit_identical),
        cmocka_unit_test(test_learns_and_keeps_best), cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_stop_at_last_step),  cmocka_unit_test(test_train_view_widths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
