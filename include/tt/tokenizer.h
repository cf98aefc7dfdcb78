/*
 * tt/tokenizer.h — a character tokenizer over Unicode code points.
 *
 * The vocabulary is the sorted set of distinct code points of a text (UTF-8
 * decoded), ids 0..V-1 in code-point order, as the teaching package's
 * CharTokenizer.fit() builds it. There are no special tokens. U+0000 is not
 * supported (a vocabulary entry "\u0000" could not be read back: cJSON ends
 * C strings at NUL), so every tokenizer can be saved and loaded.
 *
 *     tt_tokenizer *tok;
 *     tt_tokenizer_fit(&tok, text, strlen(text), &err);
 *     int *ids; size_t n;
 *     tt_tokenizer_encode(tok, "hello", 5, &ids, &n, &err);   // caller frees ids
 *     char *s; tt_tokenizer_decode(tok, ids, n, &s, &err);      // caller frees s
 *
 * Thread safety: a tokenizer is immutable after creation; share it freely.
 */
#ifndef TT_TOKENIZER_H
#define TT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_tokenizer tt_tokenizer;

/* Builds the vocabulary from UTF-8 text. @return TT_OK, TT_ERR_ARG (NULL out,
 * NULL or empty text), TT_ERR_FORMAT (invalid UTF-8 or a NUL byte: the
 * message gives the byte offset), TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_fit(tt_tokenizer **out, const char *text, size_t len, tt_error *err);
/* From code points in id order (strictly increasing, valid scalar values,
 * not U+0000). @return TT_OK, TT_ERR_ARG (NULL out or cps, n < 1, a bad or
 * unordered code point), TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_from_codepoints(tt_tokenizer **out, const uint32_t *cps, int n,
                                              tt_error *err);
/* NULL-safe. */
TT_API void tt_tokenizer_free(tt_tokenizer *t);

/* V; 0 for a NULL tokenizer. */
TT_API int tt_tokenizer_vocab_size(const tt_tokenizer *t);
/* The code point of id (0 <= id < V); 0 for a NULL t or an id out of range. */
TT_API uint32_t tt_tokenizer_codepoint(const tt_tokenizer *t, int id);
/* The id of a code point. No tt_error: the code says it all.
 * @return TT_OK, TT_ERR_ARG (NULL t or id), TT_ERR_RANGE (not in vocabulary). */
TT_API tt_status tt_tokenizer_id(const tt_tokenizer *t, uint32_t cp, int *id);

/* UTF-8 text to ids (*ids malloc'ed, caller frees; *n may be 0).
 * @return TT_OK, TT_ERR_ARG (NULL t, ids or n; NULL text with len > 0),
 * TT_ERR_FORMAT (invalid UTF-8), TT_ERR_RANGE (a character not in the
 * vocabulary: the message shows it and its offset), TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_encode(const tt_tokenizer *t, const char *text, size_t len, int **ids,
                                     size_t *n, tt_error *err);
/* ids to NUL-terminated UTF-8 (*text malloc'ed, caller frees).
 * @return TT_OK, TT_ERR_ARG (NULL t or text; NULL ids with n > 0),
 * TT_ERR_RANGE (unknown id), TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_decode(const tt_tokenizer *t, const int *ids, size_t n, char **text,
                                     tt_error *err);
/* Writes the UTF-8 of one id into buf (at least 5 bytes), NUL-terminated;
 * returns the byte count, or 0 for an unknown id or a NULL t (buf then holds
 * ""). A NULL buf returns 0 and writes nothing. */
TT_API int tt_tokenizer_token_utf8(const tt_tokenizer *t, int id, char buf[5]);

/* The vocabulary as a JSON array of one-character strings in id order
 * (*json malloc'ed, caller frees). This is the `vocab` metadata of a
 * checkpoint. @return TT_OK, TT_ERR_ARG (NULL t or json), TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_to_json(const tt_tokenizer *t, char **json, tt_error *err);
/* Parses such an array. Every entry must be a string of exactly one code
 * point: "", "ab" and "\u0000" (U+0000) are TT_ERR_FORMAT, and so is an
 * unsorted or repeated entry. *out is the caller's (tt_tokenizer_free); NULL
 * on error. @return TT_OK, TT_ERR_ARG (NULL out or json), TT_ERR_FORMAT,
 * TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_from_json(tt_tokenizer **out, const char *json, tt_error *err);
/* Saves / loads the JSON array to a file (atomic write).
 * @return TT_OK, TT_ERR_ARG (NULL t / out, NULL or empty path), TT_ERR_IO,
 * TT_ERR_FORMAT (load: the message starts with the path), TT_ERR_NOMEM. */
TT_API tt_status tt_tokenizer_save(const tt_tokenizer *t, const char *path, tt_error *err);
TT_API tt_status tt_tokenizer_load(tt_tokenizer **out, const char *path, tt_error *err);

/* Decodes one UTF-8 code point at s[0..len): returns its byte length (1-4)
 * and sets *cp, or returns 0 for an invalid or truncated sequence, and for
 * a NULL s or cp or len == 0. */
TT_API int tt_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Encodes cp into buf (4 bytes, not NUL-terminated); returns the length, or
 * 0 if cp is invalid (surrogate, > U+10FFFF) or buf is NULL. */
TT_API int tt_utf8_encode(uint32_t cp, char buf[4]);

#ifdef __cplusplus
}
#endif
#endif /* TT_TOKENIZER_H */
