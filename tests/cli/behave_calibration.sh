#!/usr/bin/env bash
# labels: cli long
# Calibration of the output-agreement test on real models: eleven tiny models trained independently on the same
# text (base, indep-a/b/c from tests/data/behave/models, pop-101..107 from tests/data/behave/population; the
# population of "unrelated models of the same kind"), 400 random prompt sets of 60 from a pool of 240 with
# random role assignments (A, B, R1, R2). Per measure (prefix agreement, first-token top-5 overlap) the
# p-values of the reference test must be uniform (KS p >= 0.01) and at most 1% of the resamples (the level,
# alpha = 0.01) may call an independent pair derived. Then the copies are still found (references indep-b and
# indep-c, as in tests/cli/behave.sh): base ~ base-disguised, and the light fine-tune base ~ base-ft once the
# population's spread (a calibration over pop-* only, --calibration) is pooled into the null. Measured numbers:
# docs/behaviour.md and results/behave-calibration.json.
set -euo pipefail
work=$(mktemp -d)
source "$FROMSCRATCH_SOURCE_DIR/tests/support/behave/server_lib.sh"
trap 'behave_stop_server; rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2; cat "$work/err.txt" 2>/dev/null >&2 || true' ERR
PY=/usr/bin/python3
D="$FROMSCRATCH_SOURCE_DIR/tests/data/behave"
mkdir -p "$work/models"
for m in base base-disguised base-ft indep-a indep-b indep-c; do ln -s "$D/models/$m.pt" "$work/models/$m.pt"; done
for f in "$D"/population/pop-*.pt; do ln -s "$f" "$work/models/$(basename "$f")"; done
behave_start_server "$work" --models "$work/models"
POP=()
for f in "$D"/population/pop-*.pt; do n=$(basename "$f" .pt); POP+=("$URL#$n"); done
SAME=("$URL#base" "$URL#indep-a" "$URL#indep-b" "$URL#indep-c" "${POP[@]}")
K=${#SAME[@]}
C=(--prompts 240 --tokens 12 --cache "$work/cache")
"$FROMSCRATCH" behave calibrate "${SAME[@]}" "${C[@]}" --sample 60 --resamples 400 --json > "$work/cal.json" 2> "$work/err.txt"
"$FROMSCRATCH" behave calibrate "${SAME[@]}" "${C[@]}" --sample 60 --resamples 400 > "$work/cal.txt" 2> "$work/err.txt"
grep -q "$((K * 240)) from cache, 0 sent" "$work/err.txt"
# the population's spread alone (pop-* only: base and base-ft are not in it), for --calibration below
"$FROMSCRATCH" behave calibrate "${POP[@]}" "${C[@]}" --sample 60 --resamples 200 --out "$work/pop.json" > "$work/pop.txt" 2> "$work/err.txt"
$PY - "$work/cal.json" "$work/cal.txt" "$K" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); text = open(sys.argv[2]).read(); K = int(sys.argv[3])
assert d["resamples"] == 400 and len(d["models"]) == K
for name, m in d["measures"].items():
    ps = sorted(m["p_values"]); n = len(ps)
    assert n == 400 and all(0 <= p <= 1 for p in ps)
    ks = max(max((i + 1) / n - p, p - i / n) for i, p in enumerate(ps))
    assert abs(ks - m["ks_d"]) < 1e-9, (ks, m["ks_d"])
    print(f"{name}: KS D = {m['ks_d']:.4f}, p = {m['ks_p']:.3f}, derived by this measure {m['derived']} of 400, "
          f"spread tau = {d['spread'][name]['tau']:.4f} over {d['spread'][name]['pairs']} pairs")
    assert m["ks_p"] >= 0.01, f"{name}: p-values not uniform across independent pairs"
assert set(d["measures"]) == {"prefix", "top_overlap"}
print("false derived:", d["false_derived"], "of 400", d["false_derived_pairs"])
# A level-0.01 test calls at most 1% of unrelated pairs derived: that is what the level means (measured: 0 of 400
# with a pool of 600 prompts, 1 of 400 with this pool of 240; docs/behaviour.md). More would be a null too narrow.
assert d["false_derived"] <= 4, d["false_derived"]
assert "NOT uniform" not in text
PYEOF
verdict() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))['verdict'])" "$1"; }
# the references of tests/cli/behave.sh (indep-b, indep-c); with pop-101 and pop-102 instead the fine-tune is found
# in about 3 of 4 random sets of 240 prompts, not always (docs/behaviour.md)
R=(--reference "$URL#indep-b" --reference "$URL#indep-c")
"$FROMSCRATCH" behave compare "$URL#base" "$URL#base-disguised" "${R[@]}" "${C[@]}" --json > "$work/dis.json" 2> "$work/err.txt"
[ "$(verdict "$work/dis.json")" = derived ]
"$FROMSCRATCH" behave compare "$URL#base" "$URL#base-ft" "${R[@]}" "${C[@]}" --calibration "$work/pop.json" --json > "$work/ft.json" 2> "$work/err.txt"
$PY - "$work/dis.json" "$work/ft.json" <<'PYEOF'
import json, sys
for f in sys.argv[1:]:
    d = json.load(open(f))
    print(d["a"].split("#")[1], "~", d["b"].split("#")[1], d["verdict"], "log10 p", d["log10_p"],
          {m["measure"]: m["log10_p"] for m in d["measures"]})
ft = json.load(open(sys.argv[2]))
assert ft["verdict"] == "derived", "the light fine-tune is found by the first-token overlap with the population's spread"
PYEOF
echo "behave calibration: ok"
