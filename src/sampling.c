/*
 * Sampling: greedy, temperature, top-k, top-p and combined, over one row of
 * logits [V] at a time, plus the filtered distributions they draw from.
 *
 * Legend: V = vocabulary size (one row of logits), m = number of kept tokens.
 *
 * How a draw works (the fast path and the reference share step 1 and the
 * target of step 4; they find the kept set and walk it each their own way):
 *  1. weights: W[i] = round(exp((l[i] - max) / T) * 2^shift) as a uint64
 *     (exp: a vectorised float32 polynomial, exp_neg below),
 *     shift = 62 - ceil(log2 V), so the top token has W = 2^shift and any sum
 *     of W fits in 63 bits. Sums of integers are exact, so they do not depend
 *     on the order of the additions: the fast path (selection, no sort) and the
 *     reference (full sort) compute the same cumulative masses bit for bit.
 *  2. rank order: logit descending, then id ascending; a token is encoded as a
 *     uint64 key (ordered logit bits << 32 | id) so that ascending keys are
 *     rank order and every comparison is one integer compare.
 *  3. kept set: a prefix of rank order, given by its last token t*.
 *     top-k: t* is the k-th token. top-p: t* is the first token at which the
 *     cumulative weight reaches p * S * (1 - 1e-6) (S = the weight of the
 *     candidates). The fast path bins the tokens by logit (bin_prefix), so
 *     that only the bin where the set ends needs a selection: quickselect
 *     (top-k) or a weighted quickselect (top-p). The reference sorts the
 *     whole vocabulary.
 *  4. draw: one uniform u (53 bits), target = floor(u * S_kept) computed
 *     exactly, then the kept tokens are walked in id order and the first one
 *     whose running weight exceeds target is returned. The probability of
 *     token i is W[i] / S_kept, exactly what tt_sampler_filter reports.
 */
#include "tt/sampling.h"

#include "abi.h"
#include "sampling_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No fused multiply-adds: the weights, hence the draws, are the same for GCC
 * (which does not contract in ISO C mode) and clang (which would). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* A cumulative mass within this relative distance below p counts as reaching
 * p: it absorbs the float32 rounding of exp() so that exact hits such as
 * 0.5 + 0.3 = 0.8 keep the crossing token, as HF and llama.cpp do. */
#define TOP_P_REL_TOL 1e-6

struct tt_sampler {
    int V;
    int shift;      /* W of the top token is 2^shift                  */
    uint64_t *w;    /* [V] fixed-point weights (0 for -inf logits)    */
    uint64_t *keys; /* [V + 1] candidate keys (rank order if sorted)  */
    uint64_t *aux;  /* [V + 1] scratch: a bin's keys, kept ids, flags */
    uint64_t *cum;  /* [V] cumulative weights for repeated draws      */
    float *wf;      /* [V] float weights before rounding              */
    float *proc;    /* [V] logits after bias, penalties and DRY       */
    unsigned char *mask; /* [V] zero between calls: kept flags        */
    struct typ_item *typ; /* [V] typical: (|-ln q - H|, key) pairs    */
    tt_lp_scratch lp;
    const tt_token_history *hist; /* borrowed (set_history)            */
    const struct tt_tokenizer *tok;
};

struct typ_item {
    double d;
    uint64_t key;
};

/* The result of filtering one row. */
typedef struct {
    bool all;       /* nothing filtered: every finite token is kept   */
    int n_finite;   /* tokens with a finite logit                     */
    int argmax;     /* lowest id among the maximal logits             */
    int m;          /* kept tokens; when !all they are keys[0..m)     */
    uint64_t total; /* sum of W over all tokens                       */
    uint64_t s_kept;/* sum of W over the kept tokens                  */
    uint64_t t_key; /* key of the last kept token (when !all)         */
    float mx, T;    /* the row's max logit and the temperature used    */
    bool scattered; /* the kept set is not a prefix of rank order      */
    const float *lg;/* the logits the plan was made on (processed)     */
} plan;

/* ------------------------------------------------------------------------ */
/* Params                                                                   */

tt_sampling_params tt_sampling_params_default(void) {
    tt_sampling_params p = {sizeof p, TT_STRATEGY_COMBINED, 1.0f, 0, 1.0f,
                            tt_sampling_controls_default()};
    return p;
}

/* Points *p at today's params: the caller's own when it was built against
 * this version (the usual case: no copy), else *copy made from its fields
 * and the defaults (abi.h). A NULL *p is left for the caller's message. */
tt_status tt_sampling_params_in(const tt_sampling_params **p, tt_sampling_params *copy,
                                tt_error *err) {
    if (!*p || (*p)->struct_size == sizeof **p) return TT_OK;
    *copy = tt_sampling_params_default();
    const tt_status st =
        tt_struct_in(copy, sizeof *copy, *p, TT_SAMPLING_PARAMS_SIZE_0, "sampling params", err);
    if (st == TT_OK) *p = copy;
    return st;
}

static const char *const strategy_names[TT_STRATEGY_COUNT_] = {"greedy", "temperature", "top-k",
                                                               "top-p", "combined"};

const char *tt_strategy_name(tt_strategy s) {
    if ((int)s < 0 || s >= TT_STRATEGY_COUNT_) return "unknown";
    return strategy_names[s];
}

tt_status tt_strategy_parse(const char *name, tt_strategy *out, tt_error *err) {
    if (!name) return tt_error_set(err, TT_ERR_ARG, "strategy_parse: name is NULL");
    if (!out) return tt_error_set(err, TT_ERR_ARG, "strategy_parse: out is NULL");
    for (int s = 0; s < TT_STRATEGY_COUNT_; s++) {
        if (!strcmp(name, strategy_names[s])) {
            *out = (tt_strategy)s;
            return TT_OK;
        }
    }
    return tt_error_set(err, TT_ERR_ARG,
                        "unknown strategy '%.64s' (greedy, temperature, top-k, top-p, combined)",
                        name);
}

tt_status tt_sampling_params_validate(const tt_sampling_params *p, tt_error *err) {
    if (!p) return tt_error_set(err, TT_ERR_ARG, "sampling params p is NULL");
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    if ((int)p->strategy < 0 || p->strategy >= TT_STRATEGY_COUNT_)
        return tt_error_set(err, TT_ERR_ARG, "strategy %d is not a strategy", (int)p->strategy);
    st = tt_sampling_controls_check(&p->x, err);
    if (st != TT_OK) return st;
    if (p->x.num_beams > 1 && !tt_sampling_greedy(p))
        return tt_error_set(err, TT_ERR_ARG,
                            "num_beams %d (beam search) excludes sampling: use greedy decoding",
                            p->x.num_beams);
    if (tt_sampling_greedy(p)) return TT_OK; /* ignores T, k, p */
    if (p->x.n_samplers > 0 && p->temperature != 1.0f) {
        bool has_t = false;
        for (int i = 0; i < p->x.n_samplers; i++) has_t |= p->x.samplers[i] == TT_SAMPLER_TEMPERATURE;
        if (!has_t)
            return tt_error_set(err, TT_ERR_ARG,
                                "temperature %g has no effect: 'temperature' is not in the "
                                "sampler order",
                                (double)p->temperature);
    }
    if (!isfinite(p->temperature) || !(p->temperature > 0.0f))
        return tt_error_set(err, TT_ERR_ARG, "temperature must be finite and >= 0 (0 = greedy), got %g",
                            (double)p->temperature);
    if (p->strategy == TT_STRATEGY_TOP_K && p->top_k < 1)
        return tt_error_set(err, TT_ERR_ARG, "top_k must be >= 1 for strategy top-k, got %d",
                            p->top_k);
    if (p->strategy == TT_STRATEGY_COMBINED && p->top_k < 0)
        return tt_error_set(err, TT_ERR_ARG,
                            "top_k must be >= 0 for strategy combined (0 = off), got %d", p->top_k);
    if ((p->strategy == TT_STRATEGY_TOP_P || p->strategy == TT_STRATEGY_COMBINED) &&
        !(p->top_p > 0.0f && p->top_p <= 1.0f)) /* also rejects NaN */
        return tt_error_set(err, TT_ERR_ARG, "top_p must be in (0, 1], got %g", (double)p->top_p);
    return TT_OK;
}

/* ------------------------------------------------------------------------ */
/* Sampler                                                                  */

tt_status tt_sampler_create(tt_sampler **out, int vocab_size, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "sampler: NULL output pointer");
    *out = NULL;
    if (vocab_size < 1)
        return tt_error_set(err, TT_ERR_ARG, "vocab_size must be >= 1, got %d", vocab_size);
    tt_sampler *s = calloc(1, sizeof *s);
    if (!s) return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a sampler");
    size_t n = (size_t)vocab_size;
    s->V = vocab_size;
    int lg = 0;
    while (lg < 62 && ((uint64_t)1 << lg) < (uint64_t)vocab_size) lg++;
    s->shift = 62 - lg;
    s->w = malloc(n * sizeof *s->w);
    s->keys = malloc((n + 1) * sizeof *s->keys); /* + 1: see bin_prefix */
    s->aux = malloc((n + 1) * sizeof *s->aux);
    s->cum = malloc(n * sizeof *s->cum);
    s->wf = malloc(n * sizeof *s->wf);
    s->proc = malloc(n * sizeof *s->proc);
    s->mask = calloc(n, 1);
    s->typ = malloc(n * sizeof *s->typ);
    if (!s->w || !s->keys || !s->aux || !s->cum || !s->wf || !s->proc || !s->mask || !s->typ) {
        tt_sampler_free(s);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a sampler for V = %d",
                            vocab_size);
    }
    *out = s;
    return TT_OK;
}

void tt_sampler_free(tt_sampler *s) {
    if (!s) return;
    free(s->w);
    free(s->keys);
    free(s->aux);
    free(s->cum);
    free(s->wf);
    free(s->proc);
    free(s->mask);
    free(s->typ);
    tt_lp_scratch_free(&s->lp);
    free(s);
}

void tt_sampler_set_history(tt_sampler *s, const tt_token_history *h,
                            const struct tt_tokenizer *tok) {
    if (!s) return;
    s->hist = h;
    s->tok = tok;
}

int tt_sampler_vocab_size(const tt_sampler *s) { return s ? s->V : 0; }

/* ------------------------------------------------------------------------ */
/* Keys and weights                                                         */

/* Ascending keys = logit descending, then id ascending. */
static inline uint64_t rank_key(float logit, int id) {
    float f = logit + 0.0f; /* -0 -> +0 */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending in the float */
    return ((uint64_t)(~u) << 32) | (uint32_t)id;
}

static inline int key_id(uint64_t key) { return (int)(uint32_t)key; }

/* Validates one row and finds its maximum. row < 0: no "row" in messages.
 * The first loop has no early exit so that it vectorises; the slow loop runs
 * only to name a bad value. */
static tt_status scan_row(const float *logits, int V, int row, float *max_out, float *min_out,
                          int *argmax, int *n_finite, tt_error *err) {
    char where[32] = "";
    /* 8 independent lanes, so that the max/min chains do not serialise */
    float mx8[8], mn8[8];
    int nf8[8], bad8[8];
    for (int j = 0; j < 8; j++) {
        mx8[j] = -INFINITY;
        mn8[j] = INFINITY;
        nf8[j] = bad8[j] = 0;
    }
    int i = 0;
    for (; i + 8 <= V; i += 8) {
        for (int j = 0; j < 8; j++) {
            float l = logits[i + j];
            bad8[j] |= (l != l) | (l == INFINITY);
            nf8[j] += l != -INFINITY;
            mx8[j] = l > mx8[j] ? l : mx8[j];
            mn8[j] = (l < mn8[j] && l != -INFINITY) ? l : mn8[j];
        }
    }
    for (int j = 0; i < V; i++, j++) {
        float l = logits[i];
        bad8[j] |= (l != l) | (l == INFINITY);
        nf8[j] += l != -INFINITY;
        mx8[j] = l > mx8[j] ? l : mx8[j];
        mn8[j] = (l < mn8[j] && l != -INFINITY) ? l : mn8[j];
    }
    float mx = -INFINITY, mn = INFINITY;
    int nf = 0, bad = 0;
    for (int j = 0; j < 8; j++) {
        bad |= bad8[j];
        nf += nf8[j];
        mx = mx8[j] > mx ? mx8[j] : mx;
        mn = mn8[j] < mn ? mn8[j] : mn;
    }
    if (row >= 0 && (bad || nf == 0)) snprintf(where, sizeof where, "row %d: ", row);
    if (bad) {
        for (i = 0; i < V; i++) {
            float l = logits[i];
            if (isnan(l) || l == INFINITY)
                return tt_error_set(err, TT_ERR_ARG,
                                    "%slogit %d is %s (NaN and +inf are not allowed; -inf masks a "
                                    "token)",
                                    where, i, isnan(l) ? "NaN" : "+inf");
        }
    }
    if (nf == 0)
        return tt_error_set(err, TT_ERR_ARG, "%severy logit is -inf (all %d tokens masked)", where,
                            V);
    int am = 0;
    while (logits[am] != mx) am++;
    *max_out = mx;
    if (min_out) *min_out = mn;
    *argmax = am;
    *n_finite = nf;
    return TT_OK;
}

/* exp(x) for x <= 0 (or -inf), branch-free so that the loop vectorises:
 * 2^t with t = x log2(e) = n + f, n an integer, f in [-1/2, 1/2], and 2^f from
 * its degree-7 Taylor polynomial (relative error about 1e-7, the size of
 * float32 rounding). Results below 2^-100 do not matter: their weight rounds
 * to 0. exp_neg(0) is exactly 1. */
static inline float exp_neg(float x) {
    /* clamp x to [-70, 0] on the bits (integer min vectorises; -inf too):
     * for x <= 0 the int32 view grows as x falls. e^-70 * 2^62 < 0.5. */
    float ax = -fabsf(x);
    int32_t xi;
    memcpy(&xi, &ax, sizeof xi);
    const int32_t lim = -1030963200; /* the bits of -70.0f, 0xC28C0000 */
    xi = xi > lim ? lim : xi;
    memcpy(&ax, &xi, sizeof ax);
    float t = ax * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 * 2^23 */
    float f = t - n;
    float p = 1.5252733804059841e-05f;   /* ln2^7 / 7! */
    p = p * f + 1.5403530393381609e-04f; /* ln2^6 / 6! */
    p = p * f + 1.3333558146428443e-03f; /* ln2^5 / 5! */
    p = p * f + 9.6181291076284772e-03f; /* ln2^4 / 4! */
    p = p * f + 5.5504108664821580e-02f; /* ln2^3 / 3! */
    p = p * f + 2.4022650695910071e-01f; /* ln2^2 / 2! */
    p = p * f + 6.9314718055994531e-01f; /* ln2 */
    p = p * f + 1.0f;
    int32_t e = ((int32_t)n + 127) * (1 << 23); /* 2^n, n in [-101, 0] */
    float two_n;
    memcpy(&two_n, &e, sizeof two_n);
    return p * two_n;
}

/* W[i] for the row; returns their sum. */
static uint64_t compute_weights(tt_sampler *s, const float *logits, float mx, float T) {
    const double scale = ldexp(1.0, s->shift);
    float *wf = s->wf;
    const int V = s->V;
#if defined(_OPENMP) || defined(TT_OMP_SIMD)
#pragma omp simd
#endif
    for (int i = 0; i < V; i++) wf[i] = exp_neg((logits[i] - mx) / T);
    uint64_t total = 0;
    for (int i = 0; i < V; i++) {
        uint64_t w = (uint64_t)((double)wf[i] * scale + 0.5);
        s->w[i] = w;
        total += w;
    }
    return total;
}

/* Target for the draw: floor(u * S) exactly, u = bits / 2^53. */
static uint64_t draw_target(tt_rng *rng, uint64_t S) {
    double u = tt_rng_uniform(rng);
    uint64_t a = (uint64_t)ldexp(u, 53); /* exact: u has 53 bits */
    /* (a * S) >> 53 with 32-bit limbs */
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, s_lo = S & 0xffffffffu, s_hi = S >> 32;
    uint64_t ll = a_lo * s_lo, lh = a_lo * s_hi, hl = a_hi * s_lo, hh = a_hi * s_hi;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    uint64_t lo = (mid << 32) | (ll & 0xffffffffu);
    uint64_t t = (hi << 11) | (lo >> 53);
    return t < S ? t : S - 1;
}

/* The threshold a top-p prefix must reach, from the candidates' weight S. */
static uint64_t top_p_threshold(float p, uint64_t S) {
    double need = ceil((double)p * (1.0 - TOP_P_REL_TOL) * (double)S);
    if (need < 1.0) return 1;
    if (need >= (double)S) return S;
    return (uint64_t)need;
}

/* ------------------------------------------------------------------------ */
/* Selection (fast path)                                                    */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static inline void swap_u64(uint64_t *a, uint64_t *b) {
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/* Median of three, moved to k[hi - 1]; returns the pivot value. */
static uint64_t pick_pivot(uint64_t *k, int lo, int hi) {
    int mid = lo + (hi - lo) / 2;
    if (k[mid] < k[lo]) swap_u64(&k[mid], &k[lo]);
    if (k[hi - 1] < k[lo]) swap_u64(&k[hi - 1], &k[lo]);
    if (k[hi - 1] < k[mid]) swap_u64(&k[hi - 1], &k[mid]);
    swap_u64(&k[mid], &k[hi - 1]); /* median now last */
    return k[hi - 1];
}

/* Lomuto partition of k[lo..hi) around the pivot in k[hi-1]: returns its final
 * position p; keys < pivot are in [lo, p). *sum_less receives their weight. */
static int partition(uint64_t *k, int lo, int hi, const uint64_t *w, uint64_t *sum_less) {
    uint64_t pv = pick_pivot(k, lo, hi);
    int store = lo;
    uint64_t sum = 0;
    for (int i = lo; i < hi - 1; i++) {
        if (k[i] < pv) {
            if (w) sum += w[key_id(k[i])];
            swap_u64(&k[i], &k[store]);
            store++;
        }
    }
    swap_u64(&k[store], &k[hi - 1]);
    if (sum_less) *sum_less = sum;
    return store;
}

static int depth_limit(int n) {
    int d = 8;
    while (n > 1) {
        n >>= 1;
        d += 2;
    }
    return d;
}

/* Rearranges k[0..n) so that k[0..kk) are the kk best (smallest) keys. */
static void select_top(uint64_t *k, int n, int kk) {
    int lo = 0, hi = n, budget = depth_limit(n);
    while (hi - lo > 16) {
        if (budget-- == 0) { /* adversarial input: sort what is left */
            qsort(k + lo, (size_t)(hi - lo), sizeof *k, cmp_u64);
            return;
        }
        int p = partition(k, lo, hi, NULL, NULL);
        if (p == kk - 1 || p == kk) return;
        if (p > kk) hi = p;
        else lo = p + 1;
    }
    qsort(k + lo, (size_t)(hi - lo), sizeof *k, cmp_u64);
}

/* Weighted selection: rearranges k[0..n) so that k[0..m) is the shortest rank
 * prefix whose weight reaches `need` (need <= the weight of all n); returns m
 * and that prefix's weight in *s_prefix. */
static int select_mass(uint64_t *k, int n, const uint64_t *w, uint64_t need, uint64_t *s_prefix) {
    int lo = 0, hi = n, budget = depth_limit(n);
    uint64_t acc = 0; /* weight of k[0..lo) */
    while (hi - lo > 16 && budget > 0) {
        budget--;
        uint64_t less;
        int p = partition(k, lo, hi, w, &less);
        uint64_t wp = w[key_id(k[p])];
        if (acc + less >= need) {
            hi = p;
        } else if (acc + less + wp >= need) {
            *s_prefix = acc + less + wp;
            return p + 1;
        } else {
            acc += less + wp;
            lo = p + 1;
        }
    }
    qsort(k + lo, (size_t)(hi - lo), sizeof *k, cmp_u64);
    for (int i = lo; i < hi; i++) {
        acc += w[key_id(k[i])];
        if (acc >= need) {
            *s_prefix = acc;
            return i + 1;
        }
    }
    /* unreachable when need <= total: keep the whole range */
    *s_prefix = acc;
    return hi;
}

/* Bucketing: tokens are binned by x = (max - l) / T into NBUCKET bins over
 * [0, xr), the last bin taking the rest. The bin is a non-increasing function
 * of the logit, so the tokens of bins 0..b-1 are a prefix of rank order and
 * bin b continues it. Counting tokens (top-k) or summing weights (top-p) per
 * bin finds the bin where the kept set ends; only that bin needs a selection. */
enum { NBUCKET = 512 };

typedef struct {
    float mx, scale; /* scale = NBUCKET / (range of x) / T */
} binning;

static inline int bin_of(const binning *b, float l) {
    float x = (b->mx - l) * b->scale; /* >= 0, maybe +inf */
    return x < (float)(NBUCKET - 1) ? (int)x : NBUCKET - 1;
}

/* Writes the keys of the finite tokens in bins < bc to keys[0..n_above) and
 * those of bin bc after them; bc is the first bin where the running count
 * reaches `k` (by_mass false) or the running weight reaches `need`. Returns
 * the number of keys written; *n_above and *mass_above describe bins < bc. */
static int bin_prefix(tt_sampler *s, const float *logits, const binning *bn, bool by_mass,
                      uint64_t goal, int *n_above, uint64_t *mass_above) {
    int count[NBUCKET] = {0};
    uint64_t mass[NBUCKET] = {0};
    const int V = s->V;
    for (int i = 0; i < V; i++) {
        if (logits[i] == -INFINITY) continue;
        int b = bin_of(bn, logits[i]);
        count[b]++;
        mass[b] += s->w[i];
    }
    int bc = 0, na = 0;
    uint64_t ma = 0;
    for (; bc < NBUCKET - 1; bc++) {
        if (by_mass ? ma + mass[bc] >= goal : (uint64_t)(na + count[bc]) >= goal) break;
        na += count[bc];
        ma += mass[bc];
    }
    int lo = 0, hi = 0;
    if ((size_t)(na + count[bc]) * 8 < (size_t)V) { /* few taken: branches predict well */
        for (int i = 0; i < V; i++) {
            if (logits[i] == -INFINITY) continue;
            int b = bin_of(bn, logits[i]);
            if (b < bc) s->keys[lo++] = rank_key(logits[i], i);
            else if (b == bc) s->aux[hi++] = rank_key(logits[i], i);
        }
    } else {
        /* Branch-free (which side a token falls on is unpredictable): every key
         * is written to both outputs and each cursor advances only when it
         * keeps it. keys and aux have V + 1 slots for the last dead write. */
        for (int i = 0; i < V; i++) {
            float l = logits[i];
            int b = bin_of(bn, l);
            uint64_t key = rank_key(l, i);
            s->keys[lo] = key;
            lo += b < bc; /* -inf is in the last bin, never below bc */
            s->aux[hi] = key;
            hi += (b == bc) & (l != -INFINITY);
        }
    }
    memcpy(s->keys + na, s->aux, (size_t)hi * sizeof *s->keys);
    *n_above = na;
    *mass_above = ma;
    return na + hi;
}

/* The notebook's chain on valid params: checks the row, computes weights
 * and the kept set of temperature, then top-k, then top-p. */
static tt_status plan_core(tt_sampler *s, const tt_sampling_params *p, const float *logits,
                           int row, bool reference, plan *pl, tt_error *err) {
    float mx, mn;
    memset(pl, 0, sizeof *pl);
    pl->lg = logits;
    tt_status st = scan_row(logits, s->V, row, &mx, &mn, &pl->argmax, &pl->n_finite, err);
    if (st != TT_OK) return st;
    pl->mx = mx;
    pl->T = p->temperature;
    const int V = s->V;
    if (tt_sampling_greedy(p)) {
        s->w[pl->argmax] = (uint64_t)1 << s->shift; /* the only weight read */
        pl->total = pl->s_kept = s->w[pl->argmax];
        pl->m = 1;
        s->keys[0] = rank_key(logits[pl->argmax], pl->argmax);
        pl->t_key = s->keys[0];
        return TT_OK;
    }
    pl->total = compute_weights(s, logits, mx, p->temperature);
    int k = 0;
    float top_p = 1.0f;
    if (p->strategy == TT_STRATEGY_TOP_K || p->strategy == TT_STRATEGY_COMBINED) k = p->top_k;
    if (p->strategy == TT_STRATEGY_TOP_P || p->strategy == TT_STRATEGY_COMBINED) top_p = p->top_p;
    const int nf = pl->n_finite;
    bool use_k = k > 0 && k < nf, use_p = top_p < 1.0f;
    if (!use_k && !use_p) {
        pl->all = true;
        pl->m = nf;
        pl->s_kept = pl->total;
        return TT_OK;
    }
    int n = 0;
    uint64_t S = pl->total;
    if (reference) {
        /* The plain way: sort every finite token, take prefixes. */
        for (int i = 0; i < V; i++)
            if (logits[i] != -INFINITY) s->keys[n++] = rank_key(logits[i], i);
        qsort(s->keys, (size_t)n, sizeof *s->keys, cmp_u64);
        int m = use_k ? k : n;
        if (use_k) {
            S = 0;
            for (int i = 0; i < m; i++) S += s->w[key_id(s->keys[i])];
        }
        uint64_t acc = S;
        if (use_p) {
            uint64_t need = top_p_threshold(top_p, S);
            acc = 0;
            for (int i = 0; i < m; i++) {
                acc += s->w[key_id(s->keys[i])];
                if (acc >= need) {
                    m = i + 1;
                    break;
                }
            }
        }
        pl->m = m;
        pl->s_kept = acc;
        pl->t_key = s->keys[m - 1];
        return TT_OK;
    }
    /* Fast path: bin, then select inside the one bin where the set ends. */
    binning bn = {mx, 1.0f};
    float xr = (mx - mn) / p->temperature;
    if (xr > 64.0f) xr = 64.0f; /* e^-64: nothing beyond matters for the mass */
    if (xr > 0.0f) bn.scale = (float)NBUCKET / xr / p->temperature;
    if (!(bn.scale < INFINITY)) bn.scale = 3.0e38f; /* tiny T: still monotone */
    int n_above = 0;
    uint64_t m_above = 0;
    const bool small = V <= 1024; /* bins cost more than they save */
    if (small)
        for (int i = 0; i < V; i++)
            if (logits[i] != -INFINITY) s->keys[n++] = rank_key(logits[i], i);
    if (use_k) {
        if (!small) n = bin_prefix(s, logits, &bn, false, (uint64_t)k, &n_above, &m_above);
        select_top(s->keys + n_above, n - n_above, k - n_above);
        n = k;
        S = 0;
        for (int i = 0; i < n; i++) S += s->w[key_id(s->keys[i])];
    } else {
        uint64_t need = top_p_threshold(top_p, S);
        if (!small) n = bin_prefix(s, logits, &bn, true, need, &n_above, &m_above);
        uint64_t sp = 0;
        int m = select_mass(s->keys + n_above, n - n_above, s->w, need - m_above, &sp);
        pl->m = n_above + m;
        pl->s_kept = m_above + sp;
        /* the last kept token is in the crossing bin: every bin above ranks better */
        uint64_t t = 0;
        for (int i = n_above; i < pl->m; i++)
            if (s->keys[i] > t) t = s->keys[i];
        pl->t_key = t;
        return TT_OK;
    }
    if (use_p) {
        uint64_t need = top_p_threshold(top_p, S);
        uint64_t sp = 0;
        pl->m = select_mass(s->keys, n, s->w, need, &sp);
        pl->s_kept = sp;
    } else {
        pl->m = n;
        pl->s_kept = S;
    }
    /* t_key: the worst of keys[0..m) */
    uint64_t t = 0;
    for (int i = 0; i < pl->m; i++)
        if (s->keys[i] > t) t = s->keys[i];
    pl->t_key = t;
    return TT_OK;
}


/* ------------------------------------------------------------------------ */
/* The whole chain: logit stages, then the truncations in order             */

/* W[id] for the candidates keys[0..n) at temperature T, relative to their
 * max logit (returned in *mx_out); returns their sum. */
static uint64_t cand_weights(tt_sampler *s, const float *lg, int n, float T, float *mx_out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        const float l = lg[key_id(s->keys[i])];
        mx = l > mx ? l : mx;
    }
    const double scale = ldexp(1.0, s->shift);
    uint64_t S = 0;
    for (int i = 0; i < n; i++) {
        const int id = key_id(s->keys[i]);
        const uint64_t w = (uint64_t)((double)exp_neg((lg[id] - mx) / T) * scale + 0.5);
        s->w[id] = w;
        S += w;
    }
    *mx_out = mx;
    return S;
}

/* min-p (HF): keep W >= min_p * W_max among keys[0..n); returns the new n
 * (a rank prefix stays a rank prefix). */
static int filter_min_p(tt_sampler *s, int n, float min_p) {
    uint64_t wmax = 0;
    for (int i = 0; i < n; i++) {
        const uint64_t w = s->w[key_id(s->keys[i])];
        wmax = w > wmax ? w : wmax;
    }
    const double thr = (double)min_p * (double)wmax;
    int m = 0;
    for (int i = 0; i < n; i++)
        if ((double)s->w[key_id(s->keys[i])] >= thr) s->keys[m++] = s->keys[i];
    return m;
}

static int cmp_typ(const void *a, const void *b) {
    const struct typ_item *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

/* typical (HF TypicalLogitsWarper) over keys[0..n): q = W / S, H = -sum q ln q;
 * sort by |-ln q - H|; the first index where the cumulative q reaches mass
 * (within TOP_P_REL_TOL) gives a threshold; keep every token at or below it. */
static int filter_typical(tt_sampler *s, int n, float mass) {
    double S = 0.0;
    for (int i = 0; i < n; i++) S += (double)s->w[key_id(s->keys[i])];
    double H = 0.0;
    for (int i = 0; i < n; i++) {
        const double q = (double)s->w[key_id(s->keys[i])] / S;
        if (q > 0.0) H -= q * log(q);
    }
    for (int i = 0; i < n; i++) {
        const double q = (double)s->w[key_id(s->keys[i])] / S;
        s->typ[i].d = q > 0.0 ? fabs(-log(q) - H) : INFINITY;
        s->typ[i].key = s->keys[i];
    }
    /* the crossing item by a weighted quickselect on (d, key): the items
     * before it are only partitioned, never sorted */
    const double goal = (double)mass * (1.0 - TOP_P_REL_TOL) * S;
    struct typ_item *t = s->typ;
    int lo = 0, hi = n, last = n - 1;
    double acc = 0.0; /* weight of t[0..lo) */
    while (hi - lo > 16) {
        const int mid = lo + (hi - lo) / 2;
        struct typ_item tmp = t[mid];
        t[mid] = t[hi - 1];
        t[hi - 1] = tmp;
        const struct typ_item pv = t[hi - 1];
        int st = lo;
        double less = 0.0;
        for (int i = lo; i < hi - 1; i++)
            if (cmp_typ(&t[i], &pv) < 0) {
                less += (double)s->w[key_id(t[i].key)];
                tmp = t[i];
                t[i] = t[st];
                t[st++] = tmp;
            }
        t[hi - 1] = t[st];
        t[st] = pv;
        const double wp = (double)s->w[key_id(pv.key)];
        if (acc + less >= goal) {
            hi = st;
        } else if (acc + less + wp >= goal) {
            lo = hi = st;
            last = st;
            break;
        } else {
            acc += less + wp;
            lo = st + 1;
        }
    }
    if (lo < hi) {
        qsort(t + lo, (size_t)(hi - lo), sizeof *t, cmp_typ);
        last = hi - 1;
        for (int i = lo; i < hi; i++) {
            acc += (double)s->w[key_id(t[i].key)];
            if (acc >= goal) {
                last = i;
                break;
            }
        }
    }
    const double thr = t[last].d;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (s->typ[i].d <= thr) s->keys[m++] = s->typ[i].key;
    return m;
}

/* Finishes a plan whose kept set is keys[0..n) with weights set. */
static void plan_from_keys(tt_sampler *s, plan *pl, int n, bool scattered) {
    uint64_t S = 0, t = 0;
    for (int i = 0; i < n; i++) {
        S += s->w[key_id(s->keys[i])];
        if (s->keys[i] > t) t = s->keys[i];
    }
    pl->all = false;
    pl->m = n;
    pl->s_kept = S;
    pl->t_key = t;
    pl->scattered = scattered;
}

/* Lists every finite token of the plan's logits as keys (a plan that kept all). */
static int list_all(tt_sampler *s, const plan *pl) {
    int m = 0;
    for (int i = 0; i < s->V; i++)
        if (pl->lg[i] != -INFINITY) s->keys[m++] = rank_key(pl->lg[i], i);
    return m;
}

static bool uses_k(const tt_sampling_params *p) {
    return p->strategy == TT_STRATEGY_TOP_K || p->strategy == TT_STRATEGY_COMBINED;
}
static bool uses_p(const tt_sampling_params *p) {
    return p->strategy == TT_STRATEGY_TOP_P || p->strategy == TT_STRATEGY_COMBINED;
}

/* A user-ordered chain (llama.cpp style) on the biased logits in s->proc:
 * each stage in turn on the candidates; truncations see the temperature
 * only after the "temperature" stage. */
static tt_status plan_ordered(tt_sampler *s, const tt_sampling_params *p, const tt_sampler_kind *order,
                              int n_order, int row, plan *pl, tt_error *err) {
    float *lg = s->proc;
    float mx, mn;
    memset(pl, 0, sizeof *pl);
    pl->lg = lg;
    tt_status st = scan_row(lg, s->V, row, &mx, &mn, &pl->argmax, &pl->n_finite, err);
    if (st != TT_OK) return st;
    int n = list_all(s, pl);
    float T = 1.0f;
    const tt_sampling_controls *c = &p->x;
    for (int o = 0; o < n_order; o++) {
        switch (order[o]) {
        case TT_SAMPLER_PENALTIES:
        case TT_SAMPLER_DRY: {
            const bool pen = order[o] == TT_SAMPLER_PENALTIES;
            if (pen ? !tt_lp_penalties_active(c, s->hist) : !tt_lp_dry_active(c, s->hist)) break;
            if (T != 1.0f) { /* after "temperature": the stage sees tempered logits (llama.cpp) */
                for (int i = 0; i < n; i++) lg[key_id(s->keys[i])] /= T;
                T = 1.0f;
            }
            st = pen ? tt_lp_apply_penalties(c, s->hist, lg, s->V, &s->lp, err)
                     : tt_lp_apply_dry(c, s->hist, s->tok, lg, s->V, &s->lp, err);
            if (st != TT_OK) return st;
            for (int i = 0; i < n; i++) {
                const int id = key_id(s->keys[i]);
                if (!(lg[id] > -FLT_MAX)) lg[id] = -FLT_MAX; /* a candidate stays one */
                if (!(lg[id] < FLT_MAX)) lg[id] = FLT_MAX;
                s->keys[i] = rank_key(lg[id], id);
            }
            break;
        }
        case TT_SAMPLER_TEMPERATURE: T = p->temperature; break;
        case TT_SAMPLER_TOP_K:
            if (uses_k(p) && p->top_k > 0 && p->top_k < n) {
                select_top(s->keys, n, p->top_k);
                n = p->top_k;
            }
            break;
        case TT_SAMPLER_TOP_P:
            if (uses_p(p) && p->top_p < 1.0f) {
                uint64_t S = cand_weights(s, lg, n, T, &mx), sp = 0;
                n = select_mass(s->keys, n, s->w, top_p_threshold(p->top_p, S), &sp);
            }
            break;
        case TT_SAMPLER_MIN_P:
            if (c->min_p > 0.0f) {
                cand_weights(s, lg, n, T, &mx);
                n = filter_min_p(s, n, c->min_p);
            }
            break;
        case TT_SAMPLER_TYPICAL:
            if (c->typical_p < 1.0f) {
                cand_weights(s, lg, n, T, &mx);
                n = filter_typical(s, n, c->typical_p);
            }
            break;
        default: break;
        }
    }
    cand_weights(s, lg, n, T, &mx);
    pl->mx = mx;
    pl->T = T;
    pl->total = 0;
    plan_from_keys(s, pl, n, true);
    return TT_OK;
}

/* Validates params and the row, applies the chain, computes weights and the
 * kept set. With every control off this is plan_core on the caller's logits. */
static tt_status make_plan(tt_sampler *s, const tt_sampling_params *p, const float *logits,
                           int row, bool reference, plan *pl, tt_error *err) {
    if (!s) return tt_error_set(err, TT_ERR_ARG, "sampler: s is NULL");
    if (!p) return tt_error_set(err, TT_ERR_ARG, "sampler: params p is NULL");
    if (!logits) return tt_error_set(err, TT_ERR_ARG, "sampler: logits is NULL");
    tt_status st = tt_sampling_params_validate(p, err);
    if (st != TT_OK) return st;
    const tt_sampling_controls *c = &p->x;
    const bool greedy = tt_sampling_greedy(p);
    tt_sampler_kind order[TT_MAX_SAMPLERS];
    const int n_order = tt_sampling_chain(p, order);
    bool has_pen = false, has_dry = false;
    for (int i = 0; i < n_order; i++) {
        has_pen |= order[i] == TT_SAMPLER_PENALTIES;
        has_dry |= order[i] == TT_SAMPLER_DRY;
    }
    const bool custom = n_order != TT_SAMPLER_COUNT_ ||
                        memcmp(order, tt_sampler_default_order, sizeof tt_sampler_default_order) != 0;
    const bool bias = tt_lp_bias_active(c), pen = has_pen && tt_lp_penalties_active(c, s->hist),
               dry = has_dry && tt_lp_dry_active(c, s->hist);
    const float *lg = logits;
    if (bias || pen || dry || (custom && !greedy)) {
        float mx, mn;
        int am, nf;
        st = scan_row(logits, s->V, row, &mx, &mn, &am, &nf, err); /* errors name the input */
        if (st != TT_OK) return st;
        memcpy(s->proc, logits, (size_t)s->V * sizeof *s->proc);
        if (bias && (st = tt_lp_apply_bias(c, s->proc, s->V, err)) != TT_OK) return st;
        if (custom && !greedy) return plan_ordered(s, p, order, n_order, row, pl, err);
        if (pen && (st = tt_lp_apply_penalties(c, s->hist, s->proc, s->V, &s->lp, err)) != TT_OK)
            return st;
        if (dry && (st = tt_lp_apply_dry(c, s->hist, s->tok, s->proc, s->V, &s->lp, err)) != TT_OK)
            return st;
        for (int i = 0; i < s->V; i++) { /* keep a finite logit finite */
            if (logits[i] == -INFINITY) continue;
            if (!(s->proc[i] > -FLT_MAX)) s->proc[i] = -FLT_MAX;
            if (!(s->proc[i] < FLT_MAX)) s->proc[i] = FLT_MAX;
        }
        lg = s->proc;
    }
    st = plan_core(s, p, lg, row, reference, pl, err);
    if (st != TT_OK || greedy) return st;
    const bool min_p = c->min_p > 0.0f, typ = c->typical_p < 1.0f;
    if (!min_p && !typ) return TT_OK;
    /* min-p, then typical, on what temperature, top-k and top-p kept */
    int n = pl->all ? list_all(s, pl) : pl->m;
    if (min_p) n = filter_min_p(s, n, c->min_p);
    if (typ) n = filter_typical(s, n, c->typical_p);
    plan_from_keys(s, pl, n, typ);
    return TT_OK;
}

/* ------------------------------------------------------------------------ */
/* Draws                                                                    */

/* Cumulative weights of the kept tokens in id order: ids in aux[0..n),
 * running sums in cum[0..n). Returns n. */
static int cdf_build(tt_sampler *s, const plan *pl) {
    const float *logits = pl->lg;
    int n = 0;
    uint64_t acc = 0;
    if (pl->all) {
        for (int i = 0; i < s->V; i++) {
            acc += s->w[i];
            s->aux[i] = (uint64_t)i;
            s->cum[i] = acc;
        }
        return s->V;
    }
    if (pl->scattered && (pl->m > 512 || (size_t)pl->m * 16 > (size_t)s->V)) {
        /* many kept, not a rank prefix: flag them, then one pass */
        for (int i = 0; i < pl->m; i++) s->mask[key_id(s->keys[i])] = 1;
        for (int i = 0; i < s->V; i++) {
            acc += s->w[i] & (0 - (uint64_t)s->mask[i]);
            s->aux[i] = (uint64_t)i;
            s->cum[i] = acc;
            s->mask[i] = 0;
        }
        return s->V;
    }
    if ((size_t)pl->m * 16 > (size_t)s->V) {
        /* many kept: one branch-free pass over the vocabulary; tokens that are
         * not kept add 0, so the search never stops on them */
        for (int i = 0; i < s->V; i++) {
            uint64_t keep = (uint64_t)(logits[i] != -INFINITY) & (rank_key(logits[i], i) <= pl->t_key);
            acc += s->w[i] & (0 - keep);
            s->aux[i] = (uint64_t)i;
            s->cum[i] = acc;
        }
        return s->V;
    }
    for (int i = 0; i < pl->m; i++) s->aux[i] = (uint64_t)key_id(s->keys[i]);
    qsort(s->aux, (size_t)pl->m, sizeof *s->aux, cmp_u64);
    for (n = 0; n < pl->m; n++) {
        acc += s->w[s->aux[n]];
        s->cum[n] = acc;
    }
    return n;
}

/* The first kept token (id order) whose running weight exceeds target. */
static int cdf_draw(const tt_sampler *s, int n, uint64_t target) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->cum[mid] > target) hi = mid;
        else lo = mid + 1;
    }
    return (int)s->aux[lo];
}

tt_status tt_sampler_sample(tt_sampler *s, const tt_sampling_params *p, const float *logits,
                            tt_rng *rng, int *token, tt_error *err) {
    if (!rng) return tt_error_set(err, TT_ERR_ARG, "sample: rng is NULL");
    if (!token) return tt_error_set(err, TT_ERR_ARG, "sample: token is NULL");
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    plan pl;
    st = make_plan(s, p, logits, -1, false, &pl, err);
    if (st != TT_OK) return st;
    if (tt_sampling_greedy(p)) {
        *token = pl.argmax;
        return TT_OK;
    }
    int n = cdf_build(s, &pl);
    *token = cdf_draw(s, n, draw_target(rng, pl.s_kept));
    return TT_OK;
}

tt_status tt_sampler_sample_reference(tt_sampler *s, const tt_sampling_params *p,
                                      const float *logits, tt_rng *rng, int *token,
                                      tt_error *err) {
    if (!rng) return tt_error_set(err, TT_ERR_ARG, "sample: rng is NULL");
    if (!token) return tt_error_set(err, TT_ERR_ARG, "sample: token is NULL");
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    plan pl;
    st = make_plan(s, p, logits, -1, true, &pl, err);
    if (st != TT_OK) return st;
    if (tt_sampling_greedy(p)) {
        *token = pl.argmax;
        return TT_OK;
    }
    /* Mark the kept tokens, then walk the vocabulary in id order. */
    uint64_t target = draw_target(rng, pl.s_kept), acc = 0;
    for (int i = 0; i < s->V; i++) s->aux[i] = pl.all ? 1 : 0;
    if (!pl.all)
        for (int i = 0; i < pl.m; i++) s->aux[key_id(s->keys[i])] = 1;
    int last = pl.argmax;
    for (int i = 0; i < s->V; i++) {
        if (!s->aux[i]) continue;
        acc += s->w[i];
        if (acc > target) {
            *token = i;
            return TT_OK;
        }
        if (s->w[i]) last = i;
    }
    *token = last; /* unreachable: target < s_kept */
    return TT_OK;
}

/* Entropy of the kept distribution, q_i = W_i / S: -sum q ln q =
 * ln Z - sum q_i x_i with x_i = (l_i - max) / T (the exponent W_i was made
 * from) and Z = S / 2^shift = sum exp(x_i) over the kept tokens; one log
 * instead of one per token. q_i = 0 adds nothing. If probs is not NULL it
 * receives q_i (and must be zeroed before). ids: the kept ids (keys[0..m)
 * as key_id), or every finite token when pl->all. */
static double kept_entropy(const tt_sampler *s, const plan *pl, int m, float *probs) {
    const float *logits = pl->lg;
    const double S = (double)pl->s_kept, inv_S = 1.0 / S;
    double hx = 0.0;
    int n_pos = 0;
    for (int j = 0; j < (pl->all ? s->V : m); j++) {
        const int id = pl->all ? j : key_id(s->keys[j]);
        if (pl->all && logits[id] == -INFINITY) continue;
        const double q = (double)s->w[id] * inv_S;
        if (probs) probs[id] = (float)q;
        if (q > 0.0) {
            hx += q * (double)((logits[id] - pl->mx) / pl->T);
            n_pos++;
        }
    }
    if (n_pos <= 1) return 0.0; /* one token (or greedy, where T may be 0) */
    const double h = log(S) - (double)s->shift * 0.69314718055994530942 - hx;
    return h > 0.0 ? h : 0.0;
}

tt_status tt_sampler_filter(tt_sampler *s, const tt_sampling_params *p, const float *logits,
                            float *probs, int *kept, int *n_kept, double *entropy_nats,
                            tt_error *err) {
    if (!probs) return tt_error_set(err, TT_ERR_ARG, "filter: probs is NULL");
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    plan pl;
    st = make_plan(s, p, logits, -1, false, &pl, err);
    if (st != TT_OK) return st;
    const int V = s->V;
    int m = pl.m;
    if (pl.all) { /* list every finite token */
        m = 0;
        for (int i = 0; i < V; i++)
            if (pl.lg[i] != -INFINITY) s->keys[m++] = rank_key(pl.lg[i], i);
        pl.all = false;
    }
    memset(probs, 0, (size_t)V * sizeof *probs);
    const double h = kept_entropy(s, &pl, m, probs);
    if (kept) {
        qsort(s->keys, (size_t)m, sizeof *s->keys, cmp_u64);
        for (int i = 0; i < m; i++) kept[i] = key_id(s->keys[i]);
    }
    if (n_kept) *n_kept = m;
    if (entropy_nats) *entropy_nats = h;
    return TT_OK;
}

tt_status tt_sampler_sample_entropy(tt_sampler *s, const tt_sampling_params *p,
                                    const float *logits, tt_rng *rng, int *token,
                                    double *entropy_nats, tt_error *err) {
    if (!rng) return tt_error_set(err, TT_ERR_ARG, "sample: rng is NULL");
    if (!token) return tt_error_set(err, TT_ERR_ARG, "sample: token is NULL");
    if (!entropy_nats) return tt_error_set(err, TT_ERR_ARG, "sample: entropy_nats is NULL");
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    plan pl;
    st = make_plan(s, p, logits, -1, false, &pl, err);
    if (st != TT_OK) return st;
    if (tt_sampling_greedy(p)) {
        *token = pl.argmax;
        *entropy_nats = 0.0;
        return TT_OK;
    }
    /* the entropy first: cdf_build reorders the kept keys */
    *entropy_nats = kept_entropy(s, &pl, pl.m, NULL);
    const int n = cdf_build(s, &pl);
    *token = cdf_draw(s, n, draw_target(rng, pl.s_kept));
    return TT_OK;
}

tt_status tt_sample_batch(const tt_sampling_params *p, const float *logits, int B, int V,
                          int n_draws, uint64_t seed, int *out, tt_error *err) {
    if (!p) return tt_error_set(err, TT_ERR_ARG, "sample_batch: params p is NULL");
    if (!logits) return tt_error_set(err, TT_ERR_ARG, "sample_batch: logits is NULL");
    if (!out) return tt_error_set(err, TT_ERR_ARG, "sample_batch: out is NULL");
    if (B < 1) return tt_error_set(err, TT_ERR_ARG, "batch size must be >= 1, got %d", B);
    if (V < 1) return tt_error_set(err, TT_ERR_ARG, "vocab_size must be >= 1, got %d", V);
    if (n_draws < 1) return tt_error_set(err, TT_ERR_ARG, "draws must be >= 1, got %d", n_draws);
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    st = tt_sampling_params_validate(p, err);
    if (st != TT_OK) return st;
    tt_sampler *s;
    st = tt_sampler_create(&s, V, err);
    if (st != TT_OK) return st;
    for (int r = 0; r < B; r++) {
        const float *row = logits + (size_t)r * (size_t)V;
        int *o = out + (size_t)r * (size_t)n_draws;
        plan pl;
        st = make_plan(s, p, row, r, false, &pl, err);
        if (st != TT_OK) break;
        if (tt_sampling_greedy(p)) {
            for (int d = 0; d < n_draws; d++) o[d] = pl.argmax;
            continue;
        }
        tt_rng rng;
        tt_rng_seed_stream(&rng, seed, (uint64_t)r);
        int n = cdf_build(s, &pl);
        for (int d = 0; d < n_draws; d++) o[d] = cdf_draw(s, n, draw_target(&rng, pl.s_kept));
    }
    tt_sampler_free(s);
    return st;
}

tt_status tt_sampler_process_logits(tt_sampler *s, const tt_sampling_params *p,
                                    const float *logits, float *processed, tt_error *err) {
    if (!processed) return tt_error_set(err, TT_ERR_ARG, "process_logits: processed is NULL");
    if (!s) return tt_error_set(err, TT_ERR_ARG, "sampler: s is NULL");
    if (!p) return tt_error_set(err, TT_ERR_ARG, "sampler: params p is NULL");
    if (!logits) return tt_error_set(err, TT_ERR_ARG, "sampler: logits is NULL");
    tt_sampling_params p_in;
    tt_status st = tt_sampling_params_in(&p, &p_in, err);
    if (st != TT_OK) return st;
    st = tt_sampling_params_validate(p, err);
    if (st != TT_OK) return st;
    float mx, mn;
    int am, nf;
    st = scan_row(logits, s->V, -1, &mx, &mn, &am, &nf, err);
    if (st != TT_OK) return st;
    tt_sampler_kind order[TT_MAX_SAMPLERS];
    const int n_order = tt_sampling_chain(p, order);
    memcpy(processed, logits, (size_t)s->V * sizeof *processed);
    st = tt_lp_apply_bias(&p->x, processed, s->V, err);
    for (int i = 0; i < n_order && st == TT_OK; i++) {
        if (order[i] == TT_SAMPLER_PENALTIES && tt_lp_penalties_active(&p->x, s->hist))
            st = tt_lp_apply_penalties(&p->x, s->hist, processed, s->V, &s->lp, err);
        else if (order[i] == TT_SAMPLER_DRY && tt_lp_dry_active(&p->x, s->hist))
            st = tt_lp_apply_dry(&p->x, s->hist, s->tok, processed, s->V, &s->lp, err);
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* Softmax helpers                                                          */

tt_status tt_softmax(const float *logits, int V, float temperature, float *probs, tt_error *err) {
    if (!logits) return tt_error_set(err, TT_ERR_ARG, "softmax: logits is NULL");
    if (!probs) return tt_error_set(err, TT_ERR_ARG, "softmax: probs is NULL");
    if (V < 1) return tt_error_set(err, TT_ERR_ARG, "softmax: V must be >= 1, got %d", V);
    if (!isfinite(temperature) || !(temperature >= 0.0f))
        return tt_error_set(err, TT_ERR_ARG, "temperature must be finite and >= 0 (0 = greedy), got %g",
                            (double)temperature);
    float mx;
    int am, nf;
    tt_status st = scan_row(logits, V, -1, &mx, NULL, &am, &nf, err);
    if (st != TT_OK) return st;
    if (temperature == 0.0f) { /* the limit T -> 0: all the mass on the argmax (greedy's token) */
        for (int i = 0; i < V; i++) probs[i] = i == am ? 1.0f : 0.0f;
        return TT_OK;
    }
    double sum = 0.0;
    for (int i = 0; i < V; i++)
        if (logits[i] != -INFINITY) sum += exp(((double)logits[i] - mx) / temperature);
    for (int i = 0; i < V; i++)
        probs[i] = logits[i] == -INFINITY
                       ? 0.0f
                       : (float)(exp(((double)logits[i] - mx) / temperature) / sum);
    return TT_OK;
}

tt_status tt_log_softmax(const float *logits, int V, float *out, tt_error *err) {
    if (!logits) return tt_error_set(err, TT_ERR_ARG, "log_softmax: logits is NULL");
    if (!out) return tt_error_set(err, TT_ERR_ARG, "log_softmax: out is NULL");
    if (V < 1) return tt_error_set(err, TT_ERR_ARG, "log_softmax: V must be >= 1, got %d", V);
    float mx;
    int am, nf;
    tt_status st = scan_row(logits, V, -1, &mx, NULL, &am, &nf, err);
    if (st != TT_OK) return st;
    double sum = 0.0;
    for (int i = 0; i < V; i++)
        if (logits[i] != -INFINITY) sum += exp((double)logits[i] - mx);
    double lse = (double)mx + log(sum);
    for (int i = 0; i < V; i++)
        out[i] = logits[i] == -INFINITY ? -INFINITY : (float)((double)logits[i] - lse);
    return TT_OK;
}

/* ------------------------------------------------------------------------ */
/* Text parsing                                                             */

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

tt_status tt_logits_parse(const char *text, size_t len, float **values, int *rows, int *V,
                          tt_error *err) {
    if (!values) return tt_error_set(err, TT_ERR_ARG, "logits_parse: values is NULL");
    if (!rows) return tt_error_set(err, TT_ERR_ARG, "logits_parse: rows is NULL");
    if (!V) return tt_error_set(err, TT_ERR_ARG, "logits_parse: V is NULL");
    *values = NULL;
    *rows = 0;
    *V = 0;
    if (!text && len) return tt_error_set(err, TT_ERR_ARG, "logits_parse: NULL text");
    size_t cap = 0, n = 0;
    float *buf = NULL;
    int nrows = 0, width = 0, line = 0;
    size_t pos = 0;
    tt_status st = TT_OK;
    while (pos < len && st == TT_OK) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        /* one line: fields separated by blanks and at most one comma */
        size_t i = pos;
        int count = 0;
        bool need_value = false; /* after a comma */
        for (;;) {
            while (i < end && is_blank(text[i])) i++;
            if (i >= end) {
                if (need_value)
                    st = tt_error_set(err, TT_ERR_FORMAT, "line %d: missing value after ','", line);
                break;
            }
            if (text[i] == ',') {
                if (count == 0 || need_value) {
                    st = tt_error_set(err, TT_ERR_FORMAT, "line %d, value %d: empty value", line,
                                      count + 1);
                    break;
                }
                need_value = true;
                i++;
                continue;
            }
            size_t f0 = i;
            while (i < end && !is_blank(text[i]) && text[i] != ',') i++;
            char field[64];
            size_t fl = i - f0;
            if (fl >= sizeof field) {
                st = tt_error_set(err, TT_ERR_FORMAT, "line %d, value %d: '%.20s...' is too long",
                                  line, count + 1, text + f0);
                break;
            }
            memcpy(field, text + f0, fl);
            field[fl] = '\0';
            char *fe;
            errno = 0;
            float v = strtof(field, &fe);
            bool is_inf_word = false;
            {
                const char *q = field + (field[0] == '-' || field[0] == '+');
                is_inf_word = (q[0] == 'i' || q[0] == 'I');
            }
            if (*fe || fe == field) {
                st = tt_error_set(err, TT_ERR_FORMAT, "line %d, value %d: '%s' is not a number",
                                  line, count + 1, field);
                break;
            }
            if (isnan(v) || v == INFINITY) {
                st = tt_error_set(err, TT_ERR_FORMAT,
                                  "line %d, value %d: '%s' is not allowed (NaN and +inf; -inf "
                                  "masks a token)",
                                  line, count + 1, field);
                break;
            }
            if (v == -INFINITY && !is_inf_word) {
                st = tt_error_set(err, TT_ERR_FORMAT,
                                  "line %d, value %d: '%s' is out of float range", line, count + 1,
                                  field);
                break;
            }
            /* ERANGE from underflow (a denormal or 0) is fine */
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                float *nb = realloc(buf, nc * sizeof *nb);
                if (!nb) {
                    st = tt_error_set(err, TT_ERR_NOMEM, "out of memory parsing logits");
                    break;
                }
                buf = nb;
                cap = nc;
            }
            buf[n++] = v;
            count++;
            need_value = false;
            if (count > 1 << 30) {
                st = tt_error_set(err, TT_ERR_FORMAT, "line %d: too many values", line);
                break;
            }
        }
        if (st == TT_OK && count > 0) {
            if (nrows == 0) {
                width = count;
            } else if (count != width) {
                st = tt_error_set(err, TT_ERR_FORMAT,
                                  "line %d has %d values, expected %d like the first row", line,
                                  count, width);
                break;
            }
            nrows++;
        }
        pos = end + 1;
    }
    if (st == TT_OK && nrows == 0) st = tt_error_set(err, TT_ERR_FORMAT, "no logits found (empty input)");
    if (st != TT_OK) {
        free(buf);
        return st;
    }
    *values = buf;
    *rows = nrows;
    *V = width;
    return TT_OK;
}
