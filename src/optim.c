/* AdamW and gradient clipping over flat blocks; see tt/optim.h. */
#include "tt/optim.h"

#include "abi.h"
#include "optim_internal.h"
#include "par.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct tt_adamw {
    size_t n;
    int64_t t;
    float *m; /* [n] first moment  */
    float *v; /* [n] second moment */
    /* threads (tt_adamw_set_threads): the setting (0 = auto) and the team,
     * started at the first step that uses more than one thread */
    int n_threads_cfg;
    tt_team *team;
    bool team_failed;
    tt_par_probe probe; /* auto threads (src/par.h) */
};

tt_adamw_config tt_adamw_config_default(void) {
    tt_adamw_config c = {sizeof c, 0.9f, 0.95f, 1e-8f, 0.01f};
    return c;
}

tt_status tt_adamw_create(tt_adamw **out, size_t n, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "optimizer output pointer is NULL");
    *out = NULL;
    if (n == 0) return tt_error_set(err, TT_ERR_ARG, "optimizer needs at least one parameter");
    tt_adamw *o = calloc(1, sizeof *o);
    if (o) {
        o->m = calloc(n, sizeof *o->m);
        o->v = calloc(n, sizeof *o->v);
    }
    if (!o || !o->m || !o->v) {
        tt_adamw_free(o);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory for AdamW moments of %zu parameters", n);
    }
    o->n = n;
    *out = o;
    return TT_OK;
}

void tt_adamw_free(tt_adamw *o) {
    if (!o) return;
    tt_team_free(o->team);
    free(o->m);
    free(o->v);
    free(o);
}

tt_status tt_adamw_set_threads(tt_adamw *o, int n_threads, tt_error *err) {
    if (!o) return tt_error_set(err, TT_ERR_ARG, "adamw set_threads: optimizer is NULL");
    if (n_threads < 0 || n_threads > TT_PAR_MAX_THREADS)
        return tt_error_set(err, TT_ERR_ARG, "adamw n_threads must be in [0, %d] (0 = auto), got %d",
                            TT_PAR_MAX_THREADS, n_threads);
    if (n_threads != o->n_threads_cfg) {
        tt_team_free(o->team);
        o->team = NULL;
        o->team_failed = false;
        o->n_threads_cfg = n_threads;
        memset(&o->probe, 0, sizeof o->probe);
    }
    tt_error_clear(err);
    return TT_OK;
}

/* The team of a step (NULL: the calling thread), started on first use; one
 * that cannot start leaves the optimizer on one thread (same results). */
static tt_team *adamw_team(tt_adamw *o) {
    if (o->team || o->team_failed) return o->team;
    const int n = tt_par_threads_for(o->n_threads_cfg);
    if (n > 1 && tt_team_create(&o->team, n, NULL) != TT_OK) {
        o->team = NULL;
        o->team_failed = true;
    }
    return o->team;
}

typedef struct {
    float *m, *v, *params;
    const float *grads;
    const unsigned char *decay_mask;
    const tt_decay_span *spans; /* or decay by spans of the tensor table (n_spans) */
    size_t n_spans;
    size_t n;
    float b1, b2, eps, step_size, bc2_sqrt, decay;
    float gscale; /* the gradient clipping's factor (1: none), applied as g is read */
} step_args;

/* one span of the update; inlined twice, with and without a decay mask, so
 * that each loop is branch-free and vectorises (p * 1 is p exactly) */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline void adamw_span(const step_args *a, size_t i0, size_t len, const unsigned char *restrict dm,
                              int masked) {
    const float b1 = a->b1, b2 = a->b2, eps = a->eps, step_size = a->step_size, bc2_sqrt = a->bc2_sqrt,
                decay = a->decay, gscale = a->gscale;
    float *restrict mm = a->m + i0, *restrict vv = a->v + i0, *restrict pp = a->params + i0;
    const float *restrict gg = a->grads + i0;
#if defined(_OPENMP) || defined(TT_OMP_SIMD)
#pragma omp simd
#endif
    for (size_t i = 0; i < len; i++) {
        const float g = gg[i] * gscale; /* * 1 is exact: the unclipped g */
        const float p = pp[i] * (masked ? (dm[i] ? decay : 1.0f) : decay);
        mm[i] = b1 * mm[i] + (1.0f - b1) * g;
        vv[i] = b2 * vv[i] + (1.0f - b2) * g * g;
        const float denom = sqrtf(vv[i]) / bc2_sqrt + eps;
        pp[i] = p - step_size * (mm[i] / denom);
    }
}

/* every thread: its share of the elements (each independent of the others) */
static void step_body(void *arg) {
    const step_args *a = arg;
    size_t lo, hi;
    tt_par_range_min(a->n, 4096, 1u << 15, &lo, &hi);
    if (hi <= lo) return;
    if (a->spans) { /* p * 1 is p: the same numbers as a mask of the spans */
        step_args keep = *a;
        keep.decay = 1.0f;
        for (size_t i = 0; i < a->n_spans; i++) {
            const size_t s0 = a->spans[i].off > lo ? a->spans[i].off : lo,
                         s1 = a->spans[i].off + a->spans[i].len < hi ? a->spans[i].off + a->spans[i].len : hi;
            if (s1 > s0) adamw_span(a->spans[i].decay ? a : &keep, s0, s1 - s0, NULL, 0);
        }
    } else if (a->decay_mask)
        adamw_span(a, lo, hi - lo, a->decay_mask + lo, 1);
    else
        adamw_span(a, lo, hi - lo, NULL, 0);
}

static void adamw_step(tt_adamw *o, const tt_adamw_config *cfg, float lr, float *params, const float *grads,
                       const unsigned char *decay_mask, const tt_decay_span *spans, size_t n_spans,
                       float gscale) {
    if (!o || !cfg || !params || !grads) return; /* documented: does nothing */
    tt_adamw_config c_in = tt_adamw_config_default();
    if (cfg->struct_size != sizeof *cfg) {
        if (tt_struct_in(&c_in, sizeof c_in, cfg, TT_ADAMW_CONFIG_SIZE_0, "adamw config", NULL))
            return; /* documented: an unreadable config does nothing */
        cfg = &c_in;
    }
    o->t++;
    const float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps;
    /* bias corrections in double, as PyTorch computes them in Python floats */
    const double bc1 = 1.0 - pow((double)b1, (double)o->t);
    const double bc2 = 1.0 - pow((double)b2, (double)o->t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    step_args a = {o->m,      o->v, params, grads,     decay_mask, spans,
                   n_spans,   o->n, b1,     b2,        eps,        step_size,
                   bc2_sqrt,  1.0f - lr * cfg->weight_decay, gscale};
    tt_par_run_probed(adamw_team(o), o->n_threads_cfg == 0 ? &o->probe : NULL, (double)o->n, step_body, &a);
}

void tt_adamw_step(tt_adamw *o, const tt_adamw_config *cfg, float lr, float *params,
                   const float *grads, const unsigned char *decay_mask) {
    adamw_step(o, cfg, lr, params, grads, decay_mask, NULL, 0, 1.0f);
}

void tt_adamw_step_spans(tt_adamw *o, const tt_adamw_config *cfg, float lr, float *params,
                         const float *grads, const tt_decay_span *spans, size_t n_spans, float gscale) {
    adamw_step(o, cfg, lr, params, grads, NULL, spans, n_spans, gscale);
}

size_t tt_adamw_size(const tt_adamw *o) { return o ? o->n : 0; }
int64_t tt_adamw_step_count(const tt_adamw *o) { return o ? o->t : 0; }
float *tt_adamw_m(tt_adamw *o) { return o ? o->m : NULL; }
float *tt_adamw_v(tt_adamw *o) { return o ? o->v : NULL; }
void tt_adamw_set_step_count(tt_adamw *o, int64_t t) {
    if (o) o->t = t;
}

#define NORM_CHUNKS 64 /* fixed partition: the sum order never depends on threads */
#define NORM_WAYS 8     /* chunks summed side by side: 8 independent chains */

/* part[c] for the chunks c in [c0, c1): each the sum over its elements in
 * index order in double. Chunks run NORM_WAYS at a time, interleaved, so the
 * adds of one chain overlap the others' latency; each chain's order, and so
 * its value, is that of a plain loop over its chunk. */
static void norm_chunks(double *part, const float *g, size_t n, size_t chunk, int c0, int c1) {
    int c = c0;
    for (; c + NORM_WAYS <= c1 && (size_t)(c + NORM_WAYS) * chunk <= n; c += NORM_WAYS) {
        double s[NORM_WAYS] = {0};
        const float *base = g + (size_t)c * chunk;
        for (size_t i = 0; i < chunk; i++)
            for (int j = 0; j < NORM_WAYS; j++) {
                const double x = base[(size_t)j * chunk + i];
                s[j] += x * x;
            }
        for (int j = 0; j < NORM_WAYS; j++) part[c + j] = s[j];
    }
    for (; c < c1; c++) { /* the rest, one at a time (the last may be short or empty) */
        const size_t lo = (size_t)c * chunk < n ? (size_t)c * chunk : n,
                     hi = lo + chunk < n ? lo + chunk : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
        part[c] = s;
    }
}

static float norm_of_parts(const double *part) {
    double s = 0.0;
    for (int c = 0; c < NORM_CHUNKS; c++) s += part[c];
    return (float)sqrt(s);
}

float tt_grad_global_norm(const float *g, size_t n) {
    if (!g || n == 0) return 0.0f;
    double part[NORM_CHUNKS];
    norm_chunks(part, g, n, (n + NORM_CHUNKS - 1) / NORM_CHUNKS, 0, NORM_CHUNKS);
    return norm_of_parts(part);
}

typedef struct {
    double part[NORM_CHUNKS];
    const float *g;
    size_t n;
} norm_args;

static void norm_body(void *arg) {
    norm_args *a = arg;
    size_t lo, hi; /* whole groups of chunks per thread */
    tt_par_range_min(NORM_CHUNKS, NORM_WAYS, 1, &lo, &hi);
    if (hi > lo) norm_chunks(a->part, a->g, a->n, (a->n + NORM_CHUNKS - 1) / NORM_CHUNKS, (int)lo, (int)hi);
}

float tt_adamw_grad_norm(tt_adamw *o, const float *g, size_t n) {
    if (!g || n == 0) return 0.0f;
    norm_args a;
    a.g = g;
    a.n = n;
    tt_par_run(n >= ((size_t)1 << 16) ? adamw_team(o) : NULL, norm_body, &a);
    return norm_of_parts(a.part); /* tt_grad_global_norm's value: the same chunks, the same order */
}

float tt_grad_clip(float *g, size_t n, float max_norm) {
    if (!g || n == 0) return 0.0f;
    float norm = tt_grad_global_norm(g, n);
    if (max_norm > 0.0f) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f) {
            for (size_t i = 0; i < n; i++) g[i] *= coef;
        }
    }
    return norm;
}
