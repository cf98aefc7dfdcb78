/*
 * src/optim_internal.h — the optimizer's entry for tt_train (not public).
 */
#ifndef TT_SRC_OPTIM_INTERNAL_H
#define TT_SRC_OPTIM_INTERNAL_H

#include "model_internal.h"
#include "tt/optim.h"

/* tt_adamw_step with weight decay by spans of the flat parameters
 * (tt_model_decay_spans) instead of a byte per parameter, and the gradients
 * read as grads[i] * gscale (the clipping factor, 1 for none; grads are
 * left as they are): the same numbers as tt_grad_clip, then tt_adamw_step
 * with the mask those spans describe, one pass over memory less. Elements
 * outside every span are left alone. */
void tt_adamw_step_spans(tt_adamw *o, const tt_adamw_config *cfg, float lr, float *params,
                         const float *grads, const tt_decay_span *spans, size_t n_spans,
                         float gscale);

/* tt_grad_global_norm (the same value, bit for bit), its chunks shared by
 * the optimizer's team. */
float tt_adamw_grad_norm(tt_adamw *o, const float *g, size_t n);

#endif /* TT_SRC_OPTIM_INTERNAL_H */
