/* tt sample — draw tokens from rows of logits with greedy, temperature, top-k,
 * top-p or combined sampling, and show the distribution each draw came from. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sampling_flags.h"
#include "tt/sampling.h"

enum { MAX_DRAWS = 10000000, MAX_SAMPLES_SHOWN = 1000, TABLE_MAX_ROWS = 40, TABLE_TOP = 20,
       BAR_WIDTH = 20 };
#define MAX_TOTAL_DRAWS 33554432.0 /* rows x draws kept in memory */

static void usage(FILE *f) {
    fprintf(f,
            "usage: tt sample --logits \"1.5,2.8,2.5,0.5,1.0,0.8,0.3,0.2\" [--logits \"...\"]...\n"
            "                 [--logits-file F] [--labels \"the,cat,dog,...\"]\n"
            "                 [--strategy greedy|temperature|top-k|top-p|combined]\n"
            "                 [--temperature T] [--top-k K] [--top-p P] [--draws N] [--seed S]\n"
            "                 [--json]\n"
            "\n"
            "Draws N tokens from each row of logits (one --logits per batch row, or one row\n"
            "per line of F, values separated by commas or blanks; -inf masks a token) and\n"
            "prints, per row, each token's original probability (softmax at T = 1), the\n"
            "probability it was drawn with after temperature, top-k and top-p, and the counts.\n"
            "\n"
            "  --strategy S      default combined (temperature, then top-k, then top-p)\n"
            "  --temperature T   finite, >= 0; 0 means greedy (default 1.0)\n"
            "  --top-k K         keep the K most probable tokens; 0 = off (default 0)\n"
            "  --top-p P         keep the smallest set reaching mass P, in (0, 1]; 1 = off (default 1.0)\n"
            "  --draws N         draws per row, 1..%d (default 1)\n"
            "  --seed S          row r uses the random stream (S, r) (default 42)\n"
            "  --labels L        comma-separated token labels, one per logit (default: ids)\n"
            "  --json            one JSON object: strategy, temperature, top_k, top_p, seed, draws,\n"
            "                    the controls set, chain (the stages applied, in order),\n"
            "                    rows[{probs, kept, entropy_bits, counts, samples}]\n"
            "  --history IDS     token ids of the text so far (comma-separated), which the\n"
            "                    penalties and DRY look at (as generated tokens)\n",
            MAX_DRAWS);
    cli_sampling_usage(f, CLI_SF_CHAIN);
}

typedef struct {
    float *values; /* [rows, V] */
    int rows, V;
} logits_buf;

/* Appends parsed rows; errors are usage errors naming the flag. */
static int add_rows(logits_buf *lb, const char *flag, const char *text, size_t len, bool one_row) {
    float *v;
    int rows, V;
    tt_error err;
    if (tt_logits_parse(text, len, &v, &rows, &V, &err) != TT_OK) {
        if (err.code == TT_ERR_NOMEM) return cli_fail("%s: %s", flag, err.msg);
        return cli_usage_error("%s: %s", flag, err.msg);
    }
    if (one_row && rows != 1) {
        free(v);
        return cli_usage_error("%s: expected one row of logits, got %d lines", flag, rows);
    }
    if (lb->rows > 0 && V != lb->V) {
        free(v);
        return cli_usage_error("%s: row %d has %d logits, expected %d like row 0", flag, lb->rows,
                               V, lb->V);
    }
    size_t old = (size_t)lb->rows * (size_t)V, add = (size_t)rows * (size_t)V;
    float *nb = realloc(lb->values, (old + add) * sizeof *nb);
    if (!nb) {
        free(v);
        return cli_fail("%s: out of memory", flag);
    }
    memcpy(nb + old, v, add * sizeof *nb);
    free(v);
    lb->values = nb;
    lb->rows += rows;
    lb->V = V;
    return CLI_EXIT_OK;
}

/* Splits "a,b,c" into n labels (pointers into a malloc'ed copy *store). */
static int split_labels(const char *s, char **store, char ***labels, int *n) {
    *store = strdup(s);
    if (!*store) return cli_fail("--labels: out of memory");
    int count = 1;
    for (const char *p = s; *p; p++) count += *p == ',';
    *labels = malloc((size_t)count * sizeof **labels);
    if (!*labels) return cli_fail("--labels: out of memory");
    char *p = *store;
    for (int i = 0; i < count; i++) {
        (*labels)[i] = p;
        char *c = strchr(p, ',');
        if (c) *c = '\0';
        if (!*p) return cli_usage_error("--labels: label %d is empty", i + 1);
        p = c ? c + 1 : p + strlen(p);
    }
    *n = count;
    return CLI_EXIT_OK;
}

static void print_json(const tt_sampling_params *p, uint64_t seed, int draws, int B, int V,
                       char **labels, const float *probs, const int *kept, const int *n_kept,
                       const double *entropy, const int *counts, const int *samples,
                       const float *tempered) {
    char tb[32], pb[32];
    printf("{\"strategy\": \"%s\", \"temperature\": %s, \"top_k\": %d, \"top_p\": %s, "
           "\"seed\": %llu, \"draws\": %d",
           tt_strategy_name(p->strategy), cli_float_str(p->temperature, tb), p->top_k,
           cli_float_str(p->top_p, pb), (unsigned long long)seed, draws);
    cli_sampling_json(stdout, p);
    if (labels) {
        printf(", \"labels\": [");
        for (int i = 0; i < V; i++) {
            if (i) printf(", ");
            cli_json_string(stdout, labels[i]);
        }
        printf("]");
    }
    printf(", \"rows\": [");
    for (int r = 0; r < B; r++) {
        const size_t o = (size_t)r * (size_t)V;
        printf("%s\n  {\"probs\": [", r ? "," : "");
        for (int i = 0; i < V; i++) printf("%s%.9g", i ? ", " : "", (double)probs[o + i]);
        printf("], \"kept\": [");
        for (int i = 0; i < n_kept[r]; i++) printf("%s%d", i ? ", " : "", kept[o + i]);
        printf("], \"n_kept\": %d, \"entropy_bits\": %.17g, \"entropy_nats\": %.17g, \"counts\": [",
               n_kept[r], entropy[r] / log(2.0), entropy[r]);
        for (int i = 0; i < V; i++) printf("%s%d", i ? ", " : "", counts[o + i]);
        printf("], \"samples\": [");
        int shown = draws < MAX_SAMPLES_SHOWN ? draws : MAX_SAMPLES_SHOWN;
        for (int d = 0; d < shown; d++)
            printf("%s%d", d ? ", " : "", samples[(size_t)r * (size_t)draws + (size_t)d]);
        printf("]");
        if (tempered) { /* softmax(logits / T), before the cut (issue 17) */
            printf(", \"tempered\": [");
            for (int i = 0; i < V; i++) printf("%s%.9g", i ? ", " : "", (double)tempered[o + i]);
            printf("]");
        }
        printf("}");
    }
    printf("\n]}\n");
}

static void print_param(const tt_sampling_params *p, uint64_t seed, int draws) {
    printf("strategy %s", tt_strategy_name(p->strategy));
    if (p->strategy != TT_STRATEGY_GREEDY)
        printf(", temperature %g%s", (double)p->temperature,
               p->temperature == 0.0f ? " (greedy)" : "");
    if (p->strategy == TT_STRATEGY_TOP_K || p->strategy == TT_STRATEGY_COMBINED) {
        if (p->top_k > 0) printf(", top-k %d", p->top_k);
        else printf(", top-k off");
    }
    if (p->strategy == TT_STRATEGY_TOP_P || p->strategy == TT_STRATEGY_COMBINED) {
        if (p->top_p < 1.0f) printf(", top-p %g", (double)p->top_p);
        else printf(", top-p off");
    }
    printf("; %d draw%s per row, seed %llu\n", draws, draws == 1 ? "" : "s",
           (unsigned long long)seed);
    /* the controls beyond the notebook, when any is set, and the chain */
    const tt_sampling_controls *c = &p->x, d = tt_sampling_controls_default();
    if (c->min_p != d.min_p || c->typical_p != d.typical_p ||
        c->repetition_penalty != d.repetition_penalty || c->presence_penalty != 0.0f ||
        c->frequency_penalty != 0.0f || c->dry_multiplier != 0.0f || c->n_logit_bias > 0 ||
        c->n_samplers > 0) {
        char *buf = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&buf, &n);
        if (m) {
            cli_sampling_json(m, p);
            if (fclose(m) == 0 && buf && n > 2) printf("controls:%s\n", buf + 1);
        }
        free(buf);
    }
}

static void print_table(int r, int V, char **labels, const float *orig, const float *probs,
                        const int *kept, int n_kept, double entropy, const int *counts) {
    printf("\nrow %d: kept %d of %d tokens, entropy %.4f bits\n", r, n_kept, V,
           entropy / log(2.0));
    int width = 5;
    char idbuf[16];
    for (int i = 0; i < V && i < 100000; i++) {
        int len = labels ? (int)strlen(labels[i]) : snprintf(idbuf, sizeof idbuf, "%d", i);
        if (len > width) width = len;
    }
    if (width > 24) width = 24;
    int maxc = 0;
    for (int i = 0; i < V; i++)
        if (counts[i] > maxc) maxc = counts[i];
    /* small vocabularies: every token in id order; large: the most probable kept */
    bool all = V <= TABLE_MAX_ROWS;
    int shown = all ? V : (n_kept < TABLE_TOP ? n_kept : TABLE_TOP);
    printf("  %-*s  %9s  %11s  %8s\n", width, "token", "p(orig)", "p(filtered)", "count");
    for (int j = 0; j < shown; j++) {
        int i = all ? j : kept[j];
        const char *name = labels ? labels[i] : (snprintf(idbuf, sizeof idbuf, "%d", i), idbuf);
        char bar[BAR_WIDTH + 1];
        int nb = maxc ? (int)((long long)counts[i] * BAR_WIDTH / maxc) : 0;
        if (counts[i] > 0 && nb == 0) nb = 1;
        memset(bar, '#', (size_t)nb);
        bar[nb] = '\0';
        printf("  %-*.*s  %9.4f  %11.4f  %8d%s%s\n", width, width, name, (double)orig[i],
               (double)probs[i], counts[i], nb ? "  " : "", bar);
    }
    if (!all) {
        long long rest = 0;
        for (int i = 0; i < V; i++) rest += counts[i];
        for (int j = 0; j < shown; j++) rest -= counts[kept[j]];
        printf("  ... %d more tokens (%lld draws among them); --json lists every token\n",
               V - shown, rest);
    }
}

/* "3,1,4": token ids >= 0. */
static int parse_history(const char *v, int **ids, int *n) {
    free(*ids);
    *ids = NULL;
    *n = 0;
    size_t cap = strlen(v) / 2 + 1;
    int *out = malloc(cap * sizeof *out);
    if (!out) return cli_fail("out of memory");
    const char *s = v;
    while (*s) {
        char *end;
        while (*s == ' ') s++;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > 1000000000L || *s == '-' || *s == '+') {
            free(out);
            return cli_usage_error("--history %s: expected comma-separated token ids (integers >= 0)", v);
        }
        out[(*n)++] = (int)x;
        s = end;
        while (*s == ' ') s++;
        if (*s == ',') s++;
        else if (*s) {
            free(out);
            return cli_usage_error("--history %s: expected comma-separated token ids (integers >= 0)", v);
        }
    }
    if (*n == 0) {
        free(out);
        return cli_usage_error("--history '': give at least one token id");
    }
    *ids = out;
    return CLI_EXIT_OK;
}

/* Issue 17: the distribution the cut works on, softmax(logits / T) before
 * top-k / top-p, most probable first, with its running sum; it shows why a
 * cut keeps what it keeps (e.g. --temperature 0.5 --top-p 0.8 on [3,2,1]
 * keeps one token: at T = 0.5 the first already holds 0.867). Printed after
 * the row's table for the strategies that cut (top-k, top-p, combined). */
typedef struct {
    float p;
    int id;
} ranked;

/* Rank order: probability descending, then id ascending. */
static int by_rank(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void print_tempered(const tt_sampling_params *p, int V, char **labels, const float *tempered,
                           int n_kept) {
    ranked *rk = malloc((size_t)V * sizeof *rk);
    if (!rk) return;
    for (int i = 0; i < V; i++) rk[i] = (ranked){tempered[i], i};
    qsort(rk, (size_t)V, sizeof *rk, by_rank);
    const int shown = V <= TABLE_MAX_ROWS ? V : TABLE_TOP;
    const bool k_on = (p->strategy == TT_STRATEGY_TOP_K || p->strategy == TT_STRATEGY_COMBINED) &&
                      p->top_k > 0 && p->top_k < V;
    const bool p_on = (p->strategy == TT_STRATEGY_TOP_P || p->strategy == TT_STRATEGY_COMBINED) &&
                      p->top_p < 1.0f;
    /* With both on, top-p measures the renormalised top-k distribution. */
    double kmass = 0.0;
    for (int j = 0; k_on && p_on && j < p->top_k; j++) kmass += rk[j].p;
    int width = 5;
    char idbuf[16];
    for (int j = 0; j < shown; j++) {
        int len = labels ? (int)strlen(labels[rk[j].id]) : snprintf(idbuf, sizeof idbuf, "%d", rk[j].id);
        if (len > width) width = len;
    }
    if (width > 24) width = 24;
    printf("  before the cut: softmax(logits / %g), most probable first\n", (double)p->temperature);
    printf("  %-*s  %9s  %10s%s\n", width, "token", "p(T)", "cumulative", k_on && p_on ? "  cum. in top-k" : "");
    double cum = 0.0, kcum = 0.0;
    for (int j = 0; j < shown; j++) {
        const int i = rk[j].id;
        const char *name = labels ? labels[i] : (snprintf(idbuf, sizeof idbuf, "%d", i), idbuf);
        cum += rk[j].p;
        printf("  %-*.*s  %9.4f  %10.4f", width, width, name, (double)rk[j].p, cum);
        if (k_on && p_on) {
            if (j < p->top_k) {
                kcum += rk[j].p / kmass;
                printf("  %14.4f", kcum);
            } else {
                printf("  %14s", "-");
            }
        }
        if (j == n_kept - 1) {
            if (p_on && (!k_on || n_kept < p->top_k))
                printf("  <- last kept: the running sum reaches top-p %g", (double)p->top_p);
            else if (k_on)
                printf("  <- last kept: top-k %d", p->top_k);
            else
                printf("  <- last kept");
        }
        printf("\n");
    }
    if (shown < V) printf("  ... %d more tokens\n", V - shown);
    free(rk);
}

/* the shared parser's flags that tt sample takes (cli/sampling_flags.h) */
#define SAMPLE_FLAGS (CLI_SF_CHAIN | CLI_SF_TEMPERATURE | CLI_SF_TOP | CLI_SF_STRATEGY | CLI_SF_SEED)

int cmd_sample(int argc, char **argv) {
    tt_sampling_params p = tt_sampling_params_default();
    uint64_t seed = 42;
    int draws = 1, rc = CLI_EXIT_OK;
    bool json = false;
    const char *labels_arg = NULL;
    logits_buf lb = {NULL, 0, 0};
    char *label_store = NULL, **labels = NULL;
    float *probs = NULL, *orig = NULL, *tempered = NULL;
    int *kept = NULL, *counts = NULL, *samples = NULL, *n_kept = NULL;
    double *entropy = NULL;
    tt_sampler *s = NULL;
    tt_error err;
    cli_sampling sf;
    cli_sampling_init(&sf);
    sf.top_k_max = INT_MAX;
    int *hist = NULL, n_hist = 0;

    for (int i = 2; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *v;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            free(lb.values);
            return CLI_EXIT_OK;
        } else if (cli_is_flag(argv[i], "--json")) {
            json = true;
        } else if (cli_opt(argc, argv, &i, "--logits-file", &v)) {
            if (!v) rc = CLI_EXIT_USAGE;
            else {
                size_t len;
                char *text = cli_read_file("--logits-file", v, &len);
                if (!text) rc = CLI_EXIT_USAGE;
                else if (strlen(text) != len)
                    rc = cli_usage_error("--logits-file: '%s' holds a NUL byte at byte offset %zu", v,
                                         strlen(text));
                else rc = add_rows(&lb, "--logits-file", text, len, false);
                free(text);
            }
        } else if (cli_opt(argc, argv, &i, "--logits", &v)) {
            rc = v ? add_rows(&lb, "--logits", v, strlen(v), true) : CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--labels", &v)) {
            if (!v) rc = CLI_EXIT_USAGE;
            else labels_arg = v;
        } else if (cli_opt(argc, argv, &i, "--draws", &v)) {
            if (!v || cli_int("--draws", v, 1, MAX_DRAWS, &draws)) rc = CLI_EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--history", &v)) {
            if (!v) rc = CLI_EXIT_USAGE;
            else rc = parse_history(v, &hist, &n_hist);
        } else {
            int r = cli_sampling_flag(&sf, SAMPLE_FLAGS, argc, argv, &i);
            if (r < 0) rc = CLI_EXIT_USAGE;
            else if (r == 0) rc = cli_unknown(argv[i]);
        }
    }
    if (rc != CLI_EXIT_OK) goto done;
    p = sf.p; /* the controls' bias array stays owned by sf */
    if (sf.seed_given) seed = sf.seed;
    const bool k_given = sf.k_given, t_given = sf.t_given, p_given = sf.p_given;
    if (lb.rows == 0) {
        rc = cli_usage_error("no logits: give --logits \"v1,v2,...\" or --logits-file F");
        goto done;
    }
    if (p.strategy == TT_STRATEGY_TOP_K && p.top_k < 1) {
        rc = cli_usage_error(k_given ? "--top-k: strategy top-k needs K >= 1, got %d"
                                     : "--top-k: strategy top-k needs K >= 1 (the default %d is off)",
                             p.top_k);
        goto done;
    }
    if (cli_sampling_finish(&sf, NULL, lb.V) ||
        (p.strategy != TT_STRATEGY_GREEDY &&
         cli_sampling_check_temperature(&sf, p.temperature, false))) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    for (int i = 0; i < n_hist; i++)
        if (hist[i] >= lb.V) {
            rc = cli_usage_error("--history: token id %d is out of range for %d logits per row",
                                 hist[i], lb.V);
            goto done;
        }
    p.x = sf.p.x; /* the bias ids resolved by cli_sampling_finish */
    if (tt_sampling_params_validate(&p, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    const tt_token_history th = {hist, n_hist, 0};
    /* An option the chosen strategy does not use is not an error (scripts
     * switch strategies and keep their flags), but it is never silent. */
    {
        const char *sname = tt_strategy_name(p.strategy);
        if (t_given && p.strategy == TT_STRATEGY_GREEDY)
            fprintf(stderr, "tt sample: note: --temperature is not used by --strategy %s\n", sname);
        const bool t0 = p.strategy != TT_STRATEGY_GREEDY && p.temperature == 0.0f; /* greedy too */
        if (k_given && p.strategy != TT_STRATEGY_TOP_K && p.strategy != TT_STRATEGY_COMBINED)
            fprintf(stderr, "tt sample: note: --top-k is not used by --strategy %s\n", sname);
        else if (k_given && t0)
            fprintf(stderr, "tt sample: note: --top-k is not used at --temperature 0 (greedy)\n");
        if (p_given && p.strategy != TT_STRATEGY_TOP_P && p.strategy != TT_STRATEGY_COMBINED)
            fprintf(stderr, "tt sample: note: --top-p is not used by --strategy %s\n", sname);
        else if (p_given && t0)
            fprintf(stderr, "tt sample: note: --top-p is not used at --temperature 0 (greedy)\n");
    }
    const int B = lb.rows, V = lb.V;
    int n_labels = 0;
    if (labels_arg) {
        rc = split_labels(labels_arg, &label_store, &labels, &n_labels);
        if (rc != CLI_EXIT_OK) goto done;
        if (n_labels != V) {
            rc = cli_usage_error("--labels: %d labels for %d logits per row", n_labels, V);
            goto done;
        }
    }
    if ((double)B * (double)draws > MAX_TOTAL_DRAWS) {
        rc = cli_usage_error("--draws: %d draws x %d rows is more than %.0f", draws, B,
                             MAX_TOTAL_DRAWS);
        goto done;
    }
    const size_t BV = (size_t)B * (size_t)V;
    probs = malloc(BV * sizeof *probs);
    orig = malloc((size_t)V * sizeof *orig);
    kept = malloc(BV * sizeof *kept);
    counts = calloc(BV, sizeof *counts);
    samples = malloc((size_t)B * (size_t)draws * sizeof *samples);
    n_kept = malloc((size_t)B * sizeof *n_kept);
    entropy = malloc((size_t)B * sizeof *entropy);
    /* temperature 0 is greedy whatever the strategy: nothing is cut */
    const bool cuts = (p.strategy == TT_STRATEGY_TOP_K || p.strategy == TT_STRATEGY_TOP_P ||
                       p.strategy == TT_STRATEGY_COMBINED) &&
                      p.temperature != 0.0f;
    if (cuts) tempered = malloc(BV * sizeof *tempered);
    if (!probs || !orig || !kept || !counts || !samples || !n_kept || !entropy || (cuts && !tempered)) {
        rc = cli_fail("out of memory for %d rows of %d logits", B, V);
        goto done;
    }
    if (tt_sampler_create(&s, V, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    tt_sampler_set_history(s, n_hist ? &th : NULL, NULL);
    for (int r = 0; r < B; r++) {
        const size_t o = (size_t)r * (size_t)V;
        if (tt_sampler_filter(s, &p, lb.values + o, probs + o, kept + o, &n_kept[r], &entropy[r],
                              &err) != TT_OK) {
            rc = cli_usage_error("row %d: %s", r, err.msg);
            goto done;
        }
        if (tempered && tt_softmax(lb.values + o, V, p.temperature, tempered + o, &err) != TT_OK) {
            rc = cli_report(&err); /* unreachable: the row was validated */
            goto done;
        }
    }
    if (!n_hist && tt_sample_batch(&p, lb.values, B, V, draws, seed, samples, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    for (int r = 0; n_hist && r < B; r++) { /* the same streams, with the history */
        tt_rng rng;
        tt_rng_seed_stream(&rng, seed, (uint64_t)r);
        for (int d = 0; d < draws; d++)
            if (tt_sampler_sample(s, &p, lb.values + (size_t)r * V, &rng,
                                  &samples[(size_t)r * (size_t)draws + (size_t)d], &err) != TT_OK) {
                rc = cli_report(&err);
                goto done;
            }
    }
    for (int r = 0; r < B; r++)
        for (int d = 0; d < draws; d++)
            counts[(size_t)r * (size_t)V + (size_t)samples[(size_t)r * (size_t)draws + (size_t)d]]++;

    if (json) {
        print_json(&p, seed, draws, B, V, labels, probs, kept, n_kept, entropy, counts, samples, tempered);
    } else {
        print_param(&p, seed, draws);
        for (int r = 0; r < B; r++) {
            const size_t o = (size_t)r * (size_t)V;
            if (tt_softmax(lb.values + o, V, 1.0f, orig, &err) != TT_OK) {
                rc = cli_report(&err); /* unreachable: the row was validated */
                goto done;
            }
            print_table(r, V, labels, orig, probs + o, kept + o, n_kept[r], entropy[r], counts + o);
            if (tempered) print_tempered(&p, V, labels, tempered + o, n_kept[r]);
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) rc = cli_fail("cannot write the output");

done:
    tt_sampler_free(s);
    cli_sampling_free(&sf);
    free(hist);
    free(lb.values);
    free(label_store);
    free(labels);
    free(probs);
    free(orig);
    free(kept);
    free(counts);
    free(samples);
    free(n_kept);
    free(entropy);
    free(tempered);
    return rc;
}
