/* Windows, the seeded loader (determinism, coverage, state restore) and the split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tt/data.h"

static int tokens[50];

static int setup(void **state) {
    (void)state;
    for (int i = 0; i < 50; i++) tokens[i] = i;
    return 0;
}

static void test_windows(void **state) {
    (void)state;
    tt_dataset ds;
    tt_error err;
    /* the teaching package's numbers: 50 tokens, L = 10: 4 windows; stride 5: 8 */
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 10, 10, &err), TT_OK);
    assert_int_equal(ds.n_windows, 4);
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 10, 5, &err), TT_OK);
    assert_int_equal(ds.n_windows, 8);
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 10, 1, &err), TT_OK);
    assert_int_equal(ds.n_windows, 40);
    int x[10], y[10];
    assert_int_equal(tt_dataset_get(&ds, 7, x, y, &err), TT_OK);
    for (int t = 0; t < 10; t++) {
        assert_int_equal(x[t], 7 + t);
        assert_int_equal(y[t], 8 + t); /* y = window[1:] */
    }
    assert_int_equal(tt_dataset_get(&ds, 40, x, y, &err), TT_ERR_RANGE);
    assert_int_equal(tt_dataset_init(&ds, tokens, 10, 10, 10, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "not enough tokens (10)"));
    assert_int_equal(tt_dataset_init(&ds, tokens, 11, 10, 10, &err), TT_OK);
    assert_int_equal(ds.n_windows, 1);
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 0, 10, &err), TT_ERR_ARG);
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 10, 0, &err), TT_ERR_ARG);
}

/* first x token of each row identifies the window (window i starts at i*stride) */
static void test_loader_epochs_cover_all(void **state) {
    (void)state;
    tt_dataset ds;
    tt_error err;
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 3, 2, &err), TT_OK); /* 24 windows */
    assert_int_equal(ds.n_windows, 24);
    tt_loader *l;
    assert_int_equal(tt_loader_create(&l, &ds, 6, true, 42, &err), TT_OK);
    int x[6 * 3], y[6 * 3];
    for (int epoch = 0; epoch < 3; epoch++) {
        int seen[24] = {0}, in_order = 1, prev = -1;
        for (int b = 0; b < 4; b++) {
            tt_loader_next(l, x, y);
            for (int r = 0; r < 6; r++) {
                int w = x[r * 3] / 2;
                assert_true(w >= 0 && w < 24);
                seen[w]++;
                if (w < prev) in_order = 0;
                prev = w;
                for (int t = 0; t < 3; t++) assert_int_equal(y[r * 3 + t], x[r * 3 + t] + 1);
            }
        }
        for (int w = 0; w < 24; w++) assert_int_equal(seen[w], 1);
        assert_false(in_order); /* shuffled */
        tt_loader_state s = tt_loader_get_state(l);
        assert_int_equal(s.pos, 24);
    }
    tt_loader_free(l);
    tt_loader_free(NULL);
}

static void test_loader_deterministic_and_restorable(void **state) {
    (void)state;
    tt_dataset ds;
    tt_error err;
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 4, 3, &err), TT_OK); /* 16 windows */
    tt_loader *a, *b, *c;
    assert_int_equal(tt_loader_create(&a, &ds, 5, true, 7, &err), TT_OK);
    assert_int_equal(tt_loader_create(&b, &ds, 5, true, 7, &err), TT_OK);
    assert_int_equal(tt_loader_create(&c, &ds, 5, true, 8, &err), TT_OK);
    int xa[20], ya[20], xb[20], yb[20], xc[20], yc[20];
    int differs = 0;
    tt_loader_state mid = {0, 0};
    int saved[10][20];
    for (int i = 0; i < 20; i++) {
        tt_loader_next(a, xa, ya);
        tt_loader_next(b, xb, yb);
        tt_loader_next(c, xc, yc);
        assert_memory_equal(xa, xb, sizeof xa);
        differs |= memcmp(xa, xc, sizeof xa) != 0;
        if (i == 9) mid = tt_loader_get_state(a);
        if (i >= 10) memcpy(saved[i - 10], xa, sizeof xa);
    }
    assert_true(differs); /* another seed, another order */
    /* a fresh loader restored to the saved state continues identically
     * (batches cross epoch boundaries: 5 does not divide 16) */
    tt_loader *r;
    assert_int_equal(tt_loader_create(&r, &ds, 5, true, 7, &err), TT_OK);
    assert_int_equal(tt_loader_set_state(r, mid, &err), TT_OK);
    for (int i = 0; i < 10; i++) {
        tt_loader_next(r, xa, ya);
        assert_memory_equal(xa, saved[i], sizeof xa);
    }
    tt_loader_state bad = {0, 17};
    assert_int_equal(tt_loader_set_state(r, bad, &err), TT_ERR_ARG);
    tt_loader_free(a);
    tt_loader_free(b);
    tt_loader_free(c);
    tt_loader_free(r);
}

static void test_loader_small_and_unshuffled(void **state) {
    (void)state;
    tt_dataset ds;
    tt_error err;
    assert_int_equal(tt_dataset_init(&ds, tokens, 50, 10, 10, &err), TT_OK); /* 4 windows */
    tt_loader *l;
    assert_int_equal(tt_loader_create(&l, &ds, 6, false, 1, &err), TT_OK); /* B > windows */
    int x[60], y[60];
    tt_loader_next(l, x, y);
    int want[6] = {0, 10, 20, 30, 0, 10};
    for (int r = 0; r < 6; r++) assert_int_equal(x[r * 10], want[r]);
    tt_loader_free(l);
    assert_int_equal(tt_loader_create(&l, &ds, 0, false, 1, &err), TT_ERR_ARG);
    assert_null(l);
}

static void test_split(void **state) {
    (void)state;
    size_t n_train;
    tt_error err;
    assert_int_equal(tt_data_split(1000, 0.1, &n_train, &err), TT_OK);
    assert_int_equal(n_train, 900);
    assert_int_equal(tt_data_split(1115394, 0.1, &n_train, &err), TT_OK);
    assert_int_equal(n_train, 1003855);
    assert_int_equal(tt_data_split(1000, 0.0, &n_train, &err), TT_OK);
    assert_int_equal(n_train, 1000);
    assert_int_equal(tt_data_split(1000, 1.0, &n_train, &err), TT_ERR_ARG);
    assert_int_equal(tt_data_split(1000, -0.1, &n_train, &err), TT_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_loader_epochs_cover_all),
        cmocka_unit_test(test_loader_deterministic_and_restorable),
        cmocka_unit_test(test_loader_small_and_unshuffled),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
