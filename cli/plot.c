/* Figures drawn by gnuplot (see plot.h), written atomically (into FILE.tmp,
 * then renamed). The script is built in memory, then
 * piped to one `gnuplot` process whose stderr goes to a temporary log, so a
 * failure can be reported in one line. */
#include "plot.h"

#include "tt/outputs.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

bool plot_available(char *msg, size_t msg_len) {
    const char *path = getenv("PATH");
    if (path && *path) {
        char buf[4096];
        const char *p = path;
        while (*p) {
            const char *colon = strchr(p, ':');
            size_t n = colon ? (size_t)(colon - p) : strlen(p);
            if (n == 0) n = 1, p = "."; /* an empty PATH entry is the current directory */
            if (n + sizeof "/gnuplot" < sizeof buf) {
                memcpy(buf, p, n);
                memcpy(buf + n, "/gnuplot", sizeof "/gnuplot");
                struct stat st;
                if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return true;
            }
            if (!colon) break;
            p = colon + 1;
        }
    }
    set_msg(msg, msg_len,
            "gnuplot is not installed (needed for the plots): run 'scripts/deps.sh demo' "
            "(Debian package gnuplot-nox), or pass --no-plots");
    return false;
}

/* A gnuplot single-quoted string: '' stands for a quote; newlines become blanks. */
static void gp_str(FILE *f, const char *s) {
    fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '\'') fputs("''", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

/* A data-block label: double-quoted; quotes and backslashes become blanks. */
static void gp_label(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) fputc(*s == '"' || *s == '\\' || *s == '\n' ? ' ' : *s, f);
    fputc('"', f);
}

/* Where BASE + ext ends up: the path itself, or a link's target (a link is
 * followed, its target replaced and the link kept, as every writer does). */
static void final_path(const char *base, const char *ext, char *out, size_t cap) {
    snprintf(out, cap, "%s%s", base, ext);
    struct stat lst;
    if (lstat(out, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char *t = realpath(out, NULL);
        if (t && strlen(t) < cap) snprintf(out, cap, "%s", t);
        free(t);
    }
}

/* gnuplot draws into FINAL.tmp beside the final file; run_gnuplot renames it
 * into place only once the whole image is there, so an output is never half
 * written (an existing file keeps its mode). */
static void tmp_path(const char *base, const char *ext, char *out, size_t cap) {
    char fin[4096];
    final_path(base, ext, fin, sizeof fin);
    snprintf(out, cap, "%s.tmp", fin);
}

/* Runs gnuplot on `script` and checks that BASE.png and BASE.svg appeared. */
static int run_gnuplot(const char *script, size_t len, const char *base, char *msg, size_t msg_len) {
    if (!plot_available(msg, msg_len)) return -1;
    /* Check the outputs can be written before gnuplot runs: when its `set
     * output` fails, gnuplot falls back to writing the image to stdout. */
    static const char *const out_exts[] = {".png", ".svg"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", base, out_exts[i]);
        /* a regular file (or none) in a writable directory; a device, FIFO
         * or directory is refused (tt/outputs.h) */
        tt_error oerr;
        if (tt_output_check(path, &oerr) != TT_OK) {
            set_msg(msg, msg_len, "%s", oerr.msg);
            return -1;
        }
    }
    char log[] = "/tmp/tt-gnuplot-XXXXXX";
    int fd = mkstemp(log);
    if (fd < 0) {
        set_msg(msg, msg_len, "cannot create a temporary file for gnuplot: %s", strerror(errno));
        return -1;
    }
    close(fd);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "gnuplot >/dev/null 2>%s", log); /* mkstemp names need no quoting */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    FILE *gp = popen(cmd, "w");
    int rc = -1;
    if (!gp) {
        set_msg(msg, msg_len, "cannot start gnuplot: %s", strerror(errno));
    } else {
        size_t wrote = fwrite(script, 1, len, gp);
        int st = pclose(gp);
        if (wrote != len || st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            /* the first line of gnuplot's complaint that names a problem */
            char line[512] = "", best[512] = "";
            FILE *lf = fopen(log, "r");
            while (lf && fgets(line, sizeof line, lf)) {
                line[strcspn(line, "\n")] = '\0';
                if (!best[0] && (strstr(line, "rror") || strstr(line, "arning"))) snprintf(best, sizeof best, "%s", line);
                if (!best[0] && line[0] && line[strspn(line, " ^")] != '\0') snprintf(best, sizeof best, "%s", line);
            }
            if (lf) fclose(lf);
            set_msg(msg, msg_len, "gnuplot failed drawing %s (exit %d)%s%s", base,
                    st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, best[0] ? ": " : "", best);
        } else {
            rc = 0;
        }
    }
    signal(SIGPIPE, old);
    unlink(log);
    static const char *const exts[] = {".png", ".svg"};
    if (rc != 0) {
        for (int i = 0; i < 2; i++) {
            char tmp[4200];
            tmp_path(base, exts[i], tmp, sizeof tmp);
            (void)unlink(tmp);
        }
        return rc;
    }
    for (int i = 0; i < 2; i++) {
        char fin[4096], tmp[4200];
        struct stat st, prev;
        final_path(base, exts[i], fin, sizeof fin);
        tmp_path(base, exts[i], tmp, sizeof tmp);
        if (stat(tmp, &st) != 0 || st.st_size == 0) {
            set_msg(msg, msg_len, "gnuplot did not write %s%s", base, exts[i]);
            (void)unlink(tmp);
            return -1;
        }
        if (stat(fin, &prev) == 0 && S_ISREG(prev.st_mode)) (void)chmod(tmp, prev.st_mode & 07777);
        if (rename(tmp, fin) != 0) {
            set_msg(msg, msg_len, "cannot rename %s to %s: %s", tmp, fin, strerror(errno));
            (void)unlink(tmp);
            return -1;
        }
    }
    return 0;
}

/* Emits the terminal + output lines for output `which` (0 png, 1 svg). */
static void gp_terminal(FILE *f, int which, const char *base, int w, int h) {
    if (which == 0)
        fprintf(f, "set terminal pngcairo noenhanced size %d,%d font 'DejaVu Sans,11'\n", w, h);
    else
        fprintf(f, "set terminal svg noenhanced size %d,%d font 'DejaVu Sans,11' background '#ffffff'\n", w, h);
    fputs("set output ", f);
    char path[4200];
    tmp_path(base, which == 0 ? ".png" : ".svg", path, sizeof path);
    gp_str(f, path);
    fputc('\n', f);
}

static void gp_common(FILE *f) {
    fputs("set grid ytics lc rgb '#b0b0b0' lw 1 dt 1\n"
          "set border lc rgb '#404040'\n"
          "set style textbox opaque fillcolor rgb '#f5deb3' border lc rgb '#a08050'\n"
          "set key top right box opaque\n",
          f);
}

int plot_bars(const char *base, const char *title, const plot_bar_panel *panels, int n_panels,
              int cols, char *msg, size_t msg_len) {
    if (!base || !panels || n_panels < 1 || cols < 1) {
        set_msg(msg, msg_len, "plot_bars: bad arguments");
        return -1;
    }
    for (int i = 0; i < n_panels; i++)
        if (panels[i].n < 1 || !panels[i].labels || !panels[i].values) {
            set_msg(msg, msg_len, "plot_bars: panel %d has no data", i);
            return -1;
        }
    int rows = (n_panels + cols - 1) / cols;
    int w = cols == 1 ? 1000 : 700 * cols, h = rows == 1 ? 520 : 500 * rows;
    char *script = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&script, &len);
    if (!f) {
        set_msg(msg, msg_len, "out of memory building a plot");
        return -1;
    }
    /* data: one block per panel, columns label value [overlay] */
    for (int p = 0; p < n_panels; p++) {
        fprintf(f, "$d%d << EOD\n", p);
        for (int i = 0; i < panels[p].n; i++) {
            gp_label(f, panels[p].labels[i]);
            fprintf(f, " %.9g", (double)panels[p].values[i]);
            if (panels[p].overlay) fprintf(f, " %.9g", (double)panels[p].overlay[i]);
            fputc('\n', f);
        }
        fputs("EOD\n", f);
    }
    float ymax = 0;
    for (int p = 0; p < n_panels; p++)
        for (int i = 0; i < panels[p].n; i++) {
            if (panels[p].values[i] > ymax) ymax = panels[p].values[i];
            if (panels[p].overlay && panels[p].overlay[i] > ymax) ymax = panels[p].overlay[i];
        }
    for (int which = 0; which < 2; which++) {
        gp_terminal(f, which, base, w, h);
        fputs("reset\n", f);
        gp_common(f);
        fputs("set style data boxes\nset boxwidth 0.8\nset xtics rotate by 45 right nomirror\n"
              "set ytics nomirror\nset offsets 0.5, 0.5, 0, 0\n", f);
        if (n_panels > 1 || title) {
            fprintf(f, "set multiplot layout %d,%d", rows, cols);
            if (title) {
                fputs(" title ", f);
                gp_str(f, title);
                fputs(" font ',14'", f);
            }
            fputc('\n', f);
        }
        for (int p = 0; p < n_panels; p++) {
            const plot_bar_panel *pp = &panels[p];
            fputs(pp->values_label || pp->overlay_label ? "set key top right box opaque\n" : "unset key\n", f);
            fputs("set title ", f);
            gp_str(f, pp->title ? pp->title : "");
            fputs("\nset xlabel ", f);
            gp_str(f, pp->xlabel ? pp->xlabel : "Token");
            fputs("\nset ylabel ", f);
            gp_str(f, pp->ylabel ? pp->ylabel : "Probability");
            fprintf(f, "\nset yrange [0:%.6g]\n", ymax > 0 ? ymax * 1.15 : 1.0);
            fputs("unset label\n", f);
            if (pp->note) {
                fputs("set label 1 ", f);
                gp_str(f, pp->note);
                fputs(" at graph 0.03, graph 0.93 left front boxed\n", f);
            }
            /* With an overlay the two series stand side by side, each in its
             * own colour: drawn over each other they mixed into a grey that
             * no legend entry explains. */
            if (pp->overlay)
                fprintf(f, "set boxwidth 0.4\nplot $d%d using ($0-0.2):2:xtic(1) fs solid 0.7 border lc rgb '#1f77b4' "
                           "lc rgb '#1f77b4' ", p);
            else
                fprintf(f, "set boxwidth 0.8\nplot $d%d using 0:2:xtic(1) fs solid 0.7 border lc rgb '#1f77b4' "
                           "lc rgb '#1f77b4' ", p);
            if (pp->values_label) {
                fputs("title ", f);
                gp_str(f, pp->values_label);
            } else {
                fputs("notitle", f);
            }
            if (pp->overlay) {
                fprintf(f, ", $d%d using ($0+0.2):3 fs solid 0.7 border lc rgb '#ff7f0e' lc rgb '#ff7f0e' ", p);
                if (pp->overlay_label) {
                    fputs("title ", f);
                    gp_str(f, pp->overlay_label);
                } else {
                    fputs("notitle", f);
                }
            }
            fputc('\n', f);
        }
        if (n_panels > 1 || title) fputs("unset multiplot\n", f);
        fputs("unset output\n", f);
    }
    if (fclose(f) != 0 || !script) {
        free(script);
        set_msg(msg, msg_len, "out of memory building a plot");
        return -1;
    }
    int rc = run_gnuplot(script, len, base, msg, msg_len);
    free(script);
    return rc;
}

int plot_line(const char *base, const char *title, const char *xlabel, const char *ylabel,
              const double *x, const double *y, int n, const char *series_label, double hline,
              const char *hline_label, double ymin, double ymax, char *msg, size_t msg_len) {
    if (!base || !x || !y || n < 1 || !(ymax > ymin)) {
        set_msg(msg, msg_len, "plot_line: bad arguments");
        return -1;
    }
    char *script = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&script, &len);
    if (!f) {
        set_msg(msg, msg_len, "out of memory building a plot");
        return -1;
    }
    fputs("$d << EOD\n", f);
    for (int i = 0; i < n; i++) fprintf(f, "%.9g %.9g\n", x[i], y[i]);
    fputs("EOD\n", f);
    for (int which = 0; which < 2; which++) {
        gp_terminal(f, which, base, 1000, 600);
        fputs("reset\n", f);
        gp_common(f);
        fputs("set grid xtics ytics lc rgb '#b0b0b0'\nset key bottom right box opaque\n", f);
        fputs("set title ", f);
        gp_str(f, title ? title : "");
        fputs(" font ',14'\nset xlabel ", f);
        gp_str(f, xlabel ? xlabel : "");
        fputs("\nset ylabel ", f);
        gp_str(f, ylabel ? ylabel : "");
        fprintf(f, "\nset yrange [%.9g:%.9g]\nset offsets graph 0.03, graph 0.03, 0, 0\n", ymin, ymax);
        fputs("plot $d using 1:2 with linespoints lw 2 pt 7 ps 1.5 lc rgb '#1f77b4' title ", f);
        gp_str(f, series_label ? series_label : "");
        if (hline_label) {
            fprintf(f, ", %.9g with lines dt 2 lw 2 lc rgb '#2ca02c' title ", hline);
            gp_str(f, hline_label);
        }
        fputs("\nunset output\n", f);
    }
    if (fclose(f) != 0 || !script) {
        free(script);
        set_msg(msg, msg_len, "out of memory building a plot");
        return -1;
    }
    int rc = run_gnuplot(script, len, base, msg, msg_len);
    free(script);
    return rc;
}
