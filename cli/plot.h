/*
 * cli/plot.h — figures for `tt tour` and `tt diversity`, drawn by gnuplot.
 *
 * Each figure is one gnuplot run fed a script on its standard input with the
 * data inline ($data <<EOD blocks); the same plot commands are issued to the
 * pngcairo terminal (BASE.png) and the svg terminal (BASE.svg). Nothing here
 * sets pixels. When gnuplot is not installed the calls fail with a message
 * saying so (and how to install it, or to pass --no-plots).
 *
 *     plot_bar_panel p = {.title = "Temperature = 0.5", .n = 8, .labels = vocab,
 *                         .values = probs, .note = "Entropy: 1.234"};
 *     char msg[256];
 *     if (plot_bars("out/temperature", "Temperature", &p, 1, 1, msg, sizeof msg)) fail(msg);
 */
#ifndef TT_TOOLS_PLOT_H
#define TT_TOOLS_PLOT_H

#include <stdbool.h>
#include <stddef.h>

/* One bar chart (one panel of a grid). */
typedef struct {
    const char *title;         /* panel title                                       */
    int n;                     /* number of bars (>= 1)                             */
    const char *const *labels; /* [n] x tick labels                                 */
    const float *values;       /* [n] the main series                               */
    const char *values_label;  /* legend entry for values; NULL: no legend          */
    const float *overlay;      /* [n] drawn over values, translucent; may be NULL   */
    const char *overlay_label; /* legend entry for overlay                          */
    const char *note;          /* a boxed note in the top-left corner; may be NULL  */
    const char *xlabel, *ylabel; /* NULL: "Token", "Probability"                    */
} plot_bar_panel;

/* True when a gnuplot executable is on PATH; otherwise fills msg. */
bool plot_available(char *msg, size_t msg_len);

/* Draws n_panels bar charts in a grid of `cols` columns into BASE.png and
 * BASE.svg (base is a path without extension). title (may be NULL) heads the
 * grid. Returns 0, or -1 with a one-line message in msg. */
int plot_bars(const char *base, const char *title, const plot_bar_panel *panels, int n_panels,
              int cols, char *msg, size_t msg_len);

/* A line with markers through (x[i], y[i]), i < n, plus (when hline_label is
 * not NULL) a dashed horizontal reference line at y = hline. The y axis spans
 * [ymin, ymax]. BASE.png and BASE.svg. Returns 0 or -1 with msg. */
int plot_line(const char *base, const char *title, const char *xlabel, const char *ylabel,
              const double *x, const double *y, int n, const char *series_label, double hline,
              const char *hline_label, double ymin, double ymax, char *msg, size_t msg_len);

#endif
