/*
 * tt tour — the Module 07 walkthrough: every section of the course notebook,
 * in order, with its numbers, as text on stdout, figures (PNG + SVG, drawn by
 * gnuplot) and DIR/report.html.
 *
 * Sections: 1 probabilities of the 8-word example; 2 greedy; 3 temperature;
 * 4 top-k; 5 top-p; 6 combined; 7 the tokenizer, training the tiny model,
 * the TextGenerator strategies and the context length (eval loss against the
 * window, generation past the training length); 8 diversity; 9 EOS; 10
 * batch generation; 11 beyond the notebook (min-p against top-p, a
 * repetition penalty).
 *
 * Determinism: sections 1-6 draw from the random stream (seed, 100 * section
 * + setting), one per table; generation row r of setting s in section n uses
 * (seed, 10000 * n + 100 * s + r), and section 8's temperature sweep
 * (seed, 85000 + 100 * s + r). Changing one setting never shifts another's
 * draws. Sections 1-6 do not depend on float summation order and are covered
 * by a golden file (tests/golden/tour_sampling.txt). Every plotted
 * distribution comes from tt_sampler_filter, the function the draws use.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "report.h"
#include "tt/checkpoint.h"
#include "tt/diversity.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"
#include "tt/train.h"

#define N_SECTIONS 11
#define ALL_SECTIONS ((1u << N_SECTIONS) - 1)

/* The notebook's 8-word example. */
#define EX_V 8
static const char *const ex_vocab[EX_V] = {"the", "cat", "dog", "sat", "ran", "jumped", "on", "quickly"};
static const float ex_logits[EX_V] = {1.5f, 2.8f, 2.5f, 0.5f, 1.0f, 0.8f, 0.3f, 0.2f};

/* The notebook's training text: this sentence ten times (no newline). */
static const char corpus_unit[] = "hello world this is a test of the text generation system. ";
#define CORPUS_REPEAT 10

typedef struct {
    const char *out_dir;
    const char *model_path;
    uint64_t seed;
    bool plots;
    unsigned sections;
    int train_steps;
    tt_generator_config ctx; /* --context, --context-shift: every generator's window */
    report *rep;
    tt_sampler *sampler;
    /* the model sections */
    tt_model *model;
    tt_tokenizer *tok;
    char **pool; /* strings freed at the end */
    size_t n_pool, cap_pool;
    tt_error err;
    int rc; /* first failure's exit code */
} tour;

/* ---- small helpers ------------------------------------------------------ */

static char *vfmt(const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 0), nonnull(1)))
#endif
    ;
static char *vfmt(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *s = malloc((size_t)(n < 0 ? 0 : n) + 1);
    if (!s) {
        fputs("tt tour: out of memory\n", stderr);
        exit(CLI_EXIT_FAIL);
    }
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* A formatted string owned by the tour (freed at the end). */
static const char *tf(tour *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static const char *tf(tour *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (t->n_pool == t->cap_pool) {
        size_t cap = t->cap_pool ? 2 * t->cap_pool : 256;
        char **p = realloc(t->pool, cap * sizeof *p);
        if (!p) {
            fputs("tt tour: out of memory\n", stderr);
            exit(CLI_EXIT_FAIL);
        }
        t->pool = p;
        t->cap_pool = cap;
    }
    t->pool[t->n_pool++] = s;
    return s;
}

/* Display width of UTF-8 text: code points (our text has no wide characters). */
static int text_width(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void out_heading(tour *t, int num, const char *id, const char *title) {
    printf("\n== %d. %s ==\n", num, title);
    report_heading(t->rep, 2, id, tf(t, "%d. %s", num, title));
}

static void out_sub(tour *t, const char *title) {
    printf("\n-- %s --\n", title);
    report_heading(t->rep, 3, NULL, title);
}

static void out_para(tour *t, const char *text) {
    printf("%s\n", text);
    report_para(t->rep, text);
}

static void out_pre(tour *t, const char *text) {
    /* indented on the terminal, verbatim in the report */
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        printf("    %.*s\n", (int)n, p);
        p += n;
        if (*p) p++;
    }
    report_pre(t->rep, text);
}

/* A table buffered so that columns can be aligned. */
typedef struct {
    int ncols, nrows, cap;
    const char **cells; /* [(nrows + 1) * ncols], row 0 = headers */
} table;

static void tbl_begin(table *tb, int ncols, const char *const *headers) {
    tb->ncols = ncols;
    tb->nrows = 0;
    tb->cap = 16;
    tb->cells = malloc((size_t)(tb->cap + 1) * (size_t)ncols * sizeof *tb->cells);
    if (!tb->cells) exit(CLI_EXIT_FAIL);
    for (int c = 0; c < ncols; c++) tb->cells[c] = headers[c];
}

static void tbl_row(table *tb, const char *const *cells) {
    if (tb->nrows == tb->cap) {
        tb->cap *= 2;
        const char **p = realloc(tb->cells, (size_t)(tb->cap + 1) * (size_t)tb->ncols * sizeof *p);
        if (!p) exit(CLI_EXIT_FAIL);
        tb->cells = p;
    }
    tb->nrows++;
    for (int c = 0; c < tb->ncols; c++) tb->cells[tb->nrows * tb->ncols + c] = cells[c];
}

static void tbl_end(tour *t, table *tb) {
    int *w = calloc((size_t)tb->ncols, sizeof *w);
    if (!w) exit(CLI_EXIT_FAIL);
    for (int r = 0; r <= tb->nrows; r++)
        for (int c = 0; c < tb->ncols; c++) {
            int x = text_width(tb->cells[r * tb->ncols + c]);
            if (x > w[c]) w[c] = x;
        }
    for (int r = 0; r <= tb->nrows; r++) {
        fputs("  ", stdout);
        for (int c = 0; c < tb->ncols; c++) {
            const char *s = tb->cells[r * tb->ncols + c];
            bool last = c == tb->ncols - 1;
            printf("%s", s);
            if (!last) printf("%*s", w[c] - text_width(s) + 2, "");
        }
        putchar('\n');
        if (r == 0) {
            fputs("  ", stdout);
            for (int c = 0; c < tb->ncols; c++) {
                for (int i = 0; i < w[c]; i++) putchar('-');
                if (c < tb->ncols - 1) fputs("  ", stdout);
            }
            putchar('\n');
        }
    }
    report_table_begin(t->rep, tb->cells, tb->ncols);
    for (int r = 1; r <= tb->nrows; r++) report_table_row(t->rep, tb->cells + r * tb->ncols, tb->ncols);
    report_table_end(t->rep);
    free(w);
    free(tb->cells);
    tb->cells = NULL;
}

/* Fails the tour with a library error (first failure wins). */
static int fail_lib(tour *t) {
    if (!t->rc) t->rc = cli_report(&t->err);
    return t->rc;
}

static int fail_msg(tour *t, const char *msg) {
    if (!t->rc) t->rc = cli_fail("%s", msg);
    return t->rc;
}

/* A figure: BASE.png + BASE.svg in the output directory. */
static void out_figure(tour *t, const char *name, const char *caption) {
    printf("[figure: %s.png, %s.svg]\n", name, name);
    report_image(t->rep, tf(t, "%s.png", name), caption, tf(t, "%s (also %s.svg)", caption, name));
}

static const char *fig_base(tour *t, const char *name) { return tf(t, "%s/%s", t->out_dir, name); }

/* ---- sampling helpers -------------------------------------------------- */

static tt_sampling_params params(tt_strategy s, float temp, int k, float p) {
    tt_sampling_params sp = tt_sampling_params_default();
    sp.strategy = s;
    sp.temperature = temp;
    sp.top_k = k;
    sp.top_p = p;
    return sp;
}

/* The distribution the sampler draws from: probs [EX_V], *n_kept, entropy. */
static int ex_filter(tour *t, const tt_sampling_params *sp, float *probs, int *n_kept, double *ent) {
    int kept[EX_V], nk = 0;
    double e = 0;
    if (tt_sampler_filter(t->sampler, sp, ex_logits, probs, kept, &nk, &e, &t->err) != TT_OK)
        return fail_lib(t);
    if (n_kept) *n_kept = nk;
    if (ent) *ent = e;
    return 0;
}

/* n draws with stream (seed, stream) into counts [EX_V] and order of first
 * appearance (for Counter.most_common's tie order). */
typedef struct {
    int counts[EX_V];
    int first[EX_V]; /* draw index of first appearance, or n */
    int draws[64];
    int n;
} freq;

static int ex_draw(tour *t, const tt_sampling_params *sp, uint64_t stream, int n, freq *fq) {
    memset(fq, 0, sizeof *fq);
    fq->n = n;
    for (int i = 0; i < EX_V; i++) fq->first[i] = n;
    tt_rng rng;
    tt_rng_seed_stream(&rng, t->seed, stream);
    for (int d = 0; d < n; d++) {
        int id;
        if (tt_sampler_sample(t->sampler, sp, ex_logits, &rng, &id, &t->err) != TT_OK) return fail_lib(t);
        fq->draws[d] = id;
        if (fq->counts[id]++ == 0) fq->first[id] = d;
    }
    return 0;
}

/* Ids ordered by count (descending), ties by first appearance. */
static int freq_order(const freq *fq, int *order) {
    int m = 0;
    for (int i = 0; i < EX_V; i++)
        if (fq->counts[i]) order[m++] = i;
    for (int i = 1; i < m; i++) { /* insertion sort: 8 items */
        int x = order[i], j = i - 1;
        while (j >= 0 && (fq->counts[order[j]] < fq->counts[x] ||
                          (fq->counts[order[j]] == fq->counts[x] && fq->first[order[j]] > fq->first[x]))) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = x;
    }
    return m;
}

static const char *freq_text(tour *t, const freq *fq, int top) {
    int order[EX_V];
    int m = freq_order(fq, order);
    if (top > 0 && top < m) m = top;
    char buf[512];
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < m; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s %d", i ? ", " : "", ex_vocab[order[i]],
                                fq->counts[order[i]]);
    return tf(t, "%s", buf);
}

static int freq_unique(const freq *fq) {
    int u = 0;
    for (int i = 0; i < EX_V; i++) u += fq->counts[i] > 0;
    return u;
}

/* The 20-draw frequency table shared by sections 3, 4 and 5. */
static int draw_table(tour *t, int section, const char *const *names, const tt_sampling_params *sps, int n_settings,
                      int n_draws) {
    static const char *const hdr[3] = {"Setting", "Unique tokens", "Most common (3)"};
    table tb;
    tbl_begin(&tb, 3, hdr);
    for (int s = 0; s < n_settings; s++) {
        freq fq;
        if (ex_draw(t, &sps[s], (uint64_t)(100 * section + s), n_draws, &fq)) {
            free(tb.cells);
            return t->rc;
        }
        const char *row[3] = {names[s], tf(t, "%d/%d", freq_unique(&fq), EX_V), freq_text(t, &fq, 3)};
        tbl_row(&tb, row);
    }
    tbl_end(t, &tb);
    return 0;
}

/* Table of distributions: one row per token, one column per setting, plus
 * an extra row (e.g. entropy or nucleus size) when extra_name is set. */
static void dist_table(tour *t, const char *const *names, int n_settings, float probs[][EX_V], const char *extra_name,
                       const char *const *extra) {
    const char *hdr[8];
    hdr[0] = "Token";
    for (int s = 0; s < n_settings; s++) hdr[s + 1] = names[s];
    table tb;
    tbl_begin(&tb, n_settings + 1, hdr);
    for (int i = 0; i < EX_V; i++) {
        const char *row[8];
        row[0] = ex_vocab[i];
        for (int s = 0; s < n_settings; s++) row[s + 1] = tf(t, "%.4f", (double)probs[s][i]);
        tbl_row(&tb, row);
    }
    if (extra_name) {
        const char *row[8];
        row[0] = extra_name;
        for (int s = 0; s < n_settings; s++) row[s + 1] = extra[s];
        tbl_row(&tb, row);
    }
    tbl_end(t, &tb);
}

static void plot_or_warn(tour *t, int rc, const char *msg) {
    if (rc && !t->rc) t->rc = cli_fail("%s", msg);
}

/* ---- sections 1-6: the 8-word example --------------------------------- */

static int section_basics(tour *t) {
    out_heading(t, 1, "basics", "Understanding sampling basics");
    out_para(t, "A language model ends with one raw score (a logit) per vocabulary entry. Softmax turns the "
                "scores into probabilities that sum to one; every sampling strategy below is a different rule "
                "for picking the next token from them.");
    out_para(t, "The example: eight words with the notebook's logits. Probabilities are softmax(logits).");
    tt_sampling_params sp = params(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
    float probs[EX_V];
    double ent;
    if (ex_filter(t, &sp, probs, NULL, &ent)) return t->rc;
    static const char *const hdr[3] = {"Token", "Logit", "Probability"};
    table tb;
    tbl_begin(&tb, 3, hdr);
    for (int i = 0; i < EX_V; i++) {
        const char *row[3] = {ex_vocab[i], tf(t, "%.1f", (double)ex_logits[i]), tf(t, "%.4f", (double)probs[i])};
        tbl_row(&tb, row);
    }
    tbl_end(t, &tb);
    out_para(t, tf(t, "Entropy of this distribution: %.3f nats.", ent));
    if (t->plots) {
        char msg[512];
        plot_bar_panel p = {.title = "Token Probability Distribution", .n = EX_V, .labels = ex_vocab,
                            .values = probs};
        plot_or_warn(t, plot_bars(fig_base(t, "probabilities"), NULL, &p, 1, 1, msg, sizeof msg), msg);
        if (t->rc) return t->rc;
        out_figure(t, "probabilities", "Token probability distribution of the 8-word example");
    }
    return 0;
}

static int section_greedy(tour *t) {
    out_heading(t, 2, "greedy", "Greedy sampling");
    out_para(t, "Greedy decoding ignores the probabilities except for their order: it always returns the "
                "highest-scoring token. That makes it reproducible, and also prone to repeating itself.");
    tt_sampling_params g = params(TT_STRATEGY_GREEDY, 1.0f, 0, 1.0f);
    tt_sampling_params full = params(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f);
    float probs[EX_V];
    if (ex_filter(t, &full, probs, NULL, NULL)) return t->rc;
    freq fq;
    if (ex_draw(t, &g, 200, 10, &fq)) return t->rc;
    int id = fq.draws[0];
    out_para(t, tf(t, "Greedy selection: %s (probability %.4f).", ex_vocab[id], (double)probs[id]));
    char list[512];
    size_t off = 0;
    for (int d = 0; d < 10; d++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", d ? ", " : "", ex_vocab[fq.draws[d]]);
    out_para(t, tf(t, "Determinism over 10 draws: all identical: %s.", freq_unique(&fq) == 1 ? "yes" : "no"));
    out_pre(t, list);
    return 0;
}

static int section_temperature(tour *t) {
    out_heading(t, 3, "temperature", "Temperature sampling");
    out_para(t, "Temperature divides the logits before the softmax: probs = softmax(logits / T). Below 1 it "
                "sharpens the distribution toward greedy; above 1 it flattens it toward uniform. Entropy "
                "(in nats) measures how spread out the result is.");
    static const float temps[4] = {0.1f, 0.5f, 1.0f, 2.0f};
    static const char *const names[4] = {"T = 0.1", "T = 0.5", "T = 1.0", "T = 2.0"};
    float probs[4][EX_V];
    double ent[4];
    tt_sampling_params sps[4];
    const char *ent_s[4];
    for (int s = 0; s < 4; s++) {
        sps[s] = params(TT_STRATEGY_TEMPERATURE, temps[s], 0, 1.0f);
        if (ex_filter(t, &sps[s], probs[s], NULL, &ent[s])) return t->rc;
        ent_s[s] = tf(t, "%.3f", ent[s]);
    }
    out_sub(t, "Distributions");
    dist_table(t, names, 4, probs, "entropy (nats)", ent_s);
    if (t->plots) {
        plot_bar_panel p[4];
        for (int s = 0; s < 4; s++)
            p[s] = (plot_bar_panel){.title = tf(t, "Temperature = %.1f", (double)temps[s]), .n = EX_V,
                                    .labels = ex_vocab, .values = probs[s],
                                    .note = tf(t, "Entropy: %.3f", ent[s])};
        char msg[512];
        plot_or_warn(t, plot_bars(fig_base(t, "temperature_grid"), NULL, p, 4, 2, msg, sizeof msg), msg);
        if (t->rc) return t->rc;
        out_figure(t, "temperature_grid", "The distribution at four temperatures, with its entropy");
    }
    out_para(t, "Lower temperature: a peaked distribution and little randomness. Higher temperature: a "
                "flatter distribution and more randomness.");
    out_sub(t, "20 draws at each temperature");
    return draw_table(t, 3, names, sps, 4, 20);
}

static int section_topk(tour *t) {
    out_heading(t, 4, "top-k", "Top-k sampling");
    out_para(t, "Top-k keeps only the k most probable tokens, renormalises them and samples among those. The "
                "long tail of unlikely tokens can never be drawn, but k is the same however confident the "
                "model is.");
    static const int ks[4] = {1, 2, 4, 8};
    static const char *const names[4] = {"k = 1", "k = 2", "k = 4", "k = 8"};
    float probs[4][EX_V], orig[EX_V];
    tt_sampling_params full = params(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f), sps[4];
    if (ex_filter(t, &full, orig, NULL, NULL)) return t->rc;
    const char *kept_s[4];
    for (int s = 0; s < 4; s++) {
        int nk;
        sps[s] = params(TT_STRATEGY_TOP_K, 1.0f, ks[s], 1.0f);
        if (ex_filter(t, &sps[s], probs[s], &nk, NULL)) return t->rc;
        kept_s[s] = tf(t, "%d", nk);
    }
    out_sub(t, "Filtered distributions (T = 1)");
    dist_table(t, names, 4, probs, "kept", kept_s);
    if (t->plots) {
        plot_bar_panel p[4];
        for (int s = 0; s < 4; s++)
            p[s] = (plot_bar_panel){.title = tf(t, "Top-k = %d", ks[s]), .n = EX_V, .labels = ex_vocab,
                                    .values = probs[s], .values_label = "Top-k", .overlay = orig,
                                    .overlay_label = "Original"};
        char msg[512];
        plot_or_warn(t, plot_bars(fig_base(t, "topk_grid"), NULL, p, 4, 2, msg, sizeof msg), msg);
        if (t->rc) return t->rc;
        out_figure(t, "topk_grid", "Top-k filtered distributions over the original one");
    }
    out_sub(t, "20 draws at each k");
    return draw_table(t, 4, names, sps, 4, 20);
}

static int section_topp(tour *t) {
    out_heading(t, 5, "top-p", "Top-p (nucleus) sampling");
    out_para(t, "Top-p keeps the smallest group of most probable tokens whose probabilities add up to at least "
                "p (the nucleus), so the number kept follows the shape of the distribution: few when the model "
                "is sure, many when it is not.");
    out_para(t, "Our rule keeps the token that crosses p, as Hugging Face does; the notebook's figure cell "
                "keeps only tokens whose running total stays at or below p, so its nuclei can be one token "
                "smaller.");
    static const float ps[4] = {0.5f, 0.7f, 0.9f, 0.95f};
    static const char *const names[4] = {"p = 0.5", "p = 0.7", "p = 0.9", "p = 0.95"};
    float probs[4][EX_V], orig[EX_V];
    int nk[4];
    tt_sampling_params full = params(TT_STRATEGY_TEMPERATURE, 1.0f, 0, 1.0f), sps[4];
    if (ex_filter(t, &full, orig, NULL, NULL)) return t->rc;
    const char *kept_s[4];
    for (int s = 0; s < 4; s++) {
        sps[s] = params(TT_STRATEGY_TOP_P, 1.0f, 0, ps[s]);
        if (ex_filter(t, &sps[s], probs[s], &nk[s], NULL)) return t->rc;
        kept_s[s] = tf(t, "%d", nk[s]);
    }
    out_sub(t, "Filtered distributions (T = 1)");
    dist_table(t, names, 4, probs, "nucleus size", kept_s);
    if (t->plots) {
        plot_bar_panel p[4];
        for (int s = 0; s < 4; s++)
            p[s] = (plot_bar_panel){.title = tf(t, "Top-p = %g (nucleus size: %d)", (double)ps[s], nk[s]),
                                    .n = EX_V, .labels = ex_vocab, .values = probs[s],
                                    .values_label = tf(t, "Top-p (kept %d)", nk[s]), .overlay = orig,
                                    .overlay_label = "Original"};
        char msg[512];
        plot_or_warn(t, plot_bars(fig_base(t, "topp_grid"), NULL, p, 4, 2, msg, sizeof msg), msg);
        if (t->rc) return t->rc;
        out_figure(t, "topp_grid", "Top-p filtered distributions over the original one, with nucleus sizes");
    }
    out_para(t, "The nucleus adapts to the distribution: a peaked one keeps few tokens, a flat one many.");
    out_sub(t, "20 draws at each p");
    return draw_table(t, 5, names, sps, 4, 20);
}

static int section_combined(tour *t) {
    out_heading(t, 6, "combined", "Combined sampling");
    out_para(t, "Production systems chain the filters: temperature first, then top-k, then top-p on what "
                "top-k left. Each configuration below is drawn 30 times; the second table is the exact "
                "distribution each one samples from.");
    static const char *const names[5] = {"Greedy", "Low temp", "Temp + Top-k", "Temp + Top-p", "All combined"};
    static const char *const desc[5] = {"T=0 (argmax)", "T=0.5", "T=0.8, k=4", "T=0.8, p=0.9",
                                        "T=0.8, k=6, p=0.95"};
    tt_sampling_params sps[5] = {
        params(TT_STRATEGY_GREEDY, 1.0f, 0, 1.0f),        params(TT_STRATEGY_COMBINED, 0.5f, 0, 1.0f),
        params(TT_STRATEGY_COMBINED, 0.8f, 4, 1.0f),      params(TT_STRATEGY_COMBINED, 0.8f, 0, 0.9f),
        params(TT_STRATEGY_COMBINED, 0.8f, 6, 0.95f),
    };
    static const char *const hdr[4] = {"Configuration", "Settings", "Unique tokens", "Distribution of 30 draws"};
    table tb;
    tbl_begin(&tb, 4, hdr);
    float probs[5][EX_V];
    for (int s = 0; s < 5; s++) {
        freq fq;
        if (ex_filter(t, &sps[s], probs[s], NULL, NULL) || ex_draw(t, &sps[s], (uint64_t)(600 + s), 30, &fq)) {
            free(tb.cells);
            return t->rc;
        }
        const char *row[4] = {names[s], desc[s], tf(t, "%d/%d", freq_unique(&fq), EX_V), freq_text(t, &fq, 0)};
        tbl_row(&tb, row);
    }
    tbl_end(t, &tb);
    out_sub(t, "The distributions they draw from");
    dist_table(t, names, 5, probs, NULL, NULL);
    return 0;
}

/* ---- sections 7-10: a real model ---------------------------------------- */

/* Text for a table cell or a line: control characters shown as escapes. */
static const char *visible(tour *t, const char *s, int max_chars) {
    size_t n = strlen(s);
    char *buf = malloc(2 * n + 8);
    if (!buf) exit(CLI_EXIT_FAIL);
    size_t o = 0;
    int chars = 0;
    bool cut = false;
    for (const char *p = s; *p; p++) {
        bool starts = ((unsigned char)*p & 0xC0) != 0x80;
        if (starts && max_chars > 0 && chars == max_chars) {
            cut = true;
            break;
        }
        chars += starts;
        if (*p == '\n') buf[o++] = '\\', buf[o++] = 'n';
        else if (*p == '\t') buf[o++] = '\\', buf[o++] = 't';
        else if (*p == '\r') buf[o++] = '\\', buf[o++] = 'r';
        else buf[o++] = *p;
    }
    buf[o] = '\0';
    const char *r = tf(t, "%s%s", buf, cut ? "..." : "");
    free(buf);
    return r;
}

static char *corpus_text(void) {
    size_t unit = sizeof corpus_unit - 1;
    char *s = malloc(unit * CORPUS_REPEAT + 1);
    if (!s) exit(CLI_EXIT_FAIL);
    for (int i = 0; i < CORPUS_REPEAT; i++) memcpy(s + (size_t)i * unit, corpus_unit, unit);
    s[unit * CORPUS_REPEAT] = '\0';
    return s;
}

/* The outputs of one generate call, decoded, with copies of the entropies. */
typedef struct {
    int B;
    char **texts;   /* [B] prompt + continuation                 */
    size_t *prompt_bytes;
    double **ent;   /* [B][n_ent[r]] per-step entropies (nats)   */
    int *n_ent;
    int *n_generated;
    tt_finish_reason *finish;
} gen_result;

static void gen_result_free(gen_result *g) {
    for (int r = 0; r < g->B; r++) {
        if (g->texts) free(g->texts[r]);
        if (g->ent) free(g->ent[r]);
    }
    free(g->texts);
    free(g->prompt_bytes);
    free(g->ent);
    free(g->n_ent);
    free(g->n_generated);
    free(g->finish);
    memset(g, 0, sizeof *g);
}

/* Generates from B prompts; row r draws from the random stream
 * (seed, stream_base + r), so every table has streams of its own. */
static int run_generate(tour *t, const tt_generator_config *gc, const char *const *prompts, int B,
                        uint64_t stream_base, gen_result *res) {
    memset(res, 0, sizeof *res);
    uint64_t *row_ids = malloc((size_t)B * sizeof *row_ids);
    int **ids = calloc((size_t)B, sizeof *ids);
    int *lens = calloc((size_t)B, sizeof *lens);
    tt_generation *out = calloc((size_t)B, sizeof *out);
    res->B = B;
    res->texts = calloc((size_t)B, sizeof *res->texts);
    res->prompt_bytes = calloc((size_t)B, sizeof *res->prompt_bytes);
    res->ent = calloc((size_t)B, sizeof *res->ent);
    res->n_ent = calloc((size_t)B, sizeof *res->n_ent);
    res->n_generated = calloc((size_t)B, sizeof *res->n_generated);
    res->finish = calloc((size_t)B, sizeof *res->finish);
    tt_generator *g = NULL;
    bool generated = false;
    if (!row_ids || !ids || !lens || !out || !res->texts || !res->prompt_bytes || !res->ent || !res->n_ent ||
        !res->n_generated || !res->finish) {
        fail_msg(t, "out of memory");
        goto done;
    }
    for (int r = 0; r < B; r++) {
        size_t n;
        res->prompt_bytes[r] = strlen(prompts[r]);
        if (tt_tokenizer_encode(t->tok, prompts[r], strlen(prompts[r]), &ids[r], &n, &t->err) != TT_OK) {
            if (!t->rc)
                t->rc = t->model_path ? cli_usage_error("--model: the checkpoint cannot encode the prompt '%s': %s",
                                                        prompts[r], t->err.msg)
                                      : cli_report(&t->err);
            goto done;
        }
        lens[r] = (int)n;
        row_ids[r] = stream_base + (uint64_t)r;
    }
    if (tt_generator_create(&g, t->model, gc, &t->err) != TT_OK ||
        tt_generator_generate(g, (const int *const *)ids, lens, B, NULL, row_ids, NULL, NULL, out, &t->err) != TT_OK) {
        fail_lib(t);
        goto done;
    }
    generated = true;
    for (int r = 0; r < B; r++) {
        const double *e;
        int n;
        if (tt_tokenizer_decode(t->tok, out[r].tokens, (size_t)out[r].n_tokens, &res->texts[r], &t->err) != TT_OK ||
            tt_generator_step_entropies(g, r, &e, &n, &t->err) != TT_OK) {
            fail_lib(t);
            goto done;
        }
        res->ent[r] = malloc((size_t)(n > 0 ? n : 1) * sizeof *res->ent[r]);
        if (!res->ent[r]) {
            fail_msg(t, "out of memory");
            goto done;
        }
        if (n > 0) memcpy(res->ent[r], e, (size_t)n * sizeof *e);
        res->n_ent[r] = n;
        res->n_generated[r] = out[r].n_generated;
        res->finish[r] = out[r].finish;
    }
done:
    if (generated) tt_generations_free(out, B);
    free(out);
    tt_generator_free(g);
    for (int r = 0; ids && r < B; r++) free(ids[r]);
    free(ids);
    free(lens);
    free(row_ids);
    if (t->rc) gen_result_free(res);
    return t->rc;
}

static tt_generator_config gen_config(tour *t, int max_new, bool sample, float temp, int k, float p) {
    tt_generator_config gc = tt_generator_config_default();
    gc.max_new_tokens = max_new;
    gc.sampling.strategy = sample ? TT_STRATEGY_COMBINED : TT_STRATEGY_GREEDY;
    gc.sampling.temperature = temp;
    gc.sampling.top_k = k;
    gc.sampling.top_p = p;
    gc.seed = t->seed;
    gc.context_len = t->ctx.context_len;
    gc.context_shift = t->ctx.context_shift;
    return gc;
}

/* Section 7's last part: the loss against the evaluation window, and a
 * generation past the training length without and with the window. */
static int context_part(tour *t) {
    out_sub(t, "Context length: writing past the training length");
    const tt_model_config *mc = tt_model_get_config(t->model);
    const int T = tt_model_train_info(t->model)->seq_len, max_len = mc->max_len;
    if (T > 0)
        out_para(t, tf(t, "The model can take up to max_len = %d positions, but it was trained on windows of %d "
                          "characters: positions %d..%d were never trained. The loss of the training text, "
                          "evaluated in windows of N characters, shows what that means.",
                       max_len, T, T, max_len - 1));
    else
        out_para(t, tf(t, "This checkpoint does not record the length it was trained on, so its context defaults "
                          "to max_len = %d. The loss of a text evaluated in windows of N characters shows which "
                          "lengths it handles.",
                       max_len));
    char *text = corpus_text();
    int *ids = NULL;
    size_t n = 0;
    tt_error e;
    if (tt_tokenizer_encode(t->tok, text, strlen(text), &ids, &n, &e) != TT_OK) {
        out_para(t, tf(t, "(The model's vocabulary cannot spell the training text, so the loss table is skipped: %s)",
                       e.msg));
    } else {
        static const int windows[] = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
        double x[16], y[16], at_t = NAN;
        int nw = 0;
        static const char *const hdr[2] = {"Window N", "Loss (nats)"};
        table tb;
        tbl_begin(&tb, 2, hdr);
        for (size_t i = 0; i < sizeof windows / sizeof *windows; i++) {
            const int w = windows[i];
            if (w > max_len || (size_t)w >= n) break;
            double loss;
            if (tt_evaluate_tokens_window(t->model, ids, n, w, &loss, NULL, &t->err) != TT_OK) {
                free(ids);
                free(text);
                free(tb.cells);
                return fail_lib(t);
            }
            if (w == T) at_t = loss;
            x[nw] = w;
            y[nw++] = loss;
            const char *row[2] = {tf(t, "%d%s", w, w == T ? " (training length)" : ""), tf(t, "%.4f", loss)};
            tbl_row(&tb, row);
        }
        tbl_end(t, &tb);
        if (t->plots && nw > 1) {
            double lo = y[0], hi = y[0];
            for (int i = 1; i < nw; i++) lo = y[i] < lo ? y[i] : lo, hi = y[i] > hi ? y[i] : hi;
            char msg[512];
            plot_or_warn(t,
                         plot_line(fig_base(t, "loss_vs_window"), "Evaluation loss vs window", "Window (characters)",
                                   "Loss (nats)", x, y, nw, "Loss of the training text",
                                   isnan(at_t) ? lo : at_t,
                                   isnan(at_t) ? "Lowest loss" : tf(t, "At the training length %d", T),
                                   lo > 0.5 ? lo - 0.5 : 0.0, hi + 0.5, msg, sizeof msg),
                         msg);
            if (t->rc) {
                free(ids);
                free(text);
                return t->rc;
            }
            out_figure(t, "loss_vs_window", "Evaluation loss against the window");
        }
        out_para(t, T > 0 ? "Up to the training length the windows see only trained positions; beyond it every "
                            "extra position is one the model never learned, and the loss grows."
                          : "Where the loss starts to grow, the model meets positions it never learned.");
    }
    free(ids);
    free(text);
    /* generation past the training length: W = max_len against the default window */
    const int n_new = max_len - 6 < 200 ? max_len - 6 : 200;
    if (n_new < 1) return 0;
    tt_generator_config wide = gen_config(t, n_new, false, 1.0f, 0, 1.0f);
    wide.context_len = max_len;
    tt_generator_config win = gen_config(t, n_new, false, 1.0f, 0, 1.0f);
    const char *prompt[1] = {"hello "};
    gen_result a, b;
    if (run_generate(t, &wide, prompt, 1, 75000, &a)) return t->rc;
    if (run_generate(t, &win, prompt, 1, 75100, &b)) {
        gen_result_free(&a);
        return t->rc;
    }
    tt_generator *g = NULL;
    int W = 0;
    if (tt_generator_create(&g, t->model, &win, &t->err) != TT_OK) {
        gen_result_free(&a);
        gen_result_free(&b);
        return fail_lib(t);
    }
    W = tt_generator_context_len(g);
    tt_generator_free(g);
    out_para(t, tf(t, "Greedy, %d new characters from \"hello \". First with the whole context (window %d: the "
                      "text runs into positions the model never trained on):",
                   n_new, max_len));
    out_pre(t, visible(t, a.texts[0], 0));
    if (win.context_shift == TT_CONTEXT_SHIFT_HALF)
        out_para(t, tf(t, "Then with the context window (--context %d, --context-shift half, the default): when the "
                          "window is full it restarts with its last %d characters, so every character is predicted "
                          "from trained positions only:",
                       W, W / 2 > 0 ? W / 2 : 1));
    else
        out_para(t, tf(t, "Then with the context window (--context %d, --context-shift exact): every character is "
                          "predicted from the last %d characters at positions 0..%d, recomputed at every step:",
                       W, W, W - 1));
    out_pre(t, visible(t, b.texts[0], 0));
    gen_result_free(&a);
    gen_result_free(&b);
    return 0;
}

typedef struct {
    tour *t;
    table *log;
    bool tty;
} train_ctx;

static int on_train_step(void *user, const tt_train_progress *p) {
    train_ctx *c = user;
    if (c->tty) {
        int width = 30, done = p->max_steps ? p->step * width / p->max_steps : width;
        fprintf(stderr, "\r  training [%.*s%*s] %d/%d  loss %.4f ", done, "##############################",
                width - done, "", p->step, p->max_steps, (double)p->loss);
        if (p->step == p->max_steps) fputc('\n', stderr);
        fflush(stderr);
    }
    if (p->is_log_step) {
        if (!c->tty) /* a log line on stderr keeps a piped run informative */
            fprintf(stderr, "  training step %d/%d  loss %.4f\n", p->step, p->max_steps, (double)p->loss);
        const char *row[3] = {tf(c->t, "%d/%d", p->step, p->max_steps), tf(c->t, "%.4f", (double)p->loss),
                              tf(c->t, "%.2e", (double)p->lr)};
        tbl_row(c->log, row);
    }
    return 0;
}

static int section_generator(tour *t) {
    out_heading(t, 7, "generator", "The TextGenerator: a tiny model that writes");
    out_para(t, "Now the same rules drive a real model. We fit a character tokenizer to the notebook's "
                "training text (one sentence repeated ten times), train the tiny preset on it for a moment "
                "(or load --model), and let the generator continue a prompt one character at a time.");
    out_para(t, tf(t, "The training text is this sentence, ten times over: \"%.*s\"", (int)(sizeof corpus_unit - 2),
                   corpus_unit));
    char *text = corpus_text();
    tt_tokenizer *ctok = NULL;
    if (tt_tokenizer_fit(&ctok, text, strlen(text), &t->err) != TT_OK) {
        free(text);
        return fail_lib(t);
    }
    out_sub(t, "Tokenizer");
    int V = tt_tokenizer_vocab_size(ctok);
    char chars[1024];
    size_t off = 0;
    for (int i = 0; i < V && off < sizeof chars - 16; i++) {
        char u[5];
        tt_tokenizer_token_utf8(ctok, i, u);
        off += (size_t)snprintf(chars + off, sizeof chars - off, "%s'%s'", i ? ", " : "",
                                visible(t, u, 0));
    }
    out_para(t, tf(t, "Training text: %zu characters. Vocabulary size: %d.", strlen(text), V));
    out_pre(t, tf(t, "Characters: [%s]", chars));

    if (t->model_path) {
        tt_tokenizer_free(ctok);
        free(text);
        out_sub(t, "The model"); /* loaded and checked before any output (load_model) */
        const tt_model_config *mc = tt_model_get_config(t->model);
        out_para(t, tf(t, "Using the checkpoint %s instead of training: %zu parameters, d_model %d, %d layers, "
                          "%d heads, vocabulary %d. Its own vocabulary is used from here on.",
                       t->model_path, tt_model_num_params(t->model), mc->d_model, mc->n_layers, mc->n_heads,
                       mc->vocab_size));
    } else {
        t->tok = ctok;
        out_sub(t, "Training the tiny model");
        tt_model_config mc;
        int *ids = NULL;
        size_t n_ids = 0;
        if (tt_model_config_preset("tiny", V, &mc, &t->err) != TT_OK ||
            tt_model_create(&t->model, &mc, t->seed, &t->err) != TT_OK ||
            tt_tokenizer_encode(t->tok, text, strlen(text), &ids, &n_ids, &t->err) != TT_OK) {
            free(text);
            return fail_lib(t);
        }
        free(text);
        tt_train_config tc = tt_train_config_default();
        tc.seq_len = 32;
        tc.batch_size = 4;
        tc.learning_rate = 1e-3f;
        tc.max_steps = t->train_steps;
        tc.log_interval = 20;
        tc.eval_interval = 0;
        tc.save_interval = 0;
        tc.seed = t->seed;
        out_para(t, tf(t, "The tiny preset (d_model 128, 4 heads, 4 layers, d_ff 512): %zu parameters. "
                          "%d steps of AdamW at learning rate 1e-3 on batches of 4 windows of 32 characters.",
                       tt_model_num_params(t->model), tc.max_steps));
        static const char *const hdr[3] = {"Step", "Loss", "Learning rate"};
        table log;
        tbl_begin(&log, 3, hdr);
        train_ctx ctx = {t, &log, isatty(2) != 0};
        tt_train_result res;
        fflush(stdout); /* the progress (stderr) comes after the heading */
        tt_status st = tt_train(t->model, t->tok, ids, n_ids, NULL, 0, &tc, on_train_step, &ctx, &res, &t->err);
        free(ids);
        if (st != TT_OK) {
            free(log.cells);
            return fail_lib(t);
        }
        tbl_end(t, &log);
        const char *ckpt = tf(t, "%s/tiny.safetensors", t->out_dir);
        if (tt_checkpoint_save(ckpt, t->model, t->tok, &t->err) != TT_OK) return fail_lib(t);
        out_para(t, tf(t, "Final training loss %.4f after %d steps (%.1f s).%s", (double)res.final_loss,
                       res.steps_done, res.seconds,
                       res.warmup_capped
                           ? tf(t, " The default 100 warmup steps do not fit in so short a run, so warmup was "
                                   "capped at %d steps.", res.warmup_used)
                           : ""));
        out_para(t, "The trained model is saved as tiny.safetensors beside the report; try it with "
                    "tt generate --model tiny.safetensors, or rerun the tour on it with --model.");
    }

    out_sub(t, "Six strategies from the prompt \"hello \"");
    out_para(t, "Each strategy continues the prompt by 30 characters.");
    static const char *const names[6] = {"Greedy", "Temperature=0.5", "Temperature=1.0", "Top-k=5",
                                         "Top-p=0.9", "Combined"};
    static const char *const desc[6] = {"do_sample off", "T=0.5", "T=1.0", "T=0.8, k=5", "T=0.8, p=0.9",
                                        "T=0.8, k=10, p=0.95"};
    tt_generator_config gcs[6] = {
        gen_config(t, 30, false, 1.0f, 0, 1.0f), gen_config(t, 30, true, 0.5f, 0, 1.0f),
        gen_config(t, 30, true, 1.0f, 0, 1.0f),  gen_config(t, 30, true, 0.8f, 5, 1.0f),
        gen_config(t, 30, true, 0.8f, 0, 0.9f),  gen_config(t, 30, true, 0.8f, 10, 0.95f),
    };
    static const char *const hdr[3] = {"Strategy", "Settings", "Output"};
    table tb;
    tbl_begin(&tb, 3, hdr);
    for (int s = 0; s < 6; s++) {
        const char *prompt[1] = {"hello "};
        gen_result g;
        if (run_generate(t, &gcs[s], prompt, 1, (uint64_t)(70000 + 100 * s), &g)) {
            free(tb.cells);
            return t->rc;
        }
        const char *row[3] = {names[s], desc[s], visible(t, g.texts[0], 0)};
        tbl_row(&tb, row);
        gen_result_free(&g);
    }
    tbl_end(t, &tb);
    return context_part(t);
}

/* The prompt of the diversity samples (ASCII: its bytes are its characters). */
#define DIVERSITY_PROMPT "hello "

/* Runs n_samples generations of one config and measures them. */
static int measure(tour *t, const tt_generator_config *gc, int n_samples, uint64_t stream_base,
                   tt_diversity_metrics *m, gen_result *keep) {
    const char **prompts = malloc((size_t)n_samples * sizeof *prompts);
    if (!prompts) return fail_msg(t, "out of memory");
    for (int r = 0; r < n_samples; r++) prompts[r] = DIVERSITY_PROMPT;
    gen_result g;
    int rc = run_generate(t, gc, prompts, n_samples, stream_base, &g);
    free(prompts);
    if (rc) return rc;
    if (tt_diversity_measure((const char *const *)g.texts, n_samples, g.prompt_bytes, (const double *const *)g.ent,
                             g.n_ent, m, &t->err) != TT_OK) {
        gen_result_free(&g);
        return fail_lib(t);
    }
    if (keep) *keep = g;
    else gen_result_free(&g);
    return 0;
}

static int section_diversity(tour *t) {
    out_heading(t, 8, "diversity", "Diversity versus quality");
    out_para(t, "Randomness buys variety at the price of coherence. To put numbers on the variety we draw "
                "several continuations of the same prompt and count how many differ, how many characters they "
                "use, how many of their character n-grams are distinct (distinct-1, distinct-2, over the "
                "generated part), and the mean entropy (nats) of the distributions the characters were drawn "
                "from.");
    static const char *const names[5] = {"Greedy", "Temp=0.3", "Temp=0.8", "Temp=1.5", "Top-p=0.9"};
    tt_generator_config gcs[5] = {
        gen_config(t, 20, false, 1.0f, 0, 1.0f), gen_config(t, 20, true, 0.3f, 0, 1.0f),
        gen_config(t, 20, true, 0.8f, 0, 1.0f),  gen_config(t, 20, true, 1.5f, 0, 1.0f),
        gen_config(t, 20, true, 0.8f, 0, 0.9f),
    };
    out_sub(t, "Five configurations, 10 samples of 20 new characters each");
    static const char *const hdr[8] = {"Configuration", "Unique samples", "Uniqueness", "Avg new chars",
                                       "Unique chars", "distinct-1", "distinct-2", "Mean entropy (nats)"};
    table tb;
    tbl_begin(&tb, 8, hdr);
    char *samples = NULL;
    size_t samples_len = 0;
    FILE *sf = open_memstream(&samples, &samples_len);
    if (!sf) return fail_msg(t, "out of memory");
    for (int s = 0; s < 5; s++) {
        tt_diversity_metrics m;
        gen_result g;
        if (measure(t, &gcs[s], 10, (uint64_t)(80000 + 100 * s), &m, &g)) {
            free(tb.cells);
            fclose(sf);
            free(samples);
            return t->rc;
        }
        const char *row[8] = {names[s],
                              tf(t, "%d/%d", m.unique_samples, m.n_samples),
                              tf(t, "%.0f%%", 100.0 * m.uniqueness_ratio),
                              tf(t, "%.1f", m.avg_length - (double)(sizeof DIVERSITY_PROMPT - 1)), /* without the prompt */
                              tf(t, "%d", m.unique_chars),
                              tf(t, "%.3f", m.distinct_1),
                              tf(t, "%.3f", m.distinct_2),
                              tf(t, "%.3f", m.mean_token_entropy)};
        tbl_row(&tb, row);
        fprintf(sf, "%s%s:\n", s ? "\n" : "", names[s]);
        for (int r = 0; r < 3 && r < g.B; r++) fprintf(sf, "  %d. %s\n", r + 1, visible(t, g.texts[r], 50));
        gen_result_free(&g);
    }
    tbl_end(t, &tb);
    fclose(sf);
    out_sub(t, "The first three samples of each");
    if (samples && samples_len && samples[samples_len - 1] == '\n') samples[samples_len - 1] = '\0';
    out_pre(t, samples ? samples : "");
    free(samples);

    out_sub(t, "Diversity against temperature (20 samples each)");
    static const double temps[8] = {0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5};
    double ratio[8];
    static const char *const hdr2[5] = {"Temperature", "Unique samples", "Uniqueness ratio", "distinct-2",
                                        "Mean entropy (nats)"};
    tbl_begin(&tb, 5, hdr2);
    for (int i = 0; i < 8; i++) {
        tt_diversity_metrics m;
        tt_generator_config gc = gen_config(t, 20, true, (float)temps[i], 0, 1.0f);
        if (measure(t, &gc, 20, (uint64_t)(85000 + 100 * i), &m, NULL)) {
            free(tb.cells);
            return t->rc;
        }
        ratio[i] = m.uniqueness_ratio;
        const char *row[5] = {tf(t, "%.1f", temps[i]), tf(t, "%d/%d", m.unique_samples, m.n_samples),
                              tf(t, "%.2f", m.uniqueness_ratio), tf(t, "%.3f", m.distinct_2),
                              tf(t, "%.3f", m.mean_token_entropy)};
        tbl_row(&tb, row);
    }
    tbl_end(t, &tb);
    if (t->plots) {
        char msg[512];
        plot_or_warn(t,
                     plot_line(fig_base(t, "diversity_vs_temperature"), "Diversity vs Temperature", "Temperature",
                               "Uniqueness Ratio", temps, ratio, 8, "Uniqueness ratio", 1.0, "Perfect diversity",
                               0.0, 1.1, msg, sizeof msg),
                     msg);
        if (t->rc) return t->rc;
        out_figure(t, "diversity_vs_temperature", "Uniqueness ratio against temperature");
    }
    out_para(t, "Higher temperature gives more varied samples, and usually less coherent ones.");
    return 0;
}

static int section_eos(tour *t) {
    out_heading(t, 9, "eos", "Stopping at an end-of-sequence token");
    out_para(t, "The generator can stop a row as soon as it produces a chosen end-of-sequence (EOS) token, "
                "instead of always running to max_new_tokens.");
    int eos;
    const char *eos_name = "newline";
    if (tt_tokenizer_id(t->tok, '\n', &eos) != TT_OK) {
        out_para(t, "The notebook uses the newline character as EOS, but its training text has no newline, so "
                    "the character is not in the vocabulary and the notebook skips the demo. To still show the "
                    "mechanism we stop at '.', which ends the corpus sentence.");
        eos_name = "'.'";
        if (tt_tokenizer_id(t->tok, '.', &eos) != TT_OK) {
            out_para(t, "This model's vocabulary has no '.' either, so the demo is skipped.");
            return 0;
        }
    }
    tt_generator_config gc = gen_config(t, 50, true, 0.8f, 0, 1.0f);
    gc.eos_token_id = eos;
    const char *prompt[1] = {"hello "};
    gen_result g;
    if (run_generate(t, &gc, prompt, 1, 90000, &g)) return t->rc;
    out_para(t, tf(t, "EOS = %s (id %d), T = 0.8, at most 50 new characters:", eos_name, eos));
    out_pre(t, visible(t, g.texts[0], 0));
    out_para(t, tf(t, "Generated %d new tokens (the limit was 50); finish reason: %s.", g.n_generated[0],
                   g.finish[0] == TT_FINISH_EOS ? "eos" : "length"));
    gen_result_free(&g);
    return 0;
}

static int section_batch(tour *t) {
    out_heading(t, 10, "batch", "Batch generation");
    out_para(t, "Several prompts can be continued in one call. The prompts here have different lengths; each "
                "row attends only to its own tokens and draws from its own random stream, so no padding is "
                "needed and a row's output does not depend on its neighbours.");
    static const char *const prompts[3] = {"hello ", "this is ", "test "};
    tt_generator_config gc = gen_config(t, 20, true, 0.8f, 0, 0.9f);
    gen_result g;
    if (run_generate(t, &gc, prompts, 3, 100000, &g)) return t->rc;
    out_para(t, "Three prompts of 6, 8 and 5 characters; T = 0.8, top-p 0.9, 20 new characters each.");
    static const char *const hdr[3] = {"#", "Prompt", "Output"};
    table tb;
    tbl_begin(&tb, 3, hdr);
    for (int r = 0; r < 3; r++) {
        const char *row[3] = {tf(t, "%d", r + 1), tf(t, "'%s'", prompts[r]), tf(t, "'%s'", visible(t, g.texts[r], 0))};
        tbl_row(&tb, row);
    }
    tbl_end(t, &tb);
    gen_result_free(&g);
    return 0;
}

/* Section 11: controls the notebook does not have (docs/sampling.md). */
static int section_beyond(tour *t) {
    out_heading(t, 11, "beyond", "Beyond the notebook: min-p and a repetition penalty");
    out_para(t, "Min-p keeps every token whose probability is at least min_p times the top token's, so its "
                "cut follows the model's confidence. Top-p keeps a fixed share of the mass instead: on a "
                "peaked distribution it may have to admit unlikely tokens to reach that share, and on a flat "
                "one it drops tokens that are nearly as likely as the best.");
    /* the 8-word example made peaked (T = 0.7) and flat (T = 3) */
    static const float temps[2] = {0.7f, 3.0f};
    static const char *const shape[2] = {"peaked (T = 0.7)", "flat (T = 3)"};
    float probs[4][EX_V], orig[2][EX_V];
    int nk[4];
    const char *names[4], *kept_s[4];
    for (int d = 0; d < 2; d++) {
        tt_sampling_params full = params(TT_STRATEGY_TEMPERATURE, temps[d], 0, 1.0f);
        tt_sampling_params tp = params(TT_STRATEGY_COMBINED, temps[d], 0, 0.9f);
        tt_sampling_params mp = params(TT_STRATEGY_TEMPERATURE, temps[d], 0, 1.0f);
        mp.x.min_p = 0.2f;
        if (ex_filter(t, &full, orig[d], NULL, NULL) || ex_filter(t, &tp, probs[2 * d], &nk[2 * d], NULL) ||
            ex_filter(t, &mp, probs[2 * d + 1], &nk[2 * d + 1], NULL))
            return t->rc;
        names[2 * d] = tf(t, "%s, top-p 0.9", shape[d]);
        names[2 * d + 1] = tf(t, "%s, min-p 0.2", shape[d]);
        kept_s[2 * d] = tf(t, "%d", nk[2 * d]);
        kept_s[2 * d + 1] = tf(t, "%d", nk[2 * d + 1]);
    }
    out_sub(t, "Kept distributions");
    dist_table(t, names, 4, probs, "kept", kept_s);
    if (t->plots) {
        plot_bar_panel p[4];
        for (int k = 0; k < 4; k++)
            p[k] = (plot_bar_panel){.title = tf(t, "%s (kept %d)", names[k], nk[k]), .n = EX_V,
                                    .labels = ex_vocab, .values = probs[k], .values_label = "Kept",
                                    .overlay = orig[k / 2], .overlay_label = "Before the cut"};
        char msg[512];
        plot_or_warn(t, plot_bars(fig_base(t, "topp_vs_minp"), NULL, p, 4, 2, msg, sizeof msg), msg);
        if (t->rc) return t->rc;
        out_figure(t, "topp_vs_minp", "Top-p 0.9 against min-p 0.2 on a peaked and a flat distribution");
    }
    out_para(t, tf(t, "Peaked: top-p keeps %d tokens, min-p %d. Flat: top-p keeps %d, min-p %d.", nk[0], nk[1],
                   nk[2], nk[3]));

    out_sub(t, "Generation with and without a repetition penalty");
    out_para(t, "A repetition penalty divides the logit of every token already in the context (multiplies it "
                "when negative), so the model is pushed away from what it has written. Greedy decoding "
                "shows it best: without the penalty it settles into a loop.");
    static const char *const prompt[1] = {"hello "};
    static const float pens[3] = {1.0f, 1.3f, 2.0f};
    static const char *const hdr[3] = {"Repetition penalty", "Greedy output (60 characters)", "Distinct characters"};
    table tb;
    tbl_begin(&tb, 3, hdr);
    for (int k = 0; k < 3; k++) {
        tt_generator_config gc = gen_config(t, 60, false, 1.0f, 0, 1.0f);
        gc.sampling.x.repetition_penalty = pens[k];
        gen_result g;
        if (run_generate(t, &gc, prompt, 1, 110000 + 100 * (uint64_t)k, &g)) return t->rc;
        bool seen[256] = {false};
        int distinct = 0;
        for (const char *c = g.texts[0] + g.prompt_bytes[0]; *c; c++)
            if (!seen[(unsigned char)*c]) seen[(unsigned char)*c] = true, distinct++;
        const char *row[3] = {k ? tf(t, "%g", (double)pens[k]) : "off (1)", tf(t, "'%s'", visible(t, g.texts[0], 0)),
                              tf(t, "%d", distinct)};
        tbl_row(&tb, row);
        gen_result_free(&g);
    }
    tbl_end(t, &tb);
    out_para(t, "tt generate, tt chat and tt sample take these controls and more: --min-p, --typical-p, "
                "--repetition-penalty, --presence-penalty, --frequency-penalty, DRY, --logit-bias, --stop, "
                "--logprobs, --num-beams and --samplers (the order of the chain).");
    return 0;
}

static void section_summary(tour *t) {
    printf("\n== Summary ==\n");
    report_heading(t->rep, 2, "summary", "Summary");
    out_para(t, "Greedy is reproducible but repetitive. Temperature sets how adventurous sampling is. Top-k "
                "cuts the tail to a fixed number of tokens; top-p cuts it where the probability mass runs "
                "out, so it adapts to the model's confidence. Real systems combine temperature with top-k "
                "and/or top-p, trading coherence for variety.");
    static const char *const hdr[3] = {"Use", "Temperature", "top-p"};
    table tb;
    tbl_begin(&tb, 3, hdr);
    const char *r1[3] = {"Factual text", "0.3-0.5", "0.9"};
    const char *r2[3] = {"Creative writing", "0.8-1.0", "0.95"};
    const char *r3[3] = {"Code", "0.2-0.4", "0.9"};
    tbl_row(&tb, r1);
    tbl_row(&tb, r2);
    tbl_row(&tb, r3);
    tbl_end(t, &tb);
}

/* Issue 17: the tour leads on, to the exercises, tt sample and the guide. */
static void section_next_steps(tour *t) {
    printf("\n== Next steps ==\n");
    report_heading(t->rep, 2, "next-steps", "Next steps");
    out_para(t, "Now do it yourself. Three places to go from here:");
    out_para(t, "1. make exercises: the course's 14 exercises in C, from exercises/ex01_greedy.c to "
                "ex14_story.c, checked one by one. make exercises SHOW=1 shows your results (kept sets, "
                "tables, the texts you generate) beside the reference's.");
    out_para(t, "2. tt sample on your own logits, e.g. tt sample --logits \"3,2,1\" --temperature 0.5 "
                "--top-p 0.8 --draws 1000: the tempered distribution before the cut and its running sum, "
                "what the cut keeps (here one token), and the draws.");
    out_para(t, "3. The learner's guide, docs/learners-guide.md: what entropy means and in which unit, why "
                "the order of temperature and top-p matters (and not for top-k), why top-p keeps the token "
                "that crosses p, and what each exercise is for.");
}

/* ---- the command --------------------------------------------------------- */

/* Loads --model before anything is printed, so that a bad checkpoint or one
 * that cannot spell the prompts fails cleanly with nothing on stdout. */
static int load_model(tour *t) {
    int load_rc = cli_load_model(t->model_path, &t->model, &t->tok);
    if (load_rc != CLI_EXIT_OK) return load_rc;
    if (!t->tok) return cli_fail("--model: '%s' has no vocabulary", t->model_path);
    static const char *const prompts[3] = {"hello ", "this is ", "test "};
    for (int i = 0; i < 3; i++) {
        int *ids = NULL;
        size_t n;
        tt_status st = tt_tokenizer_encode(t->tok, prompts[i], strlen(prompts[i]), &ids, &n, &t->err);
        free(ids);
        if (st != TT_OK)
            return cli_usage_error("--model: the checkpoint cannot encode the prompt '%s': %s", prompts[i],
                                   t->err.msg);
    }
    return 0;
}


static void usage(FILE *f) {
    fputs("usage: tt tour [--out DIR] [--model CKPT] [--seed N] [--no-plots] [--sections LIST]\n"
          "               [--train-steps N] [--context N] [--context-shift exact|half]\n"
          "\n"
          "Runs the Module 07 notebook as a walkthrough: text and tables on stdout, and\n"
          "DIR/report.html with the figures (PNG + SVG, drawn by gnuplot) beside it.\n"
          "\n"
          "  --out DIR          output directory (default tour-out; created if needed)\n"
          "  --model CKPT       use this checkpoint instead of training the tiny model\n"
          "  --seed N           random seed for every draw and for training (default 42)\n"
          "  --no-plots         skip the figures (gnuplot is then not needed)\n"
          "  --sections LIST    only these sections, e.g. 1-6 or 1,3,8 (default 1-11);\n"
          "                     8-11 continue from section 7's model, so without --model\n"
          "                     they also run 7 (which trains it)\n"
          "  --train-steps N    training steps for the tiny model (default 100, as the notebook)\n"
          "  --context N        context window of every generation (default: the model's training\n"
          "                     length, else max_len)\n"
          "  --context-shift M  half (default) or exact: how the window slides past N\n"
          "\n"
          "Sections: 1 basics, 2 greedy, 3 temperature, 4 top-k, 5 top-p, 6 combined,\n"
          "7 tokenizer + training + generation strategies + context length, 8 diversity, 9 EOS,\n"
          "10 batch, 11 beyond the notebook (min-p against top-p, a repetition penalty).\n",
          f);
}

static int parse_sections(const char *s, unsigned *mask) {
    *mask = 0;
    const char *p = s;
    if (!*p) return cli_usage_error("--sections: empty list");
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b;
        if (end == p || a < 1 || a > N_SECTIONS)
            return cli_usage_error("--sections: expected section numbers 1-%d, got '%s'", N_SECTIONS, s);
        b = a;
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1 || b < a || b > N_SECTIONS)
                return cli_usage_error("--sections: bad range in '%s'", s);
            p = end;
        }
        for (long i = a; i <= b; i++) *mask |= 1u << (i - 1);
        if (*p == ',') {
            p++;
            if (!*p) return cli_usage_error("--sections: trailing comma in '%s'", s);
        } else if (*p) {
            return cli_usage_error("--sections: expected section numbers 1-%d, got '%s'", N_SECTIONS, s);
        }
    }
    return 0;
}

/* mkdir -p; prints the error itself. */
static int make_dirs(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return cli_usage_error("--out: path too long");
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cli_usage_error("--out: cannot create '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_usage_error("--out: '%s' is not a directory (tt tour writes a directory of files)", path);
    return 0;
}

int cmd_tour(int argc, char **argv) {
    tour t;
    memset(&t, 0, sizeof t);
    t.out_dir = "tour-out";
    t.seed = 42;
    t.plots = true;
    t.sections = ALL_SECTIONS;
    t.train_steps = 100;
    t.ctx = tt_generator_config_default();
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (cli_is_flag(argv[i], "--no-plots")) {
            t.plots = false;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            if (!*v) return cli_usage_error("--out: empty path");
            t.out_dir = v;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v) return CLI_EXIT_USAGE;
            if (!*v) return cli_usage_error("--model: empty path");
            t.model_path = v;
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            if (!v || cli_u64("--seed", v, &t.seed)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--sections", &v)) {
            if (!v || parse_sections(v, &t.sections)) return CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--train-steps", &v)) {
            if (!v || cli_int("--train-steps", v, 1, 100000, &t.train_steps)) return CLI_EXIT_USAGE;
        } else if (cli_context_opt(argc, argv, &i, &t.ctx, &bad)) {
            if (bad) return bad;
        } else {
            return cli_unknown(argv[i]);
        }
    }
    char msg[512];
    if (t.plots && !plot_available(msg, sizeof msg)) return cli_fail("%s", msg);
    if (t.model_path) {
        struct stat st;
        if (stat(t.model_path, &st) != 0)
            return cli_usage_error("--model: cannot open '%s': %s", t.model_path, strerror(errno));
        if (S_ISDIR(st.st_mode)) return cli_usage_error("--model: '%s' is a directory, not a file", t.model_path);
    }
    /* Sections 8-11 continue from section 7's model: without --model, 7 trains it. */
    const unsigned model_sections = ALL_SECTIONS & ~((1u << 6) - 1);
    if ((t.sections & model_sections) && !t.model_path) t.sections |= 1u << 6;
    if ((t.sections & model_sections) && t.model_path) {
        int lrc = load_model(&t);
        if (!lrc) lrc = cli_check_context(t.model, &t.ctx);
        if (lrc) {
            tt_model_free(t.model);
            tt_tokenizer_free(t.tok);
            return lrc;
        }
    }
    if ((t.sections & model_sections) && !t.model_path) { /* the tiny model section 7 trains */
        tt_model_config pc;
        tt_model_config_preset("tiny", 1, &pc, NULL);
        if (t.ctx.context_len > pc.max_len)
            return cli_usage_error("--context: %d exceeds the model's max_len %d", t.ctx.context_len, pc.max_len);
    }
    int mrc = make_dirs(t.out_dir);
    if (mrc) {
        tt_model_free(t.model);
        tt_tokenizer_free(t.tok);
        for (size_t i = 0; i < t.n_pool; i++) free(t.pool[i]);
        free(t.pool);
        return mrc;
    }
    const char *report_path = tf(&t, "%s/report.html", t.out_dir);
    t.rep = report_open(report_path, "Module 07: Sampling & Generation, a walkthrough", msg, sizeof msg);
    if (!t.rep) {
        int rc = cli_fail("%s", msg);
        tt_model_free(t.model);
        tt_tokenizer_free(t.tok);
        for (size_t i = 0; i < t.n_pool; i++) free(t.pool[i]);
        free(t.pool);
        return rc;
    }
    if (tt_sampler_create(&t.sampler, EX_V, &t.err) != TT_OK) fail_lib(&t);

    printf("Module 07: Sampling & Generation, a walkthrough (seed %llu)\n", (unsigned long long)t.seed);
    report_para(t.rep, tf(&t,
                          "Made by tt tour (tiny-transformer %s) with seed %llu. Every table of draws below uses its "
                          "own random stream of that seed, so the same command prints the same tables.",
                          tt_version(), (unsigned long long)t.seed));
    typedef int (*section_fn)(tour *);
    static const section_fn sections[N_SECTIONS] = {
        section_basics, section_greedy, section_temperature, section_topk, section_topp,
        section_combined, section_generator, section_diversity, section_eos, section_batch, section_beyond,
    };
    for (int s = 0; s < N_SECTIONS && !t.rc; s++) {
        if (!(t.sections & (1u << s))) continue;
        if (sections[s](&t) && !t.rc) t.rc = CLI_EXIT_FAIL;
        fflush(stdout);
    }
    if (!t.rc && t.sections == ALL_SECTIONS) section_summary(&t);
    if (!t.rc && t.sections == ALL_SECTIONS) section_next_steps(&t);

    if (t.rc) {
        report_discard(t.rep);
    } else if (report_close(t.rep, msg, sizeof msg)) {
        t.rc = cli_fail("%s", msg);
    } else {
        fflush(stdout);
        fprintf(stderr, "tt tour: report written to %s\n", report_path);
    }
    tt_sampler_free(t.sampler);
    tt_model_free(t.model);
    tt_tokenizer_free(t.tok);
    for (size_t i = 0; i < t.n_pool; i++) free(t.pool[i]);
    free(t.pool);
    return t.rc;
}
