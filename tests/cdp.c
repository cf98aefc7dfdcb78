/* A minimal Chrome DevTools Protocol client over --remote-debugging-pipe
 * (tests/cdp.h). */
#include "cdp.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "util.h"

struct tt_cdp {
    pid_t pid;
    int to_browser;   /* our end of its fd 3 */
    int from_browser; /* our end of its fd 4 */
    char *profile;
    char *session; /* the page's flat session id */
    int next_id;
    char *buf; /* bytes read, not yet a whole message */
    size_t len, cap;
};

static void say(char *msg, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void say(char *msg, size_t n, const char *fmt, ...) {
    if (!msg || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sends {"id", "method", "params", "sessionId"}; params is consumed.
 * Returns the id, or -1. */
static int send_cmd(tt_cdp *c, const char *method, cJSON *params, bool in_page) {
    cJSON *m = cJSON_CreateObject();
    const int id = ++c->next_id;
    cJSON_AddNumberToObject(m, "id", id);
    cJSON_AddStringToObject(m, "method", method);
    cJSON_AddItemToObject(m, "params", params ? params : cJSON_CreateObject());
    if (in_page && c->session) cJSON_AddStringToObject(m, "sessionId", c->session);
    char *s = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (!s) return -1;
    const size_t n = strlen(s) + 1; /* the NUL ends the message */
    size_t off = 0;
    while (off < n) {
        const ssize_t w = write(c->to_browser, s + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            free(s);
            return -1;
        }
        off += (size_t)w;
    }
    free(s);
    return id;
}

/* Waits for the reply to id (events and other replies are dropped).
 * Returns the parsed message, or NULL with *status and msg set. */
static cJSON *wait_reply(tt_cdp *c, int id, double deadline, int *status, char *msg,
                         size_t msg_size) {
    for (;;) {
        char *nul;
        while (c->len && (nul = memchr(c->buf, '\0', c->len))) {
            const size_t n = (size_t)(nul - c->buf) + 1;
            cJSON *j = cJSON_Parse(c->buf);
            memmove(c->buf, c->buf + n, c->len - n);
            c->len -= n;
            const cJSON *jid = cJSON_GetObjectItem(j, "id");
            if (j && cJSON_IsNumber(jid) && jid->valueint == id) {
                const cJSON *err = cJSON_GetObjectItem(j, "error");
                if (err) {
                    const cJSON *em = cJSON_GetObjectItem(err, "message");
                    say(msg, msg_size, "DevTools error: %s",
                        cJSON_IsString(em) ? em->valuestring : "?");
                    cJSON_Delete(j);
                    *status = TT_CDP_ERROR;
                    return NULL;
                }
                return j;
            }
            cJSON_Delete(j);
        }
        const double left = deadline - now_s();
        if (left <= 0) {
            say(msg, msg_size, "chromium did not answer in time");
            *status = TT_CDP_TIMEOUT;
            return NULL;
        }
        struct pollfd p = {c->from_browser, POLLIN, 0};
        const int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) continue;
        if (c->len + 65536 + 1 > c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 1 << 16;
            while (cap < c->len + 65536 + 1)
                cap *= 2;
            char *nb = realloc(c->buf, cap);
            if (!nb) {
                say(msg, msg_size, "out of memory");
                *status = TT_CDP_ERROR;
                return NULL;
            }
            c->buf = nb;
            c->cap = cap;
        }
        const ssize_t r = read(c->from_browser, c->buf + c->len, 65536);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            say(msg, msg_size, "chromium closed its DevTools pipe (it exited)");
            *status = TT_CDP_ERROR;
            return NULL;
        }
        c->len += (size_t)r;
    }
}

static cJSON *call(tt_cdp *c, const char *method, cJSON *params, bool in_page, double timeout_s,
                   int *status, char *msg, size_t msg_size) {
    const int id = send_cmd(c, method, params, in_page);
    if (id < 0) {
        say(msg, msg_size, "%s: could not write to chromium's pipe", method);
        *status = TT_CDP_ERROR;
        return NULL;
    }
    return wait_reply(c, id, now_s() + timeout_s, status, msg, msg_size);
}

int tt_cdp_open(tt_cdp **out, const char *url, int width, int height, char *msg, size_t msg_size) {
    *out = NULL;
    tt_cdp *c = calloc(1, sizeof *c);
    if (!c) return say(msg, msg_size, "out of memory"), TT_CDP_ERROR;
    c->pid = -1;
    c->to_browser = c->from_browser = -1;
    c->profile = tt_test_tmpdir();
    int to[2] = {-1, -1}, from[2] = {-1, -1};
    if (!c->profile || pipe(to) || pipe(from)) {
        say(msg, msg_size, "pipes: %s", strerror(errno));
        tt_cdp_close(c);
        return TT_CDP_ERROR;
    }
    char prof[512], win[64];
    snprintf(prof, sizeof prof, "--user-data-dir=%s", c->profile);
    snprintf(win, sizeof win, "--window-size=%d,%d", width, height);
    const char *argv[] = {"chromium",
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-dev-shm-usage",
                          "--no-first-run",
                          "--hide-scrollbars",
                          "--mute-audio",
                          "--remote-debugging-pipe",
                          prof,
                          win,
                          url,
                          NULL};
    signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
    /* chromium's helper processes outlive its main one by a moment: as their
     * subreaper the test reaps them (tt_cdp_close) instead of leaving zombies */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
    c->pid = fork();
    if (c->pid == 0) {
        /* fds 3 and 4 must end up as the pipe ends, whatever their numbers now */
        int in = fcntl(to[0], F_DUPFD, 10), outfd = fcntl(from[1], F_DUPFD, 10);
        if (in < 0 || outfd < 0 || dup2(in, 3) < 0 || dup2(outfd, 4) < 0) _exit(126);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            if (!getenv("TT_CDP_VERBOSE")) dup2(devnull, 2);
        }
        for (int fd = 5; fd < 1024; fd++)
            close(fd);
        setpgid(0, 0);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->to_browser = to[1];
    c->from_browser = from[0];
    if (c->pid < 0) {
        say(msg, msg_size, "fork: %s", strerror(errno));
        tt_cdp_close(c);
        return TT_CDP_ERROR;
    }
    /* the page target appears shortly after start */
    const double deadline = now_s() + 20;
    int status = TT_CDP_OK;
    char *target = NULL;
    while (!target) {
        cJSON *r =
            call(c, "Target.getTargets", NULL, false, deadline - now_s(), &status, msg, msg_size);
        if (!r) {
            tt_cdp_close(c);
            return status;
        }
        const cJSON *infos = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "targetInfos");
        for (const cJSON *t = infos ? infos->child : NULL; t && !target; t = t->next) {
            const cJSON *type = cJSON_GetObjectItem(t, "type"),
                        *id = cJSON_GetObjectItem(t, "targetId");
            if (cJSON_IsString(type) && !strcmp(type->valuestring, "page") && cJSON_IsString(id))
                target = strdup(id->valuestring);
        }
        cJSON_Delete(r);
        if (!target) {
            if (now_s() > deadline) {
                say(msg, msg_size, "chromium opened no page");
                tt_cdp_close(c);
                return TT_CDP_TIMEOUT;
            }
            usleep(50000);
        }
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "targetId", target);
    cJSON_AddBoolToObject(p, "flatten", 1);
    free(target);
    cJSON *r =
        call(c, "Target.attachToTarget", p, false, deadline - now_s(), &status, msg, msg_size);
    const cJSON *sid =
        r ? cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "sessionId") : NULL;
    if (!cJSON_IsString(sid)) {
        if (r) say(msg, msg_size, "Target.attachToTarget gave no session");
        cJSON_Delete(r);
        tt_cdp_close(c);
        return r ? TT_CDP_ERROR : status;
    }
    c->session = strdup(sid->valuestring);
    cJSON_Delete(r);
    *out = c;
    return TT_CDP_OK;
}

char *tt_cdp_eval(tt_cdp *c, const char *expr, double timeout_s, int *status, char *msg,
                  size_t msg_size) {
    int st_local;
    if (!status) status = &st_local;
    *status = TT_CDP_ERROR;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "expression", expr);
    cJSON_AddBoolToObject(p, "returnByValue", 1);
    cJSON_AddBoolToObject(p, "awaitPromise", 1);
    cJSON *r = call(c, "Runtime.evaluate", p, true, timeout_s, status, msg, msg_size);
    if (!r) return NULL;
    const cJSON *res = cJSON_GetObjectItem(r, "result");
    const cJSON *exc = cJSON_GetObjectItem(res, "exceptionDetails");
    const cJSON *val = cJSON_GetObjectItem(cJSON_GetObjectItem(res, "result"), "value");
    char *s = NULL;
    if (exc) {
        const cJSON *text =
            cJSON_GetObjectItem(cJSON_GetObjectItem(exc, "exception"), "description");
        say(msg, msg_size, "the page threw: %.300s",
            cJSON_IsString(text) ? text->valuestring : "?");
    } else if (cJSON_IsString(val)) {
        s = strdup(val->valuestring);
    } else if (val) {
        s = cJSON_PrintUnformatted(val);
    } else {
        s = strdup("undefined");
    }
    cJSON_Delete(r);
    if (s) *status = TT_CDP_OK;
    return s;
}

int tt_cdp_wait(tt_cdp *c, const char *expr, double timeout_s, char *msg, size_t msg_size) {
    const double deadline = now_s() + timeout_s;
    for (;;) {
        int status;
        char *v = tt_cdp_eval(c, expr, deadline - now_s() > 1 ? deadline - now_s() : 1, &status,
                              msg, msg_size);
        if (!v) return status;
        const bool yes = !strcmp(v, "true");
        free(v);
        if (yes) return TT_CDP_OK;
        if (now_s() > deadline) {
            say(msg, msg_size, "timed out waiting for: %s", expr);
            return TT_CDP_TIMEOUT;
        }
        usleep(50000);
    }
}

static int b64(int ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

int tt_cdp_screenshot(tt_cdp *c, const char *png_path, double timeout_s, char *msg,
                      size_t msg_size) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "format", "png");
    int status;
    cJSON *r = call(c, "Page.captureScreenshot", p, true, timeout_s, &status, msg, msg_size);
    if (!r) return status;
    const cJSON *data = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "data");
    if (!cJSON_IsString(data)) {
        cJSON_Delete(r);
        say(msg, msg_size, "Page.captureScreenshot gave no data");
        return TT_CDP_ERROR;
    }
    const char *s = data->valuestring;
    const size_t n = strlen(s);
    unsigned char *png = malloc(n / 4 * 3 + 3);
    size_t m = 0;
    uint32_t acc = 0;
    int bitsn = 0;
    for (size_t i = 0; png && i < n; i++) {
        const int v = b64((unsigned char)s[i]);
        if (v < 0) continue; /* padding */
        acc = (acc << 6) | (uint32_t)v;
        bitsn += 6;
        if (bitsn >= 8) {
            bitsn -= 8;
            png[m++] = (unsigned char)(acc >> bitsn);
        }
    }
    cJSON_Delete(r);
    if (!png) return say(msg, msg_size, "out of memory"), TT_CDP_ERROR;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", png_path);
    const int w = tt_test_write_file(tmp, png, m);
    free(png);
    if (w || rename(tmp, png_path)) {
        unlink(tmp);
        say(msg, msg_size, "could not write %s", png_path);
        return TT_CDP_ERROR;
    }
    return TT_CDP_OK;
}

void tt_cdp_close(tt_cdp *c) {
    if (!c) return;
    if (c->pid > 0) {
        if (c->to_browser >= 0) send_cmd(c, "Browser.close", NULL, false);
        int wst;
        const double deadline = now_s() + 5;
        pid_t w;
        while ((w = waitpid(c->pid, &wst, WNOHANG)) == 0 && now_s() < deadline)
            usleep(20000);
        if (w == 0) {
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &wst, 0);
        }
        kill(-c->pid, SIGKILL); /* helpers it left behind, if any */
        const double reap_deadline = now_s() + 2;
        while (now_s() < reap_deadline) {
            const pid_t q = waitpid(-c->pid, &wst, WNOHANG);
            if (q < 0) break; /* none left */
            if (q == 0) usleep(10000);
        }
    }
    if (c->to_browser >= 0) close(c->to_browser);
    if (c->from_browser >= 0) close(c->from_browser);
    if (c->profile) tt_test_rmtree(c->profile);
    free(c->profile);
    free(c->session);
    free(c->buf);
    free(c);
}
