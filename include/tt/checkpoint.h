/*
 * tt/checkpoint.h — safetensors checkpoints (the Hugging Face format).
 *
 * Tensor names are the teaching package's PyTorch state_dict() keys, so a
 * course user can `load_state_dict(strict=True)` the file into the PyTorch
 * model. The `__metadata__` holds format = "tiny-transformer",
 * format_version, config (a JSON object) and vocab (a JSON array of the
 * characters in id order), and the model's training record when known
 * (train_seq_len, train_steps, train_tokens, train_val_loss,
 * train_data_sha256: tt_model_train_info). See docs/file-formats.md.
 *
 *     tt_model *m; tt_tokenizer *tok;
 *     if (tt_checkpoint_load("model.safetensors", &m, &tok, &err) != TT_OK) ...
 *     tt_checkpoint_save("copy.safetensors", m, tok, &err);
 *
 * Writes are atomic: a temporary file in the same directory, fsync, rename.
 * Loading validates the header, offsets, dtypes, names and shapes.
 * Thread safety: functions are reentrant; the model must not be trained
 * concurrently with a save.
 */
#ifndef TT_CHECKPOINT_H
#define TT_CHECKPOINT_H

#include "tt/common.h"
#include "tt/model.h"
#include "tt/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_CHECKPOINT_FORMAT "tiny-transformer"
#define TT_CHECKPOINT_FORMAT_VERSION 1

/* Writes model + vocabulary. tok may be NULL only if the caller accepts a file
 * without a vocabulary (tt tools require one). @return TT_OK, TT_ERR_ARG
 * (NULL or empty path, NULL m, tokenizer size != vocab_size), TT_ERR_IO
 * (the message names the path and the OS error), TT_ERR_NOMEM. */
TT_API tt_status tt_checkpoint_save(const char *path, const tt_model *m, const tt_tokenizer *tok,
                                    tt_error *err);

/* Reads a checkpoint, creating the model (and tokenizer when tok != NULL).
 * Accepts files written by tt and by PyTorch (safetensors.torch.save_file
 * with the metadata above). @return TT_OK, TT_ERR_IO, TT_ERR_FORMAT (the
 * message says what is wrong: header, offsets, dtype, name, shape, vocab),
 * TT_ERR_ARG (NULL m, NULL or empty path), TT_ERR_NOMEM. On success *m (and
 * *tok) belong to the caller: tt_model_free, tt_tokenizer_free. On error
 * nothing is allocated and *m (and *tok) are NULL. */
TT_API tt_status tt_checkpoint_load(const char *path, tt_model **m, tt_tokenizer **tok,
                                    tt_error *err);

/* Reads only the config and vocabulary from the header (no weights).
 * tok may be NULL (a vocabulary present is then only checked); otherwise, on
 * success, *tok is a new tokenizer owned by the caller, who frees it with
 * tt_tokenizer_free. On error *tok is NULL and nothing is allocated.
 * @return TT_OK, TT_ERR_ARG (NULL cfg, NULL or empty path), TT_ERR_IO,
 * TT_ERR_FORMAT (as tt_checkpoint_load), TT_ERR_NOMEM. */
TT_API tt_status tt_checkpoint_read_config(const char *path, tt_model_config *cfg,
                                           tt_tokenizer **tok, tt_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TT_CHECKPOINT_H */
