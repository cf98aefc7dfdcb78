/* The generation tests' shared helpers; see gen_helpers.h. */
#include "gen_helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

tt_model *tt_test_small_model(int V, int max_len, tt_positional pos) {
    tt_model_config c = {V, 32, 4, 2, 64, max_len, 0.0f, pos, true};
    tt_model *m = NULL;
    tt_error e;
    assert_int_equal(tt_model_create(&m, &c, 7, &e), TT_OK);
    return m;
}

tt_generator *tt_test_make_gen(const tt_model *m, const tt_generator_config *gc) {
    tt_generator *g = NULL;
    tt_error e;
    tt_status st = tt_generator_create(&g, m, gc, &e);
    if (st) fprintf(stderr, "create: %s\n", e.msg);
    assert_int_equal(st, TT_OK);
    return g;
}
