/*
 * Character tokenizer over Unicode code points; see tt/tokenizer.h.
 * The vocabulary is a sorted array of code points; ids are indices into it.
 * Lookups below 0x80 go through a direct table, others through binary search.
 */
#include "tt/tokenizer.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

#define TT_MAX_CP 0x10FFFFu

struct tt_tokenizer {
    int n;          /* V */
    uint32_t *cps;  /* [V] strictly increasing */
    int ascii[128]; /* id of each ASCII code point, -1 if absent */
};

int tt_utf8_decode(const char *s, size_t len, uint32_t *cp) {
    if (!s || len == 0 || !cp) return 0;
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07u, min = 0x10000;
    else return 0;
    if (len < (size_t)n) return 0;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (u[i] & 0x3Fu);
    }
    if (v < min || v > TT_MAX_CP || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

int tt_utf8_encode(uint32_t cp, char buf[4]) {
    if (!buf) return 0;
    unsigned char *b = (unsigned char *)buf;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > TT_MAX_CP) return 0;
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static int valid_scalar(uint32_t cp) { return cp <= TT_MAX_CP && !(cp >= 0xD800 && cp <= 0xDFFF); }

/* Takes ownership of cps. */
static tt_status make(tt_tokenizer **out, uint32_t *cps, int n, tt_error *err) {
    tt_tokenizer *t = malloc(sizeof *t);
    if (!t) {
        free(cps);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a tokenizer");
    }
    t->n = n;
    t->cps = cps;
    for (int i = 0; i < 128; i++) t->ascii[i] = -1;
    for (int i = 0; i < n && cps[i] < 128; i++) t->ascii[cps[i]] = i;
    *out = t;
    return TT_OK;
}

tt_status tt_tokenizer_fit(tt_tokenizer **out, const char *text, size_t len, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "tokenizer output pointer is NULL");
    *out = NULL;
    if (!text || len == 0)
        return tt_error_set(err, TT_ERR_ARG, "cannot fit a tokenizer on an empty text");
    /* one bit per code point: 0x110000 / 8 = 136 KiB */
    unsigned char *seen = calloc((TT_MAX_CP + 1) / 8, 1);
    if (!seen) return tt_error_set(err, TT_ERR_NOMEM, "out of memory fitting a tokenizer");
    int n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = tt_utf8_decode(text + i, len - i, &cp);
        if (k == 0) {
            free(seen);
            return tt_error_set(err, TT_ERR_FORMAT, "invalid UTF-8 at byte offset %zu", i);
        }
        if (cp == 0) { /* could not be saved: a vocabulary entry "\u0000" reads back as "" */
            free(seen);
            return tt_error_set(err, TT_ERR_FORMAT,
                                "NUL byte (U+0000) at byte offset %zu: not supported in a vocabulary", i);
        }
        if (!(seen[cp >> 3] & (1u << (cp & 7)))) {
            seen[cp >> 3] |= (unsigned char)(1u << (cp & 7));
            n++;
        }
        i += (size_t)k;
    }
    uint32_t *cps = malloc((size_t)n * sizeof *cps);
    if (!cps) {
        free(seen);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory fitting a tokenizer");
    }
    int j = 0;
    for (uint32_t b = 0; b < (TT_MAX_CP + 1) / 8; b++) {
        if (!seen[b]) continue;
        for (uint32_t bit = 0; bit < 8; bit++)
            if (seen[b] & (1u << bit)) cps[j++] = b * 8 + bit;
    }
    free(seen);
    return make(out, cps, n, err);
}

tt_status tt_tokenizer_from_codepoints(tt_tokenizer **out, const uint32_t *cps, int n,
                                       tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "tokenizer output pointer is NULL");
    *out = NULL;
    if (!cps) return tt_error_set(err, TT_ERR_ARG, "from_codepoints: cps is NULL");
    if (n <= 0) return tt_error_set(err, TT_ERR_ARG, "vocabulary size must be > 0, got %d", n);
    for (int i = 0; i < n; i++) {
        if (cps[i] == 0)
            return tt_error_set(err, TT_ERR_ARG,
                                "code point U+0000 (id %d) is not supported in a vocabulary", i);
        if (!valid_scalar(cps[i]))
            return tt_error_set(err, TT_ERR_ARG, "code point U+%04X (id %d) is not a Unicode scalar value",
                                (unsigned)cps[i], i);
        if (i > 0 && cps[i] <= cps[i - 1])
            return tt_error_set(err, TT_ERR_ARG,
                                "code points must be strictly increasing: U+%04X (id %d) after U+%04X",
                                (unsigned)cps[i], i, (unsigned)cps[i - 1]);
    }
    uint32_t *copy = malloc((size_t)n * sizeof *copy);
    if (!copy) return tt_error_set(err, TT_ERR_NOMEM, "out of memory creating a tokenizer");
    memcpy(copy, cps, (size_t)n * sizeof *copy);
    return make(out, copy, n, err);
}

void tt_tokenizer_free(tt_tokenizer *t) {
    if (!t) return;
    free(t->cps);
    free(t);
}

int tt_tokenizer_vocab_size(const tt_tokenizer *t) { return t ? t->n : 0; }

uint32_t tt_tokenizer_codepoint(const tt_tokenizer *t, int id) {
    return (t && id >= 0 && id < t->n) ? t->cps[id] : 0;
}

static int lookup(const tt_tokenizer *t, uint32_t cp) {
    if (cp < 128) return t->ascii[cp];
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (t->cps[mid] == cp) return mid;
        if (t->cps[mid] < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

tt_status tt_tokenizer_id(const tt_tokenizer *t, uint32_t cp, int *id) {
    if (!t || !id) return TT_ERR_ARG; /* no tt_error parameter: the code is the message */
    int i = lookup(t, cp);
    if (i < 0) return TT_ERR_RANGE;
    *id = i;
    return TT_OK;
}

/* A printable rendering of cp for messages: 'c' or U+XXXX. */
static void describe_cp(uint32_t cp, char out[16]) {
    char u[5] = {0};
    if (cp >= 0x20 && cp != 0x7F && cp != '\'' && tt_utf8_encode(cp, u) > 0)
        snprintf(out, 16, "'%s'", u);
    else
        snprintf(out, 16, "U+%04X", (unsigned)cp);
}

tt_status tt_tokenizer_encode(const tt_tokenizer *t, const char *text, size_t len, int **ids,
                              size_t *n, tt_error *err) {
    if (!t) return tt_error_set(err, TT_ERR_ARG, "encode: t is NULL");
    if (!ids) return tt_error_set(err, TT_ERR_ARG, "encode: ids is NULL");
    if (!n) return tt_error_set(err, TT_ERR_ARG, "encode: n is NULL");
    *ids = NULL;
    *n = 0;
    if (!text && len) return tt_error_set(err, TT_ERR_ARG, "encode: text is NULL (len = %zu)", len);
    int *out = malloc((len ? len : 1) * sizeof *out); /* at most one id per byte */
    if (!out) return tt_error_set(err, TT_ERR_NOMEM, "out of memory encoding %zu bytes", len);
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = tt_utf8_decode(text + i, len - i, &cp);
        if (k == 0) {
            free(out);
            return tt_error_set(err, TT_ERR_FORMAT, "invalid UTF-8 at byte offset %zu", i);
        }
        int id = lookup(t, cp);
        if (id < 0) {
            char d[16];
            describe_cp(cp, d);
            free(out);
            return tt_error_set(err, TT_ERR_RANGE,
                                "unknown character %s at byte offset %zu (not in the %d-character vocabulary)",
                                d, i, t->n);
        }
        out[m++] = id;
        i += (size_t)k;
    }
    *ids = out;
    *n = m;
    return TT_OK;
}

tt_status tt_tokenizer_decode(const tt_tokenizer *t, const int *ids, size_t n, char **text,
                              tt_error *err) {
    if (!t) return tt_error_set(err, TT_ERR_ARG, "decode: t is NULL");
    if (!text) return tt_error_set(err, TT_ERR_ARG, "decode: text is NULL");
    *text = NULL;
    if (!ids && n) return tt_error_set(err, TT_ERR_ARG, "decode: ids is NULL (n = %zu)", n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n)
            return tt_error_set(err, TT_ERR_RANGE, "unknown token id %d at position %zu (vocabulary size %d)",
                                ids[i], i, t->n);
    char *s = malloc(n * 4 + 1);
    if (!s) return tt_error_set(err, TT_ERR_NOMEM, "out of memory decoding %zu ids", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += (size_t)tt_utf8_encode(t->cps[ids[i]], s + m);
    s[m] = '\0';
    *text = s;
    return TT_OK;
}

int tt_tokenizer_token_utf8(const tt_tokenizer *t, int id, char buf[5]) {
    if (!buf) return 0;
    if (!t || id < 0 || id >= t->n) {
        if (buf) buf[0] = '\0';
        return 0;
    }
    int k = tt_utf8_encode(t->cps[id], buf);
    buf[k] = '\0';
    return k;
}

tt_status tt_tokenizer_to_json(const tt_tokenizer *t, char **json, tt_error *err) {
    if (!json) return tt_error_set(err, TT_ERR_ARG, "tokenizer_to_json: json is NULL");
    *json = NULL;
    if (!t) return tt_error_set(err, TT_ERR_ARG, "tokenizer_to_json: t is NULL");
    /* worst case per entry: "\u00XX", = 9 bytes; 4-byte UTF-8 + quotes + comma = 7 */
    char *s = malloc((size_t)t->n * 10 + 3);
    if (!s) return tt_error_set(err, TT_ERR_NOMEM, "out of memory writing the vocabulary");
    size_t m = 0;
    s[m++] = '[';
    for (int i = 0; i < t->n; i++) {
        uint32_t cp = t->cps[i];
        if (i) s[m++] = ',';
        s[m++] = '"';
        if (cp == '"' || cp == '\\') {
            s[m++] = '\\';
            s[m++] = (char)cp;
        } else if (cp < 0x20 || cp == 0x7F) {
            m += (size_t)snprintf(s + m, 7, "\\u%04x", (unsigned)cp);
        } else {
            m += (size_t)tt_utf8_encode(cp, s + m);
        }
        s[m++] = '"';
    }
    s[m++] = ']';
    s[m] = '\0';
    *json = s;
    return TT_OK;
}

/* Whether a JSON text has a \u0000 escape inside a string: cJSON ends the
 * C string there, so "a\u0000b" would otherwise read as "a". */
static bool has_nul_escape(const char *json) {
    bool in_str = false;
    for (const char *p = json; *p; p++) {
        if (!in_str) {
            if (*p == '"') in_str = true;
            continue;
        }
        if (*p == '"') {
            in_str = false;
        } else if (*p == '\\') {
            if (p[1] == 'u' && p[2] == '0' && p[3] == '0' && p[4] == '0' && p[5] == '0') return true;
            if (p[1]) p++; /* skip the escaped character */
        }
    }
    return false;
}

tt_status tt_tokenizer_from_json(tt_tokenizer **out, const char *json, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "tokenizer_from_json: out is NULL");
    *out = NULL;
    if (!json) return tt_error_set(err, TT_ERR_ARG, "tokenizer_from_json: json is NULL");
    if (has_nul_escape(json))
        return tt_error_set(err, TT_ERR_FORMAT, "vocabulary holds U+0000 (\\u0000): not supported");
    cJSON *root = cJSON_Parse(json);
    if (!root) return tt_error_set(err, TT_ERR_FORMAT, "vocabulary is not valid JSON");
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return tt_error_set(err, TT_ERR_FORMAT, "vocabulary must be a JSON array of characters");
    }
    int n = cJSON_GetArraySize(root);
    if (n <= 0) {
        cJSON_Delete(root);
        return tt_error_set(err, TT_ERR_FORMAT, "vocabulary is empty");
    }
    uint32_t *cps = malloc((size_t)n * sizeof *cps);
    if (!cps) {
        cJSON_Delete(root);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory reading the vocabulary");
    }
    int i = 0;
    tt_status st = TT_OK;
    for (cJSON *e = root->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring) {
            st = tt_error_set(err, TT_ERR_FORMAT, "vocabulary entry %d is not a string", i);
            break;
        }
        const char *v = e->valuestring;
        size_t len = strlen(v);
        uint32_t cp = 0;
        /* "" and "\u0000" (which cJSON reads as an empty C string) are
         * rejected: U+0000 is not supported in a vocabulary */
        int k = len > 0 ? tt_utf8_decode(v, len, &cp) : 0;
        if (len == 0 || k == 0 || (size_t)k != len || cp == 0) {
            st = tt_error_set(err, TT_ERR_FORMAT,
                              "vocabulary entry %d must be exactly one character (not U+0000), got %zu bytes",
                              i, len);
            break;
        }
        if (i > 0 && cp <= cps[i - 1]) {
            st = tt_error_set(err, TT_ERR_FORMAT,
                              "vocabulary entry %d (U+%04X) is not in increasing code-point order",
                              i, (unsigned)cp);
            break;
        }
        cps[i] = cp;
    }
    cJSON_Delete(root);
    if (st != TT_OK) {
        free(cps);
        return st;
    }
    return make(out, cps, n, err);
}

tt_status tt_tokenizer_save(const tt_tokenizer *t, const char *path, tt_error *err) {
    if (!t) return tt_error_set(err, TT_ERR_ARG, "tokenizer_save: t is NULL");
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "tokenizer_save: path is NULL or empty");
    char *json;
    tt_status st = tt_tokenizer_to_json(t, &json, err);
    if (st != TT_OK) return st;
    tt_io_chunk c[2] = {{json, strlen(json)}, {"\n", 1}};
    st = tt_io_write_atomic(path, c, 2, err);
    free(json);
    return st;
}

tt_status tt_tokenizer_load(tt_tokenizer **out, const char *path, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "tokenizer output pointer is NULL");
    *out = NULL;
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "tokenizer_load: path is NULL or empty");
    char *data;
    size_t len;
    tt_status st = tt_io_read_file(path, &data, &len, err);
    if (st != TT_OK) return st;
    if (strlen(data) != len) {
        free(data);
        return tt_error_set(err, TT_ERR_FORMAT, "'%s' contains a NUL byte: not a vocabulary file", path);
    }
    st = tt_tokenizer_from_json(out, data, err);
    free(data);
    if (st == TT_ERR_FORMAT && err) {
        char msg[TT_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        tt_error_set(err, TT_ERR_FORMAT, "%s: %s", path, msg);
    }
    return st;
}
