/* Test helpers: run a program with pipes, temp dirs, file I/O. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tt_cli_path(void) {
    static char path[4096];
    const char *b = getenv("TT_BUILD");
    snprintf(path, sizeof path, "%s/tt", b && *b ? b : "build");
    return path;
}

typedef struct {
    char *buf;
    size_t len, cap;
} growbuf;

static void gb_add(growbuf *g, const char *d, size_t n) {
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        while (cap < g->len + n + 1) cap *= 2;
        g->buf = realloc(g->buf, cap);
        if (!g->buf) abort();
        g->cap = cap;
    }
    memcpy(g->buf + g->len, d, n);
    g->len += n;
    g->buf[g->len] = '\0';
}

static int run(const char *file, const char *const *argv, const char *stdin_text,
               tt_cli_result *r) {
    memset(r, 0, sizeof *r);
    int pin[2], pout[2], perr[2];
    if (pipe(pin) || pipe(pout) || pipe(perr)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]); close(perr[0]); close(perr[1]);
        execvp(file, (char *const *)argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    signal(SIGPIPE, SIG_IGN);
    size_t in_len = stdin_text ? strlen(stdin_text) : 0, in_off = 0;
    if (in_len == 0) { close(pin[1]); pin[1] = -1; }
    growbuf go = {0}, ge = {0};
    gb_add(&go, "", 0);
    gb_add(&ge, "", 0);
    int open_out = 1, open_err = 1;
    while (open_out || open_err || pin[1] >= 0) {
        struct pollfd fds[3];
        int nf = 0, io = -1, ie = -1, ii = -1;
        if (open_out) { fds[nf].fd = pout[0]; fds[nf].events = POLLIN; io = nf++; }
        if (open_err) { fds[nf].fd = perr[0]; fds[nf].events = POLLIN; ie = nf++; }
        if (pin[1] >= 0) { fds[nf].fd = pin[1]; fds[nf].events = POLLOUT; ii = nf++; }
        if (poll(fds, (nfds_t)nf, -1) < 0) { if (errno == EINTR) continue; break; }
        char buf[8192];
        if (io >= 0 && fds[io].revents) {
            ssize_t n = read(pout[0], buf, sizeof buf);
            if (n > 0) gb_add(&go, buf, (size_t)n); else open_out = 0;
        }
        if (ie >= 0 && fds[ie].revents) {
            ssize_t n = read(perr[0], buf, sizeof buf);
            if (n > 0) gb_add(&ge, buf, (size_t)n); else open_err = 0;
        }
        if (ii >= 0 && fds[ii].revents) {
            ssize_t n = write(pin[1], stdin_text + in_off, in_len - in_off);
            if (n > 0) in_off += (size_t)n;
            if (n <= 0 || in_off >= in_len) { close(pin[1]); pin[1] = -1; }
        }
    }
    close(pout[0]);
    close(perr[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = go.buf; r->out_len = go.len;
    r->err = ge.buf; r->err_len = ge.len;
    return 0;
}

int tt_cli_run(const char *const *argv, const char *stdin_text, tt_cli_result *r) {
    size_t n = 0;
    while (argv[n]) n++;
    const char **a = calloc(n + 1, sizeof *a);
    if (!a) return -1;
    a[0] = tt_cli_path();
    for (size_t i = 1; i < n; i++) a[i] = argv[i];
    int rc = run(a[0], a, stdin_text, r);
    free(a);
    return rc;
}

int tt_run_program(const char *const *argv, const char *stdin_text, tt_cli_result *r) {
    return run(argv[0], argv, stdin_text, r);
}

void tt_cli_result_free(tt_cli_result *r) {
    if (!r) return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

char *tt_test_tmpdir(void) {
    char tmpl[] = "/tmp/tt-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tt_test_rmtree(const char *path) {
    if (!path || !*path) return;
    const char *argv[] = {"rm", "-rf", path, NULL};
    tt_cli_result r;
    if (tt_run_program(argv, NULL, &r) == 0) tt_cli_result_free(&r);
}

char *tt_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    growbuf g = {0};
    gb_add(&g, "", 0);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) gb_add(&g, buf, n);
    fclose(f);
    if (len) *len = g.len;
    return g.buf;
}

int tt_test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

const char *tt_test_shakespeare_path(void) {
    static const char *cands[] = {"../shared/data/tinyshakespeare.txt", "../../shared/data/tinyshakespeare.txt"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        struct stat st;
        if (stat(cands[i], &st) == 0) return cands[i];
    }
    return NULL;
}

const char *tt_test_find_file(const char *rel) {
    static char path[1024];
    const char *prefixes[] = {"", "../", "../../"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", prefixes[i], rel);
        struct stat st;
        if (stat(path, &st) == 0) return path;
    }
    return NULL;
}

int tt_test_on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    char buf[PATH_MAX];
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (n && access(buf, X_OK) == 0) return 1;
        if (!p[n]) return 0;
        p += n + 1;
    }
}

int tt_test_need_program(const char *prog, const char *group) {
    if (tt_test_on_path(prog)) return 0;
    const char *deps = tt_test_find_file("scripts/deps.sh");
    if (!deps) {
        fprintf(stderr, "scripts/deps.sh not found: run the tests from the repository root\n");
        return -1;
    }
    fprintf(stderr, "%s is missing: installing it with %s %s\n", prog, deps, group);
    const char *argv[] = {"bash", deps, group, NULL};
    tt_cli_result r;
    if (tt_run_program(argv, NULL, &r) != 0 || r.status != 0 || !tt_test_on_path(prog)) {
        fprintf(stderr, "could not install %s: %s\n", prog, r.err ? r.err : "");
        tt_cli_result_free(&r);
        return -1;
    }
    tt_cli_result_free(&r);
    return 0;
}
