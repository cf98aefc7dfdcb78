/*
 * tt/diversity.h — how varied a set of generated texts is: the notebook's
 * measure_diversity metrics plus distinct-1/distinct-2 and the mean per-token
 * entropy of the sampling distribution.
 *
 *     const char *texts[3] = {"hello wor", "hello wor", "hello tes"};
 *     size_t prompt[3] = {6, 6, 6};              // "hello " is the prompt
 *     tt_diversity_metrics m;
 *     tt_diversity_measure(texts, 3, prompt, NULL, NULL, &m, &err);
 *     // m.unique_samples == 2, m.uniqueness_ratio == 2/3.
 *
 * Definitions (texts are UTF-8; a "character" is a Unicode code point, which
 * for tt's character tokenizer is exactly one token):
 *  - unique_samples: the number of distinct texts (byte-exact comparison);
 *    uniqueness_ratio = unique_samples / n_samples.
 *  - avg_length: mean length of the whole texts in characters.
 *  - unique_chars: distinct characters over the whole texts together.
 *  These three count the prompt too, as the notebook's measure_diversity does
 *  (it decodes prompt + continuation).
 *  - distinct_n (n = 1, 2): over the continuations only (each text after its
 *    first prompt_bytes[i] bytes), pooled over all samples: the number of
 *    distinct character n-grams divided by the total number of n-grams
 *    (Li et al., 2016, corpus-level). An n-gram never spans two samples. 0 when
 *    there is no n-gram at all.
 *  - mean_token_entropy: the mean, over every generated step of every sample,
 *    of the entropy (nats) of the distribution the token was drawn from (as
 *    tt_generator_step_entropies reports it). NaN when no entropies are given.
 *
 * Thread safety: reentrant.
 */
#ifndef TT_DIVERSITY_H
#define TT_DIVERSITY_H

#include <stddef.h>

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n_samples;
    int unique_samples;
    double uniqueness_ratio;   /* unique_samples / n_samples, in (0, 1]          */
    double avg_length;         /* characters per text (prompt included)          */
    int unique_chars;          /* distinct characters over all texts             */
    double distinct_1;         /* distinct unigrams / unigrams (continuations)   */
    double distinct_2;         /* distinct bigrams / bigrams (continuations)     */
    long n_unigrams, n_bigrams;/* the denominators                               */
    double mean_token_entropy; /* nats; NaN when no entropies were given         */
    long n_entropy_steps;      /* how many steps the mean is over                */
} tt_diversity_metrics;

/* Measures n >= 1 texts (NUL-terminated UTF-8).
 * prompt_bytes [n] (may be NULL = 0 for all): the leading bytes of each text
 * that are its prompt, excluded from distinct-n; must be <= strlen(text) and
 * fall on a character boundary.
 * entropies [n] and n_entropies [n] (both NULL, or both given): per generated
 * step entropies of each sample (entropies[i] may be NULL when n_entropies[i]
 * is 0). Negative or non-finite entropies are an error.
 * The caller's arrays are only read.
 * @return TT_OK, TT_ERR_ARG (NULL texts or out, n < 1, NULL text, bad
 * prompt_bytes, only one of entropies / n_entropies, bad entropy), TT_ERR_FORMAT (invalid UTF-8: the message gives the sample and
 * byte offset), TT_ERR_NOMEM. */
TT_API tt_status tt_diversity_measure(const char *const *texts, int n, const size_t *prompt_bytes,
                                      const double *const *entropies, const int *n_entropies,
                                      tt_diversity_metrics *out, tt_error *err);

/* distinct-n alone for any n >= 1 over the given texts (whole texts, pooled).
 * *total (may be NULL) receives the number of n-grams. @return as above;
 * TT_ERR_ARG also for NULL out and n outside [1, 64]. */
TT_API tt_status tt_distinct_n(const char *const *texts, int n_texts, int n, double *out,
                               long *total, tt_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TT_DIVERSITY_H */
