/*
 * tt chat — interactive generation: type a prompt, watch the continuation
 * stream; change the settings with commands between prompts.
 *
 *   tt chat --model FILE [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P]
 *           [--greedy] [--eos CHAR | --eos-id ID] [--seed S] [--no-cache] [--threads N]
 *           [--context N] [--context-shift exact|half]
 *
 * Commands: /temp T, /topk K|none, /topp P|none, /len N, /greedy (toggle),
 * /seed N, /settings, /help, /quit. A bad command or value prints an error and
 * the session goes on; EOF (Ctrl-D) quits; Ctrl-C stops the current answer,
 * and at the prompt clears the line.
 * On a terminal, lines are read with libedit (editing and history); otherwise
 * stdin is read line by line and no prompt is printed.
 *
 * Answer n (from 0) draws from seed S + n, so that the same prompt twice gives
 * two different continuations and a session is reproducible; /seed N sets S
 * and restarts the count.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"
#include "sampling_flags.h"
#include "tt/checkpoint.h"
#include "tt/generate.h"
#include "tt/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tt chat --model FILE [options]\n"
               "\n"
               "  --model FILE          checkpoint (.safetensors) written by tt train\n"
               "  --max-new-tokens N    tokens per answer (default 200)\n"
               "  --temperature T       >= 0; 0 means greedy (default 1.0)\n"
               "  --top-k K             0 = off (default 0)\n"
               "  --top-p P             in (0, 1]; 1 = off (default 1.0)\n"
               "  --greedy              start in greedy mode\n"
               "  --eos CHAR            stop an answer at this character\n"
               "  --eos-id ID           stop an answer at this token id\n"
               "  --seed S              answer n uses seed S + n (default 42)\n"
               "  --no-cache            recompute the context at every step\n"
               "  --context N           context window (default: the training length, else max_len)\n"
               "  --context-shift MODE  half (default) or exact: how the window slides past N\n"
               "  --threads N           threads per forward pass (default: every core)\n");
    cli_sampling_usage(f, CLI_SF_CHAIN | CLI_SF_STOP);
    fprintf(f, "\nType a prompt to continue it. Commands: /help lists them.\n");
}

static void commands_help(void) {
    printf("commands:\n"
           "  /temp T        temperature (>= 0; 0 = greedy); turns sampling on\n"
           "  /topk K|none   keep the K most probable tokens, or no top-k\n"
           "  /topp P|none   nucleus mass in (0, 1], or no top-p\n"
           "  /len N         tokens per answer\n"
           "  /greedy        toggle greedy decoding\n"
           "  /seed N        seed of the next answer (later answers use N+1, N+2, ...)\n"
           "  /settings      show the current settings\n"
           "  /min-p P, /typical-p P, /repetition-penalty R, /presence-penalty F,\n"
           "  /frequency-penalty F, /penalty-last-n N, /dry-multiplier M, /dry-base B,\n"
           "  /dry-allowed-length N, /dry-penalty-last-n N, /logit-bias ID=BIAS|'c'=BIAS,\n"
           "  /samplers LIST, /stop STR\n"
           "                 the sampling controls, as the flags of the same names\n"
           "  /nostop        no stop strings; /nobias: no logit bias\n"
           "  /help          this list\n"
           "  /quit          leave (Ctrl-D too; Ctrl-C stops an answer or clears the line)\n");
}

typedef struct {
    cli_sampling sf;        /* the sampling controls (flags and slash commands) */
    char *owned[256];       /* values of slash commands they point to */
    int n_owned;
    const tt_tokenizer *tok;
    tt_generator_config gc;
    uint64_t seed;  /* base seed */
    uint64_t n_ans; /* answers since the seed was set */
    int context;    /* the window W the generator resolved */
} session;

static void show_settings(const session *s) {
    char k[32], p[32], e[32];
    if (s->gc.sampling.top_k)
        snprintf(k, sizeof k, "%d", s->gc.sampling.top_k);
    else
        snprintf(k, sizeof k, "off");
    if (s->gc.sampling.top_p < 1.0f)
        snprintf(p, sizeof p, "%g", (double)s->gc.sampling.top_p);
    else
        snprintf(p, sizeof p, "off");
    if (s->gc.eos_token_id != TT_TOKEN_NONE)
        snprintf(e, sizeof e, "id %d", s->gc.eos_token_id);
    else
        snprintf(e, sizeof e, "none");
    printf("settings: %s, temperature %g, top-k %s, top-p %s, length %d, seed %llu (next answer "
           "%llu), eos %s, cache %s, context %d (%s)\n",
           s->gc.sampling.strategy != TT_STRATEGY_GREEDY ? "sampling" : "greedy", (double)s->gc.sampling.temperature, k, p,
           s->gc.max_new_tokens, (unsigned long long)s->seed,
           (unsigned long long)(s->seed + s->n_ans), e, s->gc.use_cache ? "on" : "off", s->context,
           tt_context_shift_str(s->gc.context_shift));
}

/* Errors of interactive commands: one line on stderr, the session goes on. */
static void chat_error(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "tt chat: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static bool parse_float(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_long(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE) return false;
    *out = v;
    return true;
}

/* "/min-p 0.05" and the like: the flag parser on "--min-p" "0.05" (the
 * value is the rest of the line, kept for the session). Returns 1 when line
 * was such a command. */
static int sampling_command(session *s, const char *line) {
    const char *sp = strchr(line, ' ');
    const size_t nl = sp ? (size_t)(sp - line) : strlen(line);
    if (nl < 2 || nl > 40) return 0;
    char flag[48];
    snprintf(flag, sizeof flag, "--%.*s", (int)(nl - 1), line + 1);
    char *fargv[4] = {"tt", "chat", flag, NULL};
    int fi = 2;
    if (sp) {
        while (*sp == ' ') sp++;
        if (s->n_owned == (int)(sizeof s->owned / sizeof *s->owned)) {
            fprintf(stderr, "error: too many settings in one session\n");
            return 1;
        }
        if (!(fargv[3] = strdup(sp))) {
            fprintf(stderr, "error: out of memory\n");
            return 1;
        }
    }
    const cli_sampling before = s->sf;
    const int r = cli_sampling_flag(&s->sf, CLI_SF_CHAIN | CLI_SF_STOP, fargv[3] ? 4 : 3, fargv, &fi);
    if (r == 0) { /* not a sampling flag: nothing changed */
        free(fargv[3]);
        return 0;
    }
    if (r > 0 && !cli_sampling_finish(&s->sf, s->tok, tt_tokenizer_vocab_size(s->tok))) {
        if (fargv[3]) s->owned[s->n_owned++] = fargv[3];
        printf("%s\n", line + 1);
        return 1;
    }
    /* A failed command (its error is printed) leaves the whole sampling
     * state as it was, so nothing in it points at the value freed here; the
     * bias arrays stay owned by sf (they may have moved). */
    s->sf.p.x = before.p.x;
    s->sf.n_bias = before.n_bias;
    s->sf.p.x.logit_bias = s->sf.bias;
    s->sf.breakers_given = before.breakers_given;
    s->sf.sampling_given = before.sampling_given;
    s->sf.sampling_flag = before.sampling_flag;
    free(fargv[3]);
    return 1;
}

/* Runs one command line (starting with '/'). Returns 1 to quit. */
static int command(session *s, char *line) {
    if (!strcmp(line, "/nostop")) {
        s->sf.p.x.n_stop = 0;
        printf("no stop strings\n");
        return 0;
    }
    if (!strcmp(line, "/nobias")) {
        s->sf.n_bias = s->sf.p.x.n_logit_bias = 0;
        printf("no logit bias\n");
        return 0;
    }
    if (sampling_command(s, line)) {
        fflush(stdout);
        return 0;
    }
    char *cmd = strtok(line, " \t");
    char *arg = strtok(NULL, " \t");
    char *extra = strtok(NULL, " \t");
    const bool needs_arg = !strcmp(cmd, "/temp") || !strcmp(cmd, "/topk") ||
                           !strcmp(cmd, "/topp") || !strcmp(cmd, "/len") || !strcmp(cmd, "/seed");
    if (needs_arg && !arg) {
        chat_error("%s needs a value%s (see /help)", cmd, "");
        return 0;
    }
    if (extra || (!needs_arg && arg)) {
        chat_error("%s: unexpected argument '%s'", cmd, extra ? extra : arg);
        return 0;
    }
    double d;
    long long n;
    if (!strcmp(cmd, "/quit") || !strcmp(cmd, "/exit")) return 1;
    if (!strcmp(cmd, "/help")) {
        commands_help();
    } else if (!strcmp(cmd, "/settings")) {
        show_settings(s);
    } else if (!strcmp(cmd, "/greedy")) {
        const bool greedy = s->gc.sampling.strategy != TT_STRATEGY_GREEDY; /* toggled */
        s->gc.sampling.strategy = greedy ? TT_STRATEGY_GREEDY : TT_STRATEGY_COMBINED;
        printf("greedy %s\n", greedy ? "on" : "off (sampling)");
    } else if (!strcmp(cmd, "/temp")) {
        if (!parse_float(arg, &d) || d < 0.0 || d > 1e6)
            chat_error("/temp: expected a temperature >= 0, got '%s'%s", arg, "");
        else {
            s->gc.sampling.temperature = (float)d;
            s->gc.sampling.strategy = TT_STRATEGY_COMBINED;
            printf("temperature %g%s\n", d, d == 0.0 ? " (greedy)" : "");
        }
    } else if (!strcmp(cmd, "/topk")) {
        if (!strcmp(arg, "none") || !strcmp(arg, "off")) {
            s->gc.sampling.top_k = 0;
            printf("top-k off\n");
        } else if (!parse_long(arg, &n) || n < 0 || n > 1000000000)
            chat_error("/topk: expected an integer >= 0 or 'none', got '%s'%s", arg, "");
        else {
            s->gc.sampling.top_k = (int)n;
            if (n)
                printf("top-k %lld\n", n);
            else
                printf("top-k off\n");
        }
    } else if (!strcmp(cmd, "/topp")) {
        if (!strcmp(arg, "none") || !strcmp(arg, "off")) {
            s->gc.sampling.top_p = 1.0f;
            printf("top-p off\n");
        } else if (!parse_float(arg, &d) || !(d > 0.0 && d <= 1.0))
            chat_error("/topp: expected a probability in (0, 1] or 'none', got '%s'%s", arg, "");
        else {
            s->gc.sampling.top_p = (float)d;
            printf("top-p %g\n", d);
        }
    } else if (!strcmp(cmd, "/len")) {
        if (!parse_long(arg, &n) || n < 0 || n > 1000000)
            chat_error("/len: expected a length in [0, 1000000], got '%s'%s", arg, "");
        else {
            s->gc.max_new_tokens = (int)n;
            printf("length %lld\n", n);
        }
    } else if (!strcmp(cmd, "/seed")) {
        if (!parse_long(arg, &n) || n < 0)
            chat_error("/seed: expected a non-negative integer, got '%s'%s", arg, "");
        else {
            s->seed = (uint64_t)n;
            s->n_ans = 0;
            printf("seed %lld\n", n);
        }
    } else {
        chat_error("unknown command '%s' (see /help)%s", cmd, "");
    }
    fflush(stdout);
    return 0;
}

static volatile sig_atomic_t interrupted = 0;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    const tt_tokenizer *tok;
} stream_ctx;

static int on_token(void *user, int row, int token, int step) {
    (void)row;
    (void)step;
    const stream_ctx *s = user;
    char buf[5];
    if (tt_tokenizer_token_utf8(s->tok, token, buf)) fputs(buf, stdout);
    fflush(stdout);
    return interrupted ? 1 : 0;
}

/* Continues one prompt, streaming the answer to stdout. */
static void answer(session *s, tt_generator *g, const tt_tokenizer *tok, const char *text) {
    int *ids = NULL;
    size_t n = 0;
    tt_error err;
    if (tt_tokenizer_encode(tok, text, strlen(text), &ids, &n, &err) != TT_OK) {
        fprintf(stderr, "tt chat: %s\n", err.msg);
        return;
    }
    tt_generate_overrides o = {TT_OVR_MAX_NEW_TOKENS | TT_OVR_TEMPERATURE | TT_OVR_TOP_K |
                                   TT_OVR_TOP_P | TT_OVR_STRATEGY | TT_OVR_SEED | TT_OVR_CONTROLS,
                               s->gc};
    o.values.seed = s->seed + s->n_ans++;
    o.values.sampling.x = s->sf.p.x;
    const int *rows[1] = {ids};
    int lens[1] = {(int)n};
    tt_generation out;
    stream_ctx sc = {tok};
    interrupted = 0;
    void (*old)(int) = signal(SIGINT, on_sigint);
    tt_status st = tt_generator_generate(g, rows, lens, 1, &o, NULL, on_token, &sc, &out, &err);
    signal(SIGINT, old);
    fputc('\n', stdout);
    fflush(stdout);
    if (st == TT_ERR_INTERRUPTED)
        fprintf(stderr, "(stopped)\n");
    else if (st != TT_OK)
        fprintf(stderr, "tt chat: %s\n", err.msg);
    tt_generations_free(&out, 1);
    free(ids);
}

/* Ctrl-C at the prompt clears the line and gives a fresh prompt (as Python
 * and sqlite do); Ctrl-D or /quit leave. The handler only sets a flag; the
 * getc function that libedit reads through sees read() fail with EINTR and
 * ends the line, which the loop then discards. */
static volatile sig_atomic_t prompt_interrupted = 0;
static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_interrupted = 1;
}

static int prompt_getc(FILE *f) {
    (void)f;
    for (;;) {
        unsigned char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 1) return c;
        if (n < 0 && errno == EINTR) {
            if (prompt_interrupted) return '\n';
            continue;
        }
        return EOF;
    }
}

int cmd_chat(int argc, char **argv) {
    const char *model_path = NULL, *eos_char = NULL;
    session s;
    s.gc = tt_generator_config_default();
    s.gc.max_new_tokens = 200;
    s.n_ans = 0;
    s.n_owned = 0;
    s.tok = NULL;
    cli_sampling_init(&s.sf);
    int eos_id = TT_TOKEN_NONE, bad = 0;
    bool have_eos_id = false;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (cli_is_flag(argv[i], "--help") || cli_is_flag(argv[i], "-h")) {
            usage(stdout);
            { cli_sampling_free(&s.sf); return CLI_EXIT_OK; }
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (!v) { cli_sampling_free(&s.sf); return CLI_EXIT_USAGE; }
            model_path = v;
        } else if (cli_opt(argc, argv, &i, "--max-new-tokens", &v)) {
            if (!v || cli_int("--max-new-tokens", v, 0, 1000000, &s.gc.max_new_tokens))
                { cli_sampling_free(&s.sf); return CLI_EXIT_USAGE; }
        } else if (cli_opt(argc, argv, &i, "--eos", &v)) {
            if (!v) { cli_sampling_free(&s.sf); return CLI_EXIT_USAGE; }
            eos_char = v;
        } else if (cli_opt(argc, argv, &i, "--eos-id", &v)) {
            if (!v || cli_int("--eos-id", v, 0, 1000000000, &eos_id)) { cli_sampling_free(&s.sf); return CLI_EXIT_USAGE; }
            have_eos_id = true;
        } else if (cli_is_flag(argv[i], "--no-cache")) {
            s.gc.use_cache = false;
        } else if (cli_context_opt(argc, argv, &i, &s.gc, &bad)) {
            if (bad) return bad;
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!v || cli_int("--threads", v, 1, TT_GEN_MAX_THREADS, &s.gc.n_threads))
                { cli_sampling_free(&s.sf); return CLI_EXIT_USAGE; }
        } else {
            const int r = cli_sampling_flag(&s.sf, CLI_SF_GENERATE | CLI_SF_CHAIN | CLI_SF_STOP, argc, argv, &i);
            if (r == 0) cli_unknown(argv[i]);
            if (r <= 0) {
                cli_sampling_free(&s.sf);
                { cli_sampling_free(&s.sf); return CLI_EXIT_USAGE; }
            }
        }
    }
    if (!model_path) { cli_sampling_free(&s.sf); return cli_usage_error("--model FILE is required (see 'tt chat --help')"); }
    if (eos_char && have_eos_id)
        { cli_sampling_free(&s.sf); return cli_usage_error("--eos and --eos-id are exclusive; give one"); }
    if (s.sf.seed_given) s.gc.seed = s.sf.seed;
    s.seed = s.gc.seed;
    s.gc.sampling = s.sf.p; /* the slash commands change gc.sampling's T, k, p and strategy */

    tt_error err;
    tt_model *model = NULL;
    tt_tokenizer *tok = NULL;
    tt_generator *g = NULL;
    int rc = cli_load_model(model_path, &model, &tok);
    if (rc != CLI_EXIT_OK) return rc;
    if (!tok) {
        rc = cli_fail("--model: '%s' has no vocabulary", model_path);
        goto done;
    }
    if ((rc = cli_check_context(model, &s.gc)) != CLI_EXIT_OK) goto done;
    if (eos_char) {
        uint32_t cp;
        size_t n = strlen(eos_char);
        int k = n ? tt_utf8_decode(eos_char, n, &cp) : 0;
        if (!k || (size_t)k != n) {
            rc = cli_usage_error("--eos: expected exactly one character, got '%s'", eos_char);
            goto done;
        }
        if (tt_tokenizer_id(tok, cp, &eos_id) != TT_OK) {
            rc =
                cli_usage_error("--eos: character '%s' is not in the model's vocabulary", eos_char);
            goto done;
        }
    }
    if (eos_id != TT_TOKEN_NONE && eos_id >= tt_tokenizer_vocab_size(tok)) {
        rc = cli_usage_error("--eos-id: %d is out of range for the model's vocabulary (%d tokens)",
                             eos_id, tt_tokenizer_vocab_size(tok));
        goto done;
    }
    s.gc.eos_token_id = eos_id;
    s.tok = tok;
    if (cli_sampling_finish(&s.sf, tok, tt_tokenizer_vocab_size(tok)) ||
        (s.gc.sampling.strategy != TT_STRATEGY_GREEDY &&
         cli_sampling_check_temperature(&s.sf, s.gc.sampling.temperature, false))) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    s.gc.sampling.x = s.sf.p.x;
    if (tt_generator_create(&g, model, &s.gc, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    s.context = tt_generator_context_len(g);
    tt_generator_set_tokenizer(g, tok);

    const bool tty = isatty(STDIN_FILENO);
    if (tty) {
        printf("tt chat: type a prompt to continue it; /help for commands, /quit or Ctrl-D to "
               "leave.\n");
        show_settings(&s);
        fflush(stdout);
        using_history();
        rl_getc_function = prompt_getc;
    }
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        char *line;
        if (tty) {
            struct sigaction sa, old_sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_prompt_sigint; /* no SA_RESTART: read() returns EINTR */
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, &old_sa);
            prompt_interrupted = 0;
            line = readline("> ");
            sigaction(SIGINT, &old_sa, NULL);
            if (prompt_interrupted) { /* Ctrl-C: the line is dropped */
                free(line);
                fputs("^C\n", stdout);
                fflush(stdout);
                continue;
            }
            if (!line) {
                fputc('\n', stdout);
                break;
            }
        } else {
            ssize_t n = getline(&buf, &cap, stdin);
            if (n < 0) break;
            if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
            line = buf;
        }
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[len - 1] = '\0';
        int quit = 0;
        if (line[0]) {
            if (tty) add_history(line);
            if (line[0] == '/')
                quit = command(&s, line);
            else
                answer(&s, g, tok, line);
        }
        if (tty) free(line);
        if (quit) break;
    }
    free(buf);

done:
    tt_generator_free(g);
    tt_tokenizer_free(tok);
    tt_model_free(model);
    cli_sampling_free(&s.sf);
    for (int i = 0; i < s.n_owned; i++) free(s.owned[i]);
    return rc;
}
