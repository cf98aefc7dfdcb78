/*
 * tt generate — generate text from one or more prompts with a checkpoint.
 *
 *   tt generate --model FILE --prompt TEXT [--prompt TEXT]...
 *               [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--greedy]
 *               [--eos CHAR | --eos-id ID] [--pad-id ID] [--seed S] [--num-samples N]
 *               [--no-cache] [--stream] [--json] [--threads N]
 *               [--context N] [--context-shift exact|half]
 *               [sampling controls: --min-p, --typical-p, penalties, DRY, --logit-bias,
 *                --samplers, --stop, --logprobs, --num-beams ... (cli/sampling_flags.h)]
 *
 * Rows are prompt-major: prompt i, sample j is batch row i * N + j and draws
 * from the random stream (seed, row). --json prints {"outputs": [{"prompt",
 * "text", "generated", "tokens", "finish_reason", "n_generated"}],
 * "tokens_per_s", "context_len", "context_shift"} ("stop_string" with finish_reason "stop"; "logprobs" and
 * "prompt_logprobs" with --logprobs; "score" with --num-beams, one output per
 * returned sequence); tokens_per_s counts the tokens generated after the first
 * step (which comes from the prompt pass) per second of decoding.
 * --stream prints exactly the plain output, token by token (rows one after
 * the other; each row is generated alone with its row id, which gives the
 * same tokens as the batch).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sampling_flags.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tt generate --model FILE --prompt TEXT [--prompt TEXT]... [options]\n"
            "\n"
            "  --model FILE          checkpoint (.safetensors) written by tt train\n"
            "  --prompt TEXT         a prompt (repeat for a batch; lengths may differ)\n"
            "  --max-new-tokens N    tokens to generate per row (default 50)\n"
            "  --temperature T       >= 0; 0 means greedy (default 1.0)\n"
            "  --top-k K             keep the K most probable tokens; 0 = off (default 0)\n"
            "  --top-p P             nucleus mass in (0, 1]; 1 = off (default 1.0)\n"
            "  --greedy              always take the most probable token\n"
            "  --eos CHAR            stop a row at this character (kept in the output)\n"
            "  --eos-id ID           stop a row at this token id\n"
            "  --pad-id ID           fill finished rows with this id (needs an EOS)\n"
            "  --seed S              random seed (default 42); row r uses stream (S, r)\n"
            "  --num-samples N       independent continuations per prompt (default 1)\n"
            "  --no-cache            recompute the whole context at every step\n"
            "  --context N           context window W (default: the model's training length,\n"
            "                        else max_len; at most max_len)\n"
            "  --context-shift MODE  how the window slides past W tokens: half (default;\n"
            "                        restart with the last W/2 tokens, then cached) or exact\n"
            "                        (always the last W tokens; recomputed every step)\n"
            "  --stream              print tokens as they are generated\n"
            "  --json                print a JSON object (the stream, if any, goes to stderr)\n"
            "  --raw                 print the text as it is, even on a terminal (there, control\n"
            "                        characters are shown escaped, like \\x1b, and several samples\n"
            "                        get a '--- sample N of M ---' line each; piped output is raw)\n"
            "  --threads N           threads per forward pass (default: every core, or\n"
            "                        OMP_NUM_THREADS); the tokens do not depend on it\n");
    cli_sampling_usage(f, CLI_SF_ALL);
}

/* One token of a logprobs list as JSON. */
static void json_token(const tt_tokenizer *tok, int id) {
    char buf[5];
    printf("\"token\": ");
    if (tt_tokenizer_token_utf8(tok, id, buf)) cli_json_string(stdout, buf);
    else printf("null");
    printf(", \"id\": %d", id);
}

static void json_logprob(const tt_tokenizer *tok, const tt_token_logprob *lp) {
    if (lp->n_top < 0) {
        printf("null");
        return;
    }
    printf("{");
    json_token(tok, lp->id);
    printf(", \"logprob\": %.9g, \"top\": [", (double)lp->logprob);
    for (int k = 0; k < lp->n_top; k++) {
        printf("%s{", k ? ", " : "");
        json_token(tok, lp->top[k].id);
        printf(", \"logprob\": %.9g}", (double)lp->top[k].logprob);
    }
    printf("]}");
}

static volatile sig_atomic_t interrupted = 0;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Text for a terminal: a control character that the model learned from its
 * data (ESC, CR, BEL...) would act on the terminal; it is shown as an escape
 * (\x1b, \r) instead. Newlines and tabs stay. With escape false, raw. */
static void put_text(FILE *f, const char *s, bool escape) {
    if (!escape) {
        fputs(s, f);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n' || *p == '\t' || (*p >= 0x20 && *p != 0x7f)) fputc(*p, f);
        else if (*p == '\r') fputs("\\r", f);
        else fprintf(f, "\\x%02x", *p);
    }
}

typedef struct {
    const tt_tokenizer *tok;
    bool stream;
    bool escape; /* a terminal without --raw */
    FILE *out;
    double t_first; /* time of the first generated token of the current call */
    long decoded;   /* tokens of steps >= 1 */
} stream_ctx;

static int on_token(void *user, int row, int token, int step) {
    (void)row;
    stream_ctx *s = user;
    if (step == 0 && s->t_first == 0.0) s->t_first = now_s();
    if (step > 0) s->decoded++;
    if (s->stream) {
        char buf[5];
        if (tt_tokenizer_token_utf8(s->tok, token, buf)) put_text(s->out, buf, s->escape);
        fflush(s->out);
    }
    return interrupted ? 1 : 0;
}

/* The id of a one-character string in the vocabulary; prints the error. */
static int eos_char_id(const tt_tokenizer *tok, const char *s, int *id) {
    uint32_t cp;
    size_t n = strlen(s);
    int k = n ? tt_utf8_decode(s, n, &cp) : 0;
    if (!k || (size_t)k != n)
        return cli_usage_error("--eos: expected exactly one character, got '%s'", s);
    if (tt_tokenizer_id(tok, cp, id) != TT_OK)
        return cli_usage_error("--eos: character '%s' is not in the model's vocabulary", s);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *eos_char = NULL;
    const char **prompts = calloc((size_t)argc, sizeof *prompts);
    if (!prompts) return cli_fail("out of memory");
    int n_prompts = 0, num_samples = 1, eos_id = TT_TOKEN_NONE, pad_id = TT_TOKEN_NONE;
    bool no_cache = false, stream = false, json = false, have_eos_id = false, raw = false;
    tt_generator_config gc = tt_generator_config_default();
    int rc = CLI_EXIT_OK;
    cli_sampling sf;
    cli_sampling_init(&sf);
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            free(prompts);
            cli_sampling_free(&sf);
            return CLI_EXIT_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v) goto usage_fail;
            model_path = v;
        } else if (cli_opt(argc, argv, &i, "--prompt", &v)) {
            if (!v) goto usage_fail;
            prompts[n_prompts++] = v;
        } else if (cli_opt(argc, argv, &i, "--max-new-tokens", &v)) {
            if (!v || cli_int("--max-new-tokens", v, 0, 1000000, &gc.max_new_tokens))
                goto usage_fail;
        } else if (cli_opt(argc, argv, &i, "--eos", &v)) {
            if (!v) goto usage_fail;
            eos_char = v;
        } else if (cli_opt(argc, argv, &i, "--eos-id", &v)) {
            if (!v || cli_int("--eos-id", v, 0, 1000000000, &eos_id)) goto usage_fail;
            have_eos_id = true;
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!v || cli_int("--threads", v, 1, TT_GEN_MAX_THREADS, &gc.n_threads))
                goto usage_fail;
        } else if (cli_opt(argc, argv, &i, "--pad-id", &v)) {
            if (!v || cli_int("--pad-id", v, 0, 1000000000, &pad_id)) goto usage_fail;
        } else if (cli_opt(argc, argv, &i, "--num-samples", &v)) {
            if (!v || cli_int("--num-samples", v, 1, 100000, &num_samples)) goto usage_fail;
        } else if (cli_context_opt(argc, argv, &i, &gc, &rc)) {
            if (rc) goto usage_fail;
        } else if (cli_is_flag(argv[i], "--no-cache")) {
            no_cache = true;
        } else if (cli_is_flag(argv[i], "--stream")) {
            stream = true;
        } else if (cli_is_flag(argv[i], "--json")) {
            json = true;
        } else if (cli_is_flag(argv[i], "--raw")) {
            raw = true;
        } else {
            const int r = cli_sampling_flag(&sf, CLI_SF_GENERATE | CLI_SF_ALL, argc, argv, &i);
            if (r < 0) goto usage_fail;
            if (r == 0) {
                cli_unknown(argv[i]);
                goto usage_fail;
            }
        }
    }
    const tt_sampling_controls *X = &sf.p.x;
    const char *sampling_flag = sf.base_flag; /* a flag of the notebook's sampling, given */
    const bool beams = X->num_beams > 1;
    if (beams && (sampling_flag || sf.sampling_given)) {
        cli_usage_error("--num-beams %d: beam search excludes sampling (%s given); drop it or use "
                        "--num-beams 1",
                        X->num_beams, sampling_flag ? sampling_flag : sf.sampling_flag);
        goto usage_fail;
    }
    if (beams && num_samples > 1) {
        cli_usage_error("--num-beams %d: beam search is deterministic; use --num-return-sequences "
                        "instead of --num-samples",
                        X->num_beams);
        goto usage_fail;
    }
    if (!beams && X->num_return_sequences > 1) {
        cli_usage_error("--num-return-sequences %d: needs --num-beams >= %d",
                        X->num_return_sequences, X->num_return_sequences);
        goto usage_fail;
    }
    if (beams && (X->n_stop > 0 || X->logprobs > 0 || stream)) {
        cli_usage_error("--num-beams %d: not supported with %s", X->num_beams,
                        X->n_stop ? "--stop" : X->logprobs ? "--logprobs" : "--stream");
        goto usage_fail;
    }
    if ((X->logprobs > 0 || X->prompt_logprobs) && !json) {
        cli_usage_error("%s: needs --json (the log-probabilities are part of the JSON output)",
                        X->logprobs > 0 ? "--logprobs" : "--prompt-logprobs");
        goto usage_fail;
    }
    if (sf.logprobs_mode && X->logprobs == 0) {
        cli_usage_error("--logprobs-mode %s: needs --logprobs N (the mode of what it prints)",
                        sf.logprobs_mode);
        goto usage_fail;
    }
    if (X->prompt_logprobs && X->logprobs == 0) {
        cli_usage_error("--prompt-logprobs: needs --logprobs N (how many alternatives)");
        goto usage_fail;
    }
    if (beams) sf.p.strategy = TT_STRATEGY_GREEDY;
    if (sf.seed_given) gc.seed = sf.seed;
    if (!model_path) {
        cli_usage_error("--model FILE is required (see 'tt generate --help')");
        goto usage_fail;
    }
    if (n_prompts == 0) {
        cli_usage_error("at least one --prompt TEXT is required (see 'tt generate --help')");
        goto usage_fail;
    }
    if (eos_char && have_eos_id) {
        cli_usage_error("--eos and --eos-id are exclusive; give one");
        goto usage_fail;
    }
    if ((long)n_prompts * num_samples > 100000) {
        cli_usage_error("%d prompts x %d samples is too many rows (at most 100000)", n_prompts,
                        num_samples);
        goto usage_fail;
    }
    for (int p = 0; p < n_prompts; p++)
        if (!prompts[p][0]) {
            cli_usage_error("--prompt %d is empty (a prompt needs at least one character)", p + 1);
            goto usage_fail;
        }

    tt_error err;
    tt_model *model = NULL;
    tt_tokenizer *tok = NULL;
    tt_generator *g = NULL;
    int **ids = NULL, *lens = NULL;
    const int **rows = NULL;
    tt_generation *out = NULL;
    const int B = n_prompts * (beams ? X->num_return_sequences : num_samples);
    rc = cli_load_model(model_path, &model, &tok);
    if (rc != CLI_EXIT_OK) goto done;
    if (!tok) {
        rc = cli_fail("--model: '%s' has no vocabulary", model_path);
        goto done;
    }
    if ((rc = cli_check_context(model, &gc)) != CLI_EXIT_OK) goto done;
    if (eos_char) {
        if (eos_char_id(tok, eos_char, &eos_id)) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    gc.eos_token_id = eos_id;
    gc.pad_token_id = pad_id;
    gc.use_cache = !no_cache;
    const int V = tt_tokenizer_vocab_size(tok);
    if (eos_id != TT_TOKEN_NONE && eos_id >= V) {
        rc = cli_usage_error("--eos-id: %d is out of range for the model's vocabulary (%d tokens)",
                             eos_id, V);
        goto done;
    }
    if (pad_id != TT_TOKEN_NONE && pad_id >= V) {
        rc = cli_usage_error("--pad-id: %d is out of range for the model's vocabulary (%d tokens)",
                             pad_id, V);
        goto done;
    }
    if (pad_id != TT_TOKEN_NONE && eos_id == TT_TOKEN_NONE) {
        rc = cli_usage_error("--pad-id needs --eos or --eos-id (rows are padded after their EOS)");
        goto done;
    }
    if (cli_sampling_finish(&sf, tok, V) ||
        (sf.p.strategy != TT_STRATEGY_GREEDY && cli_sampling_check_temperature(&sf, sf.p.temperature, false))) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    gc.sampling = sf.p;
    if (tt_generator_create(&g, model, &gc, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    tt_generator_set_tokenizer(g, tok);
    ids = calloc((size_t)n_prompts, sizeof *ids);
    lens = calloc((size_t)B, sizeof *lens);
    rows = calloc((size_t)B, sizeof *rows);
    out = calloc((size_t)B, sizeof *out);
    if (!ids || !lens || !rows || !out) {
        rc = cli_fail("out of memory");
        goto done;
    }
    for (int p = 0; p < n_prompts; p++) {
        size_t n;
        tt_status st = tt_tokenizer_encode(tok, prompts[p], strlen(prompts[p]), &ids[p], &n, &err);
        if (st != TT_OK) {
            rc = cli_usage_error("--prompt %d: %s", p + 1, err.msg);
            goto done;
        }
        const int per = beams ? X->num_return_sequences : num_samples;
        for (int s = 0; s < per; s++) {
            rows[p * per + s] = ids[p];
            lens[p * per + s] = (int)n;
        }
    }

    stream_ctx sc = {tok, stream, false, json ? stderr : stdout, 0.0, 0};
    /* on a terminal: escaped control characters, and several samples each
     * under a line of its own (a blank line inside a sample is not a
     * boundary); piped or --raw: the text as it is */
    const bool term = !raw && isatty(fileno(sc.out));
    sc.escape = term;
    double decode_s = 0.0;
    const double t_call = now_s();
    void (*old)(int) = signal(SIGINT, on_sigint);
    tt_status st = TT_OK;
    const int per = beams ? X->num_return_sequences : num_samples;
    if (beams) {
        /* each prompt's best sequences, best first */
        for (int p = 0; p < n_prompts && st == TT_OK; p++)
            st = tt_generator_beam_search(g, rows[p * per], lens[p * per], NULL, &out[p * per], &err);
        decode_s = now_s() - t_call;
        for (int r = 0; r < B; r++) sc.decoded += out[r].n_generated;
    } else if (!stream) {
        /* one batch: all rows step together */
        st = tt_generator_generate(g, rows, lens, B, NULL, NULL, on_token, &sc, out, &err);
        if (sc.t_first > 0.0) decode_s = now_s() - sc.t_first;
    } else {
        /* Streaming prints the same text as the plain output, as it comes: one
         * row after the other. A row alone with its row id yields exactly its
         * tokens in the batch (tt/generate.h), so the results are the same. */
        for (int r = 0; r < B && st == TT_OK; r++) {
            const uint64_t rid = (uint64_t)r;
            if (term && B > 1) fprintf(sc.out, "%s--- sample %d of %d ---\n", r ? "\n" : "", r + 1, B);
            else if (r) fputc('\n', sc.out);
            put_text(sc.out, prompts[r / per], term);
            fflush(sc.out);
            sc.t_first = 0.0;
            st = tt_generator_generate(g, &rows[r], &lens[r], 1, NULL, &rid, on_token, &sc, &out[r],
                                       &err);
            if (sc.t_first > 0.0) decode_s += now_s() - sc.t_first;
            fputc('\n', sc.out);
            fflush(sc.out);
        }
    }
    signal(SIGINT, old);
    if (st == TT_ERR_INTERRUPTED) {
        rc = cli_fail("interrupted");
        rc = CLI_EXIT_INTERRUPTED;
        goto done;
    }
    if (st != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    /* The rate of decoding: the tokens of steps >= 1 over the time from the
     * first token (the end of prompt processing) to the end, i.e. every
     * generated token at the per-step cost. With one step there is no decode
     * interval, so the whole call (prompt processing included) is used. */
    long n_gen = 0;
    for (int r = 0; r < B; r++) n_gen += out[r].n_generated;
    double tps = decode_s > 0.0 && sc.decoded > 0 ? (double)sc.decoded / decode_s : 0.0;
    if (sc.decoded == 0 && n_gen > 0) tps = (double)n_gen / (now_s() - t_call);

    /* Decode everything before printing, so a failure leaves stdout empty.
     * "text" and "generated" stop at the row's last real token: pads after an
     * EOS are kept in "tokens" only. */
    char **texts = calloc((size_t)B, sizeof *texts), **gens = calloc((size_t)B, sizeof *gens);
    tt_token_logprob **plp = NULL; /* [n_prompts][n_prompt] */
    if (!texts || !gens) {
        free(texts);
        free(gens);
        rc = cli_fail("out of memory");
        goto done;
    }
    for (int r = 0; r < B && rc == CLI_EXIT_OK; r++) {
        const size_t n_real = (size_t)(out[r].n_prompt + out[r].n_generated);
        if (tt_tokenizer_decode(tok, out[r].tokens, n_real, &texts[r], &err) ||
            tt_tokenizer_decode(tok, out[r].tokens + out[r].n_prompt, (size_t)out[r].n_generated,
                                &gens[r], &err))
            rc = cli_fail("%s", err.msg);
    }
    if (rc != CLI_EXIT_OK) goto free_texts;
    if (X->prompt_logprobs) { /* the forward pass of tt eval, once per prompt */
        plp = calloc((size_t)n_prompts, sizeof *plp);
        if (!plp) rc = cli_fail("out of memory");
        for (int p = 0; p < n_prompts && rc == CLI_EXIT_OK; p++) {
            const int n = lens[p * per];
            plp[p] = malloc((size_t)n * sizeof *plp[p]);
            if (!plp[p]) rc = cli_fail("out of memory");
            else if (tt_model_token_logprobs(model, rows[p * per], n, X->logprobs, plp[p], &err))
                rc = cli_report(&err);
        }
        if (rc != CLI_EXIT_OK) goto free_texts;
    }

    if (json) {
        printf("{\"outputs\": [");
        for (int r = 0; r < B; r++) {
            printf("%s\n  {\"prompt\": ", r ? "," : "");
            cli_json_string(stdout, prompts[r / per]);
            printf(", \"text\": ");
            cli_json_string(stdout, texts[r]);
            printf(", \"generated\": ");
            cli_json_string(stdout, gens[r]);
            printf(", \"tokens\": [");
            for (int i = 0; i < out[r].n_tokens; i++)
                printf("%s%d", i ? ", " : "", out[r].tokens[i]);
            printf("], \"finish_reason\": \"%s\", \"n_generated\": %d",
                   tt_finish_reason_str(out[r].finish), out[r].n_generated);
            if (out[r].finish == TT_FINISH_STOP) {
                printf(", \"stop_string\": ");
                cli_json_string(stdout, X->stop[out[r].stop_index]);
            }
            if (beams) {
                if (isfinite(out[r].score)) printf(", \"score\": %.9g", out[r].score);
                else printf(", \"score\": null");
            }
            if (out[r].logprobs) {
                printf(", \"logprobs\": [");
                for (int j = 0; j < out[r].n_generated; j++) {
                    printf("%s", j ? ", " : "");
                    json_logprob(tok, &out[r].logprobs[j]);
                }
                printf("]");
            }
            if (plp && plp[r / per]) {
                printf(", \"prompt_logprobs\": [");
                for (int j = 0; j < out[r].n_prompt; j++) {
                    printf("%s", j ? ", " : "");
                    json_logprob(tok, &plp[r / per][j]);
                }
                printf("]");
            }
            printf("}");
        }
        printf("\n], \"tokens_per_s\": %.1f, \"context_len\": %d, \"context_shift\": \"%s\"}\n", tps,
               tt_generator_context_len(g), tt_context_shift_str(gc.context_shift));
    } else if (!stream) {
        const int n_show = beams ? n_prompts : B; /* beam search: each prompt's best sequence */
        for (int r = 0, shown = 0; r < B; r++) {
            if (beams && r % per) continue;
            if (term && n_show > 1) printf("%s--- sample %d of %d ---\n", shown ? "\n" : "", shown + 1, n_show);
            else if (shown) putchar('\n');
            put_text(stdout, texts[r], term);
            putchar('\n');
            shown++;
        }
    }
free_texts:
    if (plp)
        for (int p = 0; p < n_prompts; p++) free(plp[p]);
    free(plp);
    for (int r = 0; r < B; r++) {
        free(texts[r]);
        free(gens[r]);
    }
    free(texts);
    free(gens);
    fflush(stdout);

done:
    if (out) tt_generations_free(out, B);
    free(out);
    if (ids)
        for (int p = 0; p < n_prompts; p++)
            free(ids[p]);
    free(ids);
    free(lens);
    free(rows);
    tt_generator_free(g);
    tt_tokenizer_free(tok);
    tt_model_free(model);
    free(prompts);
    cli_sampling_free(&sf);
    return rc;

usage_fail:
    free(prompts);
    cli_sampling_free(&sf);
    return CLI_EXIT_USAGE;
}
