/*
 * tt/data.h — token windows, a seeded batch loader and a train/val split.
 *
 * A dataset views a token stream as windows of seq_len + 1 tokens starting
 * every `stride` tokens (the teaching package's TextDataset): window i is
 * tokens[i*stride .. i*stride + seq_len], x = window[:-1], y = window[1:];
 * there are (N - (seq_len+1)) / stride + 1 windows and trailing tokens are
 * dropped.
 *
 *     tt_dataset ds;
 *     tt_dataset_init(&ds, ids, n, 64, 64, &err);
 *     tt_loader *ld;
 *     tt_loader_create(&ld, &ds, 12, true, 1337, &err);
 *     int x[12 * 64], y[12 * 64];
 *     tt_loader_next(ld, x, y);            // [B, T] each
 *
 * The shuffling loader walks an endless sequence of epochs; epoch e visits
 * every window once in the order of a Fisher–Yates permutation drawn from
 * RNG stream (seed, e). A batch takes the next B windows of that sequence,
 * crossing into the next epoch when needed, so every batch is full (even when
 * the dataset has fewer than B windows) and no window is skipped. The state
 * (epoch, position) is two integers: saving and restoring it continues the
 * exact same sequence of batches.
 *
 * Thread safety: a dataset is a read-only view (the tokens are borrowed and
 * must outlive it); a loader is used by one thread at a time.
 */
#ifndef TT_DATA_H
#define TT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const int *tokens; /* [n] borrowed */
    size_t n;
    int seq_len;       /* T */
    int stride;
    size_t n_windows;
} tt_dataset;

/* @return TT_OK or TT_ERR_ARG (ds NULL, tokens NULL with n > 0, seq_len or
 * stride < 1, or fewer than seq_len + 1 tokens: "not enough tokens (N) for
 * one window of T + 1"). */
TT_API tt_status tt_dataset_init(tt_dataset *ds, const int *tokens, size_t n, int seq_len,
                                 int stride, tt_error *err);
/* Copies window i into x [T] and y [T] (caller's buffers).
 * @return TT_OK, TT_ERR_ARG (ds, x or y NULL, or ds not initialised),
 * TT_ERR_RANGE (i >= n_windows). */
TT_API tt_status tt_dataset_get(const tt_dataset *ds, size_t i, int *x, int *y, tt_error *err);

/* Token ids stored 1, 2 or 4 bytes each: a long training text held at the
 * narrowest width its vocabulary allows (1 byte a token for a character
 * vocabulary of up to 256) instead of an int each. tt_train_view trains on
 * it. Frozen layout. */
typedef struct {
    const void *ids; /* [n] uint8_t (width 1), uint16_t (2) or int (4); borrowed */
    size_t n;
    int width;       /* 1, 2 or 4 */
} tt_token_view;

/* The narrowest width for ids in [0, vocab_size): 1 (V <= 256), 2 (V <=
 * 65536) or 4. */
TT_API int tt_token_width(int vocab_size);
/* Copies ids[0..n) into a new array of `width` bytes an id; *out views it
 * (free it with tt_free((void *)out->ids)). @return TT_OK, TT_ERR_ARG (NULL out, NULL ids
 * with n > 0, width not 1, 2 or 4), TT_ERR_RANGE (an id < 0 or too large for
 * the width), TT_ERR_NOMEM. */
TT_API tt_status tt_tokens_pack(const int *ids, size_t n, int width, tt_token_view *out,
                                tt_error *err);

/* Where a loader stands: the epoch and the position inside it. */
typedef struct {
    uint64_t epoch;
    uint64_t pos;
} tt_loader_state;

typedef struct tt_loader tt_loader;

/* shuffle = false visits windows in order 0, 1, 2, ... every epoch.
 * The dataset is borrowed. @return TT_OK, TT_ERR_ARG (out or ds NULL, empty
 * dataset, batch_size < 1), TT_ERR_NOMEM. */
TT_API tt_status tt_loader_create(tt_loader **out, const tt_dataset *ds, int batch_size,
                                  bool shuffle, uint64_t seed, tt_error *err);
/* NULL-safe. */
TT_API void tt_loader_free(tt_loader *l);
/* Fills x [B, T] and y [B, T] with the next batch. When l, x or y is NULL it
 * does nothing (the loader does not advance). */
TT_API void tt_loader_next(tt_loader *l, int *x, int *y);
/* The current state; {0, 0} for a NULL loader. */
TT_API tt_loader_state tt_loader_get_state(const tt_loader *l);
/* @return TT_OK or TT_ERR_ARG (NULL l, or pos beyond the number of windows). */
TT_API tt_status tt_loader_set_state(tt_loader *l, tt_loader_state s, tt_error *err);

/* Splits n tokens into the first n_train and the last n - n_train for
 * validation: n_val = floor(n * val_fraction). val_fraction in [0, 1).
 * @return TT_OK or TT_ERR_ARG (NULL n_train, val_fraction outside [0, 1)). */
TT_API tt_status tt_data_split(size_t n, double val_fraction, size_t *n_train, tt_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TT_DATA_H */
