/* Reader for the safetensors-style reference fixtures (see fixture.h). */
#include "fixture.h"

#include <cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int fx_fail(tt_fixture *fx, const char *msg, const char *arg) {
    snprintf(fx->error, sizeof fx->error, "%.40s%.200s", msg, arg ? arg : "");
    return -1;
}

static FILE *open_fixture(const char *file, char *path, size_t cap) {
    const char *env = getenv("TT_FIXTURES");
    const char *dirs[] = {"tests/fixtures", env, "../tests/fixtures", "../../tests/fixtures"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i]) continue;
        snprintf(path, cap, "%s/%s", dirs[i], file);
        FILE *f = fopen(path, "rb");
        if (f) return f;
    }
    return NULL;
}

int tt_fixture_load(tt_fixture *fx, const char *file) {
    memset(fx, 0, sizeof *fx);
    char path[200];
    FILE *f = open_fixture(file, path, sizeof path);
    if (!f) return fx_fail(fx, "fixture not found: tests/fixtures/", file);
    unsigned char len8[8];
    if (fread(len8, 1, 8, f) != 8) {
        fclose(f);
        return fx_fail(fx, "fixture too short: ", path);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    fseek(f, 0, SEEK_END);
    long total = ftell(f);
    if (total < 8 || hlen > (uint64_t)total - 8) {
        fclose(f);
        return fx_fail(fx, "fixture header length out of range: ", path);
    }
    size_t dlen = (size_t)total - 8 - (size_t)hlen;
    char *hdr = malloc((size_t)hlen + 1);
    fx->buf = malloc(dlen ? dlen : 1); /* malloc is aligned for float/int32 */
    fseek(f, 8, SEEK_SET);
    if (!hdr || !fx->buf || fread(hdr, 1, (size_t)hlen, f) != hlen || fread(fx->buf, 1, dlen, f) != dlen) {
        free(hdr);
        fclose(f);
        tt_fixture_free(fx);
        return fx_fail(fx, "fixture read failed: ", path);
    }
    fclose(f);
    hdr[hlen] = '\0';
    cJSON *j = cJSON_Parse(hdr);
    free(hdr);
    if (!j) {
        tt_fixture_free(fx);
        return fx_fail(fx, "fixture header is not JSON: ", path);
    }
    size_t n = (size_t)cJSON_GetArraySize(j);
    fx->tensors = calloc(n ? n : 1, sizeof *fx->tensors);
    for (cJSON *e = j->child; e && fx->tensors; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "config");
            if (cJSON_IsString(c)) fx->metadata_config = strdup(c->valuestring);
            continue;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
            cJSON_GetArraySize(sh) > 4 || (strcmp(dt->valuestring, "F32") && strcmp(dt->valuestring, "I32"))) {
            cJSON_Delete(j);
            tt_fixture_free(fx);
            return fx_fail(fx, "fixture tensor entry malformed: ", e->string);
        }
        tt_fixture_tensor *t = &fx->tensors[fx->n++];
        t->name = strdup(e->string);
        snprintf(t->dtype, sizeof t->dtype, "%s", dt->valuestring);
        t->ndim = cJSON_GetArraySize(sh);
        t->numel = 1;
        for (int i = 0; i < t->ndim; i++) {
            t->shape[i] = (size_t)cJSON_GetArrayItem(sh, i)->valuedouble;
            t->numel *= t->shape[i];
        }
        size_t b = (size_t)cJSON_GetArrayItem(of, 0)->valuedouble, en = (size_t)cJSON_GetArrayItem(of, 1)->valuedouble;
        if (en < b || en > dlen || en - b != t->numel * 4 || b % 4 != 0) {
            cJSON_Delete(j);
            tt_fixture_free(fx);
            return fx_fail(fx, "fixture tensor offsets out of range: ", e->string);
        }
        t->data = (char *)fx->buf + b;
    }
    cJSON_Delete(j);
    return 0;
}

void tt_fixture_free(tt_fixture *fx) {
    if (!fx) return;
    for (size_t i = 0; i < fx->n; i++) free(fx->tensors[i].name);
    free(fx->tensors);
    free(fx->metadata_config);
    free(fx->buf);
    fx->tensors = NULL;
    fx->metadata_config = NULL;
    fx->buf = NULL;
    fx->n = 0;
}

const tt_fixture_tensor *tt_fixture_get(const tt_fixture *fx, const char *name) {
    for (size_t i = 0; i < fx->n; i++)
        if (strcmp(fx->tensors[i].name, name) == 0) return &fx->tensors[i];
    return NULL;
}

const float *tt_fixture_f32(const tt_fixture *fx, const char *name, size_t *numel) {
    const tt_fixture_tensor *t = tt_fixture_get(fx, name);
    if (!t || strcmp(t->dtype, "F32") != 0) return NULL;
    if (numel) *numel = t->numel;
    return t->data;
}

const int32_t *tt_fixture_i32(const tt_fixture *fx, const char *name, size_t *numel) {
    const tt_fixture_tensor *t = tt_fixture_get(fx, name);
    if (!t || strcmp(t->dtype, "I32") != 0) return NULL;
    if (numel) *numel = t->numel;
    return t->data;
}

size_t tt_fixture_compare(const float *got, const float *want, size_t n, double rtol, double atol,
                          char *msg, size_t cap) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]), lim = atol + rtol * fabs((double)want[i]);
        if (!(d <= lim)) { /* NaN counts as a mismatch */
            bad++;
            double ex = isnan(d) ? INFINITY : d - lim;
            if (ex > worst_excess) {
                worst_excess = ex;
                worst = i;
            }
        }
    }
    if (msg && cap) {
        if (bad)
            snprintf(msg, cap, "%zu of %zu differ; worst at [%zu]: got %.9g, want %.9g (rtol %g, atol %g)", bad, n,
                     worst, (double)got[worst], (double)want[worst], rtol, atol);
        else
            snprintf(msg, cap, "all %zu match", n);
    }
    return bad;
}

char *tt_fixture_path(const char *file) {
    char path[4096];
    FILE *f = open_fixture(file, path, sizeof path);
    if (!f) return NULL;
    fclose(f);
    return strdup(path);
}

const char *tt_fixture_field(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(line, k);
    if (!p) fail_msg("fixture line lacks %s", key);
    return p + strlen(k);
}

int tt_fixture_ids(const char *s, int *out, int cap) {
    if (*s == '-') return 0;
    int n = 0;
    while (*s && *s != ' ' && n < cap) {
        out[n++] = (int)strtol(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}
