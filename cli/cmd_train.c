/*
 * tt train — fit a character tokenizer on the data, build a model from a
 * preset (plus overrides), train it with AdamW and write safetensors
 * checkpoints (NAME.safetensors, NAME.best.safetensors, NAME.state).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sha2.h> /* libmd: SHA256Data */

#include "cli.h"
#include "tt/checkpoint.h"
#include "tt/data.h"
#include "tt/model.h"
#include "tt/outputs.h"
#include "tt/tokenizer.h"
#include "tt/train.h"
#include "train_dist.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tt train --data FILE [--val-data FILE | --val-fraction F] --out FILE.safetensors\n"
            "                [--preset tiny|small|medium|large] [--d-model N] [--n-heads N] [--n-layers N]\n"
            "                [--d-ff N] [--max-len N] [--dropout F] [--positional sinusoidal|learned]\n"
            "                [--seq-len N] [--batch-size N] [--max-steps N] [--learning-rate F]\n"
            "                [--weight-decay F] [--warmup-steps N] [--grad-clip F] [--eval-interval N]\n"
            "                [--eval-batches N] [--log-interval N] [--save-interval N] [--seed N]\n"
            "                [--threads N] [--resume FILE] [--log-json FILE] [--comm-timeout SECONDS]\n"
            "                [--no-overlap]\n"
            "\n"
            "Trains a character-level model. The tokenizer is fit on --data (plus --val-data).\n"
            "Defaults: --val-fraction 0.1 (the last 10%%), --preset tiny, --seq-len 64, --batch-size 12,\n"
            "--max-steps 1000, --learning-rate 1e-3, --weight-decay 0.01, --warmup-steps 100 (capped at\n"
            "max-steps/10 when it does not fit), --grad-clip 1.0 (0 = off), --eval-interval 500 (0 = at the\n"
            "end), --eval-batches 20, --log-interval 100, --save-interval 1000 (0 = at the end), --seed 1337.\n"
            "Writes --out every save interval and at the end, NAME.best.safetensors (best validation loss)\n"
            "and NAME.state (optimizer, RNG and loader state for --resume FILE; NAME.state.prev keeps the\n"
            "previous one, so that a run killed during a save still resumes). Every output must be a\n"
            "regular file (or new), none may be an input of the run; another run writing the same --out\n"
            "is refused (a lock, NAME.lock, names its pid). Ctrl-C, SIGTERM, SIGHUP and SIGPIPE save and\n"
            "exit 128 + the signal (130 for Ctrl-C; a second Ctrl-C quits without saving); a closed\n"
            "stdout (| head) only silences the log. A NaN or infinite loss or gradient stops the run\n"
            "(exit 1) and keeps the last saved checkpoint. The log prints step 1, then every\n"
            "--log-interval steps or 5 seconds, with the ETA.\n"
            "--resume with another --max-steps: the lr schedule (warmup, cosine) is always that of the\n"
            "--max-steps given now, so the lr continues on the new schedule (printed at the first step);\n"
            "resuming a run already at --max-steps trains nothing and writes a copy to --out.\n"
            "--log-json FILE writes one JSON object per logged step.\n"
            "Under mpirun (or srun) with N processes it trains one model data-parallel: --batch-size is the\n"
            "global batch (divisible by N), rank 0 alone prints and writes; a collective that waits more than\n"
            "--comm-timeout seconds (default 300) ends the job; --no-overlap averages the gradients after\n"
            "the backward pass instead of during it (docs/distributed.md).\n"
            "Every checkpoint records its training in its metadata (train_seq_len, train_steps,\n"
            "train_tokens, train_val_loss, train_data_sha256 = the SHA-256 of --data; see tt info):\n"
            "tt generate, chat and eval then use --seq-len as their default context.\n");
}

/* SIGINT, SIGTERM, SIGHUP and SIGPIPE stop the run at the end of the step,
 * which saves; the exit status is then 128 + the signal's number. A second
 * signal while the first is pending ends the process at once (a run stuck in
 * a library call still answers Ctrl-C). A SIGPIPE that comes from our own
 * write to a closed stdout (`tt train ... | head`) is not a request to stop:
 * the log lines are dropped and training goes on. */
static volatile sig_atomic_t g_stop = 0, g_pipe = 0, g_trained = 0;
static void on_signal(int sig) {
    if (sig == SIGPIPE) {
        g_pipe = 1;
        return;
    }
    if (g_stop && g_trained) /* tt_train has returned: what it saved is saved */
        _exit(128 + g_stop);
    if (g_stop) {
        static const char msg[] = "tt train: second signal: exiting without saving\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + sig);
    }
    g_stop = sig;
}

/* Every few seconds a log line, whatever --log-interval says. */
#define PROGRESS_SECONDS 5.0

/* For the collectives' waits (cli/train_dist.h). */
static int stop_requested(void *user) {
    (void)user;
    return g_stop != 0;
}

typedef struct {
    FILE *json;
    bool tty;
    bool stdout_closed; /* a closed pipe: log lines are dropped */
    bool first;         /* the first callback of the run */
    const char *resume;
    const tt_train_config *tc;
    double last_line_s; /* elapsed_s of the last line printed */
} progress_ctx;

/* After writing to stdout: a failed write to a closed pipe turns the log off
 * (the SIGPIPE it raised was ours); a SIGPIPE without such a failure came
 * from someone else (kill -PIPE) and stops the run like SIGINT. */
static void after_stdout(progress_ctx *c) {
    errno = 0;
    int failed = fflush(stdout) != 0 || ferror(stdout);
    if (failed && (errno == EPIPE || g_pipe)) {
        c->stdout_closed = true;
        clearerr(stdout);
        g_pipe = 0;
    }
    if (g_pipe && !g_stop) g_stop = SIGPIPE;
}

static void fmt_time(double s, char buf[32]) {
    if (!isfinite(s) || s < 0) s = 0;
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, 32, "%dh%02dm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, 32, "%dm%02ds", t / 60, t % 60);
    else snprintf(buf, 32, "%ds", t);
}

static int on_progress(void *user, const tt_train_progress *p) {
    progress_ctx *c = user;
    char eta[32];
    fmt_time(p->eta_s, eta);
    bool first = c->first;
    c->first = false;
    if (first && c->resume && p->step > 1 && !c->stdout_closed) {
        /* the rule for a resumed run's schedule, said once */
        int warmup;
        tt_train_lr_at(c->tc, 0, &warmup);
        printf("resumed at step %d: the lr schedule is that of --max-steps %d (warmup %d, then cosine to 0.1 x "
               "lr), whatever --max-steps the run had before; step %d uses lr %.2e\n",
               p->step - 1, p->max_steps, warmup, p->step, (double)p->lr);
        after_stdout(c);
    }
    if (c->stdout_closed) {
        /* nothing to print to */
    } else if (c->tty) {
        const int width = 24;
        int fill = (int)((double)p->step / p->max_steps * width);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stdout, "\r[%s] step %d/%d | loss %.4f | lr %.2e | %.0f tok/s | ETA %s   ", bar, p->step,
                p->max_steps, (double)p->loss, (double)p->lr, p->tokens_per_s, eta);
        if (p->has_val) fprintf(stdout, "\n  step %d: val loss %.4f\n", p->step, (double)p->val_loss);
        after_stdout(c);
    } else if (p->is_log_step || p->has_val || first || p->elapsed_s - c->last_line_s >= PROGRESS_SECONDS) {
        /* the first step at once (with its ETA), then every log interval or
         * every few seconds, whichever comes first */
        c->last_line_s = p->elapsed_s;
        fprintf(stdout, "step %d/%d | loss %.4f | lr %.2e | grad %.3f | %.0f tok/s | ETA %s", p->step,
                p->max_steps, (double)p->loss, (double)p->lr, (double)p->grad_norm, p->tokens_per_s, eta);
        if (p->has_val) fprintf(stdout, " | val %.4f", (double)p->val_loss);
        fputc('\n', stdout);
        after_stdout(c);
    }
    if (g_pipe) after_stdout(c);
    if (c->json && (p->is_log_step || p->has_val)) {
        fprintf(c->json, "{\"step\":%d,\"loss\":%.6g,\"lr\":%.6g,\"tokens_per_s\":%.1f,\"grad_norm\":%.6g,"
                         "\"elapsed_s\":%.3f",
                p->step, (double)p->loss, (double)p->lr, p->tokens_per_s, (double)p->grad_norm, p->elapsed_s);
        if (p->has_val) fprintf(c->json, ",\"val_loss\":%.6g", (double)p->val_loss);
        fputs("}\n", c->json);
        fflush(c->json);
    }
    return (int)g_stop; /* the signal's number: every rank exits with 128 + the largest */
}

/* Every file the run writes: checked up front (a regular file or nothing, in
 * a writable directory, a name that fits), and none of them may be an input
 * of the run or another of its outputs. @return CLI_EXIT_OK or the exit code
 * after the message. */
static int check_outputs(const char *out, const char *log_json, const char *data, const char *val,
                         const char *resume) {
    char *best = tt_train_sibling_path(out, ".best.safetensors");
    char *state = tt_train_sibling_path(out, ".state");
    char *prev = tt_train_sibling_path(out, ".state.prev");
    int rc = CLI_EXIT_OK;
    if (!best || !state || !prev) {
        rc = cli_fail("out of memory");
        goto out;
    }
    const char *paths[5] = {out, best, state, prev, log_json};
    const char *flags[5] = {"--out", "--out", "--out", "--out", "--log-json"};
    const int n = log_json ? 5 : 4;
    tt_error err;
    for (int i = 0; i < n && rc == CLI_EXIT_OK; i++)
        if (tt_output_check(paths[i], &err) != TT_OK) rc = cli_usage_error("%s: %s", flags[i], err.msg);
    const char *inputs[3] = {data, val, resume};
    const char *in_flags[3] = {"--data", "--val-data", "--resume"};
    for (int i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        for (int k = 0; k < 3 && rc == CLI_EXIT_OK; k++) {
            /* --resume m --out m is the usual way to continue a run; its
             * state files are read before they are rewritten */
            if (!inputs[k] || (k == 2 && i < 4)) continue;
            if (tt_output_same_file(paths[i], inputs[k]))
                rc = cli_usage_error("%s: '%s' is the same file as %s '%s' (an input is never overwritten)",
                                     flags[i], paths[i], in_flags[k], inputs[k]);
        }
        for (int j = i + 1; j < n && rc == CLI_EXIT_OK; j++)
            if (tt_output_same_file(paths[i], paths[j]))
                rc = cli_usage_error("%s: '%s' is the same file as '%s', another output of this run", flags[j],
                                     paths[j], paths[i]);
    }
    /* --resume naming a state file or the best checkpoint of --out would be
     * replaced while it is read */
    if (rc == CLI_EXIT_OK && resume)
        for (int i = 1; i < 4 && rc == CLI_EXIT_OK; i++)
            if (tt_output_same_file(paths[i], resume))
                rc = cli_usage_error("--resume: '%s' is the same file as '%s', an output of this run", resume,
                                     paths[i]);
out:
    free(best);
    free(state);
    free(prev);
    return rc;
}

static bool config_equal(const tt_model_config *a, const tt_model_config *b) {
    return a->vocab_size == b->vocab_size && a->d_model == b->d_model && a->n_heads == b->n_heads &&
           a->n_layers == b->n_layers && a->d_ff == b->d_ff && a->max_len == b->max_len &&
           a->dropout == b->dropout && a->positional == b->positional && a->tie_weights == b->tie_weights;
}

static int train_run(int argc, char **argv, cli_dist *cd, tt_status *status);

/* The distributed frame around a run: see cli/train_dist.h. */
int cmd_train(int argc, char **argv) {
    cli_dist cd;
    cli_dist_begin(&cd);
    tt_status status = TT_OK;
    int rc = train_run(argc, argv, &cd, &status);
    cli_dist_parsed(&cd);
    if (cd.dist && cd.pending) rc = cli_dist_agree(&cd, rc); /* failed during set-up: tell the others */
    cli_dist_end(&cd, status, rc);
    return rc;
}

/* Exit status for a library status, as cli_report maps it (for ranks that do not print). */
static int exit_code_of(tt_status st) {
    if (st == TT_ERR_ARG || st == TT_ERR_RANGE) return CLI_EXIT_USAGE;
    if (st == TT_ERR_INTERRUPTED) return CLI_EXIT_INTERRUPTED;
    return st == TT_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int train_run(int argc, char **argv, cli_dist *cd, tt_status *status) {
    const char *data_path = NULL, *val_path = NULL, *out = NULL, *resume = NULL, *log_json = NULL;
    const char *preset = "tiny", *positional = NULL;
    float val_fraction = 0.1f, dropout = -1.0f;
    bool have_val_fraction = false;
    int d_model = 0, n_heads = 0, n_layers = 0, d_ff = 0, max_len = 0, threads = 0;
    float comm_timeout = 300.0f;
    bool overlap = true;
    tt_train_config tc = tt_train_config_default();
    uint64_t seed = tc.seed;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        const char *a = argv[i];
#define OPT(name) cli_opt(argc, argv, &i, name, &v)
#define NEED()                                                                                     \
    if (!v) return CLI_EXIT_USAGE
        if (cli_is_flag(a, "--help") || cli_is_flag(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (OPT("--data")) { NEED(); data_path = v; }
        else if (OPT("--val-data")) { NEED(); val_path = v; }
        else if (OPT("--val-fraction")) {
            NEED();
            if (cli_float("--val-fraction", v, 0.0, 1.0, &val_fraction)) return CLI_EXIT_USAGE;
            if (val_fraction >= 1.0f) return cli_usage_error("--val-fraction: must be in [0, 1), got %s", v);
            have_val_fraction = true;
        } else if (OPT("--preset")) { NEED(); preset = v; }
        else if (OPT("--d-model")) { NEED(); if (cli_int("--d-model", v, 1, 1 << 16, &d_model)) return CLI_EXIT_USAGE; }
        else if (OPT("--n-heads")) { NEED(); if (cli_int("--n-heads", v, 1, 1 << 12, &n_heads)) return CLI_EXIT_USAGE; }
        else if (OPT("--n-layers")) { NEED(); if (cli_int("--n-layers", v, 1, 1 << 10, &n_layers)) return CLI_EXIT_USAGE; }
        else if (OPT("--d-ff")) { NEED(); if (cli_int("--d-ff", v, 1, 1 << 18, &d_ff)) return CLI_EXIT_USAGE; }
        else if (OPT("--max-len")) { NEED(); if (cli_int("--max-len", v, 1, 1 << 20, &max_len)) return CLI_EXIT_USAGE; }
        else if (OPT("--dropout")) {
            NEED();
            if (cli_float("--dropout", v, 0.0, 1.0, &dropout)) return CLI_EXIT_USAGE;
            if (dropout >= 1.0f) return cli_usage_error("--dropout: must be in [0, 1), got %s", v);
        } else if (OPT("--positional")) {
            NEED();
            if (strcmp(v, "sinusoidal") && strcmp(v, "learned"))
                return cli_usage_error("--positional: must be sinusoidal or learned, got '%s'", v);
            positional = v;
        } else if (OPT("--seq-len")) { NEED(); if (cli_int("--seq-len", v, 1, 1 << 20, &tc.seq_len)) return CLI_EXIT_USAGE; }
        else if (OPT("--batch-size")) { NEED(); if (cli_int("--batch-size", v, 1, 1 << 20, &tc.batch_size)) return CLI_EXIT_USAGE; }
        else if (OPT("--max-steps")) { NEED(); if (cli_int("--max-steps", v, 1, 1000000000L, &tc.max_steps)) return CLI_EXIT_USAGE; }
        else if (OPT("--learning-rate")) {
            NEED();
            if (cli_float("--learning-rate", v, 0.0, INFINITY, &tc.learning_rate)) return CLI_EXIT_USAGE;
            if (!(tc.learning_rate > 0.0f)) return cli_usage_error("--learning-rate: must be > 0, got %s", v);
        } else if (OPT("--weight-decay")) { NEED(); if (cli_float("--weight-decay", v, 0.0, INFINITY, &tc.weight_decay)) return CLI_EXIT_USAGE; }
        else if (OPT("--warmup-steps")) { NEED(); if (cli_int("--warmup-steps", v, 0, 1000000000L, &tc.warmup_steps)) return CLI_EXIT_USAGE; }
        else if (OPT("--grad-clip")) { NEED(); if (cli_float("--grad-clip", v, 0.0, INFINITY, &tc.grad_clip)) return CLI_EXIT_USAGE; }
        else if (OPT("--eval-interval")) { NEED(); if (cli_int("--eval-interval", v, 0, 1000000000L, &tc.eval_interval)) return CLI_EXIT_USAGE; }
        else if (OPT("--eval-batches")) { NEED(); if (cli_int("--eval-batches", v, 1, 1000000000L, &tc.eval_batches)) return CLI_EXIT_USAGE; }
        else if (OPT("--log-interval")) { NEED(); if (cli_int("--log-interval", v, 1, 1000000000L, &tc.log_interval)) return CLI_EXIT_USAGE; }
        else if (OPT("--save-interval")) { NEED(); if (cli_int("--save-interval", v, 0, 1000000000L, &tc.save_interval)) return CLI_EXIT_USAGE; }
        else if (OPT("--seed")) { NEED(); if (cli_u64("--seed", v, &seed)) return CLI_EXIT_USAGE; }
        else if (OPT("--threads")) { NEED(); if (cli_int("--threads", v, 1, 256, &threads)) return CLI_EXIT_USAGE; }
        else if (OPT("--out")) { NEED(); out = v; }
        else if (OPT("--resume")) { NEED(); resume = v; }
        else if (OPT("--log-json")) { NEED(); log_json = v; }
        else if (OPT("--comm-timeout")) {
            NEED();
            if (cli_float("--comm-timeout", v, 0.0, 1e9, &comm_timeout)) return CLI_EXIT_USAGE;
            if (!(comm_timeout > 0.0f)) return cli_usage_error("--comm-timeout: must be > 0 seconds, got %s", v);
        } else if (cli_is_flag(a, "--no-overlap")) overlap = false;
        else return cli_unknown(a);
#undef OPT
#undef NEED
    }
    if (!data_path) return cli_usage_error("--data FILE is required (see 'tt train --help')");
    if (!out) return cli_usage_error("--out FILE.safetensors is required (see 'tt train --help')");
    if (val_path && have_val_fraction)
        return cli_usage_error("--val-data and --val-fraction cannot be used together");
    if (!*out) return cli_usage_error("--out: empty path");
    if (log_json && !*log_json) return cli_usage_error("--log-json: empty path");
    cli_dist_parsed(cd);
    int drc = cli_dist_start(cd, comm_timeout, overlap, stop_requested, NULL);
    if (drc != CLI_EXIT_OK) return drc;
    if (cd->dist && tc.batch_size % cd->size != 0) { /* every rank sees it: no agreement needed */
        cd->pending = false;
        if (cd->rank == 0)
            cli_usage_error("--batch-size %d is not divisible by the %d processes: each takes an equal, contiguous "
                            "share of the global batch",
                            tc.batch_size, cd->size);
        return CLI_EXIT_USAGE;
    }
    if (cd->rank == 0) { /* rank 0 alone writes */
        /* fail now, not at the first save after minutes of training */
        int crc = check_outputs(out, log_json, data_path, val_path, resume);
        if (crc != CLI_EXIT_OK) return crc;
    }
    tc.seed = seed;
    tc.out_path = out;
    tc.resume_path = resume;
    tt_error err;
    if (tt_train_config_validate(&tc, &err) != TT_OK) return cli_usage_error("%s", err.msg);
    tt_model_config probe;
    if (tt_model_config_preset(preset, 1, &probe, &err) != TT_OK) return cli_usage_error("--preset: %s", err.msg);
    if (threads == 0) threads = cli_dist_default_threads(cd);
    tc.n_threads = threads; /* 0: auto */

    /* data: the tokenizer is fit on everything the run reads */
    size_t n_text = 0, n_vtext = 0;
    char *text = cli_read_file("--data", data_path, &n_text);
    if (!text) return CLI_EXIT_USAGE;
    char *vtext = NULL;
    if (val_path && !(vtext = cli_read_file("--val-data", val_path, &n_vtext))) {
        free(text);
        return CLI_EXIT_USAGE;
    }
    int rc = CLI_EXIT_OK;
    tt_tokenizer *tok = NULL;
    tt_model *m = NULL;
    int *ids = NULL, *vids = NULL;
    tt_token_view data = {NULL, 0, 1}, vdata = {NULL, 0, 1}; /* the ids the run holds */
    FILE *jf = NULL;
    tt_output_lock *lock = NULL;
    size_t n_ids = 0, n_vids = 0;
    if (n_text == 0) {
        rc = cli_usage_error("--data: '%s' is empty", data_path);
        goto done;
    }
    if (vtext && n_vtext == 0) {
        rc = cli_usage_error("--val-data: '%s' is empty", val_path);
        goto done;
    }
    if (cd->dist) { /* every rank has its data (or all stop), and the same data */
        if ((rc = cli_dist_agree(cd, CLI_EXIT_OK)) != CLI_EXIT_OK) goto done;
        if ((rc = cli_dist_same_file(cd, text, n_text, "--data", data_path)) != CLI_EXIT_OK) goto done;
        if (vtext && (rc = cli_dist_same_file(cd, vtext, n_vtext, "--val-data", val_path)) != CLI_EXIT_OK)
            goto done;
    }
    tt_model_config rcfg; /* --resume's config, compared with the options' below */
    memset(&rcfg, 0, sizeof rcfg);
    if (resume) {
        if (tt_checkpoint_read_config(resume, &rcfg, &tok, &err) != TT_OK) {
            rc = cli_usage_error("--resume: %s", err.msg);
            goto done;
        }
    } else {
        char *all = vtext ? malloc(n_text + n_vtext + 1) : text;
        if (!all) {
            rc = cli_fail("out of memory");
            goto done;
        }
        if (vtext) {
            memcpy(all, text, n_text);
            memcpy(all + n_text, vtext, n_vtext);
        }
        tt_status st = tt_tokenizer_fit(&tok, all, n_text + n_vtext, &err);
        if (all != text) free(all);
        if (st != TT_OK) {
            rc = cli_usage_error("--data: %s", err.msg);
            goto done;
        }
    }
    if (tt_tokenizer_encode(tok, text, n_text, &ids, &n_ids, &err) != TT_OK) {
        rc = cli_usage_error("--data: %s", err.msg);
        goto done;
    }
    if (vtext && tt_tokenizer_encode(tok, vtext, n_vtext, &vids, &n_vids, &err) != TT_OK) {
        rc = cli_usage_error("--val-data: %s", err.msg);
        goto done;
    }
    /* the checkpoints record the SHA-256 of --data (what `sha256sum FILE` prints) */
    char data_sha[SHA256_DIGEST_STRING_LENGTH];
    SHA256Data((const uint8_t *)text, n_text, data_sha);
    tc.data_sha256 = data_sha;
    /* From here the run holds its data as ids of tt_token_width(V) bytes (one
     * for a character vocabulary), neither the text nor int ids: a quarter of
     * the memory (docs/benchmarks.md, the quality run's peak RSS). */
    const int width = tt_token_width(tt_tokenizer_vocab_size(tok));
    if (tt_tokens_pack(ids, n_ids, width, &data, &err) != TT_OK ||
        (vids && tt_tokens_pack(vids, n_vids, width, &vdata, &err) != TT_OK)) {
        rc = cli_fail("%s", err.msg);
        goto done;
    }
    free(ids);
    free(vids);
    free(text);
    free(vtext);
    ids = vids = NULL;
    text = vtext = NULL;
    size_t n_train = n_ids, n_val = n_vids;
    tt_token_view train_view = data, val_view = vdata;
    if (!val_path) {
        if (tt_data_split(n_ids, val_fraction, &n_train, &err) != TT_OK) {
            rc = cli_usage_error("--val-fraction: %s", err.msg);
            goto done;
        }
        n_val = n_ids - n_train;
        train_view.n = n_train;
        val_view.ids = n_val ? (const char *)data.ids + n_train * (size_t)width : NULL;
        val_view.n = n_val;
        val_view.width = width;
    }

    /* model config: preset, then the overrides */
    tt_model_config cfg;
    tt_model_config_preset(preset, tt_tokenizer_vocab_size(tok), &cfg, NULL);
    if (d_model) cfg.d_model = d_model;
    if (n_heads) cfg.n_heads = n_heads;
    if (n_layers) cfg.n_layers = n_layers;
    if (d_ff) cfg.d_ff = d_ff;
    if (max_len) cfg.max_len = max_len;
    if (dropout >= 0.0f) cfg.dropout = dropout;
    if (positional) cfg.positional = strcmp(positional, "learned") ? TT_POS_SINUSOIDAL : TT_POS_LEARNED;
    if (tt_model_config_validate(&cfg, &err) != TT_OK) {
        rc = cli_usage_error("%s", err.msg);
        goto done;
    }
    if (tc.seq_len > cfg.max_len) {
        rc = cli_usage_error("--seq-len %d exceeds the model's max_len %d", tc.seq_len, cfg.max_len);
        goto done;
    }
    if (n_train < (size_t)tc.seq_len + 1) {
        rc = cli_usage_error("--data: %zu training tokens are not enough for one window of --seq-len %d + 1",
                             n_train, tc.seq_len);
        goto done;
    }
    if (n_val > 0 && n_val < (size_t)tc.seq_len + 1) {
        rc = cli_usage_error("%s: %zu validation tokens are not enough for one window of --seq-len %d + 1 "
                             "(use a larger --val-fraction, or 0 for none)",
                             val_path ? "--val-data" : "--val-fraction", n_val, tc.seq_len);
        goto done;
    }
    if (resume) {
        if (!config_equal(&cfg, &rcfg)) {
            rc = cli_usage_error("--resume: '%s' was trained with another model config (d_model %d, n_heads %d, "
                                 "n_layers %d, d_ff %d, max_len %d, dropout %g); pass the same options",
                                 resume, rcfg.d_model, rcfg.n_heads, rcfg.n_layers, rcfg.d_ff, rcfg.max_len,
                                 (double)rcfg.dropout);
            goto done;
        }
    }
    if (cd->rank == 0 && tt_output_lock_acquire(out, &lock, &err) != TT_OK) { /* the writer */
        rc = cli_fail("--out: %s", err.msg);
        goto done;
    }
    if (tt_model_create(&m, &cfg, tc.seed, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    if (log_json && cd->rank == 0 && !(jf = fopen(log_json, resume ? "a" : "w"))) {
        rc = cli_usage_error("--log-json: cannot open '%s': %s", log_json, strerror(errno));
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);

    int warmup_used;
    tt_train_lr_at(&tc, 0, &warmup_used);
    tt_model_set_threads(m, tc.n_threads, NULL); /* validated above */
    const int n_threads = tt_model_threads(m);
    printf("tt train: %s, %zu train + %zu val tokens, vocab %d\n", data_path, n_train, n_val,
           cfg.vocab_size);
    printf("model: d_model %d, n_heads %d, n_layers %d, d_ff %d, max_len %d, dropout %g, %s, %zu parameters\n",
           cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.max_len, (double)cfg.dropout,
           cfg.positional == TT_POS_LEARNED ? "learned" : "sinusoidal", tt_model_num_params(m));
    printf("training: %d steps, batch %d x seq_len %d, lr %g, weight decay %g, grad clip %g, warmup %d, seed %llu, "
           "threads %d\n",
           tc.max_steps, tc.batch_size, tc.seq_len, (double)tc.learning_rate, (double)tc.weight_decay,
           (double)tc.grad_clip, warmup_used, (unsigned long long)tc.seed, n_threads);
    if (warmup_used != tc.warmup_steps)
        printf("note: warmup capped at %d steps (max_steps/10): --warmup-steps %d does not fit in %d steps\n",
               warmup_used, tc.warmup_steps, tc.max_steps);
    if (cd->dist)
        printf("distributed: %d processes (%s), global batch %d = %d x %d rows, %d thread%s each, comm timeout "
               "%g s, overlap %s\n",
               cd->size, tt_dist_mpi_version(), tc.batch_size, cd->size,
               tc.batch_size % cd->size ? 0 : tc.batch_size / cd->size, n_threads,
               n_threads == 1 ? "" : "s", (double)comm_timeout, overlap ? "on" : "off");
    if (resume) {
        printf("resuming from %s\n", resume);
        tt_train_state_info si;
        if (tt_train_state_info_read(resume, &si, NULL) == TT_OK && si.n_procs != cd->size)
            printf("note: the run was saved by %d process%s and continues on %d: the same global batch and "
                   "data order, so the same training up to float summation order (not bit-identical)\n",
                   si.n_procs, si.n_procs == 1 ? "" : "es", cd->size);
    }
    fflush(stdout);
    if (cd->dist) {
        if ((rc = cli_dist_agree(cd, CLI_EXIT_OK)) != CLI_EXIT_OK) goto done;
        cd->pending = false; /* from here tt_train keeps the ranks together */
        tc.dist = cd->dist;
    }

    /* Open MPI gives every rank a pty whatever mpirun writes to: plain
     * lines under a launcher (a job's output usually goes to a file) */
    progress_ctx pc = {jf, isatty(STDOUT_FILENO) != 0 && !cd->dist, false, true, resume, &tc, 0.0};
    after_stdout(&pc); /* stdout may already be a closed pipe */
    tt_train_result res;
    tt_status st = tt_train_view(m, tok, &train_view, val_view.ids ? &val_view : NULL, &tc, on_progress, &pc,
                                 &res, &err);
    g_trained = 1; /* a launcher ending the job now (another rank exited 128 + N) kills no save */
    *status = st;
    const bool quiet = cd->rank > 0; /* rank 0 reports for every process */
    if (pc.tty && !pc.stdout_closed) fputc('\n', stdout);
    char *best = tt_train_sibling_path(out, ".best.safetensors");
    char *state = tt_train_sibling_path(out, ".state");
    char steps[96];
    int ran = res.steps_done - res.start_step;
    if (res.start_step > 0 && ran > 0)
        snprintf(steps, sizeof steps, "%d step%s (%d-%d)", ran, ran == 1 ? "" : "s", res.start_step + 1,
                 res.steps_done);
    else
        snprintf(steps, sizeof steps, "%d step%s", ran, ran == 1 ? "" : "s");
    if (pc.stdout_closed || quiet) {
        /* stdout is a closed pipe (the summary goes nowhere), or rank 0 prints it */
    } else if (st == TT_ERR_INTERRUPTED) {
        printf("interrupted at step %d after %s: saved %s and %s (continue with --resume %s)\n", res.steps_done,
               steps, out, state ? state : "", out);
    } else if (st == TT_OK && ran == 0) {
        printf("nothing to train: '%s' is already at step %d of --max-steps %d (a larger --max-steps continues "
               "it)\n", resume ? resume : out, res.steps_done, tc.max_steps);
        if (res.saved) printf("saved a copy as %s and %s\n", out, state ? state : "");
    } else if (st == TT_OK) {
        printf("done: %s in %.1f s (%.0f tokens/s), final loss %.4f", steps, res.seconds, res.tokens_per_s,
               (double)res.final_loss);
        if (!isnan(res.final_val_loss))
            printf(", val loss %.4f, best val loss %.4f", (double)res.final_val_loss, (double)res.best_val_loss);
        printf("\nsaved %s", out);
        if (res.best_saved) printf(", %s", best ? best : "");
        printf(" and %s\n", state ? state : "");
        if (cd->dist)
            printf("communication (rank 0): %.2f s of %.2f s (%.1f %%) inside collectives\n", res.comm_seconds,
                   res.seconds, res.seconds > 0 ? 100.0 * res.comm_seconds / res.seconds : 0.0);
    }
    fflush(stdout);
    /* the signal: the largest any rank received (every rank learns it at
     * the stop), else this rank's own */
    int sig = res.stop_request > 0 && res.stop_request < 65 ? res.stop_request : (int)g_stop;
    if (st == TT_ERR_INTERRUPTED) {
        if (sig <= 0) sig = SIGINT;
        if (!quiet)
            fprintf(stderr, "tt train: interrupted (%s) at step %d; saved %s\n", strsignal(sig), res.steps_done,
                    out);
        rc = 128 + sig;
    } else if (st == TT_OK && g_stop) {
        /* a signal after the last step's check (during the final save, or
         * the copy of a run with nothing to train): everything is saved, but
         * the exit status still says the run was signalled */
        sig = (int)g_stop;
        if (!quiet)
            fprintf(stderr, "tt train: interrupted (%s) after step %d; saved %s\n", strsignal(sig),
                    res.steps_done, out);
        rc = 128 + sig;
    } else if (quiet && st != TT_ERR_COMM && !tt_dist_broken(cd->dist)) {
        rc = exit_code_of(st); /* rank 0 reports it */
    } else if (st != TT_OK) {
        rc = cli_report(&err);
    }
    free(best);
    free(state);
done:
    if (jf) fclose(jf);
    tt_output_lock_release(lock);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    free(ids);
    free(vids);
    free(text);
    free(vtext);
    tt_free((void *)data.ids);
    tt_free((void *)vdata.ids);
    return rc;
}
