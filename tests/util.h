/*
 * tests/util.h — helpers shared by the test programs: running the tt CLI and
 * capturing its output, temporary directories, reading files.
 */
#ifndef TT_TESTS_UTIL_H
#define TT_TESTS_UTIL_H

#include <stddef.h>

typedef struct {
    int status;   /* exit status, or 128 + signal number */
    char *out;    /* stdout, NUL-terminated (malloc'ed) */
    size_t out_len;
    char *err;    /* stderr, NUL-terminated (malloc'ed) */
    size_t err_len;
} tt_cli_result;

/* Path of the tt binary under test: $TT_BUILD/tt (default build/tt). */
const char *tt_cli_path(void);
/* Runs argv (argv[0] is replaced by the tt binary; NULL-terminated) with
 * stdin_text on its standard input (NULL: /dev/null). Returns 0 on success
 * of the run itself. */
int tt_cli_run(const char *const *argv, const char *stdin_text, tt_cli_result *r);
/* Runs any program (argv[0] looked up in PATH). */
int tt_run_program(const char *const *argv, const char *stdin_text, tt_cli_result *r);
void tt_cli_result_free(tt_cli_result *r);

/* Creates a fresh temporary directory; returns a malloc'ed path. */
char *tt_test_tmpdir(void);
/* Removes a directory tree (rm -rf). */
void tt_test_rmtree(const char *path);
/* Reads a whole file (malloc'ed, NUL-terminated); NULL on error. */
char *tt_test_read_file(const char *path, size_t *len);
/* Writes a file; 0 on success. */
int tt_test_write_file(const char *path, const void *data, size_t len);
/* Path to ../shared/data/tinyshakespeare.txt if it exists, else NULL. */
const char *tt_test_shakespeare_path(void);
/* A repository file (e.g. "scripts/deps.sh") from the repository root or a
 * folder below it; NULL when not found. The path is in a static buffer. */
const char *tt_test_find_file(const char *rel);
/* Whether `prog` is an executable on PATH. */
int tt_test_on_path(const char *prog);
/* Makes sure `prog` is on PATH, installing it with `scripts/deps.sh GROUP`
 * when it is not. @return 0, or -1 (with a message on stderr). */
int tt_test_need_program(const char *prog, const char *group);

#endif
