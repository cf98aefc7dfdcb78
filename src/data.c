/* Token windows, the seeded batch loader and the split; see tt/data.h. */
#include "tt/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "tt/rng.h"

int tt_token_width(int vocab_size) { return vocab_size <= 256 ? 1 : vocab_size <= 65536 ? 2 : 4; }

tt_status tt_tokens_pack(const int *ids, size_t n, int width, tt_token_view *out, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "tokens_pack: out is NULL");
    memset(out, 0, sizeof *out);
    if (!ids && n) return tt_error_set(err, TT_ERR_ARG, "tokens_pack: ids is NULL (n = %zu)", n);
    if (width != 1 && width != 2 && width != 4)
        return tt_error_set(err, TT_ERR_ARG, "tokens_pack: width must be 1, 2 or 4, got %d", width);
    const long long hi = width == 1 ? 255 : width == 2 ? 65535 : 2147483647;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] > hi)
            return tt_error_set(err, TT_ERR_RANGE, "tokens_pack: id %d at %zu does not fit %d byte%s", ids[i],
                                i, width, width == 1 ? "" : "s");
    void *d = malloc((n ? n : 1) * (size_t)width);
    if (!d) return tt_error_set(err, TT_ERR_NOMEM, "out of memory packing %zu token ids", n);
    for (size_t i = 0; i < n; i++) {
        if (width == 1) ((uint8_t *)d)[i] = (uint8_t)ids[i];
        else if (width == 2) ((uint16_t *)d)[i] = (uint16_t)ids[i];
        else ((int *)d)[i] = ids[i];
    }
    out->ids = d;
    out->n = n;
    out->width = width;
    return TT_OK;
}

int tt_token_at(const tt_token_view *v, size_t i) {
    switch (v->width) {
    case 1: return ((const uint8_t *)v->ids)[i];
    case 2: return ((const uint16_t *)v->ids)[i];
    default: return ((const int *)v->ids)[i];
    }
}

tt_status tt_windows_init(tt_windows *w, const tt_token_view *v, int seq_len, int stride, tt_error *err) {
    memset(w, 0, sizeof *w);
    if (!v || (!v->ids && v->n)) return tt_error_set(err, TT_ERR_ARG, "dataset_init: tokens is NULL");
    if (v->width != 1 && v->width != 2 && v->width != 4)
        return tt_error_set(err, TT_ERR_ARG, "token view: width must be 1, 2 or 4, got %d", v->width);
    if (seq_len < 1) return tt_error_set(err, TT_ERR_ARG, "seq_len must be >= 1, got %d", seq_len);
    if (stride < 1) return tt_error_set(err, TT_ERR_ARG, "stride must be >= 1, got %d", stride);
    if (v->n < (size_t)seq_len + 1)
        return tt_error_set(err, TT_ERR_ARG,
                            "not enough tokens (%zu) for one window of seq_len %d + 1 target", v->n,
                            seq_len);
    w->v = *v;
    w->seq_len = seq_len;
    w->stride = stride;
    w->n_windows = (v->n - ((size_t)seq_len + 1)) / (size_t)stride + 1;
    return TT_OK;
}

void tt_windows_get(const tt_windows *w, size_t i, int *x, int *y) {
    const size_t at = i * (size_t)w->stride, T = (size_t)w->seq_len;
    if (w->v.width == 4) {
        const int *t = (const int *)w->v.ids + at;
        memcpy(x, t, T * sizeof *x);
        memcpy(y, t + 1, T * sizeof *y);
        return;
    }
    for (size_t t = 0; t < T; t++) {
        x[t] = tt_token_at(&w->v, at + t);
        y[t] = tt_token_at(&w->v, at + t + 1);
    }
}

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
    tt_windows w; /* the dataset's windows (a copy of the view; the tokens are borrowed) */
    int B;
    bool shuffle;
    uint64_t seed;
    uint64_t epoch, pos;
    size_t *perm; /* [n_windows] order of the current epoch */
};

static void make_perm(tt_loader *l) {
    size_t n = l->w.n_windows;
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
    tt_windows w;
    w.v.ids = ds->tokens;
    w.v.n = ds->n;
    w.v.width = 4;
    w.seq_len = ds->seq_len;
    w.stride = ds->stride;
    w.n_windows = ds->n_windows;
    return tt_loader_create_windows(out, &w, batch_size, shuffle, seed, err);
}

tt_status tt_loader_create_windows(tt_loader **out, const tt_windows *ds, int batch_size, bool shuffle,
                                   uint64_t seed, tt_error *err) {
    *out = NULL;
    if (batch_size < 1)
        return tt_error_set(err, TT_ERR_ARG, "batch_size must be >= 1, got %d", batch_size);
    tt_loader *l = calloc(1, sizeof *l);
    if (!l) return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a loader");
    l->perm = malloc(ds->n_windows * sizeof *l->perm);
    if (!l->perm) {
        free(l);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a loader");
    }
    l->w = *ds;
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
    size_t T = (size_t)l->w.seq_len;
    for (int b = 0; b < l->B; b++) {
        if (l->pos >= l->w.n_windows) {
            l->epoch++;
            l->pos = 0;
            make_perm(l);
        }
        tt_windows_get(&l->w, l->perm[l->pos++], x + (size_t)b * T, y + (size_t)b * T);
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
    if (s.pos > l->w.n_windows)
        return tt_error_set(err, TT_ERR_ARG, "loader position %llu beyond %zu windows",
                            (unsigned long long)s.pos, l->w.n_windows);
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
