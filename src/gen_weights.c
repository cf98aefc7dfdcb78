/*
 * The generators' packed weights, one copy per model (see gen_weights.h).
 *
 * Legend: C = d_model, F = d_ff, V vocabulary, L layers.
 */
#include "gen_weights.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "generate_internal.h"
#include "model_internal.h"
#include "team.h"
#include "tensor_table.h"
#include "tt/model.h"

typedef struct {
    const tt_model *m;
    tt_gen_weights *w;
} pack_ctx;

/* Walks the tensor table (src/tensor_table.c): the rows it marks
 * TT_PACK_MATRIX are packed one after another into wp, in table order (per
 * layer wq, wk, wv, wo, fc1, fc2, then lm_head), and thread 0 points the
 * tensor's slot of w->packed at its copy; TT_PACK_QKV_BIAS rows go to the
 * layer's q|k|v bias row. Matrix number j is packed by thread j % n.
 * Returns the floats of wp. */
static size_t pack_walk(const pack_ctx *p, int tid, int n) {
    const size_t C = (size_t)tt_model_get_config(p->m)->d_model;
    size_t off = 0;
    int j = 0;
    for (size_t i = 0; i < tt_model_num_tensors(p->m); i++) {
        const tt_tensor_entry *e = tt_model_tensor_entry(p->m, i);
        tt_tensor_info t;
        tt_model_tensor(p->m, i, &t);
        if (e->def->pack == TT_PACK_MATRIX) {
            const int O = (int)t.shape[0], I = (int)t.shape[1];
            if (p->w && j % n == tid) tt_gen_pack(p->w->wp + off, t.data, O, I);
            if (p->w && tid == 0) *tt_tensor_slot(&p->w->packed, e) = p->w->wp + off;
            off += tt_gen_packed_floats(O, I);
            j++;
        } else if (e->def->pack == TT_PACK_QKV_BIAS && p->w && tid == 0) {
            float *d = p->w->bqkv + ((size_t)e->layer * 3 + (size_t)e->def->pack_index) * C;
            memcpy(d, t.data, C * sizeof(float));
        }
    }
    return off;
}

static void pack_job(void *arg, int tid, int n) { pack_walk(arg, tid, n); }

/* A copy bound by memory, so on the team when there is one (half the time
 * on two cores). */
static tt_gen_weights *build(const tt_model *m, tt_team *team) {
    const tt_model_config *mc = tt_model_get_config(m);
    tt_gen_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    const pack_ctx sizing = {m, NULL};
    const size_t nwp = pack_walk(&sizing, 0, 1);
    const size_t nb = (size_t)mc->n_layers * 3 * (size_t)mc->d_model;
    w->wp = tt_gen_falloc(nwp, false);
    w->bqkv = malloc(nb * sizeof(float));
    w->packed.layers = calloc((size_t)mc->n_layers + 1, sizeof *w->packed.layers);
    if (!w->wp || !w->bqkv || !w->packed.layers) {
        tt_gen_ffree(w->wp);
        free(w->bqkv);
        free(w->packed.layers);
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
    /* the decoder's fused q|k|v product reads wq, wk, wv as one [3C, C]
     * matrix: the table keeps them adjacent, in that order */
    const size_t pcc = tt_gen_packed_floats(mc->d_model, mc->d_model);
    for (int l = 0; l < mc->n_layers; l++) {
        const tt_layer_weights *pl = &w->packed.layers[l];
        assert(pl->wq && pl->wk == pl->wq + pcc && pl->wv == pl->wk + pcc);
        assert(pl->wo && pl->fc1_w && pl->fc2_w);
    }
    assert(w->packed.lm_head);
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
    free(w->packed.layers);
    free(w);
}
