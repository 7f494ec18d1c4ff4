#!/usr/bin/env bash
# labels: cli
# `fromscratch device`: names the accelerator and why (here: the CPU twin, either built without CUDA or with
# no device), refuses a device it cannot use with exit 2, runs the self-check and the benchmark on a tiny
# checkpoint. On a machine with a GPU the same commands run on the device (ctest -L gpu has the exact tests).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
F="$FROMSCRATCH"
PY=/usr/bin/python3

"$F" device --help | grep -q "usage: fromscratch device"
"$F" device > "$work/out.txt"
cat "$work/out.txt"
grep -q "^accelerator: " "$work/out.txt"
"$F" device --json > "$work/dev.json"
device=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("yes" if d["device"] else "no")' "$work/dev.json")
if [ "$device" = no ]; then
  grep -Eq "accelerator: cpu \((built without CUDA|.*no CUDA device|.*cuBLAS)" "$work/out.txt"
  # Asking for a device that cannot run here is a usage error naming why.
  set +e; "$F" device --accelerator cuda > "$work/o" 2> "$work/e"; rc=$?; set -e
  [ "$rc" -eq 2 ] || { cat "$work/o" "$work/e"; echo "expected exit 2, got $rc"; exit 1; }
  grep -Eq "no CUDA device|not built into this binary|cuBLAS" "$work/e"
fi
FROMSCRATCH_ACCELERATOR=cpu "$F" device | grep -q "accelerator: cpu (requested)"
set +e; "$F" device --accelerator tpu > /dev/null 2> "$work/e"; rc=$?; set -e
[ "$rc" -eq 2 ] && grep -q "tpu" "$work/e"
set +e; "$F" device --bench "$work/none" > /dev/null 2> "$work/e"; rc=$?; set -e
[ "$rc" -ne 0 ] && grep -q "none" "$work/e"

"$F" device --check > "$work/check.txt"
grep -q "^check: ok" "$work/check.txt"
"$F" synth model --template solar-open --scale tiny --seed 3 --out "$work/m" > /dev/null 2>&1
"$F" device --bench "$work/m" --repeats 1 --json > "$work/bench.json"
"$PY" - "$work/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
b = d["bench"][0]
assert b["tensors"] > 10 and b["bytes"] > 0, b
for k in ("read", "decode", "moments", "sketch"):
    assert b["gbps"][k] > 0, (k, b)
print("bench", b["accelerator"], {k: round(v, 3) for k, v in b["gbps"].items()})
PY
echo "device: ok"
