/*
 * cli/report.h — a small HTML report writer for `tt tour`.
 *
 * The page is one self-contained file: inline CSS, no external resources;
 * images are referenced by file name and live beside it. All text is escaped.
 * An inline script marks <body data-loaded="N/M"> once the page has loaded,
 * with N the images that decoded (naturalWidth > 0) out of M, so a headless
 * browser can check the page without a test harness.
 *
 *     report *r = report_open("out/report.html", "Sampling & Generation", msg, sizeof msg);
 *     report_heading(r, 2, "greedy", "2. Greedy sampling");
 *     report_para(r, "Greedy decoding always takes the most probable token.");
 *     const char *hdr[2] = {"Token", "Probability"};
 *     report_table_begin(r, hdr, 2);
 *     const char *row[2] = {"cat", "0.3362"};
 *     report_table_row(r, row, 2);
 *     report_table_end(r);
 *     report_image(r, "probabilities.png", "Token probabilities", NULL);
 *     if (report_close(r, msg, sizeof msg)) fail(msg);
 *
 * The file is written to PATH.tmp and renamed into place by report_close.
 * Calls on a NULL report do nothing, so a caller may treat "no report" as NULL.
 */
#ifndef TT_TOOLS_REPORT_H
#define TT_TOOLS_REPORT_H

#include <stddef.h>

typedef struct report report;

/* Creates the report at path. Returns NULL with msg filled on failure. */
report *report_open(const char *path, const char *title, char *msg, size_t msg_len);

/* <hN id="id">text</hN>; level 1..4; id may be NULL. Level 2 headings with an
 * id are listed in the table of contents at the top. */
void report_heading(report *r, int level, const char *id, const char *text);
/* A paragraph of plain text. */
void report_para(report *r, const char *text);
/* Preformatted text (generated samples, logs). */
void report_pre(report *r, const char *text);
/* A table: header cells, then rows of the same width. */
void report_table_begin(report *r, const char *const *headers, int n);
void report_table_row(report *r, const char *const *cells, int n);
void report_table_end(report *r);
/* <figure><img src alt><figcaption>caption</figcaption></figure>; src is a
 * file name relative to the report. caption may be NULL. */
void report_image(report *r, const char *src, const char *alt, const char *caption);

/* Finishes the page, closes the file and renames it into place; frees r.
 * Returns 0, or -1 with msg (any earlier write error is reported here).
 * NULL-safe (returns 0). */
int report_close(report *r, char *msg, size_t msg_len);
/* Abandons the report: removes the temporary file, frees r. NULL-safe. */
void report_discard(report *r);

/* Writes s with &, <, >, " and ' escaped. */
#include <stdio.h>
void report_escape(FILE *f, const char *s);

#endif
