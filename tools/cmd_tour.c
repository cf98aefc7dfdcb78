/* tt tour — placeholder until its issue lands; replaced by the real command. */
#include "cli.h"

int cmd_tour(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_fail("this command is not built yet");
}
