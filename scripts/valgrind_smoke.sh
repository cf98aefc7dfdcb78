#!/usr/bin/env bash
# valgrind memcheck on a CLI smoke run of every tt subcommand (and a few
# error paths): no invalid access, no definite or indirect leak.
# Usage: TT_BUILD=build scripts/valgrind_smoke.sh      (make valgrind)
# Logs: $TT_BUILD/valgrind/NAME.log. Exit 1 if any run has an error.
set -u
build=${TT_BUILD:-build}
tt=$(cd "$build" && pwd)/tt
here=$(cd "$(dirname "$0")/.." && pwd)
supp=$here/scripts/valgrind.supp
logs=$build/valgrind
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
work=$(mktemp -d /tmp/tt-valgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
# One thread: OMP_NUM_THREADS is libtt's auto thread count (tt no longer
# re-executes itself, so OMP_WAIT_POLICY is not needed any more).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=no
    --suppressions="$supp" --quiet)
status=0
results=()

# run NAME EXPECTED_EXIT [stdin-text] -- ARGS...
run() {
  local name=$1 want=$2 input=$3; shift 4
  local log=$logs/$name.log
  local t0=$SECONDS
  printf '%s' "$input" | "${vg[@]}" --log-file="$log.vg" "$tt" "$@" >"$log" 2>&1
  local rc=$?
  cat "$log.vg" >>"$log"; rm -f "$log.vg"
  local secs=$((SECONDS - t0))
  if [ $rc -eq 99 ] || grep -q 'ERROR SUMMARY: [1-9]' "$log" || grep -qE '(definitely|indirectly) lost: [1-9]' "$log"; then
    results+=("FAIL  $name (memcheck errors; see $log)"); status=1
  elif [ $rc -ne "$want" ]; then
    results+=("FAIL  $name (exit $rc, expected $want; see $log)"); status=1
  else
    results+=("ok    $name (exit $rc, ${secs}s)")
  fi
  echo "${results[-1]}"
}

corpus=$work/corpus.txt
for i in $(seq 20); do printf 'hello world this is a test of the text generation system. '; done >"$corpus"
m=$work/m.safetensors
tiny=(--d-model 16 --n-heads 2 --n-layers 1 --d-ff 32 --max-len 32 --seq-len 16 --batch-size 4)

run train 0 "" -- train --data "$corpus" --out "$m" "${tiny[@]}" --max-steps 5 --log-interval 1 --eval-interval 5 --log-json "$work/log.jsonl"
run train-resume 0 "" -- train --data "$corpus" --out "$m" "${tiny[@]}" --max-steps 8 --resume "$m"
run sample 0 "" -- sample --logits "1.5,2.8,2.5,0.5,1.0,0.8,0.3,0.2" --labels "the,cat,dog,sat,ran,jumped,on,quickly" --strategy top-p --top-p 0.9 --draws 200
run sample-json 0 "" -- sample --logits "1,2,3" --logits "3,2,-inf" --strategy combined --top-k 2 --top-p 0.9 --draws 50 --json
run eval 0 "" -- eval --model "$m" --text "hello world this is a test" --json
run info 0 "" -- info --model "$m"
run info-json 0 "" -- info --model "$m" --json
run generate 0 "" -- generate --model "$m" --prompt "hello " --prompt "the" --max-new-tokens 12 --num-samples 2 --top-k 5 --json
run generate-nocache 0 "" -- generate --model "$m" --prompt "hello" --max-new-tokens 12 --no-cache --eos " " --pad-id 0 --stream
run chat 0 $'hello\n/temp 0.5\n/topk 3\n/topp none\n/len 8\n/settings\n/greedy\nwor\n/quit\n' -- chat --model "$m"
run diversity 0 "" -- diversity --model "$m" --prompt "hello" --temperatures 0.5,1.0 --samples 3 --max-new-tokens 6 --json
run tour 0 "" -- tour --no-plots --model "$m" --out "$work/tour"
# Valgrind's CPU has no AVX-512, so there the kernels take another path
# (src/isa.h): the generated text must be the same as natively, byte for byte.
gen=(generate --model "$m" --prompt "hello " --prompt "the" --max-new-tokens 24 --num-samples 2 --top-k 5 --seed 7)
"$tt" "${gen[@]}" >"$work/native.json" 2>&1
run generate-same 0 "" -- "${gen[@]}"
if cmp -s "$work/native.json" "$logs/generate-same.log"; then
  results+=("ok    generate-same: the text under valgrind (no AVX-512) equals the native text")
else
  results+=("FAIL  generate-same: text under valgrind differs from the native text (see $logs/generate-same.log)"); status=1
fi
echo "${results[-1]}"
# tt serve: started under valgrind, a plain, a streamed and a bad request
# through curl, then SIGTERM (a graceful stop exits 0 and frees everything)
serve_log=$logs/serve.log
t0=$SECONDS
# a chat template in the smoke model's characters (it has no capitals or colon)
printf '%s' '{"message": "{name} {content}. ", "assistant": "{name} ",
  "names": {"system": "the", "user": "they", "assistant": "me"}, "stop": ["."]}' >"$work/chat.json"
"${vg[@]}" --log-file="$serve_log.vg" "$tt" serve --model "$m" --port 0 --threads 1 --grace 2 \
  --chat-template "$work/chat.json" \
  >"$work/serve.out" 2>"$serve_log" &
serve_pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's|^tt serve: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/serve.out")
  [ -n "$port" ] && break
  sleep 0.1
done
serve_ok=1
if [ -n "$port" ]; then
  url=http://127.0.0.1:$port
  curl -sS --max-time 120 "$url/v1/completions" -H 'Content-Type: application/json' \
    -d '{"prompt": "hello", "max_tokens": 8, "seed": 1, "logprobs": 2}' >>"$serve_log" 2>&1 || serve_ok=0
  curl -sSN --max-time 120 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": true}' \
    >>"$serve_log" 2>&1 || serve_ok=0
  curl -sS --max-time 120 "$url/v1/completions" -H 'Content-Type: application/json' \
    -d '{"prompt": "hello", "top_p": 7}' >>"$serve_log" 2>&1 || serve_ok=0
else
  serve_ok=0
fi
kill -TERM $serve_pid
wait $serve_pid
rc=$?
cat "$serve_log.vg" >>"$serve_log"; rm -f "$serve_log.vg"
if [ $rc -eq 99 ] || grep -q 'ERROR SUMMARY: [1-9]' "$serve_log" || grep -qE '(definitely|indirectly) lost: [1-9]' "$serve_log"; then
  results+=("FAIL  serve (memcheck errors; see $serve_log)"); status=1
elif [ $rc -ne 0 ] || [ $serve_ok -ne 1 ]; then
  results+=("FAIL  serve (exit $rc, requests ok $serve_ok; see $serve_log)"); status=1
else
  results+=("ok    serve (exit 0, $((SECONDS - t0))s)")
fi
echo "${results[-1]}"
# error paths must not leak either
printf 'garbage' >"$work/bad.safetensors"
run err-info-garbage 2 "" -- info --model "$work/bad.safetensors"
run err-train-flag 2 "" -- train --data "$corpus" --out "$work/x.safetensors" --seq-len abc
run err-generate-vocab 2 "" -- generate --model "$m" --prompt "QZ"
run err-sample-nan 2 "" -- sample --logits "1,nan"
run err-unknown 2 "" -- frobnicate

echo
echo "== valgrind summary"
printf '%s\n' "${results[@]}"
exit $status
