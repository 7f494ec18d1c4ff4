#!/usr/bin/env bash
# labels: cli long
# Calibration of the output-agreement test on real models: four tiny models trained independently on the same
# text (base, indep-a, indep-b, indep-c; tests/data/behave/models/truth.json), 240 resampled prompt sets with
# random role assignments (A, B, R1, R2). The KS distance of the reference-test p-values from uniform and the
# number of false "derived" verdicts are measured and printed; the command must report them consistently (KS
# recomputed here) and say "NOT uniform" exactly when KS p < 0.01. What this measures on these models is in
# docs/behaviour.md (they are not exchangeable: indep-a and indep-c share a degenerate " the the" mode). The
# calibration of the test itself under exchangeability (uniform p-values, KS over 400 simulated prompt sets)
# is tests/unit/test_behave_stats.cpp.
set -euo pipefail
work=$(mktemp -d)
source "$FROMSCRATCH_SOURCE_DIR/tests/support/behave/server_lib.sh"
trap 'behave_stop_server; rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2; cat "$work/err.txt" 2>/dev/null >&2 || true' ERR
PY=/usr/bin/python3
behave_start_server "$work"
M=("$URL#base" "$URL#indep-a" "$URL#indep-b" "$URL#indep-c")
"$FROMSCRATCH" behave calibrate "${M[@]}" --prompts 120 --sample 60 --resamples 240 --tokens 12 \
  --cache "$work/cache" --json > "$work/cal.json" 2> "$work/err.txt"
"$FROMSCRATCH" behave calibrate "${M[@]}" --prompts 120 --sample 60 --resamples 240 --tokens 12 \
  --cache "$work/cache" > "$work/cal.txt" 2> "$work/err.txt"
grep -q "480 from cache, 0 sent" "$work/err.txt"
$PY - "$work/cal.json" "$work/cal.txt" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); text = open(sys.argv[2]).read()
ps = sorted(d["p_values"]); n = len(ps)
assert d["resamples"] == 240 and n == 240 and all(0 <= p <= 1 for p in ps)
ks = max(max((i + 1) / n - p, p - i / n) for i, p in enumerate(ps))
assert abs(ks - d["ks_d"]) < 1e-9, (ks, d["ks_d"])
assert ("NOT uniform" in text) == (d["ks_p"] < 0.01)
print(f"four independent same-text models: KS D = {d['ks_d']:.4f}, p = {d['ks_p']:.2e}, "
      f"false derived {d['false_derived']} of {d['resamples']}", d["false_derived_pairs"])
PYEOF
echo "behave calibration: ok"
