/*
 * tests/test_abi.c — config structs that can grow (docs/embedding.md, "ABI
 * policy"): struct_size leads every growable config and its *_default() sets
 * it; the library reads a shorter struct (an older caller) with defaults for
 * the missing fields, a longer one (a newer caller) when its unknown bytes
 * are 0, and refuses a struct_size that did not come from *_default();
 * tt_sampling_controls stays the last member of the structs that embed it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tt/dist.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/optim.h"
#include "tt/sampling.h"
#include "tt/train.h"
#include "abi.h"

/* The generator config: an older caller's shorter struct gets defaults, a
 * struct_size not from tt_generator_config_default() is refused by create,
 * validate and add_row alike, and unknown nonzero fields are refused. */
static void test_generator_config_sizes(void **state) {
    (void)state;
    assert_int_equal(offsetof(tt_generator_config, struct_size), 0);
    assert_int_equal(tt_generator_config_default().struct_size, sizeof(tt_generator_config));
    tt_model_config mc = {17, 32, 2, 1, 64, 64, 0.0f, TT_POS_SINUSOIDAL, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &mc, 1, &e), TT_OK);
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = 7;
    tt_generator *g = NULL;
    assert_int_equal(tt_generator_create(&g, m, &gc, &e), TT_OK);
    assert_int_equal(tt_generator_get_config(g)->max_new_tokens, 7);
    tt_generator_free(g);
    g = NULL;
    tt_generator_config bad = gc;
    bad.struct_size = 0; /* not made by tt_generator_config_default() */
    assert_int_equal(tt_generator_create(&g, m, &bad, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "struct_size"));
    assert_null(g);
    assert_int_equal(tt_generator_config_validate(&bad, 17, &e), TT_ERR_ARG);
    /* the 0.x layout (temperature, top_k, top_p, do_sample and controls
     * where sampling is now: 360 bytes on x86-64) is not a layout of 1.x:
     * refused, never read with today's offsets (docs/embedding.md, 1.0.0) */
    bad.struct_size = sizeof(tt_generator_config) - 8;
    assert_int_equal(tt_generator_create(&g, m, &bad, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "struct_size"));
    assert_null(g);
    int row = -1;
    tt_generator *g2 = NULL;
    assert_int_equal(tt_generator_create(&g2, m, &gc, &e), TT_OK);
    const int prompt[1] = {1};
    assert_int_equal(tt_generator_add_row(g2, prompt, 1, &bad, 0, &row, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "struct_size"));
    tt_generator_free(g2);
    /* a newer caller: a longer struct whose unknown bytes are 0 is read, one
     * that sets them is refused */
    struct {
        tt_generator_config c;
        int64_t newer;
    } big;
    memset(&big, 0, sizeof big);
    big.c = gc;
    big.c.struct_size = sizeof big;
    assert_int_equal(tt_generator_config_validate(&big.c, 17, &e), TT_OK);
    big.newer = 1;
    assert_int_equal(tt_generator_config_validate(&big.c, 17, &e), TT_ERR_ARG);
    assert_non_null(strstr(e.msg, "newer"));
    tt_model_free(m);
}

static void test_defaults_set_struct_size(void **state) {
    (void)state;
    assert_int_equal(offsetof(tt_sampling_params, struct_size), 0);
    assert_int_equal(offsetof(tt_train_config, struct_size), 0);
    assert_int_equal(offsetof(tt_adamw_config, struct_size), 0);
    assert_int_equal(offsetof(tt_dist_config, struct_size), 0);
    assert_int_equal(tt_sampling_params_default().struct_size, sizeof(tt_sampling_params));
    assert_int_equal(tt_train_config_default().struct_size, sizeof(tt_train_config));
    assert_int_equal(tt_adamw_config_default().struct_size, sizeof(tt_adamw_config));
    assert_int_equal(tt_dist_config_default().struct_size, sizeof(tt_dist_config));
}

/* A new sampling control is appended to tt_sampling_controls: that appends it
 * to both structs only while the controls are their last member. */
static void test_controls_stay_last(void **state) {
    (void)state;
    assert_int_equal(TT_STRUCT_END(tt_sampling_params, x), sizeof(tt_sampling_params));
    assert_int_equal(TT_STRUCT_END(tt_generator_config, sampling.x), sizeof(tt_generator_config));
}

/* Two releases of one struct: v2 appended c. */
typedef struct {
    size_t struct_size;
    int a;
    float b;
} cfg_v1;
typedef struct {
    size_t struct_size;
    int a;
    float b;
    double c; /* starts past v1's sizeof */
} cfg_v2;
static const cfg_v2 V2_DEFAULT = {sizeof(cfg_v2), 1, 2.0f, 3.0};

static void test_struct_in(void **state) {
    (void)state;
    tt_error err;
    /* an older caller: its fields, then the defaults */
    const cfg_v1 old = {sizeof old, 10, 20.0f};
    cfg_v2 d = V2_DEFAULT;
    assert_int_equal(tt_struct_in(&d, sizeof d, &old, sizeof(cfg_v1), "cfg", &err), TT_OK);
    assert_int_equal(d.struct_size, sizeof(cfg_v2));
    assert_int_equal(d.a, 10);
    assert_true(d.b == 20.0f && d.c == 3.0);
    /* the same release: every field */
    const cfg_v2 same = {sizeof same, 4, 5.0f, 6.0};
    d = V2_DEFAULT;
    assert_int_equal(tt_struct_in(&d, sizeof d, &same, sizeof(cfg_v1), "cfg", &err), TT_OK);
    assert_true(d.a == 4 && d.b == 5.0f && d.c == 6.0);
    /* a newer caller, read by the v1 library: its unknown tail must be 0 */
    cfg_v2 newer = {sizeof newer, 7, 8.0f, 0.0};
    cfg_v1 d1 = {sizeof d1, 1, 2.0f};
    assert_int_equal(tt_struct_in(&d1, sizeof d1, &newer, sizeof(cfg_v1), "cfg", &err), TT_OK);
    assert_true(d1.a == 7 && d1.b == 8.0f && d1.struct_size == sizeof(cfg_v1));
    newer.c = 1.0;
    assert_int_equal(tt_struct_in(&d1, sizeof d1, &newer, sizeof(cfg_v1), "cfg", &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "cfg: struct_size 24 sets fields past this library's 16 bytes"));
    /* not from a *_default(): 0, or shorter than the first release */
    cfg_v2 zero = {0, 1, 1.0f, 1.0};
    assert_int_equal(tt_struct_in(&d, sizeof d, &zero, sizeof(cfg_v1), "cfg", &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "cfg: struct_size 0 is not a size of this struct (16..24)"));
    zero.struct_size = 8;
    assert_int_equal(tt_struct_in(&d, sizeof d, &zero, sizeof(cfg_v1), "cfg", &err), TT_ERR_ARG);
    assert_int_equal(tt_struct_in(&d, sizeof d, NULL, sizeof(cfg_v1), "cfg", &err), TT_ERR_ARG);
    /* a struct_size past a page is refused before any byte past the
     * caller's struct is read (under ASan a scan would fault here) */
    cfg_v2 huge = {(size_t)1 << 40, 1, 1.0f, 0.0};
    assert_int_equal(tt_struct_in(&d, sizeof d, &huge, sizeof(cfg_v1), "cfg", &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "struct_size 1099511627776 is larger than any struct"));
    unsigned char *page = calloc(1, 4097);
    assert_non_null(page);
    size_t n = 4096;
    memcpy(page, &n, sizeof n);
    d = V2_DEFAULT;
    assert_int_equal(tt_struct_in(&d, sizeof d, page, sizeof(cfg_v1), "cfg", &err), TT_OK);
    n = 4097;
    memcpy(page, &n, sizeof n);
    assert_int_equal(tt_struct_in(&d, sizeof d, page, sizeof(cfg_v1), "cfg", &err), TT_ERR_ARG);
    free(page);
}

/* The sampler reads a newer caller's longer params, and refuses unknown
 * settings and a struct that did not come from tt_sampling_params_default(). */
static void test_sampling_params_sizes(void **state) {
    (void)state;
    tt_error err;
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 5, &err), TT_OK);
    const float logits[5] = {0.1f, 1.5f, -0.3f, 0.9f, 0.2f};
    tt_sampling_params p = tt_sampling_params_default();
    p.temperature = 0.7f;
    p.top_k = 3;
    tt_rng rng;
    int want[8];
    tt_rng_seed(&rng, 9);
    for (int i = 0; i < 8; i++) assert_int_equal(tt_sampler_sample(s, &p, logits, &rng, &want[i], &err), TT_OK);

    union {
        tt_sampling_params p;
        unsigned char bytes[sizeof(tt_sampling_params) + 32];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.p = p;
    newer.p.struct_size = sizeof newer;
    tt_rng_seed(&rng, 9);
    for (int i = 0; i < 8; i++) {
        int tok;
        assert_int_equal(tt_sampler_sample(s, &newer.p, logits, &rng, &tok, &err), TT_OK);
        assert_int_equal(tok, want[i]);
    }
    assert_int_equal(tt_sampling_params_validate(&newer.p, &err), TT_OK);
    newer.bytes[sizeof(tt_sampling_params) + 5] = 1; /* a setting this library does not know */
    int tok;
    assert_int_equal(tt_sampler_sample(s, &newer.p, logits, &rng, &tok, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "sampling params: struct_size"));
    assert_int_equal(tt_sampling_params_validate(&newer.p, &err), TT_ERR_ARG);

    tt_sampling_params bad = p;
    bad.struct_size = 0;
    assert_int_equal(tt_sampling_params_validate(&bad, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "start from its tt_*_default()"));
    float probs[5];
    assert_int_equal(tt_sampler_filter(s, &bad, logits, probs, NULL, NULL, NULL, &err), TT_ERR_ARG);
    int out[2];
    assert_int_equal(tt_sample_batch(&bad, logits, 1, 5, 2, 1, out, &err), TT_ERR_ARG);
    /* no status to return: the default order */
    tt_sampler_kind order[TT_MAX_SAMPLERS], def[TT_MAX_SAMPLERS];
    bad.x.n_samplers = 1;
    bad.x.samplers[0] = TT_SAMPLER_TOP_K;
    const int n = tt_sampling_chain(&bad, order);
    assert_int_equal(n, tt_sampling_chain(NULL, def));
    assert_memory_equal(order, def, (size_t)n * sizeof *order);
    tt_sampler_free(s);
}

static void test_train_and_adamw_sizes(void **state) {
    (void)state;
    tt_error err;
    tt_train_config tc = tt_train_config_default();
    assert_int_equal(tt_train_config_validate(&tc, &err), TT_OK);
    tc.struct_size = 3;
    assert_int_equal(tt_train_config_validate(&tc, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "train config: struct_size 3"));
    int warm = -1;
    assert_true(tt_train_lr_at(&tc, 5, &warm) == 0.0f && warm == 0);
    tc.struct_size = sizeof tc;
    assert_true(tt_train_lr_at(&tc, 5, &warm) > 0.0f);

    tt_adamw *o;
    assert_int_equal(tt_adamw_create(&o, 2, &err), TT_OK);
    float w[2] = {1.0f, -1.0f};
    const float g[2] = {0.5f, 0.5f};
    tt_adamw_config oc = tt_adamw_config_default();
    oc.struct_size = 0;
    tt_adamw_step(o, &oc, 0.1f, w, g, NULL); /* unreadable: does nothing */
    assert_true(w[0] == 1.0f && w[1] == -1.0f);
    assert_int_equal(tt_adamw_step_count(o), 0);
    oc.struct_size = sizeof oc;
    tt_adamw_step(o, &oc, 0.1f, w, g, NULL);
    assert_true(w[0] < 1.0f);
    assert_int_equal(tt_adamw_step_count(o), 1);
    tt_adamw_free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_set_struct_size),
        cmocka_unit_test(test_generator_config_sizes),
        cmocka_unit_test(test_controls_stay_last),
        cmocka_unit_test(test_struct_in),
        cmocka_unit_test(test_sampling_params_sizes),
        cmocka_unit_test(test_train_and_adamw_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
