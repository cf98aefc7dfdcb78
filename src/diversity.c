/* Diversity metrics over a set of generated texts (see tt/diversity.h).
 * Counting distinct items is done by sorting copies and counting runs, so the
 * results do not depend on any hashing and the cost is O(N log N). */
#include "tt/diversity.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One UTF-8 code point at s[0..len): its byte length (1-4), or 0 if invalid. */
static int utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
    if (len == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) { n = 2; v = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 3; v = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)n > len) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

/* Decodes text[from..] into cps (capacity >= strlen - from). Returns the count
 * or -1 with *bad_off set to the offending byte offset. */
static long decode_all(const char *text, size_t from, uint32_t *cps, size_t *bad_off) {
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), off = from;
    long k = 0;
    while (off < len) {
        uint32_t cp;
        int b = utf8_next(s + off, len - off, &cp);
        if (!b) {
            *bad_off = off;
            return -1;
        }
        cps[k++] = cp;
        off += (size_t)b;
    }
    return k;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Records are [n, cp_1 .. cp_n]; the first word tells the comparator the width. */
static int cmp_gram(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    for (uint32_t i = 1; i <= x[0]; i++)
        if (x[i] != y[i]) return (x[i] > y[i]) - (x[i] < y[i]);
    return 0;
}

static size_t count_runs(const void *base, size_t count, size_t size,
                         int (*cmp)(const void *, const void *)) {
    if (count == 0) return 0;
    const char *p = base;
    size_t runs = 1;
    for (size_t i = 1; i < count; i++)
        if (cmp(p + (i - 1) * size, p + i * size) != 0) runs++;
    return runs;
}

/* Pooled distinct-n of texts[i] from byte skip[i] (NULL: 0). */
static tt_status distinct(const char *const *texts, int n_texts, const size_t *skip, int n,
                          double *out, long *total, tt_error *err) {
    size_t max_len = 0, n_grams_cap = 0;
    for (int i = 0; i < n_texts; i++) {
        size_t len = strlen(texts[i]);
        if (len > max_len) max_len = len;
        n_grams_cap += len;
    }
    uint32_t *cps = malloc((max_len + 1) * sizeof *cps);
    uint32_t *grams = malloc((n_grams_cap + 1) * (size_t)(n + 1) * sizeof *grams);
    if (!cps || !grams) {
        free(cps);
        free(grams);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory counting %d-grams", n);
    }
    size_t n_grams = 0;
    for (int i = 0; i < n_texts; i++) {
        size_t bad;
        long k = decode_all(texts[i], skip ? skip[i] : 0, cps, &bad);
        if (k < 0) {
            free(cps);
            free(grams);
            return tt_error_set(err, TT_ERR_FORMAT, "sample %d: invalid UTF-8 at byte %zu", i, bad);
        }
        for (long j = 0; j + n <= k; j++) {
            uint32_t *g = grams + n_grams * (size_t)(n + 1);
            g[0] = (uint32_t)n;
            memcpy(g + 1, cps + j, (size_t)n * sizeof *cps);
            n_grams++;
        }
    }
    size_t rec = (size_t)(n + 1) * sizeof *grams;
    qsort(grams, n_grams, rec, cmp_gram);
    size_t uniq = count_runs(grams, n_grams, rec, cmp_gram);
    *out = n_grams ? (double)uniq / (double)n_grams : 0.0;
    if (total) *total = (long)n_grams;
    free(cps);
    free(grams);
    return TT_OK;
}

static tt_status check_texts(const char *const *texts, int n, tt_error *err) {
    if (!texts) return tt_error_set(err, TT_ERR_ARG, "texts is NULL");
    if (n < 1) return tt_error_set(err, TT_ERR_ARG, "need at least one sample, got %d", n);
    for (int i = 0; i < n; i++)
        if (!texts[i]) return tt_error_set(err, TT_ERR_ARG, "sample %d is NULL", i);
    return TT_OK;
}

tt_status tt_distinct_n(const char *const *texts, int n_texts, int n, double *out, long *total,
                        tt_error *err) {
    tt_status st = check_texts(texts, n_texts, err);
    if (st != TT_OK) return st;
    if (n < 1 || n > 64) return tt_error_set(err, TT_ERR_ARG, "n-gram size must be in [1, 64], got %d", n);
    if (!out) return tt_error_set(err, TT_ERR_ARG, "out is NULL");
    return distinct(texts, n_texts, NULL, n, out, total, err);
}

tt_status tt_diversity_measure(const char *const *texts, int n, const size_t *prompt_bytes,
                               const double *const *entropies, const int *n_entropies,
                               tt_diversity_metrics *out, tt_error *err) {
    tt_status st = check_texts(texts, n, err);
    if (st != TT_OK) return st;
    if (!out) return tt_error_set(err, TT_ERR_ARG, "out is NULL");
    if ((entropies == NULL) != (n_entropies == NULL))
        return tt_error_set(err, TT_ERR_ARG, "entropies and n_entropies must both be given or both be NULL");
    memset(out, 0, sizeof *out);
    out->n_samples = n;

    /* Whole texts: lengths and the set of characters. */
    size_t total_bytes = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        if (prompt_bytes && prompt_bytes[i] > len)
            return tt_error_set(err, TT_ERR_ARG, "sample %d: prompt_bytes %zu exceeds its length %zu", i,
                                prompt_bytes[i], len);
        total_bytes += len;
    }
    uint32_t *cps = malloc((total_bytes + 1) * sizeof *cps);
    if (!cps) return tt_error_set(err, TT_ERR_NOMEM, "out of memory (%zu characters)", total_bytes);
    size_t n_cps = 0;
    for (int i = 0; i < n; i++) {
        size_t bad;
        const unsigned char *s = (const unsigned char *)texts[i];
        size_t len = strlen(texts[i]), off = 0;
        long k = decode_all(texts[i], 0, cps + n_cps, &bad);
        if (k < 0) {
            free(cps);
            return tt_error_set(err, TT_ERR_FORMAT, "sample %d: invalid UTF-8 at byte %zu", i, bad);
        }
        if (prompt_bytes) { /* the prompt must end on a character boundary */
            while (off < prompt_bytes[i]) {
                uint32_t cp;
                off += (size_t)utf8_next(s + off, len - off, &cp);
            }
            if (off != prompt_bytes[i]) {
                free(cps);
                return tt_error_set(err, TT_ERR_ARG,
                                    "sample %d: prompt_bytes %zu is inside a UTF-8 character", i,
                                    prompt_bytes[i]);
            }
        }
        n_cps += (size_t)k;
    }
    out->avg_length = (double)n_cps / n;
    qsort(cps, n_cps, sizeof *cps, cmp_u32);
    out->unique_chars = (int)count_runs(cps, n_cps, sizeof *cps, cmp_u32);
    free(cps);

    /* Distinct texts. */
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return tt_error_set(err, TT_ERR_NOMEM, "out of memory (%d samples)", n);
    memcpy(sorted, texts, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    out->unique_samples = (int)count_runs(sorted, (size_t)n, sizeof *sorted, cmp_str);
    free(sorted);
    out->uniqueness_ratio = (double)out->unique_samples / n;

    /* distinct-1, distinct-2 over the continuations. */
    if ((st = distinct(texts, n, prompt_bytes, 1, &out->distinct_1, &out->n_unigrams, err)) != TT_OK)
        return st;
    if ((st = distinct(texts, n, prompt_bytes, 2, &out->distinct_2, &out->n_bigrams, err)) != TT_OK)
        return st;

    /* Mean per-token entropy, summed in sample then step order (deterministic). */
    out->mean_token_entropy = NAN;
    if (entropies) {
        double sum = 0.0;
        long steps = 0;
        for (int i = 0; i < n; i++) {
            if (n_entropies[i] < 0)
                return tt_error_set(err, TT_ERR_ARG, "sample %d: negative entropy count %d", i,
                                    n_entropies[i]);
            if (n_entropies[i] > 0 && !entropies[i])
                return tt_error_set(err, TT_ERR_ARG, "sample %d: entropies is NULL", i);
            for (int j = 0; j < n_entropies[i]; j++) {
                double e = entropies[i][j];
                if (!isfinite(e) || e < 0)
                    return tt_error_set(err, TT_ERR_ARG, "sample %d step %d: entropy must be finite and >= 0, got %g",
                                        i, j, e);
                sum += e;
            }
            steps += n_entropies[i];
        }
        out->n_entropy_steps = steps;
        if (steps > 0) out->mean_token_entropy = sum / (double)steps;
    }
    return TT_OK;
}
