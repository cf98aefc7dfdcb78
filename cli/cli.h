/*
 * cli/cli.h — what every `tt` subcommand shares: strict argument parsing,
 * one-line error messages, exit codes. The CLI uses only the public API.
 *
 * Exit codes: 0 success; 2 a bad argument or value, including an input file
 * that is missing, unreadable or corrupt (the message names it); 1 a failure
 * while running (an unwritable output, out of memory); 130 interrupted.
 *
 * Pattern of a subcommand (cli_opt sets v to NULL, after printing the
 * error, when the flag's value is missing):
 *     for (int i = 2; i < argc; i++) {
 *         const char *v = NULL;
 *         if (cli_is_flag(argv[i], "--help")) { usage(stdout); return CLI_EXIT_OK; }
 *         else if (cli_opt(argc, argv, &i, "--seed", &v)) {
 *             if (!v || cli_u64("--seed", v, &seed)) return CLI_EXIT_USAGE;
 *         } else return cli_unknown(argv[i]);
 *     }
 */
#ifndef TT_TOOLS_CLI_H
#define TT_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/common.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_INTERRUPTED = 130 };

/* The subcommand being run ("sample", ...), for messages. Set by main. */
extern const char *cli_command;

/* Prints "tt <command>: <message>\n" to stderr. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prints "tt <command>: <message>\n" to stderr. Returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Reports a library error: usage errors (TT_ERR_ARG, TT_ERR_RANGE) give
 * CLI_EXIT_USAGE, TT_ERR_INTERRUPTED gives CLI_EXIT_INTERRUPTED, others
 * CLI_EXIT_FAIL. Returns that code. */
int cli_report(const tt_error *err);

/* "unknown option '--x' for 'tt sample' (see 'tt sample --help')". Returns 2. */
int cli_unknown(const char *arg);

/* True if arg equals flag exactly. */
bool cli_is_flag(const char *arg, const char *flag);
/* Matches "--name VALUE" (advancing *i) or "--name=VALUE". Returns true and
 * sets *value when argv[*i] is that flag with a value; when the value is
 * missing it prints an error and sets *value to NULL (check with !*value). */
bool cli_opt(int argc, char **argv, int *i, const char *flag, const char **value);

/* Strict number parsing: the whole string must be a number in range.
 * On failure they print "tt <cmd>: <flag>: ..." and return -1; else 0. */
int cli_int(const char *flag, const char *s, long lo, long hi, int *out);
int cli_u64(const char *flag, const char *s, uint64_t *out);
/* Finite float in [lo, hi] (use -INFINITY/INFINITY for open ends). */
int cli_float(const char *flag, const char *s, double lo, double hi, float *out);

/* Input caps: a regular file up to 1 GiB (checked before reading), a pipe
 * or device up to 64 MiB (checked while reading: /dev/zero never ends). */
#define CLI_MAX_FILE_BYTES ((size_t)1 << 30)
#define CLI_MAX_STREAM_BYTES ((size_t)64 << 20)
/* Reads a whole file; on failure prints a message naming it (missing,
 * directory, unreadable, over the cap) and returns NULL. *len receives the
 * size. */
char *cli_read_file(const char *flag, const char *path, size_t *len);

/* Loads a checkpoint named by --model. A missing, unreadable or malformed
 * file is a bad --model value: "tt <cmd>: --model: <why>", CLI_EXIT_USAGE;
 * out of memory gives CLI_EXIT_FAIL. Returns CLI_EXIT_OK on success. */
struct tt_model;
struct tt_tokenizer;
int cli_load_model(const char *path, struct tt_model **model, struct tt_tokenizer **tok);

/* The shortest decimal form of a float that reads back to the same float
 * ("0.9", not "0.899999976"): what the user typed comes back as typed. */
const char *cli_float_str(float v, char buf[32]);

/* Writes a JSON-escaped copy of s (UTF-8) with quotes to f; a byte that is
 * not valid UTF-8 is written as \ufffd, so the output is always valid JSON. */
#include <stdio.h>
void cli_json_string(FILE *f, const char *s);

/* The context window options of the generating commands (generate, chat,
 * diversity, tour): "--context N" (N >= 1; the window W) and
 * "--context-shift exact|half". Returns true when argv[*i] is one of them
 * (advancing *i past a value) and sets *bad to a nonzero exit code when its
 * value is wrong (the message is printed). */
#include "tt/generate.h"
bool cli_context_opt(int argc, char **argv, int *i, tt_generator_config *gc, int *bad);
/* After loading the model: "--context: N exceeds the model's max_len M" (2)
 * when gc->context_len is too large, else 0. */
int cli_check_context(const struct tt_model *m, const tt_generator_config *gc);

/* Subcommands (cli/cmd_*.c). argv[0] is "tt", argv[1] the subcommand. */
int cmd_sample(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tour(int argc, char **argv);
int cmd_diversity(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
