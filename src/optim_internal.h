/*
 * src/optim_internal.h — the optimizer's entry for tt_train (not public).
 */
#ifndef TT_SRC_OPTIM_INTERNAL_H
#define TT_SRC_OPTIM_INTERNAL_H

#include "model_internal.h"
#include "tt/optim.h"

/* tt_adamw_step with weight decay by spans of the flat parameters
 * (tt_model_decay_spans) instead of a byte per parameter: the same numbers
 * as tt_adamw_step with the mask those spans describe. Elements outside
 * every span are left alone. */
void tt_adamw_step_spans(tt_adamw *o, const tt_adamw_config *cfg, float lr, float *params,
                         const float *grads, const tt_decay_span *spans, size_t n_spans);

#endif /* TT_SRC_OPTIM_INTERNAL_H */
