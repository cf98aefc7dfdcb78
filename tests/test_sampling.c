/* The sampling library: every strategy and every error, exact filtered
 * distributions on hand-computed vectors, chi-square tests of the draws,
 * determinism, the fast path against the full-sort reference, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tt/rng.h"
#include "tt/sampling.h"
#include "sampling_internal.h"

/* The notebook's 8-word example. */
static const float NB[8] = {1.5f, 2.8f, 2.5f, 0.5f, 1.0f, 0.8f, 0.3f, 0.2f};
enum { THE, CAT, DOG, SAT, RAN, JUMPED, ON, QUICKLY };

static tt_sampling_params P(tt_strategy s, float t, int k, float p) {
    tt_sampling_params q = {sizeof q, s, t, k, p, tt_sampling_controls_default()};
    return q;
}

/* softmax(l / T) in double, restricted to `keep` (ids; n of them), renormalised. */
static void expected_probs(const float *l, int V, double T, const int *keep, int n, double *out) {
    double mx = -INFINITY, sum = 0.0;
    for (int i = 0; i < V; i++) out[i] = 0.0;
    for (int j = 0; j < n; j++)
        if (l[keep[j]] > mx) mx = l[keep[j]];
    for (int j = 0; j < n; j++) sum += exp(((double)l[keep[j]] - mx) / T);
    for (int j = 0; j < n; j++) out[keep[j]] = exp(((double)l[keep[j]] - mx) / T) / sum;
}

/* Filters and checks kept (in order) and probabilities against the double
 * reference computed on exactly that kept set. */
static void check_filter(const float *l, int V, tt_sampling_params p, const int *want_kept,
                         int n_want) {
    tt_sampler *s;
    tt_error err;
    assert_int_equal(tt_sampler_create(&s, V, &err), TT_OK);
    float *probs = malloc((size_t)V * sizeof *probs);
    int *kept = malloc((size_t)V * sizeof *kept);
    double *want = malloc((size_t)V * sizeof *want);
    int n = -1;
    double h = -1;
    assert_int_equal(tt_sampler_filter(s, &p, l, probs, kept, &n, &h, &err), TT_OK);
    assert_int_equal(n, n_want);
    for (int i = 0; i < n; i++) assert_int_equal(kept[i], want_kept[i]);
    double T = p.strategy == TT_STRATEGY_GREEDY ? 1.0 : p.temperature;
    expected_probs(l, V, T, want_kept, n_want, want);
    if (p.strategy == TT_STRATEGY_GREEDY)
        for (int i = 0; i < V; i++) want[i] = i == want_kept[0] ? 1.0 : 0.0;
    double hw = 0.0, sum = 0.0;
    for (int i = 0; i < V; i++) {
        assert_float_equal(probs[i], want[i], 2e-6);
        if (want[i] > 0) hw -= want[i] * log(want[i]);
        sum += probs[i];
    }
    assert_float_equal(sum, 1.0, 1e-5);
    assert_float_equal(h, hw, 1e-5);
    free(probs);
    free(kept);
    free(want);
    tt_sampler_free(s);
}

static void test_params_and_names(void **state) {
    (void)state;
    tt_sampling_params d = tt_sampling_params_default();
    assert_int_equal(d.strategy, TT_STRATEGY_COMBINED);
    assert_true(d.temperature == 1.0f && d.top_k == 0 && d.top_p == 1.0f);
    tt_error err;
    assert_int_equal(tt_sampling_params_validate(&d, &err), TT_OK);
    for (int s = 0; s < TT_STRATEGY_COUNT_; s++) {
        tt_strategy back;
        assert_int_equal(tt_strategy_parse(tt_strategy_name((tt_strategy)s), &back, &err), TT_OK);
        assert_int_equal(back, s);
    }
    assert_string_equal(tt_strategy_name(TT_STRATEGY_TOP_P), "top-p");
    tt_strategy x;
    assert_int_equal(tt_strategy_parse("nucleus", &x, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "'nucleus'"));

    struct {
        tt_sampling_params p;
        const char *msg;
    } bad[] = {
        {P(TT_STRATEGY_TEMPERATURE, -1.0f, 0, 1.0f), "got -1"},
        {P(TT_STRATEGY_TOP_K, NAN, 3, 1.0f), "temperature must be finite and >= 0 (0 = greedy), got nan"},
        {P(TT_STRATEGY_TOP_P, INFINITY, 0, 0.5f), "got inf"},
        {P(TT_STRATEGY_TOP_K, 1.0f, 0, 1.0f), "top_k must be >= 1 for strategy top-k, got 0"},
        {P(TT_STRATEGY_TOP_K, 1.0f, -1, 1.0f), "got -1"},
        {P(TT_STRATEGY_COMBINED, 1.0f, -1, 1.0f), "top_k must be >= 0 for strategy combined"},
        {P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.0f), "top_p must be in (0, 1], got 0"},
        {P(TT_STRATEGY_TOP_P, 1.0f, 0, 1.5f), "got 1.5"},
        {P(TT_STRATEGY_COMBINED, 1.0f, 0, -0.5f), "got -0.5"},
        {P(TT_STRATEGY_COMBINED, 1.0f, 0, NAN), "got nan"},
        {P((tt_strategy)99, 1.0f, 0, 1.0f), "strategy 99"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = '\0';
        assert_int_equal(tt_sampling_params_validate(&bad[i].p, &err), TT_ERR_ARG);
        assert_int_equal(err.code, TT_ERR_ARG);
        if (!strstr(err.msg, bad[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].msg);
    }
    /* greedy ignores T, k and p; top-k ignores p; top-p ignores k */
    tt_sampling_params g = P(TT_STRATEGY_GREEDY, 0.0f, -5, 7.0f);
    assert_int_equal(tt_sampling_params_validate(&g, &err), TT_OK);
    g = P(TT_STRATEGY_TOP_K, 1.0f, 2, 7.0f);
    assert_int_equal(tt_sampling_params_validate(&g, &err), TT_OK);
    g = P(TT_STRATEGY_TOP_P, 1.0f, -3, 0.5f);
    assert_int_equal(tt_sampling_params_validate(&g, &err), TT_OK);
    /* the sampling entry points validate too */
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, &err), TT_OK);
    tt_rng rng;
    tt_rng_seed(&rng, 1);
    int tok = -7;
    float probs[8];
    g = P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.0f);
    assert_int_equal(tt_sampler_sample(s, &g, NB, &rng, &tok, &err), TT_ERR_ARG);
    assert_int_equal(tok, -7);
    assert_int_equal(tt_sampler_sample_reference(s, &g, NB, &rng, &tok, &err), TT_ERR_ARG);
    assert_int_equal(tt_sampler_filter(s, &g, NB, probs, NULL, NULL, NULL, &err), TT_ERR_ARG);
    int out[8];
    assert_int_equal(tt_sample_batch(&g, NB, 1, 8, 1, 1, out, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "top_p"));
    g = tt_sampling_params_default();
    assert_int_equal(tt_sample_batch(&g, NB, 0, 8, 1, 1, out, &err), TT_ERR_ARG);
    assert_int_equal(tt_sample_batch(&g, NB, 1, 0, 1, 1, out, &err), TT_ERR_ARG);
    assert_int_equal(tt_sample_batch(&g, NB, 1, 8, 0, 1, out, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "draws must be >= 1, got 0"));
    assert_int_equal(tt_sampler_vocab_size(s), 8);
    tt_sampler_free(s);
    tt_sampler_free(NULL);
    assert_int_equal(tt_sampler_create(&s, 0, &err), TT_ERR_ARG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "got 0"));
}

/* The one temperature-0 rule: temperature 0 is greedy with every strategy
 * and in every call that takes a temperature (the argmax after the bias, ties
 * to the lowest id; no random number drawn; filter and softmax give all the
 * mass to it). */
static void test_temperature_zero_is_greedy(void **state) {
    (void)state;
    tt_error err;
    tt_sampler *s;
    const float row[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f}; /* argmax 1 (tie with 3) */
    assert_int_equal(tt_sampler_create(&s, 6, &err), TT_OK);
    const tt_strategy strategies[] = {TT_STRATEGY_TEMPERATURE, TT_STRATEGY_TOP_K, TT_STRATEGY_TOP_P,
                                      TT_STRATEGY_COMBINED};
    for (size_t k = 0; k < sizeof strategies / sizeof *strategies; k++) {
        tt_sampling_params p = P(strategies[k], 0.0f, 3, 0.9f);
        assert_int_equal(tt_sampling_params_validate(&p, &err), TT_OK);
        tt_rng rng, before;
        tt_rng_seed(&rng, 5);
        before = rng;
        for (int d = 0; d < 20; d++) {
            int tok = -1;
            assert_int_equal(tt_sampler_sample(s, &p, row, &rng, &tok, &err), TT_OK);
            assert_int_equal(tok, 1);
            assert_int_equal(tt_sampler_sample_reference(s, &p, row, &rng, &tok, &err), TT_OK);
            assert_int_equal(tok, 1);
            double h = -1.0;
            assert_int_equal(tt_sampler_sample_entropy(s, &p, row, &rng, &tok, &h, &err), TT_OK);
            assert_int_equal(tok, 1);
            assert_true(h == 0.0);
        }
        assert_memory_equal(&rng, &before, sizeof rng); /* no draw consumed */
        float probs[6];
        int kept[6], n_kept = 0;
        assert_int_equal(tt_sampler_filter(s, &p, row, probs, kept, &n_kept, NULL, &err), TT_OK);
        assert_int_equal(n_kept, 1);
        assert_int_equal(kept[0], 1);
        for (int i = 0; i < 6; i++) assert_true(probs[i] == (i == 1 ? 1.0f : 0.0f));
        int out[4];
        assert_int_equal(tt_sample_batch(&p, row, 1, 6, 4, 9, out, &err), TT_OK);
        for (int d = 0; d < 4; d++) assert_int_equal(out[d], 1);
        /* greedy after the logit bias, as the greedy strategy */
        tt_logit_bias bias = {4, 0.5f};
        p.x.n_logit_bias = 1;
        p.x.logit_bias = &bias;
        int tok = -1;
        assert_int_equal(tt_sampler_sample(s, &p, row, &rng, &tok, &err), TT_OK);
        assert_int_equal(tok, 4);
    }
    float probs[6];
    assert_int_equal(tt_softmax(row, 6, 0.0f, probs, &err), TT_OK);
    for (int i = 0; i < 6; i++) assert_true(probs[i] == (i == 1 ? 1.0f : 0.0f));
    tt_sampler_free(s);
}

static void test_logit_errors(void **state) {
    (void)state;
    tt_sampler *s;
    tt_error err;
    assert_int_equal(tt_sampler_create(&s, 4, &err), TT_OK);
    tt_rng rng;
    tt_rng_seed(&rng, 3);
    float probs[4];
    int tok, out[8];
    const float nan_row[4] = {0.0f, NAN, 1.0f, 2.0f};
    const float inf_row[4] = {0.0f, 1.0f, INFINITY, 2.0f};
    const float all_masked[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (int st = 0; st < TT_STRATEGY_COUNT_; st++) {
        tt_sampling_params p = P((tt_strategy)st, 1.0f, 2, 0.9f);
        assert_int_equal(tt_sampler_sample(s, &p, nan_row, &rng, &tok, &err), TT_ERR_ARG);
        assert_string_equal(err.msg, "logit 1 is NaN (NaN and +inf are not allowed; -inf masks a token)");
        assert_int_equal(tt_sampler_sample_reference(s, &p, inf_row, &rng, &tok, &err), TT_ERR_ARG);
        assert_non_null(strstr(err.msg, "logit 2 is +inf"));
        assert_int_equal(tt_sampler_filter(s, &p, all_masked, probs, NULL, NULL, NULL, &err),
                         TT_ERR_ARG);
        assert_non_null(strstr(err.msg, "every logit is -inf"));
        float two_rows[8] = {0, 1, 2, 3, 0, 1, NAN, 3};
        assert_int_equal(tt_sample_batch(&p, two_rows, 2, 4, 2, 1, out, &err), TT_ERR_ARG);
        assert_non_null(strstr(err.msg, "row 1: logit 2 is NaN"));
    }
    assert_int_equal(tt_softmax(nan_row, 4, 1.0f, probs, &err), TT_ERR_ARG);
    assert_int_equal(tt_softmax(all_masked, 4, 1.0f, probs, &err), TT_ERR_ARG);
    assert_int_equal(tt_softmax(NB, 4, -1.0f, probs, &err), TT_ERR_ARG);
    assert_non_null(strstr(err.msg, "got -1"));
    assert_int_equal(tt_log_softmax(inf_row, 4, probs, &err), TT_ERR_ARG);
    tt_sampler_free(s);
}

static void test_softmax(void **state) {
    (void)state;
    float pr[8], lp[8];
    double want[8];
    const int all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const float temps[] = {0.1f, 0.5f, 1.0f, 2.0f};
    for (size_t t = 0; t < 4; t++) {
        assert_int_equal(tt_softmax(NB, 8, temps[t], pr, NULL), TT_OK);
        expected_probs(NB, 8, temps[t], all, 8, want);
        for (int i = 0; i < 8; i++) assert_float_equal(pr[i], want[i], 1e-7);
    }
    /* the notebook's printed table (T = 1): cat 0.3890, the 0.1060 */
    assert_int_equal(tt_softmax(NB, 8, 1.0f, pr, NULL), TT_OK);
    assert_float_equal(pr[CAT], 0.3890139949, 1e-7);
    assert_float_equal(pr[THE], 0.1060186816, 1e-7);
    assert_int_equal(tt_log_softmax(NB, 8, lp, NULL), TT_OK);
    for (int i = 0; i < 8; i++) assert_float_equal(lp[i], log(want[i] > 0 ? pr[i] : 1), 1e-6);
    const float masked[3] = {0.0f, -INFINITY, 0.0f};
    assert_int_equal(tt_softmax(masked, 3, 1.0f, pr, NULL), TT_OK);
    assert_true(pr[0] == 0.5f && pr[1] == 0.0f && pr[2] == 0.5f);
    assert_int_equal(tt_log_softmax(masked, 3, lp, NULL), TT_OK);
    assert_true(lp[1] == -INFINITY);
    assert_float_equal(lp[0], -log(2.0), 1e-7);
    /* huge logits do not overflow */
    const float big[2] = {1e30f, 1e30f - 1e24f};
    assert_int_equal(tt_softmax(big, 2, 1.0f, pr, NULL), TT_OK);
    assert_true(pr[0] == 1.0f && pr[1] == 0.0f);
}

static void test_greedy(void **state) {
    (void)state;
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    tt_rng rng, before;
    tt_rng_seed(&rng, 5);
    before = rng;
    tt_sampling_params g = P(TT_STRATEGY_GREEDY, 0.0f, 0, 1.0f);
    int tok;
    assert_int_equal(tt_sampler_sample(s, &g, NB, &rng, &tok, NULL), TT_OK);
    assert_int_equal(tok, CAT);
    assert_memory_equal(&rng, &before, sizeof rng); /* greedy draws no random numbers */
    const int want[1] = {CAT};
    check_filter(NB, 8, g, want, 1);
    /* ties go to the lowest id; -inf is ignored */
    const float ties[6] = {-INFINITY, 1.0f, 3.0f, 2.0f, 3.0f, 3.0f};
    tt_sampler *s6;
    assert_int_equal(tt_sampler_create(&s6, 6, NULL), TT_OK);
    assert_int_equal(tt_sampler_sample(s6, &g, ties, &rng, &tok, NULL), TT_OK);
    assert_int_equal(tok, 2);
    assert_int_equal(tt_sampler_sample_reference(s6, &g, ties, &rng, &tok, NULL), TT_OK);
    assert_int_equal(tok, 2);
    const int w2[1] = {2};
    check_filter(ties, 6, g, w2, 1);
    int out[2 * 3];
    const float rows[12] = {0, 1, 2, 3, 4, 5, 9, 1, 9, 0, 0, 0};
    assert_int_equal(tt_sample_batch(&g, rows, 2, 6, 3, 1, out, NULL), TT_OK);
    assert_int_equal(out[0], 5);
    assert_int_equal(out[2], 5);
    assert_int_equal(out[3], 0);
    assert_int_equal(out[5], 0);
    /* top-k with k = 1 equals greedy */
    tt_sampling_params k1 = P(TT_STRATEGY_TOP_K, 1.0f, 1, 1.0f);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(tt_sampler_sample(s6, &k1, ties, &rng, &tok, NULL), TT_OK);
        assert_int_equal(tok, 2);
    }
    tt_sampler_free(s6);
    tt_sampler_free(s);
}

static void test_notebook_temperature_and_top_k(void **state) {
    (void)state;
    const int all[8] = {CAT, DOG, THE, RAN, JUMPED, SAT, ON, QUICKLY}; /* by probability */
    const float temps[] = {0.1f, 0.5f, 1.0f, 2.0f};
    for (size_t t = 0; t < 4; t++) {
        check_filter(NB, 8, P(TT_STRATEGY_TEMPERATURE, temps[t], 0, 1.0f), all, 8);
        check_filter(NB, 8, P(TT_STRATEGY_COMBINED, temps[t], 0, 1.0f), all, 8);
        /* the notebook's k = 1, 2, 4, 8 */
        const int ks[] = {1, 2, 4, 8, 100};
        for (size_t k = 0; k < 5; k++) {
            int n = ks[k] < 8 ? ks[k] : 8;
            check_filter(NB, 8, P(TT_STRATEGY_TOP_K, temps[t], ks[k], 1.0f), all, n);
            check_filter(NB, 8, P(TT_STRATEGY_COMBINED, temps[t], ks[k], 1.0f), all, n);
        }
    }
    /* by hand, T = 1, k = 2: cat = 1 / (1 + e^-0.3) = 0.574442516811659 */
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    float pr[8];
    tt_sampling_params p = P(TT_STRATEGY_TOP_K, 1.0f, 2, 1.0f);
    assert_int_equal(tt_sampler_filter(s, &p, NB, pr, NULL, NULL, NULL, NULL), TT_OK);
    assert_float_equal(pr[CAT], 0.574442516811659, 1e-7);
    assert_float_equal(pr[DOG], 0.425557483188341, 1e-7);
    assert_true(pr[THE] == 0.0f);
    tt_sampler_free(s);
}

static void test_notebook_top_p(void **state) {
    (void)state;
    /* Probabilities at T = 1, most probable first, with cumulative sums:
     * cat .38901 (.38901), dog .28819 (.67720), the .10602 (.78322),
     * ran .06430 (.84752), jumped .05265 (.90017), sat .03900 (.93917),
     * on .03193 (.97111), quickly .02889 (1). The kept set is the shortest
     * prefix whose sum reaches p. */
    const int order[8] = {CAT, DOG, THE, RAN, JUMPED, SAT, ON, QUICKLY};
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.3f), order, 1);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.5f), order, 2); /* {cat, dog} */
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.7f), order, 3);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.9f), order, 5);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.95f), order, 7);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.99f), order, 8);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 1.0f), order, 8);
    /* p = 0.5 by hand: cat = 1 / (1 + e^-0.3), dog the rest */
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    float pr[8];
    int kept[8], n;
    double h;
    tt_sampling_params p = P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.5f);
    assert_int_equal(tt_sampler_filter(s, &p, NB, pr, kept, &n, &h, NULL), TT_OK);
    assert_int_equal(n, 2);
    assert_float_equal(pr[CAT], 0.574442516811659, 1e-7);
    assert_float_equal(pr[DOG], 0.425557483188341, 1e-7);
    assert_float_equal(h, 0.682022489, 1e-6); /* -(a ln a + b ln b) */
    /* T = 0.5 sharpens: cumulative .59136, .91590, .95982 */
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 0.5f, 0, 0.5f), order, 1);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 0.5f, 0, 0.8f), order, 2);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 0.5f, 0, 0.95f), order, 3);
    /* T = 2 flattens: cumulative .24796, .46138, .59083, .69165, .78287 */
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 2.0f, 0, 0.5f), order, 3);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 2.0f, 0, 0.7f), order, 5);
    /* combined: top-p applies to the renormalised top-k distribution.
     * T = 1, k = 3: cat .4967, dog .3680, the .1354; p = 0.8 keeps cat, dog
     * (.8647), whereas top-p 0.8 alone keeps 4 tokens. */
    check_filter(NB, 8, P(TT_STRATEGY_COMBINED, 1.0f, 3, 0.8f), order, 2);
    check_filter(NB, 8, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.8f), order, 4);
    /* the notebook's "all combined": T = 0.8, k = 6, p = 0.95: the top-6
     * cumulative is .46990, .79286, .88539, .93492, .97349, 1 */
    check_filter(NB, 8, P(TT_STRATEGY_COMBINED, 0.8f, 6, 0.95f), order, 5);
    check_filter(NB, 8, P(TT_STRATEGY_COMBINED, 0.8f, 4, 1.0f), order, 4);
    /* T = 0.8 alone: cumulative .45232, .76320, .85227, .89994, .93707 */
    check_filter(NB, 8, P(TT_STRATEGY_COMBINED, 0.8f, 0, 0.9f), order, 5);
    check_filter(NB, 8, P(TT_STRATEGY_COMBINED, 0.8f, 0, 0.899f), order, 4);
    tt_sampler_free(s);
}

/* llama.cpp tests/test-sampling.cpp: logits = ln p, p = {0.1, 0.2, 0.3, 0.4}. */
static void test_llama_cpp_vectors(void **state) {
    (void)state;
    const float l[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 4, NULL), TT_OK);
    struct {
        tt_sampling_params p;
        int n;
        float want[4]; /* in kept order: 3, 2, 1, 0 */
    } cases[] = {
        {P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f), 4, {0.4f, 0.3f, 0.2f, 0.1f}},
        {P(TT_STRATEGY_TOP_K, 1.0f, 1, 1.0f), 1, {1.0f}},
        {P(TT_STRATEGY_TOP_K, 1.0f, 3, 1.0f), 3, {0.44444f, 0.33333f, 0.22222f}},
        {P(TT_STRATEGY_TOP_K, 1.0f, 4, 1.0f), 4, {0.4f, 0.3f, 0.2f, 0.1f}},
        {P(TT_STRATEGY_COMBINED, 1.0f, 0, 1.0f), 4, {0.4f, 0.3f, 0.2f, 0.1f}},
        {P(TT_STRATEGY_TOP_P, 1.0f, 0, 1e-6f), 1, {1.0f}}, /* "top_p 0" */
        {P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.7f), 2, {0.571429f, 0.428571f}},
        {P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.8f), 3, {0.44444f, 0.33333f, 0.22222f}},
        {P(TT_STRATEGY_TOP_P, 1.0f, 0, 1.0f), 4, {0.4f, 0.3f, 0.2f, 0.1f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        float pr[4];
        int kept[4], n;
        assert_int_equal(tt_sampler_filter(s, &cases[c].p, l, pr, kept, &n, NULL, NULL), TT_OK);
        if (n != cases[c].n) fail_msg("case %zu: kept %d, want %d", c, n, cases[c].n);
        for (int i = 0; i < n; i++) {
            assert_int_equal(kept[i], 3 - i);
            assert_float_equal(pr[kept[i]], cases[c].want[i], 1e-5);
        }
    }
    tt_sampler_free(s);
}

/* HF test_logits_process.py, top-p 0.8 on log-probabilities. Row 0 is an exact
 * hit (0.5 + 0.3 = 0.8): the crossing token is kept. */
static void test_hf_top_p_vector(void **state) {
    (void)state;
    const float r0[4] = {logf(0.3f), logf(0.1f), logf(0.1f), logf(0.5f)};
    const float r1[4] = {logf(0.15f), logf(0.3f), logf(0.3f), logf(0.25f)};
    const int k0[2] = {3, 0}, k1[3] = {1, 2, 3};
    check_filter(r0, 4, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.8f), k0, 2);
    check_filter(r1, 4, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.8f), k1, 3);
    /* the upstream HEAD rule (cumsum <= p, plus the top-1) would keep {3} for
     * row 0 at p = 0.6; the nucleus reaching 0.6 is {3, 0} */
    check_filter(r0, 4, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.6f), k0, 2);
    /* order of operations: temperature first (HF, vLLM). [3, 2, 1], T = 0.5,
     * p = 0.8 -> softmax [0.8668, 0.1173, 0.0159] keeps {0} only. */
    const float o[3] = {3.0f, 2.0f, 1.0f};
    const int ko[1] = {0};
    check_filter(o, 3, P(TT_STRATEGY_TOP_P, 0.5f, 0, 0.8f), ko, 1);
}

static void test_top_k_ties_and_masks(void **state) {
    (void)state;
    /* ties at the k-th value go to the lower id: exactly k kept */
    const float t[6] = {1.0f, 2.0f, 2.0f, 2.0f, 0.0f, 2.0f};
    const int k2[2] = {1, 2}, k3[3] = {1, 2, 3}, k5[5] = {1, 2, 3, 5, 0};
    check_filter(t, 6, P(TT_STRATEGY_TOP_K, 1.0f, 2, 1.0f), k2, 2);
    check_filter(t, 6, P(TT_STRATEGY_TOP_K, 1.0f, 3, 1.0f), k3, 3);
    check_filter(t, 6, P(TT_STRATEGY_COMBINED, 1.0f, 5, 1.0f), k5, 5);
    /* equal probabilities: top-p 0.5 of four equal tokens keeps the two lowest ids */
    const float u[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int u2[2] = {0, 1};
    check_filter(u, 4, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.5f), u2, 2);
    /* -inf tokens are never kept, even when k exceeds the finite ones */
    const float m[5] = {-INFINITY, 1.0f, -INFINITY, 0.0f, -1.0f};
    const int km[3] = {1, 3, 4};
    check_filter(m, 5, P(TT_STRATEGY_TOP_K, 1.0f, 4, 1.0f), km, 3);
    check_filter(m, 5, P(TT_STRATEGY_TOP_K, 1.0f, 2, 1.0f), km, 2);
    check_filter(m, 5, P(TT_STRATEGY_TEMPERATURE, 0.7f, 0, 1.0f), km, 3);
    check_filter(m, 5, P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.999f), km, 3);
    /* one finite token: always it */
    const float one[3] = {-INFINITY, -INFINITY, 5.0f};
    const int k1[1] = {2};
    check_filter(one, 3, P(TT_STRATEGY_COMBINED, 1.0f, 2, 0.5f), k1, 1);
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 5, NULL), TT_OK);
    tt_rng rng;
    tt_rng_seed(&rng, 11);
    for (int i = 0; i < 2000; i++) {
        int tok;
        tt_sampling_params p = P(TT_STRATEGY_TEMPERATURE, 3.0f, 0, 1.0f);
        assert_int_equal(tt_sampler_sample(s, &p, m, &rng, &tok, NULL), TT_OK);
        assert_true(tok == 1 || tok == 3 || tok == 4);
    }
    tt_sampler_free(s);
}

/* Chi-square goodness of fit of draws against tt_sampler_filter's distribution.
 * Critical values of chi2 at p = 0.001, df = 1..8. */
static const double CHI2_CRIT_001[9] = {0, 10.828, 13.816, 16.266, 18.467, 20.515,
                                        22.458, 24.322, 26.124};

static void chi_square_check(const tt_sampling_params *p, const float *l, int V, uint64_t seed) {
    enum { N = 20000 };
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, V, NULL), TT_OK);
    float pr[16];
    int n_kept;
    assert_true(V <= 16);
    assert_int_equal(tt_sampler_filter(s, p, l, pr, NULL, &n_kept, NULL, NULL), TT_OK);
    int counts[16] = {0};
    tt_rng rng;
    tt_rng_seed(&rng, seed);
    for (int i = 0; i < N; i++) {
        int tok;
        assert_int_equal(tt_sampler_sample(s, p, l, &rng, &tok, NULL), TT_OK);
        assert_true(tok >= 0 && tok < V);
        counts[tok]++;
    }
    /* batch draws come from the same distribution */
    int *out = malloc(N * sizeof *out);
    assert_int_equal(tt_sample_batch(p, l, 1, V, N, seed + 1, out, NULL), TT_OK);
    int bcounts[16] = {0};
    for (int i = 0; i < N; i++) bcounts[out[i]]++;
    free(out);
    for (int pass = 0; pass < 2; pass++) {
        const int *c = pass ? bcounts : counts;
        double chi2 = 0.0;
        int df = -1;
        for (int i = 0; i < V; i++) {
            if (pr[i] == 0.0f) {
                assert_int_equal(c[i], 0); /* filtered tokens are never drawn */
                continue;
            }
            double e = N * (double)pr[i];
            assert_true(e >= 5.0);
            chi2 += (c[i] - e) * (c[i] - e) / e;
            df++;
        }
        if (df == 0) {
            assert_int_equal(c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7], N);
            continue;
        }
        assert_true(df <= 8);
        if (chi2 > CHI2_CRIT_001[df])
            fail_msg("%s: chi2 = %.2f > %.3f (df %d)", tt_strategy_name(p->strategy), chi2,
                     CHI2_CRIT_001[df], df);
    }
    tt_sampler_free(s);
}

static void test_chi_square(void **state) {
    (void)state;
    const tt_sampling_params ps[] = {
        P(TT_STRATEGY_GREEDY, 1.0f, 0, 1.0f),       P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f),
        P(TT_STRATEGY_TEMPERATURE, 2.0f, 0, 1.0f),  P(TT_STRATEGY_TOP_K, 1.0f, 4, 1.0f),
        P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.9f),        P(TT_STRATEGY_TOP_P, 0.7f, 0, 0.5f),
        P(TT_STRATEGY_COMBINED, 0.8f, 6, 0.95f),    P(TT_STRATEGY_COMBINED, 1.0f, 0, 1.0f),
    };
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) chi_square_check(&ps[i], NB, 8, 1000 + i);
    const float l[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
    tt_sampling_params p = P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.8f);
    chi_square_check(&p, l, 4, 77);
}

/* A draw consumes exactly one 64-bit output of the generator. */
static void test_one_uniform_per_draw(void **state) {
    (void)state;
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    for (int st = 1; st < TT_STRATEGY_COUNT_; st++) {
        tt_sampling_params p = P((tt_strategy)st, 0.9f, 3, 0.7f);
        tt_rng a, b;
        tt_rng_seed(&a, 9);
        b = a;
        int tok;
        assert_int_equal(tt_sampler_sample(s, &p, NB, &a, &tok, NULL), TT_OK);
        (void)tt_rng_u64(&b);
        assert_memory_equal(&a, &b, sizeof a);
        assert_int_equal(tt_sampler_sample_reference(s, &p, NB, &a, &tok, NULL), TT_OK);
        (void)tt_rng_u64(&b);
        assert_memory_equal(&a, &b, sizeof a);
    }
    tt_sampler_free(s);
}

static void test_determinism_and_batch(void **state) {
    (void)state;
    enum { B = 3, V = 8, N = 50 };
    float rows[B * V];
    for (int r = 0; r < B; r++)
        for (int i = 0; i < V; i++) rows[r * V + i] = NB[i] * (1.0f + 0.3f * (float)r);
    tt_sampling_params p = P(TT_STRATEGY_COMBINED, 1.2f, 5, 0.9f);
    int a[B * N], b[B * N], one[N];
    assert_int_equal(tt_sample_batch(&p, rows, B, V, N, 42, a, NULL), TT_OK);
    assert_int_equal(tt_sample_batch(&p, rows, B, V, N, 42, b, NULL), TT_OK);
    assert_memory_equal(a, b, sizeof a);
    /* a row's draws do not depend on the rows after it ... */
    assert_int_equal(tt_sample_batch(&p, rows, 1, V, N, 42, one, NULL), TT_OK);
    assert_memory_equal(one, a, sizeof one);
    /* ... and equal tt_sampler_sample with the stream (seed, row) */
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, V, NULL), TT_OK);
    for (int r = 0; r < B; r++) {
        tt_rng rng;
        tt_rng_seed_stream(&rng, 42, (uint64_t)r);
        for (int d = 0; d < N; d++) {
            int tok;
            assert_int_equal(tt_sampler_sample(s, &p, rows + r * V, &rng, &tok, NULL), TT_OK);
            assert_int_equal(tok, a[r * N + d]);
        }
    }
    /* another seed gives other draws */
    assert_int_equal(tt_sample_batch(&p, rows, B, V, N, 43, b, NULL), TT_OK);
    assert_memory_not_equal(a, b, sizeof a);
    tt_sampler_free(s);
}

/* Golden draws: seed 42, stream 0, the notebook's example. They pin the
 * mapping from the generator to tokens (weights, target, id-order walk);
 * a change here changes every seeded output of the project. */
static void test_golden_draws(void **state) {
    (void)state;
    static const int want[3][40] = {
        {1, 1, 1, 2, 1, 0, 2, 1, 1, 1, 0, 1, 2, 1, 5, 2, 2, 2, 1, 1,
         5, 1, 1, 1, 2, 2, 1, 1, 1, 2, 1, 2, 1, 5, 4, 1, 2, 2, 1, 1},
        {1, 1, 2, 2, 1, 0, 2, 2, 1, 1, 0, 1, 4, 1, 7, 2, 4, 2, 1, 1,
         6, 1, 2, 0, 2, 4, 1, 1, 1, 2, 2, 2, 1, 7, 6, 1, 2, 5, 1, 1},
        {1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 2, 2, 2, 1, 1,
         2, 1, 1, 1, 2, 2, 1, 1, 1, 2, 1, 2, 1, 2, 2, 1, 2, 2, 1, 1},
    };
    const tt_sampling_params ps[3] = {P(TT_STRATEGY_COMBINED, 0.8f, 6, 0.95f),
                                      P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f),
                                      P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.5f)};
    for (int c = 0; c < 3; c++) {
        int out[40];
        assert_int_equal(tt_sample_batch(&ps[c], NB, 1, 8, 40, 42, out, NULL), TT_OK);
        assert_memory_equal(out, want[c], sizeof out);
    }
}

static void test_caller_logits_unchanged(void **state) {
    (void)state;
    float l[8], copy[8];
    memcpy(l, NB, sizeof l);
    l[6] = -INFINITY;
    memcpy(copy, l, sizeof l);
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, 8, NULL), TT_OK);
    tt_rng rng;
    tt_rng_seed(&rng, 1);
    float pr[8];
    int kept[8], n, tok, out[4];
    double h;
    for (int st = 0; st < TT_STRATEGY_COUNT_; st++) {
        tt_sampling_params p = P((tt_strategy)st, 1.0f, st == TT_STRATEGY_COMBINED ? 0 : 3,
                                 st == TT_STRATEGY_COMBINED ? 0.9f : 0.6f);
        assert_int_equal(tt_sampler_sample(s, &p, l, &rng, &tok, NULL), TT_OK);
        assert_int_equal(tt_sampler_sample_reference(s, &p, l, &rng, &tok, NULL), TT_OK);
        assert_int_equal(tt_sampler_filter(s, &p, l, pr, kept, &n, &h, NULL), TT_OK);
        assert_int_equal(tt_sample_batch(&p, l, 1, 8, 4, 5, out, NULL), TT_OK);
        assert_memory_equal(l, copy, sizeof l);
    }
    assert_int_equal(tt_softmax(l, 8, 0.5f, pr, NULL), TT_OK);
    assert_int_equal(tt_log_softmax(l, 8, pr, NULL), TT_OK);
    assert_memory_equal(l, copy, sizeof l);
    tt_sampler_free(s);
}

/* The fast path (selection) and the full-sort reference give the same tokens
 * for the same generator, on many random vectors, ties and masks included. */
static void test_fast_matches_reference(void **state) {
    (void)state;
    tt_rng g;
    tt_rng_seed(&g, 2024);
    const int sizes[] = {1, 2, 3, 7, 65, 1000, 2000, 5000}; /* > 1024: bins */
    int checked = 0;
    for (int round = 0; round < 600; round++) {
        int V = sizes[tt_rng_below(&g, 8)];
        double sd = (double[]){0.3, 1.0, 3.0, 10.0, 1e3, 1e30}[tt_rng_below(&g, 6)];
        float *l = malloc((size_t)V * sizeof *l);
        bool quantize = tt_rng_below(&g, 3) == 0; /* many exact ties */
        for (int i = 0; i < V; i++) {
            double x = tt_rng_normal(&g) * sd;
            if (quantize) x = floor(x);
            if (x > 3e38 || x < -3e38) x = x > 0 ? 3e38 : -3e38;
            l[i] = (float)x;
            if (tt_rng_below(&g, 10) == 0) l[i] = -INFINITY;
        }
        l[tt_rng_below(&g, (uint64_t)V)] = 0.5f; /* at least one finite */
        tt_sampling_params p = tt_sampling_params_default();
        p.strategy = (tt_strategy)(1 + tt_rng_below(&g, 4));
        p.temperature = (float)(tt_rng_below(&g, 4) == 0 ? exp(12.0 * tt_rng_uniform(&g) - 6.0)
                                                          : 0.2 + 2.0 * tt_rng_uniform(&g));
        p.top_k = (int)tt_rng_below(&g, (uint64_t)V + 2) + (p.strategy == TT_STRATEGY_TOP_K);
        p.top_p = tt_rng_below(&g, 5) == 0 ? 1.0f : (float)(0.01 + 0.98 * tt_rng_uniform(&g));
        tt_sampler *s;
        assert_int_equal(tt_sampler_create(&s, V, NULL), TT_OK);
        tt_rng a, b;
        tt_rng_seed_stream(&a, 7, (uint64_t)round);
        b = a;
        for (int d = 0; d < 5; d++) {
            int t1, t2;
            assert_int_equal(tt_sampler_sample(s, &p, l, &a, &t1, NULL), TT_OK);
            assert_int_equal(tt_sampler_sample_reference(s, &p, l, &b, &t2, NULL), TT_OK);
            if (t1 != t2)
                fail_msg("round %d V %d %s T %g k %d p %g: fast %d, reference %d", round, V,
                         tt_strategy_name(p.strategy), (double)p.temperature, p.top_k,
                         (double)p.top_p, t1, t2);
            assert_true(l[t1] != -INFINITY);
            checked++;
        }
        /* sample_entropy: the same draws as sample, and the filter's entropy */
        {
            tt_rng c, d;
            tt_rng_seed_stream(&c, 9, (uint64_t)round);
            d = c;
            for (int k = 0; k < 3; k++) {
                int t1, t2;
                double h1, h2;
                assert_int_equal(tt_sampler_sample(s, &p, l, &c, &t1, NULL), TT_OK);
                assert_int_equal(tt_sampler_sample_entropy(s, &p, l, &d, &t2, &h1, NULL), TT_OK);
                assert_int_equal(t1, t2);
                float *pr2 = malloc((size_t)V * sizeof *pr2);
                assert_int_equal(tt_sampler_filter(s, &p, l, pr2, NULL, NULL, &h2, NULL), TT_OK);
                assert_true(h1 == h2);
                /* against -sum q ln q over the filter's probabilities */
                double ref = 0.0;
                for (int i = 0; i < V; i++)
                    if (pr2[i] > 0.0f) ref -= (double)pr2[i] * log((double)pr2[i]);
                assert_true(fabs(h1 - ref) <= 1e-5 * (1.0 + ref));
                free(pr2);
            }
        }
        /* the filter agrees: the drawn token is kept, probabilities sum to 1 */
        float *pr = malloc((size_t)V * sizeof *pr);
        int *kept = malloc((size_t)V * sizeof *kept), n;
        assert_int_equal(tt_sampler_filter(s, &p, l, pr, kept, &n, NULL, NULL), TT_OK);
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += pr[i];
        assert_float_equal(sum, 1.0, 1e-4);
        for (int i = 1; i < n; i++)
            assert_true(l[kept[i - 1]] > l[kept[i]] ||
                        (l[kept[i - 1]] == l[kept[i]] && kept[i - 1] < kept[i]));
        free(pr);
        free(kept);
        free(l);
        tt_sampler_free(s);
    }
    assert_int_equal(checked, 3000);
}

/* Large V where the fast path really selects (pre-filter, quickselect). */
static void test_fast_matches_reference_large(void **state) {
    (void)state;
    enum { V = 32000 };
    float *l = malloc(V * sizeof *l);
    tt_rng g;
    tt_rng_seed(&g, 99);
    tt_sampler *s;
    assert_int_equal(tt_sampler_create(&s, V, NULL), TT_OK);
    const tt_sampling_params ps[] = {
        P(TT_STRATEGY_TOP_P, 1.0f, 0, 0.9f),     P(TT_STRATEGY_TOP_P, 0.7f, 0, 0.5f),
        P(TT_STRATEGY_TOP_K, 1.0f, 50, 1.0f),    P(TT_STRATEGY_COMBINED, 0.8f, 50, 0.9f),
        P(TT_STRATEGY_COMBINED, 1.0f, 0, 0.95f), P(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f),
    };
    for (int rep = 0; rep < 4; rep++) {
        double sd = rep % 2 ? 3.0 : 1.0;
        for (int i = 0; i < V; i++) l[i] = (float)(tt_rng_normal(&g) * sd);
        for (size_t c = 0; c < sizeof ps / sizeof *ps; c++) {
            tt_rng a, b;
            tt_rng_seed_stream(&a, 5, (uint64_t)(rep * 10 + (int)c));
            b = a;
            for (int d = 0; d < 3; d++) {
                int t1, t2;
                assert_int_equal(tt_sampler_sample(s, &ps[c], l, &a, &t1, NULL), TT_OK);
                assert_int_equal(tt_sampler_sample_reference(s, &ps[c], l, &b, &t2, NULL), TT_OK);
                assert_int_equal(t1, t2);
            }
        }
    }
    free(l);
    tt_sampler_free(s);
}

static void test_logits_parse(void **state) {
    (void)state;
    float *v;
    int rows, V;
    tt_error err;
    const char *t1 = "1.5, 2.8 2.5,0.5\n\n  -inf ,1 2\t3\r\n";
    assert_int_equal(tt_logits_parse(t1, strlen(t1), &v, &rows, &V, &err), TT_OK);
    assert_int_equal(rows, 2);
    assert_int_equal(V, 4);
    assert_true(v[0] == 1.5f && v[1] == 2.8f && v[2] == 2.5f && v[3] == 0.5f);
    assert_true(v[4] == -INFINITY && v[5] == 1.0f && v[6] == 2.0f && v[7] == 3.0f);
    free(v);
    const char *t2 = "1e-3,-2E2"; /* no final newline */
    assert_int_equal(tt_logits_parse(t2, strlen(t2), &v, &rows, &V, &err), TT_OK);
    assert_true(rows == 1 && V == 2 && v[0] == 1e-3f && v[1] == -200.0f);
    free(v);
    /* length is honoured: only "1,2" */
    assert_int_equal(tt_logits_parse("1,2,3", 3, &v, &rows, &V, &err), TT_OK);
    assert_true(rows == 1 && V == 2);
    free(v);
    struct {
        const char *text;
        tt_status st;
        const char *msg;
    } bad[] = {
        {"1,2,3\n4,5\n", TT_ERR_FORMAT, "line 2 has 2 values, expected 3"},
        {"1,nan,3", TT_ERR_FORMAT, "line 1, value 2: 'nan' is not allowed"},
        {"1,2\n3,inf", TT_ERR_FORMAT, "line 2, value 2: 'inf' is not allowed"},
        {"1,+Infinity", TT_ERR_FORMAT, "'+Infinity' is not allowed"},
        {"", TT_ERR_FORMAT, "no logits found"},
        {" \n\t\n", TT_ERR_FORMAT, "no logits found"},
        {"1,,2", TT_ERR_FORMAT, "line 1, value 2: empty value"},
        {",1", TT_ERR_FORMAT, "empty value"},
        {"1,2,", TT_ERR_FORMAT, "missing value after ','"},
        {"1, abc", TT_ERR_FORMAT, "'abc' is not a number"},
        {"1 2x", TT_ERR_FORMAT, "'2x' is not a number"},
        {"1e39", TT_ERR_FORMAT, "is not allowed"},
        {"-1e39", TT_ERR_FORMAT, "'-1e39' is out of float range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        v = (float *)&v;
        assert_int_equal(tt_logits_parse(bad[i].text, strlen(bad[i].text), &v, &rows, &V, &err),
                         bad[i].st);
        assert_null(v);
        if (!strstr(err.msg, bad[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].msg);
    }
    /* a parsed file drives the sampler */
    const char *t3 = "1.5,2.8,2.5,0.5,1.0,0.8,0.3,0.2\n";
    assert_int_equal(tt_logits_parse(t3, strlen(t3), &v, &rows, &V, &err), TT_OK);
    assert_memory_equal(v, NB, sizeof NB);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_names),
        cmocka_unit_test(test_logit_errors),
        cmocka_unit_test(test_temperature_zero_is_greedy),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_notebook_temperature_and_top_k),
        cmocka_unit_test(test_notebook_top_p),
        cmocka_unit_test(test_llama_cpp_vectors),
        cmocka_unit_test(test_hf_top_p_vector),
        cmocka_unit_test(test_top_k_ties_and_masks),
        cmocka_unit_test(test_chi_square),
        cmocka_unit_test(test_one_uniform_per_draw),
        cmocka_unit_test(test_determinism_and_batch),
        cmocka_unit_test(test_golden_draws),
        cmocka_unit_test(test_caller_logits_unchanged),
        cmocka_unit_test(test_fast_matches_reference),
        cmocka_unit_test(test_fast_matches_reference_large),
        cmocka_unit_test(test_logits_parse),
    };
    return cmocka_run_group_tests_name("sampling", tests, NULL, NULL);
}
