/*
 * The tensor table (see tensor_table.h): TinyTransformerLM's state dict, in
 * PyTorch's order, once.
 *
 * Legend: V vocabulary, C = d_model, F = d_ff, M = max_len.
 */
#include "tensor_table.h"

#include <assert.h>
#include <stdio.h>

/* model-level row */
#define ROW(name, r, c, init, decay, field, pack, when)                                            \
    {                                                                                              \
        name, TT_DIM_##r, TT_DIM_##c, TT_INIT_##init, decay, false,                                \
            offsetof(tt_model_weights, field), TT_PACK_##pack, 0, TT_WHEN_##when                   \
    }
/* per-layer row: "blocks.%d." + name */
#define LROW(name, r, c, init, decay, field, pack, pack_index)                                     \
    {                                                                                              \
        "blocks.%d." name, TT_DIM_##r, TT_DIM_##c, TT_INIT_##init, decay, true,                    \
            offsetof(tt_layer_weights, field), TT_PACK_##pack, pack_index, TT_WHEN_ALWAYS          \
    }

/* The state dict in PyTorch's order. Columns: key, rows, cols (NONE: a
 * vector), init, decay, the tt_model_weights / tt_layer_weights field, packing,
 * then when the row applies (model level) or the q|k|v bias slot (per layer). */
static const tt_tensor_def TABLE[] = {
    ROW("embedding.token_embedding.embedding.weight", V, C, NORMAL, true, tok_emb, NONE, ALWAYS),
    ROW("embedding.positional_encoding.pe", M, C, SINUSOIDAL, false, pos, NONE, SINUSOIDAL),
    ROW("embedding.positional_encoding.position_embeddings.weight", M, C, NORMAL, true, pos, NONE,
        LEARNED),
    LROW("self_attn.W_q.weight", C, C, NORMAL, true, wq, MATRIX, 0),
    LROW("self_attn.W_q.bias", C, NONE, ZERO, false, bq, QKV_BIAS, 0),
    LROW("self_attn.W_k.weight", C, C, NORMAL, true, wk, MATRIX, 0),
    LROW("self_attn.W_k.bias", C, NONE, ZERO, false, bk, QKV_BIAS, 1),
    LROW("self_attn.W_v.weight", C, C, NORMAL, true, wv, MATRIX, 0),
    LROW("self_attn.W_v.bias", C, NONE, ZERO, false, bv, QKV_BIAS, 2),
    LROW("self_attn.W_o.weight", C, C, NORMAL, true, wo, MATRIX, 0),
    LROW("self_attn.W_o.bias", C, NONE, ZERO, false, bo, NONE, 0),
    LROW("feed_forward.fc1.weight", F, C, NORMAL, true, fc1_w, MATRIX, 0),
    LROW("feed_forward.fc1.bias", F, NONE, ZERO, false, fc1_b, NONE, 0),
    LROW("feed_forward.fc2.weight", C, F, NORMAL, true, fc2_w, MATRIX, 0),
    LROW("feed_forward.fc2.bias", C, NONE, ZERO, false, fc2_b, NONE, 0),
    LROW("norm1.weight", C, NONE, ONE, false, ln1_w, NONE, 0),
    LROW("norm1.bias", C, NONE, ZERO, false, ln1_b, NONE, 0),
    LROW("norm2.weight", C, NONE, ONE, false, ln2_w, NONE, 0),
    LROW("norm2.bias", C, NONE, ZERO, false, ln2_b, NONE, 0),
    ROW("ln_f.weight", C, NONE, ONE, false, lnf_w, NONE, ALWAYS),
    ROW("ln_f.bias", C, NONE, ZERO, false, lnf_b, NONE, ALWAYS),
    ROW("lm_head.weight", V, C, TIED, true, lm_head, MATRIX, TIED),
    ROW("lm_head.weight", V, C, NORMAL, true, lm_head, MATRIX, UNTIED),
};
#define N_ROWS (sizeof TABLE / sizeof TABLE[0])

static size_t dim(const tt_model_config *c, tt_dim d) {
    switch (d) {
    case TT_DIM_V: return (size_t)c->vocab_size;
    case TT_DIM_C: return (size_t)c->d_model;
    case TT_DIM_F: return (size_t)c->d_ff;
    case TT_DIM_M: return (size_t)c->max_len;
    default: return 0;
    }
}

static bool present(const tt_model_config *c, tt_tensor_when w) {
    switch (w) {
    case TT_WHEN_SINUSOIDAL: return c->positional == TT_POS_SINUSOIDAL;
    case TT_WHEN_LEARNED: return c->positional == TT_POS_LEARNED;
    case TT_WHEN_TIED: return c->tie_weights;
    case TT_WHEN_UNTIED: return !c->tie_weights;
    default: return true;
    }
}

static void visit_row(const tt_model_config *c, const tt_tensor_def *d, int layer,
                      tt_tensor_visit_fn visit, void *ctx) {
    tt_tensor_entry t;
    t.def = d;
    t.layer = layer;
    if (d->per_layer)
        snprintf(t.name, sizeof t.name, d->name, layer);
    else
        snprintf(t.name, sizeof t.name, "%s", d->name);
    t.ndim = d->cols == TT_DIM_NONE ? 1 : 2;
    t.shape[0] = dim(c, d->rows);
    t.shape[1] = dim(c, d->cols);
    t.numel = t.ndim == 2 ? t.shape[0] * t.shape[1] : t.shape[0];
    visit(ctx, &t);
}

void tt_tensor_table_walk(const tt_model_config *c, tt_tensor_visit_fn visit, void *ctx) {
    for (size_t i = 0; i < N_ROWS;) {
        if (!TABLE[i].per_layer) {
            if (present(c, TABLE[i].when)) visit_row(c, &TABLE[i], -1, visit, ctx);
            i++;
            continue;
        }
        size_t end = i; /* the per-layer rows are adjacent: one block's tensors */
        while (end < N_ROWS && TABLE[end].per_layer)
            end++;
        for (int l = 0; l < c->n_layers; l++)
            for (size_t j = i; j < end; j++)
                visit_row(c, &TABLE[j], l, visit, ctx);
        i = end;
    }
}

float **tt_tensor_slot(tt_model_weights *w, const tt_tensor_entry *t) {
    assert(t->def->per_layer == (t->layer >= 0));
    char *base = t->def->per_layer ? (char *)&w->layers[t->layer] : (char *)w;
    return (float **)(void *)(base + t->def->field);
}

const char *tt_tensor_init_name(tt_tensor_init init) {
    switch (init) {
    case TT_INIT_NORMAL: return "normal(0, 0.02)";
    case TT_INIT_ZERO: return "zeros";
    case TT_INIT_ONE: return "ones";
    case TT_INIT_SINUSOIDAL: return "sinusoidal";
    case TT_INIT_TIED: return "tied";
    }
    return "unknown";
}
