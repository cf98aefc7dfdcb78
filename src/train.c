/*
 * The training loop, the lr schedule, evaluation and the resume state; see
 * tt/train.h and docs/file-formats.md (the .state file).
 *
 * Legend: B batch, T seq_len, P number of trainable parameters.
 *
 * Bit-identical resume: everything a step depends on is either in the
 * checkpoint (weights, float32, byte copies) or in the state file (AdamW
 * moments and step count, the dropout RNG, the loader's epoch/position, the
 * best validation loss). Evaluation draws no random numbers.
 *
 * Data-parallel (tc->dist with N > 1 processes, docs/distributed.md): every
 * rank runs the same loader, takes rows [r B/N, (r+1) B/N) of each global
 * batch, and averages the gradients (dist.c, fixed order) before the same
 * clip and AdamW step; rank 0 alone writes files.
 */
#include "tt/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi.h"
#include "data_internal.h"
#include "dist_internal.h"
#include "fileio.h"
#include "model_internal.h"
#include "optim_internal.h"
#include "tt/checkpoint.h"
#include "tt/data.h"
#include "tt/optim.h"

#define DROPOUT_STREAM 0x64726f70ull /* "drop": the dropout RNG stream of the seed */

#ifdef TT_TEST_FAULTS
/* Only in build/tt-faults (Makefile), for tests/test_dist.c: the environment
 * variable TT_TEST_FAULT="RANK:WHAT[:STEP]" makes rank RANK fail at WHAT
 * ("setup": the set-up allocations; "forward": the forward of step STEP,
 * after the first) or, for "slowsave", write its checkpoints 1.5 s late.
 * The shipped libtt and tt are built without it. */
static bool test_fault(int rank, const char *what, int step) {
    const char *v = getenv("TT_TEST_FAULT");
    char w[32];
    int r = -1, s = 0;
    if (!v || sscanf(v, "%d:%31[a-z]:%d", &r, w, &s) < 2) return false;
    return r == rank && !strcmp(w, what) && (s == 0 || s == step);
}
#else
#define test_fault(rank, what, step) ((void)(rank), (void)(step), false)
#endif

tt_train_config tt_train_config_default(void) {
    tt_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.struct_size = sizeof tc;
    tc.seq_len = 64;
    tc.batch_size = 12;
    tc.max_steps = 1000;
    tc.learning_rate = 1e-3f;
    tc.weight_decay = 0.01f;
    tc.beta1 = 0.9f;
    tc.beta2 = 0.95f;
    tc.eps = 1e-8f;
    tc.grad_clip = 1.0f;
    tc.warmup_steps = 100;
    tc.log_interval = 100;
    tc.eval_interval = 500;
    tc.eval_batches = 20;
    tc.save_interval = 1000;
    tc.seed = 1337;
    return tc;
}

/* Points *tc at a config of today's layout: the caller's own, or *copy
 * made from its fields and the defaults (abi.h). */
static tt_status train_config_in(const tt_train_config **tc, tt_train_config *copy, tt_error *err) {
    if ((*tc)->struct_size == sizeof **tc) return TT_OK;
    *copy = tt_train_config_default();
    const tt_status st =
        tt_struct_in(copy, sizeof *copy, *tc, TT_TRAIN_CONFIG_SIZE_0, "train config", err);
    if (st == TT_OK) *tc = copy;
    return st;
}

tt_status tt_train_config_validate(const tt_train_config *tc, tt_error *err) {
    if (!tc) return tt_error_set(err, TT_ERR_ARG, "NULL train config");
    tt_train_config tc_in;
    tt_status st = train_config_in(&tc, &tc_in, err);
    if (st != TT_OK) return st;
    if (tc->seq_len < 1) return tt_error_set(err, TT_ERR_ARG, "seq_len must be >= 1, got %d", tc->seq_len);
    if (tc->batch_size < 1)
        return tt_error_set(err, TT_ERR_ARG, "batch_size must be >= 1, got %d", tc->batch_size);
    if (tc->max_steps < 1)
        return tt_error_set(err, TT_ERR_ARG, "max_steps must be >= 1, got %d", tc->max_steps);
    if (!(tc->learning_rate > 0.0f) || !isfinite(tc->learning_rate))
        return tt_error_set(err, TT_ERR_ARG, "learning_rate must be a finite number > 0, got %g",
                            (double)tc->learning_rate);
    if (!(tc->weight_decay >= 0.0f) || !isfinite(tc->weight_decay))
        return tt_error_set(err, TT_ERR_ARG, "weight_decay must be >= 0, got %g", (double)tc->weight_decay);
    if (!(tc->beta1 >= 0.0f && tc->beta1 < 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "beta1 must be in [0, 1), got %g", (double)tc->beta1);
    if (!(tc->beta2 >= 0.0f && tc->beta2 < 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "beta2 must be in [0, 1), got %g", (double)tc->beta2);
    if (!(tc->eps > 0.0f) || !isfinite(tc->eps))
        return tt_error_set(err, TT_ERR_ARG, "eps must be > 0, got %g", (double)tc->eps);
    if (!(tc->grad_clip >= 0.0f) || !isfinite(tc->grad_clip))
        return tt_error_set(err, TT_ERR_ARG, "grad_clip must be >= 0 (0 = off), got %g",
                            (double)tc->grad_clip);
    if (tc->warmup_steps < 0)
        return tt_error_set(err, TT_ERR_ARG, "warmup_steps must be >= 0, got %d", tc->warmup_steps);
    if (tc->log_interval < 1)
        return tt_error_set(err, TT_ERR_ARG, "log_interval must be >= 1, got %d", tc->log_interval);
    if (tc->eval_interval < 0)
        return tt_error_set(err, TT_ERR_ARG, "eval_interval must be >= 0 (0 = only at the end), got %d",
                            tc->eval_interval);
    if (tc->eval_batches < 1)
        return tt_error_set(err, TT_ERR_ARG, "eval_batches must be >= 1, got %d", tc->eval_batches);
    if (tc->save_interval < 0)
        return tt_error_set(err, TT_ERR_ARG, "save_interval must be >= 0 (0 = only at the end), got %d",
                            tc->save_interval);
    if (tc->data_sha256) {
        size_t n = strlen(tc->data_sha256);
        bool hex = n == 64;
        for (size_t i = 0; i < n && hex; i++)
            hex = (tc->data_sha256[i] >= '0' && tc->data_sha256[i] <= '9') ||
                  (tc->data_sha256[i] >= 'a' && tc->data_sha256[i] <= 'f');
        if (!hex) return tt_error_set(err, TT_ERR_ARG, "data_sha256 must be 64 lowercase hex digits or NULL");
    }
    if (tc->n_threads < 0 || tc->n_threads > 256)
        return tt_error_set(err, TT_ERR_ARG, "n_threads must be in [0, 256] (0 = auto), got %d", tc->n_threads);
    return TT_OK;
}

static int warmup_of(const tt_train_config *tc) {
    int W = tc->warmup_steps;
    if (W >= tc->max_steps) W = tc->max_steps / 10; /* would not fit: cap */
    return W;
}

float tt_train_lr_at(const tt_train_config *tc, int step, int *warmup_used) {
    if (!tc) { /* documented: 0 (and warmup 0) */
        if (warmup_used) *warmup_used = 0;
        return 0.0f;
    }
    tt_train_config tc_in;
    if (train_config_in(&tc, &tc_in, NULL) != TT_OK) { /* documented: as NULL */
        if (warmup_used) *warmup_used = 0;
        return 0.0f;
    }
    int W = warmup_of(tc);
    if (warmup_used) *warmup_used = W;
    const double peak = tc->learning_rate, min_lr = 0.1 * peak;
    if (step < 0) step = 0;
    if (step < W) return (float)(peak * (double)(step + 1) / (double)W);
    double progress = tc->max_steps > W ? (double)(step - W) / (double)(tc->max_steps - W) : 1.0;
    if (progress > 1.0) progress = 1.0;
    return (float)(min_lr + (peak - min_lr) * 0.5 * (1.0 + cos(M_PI * progress)));
}

tt_status tt_evaluate_tokens_window(tt_model *m, const int *tokens, size_t n, int window,
                                    double *mean_loss, size_t *n_predicted, tt_error *err) {
    if (!m) return tt_error_set(err, TT_ERR_ARG, "evaluate: m is NULL");
    if (!tokens) return tt_error_set(err, TT_ERR_ARG, "evaluate: tokens is NULL");
    if (!mean_loss) return tt_error_set(err, TT_ERR_ARG, "evaluate: mean_loss is NULL");
    if (n < 2) return tt_error_set(err, TT_ERR_ARG, "need at least 2 tokens to evaluate, got %zu", n);
    const int max_len = tt_model_get_config(m)->max_len;
    if (window < 1 || window > max_len)
        return tt_error_set(err, TT_ERR_ARG, "evaluation window must be in [1, max_len %d], got %d", max_len,
                            window);
    const size_t L = (size_t)window;
    double total = 0.0;
    size_t count = 0;
    /* windows of up to L + 1 tokens starting every L tokens: each token after
     * the first is predicted exactly once */
    for (size_t start = 0; start + 1 < n; start += L) {
        size_t len = n - start < L + 1 ? n - start : L + 1, T = len - 1;
        float loss;
        tt_status st = tt_model_forward(m, tokens + start, tokens + start + 1, 1, (int)T, TT_MODE_EVAL,
                                        NULL, &loss, err);
        if (st != TT_OK) return st;
        if (!isfinite(loss))
            return tt_error_set(err, TT_ERR_NUMERIC,
                                "the model's loss is %s on the window at token %zu: its logits are not finite "
                                "(weights too large or corrupt)",
                                isnan(loss) ? "NaN" : "infinite", start);
        total += (double)loss * (double)T;
        count += T;
    }
    *mean_loss = total / (double)count;
    if (n_predicted) *n_predicted = count;
    return TT_OK;
}

tt_status tt_evaluate_tokens(tt_model *m, const int *tokens, size_t n, double *mean_loss,
                             size_t *n_predicted, tt_error *err) {
    if (!m) return tt_error_set(err, TT_ERR_ARG, "evaluate: m is NULL");
    return tt_evaluate_tokens_window(m, tokens, n, tt_model_get_config(m)->max_len, mean_loss, n_predicted,
                                     err);
}

/* ---- file names ----------------------------------------------------------- */

char *tt_train_sibling_path(const char *out_path, const char *suffix) {
    if (!out_path || !suffix) return NULL;
    size_t n = strlen(out_path);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (n > el && !strcmp(out_path + n - el, ext)) n -= el;
    char *p = malloc(n + strlen(suffix) + 1);
    if (!p) return NULL;
    memcpy(p, out_path, n);
    strcpy(p + n, suffix);
    return p;
}

/* ---- the training state file -------------------------------------------- */

#define STATE_MAGIC "TTSTATE1"
#define STATE_VERSION 2u /* 2 added n_procs; version 1 files read as one process */

typedef struct {
    uint64_t n_params, step, seed, seq_len, batch_size, n_train, train_hash;
    uint64_t rng[4];
    uint64_t epoch, pos;
    float best_val;
    uint32_t has_best;
    uint64_t weights_hash; /* FNV-1a 64 of the P float32 parameters saved with it (0: not recorded) */
    uint64_t n_procs;      /* processes of the run that saved it (1: one) */
} train_state;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* fnv1a over the ids of v as ints: the same hash whatever the view's width */
static uint64_t fnv1a_tokens(uint64_t h, const tt_token_view *v) {
    if (v->width == 4) return fnv1a(h, v->ids, v->n * sizeof(int));
    for (size_t i = 0; i < v->n; i++) {
        const int id = tt_token_at(v, i);
        h = fnv1a(h, &id, sizeof id);
    }
    return h;
}

static void put_u64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_u64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

#define STATE_FIELDS 19 /* u64 fields after the magic (version 1: 18) */
#define STATE_FIXED (8 + 8 * STATE_FIELDS)

/* The moments are float32 in the host's byte order, which must be little
 * endian (checked by the loader through the header's byte-order mark). */
static tt_status state_save(const char *path, const train_state *s, const tt_adamw *opt_c,
                            tt_error *err) {
    tt_adamw *opt = (tt_adamw *)opt_c;
    unsigned char hdr[STATE_FIXED];
    memcpy(hdr, STATE_MAGIC, 8);
    uint32_t bits;
    memcpy(&bits, &s->best_val, 4);
    uint64_t f[STATE_FIELDS] = {STATE_VERSION, 0x0102030405060708ull, s->n_params, s->step, s->seed,
                                s->seq_len, s->batch_size, s->n_train, s->train_hash, s->rng[0],
                                s->rng[1], s->rng[2], s->rng[3], s->epoch, s->pos, bits, s->has_best,
                                s->weights_hash, s->n_procs};
    uint32_t bom = 0x01020304u;
    unsigned char bomb[4];
    memcpy(bomb, &bom, 4);
    f[1] = bomb[0] == 0x04 ? 0x0102030405060708ull : 0; /* 0: a big-endian writer */
    for (int i = 0; i < STATE_FIELDS; i++)
        put_u64(hdr + 8 + 8 * i, f[i]);
    size_t nb = (size_t)s->n_params * sizeof(float);
    uint64_t h = fnv1a(FNV_INIT, hdr, sizeof hdr);
    h = fnv1a(h, tt_adamw_m(opt), nb);
    h = fnv1a(h, tt_adamw_v(opt), nb);
    unsigned char tail[8];
    put_u64(tail, h);
    tt_io_chunk c[4] = {{hdr, sizeof hdr}, {tt_adamw_m(opt), nb}, {tt_adamw_v(opt), nb}, {tail, 8}};
    return tt_io_write_atomic(path, c, 4, err);
}

static tt_status state_load(const char *path, train_state *s, tt_adamw *opt, tt_error *err) {
    char *data;
    size_t len;
    tt_status st = tt_io_read_file(path, &data, &len, err);
    if (st != TT_OK) return st;
    const unsigned char *b = (const unsigned char *)data;
    size_t nb = tt_adamw_size(opt) * sizeof(float);
    st = TT_OK;
    const uint64_t version = len >= 16 ? get_u64(b + 8) : 0;
    const size_t fixed = version == 1 ? 8 + 8 * 18 : STATE_FIXED;
    if (len < 8 + 8 * 18 + 8 || memcmp(b, STATE_MAGIC, 8))
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s' is not a tiny-transformer training state file", path);
    else if (version != 1 && version != STATE_VERSION)
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s': unsupported state version %llu", path,
                          (unsigned long long)get_u64(b + 8));
    else if (get_u64(b + 16) != 0x0102030405060708ull)
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s' was written on a big-endian machine", path);
    else if (get_u64(b + 24) != tt_adamw_size(opt))
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s' holds optimizer state for %llu parameters; the model has %zu",
                          path, (unsigned long long)get_u64(b + 24), tt_adamw_size(opt));
    else if (len != fixed + 2 * nb + 8)
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s' is %s: %zu bytes, a state of %zu parameters has %zu", path,
                          len < fixed + 2 * nb + 8 ? "truncated" : "too long (trailing bytes)", len,
                          tt_adamw_size(opt), fixed + 2 * nb + 8);
    else {
        uint64_t h = fnv1a(FNV_INIT, b, len - 8);
        if (h != get_u64(b + len - 8))
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s' is corrupt (checksum mismatch)", path);
    }
    if (st == TT_OK) {
        uint64_t f[STATE_FIELDS];
        for (int i = 0; i < STATE_FIELDS; i++)
            f[i] = i < (int)(fixed - 8) / 8 ? get_u64(b + 8 + 8 * i) : 0;
        s->n_params = f[2];
        s->step = f[3];
        s->seed = f[4];
        s->seq_len = f[5];
        s->batch_size = f[6];
        s->n_train = f[7];
        s->train_hash = f[8];
        for (int i = 0; i < 4; i++) s->rng[i] = f[9 + i];
        s->epoch = f[13];
        s->pos = f[14];
        uint32_t bits = (uint32_t)f[15];
        memcpy(&s->best_val, &bits, 4);
        s->has_best = (uint32_t)f[16];
        s->weights_hash = f[17];
        s->n_procs = f[18] ? f[18] : 1;
        memcpy(tt_adamw_m(opt), b + fixed, nb);
        memcpy(tt_adamw_v(opt), b + fixed + nb, nb);
        tt_adamw_set_step_count(opt, (int64_t)s->step);
    }
    free(data);
    return st;
}

tt_status tt_train_state_info_read(const char *checkpoint_path, tt_train_state_info *out,
                                   tt_error *err) {
    if (!checkpoint_path || !out) return tt_error_set(err, TT_ERR_ARG, "state info: NULL argument");
    char *sp = tt_train_sibling_path(checkpoint_path, ".state");
    if (!sp) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    unsigned char b[STATE_FIXED];
    FILE *f = fopen(sp, "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    tt_status st = TT_OK;
    if (!f)
        st = tt_error_set(err, TT_ERR_IO, "cannot open '%s': %s", sp, strerror(errno));
    else if (got < 8 + 8 * 18 || memcmp(b, STATE_MAGIC, 8) ||
             (get_u64(b + 8) != 1 && get_u64(b + 8) != STATE_VERSION))
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s' is not a training state file this tt can read",
                          sp);
    else {
        out->step = (int)get_u64(b + 8 + 8 * 3);
        out->seq_len = (int)get_u64(b + 8 + 8 * 5);
        out->batch_size = (int)get_u64(b + 8 + 8 * 6);
        out->n_procs = get_u64(b + 8) >= 2 && got >= STATE_FIXED ? (int)get_u64(b + 8 + 8 * 18) : 1;
    }
    if (f) fclose(f);
    free(sp);
    return st;
}

/* The hash that pairs a state with its checkpoint: FNV-1a 64 of the P
 * float32 parameters (bytes in host order; the checkpoint holds the same
 * bytes, so a loaded model hashes the same). Never 0 (0 = "not recorded"). */
static uint64_t weights_hash(const tt_model *m) {
    uint64_t h = fnv1a(FNV_INIT, tt_model_params_flat((tt_model *)m), tt_model_num_params(m) * sizeof(float));
    return h ? h : 1;
}

/* Loads the state that belongs to the weights now in m (hash wh) for the
 * checkpoint resume_path: NAME.state, or NAME.state.prev when a kill during a
 * save left NAME.state one save ahead of the weights (see the save order in
 * tt_train). A NAME.state.prev that matches is renamed back to NAME.state, so
 * that the next save keeps a matching pair. A state without a recorded hash
 * (written by an older tt) is accepted as NAME.state only. */
static tt_status state_load_matching(const char *resume_path, uint64_t wh, train_state *s, tt_adamw *opt,
                                     tt_error *err) {
    char *sp = tt_train_sibling_path(resume_path, ".state");
    char *pp = tt_train_sibling_path(resume_path, ".state.prev");
    tt_status st;
    if (!sp || !pp) {
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory");
        goto out;
    }
    st = state_load(sp, s, opt, err);
    if (st == TT_OK && (s->weights_hash == wh || s->weights_hash == 0)) goto out;
    train_state prev;
    memset(&prev, 0, sizeof prev);
    tt_error e2;
    if (state_load(pp, &prev, opt, &e2) == TT_OK && prev.weights_hash == wh) {
        *s = prev;
        if (rename(pp, sp) != 0)
            st = tt_error_set(err, TT_ERR_IO, "cannot resume: cannot rename '%s' to '%s'", pp, sp);
        else
            st = TT_OK;
        goto out;
    }
    if (st == TT_OK) /* the state loaded but belongs to other weights */
        st = tt_error_set(err, TT_ERR_ARG,
                          "cannot resume from '%s': its training state '%s' (step %llu) was saved with other "
                          "weights, and no matching '%s' exists",
                          resume_path, sp, (unsigned long long)s->step, pp);
out:
    free(sp);
    free(pp);
    return st;
}

/* ---- the loop ------------------------------------------------------------ */

/* Saves the run at `s->step` (Order, each write atomic: NAME.state ->
 * NAME.state.prev, the new NAME.state, the new checkpoint. Between saves
 * NAME.state matches the checkpoint; a kill during a save leaves
 * NAME.state.prev matching it (the old checkpoint) instead. Each state
 * records the hash of its weights, and --resume takes the one that matches.)
 * The loader's position and the weights' hash are filled in here. */
static tt_status save_run(train_state s, const tt_loader *loader, const tt_adamw *opt, const tt_model *m,
                          const tt_tokenizer *tok, const char *out_path, const char *state_path,
                          const char *prev_path, tt_error *err) {
    const tt_loader_state ls = tt_loader_get_state(loader);
    s.epoch = ls.epoch;
    s.pos = ls.pos;
    s.weights_hash = weights_hash(m);
    if (rename(state_path, prev_path) != 0 && errno != ENOENT)
        return tt_error_set(err, TT_ERR_IO, "cannot rename '%s' to '%s': %s", state_path, prev_path,
                            strerror(errno));
    tt_status st = state_save(state_path, &s, opt, err);
    if (st == TT_OK) st = tt_checkpoint_save(out_path, m, tok, err);
    return st;
}

/* NaN or infinite weights are never saved (a diverged run keeps its last good
 * checkpoint). */
static tt_status check_finite_params(const float *params, size_t P, int step, tt_error *err) {
    for (size_t i = 0; i < P; i++)
        if (!isfinite(params[i]))
            return tt_error_set(err, TT_ERR_NUMERIC,
                                "training diverged at step %d: parameter %zu is not finite; the last saved "
                                "checkpoint is kept",
                                step, i);
    return TT_OK;
}

/* The model's training record after `step` steps of this run's shape; val_loss
 * is that of the current weights (NaN: not measured at this step). sha: the
 * data's hash ("" unknown). */
static void record_training(tt_model *m, const tt_train_config *tc, int step, float val_loss, const char *sha) {
    tt_train_info ti = tt_train_info_unknown();
    ti.seq_len = tc->seq_len;
    ti.steps = step;
    ti.tokens = (long long)step * tc->batch_size * tc->seq_len;
    ti.val_loss = val_loss;
    snprintf(ti.data_sha256, sizeof ti.data_sha256, "%s", sha);
    tt_model_set_train_info(m, &ti, NULL); /* every field is valid by construction */
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean of the per-batch mean losses over the first eval_batches batches of
 * non-overlapping windows (the last batch may be smaller). */
static tt_status evaluate_val(tt_model *m, const tt_windows *val, int B, int n_batches, int *x,
                              int *y, float *out, tt_error *err) {
    const int T = val->seq_len;
    double sum = 0.0;
    int done = 0;
    size_t w = 0;
    for (int b = 0; b < n_batches && w < val->n_windows; b++) {
        int nb = 0;
        for (; nb < B && w < val->n_windows; nb++, w++)
            tt_windows_get(val, w, x + (size_t)nb * T, y + (size_t)nb * T);
        float loss;
        tt_status st = tt_model_forward(m, x, y, nb, T, TT_MODE_EVAL, NULL, &loss, err);
        if (st != TT_OK) return st;
        sum += loss;
        done++;
    }
    *out = (float)(sum / done);
    return TT_OK;
}

/* evaluate_val split across the ranks of a dist: each batch of nb windows
 * is cut into contiguous shares of rows; the per-batch loss sums are added
 * over ranks (rank order) and averaged as evaluate_val does. */
static tt_status evaluate_val_dist(tt_model *m, const tt_windows *val, int B, int n_batches, int *x,
                                   int *y, tt_dist *D, float *out, tt_error *err) {
    const int T = val->seq_len, R = tt_dist_size(D), rank = tt_dist_rank(D);
    size_t nb_total = (val->n_windows + (size_t)B - 1) / (size_t)B;
    int n = n_batches < (long long)nb_total ? n_batches : (int)nb_total;
    double *sums = calloc((size_t)n, sizeof *sums);
    if (!sums) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    tt_status st = TT_OK;
    size_t w = 0;
    for (int b = 0; b < n; b++) {
        size_t nb = val->n_windows - w < (size_t)B ? val->n_windows - w : (size_t)B;
        size_t lo = nb * (size_t)rank / (size_t)R, hi = nb * (size_t)(rank + 1) / (size_t)R;
        for (size_t i = lo; i < hi; i++)
            tt_windows_get(val, w + i, x + (i - lo) * (size_t)T, y + (i - lo) * (size_t)T);
        if (hi > lo) {
            float loss;
            if ((st = tt_model_forward(m, x, y, (int)(hi - lo), T, TT_MODE_EVAL, NULL, &loss,
                                       err)) != TT_OK)
                break;
            sums[b] = (double)loss * (double)(hi - lo) * (double)T;
        }
        w += nb;
    }
    tt_error e2;
    tt_status agreed =
        tt_dist_agree(D, st, err, &e2); /* a local failure must not leave peers waiting */
    if (agreed != TT_OK) {
        if (err) *err = e2;
        free(sums);
        return agreed;
    }
    if ((st = tt_dist_sum_doubles(D, sums, n, "the validation loss", err)) == TT_OK) {
        double mean = 0.0;
        w = 0;
        for (int b = 0; b < n; b++) {
            size_t nb = val->n_windows - w < (size_t)B ? val->n_windows - w : (size_t)B;
            mean += sums[b] / ((double)nb * (double)T);
            w += nb;
        }
        *out = (float)(mean / n);
    }
    free(sums);
    return st;
}

/* Identity of a run's settings, compared across ranks before any collective
 * whose size depends on them. */
static uint64_t config_hash(const tt_train_config *tc, const tt_model *m) {
    uint64_t h = FNV_INIT;
    int ints[] = {tc->seq_len,          tc->batch_size,         tc->max_steps,    tc->warmup_steps,
                  tc->log_interval,     tc->eval_interval,      tc->eval_batches, tc->save_interval,
                  tc->out_path != NULL, tc->resume_path != NULL};
    float fl[] = {tc->learning_rate, tc->weight_decay, tc->beta1,
                  tc->beta2,         tc->eps,          tc->grad_clip};
    uint64_t u[] = {tc->seed, tt_model_num_params(m)};
    h = fnv1a(h, ints, sizeof ints);
    h = fnv1a(h, fl, sizeof fl);
    h = fnv1a(h, u, sizeof u);
    const tt_model_config *mc = tt_model_get_config(m); /* field by field: no padding bytes */
    int mi[] = {mc->vocab_size, mc->d_model, mc->n_heads,         mc->n_layers,
                mc->d_ff,       mc->max_len, (int)mc->positional, mc->tie_weights ? 1 : 0};
    h = fnv1a(h, mi, sizeof mi);
    h = fnv1a(h, &mc->dropout, sizeof mc->dropout);
    return h;
}

/* An error of this rank alone, outside any agreement: the peers will wait for
 * it in the next collective, so the dist is marked broken (the caller ends
 * the job with tt_dist_abort) and the message names the rank. */
static tt_status failed_alone(tt_dist *D, tt_status st, tt_error *err) {
    if (tt_dist_size(D) <= 1) return st;
    tt_dist_mark_broken(D);
    if (err) {
        char msg[TT_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : tt_status_str(st));
        tt_error_set(err, st, "rank %d: %s", tt_dist_rank(D), msg);
    }
    return st;
}

/* The gradient hook of tt_model_backward_hooked. */
static void grads_ready(void *user, size_t lo, size_t hi) { tt_grad_sync_ready(user, lo, hi); }

/* Every token of the global batch in [0, V): each rank forwards only its
 * rows, so all ranks check all rows and fail together. */
static tt_status check_batch(const int *x, const int *y, size_t n, int T, int V, tt_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (x[i] < 0 || x[i] >= V)
            return tt_error_set(
                err, TT_ERR_RANGE,
                "forward: token id %d at batch %zu, position %zu is out of range [0, %d)", x[i],
                i / (size_t)T, i % (size_t)T, V);
        if (y[i] < 0 || y[i] >= V)
            return tt_error_set(
                err, TT_ERR_RANGE,
                "forward: target id %d at batch %zu, position %zu is out of range [0, %d)", y[i],
                i / (size_t)T, i % (size_t)T, V);
    }
    return TT_OK;
}

tt_status tt_train(tt_model *m, const tt_tokenizer *tok, const int *train_tokens, size_t n_train,
                   const int *val_tokens, size_t n_val, const tt_train_config *tc,
                   tt_train_callback cb, void *user, tt_train_result *res, tt_error *err) {
    const tt_token_view tv = {train_tokens, n_train, 4}, vv = {val_tokens, n_val, 4};
    return tt_train_view(m, tok, &tv, val_tokens ? &vv : NULL, tc, cb, user, res, err);
}

tt_status tt_train_view(tt_model *m, const tt_tokenizer *tok, const tt_token_view *train,
                        const tt_token_view *val, const tt_train_config *tc, tt_train_callback cb,
                        void *user, tt_train_result *res, tt_error *err) {
    if (!m) return tt_error_set(err, TT_ERR_ARG, "tt_train: m is NULL");
    if (!tc) return tt_error_set(err, TT_ERR_ARG, "tt_train: tc is NULL");
    if (!train || !train->ids) return tt_error_set(err, TT_ERR_ARG, "tt_train: train_tokens is NULL");
    if (val && !val->ids) val = NULL;
    const size_t n_train = train->n, n_val = val ? val->n : 0;
    tt_train_config tc_in;
    tt_status st = train_config_in(&tc, &tc_in, err);
    if (st != TT_OK) return st;
    st = tt_train_config_validate(tc, err);
    if (st != TT_OK) return st;
    const tt_model_config *mc = tt_model_get_config(m);
    if (tc->seq_len > mc->max_len)
        return tt_error_set(err, TT_ERR_ARG, "seq_len %d exceeds the model's max_len %d", tc->seq_len,
                            mc->max_len);
    if (tc->out_path && !tok)
        return tt_error_set(err, TT_ERR_ARG, "saving checkpoints needs the tokenizer");
    const int B = tc->batch_size, T = tc->seq_len;
    /* data-parallel: R ranks, this one trains rows [row0, row0 + Bl) */
    tt_dist *D = tc->dist;
    const int R = tt_dist_size(D), rank = tt_dist_rank(D);
    const bool multi = R > 1, writer = rank == 0;
    const int Bl = multi ? B / R : B, row0 = rank * Bl;
    if (multi) {
        if ((st = tt_dist_check_same(D, config_hash(tc, m), "the training configuration", err)) !=
            TT_OK)
            return st;
        if (B % R != 0)
            return tt_error_set(
                err, TT_ERR_ARG,
                "batch_size %d is not divisible by the %d processes (each takes an equal share "
                "of the global batch)",
                B, R);
        if ((st = tt_dist_check_same(D, fnv1a_tokens(fnv1a(FNV_INIT, &n_train, sizeof n_train), train),
                                     "the training data", err)) != TT_OK)
            return st;
        size_t nv = n_val;
        if ((st = tt_dist_check_same(D,
                                     val ? fnv1a_tokens(fnv1a(FNV_INIT, &nv, sizeof nv), val)
                                         : fnv1a(fnv1a(FNV_INIT, &nv, sizeof nv), &nv, 0),
                                     "the validation data", err)) != TT_OK)
            return st;
    }
    tt_windows train_ds, val_ds;
    if ((st = tt_windows_init(&train_ds, train, T, T, err)) != TT_OK) return st;
    bool has_val = val && n_val > 0;
    if (has_val && tt_windows_init(&val_ds, val, T, T, NULL) != TT_OK)
        return tt_error_set(err, TT_ERR_ARG,
                            "not enough validation tokens (%zu) for one window of seq_len %d + 1", n_val, T);

    tt_train_result r;
    memset(&r, 0, sizeof r);
    r.final_val_loss = r.best_val_loss = NAN;
    int W;
    tt_train_lr_at(tc, 0, &W);
    r.warmup_used = W;
    r.warmup_capped = W != tc->warmup_steps;

    const size_t P = tt_model_num_params(m);
    tt_loader *loader = NULL;
    tt_adamw *opt = NULL;
    int *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    /* weight decay by the tensor table's spans (no byte per parameter) */
    const size_t n_tensors = tt_model_decay_span_count(m);
    tt_decay_span *spans = malloc((n_tensors ? n_tensors : 1) * sizeof *spans);
    size_t n_spans = 0;
    for (size_t t = 0; spans && t < n_tensors; t++) n_spans += tt_model_decay_spans(m, &spans[n_spans], t);
    char *best_path = NULL, *state_path = NULL, *prev_path = NULL;
    tt_model *resume_m = NULL;
    tt_grad_sync *gsync = NULL;
    const double comm0 = tt_dist_comm_seconds(D);
    /* every set-up step runs into st, then the ranks agree once: a rank that
     * could not allocate must not leave the others waiting */
    if (!x || !y || !spans) st = tt_error_set(err, TT_ERR_NOMEM, "out of memory for a batch");
    if (st == TT_OK && tc->out_path && writer) {
        best_path = tt_train_sibling_path(tc->out_path, ".best.safetensors");
        state_path = tt_train_sibling_path(tc->out_path, ".state");
        prev_path = tt_train_sibling_path(tc->out_path, ".state.prev");
        if (!best_path || !state_path || !prev_path) {
            st = tt_error_set(err, TT_ERR_NOMEM, "out of memory");
        } else {
            /* what a killed save may have left (PATH.tmp): not needed any more */
            tt_io_remove_stale_temps(tc->out_path);
            tt_io_remove_stale_temps(best_path);
            tt_io_remove_stale_temps(state_path);
            tt_io_remove_stale_temps(prev_path);
        }
    }
    if (st == TT_OK) st = tt_loader_create_windows(&loader, &train_ds, B, true, tc->seed, err);
    if (st == TT_OK) st = tt_adamw_create(&opt, P, err);
    if (st == TT_OK) st = tt_adamw_set_threads(opt, tc->n_threads, err);
    const int model_threads = tt_model_threads_setting(m);
    if (st == TT_OK) st = tt_model_set_threads(m, tc->n_threads, err);
    if (st == TT_OK && multi) st = tt_grad_sync_create(&gsync, D, tt_model_grads_flat(m), P, err);
    if (st == TT_OK && test_fault(rank, "setup", 0))
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory (test fault)");
    if (multi) {
        tt_error e2;
        if ((st = tt_dist_agree(D, st, err, &e2)) != TT_OK) {
            if (err) *err = e2;
            goto done;
        }
    } else if (st != TT_OK) {
        goto done;
    }
    tt_rng rng;
    tt_rng_seed_stream(&rng, tc->seed, DROPOUT_STREAM);
    const uint64_t train_hash = fnv1a_tokens(FNV_INIT, train);
    int start = 0;
    float best = INFINITY;
    bool has_best = false;
    char sha[65];
    snprintf(sha, sizeof sha, "%s", tc->data_sha256 ? tc->data_sha256 : "");

    if (tc->resume_path) {
        /* weights from the checkpoint, the rest from NAME.state beside it;
         * with a dist rank 0 reads them and sends them to the others */
        train_state s;
        memset(&s, 0, sizeof s);
        if (writer) {
            if ((st = tt_checkpoint_load(tc->resume_path, &resume_m, NULL, err)) == TT_OK &&
                (st = tt_model_copy_weights(m, resume_m, err)) != TT_OK)
                st = tt_error_set(err, TT_ERR_ARG,
                                  "cannot resume from '%s': its model config differs",
                                  tc->resume_path);
            if (st == TT_OK)
                st = state_load_matching(tc->resume_path, weights_hash(m), &s, opt, err);
        }
        if (multi) {
            tt_error e2;
            tt_dist_set_patient(D, true); /* rank 0 has been reading: a signal must not cut the wait */
            if ((st = tt_dist_agree(D, st, err, &e2)) != TT_OK) {
                if (err) *err = e2;
                goto done;
            }
            tt_dist_set_patient(D, false);
            if ((st = tt_dist_bcast(D, &s, sizeof s, "sending the training state", err)) != TT_OK ||
                (st = tt_dist_bcast(D, tt_model_params_flat(m), P * sizeof(float),
                                    "sending the weights", err)) != TT_OK ||
                (tt_model_weights_changed(m), false) ||
                (st = tt_dist_bcast(D, tt_adamw_m(opt), P * sizeof(float), "sending the moments",
                                    err)) != TT_OK ||
                (st = tt_dist_bcast(D, tt_adamw_v(opt), P * sizeof(float), "sending the moments",
                                    err)) != TT_OK)
                goto done;
            tt_adamw_set_step_count(opt, (int64_t)s.step);
        }
        if (st != TT_OK) goto done;
        if (s.seq_len != (uint64_t)T || s.batch_size != (uint64_t)B || s.seed != tc->seed) {
            st = tt_error_set(err, TT_ERR_ARG,
                              "cannot resume: the run used seq_len %llu, batch_size %llu, seed %llu",
                              (unsigned long long)s.seq_len, (unsigned long long)s.batch_size,
                              (unsigned long long)s.seed);
            goto done;
        }
        if (s.n_train != n_train || s.train_hash != train_hash) {
            st = tt_error_set(err, TT_ERR_ARG, "cannot resume: the training data differs from the run's");
            goto done;
        }
        if (s.step > (uint64_t)tc->max_steps) {
            st = tt_error_set(err, TT_ERR_ARG, "cannot resume: the run is at step %llu > max_steps %d",
                              (unsigned long long)s.step, tc->max_steps);
            goto done;
        }
        /* the same data (checked above): keep its recorded hash when the caller gives none */
        if (!sha[0] && resume_m) /* rank 0 holds it; the others do not write */
            snprintf(sha, sizeof sha, "%s", tt_model_train_info(resume_m)->data_sha256);
        tt_loader_state ls = {s.epoch, s.pos};
        if ((st = tt_loader_set_state(loader, ls, err)) != TT_OK) goto done;
        memcpy(rng.s, s.rng, sizeof rng.s);
        start = (int)s.step;
        has_best = s.has_best != 0;
        best = has_best ? s.best_val : INFINITY;
        if (has_best) r.best_val_loss = best;
    }

    /* the resumed checkpoint's record (rank 0 holds it): its validation loss
     * belongs to these weights until the first step changes them */
    float start_val = NAN;
    if (resume_m && tt_model_train_info(resume_m)->steps == start)
        start_val = tt_model_train_info(resume_m)->val_loss;
    record_training(m, tc, start, start_val, sha);
    float *params = tt_model_params_flat(m), *grads = tt_model_grads_flat(m);
    tt_adamw_config oc = {sizeof oc, tc->beta1, tc->beta2, tc->eps, tc->weight_decay};
    if (multi && !tc->resume_path && /* every rank starts from rank 0's weights */
        (st = tt_dist_bcast(D, params, P * sizeof(float), "sending the initial weights", err)) !=
            TT_OK)
        goto done;
    tt_model_set_row_offset(m, (size_t)row0);
    const int V = tt_model_get_config(m)->vocab_size;
    const double t0 = now_s();
    r.steps_done = start;
    r.start_step = start;
    bool stop = false;
    int last_saved = -1;
    for (int step = start + 1; step <= tc->max_steps && !stop; step++) {
        float lr = tt_train_lr_at(tc, step - 1, NULL);
        tt_loader_next(loader, x, y);
        float loss;
        if (!multi) {
            if ((st = tt_model_forward(m, x, y, B, T, TT_MODE_TRAIN, &rng, &loss, err)) != TT_OK)
                goto done;
            tt_model_zero_grad(m);
            if ((st = tt_model_backward(m, err)) != TT_OK) goto done;
        } else {
            /* this rank's rows; dropout as a forward of the whole batch draws them */
            if ((st = check_batch(x, y, (size_t)B * T, T, V, err)) != TT_OK) goto done;
            const size_t o = (size_t)row0 * T;
            st = tt_model_forward(m, x + o, y + o, Bl, T, TT_MODE_TRAIN, &rng, &loss, err);
            if (st == TT_OK && test_fault(rank, "forward", step))
                st = tt_error_set(err, TT_ERR_NOMEM, "forward: out of memory (test fault)");
            if (step == start + 1) { /* activation memory: a rank may lack it */
                tt_error e2;
                if ((st = tt_dist_agree(D, st, err, &e2)) != TT_OK) {
                    if (err) *err = e2;
                    goto done;
                }
            }
            if (st != TT_OK) { /* later: this rank alone; the others wait in the average */
                st = failed_alone(D, st, err);
                goto done;
            }
            tt_model_zero_grad(m);
            tt_grad_sync_begin(gsync);
            if ((st = tt_model_backward_hooked(m, grads_ready, gsync, err)) != TT_OK) {
                st = failed_alone(D, st, err);
                goto done;
            }
            if ((st = tt_grad_sync_finish(gsync, err)) != TT_OK) goto done;
            double l = loss; /* the global mean: equal shares, so the mean of the ranks' means */
            if ((st = tt_dist_sum_doubles(D, &l, 1, "the training loss", err)) != TT_OK) goto done;
            loss = (float)(l / R);
        }
        /* the global loss: every rank sees the same value and stops together */
        if (!isfinite(loss)) {
            st = tt_error_set(err, TT_ERR_NUMERIC,
                              "training diverged at step %d: the loss is %s (a lower learning rate or gradient "
                              "clipping may help); nothing of this step was saved",
                              step, isnan(loss) ? "NaN" : "infinite");
            goto done;
        }
        /* tt_grad_clip's norm and factor; the factor is applied as AdamW reads
         * the gradients (the same numbers, one pass less) */
        float norm = tt_adamw_grad_norm(opt, grads, P), gscale = 1.0f;
        if (tc->grad_clip > 0.0f) {
            const float coef = tc->grad_clip / (norm + 1e-6f);
            if (coef < 1.0f) gscale = coef;
        }
        if (!isfinite(norm)) {
            st = tt_error_set(err, TT_ERR_NUMERIC,
                              "training diverged at step %d: the gradient norm is %s (loss %g); nothing of "
                              "this step was saved",
                              step, isnan(norm) ? "NaN" : "infinite", (double)loss);
            goto done;
        }
        tt_adamw_step_spans(opt, &oc, lr, params, grads, spans, n_spans, gscale);
        tt_model_weights_changed(m); /* generators (a sample callback) repack */
        r.steps_done = step;
        r.final_loss = loss;
        record_training(m, tc, step, NAN, sha);

        tt_train_progress p;
        memset(&p, 0, sizeof p);
        p.step = step;
        p.max_steps = tc->max_steps;
        p.loss = loss;
        p.lr = lr;
        p.grad_norm = norm;
        p.val_loss = NAN;
        bool last = step == tc->max_steps, wrote = false;
        tt_status wst = TT_OK; /* rank 0's writes at this step */
        tt_error werr;
        tt_error_clear(&werr);
        if (has_val && ((tc->eval_interval > 0 && step % tc->eval_interval == 0) || last)) {
            st = multi
                     ? evaluate_val_dist(m, &val_ds, B, tc->eval_batches, x, y, D, &p.val_loss, err)
                     : evaluate_val(m, &val_ds, B, tc->eval_batches, x, y, &p.val_loss, err);
            if (st != TT_OK) goto done;
            p.has_val = true;
            r.final_val_loss = p.val_loss;
            record_training(m, tc, step, p.val_loss, sha);
            if (p.val_loss < best) {
                best = p.val_loss;
                has_best = true;
                r.best_val_loss = best;
                /* every rank checks (the replicas hold the same weights), so
                 * all stop together */
                if ((best_path || multi) && (st = check_finite_params(params, P, step, err)) != TT_OK)
                    goto done;
                if (best_path && (wst = tt_checkpoint_save(best_path, m, tok, &werr)) != TT_OK &&
                    !multi) {
                    st = wst;
                    if (err) *err = werr;
                    goto done;
                }
                if (best_path && wst == TT_OK) r.best_saved = true;
                wrote = true;
            }
        }
        const double el = now_s() - t0;
        p.elapsed_s = el;
        p.tokens_per_s = el > 0 ? (double)(step - start) * B * T / el : 0.0;
        p.eta_s = (double)(tc->max_steps - step) * el / (double)(step - start);
        p.is_log_step = step % tc->log_interval == 0 || last;
        int req = cb ? cb(user, &p) : 0;
        /* a stop asked on any rank stops every rank at this step, and every
         * rank learns the request (the largest: a signal number) */
        if (multi && cb && (st = tt_dist_max_nonzero(D, &req, "agreeing on a stop", err)) != TT_OK)
            goto done;
        if (req != 0) {
            stop = true;
            r.stop_request = req;
            /* from here every wait is for the save: a signal sent to all the
             * ranks must not make one of them give up on rank 0's writes */
            tt_dist_set_patient(D, true);
        }
        bool save = tc->out_path && (last || stop || (tc->save_interval > 0 && step % tc->save_interval == 0));
        if (save && multi) /* the replicas must not have drifted apart */
            if ((st = tt_dist_check_same(D, weights_hash(m), "the weights after this step", err)) !=
                TT_OK)
                goto done;
        /* NaN weights are never saved; every rank checks (same weights), so all stop together */
        if (save && (st = check_finite_params(params, P, step, err)) != TT_OK) goto done;
        if (save && writer && wst == TT_OK) {
            if (test_fault(rank, "slowsave", 0)) {
                struct timespec ts = {1, 500000000};
                nanosleep(&ts, NULL);
            }
            const train_state s = {P, (uint64_t)step, tc->seed, (uint64_t)T, (uint64_t)B, n_train,
                                   train_hash, {rng.s[0], rng.s[1], rng.s[2], rng.s[3]}, 0, 0,
                                   has_best ? best : 0.0f, has_best, 0, (uint64_t)R};
            wst = save_run(s, loader, opt, m, tok, tc->out_path, state_path, prev_path, &werr);
            if (wst != TT_OK && !multi) {
                st = wst;
                if (err) *err = werr;
                goto done;
            }
            last_saved = step;
        }
        if (multi && (save || wrote)) { /* rank 0's writes: everyone stops if one failed */
            tt_dist_set_patient(D, true); /* however long rank 0 took to write */
            st = tt_dist_agree(D, wst, &werr, err);
            tt_dist_set_patient(D, stop);
            if (st != TT_OK) goto done;
        }
    }
    if (tc->out_path && start == tc->max_steps && last_saved < 0) {
        /* nothing to run (resumed at max_steps): still write what the caller
         * named, a copy of the resumed run, so that "saved" is true */
        tt_status wst = TT_OK;
        tt_error werr;
        tt_error_clear(&werr);
        if (writer) {
            const train_state s = {P, (uint64_t)start, tc->seed, (uint64_t)T, (uint64_t)B, n_train,
                                   train_hash, {rng.s[0], rng.s[1], rng.s[2], rng.s[3]}, 0, 0,
                                   has_best ? best : 0.0f, has_best, 0, (uint64_t)R};
            wst = save_run(s, loader, opt, m, tok, tc->out_path, state_path, prev_path, &werr);
        }
        if (multi) { /* the others wait for the copy (and stop with rank 0 if it failed) */
            tt_dist_set_patient(D, true);
            st = tt_dist_agree(D, wst, &werr, err);
        } else if ((st = wst) != TT_OK && err) {
            *err = werr;
        }
        if (st != TT_OK) goto done;
        if (writer) last_saved = start;
    }
    r.saved = last_saved >= 0;
    r.seconds = now_s() - t0;
    r.tokens_per_s = r.seconds > 0 ? (double)(r.steps_done - start) * B * T / r.seconds : 0.0;
    if (stop) /* even at the last step: the caller asked to stop (a signal) */
        st = tt_error_set(err, TT_ERR_INTERRUPTED, "training stopped at step %d of %d", r.steps_done,
                          tc->max_steps);
done:
    tt_dist_set_patient(D, false);
    r.comm_seconds = tt_dist_comm_seconds(D) - comm0;
    if (res) *res = r;
    tt_model_set_row_offset(m, 0);
    tt_model_set_threads(m, model_threads, NULL);
    tt_grad_sync_free(gsync);
    tt_model_free(resume_m);
    tt_loader_free(loader);
    tt_adamw_free(opt);
    free(x);
    free(y);
    free(spans);
    free(best_path);
    free(state_path);
    free(prev_path);
    return st;
}
