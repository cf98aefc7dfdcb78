/*
 * src/gen_object.h — the generator object's layout, shared by the three
 * files that implement it (private):
 *   src/generate.c     the generation loop: config, create/free, prompts,
 *                      windows, sampling each step, results
 *   src/gen_decoder.c  the decoder: token rows through the model with the
 *                      KV caches (forward_rows), prefill chunks, KV memory
 *   src/gen_threads.c  the thread policy: the team or the shared pool,
 *                      per-thread samplers and scratch, auto threads
 *
 * Legend: B batch rows, T time, C = d_model, V vocabulary, L layers,
 * NH heads, hs = C / NH, F = d_ff, Tmax = max_len, N token rows in one
 * decoder call.
 */
#ifndef TT_SRC_GEN_OBJECT_H
#define TT_SRC_GEN_OBJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gen_weights.h"
#include "generate_internal.h"
#include "stop.h"
#include "team.h"
#include "thread_pool_internal.h"
#include "tt/rng.h"
#include "tt/sampling.h"

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
    float *x, *q, *kb, *vb, *att; /* [cap_rows, C] (q: [cap_rows, 3C]) */
    float *xnt;                   /* [n_threads, GEN_PRIV_ROWS, C] normalised rows */
    float *xns;                   /* [cap_rows, C] the same, shared, for larger calls */
    float *h;                     /* [cap_rows, F]                 */
    float *lg;                    /* [cap_rows, V] compact logits  */
    int *sel;                     /* [cap_rows] rows wanting logits */
    float *scores;                /* [n_threads, NH, TP]           */
    int n_threads;                /* threads of a forward team (the most) */
    tt_team *team;                /* its own threads: NULL until a call uses
                                     them (start_team), and with a pool */
    bool team_failed;             /* they could not be started: one thread */
    tt_thread_pool *pool;         /* a shared pool (a reference), or NULL */
    int use_threads;              /* the team size in use: n_threads or 1 */
    bool adapt;                   /* auto threads: use_threads is measured */
    struct {
        int left;      /* decode steps until the next probe */
        int period;    /* steps between probes: 128 after a change of verdict, doubling (to 1,024)
                          while it holds */
        int k;         /* probe steps done: 0 wakes the team, 1-2 team, 3-4 one thread */
        double t[2];   /* their seconds: one thread, the team */
        double t1_ref; /* the last one-thread decode step outside a probe (s) */
        double warm;   /* seconds of the team's wake-up steps so far */
        bool team;     /* the verdict: use the team */
        int confirm;   /* team steps left to confirm a team verdict */
        int rejected;  /* team verdicts the team's own steps overturned in a row */
        double tc;     /* their seconds so far */
    } probe;
    fwd_call *fc; /* the current call's shared state */
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
    tt_sampler *sampler;      /* = samplers[0] */
    tt_sampler **samplers;    /* [n_threads]: one per team thread */
    int *stok;                /* [cap_b] a decode step's token of each row, */
    double *sent;             /* its entropy, */
    tt_status *sst;           /* the sampler's status, */
    unsigned char *sampled;   /* and whether the team drew it this step */
    /* The model's packed matrices (src/gen_weights.c), shared with every
     * generator of the model, checked at the start of every call. */
    tt_gen_weights *gw;
    tt_gen_rows *rows;          /* the step API's rows (src/gen_step.c) */
    size_t mem_limit;           /* bytes a call may use; 0 = physical memory */
    tt_abort_callback abort_cb; /* checked between steps and prefill chunks */
    void *abort_user;
    bool aborted; /* the callback asked to stop during this call */
    int *tcap;    /* [cap_b] ints allocated in each result's tokens */
    /* Sampling controls (src/gen_controls.c): */
    const struct tt_tokenizer *tok; /* borrowed: stop strings, DRY breakers */
    tt_token_history *hist;         /* [cap_b] each row's tokens so far */
    int *emitted;                   /* [cap_b] tokens given to the callback */
    float *probs;                   /* [V] a processed distribution */
    tt_stop_set stops;
};

/* A work counter on a cache line of its own. */
typedef struct {
    atomic_int next;
    char pad[64 - sizeof(atomic_int)];
} gen_counter;

/* Phases of a forward call with counters: per layer q/k/v, the K/V writes
 * of a prefill, attention, W_o, fc1, fc2; then the head. */
#define GEN_PHASES(L) ((L)*6 + 1)

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
    bool shared_slots;            /* some slot has several rows (a prefill) */
    int m;                        /* rows wanting logits: g->sel[0..m) */
    int nth;                      /* threads in the team */
    tt_team *team;                /* the team running it (nth > 1) */
    gen_counter *ctr;             /* [GEN_PHASES(L)]: the next chunk of each phase */
    const tt_sampling_params *sp; /* not NULL: the team also samples each
                                     row's next token (slot = row) */
};

/* Saturating size arithmetic (memory checks). */
static inline size_t tt_gen_add_sat(size_t a, size_t b) {
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}
static inline size_t tt_gen_mul_sat(size_t a, size_t b) {
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* ---- the decoder (src/gen_decoder.c) ---- */

/* Runs N token rows (N <= cap_rows) through the model. Row i: token tok[i] at
 * position pos[i] of cache slot slot[i]; rows of one slot must cover its
 * positions up to pos[i] in this call or earlier ones. dst[i] (may be NULL)
 * receives the row's logits [V]. shared_slots: some slot has several rows.
 * sp (decode steps, one row per slot): also sample each row's next token
 * into g->stok/sent/sst[slot] and set g->sampled[slot]. */
void tt_gen_forward_rows(tt_generator *g, int N, const int *tok, const int *pos, const int *slot,
                         float *const *dst, bool shared_slots, const tt_sampling_params *sp);
/* Floats of the KV caches (K and V) of `slots` rows holding npos positions. */
size_t tt_gen_kv_floats(const tt_generator *g, size_t slots, int npos);
/* Makes the KV caches hold `slots` rows of npos positions (rounded up to
 * 64, at most TPmax; capacities never shrink), keeping what they hold. */
tt_status tt_gen_reserve_kv(tt_generator *g, int slots, int npos, tt_error *err);

/* ---- the thread policy (src/gen_threads.c) ---- */

/* Starts the generator's own team (no pool) if it has none yet. @return
 * whether there is a team. */
bool tt_gen_start_team(tt_generator *g);
/* The team for a run on more than one thread, or NULL (the calling thread);
 * give it back with tt_gen_release_team. */
tt_team *tt_gen_acquire_team(tt_generator *g);
void tt_gen_release_team(tt_generator *g, tt_team *t);
/* Makes g->gw the model's current packed weights (packed on first use). */
tt_status tt_gen_use_weights(tt_generator *g, tt_error *err);
/* Threads for a config's n_threads (0 = auto): samplers and scratch. */
tt_status tt_gen_setup_threads(tt_generator *g, int n_cfg, tt_error *err);
/* The team, the samplers and the per-thread scratch. */
void tt_gen_free_threads(tt_generator *g);
/* The threads of a call: with auto threads, the current verdict's. */
void tt_gen_call_threads(tt_generator *g);
/* A decode step under auto threads: tt_gen_step_begin picks its threads (a
 * probe's or the verdict's; heat: keep the own team's workers awake while
 * it is used) and starts its clock; tt_gen_step_end records it (timed: a
 * plain decode step, whose time says something about the threads). */
typedef struct {
    bool probing;
    double t0;
} tt_gen_step_clock;
tt_gen_step_clock tt_gen_step_begin(tt_generator *g, bool heat);
void tt_gen_step_end(tt_generator *g, tt_gen_step_clock c, bool timed);

#endif /* TT_SRC_GEN_OBJECT_H */
