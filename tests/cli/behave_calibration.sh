#!/usr/bin/env bash
# labels: cli
# Calibration of the output-agreement test on real models: four tiny models trained independently on the same
# text (base, indep-a, indep-b, indep-c; tests/data/behave/models/truth.json). Over 240 resampled prompt sets
# with random role assignments (A, B, R1, R2), the p-values of the reference test must be uniform (KS) and no
# resample may call the independent pair "derived".
set -euo pipefail
work=$(mktemp -d)
source "$FROMSCRATCH_SOURCE_DIR/tests/support/behave/server_lib.sh"
trap 'behave_stop_server; rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2; cat "$work/err.txt" 2>/dev/null >&2 || true' ERR
PY=/usr/bin/python3
behave_start_server "$work"
"$FROMSCRATCH" behave calibrate "$URL#base" "$URL#indep-a" "$URL#indep-b" "$URL#indep-c" \
  --prompts 120 --sample 60 --resamples 240 --tokens 12 --cache "$work/cache" --json > "$work/cal.json" 2> "$work/err.txt"
$PY - "$work/cal.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"KS D = {d['ks_d']:.4f}, p = {d['ks_p']:.4f}, false derived {d['false_derived']} of {d['resamples']}")
assert d["resamples"] == 240 and len(d["p_values"]) == 240
assert d["ks_p"] >= 0.01, "p-values of independent pairs are not uniform"
assert d["false_derived"] == 0
PYEOF
"$FROMSCRATCH" behave calibrate "$URL#base" "$URL#indep-a" "$URL#indep-b" "$URL#indep-c" \
  --prompts 120 --sample 60 --resamples 240 --tokens 12 --cache "$work/cache" > "$work/cal.txt" 2> "$work/err.txt"
grep -q "0 sent" "$work/err.txt"
grep -q "KS D" "$work/cal.txt"
echo "behave calibration: ok"
