/*
 * tt serve's page routes: GET / (the sampling explorer, issue 15 item 4)
 * and the endpoints only it uses. serve_page_routes() registers them with
 * serve_route_add (cli/serve.h); a handler gets the parsed request and
 * fills a serve_reply (serve_reply_text / serve_reply_json /
 * serve_reply_error), and may use serve_model, serve_tokenizer,
 * serve_settings_parse (the same sampling fields as /v1/completions).
 *
 * Until the explorer is built, GET / says so and points at the API.
 */
#include <string.h>

#include "serve.h"

static void h_index(serve_server *s, const serve_request *req, serve_reply *r) {
    (void)s;
    (void)req;
    static const char page[] =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>tt serve</title></head>\n<body>\n<h1>tt serve</h1>\n"
        "<p>The sampling explorer is not built yet. The API is here: POST /v1/completions, "
        "POST /v1/chat/completions, GET /v1/models, GET /health, POST /tokenize, "
        "POST /detokenize, GET /metrics (docs/serve.md).</p>\n</body></html>\n";
    serve_reply_text(r, 200, "text/html; charset=utf-8", page, sizeof page - 1);
}

void serve_page_routes(serve_server *s) { serve_route_add(s, "GET", "/", h_index, false); }
