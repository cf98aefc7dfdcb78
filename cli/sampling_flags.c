/* The sampling controls' flags (cli/sampling_flags.h). */
#include "sampling_flags.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tt/tokenizer.h"

void cli_sampling_init(cli_sampling *sf) {
    memset(sf, 0, sizeof *sf);
    sf->p = tt_sampling_params_default();
    sf->top_k_max = 1000000000;
}

void cli_sampling_free(cli_sampling *sf) {
    if (!sf) return;
    free(sf->bias);
    free(sf->bias_char);
    free(sf->bias_arg);
    sf->bias = NULL;
    sf->bias_char = NULL;
    sf->bias_arg = NULL;
    sf->p.x.logit_bias = NULL;
    sf->p.x.n_logit_bias = sf->n_bias = sf->cap_bias = 0;
}

/* The library's verdict on the controls with one more value set. */
static int check(const cli_sampling *sf, const tt_sampling_controls *c, const char *flag,
                 const char *value) {
    (void)sf;
    tt_sampling_params p = tt_sampling_params_default();
    p.strategy = TT_STRATEGY_GREEDY;
    p.x = *c;
    p.x.num_return_sequences = 1; /* checked against num_beams at the end */
    p.x.logit_bias = NULL;        /* entries are checked as they come */
    p.x.n_logit_bias = 0;
    tt_error err;
    if (tt_sampling_params_validate(&p, &err) != TT_OK) {
        cli_usage_error("%s %s: %s", flag, value, err.msg);
        return -1;
    }
    return 0;
}

static int set_float(cli_sampling *sf, float *field, const char *flag, const char *v) {
    float x;
    if (cli_float(flag, v, -INFINITY, INFINITY, &x)) return -1;
    const float old = *field;
    *field = x;
    if (check(sf, &sf->p.x, flag, v)) {
        *field = old;
        return -1;
    }
    return 1;
}

static int set_int(cli_sampling *sf, int *field, const char *flag, const char *v) {
    int x;
    if (cli_int(flag, v, -1000000000L, 1000000000L, &x)) return -1;
    const int old = *field;
    *field = x;
    if (check(sf, &sf->p.x, flag, v)) {
        *field = old;
        return -1;
    }
    return 1;
}

/* "ID=BIAS" or "'c'=BIAS" (c one UTF-8 character, resolved at finish). */
static int add_bias(cli_sampling *sf, const char *v) {
    const char *eq;
    char ch[8] = "";
    long id = -1;
    if (v[0] == '\'') {
        uint32_t cp;
        const size_t n = strlen(v);
        const int k = n > 1 ? tt_utf8_decode(v + 1, n - 1, &cp) : 0;
        if (k <= 0 || v[1 + k] != '\'' || v[2 + k] != '=')
            return cli_usage_error("--logit-bias %s: expected ID=BIAS or 'c'=BIAS (one character "
                                   "in quotes)",
                                   v),
                   -1;
        memcpy(ch, v + 1, (size_t)k);
        ch[k] = '\0';
        eq = v + 2 + k;
    } else {
        eq = strchr(v, '=');
        if (!eq || eq == v)
            return cli_usage_error("--logit-bias %s: expected ID=BIAS or 'c'=BIAS", v), -1;
        char *end;
        id = strtol(v, &end, 10);
        if (end != eq || v[0] == '-' || v[0] == '+' || v[0] == ' ' || id > 1000000000L)
            return cli_usage_error("--logit-bias %s: '%.*s' is not a token id (an integer >= 0)", v,
                                   (int)(eq - v > 40 ? 40 : eq - v), v),
                   -1;
    }
    float bias;
    char flagbuf[80];
    snprintf(flagbuf, sizeof flagbuf, "--logit-bias %.60s", v);
    if (cli_float(flagbuf, eq + 1, -INFINITY, INFINITY, &bias)) return -1;
    if (sf->n_bias == sf->cap_bias) {
        const int nc = sf->cap_bias ? 2 * sf->cap_bias : 8;
        tt_logit_bias *nb = realloc(sf->bias, (size_t)nc * sizeof *nb);
        if (nb) sf->bias = nb;
        char(*nch)[8] = realloc(sf->bias_char, (size_t)nc * sizeof *nch);
        if (nch) sf->bias_char = nch;
        const char **na = realloc(sf->bias_arg, (size_t)nc * sizeof *na);
        if (na) sf->bias_arg = na;
        if (!nb || !nch || !na) return cli_fail("out of memory"), -1;
        sf->cap_bias = nc;
    }
    tt_logit_bias e = {(int)(id >= 0 ? id : 0), bias};
    /* the range, through the library's check of one entry */
    tt_sampling_controls one = tt_sampling_controls_default();
    one.logit_bias = &e;
    one.n_logit_bias = 1;
    tt_error err;
    tt_sampling_params p = tt_sampling_params_default();
    p.strategy = TT_STRATEGY_GREEDY;
    p.x = one;
    if (tt_sampling_params_validate(&p, &err) != TT_OK)
        return cli_usage_error("--logit-bias %s: %s", v, err.msg), -1;
    sf->bias[sf->n_bias] = e;
    memcpy(sf->bias_char[sf->n_bias], ch, sizeof ch);
    sf->bias_arg[sf->n_bias] = v;
    sf->n_bias++;
    sf->p.x.logit_bias = sf->bias;
    sf->p.x.n_logit_bias = sf->n_bias;
    return 1;
}

int cli_sampling_flag(cli_sampling *sf, unsigned which, int argc, char **argv, int *i) {
    const char *v = NULL;
    tt_sampling_controls *c = &sf->p.x;
#define OPT(name) cli_opt(argc, argv, i, name, &v)
#define NEED                                                                                       \
    do {                                                                                           \
        if (!v) return -1;                                                                         \
    } while (0)
#define SAMPLING_ONLY(name)                                                                        \
    do {                                                                                           \
        if (!sf->sampling_given) sf->sampling_flag = name;                                         \
        sf->sampling_given = true;                                                                 \
    } while (0)
    /* the notebook's settings: the generator's and the sampler's alike */
    if ((which & CLI_SF_TEMPERATURE) && OPT("--temperature")) {
        sf->t_given = true;
        NEED;
        if (cli_float("--temperature", v, 0.0, INFINITY, &sf->p.temperature)) return -1;
        if (sf->p.temperature > 0.0f) sf->base_flag = "--temperature"; /* 0 is greedy */
        return 1;
    }
    if ((which & CLI_SF_TOP) && OPT("--top-k")) {
        sf->k_given = true;
        NEED;
        if (cli_int("--top-k", v, 0, sf->top_k_max, &sf->p.top_k)) return -1;
        sf->base_flag = "--top-k";
        return 1;
    }
    if ((which & CLI_SF_TOP) && OPT("--top-p")) {
        sf->p_given = true;
        NEED;
        if (cli_float("--top-p", v, -INFINITY, INFINITY, &sf->p.top_p)) return -1;
        if (!(sf->p.top_p > 0.0f && sf->p.top_p <= 1.0f)) {
            cli_usage_error("--top-p: must be in (0, 1], got %s", v);
            return -1;
        }
        sf->base_flag = "--top-p";
        return 1;
    }
    if ((which & CLI_SF_GREEDY) && cli_is_flag(argv[*i], "--greedy")) {
        sf->p.strategy = TT_STRATEGY_GREEDY;
        return 1;
    }
    if ((which & CLI_SF_STRATEGY) && OPT("--strategy")) {
        NEED;
        tt_error err;
        if (tt_strategy_parse(v, &sf->p.strategy, &err) != TT_OK) {
            cli_usage_error("--strategy: %s", err.msg);
            return -1;
        }
        return 1;
    }
    if ((which & CLI_SF_SEED) && OPT("--seed")) {
        NEED;
        if (cli_u64("--seed", v, &sf->seed)) return -1;
        sf->seed_given = true;
        return 1;
    }
    if (which & CLI_SF_CHAIN) {
        if (OPT("--min-p")) {
            NEED;
            SAMPLING_ONLY("--min-p");
            return set_float(sf, &c->min_p, "--min-p", v);
        }
        if (OPT("--typical-p")) {
            NEED;
            SAMPLING_ONLY("--typical-p");
            return set_float(sf, &c->typical_p, "--typical-p", v);
        }
        if (OPT("--repetition-penalty")) {
            NEED;
            return set_float(sf, &c->repetition_penalty, "--repetition-penalty", v);
        }
        if (OPT("--presence-penalty")) {
            NEED;
            return set_float(sf, &c->presence_penalty, "--presence-penalty", v);
        }
        if (OPT("--frequency-penalty")) {
            NEED;
            return set_float(sf, &c->frequency_penalty, "--frequency-penalty", v);
        }
        if (OPT("--penalty-last-n")) {
            NEED;
            return set_int(sf, &c->penalty_last_n, "--penalty-last-n", v);
        }
        if (OPT("--dry-multiplier")) {
            NEED;
            return set_float(sf, &c->dry_multiplier, "--dry-multiplier", v);
        }
        if (OPT("--dry-base")) {
            NEED;
            return set_float(sf, &c->dry_base, "--dry-base", v);
        }
        if (OPT("--dry-allowed-length")) {
            NEED;
            return set_int(sf, &c->dry_allowed_length, "--dry-allowed-length", v);
        }
        if (OPT("--dry-penalty-last-n")) {
            NEED;
            return set_int(sf, &c->dry_penalty_last_n, "--dry-penalty-last-n", v);
        }
        if (OPT("--dry-sequence-breaker")) {
            NEED;
            /* checked on a copy: a bad breaker leaves the controls as they were */
            tt_sampling_controls t = *c;
            if (!sf->breakers_given) t.n_dry_breakers = 0;
            if (strcmp(v, "none")) { /* "none" (llama.cpp): no breakers at all */
                if (t.n_dry_breakers == TT_DRY_MAX_BREAKERS)
                    return cli_usage_error("--dry-sequence-breaker %s: at most %d sequence "
                                           "breakers",
                                           v, TT_DRY_MAX_BREAKERS),
                           -1;
                t.dry_breakers[t.n_dry_breakers++] = v;
                if (check(sf, &t, "--dry-sequence-breaker", v[0] ? v : "''")) return -1;
            } else {
                t.n_dry_breakers = 0;
            }
            *c = t;
            sf->breakers_given = true;
            return 1;
        }
        if (OPT("--logit-bias")) {
            NEED;
            return add_bias(sf, v);
        }
        if (OPT("--samplers")) {
            NEED;
            tt_error err;
            if (tt_sampler_order_parse(v, c, &err) != TT_OK)
                return cli_usage_error("--samplers %s: %s", v, err.msg), -1;
            SAMPLING_ONLY("--samplers");
            return 1;
        }
    }
    if (which & CLI_SF_STOP) {
        if (OPT("--stop")) {
            NEED;
            if (!v[0]) return cli_usage_error("--stop '': a stop string must not be empty"), -1;
            if (c->n_stop == TT_MAX_STOP)
                return cli_usage_error("--stop %s: at most %d stop strings", v, TT_MAX_STOP), -1;
            c->stop[c->n_stop++] = v;
            if (check(sf, c, "--stop", v)) {
                c->n_stop--;
                return -1;
            }
            return 1;
        }
    }
    if (which & CLI_SF_LOGPROBS) {
        if (OPT("--logprobs")) {
            NEED;
            return set_int(sf, &c->logprobs, "--logprobs", v);
        }
        if (OPT("--logprobs-mode")) {
            NEED;
            if (!strcmp(v, "raw"))
                c->logprobs_mode = TT_LOGPROBS_RAW;
            else if (!strcmp(v, "processed"))
                c->logprobs_mode = TT_LOGPROBS_PROCESSED;
            else
                return cli_usage_error("--logprobs-mode %s: expected raw or processed", v), -1;
            sf->logprobs_mode = v;
            return 1;
        }
        if (cli_is_flag(argv[*i], "--prompt-logprobs")) {
            c->prompt_logprobs = true;
            return 1;
        }
    }
    if (which & CLI_SF_BEAMS) {
        if (OPT("--num-beams")) {
            NEED;
            return set_int(sf, &c->num_beams, "--num-beams", v);
        }
        if (OPT("--length-penalty")) {
            NEED;
            return set_float(sf, &c->length_penalty, "--length-penalty", v);
        }
        if (OPT("--early-stopping")) {
            NEED;
            if (!strcmp(v, "true"))
                c->early_stopping = true;
            else if (!strcmp(v, "false"))
                c->early_stopping = false;
            else
                return cli_usage_error("--early-stopping %s: expected true or false", v), -1;
            return 1;
        }
        if (OPT("--num-return-sequences")) {
            NEED;
            int n;
            if (cli_int("--num-return-sequences", v, 1, 64, &n)) return -1;
            c->num_return_sequences = n;
            return 1;
        }
    }
#undef OPT
#undef NEED
#undef SAMPLING_ONLY
    return 0;
}

int cli_sampling_check_temperature(const cli_sampling *sf, double T, bool list) {
    if (sf->p.x.n_samplers == 0 || T == 0.0 || T == 1.0) return 0;
    for (int i = 0; i < sf->p.x.n_samplers; i++)
        if (sf->p.x.samplers[i] == TT_SAMPLER_TEMPERATURE) return 0;
    return cli_usage_error("%s %g: has no effect, 'temperature' is not in --samplers",
                           list ? "--temperatures: temperature" : "--temperature", T),
           -1;
}

int cli_sampling_finish(cli_sampling *sf, const struct tt_tokenizer *tok, int vocab_size) {
    tt_sampling_controls *c = &sf->p.x;
    if (c->num_return_sequences > c->num_beams)
        return cli_usage_error("--num-return-sequences %d: must be <= --num-beams (%d)",
                               c->num_return_sequences, c->num_beams),
               -1;
    for (int i = 0; i < sf->n_bias; i++) {
        if (sf->bias_char[i][0]) {
            uint32_t cp;
            int id;
            const char *ch = sf->bias_char[i];
            if (!tok || tt_utf8_decode(ch, strlen(ch), &cp) <= 0 ||
                tt_tokenizer_id(tok, cp, &id) != TT_OK)
                return cli_usage_error("--logit-bias %s: character '%s' is not in the model's "
                                       "vocabulary",
                                       sf->bias_arg[i], ch),
                       -1;
            sf->bias[i].id = id;
        } else if (sf->bias[i].id >= vocab_size) {
            return cli_usage_error("--logit-bias %s: token id %d is out of range for the "
                                   "vocabulary (%d tokens)",
                                   sf->bias_arg[i], sf->bias[i].id, vocab_size),
                   -1;
        }
        for (int j = 0; j < i; j++)
            if (sf->bias[j].id == sf->bias[i].id)
                return cli_usage_error("--logit-bias %s: token %d already has a bias (%s)",
                                       sf->bias_arg[i], sf->bias[i].id, sf->bias_arg[j]),
                       -1;
    }
    return 0;
}

void cli_sampling_usage(FILE *f, unsigned which) {
    if (which & CLI_SF_CHAIN)
        fprintf(f,
                "  --min-p P             keep tokens with p >= P * p_max, in [0, 1]; 0 = off\n"
                "  --typical-p P         typical sampling mass, in (0, 1]; 1 = off\n"
                "  --repetition-penalty R  divide (logit > 0) or multiply (<= 0) the logit of\n"
                "                        every token already in the context, once; > 0, 1 = off\n"
                "  --presence-penalty F  logit -= F for a token generated before, in [-2, 2]\n"
                "  --frequency-penalty F logit -= F * its count in the generated text, in [-2, 2]\n"
                "  --penalty-last-n N    the penalties look at the last N tokens; 0 = all\n"
                "  --dry-multiplier M    DRY (llama.cpp) repeat penalty strength; 0 = off\n"
                "  --dry-base B          DRY growth per repeated token, >= 1 (default 1.75)\n"
                "  --dry-allowed-length N  repeats up to N tokens are free (default 2)\n"
                "  --dry-penalty-last-n N  DRY looks at the last N tokens; 0 = all\n"
                "  --dry-sequence-breaker S  a repeat never spans S (repeatable; replaces the\n"
                "                        defaults \\n : \" *; 'none' = no breakers)\n"
                "  --logit-bias ID=BIAS  add BIAS in [-100, 100] to a token's logit; also\n"
                "                        'c'=BIAS for a character (repeatable; -100 bans it)\n"
                "  --samplers LIST       the chain's order, llama.cpp names: penalties, dry,\n"
                "                        top_k, typ_p, top_p, min_p, temperature (default: HF's\n"
                "                        penalties,dry,temperature,top_k,top_p,min_p,typ_p)\n");
    if (which & CLI_SF_STOP)
        fprintf(f,
                "  --stop STR            end a row where its text contains STR (left out of\n"
                "                        the text; repeatable, up to %d)\n",
                TT_MAX_STOP);
    if (which & CLI_SF_LOGPROBS)
        fprintf(f,
                "  --logprobs N          with --json: each generated token's log-probability\n"
                "                        and its top N alternatives (1..%d)\n"
                "  --logprobs-mode M     raw (the model's log_softmax, default) or processed\n"
                "                        (the distribution the token was drawn from)\n"
                "  --prompt-logprobs     with --json and --logprobs: the prompt's tokens too\n",
                TT_MAX_LOGPROBS);
    if (which & CLI_SF_BEAMS)
        fprintf(f, "  --num-beams N         beam search (Hugging Face's) with N beams; greedy,\n"
                   "                        excludes the sampling flags (default 1 = off)\n"
                   "  --length-penalty F    beam score = sum log p / length^F (default 1.0)\n"
                   "  --early-stopping B    true: stop once N hypotheses end; false (default)\n"
                   "  --num-return-sequences N  beams returned with --json (<= --num-beams)\n");
}

static void jnum(FILE *f, const char *name, double v) {
    char buf[32];
    fprintf(f, ", \"%s\": %s", name, cli_float_str((float)v, buf));
}

void cli_sampling_json(FILE *f, const tt_sampling_params *p) {
    const tt_sampling_controls *c = &p->x, d = tt_sampling_controls_default();
    if (c->min_p != d.min_p) jnum(f, "min_p", c->min_p);
    if (c->typical_p != d.typical_p) jnum(f, "typical_p", c->typical_p);
    if (c->repetition_penalty != d.repetition_penalty)
        jnum(f, "repetition_penalty", c->repetition_penalty);
    if (c->presence_penalty != d.presence_penalty) jnum(f, "presence_penalty", c->presence_penalty);
    if (c->frequency_penalty != d.frequency_penalty)
        jnum(f, "frequency_penalty", c->frequency_penalty);
    if (c->penalty_last_n) fprintf(f, ", \"penalty_last_n\": %d", c->penalty_last_n);
    if (c->dry_multiplier != 0.0f) {
        jnum(f, "dry_multiplier", c->dry_multiplier);
        jnum(f, "dry_base", c->dry_base);
        fprintf(f, ", \"dry_allowed_length\": %d, \"dry_penalty_last_n\": %d",
                c->dry_allowed_length, c->dry_penalty_last_n);
    }
    if (c->n_logit_bias > 0) {
        fprintf(f, ", \"logit_bias\": {");
        for (int i = 0; i < c->n_logit_bias; i++) {
            char buf[32];
            fprintf(f, "%s\"%d\": %s", i ? ", " : "", c->logit_bias[i].id,
                    cli_float_str(c->logit_bias[i].bias, buf));
        }
        fprintf(f, "}");
    }
    /* the stages that act, in the order applied */
    tt_sampler_kind order[TT_MAX_SAMPLERS];
    const int n = tt_sampling_chain(p, order);
    const bool greedy = p->strategy == TT_STRATEGY_GREEDY || p->temperature == 0.0f; /* 0 is greedy */
    const bool use_k =
        p->strategy == TT_STRATEGY_TOP_K || (p->strategy == TT_STRATEGY_COMBINED && p->top_k > 0);
    const bool use_p = (p->strategy == TT_STRATEGY_TOP_P || p->strategy == TT_STRATEGY_COMBINED) &&
                       p->top_p < 1.0f;
    fprintf(f, ", \"chain\": [");
    int k = 0;
    if (c->n_logit_bias > 0) fprintf(f, "\"logit_bias\""), k++;
    for (int i = 0; i < n; i++) {
        bool on = false;
        switch (order[i]) {
        case TT_SAMPLER_PENALTIES:
            on = c->repetition_penalty != 1.0f || c->presence_penalty != 0.0f ||
                 c->frequency_penalty != 0.0f;
            break;
        case TT_SAMPLER_DRY: on = c->dry_multiplier > 0.0f; break;
        case TT_SAMPLER_TEMPERATURE: on = !greedy; break;
        case TT_SAMPLER_TOP_K: on = !greedy && use_k; break;
        case TT_SAMPLER_TOP_P: on = !greedy && use_p; break;
        case TT_SAMPLER_MIN_P: on = !greedy && c->min_p > 0.0f; break;
        case TT_SAMPLER_TYPICAL: on = !greedy && c->typical_p < 1.0f; break;
        default: break;
        }
        if (on) fprintf(f, "%s\"%s\"", k++ ? ", " : "", tt_sampler_kind_name(order[i]));
    }
    if (greedy) fprintf(f, "%s\"greedy\"", k++ ? ", " : "");
    fprintf(f, "]");
}
