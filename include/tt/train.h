/*
 * tt/train.h — training a model on a token stream with AdamW, warmup + cosine
 * decay, gradient clipping, periodic validation and checkpoints.
 *
 *     tt_train_config tc = tt_train_config_default();
 *     tc.seq_len = 64; tc.batch_size = 12; tc.max_steps = 2000;
 *     tc.out_path = "model.safetensors";
 *     tt_train_result res;
 *     tt_train(model, tok, train_ids, n_train, val_ids, n_val, &tc, on_progress, NULL, &res, &err);
 *
 * Schedule: linear warmup from lr/warmup (the first step is not at lr 0) to lr,
 * then cosine decay to 0.1 * lr at max_steps; warmup is capped at
 * max_steps / 10 when it would not fit (tt_train_result.warmup_capped).
 * AdamW: betas 0.9/0.95, eps 1e-8, weight decay only on weight matrices and
 * embeddings. With out_path set, the checkpoint is rewritten atomically every
 * save_interval steps and at the end, the best-validation one is kept as
 * NAME.best.safetensors, and the training state for resuming (AdamW moments,
 * step, RNG and loader state) beside it as NAME.state.
 * The model's training record (tt_model_train_info: seq_len, steps, tokens =
 * steps x batch_size x seq_len, the validation loss of the saved weights,
 * data_sha256) is kept current and written into every checkpoint; a resumed
 * run continues the counts.
 * Thread safety: one training run per model at a time.
 */
#ifndef TT_TRAIN_H
#define TT_TRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "tt/common.h"
#include "tt/data.h"
#include "tt/dist.h"
#include "tt/model.h"
#include "tt/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t struct_size;  /* sizeof this struct, set by tt_train_config_default(): keep it
                            (docs/embedding.md#abi-policy) */
    int seq_len;         /* 64                                   */
    int batch_size;      /* 12                                   */
    int max_steps;       /* 1000, >= 1                           */
    float learning_rate; /* 1e-3                                 */
    float weight_decay;  /* 0.01                                 */
    float beta1, beta2;  /* 0.9, 0.95                            */
    float eps;           /* 1e-8                                 */
    float grad_clip;     /* 1.0; 0 = off                         */
    int warmup_steps;    /* 100                                  */
    int log_interval;    /* 100                                  */
    int eval_interval;   /* 500; 0 = only at the end             */
    int eval_batches;    /* 20 batches of validation per eval    */
    int save_interval;   /* 1000; 0 = only at the end            */
    unsigned long long seed; /* 1337: shuffling and dropout      */
    const char *out_path;    /* NULL: no checkpoints             */
    const char *resume_path; /* NULL: fresh start                */
    tt_dist *dist;           /* NULL: this process alone. Else data-parallel over its processes:
                              * batch_size is the global batch (divisible by their number), every
                              * rank passes the same data and config, rank 0 alone writes files
                              * (docs/distributed.md) */
    const char *data_sha256; /* NULL, or the training data's SHA-256 (64 hex
                                digits), recorded in the checkpoints */
    int n_threads;           /* 0 = auto (OMP_NUM_THREADS when set, else every CPU the process
                              * may use), else 1..256: the model's and the optimizer's threads
                              * for the run (tt_model_set_threads; the model's own setting is
                              * restored when tt_train returns) */
} tt_train_config;

TT_API tt_train_config tt_train_config_default(void);
/* @return TT_OK or TT_ERR_ARG naming the field (or "NULL train config"). */
TT_API tt_status tt_train_config_validate(const tt_train_config *tc, tt_error *err);

/* What a progress callback sees after each step. */
typedef struct {
    int step;            /* 1-based, just completed    */
    int max_steps;
    float loss;          /* this step's training loss  */
    float lr;            /* lr used for this step      */
    float grad_norm;     /* before clipping            */
    double tokens_per_s; /* since the run started      */
    double elapsed_s;
    double eta_s;
    bool is_log_step;    /* step % log_interval == 0 or last step */
    bool has_val;        /* val_loss computed at this step */
    float val_loss;
} tt_train_progress;

/* Called after every step; return non-zero to stop (the run then saves and
 * returns TT_ERR_INTERRUPTED, even when that step was the last). The value
 * is reported in tt_train_result.stop_request (with a dist: the largest
 * over the processes, e.g. a signal number). */
typedef int (*tt_train_callback)(void *user, const tt_train_progress *p);

typedef struct {
    int steps_done;
    float final_loss;      /* last training loss          */
    float final_val_loss;  /* NaN when no validation data */
    float best_val_loss;   /* NaN when no validation data */
    bool warmup_capped;
    int warmup_used;
    double seconds;
    double tokens_per_s;   /* global: every process's tokens */
    int start_step;        /* the step the run started from (0, or the resumed step); it ran
                              steps start_step + 1 .. steps_done */
    bool saved;            /* out_path (and its state) written by this call */
    bool best_saved;       /* NAME.best.safetensors written by this call */
    double comm_seconds;   /* time this process spent in collectives (0 alone) */
    int stop_request;      /* the callback's non-zero return that stopped the run (with a dist:
                              the largest over the processes); 0 when none */
} tt_train_result;

/* Trains `m` on train_tokens (and evaluates on val_tokens, which may be NULL).
 * tok is written into checkpoints (may be NULL when out_path is NULL).
 * res may be NULL. With tc->dist, every process calls it with the same
 * arguments (its own copy of the data) and the callback runs on every
 * process with the global values (print from rank 0 only); a stop requested
 * by any process stops all at the same step.
 * @return TT_OK, TT_ERR_ARG (NULL m, tc or train_tokens, config, or fewer
 * than seq_len + 1 tokens; with a dist: batch_size not divisible by the
 * number of processes, data or config differing between processes),
 * TT_ERR_RANGE (a batch holds a token id >= V or < 0), TT_ERR_IO,
 * TT_ERR_NOMEM, TT_ERR_INTERRUPTED, TT_ERR_NUMERIC (the loss, the gradient
 * norm or a weight became NaN or infinite: the run stops before that step's
 * update is applied or saved, so the files on disk are those of the last good
 * save), TT_ERR_COMM (a process died or hangs: call tt_dist_abort). With a
 * dist, an error on this process alone (its peers still wait for it) marks
 * the dist broken (tt_dist_broken: end the job with tt_dist_abort).
 * Resuming at step s with a max_steps that differs from the original run's:
 * the schedule is always that of tc->max_steps (warmup, then cosine to
 * 0.1 * lr at max_steps), so the lr continues at tt_train_lr_at(tc, s), not
 * where the old schedule was. Resuming a run already at max_steps trains
 * nothing and writes a copy of it to out_path (res->saved). */
TT_API tt_status tt_train(tt_model *m, const tt_tokenizer *tok, const int *train_tokens,
                          size_t n_train, const int *val_tokens, size_t n_val,
                          const tt_train_config *tc, tt_train_callback cb, void *user,
                          tt_train_result *res, tt_error *err);
/* tt_train over token views (tt/data.h: 1, 2 or 4 bytes an id, e.g. from
 * tt_tokens_pack at tt_token_width(V)): the same run, bit for bit, as
 * tt_train over the same ids as ints, in a quarter of the memory for a
 * character vocabulary. val may be NULL. Borrowed, as tt_train's arrays.
 * @return as tt_train (TT_ERR_ARG also for a width other than 1, 2, 4). */
TT_API tt_status tt_train_view(tt_model *m, const tt_tokenizer *tok, const tt_token_view *train,
                               const tt_token_view *val, const tt_train_config *tc,
                               tt_train_callback cb, void *user, tt_train_result *res,
                               tt_error *err);

/* Mean next-token cross-entropy of tokens[0..n) under the model: one window
 * when n <= max_len + 1, else consecutive non-overlapping windows of max_len + 1
 * tokens (and a shorter last one). *n_predicted receives the number of
 * predicted tokens (n_predicted may be NULL). @return TT_OK, TT_ERR_ARG
 * (NULL m, tokens or mean_loss; n < 2), TT_ERR_RANGE (a token id >= V or
 * < 0: the message gives its position). */
TT_API tt_status tt_evaluate_tokens(tt_model *m, const int *tokens, size_t n, double *mean_loss,
                                    size_t *n_predicted, tt_error *err);

/* As tt_evaluate_tokens with windows of `window` predicted tokens (window + 1
 * tokens, starting every `window` tokens) instead of max_len: a model trained
 * at seq_len T has never seen positions >= T, so its loss is only meaningful
 * with window <= T. @return TT_OK, TT_ERR_ARG (NULL m, tokens or mean_loss;
 * n < 2; window outside [1, max_len]), TT_ERR_RANGE (a token id >= V or
 * < 0). */
TT_API tt_status tt_evaluate_tokens_window(tt_model *m, const int *tokens, size_t n, int window,
                                           double *mean_loss, size_t *n_predicted, tt_error *err);

/* Learning rate at 0-based step s for this config (what tt_train uses); a
 * negative step counts as 0. A NULL tc returns 0 (and *warmup_used = 0);
 * warmup_used may be NULL. */
TT_API float tt_train_lr_at(const tt_train_config *tc, int step, int *warmup_used);

/* What the NAME.state beside a checkpoint records, for messages before a
 * resume (tt_train itself checks the pairing and every value). */
typedef struct {
    int step;       /* steps done when it was saved */
    int batch_size; /* the global batch */
    int seq_len;
    int n_procs; /* processes of the run that saved it (1 for files from before issue 16) */
} tt_train_state_info;

/* Reads the header of tt_train_sibling_path(checkpoint_path, ".state").
 * @return TT_OK, TT_ERR_ARG (NULL argument), TT_ERR_IO (cannot read it),
 * TT_ERR_FORMAT (not a state file, or an unknown version). */
TT_API tt_status tt_train_state_info_read(const char *checkpoint_path, tt_train_state_info *out,
                                          tt_error *err);

/* The path of a file beside a checkpoint: out_path without its
 * ".safetensors" ending, plus suffix (".best.safetensors", ".state").
 * malloc'ed (caller frees); NULL when out of memory or an argument is NULL. */
TT_API char *tt_train_sibling_path(const char *out_path, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif /* TT_TRAIN_H */
