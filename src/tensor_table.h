/*
 * src/tensor_table.h — the model's tensors, described once (private).
 *
 * One table (src/tensor_table.c) lists every tensor of the state dict in
 * PyTorch's order: its state_dict key, its shape as config dimensions, how it
 * is initialised, whether AdamW decays it, where it lives in tt_model_weights
 * and how the generator packs it. Everything that needs the tensors reads it:
 * the model's sizes, pointers and init (src/model.c), the checkpoint writer
 * and loader (src/checkpoint.c, through the model's tt_tensor_info and
 * tt_model_tensor_entry), the generators' packer (src/gen_weights.c) and
 * `tt info --tensors`. Adding a tensor is one row here (and the field it
 * points to in tt/model.h).
 *
 * Legend: V vocabulary, C = d_model, F = d_ff, M = max_len, L layers.
 */
#ifndef TT_SRC_TENSOR_TABLE_H
#define TT_SRC_TENSOR_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "tt/model.h"

#define TT_TENSOR_NAME_MAX 64

/* A dimension, read from the config. */
typedef enum { TT_DIM_NONE = 0, TT_DIM_V, TT_DIM_C, TT_DIM_F, TT_DIM_M } tt_dim;

/* How a tensor gets its values at tt_model_create. */
typedef enum {
    TT_INIT_NORMAL,     /* N(0, 0.02): the draws run in table order from one stream of the seed */
    TT_INIT_ZERO,       /* biases, LayerNorm shifts                                             */
    TT_INIT_ONE,        /* LayerNorm scales                                                     */
    TT_INIT_SINUSOIDAL, /* a buffer computed from the config: no gradient, not saved as a
                           parameter (a checkpoint may omit it)                                 */
    TT_INIT_TIED,       /* the token embedding's memory (tie_weights): counted once; a
                           checkpoint may omit it, and must hold the same values if it has it */
} tt_tensor_init;

/* How the generator packs it (src/gen_weights.c). */
typedef enum {
    TT_PACK_NONE,     /* read as it is                                                 */
    TT_PACK_MATRIX,   /* packed by tt_gen_pack, after the previous packed matrix       */
    TT_PACK_QKV_BIAS, /* copied into the layer's [3, C] q|k|v bias row at pack_index  */
} tt_tensor_pack;

/* When a row of the table is part of a model. */
typedef enum {
    TT_WHEN_ALWAYS,
    TT_WHEN_SINUSOIDAL, /* positional == TT_POS_SINUSOIDAL */
    TT_WHEN_LEARNED,    /* positional == TT_POS_LEARNED    */
    TT_WHEN_TIED,       /* tie_weights                     */
    TT_WHEN_UNTIED,     /* !tie_weights                    */
} tt_tensor_when;

typedef struct tt_tensor_def {
    const char *name;  /* state_dict key; "%d" stands for the layer in per-layer rows */
    tt_dim rows, cols; /* cols TT_DIM_NONE: a vector of rows                         */
    tt_tensor_init init;
    bool decay;     /* AdamW weight decay applies                                  */
    bool per_layer; /* one per block, blocks.0 .. blocks.L-1                       */
    size_t field;   /* offsetof the float * in tt_layer_weights (per layer) or in
                       tt_model_weights                                            */
    tt_tensor_pack pack;
    int pack_index; /* TT_PACK_QKV_BIAS: 0 q, 1 k, 2 v                            */
    tt_tensor_when when;
} tt_tensor_def;

/* One tensor of a model: a row of the table with the config applied. */
typedef struct tt_tensor_entry {
    const tt_tensor_def *def;
    int layer; /* 0..L-1, or -1 for a model-level tensor */
    char name[TT_TENSOR_NAME_MAX];
    int ndim;
    size_t shape[2]; /* [rows, cols] or [n, 0] */
    size_t numel;
} tt_tensor_entry;

/* Calls visit for every tensor of a model of cfg (cfg valid), in state-dict
 * order. */
typedef void (*tt_tensor_visit_fn)(void *ctx, const tt_tensor_entry *t);
void tt_tensor_table_walk(const tt_model_config *cfg, tt_tensor_visit_fn visit, void *ctx);

/* The tt_model_weights (or gradients) slot of a tensor: &w->lnf_w, or
 * &w->layers[l].wq, ... (w->layers must be set). */
float **tt_tensor_slot(tt_model_weights *w, const tt_tensor_entry *t);

/* Whether the tensor has memory of its own in the parameter block. */
static inline bool tt_tensor_is_param(const tt_tensor_def *d) {
    return d->init != TT_INIT_SINUSOIDAL && d->init != TT_INIT_TIED;
}

/* "normal(0, 0.02)", "zeros", "ones", "sinusoidal", "tied". */
const char *tt_tensor_init_name(tt_tensor_init init);

#endif /* TT_SRC_TENSOR_TABLE_H */
