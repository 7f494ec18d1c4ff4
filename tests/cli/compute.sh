#!/usr/bin/env bash
# labels: cli
# `fromscratch compute` end to end: the training budget with the peak figures printed, claimed budgets, the
# loss-curve check on generated logs (random-init start, trained start, late start), exit codes, outputs.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"
D="$FROMSCRATCH_SOURCE_DIR/tests/data/arch"

expect_rc() {
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

"$F" compute --help > "$work/pipe.txt"
grep -q -- "--tokens" "$work/pipe.txt"
"$F" compute loss-curve --help > "$work/pipe.txt"
grep -q -- "--max-first-step" "$work/pipe.txt"
"$F" compute gpus > "$work/pipe.txt"
grep -q "b200" "$work/pipe.txt"
expect_rc 2 "$F" compute
expect_rc 2 "$F" compute --config upstage/Solar-Open-100B --tokens 1e12 --gpu tpu
expect_rc 2 "$F" compute --config upstage/Solar-Open-100B --tokens 1e12 --mfu 0
expect_rc 2 "$F" compute --config upstage/Solar-Open-100B --params 5 --tokens 1e12
expect_rc 2 "$F" compute frobnicate

# The Solar claim: 19.7T tokens on B200 at 40% MFU; the peak and its source are printed.
"$F" compute --config upstage/Solar-Open-100B --tokens 19.7e12 --gpu b200 --mfu 0.4 --gpus 1000 > "$work/solar.txt"
grep -q "BF16 dense 2250.0 TFLOPS" "$work/solar.txt"
grep -q "days on 1000 GPUs" "$work/solar.txt"
"$F" compute --config upstage/Solar-Open-100B --tokens 19.7e12 --gpu b200 --json > "$work/solar.json"
$PY - "$work/solar.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert abs(d["flops_total"] - 6 * d["n_params"] * 19.7e12) < 1e-6 * d["flops_total"]
assert abs(d["gpu_hours"] - d["flops_total"] / (2250e12 * 0.4) / 3600) < 1e-6 * d["gpu_hours"]
assert "source" in d["gpu"] and d["gpu"]["bf16_dense_tflops"] == 2250.0
PYEOF
# A budget below what the hardware can deliver is impossible.
"$F" compute --params 10000000000 --tokens 1e12 --claimed-gpu-hours 100 > "$work/pipe.txt"
grep -q "impossible" "$work/pipe.txt"

# Loss curves (V from the Solar config: ln 196608 = 12.189).
"$F" compute loss-curve "$D/loss_from_scratch.csv" --config upstage/Solar-Open-100B > "$work/pipe.txt"
grep -q "verdict: consistent_with_random_init" "$work/pipe.txt"
"$F" compute loss-curve "$D/loss_continued.csv" --config upstage/Solar-Open-100B > "$work/pipe.txt"
grep -q "verdict: inconsistent_with_training_from_scratch" "$work/pipe.txt"
"$F" compute loss-curve "$D/loss_late_start.csv" --vocab 196608 > "$work/pipe.txt"
grep -q "verdict: undetermined" "$work/pipe.txt"
"$F" compute loss-curve "$D/loss_continued.csv" --vocab 196608 --json --h5 "$work/loss.h5" > "$work/loss.json"
$PY - "$work/loss.json" <<'PYEOF'
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "inconsistent_with_training_from_scratch"
assert abs(d["ln_vocab"] - math.log(196608)) < 1e-12
assert d["first"]["step"] == 1 and len(d["caveats"]) >= 3
PYEOF
test -f "$work/loss.h5"
expect_rc 2 "$F" compute loss-curve "$D/loss_continued.csv" --vocab 196608 --h5 "$work/loss.h5"
expect_rc 2 "$F" compute loss-curve "$D/loss_continued.csv"
expect_rc 2 "$F" compute loss-curve "$D/loss_continued.csv" --vocab 1
printf 'step,tokens,loss\n0,0,12\n0,10,11\n' > "$work/bad.csv"
expect_rc 1 "$F" compute loss-curve "$work/bad.csv" --vocab 1000
grep -q "bad.csv: line '3': step = 0: steps must increase" "$work/err.txt"
expect_rc 1 "$F" compute loss-curve "$work/absent.csv" --vocab 1000
echo "compute: ok"
