/* `tt chat`: driven through a pseudo-terminal (libedit line editing, the
 * commands, a streamed answer, EOF), and line by line from a pipe. Uses the
 * committed fixture tests/fixtures/gen_model.safetensors. */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

#define MODEL "tests/fixtures/gen_model.safetensors"

typedef struct {
    int fd;
    pid_t pid;
    char buf[65536];
    size_t len, seen; /* bytes read; search start */
} pty_child;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void spawn(pty_child *c, const char *const *args) {
    memset(c, 0, sizeof *c);
    c->fd = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(c->fd >= 0);
    assert_int_equal(grantpt(c->fd), 0);
    assert_int_equal(unlockpt(c->fd), 0);
    const char *name = ptsname(c->fd);
    assert_non_null(name);
    char slave[256];
    snprintf(slave, sizeof slave, "%s", name);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        setsid();
        int s = open(slave, O_RDWR);
        if (s < 0) _exit(127);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2) close(s);
        close(c->fd);
        setenv("TERM", "dumb", 1);
        execv(tt_cli_path(), (char *const *)args);
        _exit(127);
    }
}

/* Reads until `needle` appears after the last match (30 s at most: the suite may share a loaded machine). */
static bool expect(pty_child *c, const char *needle) {
    const double end = now_s() + 30.0;
    for (;;) {
        char *hit = strstr(c->buf + c->seen, needle);
        if (hit) {
            c->seen = (size_t)(hit - c->buf) + strlen(needle);
            return true;
        }
        double left = end - now_s();
        if (left <= 0) break;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0) break;
        if (c->len + 1 >= sizeof c->buf) break;
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (n <= 0) break;
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    fprintf(stderr, "chat: did not see '%s'; output so far:\n%s\n", needle, c->buf + c->seen);
    return false;
}

static void send_line(pty_child *c, const char *s) {
    size_t n = strlen(s);
    assert_int_equal(write(c->fd, s, n), (ssize_t)n);
}

/* Waits for the child (30 s), killing it if it hangs. Returns its status.
 * resend (may be NULL) is written again every second while the child runs:
 * a Ctrl-D typed while libedit switches the terminal mode can be lost. */
static int finish(pty_child *c, const char *resend) {
    int st = 0;
    const double end = now_s() + 30.0;
    double next = now_s() + 1.0;
    for (;;) {
        if (resend && now_s() > next) {
            /* the child may be gone already: a failed write is fine */
            if (write(c->fd, resend, strlen(resend)) < 0) resend = NULL;
            next = now_s() + 1.0;
        }
        /* keep draining so that the child never blocks on a full pty */
        char tmp[4096];
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0 && read(c->fd, tmp, sizeof tmp) <= 0) p.revents = 0;
        pid_t w = waitpid(c->pid, &st, WNOHANG);
        if (w == c->pid) break;
        if (now_s() > end) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            close(c->fd);
            return -1;
        }
    }
    close(c->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Sends a line, waits for `needle`, then for the next prompt: libedit may
 * drop typed-ahead input while it sets the terminal up, so nothing is sent
 * before the prompt is back. */
static bool say(pty_child *c, const char *line, const char *needle) {
    send_line(c, line);
    return expect(c, needle) && expect(c, "> ");
}

static void test_pty_session(void **state) {
    (void)state;
    const char *args[] = {"tt", "chat", "--model", MODEL, "--greedy", "--max-new-tokens",
                          "20", NULL};
    pty_child c;
    spawn(&c, args);
    assert_true(expect(&c, "/help for commands"));
    assert_true(expect(&c, "settings: greedy"));
    assert_true(expect(&c, "> "));
    assert_true(say(&c, "/settings\n", "length 20"));
    /* a greedy answer: the golden continuation of "ROMEO:" is "\nI the the ..." */
    assert_true(say(&c, "ROMEO:\n", "I the the the the t"));
    assert_true(say(&c, "/temp -1\n", "tt chat: /temp"));
    assert_true(say(&c, "/topk 3\n", "top-k 3"));
    assert_true(say(&c, "/topk none\n", "top-k off"));
    assert_true(say(&c, "/topp 0.9\n", "top-p 0.9"));
    assert_true(say(&c, "/topp 2\n", "tt chat: /topp"));
    assert_true(say(&c, "/topp none\n", "top-p off"));
    assert_true(say(&c, "/len 5\n", "length 5"));
    assert_true(say(&c, "/greedy\n", "greedy off"));
    assert_true(say(&c, "/seed 7\n", "seed 7"));
    assert_true(say(&c, "/bogus\n", "unknown command '/bogus'"));
    assert_true(say(&c, "/help\n", "/topk K|none"));
    assert_true(say(&c, "/settings\n",
                    "settings: sampling, temperature 1, top-k off, top-p off, length 5, seed 7"));
    assert_true(say(&c, "x@y\n", "tt chat: unknown character"));
    assert_true(say(&c, "KING\n", "KING"));
    send_line(&c, "\x04"); /* Ctrl-D on an empty line: EOF */
    /* A key typed while libedit switches the terminal mode can be lost or
     * left in the line (then Ctrl-D only rings the bell): the retries clear
     * the line first (Ctrl-U), as a user would. */
    assert_int_equal(finish(&c, "\x15\x04"), 0);
}

static void test_pty_quit(void **state) {
    (void)state;
    const char *args[] = {"tt", "chat", "--model", MODEL, NULL};
    pty_child c;
    spawn(&c, args);
    assert_true(expect(&c, "> "));
    send_line(&c, "/quit\n");
    assert_int_equal(finish(&c, NULL), 0);
}

/* Not a terminal: lines from a pipe, no prompt; the same greedy answer. */
static void test_pipe(void **state) {
    (void)state;
    const char *argv[] = {"tt", "chat", "--model", MODEL, "--greedy", "--max-new-tokens",
                          "20", NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, "ROMEO:\n/len 3\n/topk x\nROMEO:\n", &r), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "\nI the the the the t\nlength 3\n\nI \n");
    assert_non_null(strstr(r.err, "tt chat: /topk"));
    tt_cli_result_free(&r);
    /* sampled answers: answer n uses seed S + n, so two runs agree and two
     * answers to the same prompt differ */
    const char *s[] = {"tt", "chat", "--model", MODEL, "--max-new-tokens", "30", NULL};
    tt_cli_result a, b;
    assert_int_equal(tt_cli_run(s, "KING\nKING\n", &a), 0);
    assert_int_equal(tt_cli_run(s, "KING\nKING\n", &b), 0);
    assert_string_equal(a.out, b.out);
    char *nl = strchr(a.out, '\n');
    assert_non_null(nl);
    assert_true(strncmp(a.out, nl + 1, (size_t)(nl - a.out)) != 0);
    tt_cli_result_free(&a);
    tt_cli_result_free(&b);
    /* temperature 0 is greedy (docs/sampling.md): --temperature 0 and /temp 0
     * give --greedy's answers, whatever the seed */
    const char *t0[] = {"tt", "chat", "--model", MODEL, "--temperature", "0", "--seed", "5",
                        "--max-new-tokens", "20", NULL};
    assert_int_equal(tt_cli_run(t0, "ROMEO:\nROMEO:\n", &a), 0);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.out, "\nI the the the the t\n\nI the the the the t\n");
    tt_cli_result_free(&a);
    const char *t1[] = {"tt", "chat", "--model", MODEL, "--max-new-tokens", "20", NULL};
    assert_int_equal(tt_cli_run(t1, "/temp 0\nROMEO:\n", &a), 0);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.out, "temperature 0 (greedy)\n\nI the the the the t\n");
    tt_cli_result_free(&a);
}

/* A failed sampling command leaves the session's sampling state as it was
 * (it once kept a pointer to the freed value: a use-after-free under ASan). */
static void test_failed_command_restores(void **state) {
    (void)state;
    const char *argv[] = {"tt", "chat", "--model", MODEL, "--greedy", "--max-new-tokens",
                          "60", NULL};
    const char *dry = "/dry-multiplier 1\n/dry-allowed-length 1\n/dry-base 2\nKING:\n";
    const char *pre[] = {"", "/dry-sequence-breaker h\n", "/dry-sequence-breaker \n",
                         "/dry-sequence-breaker h\n/dry-sequence-breaker \n",
                         "/dry-sequence-breaker h\n/dry-sequence-breaker x\xff\n"};
    char *out[5];
    for (int i = 0; i < 5; i++) {
        char in[256];
        snprintf(in, sizeof in, "%s%s", pre[i], dry);
        tt_cli_result r;
        assert_int_equal(tt_cli_run(argv, in, &r), 0);
        assert_int_equal(r.status, 0);
        if (i >= 2) /* the bad value is named, once */
            assert_non_null(strstr(r.err, i == 4 ? "tt chat: --dry-sequence-breaker x\xff: dry "
                                                   "sequence breaker 2 is not valid UTF-8"
                                                 : "tt chat: --dry-sequence-breaker '': "));
        char *nl = strstr(r.out, "dry-base 2\n"); /* the answer after the echoes */
        assert_non_null(nl);
        out[i] = strdup(nl);
        tt_cli_result_free(&r);
    }
    assert_string_equal(out[0], "dry-base 2\n\nAnd the share my his and you thous thy with that "
                                "be thim th\n");
    assert_string_equal(out[1], "dry-base 2\n\nAnd the she my his with be the and he him the he "
                                "his he he \n");
    assert_string_equal(out[2], out[0]); /* the default breakers stay */
    assert_string_equal(out[3], out[1]); /* so does 'h' */
    assert_string_equal(out[4], out[1]);
    for (int i = 0; i < 5; i++) free(out[i]);
}

static void test_bad_args(void **state) {
    (void)state;
    const char *v1[] = {"tt", "chat", NULL};
    const char *v2[] = {"tt", "chat", "--model", MODEL, "--top-p", "0", NULL};
    const char *v3[] = {"tt", "chat", "--model", MODEL, "--what", NULL};
    const char *v4[] = {"tt", "chat", "--model", MODEL, "--temperature", "-2", NULL};
    const char *const *all[] = {v1, v2, v3, v4};
    for (size_t i = 0; i < 4; i++) {
        tt_cli_result r;
        assert_int_equal(tt_cli_run(all[i], "", &r), 0);
        assert_int_equal(r.status, 2);
        assert_string_equal(r.out, "");
        assert_true(r.err_len > 0);
        tt_cli_result_free(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pty_session),
        cmocka_unit_test(test_pty_quit),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_failed_command_restores),
    };
    return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}
