/*
 * tt/export.h — TT_API, the mark of a public function.
 *
 * libtt is built with -fvisibility=hidden: a function is exported from
 * libtt.so only when its declaration in include/tt/ carries TT_API
 *
 *     TT_API tt_status tt_model_forward(tt_model *m, ...);
 *
 * (scripts/api_symbols.sh --check, run by tests/test_exports.c, fails for a
 * declaration without it). On GCC and clang TT_API is default visibility;
 * elsewhere it expands to nothing. Every public header includes this one
 * through tt/common.h.
 */
#ifndef TT_EXPORT_H
#define TT_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define TT_API __attribute__((visibility("default")))
#else
#define TT_API
#endif

#endif /* TT_EXPORT_H */
