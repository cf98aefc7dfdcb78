#!/bin/sh
# Packaging checks run by tests/test_install.c (docs/embedding.md):
#   tests/packaging.sh headers   every public header compiles alone as C99,
#                                C11 and C++17 with -Wall -Wextra -Werror
#   tests/packaging.sh examples  every usage example in a header's comments
#                                compiles (C11, -Wall -Wextra -Werror)
#   tests/packaging.sh install   make install into a temporary DESTDIR
#                                (PREFIX=/usr); pkg-config gives only tt's
#                                include directory and -L/rpath/-ltt; the
#                                docs/embedding.md example, built with those
#                                flags against the installed headers and
#                                libtt.so, prints what `tt generate` prints
# Environment: TT_BUILD (build directory, default build), CC, CXX, and
# TT_SAN_FLAGS (the sanitizer flags libtt was built with, for the example).
# Prints "FAIL: ..." and exits 1 on the first failure.
set -u
B=${TT_BUILD:-build}
CC=${CC:-cc}
CXX=${CXX:-c++}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT

headers() {
  command -v "$CXX" >/dev/null 2>&1 || fail "no C++ compiler '$CXX' (scripts/deps.sh test installs g++)"
  n=0
  for h in include/tt/*.h; do
    name=${h#include/}
    printf '#include "%s"\ntypedef int tt_header_alone_;\n' "$name" > "$tmp/one.c"
    for std in c99 c11; do
      $CC -std=$std -Wall -Wextra -Wpedantic -Werror -Iinclude -fsyntax-only "$tmp/one.c" \
        > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$name does not compile alone as $std"; }
    done
    cp "$tmp/one.c" "$tmp/one.cpp"
    $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude -fsyntax-only "$tmp/one.cpp" \
      > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$name does not compile alone as C++17"; }
    n=$((n + 1))
  done
  echo "headers: $n compile alone as C99, C11 and C++17"
}

install_check() {
  D=$tmp/root
  version=$(sed -n 's/^#define TT_VERSION_STRING "\(.*\)"/\1/p' include/tt/common.h)
  major=${version%%.*}
  # a make of its own, not a sub-make of the one running the tests; with the
  # flags that built $B, should anything there be out of date
  if [ -n "${TT_SAN_FLAGS:-}" ]; then set -- OPT="-O1 -g" SAN="$TT_SAN_FLAGS"; else set --; fi
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory install BUILD="$B" "$@" \
    DESTDIR="$D" PREFIX=/usr > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make install DESTDIR=$D PREFIX=/usr"; }
  L=$D/usr/lib
  [ -f "$L/libtt.so.$version" ] && [ ! -L "$L/libtt.so.$version" ] || fail "no real-name file libtt.so.$version"
  [ "$(readlink "$L/libtt.so.$major")" = "libtt.so.$version" ] || fail "libtt.so.$major is not a link to libtt.so.$version"
  [ "$(readlink "$L/libtt.so")" = "libtt.so.$major" ] || fail "libtt.so is not a link to libtt.so.$major"
  [ -f "$L/libtt.a" ] && [ -f "$D/usr/include/tt/generate.h" ] && [ -f "$D/usr/include/tt/export.h" ] || fail "headers or libtt.a not installed"
  [ -x "$D/usr/bin/tt" ] || fail "tt not installed"

  export PKG_CONFIG_PATH="$L/pkgconfig" PKG_CONFIG_LIBDIR="$L/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
  cflags=$(pkg-config --cflags tt) || fail "pkg-config --cflags tt"
  libs=$(pkg-config --libs tt) || fail "pkg-config --libs tt"
  for w in $cflags; do
    [ "$w" = "-I$D/usr/include" ] || fail "pkg-config --cflags tt gives '$w' (only tt's include directory expected): $cflags"
  done
  [ -n "$cflags" ] || cflags="-I$D/usr/include" # pkg-config may drop a system directory
  has_l=0
  for w in $libs; do
    case "$w" in
      -ltt) has_l=1 ;;
      "-L$L" | -Wl,-rpath,/usr/lib | "-Wl,-rpath,$L") ;; # pkgconf puts the sysroot before the rpath too
      *) fail "pkg-config --libs tt gives '$w' (only -L, the rpath and -ltt expected): $libs" ;;
    esac
  done
  [ $has_l = 1 ] || fail "pkg-config --libs tt has no -ltt: $libs"
  echo "pkg-config: --cflags '$cflags' --libs '$libs'"

  # the example of docs/embedding.md, compiled as an embedder would
  awk '/<!-- embed-example -->/ { on = 1; next } on && /^```c/ { inc = 1; next } inc && /^```/ { exit } inc' \
    docs/embedding.md > "$tmp/embed.c"
  [ -s "$tmp/embed.c" ] || fail "no example in docs/embedding.md"
  # shellcheck disable=SC2086
  $CC -std=c11 -Wall -Wextra -Werror ${TT_SAN_FLAGS:-} "$tmp/embed.c" $cflags $libs -o "$tmp/embed" \
    > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "the docs/embedding.md example does not build against the install"; }
  LD_LIBRARY_PATH=$L ldd "$tmp/embed" | grep -q "libtt.so.$major => $L/libtt.so.$major" ||
    fail "the example does not load $L/libtt.so.$major: $(LD_LIBRARY_PATH=$L ldd "$tmp/embed" | grep libtt)"
  model=tests/fixtures/gen_model.safetensors
  LD_LIBRARY_PATH=$L "$tmp/embed" "$model" "ab" > "$tmp/got" 2>"$tmp/log" || { cat "$tmp/log"; fail "the example failed"; }
  "$B/tt" generate --model "$model" --prompt "ab" --max-new-tokens 40 --temperature 0.8 --seed 7 --raw \
    > "$tmp/want" || fail "tt generate"
  cmp -s "$tmp/got" "$tmp/want" || { echo "got:"; cat "$tmp/got"; echo "want:"; cat "$tmp/want"; fail "the example's text differs from tt generate's"; }
  echo "example: $(head -c 60 "$tmp/got" | tr '\n' ' ')"
}

# Every usage example in a public header's comments (a block of lines
# indented " *     "; blocks without a tt_ call, such as formulas, are
# prose) compiles as C11 with -Wall -Wextra -Werror, in a function that
# declares what the examples take as given (below); "..." placeholders
# become empty statements. An example that calls a function with the wrong
# arity or types fails here.
EXAMPLE_GIVEN='tt_error err; tt_status st; tt_model *model = 0, *m = 0; tt_tokenizer *tok = 0;
  tt_sampler *s = 0; tt_generator *g = 0, *g1 = 0, *g2 = 0; tt_rng rng;
  int p0[2] = {1, 2}, p1[1] = {3}, n0 = 2, n1 = 1, V = 65, B = 1, T = 2;
  int tokens[2] = {0, 1}, targets[2] = {1, 0}; const int *prompt = p0;
  int *ids = 0, *vids = 0, *train_ids = 0, *val_ids = 0; size_t n = 0, nv = 0, n_train = 0, n_val = 0;
  float logits_row[65] = {0}, *params = 0, *grads = 0, lr = 1e-3f; uint64_t seed = 1, row = 0, request_id = 7;
  const char *text = "hello"; tt_generator_config row_cfg = tt_generator_config_default();
  tt_train_callback cb = 0, on_progress = 0; void *user = 0; tt_train_result res;'
examples() {
  n=0
  for h in include/tt/*.h; do
    name=${h#include/}
    [ "$name" = tt/export.h ] && continue # its example is a declaration with TT_API
    awk -v out="$tmp/ex" '
      /^ \*     / { line = substr($0, 8); buf = buf line "\n"; if (line ~ /tt_/) code = 1; next }
      { if (buf != "" && code) { k++; f = out "." k; printf "%s", buf > f; close(f) } buf = ""; code = 0 }
      END { print k + 0 > (out ".n") }' "$h"
    k=$(cat "$tmp/ex.n")
    i=1
    while [ "$i" -le "$k" ]; do
      {
        printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n'
        for all in include/tt/*.h; do printf '#include "%s"\n' "${all#include/}"; done
        printf 'void example(void);\nvoid example(void) {\n%s\n{\n' "$EXAMPLE_GIVEN"
        sed -e 's/^\( *\)\.\.\..*$/\1;/' -e 's/{ *\.\.\.[^}]*}/{ }/g' -e 's/\.\.\.[A-Za-z_]*\.\.\.;/;/g' \
            -e 's/) *\.\.\.;*$/) { }/' "$tmp/ex.$i"
        printf '}\n}\n'
      } > "$tmp/example.c"
      $CC -std=c11 -Wall -Wextra -Werror -Wno-unused-variable -Wno-unused-but-set-variable \
        -Wno-uninitialized -Wno-maybe-uninitialized -Wno-unused-value -Iinclude -fsyntax-only "$tmp/example.c" \
        > "$tmp/log" 2>&1 || { cat "$tmp/example.c" "$tmp/log"; fail "example $i of $name does not compile"; }
      n=$((n + 1))
      i=$((i + 1))
    done
    rm -f "$tmp"/ex.*
  done
  echo "examples: $n header examples compile"
}

case "${1:-}" in
  headers) headers ;;
  install) install_check ;;
  examples) examples ;;
  *) echo "usage: tests/packaging.sh headers|install|examples" >&2; exit 2 ;;
esac
