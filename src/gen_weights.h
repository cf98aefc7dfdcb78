/*
 * src/gen_weights.h — the generators' packed weights, one copy per model
 * (private).
 *
 * The generator's kernels read each weight matrix packed by tt_gen_pack
 * (src/generate_internal.h). The packed copy is built once, on the first
 * generation after the model's weights last changed, under the model's
 * lock, and shared read-only by every generator (and thread) of the model:
 * a reference-counted object that the model holds until
 * tt_model_weights_changed drops it; a generator holds the one it runs on
 * and swaps it for the model's current one at the start of each call.
 *
 * Layout: the tensor table's TT_PACK_MATRIX rows one after another in table
 * order; `packed` points at each (packed.layers[l].wq, ..., packed.lm_head,
 * set through the table's slots, so the decoder never computes an offset);
 * bqkv [L, 3C] the q/k/v biases side by side. The fused q|k|v product needs
 * wq, wk, wv adjacent in that order: the packer asserts it.
 */
#ifndef TT_SRC_GEN_WEIGHTS_H
#define TT_SRC_GEN_WEIGHTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "tt/common.h"
#include "tt/model.h"

struct tt_model;
struct tt_team;

typedef struct tt_gen_weights {
    atomic_int refs; /* holders: the model and generators */
    float *wp;       /* the packed matrices                        */
    float *bqkv;     /* [L, 3C] or NULL without biases              */
    size_t bytes;    /* of wp and bqkv                              */
    tt_model_weights packed; /* the packed matrices' places in wp, by the
                                tensor table (layers [L]); the fields of
                                tensors that are not packed are NULL */
} tt_gen_weights;

/* Makes *held the model's current packed weights (building them, on team
 * when it is usable, if the model has none), releasing what *held had.
 * @return TT_OK or TT_ERR_NOMEM (then *held is unchanged). */
tt_status tt_gen_weights_use(const struct tt_model *m, tt_gen_weights **held, struct tt_team *team,
                             tt_error *err);

/* Whether the model has packed weights now (so tt_gen_weights_use would
 * not build them: no team is needed for it). A hint: another thread may
 * drop them right after. */
bool tt_gen_weights_packed(const struct tt_model *m);

/* Drops one reference (NULL-safe); the last frees it. */
void tt_gen_weights_release(tt_gen_weights *w);

/* The model's slot for its packed weights, locked (src/model.c); unlock
 * with tt_model_gen_weights_unlock. */
tt_gen_weights **tt_model_gen_weights_lock(const struct tt_model *m);
void tt_model_gen_weights_unlock(const struct tt_model *m);
/* How many times the weights changed; read with the slot locked. */
unsigned long tt_model_gen_weights_epoch(const struct tt_model *m);

#endif /* TT_SRC_GEN_WEIGHTS_H */
