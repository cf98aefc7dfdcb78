/*
 * safetensors checkpoints; see tt/checkpoint.h and docs/file-formats.md.
 *
 * Layout: u64 little-endian header length H, H bytes of JSON (padded with
 * spaces to a multiple of 8 so that the data is 8-byte aligned), then the
 * tensor bytes, in the model's tensor-table order, contiguous.
 * Header: {"__metadata__": {"format": "tiny-transformer", "format_version": "1",
 *          "config": "<JSON object>", "vocab": "<JSON array>"},
 *          "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, ...}
 * (safetensors metadata values are strings, so config and vocab are JSON text.)
 * Optional training record (tt_train_info), each a string when known:
 * train_seq_len, train_steps, train_tokens, train_val_loss, train_data_sha256.
 */
#include "tt/checkpoint.h"

#include <cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "model_internal.h"
#include "tensor_table.h"

#define MAX_HEADER_BYTES (100u * 1024u * 1024u) /* the safetensors limit */

/* ---- strict JSON ---------------------------------------------------------- */

static int key_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice in an object of the tree (recursively),
 * or NULL. *nomem is set when the check could not allocate. */
static const char *duplicate_key(const cJSON *node, int *nomem) {
    if (cJSON_IsObject(node)) {
        size_t n = 0;
        for (const cJSON *c = node->child; c; c = c->next) n++;
        if (n > 1) {
            const char **keys = malloc(n * sizeof *keys);
            if (!keys) {
                *nomem = 1;
                return NULL;
            }
            size_t k = 0;
            for (const cJSON *c = node->child; c; c = c->next) keys[k++] = c->string ? c->string : "";
            qsort(keys, n, sizeof *keys, key_cmp);
            const char *dup = NULL;
            for (size_t i = 1; i < n && !dup; i++)
                if (!strcmp(keys[i - 1], keys[i])) dup = keys[i];
            free(keys);
            if (dup) return dup;
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node))
        for (const cJSON *c = node->child; c; c = c->next) {
            const char *d = duplicate_key(c, nomem);
            if (d || *nomem) return d;
        }
    return NULL;
}

/* Parses text[0..len) as one JSON value, strictly: no byte-order mark, only
 * blanks after the value (the safetensors header is padded with spaces), no
 * key twice in an object (PyTorch's reader keeps the last, cJSON the first:
 * such a file means two things). what names the text in messages.
 * @return the tree (caller deletes) or NULL with err set (TT_ERR_FORMAT, or
 * TT_ERR_NOMEM). */
static cJSON *parse_strict(const char *text, size_t len, const char *path, const char *what, tt_error *err) {
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF) {
        tt_error_set(err, TT_ERR_FORMAT, "'%s': %s starts with a byte-order mark", path, what);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        tt_error_set(err, TT_ERR_FORMAT, "'%s': %s is not valid JSON", path, what);
        return NULL;
    }
    for (const char *p = end; p && p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            tt_error_set(err, TT_ERR_FORMAT, "'%s': %s has trailing bytes after the JSON value (at byte %zu)",
                         path, what, (size_t)(p - text));
            return NULL;
        }
    int nomem = 0;
    const char *dup = duplicate_key(root, &nomem);
    if (dup || nomem) {
        if (nomem) tt_error_set(err, TT_ERR_NOMEM, "out of memory checking %s of '%s'", what, path);
        else tt_error_set(err, TT_ERR_FORMAT, "'%s': %s has the key '%.64s' twice", path, what, dup);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* ---- config <-> JSON ---------------------------------------------------- */

/* Shortest %g rendering of f that reads back as the same float. */
static void float_str(float f, char buf[32]) {
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, 32, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) return;
    }
}

static char *config_to_json(const tt_model_config *c) {
    char d[32];
    float_str(c->dropout, d);
    char *s = malloc(512);
    if (!s) return NULL;
    snprintf(s, 512,
             "{\"vocab_size\":%d,\"d_model\":%d,\"n_heads\":%d,\"n_layers\":%d,\"d_ff\":%d,"
             "\"max_len\":%d,\"dropout\":%s,\"positional\":\"%s\",\"tie_weights\":%s}",
             c->vocab_size, c->d_model, c->n_heads, c->n_layers, c->d_ff, c->max_len, d,
             c->positional == TT_POS_LEARNED ? "learned" : "sinusoidal",
             c->tie_weights ? "true" : "false");
    return s;
}

static tt_status get_int(const cJSON *o, const char *key, int *out, tt_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return tt_error_set(err, TT_ERR_FORMAT, "checkpoint config has no '%s'", key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > 1e9)
        return tt_error_set(err, TT_ERR_FORMAT, "checkpoint config '%s' must be a positive integer",
                            key);
    *out = (int)v->valuedouble;
    return TT_OK;
}

static tt_status config_from_json(const char *json, const char *path, tt_model_config *c, tt_error *err) {
    cJSON *o = parse_strict(json, strlen(json), path, "the metadata config", err);
    if (!o) return err && err->code == TT_ERR_NOMEM ? TT_ERR_NOMEM : TT_ERR_FORMAT;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return tt_error_set(err, TT_ERR_FORMAT, "checkpoint config is not a JSON object");
    }
    memset(c, 0, sizeof *c);
    tt_status st = TT_OK;
    if ((st = get_int(o, "vocab_size", &c->vocab_size, err)) ||
        (st = get_int(o, "d_model", &c->d_model, err)) ||
        (st = get_int(o, "n_heads", &c->n_heads, err)) ||
        (st = get_int(o, "n_layers", &c->n_layers, err)) ||
        (st = get_int(o, "d_ff", &c->d_ff, err)) || (st = get_int(o, "max_len", &c->max_len, err))) {
        cJSON_Delete(o);
        return st;
    }
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(o, "dropout");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(o, "positional");
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(o, "tie_weights");
    if (!dr || !cJSON_IsNumber(dr))
        st = tt_error_set(err, TT_ERR_FORMAT, "checkpoint config 'dropout' must be a number");
    else if (!pos || !cJSON_IsString(pos) ||
             (strcmp(pos->valuestring, "sinusoidal") && strcmp(pos->valuestring, "learned")))
        st = tt_error_set(err, TT_ERR_FORMAT,
                          "checkpoint config 'positional' must be \"sinusoidal\" or \"learned\"");
    else if (tie && !cJSON_IsBool(tie))
        st = tt_error_set(err, TT_ERR_FORMAT, "checkpoint config 'tie_weights' must be true or false");
    if (st == TT_OK) {
        c->dropout = (float)dr->valuedouble;
        c->positional = strcmp(pos->valuestring, "learned") ? TT_POS_SINUSOIDAL : TT_POS_LEARNED;
        c->tie_weights = tie ? cJSON_IsTrue(tie) : true;
        tt_error e2;
        if (tt_model_config_validate(c, &e2) != TT_OK)
            st = tt_error_set(err, TT_ERR_FORMAT, "checkpoint config is invalid: %s", e2.msg);
    }
    cJSON_Delete(o);
    return st;
}

/* ---- save ---------------------------------------------------------------- */

/* cJSON_AddItemToObject does not take ownership when it fails (out of memory
 * copying the key): the item would leak. This adds item to o, or frees it.
 * (The cJSON_Add<Type>ToObject helpers already free what they created on
 * failure.) @return 1 if added, 0 if item was NULL or the add failed. */
static int add_owned(cJSON *o, const char *key, cJSON *item) {
    if (!item) return 0;
    if (!cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return 0;
    }
    return 1;
}

/* The known fields of the training record, as strings. @return 1, or 0 when
 * out of memory. */
static int add_train_info(cJSON *meta, const tt_train_info *t) {
    char b[32];
    int ok = 1;
    if (t->seq_len > 0) {
        snprintf(b, sizeof b, "%d", t->seq_len);
        ok = ok && cJSON_AddStringToObject(meta, "train_seq_len", b);
    }
    if (t->steps > 0) {
        snprintf(b, sizeof b, "%lld", t->steps);
        ok = ok && cJSON_AddStringToObject(meta, "train_steps", b);
    }
    if (t->tokens > 0) {
        snprintf(b, sizeof b, "%lld", t->tokens);
        ok = ok && cJSON_AddStringToObject(meta, "train_tokens", b);
    }
    if (!isnan(t->val_loss)) {
        float_str(t->val_loss, b);
        ok = ok && cJSON_AddStringToObject(meta, "train_val_loss", b);
    }
    if (t->data_sha256[0]) ok = ok && cJSON_AddStringToObject(meta, "train_data_sha256", t->data_sha256);
    return ok;
}

tt_status tt_checkpoint_save(const char *path, const tt_model *m, const tt_tokenizer *tok,
                             tt_error *err) {
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "checkpoint_save: path is NULL or empty");
    if (!m) return tt_error_set(err, TT_ERR_ARG, "checkpoint_save: m is NULL");
    const tt_model_config *cfg = tt_model_get_config(m);
    if (tok && tt_tokenizer_vocab_size(tok) != cfg->vocab_size)
        return tt_error_set(err, TT_ERR_ARG, "tokenizer has %d characters but the model vocab_size is %d",
                            tt_tokenizer_vocab_size(tok), cfg->vocab_size);
    size_t nt = tt_model_num_tensors(m);
    tt_io_chunk *chunks = calloc(nt + 2, sizeof *chunks);
    char *cfg_json = config_to_json(cfg), *vocab_json = NULL, *hdr = NULL;
    cJSON *root = cJSON_CreateObject();
    tt_status st = TT_OK;
    if (!chunks || !cfg_json || !root) {
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory saving '%s'", path);
        goto done;
    }
    if (tok && (st = tt_tokenizer_to_json(tok, &vocab_json, err)) != TT_OK) goto done;
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    char ver[16];
    snprintf(ver, sizeof ver, "%d", TT_CHECKPOINT_FORMAT_VERSION);
    int ok = meta && cJSON_AddStringToObject(meta, "format", TT_CHECKPOINT_FORMAT) &&
             cJSON_AddStringToObject(meta, "format_version", ver) &&
             cJSON_AddStringToObject(meta, "config", cfg_json) &&
             (!vocab_json || cJSON_AddStringToObject(meta, "vocab", vocab_json)) &&
             add_train_info(meta, tt_model_train_info(m));
    size_t off = 0;
    for (size_t i = 0; i < nt && ok; i++) {
        tt_tensor_info ti;
        if (tt_model_tensor(m, i, &ti) != TT_OK) {
            ok = 0;
            break;
        }
        cJSON *t = cJSON_AddObjectToObject(root, ti.name);
        double shape[2] = {(double)ti.shape[0], (double)ti.shape[1]};
        double offs[2] = {(double)off, (double)(off + ti.numel * sizeof(float))};
        ok = t && cJSON_AddStringToObject(t, "dtype", "F32") &&
             add_owned(t, "shape", cJSON_CreateDoubleArray(shape, ti.ndim)) &&
             add_owned(t, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        chunks[i + 2].data = ti.data;
        chunks[i + 2].len = ti.numel * sizeof(float);
        off += ti.numel * sizeof(float);
    }
    if (!ok || !(hdr = cJSON_PrintUnformatted(root))) {
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory building the header of '%s'", path);
        goto done;
    }
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    char *ph = malloc(padded + 8);
    if (!ph) {
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory saving '%s'", path);
        goto done;
    }
    for (int b = 0; b < 8; b++) ph[b] = (char)(((uint64_t)padded >> (8 * b)) & 0xFF);
    memcpy(ph + 8, hdr, hlen);
    memset(ph + 8 + hlen, ' ', padded - hlen);
    chunks[0].data = ph;
    chunks[0].len = padded + 8;
    /* chunks[1] stays empty; tensors follow in table order */
    st = tt_io_write_atomic(path, chunks, nt + 2, err);
    free(ph);
done:
    cJSON_Delete(root);
    free(hdr);
    free(cfg_json);
    free(vocab_json);
    free(chunks);
    return st;
}

/* ---- load ---------------------------------------------------------------- */

typedef struct {
    FILE *f;
    uint64_t file_size;
    uint64_t header_len;
    cJSON *root;
} header;

static void header_close(header *h) {
    if (h->f) fclose(h->f);
    cJSON_Delete(h->root);
    memset(h, 0, sizeof *h);
}

static tt_status header_open(header *h, const char *path, tt_error *err) {
    memset(h, 0, sizeof *h);
    if (!path || !*path) return tt_error_set(err, TT_ERR_ARG, "checkpoint path is NULL or empty");
    struct stat stt;
    if (stat(path, &stt) != 0)
        return tt_error_set(err, TT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(stt.st_mode)) return tt_error_set(err, TT_ERR_IO, "'%s' is not a regular file", path);
    h->f = fopen(path, "rb");
    if (!h->f) return tt_error_set(err, TT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    h->file_size = (uint64_t)stt.st_size;
    unsigned char lenb[8];
    if (h->file_size < 8 || fread(lenb, 1, 8, h->f) != 8) {
        header_close(h);
        return tt_error_set(err, TT_ERR_FORMAT, "'%s' is too short for a safetensors file (%llu bytes)",
                            path, (unsigned long long)stt.st_size);
    }
    for (int b = 7; b >= 0; b--) h->header_len = (h->header_len << 8) | lenb[b];
    if (h->header_len < 2 || h->header_len > h->file_size - 8 || h->header_len > MAX_HEADER_BYTES) {
        unsigned long long hl = (unsigned long long)h->header_len, fs = (unsigned long long)h->file_size;
        header_close(h);
        return tt_error_set(err, TT_ERR_FORMAT,
                            "'%s': header length %llu does not fit the file size %llu (not a safetensors file?)",
                            path, hl, fs);
    }
    char *text = malloc((size_t)h->header_len + 1);
    if (!text) {
        header_close(h);
        return tt_error_set(err, TT_ERR_NOMEM, "out of memory reading the header of '%s'", path);
    }
    if (fread(text, 1, (size_t)h->header_len, h->f) != (size_t)h->header_len) {
        free(text);
        header_close(h);
        return tt_error_set(err, TT_ERR_IO, "cannot read the header of '%s'", path);
    }
    text[h->header_len] = '\0';
    if (strlen(text) != (size_t)h->header_len) {
        free(text);
        header_close(h);
        return tt_error_set(err, TT_ERR_FORMAT, "'%s': the header contains a NUL byte", path);
    }
    tt_error perr;
    h->root = parse_strict(text, (size_t)h->header_len, path, "the header", &perr);
    free(text);
    if (!h->root && perr.code == TT_ERR_NOMEM) {
        header_close(h);
        return tt_error_set(err, TT_ERR_NOMEM, "%s", perr.msg);
    }
    if (!h->root && strstr(perr.msg, "valid JSON") == NULL) {
        header_close(h);
        return tt_error_set(err, TT_ERR_FORMAT, "%s", perr.msg);
    }
    if (!h->root || !cJSON_IsObject(h->root)) {
        header_close(h);
        return tt_error_set(err, TT_ERR_FORMAT, "'%s': the header is not a JSON object", path);
    }
    return TT_OK;
}

/* A whole-string decimal integer in [lo, hi]. */
static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    if (!*s || *s == ' ' || *s == '+' || (*s == '-' && lo >= 0)) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* The optional training record (train_* keys); absent keys stay unknown. */
static tt_status read_train_info(const cJSON *meta, const char *path, const tt_model_config *cfg,
                                 tt_train_info *t, tt_error *err) {
    *t = tt_train_info_unknown();
    const cJSON *v;
    long long x;
    if ((v = cJSON_GetObjectItemCaseSensitive(meta, "train_seq_len"))) {
        if (!parse_ll(v->valuestring, 1, cfg->max_len, &x))
            return tt_error_set(err, TT_ERR_FORMAT,
                                "'%s': metadata train_seq_len \"%.40s\" is not an integer in [1, max_len %d]",
                                path, v->valuestring, cfg->max_len);
        t->seq_len = (int)x;
    }
    static const char *const counts[2] = {"train_steps", "train_tokens"};
    for (int i = 0; i < 2; i++)
        if ((v = cJSON_GetObjectItemCaseSensitive(meta, counts[i]))) {
            if (!parse_ll(v->valuestring, 0, LLONG_MAX, &x))
                return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata %s \"%.40s\" is not an integer >= 0",
                                    path, counts[i], v->valuestring);
            if (i == 0) t->steps = x;
            else t->tokens = x;
        }
    if ((v = cJSON_GetObjectItemCaseSensitive(meta, "train_val_loss"))) {
        char *end;
        const char *s = v->valuestring;
        float f = strtof(s, &end);
        if (!*s || *s == ' ' || *end || !isfinite(f))
            return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata train_val_loss \"%.40s\" is not a finite number",
                                path, s);
        t->val_loss = f;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(meta, "train_data_sha256"))) {
        const char *s = v->valuestring;
        size_t n = strlen(s);
        int ok = n == 64;
        for (size_t i = 0; i < n && ok; i++) {
            char c = (char)tolower((unsigned char)s[i]);
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            t->data_sha256[i] = c;
        }
        if (!ok)
            return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata train_data_sha256 is not 64 hex digits", path);
        t->data_sha256[64] = '\0';
    }
    return TT_OK;
}

/* config + vocab (and the training record, when info != NULL) from the
 * metadata. *tok may be NULL on input (not wanted). */
static tt_status read_meta(const header *h, const char *path, tt_model_config *cfg,
                           tt_tokenizer **tok, tt_train_info *info, tt_error *err) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(h->root, "__metadata__");
    if (!meta || !cJSON_IsObject(meta))
        return tt_error_set(err, TT_ERR_FORMAT, "'%s' has no __metadata__ (not a tiny-transformer checkpoint)",
                            path);
    for (const cJSON *e = meta->child; e; e = e->next)
        if (!cJSON_IsString(e))
            return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata value '%s' is not a string", path,
                                e->string ? e->string : "?");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(meta, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(meta, "format_version");
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(meta, "config");
    const cJSON *vj = cJSON_GetObjectItemCaseSensitive(meta, "vocab");
    if (!fmt || strcmp(fmt->valuestring, TT_CHECKPOINT_FORMAT))
        return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata format is not \"%s\"", path,
                            TT_CHECKPOINT_FORMAT);
    char vbuf[16];
    snprintf(vbuf, sizeof vbuf, "%d", TT_CHECKPOINT_FORMAT_VERSION);
    if (!ver || strcmp(ver->valuestring, vbuf))
        return tt_error_set(err, TT_ERR_FORMAT, "'%s': unsupported format_version %s%s%s (expected %s)",
                            path, ver ? "\"" : "", ver ? ver->valuestring : "(missing)",
                            ver ? "\"" : "", vbuf);
    if (!cj) return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata has no config", path);
    tt_status st = config_from_json(cj->valuestring, path, cfg, err);
    if (st != TT_OK) return st;
    tt_train_info ti;
    if ((st = read_train_info(meta, path, cfg, &ti, err)) != TT_OK) return st;
    if (info) *info = ti;
    if (!vj) {
        if (tok) return tt_error_set(err, TT_ERR_FORMAT, "'%s': metadata has no vocab", path);
        return TT_OK;
    }
    tt_tokenizer *t = NULL;
    if ((st = tt_tokenizer_from_json(&t, vj->valuestring, err)) != TT_OK) return st;
    /* what the vocabulary parser lets through: a BOM, trailing bytes, a key twice */
    cJSON *vcheck = parse_strict(vj->valuestring, strlen(vj->valuestring), path, "the metadata vocab", err);
    if (!vcheck) {
        tt_tokenizer_free(t);
        return err && err->code == TT_ERR_NOMEM ? TT_ERR_NOMEM : TT_ERR_FORMAT;
    }
    cJSON_Delete(vcheck);
    if (tt_tokenizer_vocab_size(t) != cfg->vocab_size) {
        int n = tt_tokenizer_vocab_size(t);
        tt_tokenizer_free(t);
        return tt_error_set(err, TT_ERR_FORMAT,
                            "'%s': vocab has %d characters but config vocab_size (the embedding rows) is %d",
                            path, n, cfg->vocab_size);
    }
    if (tok) *tok = t;
    else tt_tokenizer_free(t);
    return TT_OK;
}

static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

tt_status tt_checkpoint_read_config(const char *path, tt_model_config *cfg, tt_tokenizer **tok,
                                    tt_error *err) {
    if (tok) *tok = NULL;
    if (!cfg) return tt_error_set(err, TT_ERR_ARG, "checkpoint_read_config: cfg is NULL");
    header h;
    tt_status st = header_open(&h, path, err);
    if (st != TT_OK) return st;
    st = read_meta(&h, path, cfg, tok, NULL, err);
    header_close(&h);
    return st;
}

tt_status tt_checkpoint_load(const char *path, tt_model **mout, tt_tokenizer **tok, tt_error *err) {
    if (tok) *tok = NULL;
    if (!mout) return tt_error_set(err, TT_ERR_ARG, "checkpoint_load: m is NULL");
    *mout = NULL;
    header h;
    tt_status st = header_open(&h, path, err);
    if (st != TT_OK) return st;
    tt_model_config cfg;
    tt_tokenizer *t = NULL;
    tt_model *m = NULL;
    span *spans = NULL;
    unsigned char *loaded = NULL;
    tt_train_info info;
    if ((st = read_meta(&h, path, &cfg, tok ? &t : NULL, &info, err)) != TT_OK) goto fail;
    {
        /* the bytes the config implies, against the file, before allocating */
        const uint64_t have = h.file_size - 8 - h.header_len;
        const size_t P = tt_model_config_num_params(&cfg);
        if (P == SIZE_MAX || P > have / sizeof(float)) {
            st = tt_error_set(err, TT_ERR_FORMAT,
                              "'%s': its config (d_model %d, n_layers %d, d_ff %d, vocab %d, max_len %d) needs "
                              "%s%llu bytes of tensor data but the file holds %llu",
                              path, cfg.d_model, cfg.n_layers, cfg.d_ff, cfg.vocab_size, cfg.max_len,
                              P == SIZE_MAX ? "more than " : "",
                              (unsigned long long)(P == SIZE_MAX ? SIZE_MAX : P * sizeof(float)),
                              (unsigned long long)have);
            goto fail;
        }
    }
    tt_error e2;
    /* no initialisation: every parameter is read from the file below */
    if (tt_model_create_uninit(&m, &cfg, &e2) != TT_OK) {
        st = tt_error_set(err, e2.code == TT_ERR_NOMEM ? TT_ERR_NOMEM : TT_ERR_FORMAT,
                          "'%s': cannot create the model: %s", path, e2.msg);
        goto fail;
    }
    if (tt_model_set_train_info(m, &info, &e2) != TT_OK) { /* read_train_info checked every field */
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s': %s", path, e2.msg);
        goto fail;
    }
    size_t nt = tt_model_num_tensors(m);
    int n_entries = cJSON_GetArraySize(h.root);
    spans = calloc((size_t)n_entries + 1, sizeof *spans);
    loaded = calloc(nt + 1, 1);
    if (!spans || !loaded) {
        st = tt_error_set(err, TT_ERR_NOMEM, "out of memory loading '%s'", path);
        goto fail;
    }
    const uint64_t data_start = 8 + h.header_len, data_len = h.file_size - data_start;
    size_t ns = 0;
    /* 1. every header entry: a known name, F32, the expected shape, offsets in range */
    for (const cJSON *e = h.root->child; e; e = e->next) {
        if (!e->string) continue;
        if (!strcmp(e->string, "__metadata__")) continue;
        tt_tensor_info ti;
        size_t idx = nt;
        for (size_t i = 0; i < nt; i++) {
            tt_model_tensor(m, i, &ti);
            if (!strcmp(ti.name, e->string)) {
                idx = i;
                break;
            }
        }
        if (idx == nt) {
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': unexpected tensor '%s' for this config", path,
                              e->string);
            goto fail;
        }
        if (loaded[idx]) {
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': tensor '%s' appears twice", path, e->string);
            goto fail;
        }
        loaded[idx] = 1;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of)) {
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': tensor '%s' needs dtype, shape and data_offsets",
                              path, e->string);
            goto fail;
        }
        if (strcmp(dt->valuestring, "F32")) {
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': tensor '%s' has dtype %s, expected F32", path,
                              e->string, dt->valuestring);
            goto fail;
        }
        int nd = cJSON_GetArraySize(sh);
        uint64_t dims[2] = {0, 0};
        int shape_ok = nd == ti.ndim;
        for (int d = 0; d < nd && shape_ok; d++)
            shape_ok = json_uint(cJSON_GetArrayItem(sh, d), &dims[d]) && dims[d] == ti.shape[d];
        if (!shape_ok) {
            char want[64], got[96] = "[";
            if (ti.ndim == 2) snprintf(want, sizeof want, "[%zu, %zu]", ti.shape[0], ti.shape[1]);
            else snprintf(want, sizeof want, "[%zu]", ti.shape[0]);
            for (int d = 0; d < nd && d < 4; d++) {
                const cJSON *x = cJSON_GetArrayItem(sh, d);
                size_t l = strlen(got);
                snprintf(got + l, sizeof got - l, "%s%.0f", d ? ", " : "",
                         cJSON_IsNumber(x) ? x->valuedouble : -1.0);
            }
            strncat(got, nd > 4 ? ", ...]" : "]", sizeof got - strlen(got) - 1);
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': tensor '%s' has shape %s, expected %s", path,
                              e->string, got, want);
            goto fail;
        }
        uint64_t b, en;
        if (cJSON_GetArraySize(of) != 2 || !json_uint(cJSON_GetArrayItem(of, 0), &b) ||
            !json_uint(cJSON_GetArrayItem(of, 1), &en) || en < b || en > data_len) {
            st = tt_error_set(err, TT_ERR_FORMAT,
                              "'%s': tensor '%s' has data_offsets out of range (data is %llu bytes)",
                              path, e->string, (unsigned long long)data_len);
            goto fail;
        }
        if (en - b != ti.numel * sizeof(float)) {
            st = tt_error_set(err, TT_ERR_FORMAT,
                              "'%s': tensor '%s' spans %llu bytes, its shape needs %zu", path, e->string,
                              (unsigned long long)(en - b), ti.numel * sizeof(float));
            goto fail;
        }
        spans[ns].begin = b;
        spans[ns].end = en;
        spans[ns].name = e->string;
        ns++;
    }
    /* 2. missing tensors: allowed only for a computed buffer or a tied alias
     * (the table's init; the weight it is tied to is required itself) */
    for (size_t i = 0; i < nt; i++) {
        if (loaded[i] || !tt_tensor_is_param(tt_model_tensor_entry(m, i)->def)) continue;
        tt_tensor_info ti;
        tt_model_tensor(m, i, &ti);
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s': missing tensor '%s'", path, ti.name);
        goto fail;
    }
    /* 3. offsets: sorted, they must tile [0, data_len) exactly */
    qsort(spans, ns, sizeof *spans, span_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < ns; i++) {
        if (spans[i].begin < at) {
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': tensor '%s' overlaps another tensor's bytes", path,
                              spans[i].name);
            goto fail;
        }
        if (spans[i].begin > at) {
            st = tt_error_set(err, TT_ERR_FORMAT, "'%s': a gap of unused bytes before tensor '%s'", path,
                              spans[i].name);
            goto fail;
        }
        at = spans[i].end;
    }
    if (at != data_len) {
        st = tt_error_set(err, TT_ERR_FORMAT, "'%s': %llu data bytes but the tensors cover %llu", path,
                          (unsigned long long)data_len, (unsigned long long)at);
        goto fail;
    }
    /* 4. read the bytes; a tied alias must hold the same values */
    for (size_t i = 0; i < nt; i++) {
        if (!loaded[i]) continue;
        tt_tensor_info ti;
        tt_model_tensor(m, i, &ti);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(h.root, ti.name);
        uint64_t b = 0;
        json_uint(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0), &b);
        /* a tied alias comes after the weight it shares memory with, read above */
        const int is_alias = tt_model_tensor_entry(m, i)->def->init == TT_INIT_TIED;
        float *dst = ti.data, *tmp = NULL;
        if (is_alias) {
            tmp = malloc(ti.numel * sizeof(float));
            if (!tmp) {
                st = tt_error_set(err, TT_ERR_NOMEM, "out of memory loading '%s'", path);
                goto fail;
            }
            dst = tmp;
        }
        if (fseeko(h.f, (off_t)(data_start + b), SEEK_SET) != 0 ||
            fread(dst, sizeof(float), ti.numel, h.f) != ti.numel) {
            free(tmp);
            st = tt_error_set(err, TT_ERR_IO, "'%s': cannot read tensor '%s'", path, ti.name);
            goto fail;
        }
        if (is_alias) {
            int same = memcmp(tmp, ti.data, ti.numel * sizeof(float)) == 0;
            free(tmp);
            if (!same) {
                st = tt_error_set(err, TT_ERR_FORMAT,
                                  "'%s': tensor '%s' differs from the weight it is tied to", path, ti.name);
                goto fail;
            }
        }
        for (size_t k = 0; k < ti.numel; k++)
            if (!isfinite(ti.data[k])) {
                st = tt_error_set(err, TT_ERR_FORMAT, "'%s': tensor '%s' holds a non-finite value at %zu",
                                  path, ti.name, k);
                goto fail;
            }
    }
    free(spans);
    free(loaded);
    header_close(&h);
    *mout = m;
    if (tok) *tok = t;
    return TT_OK;
fail:
    free(spans);
    free(loaded);
    tt_model_free(m);
    tt_tokenizer_free(t);
    header_close(&h);
    return st;
}
