/*
 * tests/gen_helpers.h — the small random models and generators the
 * generation tests share (each test program links tests/gen_helpers.c).
 * Both fail the running cmocka test on error.
 */
#ifndef TT_TESTS_GEN_HELPERS_H
#define TT_TESTS_GEN_HELPERS_H

#include "tt/generate.h"
#include "tt/model.h"

/* A random model with V tokens, C 32, NH 4, L 2, F 64, the given max_len and
 * positions, tied weights, dropout 0, seed 7. */
tt_model *tt_test_small_model(int V, int max_len, tt_positional pos);

/* tt_generator_create that prints the message and fails the test on error. */
tt_generator *tt_test_make_gen(const tt_model *m, const tt_generator_config *gc);

#endif
