/*
 * The TextGenerator: autoregressive generation with per-layer KV caches.
 *
 * Legend: B batch rows, T time, C = d_model, V vocabulary, L layers,
 * NH heads, hs = C / NH, F = d_ff, Tmax = max_len, N token rows in one
 * kernel call (rows of different sequences, or the positions of one prompt).
 *
 * The inference kernels (src/gen_kernels.c) are the generator's own, on the
 * model's weights (borrowed, PyTorch layout, Linear w[O, I]), run by its own
 * team of threads (src/team.c), started at the first call that uses more
 * than one thread, or by a pool shared with other generators
 * (src/thread_pool.c). One function, forward_rows(),
 * runs N token rows through the model: row i is token tok[i] at position
 * pos[i] of the sequence held in cache slot slot[i]; its K and V are written
 * to that slot's cache and its query attends to positions 0..pos[i] of the
 * slot. A prompt prefill is forward_rows over the prompt's positions, a
 * decode step is forward_rows over one token of each active row, and the
 * no-cache path is forward_rows over the whole (cropped) context at every
 * step. Each kernel computes a value with the same float operations whatever
 * N, the other rows and the thread are, so all of these give bit-identical
 * logits.
 *
 * Math (as the teaching package, eval mode): x = tok_emb[id] * sqrt(C) +
 * pos[p]; per block x += W_o(attn(LN1(x))) + ..., x += fc2(gelu(fc1(LN2(x))))
 * with biases, exact erf GELU, LayerNorm eps 1e-5; logits = LN_f(x) @ lm_head^T.
 */
#include "gen_weights.h"
#include "abi.h"
#include "generate_internal.h"
#include "stop.h"
#include "team.h"
#include "thread_pool_internal.h"

#include <limits.h>
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tt/rng.h"
#include "tt/sampling.h"

#include "par.h"


typedef struct fwd_call fwd_call;

struct tt_generator {
    const tt_model *model;
    tt_generator_config cfg;
    int V, C, NH, hs, L, F, Tmax;
    int TP;         /* positions a cache head holds now: a multiple of 64, grown as
                       calls need them, up to TPmax */
    int TPmax;      /* Tmax rounded up to a multiple of 64 */
    int CH;         /* token rows of one prefill chunk (GEN_CHUNK, or fewer
                       when Tmax is smaller) */
    size_t hstride; /* floats per head in a cache: TP * hs + 64 */
    /* KV caches: head h of layer l of slot s at ((s * L + l) * NH + h) *
     * hstride. K in groups of 64 positions, [TP / 64][hs][64] (position t,
     * element i at ((t / 64) * hs + i) * 64 + t % 64), so that 8 vector
     * chains give 64 scores from one sequential stream; V [TP][hs]. The
     * 64 floats of padding per head keep the heads' hot starts from all
     * falling into the same cache sets. */
    int cap_slots;
    float *kc, *vc; /* [cap_slots, L, NH, hstride] each */
    /* Scratch for up to cap_rows token rows. */
    int cap_rows;
    float *x, *q, *kb, *vb, *att;      /* [cap_rows, C] (q: [cap_rows, 3C]) */
    float *xnt;                        /* [n_threads, GEN_PRIV_ROWS, C] normalised rows */
    float *xns;                        /* [cap_rows, C] the same, shared, for larger calls */
    float *h;                          /* [cap_rows, F]                 */
    float *lg;                         /* [cap_rows, V] compact logits  */
    int *sel;                          /* [cap_rows] rows wanting logits */
    float *scores;                     /* [n_threads, NH, TP]           */
    int n_threads;                     /* threads of a forward team (the most) */
    tt_team *team;                     /* its own threads: NULL until a call uses
                                          them (start_team), and with a pool */
    bool team_failed;                  /* they could not be started: one thread */
    tt_thread_pool *pool;              /* a shared pool (a reference), or NULL */
    int use_threads;                   /* the team size in use: n_threads or 1 */
    bool adapt;                        /* auto threads: use_threads is measured */
    struct {
        int left;    /* decode steps until the next probe */
        int period;  /* steps between probes: 128 after a change of verdict, doubling (to 1,024) while it holds */
        int k;        /* probe steps done: 0 wakes the team, 1-2 team, 3-4 one thread */
        double t[2];  /* their seconds: one thread, the team */
        double t1_ref; /* the last one-thread decode step outside a probe (s) */
        double warm;  /* seconds of the team's wake-up steps so far */
        bool team;    /* the verdict: use the team */
        int confirm;  /* team steps left to confirm a team verdict */
        double tc;    /* their seconds so far */
    } probe;
    fwd_call *fc;                      /* the current call's shared state */
    /* Per-call batch state. */
    int cap_b;
    float *logits;            /* [cap_b, V] next-token logits of each row */
    tt_rng *rngs;             /* [cap_b]                                  */
    int *ctok, *cpos, *cslot; /* [cap_b] decode-step inputs        */
    int *wstart;              /* [cap_b] index of each row's first window token */
    float **cdst;             /* [cap_b]                           */
    unsigned char *finished;  /* [cap_b]                           */
    double *ent;              /* [cap_b, ent_cap]                  */
    int *n_ent;               /* [cap_b]                           */
    int ent_cap, ent_rows;    /* stride and rows of the last call */
    size_t ent_alloc;         /* doubles allocated in ent          */
    int *wtok, *wpos, *wslot; /* [Tmax] window inputs              */
    float **wdst;             /* [Tmax]                            */
    tt_sampler *sampler;   /* = samplers[0] */
    tt_sampler **samplers; /* [n_threads]: one per team thread */
    int *stok;             /* [cap_b] a decode step's token of each row, */
    double *sent;          /* its entropy, */
    tt_status *sst;        /* the sampler's status, */
    unsigned char *sampled; /* and whether the team drew it this step */
    /* The model's packed matrices (src/gen_weights.c), shared with every
     * generator of the model, checked at the start of every call. */
    tt_gen_weights *gw;
    tt_gen_rows *rows;        /* the step API's rows (src/gen_step.c) */
    size_t mem_limit;         /* bytes a call may use; 0 = physical memory */
    tt_abort_callback abort_cb; /* checked between steps and prefill chunks */
    void *abort_user;
    bool aborted;             /* the callback asked to stop during this call */
    int *tcap;                /* [cap_b] ints allocated in each result's tokens */
    /* Sampling controls (src/gen_controls.c): */
    const struct tt_tokenizer *tok; /* borrowed: stop strings, DRY breakers */
    tt_token_history *hist;         /* [cap_b] each row's tokens so far */
    int *emitted;                   /* [cap_b] tokens given to the callback */
    float *probs;                   /* [V] a processed distribution */
    tt_stop_set stops;
};

/* ------------------------------------------------------------------------ */
/* Config                                                                   */

tt_generator_config tt_generator_config_default(void) {
    tt_generator_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.max_new_tokens = 50;
    c.temperature = 1.0f;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.do_sample = true;
    c.eos_token_id = TT_TOKEN_NONE;
    c.pad_token_id = TT_TOKEN_NONE;
    c.seed = 42;
    c.use_cache = true;
    c.n_threads = 0;
    c.context_len = 0;
    c.context_shift = TT_CONTEXT_SHIFT_HALF;
    c.controls = tt_sampling_controls_default();
    return c;
}

const char *tt_context_shift_str(tt_context_shift s) {
    switch (s) {
    case TT_CONTEXT_SHIFT_HALF: return "half";
    case TT_CONTEXT_SHIFT_EXACT: return "exact";
    }
    return "unknown";
}

static tt_status check_id(const char *field, int id, int V, tt_error *err) {
    if (id == TT_TOKEN_NONE) return TT_OK;
    if (id < 0)
        return tt_error_set(err, TT_ERR_ARG, "%s must be a token id >= 0 or none (-1), got %d",
                            field, id);
    if (V > 0 && id >= V)
        return tt_error_set(err, TT_ERR_ARG, "%s %d is out of range for vocabulary size %d", field,
                            id, V);
    return TT_OK;
}

/* The first released layout ends with the controls (ABI policy, src/abi.h). */
#define TT_GENERATOR_CONFIG_SIZE_0 TT_STRUCT_END(tt_generator_config, controls)

tt_status tt_gen_config_in(tt_generator_config *dst, const tt_generator_config *src, tt_error *err) {
    *dst = tt_generator_config_default();
    return tt_struct_in(dst, sizeof *dst, src, TT_GENERATOR_CONFIG_SIZE_0, "generator config", err);
}

tt_status tt_generator_config_validate(const tt_generator_config *gc_in, int vocab_size,
                                       tt_error *err) {
    if (!gc_in) return tt_error_set(err, TT_ERR_ARG, "generator config is NULL");
    tt_generator_config today;
    tt_status in = tt_gen_config_in(&today, gc_in, err);
    if (in != TT_OK) return in;
    const tt_generator_config *gc = &today;
    if (gc->max_new_tokens < 0)
        return tt_error_set(err, TT_ERR_ARG, "max_new_tokens must be >= 0, got %d",
                            gc->max_new_tokens);
    if (!(gc->temperature >= 0.0f) || isinf(gc->temperature))
        return tt_error_set(err, TT_ERR_ARG,
                            "temperature must be finite and >= 0 (0 = greedy), got %g",
                            (double)gc->temperature);
    if (gc->top_k < 0)
        return tt_error_set(err, TT_ERR_ARG, "top_k must be >= 0 (0 = off), got %d", gc->top_k);
    if (!(gc->top_p > 0.0f && gc->top_p <= 1.0f))
        return tt_error_set(err, TT_ERR_ARG, "top_p must be in (0, 1] (1 = off), got %g",
                            (double)gc->top_p);
    tt_status st = check_id("eos_token_id", gc->eos_token_id, vocab_size, err);
    if (st) return st;
    st = check_id("pad_token_id", gc->pad_token_id, vocab_size, err);
    if (st) return st;
    if (gc->n_threads < 0 || gc->n_threads > TT_GEN_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "n_threads must be in [0, %d] (0 = auto), got %d",
                            TT_GEN_MAX_THREADS, gc->n_threads);
    if (gc->pad_token_id != TT_TOKEN_NONE && gc->eos_token_id == TT_TOKEN_NONE)
        return tt_error_set(err, TT_ERR_ARG,
                            "pad_token_id %d is set without eos_token_id (padding needs an EOS)",
                            gc->pad_token_id);
    if (gc->context_len < 0)
        return tt_error_set(err, TT_ERR_ARG,
                            "context_len must be >= 0 (0 = the model's default), got %d",
                            gc->context_len);
    if (gc->context_shift != TT_CONTEXT_SHIFT_HALF && gc->context_shift != TT_CONTEXT_SHIFT_EXACT)
        return tt_error_set(err, TT_ERR_ARG, "context_shift must be half or exact, got %d",
                            (int)gc->context_shift);
    const tt_sampling_params sp = tt_gen_sampling_params(gc);
    return tt_sampling_params_validate(&sp, err);
}

const char *tt_finish_reason_str(tt_finish_reason r) {
    switch (r) {
    case TT_FINISH_LENGTH: return "length";
    case TT_FINISH_EOS: return "eos";
    case TT_FINISH_STOP: return "stop";
    }
    return "unknown";
}

void tt_generations_free(tt_generation *g, int n) {
    if (!g) return;
    for (int i = 0; i < n; i++) {
        free(g[i].tokens);
        g[i].tokens = NULL;
        free(g[i].logprobs);
        g[i].logprobs = NULL;
        g[i].n_tokens = g[i].n_prompt = g[i].n_generated = 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Forward pass                                                             */

/* Floats of one layer's packed matrices. */
static size_t layer_packed(const tt_generator *g) { return tt_gen_layer_packed(g->C, g->F); }

/* Starts the generator's own team (no pool) if it has none yet: threads
 * are started at the first call that uses more than one, not at create.
 * Threads that cannot be had then leave the generator on one thread (the
 * same tokens). @return whether there is a team. */
static bool start_team(tt_generator *g) {
    if (g->team) return true;
    if (g->pool || g->n_threads < 2 || g->team_failed) return false;
    tt_error e;
    if (tt_team_create(&g->team, g->n_threads, &e) == TT_OK) return true;
    g->team_failed = true;
    g->adapt = false;
    g->use_threads = 1;
    return false;
}

/* The team for a run on more than one thread (use_threads > 1): the pool
 * when no other generator is running on it (the step then runs on the
 * calling thread instead of waiting), else the generator's own team.
 * NULL: run on the calling thread. Give it back with release_team. */
static tt_team *acquire_team(tt_generator *g) {
    if (g->use_threads < 2) return NULL;
    if (g->pool) return tt_pool_try_acquire(g->pool);
    return start_team(g) && tt_team_usable(g->team) ? g->team : NULL;
}

static void release_team(tt_generator *g, tt_team *t) {
    if (t && g->pool) tt_pool_release(g->pool);
}

/* Makes g->gw the model's current packed weights (packed on first use). */
static tt_status use_weights(tt_generator *g, tt_error *err) {
    /* a team only to pack them: none is started (or the pool taken) for
     * weights already packed */
    tt_team *t = tt_gen_weights_packed(g->model) ? NULL : acquire_team(g);
    const tt_status st = tt_gen_weights_use(g->model, &g->gw, t, err);
    release_team(g, t);
    return st;
}

static inline float *kslot(const tt_generator *g, float *base, int slot, int l) {
    return base + ((size_t)slot * g->L + l) * (size_t)g->NH * g->hstride;
}

/* A work counter on a cache line of its own. */
typedef struct {
    atomic_int next;
    char pad[64 - sizeof(atomic_int)];
} gen_counter;

/* Phases of a forward call with counters: per layer q/k/v, the K/V writes
 * of a prefill, attention, W_o, fc1, fc2; then the head. */
#define GEN_PHASES(L) ((L) * 6 + 1)

/* Rows up to which every thread of a team normalises all rows itself. */
#define GEN_PRIV_ROWS 64

/* Token rows of one prefill (or window recompute) chunk: the scratch holds
 * max(B, GEN_CHUNK) rows, not max_len, and the abort callback is asked
 * between chunks. */
#define GEN_CHUNK 128

/* Tokens a result (and the entropies) has room for at first; they double. */
#define GEN_GROW 256

/* One forward call's inputs and work counters, shared by the team. */
struct fwd_call {
    int N;
    const int *pos, *slot;
    bool shared_slots; /* some slot has several rows (a prefill) */
    int m;             /* rows wanting logits: g->sel[0..m) */
    int nth;           /* threads in the team */
    tt_team *team;     /* the team running it (nth > 1) */
    gen_counter *ctr;  /* [GEN_PHASES(L)]: the next chunk of each phase */
    const tt_sampling_params *sp; /* not NULL: the team also samples each
                                     row's next token (slot = row) */
};

/* Claims the next chunk of phase p (>= the chunk count when none is left). */
static inline int claim(fwd_call *fc, int p) {
    return atomic_fetch_add_explicit(&fc->ctr[p].next, 1, memory_order_relaxed);
}

/* Waits for the team (and orders memory); nothing for a team of one. */
static inline void team_barrier(const tt_generator *g, const fwd_call *fc) {
    (void)g;
    if (fc->nth > 1) tt_team_barrier(fc->team);
}

/* Claims the next blocks [*b0, *b1) of a product with nb output blocks
 * (false when none are left), guided: a share of what is left, 1 / (2 nth)
 * of it, so that early chunks are large (few claims, each an atomic on a
 * shared cache line) and the last are one tile (the threads reach the
 * barrier together); in whole tiles, triples for the 4 x 3 tile when there
 * are 4 rows or more, else eights (1 x 8). */
static bool claim_blocks(fwd_call *fc, int p, int N, int nb, int *b0, int *b1) {
    const int tile = N >= 4 ? 3 : 8;
    int cur = atomic_load_explicit(&fc->ctr[p].next, memory_order_relaxed);
    for (;;) {
        if (cur >= nb) return false;
        int take = (nb - cur) / (2 * fc->nth);
        take = take < tile ? tile : (take + tile - 1) / tile * tile;
        const int end = cur + take < nb ? cur + take : nb;
        if (atomic_compare_exchange_weak_explicit(&fc->ctr[p].next, &cur, end,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *b0 = cur;
            *b1 = end;
            return true;
        }
    }
}

/* Runs phase p, out[N, O] = epi(x @ w^T + b), until no block is left, then
 * waits for the team. */
static void team_linear(const tt_generator *g, fwd_call *fc, int p, float *out, const float *x,
                        const float *wp, const float *b, int N, int I, int O,
                        tt_gen_epilogue epi) {
    const int nb = (O + 7) >> 3;
    for (int b0, b1; claim_blocks(fc, p, N, nb, &b0, &b1);)
        tt_gen_linear_blocks(out, x, wp, b, N, I, O, b0, b1, epi);
    team_barrier(g, fc);
}

/* K and V of heads [h0, h1) of row i into its slot's cache of layer l. */
static void write_kv(tt_generator *g, const fwd_call *fc, int l, int i, int h0, int h1,
                     const float *kp, const float *vp, size_t rs) {
    const int hs = g->hs, p = fc->pos[i];
    float *kd = kslot(g, g->kc, fc->slot[i], l), *vd = kslot(g, g->vc, fc->slot[i], l);
    for (int h = h0; h < h1; h++) {
        const float *kr = kp + i * rs + h * hs;
        float *kt = kd + (size_t)h * g->hstride + (size_t)(p >> 6) * hs * 64 + (p & 63);
        for (int j = 0; j < hs; j++)
            kt[(size_t)j * 64] = kr[j];
        memcpy(vd + (size_t)h * g->hstride + (size_t)p * hs, vp + i * rs + h * hs,
               (size_t)hs * sizeof(float));
    }
}

/* xn = LayerNorm(x) of the call's N rows: all of them into a thread's own
 * buffer (priv), or a share of them into the shared one, then a barrier. */
static void team_layernorm(const tt_generator *g, fwd_call *fc, float *xn, bool priv, int tid,
                           const float *w, const float *b) {
    const int C = g->C, N = fc->N;
    if (priv) {
        tt_gen_layernorm(xn, g->x, w, b, N, C);
        return;
    }
    const int r0 = (int)((long)N * tid / fc->nth), r1 = (int)((long)N * (tid + 1) / fc->nth);
    tt_gen_layernorm(xn + (size_t)r0 * C, g->x + (size_t)r0 * C, w, b, r1 - r0, C);
    team_barrier(g, fc);
}

/* A thread's part of a forward call. Work is claimed in chunks (blocks of
 * outputs of a linear layer; (row, heads) units of attention), so a thread
 * that runs slower (a busy sibling on the host) takes fewer; no value
 * depends on who computes it. A layer has five barriers (six with a
 * prefill, eight with shared LayerNorms): after q/k/v, attention, W_o, fc1
 * and fc2. */
static void forward_team(tt_generator *g, fwd_call *fc, int tid) {
    const tt_model_weights *W = tt_model_weights_get(g->model);
    const int C = g->C, L = g->L, F = g->F, V = g->V, NH = g->NH, TP = g->TP;
    const int N = fc->N, nth = fc->nth;
    /* Up to GEN_PRIV_ROWS rows (decode steps) every thread normalises every
     * row itself into its own buffer, cheaper than a barrier; larger calls
     * (prefill, recompute) share one buffer, rows split, and wait. */
    const bool priv = N <= GEN_PRIV_ROWS;
    float *xn = priv ? g->xnt + (size_t)tid * GEN_PRIV_ROWS * C : g->xns;
    float *sc = g->scores + (size_t)tid * NH * (size_t)TP;
    const size_t pcc = tt_gen_packed_floats(C, C), pfc = tt_gen_packed_floats(F, C);
    /* attention units: (row, hpu heads). In a team, pairs of heads keep the
     * value sum's two-heads-at-once path while giving the threads enough
     * units to finish together; single heads when rows are few. */
    const int hpu = nth == 1 ? NH : N < 2 * nth || NH % 2 ? 1 : 2, nu = N * (NH / hpu);
    int ph = 0; /* phase counter */
    for (int l = 0; l < L; l++) {
        const tt_layer_weights *w = &W->layers[l];
        const float *wpl = g->gw->wp + (size_t)l * layer_packed(g);
        team_layernorm(g, fc, xn, priv, tid, w->ln1_w, w->ln1_b);
        /* q, k, v of row i at g->q, kp, vp + i * rs */
        const float *kp, *vp;
        size_t rs;
        if (C % 8 == 0) {
            /* the three packed matrices are one [3C, C] product */
            team_linear(g, fc, ph++, g->q, xn, wpl, w->bq ? g->gw->bqkv + (size_t)l * 3 * C : NULL, N, C,
                        3 * C, TT_GEN_EPI_STORE);
            kp = g->q + C, vp = g->q + 2 * C, rs = (size_t)3 * C;
        } else {
            for (int c; (c = claim(fc, ph)) < 3;)
                tt_gen_linear_blocks(c == 0 ? g->q : c == 1 ? g->kb : g->vb, xn, wpl + c * pcc,
                                     c == 0 ? w->bq : c == 1 ? w->bk : w->bv, N, C, C, 0,
                                     (C + 7) >> 3, TT_GEN_EPI_STORE);
            ph++;
            team_barrier(g, fc);
            kp = g->kb, vp = g->vb, rs = (size_t)C;
        }
        if (fc->shared_slots) {
            /* a prefill: every K/V of the slot before any attention */
            for (int i; (i = claim(fc, ph)) < N;)
                write_kv(g, fc, l, i, 0, NH, kp, vp, rs);
            ph++;
            team_barrier(g, fc);
        }
        for (int u; (u = claim(fc, ph)) < nu;) {
            const int i = u / (NH / hpu), h0 = u % (NH / hpu) * hpu, h1 = h0 + hpu;
            if (!fc->shared_slots) write_kv(g, fc, l, i, h0, h1, kp, vp, rs);
            tt_gen_attend(g->att + (size_t)i * C, g->q + i * rs, kslot(g, g->kc, fc->slot[i], l),
                          kslot(g, g->vc, fc->slot[i], l), fc->pos[i] + 1, C, NH, g->hstride, sc,
                          TP, h0, h1);
        }
        ph++;
        team_barrier(g, fc);
        team_linear(g, fc, ph++, g->x, g->att, wpl + 3 * pcc, w->bo, N, C, C, TT_GEN_EPI_ADD);
        team_layernorm(g, fc, xn, priv, tid, w->ln2_w, w->ln2_b);
        team_linear(g, fc, ph++, g->h, xn, wpl + 4 * pcc, w->fc1_b, N, C, F, TT_GEN_EPI_GELU);
        team_linear(g, fc, ph++, g->x, g->h, wpl + 4 * pcc + pfc, w->fc2_b, N, F, C,
                    TT_GEN_EPI_ADD);
    }
    /* Final LayerNorm and head only for the rows that want logits. */
    /* (m <= N: in the private buffer when N fits it) */
    for (int j = priv ? 0 : tid; j < fc->m; j += priv ? 1 : nth)
        tt_gen_layernorm(xn + (size_t)j * C, g->x + (size_t)g->sel[j] * C, W->lnf_w, W->lnf_b, 1,
                         C);
    if (!priv) team_barrier(g, fc);
    team_linear(g, fc, ph, g->lg, xn, g->gw->wp + (size_t)L * layer_packed(g), NULL, fc->m, C, V,
                TT_GEN_EPI_STORE);
    /* The next token of each row, a row per thread in turn: each row has its
     * own random stream and each thread its own sampler, so the draws are
     * those of sampling the rows one after the other. */
    if (fc->sp)
        for (int j = tid; j < fc->m; j += nth) {
            const int r = fc->slot[g->sel[j]];
            tt_sampler_set_history(g->samplers[tid], &g->hist[r], g->tok);
            g->sst[r] = tt_sampler_sample_entropy(g->samplers[tid], fc->sp, g->lg + (size_t)j * V,
                                                  &g->rngs[r], &g->stok[r], &g->sent[r], NULL);
            g->sampled[r] = 1;
        }
}

static void team_entry(void *arg, int tid, int n) {
    tt_generator *g = arg;
    (void)n;
    forward_team(g, g->fc, tid);
}

/* Runs N token rows (N <= cap_rows) through the model. Row i: token tok[i] at
 * position pos[i] of cache slot slot[i]; rows of one slot must cover its
 * positions up to pos[i] in this call or earlier ones. dst[i] (may be NULL)
 * receives the row's logits [V]. shared_slots: some slot has several rows.
 * sp (decode steps, one row per slot): also sample each row's next token
 * into g->stok/sent/sst[slot] and set g->sampled[slot]. */
static void forward_rows(tt_generator *g, int N, const int *tok, const int *pos, const int *slot,
                         float *const *dst, bool shared_slots, const tt_sampling_params *sp) {
    const tt_model_weights *W = tt_model_weights_get(g->model);
    const int C = g->C, V = g->V;
    const float emb_scale = sqrtf((float)C);
    for (int i = 0; i < N; i++) {
        const float *e = W->tok_emb + (size_t)tok[i] * C, *p = W->pos + (size_t)pos[i] * C;
        float *xr = g->x + (size_t)i * C;
        for (int c = 0; c < C; c++)
            xr[c] = e[c] * emb_scale + p[c];
    }
    fwd_call *fc = g->fc;
    fc->N = N, fc->pos = pos, fc->slot = slot, fc->shared_slots = shared_slots, fc->m = 0;
    fc->sp = sp;
    for (int i = 0; i < N; i++)
        if (dst[i]) g->sel[fc->m++] = i;
    for (int p = 0; p < GEN_PHASES(g->L); p++)
        atomic_init(&fc->ctr[p].next, 0);
    /* A team only when the call has work for it: below ~64k multiply-adds
     * a barrier costs about what a thread saves. */
    const size_t macs = (size_t)N * (size_t)g->L * ((size_t)4 * C * C + (size_t)2 * C * g->F);
    fc->team = macs >= 65536 ? acquire_team(g) : NULL;
    fc->nth = fc->team ? tt_team_size(fc->team) : 1;
    if (fc->nth > 1)
        tt_team_run(fc->team, team_entry, g);
    else
        forward_team(g, fc, 0);
    release_team(g, fc->team);
    fc->team = NULL;
    for (int j = 0; j < fc->m; j++)
        memcpy(dst[g->sel[j]], g->lg + (size_t)j * V, (size_t)V * sizeof(float));
}

/* True when the abort callback asks to stop (remembered for the call). */
static bool abort_asked(tt_generator *g) {
    if (!g->aborted && g->abort_cb && g->abort_cb(g->abort_user)) g->aborted = true;
    return g->aborted;
}

/* Runs the n queued window rows (nothing once the call was aborted: the
 * abort callback is asked before each chunk). */
static void flush_windows(tt_generator *g, int n) {
    if (n && !abort_asked(g)) forward_rows(g, n, g->wtok, g->wpos, g->wslot, g->wdst, true, NULL);
}

/* Queues the window ctx[0..w) of slot `slot` (positions 0..w-1, its
 * logits to dst) for one batched recompute: windows of several rows go
 * through one forward_rows call, so that the weights are streamed once for
 * all of them instead of once per row; a full queue (g->CH token rows, a
 * chunk) is run first, so a long window is computed in chunks, each
 * attending to the cache its predecessors wrote (the same logits: a row's
 * values do not depend on the call it is in). *n: the rows queued so far. */
static void queue_window(tt_generator *g, int *n, const int *ctx, int w, int slot, float *dst) {
    tt_gen_queue_span(g, n, ctx, 0, w, slot, dst);
}

void tt_gen_queue_span(tt_generator *g, int *n, const int *ctx, int p0, int w, int slot,
                       float *dst) {
    for (int i = p0; i < w; i++, ++*n) {
        if (*n == g->CH) {
            flush_windows(g, *n);
            *n = 0;
        }
        g->wtok[*n] = ctx[i];
        g->wpos[*n] = i;
        g->wslot[*n] = slot;
        g->wdst[*n] = i == w - 1 ? dst : NULL;
    }
}

void tt_gen_flush_span(tt_generator *g, int n) { flush_windows(g, n); }

static double now_s(void);
static void probe_step(tt_generator *g, bool probing, double dt);

/* A step API decode call; with auto threads it is timed and probed as
 * generate's decode steps are (the team is woken per call: the workers do
 * not spin between the caller's steps). */
void tt_gen_decode(tt_generator *g, int n, const int *tok, const int *pos, const int *slot,
                   float *const *dst) {
    if (!n) return;
    const bool probing = g->adapt && g->probe.left-- <= 0;
    if (g->adapt) g->use_threads = (probing ? g->probe.k < 3 : g->probe.team) ? g->n_threads : 1;
    const double t0 = g->adapt ? now_s() : 0.0;
    forward_rows(g, n, tok, pos, slot, dst, false, NULL);
    if (g->adapt) probe_step(g, probing, now_s() - t0);
}

bool tt_gen_abort_asked(tt_generator *g) { return abort_asked(g); }
void tt_gen_abort_reset(tt_generator *g) { g->aborted = false; }

/* Recomputes slot `slot` over the window ctx[0..w) (positions 0..w-1,
 * 1 <= w <= Tmax) and writes the next-token logits to dst. */
static void forward_window(tt_generator *g, const int *ctx, int w, int slot, float *dst) {
    int n = 0;
    queue_window(g, &n, ctx, w, slot, dst);
    flush_windows(g, n);
}

/* The prompt pass of every row: its window (the last W tokens, from
 * g->wstart), batched; each row's logits go to g->logits. */
static void prefill(tt_generator *g, const tt_generation *out, int B) {
    int n = 0;
    for (int r = 0; r < B; r++)
        queue_window(g, &n, out[r].tokens + g->wstart[r], out[r].n_tokens - g->wstart[r], r,
                     g->logits + (size_t)r * g->V);
    flush_windows(g, n);
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                */

/* 64-byte aligned float arrays (a 32-byte load never splits a cache line),
 * on malloc so that the allocation-failure tests see them: the block's
 * start is kept just before the aligned pointer. Free with ffree(). Arrays
 * of 2 MiB and more (the weights, the KV caches) are aligned to 2 MiB and
 * asked to live on huge pages: a decode step walks all of them, and with
 * 4 KiB pages that is more pages than the TLB holds. */
float *tt_gen_falloc(size_t n, bool zero) {
    const size_t huge = (size_t)2 << 20;
    if (n > (SIZE_MAX - huge - sizeof(void *)) / sizeof(float)) return NULL;
    const size_t align = n * sizeof(float) >= huge ? huge : 64;
    const size_t bytes = n * sizeof(float) + align + sizeof(void *);
    unsigned char *raw = zero ? calloc(1, bytes) : malloc(bytes);
    if (!raw) return NULL;
    const uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + align - 1) & ~(uintptr_t)(align - 1);
    memcpy((unsigned char *)p - sizeof(void *), &raw, sizeof raw);
#ifdef MADV_HUGEPAGE
    if (align == huge) (void)madvise((void *)p, n * sizeof(float) & ~(huge - 1), MADV_HUGEPAGE);
#endif
    return (float *)p;
}

void tt_gen_ffree(float *p) {
    if (!p) return;
    void *raw;
    memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof raw);
    free(raw);
}

static float *falloc(size_t n, bool zero) { return tt_gen_falloc(n, zero); }
static void ffree(float *p) { tt_gen_ffree(p); }

static void free_batch(tt_generator *g) {
    ffree(g->x);
    ffree(g->xns);
    ffree(g->q);
    ffree(g->kb);
    ffree(g->vb);
    ffree(g->att);
    ffree(g->h);
    ffree(g->lg);
    free(g->sel);
    free(g->logits);
    free(g->rngs);
    free(g->ctok);
    free(g->cpos);
    free(g->cslot);
    free(g->wstart);
    free(g->cdst);
    free(g->finished);
    free(g->stok);
    free(g->sent);
    free(g->sst);
    free(g->sampled);
    free(g->n_ent);
    free(g->hist);
    free(g->emitted);
    free(g->tcap);
    g->x = g->xns = g->q = g->kb = g->vb = g->att = g->h = g->lg = NULL;
    g->logits = NULL;
    g->sel = g->ctok = g->cpos = g->cslot = g->wstart = g->n_ent = g->tcap = NULL;
    g->rngs = NULL;
    g->cdst = NULL;
    g->finished = g->sampled = NULL;
    g->stok = NULL;
    g->sent = NULL;
    g->sst = NULL;
    g->hist = NULL;
    g->emitted = NULL;
    g->cap_b = g->cap_rows = 0;
}

/* The team, the samplers and the per-thread scratch. */
static void free_threads(tt_generator *g) {
    tt_team_free(g->team);
    g->team = NULL;
    if (g->samplers)
        for (int k = 0; k < g->n_threads; k++)
            tt_sampler_free(g->samplers[k]);
    free(g->samplers);
    g->samplers = NULL;
    g->sampler = NULL;
    ffree(g->xnt);
    ffree(g->scores);
    g->xnt = g->scores = NULL;
}

void tt_generator_free(tt_generator *g) {
    if (!g) return;
    free_batch(g);
    free_threads(g);
    tt_pool_unref(g->pool);
    ffree(g->kc);
    ffree(g->vc);
    tt_gen_rows_free(g->rows);
    free(g->ent);
    tt_gen_weights_release(g->gw);
    if (g->fc) ffree((float *)g->fc->ctr);
    free(g->fc);
    free(g->wtok);
    free(g->wpos);
    free(g->wslot);
    free(g->wdst);
    free(g->probs);
    free(g);
}

/* Threads for a config's n_threads (0 = auto): a sampler and scratch per
 * thread; the team itself is started by the first call that uses it
 * (start_team). With a pool, its size is the count (n_cfg 1: the calling
 * thread alone). */
static tt_status setup_threads(tt_generator *g, int n_cfg, tt_error *err) {
    free_threads(g);
    g->team_failed = false;
    int n = tt_par_threads_for(n_cfg);
    if (g->pool && n_cfg != 1) n = tt_thread_pool_size(g->pool);
    if (n < 1) n = 1;
    if (n > TT_GEN_MAX_THREADS) n = TT_GEN_MAX_THREADS;
    memset(&g->probe, 0, sizeof g->probe);
    g->probe.period = 128;
    g->probe.team = true;
    g->adapt = n_cfg == 0 && n > 1;
    g->n_threads = n;
    tt_status st = TT_OK;
    g->use_threads = n;
    g->samplers = calloc((size_t)n, sizeof *g->samplers);
    g->xnt = falloc((size_t)n * GEN_PRIV_ROWS * g->C, false);
    g->scores = falloc((size_t)n * g->NH * (size_t)(g->TP > 0 ? g->TP : 64), false);
    if (!g->samplers || !g->xnt || !g->scores) {
        free_threads(g);
        g->n_threads = 0;
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d generator threads", n);
    }
    for (int k = 0; k < n && !st; k++)
        st = tt_sampler_create(&g->samplers[k], g->V, err);
    if (st) {
        free_threads(g);
        g->n_threads = 0;
        return st;
    }
    g->sampler = g->samplers[0];
    return TT_OK;
}

/* Refuses up front a request whose memory (KV cache, results, per-step
 * entropies) could exceed the limit (tt_generator_set_memory_limit, else
 * the machine's physical memory), naming the bytes, instead of failing (or
 * being killed) part-way. Results and entropies grow as tokens come, so
 * only what is used is allocated. Saturating arithmetic. */
static size_t gen_add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t gen_mul_sat(size_t a, size_t b) { return b && a > SIZE_MAX / b ? SIZE_MAX : a * b; }

/* Floats of the KV caches (K and V) of `slots` rows holding npos positions. */
static size_t kv_floats(const tt_generator *g, size_t slots, int npos) {
    const size_t TP = npos < 64 ? 64 : ((size_t)npos + 63) & ~(size_t)63;
    const size_t slot = gen_mul_sat((size_t)g->L * g->NH, TP * g->hs + 64);
    return gen_mul_sat(gen_mul_sat(slots, slot), 2);
}

/* The memory limit in force and what it is, for messages. */
static size_t mem_limit(const tt_generator *g, const char **what) {
    if (g->mem_limit) {
        *what = "the generator's memory limit is";
        return g->mem_limit;
    }
    *what = "the machine has";
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? gen_mul_sat((size_t)pages, (size_t)page) : SIZE_MAX;
}

static tt_status check_request_memory(const tt_generator *g, const int *lens, int B, int M, int W,
                                      tt_error *err) {
    int maxlen = 1;
    for (int r = 0; r < B; r++) maxlen = lens[r] > maxlen ? lens[r] : maxlen;
    const int npos = M > W - maxlen ? W : maxlen + M; /* min(W, maxlen + M), no overflow */
    size_t need = gen_mul_sat(kv_floats(g, (size_t)B, npos), sizeof(float));
    for (int r = 0; r < B; r++) /* prompt + generated ids */
        need = gen_add_sat(need, gen_mul_sat(gen_add_sat((size_t)lens[r], (size_t)M), sizeof(int)));
    need = gen_add_sat(need, gen_mul_sat(gen_mul_sat((size_t)B, (size_t)(M > 0 ? M : 1)),
                                         sizeof(double))); /* entropies */
    /* scratch for max(B, CH) rows and each thread's buffers */
    const size_t rows = (size_t)(B > g->CH ? B : g->CH);
    need = gen_add_sat(
        need, gen_mul_sat(gen_add_sat(gen_mul_sat(rows, (size_t)g->C * 8 + g->F + 2 * g->V),
                                      gen_mul_sat((size_t)g->n_threads,
                                                  (size_t)GEN_PRIV_ROWS * g->C +
                                                      (size_t)g->NH * g->TPmax)),
                          sizeof(float)));
    const char *what;
    const size_t have = mem_limit(g, &what);
    if (need > have)
        return tt_error_set(err, TT_ERR_NOMEM,
                            "generating %d rows of up to %d new tokens needs %zu bytes but %s "
                            "%zu bytes%s",
                            B, M, need, what, have, g->mem_limit ? "" : " of physical memory");
    return TT_OK;
}

/* Makes the KV caches hold `slots` rows of npos positions (rounded up to
 * 64, at most TPmax; capacities never shrink), keeping what they hold. */
static tt_status reserve_kv(tt_generator *g, int slots, int npos, tt_error *err) {
    int TP = npos < 64 ? 64 : (npos + 63) & ~63;
    if (TP > g->TPmax) TP = g->TPmax;
    if (TP < g->TP) TP = g->TP;
    if (slots < g->cap_slots) slots = g->cap_slots;
    if (g->kc && TP == g->TP && slots == g->cap_slots) return TT_OK;
    const size_t per = (size_t)g->L * g->NH, hstride = (size_t)TP * g->hs + 64;
    const size_t n = kv_floats(g, (size_t)slots, TP) / 2;
    float *kc = n < SIZE_MAX / 8 ? falloc(n, true) : NULL; /* zeroed: attention reads
                                      whole groups of positions (lanes past a row's length are
                                      discarded) */
    float *vc = kc ? falloc(n, false) : NULL;
    float *sc = vc && TP != g->TP ? falloc((size_t)g->n_threads * g->NH * (size_t)TP, false) : NULL;
    if (!kc || !vc || (TP != g->TP && !sc)) {
        ffree(kc);
        ffree(vc);
        return tt_error_set(err, TT_ERR_NOMEM,
                            "out of memory for the KV cache of %d rows of %d positions (%zu bytes)",
                            slots, TP, gen_mul_sat(n, 2 * sizeof(float)));
    }
    /* a head's first TP positions are a prefix of it in both layouts */
    for (size_t j = 0; g->kc && j < (size_t)g->cap_slots * per; j++) {
        memcpy(kc + j * hstride, g->kc + j * g->hstride, (size_t)g->TP * g->hs * sizeof(float));
        memcpy(vc + j * hstride, g->vc + j * g->hstride, (size_t)g->TP * g->hs * sizeof(float));
    }
    ffree(g->kc);
    ffree(g->vc);
    g->kc = kc;
    g->vc = vc;
    if (sc) {
        ffree(g->scores);
        g->scores = sc;
    }
    g->TP = TP;
    g->hstride = hstride;
    g->cap_slots = slots;
    return TT_OK;
}

/* Makes room for B rows of per-call state and max(B, CH) scratch rows. */
static tt_status reserve(tt_generator *g, int B, tt_error *err) {
    if (B <= g->cap_b) return TT_OK;
    const size_t C = (size_t)g->C, F = (size_t)g->F, V = (size_t)g->V;
    const size_t rows = (size_t)(B > g->CH ? B : g->CH);
    if (rows > SIZE_MAX / sizeof(float) / (8 * C + F + V))
        return tt_error_set(err, TT_ERR_NOMEM, "scratch for %d rows is too large", B);
    free_batch(g);
    g->x = falloc(rows * C, false);
    g->xns = falloc(rows * C, false);
    g->q = falloc(rows * 3 * C, false); /* q, k, v of a fused product */
    g->kb = falloc(rows * C, false);
    g->vb = falloc(rows * C, false);
    g->att = falloc(rows * C, false);
    g->h = falloc(rows * F, false);
    g->lg = falloc(rows * V, false);
    g->sel = malloc(rows * sizeof(int));
    g->logits = malloc((size_t)B * V * sizeof(float));
    g->rngs = malloc((size_t)B * sizeof(tt_rng));
    g->ctok = malloc((size_t)B * sizeof(int));
    g->cpos = malloc((size_t)B * sizeof(int));
    g->cslot = malloc((size_t)B * sizeof(int));
    g->wstart = malloc((size_t)B * sizeof(int));
    g->cdst = malloc((size_t)B * sizeof(float *));
    g->finished = malloc((size_t)B);
    g->n_ent = calloc((size_t)B, sizeof(int));
    g->stok = malloc((size_t)B * sizeof(int));
    g->sent = malloc((size_t)B * sizeof(double));
    g->sst = malloc((size_t)B * sizeof(tt_status));
    g->sampled = calloc((size_t)B, 1);
    g->hist = calloc((size_t)B, sizeof *g->hist);
    g->emitted = calloc((size_t)B, sizeof *g->emitted);
    g->tcap = calloc((size_t)B, sizeof *g->tcap);
    if (!g->hist || !g->emitted || !g->tcap || !g->x || !g->xns || !g->q || !g->kb || !g->vb ||
        !g->att || !g->h || !g->lg || !g->sel || !g->logits || !g->rngs || !g->ctok || !g->cpos ||
        !g->cslot || !g->wstart || !g->cdst || !g->finished || !g->n_ent || !g->stok ||
        !g->sent || !g->sst || !g->sampled) {
        free_batch(g);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for a batch of %d rows", B);
    }
    g->cap_b = B;
    g->cap_rows = (int)rows;
    return TT_OK;
}

/* A generator whose set_threads failed to get even one thread back has no
 * sampler: it refuses calls until set_threads succeeds. */
static tt_status check_ready(const tt_generator *g, tt_error *err) {
    if (!g->sampler)
        return tt_error_set(err, TT_ERR_STATE,
                            "the generator has no threads (tt_generator_set_threads failed)");
    return TT_OK;
}

tt_status tt_gen_prepare(tt_generator *g, int slots, int rows, int npos, tt_error *err) {
    tt_status st = check_ready(g, err);
    if (!st) st = reserve(g, rows, err);
    if (!st) st = reserve_kv(g, slots, npos, err);
    if (!st) {
        if (g->adapt) g->use_threads = g->probe.team ? g->n_threads : 1;
        st = use_weights(g, err);
    }
    return st;
}

tt_status tt_gen_check_memory(const tt_generator *g, int slots, int npos, size_t extra,
                              tt_error *err) {
    size_t need = gen_add_sat(gen_mul_sat(kv_floats(g, (size_t)slots, npos), sizeof(float)), extra);
    const size_t rows = (size_t)(slots > g->CH ? slots : g->CH);
    need = gen_add_sat(need, gen_mul_sat(gen_mul_sat(rows, (size_t)g->C * 8 + g->F + 2 * g->V),
                                         sizeof(float)));
    const char *what;
    const size_t have = mem_limit(g, &what);
    if (need > have)
        return tt_error_set(err, TT_ERR_NOMEM,
                            "%d rows of up to %d positions need %zu bytes but %s %zu bytes%s",
                            slots, npos, need, what, have, g->mem_limit ? "" : " of physical memory");
    return TT_OK;
}

tt_gen_rows **tt_gen_rows_of(tt_generator *g) { return &g->rows; }
tt_sampler *tt_gen_sampler(tt_generator *g) { return g->sampler; }
float *tt_gen_probs(tt_generator *g) { return g->probs; }
int tt_gen_max_len(const tt_generator *g) { return g->Tmax; }
const tt_model *tt_gen_model(const tt_generator *g) { return g->model; }

void tt_gen_kv_copy(tt_generator *g, int slot, int npos, float *buf, bool save) {
    const int hs = g->hs;
    for (int l = 0; l < g->L; l++)
        for (int h = 0; h < g->NH; h++) {
            float *K = kslot(g, g->kc, slot, l) + (size_t)h * g->hstride;
            float *Vv = kslot(g, g->vc, slot, l) + (size_t)h * g->hstride;
            for (int p = 0; p < npos; p++) {
                float *kt = K + (size_t)(p >> 6) * hs * 64 + (p & 63);
                for (int j = 0; j < hs; j++, buf++) {
                    if (save)
                        *buf = kt[(size_t)j * 64];
                    else
                        kt[(size_t)j * 64] = *buf;
                }
            }
            if (save)
                memcpy(buf, Vv, (size_t)npos * hs * sizeof(float));
            else
                memcpy(Vv, buf, (size_t)npos * hs * sizeof(float));
            buf += (size_t)npos * hs;
        }
}

size_t tt_generator_memory_bytes(const tt_generator *g) {
    if (!g) return 0;
    const size_t C = (size_t)g->C, F = (size_t)g->F, V = (size_t)g->V, f = sizeof(float);
    size_t b = sizeof *g + sizeof *g->fc + GEN_PHASES((size_t)g->L) * sizeof(gen_counter);
    b += kv_floats(g, (size_t)g->cap_slots, g->TP) * f * (g->kc != NULL);
    b += (size_t)g->cap_rows * ((8 * C + F + V) * f + sizeof(int));
    b += (size_t)g->cap_b * (V * f + sizeof(tt_rng) + 6 * sizeof(int) + sizeof(float *) + 2 +
                             sizeof(double) + sizeof(tt_status) + sizeof(tt_token_history));
    b += (size_t)g->n_threads * (GEN_PRIV_ROWS * C + (size_t)g->NH * g->TP) * f;
    b += (size_t)g->n_threads * (V + 1) * 64; /* a sampler's V-sized arrays (~57 bytes a token) */
    b += g->ent_alloc * sizeof(double) + (size_t)g->Tmax * (3 * sizeof(int) + sizeof(float *));
    b += V * f + tt_gen_rows_bytes(g->rows);
    return b;
}

tt_status tt_generator_create(tt_generator **out, const tt_model *model,
                              const tt_generator_config *gc, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "generator: out is NULL");
    *out = NULL;
    if (!model) return tt_error_set(err, TT_ERR_ARG, "generator: model is NULL");
    const tt_model_config *mc = tt_model_get_config(model);
    tt_generator_config cfg = tt_generator_config_default();
    tt_status st = gc ? tt_gen_config_in(&cfg, gc, err) : TT_OK;
    if (st) return st;
    if ((st = tt_generator_config_validate(&cfg, mc->vocab_size, err))) return st;
    if (cfg.context_len > mc->max_len)
        return tt_error_set(err, TT_ERR_ARG, "context_len %d exceeds the model's max_len %d",
                            cfg.context_len, mc->max_len);
    tt_generator *g = calloc(1, sizeof *g);
    if (!g) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the generator");
    g->model = model;
    g->cfg = cfg;
    g->V = mc->vocab_size;
    g->C = mc->d_model;
    g->NH = mc->n_heads;
    g->hs = mc->d_model / mc->n_heads;
    g->L = mc->n_layers;
    g->F = mc->d_ff;
    g->Tmax = mc->max_len;
    g->TPmax = (mc->max_len + 63) & ~63;
    g->CH = mc->max_len < GEN_CHUNK ? mc->max_len : GEN_CHUNK;
    g->TP = 0; /* the KV caches come with the first call */
    g->wtok = malloc((size_t)g->Tmax * sizeof(int));
    g->wpos = malloc((size_t)g->Tmax * sizeof(int));
    g->wslot = malloc((size_t)g->Tmax * sizeof(int));
    g->wdst = malloc((size_t)g->Tmax * sizeof(float *));
    g->probs = malloc((size_t)g->V * sizeof(float));
    g->fc = calloc(1, sizeof *g->fc);
    if (g->fc)
        g->fc->ctr = (gen_counter *)falloc(GEN_PHASES((size_t)g->L) * sizeof(gen_counter) /
                                               sizeof(float),
                                           false);
    if (!g->wtok || !g->wpos || !g->wslot || !g->wdst || !g->probs || !g->fc || !g->fc->ctr) {
        tt_generator_free(g);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the generator");
    }
    st = setup_threads(g, cfg.n_threads, err);
    if (!st) st = reserve(g, 1, err);
    if (st) {
        tt_generator_free(g);
        return st;
    }
    *out = g;
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_set_threads(tt_generator *g, int n_threads, tt_error *err) {
    if (!g) return tt_error_set(err, TT_ERR_ARG, "set_threads: generator is NULL");
    if (n_threads < 0 || n_threads > TT_GEN_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "n_threads must be in [0, %d] (0 = auto), got %d",
                            TT_GEN_MAX_THREADS, n_threads);
    tt_status st = setup_threads(g, n_threads, err);
    if (st) { /* keep a usable generator when one thread can be had */
        tt_error e2;
        if (setup_threads(g, 1, &e2) == TT_OK) g->cfg.n_threads = 1;
        return st;
    }
    g->cfg.n_threads = n_threads;
    tt_error_clear(err);
    return TT_OK;
}

tt_status tt_generator_set_thread_pool(tt_generator *g, tt_thread_pool *pool, tt_error *err) {
    if (!g) return tt_error_set(err, TT_ERR_ARG, "set_thread_pool: generator is NULL");
    tt_thread_pool *old = g->pool;
    if (pool == old) {
        tt_error_clear(err);
        return TT_OK;
    }
    if (pool) tt_pool_ref(pool);
    g->pool = pool;
    tt_status st = setup_threads(g, g->cfg.n_threads, err); /* frees the own team */
    if (st) { /* keep the old threads when they can be had, else one thread */
        g->pool = old;
        tt_pool_unref(pool);
        tt_error e2;
        if (setup_threads(g, g->cfg.n_threads, &e2) != TT_OK && setup_threads(g, 1, &e2) == TT_OK)
            g->cfg.n_threads = 1;
        return st;
    }
    tt_pool_unref(old);
    tt_error_clear(err);
    return TT_OK;
}

void tt_generator_set_memory_limit(tt_generator *g, size_t bytes) {
    if (g) g->mem_limit = bytes;
}

void tt_generator_set_abort_callback(tt_generator *g, tt_abort_callback cb, void *user) {
    if (!g) return;
    g->abort_cb = cb;
    g->abort_user = user;
}

void tt_generator_set_tokenizer(tt_generator *g, const struct tt_tokenizer *tok) {
    if (g) g->tok = tok;
}

const tt_generator_config *tt_generator_get_config(const tt_generator *g) {
    return g ? &g->cfg : NULL;
}

/* The window W of a config (validated: context_len <= max_len). */
static int context_of(const tt_generator *g, const tt_generator_config *c) {
    return c->context_len > 0 ? c->context_len : tt_model_default_context(g->model);
}

int tt_generator_context_len(const tt_generator *g) { return g ? context_of(g, &g->cfg) : 0; }
int tt_gen_context_of(const tt_generator *g, const tt_generator_config *cfg) { return context_of(g, cfg); }

static tt_status check_prompt(const tt_generator *g, const int *p, int n, int r, tt_error *err) {
    if (!p || n < 1)
        return tt_error_set(err, TT_ERR_ARG,
                            "prompt %d is empty (a prompt needs at least one token)", r);
    for (int i = 0; i < n; i++)
        if (p[i] < 0 || p[i] >= g->V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "prompt %d: token id %d at position %d is out of range [0, %d)", r,
                                p[i], i, g->V);
    return TT_OK;
}

tt_status tt_generator_next_logits(tt_generator *g, const int *tokens, int n, float *logits,
                                   tt_error *err) {
    if (!g || !logits) return tt_error_set(err, TT_ERR_ARG, "next_logits: NULL argument");
    if (tt_gen_rows_active(g->rows) > 0)
        return tt_error_set(err, TT_ERR_STATE,
                            "the generator has rows of the step API; remove them first");
    tt_status st = check_ready(g, err);
    if (!st) st = check_prompt(g, tokens, n, 0, err);
    if (st) return st;
    const int w = n < g->Tmax ? n : g->Tmax;
    st = reserve(g, 1, err); /* a failed reserve of a generate call leaves none */
    if (!st) st = reserve_kv(g, 1, w, err);
    if (!st) st = use_weights(g, err);
    if (st) return st;
    g->aborted = false;
    forward_window(g, tokens + (n - w), w, 0, logits);
    if (g->aborted) /* beam search's steps: the abort callback said stop */
        return tt_error_set(err, TT_ERR_INTERRUPTED, "aborted by the abort callback");
    return TT_OK;
}

/* Monotonic wall time in seconds. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static tt_generator_config apply_overrides(const tt_generator_config *base,
                                           const tt_generate_overrides *o) {
    tt_generator_config c = *base;
    if (!o) return c;
    const tt_generator_config *v = &o->values;
    if (o->set & TT_OVR_MAX_NEW_TOKENS) c.max_new_tokens = v->max_new_tokens;
    if (o->set & TT_OVR_TEMPERATURE) c.temperature = v->temperature;
    if (o->set & TT_OVR_TOP_K) c.top_k = v->top_k;
    if (o->set & TT_OVR_TOP_P) c.top_p = v->top_p;
    if (o->set & TT_OVR_DO_SAMPLE) c.do_sample = v->do_sample;
    if (o->set & TT_OVR_EOS) c.eos_token_id = v->eos_token_id;
    if (o->set & TT_OVR_PAD) c.pad_token_id = v->pad_token_id;
    if (o->set & TT_OVR_SEED) c.seed = v->seed;
    if (o->set & TT_OVR_USE_CACHE) c.use_cache = v->use_cache;
    if (o->set & TT_OVR_CONTEXT_LEN) c.context_len = v->context_len;
    if (o->set & TT_OVR_CONTEXT_SHIFT) c.context_shift = v->context_shift;
    if (o->set & TT_OVR_CONTROLS) c.controls = v->controls;
    return c;
}

tt_status tt_gen_call_config(const tt_generator *g, const tt_generate_overrides *o,
                             tt_generator_config *cfg, tt_error *err) {
    const unsigned known = TT_OVR_CONTROLS * 2u - 1u; /* every TT_OVR_* bit */
    if (o && (o->set & ~known))
        return tt_error_set(err, TT_ERR_ARG, "generate: unknown override bits 0x%x", o->set & ~known);
    *cfg = apply_overrides(&g->cfg, o);
    return tt_generator_config_validate(cfg, g->V, err);
}

int tt_gen_vocab_size(const tt_generator *g) { return g->V; }
const struct tt_tokenizer *tt_gen_tokenizer(const tt_generator *g) { return g->tok; }

/* Auto threads: records a decode step of dt seconds. A probe is: team
 * steps for 2 ms to wake the team (not counted), two on the team, two on
 * one thread; the faster pair wins. A team verdict then has to hold over the
 * next 32 team steps (their mean against the probe's one-thread steps):
 * a freshly woken thread gets a burst of CPU from the scheduler even on a
 * busy machine, so a short probe flatters the team. A probe stops after
 * the first counted team step when that took 2.5x a recent one-thread
 * step. Probes cost their slower steps, so while the verdict holds the
 * next one comes twice as late (to 1,024 steps); a new verdict is checked
 * again after 128. */
static void set_verdict(tt_generator *g, bool team) {
    const bool same = team == g->probe.team;
    g->probe.team = team;
    g->probe.period = !same ? 128 : g->probe.period < 1024 ? 2 * g->probe.period : 1024;
    g->probe.left = g->probe.period;
    g->probe.k = 0;
    g->probe.confirm = team ? 32 : 0;
    g->probe.tc = 0.0;
}

static void probe_step(tt_generator *g, bool probing, double dt) {
    if (!probing) {
        if (g->use_threads == 1) {
            g->probe.t1_ref = dt;
        } else if (g->probe.confirm > 0) {
            g->probe.tc += dt;
            /* the team's steps against the probe's one-thread steps */
            if (--g->probe.confirm == 0 && g->probe.tc / 32 > g->probe.t[0] / 2)
                set_verdict(g, false);
        }
        return;
    }
    g->probe.left = 0; /* go on probing */
    if (g->probe.k == 0) {
        /* waking the team: team steps, not counted, for 2 ms (a worker woken
         * from sleep took up to ~1 ms to start in this VM) */
        g->probe.warm += dt;
        if (g->probe.warm >= 0.002) {
            g->probe.k = 1;
            g->probe.warm = 0.0;
        }
        return;
    }
    const int k = g->probe.k++;
    const int i = k >= 3 ? 0 : 1;
    g->probe.t[i] = (k == 1 || k == 3 ? 0.0 : g->probe.t[i]) + dt;
    if (k == 1 && g->probe.t1_ref > 0.0 && dt > 2.5 * g->probe.t1_ref)
        set_verdict(g, false);
    else if (k == 4)
        set_verdict(g, g->probe.t[1] < g->probe.t[0]);
}

/* Makes room for one more token (and its logprob) in row r's result:
 * doubling, up to n_prompt + M (a result never holds more). */
static tt_status grow_result(tt_generator *g, tt_generation *o, int r, int M, bool lp,
                             tt_error *err) {
    if (o->n_tokens < g->tcap[r]) return TT_OK;
    const int had = g->tcap[r] - o->n_prompt; /* generated tokens it has room for */
    const int cap = had > M / 2 ? M : had < GEN_GROW / 2 ? GEN_GROW : 2 * had;
    int *t = realloc(o->tokens, ((size_t)o->n_prompt + (size_t)cap) * sizeof(int));
    if (!t) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d tokens of row %d", cap, r);
    o->tokens = t;
    g->hist[r].tokens = t;
    if (lp) {
        tt_token_logprob *l = realloc(o->logprobs, (size_t)cap * sizeof *l);
        if (!l) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d logprobs", cap);
        o->logprobs = l;
    }
    g->tcap[r] = o->n_prompt + cap;
    return TT_OK;
}

/* Makes room for one more entropy in every row (a step adds at most one):
 * doubling the stride, up to M. */
static tt_status grow_entropies(tt_generator *g, int B, int M, tt_error *err) {
    bool full = false;
    for (int r = 0; r < B && !full; r++) full = g->n_ent[r] >= g->ent_cap;
    if (!full) return TT_OK;
    const int cap = g->ent_cap > M / 2 ? M : 2 * g->ent_cap;
    double *e = malloc((size_t)B * (size_t)cap * sizeof(double));
    if (!e) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for %d entropies", cap);
    for (int r = 0; r < B; r++)
        memcpy(e + (size_t)r * cap, g->ent + (size_t)r * g->ent_cap,
               (size_t)g->n_ent[r] * sizeof(double));
    free(g->ent);
    g->ent = e;
    g->ent_alloc = (size_t)B * (size_t)cap;
    g->ent_cap = cap;
    return TT_OK;
}

tt_status tt_generator_generate(tt_generator *g, const int *const *prompts, const int *lens, int B,
                                const tt_generate_overrides *overrides, const uint64_t *row_ids,
                                tt_token_callback cb, void *user, tt_generation *out,
                                tt_error *err) {
    if (!g || !prompts || !lens || !out)
        return tt_error_set(err, TT_ERR_ARG, "generate: NULL argument");
    if (B < 1)
        return tt_error_set(err, TT_ERR_ARG, "generate: need at least one prompt, got %d", B);
    for (int r = 0; r < B; r++) {
        out[r].tokens = NULL;
        out[r].n_tokens = out[r].n_prompt = out[r].n_generated = 0;
        out[r].finish = TT_FINISH_LENGTH;
        out[r].stop_index = -1;
        out[r].logprobs = NULL;
        out[r].score = 0.0;
    }
    const unsigned known = TT_OVR_CONTROLS * 2u - 1u; /* every TT_OVR_* bit */
    if (overrides && (overrides->set & ~known))
        return tt_error_set(err, TT_ERR_ARG, "generate: unknown override bits 0x%x",
                            overrides->set & ~known);
    if (tt_gen_rows_active(g->rows) > 0)
        return tt_error_set(err, TT_ERR_STATE,
                            "generate: the generator has %d rows of the step API; remove them "
                            "first (or use another generator)",
                            tt_gen_rows_active(g->rows));
    const tt_generator_config cfg = apply_overrides(&g->cfg, overrides);
    tt_status st = check_ready(g, err);
    if (!st) st = tt_generator_config_validate(&cfg, g->V, err);
    if (st) return st;
    if (cfg.context_len > g->Tmax)
        return tt_error_set(err, TT_ERR_ARG, "context_len %d exceeds the model's max_len %d",
                            cfg.context_len, g->Tmax);
    const tt_sampling_controls *X = &cfg.controls;
    if (X->num_beams > 1) return tt_gen_beams_per_row(g, prompts, lens, B, overrides, out, err);
    st = tt_stop_set_init(&g->stops, X, g->tok, err);
    if (st) return st;
    /* The window: W tokens; half restarts it with the last H tokens. */
    const int W = context_of(g, &cfg), H = W / 2 > 0 ? W / 2 : 1;
    const bool half = cfg.context_shift == TT_CONTEXT_SHIFT_HALF;
    for (int r = 0; r < B; r++) {
        st = check_prompt(g, prompts[r], lens[r], r, err);
        if (st) return st;
        if (lens[r] > INT_MAX - cfg.max_new_tokens)
            return tt_error_set(err, TT_ERR_ARG,
                                "prompt %d: length %d + max_new_tokens %d overflows", r, lens[r],
                                cfg.max_new_tokens);
    }
    st = check_request_memory(g, lens, B, cfg.max_new_tokens, W, err);
    if (st) return st;
    st = reserve(g, B, err);
    if (st) return st;
    const int M = cfg.max_new_tokens, V = g->V;
    int maxlen = 1;
    for (int r = 0; r < B; r++) maxlen = lens[r] > maxlen ? lens[r] : maxlen;
    st = reserve_kv(g, B, M > W - maxlen ? W : maxlen + M, err);
    if (st) return st;
    /* results and entropies grow as tokens come (max_new_tokens may be far
     * more than a row ever generates): GEN_GROW tokens to start with */
    const int M0 = M < GEN_GROW ? M : GEN_GROW;
    const size_t ent_need = (size_t)B * (size_t)(M0 > 0 ? M0 : 1);
    if (ent_need > g->ent_alloc) {
        free(g->ent);
        g->ent = malloc(ent_need * sizeof(double));
        g->ent_alloc = g->ent ? ent_need : 0;
        g->ent_cap = g->ent_rows = 0;
        if (!g->ent) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for entropies");
    }
    g->ent_cap = M0 > 0 ? M0 : 1;
    g->ent_rows = B;
    for (int r = 0; r < B; r++) {
        g->tcap[r] = lens[r] + M0;
        out[r].tokens = malloc(((size_t)lens[r] + (size_t)M0) * sizeof(int));
        if (!out[r].tokens) {
            tt_generations_free(out, B);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the results");
        }
        if (X->logprobs > 0 &&
            !(out[r].logprobs = malloc((size_t)(M0 > 0 ? M0 : 1) * sizeof *out[r].logprobs))) {
            tt_generations_free(out, B);
            return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the logprobs");
        }
        memcpy(out[r].tokens, prompts[r], (size_t)lens[r] * sizeof(int));
        out[r].n_tokens = out[r].n_prompt = lens[r];
        g->wstart[r] = lens[r] > W ? lens[r] - W : 0; /* the prompt's last W tokens */
        g->finished[r] = 0;
        g->n_ent[r] = 0;
        g->emitted[r] = 0;
        g->hist[r] = (tt_token_history){out[r].tokens, out[r].n_tokens, out[r].n_prompt};
        tt_rng_seed_stream(&g->rngs[r], cfg.seed, row_ids ? row_ids[r] : (uint64_t)r);
    }

    const tt_sampling_params sp = tt_gen_sampling_params(&cfg);
    tt_sampler_set_history(g->sampler, NULL, g->tok);
    const int eos = cfg.eos_token_id, pad = cfg.pad_token_id;

    /* The workers stay awake (spinning, then yielding) while the team is in
     * use: a worker woken from sleep took up to ~1 ms to start in this VM. */
    if (g->adapt) g->use_threads = g->probe.team ? g->n_threads : 1;
    st = use_weights(g, err); /* starts the own team when more than one thread is used */
    if (st) {
        tt_generations_free(out, B);
        return st;
    }
    if (g->use_threads > 1) start_team(g); /* no pool: the own team, at its first use */
    if (g->team) tt_team_set_hot(g->team, g->use_threads > 1); /* a pool stays cold */
    memset(g->sampled, 0, (size_t)B); /* none drawn ahead (a stopped call may leave some) */
    g->aborted = false;
    /* Prefill: the next-token logits of every row. */
    if (M > 0) prefill(g, out, B);

    tt_status result = TT_OK;
    for (int step = 0; step < M; step++) {
        if (abort_asked(g)) { /* between steps, or during the prefill or a window's */
            result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                  "generation aborted by the abort callback at step %d", step);
            break;
        }
        if (step > 0) {
            /* Auto threads (probe_step): now and then a few decode steps
             * run on the team and on one thread, and the faster runs until
             * the next probe. A team is only faster when its cores are
             * free: where another process keeps a core busy, its barriers
             * wait for a thread that is not running (measured with one of
             * 2 cores busy: 1.3-2.8x slower than one thread). The workers
             * stay awake (hot) only while the team is in use: a worker
             * spinning beside the caller on a busy machine slows one-thread
             * steps down. The tokens do not depend on any of this. */
            const bool probing = g->adapt && g->probe.left-- <= 0;
            if (g->adapt) {
                g->use_threads = (probing ? g->probe.k < 3 : g->probe.team) ? g->n_threads : 1;
                if (g->team) tt_team_set_hot(g->team, g->use_threads > 1);
            }
            const double t0 = g->adapt ? now_s() : 0.0;
            /* Feed each unfinished row's last token; rows whose window is
             * recomputed are batched apart (nw rows queued). */
            int n = 0, nw = 0;
            for (int r = 0; r < B; r++) {
                if (g->finished[r]) continue;
                const int len = out[r].n_tokens;
                float *dst = g->logits + (size_t)r * V;
                /* The new token would go at position len - 1 - wstart; at W
                 * the window is full and slides: exact keeps the last W
                 * tokens (every position changes: a full recompute), half
                 * restarts with the last H (prefilled once, then cached). */
                bool rebuild = !cfg.use_cache;
                if (len - g->wstart[r] > W) {
                    g->wstart[r] = len - (half ? H : W);
                    rebuild = true;
                }
                if (rebuild) {
                    queue_window(g, &nw, out[r].tokens + g->wstart[r], len - g->wstart[r], r, dst);
                } else {
                    g->ctok[n] = out[r].tokens[len - 1];
                    g->cpos[n] = len - 1 - g->wstart[r];
                    g->cslot[n] = r;
                    g->cdst[n] = dst;
                    n++;
                }
            }
            flush_windows(g, nw);
            if (g->aborted) { /* asked during the windows' recompute */
                result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                      "generation aborted by the abort callback at step %d", step);
                break;
            }
            if (n) forward_rows(g, n, g->ctok, g->cpos, g->cslot, g->cdst, false, &sp);
            /* only plain decode steps are timed: a step that also
             * prefills restarted windows is slower on any thread count and
             * would skew the verdict */
            if (g->adapt && !nw) probe_step(g, probing, now_s() - t0);
        }
        bool stop = false, all_done = true;
        for (int r = 0; r < B; r++) {
            /* room for this step's token (or pad) */
            if ((st = grow_result(g, &out[r], r, M, X->logprobs > 0, err)) != TT_OK ||
                (st = grow_entropies(g, B, M, err)) != TT_OK) {
                tt_generations_free(out, B);
                result = st;
                stop = true;
                break;
            }
            if (g->finished[r]) {
                if (pad != TT_TOKEN_NONE) out[r].tokens[out[r].n_tokens++] = pad;
                continue;
            }
            const float *lr = g->logits + (size_t)r * V;
            int tok;
            double ent; /* of the filtered distribution; greedy: 0 */
            if (g->sampled[r]) { /* drawn by the forward pass's team */
                g->sampled[r] = 0;
                tok = g->stok[r];
                ent = g->sent[r];
                st = g->sst[r];
                if (st) { /* the same call again, for its message */
                    tt_sampler_set_history(g->sampler, &g->hist[r], g->tok);
                    st = tt_sampler_sample_entropy(g->sampler, &sp, lr, &g->rngs[r], &tok, &ent,
                                                   err);
                }
            } else {
                tt_sampler_set_history(g->sampler, &g->hist[r], g->tok);
                st = tt_sampler_sample_entropy(g->sampler, &sp, lr, &g->rngs[r], &tok, &ent, err);
            }
            if (!st && X->logprobs > 0)
                st = tt_gen_logprobs(g->sampler, &g->hist[r], g->tok, g->probs, &sp, lr, V, tok,
                                     &out[r].logprobs[out[r].n_generated], err);
            if (st) {
                tt_generations_free(out, B);
                result = st;
                for (int i = 0; i < V; i++)
                    if (!isfinite(lr[i])) { /* not the caller's logits: the model's own */
                        result = tt_error_set(err, TT_ERR_NUMERIC,
                                              "the model produced a non-finite logit (%s for token %d, row %d, "
                                              "step %d): its weights are too large or corrupt",
                                              isnan(lr[i]) ? "NaN" : lr[i] > 0 ? "+inf" : "-inf", i, r, step);
                        break;
                    }
                stop = true;
                break;
            }
            out[r].tokens[out[r].n_tokens++] = tok;
            out[r].n_generated++;
            g->ent[(size_t)r * g->ent_cap + g->n_ent[r]++] = ent;
            int hold = 0;
            if (eos != TT_TOKEN_NONE && tok == eos) {
                g->finished[r] = 1;
                out[r].finish = TT_FINISH_EOS;
            } else if (!tt_gen_stop_check(&g->stops, &out[r], pad, &hold)) {
                all_done = false;
            } else {
                g->finished[r] = 1;
            }
            g->hist[r].n_tokens = out[r].n_tokens;
            /* the callback sees each token once no stop string can take it back */
            if (tt_gen_emit(&g->emitted[r], r, &out[r], g->finished[r] ? 0 : hold, cb, user)) {
                stop = true;
                break;
            }
        }
        if (!stop && (all_done || step == M - 1)) /* the end: what was held back */
            for (int r = 0; r < B && !stop; r++) stop = tt_gen_emit(&g->emitted[r], r, &out[r], 0, cb, user);
        if (stop) {
            if (result == TT_OK)
                result = tt_error_set(err, TT_ERR_INTERRUPTED,
                                      "generation stopped by the callback at step %d", step);
            break;
        }
        if (all_done) break;
    }
    if (g->team) tt_team_set_hot(g->team, false); /* idle workers sleep between calls */
    if (result == TT_OK) tt_error_clear(err);
    return result;
}

tt_status tt_generator_step_entropies(const tt_generator *g, int row, const double **ent, int *n,
                                      tt_error *err) {
    if (!g || !ent || !n) return tt_error_set(err, TT_ERR_ARG, "step_entropies: NULL argument");
    if (row < 0 || row >= g->ent_rows || !g->ent)
        return tt_error_set(err, TT_ERR_RANGE, "step_entropies: row %d is out of range [0, %d)",
                            row, g->ent_rows);
    *ent = g->ent + (size_t)row * g->ent_cap;
    *n = g->n_ent[row];
    return TT_OK;
}
