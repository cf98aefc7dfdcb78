/*
 * src/gen_decoder.c — the generator's decoder: token rows through the model
 * with per-layer KV caches.
 *
 * Legend: B batch rows, T time, C = d_model, V vocabulary, L layers,
 * NH heads, hs = C / NH, F = d_ff, Tmax = max_len, N token rows in one
 * kernel call (rows of different sequences, or the positions of one prompt).
 *
 * The inference kernels (src/gen_kernels.c) are the generator's own, on the
 * model's weights (borrowed, PyTorch layout, Linear w[O, I]), run by its own
 * team of threads (src/team.c), started at the first call that uses more
 * than one thread, or by a pool shared with other generators
 * (src/thread_pool.c); how many threads a call uses is src/gen_threads.c's
 * choice. One function, tt_gen_forward_rows(), runs N token rows through the model: row i is token
 * tok[i] at position pos[i] of the sequence held in cache slot slot[i]; its K and V are written to
 * that slot's cache and its query attends to positions 0..pos[i] of the slot. A prompt prefill is
 * forward_rows over the prompt's positions, a decode step is forward_rows over one token of each
 * active row, and the no-cache path is forward_rows over the whole (cropped) context at every step.
 * Each kernel computes a value with the same float operations whatever N, the other rows and the
 * thread are, so all of these give bit-identical logits.
 *
 * Math (as the teaching package, eval mode): x = tok_emb[id] * sqrt(C) +
 * pos[p]; per block x += W_o(attn(LN1(x))) + ..., x += fc2(gelu(fc1(LN2(x))))
 * with biases, exact erf GELU, LayerNorm eps 1e-5; logits = LN_f(x) @ lm_head^T.
 */
#include "gen_object.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h> /* madvise: huge pages for the weights and KV caches */

/* Floats of one layer's packed matrices. */

static inline float *kslot(const tt_generator *g, float *base, int slot, int l) {
    return base + ((size_t)slot * g->L + l) * (size_t)g->NH * g->hstride;
}

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
        if (atomic_compare_exchange_weak_explicit(&fc->ctr[p].next, &cur, end, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *b0 = cur;
            *b1 = end;
            return true;
        }
    }
}

/* Runs phase p, out[N, O] = epi(x @ w^T + b), until no block is left, then
 * waits for the team. */
static void team_linear(const tt_generator *g, fwd_call *fc, int p, float *out, const float *x,
                        const float *wp, const float *b, int N, int I, int O, tt_gen_epilogue epi) {
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
    /* attention units: (row, hpu heads). In a team, pairs of heads keep the
     * value sum's two-heads-at-once path while giving the threads enough
     * units to finish together; single heads when rows are few. */
    const int hpu = nth == 1 ? NH : N < 2 * nth || NH % 2 ? 1 : 2, nu = N * (NH / hpu);
    int ph = 0; /* phase counter */
    for (int l = 0; l < L; l++) {
        const tt_layer_weights *w = &W->layers[l];
        const tt_layer_weights *pw = &g->gw->packed.layers[l]; /* packed: gen_weights.h */
        team_layernorm(g, fc, xn, priv, tid, w->ln1_w, w->ln1_b);
        /* q, k, v of row i at g->q, kp, vp + i * rs */
        const float *kp, *vp;
        size_t rs;
        if (C % 8 == 0) {
            /* the three packed matrices are one [3C, C] product */
            team_linear(g, fc, ph++, g->q, xn, pw->wq,
                        w->bq ? g->gw->bqkv + (size_t)l * 3 * C : NULL, N, C, 3 * C,
                        TT_GEN_EPI_STORE);
            kp = g->q + C, vp = g->q + 2 * C, rs = (size_t)3 * C;
        } else {
            for (int c; (c = claim(fc, ph)) < 3;)
                tt_gen_linear_blocks(c == 0   ? g->q
                                     : c == 1 ? g->kb
                                              : g->vb,
                                     xn,
                                     c == 0   ? pw->wq
                                     : c == 1 ? pw->wk
                                              : pw->wv,
                                     c == 0   ? w->bq
                                     : c == 1 ? w->bk
                                              : w->bv,
                                     N, C, C, 0, (C + 7) >> 3, TT_GEN_EPI_STORE);
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
        team_linear(g, fc, ph++, g->x, g->att, pw->wo, w->bo, N, C, C, TT_GEN_EPI_ADD);
        team_layernorm(g, fc, xn, priv, tid, w->ln2_w, w->ln2_b);
        team_linear(g, fc, ph++, g->h, xn, pw->fc1_w, w->fc1_b, N, C, F, TT_GEN_EPI_GELU);
        team_linear(g, fc, ph++, g->x, g->h, pw->fc2_w, w->fc2_b, N, F, C, TT_GEN_EPI_ADD);
    }
    /* Final LayerNorm and head only for the rows that want logits. */
    /* (m <= N: in the private buffer when N fits it) */
    for (int j = priv ? 0 : tid; j < fc->m; j += priv ? 1 : nth)
        tt_gen_layernorm(xn + (size_t)j * C, g->x + (size_t)g->sel[j] * C, W->lnf_w, W->lnf_b, 1,
                         C);
    if (!priv) team_barrier(g, fc);
    team_linear(g, fc, ph, g->lg, xn, g->gw->packed.lm_head, NULL, fc->m, C, V, TT_GEN_EPI_STORE);
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
void tt_gen_forward_rows(tt_generator *g, int N, const int *tok, const int *pos, const int *slot,
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
    fc->team = macs >= 65536 ? tt_gen_acquire_team(g) : NULL;
    fc->nth = fc->team ? tt_team_size(fc->team) : 1;
    if (fc->nth > 1)
        tt_team_run(fc->team, team_entry, g);
    else
        forward_team(g, fc, 0);
    tt_gen_release_team(g, fc->team);
    fc->team = NULL;
    for (int j = 0; j < fc->m; j++)
        memcpy(dst[g->sel[j]], g->lg + (size_t)j * V, (size_t)V * sizeof(float));
}

/* Runs the n queued window rows (nothing once the call was aborted: the
 * abort callback is asked before each chunk). */
void tt_gen_flush_span(tt_generator *g, int n) {
    if (n && !tt_gen_abort_asked(g))
        tt_gen_forward_rows(g, n, g->wtok, g->wpos, g->wslot, g->wdst, true, NULL);
}

void tt_gen_queue_span(tt_generator *g, int *n, const int *ctx, int p0, int w, int slot,
                       float *dst) {
    for (int i = p0; i < w; i++, ++*n) {
        if (*n == g->CH) {
            tt_gen_flush_span(g, *n);
            *n = 0;
        }
        g->wtok[*n] = ctx[i];
        g->wpos[*n] = i;
        g->wslot[*n] = slot;
        g->wdst[*n] = i == w - 1 ? dst : NULL;
    }
}

/* A step API decode call; with auto threads it is timed and probed as
 * generate's decode steps are (the team is woken per call: the workers do
 * not spin between the caller's steps). */
void tt_gen_decode(tt_generator *g, int n, const int *tok, const int *pos, const int *slot,
                   float *const *dst) {
    if (!n) return;
    const tt_gen_step_clock c = tt_gen_step_begin(g, false);
    tt_gen_forward_rows(g, n, tok, pos, slot, dst, false, NULL);
    tt_gen_step_end(g, c, true);
}

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

/* Floats of the KV caches (K and V) of `slots` rows holding npos positions. */
size_t tt_gen_kv_floats(const tt_generator *g, size_t slots, int npos) {
    const size_t TP = npos < 64 ? 64 : ((size_t)npos + 63) & ~(size_t)63;
    const size_t slot = tt_gen_mul_sat((size_t)g->L * g->NH, TP * g->hs + 64);
    return tt_gen_mul_sat(tt_gen_mul_sat(slots, slot), 2);
}

/* Makes the KV caches hold `slots` rows of npos positions (rounded up to
 * 64, at most TPmax; capacities never shrink), keeping what they hold. */
tt_status tt_gen_reserve_kv(tt_generator *g, int slots, int npos, tt_error *err) {
    int TP = npos < 64 ? 64 : (npos + 63) & ~63;
    if (TP > g->TPmax) TP = g->TPmax;
    if (TP < g->TP) TP = g->TP;
    if (slots < g->cap_slots) slots = g->cap_slots;
    if (g->kc && TP == g->TP && slots == g->cap_slots) return TT_OK;
    const size_t per = (size_t)g->L * g->NH, hstride = (size_t)TP * g->hs + 64;
    const size_t n = tt_gen_kv_floats(g, (size_t)slots, TP) / 2;
    float *kc = n < SIZE_MAX / 8 ? tt_gen_falloc(n, true) : NULL; /* zeroed: attention reads
                                      whole groups of positions (lanes past a row's length are
                                      discarded) */
    float *vc = kc ? tt_gen_falloc(n, false) : NULL;
    float *sc =
        vc && TP != g->TP ? tt_gen_falloc((size_t)g->n_threads * g->NH * (size_t)TP, false) : NULL;
    if (!kc || !vc || (TP != g->TP && !sc)) {
        tt_gen_ffree(kc);
        tt_gen_ffree(vc);
        return tt_error_set(err, TT_ERR_NOMEM,
                            "out of memory for the KV cache of %d rows of %d positions (%zu bytes)",
                            slots, TP, tt_gen_mul_sat(n, 2 * sizeof(float)));
    }
    /* a head's first TP positions are a prefix of it in both layouts */
    for (size_t j = 0; g->kc && j < (size_t)g->cap_slots * per; j++) {
        memcpy(kc + j * hstride, g->kc + j * g->hstride, (size_t)g->TP * g->hs * sizeof(float));
        memcpy(vc + j * hstride, g->vc + j * g->hstride, (size_t)g->TP * g->hs * sizeof(float));
    }
    tt_gen_ffree(g->kc);
    tt_gen_ffree(g->vc);
    g->kc = kc;
    g->vc = vc;
    if (sc) {
        tt_gen_ffree(g->scores);
        g->scores = sc;
    }
    g->TP = TP;
    g->hstride = hstride;
    g->cap_slots = slots;
    return TT_OK;
}

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
