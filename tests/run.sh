#!/usr/bin/env bash
# Runs each test program given on the command line, then the exercise checker
# on the reference solutions, and prints the totals as "N passed, N failed".
set -u
passed=0; failed=0; broken=()
for t in "$@"; do
  name=$(basename "$t")
  log=$(mktemp)
  "$t" >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed before its summary
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -ne 0 ] && broken+=("$name")
  rm -f "$log"
done
if [ -f exercises/Makefile ] || [ -d exercises ]; then
  log=$(mktemp)
  if [ -n "${TT_SAN_FLAGS:-}" ]; then
    make --no-print-directory exercises SOLUTIONS=1 BUILD="${TT_BUILD:-build}" OPT="-O1 -g" SAN="$TT_SAN_FLAGS" >"$log" 2>&1
  else
    make --no-print-directory exercises SOLUTIONS=1 BUILD="${TT_BUILD:-build}" >"$log" 2>&1
  fi
  rc=$?
  cat "$log"
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); broken+=("exercises"); fi
  rm -f "$log"
fi
echo
[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
