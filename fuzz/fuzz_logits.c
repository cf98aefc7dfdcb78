/*
 * fuzz_logits — tt_logits_parse (the --logits-file format) on arbitrary text,
 * then the parsed rows through the sampler's filter.
 *
 * Oracles: no crash, leak or UB; on TT_OK rows >= 1, V >= 1, no NaN or +inf
 * value; on an error a message and no array handed out; the filtered
 * distribution of an accepted row sums to 1 (or the row is refused with
 * TT_ERR_ARG, e.g. all -inf).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt/sampling.h"

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_logits: check failed at line %d: %s\n", __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The parser takes a length; give it a buffer with no NUL terminator so a
     * read past `len` is caught by ASan. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    float *values = NULL;
    int rows = -7, V = -7;
    tt_error err;
    tt_error_clear(&err);
    tt_status s = tt_logits_parse(text, size, &values, &rows, &V, &err);
    if (s != TT_OK) {
        CHECK(s == TT_ERR_FORMAT || s == TT_ERR_NOMEM || s == TT_ERR_ARG);
        CHECK(err.msg[0] != '\0');
        CHECK(values == NULL); /* nothing handed out on error */
        free(text);
        return 0;
    }
    CHECK(values != NULL && rows >= 1 && V >= 1);
    CHECK((size_t)rows * (size_t)V <= size); /* every value takes >= 1 byte */
    for (size_t i = 0; i < (size_t)rows * (size_t)V; i++)
        CHECK(!isnan(values[i]) && values[i] != INFINITY);

    tt_sampler *smp = NULL;
    if (tt_sampler_create(&smp, V, &err) == TT_OK) {
        float *probs = malloc((size_t)V * sizeof *probs);
        int *kept = malloc((size_t)V * sizeof *kept);
        if (probs && kept) {
            tt_sampling_params p = tt_sampling_params_default();
            p.strategy = (tt_strategy)(data[0] % (TT_STRATEGY_COMBINED + 1));
            p.top_k = p.strategy == TT_STRATEGY_TOP_K ? 1 + data[size - 1] % 8 : data[size - 1] % 4;
            p.top_p = 0.25f + 0.25f * (float)(data[size / 2] % 4); /* 0.25 .. 1 */
            p.temperature = 0.1f + (float)(data[size / 3] % 20) / 10.0f;
            for (int r = 0; r < rows && r < 4; r++) {
                int n_kept = 0;
                double ent = 0;
                s = tt_sampler_filter(smp, &p, values + (size_t)r * V, probs, kept, &n_kept, &ent,
                                      &err);
                if (s == TT_OK) {
                    double sum = 0;
                    for (int i = 0; i < V; i++) {
                        CHECK(probs[i] >= 0.0f && probs[i] <= 1.0f);
                        sum += probs[i];
                    }
                    CHECK(fabs(sum - 1.0) < 1e-3);
                    CHECK(n_kept >= 1 && n_kept <= V);
                    for (int i = 0; i < n_kept; i++) CHECK(kept[i] >= 0 && kept[i] < V);
                    CHECK(ent >= -1e-9 && isfinite(ent));
                } else {
                    CHECK(s == TT_ERR_ARG || s == TT_ERR_NOMEM);
                    CHECK(err.msg[0] != '\0');
                }
            }
        }
        free(probs);
        free(kept);
    }
    tt_sampler_free(smp);
    free(values);
    free(text);
    return 0;
}
