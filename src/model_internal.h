/*
 * src/model_internal.h — the model's private layout and its layer kernels.
 *
 * Dimension legend (as in llm.c): B batch, T time, C = d_model, V vocabulary,
 * L layers, NH heads, hs = C / NH, F = d_ff, N = B * T rows.
 *
 * The layer kernels have their own header, src/model_kernels.h (included
 * here, so tests/test_gradcheck.c reaches them through this one).
 */
#ifndef TT_MODEL_INTERNAL_H
#define TT_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model_kernels.h"
#include "tt/model.h"

/* As tt_model_create, but the parameters are left uninitialised (the
 * sinusoidal buffer is computed): for a loader that overwrites every one. */
tt_status tt_model_create_uninit(tt_model **out, const tt_model_config *cfg, tt_error *err);

/* Tensor i of tt_model_tensor as the tensor table (src/tensor_table.h)
 * describes it: its row (init: parameter, computed buffer or tied alias;
 * packing) and layer. Borrowed; NULL when i is out of range. */
struct tt_tensor_entry;
const struct tt_tensor_entry *tt_model_tensor_entry(const tt_model *m, size_t i);

/* ---- data-parallel training (src/train.c with a tt_dist) -------------------
 * The next training forwards treat their B rows as rows b0 .. b0 + B - 1 of a
 * larger batch: dropout masks are drawn as a forward of the whole batch would
 * draw them for those rows. 0 (the default) is a batch of its own. */
void tt_model_set_row_offset(tt_model *m, size_t b0);
/* Called by tt_model_backward_hooked when grads[lo..hi) (flat indices) are
 * final for this backward: after the head (ln_f, an untied lm_head), after
 * each block from the last to the first, and after the embeddings, in
 * descending, adjacent ranges. Runs on the calling thread, between kernels. */
/* Weight decay by spans of the flat parameters, from the tensor table: what
 * tt_model_decay_mask says element by element, without its n_params bytes
 * (training never touches the mask's pages). Tensor t (0 <= t <
 * tt_model_decay_span_count) gives its span, or false when it has no memory
 * of its own in params (the sinusoidal buffer, a tied head). */
typedef struct {
    size_t off, len;
    bool decay;
} tt_decay_span;
size_t tt_model_decay_span_count(const tt_model *m);
bool tt_model_decay_spans(const tt_model *m, tt_decay_span *span, size_t t);

typedef void (*tt_grad_ready_fn)(void *user, size_t lo, size_t hi);
/* The model's threads setting as given (0 = auto), to restore it. */
int tt_model_threads_setting(const tt_model *m);
/* tt_model_backward with ready() (may be NULL) called as ranges complete. */
tt_status tt_model_backward_hooked(tt_model *m, tt_grad_ready_fn ready, void *user, tt_error *err);


#endif /* TT_MODEL_INTERNAL_H */
