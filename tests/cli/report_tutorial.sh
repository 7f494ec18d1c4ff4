#!/usr/bin/env bash
# labels: cli
# docs/tutorial.md (and its Korean twin docs/tutorial.ko.md) quote real output. This runs the quick commands it quotes (tokenizer pairs, the compute budget,
# the loss-curve check, the upcycling test on the tutorial's family) and checks that each number the tutorial
# states is both in the tutorial and in the output, so neither can drift alone. The weight comparisons it quotes
# (1-2 minutes each on a busy 2-core machine) are covered by tests/cli/weights_compare.sh and the truth tables.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
F="$FROMSCRATCH"
T="$FROMSCRATCH_SOURCE_DIR/docs/tutorial.md"
TK="$FROMSCRATCH_SOURCE_DIR/docs/tutorial.ko.md"   # the Korean tutorial quotes the same output
M="${FROMSCRATCH_SHARED_DATA:-$FROMSCRATCH_SHARED_DATA_DEFAULT}/models"

# both FILE TEXT...: every TEXT is in both tutorials and in FILE (fixed strings).
both() {
  local file=$1; shift
  for s in "$@"; do
    grep -qF -- "$s" "$T" || { echo "docs/tutorial.md no longer says: $s"; exit 1; }
    grep -qF -- "$s" "$TK" || { echo "docs/tutorial.ko.md no longer says: $s"; exit 1; }
    grep -qF -- "$s" "$file" || { echo "the command no longer prints: $s"; cat "$file"; exit 1; }
  done
}

# The records themselves: entries numbered, one marker at the end.
for t in "$T" "$TK"; do
  "$F" qa scan "$t" --json > "$work/scan.json"
  /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["marker"] and d["marker_lines"]==1 and d["entries"]==d["highest_number"]>=9, d' "$work/scan.json"
  tail -n 1 "$t" | grep -q '^<!-- TUTORIAL_MARKER'
done

# Q8: the compute budget and the loss-curve check.
"$F" compute --config upstage/Solar-Open-100B --tokens 19.7e12 --gpu b200 --mfu 0.4 --gpus 1000 > "$work/compute.txt"
both "$work/compute.txt" "N (params per token): 11249526784" "training FLOPs:       1.330e+24" "GPU-hours:            410399" \
  "days on 1000 GPUs:  17.1"
D="$FROMSCRATCH_SOURCE_DIR/tests/data/arch"
"$F" compute loss-curve "$D/loss_from_scratch.csv" --config upstage/Solar-Open-100B > "$work/scratch.txt"
both "$work/scratch.txt" "verdict: consistent_with_random_init" "loss 12.439 nats; ln V = ln 196608 = 12.189"
"$F" compute loss-curve "$D/loss_continued.csv" --config upstage/Solar-Open-100B > "$work/continued.txt"
both "$work/continued.txt" "verdict: inconsistent_with_training_from_scratch" "9.74 nats below ln V"

# Q6: the parent-free upcycling test on the tutorial's family (only the members it needs).
"$F" synth family --template solar-open --scale tiny --seed 7 --members base,upcycled --out "$work/fam" --threads 2 > /dev/null
"$F" weights upcycling "$work/fam/upcycled" --threads 2 2> /dev/null | sed "s|$work/||" > "$work/up.txt"
both "$work/up.txt" "verdict: upcycled" "112 of 112 expert pairs share neurons" "80 of 80 neurons agree, log10 p = -116.806"
"$F" weights upcycling "$work/fam/base" --threads 2 2> /dev/null | sed "s|$work/||" > "$work/base.txt"
both "$work/base.txt" "verdict: not_upcycled" "a pair sharing 7 of 80 neurons would have been detected" "0.0165"

# Q2: real tokenizers (the project's shared data).
if [ ! -d "$M" ]; then
  if [ "${FROMSCRATCH_REQUIRE_SHARED_DATA:-0}" = 1 ]; then echo "../shared/data is required but absent"; exit 1; fi
  echo "tokenizer part skipped: ../shared/data is absent"
else
  "$F" tokenizer compare "$M/meta-llama_Meta-Llama-3-8B" "$M/Qwen_Qwen2.5-tokenizer" > "$work/tok1.txt"
  both "$work/tok1.txt" "72.25%"
  grep -qF "71,871 consecutive tokens sit exactly 1,100 ids apart" "$T"
  grep -qF "108,749 shared merges are ranked alike (Kendall tau 0.9929)" "$T"
  grep -q "of base 72.25%" "$work/tok1.txt"
  grep -q -- "-1100: 71871 tokens (longest run 71871" "$work/tok1.txt"
  grep -q "Kendall 0.9929 over 108749 shared merges" "$work/tok1.txt"
  "$F" tokenizer compare "$M/mistralai_Mixtral-8x7B-v0.1" "$M/google_gemma-3-tokenizer_via-unsloth-gemma-3-1b-it" > "$work/tok2.txt"
  both "$work/tok2.txt" "97.85%"
  grep -qF "3 of 32,000 tokens" "$T"
  grep -q "^class              independent" "$work/tok2.txt"
  grep -q "3 / 32000 (0.01%)" "$work/tok2.txt"
  grep -q "Kendall tau 0.658" "$work/tok2.txt"
  "$F" tokenizer compare "$M/huggyllama_llama-7b" "$M/meta-llama_Llama-2-7b-chat-hf" > "$work/tok3.txt"
  grep -q "^class              identical" "$work/tok3.txt"
fi
echo "tutorial: every quoted number checked"
