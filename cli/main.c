/* tt — the tiny-transformer command-line tool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "tt/common.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"sample", cmd_sample, "sample from logits with greedy/temperature/top-k/top-p/combined"},
    {"train", cmd_train, "train a model on a text file"},
    {"eval", cmd_eval, "mean next-token cross-entropy of a text under a model"},
    {"info", cmd_info, "show a checkpoint's config, parameter count and vocabulary"},
    {"generate", cmd_generate, "generate text from prompts"},
    {"chat", cmd_chat, "interactive generation with settings commands"},
    {"tour", cmd_tour, "the Module 07 walkthrough: tables, plots and an HTML report"},
    {"diversity", cmd_diversity, "measure the diversity of generated samples"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with continuous batching"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: tt <command> [options]   (tt <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "version") || !strcmp(name, "--version")) {
        printf("tt %s\n", tt_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (!strcmp(name, commands[i].name)) {
            cli_command = commands[i].name;
            return commands[i].run(argc, argv);
        }
    }
    fprintf(stderr, "tt: unknown command '%s' (see 'tt --help')\n", name);
    return CLI_EXIT_USAGE;
}
