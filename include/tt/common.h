/*
 * tt/common.h — status codes, error messages and the library version.
 *
 * Every fallible function in tiny-transformer returns a tt_status (TT_OK = 0)
 * and, when the caller passes a non-NULL tt_error, fills it with a one-line,
 * human-readable message that names the offending value:
 *
 *     tt_error err;
 *     if (tt_sampler_create(&s, 65, &err) != TT_OK)
 *         fprintf(stderr, "tt: %s\n", err.msg);
 *
 * The library never prints, never exits and never aborts on bad input.
 * Thread safety: everything here is reentrant.
 */
#ifndef TT_COMMON_H
#define TT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "tt/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_VERSION_MAJOR 1
#define TT_VERSION_MINOR 0
#define TT_VERSION_PATCH 0
#define TT_VERSION_NUMBER (TT_VERSION_MAJOR * 10000 + TT_VERSION_MINOR * 100 + TT_VERSION_PATCH)
#define TT_VERSION_STRING "1.0.0"

/* Status codes. New codes are only ever added at the end. */
typedef enum {
    TT_OK = 0,
    TT_ERR_ARG,             /* an argument or value is out of range or malformed */
    TT_ERR_NOMEM,           /* an allocation failed (or would exceed a limit)    */
    TT_ERR_IO,              /* a file could not be opened, read or written        */
    TT_ERR_FORMAT,          /* a file or text is not in the expected format       */
    TT_ERR_RANGE,           /* an index (token id, position) is out of range      */
    TT_ERR_STATE,           /* the object is not in a state that allows the call  */
    TT_ERR_NOT_IMPLEMENTED, /* used by the exercise stubs                          */
    TT_ERR_INTERRUPTED,     /* stopped on request (a signal, a callback)           */
    TT_ERR_NUMERIC,         /* a computation gave NaN or infinity (diverged, weights too large) */
    TT_ERR_COMM             /* a process of a distributed run failed or hangs      */
} tt_status;

/* The short, static name of a status ("invalid argument", ...). Never NULL. */
TT_API const char *tt_status_str(tt_status s);

/* Runtime version, e.g. "0.1.0"; compare with TT_VERSION_STRING. */
TT_API const char *tt_version(void);
/* Runtime version number (TT_VERSION_NUMBER of the built library). */
TT_API int tt_version_number(void);
/* The instruction-set path the kernels run on in this process: "avx512",
 * "avx2" or "scalar" (the best the CPU supports, or the one the TT_ISA
 * environment variable asks for, capped at what the CPU supports). */
TT_API const char *tt_kernel_isa(void);

#define TT_ERROR_MSG_MAX 256

/* A detailed error: the code plus a message. Callers own it (usually on the stack). */
typedef struct {
    tt_status code;
    char msg[TT_ERROR_MSG_MAX];
} tt_error;

/* Sets err (when non-NULL) and returns code, so that a function can
 * `return tt_error_set(err, TT_ERR_ARG, "temperature must be > 0, got %g", t);` */
TT_API tt_status tt_error_set(tt_error *err, tt_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears err (code TT_OK, empty message). NULL-safe. */
TT_API void tt_error_clear(tt_error *err);

/* Frees a buffer the library allocated and handed to the caller ("caller
 * frees" in the headers): tt_tokenizer_encode's ids, tt_tokenizer_decode's
 * and tt_generate_text's text, the vocabulary JSON, the values of
 * tt/sampling.h's batch functions, tt_generator_row_state_save's buffer, a
 * tt_generation's tokens and logprobs (tt_generations_free frees both).
 * Use it, not free(), when the library may come with another C runtime
 * (a DLL, a static libc) than the caller's. NULL-safe. */
TT_API void tt_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* TT_COMMON_H */
