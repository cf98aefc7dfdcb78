/*
 * tests/cdp.h — headless Debian chromium driven through the Chrome DevTools
 * Protocol over a pipe (--remote-debugging-pipe: commands on the browser's
 * fd 3, replies on its fd 4, one JSON message each, NUL-terminated). No
 * websocket, no node: a test waits for a page's own "done" signal instead of
 * a fixed virtual-time budget, which --dump-dom cannot do for a page that
 * streams from a server.
 *
 *     tt_cdp *c;  char msg[512];
 *     if (tt_cdp_open(&c, "http://127.0.0.1:8080/", 1280, 1400, msg, sizeof msg)) fail_msg("%s",
 * msg); int r = tt_cdp_wait(c, "document.body.dataset.state === 'done'", 60, msg, sizeof msg); char
 * *text = tt_cdp_eval(c, "document.getElementById('output').textContent", 10, msg, sizeof msg);
 *     tt_cdp_screenshot(c, "page.png", 30, msg, sizeof msg);
 *     tt_cdp_close(c);
 *
 * Every call has a deadline; on a timeout it returns TT_CDP_TIMEOUT so that
 * a test can try once more with a fresh browser (as test_report_browser does).
 */
#ifndef TT_TESTS_CDP_H
#define TT_TESTS_CDP_H

#include <stddef.h>

enum { TT_CDP_OK = 0, TT_CDP_ERROR = -1, TT_CDP_TIMEOUT = -2 };

typedef struct tt_cdp tt_cdp;

/* Starts chromium (a fresh profile in a temporary directory) on url with a
 * window of width x height and attaches to its page. @return TT_CDP_OK,
 * TT_CDP_ERROR or TT_CDP_TIMEOUT (20 s), with a reason in msg. */
int tt_cdp_open(tt_cdp **out, const char *url, int width, int height, char *msg, size_t msg_size);

/* Evaluates a JavaScript expression in the page (awaiting a promise) and
 * returns its value as JSON text (malloc'ed: a string value is returned
 * unquoted, as its characters), or NULL with a reason in msg (and
 * *status, when not NULL, TT_CDP_ERROR or TT_CDP_TIMEOUT). */
char *tt_cdp_eval(tt_cdp *c, const char *expr, double timeout_s, int *status, char *msg,
                  size_t msg_size);

/* Polls expr every 50 ms until it is true. @return TT_CDP_OK,
 * TT_CDP_TIMEOUT, TT_CDP_ERROR. */
int tt_cdp_wait(tt_cdp *c, const char *expr, double timeout_s, char *msg, size_t msg_size);

/* Captures the page (the visible window) as a PNG file.
 * @return TT_CDP_OK, TT_CDP_TIMEOUT, TT_CDP_ERROR. */
int tt_cdp_screenshot(tt_cdp *c, const char *png_path, double timeout_s, char *msg,
                      size_t msg_size);

/* Closes the browser (Browser.close, then SIGKILL after 5 s), reaps it and
 * removes its profile. NULL-safe. */
void tt_cdp_close(tt_cdp *c);

#endif
