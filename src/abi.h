/*
 * abi.h — reading a caller's config struct across library versions.
 *
 * Every public config struct starts with `size_t struct_size`, which its
 * tt_*_default() sets to sizeof the struct the caller was compiled with
 * (docs/embedding.md, "ABI policy"). Fields are only ever appended, so a
 * caller built against an older libtt passes a shorter prefix of today's
 * struct, and one built against a newer libtt a longer one. tt_struct_in
 * turns either into today's struct:
 *
 *     tt_train_config c = tt_train_config_default();
 *     tt_status st = tt_struct_in(&c, sizeof c, tc, TT_TRAIN_CONFIG_SIZE_0,
 *                                 "train config", err);
 *
 * dst holds the defaults on entry; the fields the caller's struct has are
 * copied over them (a shorter struct's missing fields keep their defaults),
 * and dst->struct_size becomes sizeof today's struct. A longer struct is
 * accepted when every byte this library does not know is 0 (the newer
 * library's "off"), like Linux's copy_struct_from_user.
 */
#ifndef TT_ABI_H
#define TT_ABI_H

#include <stddef.h>
#include <string.h>

#include "tt/common.h"

/* The end of a struct's last field in its first released layout: the
 * smallest struct_size the library accepts. Keep these when fields are
 * appended. */
#define TT_STRUCT_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define TT_SAMPLING_PARAMS_SIZE_0 TT_STRUCT_END(tt_sampling_params, x)
#define TT_TRAIN_CONFIG_SIZE_0 TT_STRUCT_END(tt_train_config, data_sha256)
#define TT_ADAMW_CONFIG_SIZE_0 TT_STRUCT_END(tt_adamw_config, weight_decay)
#define TT_DIST_CONFIG_SIZE_0 TT_STRUCT_END(tt_dist_config, interrupted_user)

/* The largest struct_size read: a caller's struct is never scanned past
 * this many bytes. */
#define TT_STRUCT_SIZE_MAX 4096

/* @return TT_OK, or TT_ERR_ARG naming `what`: NULL src, a struct_size below
 * min_size (0: not made by tt_*_default()) or above TT_STRUCT_SIZE_MAX, or a
 * longer struct that sets a field this library does not know. */
static inline tt_status tt_struct_in(void *dst, size_t size, const void *src, size_t min_size,
                                     const char *what, tt_error *err) {
    if (!src) return tt_error_set(err, TT_ERR_ARG, "%s is NULL", what);
    size_t n;
    memcpy(&n, src, sizeof n);
    if (n < min_size)
        return tt_error_set(err, TT_ERR_ARG,
                            "%s: struct_size %zu is not a size of this struct (%zu..%zu); start "
                            "from its tt_*_default()",
                            what, n, min_size, size);
    if (n > TT_STRUCT_SIZE_MAX) /* a page, as Linux's copy_struct_from_user */
        return tt_error_set(err, TT_ERR_ARG,
                            "%s: struct_size %zu is larger than any struct of this API (at most "
                            "%d bytes); start from its tt_*_default()",
                            what, n, TT_STRUCT_SIZE_MAX);
    for (size_t i = size; i < n; i++)
        if (((const unsigned char *)src)[i])
            return tt_error_set(err, TT_ERR_ARG,
                                "%s: struct_size %zu sets fields past this library's %zu bytes "
                                "(built against a newer libtt %s)",
                                what, n, size, TT_VERSION_STRING);
    memcpy(dst, src, n < size ? n : size);
    memcpy(dst, &size, sizeof size);
    return TT_OK;
}

#endif
