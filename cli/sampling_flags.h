/*
 * cli/sampling_flags.h — the one parser of the sampling flags (--strategy,
 * --temperature, --top-k, --top-p, --greedy, --seed and every control),
 * shared by tt sample, generate, chat and diversity: it fills one
 * tt_sampling_params. Values are checked by the library's validator
 * (tt_sampling_params_validate); a bad one is "tt <cmd>: --flag VALUE:
 * <why>", exit 2. --temperature 0 is greedy (docs/sampling.md).
 *
 *     cli_sampling sf;  cli_sampling_init(&sf);
 *     ... in the argv loop:
 *     int r = cli_sampling_flag(&sf, CLI_SF_GENERATE | CLI_SF_ALL, argc, argv, &i);
 *     if (r < 0) return CLI_EXIT_USAGE; if (r > 0) continue;
 *     ... once the vocabulary is known:
 *     if (cli_sampling_finish(&sf, tok, V)) return CLI_EXIT_USAGE;
 *     gc.sampling = sf.p;      (sf must outlive its use: it owns the bias array)
 *     if (sf.seed_given) gc.seed = sf.seed;
 *     cli_sampling_free(&sf);
 */
#ifndef TT_TOOLS_SAMPLING_FLAGS_H
#define TT_TOOLS_SAMPLING_FLAGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tt/sampling.h"

struct tt_tokenizer;

enum {
    CLI_SF_CHAIN = 1u << 0,    /* min-p, typical, penalties, DRY, logit bias, samplers */
    CLI_SF_STOP = 1u << 1,     /* --stop */
    CLI_SF_LOGPROBS = 1u << 2, /* --logprobs, --logprobs-mode, --prompt-logprobs */
    CLI_SF_BEAMS = 1u << 3,    /* --num-beams, --length-penalty, --early-stopping,
                                  --num-return-sequences */
    CLI_SF_ALL = 0xFu,         /* the four groups of controls above */
    CLI_SF_TEMPERATURE = 1u << 4, /* --temperature T (>= 0; 0 = greedy) */
    CLI_SF_TOP = 1u << 5,      /* --top-k K (0 = off, <= top_k_max), --top-p P (in (0, 1]) */
    CLI_SF_GREEDY = 1u << 6,   /* --greedy: strategy greedy */
    CLI_SF_STRATEGY = 1u << 7, /* --strategy NAME */
    CLI_SF_SEED = 1u << 8,     /* --seed N */
    /* tt generate and tt chat's notebook flags */
    CLI_SF_GENERATE = CLI_SF_TEMPERATURE | CLI_SF_TOP | CLI_SF_GREEDY | CLI_SF_SEED,
};

typedef struct {
    tt_sampling_params p;      /* strategy, T, k, p and the controls p.x */
    uint64_t seed;             /* --seed, when seed_given */
    bool seed_given;
    bool t_given, k_given, p_given; /* --temperature, --top-k, --top-p given */
    const char *base_flag;     /* the last of --temperature (> 0), --top-k, --top-p given */
    int top_k_max;             /* the largest --top-k (1e9 unless the command sets it) */
    tt_logit_bias *bias; /* owned; p.x.logit_bias points here */
    int n_bias, cap_bias;
    char (*bias_char)[8];      /* [cap_bias] the 'c' of an entry, "" for an id */
    const char **bias_arg;     /* [cap_bias] the flag value, for messages */
    bool breakers_given;       /* the first --dry-sequence-breaker replaces the defaults */
    bool sampling_given;       /* a flag that only means something when sampling */
    const char *sampling_flag; /* the first such flag, for messages */
    const char *logprobs_mode; /* the --logprobs-mode value given, or NULL */
} cli_sampling;

void cli_sampling_init(cli_sampling *sf);
void cli_sampling_free(cli_sampling *sf);

/* Parses argv[*i] when it is one of the flags of the groups in `which`
 * (advancing *i past its value). Returns 1 when it was, 0 when not, -1 after
 * printing the error of a bad value. */
int cli_sampling_flag(cli_sampling *sf, unsigned which, int argc, char **argv, int *i);

/* Resolves 'c'=BIAS entries with the vocabulary and checks every bias id
 * against it (tok may be NULL when there are no such entries and V is given
 * by vocab_size). Returns 0, or -1 after printing the error. */
int cli_sampling_finish(cli_sampling *sf, const struct tt_tokenizer *tok, int vocab_size);

/* A temperature T other than 0 (greedy) and 1 has no effect when --samplers
 * leaves 'temperature' out: returns -1 after printing an error naming
 * --temperature (--temperatures when `list`), else 0. */
int cli_sampling_check_temperature(const cli_sampling *sf, double T, bool list);

/* The help lines of the groups in `which`. */
void cli_sampling_usage(FILE *f, unsigned which);

/* Writes the controls that differ from their defaults as JSON members
 * (", \"min_p\": 0.05, ..."), and the chain applied (", \"chain\": [...]"). */
void cli_sampling_json(FILE *f, const tt_sampling_params *p);

#endif
