#!/bin/sh
# The public API of include/tt/*.h: every function (and extern object) a
# header declares, comments removed.
#   scripts/api_symbols.sh [HEADER...]          the names, one a line, sorted
#   scripts/api_symbols.sh --map [HEADER...]    a GNU ld version script that
#                                               exports exactly those names
#   scripts/api_symbols.sh --check [HEADER...]  lists every declaration that
#                                               lacks TT_API; exit 1 if any
#   scripts/api_symbols.sh --fix HEADER...      adds TT_API where it lacks
#                                               (in place; then review the diff)
# libtt is built with -fvisibility=hidden, so a declaration without TT_API is
# not exported; tests/test_exports.c runs --check and compares nm -D with the
# names.
set -eu
mode=names
case "${1:-}" in --map | --check | --fix) mode=${1#--}; shift ;; esac
[ $# -eq 0 ] && set -- "$(dirname "$0")"/../include/tt/*.h

# The headers without comments, preprocessor lines and static inline bodies;
# then one top-level statement (up to ; { or }) a line.
statements() {
  cat "$@" | perl -0777 -pe 's{/\*.*?\*/}{}gs; s{static\s+inline[^{;]*\{[^}]*\}}{}gs; s{//[^\n]*}{}g; s{^[ \t]*#[^\n]*(\\\n[^\n]*)*}{}gm; s{\s+}{ }g; s{([;{}])}{$1\n}g'
}
# Declarations of functions tt_*( and of extern objects tt_*[ or tt_*;
decls() {
  statements "$@" | grep -v '^ *typedef' | grep -E '\btt_[a-z0-9_]*[[:space:]]*\(|^ *(TT_API )?extern [^(]*\btt_[a-z0-9_]*[[:space:]]*[[;]' || true
}

case $mode in
check)
  bad=$(decls "$@" | grep -v '\bTT_API\b' || true)
  [ -z "$bad" ] && exit 0
  printf 'declared without TT_API (not exported; run scripts/api_symbols.sh --fix HEADER):\n%s\n' "$bad" >&2
  exit 1 ;;
fix)
  # A declaration starts at column 0 with its return type: prefix it (after
  # `extern` for objects). Comment lines start with a blank or a slash.
  perl -0777 -i -pe 's{^(?!TT_API\b|typedef\b|static\b|struct\s+\w+\s*;|extern\s+"C")(extern\s+)?([A-Za-z_][^;{}]*?\btt_[a-z0-9_]*\s*\()}{$1TT_API $2}gm; s{^extern\s+(?!TT_API\b|"C")([^;{}(]*?\btt_[a-z0-9_]*\s*[\[;])}{extern TT_API $1}gm' "$@"
  exit 0 ;;
esac

names=$(decls "$@" | sed 's/([^)]*).*//; s/(.*//; s/\[.*//; s/;.*//' | grep -o '\btt_[a-z0-9_]*[[:space:]]*$' | tr -d ' ' | sort -u)
if [ $mode = names ]; then
  printf '%s\n' "$names"
else
  printf 'TT_0 {\n  global:\n'
  printf '    %s;\n' $names
  printf '  local:\n    *;\n};\n'
fi
