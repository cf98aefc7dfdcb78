/*
 * cli/sampling_flags.h — the one parser of the sampling controls' flags,
 * shared by tt sample, generate, chat and diversity. Values are checked by
 * the library's validator (tt_sampling_params_validate); a bad one is
 * "tt <cmd>: --flag VALUE: <why>", exit 2.
 *
 *     cli_sampling sf;  cli_sampling_init(&sf);
 *     ... in the argv loop:
 *     int r = cli_sampling_flag(&sf, CLI_SF_ALL, argc, argv, &i);
 *     if (r < 0) return CLI_EXIT_USAGE; if (r > 0) continue;
 *     ... once the vocabulary is known:
 *     if (cli_sampling_finish(&sf, tok)) return CLI_EXIT_USAGE;
 *     gc.controls = sf.c;      (sf must outlive its use: it owns the bias array)
 *     cli_sampling_free(&sf);
 */
#ifndef TT_TOOLS_SAMPLING_FLAGS_H
#define TT_TOOLS_SAMPLING_FLAGS_H

#include <stdbool.h>
#include <stdio.h>

#include "tt/sampling.h"

struct tt_tokenizer;

enum {
    CLI_SF_CHAIN = 1u << 0,    /* min-p, typical, penalties, DRY, logit bias, samplers */
    CLI_SF_STOP = 1u << 1,     /* --stop */
    CLI_SF_LOGPROBS = 1u << 2, /* --logprobs, --logprobs-mode, --prompt-logprobs */
    CLI_SF_BEAMS = 1u << 3,    /* --num-beams, --length-penalty, --early-stopping,
                                  --num-return-sequences */
    CLI_SF_ALL = 0xFu,
};

typedef struct {
    tt_sampling_controls c;
    tt_logit_bias *bias; /* owned; c.logit_bias points here */
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
