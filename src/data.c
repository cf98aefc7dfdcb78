/* Token windows, the seeded batch loader and the split; see tt/data.h. */
#include "tt/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tt/rng.h"

tt_status tt_dataset_init(tt_dataset *ds, const int *tokens, size_t n, int seq_len, int stride,
                          tt_error *err) {
    if (!ds) return tt_error_set(err, TT_ERR_ARG, "dataset_init: ds is NULL");
    if (!tokens && n) return tt_error_set(err, TT_ERR_ARG, "dataset_init: tokens is NULL (n = %zu)", n);
    memset(ds, 0, sizeof *ds);
    if (seq_len < 1) return tt_error_set(err, TT_ERR_ARG, "seq_len must be >= 1, got %d", seq_len);
    if (stride < 1) return tt_error_set(err, TT_ERR_ARG, "stride must be >= 1, got %d", stride);
    if (n < (size_t)seq_len + 1)
        return tt_error_set(err, TT_ERR_ARG,
                            "not enough tokens (%zu) for one window of seq_len %d + 1 target", n,
                            seq_len);
    ds->tokens = tokens;
    ds->n = n;
    ds->seq_len = seq_len;
    ds->stride = stride;
    ds->n_windows = (n - ((size_t)seq_len + 1)) / (size_t)stride + 1;
    return TT_OK;
}

tt_status tt_dataset_get(const tt_dataset *ds, size_t i, int *x, int *y, tt_error *err) {
    if (!ds) return tt_error_set(err, TT_ERR_ARG, "dataset_get: ds is NULL");
    if (!x) return tt_error_set(err, TT_ERR_ARG, "dataset_get: x is NULL");
    if (!y) return tt_error_set(err, TT_ERR_ARG, "dataset_get: y is NULL");
    if (!ds->tokens || ds->seq_len < 1 || ds->stride < 1)
        return tt_error_set(err, TT_ERR_ARG, "dataset_get: ds is not initialised");
    if (i >= ds->n_windows)
        return tt_error_set(err, TT_ERR_RANGE, "window %zu out of range (%zu windows)", i,
                            ds->n_windows);
    const int *w = ds->tokens + i * (size_t)ds->stride;
    memcpy(x, w, (size_t)ds->seq_len * sizeof *x);
    memcpy(y, w + 1, (size_t)ds->seq_len * sizeof *y);
    return TT_OK;
}

struct tt_loader {
    const tt_dataset *ds;
    int B;
    bool shuffle;
    uint64_t seed;
    uint64_t epoch, pos;
    size_t *perm; /* [n_windows] order of the current epoch */
};

static void make_perm(tt_loader *l) {
    size_t n = l->ds->n_windows;
    for (size_t i = 0; i < n; i++) l->perm[i] = i;
    if (!l->shuffle) return;
    tt_rng rng;
    tt_rng_seed_stream(&rng, l->seed, l->epoch);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)tt_rng_below(&rng, (uint64_t)i + 1);
        size_t t = l->perm[i];
        l->perm[i] = l->perm[j];
        l->perm[j] = t;
    }
}

tt_status tt_loader_create(tt_loader **out, const tt_dataset *ds, int batch_size, bool shuffle,
                           uint64_t seed, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "loader output pointer is NULL");
    *out = NULL;
    if (!ds) return tt_error_set(err, TT_ERR_ARG, "loader: ds is NULL");
    if (ds->n_windows == 0 || !ds->tokens || ds->seq_len < 1 || ds->stride < 1)
        return tt_error_set(err, TT_ERR_ARG, "loader: empty or uninitialised dataset");
    if (batch_size < 1)
        return tt_error_set(err, TT_ERR_ARG, "batch_size must be >= 1, got %d", batch_size);
    tt_loader *l = calloc(1, sizeof *l);
    if (!l) return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a loader");
    l->perm = malloc(ds->n_windows * sizeof *l->perm);
    if (!l->perm) {
        free(l);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a loader");
    }
    l->ds = ds;
    l->B = batch_size;
    l->shuffle = shuffle;
    l->seed = seed;
    make_perm(l);
    *out = l;
    return TT_OK;
}

void tt_loader_free(tt_loader *l) {
    if (!l) return;
    free(l->perm);
    free(l);
}

void tt_loader_next(tt_loader *l, int *x, int *y) {
    if (!l || !x || !y) return; /* documented: does nothing */
    size_t T = (size_t)l->ds->seq_len;
    for (int b = 0; b < l->B; b++) {
        if (l->pos >= l->ds->n_windows) {
            l->epoch++;
            l->pos = 0;
            make_perm(l);
        }
        (void)tt_dataset_get(l->ds, l->perm[l->pos++], x + (size_t)b * T, y + (size_t)b * T, NULL);
    }
}

tt_loader_state tt_loader_get_state(const tt_loader *l) {
    tt_loader_state s = {0, 0};
    if (!l) return s;
    s.epoch = l->epoch;
    s.pos = l->pos;
    return s;
}

tt_status tt_loader_set_state(tt_loader *l, tt_loader_state s, tt_error *err) {
    if (!l) return tt_error_set(err, TT_ERR_ARG, "loader_set_state: l is NULL");
    if (s.pos > l->ds->n_windows)
        return tt_error_set(err, TT_ERR_ARG, "loader position %llu beyond %zu windows",
                            (unsigned long long)s.pos, l->ds->n_windows);
    l->epoch = s.epoch;
    l->pos = s.pos;
    make_perm(l);
    return TT_OK;
}

tt_status tt_data_split(size_t n, double val_fraction, size_t *n_train, tt_error *err) {
    if (!n_train) return tt_error_set(err, TT_ERR_ARG, "data_split: n_train is NULL");
    if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        return tt_error_set(err, TT_ERR_ARG, "val_fraction must be in [0, 1), got %g", val_fraction);
    size_t n_val = (size_t)floor((double)n * val_fraction);
    *n_train = n - n_val;
    return TT_OK;
}
