#!/bin/sh
# Prints the public API: every function declared in include/tt/*.h (comments
# removed), one name a line, sorted. With --map, a GNU ld version script that
# exports exactly those names (the Makefile links libtt.so with it).
# Usage: scripts/api_symbols.sh [--map] [HEADER...]
set -eu
map=0
[ "${1:-}" = --map ] && { map=1; shift; }
[ $# -eq 0 ] && set -- "$(dirname "$0")"/../include/tt/*.h
names=$(cat "$@" | perl -0777 -pe 's{/\*.*?\*/}{}gs; s{static\s+inline[^{;]*\{[^}]*\}}{}gs; s{//[^\n]*}{}g; s{^[ \t]*#[^\n]*(\\\n[^\n]*)*}{}gm' |
        grep -o '\btt_[a-z0-9_]*[[:space:]]*(' | sed 's/[[:space:](]//g' | sort -u)
if [ $map -eq 0 ]; then
  printf '%s\n' "$names"
else
  printf 'TT_0 {\n  global:\n'
  printf '    %s;\n' $names
  printf '  local:\n    *;\n};\n'
fi
