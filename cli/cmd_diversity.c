/*
 * tt diversity — the notebook's measure_diversity over a range of sampling
 * temperatures: for each temperature, N continuations of one prompt, then
 * unique samples, uniqueness ratio, average length, unique characters,
 * distinct-1, distinct-2 and the mean per-token entropy (tt/diversity.h).
 *
 * Sample r of every temperature draws from the random stream (seed, r), so
 * the settings are compared on the same random numbers.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "plot.h"
#include "tt/checkpoint.h"
#include "tt/diversity.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/tokenizer.h"
#include "sampling_flags.h"

#define MAX_TEMPS 64

static void usage(FILE *f) {
    fputs("usage: tt diversity --model CKPT --prompt TEXT [--temperatures LIST] [--samples N]\n"
          "                    [--max-new-tokens M] [--top-k K] [--top-p P] [--seed S]\n"
          "                    [--json] [--plot FILE] [--context N] [--context-shift exact|half]\n"
          "\n"
          "Generates N continuations of TEXT at each temperature and measures how varied\n"
          "they are: unique samples, uniqueness ratio, average length (characters, prompt\n"
          "included), unique characters, distinct-1 and distinct-2 (distinct character\n"
          "n-grams / all n-grams of the generated parts), and the mean entropy (nats) of\n"
          "the distributions the tokens were drawn from.\n"
          "\n"
          "  --model CKPT         checkpoint (safetensors) to generate with (required)\n"
          "  --prompt TEXT        the prompt (required, not empty)\n"
          "  --temperatures LIST  comma-separated, each in [0, 100]; 0 is greedy\n"
          "                       (default 0.1,0.3,0.5,0.7,0.9,1.1,1.3,1.5)\n"
          "  --samples N          samples per temperature, 1..10000 (default 20)\n"
          "  --max-new-tokens M   tokens generated per sample, 0..10000 (default 20)\n"
          "  --top-k K            top-k filter, 0 = off (default 0)\n"
          "  --top-p P            top-p filter in (0, 1], 1 = off (default 1)\n"
          "  --seed S             random seed (default 42)\n"
          "  --context N          context window (default: the training length, else max_len)\n"
          "  --context-shift MODE half (default) or exact: how the window slides past N\n"
          "  --json               print the results as JSON instead of a table\n"
          "  --plot FILE          also draw uniqueness ratio against temperature into\n"
          "                       FILE.png and FILE.svg (a .png/.svg suffix is dropped)\n",
          f);
    cli_sampling_usage(f, CLI_SF_CHAIN);
}

static int parse_temperatures(const char *s, double *out, int *n) {
    *n = 0;
    const char *p = s;
    if (!*p) return cli_usage_error("--temperatures: empty list");
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0) return cli_usage_error("--temperatures: empty entry in '%s'", s);
        if (*n == MAX_TEMPS) return cli_usage_error("--temperatures: at most %d values", MAX_TEMPS);
        char buf[64];
        if (len >= sizeof buf) return cli_usage_error("--temperatures: '%.*s' is not a number", (int)len, p);
        memcpy(buf, p, len);
        buf[len] = '\0';
        float v;
        if (cli_float("--temperatures", buf, 0.0, 100.0, &v)) return CLI_EXIT_USAGE;
        out[(*n)++] = v;
        p += len;
        if (!*p) break;
        p++;
        if (!*p) return cli_usage_error("--temperatures: trailing comma in '%s'", s);
    }
    return 0;
}

typedef struct {
    double temperature;
    tt_diversity_metrics m;
} setting;

/* Generates `samples` continuations at one temperature and measures them. */
static int run_setting(const tt_model *model, const tt_tokenizer *tok, const tt_generator_config *base,
                       double temperature, const int *prompt, int n_prompt, const char *prompt_text, int samples,
                       tt_diversity_metrics *m) {
    tt_error err;
    tt_generator_config gc = *base;
    gc.sampling.temperature = (float)temperature; /* 0 is greedy */
    tt_generator *g = NULL;
    const int **prompts = malloc((size_t)samples * sizeof *prompts);
    int *lens = malloc((size_t)samples * sizeof *lens);
    tt_generation *out = calloc((size_t)samples, sizeof *out);
    char **texts = calloc((size_t)samples, sizeof *texts);
    size_t *pb = malloc((size_t)samples * sizeof *pb);
    const double **ent = calloc((size_t)samples, sizeof *ent);
    int *n_ent = calloc((size_t)samples, sizeof *n_ent);
    int rc = 0;
    bool have_out = false;
    if (!prompts || !lens || !out || !texts || !pb || !ent || !n_ent) {
        rc = cli_fail("out of memory");
        goto done;
    }
    for (int r = 0; r < samples; r++) {
        prompts[r] = prompt;
        lens[r] = n_prompt;
        pb[r] = strlen(prompt_text);
    }
    if (tt_generator_create(&g, model, &gc, &err) != TT_OK ||
        (tt_generator_set_tokenizer(g, tok),
         tt_generator_generate(g, prompts, lens, samples, NULL, NULL, NULL, NULL, out, &err)) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    have_out = true;
    for (int r = 0; r < samples; r++) {
        if (tt_tokenizer_decode(tok, out[r].tokens, (size_t)out[r].n_tokens, &texts[r], &err) != TT_OK ||
            tt_generator_step_entropies(g, r, &ent[r], &n_ent[r], &err) != TT_OK) {
            rc = cli_report(&err);
            goto done;
        }
    }
    if (tt_diversity_measure((const char *const *)texts, samples, pb, ent, n_ent, m, &err) != TT_OK)
        rc = cli_report(&err);
done:
    if (have_out) tt_generations_free(out, samples);
    for (int r = 0; texts && r < samples; r++) free(texts[r]);
    tt_generator_free(g); /* after the entropies (borrowed from g) are used */
    free(prompts);
    free(lens);
    free(out);
    free(texts);
    free(pb);
    free(ent);
    free(n_ent);
    return rc;
}

static void json_number(FILE *f, double v, const char *fmt) {
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("null", f);
}

int cmd_diversity(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *plot_path = NULL;
    double temps[MAX_TEMPS] = {0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5};
    int n_temps = 8, samples = 20, max_new = 20;
    bool json = false;
    tt_generator_config ctx = tt_generator_config_default(); /* --context, --context-shift */
    int bad = 0;
    cli_sampling sf;
    cli_sampling_init(&sf);
    sf.top_k_max = 1000000;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            { cli_sampling_free(&sf); return CLI_EXIT_OK; }
        } else if (cli_is_flag(argv[i], "--json")) {
            json = true;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
            model_path = v;
        } else if (cli_opt(argc, argv, &i, "--prompt", &v)) {
            if (!v) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
            prompt = v;
        } else if (cli_opt(argc, argv, &i, "--temperatures", &v)) {
            if (!v || parse_temperatures(v, temps, &n_temps)) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
        } else if (cli_opt(argc, argv, &i, "--samples", &v)) {
            if (!v || cli_int("--samples", v, 1, 10000, &samples)) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
        } else if (cli_opt(argc, argv, &i, "--max-new-tokens", &v)) {
            if (!v || cli_int("--max-new-tokens", v, 0, 10000, &max_new)) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
        } else if (cli_context_opt(argc, argv, &i, &ctx, &bad)) {
            if (bad) { cli_sampling_free(&sf); return bad; }
        } else if (cli_opt(argc, argv, &i, "--plot", &v)) {
            if (!v) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
            if (!*v) { cli_sampling_free(&sf); return cli_usage_error("--plot: empty path"); }
            plot_path = v;
        } else {
            const int r = cli_sampling_flag(&sf, CLI_SF_CHAIN | CLI_SF_TOP | CLI_SF_SEED, argc, argv, &i);
            if (r == 0) cli_unknown(argv[i]);
            if (r <= 0) { cli_sampling_free(&sf); return CLI_EXIT_USAGE; }
        }
    }
    const int top_k = sf.p.top_k;
    const float top_p = sf.p.top_p;
    const uint64_t seed = sf.seed_given ? sf.seed : 42;
    if (!model_path) { cli_sampling_free(&sf); return cli_usage_error("--model is required (see 'tt diversity --help')"); }
    if (!prompt) { cli_sampling_free(&sf); return cli_usage_error("--prompt is required (see 'tt diversity --help')"); }
    if (!*prompt) { cli_sampling_free(&sf); return cli_usage_error("--prompt: must not be empty"); }
    struct stat st;
    if (stat(model_path, &st) != 0)
        { cli_sampling_free(&sf); return cli_usage_error("--model: cannot open '%s': %s", model_path, strerror(errno)); }
    if (S_ISDIR(st.st_mode)) { cli_sampling_free(&sf); return cli_usage_error("--model: '%s' is a directory, not a file", model_path); }
    char msg[512];
    if (plot_path && !plot_available(msg, sizeof msg)) { cli_sampling_free(&sf); return cli_fail("%s", msg); }

    tt_error err;
    tt_model *model = NULL;
    tt_tokenizer *tok = NULL;
    int load_rc = cli_load_model(model_path, &model, &tok);
    if (load_rc != CLI_EXIT_OK) { cli_sampling_free(&sf); return load_rc; }
    int rc = 0;
    int *ids = NULL;
    size_t n_ids = 0;
    setting *res = calloc((size_t)n_temps, sizeof *res);
    if (!res) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if (!tok) {
        rc = cli_fail("--model: '%s' has no vocabulary", model_path);
        goto done;
    }
    if (tt_tokenizer_encode(tok, prompt, strlen(prompt), &ids, &n_ids, &err) != TT_OK) {
        rc = cli_usage_error("--prompt: %s", err.msg);
        goto done;
    }
    if ((rc = cli_check_context(model, &ctx)) != 0) goto done;
    tt_generator_config gc = tt_generator_config_default();
    gc.context_len = ctx.context_len;
    gc.context_shift = ctx.context_shift;
    gc.max_new_tokens = max_new;
    gc.seed = seed;
    if (cli_sampling_finish(&sf, tok, tt_tokenizer_vocab_size(tok))) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    for (int s = 0; s < n_temps; s++)
        if (cli_sampling_check_temperature(&sf, temps[s], true)) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    gc.sampling = sf.p; /* top-k, top-p and the controls; each setting sets T */
    if (tt_generator_config_validate(&gc, tt_tokenizer_vocab_size(tok), &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    for (int s = 0; s < n_temps; s++) {
        res[s].temperature = temps[s];
        rc = run_setting(model, tok, &gc, temps[s], ids, (int)n_ids, prompt, samples, &res[s].m);
        if (rc) goto done;
    }
    if (plot_path) {
        char base[4096];
        size_t len = strlen(plot_path);
        if (len >= sizeof base) {
            rc = cli_usage_error("--plot: path too long");
            goto done;
        }
        memcpy(base, plot_path, len + 1);
        if (len > 4 && (!strcmp(base + len - 4, ".png") || !strcmp(base + len - 4, ".svg"))) base[len - 4] = '\0';
        double x[MAX_TEMPS], y[MAX_TEMPS];
        for (int s = 0; s < n_temps; s++) {
            x[s] = res[s].temperature;
            y[s] = res[s].m.uniqueness_ratio;
        }
        if (plot_line(base, "Diversity vs Temperature", "Temperature", "Uniqueness Ratio", x, y, n_temps,
                      "Uniqueness ratio", 1.0, "Perfect diversity", 0.0, 1.1, msg, sizeof msg)) {
            rc = cli_fail("--plot: %s", msg);
            goto done;
        }
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model_path);
        printf(", \"prompt\": ");
        cli_json_string(stdout, prompt);
        printf(", \"samples\": %d, \"max_new_tokens\": %d, \"top_k\": %d, \"top_p\": %.7g, \"seed\": %llu,\n"
               " \"settings\": [\n",
               samples, max_new, top_k, (double)top_p, (unsigned long long)seed);
        for (int s = 0; s < n_temps; s++) {
            const tt_diversity_metrics *m = &res[s].m;
            printf("  {\"temperature\": %.7g, \"n_samples\": %d, \"unique_samples\": %d, \"uniqueness_ratio\": %.9g, "
                   "\"avg_length\": %.9g, \"unique_chars\": %d, \"distinct_1\": %.9g, \"distinct_2\": %.9g, "
                   "\"mean_token_entropy\": ",
                   (double)(float)res[s].temperature, m->n_samples, m->unique_samples, m->uniqueness_ratio,
                   m->avg_length, m->unique_chars, m->distinct_1, m->distinct_2);
            json_number(stdout, m->mean_token_entropy, "%.9g");
            printf("}%s\n", s + 1 < n_temps ? "," : "");
        }
        printf(" ]}\n");
    } else {
        printf("Diversity of %d samples of %d new tokens from ", samples, max_new);
        cli_json_string(stdout, prompt);
        printf(" (top-k %d, top-p %g, seed %llu)\n\n", top_k, (double)top_p, (unsigned long long)seed);
        printf("%-11s  %7s  %6s  %10s  %10s  %12s  %10s  %10s  %19s\n", "temperature", "samples", "unique",
               "uniqueness", "avg length", "unique chars", "distinct-1", "distinct-2", "mean entropy (nats)");
        for (int s = 0; s < n_temps; s++) {
            const tt_diversity_metrics *m = &res[s].m;
            char ent[32];
            if (isfinite(m->mean_token_entropy)) snprintf(ent, sizeof ent, "%.4f", m->mean_token_entropy);
            else snprintf(ent, sizeof ent, "-");
            printf("%-11g  %7d  %6d  %10.4f  %10.2f  %12d  %10.4f  %10.4f  %19s\n", (double)(float)res[s].temperature,
                   m->n_samples, m->unique_samples, m->uniqueness_ratio, m->avg_length, m->unique_chars,
                   m->distinct_1, m->distinct_2, ent);
        }
        if (plot_path) printf("\nplot: %s (.png and .svg)\n", plot_path);
    }
done:
    free(ids);
    free(res);
    tt_model_free(model);
    tt_tokenizer_free(tok);
    cli_sampling_free(&sf);
    return rc;
}
