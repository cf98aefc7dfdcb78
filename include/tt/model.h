/*
 * tt/model.h — TinyTransformerLM: a GPT-style, pre-LayerNorm decoder, exactly
 * the architecture of the PyTorch teaching package (see docs/architecture.md).
 *
 * Dimension legend (as in llm.c): B batch, T time (sequence), C = d_model,
 * V vocabulary, L layers, NH heads, hs = C / NH head size, F = d_ff.
 *
 *     tt_model_config cfg;
 *     tt_model_config_preset("tiny", 65, &cfg, &err);
 *     tt_model *m;
 *     tt_model_create(&m, &cfg, 1337, &err);
 *     float loss;
 *     tt_model_forward(m, tokens, targets, B, T, TT_MODE_TRAIN, &rng, &loss, &err);
 *     tt_model_zero_grad(m);
 *     tt_model_backward(m, &err);
 *     ... optimizer step over tt_model_params_flat / tt_model_grads_flat ...
 *     tt_model_free(m);
 *
 * Weights are float32 and laid out as PyTorch does (a Linear weight is
 * [out, in]), so a safetensors checkpoint is a byte-for-byte copy.
 *
 * Thread safety: a tt_model owns activation buffers; forward/backward calls on
 * one model must not overlap. Weights may be read concurrently by other code
 * (e.g. a generator) while no training step runs.
 *
 * Threads: a model runs each forward and backward on a team of its own
 * (tt_model_set_threads; default 0 = auto: OMP_NUM_THREADS when set, else
 * every CPU the process may use), started at the first pass that uses more
 * than one thread: the calling thread and n - 1 workers that spin briefly,
 * then sleep, between passes (they take no CPU time while the model is
 * idle). Each thread multiplies its own block of rows with the library's
 * single-threaded matrix products (no BLAS, no OpenMP). Nothing
 * process-wide is read or changed except that variable. Results are
 * identical for a seed whatever the thread count.
 *
 * NULL: getters return 0 / NULL for a NULL model; tt_model_free and
 * tt_model_zero_grad do nothing.
 */
#ifndef TT_MODEL_H
#define TT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "tt/common.h"
#include "tt/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TT_POS_SINUSOIDAL = 0, TT_POS_LEARNED = 1 } tt_positional;

typedef struct {
    int vocab_size; /* V  */
    int d_model;    /* C  */
    int n_heads;    /* NH */
    int n_layers;   /* L  */
    int d_ff;       /* F  */
    int max_len;    /* longest sequence (positions) */
    float dropout;  /* in [0, 1) */
    tt_positional positional;
    bool tie_weights; /* lm_head shares the token embedding */
} tt_model_config;

/* Presets: tiny (128, 4, 4, 512, 512, 0.1), small (256, 8, 6, 1024, 1024, 0.1),
 * medium (512, 8, 8, 2048, 1024, 0.1), large (768, 12, 12, 3072, 2048, 0.1);
 * sinusoidal positions, tied weights.
 * @return TT_OK or TT_ERR_ARG (unknown name: the message lists the valid ones). */
TT_API tt_status tt_model_config_preset(const char *name, int vocab_size, tt_model_config *out,
                                        tt_error *err);
/* Comma-separated preset names, "tiny,small,medium,large". */
TT_API const char *tt_model_preset_names(void);

/* Checks every field (positive sizes, C % NH == 0, C even for sinusoidal,
 * dropout in [0,1)). @return TT_OK or TT_ERR_ARG naming the field. */
TT_API tt_status tt_model_config_validate(const tt_model_config *cfg, tt_error *err);

/* Trainable parameters (a tied weight counted once; the sinusoidal table is a
 * buffer, not a parameter). tiny at V = 65: 801,664. 0 for a NULL or invalid
 * cfg. */
TT_API size_t tt_model_config_num_params(const tt_model_config *cfg);

/* Pointers into the parameter block for one block (layer). */
typedef struct {
    float *ln1_w, *ln1_b; /* [C]     norm1                */
    float *wq, *bq;       /* [C, C], [C] self_attn.W_q     */
    float *wk, *bk;       /* [C, C], [C] self_attn.W_k     */
    float *wv, *bv;       /* [C, C], [C] self_attn.W_v     */
    float *wo, *bo;       /* [C, C], [C] self_attn.W_o     */
    float *ln2_w, *ln2_b; /* [C]     norm2                */
    float *fc1_w, *fc1_b; /* [F, C], [F] feed_forward.fc1  */
    float *fc2_w, *fc2_b; /* [C, F], [C] feed_forward.fc2  */
} tt_layer_weights;

typedef struct {
    float *tok_emb;           /* [V, C] token embedding (unscaled)                 */
    float *pos;               /* [max_len, C] sinusoidal buffer or learned table   */
    tt_layer_weights *layers; /* [L]                                               */
    float *lnf_w, *lnf_b;     /* [C] final LayerNorm                               */
    float *lm_head;           /* [V, C]; == tok_emb when tied                      */
} tt_model_weights;

/* One named tensor of the state dict, as PyTorch names it. */
typedef struct {
    const char *name;  /* e.g. "blocks.0.self_attn.W_q.weight"                    */
    int ndim;          /* 1 or 2                                                  */
    size_t shape[2];   /* [rows, cols] or [n, 0]                                  */
    size_t numel;
    float *data;       /* into the model's memory                                 */
    float *grad;       /* NULL for buffers (the sinusoidal table)                 */
    bool decay;        /* AdamW weight decay applies (weight matrices, embeddings) */
} tt_tensor_info;

typedef enum { TT_MODE_EVAL = 0, TT_MODE_TRAIN = 1 } tt_mode;

/* How a model was trained, as its checkpoint records it (docs/file-formats.md:
 * train_seq_len, train_steps, train_tokens, train_val_loss, train_data_sha256).
 * Every field is optional; the "unknown" value of each is given. tt_train
 * keeps it current; checkpoints save and load it. */
typedef struct {
    int seq_len;          /* training window T (<= max_len); 0 = unknown        */
    long long steps;      /* optimizer steps so far; 0 = unknown               */
    long long tokens;     /* tokens trained on (steps x batch x seq_len); 0 = unknown */
    float val_loss;       /* validation loss of these weights; NaN = not measured */
    char data_sha256[65]; /* SHA-256 of the training data, 64 lowercase hex; "" = unknown */
} tt_train_info;

/* Everything unknown (0, 0, 0, NaN, ""). */
TT_API tt_train_info tt_train_info_unknown(void);

typedef struct tt_model tt_model;

/* Allocates a model and initialises it like the teaching package: N(0, 0.02)
 * for weights and embeddings (from `seed`), zero biases, LayerNorm 1/0, the
 * sinusoidal table computed in float32.
 * @return TT_OK, TT_ERR_ARG (invalid config), TT_ERR_NOMEM. */
TT_API tt_status tt_model_create(tt_model **out, const tt_model_config *cfg,
                                 unsigned long long seed, tt_error *err);
/* NULL-safe. */
TT_API void tt_model_free(tt_model *m);

TT_API const tt_model_config *tt_model_get_config(const tt_model *m);
/* Borrowed pointers into the model's parameter memory. */
TT_API const tt_model_weights *tt_model_weights_get(const tt_model *m);

/* The state-dict tensors in PyTorch's order. The table is described once and
 * drives sizes, pointers, checkpoint names and optimizer groups. */
TT_API size_t tt_model_num_tensors(const tt_model *m);
/* @return TT_OK or TT_ERR_RANGE (i out of range, and also NULL m or out).
 * Pointers stay valid for the model's life. */
TT_API tt_status tt_model_tensor(const tt_model *m, size_t i, tt_tensor_info *out);
/* Finds a tensor by its state-dict name. @return TT_OK or TT_ERR_RANGE (no
 * such name, and also NULL m, name or out). */
TT_API tt_status tt_model_tensor_by_name(const tt_model *m, const char *name, tt_tensor_info *out);
/* How tensor i gets its values, from the same table: "normal(0, 0.02)",
 * "zeros" or "ones" (a parameter, so initialised by tt_model_create),
 * "sinusoidal" (a buffer computed from the config) or "tied" (the token
 * embedding's memory). Static string; NULL when m is NULL or i out of range. */
TT_API const char *tt_model_tensor_init(const tt_model *m, size_t i);

/* All trainable parameters in one contiguous block (and their gradients in
 * another of the same size), so that an optimizer is one flat loop.
 * The pointer is writable; whoever writes weights through it (or through
 * tt_model_tensor) must call tt_model_weights_changed before the model's
 * next generation (tt_train, tt_model_copy_weights and checkpoint loading
 * do it themselves). */
TT_API size_t tt_model_num_params(const tt_model *m);
TT_API float *tt_model_params_flat(tt_model *m);
TT_API float *tt_model_grads_flat(tt_model *m);
/* decay_mask [num_params]: 1 where weight decay applies. Borrowed. */
TT_API const unsigned char *tt_model_decay_mask(const tt_model *m);

/* Forward pass over tokens [B, T] (row-major ids in [0, V)), T <= max_len.
 * targets [B, T] may be NULL; when given, *loss (may be NULL) receives the
 * mean cross-entropy. TT_MODE_TRAIN applies dropout with `rng` (may be NULL
 * when dropout is 0 or mode is EVAL) and keeps activations for backward.
 * @return TT_OK, TT_ERR_ARG (shape), TT_ERR_RANGE (id >= V or < 0),
 * TT_ERR_NOMEM. */
TT_API tt_status tt_model_forward(tt_model *m, const int *tokens, const int *targets, int B, int T,
                                  tt_mode mode, tt_rng *rng, float *loss, tt_error *err);
/* Logits [B, T, V] of the last forward. Borrowed; valid until the next forward. */
TT_API const float *tt_model_logits(const tt_model *m);

/* Backward of the last TT_MODE_TRAIN forward with targets: ACCUMULATES
 * d(mean loss)/d(param) into the gradient block.
 * @return TT_OK or TT_ERR_STATE (no suitable forward). */
TT_API tt_status tt_model_backward(tt_model *m, tt_error *err);
TT_API void tt_model_zero_grad(tt_model *m);

/* The model's training record (tt_train_info_unknown() for a fresh model).
 * Borrowed; NULL for a NULL model. */
TT_API const tt_train_info *tt_model_train_info(const tt_model *m);
/* Replaces the training record. @return TT_OK or TT_ERR_ARG (NULL m or info;
 * seq_len < 0 or > max_len; steps or tokens < 0; val_loss infinite; a
 * data_sha256 that is neither "" nor 64 lowercase hex digits). */
TT_API tt_status tt_model_set_train_info(tt_model *m, const tt_train_info *info, tt_error *err);
/* The context a generator and an evaluation use by default: the training
 * window (seq_len) when the model records it, else max_len. 0 for NULL. */
TT_API int tt_model_default_context(const tt_model *m);

/* Copies parameters (and the positional table) from src, which must have an
 * identical config. @return TT_OK or TT_ERR_ARG. */
TT_API tt_status tt_model_copy_weights(tt_model *dst, const tt_model *src, tt_error *err);

/* Tells the model its weights were changed in place (an optimizer step over
 * tt_model_params_flat, a write through tt_model_tensor): the generators'
 * packed copy of the weights, built once per model on first use and shared
 * by all its generators, is dropped and rebuilt at the next generation.
 * Call it after writing and before generating; weights must not change
 * while a generator of the model runs. A generator that is running keeps
 * the copy it started with. Thread-safe; NULL-safe. */
TT_API void tt_model_weights_changed(tt_model *m);

/* Threads for the model's forward and backward passes: n_threads 0 = auto
 * (OMP_NUM_THREADS when set to a positive number, else the CPUs this process
 * may run on), else 1..256. The model's team is stopped and a new one
 * started at the next pass that uses more than one thread; if it cannot
 * start, passes run on the calling thread (same results). A backward runs
 * on one thread when the threads grew since its forward.
 * @return TT_OK or TT_ERR_ARG (NULL m, n_threads out of range). */
TT_API tt_status tt_model_set_threads(tt_model *m, int n_threads, tt_error *err);
/* The threads the next pass uses (the setting, auto resolved); 0 for NULL. */
TT_API int tt_model_threads(const tt_model *m);

/* Bytes of activation memory a forward/backward of [B, T] needs; 0 for a
 * NULL or invalid cfg or B, T < 1. */
TT_API size_t tt_model_activation_bytes(const tt_model_config *cfg, int B, int T);

#ifdef __cplusplus
}
#endif
#endif /* TT_MODEL_H */
