/* The HTML report writer (see report.h). The body is buffered in memory so the
 * table of contents can be written first; the page is then written to a
 * temporary file and renamed into place. */
#include "report.h"

#include "tt/outputs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct report {
    char *path, *title;
    FILE *body; /* memstream */
    char *body_buf;
    size_t body_len;
    FILE *toc;
    char *toc_buf;
    size_t toc_len;
    bool in_table;
};

static void set_msg(char *msg, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void set_msg(char *msg, size_t len, const char *fmt, ...) {
    if (!msg || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

void report_escape(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

report *report_open(const char *path, const char *title, char *msg, size_t msg_len) {
    report *r = calloc(1, sizeof *r);
    if (!r || !(r->path = dup_str(path)) || !(r->title = dup_str(title ? title : "Report")) ||
        !(r->body = open_memstream(&r->body_buf, &r->body_len)) ||
        !(r->toc = open_memstream(&r->toc_buf, &r->toc_len))) {
        set_msg(msg, msg_len, "out of memory starting the report");
        if (r) {
            if (r->body) fclose(r->body);
            free(r->body_buf);
            free(r->path);
            free(r->title);
            free(r);
        }
        return NULL;
    }
    /* Fail early when the output cannot be a regular file (tt/outputs.h) or
     * the directory is not writable. */
    tt_error oerr;
    if (tt_output_check(path, &oerr) != TT_OK) {
        set_msg(msg, msg_len, "%s", oerr.msg);
        report_discard(r);
        return NULL;
    }
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    FILE *probe = NULL;
    if (tmp) {
        snprintf(tmp, n, "%s.tmp", path);
        probe = fopen(tmp, "w");
    }
    if (!probe) {
        set_msg(msg, msg_len, "cannot write %s: %s", tmp ? tmp : path, strerror(errno));
        free(tmp);
        report_discard(r);
        return NULL;
    }
    fclose(probe);
    unlink(tmp);
    free(tmp);
    return r;
}

void report_heading(report *r, int level, const char *id, const char *text) {
    if (!r) return;
    if (level < 1) level = 1;
    if (level > 4) level = 4;
    fprintf(r->body, "<h%d", level);
    if (id) {
        fputs(" id=\"", r->body);
        report_escape(r->body, id);
        fputc('"', r->body);
        if (level == 2) {
            fputs("<li><a href=\"#", r->toc);
            report_escape(r->toc, id);
            fputs("\">", r->toc);
            report_escape(r->toc, text);
            fputs("</a></li>\n", r->toc);
        }
    }
    fputc('>', r->body);
    report_escape(r->body, text);
    fprintf(r->body, "</h%d>\n", level);
}

void report_para(report *r, const char *text) {
    if (!r) return;
    fputs("<p>", r->body);
    report_escape(r->body, text);
    fputs("</p>\n", r->body);
}

void report_pre(report *r, const char *text) {
    if (!r) return;
    fputs("<pre>", r->body);
    report_escape(r->body, text);
    fputs("</pre>\n", r->body);
}

void report_table_begin(report *r, const char *const *headers, int n) {
    if (!r) return;
    fputs("<table>\n<thead><tr>", r->body);
    for (int i = 0; i < n; i++) {
        fputs("<th>", r->body);
        report_escape(r->body, headers[i]);
        fputs("</th>", r->body);
    }
    fputs("</tr></thead>\n<tbody>\n", r->body);
    r->in_table = true;
}

void report_table_row(report *r, const char *const *cells, int n) {
    if (!r) return;
    fputs("<tr>", r->body);
    for (int i = 0; i < n; i++) {
        fputs("<td>", r->body);
        report_escape(r->body, cells[i]);
        fputs("</td>", r->body);
    }
    fputs("</tr>\n", r->body);
}

void report_table_end(report *r) {
    if (!r || !r->in_table) return;
    fputs("</tbody>\n</table>\n", r->body);
    r->in_table = false;
}

void report_image(report *r, const char *src, const char *alt, const char *caption) {
    if (!r) return;
    fputs("<figure><img src=\"", r->body);
    report_escape(r->body, src);
    fputs("\" alt=\"", r->body);
    report_escape(r->body, alt ? alt : "");
    fputs("\">", r->body);
    if (caption) {
        fputs("<figcaption>", r->body);
        report_escape(r->body, caption);
        fputs("</figcaption>", r->body);
    }
    fputs("</figure>\n", r->body);
}

static void free_report(report *r) {
    if (r->body) fclose(r->body);
    if (r->toc) fclose(r->toc);
    free(r->body_buf);
    free(r->toc_buf);
    free(r->path);
    free(r->title);
    free(r);
}

void report_discard(report *r) {
    if (!r) return;
    free_report(r);
}

static const char *const css =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222;line-height:1.45}\n"
    "h1{border-bottom:2px solid #1f77b4;padding-bottom:.2em}\n"
    "h2{margin-top:2em;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:.8em 0}\n"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#eef3f8}\n"
    "tbody tr:nth-child(even){background:#f8f8f8}\n"
    "pre{background:#f4f4f4;border:1px solid #ddd;padding:.6em;overflow-x:auto;white-space:pre-wrap}\n"
    "figure{margin:1em 0}\n"
    "img{max-width:100%;height:auto;border:1px solid #ddd}\n"
    "figcaption{font-size:.9em;color:#555}\n"
    "nav ol{columns:2}\n";

/* Sets data-loaded="N/M" on <body> after load: N images decoded of M. */
static const char *const script =
    "<script>\n"
    "window.addEventListener('load', function () {\n"
    "  var imgs = document.images, ok = 0;\n"
    "  for (var i = 0; i < imgs.length; i++)\n"
    "    if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;\n"
    "  document.body.setAttribute('data-loaded', ok + '/' + imgs.length);\n"
    "});\n"
    "</script>\n";

int report_close(report *r, char *msg, size_t msg_len) {
    if (!r) return 0;
    report_table_end(r);
    if (fflush(r->body) != 0 || fflush(r->toc) != 0 || !r->body_buf || !r->toc_buf) {
        set_msg(msg, msg_len, "out of memory writing the report");
        free_report(r);
        return -1;
    }
    /* a link is followed (its target replaced, the link kept); an existing
     * file keeps its mode */
    struct stat lst, tst;
    int keep_mode = -1;
    if (lstat(r->path, &lst) == 0) {
        char *target = S_ISLNK(lst.st_mode) ? realpath(r->path, NULL) : NULL;
        if (target) {
            free(r->path);
            r->path = target;
        }
        if (stat(r->path, &tst) == 0 && S_ISREG(tst.st_mode)) keep_mode = (int)(tst.st_mode & 07777);
    }
    size_t n = strlen(r->path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        set_msg(msg, msg_len, "out of memory writing the report");
        free_report(r);
        return -1;
    }
    snprintf(tmp, n, "%s.tmp", r->path);
    (void)unlink(tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_msg(msg, msg_len, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        free_report(r);
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    report_escape(f, r->title);
    fprintf(f, "</title>\n<style>\n%s</style>\n%s</head>\n<body>\n<h1>", css, script);
    report_escape(f, r->title);
    fputs("</h1>\n", f);
    if (r->toc_len) {
        fputs("<nav><ol>\n", f);
        fwrite(r->toc_buf, 1, r->toc_len, f);
        fputs("</ol></nav>\n", f);
    }
    fwrite(r->body_buf, 1, r->body_len, f);
    fputs("</body>\n</html>\n", f);
    int bad = ferror(f);
    if (keep_mode >= 0) (void)fchmod(fileno(f), (mode_t)keep_mode);
    if (fflush(f) != 0) bad = 1;
    if (!bad && fsync(fileno(f)) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        set_msg(msg, msg_len, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        free_report(r);
        return -1;
    }
    if (rename(tmp, r->path) != 0) {
        set_msg(msg, msg_len, "cannot rename %s to %s: %s", tmp, r->path, strerror(errno));
        unlink(tmp);
        free(tmp);
        free_report(r);
        return -1;
    }
    free(tmp);
    free_report(r);
    return 0;
}
