#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time and prints its figures.
# Usage: fuzz/run.sh SECONDS NAME...   (binaries in $FUZZ_BUILD/fuzz/fuzz_NAME)
# Seeds: fuzz/corpus/NAME (committed, read-only here); new inputs go to
# $FUZZ_BUILD/corpus/NAME; crashes to $FUZZ_BUILD/crashes/. Exit 1 on a crash.
set -u
secs=${1:-30}; shift
build=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$build"; build=$(cd "$build" && pwd)   # absolute: the CLI harness changes directory
here=$(cd "$(dirname "$0")" && pwd)
status=0
summary=()
for name in "$@"; do
  bin=$build/fuzz/fuzz_$name
  work=$build/corpus/$name
  mkdir -p "$work" "$build/crashes" "$build/logs"
  log=$build/logs/$name.log
  dict=(); mask=1; maxlen=4096
  [ "$name" = cli ] && mask=3
  [ "$name" = safetensors ] && maxlen=8192
  [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
  echo "== fuzz_$name: ${secs}s"
  # -jobs/-workers not used: one process (the machine is shared).
  # The CLI harness runs the subcommands in a scratch directory it makes itself.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:detect_odr_violation=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$here/../tests/lsan.supp \
  OMP_NUM_THREADS=1 \
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=$maxlen \
      -print_final_stats=1 -close_fd_mask=$mask "${dict[@]}" \
      -artifact_prefix="$build/crashes/${name}-" "$work" "$here/corpus/$name" >"$log" 2>&1
  rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  units=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
  line="fuzz_$name: ${execs:-?} executions in ${secs}s, cov: ${cov:-?} ft: ${ft:-?} corpus: ${units:-?}"
  if [ $rc -ne 0 ]; then
    line="$line  CRASH (exit $rc; see $log)"
    status=1
    grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written' "$log" | head -8
  fi
  echo "$line"
  summary+=("$line")
done
echo
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $status
