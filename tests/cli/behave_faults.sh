#!/usr/bin/env bash
# labels: cli
# `fromscratch behave` against a misbehaving server (tests/support/behave/server.py, faults chosen by the
# /f/<fault>/v1 path prefix): 429 and 503 are retried with backoff and succeed; a server that always answers
# 429, a slow server with a short --timeout, malformed JSON, non-UTF-8 bytes, another model name, fewer tokens
# than asked, empty completions, a server that ignores the seed, an unreachable server and a wrong model name
# each give a clear message naming the URL or model, keep the partial results, and an "inconclusive" verdict.
set -euo pipefail
work=$(mktemp -d)
source "$FROMSCRATCH_SOURCE_DIR/tests/support/behave/server_lib.sh"
trap 'behave_stop_server; rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2; cat "$work/err.txt" 2>/dev/null >&2 || true' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"

run() {  # run WANT_RC NAME ARGS...: the JSON lands in $work/NAME.json, stderr in $work/err.txt
  local want=$1 name=$2; shift 2
  set +e; "$F" behave "$@" --json > "$work/$name.json" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then echo "expected exit $want, got $rc: $*"; cat "$work/err.txt"; exit 1; fi
}
field() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

behave_start_server "$work"
N=(--prompts 24 --tokens 8 --cache "$work/cache" --backoff 0.02 --determinism-checks 2)
fault() { echo "http://127.0.0.1:$PORT/f/$1/v1"; }
ok_refs() { echo --reference "$URL#indep-b" --reference "$URL#indep-c"; }

# 429 and 503 on the first two tries of every request: retried, all answered, the copy found.
for f in 429 503; do
  run 0 "r$f" compare "$(fault $f)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}"
  [ "$(field "$work/r$f.json" 'd["verdict"]')" = derived ]
  [ "$(field "$work/r$f.json" 'd["requests"]["retries"]')" -ge 48 ]
  [ "$(field "$work/r$f.json" 'd["requests"]["failed"]')" = 0 ]
done

# Always 429: every request fails after its retries; the message names the URL and model; inconclusive; exit 1.
run 1 always compare "$(fault 429always)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}" --retries 1
grep -q "/f/429always/v1/completions (model 'base'): HTTP 429" "$work/err.txt"
[ "$(field "$work/always.json" 'd["verdict"]')" = inconclusive ]
[ "$(field "$work/always.json" 'len(d["evidence"])')" = $((4 * 26)) ]   # partial results kept

# Slow answers: a short timeout fails with a timeout message; the default timeout waits and succeeds.
run 1 slowfail compare "$(fault slow)#base" "$URL#base-disguised" $(ok_refs) --prompts 4 --tokens 8 --no-cache --retries 0 --timeout 0.3 --determinism-checks 0
grep -qi "timeout" "$work/err.txt"
grep -q "inconclusive" "$work/slowfail.json"
run 0 slow probe "$(fault slow)#base" --prompts 8 --tokens 4 --no-cache --concurrency 8
[ "$(field "$work/slow.json" 'd["ok"]')" = 8 ]

# Malformed JSON, non-UTF-8 bytes, another model's name: failures naming the URL and model.
run 1 malformed compare "$(fault malformed)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}" --retries 1
grep -q "malformed JSON" "$work/err.txt"
run 1 badutf8 compare "$(fault badutf8)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}" --retries 0
grep -q "not valid JSON or not UTF-8" "$work/err.txt"
run 1 other compare "$(fault othermodel)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}"
grep -q "answered with model 'gpt-4o', not 'base'" "$work/err.txt"
[ "$(field "$work/other.json" 'd["verdict"]')" = inconclusive ]

# Fewer tokens than asked, empty completions, a server that ignores the seed: inconclusive, with the reason.
run 0 short compare "$(fault short)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}"
[ "$(field "$work/short.json" 'd["verdict"]')" = inconclusive ]
grep -q "fewer tokens than the 8 asked for" "$work/short.json"
run 0 empty compare "$(fault empty)#base" "$URL#base-disguised" $(ok_refs) "${N[@]}"
[ "$(field "$work/empty.json" 'd["verdict"]')" = inconclusive ]
grep -q "answers are empty" "$work/empty.json"
run 0 seed compare "$(fault ignoreseed)#base" "$URL#base-disguised" $(ok_refs) --prompts 24 --tokens 16 --no-cache --determinism-checks 4
[ "$(field "$work/seed.json" 'd["verdict"]')" = inconclusive ]
grep -q "repeated greedy requests came back different" "$work/seed.json"

# Unreachable server: one clear message naming the URL, no wait per request (the URL is marked down).
dead=$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()")
run 1 dead compare "http://127.0.0.1:$dead/v1#base" "$URL#base-disguised" $(ok_refs) "${N[@]}" --retries 2 --concurrency 1
grep -q "http://127.0.0.1:$dead/v1/completions (model 'base'):" "$work/err.txt"
[ "$(field "$work/dead.json" 'd["verdict"]')" = inconclusive ]
[ "$(field "$work/dead.json" 'sum(e["attempts"] for e in d["evidence"] if ":'$dead'/" in e["model"])')" -le 6 ]

# A wrong model name: the server's 404 message, naming the model; partial results of the others kept.
run 1 wrong compare "$URL#no-such-model" "$URL#base-disguised" $(ok_refs) "${N[@]}"
grep -q "no-such-model" "$work/err.txt"
grep -q "HTTP 404" "$work/err.txt"
[ "$(field "$work/wrong.json" 'sum(e["ok"] for e in d["evidence"])')" = $((3 * 26)) ]
echo "behave faults: ok"
