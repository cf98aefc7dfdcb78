/*
 * tests/image_check.h — checks that a file is a real image of plausible size
 * (used by the tour, diversity and report-browser tests).
 */
#ifndef TT_TESTS_IMAGE_CHECK_H
#define TT_TESTS_IMAGE_CHECK_H

#include <stddef.h>

/* A PNG: the 8-byte signature, then an IHDR chunk of length 13 whose width
 * and height lie in [min_w, max_w] x [min_h, max_h], and at least min_bytes
 * in all. Returns 0, or -1 with a reason in msg. *w, *h (may be NULL) receive
 * the size. */
int tt_check_png(const char *path, int min_w, int max_w, int min_h, int max_h, size_t min_bytes, int *w,
                 int *h, char *msg, size_t msg_len);

/* An SVG: at least min_bytes, an <svg element with width and height, drawing
 * elements (<path, <rect, <text, ...), and the closing </svg>. Returns 0 or -1
 * with a reason in msg. */
int tt_check_svg(const char *path, size_t min_bytes, char *msg, size_t msg_len);

#endif
