/*
 * tt train — fit a character tokenizer on the data, build a model from a
 * preset (plus overrides), train it with AdamW and write safetensors
 * checkpoints (NAME.safetensors, NAME.best.safetensors, NAME.state).
 */
#include <errno.h>
#include <math.h>
#include <omp.h>
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
#include "tt/tokenizer.h"
#include "tt/train.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tt train --data FILE [--val-data FILE | --val-fraction F] --out FILE.safetensors\n"
            "                [--preset tiny|small|medium|large] [--d-model N] [--n-heads N] [--n-layers N]\n"
            "                [--d-ff N] [--max-len N] [--dropout F] [--positional sinusoidal|learned]\n"
            "                [--seq-len N] [--batch-size N] [--max-steps N] [--learning-rate F]\n"
            "                [--weight-decay F] [--warmup-steps N] [--grad-clip F] [--eval-interval N]\n"
            "                [--eval-batches N] [--log-interval N] [--save-interval N] [--seed N]\n"
            "                [--threads N] [--resume FILE] [--log-json FILE]\n"
            "\n"
            "Trains a character-level model. The tokenizer is fit on --data (plus --val-data).\n"
            "Defaults: --val-fraction 0.1 (the last 10%%), --preset tiny, --seq-len 64, --batch-size 12,\n"
            "--max-steps 1000, --learning-rate 1e-3, --weight-decay 0.01, --warmup-steps 100 (capped at\n"
            "max-steps/10 when it does not fit), --grad-clip 1.0 (0 = off), --eval-interval 500 (0 = at the\n"
            "end), --eval-batches 20, --log-interval 100, --save-interval 1000 (0 = at the end), --seed 1337.\n"
            "Writes --out every save interval and at the end, NAME.best.safetensors (best validation loss)\n"
            "and NAME.state (optimizer, RNG and loader state for --resume FILE; NAME.state.prev keeps the\n"
            "previous one, so that a run killed during a save still resumes). Ctrl-C saves and exits 130.\n"
            "--log-json FILE writes one JSON object per logged step.\n"
            "Every checkpoint records its training in its metadata (train_seq_len, train_steps,\n"
            "train_tokens, train_val_loss, train_data_sha256 = the SHA-256 of --data; see tt info):\n"
            "tt generate, chat and eval then use --seq-len as their default context.\n");
}

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct {
    FILE *json;
    bool tty;
    int last_len;
} progress_ctx;

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
    if (c->tty) {
        const int width = 24;
        int fill = (int)((double)p->step / p->max_steps * width);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stdout, "\r[%s] step %d/%d | loss %.4f | lr %.2e | %.0f tok/s | ETA %s   ", bar, p->step,
                p->max_steps, (double)p->loss, (double)p->lr, p->tokens_per_s, eta);
        if (p->has_val) fprintf(stdout, "\n  step %d: val loss %.4f\n", p->step, (double)p->val_loss);
        fflush(stdout);
    } else if (p->is_log_step || p->has_val) {
        fprintf(stdout, "step %d/%d | loss %.4f | lr %.2e | grad %.3f | %.0f tok/s | ETA %s", p->step,
                p->max_steps, (double)p->loss, (double)p->lr, (double)p->grad_norm, p->tokens_per_s, eta);
        if (p->has_val) fprintf(stdout, " | val %.4f", (double)p->val_loss);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (c->json && (p->is_log_step || p->has_val)) {
        fprintf(c->json, "{\"step\":%d,\"loss\":%.6g,\"lr\":%.6g,\"tokens_per_s\":%.1f,\"grad_norm\":%.6g,"
                         "\"elapsed_s\":%.3f",
                p->step, (double)p->loss, (double)p->lr, p->tokens_per_s, (double)p->grad_norm, p->elapsed_s);
        if (p->has_val) fprintf(c->json, ",\"val_loss\":%.6g", (double)p->val_loss);
        fputs("}\n", c->json);
        fflush(c->json);
    }
    return g_stop ? 1 : 0;
}

static bool config_equal(const tt_model_config *a, const tt_model_config *b) {
    return a->vocab_size == b->vocab_size && a->d_model == b->d_model && a->n_heads == b->n_heads &&
           a->n_layers == b->n_layers && a->d_ff == b->d_ff && a->max_len == b->max_len &&
           a->dropout == b->dropout && a->positional == b->positional && a->tie_weights == b->tie_weights;
}

int cmd_train(int argc, char **argv) {
    const char *data_path = NULL, *val_path = NULL, *out = NULL, *resume = NULL, *log_json = NULL;
    const char *preset = "tiny", *positional = NULL;
    float val_fraction = 0.1f, dropout = -1.0f;
    bool have_val_fraction = false;
    int d_model = 0, n_heads = 0, n_layers = 0, d_ff = 0, max_len = 0, threads = 0;
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
        else if (OPT("--threads")) { NEED(); if (cli_int("--threads", v, 1, 1024, &threads)) return CLI_EXIT_USAGE; }
        else if (OPT("--out")) { NEED(); out = v; }
        else if (OPT("--resume")) { NEED(); resume = v; }
        else if (OPT("--log-json")) { NEED(); log_json = v; }
        else return cli_unknown(a);
#undef OPT
#undef NEED
    }
    if (!data_path) return cli_usage_error("--data FILE is required (see 'tt train --help')");
    if (!out) return cli_usage_error("--out FILE.safetensors is required (see 'tt train --help')");
    if (val_path && have_val_fraction)
        return cli_usage_error("--val-data and --val-fraction cannot be used together");
    if (!*out) return cli_usage_error("--out: empty path");
    {
        /* fail now, not at the first save after minutes of training */
        char dir[4096];
        const char *slash = strrchr(out, '/');
        size_t dl = slash ? (size_t)(slash - out) : 0;
        if (dl >= sizeof dir) return cli_usage_error("--out: path too long");
        if (slash) memcpy(dir, out, dl ? dl : 1), dir[dl ? dl : 1] = '\0';
        else strcpy(dir, ".");
        /* access(W_OK) is not enough: root passes it for any directory, yet
         * cannot create files in /sys; so create (and remove) a file there */
        struct stat dst;
        if (stat(dir, &dst) != 0)
            return cli_usage_error("--out: cannot write in directory '%s': %s", dir, strerror(errno));
        if (!S_ISDIR(dst.st_mode))
            return cli_usage_error("--out: cannot write in directory '%s': %s", dir, strerror(ENOTDIR));
        char probe[4096 + 32];
        snprintf(probe, sizeof probe, "%s/.tt-probe-XXXXXX", dir);
        int pfd = mkstemp(probe);
        if (pfd < 0)
            return cli_usage_error("--out: cannot write in directory '%s': %s", dir, strerror(errno));
        close(pfd);
        unlink(probe);
    }
    tc.seed = seed;
    tc.out_path = out;
    tc.resume_path = resume;
    tt_error err;
    if (tt_train_config_validate(&tc, &err) != TT_OK) return cli_usage_error("%s", err.msg);
    tt_model_config probe;
    if (tt_model_config_preset(preset, 1, &probe, &err) != TT_OK) return cli_usage_error("--preset: %s", err.msg);
    if (threads > 0) omp_set_num_threads(threads);

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
    FILE *jf = NULL;
    size_t n_ids = 0, n_vids = 0;
    if (n_text == 0) {
        rc = cli_usage_error("--data: '%s' is empty", data_path);
        goto done;
    }
    if (vtext && n_vtext == 0) {
        rc = cli_usage_error("--val-data: '%s' is empty", val_path);
        goto done;
    }
    if (resume) {
        tt_model_config rc_cfg;
        if (tt_checkpoint_read_config(resume, &rc_cfg, &tok, &err) != TT_OK) {
            rc = cli_usage_error("--resume: %s", err.msg);
            goto done;
        }
    } else {
        char *all = malloc(n_text + n_vtext + 1);
        if (!all) {
            rc = cli_fail("out of memory");
            goto done;
        }
        memcpy(all, text, n_text);
        if (vtext) memcpy(all + n_text, vtext, n_vtext);
        tt_status st = tt_tokenizer_fit(&tok, all, n_text + n_vtext, &err);
        free(all);
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
    const int *train_ids = ids, *val_ids = vids;
    size_t n_train = n_ids, n_val = n_vids;
    if (!vtext) {
        if (tt_data_split(n_ids, val_fraction, &n_train, &err) != TT_OK) {
            rc = cli_usage_error("--val-fraction: %s", err.msg);
            goto done;
        }
        n_val = n_ids - n_train;
        val_ids = n_val ? ids + n_train : NULL;
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
                             vtext ? "--val-data" : "--val-fraction", n_val, tc.seq_len);
        goto done;
    }
    if (resume) {
        tt_model_config rcfg;
        tt_checkpoint_read_config(resume, &rcfg, NULL, NULL);
        if (!config_equal(&cfg, &rcfg)) {
            rc = cli_usage_error("--resume: '%s' was trained with another model config (d_model %d, n_heads %d, "
                                 "n_layers %d, d_ff %d, max_len %d, dropout %g); pass the same options",
                                 resume, rcfg.d_model, rcfg.n_heads, rcfg.n_layers, rcfg.d_ff, rcfg.max_len,
                                 (double)rcfg.dropout);
            goto done;
        }
    }
    if (tt_model_create(&m, &cfg, tc.seed, &err) != TT_OK) {
        rc = cli_report(&err);
        goto done;
    }
    if (log_json && !(jf = fopen(log_json, resume ? "a" : "w"))) {
        rc = cli_usage_error("--log-json: cannot open '%s': %s", log_json, strerror(errno));
        goto done;
    }

    int warmup_used;
    tt_train_lr_at(&tc, 0, &warmup_used);
    printf("tt train: %s, %zu train + %zu val tokens, vocab %d\n", data_path, n_train, n_val,
           cfg.vocab_size);
    printf("model: d_model %d, n_heads %d, n_layers %d, d_ff %d, max_len %d, dropout %g, %s, %zu parameters\n",
           cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.max_len, (double)cfg.dropout,
           cfg.positional == TT_POS_LEARNED ? "learned" : "sinusoidal", tt_model_num_params(m));
    printf("training: %d steps, batch %d x seq_len %d, lr %g, weight decay %g, grad clip %g, warmup %d, seed %llu, "
           "threads %d\n",
           tc.max_steps, tc.batch_size, tc.seq_len, (double)tc.learning_rate, (double)tc.weight_decay,
           (double)tc.grad_clip, warmup_used, (unsigned long long)tc.seed, omp_get_max_threads());
    if (warmup_used != tc.warmup_steps)
        printf("note: warmup capped at %d steps (max_steps/10): --warmup-steps %d does not fit in %d steps\n",
               warmup_used, tc.warmup_steps, tc.max_steps);
    if (resume) printf("resuming from %s\n", resume);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    progress_ctx pc = {jf, isatty(STDOUT_FILENO) != 0, 0};
    tt_train_result res;
    tt_status st = tt_train(m, tok, train_ids, n_train, val_ids, n_val, &tc, on_progress, &pc, &res, &err);
    if (pc.tty) fputc('\n', stdout);
    char *best = tt_train_sibling_path(out, ".best.safetensors");
    char *state = tt_train_sibling_path(out, ".state");
    if (st == TT_ERR_INTERRUPTED) {
        printf("interrupted at step %d: saved %s and %s (continue with --resume %s)\n", res.steps_done, out,
               state ? state : "", out);
        fflush(stdout);
        fprintf(stderr, "tt train: interrupted at step %d; saved %s\n", res.steps_done, out);
        rc = CLI_EXIT_INTERRUPTED;
    } else if (st != TT_OK) {
        rc = cli_report(&err);
    } else {
        printf("done: %d steps in %.1f s (%.0f tokens/s), final loss %.4f", res.steps_done, res.seconds,
               res.tokens_per_s, (double)res.final_loss);
        if (!isnan(res.final_val_loss))
            printf(", val loss %.4f, best val loss %.4f", (double)res.final_val_loss, (double)res.best_val_loss);
        printf("\nsaved %s", out);
        if (!isnan(res.best_val_loss)) printf(", %s", best ? best : "");
        printf(" and %s\n", state ? state : "");
    }
    free(best);
    free(state);
done:
    if (jf) fclose(jf);
    tt_model_free(m);
    tt_tokenizer_free(tok);
    free(ids);
    free(vids);
    free(text);
    free(vtext);
    return rc;
}
