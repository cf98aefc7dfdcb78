/*
 * fuzz_tokenizer — the UTF-8 character tokenizer on arbitrary bytes.
 *
 * Oracles (beyond "no crash, no leak, no UB"):
 *  - fit succeeds exactly when the bytes are non-empty, valid UTF-8 (checked by
 *    an independent strict decoder below: no overlongs, no surrogates, <= U+10FFFF);
 *  - encode(fit(text), text) succeeds, has one id per code point, and
 *    decode gives the text back byte for byte;
 *  - to_json / from_json round-trips the vocabulary;
 *  - from_json on the raw bytes never crashes, and a vocabulary it accepts is
 *    strictly increasing valid scalar values;
 *  - encoding the second half with a tokenizer fitted on the first half gives
 *    TT_OK or TT_ERR_RANGE/TT_ERR_FORMAT with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt/tokenizer.h"

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_tokenizer: check failed at line %d: %s\n",       \
                    __LINE__, #c);                                                 \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* Independent strict UTF-8 validation; returns the code point count or -1. */
static long ref_utf8_count(const unsigned char *s, size_t n) {
    long count = 0;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { len = 1; cp = c; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return -1;
        if (i + len > n) return -1;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
        i += len;
        count++;
    }
    return count;
}

static void check_vocab(const tt_tokenizer *t) {
    int V = tt_tokenizer_vocab_size(t);
    CHECK(V >= 1);
    for (int i = 0; i < V; i++) {
        uint32_t cp = tt_tokenizer_codepoint(t, i);
        CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF));
        if (i) CHECK(cp > tt_tokenizer_codepoint(t, i - 1));
        int id = -1;
        CHECK(tt_tokenizer_id(t, cp, &id) == TT_OK && id == i);
        char buf[5];
        int nb = tt_tokenizer_token_utf8(t, i, buf);
        CHECK(nb >= 1 && nb <= 4 && buf[nb] == '\0');
    }
    char buf[5];
    CHECK(tt_tokenizer_token_utf8(t, V, buf) == 0);
    CHECK(tt_tokenizer_token_utf8(t, -1, buf) == 0);
}

static void roundtrip_json(const tt_tokenizer *t) {
    char *json = NULL;
    tt_error err;
    tt_status s = tt_tokenizer_to_json(t, &json, &err);
    if (s == TT_ERR_NOMEM) return;
    CHECK(s == TT_OK && json);
    tt_tokenizer *u = NULL;
    s = tt_tokenizer_from_json(&u, json, &err);
    if (s == TT_OK) {
        CHECK(tt_tokenizer_vocab_size(u) == tt_tokenizer_vocab_size(t));
        for (int i = 0; i < tt_tokenizer_vocab_size(t); i++)
            CHECK(tt_tokenizer_codepoint(u, i) == tt_tokenizer_codepoint(t, i));
    } else {
        /* Only acceptable failure of our own output: out of memory. */
        CHECK(s == TT_ERR_NOMEM);
    }
    tt_tokenizer_free(u);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    tt_error err;
    long ref = ref_utf8_count(data, size);

    /* tt_utf8_decode agrees with the reference on the first code point. */
    uint32_t cp0 = 0;
    int n0 = tt_utf8_decode(text, size, &cp0);
    if (size > 0) {
        long r0 = -1;
        for (size_t l = 1; l <= 4 && l <= size; l++)
            if (ref_utf8_count(data, l) == 1) { r0 = (long)l; break; }
        CHECK(n0 == (r0 < 0 ? 0 : r0));
        if (n0 > 0) {
            char enc[4];
            CHECK(tt_utf8_encode(cp0, enc) == n0 && memcmp(enc, text, (size_t)n0) == 0);
        }
    } else {
        CHECK(n0 == 0);
    }

    tt_tokenizer *t = NULL;
    tt_status s = tt_tokenizer_fit(&t, text, size, &err);
    if (size == 0) CHECK(s == TT_ERR_ARG || s == TT_ERR_FORMAT);
    else if (ref < 0) CHECK(s == TT_ERR_FORMAT);
    else if (memchr(data, 0, size)) CHECK(s == TT_ERR_FORMAT); /* U+0000 is refused in a vocabulary */
    else CHECK(s == TT_OK || s == TT_ERR_NOMEM);
    if (s != TT_OK) {
        CHECK(t == NULL); /* nothing handed out */
        CHECK(err.msg[0] != '\0');
    } else {
        check_vocab(t);
        int *ids = NULL;
        size_t n = 0;
        s = tt_tokenizer_encode(t, text, size, &ids, &n, &err);
        CHECK(s == TT_OK || s == TT_ERR_NOMEM);
        if (s == TT_OK) {
            CHECK((long)n == ref);
            char *back = NULL;
            s = tt_tokenizer_decode(t, ids, n, &back, &err);
            CHECK(s == TT_OK || s == TT_ERR_NOMEM);
            if (s == TT_OK) CHECK(memcmp(back, text, size) == 0 && back[size] == '\0');
            free(back);
            /* An id out of range is an error, not a read out of bounds. */
            if (n > 0) {
                ids[n / 2] = tt_tokenizer_vocab_size(t) + (int)(data[0] & 7);
                back = NULL;
                CHECK(tt_tokenizer_decode(t, ids, n, &back, &err) == TT_ERR_RANGE);
                free(back);
                ids[n / 2] = -1 - (int)(data[0] & 7);
                back = NULL;
                CHECK(tt_tokenizer_decode(t, ids, n, &back, &err) == TT_ERR_RANGE);
                free(back);
            }
        }
        free(ids);
        roundtrip_json(t);
    }

    /* A tokenizer fitted on the first half, applied to the second half. */
    if (size >= 2) {
        tt_tokenizer *h = NULL;
        if (tt_tokenizer_fit(&h, text, size / 2, &err) == TT_OK) {
            int *ids = NULL;
            size_t n = 0;
            s = tt_tokenizer_encode(h, text + size / 2, size - size / 2, &ids, &n, &err);
            CHECK(s == TT_OK || s == TT_ERR_RANGE || s == TT_ERR_FORMAT || s == TT_ERR_NOMEM);
            if (s != TT_OK) CHECK(err.msg[0] != '\0');
            free(ids);
        }
        tt_tokenizer_free(h);
    }

    /* The raw bytes as a vocabulary JSON document. */
    char *z = malloc(size + 1);
    if (!z) return 0;
    memcpy(z, data, size);
    z[size] = '\0';
    tt_tokenizer *j = NULL;
    s = tt_tokenizer_from_json(&j, z, &err);
    if (s == TT_OK) {
        check_vocab(j);
        roundtrip_json(j);
    } else {
        CHECK(s == TT_ERR_FORMAT || s == TT_ERR_NOMEM || s == TT_ERR_ARG);
        CHECK(err.msg[0] != '\0');
    }
    tt_tokenizer_free(j);
    free(z);
    tt_tokenizer_free(t);
    return 0;
}
