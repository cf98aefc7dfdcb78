/*
 * common_internal.h — what the library knows about tt_status that the
 * public header keeps to itself.
 */
#ifndef TT_COMMON_INTERNAL_H
#define TT_COMMON_INTERNAL_H

#include "tt/common.h"

/* The number of status codes (the last one + 1): not a public enum value,
 * so that adding a code changes no public value. */
#define TT_STATUS_COUNT_ ((int)TT_ERR_COMM + 1)

#endif
