/* The character tokenizer: fit, encode/decode, UTF-8, errors, JSON and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tt/tokenizer.h"
#include "util.h"

static void test_fit_sorted_unique(void **state) {
    (void)state;
    tt_tokenizer *t;
    tt_error err;
    const char *text = "hello world";
    assert_int_equal(tt_tokenizer_fit(&t, text, strlen(text), &err), TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(t), 8); /* ' ' d e h l o r w */
    const char *want = " dehlorw";
    for (int i = 0; i < 8; i++) assert_int_equal(tt_tokenizer_codepoint(t, i), (uint32_t)want[i]);
    int id;
    assert_int_equal(tt_tokenizer_id(t, 'l', &id), TT_OK);
    assert_int_equal(id, 4);
    assert_int_equal(tt_tokenizer_id(t, 'z', &id), TT_ERR_RANGE);
    tt_tokenizer_free(t);
    tt_tokenizer_free(NULL);
}

static void test_round_trip_unicode(void **state) {
    (void)state;
    const char *text = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82 a\"b\\c\n";
    tt_tokenizer *t;
    tt_error err;
    assert_int_equal(tt_tokenizer_fit(&t, text, strlen(text), &err), TT_OK);
    int *ids;
    size_t n;
    assert_int_equal(tt_tokenizer_encode(t, text, strlen(text), &ids, &n, &err), TT_OK);
    assert_int_equal(n, 16); /* code points, not bytes */
    /* ids are in code-point order: the emoji is the largest code point */
    assert_int_equal(tt_tokenizer_codepoint(t, tt_tokenizer_vocab_size(t) - 1), 0x1F642);
    char *back;
    assert_int_equal(tt_tokenizer_decode(t, ids, n, &back, &err), TT_OK);
    assert_string_equal(back, text);
    char buf[5];
    int id;
    assert_int_equal(tt_tokenizer_id(t, 0xE9, &id), TT_OK);
    assert_int_equal(tt_tokenizer_token_utf8(t, id, buf), 2);
    assert_string_equal(buf, "\xc3\xa9");
    assert_int_equal(tt_tokenizer_token_utf8(t, 999, buf), 0);
    free(back);
    free(ids);
    tt_tokenizer_free(t);
}

static void test_errors(void **state) {
    (void)state;
    tt_tokenizer *t;
    tt_error err;
    assert_int_equal(tt_tokenizer_fit(&t, "", 0, &err), TT_ERR_ARG);
    assert_null(t);
    assert_int_equal(tt_tokenizer_fit(&t, "ab\xff", 3, &err), TT_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "offset 2"));
    assert_int_equal(tt_tokenizer_fit(&t, "abc", 3, &err), TT_OK);
    int *ids = NULL;
    size_t n = 0;
    assert_int_equal(tt_tokenizer_encode(t, "abxc", 4, &ids, &n, &err), TT_ERR_RANGE);
    assert_null(ids);
    assert_non_null(strstr(err.msg, "'x'"));
    assert_non_null(strstr(err.msg, "offset 2"));
    assert_int_equal(tt_tokenizer_encode(t, "a\xc3", 2, &ids, &n, &err), TT_ERR_FORMAT);
    int bad[] = {0, 1, 999};
    char *s = NULL;
    assert_int_equal(tt_tokenizer_decode(t, bad, 3, &s, &err), TT_ERR_RANGE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "999"));
    int neg[] = {-1};
    assert_int_equal(tt_tokenizer_decode(t, neg, 1, &s, &err), TT_ERR_RANGE);
    /* empty input is fine */
    assert_int_equal(tt_tokenizer_encode(t, "", 0, &ids, &n, &err), TT_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(tt_tokenizer_decode(t, NULL, 0, &s, &err), TT_OK);
    assert_string_equal(s, "");
    free(s);
    tt_tokenizer_free(t);
    uint32_t unsorted[] = {'b', 'a'}, surrogate[] = {0xD800};
    assert_int_equal(tt_tokenizer_from_codepoints(&t, unsorted, 2, &err), TT_ERR_ARG);
    assert_int_equal(tt_tokenizer_from_codepoints(&t, surrogate, 1, &err), TT_ERR_ARG);
    assert_int_equal(tt_tokenizer_from_codepoints(&t, unsorted, 0, &err), TT_ERR_ARG);
}

static void test_utf8(void **state) {
    (void)state;
    uint32_t cp;
    assert_int_equal(tt_utf8_decode("\xc0\xaf", 2, &cp), 0);         /* overlong */
    assert_int_equal(tt_utf8_decode("\xed\xa0\x80", 3, &cp), 0);     /* surrogate */
    assert_int_equal(tt_utf8_decode("\xf4\x90\x80\x80", 4, &cp), 0); /* > U+10FFFF */
    assert_int_equal(tt_utf8_decode("\xe2\x82", 2, &cp), 0);         /* truncated */
    assert_int_equal(tt_utf8_decode("\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    char b[4];
    assert_int_equal(tt_utf8_encode(0x20AC, b), 3);
    assert_memory_equal(b, "\xe2\x82\xac", 3);
    assert_int_equal(tt_utf8_encode(0xD800, b), 0);
    assert_int_equal(tt_utf8_encode(0x110000, b), 0);
    assert_int_equal(tt_utf8_encode(0x10FFFF, b), 4);
}

static void test_json_round_trip(void **state) {
    (void)state;
    uint32_t cps[] = {1, '\n', '"', 'A', '\\', 0xE9, 0x1F642}; /* U+0000 is rejected */
    tt_tokenizer *t, *u;
    tt_error err;
    assert_int_equal(tt_tokenizer_from_codepoints(&t, cps, 7, &err), TT_OK);
    char *json;
    assert_int_equal(tt_tokenizer_to_json(t, &json, &err), TT_OK);
    assert_string_equal(json, "[\"\\u0001\",\"\\u000a\",\"\\\"\",\"A\",\"\\\\\",\"\xc3\xa9\",\"\xf0\x9f\x99\x82\"]");
    assert_int_equal(tt_tokenizer_from_json(&u, json, &err), TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(u), 7);
    for (int i = 0; i < 7; i++) assert_int_equal(tt_tokenizer_codepoint(u, i), cps[i]);
    free(json);
    tt_tokenizer_free(u);

    const char *bad[] = {"", "{}", "[]", "[1]", "[\"ab\"]", "[\"b\",\"a\"]", "[\"a\",\"a\"]", "[\"a\"",
                         "null", "[\"\"]", "[\"\\u0000\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        u = (tt_tokenizer *)1;
        assert_int_equal(tt_tokenizer_from_json(&u, bad[i], &err), TT_ERR_FORMAT);
        assert_null(u);
        assert_true(strlen(err.msg) > 0);
    }

    char *dir = tt_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    assert_int_equal(tt_tokenizer_save(t, path, &err), TT_OK);
    assert_int_equal(tt_tokenizer_load(&u, path, &err), TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(u), 7);
    assert_int_equal(tt_tokenizer_codepoint(u, 6), 0x1F642);
    tt_tokenizer_free(u);
    snprintf(path, sizeof path, "%s/missing.json", dir);
    assert_int_equal(tt_tokenizer_load(&u, path, &err), TT_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.json"));
    snprintf(path, sizeof path, "%s/garbage.json", dir);
    tt_test_write_file(path, "not json", 8);
    assert_int_equal(tt_tokenizer_load(&u, path, &err), TT_ERR_FORMAT);
    tt_test_rmtree(dir);
    free(dir);
    tt_tokenizer_free(t);
}

static void test_shakespeare_vocab(void **state) {
    (void)state;
    const char *p = tt_test_shakespeare_path();
    assert_non_null(p);
    size_t len;
    char *text = tt_test_read_file(p, &len);
    assert_non_null(text);
    tt_tokenizer *t;
    tt_error err;
    assert_int_equal(tt_tokenizer_fit(&t, text, len, &err), TT_OK);
    assert_int_equal(tt_tokenizer_vocab_size(t), 65);
    assert_int_equal(tt_tokenizer_codepoint(t, 0), '\n');
    assert_int_equal(tt_tokenizer_codepoint(t, 1), ' ');
    assert_int_equal(tt_tokenizer_codepoint(t, 64), 'z');
    int *ids;
    size_t n;
    assert_int_equal(tt_tokenizer_encode(t, text, len, &ids, &n, &err), TT_OK);
    assert_int_equal(n, len); /* ASCII */
    free(ids);
    free(text);
    tt_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_sorted_unique), cmocka_unit_test(test_round_trip_unicode),
        cmocka_unit_test(test_errors),            cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_json_round_trip),   cmocka_unit_test(test_shakespeare_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
