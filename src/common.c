/* Status strings, error messages and the version. */
#include "tt/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *tt_status_str(tt_status s) {
    switch (s) {
    case TT_OK: return "ok";
    case TT_ERR_ARG: return "invalid argument";
    case TT_ERR_NOMEM: return "out of memory";
    case TT_ERR_IO: return "input/output error";
    case TT_ERR_FORMAT: return "bad format";
    case TT_ERR_RANGE: return "out of range";
    case TT_ERR_STATE: return "invalid state";
    case TT_ERR_NOT_IMPLEMENTED: return "not implemented";
    case TT_ERR_INTERRUPTED: return "interrupted";
    case TT_ERR_NUMERIC: return "non-finite result";
    case TT_ERR_COMM: return "distributed run failed";
    }
    return "unknown status";
}

const char *tt_version(void) { return TT_VERSION_STRING; }
int tt_version_number(void) { return TT_VERSION_NUMBER; }

tt_status tt_error_set(tt_error *err, tt_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void tt_error_clear(tt_error *err) {
    if (err) {
        err->code = TT_OK;
        err->msg[0] = '\0';
    }
}

void tt_free(void *p) { free(p); }
