/* Shared CLI helpers: strict parsing and one-line errors. */
#include "cli.h"

#include "tt/checkpoint.h"
#include "tt/tokenizer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *cli_command = "";

static void vmsg(const char *fmt, va_list ap) {
    fprintf(stderr, "tt%s%s: ", *cli_command ? " " : "", cli_command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

int cli_report(const tt_error *err) {
    const char *msg = err->msg[0] ? err->msg : tt_status_str(err->code);
    switch (err->code) {
    case TT_ERR_ARG:
    case TT_ERR_RANGE: return cli_usage_error("%s", msg);
    case TT_ERR_INTERRUPTED: cli_fail("%s", msg); return CLI_EXIT_INTERRUPTED;
    default: return cli_fail("%s", msg);
    }
}

int cli_unknown(const char *arg) {
    if (arg[0] == '-')
        return cli_usage_error("unknown option '%s' (see 'tt %s --help')", arg, cli_command);
    return cli_usage_error("unexpected argument '%s' (see 'tt %s --help')", arg, cli_command);
}

bool cli_is_flag(const char *arg, const char *flag) { return strcmp(arg, flag) == 0; }

bool cli_opt(int argc, char **argv, int *i, const char *flag, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(flag);
    if (strncmp(a, flag, n) != 0) return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0') return false;
    if (*i + 1 >= argc) {
        cli_usage_error("%s needs a value", flag);
        *value = NULL;
        return true;
    }
    *value = argv[++*i];
    return true;
}

/* strtol/strtod skip leading blanks; a value with blanks is not a number here. */
static bool starts_blank(const char *s) { return *s == ' ' || (*s >= '\t' && *s <= '\r'); }

int cli_int(const char *flag, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    if (starts_blank(s)) {
        cli_usage_error("%s: expected an integer, got '%s'", flag, s);
        return -1;
    }
    long v = strtol(s, &end, 10);
    if (!*s || *end || end == s) {
        cli_usage_error("%s: expected an integer, got '%s'", flag, s);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        cli_usage_error("%s: %s is out of range [%ld, %ld]", flag, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_u64(const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (!*s || *s == '-' || *s == '+' || starts_blank(s)) {
        cli_usage_error("%s: expected a non-negative integer, got '%s'", flag, s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s) {
        cli_usage_error("%s: expected a non-negative integer, got '%s'", flag, s);
        return -1;
    }
    if (errno == ERANGE) {
        cli_usage_error("%s: %s does not fit in 64 bits", flag, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_float(const char *flag, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    if (starts_blank(s)) {
        cli_usage_error("%s: expected a number, got '%s'", flag, s);
        return -1;
    }
    /* decimal only, like the integer flags: strtod would also read 0x1p3 */
    if (strchr(s, 'x') || strchr(s, 'X')) {
        cli_usage_error("%s: expected a decimal number, got '%s'", flag, s);
        return -1;
    }
    double v = strtod(s, &end);
    if (!*s || *end || end == s) {
        cli_usage_error("%s: expected a number, got '%s'", flag, s);
        return -1;
    }
    if (!isfinite(v) && errno != ERANGE) {
        cli_usage_error("%s: %s is not a finite number", flag, s);
        return -1;
    }
    if (fabs(v) > 3.0e38) { /* also 1e999 (strtod: HUGE_VAL, ERANGE) */
        cli_usage_error("%s: %s is too large (the limit is 3e38)", flag, s);
        return -1;
    }
    if ((errno == ERANGE && fabs(v) < 1.0) || (v != 0.0 && (float)v == 0.0f)) {
        cli_usage_error("%s: %s underflows to 0 as a 32-bit float (the smallest is about 1.4e-45)", flag, s);
        return -1;
    }
    if (v < lo || v > hi) {
        cli_usage_error("%s: %s is out of range [%g, %g]", flag, s, lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

char *cli_read_file(const char *flag, const char *path, size_t *len) {
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_usage_error("%s: cannot open '%s': %s", flag, path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_usage_error("%s: '%s' is a directory, not a file", flag, path);
        return NULL;
    }
    /* inputs are capped: a regular file by its size, before reading; a pipe or
     * device (/dev/zero never ends) while it is read */
    const size_t cap_bytes = S_ISREG(st.st_mode) ? CLI_MAX_FILE_BYTES : CLI_MAX_STREAM_BYTES;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > CLI_MAX_FILE_BYTES) {
        cli_usage_error("%s: '%s' is too large (%llu bytes; the limit is %llu)", flag, path,
                        (unsigned long long)st.st_size, (unsigned long long)CLI_MAX_FILE_BYTES);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_usage_error("%s: cannot open '%s': %s", flag, path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            cli_fail("%s: out of memory reading '%s'", flag, path);
            return NULL;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (n > cap_bytes) {
            free(buf);
            fclose(f);
            cli_usage_error("%s: '%s' is not a regular file and gives more than %zu bytes (the limit; use a "
                            "regular file)", flag, path, cap_bytes);
            return NULL;
        }
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        cli_usage_error("%s: cannot read '%s'", flag, path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int cli_load_model(const char *path, tt_model **model, tt_tokenizer **tok) {
    tt_error err;
    if (tt_checkpoint_load(path, model, tok, &err) == TT_OK) return CLI_EXIT_OK;
    if (err.code == TT_ERR_IO || err.code == TT_ERR_FORMAT || err.code == TT_ERR_ARG)
        return cli_usage_error("--model: %s", err.msg);
    return cli_fail("--model: %s", err.msg);
}

const char *cli_float_str(float v, char buf[32]) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

void cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (*p >= 0x80) { /* valid UTF-8 as it is; an invalid byte as U+FFFD */
            uint32_t cp;
            int k = tt_utf8_decode((const char *)p, strnlen((const char *)p, 4), &cp);
            if (k > 0) fwrite(p, 1, (size_t)k, f);
            else fputs("\\ufffd", f);
            p += k > 0 ? k : 1;
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
        p++;
    }
    fputc('"', f);
}

bool cli_context_opt(int argc, char **argv, int *i, tt_generator_config *gc, int *bad) {
    const char *v = NULL;
    *bad = 0;
    if (cli_opt(argc, argv, i, "--context-shift", &v)) {
        if (!v) *bad = CLI_EXIT_USAGE;
        else if (!strcmp(v, "half")) gc->context_shift = TT_CONTEXT_SHIFT_HALF;
        else if (!strcmp(v, "exact")) gc->context_shift = TT_CONTEXT_SHIFT_EXACT;
        else *bad = cli_usage_error("--context-shift: expected exact or half, got '%s'", v);
        return true;
    }
    if (cli_opt(argc, argv, i, "--context", &v)) {
        if (!v || cli_int("--context", v, 1, 1 << 24, &gc->context_len)) *bad = CLI_EXIT_USAGE;
        return true;
    }
    return false;
}

int cli_check_context(const tt_model *m, const tt_generator_config *gc) {
    const int max_len = tt_model_get_config(m)->max_len;
    if (gc->context_len > max_len)
        return cli_usage_error("--context: %d exceeds the model's max_len %d", gc->context_len, max_len);
    return 0;
}
