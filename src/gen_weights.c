/*
 * The generators' packed weights, one copy per model (see gen_weights.h).
 *
 * Legend: C = d_model, F = d_ff, V vocabulary, L layers.
 */
#include "gen_weights.h"

#include <stdlib.h>
#include <string.h>

#include "generate_internal.h"
#include "team.h"
#include "tt/model.h"

size_t tt_gen_layer_packed(int C, int F) {
    return 4 * tt_gen_packed_floats(C, C) + tt_gen_packed_floats(F, C) + tt_gen_packed_floats(C, F);
}

typedef struct {
    const tt_model *m;
    tt_gen_weights *w;
} pack_ctx;

/* Packs matrix j of the 6 L + 1 (per layer wq, wk, wv, wo, fc1, fc2, then
 * the head), with layer l's q/k/v biases alongside its wq. */
static void pack_one(const pack_ctx *p, int j) {
    const tt_model_config *mc = tt_model_get_config(p->m);
    const tt_model_weights *W = tt_model_weights_get(p->m);
    const int C = mc->d_model, F = mc->d_ff, L = mc->n_layers;
    const size_t pcc = tt_gen_packed_floats(C, C), pfc = tt_gen_packed_floats(F, C);
    const size_t lp = tt_gen_layer_packed(C, F);
    if (j == 6 * L) {
        tt_gen_pack(p->w->wp + (size_t)L * lp, W->lm_head, mc->vocab_size, C);
        return;
    }
    const int l = j / 6;
    const tt_layer_weights *w = &W->layers[l];
    float *d = p->w->wp + (size_t)l * lp;
    switch (j % 6) {
    case 0:
        tt_gen_pack(d, w->wq, C, C);
        if (w->bq && p->w->bqkv) {
            float *bd = p->w->bqkv + (size_t)l * 3 * C;
            memcpy(bd, w->bq, (size_t)C * sizeof(float));
            memcpy(bd + C, w->bk, (size_t)C * sizeof(float));
            memcpy(bd + 2 * C, w->bv, (size_t)C * sizeof(float));
        }
        break;
    case 1: tt_gen_pack(d + pcc, w->wk, C, C); break;
    case 2: tt_gen_pack(d + 2 * pcc, w->wv, C, C); break;
    case 3: tt_gen_pack(d + 3 * pcc, w->wo, C, C); break;
    case 4: tt_gen_pack(d + 4 * pcc, w->fc1_w, F, C); break;
    default: tt_gen_pack(d + 4 * pcc + pfc, w->fc2_w, C, F); break;
    }
}

static void pack_job(void *arg, int tid, int n) {
    const pack_ctx *p = arg;
    const int L = tt_model_get_config(p->m)->n_layers;
    for (int j = tid; j <= 6 * L; j += n)
        pack_one(p, j);
}

/* A copy bound by memory, so on the team when there is one (half the time
 * on two cores). */
static tt_gen_weights *build(const tt_model *m, tt_team *team) {
    const tt_model_config *mc = tt_model_get_config(m);
    tt_gen_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    const size_t nwp = (size_t)mc->n_layers * tt_gen_layer_packed(mc->d_model, mc->d_ff) +
                       tt_gen_packed_floats(mc->vocab_size, mc->d_model);
    const size_t nb = (size_t)mc->n_layers * 3 * (size_t)mc->d_model;
    w->wp = tt_gen_falloc(nwp, false);
    w->bqkv = malloc(nb * sizeof(float));
    if (!w->wp || !w->bqkv) {
        tt_gen_ffree(w->wp);
        free(w->bqkv);
        free(w);
        return NULL;
    }
    w->bytes = (nwp + nb) * sizeof(float);
    atomic_init(&w->refs, 1);
    pack_ctx p = {m, w};
    if (team && tt_team_usable(team))
        tt_team_run(team, pack_job, &p);
    else
        pack_job(&p, 0, 1);
    return w;
}

/* Packing runs outside the model's lock, which is held only to look at and
 * install the copy: a child forked while another thread packs finds the
 * lock free (it repacks itself). Two threads that pack at once keep the
 * first copy installed and free the other; a copy packed while the weights
 * changed serves this call only. */
tt_status tt_gen_weights_use(const tt_model *m, tt_gen_weights **held, tt_team *team,
                             tt_error *err) {
    tt_gen_weights **slot = tt_model_gen_weights_lock(m);
    tt_gen_weights *cur = *slot;
    if (cur && cur == *held) {
        tt_model_gen_weights_unlock(m);
        return TT_OK;
    }
    if (cur) atomic_fetch_add_explicit(&cur->refs, 1, memory_order_relaxed);
    const unsigned long epoch = tt_model_gen_weights_epoch(m);
    tt_model_gen_weights_unlock(m);
    if (!cur) {
        tt_gen_weights *mine = build(m, team);
        if (!mine) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for the packed weights");
        slot = tt_model_gen_weights_lock(m);
        if (tt_model_gen_weights_epoch(m) != epoch) { /* changed while packing: not the cache */
            cur = mine;
        } else if (!*slot) {
            *slot = mine; /* the slot's reference */
            atomic_fetch_add_explicit(&mine->refs, 1, memory_order_relaxed);
            cur = mine;
        } else { /* another thread installed first */
            cur = *slot;
            atomic_fetch_add_explicit(&cur->refs, 1, memory_order_relaxed);
        }
        tt_model_gen_weights_unlock(m);
        if (cur != mine) tt_gen_weights_release(mine);
    }
    tt_gen_weights *old = *held;
    *held = cur;
    tt_gen_weights_release(old);
    return TT_OK;
}

bool tt_gen_weights_packed(const tt_model *m) {
    const bool packed = *tt_model_gen_weights_lock(m) != NULL;
    tt_model_gen_weights_unlock(m);
    return packed;
}

void tt_gen_weights_release(tt_gen_weights *w) {
    if (!w || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1) return;
    tt_gen_ffree(w->wp);
    free(w->bqkv);
    free(w);
}
