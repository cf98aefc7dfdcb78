/*
 * TinyTransformerLM: config, presets, the tensor table, memory, forward and
 * backward orchestration. The layer kernels are in model_kernels.c.
 *
 * Dimension legend: B batch, T time, C = d_model, V vocabulary, L layers,
 * NH heads, hs = C / NH, F = d_ff, N = B * T rows.
 *
 * Memory: one block of parameters (state-dict order, a tied lm_head stored
 * once), one block of gradients of the same layout, the sinusoidal table as a
 * separate buffer, and one activation block carved per forward.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemm.h"
#include "gen_weights.h"
#include "model_internal.h"
#include "par.h"
#include "tensor_table.h"

/* Activations of one forward of [B, T]. Per-layer arrays have L slots in
 * training mode and one (reused) slot in eval mode. */
typedef struct {
    float *res;            /* [2L+1, N, C] residual stream: 0 embedding, 2l+1 after attn, 2l+2 after FFN */
    float *ln;             /* [N, C] LayerNorm output (recomputed in backward from x, mean, rstd) */
    float *ln1_mean, *ln1_rstd; /* [L, N] each */
    float *q, *k, *v;      /* [L, N, C] each */
    float *atty;           /* [N, C] attention output before W_o (backward recomputes it) */
    float *ln2_mean, *ln2_rstd; /* [L, N] each */
    float *fc1;            /* [L, N, F] before GELU */
    float *gelu;           /* [N, max(F, 3C)]: forward GELU output; backward GELU recompute,
                            * overwritten by d fc1, then dq | dk | dv (3 x [N, C]) */
    float *tmp;            /* [N, C] sublayer output before dropout (NULL without dropout) */
    float *lnf_mean, *lnf_rstd; /* [N] each; ln_f's output lives in ln */
    float *logits;         /* [N, V] */
    float *losses;         /* [N] */
    float *attn_scratch;   /* [threads, attention scratch] */
    /* backward */
    float *dres, *dtmp, *dln; /* [N, C] each */
    float *dq, *dk, *dv;   /* [N, C] each, inside gelu */
    float *dfc;            /* [N, F] d fc1 (through GELU), inside gelu */
    float *dlogits;        /* [N, V] */
    float *gemm_ws;        /* [threads, gemm_ws_floats] the products' packing (src/gemm.h) */
    size_t gemm_ws_floats;
    /* dropout keep masks (NULL without dropout) */
    uint8_t *keep_emb;     /* [N, C] */
    uint8_t *keep_att;     /* [L, B, NH, T, T] */
    uint8_t *keep_res1, *keep_res2; /* [L, N, C] */
} activations;

struct tt_model {
    tt_model_config cfg;
    size_t n_params;
    float *params;          /* [n_params] */
    float *grads;           /* [n_params] */
    unsigned char *decay;   /* [n_params] allocated with the model, filled by the first
                             * tt_model_decay_mask (under gw_lock): training reads
                             * the tensor table's spans instead (tt_model_decay_spans),
                             * so its pages are never touched there */
    bool decay_filled;
    float *pe;              /* [max_len, C] sinusoidal buffer, NULL when learned */
    tt_model_weights w, g;  /* pointers into params / grads */
    tt_layer_weights *lw, *lg; /* [L] each */
    size_t *phase; /* [L + 2] from the tensor table: where the gradients of the
                      backward's phases start: [0, phase[0]) the embeddings,
                      [phase[l], phase[l + 1]) block l, [phase[L], phase[L + 1])
                      the tail (ln_f, an untied lm_head) */
    size_t n_tensors;
    tt_tensor_info *tensors;
    tt_tensor_entry *entries; /* [n_tensors] the table rows behind tensors (names live here) */
    /* activations */
    void *act_mem;
    size_t act_cap;
    activations a;
    int fwd_B, fwd_T;
    int fwd_threads;        /* threads the activation scratch was sized for */
    /* Threads (tt_model_set_threads): the setting (0 = auto), and the team
     * that runs forward and backward, started at the first pass that uses
     * more than one thread (team_failed: it could not start, run on one). */
    int n_threads_cfg;
    tt_team *team;
    bool team_failed;
    tt_par_probe probe[3]; /* auto threads: training forwards, eval forwards, backwards */
    bool fwd_train, fwd_has_targets, fwd_dropout;
    int *tokens, *targets;  /* copies of the last forward's inputs [N] */
    size_t tok_cap;
    size_t row_offset; /* tt_model_set_row_offset: first row of a larger batch */
    tt_train_info train;    /* how it was trained (checkpoint metadata) */
    /* The generators' packed copy of the weights (src/gen_weights.c), built
     * on first use and shared by every generator of the model; dropped by
     * tt_model_weights_changed. gw_lock guards gw (mutable through a const
     * model: a cache of the weights, not a change of them) and the filling
     * of the decay mask. */
    pthread_mutex_t gw_lock;
    tt_gen_weights *gw;
    unsigned long gw_epoch; /* tt_model_weights_changed calls, under gw_lock */
};

/* ---- size arithmetic that saturates instead of wrapping ------------------ */

static size_t mul_sat(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) return SIZE_MAX;
    return a * b;
}
static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* ---- config ---------------------------------------------------------------- */

typedef struct {
    const char *name;
    int d_model, n_heads, n_layers, d_ff, max_len;
} preset;

static const preset PRESETS[] = {
    {"tiny", 128, 4, 4, 512, 512},
    {"small", 256, 8, 6, 1024, 1024},
    {"medium", 512, 8, 8, 2048, 1024},
    {"large", 768, 12, 12, 3072, 2048},
};

const char *tt_model_preset_names(void) { return "tiny,small,medium,large"; }

tt_status tt_model_config_preset(const char *name, int vocab_size, tt_model_config *out,
                                 tt_error *err) {
    if (!name || !out) return tt_error_set(err, TT_ERR_ARG, "model preset: name and output are required");
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++) {
        if (strcmp(name, PRESETS[i].name) != 0) continue;
        tt_model_config c;
        memset(&c, 0, sizeof c);
        c.vocab_size = vocab_size;
        c.d_model = PRESETS[i].d_model;
        c.n_heads = PRESETS[i].n_heads;
        c.n_layers = PRESETS[i].n_layers;
        c.d_ff = PRESETS[i].d_ff;
        c.max_len = PRESETS[i].max_len;
        c.dropout = 0.1f;
        c.positional = TT_POS_SINUSOIDAL;
        c.tie_weights = true;
        *out = c;
        tt_error_clear(err);
        return TT_OK;
    }
    return tt_error_set(err, TT_ERR_ARG, "unknown model preset '%s' (valid: %s)", name,
                        tt_model_preset_names());
}

#define DIM_MAX (1 << 24)

tt_status tt_model_config_validate(const tt_model_config *cfg, tt_error *err) {
    if (!cfg) return tt_error_set(err, TT_ERR_ARG, "model config is NULL");
    struct {
        const char *name;
        int v, max;
    } dims[] = {{"vocab_size", cfg->vocab_size, DIM_MAX}, {"d_model", cfg->d_model, 65536},
                {"n_heads", cfg->n_heads, 65536},         {"n_layers", cfg->n_layers, 4096},
                {"d_ff", cfg->d_ff, DIM_MAX},             {"max_len", cfg->max_len, DIM_MAX}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (dims[i].v <= 0 || dims[i].v > dims[i].max)
            return tt_error_set(err, TT_ERR_ARG, "model config: %s must be in [1, %d], got %d",
                                dims[i].name, dims[i].max, dims[i].v);
    }
    if (cfg->d_model % cfg->n_heads != 0)
        return tt_error_set(err, TT_ERR_ARG,
                            "model config: d_model (%d) must be divisible by n_heads (%d)",
                            cfg->d_model, cfg->n_heads);
    if (cfg->positional != TT_POS_SINUSOIDAL && cfg->positional != TT_POS_LEARNED)
        return tt_error_set(err, TT_ERR_ARG, "model config: positional must be sinusoidal or learned, got %d",
                            (int)cfg->positional);
    if (cfg->positional == TT_POS_SINUSOIDAL && cfg->d_model % 2 != 0)
        return tt_error_set(err, TT_ERR_ARG,
                            "model config: d_model must be even for sinusoidal positions, got %d",
                            cfg->d_model);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "model config: dropout must be in [0, 1), got %g",
                            (double)cfg->dropout);
    tt_error_clear(err);
    return TT_OK;
}

/* ---- the tensors: src/tensor_table.c describes them once ----------------- */

typedef struct {
    size_t params, tensors;
} count_ctx;

static void count_visit(void *ctx, const tt_tensor_entry *t) {
    count_ctx *cc = ctx;
    cc->tensors++;
    if (tt_tensor_is_param(t->def)) cc->params = add_sat(cc->params, t->numel);
}

size_t tt_model_config_num_params(const tt_model_config *cfg) {
    if (tt_model_config_validate(cfg, NULL) != TT_OK) return 0;
    count_ctx cc = {0, 0};
    tt_tensor_table_walk(cfg, count_visit, &cc);
    return cc.params;
}

typedef struct {
    tt_model *m;
    size_t off, i;
    int group;     /* the gradient phase of the last parameter placed: -1 the
                      embeddings, 0..L-1 a block, L the tail (ln_f, lm_head) */
    bool disorder; /* a parameter came after one of a later phase */
} fill_ctx;

/* Gives table entry i its memory: its own span of the parameter (and
 * gradient) block, the sinusoidal buffer, or the token embedding it is tied
 * to; and points the weight and gradient structs at it. */
static void fill_visit(void *ctx, const tt_tensor_entry *e) {
    fill_ctx *fc = ctx;
    tt_model *m = fc->m;
    tt_tensor_info *t = &m->tensors[fc->i];
    m->entries[fc->i] = *e;
    t->name = m->entries[fc->i].name;
    t->ndim = e->ndim;
    t->shape[0] = e->shape[0];
    t->shape[1] = e->shape[1];
    t->numel = e->numel;
    t->decay = e->def->decay;
    if (e->def->init == TT_INIT_SINUSOIDAL) {
        t->data = m->pe;
        t->grad = NULL;
    } else if (e->def->init == TT_INIT_TIED) {
        t->data = m->w.tok_emb;
        t->grad = m->g.tok_emb;
    } else {
        /* the backward's phases, from the table: where each block's
         * gradients start (phase[l]) and the tail's (phase[L]) */
        const int L = m->cfg.n_layers;
        const int g = e->layer >= 0 ? e->layer : (fc->group >= 0 ? L : -1);
        if (g < fc->group) fc->disorder = true;
        for (; fc->group < g; fc->group++) m->phase[fc->group + 1] = fc->off;
        t->data = m->params + fc->off;
        t->grad = m->grads + fc->off;
        fc->off += t->numel;
    }
    *tt_tensor_slot(&m->w, e) = t->data;
    *tt_tensor_slot(&m->g, e) = t->grad;
    fc->i++;
}

const tt_tensor_entry *tt_model_tensor_entry(const tt_model *m, size_t i) {
    return m && i < m->n_tensors ? &m->entries[i] : NULL;
}

const char *tt_model_tensor_init(const tt_model *m, size_t i) {
    return m && i < m->n_tensors ? tt_tensor_init_name(m->entries[i].def->init) : NULL;
}

static size_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return SIZE_MAX;
    return mul_sat((size_t)pages, (size_t)page);
}

static size_t param_bytes(const tt_model_config *cfg) {
    size_t n = tt_model_config_num_params(cfg);
    /* params + grads (float) + decay mask (byte) + the sinusoidal buffer */
    size_t b = add_sat(mul_sat(n, 2 * sizeof(float)), n);
    if (cfg->positional == TT_POS_SINUSOIDAL)
        b = add_sat(b, mul_sat(mul_sat((size_t)cfg->max_len, (size_t)cfg->d_model), sizeof(float)));
    return b;
}

static tt_status check_memory(size_t need, const char *what, tt_error *err) {
    size_t have = physical_memory();
    if (need == SIZE_MAX || need > have)
        return tt_error_set(err, TT_ERR_NOMEM,
                            "%s needs %zu bytes but the machine has %zu bytes of physical memory",
                            what, need, have);
    return TT_OK;
}

static tt_status model_create(tt_model **out, const tt_model_config *cfg, unsigned long long seed, bool init,
                              tt_error *err);

tt_status tt_model_create(tt_model **out, const tt_model_config *cfg, unsigned long long seed,
                          tt_error *err) {
    return model_create(out, cfg, seed, true, err);
}

tt_status tt_model_create_uninit(tt_model **out, const tt_model_config *cfg, tt_error *err) {
    return model_create(out, cfg, 0, false, err);
}

static tt_status model_create(tt_model **out, const tt_model_config *cfg, unsigned long long seed, bool init,
                              tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "model create: output pointer is NULL");
    *out = NULL;
    tt_status st = tt_model_config_validate(cfg, err);
    if (st != TT_OK) return st;
    st = check_memory(param_bytes(cfg), "the model (parameters and gradients)", err);
    if (st != TT_OK) return st;

    tt_model *m = calloc(1, sizeof *m);
    if (!m) return tt_error_set(err, TT_ERR_NOMEM, "model create: out of memory");
    pthread_mutex_init(&m->gw_lock, NULL);
    m->cfg = *cfg;
    m->train = tt_train_info_unknown();
    count_ctx cc = {0, 0};
    tt_tensor_table_walk(cfg, count_visit, &cc);
    m->n_params = cc.params;
    m->n_tensors = cc.tensors;
    const size_t C = (size_t)cfg->d_model, M = (size_t)cfg->max_len;
    m->params = malloc(m->n_params * sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->decay = malloc(m->n_params);
    m->tensors = calloc(m->n_tensors, sizeof *m->tensors);
    m->entries = calloc(m->n_tensors, sizeof *m->entries);
    m->lw = calloc((size_t)cfg->n_layers, sizeof *m->lw);
    m->lg = calloc((size_t)cfg->n_layers, sizeof *m->lg);
    m->phase = calloc((size_t)cfg->n_layers + 2, sizeof *m->phase);
    if (cfg->positional == TT_POS_SINUSOIDAL) m->pe = malloc(M * C * sizeof(float));
    if (!m->params || !m->grads || !m->decay || !m->tensors || !m->entries || !m->lw || !m->lg || !m->phase ||
        (cfg->positional == TT_POS_SINUSOIDAL && !m->pe)) {
        size_t need = param_bytes(cfg);
        tt_model_free(m);
        return tt_error_set(err, TT_ERR_NOMEM, "model create: out of memory: could not allocate %zu bytes", need);
    }
    m->w.layers = m->lw;
    m->g.layers = m->lg;
    fill_ctx fc = {m, 0, 0, -1, false};
    tt_tensor_table_walk(cfg, fill_visit, &fc);
    for (; fc.group < cfg->n_layers; fc.group++) m->phase[fc.group + 1] = fc.off;
    m->phase[cfg->n_layers + 1] = fc.off;
    if (fc.disorder) { /* src/tensor_table.c must list a block's tensors together */
        tt_model_free(m);
        return tt_error_set(err, TT_ERR_STATE,
                            "model create: the tensor table interleaves the gradients of two phases");
    }

    /* Init like the teaching package: N(0, 0.02) for every Linear weight and
     * embedding (learned positions included), zero biases, LayerNorm 1 / 0.
     * Draws run in state-dict order from one stream of `seed`. */
    tt_rng rng;
    tt_rng_seed(&rng, (uint64_t)seed);
    for (size_t i = 0; i < m->n_tensors && init; i++) {
        tt_tensor_info *t = &m->tensors[i];
        switch (m->entries[i].def->init) {
        case TT_INIT_NORMAL:
            for (size_t j = 0; j < t->numel; j++) t->data[j] = (float)(0.02 * tt_rng_normal(&rng));
            break;
        case TT_INIT_ZERO: memset(t->data, 0, t->numel * sizeof(float)); break;
        case TT_INIT_ONE:
            for (size_t j = 0; j < t->numel; j++) t->data[j] = 1.0f;
            break;
        case TT_INIT_SINUSOIDAL: /* computed below, load or not */
        case TT_INIT_TIED: break;
        }
    }
    if (m->pe) tt_sinusoidal_table(m->pe, cfg->max_len, cfg->d_model);
    *out = m;
    tt_error_clear(err);
    return TT_OK;
}

void tt_model_free(tt_model *m) {
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->decay);
    free(m->pe);
    free(m->tensors);
    free(m->entries);
    free(m->phase);
    free(m->lw);
    free(m->lg);
    free(m->act_mem);
    free(m->tokens);
    free(m->targets);
    tt_gen_weights_release(m->gw);
    tt_team_free(m->team);
    pthread_mutex_destroy(&m->gw_lock);
    free(m);
}

tt_status tt_model_set_threads(tt_model *m, int n_threads, tt_error *err) {
    if (!m) return tt_error_set(err, TT_ERR_ARG, "model set_threads: model is NULL");
    if (n_threads < 0 || n_threads > TT_PAR_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "model n_threads must be in [0, %d] (0 = auto), got %d",
                            TT_PAR_MAX_THREADS, n_threads);
    if (n_threads != m->n_threads_cfg) {
        tt_team_free(m->team);
        m->team = NULL;
        m->team_failed = false;
        m->n_threads_cfg = n_threads;
        memset(m->probe, 0, sizeof m->probe);
    }
    tt_error_clear(err);
    return TT_OK;
}

int tt_model_threads_setting(const tt_model *m) { return m->n_threads_cfg; }

int tt_model_threads(const tt_model *m) {
    if (!m) return 0;
    if (m->team) return tt_team_size(m->team);
    return m->team_failed ? 1 : tt_par_threads_for(m->n_threads_cfg);
}

/* The team for a pass (NULL: the calling thread alone), started on first
 * use; a team that cannot start leaves the model on one thread (the
 * results are the same). */
static tt_team *model_team(tt_model *m) {
    if (m->team || m->team_failed) return m->team;
    const int n = tt_par_threads_for(m->n_threads_cfg);
    if (n <= 1) return NULL;
    if (tt_team_create(&m->team, n, NULL) != TT_OK) {
        m->team = NULL;
        m->team_failed = true;
    }
    return m->team;
}

void tt_model_weights_changed(tt_model *m) {
    if (!m) return;
    pthread_mutex_lock(&m->gw_lock);
    tt_gen_weights *old = m->gw;
    m->gw = NULL;
    m->gw_epoch++;
    pthread_mutex_unlock(&m->gw_lock);
    tt_gen_weights_release(old); /* generators still holding it keep it until their next call */
}

tt_gen_weights **tt_model_gen_weights_lock(const tt_model *m) {
    tt_model *mm = (tt_model *)m; /* the lock and the cache are not the weights */
    pthread_mutex_lock(&mm->gw_lock);
    return &mm->gw;
}

unsigned long tt_model_gen_weights_epoch(const tt_model *m) { return m->gw_epoch; }

void tt_model_gen_weights_unlock(const tt_model *m) {
    pthread_mutex_unlock(&((tt_model *)m)->gw_lock);
}

const tt_model_config *tt_model_get_config(const tt_model *m) { return m ? &m->cfg : NULL; }
const tt_model_weights *tt_model_weights_get(const tt_model *m) { return m ? &m->w : NULL; }
size_t tt_model_num_tensors(const tt_model *m) { return m ? m->n_tensors : 0; }

tt_status tt_model_tensor(const tt_model *m, size_t i, tt_tensor_info *out) {
    if (!m || !out || i >= m->n_tensors) return TT_ERR_RANGE;
    *out = m->tensors[i];
    return TT_OK;
}

tt_status tt_model_tensor_by_name(const tt_model *m, const char *name, tt_tensor_info *out) {
    if (!m || !name || !out) return TT_ERR_RANGE;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) {
            *out = m->tensors[i];
            return TT_OK;
        }
    return TT_ERR_RANGE;
}

size_t tt_model_num_params(const tt_model *m) { return m ? m->n_params : 0; }
float *tt_model_params_flat(tt_model *m) { return m ? m->params : NULL; }
float *tt_model_grads_flat(tt_model *m) { return m ? m->grads : NULL; }
const unsigned char *tt_model_decay_mask(const tt_model *m) {
    if (!m) return NULL;
    tt_model *mm = (tt_model *)m; /* filled once, on demand: a view of the table */
    pthread_mutex_lock(&mm->gw_lock);
    if (!mm->decay_filled) {
        for (size_t t = 0; t < m->n_tensors; t++) {
            tt_decay_span sp;
            if (tt_model_decay_spans(m, &sp, t))
                memset(mm->decay + sp.off, sp.decay ? 1 : 0, sp.len);
        }
        mm->decay_filled = true;
    }
    pthread_mutex_unlock(&mm->gw_lock);
    return m->decay;
}

size_t tt_model_decay_span_count(const tt_model *m) { return m->n_tensors; }

bool tt_model_decay_spans(const tt_model *m, tt_decay_span *span, size_t t) {
    /* the tensors with memory of their own lie end to end in params, in table
     * order (fill_visit); the sinusoidal buffer and a tied head have none */
    const tt_tensor_init init = m->entries[t].def->init;
    if (init == TT_INIT_SINUSOIDAL || init == TT_INIT_TIED) return false;
    const tt_tensor_info *ti = &m->tensors[t];
    *span = (tt_decay_span){(size_t)(ti->data - m->params), ti->numel, ti->decay};
    return true;
}
const float *tt_model_logits(const tt_model *m) { return m && m->fwd_B > 0 ? m->a.logits : NULL; }

void tt_model_zero_grad(tt_model *m) {
    if (m) memset(m->grads, 0, m->n_params * sizeof(float));
}

tt_train_info tt_train_info_unknown(void) {
    tt_train_info t;
    memset(&t, 0, sizeof t);
    t.val_loss = NAN;
    return t;
}

const tt_train_info *tt_model_train_info(const tt_model *m) { return m ? &m->train : NULL; }

tt_status tt_model_set_train_info(tt_model *m, const tt_train_info *info, tt_error *err) {
    if (!m || !info) return tt_error_set(err, TT_ERR_ARG, "set_train_info: NULL argument");
    if (info->seq_len < 0 || info->seq_len > m->cfg.max_len)
        return tt_error_set(err, TT_ERR_ARG, "train seq_len must be in [0, max_len %d] (0 = unknown), got %d",
                            m->cfg.max_len, info->seq_len);
    if (info->steps < 0 || info->tokens < 0)
        return tt_error_set(err, TT_ERR_ARG, "train steps and tokens must be >= 0 (0 = unknown), got %lld and %lld",
                            info->steps, info->tokens);
    if (isinf(info->val_loss))
        return tt_error_set(err, TT_ERR_ARG, "train val_loss must be finite or NaN (unknown)");
    size_t n = strnlen(info->data_sha256, sizeof info->data_sha256);
    bool hex = n == 64;
    for (size_t i = 0; i < n && hex; i++) {
        char c = info->data_sha256[i];
        hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }
    if (n != 0 && !hex)
        return tt_error_set(err, TT_ERR_ARG, "train data_sha256 must be empty or 64 lowercase hex digits");
    m->train = *info;
    tt_error_clear(err);
    return TT_OK;
}

int tt_model_default_context(const tt_model *m) {
    if (!m) return 0;
    return m->train.seq_len > 0 ? m->train.seq_len : m->cfg.max_len;
}

tt_status tt_model_copy_weights(tt_model *dst, const tt_model *src, tt_error *err) {
    if (!dst || !src) return tt_error_set(err, TT_ERR_ARG, "copy weights: model is NULL");
    const tt_model_config *a = &dst->cfg, *b = &src->cfg;
    if (a->vocab_size != b->vocab_size || a->d_model != b->d_model || a->n_heads != b->n_heads ||
        a->n_layers != b->n_layers || a->d_ff != b->d_ff || a->max_len != b->max_len ||
        a->positional != b->positional || a->tie_weights != b->tie_weights)
        return tt_error_set(err, TT_ERR_ARG, "copy weights: the two models have different configs");
    if (dst != src) {
        memcpy(dst->params, src->params, src->n_params * sizeof(float));
        if (src->pe) memcpy(dst->pe, src->pe, (size_t)b->max_len * (size_t)b->d_model * sizeof(float));
        tt_model_weights_changed(dst);
    }
    tt_error_clear(err);
    return TT_OK;
}

/* ---- activation memory -------------------------------------------------------- */

typedef struct {
    size_t bytes;
    size_t off;
    char *base;
} carver;

static void *carve(carver *cv, size_t count, size_t elem) {
    size_t sz = mul_sat(count, elem);
    sz = add_sat(sz, 63) & ~(size_t)63; /* 64-byte aligned pieces */
    size_t at = cv->off;
    cv->off = add_sat(cv->off, sz);
    return cv->base ? cv->base + at : NULL;
}

/* Lays out (or, with base NULL, just sizes) the activations of [B, T]. */
static size_t layout(activations *a, char *base, const tt_model_config *c, int B, int T, bool train,
                     bool dropout, int threads) {
    carver cv = {0, 0, base};
    const size_t N = mul_sat((size_t)B, (size_t)T), C = (size_t)c->d_model, F = (size_t)c->d_ff,
                 V = (size_t)c->vocab_size, NH = (size_t)c->n_heads;
    const size_t Ls = train ? (size_t)c->n_layers : 1;
    const size_t NC = mul_sat(N, C), att = mul_sat(mul_sat(mul_sat((size_t)B, NH), (size_t)T), (size_t)T);
    const size_t f = sizeof(float);
    memset(a, 0, sizeof *a);
    a->res = carve(&cv, mul_sat(2 * Ls + 1, NC), f);
    a->ln = carve(&cv, NC, f);
    a->ln1_mean = carve(&cv, mul_sat(Ls, N), f);
    a->ln1_rstd = carve(&cv, mul_sat(Ls, N), f);
    a->q = carve(&cv, mul_sat(Ls, NC), f);
    a->k = carve(&cv, mul_sat(Ls, NC), f);
    a->v = carve(&cv, mul_sat(Ls, NC), f);
    a->atty = carve(&cv, NC, f);
    a->ln2_mean = carve(&cv, mul_sat(Ls, N), f);
    a->ln2_rstd = carve(&cv, mul_sat(Ls, N), f);
    a->fc1 = carve(&cv, mul_sat(Ls, mul_sat(N, F)), f);
    a->gelu = carve(&cv, mul_sat(N, F > 3 * C ? F : 3 * C), f);
    a->tmp = train && dropout ? carve(&cv, NC, f) : NULL;
    a->lnf_mean = carve(&cv, N, f);
    a->lnf_rstd = carve(&cv, N, f);
    a->logits = carve(&cv, mul_sat(N, V), f);
    a->losses = carve(&cv, N, f);
    a->attn_scratch =
        carve(&cv, mul_sat((size_t)threads, tt_attention_scratch_floats(T)), f);
    if (train) {
        a->dres = carve(&cv, NC, f);
        a->dtmp = a->tmp; /* tmp is forward-only, dtmp backward-only */
        a->dln = carve(&cv, NC, f);
        a->dq = a->gelu ? a->gelu : NULL;
        a->dk = a->gelu ? a->gelu + NC : NULL;
        a->dv = a->gelu ? a->gelu + 2 * NC : NULL;
        a->dfc = a->gelu; /* written over the GELU recompute it no longer needs */
        a->dlogits = carve(&cv, mul_sat(N, V), f);
        /* the transposed A of the weight gradients (M = Cout, K = N) and of
         * the attention backward (T x T); pages untouched beyond the largest */
        size_t mmax = F > V ? F : V;
        if (C > mmax) mmax = C;
        if ((size_t)T > mmax) mmax = (size_t)T;
        const size_t kmax = N > (size_t)T ? N : (size_t)T;
        a->gemm_ws_floats = tt_gemm_workspace_floats(mmax > INT_MAX ? INT_MAX : (int)mmax,
                                                     kmax > INT_MAX ? INT_MAX : (int)kmax);
        a->gemm_ws = carve(&cv, mul_sat((size_t)threads, a->gemm_ws_floats), f);
    }
    if (train && dropout) {
        a->keep_emb = carve(&cv, NC, 1);
        a->keep_att = carve(&cv, mul_sat(Ls, att), 1);
        a->keep_res1 = carve(&cv, mul_sat(Ls, NC), 1);
        a->keep_res2 = carve(&cv, mul_sat(Ls, NC), 1);
    }
    return cv.off;
}

size_t tt_model_activation_bytes(const tt_model_config *cfg, int B, int T) {
    if (!cfg || B <= 0 || T <= 0 || tt_model_config_validate(cfg, NULL) != TT_OK) return 0;
    activations a;
    return layout(&a, NULL, cfg, B, T, true, cfg->dropout > 0.0f, tt_par_auto_threads());
}

/* ---- forward / backward ------------------------------------------------------- */

/* One pass, as the team's threads see it (src/par.h: every thread runs the
 * body; kernels take their share; barriers order the dependent ones). */
typedef struct {
    tt_model *m;
    uint64_t dseed;  /* forward: the dropout seed of this pass */
    float loss;      /* forward: the mean loss (with targets) */
    tt_grad_ready_fn ready; /* backward: the gradient hook, or NULL */
    void *user;
} pass_args;

static void forward_body(void *arg) {
    pass_args *pa = arg;
    tt_model *m = pa->m;
    const tt_model_config *c = &m->cfg;
    activations *A = &m->a;
    const int B = m->fwd_B, T = m->fwd_T;
    const bool train = m->fwd_train, dropout = m->fwd_dropout;
    const size_t N = (size_t)B * (size_t)T;
    const int C = c->d_model, F = c->d_ff, V = c->vocab_size, NH = c->n_heads, L = c->n_layers;
    const size_t NC = N * (size_t)C, NF = N * (size_t)F, ATT = (size_t)B * NH * T * T;
    const float p = c->dropout, dscale = dropout ? 1.0f / (1.0f - p) : 1.0f;
    const uint64_t dseed = pa->dseed;
    /* Dropout streams: (layer, site) << 40 | row. Sites: 0 embedding, 1 attention
     * weights, 2 attention residual, 3 FFN residual. */
#define STREAM(l, site) ((((uint64_t)(l) * 4u + (site)) << 40))
    /* rows of a larger batch (data-parallel training) continue its streams */
    const uint64_t roff = (uint64_t)m->row_offset * (uint64_t)T, aoff = roff * (uint64_t)NH;

    tt_embed_forward(A->res, m->tokens, m->w.tok_emb, m->w.pos, (int)N, T, C, sqrtf((float)C));
    if (dropout) {
        tt_dropout_mask(A->keep_emb, N, (size_t)C, p, dseed, STREAM(0, 0) + roff);
        tt_par_barrier();
        tt_dropout_apply(A->res, A->res, A->keep_emb, dscale, NC);
    }
    tt_par_barrier();
    for (int l = 0; l < L; l++) {
        const size_t s = train ? (size_t)l : 0; /* storage slot */
        const tt_layer_weights *w = &m->lw[l];
        float *x_in = A->res + (train ? 2 * s : 0) * NC;
        float *x_mid = A->res + (train ? 2 * s + 1 : 1) * NC;
        float *x_out = A->res + (train ? 2 * s + 2 : 0) * NC; /* eval: ping-pong in slots 0/1 */
        float *q = A->q + s * NC, *k = A->k + s * NC, *v = A->v + s * NC, *atty = A->atty;
        float *fc1 = A->fc1 + s * NF;
        uint8_t *katt = dropout ? A->keep_att + s * ATT : NULL;

        tt_layernorm_forward(A->ln, A->ln1_mean + s * N, A->ln1_rstd + s * N, x_in, w->ln1_w, w->ln1_b,
                             (int)N, C);
        if (dropout) {
            tt_dropout_mask(katt, (size_t)B * NH * T, (size_t)T, p, dseed, STREAM(l, 1) + aoff);
            tt_dropout_mask(A->keep_res1 + s * NC, N, (size_t)C, p, dseed, STREAM(l, 2) + roff);
            tt_dropout_mask(A->keep_res2 + s * NC, N, (size_t)C, p, dseed, STREAM(l, 3) + roff);
        }
        tt_par_barrier();
        tt_linear_forward(q, A->ln, w->wq, w->bq, (int)N, C, C);
        tt_linear_forward(k, A->ln, w->wk, w->bk, (int)N, C, C);
        tt_linear_forward(v, A->ln, w->wv, w->bv, (int)N, C, C);
        tt_par_barrier();
        tt_attention_forward(atty, NULL, q, k, v, katt, dscale, B, T, C, NH, A->attn_scratch);
        tt_par_barrier();
        if (dropout) {
            tt_linear_forward(A->tmp, atty, w->wo, w->bo, (int)N, C, C);
            tt_par_barrier();
            tt_dropout_apply(A->tmp, A->tmp, A->keep_res1 + s * NC, dscale, NC);
            tt_par_barrier();
            tt_residual_add(x_mid, x_in, A->tmp, NC);
        } else { /* x_mid = x_in + W_o(atty), row by row (the product parked in x_mid) */
            tt_linear_residual_forward(x_mid, x_mid, x_in, atty, w->wo, w->bo, (int)N, C, C);
        }
        tt_par_barrier();

        tt_layernorm_forward(A->ln, A->ln2_mean + s * N, A->ln2_rstd + s * N, x_mid, w->ln2_w, w->ln2_b,
                             (int)N, C);
        tt_par_barrier();
        tt_linear_gelu_forward(fc1, A->gelu, A->ln, w->fc1_w, w->fc1_b, (int)N, C, F);
        tt_par_barrier();
        if (dropout) {
            tt_linear_forward(A->tmp, A->gelu, w->fc2_w, w->fc2_b, (int)N, F, C);
            tt_par_barrier();
            tt_dropout_apply(A->tmp, A->tmp, A->keep_res2 + s * NC, dscale, NC);
            tt_par_barrier();
            tt_residual_add(x_out, x_mid, A->tmp, NC);
        } else {
            tt_linear_residual_forward(x_out, x_out, x_mid, A->gelu, w->fc2_w, w->fc2_b, (int)N, F, C);
        }
        tt_par_barrier();
    }
#undef STREAM
    const float *x_last = A->res + (train ? (size_t)2 * L : 0) * NC;
    tt_layernorm_forward(A->ln, A->lnf_mean, A->lnf_rstd, x_last, m->w.lnf_w, m->w.lnf_b, (int)N, C);
    tt_par_barrier();
    tt_linear_forward(A->logits, A->ln, m->w.lm_head, NULL, (int)N, C, V);
    tt_par_barrier();
    if (m->fwd_has_targets) {
        const float loss = tt_crossentropy_forward(A->losses, A->logits, m->targets, (int)N, V);
        if (tt_par_tid() == 0) pa->loss = loss;
    }
}

tt_status tt_model_forward(tt_model *m, const int *tokens, const int *targets, int B, int T,
                           tt_mode mode, tt_rng *rng, float *loss, tt_error *err) {
    if (!m || !tokens) return tt_error_set(err, TT_ERR_ARG, "forward: model and tokens are required");
    const tt_model_config *c = &m->cfg;
    if (mode != TT_MODE_EVAL && mode != TT_MODE_TRAIN)
        return tt_error_set(err, TT_ERR_ARG, "forward: mode must be TT_MODE_EVAL or TT_MODE_TRAIN, got %d",
                            (int)mode);
    if (B <= 0) return tt_error_set(err, TT_ERR_ARG, "forward: batch size must be >= 1, got %d", B);
    if (T <= 0) return tt_error_set(err, TT_ERR_ARG, "forward: sequence length must be >= 1, got %d", T);
    if (T > c->max_len)
        return tt_error_set(err, TT_ERR_ARG, "forward: sequence length %d > max_len %d", T, c->max_len);
    const bool train = mode == TT_MODE_TRAIN;
    const bool dropout = train && c->dropout > 0.0f;
    if (dropout && !rng)
        return tt_error_set(err, TT_ERR_ARG, "forward: training with dropout %g needs an rng",
                            (double)c->dropout);
    const size_t N = (size_t)B * (size_t)T;
    for (size_t n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= c->vocab_size)
            return tt_error_set(err, TT_ERR_RANGE,
                                "forward: token id %d at batch %zu, position %zu is out of range [0, %d)",
                                tokens[n], n / (size_t)T, n % (size_t)T, c->vocab_size);
        if (targets && (targets[n] < 0 || targets[n] >= c->vocab_size))
            return tt_error_set(err, TT_ERR_RANGE,
                                "forward: target id %d at batch %zu, position %zu is out of range [0, %d)",
                                targets[n], n / (size_t)T, n % (size_t)T, c->vocab_size);
    }

    /* threads: the team (started now if need be) sizes the attention scratch */
    tt_team *team = model_team(m);
    const int threads = team ? tt_team_size(team) : 1;
    /* memory: size the activations, check against physical memory, grow */
    activations a;
    size_t need = layout(&a, NULL, c, B, T, train, dropout, threads);
    if (need > m->act_cap) {
        tt_status st = check_memory(add_sat(param_bytes(c), need),
                                    "the model (parameters, gradients and activations)", err);
        if (st != TT_OK) return st;
        void *mem = malloc(need);
        if (!mem)
            return tt_error_set(err, TT_ERR_NOMEM, "forward: out of memory: could not allocate %zu bytes of activations",
                                need);
        free(m->act_mem);
        m->act_mem = mem;
        m->act_cap = need;
    }
    if (N > m->tok_cap) {
        int *tk = malloc(N * sizeof(int)), *tg = malloc(N * sizeof(int));
        if (!tk || !tg) {
            free(tk);
            free(tg);
            return tt_error_set(err, TT_ERR_NOMEM, "forward: out of memory");
        }
        free(m->tokens);
        free(m->targets);
        m->tokens = tk;
        m->targets = tg;
        m->tok_cap = N;
    }
    layout(&m->a, m->act_mem, c, B, T, train, dropout, threads);
    m->fwd_threads = threads;
    memcpy(m->tokens, tokens, N * sizeof(int));
    if (targets) memcpy(m->targets, targets, N * sizeof(int));
    m->fwd_B = B;
    m->fwd_T = T;
    m->fwd_train = train;
    m->fwd_has_targets = targets != NULL;
    m->fwd_dropout = dropout;

    pass_args pa = {m, dropout ? tt_rng_u64(rng) : 0, 0.0f, NULL, NULL};
    tt_par_run_probed(team, m->n_threads_cfg == 0 ? &m->probe[train ? 0 : 1] : NULL, (double)N, forward_body,
                      &pa);
    if (targets && loss) *loss = pa.loss;
    tt_error_clear(err);
    return TT_OK;
}

void tt_model_set_row_offset(tt_model *m, size_t b0) {
    if (m) m->row_offset = b0;
}

tt_status tt_model_backward(tt_model *m, tt_error *err) {
    return tt_model_backward_hooked(m, NULL, NULL, err);
}

/* The flat offset of a gradient tensor. */

/* Backward on every thread of the run; ready() on the calling thread (0)
 * once every thread has finished the range it reports. */
static void backward_body(void *arg) {
    pass_args *pa = arg;
    tt_model *m = pa->m;
    const tt_grad_ready_fn ready = pa->ready;
    void *user = pa->user;
    const bool caller = tt_par_tid() == 0;
    const tt_model_config *c = &m->cfg;
    activations *A = &m->a;
    const int B = m->fwd_B, T = m->fwd_T, C = c->d_model, F = c->d_ff, V = c->vocab_size,
              NH = c->n_heads, L = c->n_layers;
    const size_t N = (size_t)B * T, NC = N * (size_t)C, NF = N * (size_t)F, ATT = (size_t)B * NH * T * T;
    const bool dropout = m->fwd_dropout;
    const float dscale = dropout ? 1.0f / (1.0f - c->dropout) : 1.0f;
    tt_model_weights *g = &m->g;
    tt_gemm_workspace_set(A->gemm_ws ? A->gemm_ws + (size_t)tt_par_tid() * A->gemm_ws_floats : NULL,
                          A->gemm_ws_floats);

    /* head: logits = lnf @ lm_head^T; loss = mean CE */
    tt_par_zero(A->dlogits, N * (size_t)V);
    tt_par_zero(A->dres, NC);
    /* ln_f's output, recomputed into ln (the same numbers as the forward) */
    tt_layernorm_forward(A->ln, A->lnf_mean, A->lnf_rstd, A->res + (size_t)2 * L * NC, m->w.lnf_w, m->w.lnf_b,
                         (int)N, C);
    tt_par_barrier();
    tt_crossentropy_backward(A->dlogits, A->logits, m->targets, (int)N, V, 1.0f / (float)N);
    tt_par_barrier();
    tt_linear_backward_write(A->dln, g->lm_head, NULL, A->dlogits, A->ln, m->w.lm_head, (int)N, C, V);
    tt_par_barrier();
    tt_layernorm_backward(A->dres, g->lnf_w, g->lnf_b, A->dln, A->res + (size_t)2 * L * NC, m->w.lnf_w,
                          A->lnf_mean, A->lnf_rstd, (int)N, C);
    tt_par_barrier();
    /* ln_f and an untied lm_head end the block; a tied one is tok_emb */
    if (ready && caller) ready(user, m->phase[L], m->n_params);

    for (int l = L - 1; l >= 0; l--) {
        const size_t s = (size_t)l;
        const tt_layer_weights *w = &m->lw[l];
        tt_layer_weights *gw = &m->lg[l];
        const float *x_in = A->res + 2 * s * NC, *x_mid = A->res + (2 * s + 1) * NC;
        const float *q = A->q + s * NC, *k = A->k + s * NC, *v = A->v + s * NC;
        const float *fc1 = A->fc1 + s * NF;

        /* x_out = x_mid + Drop(fc2(gelu(fc1(LN2(x_mid))))); dres holds d x_out */
        const float *dout2 = A->dres;
        if (dropout) {
            tt_dropout_apply(A->dtmp, A->dres, A->keep_res2 + s * NC, dscale, NC);
            dout2 = A->dtmp;
        }
        tt_gelu_forward(A->gelu, fc1, NF); /* recompute */
        /* LN2's output, recomputed (the same numbers as the forward) */
        tt_layernorm_forward(A->ln, A->ln2_mean + s * N, A->ln2_rstd + s * N, x_mid, w->ln2_w, w->ln2_b,
                             (int)N, C);
        tt_par_barrier();
        /* dfc = d fc1 (through GELU), row by row as d gelu comes, over the GELU
         * output once fc2's weight gradient has read it (dfc is gelu) */
        tt_linear_backward_gelu(A->dfc, gw->fc2_w, gw->fc2_b, dout2, A->gelu, w->fc2_w, fc1, (int)N, F, C);
        tt_par_barrier();
        tt_linear_backward_write(A->dln, gw->fc1_w, gw->fc1_b, A->dfc, A->ln, w->fc1_w, (int)N, C, F);
        tt_par_barrier();
        tt_layernorm_backward(A->dres, gw->ln2_w, gw->ln2_b, A->dln, x_mid, w->ln2_w,
                              A->ln2_mean + s * N, A->ln2_rstd + s * N, (int)N, C);
        tt_par_barrier();

        /* x_mid = x_in + Drop(W_o(attn(LN1(x_in)))); dres now holds d x_mid */
        const float *dout1 = A->dres;
        if (dropout) {
            tt_dropout_apply(A->dtmp, A->dres, A->keep_res1 + s * NC, dscale, NC);
            dout1 = A->dtmp;
        }
        if (dropout) tt_par_barrier(); /* dtmp's shares are not the rows below */
        /* d atty = dout1 W_o; W_o's weight gradient waits for atty, recomputed
         * by the attention backward (no [L, N, C] of attention outputs kept) */
        tt_linear_backward_write(A->dln, NULL, NULL, dout1, NULL, w->wo, (int)N, C, C);
        tt_par_barrier();
        tt_attention_backward_y(A->atty, A->dq, A->dk, A->dv, A->dln, q, k, v,
                                dropout ? A->keep_att + s * ATT : NULL, dscale, B, T, C, NH,
                                A->attn_scratch);
        tt_par_barrier();
        tt_linear_backward(NULL, gw->wo, gw->bo, dout1, A->atty, w->wo, (int)N, C, C);
        tt_layernorm_forward(A->ln, A->ln1_mean + s * N, A->ln1_rstd + s * N, x_in, w->ln1_w, w->ln1_b,
                             (int)N, C);
        tt_par_barrier();
        /* d ln1 = dq wq + dk wk + dv wv, in that order (the first written) */
        tt_linear_backward_write(A->dln, gw->wq, gw->bq, A->dq, A->ln, w->wq, (int)N, C, C);
        tt_linear_backward(A->dln, gw->wk, gw->bk, A->dk, A->ln, w->wk, (int)N, C, C);
        tt_linear_backward(A->dln, gw->wv, gw->bv, A->dv, A->ln, w->wv, (int)N, C, C);
        tt_par_barrier();
        tt_layernorm_backward(A->dres, gw->ln1_w, gw->ln1_b, A->dln, x_in, w->ln1_w,
                              A->ln1_mean + s * N, A->ln1_rstd + s * N, (int)N, C);
        tt_par_barrier();
        /* block l's tensors are adjacent, from wq to ln2_b */
        if (ready && caller) ready(user, m->phase[l], m->phase[l + 1]);
    }
    /* embedding: res0 = Drop(tok_emb[tokens] * sqrt(C) + pos) */
    if (dropout) {
        tt_dropout_apply(A->dres, A->dres, A->keep_emb, dscale, NC);
        tt_par_barrier();
    }
    tt_embed_backward(g->tok_emb, c->positional == TT_POS_LEARNED ? g->pos : NULL, A->dres, m->tokens,
                      (int)N, T, C, sqrtf((float)C));
    tt_par_barrier();
    if (ready && caller) ready(user, 0, m->phase[0]);
    tt_gemm_workspace_set(NULL, 0);
}

tt_status tt_model_backward_hooked(tt_model *m, tt_grad_ready_fn ready, void *user, tt_error *err) {
    if (!m) return tt_error_set(err, TT_ERR_ARG, "backward: model is NULL");
    if (m->fwd_B <= 0 || !m->fwd_train || !m->fwd_has_targets)
        return tt_error_set(err, TT_ERR_STATE,
                            "backward: needs a preceding TT_MODE_TRAIN forward with targets");
    /* the per-thread attention scratch was sized at forward time: a larger
     * team since (tt_model_set_threads) runs this backward on one thread */
    tt_team *team = model_team(m);
    if (team && tt_team_size(team) > m->fwd_threads) team = NULL;
    pass_args pa = {m, 0, 0.0f, ready, user};
    tt_par_run_probed(team, m->n_threads_cfg == 0 ? &m->probe[2] : NULL, (double)m->fwd_B * m->fwd_T,
                      backward_body, &pa);
    tt_error_clear(err);
    return TT_OK;
}
