/*
 * src/data_internal.h — token windows over a token view of any width
 * (private; tt/data.h's tt_dataset is the int-only public form).
 */
#ifndef TT_SRC_DATA_INTERNAL_H
#define TT_SRC_DATA_INTERNAL_H

#include "tt/data.h"

/* The windows of seq_len + 1 tokens every stride tokens of a view, as
 * tt_dataset describes them. */
typedef struct {
    tt_token_view v; /* borrowed tokens */
    int seq_len, stride;
    size_t n_windows;
} tt_windows;

/* Token i of v (i < v->n). */
int tt_token_at(const tt_token_view *v, size_t i);

/* As tt_dataset_init, over a view. @return TT_OK or TT_ERR_ARG (the same
 * messages, and a width other than 1, 2, 4). */
tt_status tt_windows_init(tt_windows *w, const tt_token_view *v, int seq_len, int stride,
                          tt_error *err);
/* Window i (< n_windows) into x [T] and y [T]. */
void tt_windows_get(const tt_windows *w, size_t i, int *x, int *y);
/* As tt_loader_create over windows (copied; their tokens stay borrowed). */
tt_status tt_loader_create_windows(tt_loader **out, const tt_windows *w, int batch_size,
                                   bool shuffle, uint64_t seed, tt_error *err);

#endif /* TT_SRC_DATA_INTERNAL_H */
