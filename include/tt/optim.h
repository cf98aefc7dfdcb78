/*
 * tt/optim.h — AdamW over one flat parameter block, and global-norm gradient
 * clipping, computed as PyTorch's torch.optim.AdamW and clip_grad_norm_ do.
 *
 *     tt_adamw *opt;
 *     tt_adamw_create(&opt, tt_model_num_params(m), &err);
 *     float norm = tt_grad_clip(grads, n, 1.0f);          // pre-clip norm
 *     tt_adamw_config oc = tt_adamw_config_default();
 *     tt_adamw_step(opt, &oc, lr, params, grads, tt_model_decay_mask(m));
 *
 * One step t (1-based) for every element i, with decay d_i = mask[i] ? wd : 0:
 *     p -= lr * d_i * p
 *     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
 *     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Every element is independent, so the result does not depend on the thread
 * count. Threads: an optimizer runs its steps on a team of its own
 * (tt_adamw_set_threads; default 0 = auto, as tt_model_set_threads), started
 * at its first step on more than one thread. Thread safety: one optimizer
 * per parameter block; not shared.
 */
#ifndef TT_OPTIM_H
#define TT_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t struct_size;  /* sizeof this struct, set by tt_adamw_config_default(): keep it
                            (docs/embedding.md#abi-policy) */
    float beta1, beta2;  /* 0.9, 0.95 */
    float eps;           /* 1e-8      */
    float weight_decay;  /* 0.01      */
} tt_adamw_config;

TT_API tt_adamw_config tt_adamw_config_default(void);

typedef struct tt_adamw tt_adamw;

/* Moments of n parameters, zeroed; step count 0.
 * @return TT_OK, TT_ERR_ARG (NULL out, n == 0), TT_ERR_NOMEM. */
TT_API tt_status tt_adamw_create(tt_adamw **out, size_t n, tt_error *err);
/* NULL-safe. */
TT_API void tt_adamw_free(tt_adamw *o);

/* One AdamW step at learning rate lr: params [n] updated in place from
 * grads [n]; decay_mask [n] (NULL: decay everything) selects weight decay.
 * When o, cfg, params or grads is NULL, or cfg's struct_size is not one this
 * library reads (the config was not made by tt_adamw_config_default()), it
 * does nothing (the step count does not advance). The config is not validated here
 * (tt_train_config_validate does that for training runs). */
TT_API void tt_adamw_step(tt_adamw *o, const tt_adamw_config *cfg, float lr, float *params,
                          const float *grads, const unsigned char *decay_mask);

/* Threads for the steps: n_threads 0 = auto (OMP_NUM_THREADS when set to a
 * positive number, else the CPUs this process may run on), else 1..256; the
 * team is restarted at the next step. A team that cannot start leaves the
 * steps on the calling thread (same results).
 * @return TT_OK or TT_ERR_ARG (NULL o, n_threads out of range). */
TT_API tt_status tt_adamw_set_threads(tt_adamw *o, int n_threads, tt_error *err);

/* n; 0 for a NULL optimizer. */
TT_API size_t tt_adamw_size(const tt_adamw *o);
/* Steps taken so far (t of the last step); 0 for a NULL optimizer. */
TT_API int64_t tt_adamw_step_count(const tt_adamw *o);
/* The moment vectors [n] (borrowed; writable for restoring a saved state);
 * NULL for a NULL optimizer. */
TT_API float *tt_adamw_m(tt_adamw *o);
TT_API float *tt_adamw_v(tt_adamw *o);
/* Sets the step count (when restoring moments). NULL o: does nothing. */
TT_API void tt_adamw_set_step_count(tt_adamw *o, int64_t t);

/* Global L2 norm of g [n], accumulated in double in a fixed order.
 * 0 when g is NULL or n == 0. */
TT_API float tt_grad_global_norm(const float *g, size_t n);
/* Scales g by max_norm / (norm + 1e-6) when that is < 1 (as clip_grad_norm_);
 * max_norm <= 0 only measures. @return the norm before clipping; 0 (and
 * nothing touched) when g is NULL or n == 0. */
TT_API float tt_grad_clip(float *g, size_t n, float max_norm);

#ifdef __cplusplus
}
#endif
#endif /* TT_OPTIM_H */
