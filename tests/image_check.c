/* Image sanity checks for the tests (see image_check.h). */
#include "image_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int contains(const unsigned char *d, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(d + i, needle, n) == 0) return 1;
    return 0;
}

int tt_check_png(const char *path, int min_w, int max_w, int min_h, int max_h, size_t min_bytes, int *w,
                 int *h, char *msg, size_t msg_len) {
    size_t len = 0;
    unsigned char *d = (unsigned char *)tt_test_read_file(path, &len);
    if (!d) {
        snprintf(msg, msg_len, "%s: cannot read", path);
        return -1;
    }
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int rc = -1;
    if (len < 33 || memcmp(d, sig, 8) != 0) {
        snprintf(msg, msg_len, "%s: not a PNG (no signature)", path);
    } else if (be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0) {
        snprintf(msg, msg_len, "%s: the first chunk is not a 13-byte IHDR", path);
    } else {
        uint32_t W = be32(d + 16), H = be32(d + 20);
        if (w) *w = (int)W;
        if (h) *h = (int)H;
        if ((long)W < min_w || (long)W > max_w || (long)H < min_h || (long)H > max_h)
            snprintf(msg, msg_len, "%s: implausible size %ux%u", path, W, H);
        else if (len < min_bytes)
            snprintf(msg, msg_len, "%s: only %zu bytes", path, len);
        else if (!contains(d, len, "IEND"))
            snprintf(msg, msg_len, "%s: no IEND chunk (truncated)", path);
        else
            rc = 0;
    }
    free(d);
    return rc;
}

int tt_check_svg(const char *path, size_t min_bytes, char *msg, size_t msg_len) {
    size_t len = 0;
    char *d = tt_test_read_file(path, &len);
    if (!d) {
        snprintf(msg, msg_len, "%s: cannot read", path);
        return -1;
    }
    int rc = -1;
    const char *svg = strstr(d, "<svg");
    const char *end = svg ? strchr(svg, '>') : NULL;
    if (!svg || !end) {
        snprintf(msg, msg_len, "%s: no <svg> element", path);
    } else if (len < min_bytes) {
        snprintf(msg, msg_len, "%s: only %zu bytes", path, len);
    } else if (!strstr(svg, "width=") || !strstr(svg, "height=") || strstr(svg, "width=") > end) {
        snprintf(msg, msg_len, "%s: the <svg> element has no size", path);
    } else if (!strstr(d, "<path") && !strstr(d, "<rect") && !strstr(d, "<polyline")) {
        snprintf(msg, msg_len, "%s: nothing is drawn", path);
    } else if (!strstr(d, "</svg>")) {
        snprintf(msg, msg_len, "%s: not closed (truncated)", path);
    } else {
        rc = 0;
    }
    free(d);
    return rc;
}
