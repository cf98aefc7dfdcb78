/*
 * Beam search with Hugging Face's algorithm and scores (transformers'
 * _beam_search): per step, every running beam's next-token log-probs
 * (log_softmax, then the logit bias and penalties, as HF's processors see
 * log-probs) are added to the beam's running sum; the best 2 * num_beams
 * (beam, token) candidates are kept. A candidate that ends in EOS, or
 * reaches the length limit, is finished; only those among the best num_beams
 * may join the finished set, scored sum / n_generated^length_penalty, which
 * keeps the best num_beams. The next running beams are the best num_beams
 * candidates that did not finish. The search ends at the length limit, when
 * early_stopping is true and num_beams hypotheses are finished, or when no
 * running beam can beat the worst finished one (best running sum /
 * n_generated^length_penalty <= worst finished score).
 * Arithmetic is float32 as in PyTorch; ties go to the lower (beam, token)
 * index. Each step recomputes every beam's logits over its last W tokens (the
 * context window, cropped exactly).
 *
 * Legend: nb = num_beams, K = 2 * nb candidates, V = vocabulary size,
 * P = prompt length, M = max_new_tokens.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate_internal.h"
#include "sampling_internal.h"

#define NEG_BIG (-1.0e9f) /* HF's "never chosen" score */

typedef struct {
    float score; /* what the candidate is ranked by */
    int idx;     /* beam * V + token, or an index into a merged list */
} cand;

/* Keeps the k best of (score desc, idx asc) in top[0..*n) (sorted). */
static void keep_best(cand *top, int *n, int k, float score, int idx) {
    if (*n == k && !(score > top[k - 1].score)) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && score > top[i - 1].score) {
        top[i] = top[i - 1];
        i--;
    }
    top[i].score = score;
    top[i].idx = idx;
}

tt_status tt_generator_beam_search(tt_generator *g, const int *prompt, int len,
                                   const tt_generate_overrides *overrides, tt_generation *out,
                                   tt_error *err) {
    if (!g || !prompt || !out) return tt_error_set(err, TT_ERR_ARG, "beam_search: NULL argument");
    tt_generator_config cfg;
    tt_status st = tt_gen_call_config(g, overrides, &cfg, err);
    if (st) return st;
    const tt_sampling_controls *X = &cfg.sampling.x;
    const int nb = X->num_beams, K = 2 * nb, R = X->num_return_sequences, V = tt_gen_vocab_size(g);
    for (int i = 0; i < R; i++)
        memset(&out[i], 0, sizeof out[i]), out[i].stop_index = -1;
    if (X->n_stop > 0)
        return tt_error_set(err, TT_ERR_ARG, "stop strings are not supported with beam search");
    if (X->logprobs > 0)
        return tt_error_set(err, TT_ERR_ARG, "logprobs are not supported with beam search");
    if (len < 1)
        return tt_error_set(err, TT_ERR_ARG, "prompt is empty (a prompt needs at least one token)");
    const int P = len, M = cfg.max_new_tokens, maxL = P + M, eos = cfg.eos_token_id;
    if (P > INT_MAX - M) return tt_error_set(err, TT_ERR_ARG, "prompt + max_new_tokens overflows");
    for (int i = 0; i < P; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return tt_error_set(err, TT_ERR_RANGE,
                                "prompt: token id %d at position %d is out of range [0, %d)",
                                prompt[i], i, V);
    const size_t W = (size_t)maxL;
    int *run = malloc((size_t)nb * W * sizeof *run), *nrun = malloc((size_t)nb * W * sizeof *nrun);
    int *fin = malloc((size_t)nb * W * sizeof *fin), *nfin = malloc((size_t)nb * W * sizeof *nfin);
    int *fin_len = calloc((size_t)nb, sizeof *fin_len), *nfin_len = calloc((size_t)nb, sizeof(int));
    float *lp = malloc((size_t)nb * V * sizeof *lp), *logits = malloc((size_t)V * sizeof *logits);
    cand *top = malloc((size_t)(K + nb) * sizeof *top),
         *sel = malloc((size_t)(K + nb) * sizeof *sel);
    float run_score[64], fin_score[64], nfin_score[64];
    bool fin_ok[64], nfin_ok[64];
    tt_lp_scratch sc = {0};
    if (!run || !nrun || !fin || !nfin || !fin_len || !nfin_len || !lp || !logits || !top || !sel) {
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory for beam search");
        goto done;
    }
    for (int b = 0; b < nb; b++) {
        memcpy(run + (size_t)b * W, prompt, (size_t)P * sizeof *run);
        run_score[b] = b == 0 ? 0.0f : NEG_BIG;
        fin_score[b] = NEG_BIG;
        fin_ok[b] = false;
    }
    const int Wc = tt_gen_context_of(g, &cfg);
    bool improvable = true;
    const float lpen = X->length_penalty;
    for (int cur = P; cur < maxL;) {
        /* a, b. each running beam's processed log-probs plus its sum */
        int n_top = 0;
        for (int b = 0; b < nb; b++) {
            const int *seq = run + (size_t)b * W;
            float *row = lp + (size_t)b * V;
            /* each step recomputes the beam's last W tokens (the exact crop:
             * a beam keeps no cache to slide) */
            const int from = cur > Wc ? cur - Wc : 0;
            st = tt_generator_next_logits(g, seq + from, cur - from, logits, err);
            if (!st) st = tt_log_softmax(logits, V, row, err);
            if (!st) st = tt_lp_apply_bias(X, row, V, err);
            const tt_token_history h = {seq, cur, P};
            if (!st && tt_lp_penalties_active(X, &h))
                st = tt_lp_apply_penalties(X, &h, row, V, &sc, err);
            if (!st && tt_lp_dry_active(X, &h))
                st = tt_lp_apply_dry(X, &h, tt_gen_tokenizer(g), row, V, &sc, err);
            if (st) goto done;
            for (int v = 0; v < V; v++)
                keep_best(top, &n_top, K, row[v] + run_score[b], b * V + v);
        }
        /* c, d. the K best continuations; which of them finish */
        bool hits[128], all_hit = true;
        for (int i = 0; i < n_top; i++) {
            const int tok = top[i].idx % V;
            hits[i] = (eos != TT_TOKEN_NONE && tok == eos) || cur + 1 >= maxL;
            all_hit &= hits[i];
        }
        /* e. next running beams: the best nb that did not finish */
        int n_sel = 0;
        for (int i = 0; i < n_top; i++)
            keep_best(sel, &n_sel, nb, top[i].score + (hits[i] ? NEG_BIG : 0.0f), i);
        for (int j = 0; j < nb; j++) {
            const cand *c = &top[sel[j].idx];
            const int b = c->idx / V;
            memcpy(nrun + (size_t)j * W, run + (size_t)b * W, (size_t)cur * sizeof *run);
            nrun[(size_t)j * W + cur] = c->idx % V;
        }
        /* f. finished hypotheses: merge the new ones among the top nb */
        bool all_fin = true;
        for (int b = 0; b < nb; b++)
            all_fin &= fin_ok[b];
        const bool full = all_fin && X->early_stopping;
        const float denom = powf((float)(cur + 1 - P), lpen);
        n_sel = 0;
        cand merged[192];
        for (int b = 0; b < nb; b++)
            keep_best(merged, &n_sel, nb, fin_ok[b] ? fin_score[b] : NEG_BIG, b);
        for (int i = 0; i < n_top && i < nb; i++)
            if (hits[i] && !full && improvable)
                keep_best(merged, &n_sel, nb, top[i].score / denom, nb + i);
        for (int j = 0; j < nb; j++) {
            const int m = merged[j].idx;
            if (m < nb) { /* an earlier hypothesis (or an empty slot) */
                memcpy(nfin + (size_t)j * W, fin + (size_t)m * W, (size_t)fin_len[m] * sizeof *fin);
                nfin_len[j] = fin_len[m];
                nfin_score[j] = fin_score[m];
                nfin_ok[j] = fin_ok[m];
            } else {
                const cand *c = &top[m - nb];
                const int b = c->idx / V;
                memcpy(nfin + (size_t)j * W, run + (size_t)b * W, (size_t)cur * sizeof *fin);
                nfin[(size_t)j * W + cur] = c->idx % V;
                nfin_len[j] = cur + 1;
                nfin_score[j] = merged[j].score;
                nfin_ok[j] = true;
            }
        }
        /* g. swap in, then decide whether to go on */
        int *t = run;
        run = nrun;
        nrun = t;
        t = fin;
        fin = nfin;
        nfin = t;
        t = fin_len;
        fin_len = nfin_len;
        nfin_len = t;
        for (int j = 0; j < nb; j++) {
            run_score[j] = top[sel[j].idx].score + (hits[sel[j].idx] ? NEG_BIG : 0.0f);
            fin_score[j] = nfin_score[j];
            fin_ok[j] = nfin_ok[j];
        }
        cur++;
        all_fin = true;
        float worst = INFINITY;
        for (int b = 0; b < nb; b++) {
            all_fin &= fin_ok[b];
            if (fin_score[b] < worst) worst = fin_score[b];
        }
        const float best_possible = run_score[0] / powf((float)(cur - P), lpen);
        improvable = improvable && (!all_fin || best_possible > worst);
        if (!improvable || (all_fin && X->early_stopping) || all_hit) break;
    }
    /* the best R finished hypotheses (sorted by the merge) */
    for (int i = 0; i < R; i++) {
        const int n = fin_ok[i] ? fin_len[i] : P;
        out[i].tokens = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
        if (!out[i].tokens) {
            tt_generations_free(out, R);
            st = tt_error_set(err, TT_ERR_NOMEM, "out of memory for the results");
            goto done;
        }
        memcpy(out[i].tokens, fin_ok[i] ? fin + (size_t)i * W : prompt, (size_t)n * sizeof(int));
        out[i].n_tokens = n;
        out[i].n_prompt = P;
        out[i].n_generated = n - P;
        out[i].finish = n > P && eos != TT_TOKEN_NONE && out[i].tokens[n - 1] == eos
                            ? TT_FINISH_EOS
                            : TT_FINISH_LENGTH;
        out[i].score = fin_ok[i] ? (double)fin_score[i] : -INFINITY;
    }
    st = TT_OK;
    tt_error_clear(err);
done:
    free(run);
    free(nrun);
    free(fin);
    free(nfin);
    free(fin_len);
    free(nfin_len);
    free(lp);
    free(logits);
    free(top);
    free(sel);
    tt_lp_scratch_free(&sc);
    return st;
}

tt_status tt_gen_beams_per_row(tt_generator *g, const int *const *prompts, const int *lens, int B,
                               const tt_generate_overrides *overrides, tt_generation *out,
                               tt_error *err) {
    tt_generator_config cfg;
    tt_status st = tt_gen_call_config(g, overrides, &cfg, err);
    if (st) return st;
    tt_generation *tmp = calloc((size_t)cfg.sampling.x.num_return_sequences, sizeof *tmp);
    if (!tmp) return tt_error_set(err, TT_ERR_NOMEM, "out of memory for beam search");
    for (int r = 0; r < B && !st; r++) {
        st = tt_generator_beam_search(g, prompts[r], lens[r], overrides, tmp, err);
        if (st) break;
        out[r] = tmp[0]; /* the best; the others are dropped */
        tmp[0].tokens = NULL;
        tt_generations_free(tmp, cfg.sampling.x.num_return_sequences);
    }
    free(tmp);
    if (st) tt_generations_free(out, B);
    return st;
}
