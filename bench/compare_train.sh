#!/usr/bin/env bash
# Training step before/after a change, in one interleaved run: builds
# build/bench/bench_train of git revision BASE (default HEAD~1) in a temporary
# directory, then runs it and this tree's build/bench/bench_train in turn,
# ROUNDS times each, on config (a) (tiny, T 64, B 12, dropout 0), with 1 and 2
# OpenMP threads (OMP_WAIT_POLICY=passive), and prints each run's line.
#
#     bench/compare_train.sh [BASE [ROUNDS [STEPS]]]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-HEAD~1}
rounds=${2:-3}
steps=${3:-30}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$base" | tar -x -C "$tmp"
make -s -C "$tmp" build/bench/bench_train >/dev/null
make -s build/bench/bench_train >/dev/null
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs;" \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; base $(git rev-parse --short "$base"), this tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+changes')"
for r in $(seq "$rounds"); do
  for threads in 1 2; do
    for which in base this; do
      bin=build/bench/bench_train
      [ "$which" = base ] && bin="$tmp/build/bench/bench_train"
      line=$(OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$bin" --only a --no-torch --no-passive --steps "$steps" |
        grep 'steps, loss')
      echo "round $r, $threads thread(s), $which: ${line#*: }"
    done
  done
done
