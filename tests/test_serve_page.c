/* tt serve's sampling explorer in a real browser (Debian's chromium,
 * headless, driven over the DevTools protocol: tests/cdp.h) and its
 * distribution endpoint over HTTP (curl).
 *  - `tt serve --port 0` on the trained fixture model; the page loaded with
 *    ?prompt=...&seed=...&max_tokens=...&autorun=1 streams a completion:
 *    #output must hold exactly the text `tt generate` prints for the same
 *    settings, every generated token a shaded span; #dist must have bars,
 *    one kept bar per token the sampler keeps; moving the top-k slider to 3
 *    must redraw it with at most 3 kept bars; clicking a token must move the
 *    chart to its position, and hovering it show its alternatives. A screenshot is kept as a test
 *    artifact: $TT_BUILD/test-artifacts/serve_page.png.
 *  - POST /v1/distribution: the JSON shape, and bad requests (status, param).
 * When chromium is missing the test installs it with `scripts/deps.sh
 * browser` (as root) instead of skipping. A browser run that times out is
 * tried once more with a fresh profile (as test_report_browser does). */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cdp.h"
#include "image_check.h"
#include "util.h"

static char artifacts[PATH_MAX];
static char model_path[PATH_MAX];
static char base_url[128]; /* http://127.0.0.1:PORT */
static pid_t server_pid = -1;
static char *server_dir; /* the server's stdout and stderr files */

/* Starts tt serve --port 0 and reads the URL it prints (30 s at most). */
static int start_server(void) {
    server_dir = tt_test_tmpdir();
    if (!server_dir) return -1;
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/stdout", server_dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", server_dir);
    server_pid = fork();
    if (server_pid < 0) return -1;
    if (server_pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        const char *argv[] = {tt_cli_path(), "serve",     "--model", model_path, "--port",
                              "0",           "--threads", "1",       NULL};
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        size_t len;
        char *out = tt_test_read_file(out_path, &len);
        const char *u = out ? strstr(out, "http://") : NULL;
        if (u && strchr(u, '\n')) {
            snprintf(base_url, sizeof base_url, "%.*s", (int)strcspn(u, "\n"), u);
            free(out);
            return 0;
        }
        free(out);
        int st;
        if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
            char *err = tt_test_read_file(err_path, &len);
            fprintf(stderr, "tt serve exited at start: %s\n", err ? err : "");
            free(err);
            server_pid = -1;
            return -1;
        }
        usleep(50000);
    }
    fprintf(stderr, "tt serve printed no URL in 30 s\n");
    return -1;
}

static int setup(void **state) {
    (void)state;
    if (tt_test_need_program("chromium", "browser") || tt_test_need_program("curl", "test")) return -1;
    const char *b = getenv("TT_BUILD");
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "%s/test-artifacts", b && *b ? b : "build");
    mkdir(b && *b ? b : "build", 0755);
    mkdir(rel, 0755);
    if (!realpath(rel, artifacts)) return -1;
    const char *m = tt_test_find_file("tests/fixtures/gen_model.safetensors");
    if (!m || !realpath(m, model_path)) {
        fprintf(stderr, "tests/fixtures/gen_model.safetensors not found\n");
        return -1;
    }
    return start_server();
}

static int teardown(void **state) {
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        int st = 0;
        for (int i = 0; i < 200 && waitpid(server_pid, &st, WNOHANG) == 0; i++)
            usleep(50000);
        if (waitpid(server_pid, &st, WNOHANG) == 0) {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, &st, 0);
        }
    }
    if (server_dir) tt_test_rmtree(server_dir);
    free(server_dir);
    return 0;
}

/* %-encodes s for a query string (caller's buffer). */
static void urlenc(const char *s, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < cap; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

/* ---- the page in chromium ----------------------------------------------- */

typedef struct {
    const char *prompt;
    const char *temperature, *top_k, *top_p, *min_p, *seed, *max_tokens;
} gen_settings;

static const gen_settings settings = {"ROMEO:\nWhat say", "0.8", "20", "0.95", "0.02", "7", "60"};

/* What tt generate prints for the settings, without its final newline. */
static char *tt_generate_text(void) {
    const char *argv[] = {"tt",
                          "generate",
                          "--model",
                          model_path,
                          "--prompt",
                          settings.prompt,
                          "--temperature",
                          settings.temperature,
                          "--top-k",
                          settings.top_k,
                          "--top-p",
                          settings.top_p,
                          "--min-p",
                          settings.min_p,
                          "--seed",
                          settings.seed,
                          "--max-new-tokens",
                          settings.max_tokens,
                          NULL};
    tt_cli_result r;
    assert_int_equal(tt_cli_run(argv, NULL, &r), 0);
    if (r.status != 0) fail_msg("tt generate: %s", r.err);
    free(r.err);
    if (r.out_len && r.out[r.out_len - 1] == '\n') r.out[r.out_len - 1] = '\0';
    return r.out;
}

static char *eval_ok(tt_cdp *c, const char *expr) {
    char msg[512];
    char *v = tt_cdp_eval(c, expr, 20, NULL, msg, sizeof msg);
    if (!v) fail_msg("%s: %s", expr, msg);
    return v;
}

static int eval_int(tt_cdp *c, const char *expr) {
    char *v = eval_ok(c, expr);
    const int n = atoi(v);
    free(v);
    return n;
}

/* One browser run; TT_CDP_TIMEOUT lets the caller try again. */
static int page_run(const char *url, const char *want) {
    tt_cdp *c;
    char msg[512];
    int rc = tt_cdp_open(&c, url, 1280, 1500, msg, sizeof msg);
    if (rc == TT_CDP_TIMEOUT) return fprintf(stderr, "chromium: %s\n", msg), rc;
    if (rc) fail_msg("chromium: %s", msg);
    rc = tt_cdp_wait(c, "document.body && ['done', 'error'].includes(document.body.dataset.state)",
                     90, msg, sizeof msg);
    if (rc) {
        tt_cdp_close(c);
        if (rc == TT_CDP_TIMEOUT) return fprintf(stderr, "the page: %s\n", msg), rc;
        fail_msg("the page: %s", msg);
    }
    char *st = eval_ok(c, "document.body.dataset.state");
    if (strcmp(st, "done")) {
        char *why = eval_ok(c, "document.getElementById('status').textContent");
        fail_msg("the page ended in state '%s': %s", st, why);
    }
    free(st);
    char *text = eval_ok(c, "document.getElementById('output').textContent");
    if (strcmp(text, want))
        fail_msg("#output differs from tt generate:\n page: [%s]\n tt:   [%s]", text, want);
    free(text);
    /* every generated token a span with its probability */
    assert_int_equal(eval_int(c, "document.querySelectorAll('#output .tok[data-p]').length"),
                     atoi(settings.max_tokens));
    const int bars = eval_int(c, "document.querySelectorAll('#dist rect.bar').length");
    const int kept = eval_int(c, "document.querySelectorAll('#dist rect.bar.kept').length");
    const int n_kept = eval_int(c, "Number(document.getElementById('dist').dataset.nKept)");
    fprintf(stderr, "#dist: %d bars, %d kept (the server keeps %d)\n", bars, kept, n_kept);
    assert_true(bars >= 20);
    assert_true(n_kept >= 1 && n_kept <= 20);
    assert_int_equal(kept, n_kept);
    /* the written token is marked on the chart */
    assert_int_equal(eval_int(c, "document.querySelectorAll('#dist text.label.chosen').length"), 1);
    char shot[PATH_MAX + 32];
    snprintf(shot, sizeof shot, "%s/serve_page.png", artifacts);
    unlink(shot);
    rc = tt_cdp_screenshot(c, shot, 30, msg, sizeof msg);
    if (rc) {
        tt_cdp_close(c);
        if (rc == TT_CDP_TIMEOUT) return fprintf(stderr, "screenshot: %s\n", msg), rc;
        fail_msg("screenshot: %s", msg);
    }
    /* the slider redraws the chart: top-k 3 keeps at most 3 */
    free(eval_ok(c, "(() => { const e = document.getElementById('top_k'); e.value = '3';"
                    " e.dispatchEvent(new Event('input')); return 1; })()"));
    rc = tt_cdp_wait(c,
                     "Number(document.getElementById('dist').dataset.nKept) <= 3 && "
                     "document.querySelectorAll('#dist rect.bar.kept').length === "
                     "Number(document.getElementById('dist').dataset.nKept)",
                     30, msg, sizeof msg);
    if (rc) {
        tt_cdp_close(c);
        if (rc == TT_CDP_TIMEOUT) return fprintf(stderr, "the slider: %s\n", msg), rc;
        fail_msg("the slider: %s", msg);
    }
    /* a click on token 6 moves the chart there and marks that token; hovering
     * it shows its alternatives */
    free(eval_ok(c, "(() => { const t = document.querySelector('#output .tok[data-i=\"5\"]');"
                    " t.click(); t.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));"
                    " return 1; })()"));
    rc = tt_cdp_wait(c, "document.getElementById('dist').dataset.position === '5'", 30, msg,
                     sizeof msg);
    if (rc) {
        tt_cdp_close(c);
        if (rc == TT_CDP_TIMEOUT) return fprintf(stderr, "the click: %s\n", msg), rc;
        fail_msg("the click: %s", msg);
    }
    assert_int_equal(
        eval_int(c, "document.querySelectorAll('#output .tok.selected[data-i=\"5\"]').length"), 1);
    assert_int_equal(eval_int(c, "document.querySelectorAll('#dist text.label.chosen').length"), 1);
    char *tip = eval_ok(c, "document.getElementById('tooltip').hidden ? 'hidden' : "
                           "document.getElementById('tooltip').textContent");
    if (!strstr(tip, "Token 6:")) fail_msg("the tooltip of token 6: '%s'", tip);
    assert_true(eval_int(c, "document.querySelectorAll('#tooltip tr').length") >= 2);
    free(tip);
    tt_cdp_close(c);
    int w = 0, h = 0;
    if (tt_check_png(shot, 1280, 1280, 1000, 1500, 20000, &w, &h, msg, sizeof msg))
        fail_msg("%s", msg);
    fprintf(stderr, "screenshot kept: %s (%dx%d)\n", shot, w, h);
    return 0;
}

static void test_autorun_link_reproduces_tt_generate(void **state) {
    (void)state;
    char *want = tt_generate_text();
    char p[256], url[1024];
    urlenc(settings.prompt, p, sizeof p);
    snprintf(
        url, sizeof url,
        "%s/?prompt=%s&temperature=%s&top_k=%s&top_p=%s&min_p=%s&seed=%s&max_tokens=%s&autorun=1",
        base_url, p, settings.temperature, settings.top_k, settings.top_p, settings.min_p,
        settings.seed, settings.max_tokens);
    if (page_run(url, want) == TT_CDP_TIMEOUT) {
        fprintf(stderr, "chromium timed out; trying once more\n");
        if (page_run(url, want) == TT_CDP_TIMEOUT) fail_msg("chromium timed out twice");
    }
    free(want);
}

/* ---- the distribution over HTTP ----------------------------------------- */

/* POSTs body to path with curl; returns the reply's JSON and its status. */
static cJSON *post(const char *path, const char *body, int *status) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    const char *argv[] = {"curl",
                          "-sS",
                          "-m",
                          "30",
                          "-X",
                          "POST",
                          "-H",
                          "Content-Type: application/json",
                          "--data-binary",
                          "@-",
                          "-w",
                          "\n%{http_code}",
                          url,
                          NULL};
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, body, &r), 0);
    if (r.status != 0) fail_msg("curl: %s", r.err);
    char *nl = strrchr(r.out, '\n');
    assert_non_null(nl);
    *status = atoi(nl + 1);
    *nl = '\0';
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("%s -> not JSON: %.300s", body, r.out);
    tt_cli_result_free(&r);
    return j;
}

static void expect_error(const char *body, int want_status, const char *param, const char *in_msg) {
    int status;
    cJSON *j = post("/v1/distribution", body, &status);
    if (status != want_status) fail_msg("%s -> %d, want %d", body, status, want_status);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    const cJSON *p = cJSON_GetObjectItem(e, "param"), *m = cJSON_GetObjectItem(e, "message");
    assert_true(cJSON_IsString(m));
    if (param ? !cJSON_IsString(p) || strcmp(p->valuestring, param) : !cJSON_IsNull(p))
        fail_msg("%s: param %s, want %s", body, cJSON_IsString(p) ? p->valuestring : "null",
                 param ? param : "null");
    if (!strstr(m->valuestring, in_msg))
        fail_msg("%s: message '%s' lacks '%s'", body, m->valuestring, in_msg);
    cJSON_Delete(j);
}

static void test_distribution_endpoint(void **state) {
    (void)state;
    int status;
    cJSON *j = post("/v1/distribution",
                    "{\"prompt\":\"ROMEO:\\n\",\"continuation\":\"I w\",\"temperature\":0.7,"
                    "\"top_k\":8,\"top_p\":0.9,\"min_p\":0.02,\"seed\":3,\"max_tokens\":9}",
                    &status);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "distribution");
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "gen_model");
    assert_int_equal(cJSON_GetObjectItem(j, "vocab_size")->valueint, 65);
    assert_int_equal(cJSON_GetObjectItem(j, "n_context")->valueint, 10);
    assert_int_equal(cJSON_GetObjectItem(j, "position")->valueint, 3);
    const int n_kept = cJSON_GetObjectItem(j, "n_kept")->valueint;
    assert_true(n_kept >= 1 && n_kept <= 8);
    const cJSON *toks = cJSON_GetObjectItem(j, "tokens");
    assert_int_equal(cJSON_GetArraySize(toks), 65);
    double sum_raw = 0, sum_final = 0, prev = 2;
    int kept = 0;
    for (const cJSON *t = toks->child; t; t = t->next) {
        const double p = cJSON_GetObjectItem(t, "prob")->valuedouble;
        const double pf = cJSON_GetObjectItem(t, "prob_final")->valuedouble;
        assert_true(p <= prev); /* most probable first */
        prev = p;
        sum_raw += p;
        sum_final += pf;
        const int k = cJSON_IsTrue(cJSON_GetObjectItem(t, "kept"));
        kept += k;
        assert_true(k || pf == 0.0);
    }
    assert_int_equal(kept, n_kept);
    assert_true(fabs(sum_raw - 1) < 1e-4 && fabs(sum_final - 1) < 1e-4);
    cJSON_Delete(j);
    /* token ids work as well as text; temperature 0 keeps one */
    j = post("/v1/distribution",
             "{\"prompt\":[30,27,25,17,27,10,0],\"continuation\":[],\"temperature\":0}", &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetObjectItem(j, "n_context")->valueint, 7);
    assert_int_equal(cJSON_GetObjectItem(j, "n_kept")->valueint, 1);
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tokens"), 0), "kept")));
    cJSON_Delete(j);

    expect_error("{\"prompt\":\"ab\",\"top_p\":1.5}", 400, "top_p", "top_p");
    expect_error("{\"prompt\":\"ab\",\"top_k\":-1}", 400, "top_k", "top_k");
    expect_error("{\"prompt\":\"ab\",\"temperature\":\"hot\"}", 400, "temperature", "temperature");
    expect_error("{\"prompt\":\"ab\",\"min_p\":-0.1}", 400, "min_p", "min_p");
    expect_error("{\"prompt\":\"ab\",\"repetition_penalty\":0}", 400, "repetition_penalty",
                 "repetition_penalty");
    expect_error("{\"top_k\":3}", 400, "prompt", "required");
    expect_error("{\"prompt\":\"\"}", 400, "prompt", "empty");
    expect_error("{\"prompt\":\"caf\\u00e9 \\u2603\"}", 400, "prompt", "vocabulary");
    expect_error("{\"prompt\":\"ROMEO: this prompt is longer than the window\"}", 400, "prompt",
                 "has 44 tokens; the context window holds 24");
    expect_error("{\"prompt\":[1,99]}", 400, "prompt", "[0, 65)");
    expect_error("{\"prompt\":\"ab\",\"continuation\":7}", 400, "continuation",
                 "string or an array");
    expect_error("{\"prompt\":\"ab\",\"continuation\":\"\\u2603\"}", 400, "continuation",
                 "vocabulary");
    expect_error("{\"prompt\":\"ab\",\"frobnicate\":1}", 400, "frobnicate", "frobnicate");
    expect_error("{\"prompt\":\"ab\",\"model\":\"gpt-4\"}", 404, "model", "gpt-4");
    expect_error("{\"prompt\":\"ab\"", 400, NULL, "not valid JSON (at byte 14)");
    expect_error("", 400, NULL, "must be a JSON object");
    expect_error("[1,2]", 400, NULL, "JSON object");
}

static void test_page_files(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/explorer/app.js", base_url);
    const char *argv[] = {"curl", "-sS",       "-m", "30",
                          "-o",   "/dev/null", "-w", "%{http_code} %{content_type}",
                          url,    NULL};
    tt_cli_result r;
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    assert_string_equal(r.out, "200 text/javascript; charset=utf-8");
    tt_cli_result_free(&r);
    snprintf(url, sizeof url, "%s/", base_url);
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    assert_string_equal(r.out, "200 text/html; charset=utf-8");
    tt_cli_result_free(&r);
    snprintf(url, sizeof url, "%s/explorer/nope.js", base_url);
    assert_int_equal(tt_run_program(argv, NULL, &r), 0);
    assert_int_equal(atoi(r.out), 404);
    tt_cli_result_free(&r);
    /* nothing from a CDN: the page names no other host */
    snprintf(url, sizeof url, "%s/", base_url);
    const char *get[] = {"curl", "-sS", "-m", "30", url, NULL};
    assert_int_equal(tt_run_program(get, NULL, &r), 0);
    assert_null(strstr(r.out, "http://"));
    assert_null(strstr(r.out, "https://"));
    assert_non_null(strstr(r.out, "id=\"prompt\""));
    assert_non_null(strstr(r.out, "id=\"output\""));
    assert_non_null(strstr(r.out, "id=\"dist\""));
    tt_cli_result_free(&r);
}

/* The last test: SIGTERM stops the server with status 0, and its stderr
 * holds no sanitizer report (under make test-sanitize tt is built with
 * ASan + UBSan: a leak or an error in a page route shows here). */
static void test_server_stops_cleanly(void **state) {
    (void)state;
    assert_true(server_pid > 0);
    kill(server_pid, SIGTERM);
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 400 && (w = waitpid(server_pid, &st, WNOHANG)) == 0; i++)
        usleep(50000);
    if (w == 0) fail_msg("tt serve did not stop within 20 s of SIGTERM");
    server_pid = -1;
    char err_path[PATH_MAX];
    snprintf(err_path, sizeof err_path, "%s/stderr", server_dir);
    size_t len;
    char *err = tt_test_read_file(err_path, &len);
    assert_non_null(err);
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error"))
        fail_msg("tt serve's stderr: %.2000s", err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("tt serve ended with status %d: %.500s", st, err);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_files),
        cmocka_unit_test(test_distribution_endpoint),
        cmocka_unit_test(test_autorun_link_reproduces_tt_generate),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests_name("serve_page", tests, setup, teardown);
}
