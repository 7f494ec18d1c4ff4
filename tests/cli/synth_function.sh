#!/usr/bin/env bash
# labels: cli
# Function preservation, checked by an independent PyTorch forward pass (scripts/synth_forward.py, float64,
# 3 sequences of 12 tokens) on tiny families of every MoE template and one dense template:
#   disguised          vs fine-tuned: the same logits to float64 rounding (rel. diff <= 1e-9)
#   disguised-rotated  vs fine-tuned: the same logits to F32 storage rounding (rel. diff <= 1e-5)
#   expert-permuted    vs base: the same logits (rel. diff <= 1e-9)
#   fine-tuned         vs base: different logits (the control: rel. diff > 1e-3)
# width-pruned and depth-pruned run through the forward pass their config.json describes (finite logits).
# A BF16-stored rotation is measured, not judged. Skipped (77) when /usr/bin/python3 has no torch.
set -euo pipefail
PY=/usr/bin/python3
F="$FROMSCRATCH"
S="$FROMSCRATCH_SOURCE_DIR/scripts/synth_forward.py"
if ! $PY -c "import torch, numpy" 2> /dev/null; then
  echo "skipped: /usr/bin/python3 has no torch (Debian: python3-torch)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR

for t in solar-open glm4-moe mixtral llama; do
  members=disguised,disguised-rotated,width-pruned,depth-pruned
  [ "$t" = llama ] || members=$members,expert-permuted
  "$F" synth family --template $t --scale tiny --seed 7 --members $members --out "$work/$t" --threads 2 > /dev/null 2>&1
  $PY "$S" family "$work/$t" | tee "$work/$t.jsonl"
  # Every expected check ran.
  test "$(grep -c '"ok": true' "$work/$t.jsonl")" -eq "$([ $t = llama ] && echo 5 || echo 6)"
done

"$F" synth family --template glm4-moe --scale tiny --seed 7 --members disguised-rotated --rotated-dtype bf16 \
  --out "$work/bf16" --threads 2 > /dev/null 2>&1
$PY "$S" family "$work/bf16" | tee "$work/bf16.jsonl"
$PY - "$work/bf16.jsonl" <<'PYEOF'
import json, math, sys
r = [json.loads(l) for l in open(sys.argv[1])]
rot = next(x for x in r if x.get("b") == "disguised-rotated")
assert rot["expect"] is None and math.isfinite(rot["rel_diff"]), rot
PYEOF
echo "synth function: ok"
