#!/usr/bin/env bash
# labels: cli long
# `fromscratch weights compare` and `weights upcycling` end to end on a tiny synthetic Solar-Open family whose
# truth is known (truth.json): every derived member found, the independent member not flagged, the disguised
# members (signed permutation; rotation) found through the alignment, the upcycling test separating the
# upcycled member from the from-scratch one; help, exit codes, --json fields, --h5 without --force, bad input.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"

expect_rc() {  # expect_rc CODE command...
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

# ---- help and usage ----
"$F" weights --help > "$work/help.txt"; grep -q "compare    every applicable calibrated test" "$work/help.txt"
"$F" weights compare --help > "$work/help.txt"; grep -q "usage: fromscratch weights compare" "$work/help.txt"
"$F" weights upcycling --help > "$work/help.txt"; grep -q "usage: fromscratch weights upcycling" "$work/help.txt"
expect_rc 2 "$F" weights
expect_rc 2 "$F" weights frobnicate
expect_rc 2 "$F" weights compare onlyone
expect_rc 2 "$F" weights compare a b --null-draws 3
expect_rc 2 "$F" weights compare a b --matched-draws-max 5   # below --matched-draws (39)

"$F" synth family --template solar-open --scale tiny --seed 7 --out "$work/fam" \
  --members base,independent,fine-tuned,continued-pretraining,expert-permuted,norm-only,same-init,disguised,disguised-rotated,depth-pruned,upcycled,re-tokenized > /dev/null
fam="$work/fam"

verdict() {  # verdict A B -> prints the verdict, keeps the JSON in $work/last.json
  "$F" weights compare "$fam/$1" "$fam/$2" --json --quiet --matched-draws 19 > "$work/last.json"
  $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$work/last.json"
}

[ "$(verdict base independent)" = independent ]
$PY - "$work/last.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
fam = [r for r in d["records"] if r["family"]]
assert fam and all(r["log10_p_adjusted"] > -2 for r in fam), "an independent pair must not reject"
assert d["power"]["same_basis_min_detectable_r"] < 0.05
assert "NOT evidence" in d["raw_cosine_not_evidence"]["label"]
for k in ("a", "b", "reason", "records", "alignment", "layer_maps", "not_compared", "compared"):
    assert k in d, k
PYEOF
for m in fine-tuned continued-pretraining expert-permuted disguised disguised-rotated depth-pruned; do
  v=$(verdict base "$m"); [ "$v" = derived ] || { echo "base vs $m: $v"; exit 1; }
done
# The disguised copy is found only through the alignment, and its evidence is in the matrices.
verdict base disguised > /dev/null
$PY - "$work/last.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
fam = {r["scope"]: r for r in d["records"] if r["family"]}
assert fam["every tensor with a hidden axis"]["log10_p_adjusted"] > -2, "same-basis must not see a permuted basis"
assert fam["alignment=signed_permutation"]["log10_p_adjusted"] < -10
assert d["alignment"]["signed_permutation"]["mean_abs_matched_column_r"] > 0.99
PYEOF
# Two disguises at once: new embeddings (re-tokenized) against a rotated basis with folded norms. No shared
# token bridges the bases; the rotation recovered from the attention Gram matrices does (one of its two signs).
[ "$(verdict re-tokenized disguised-rotated)" = derived ]
$PY - "$work/last.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
fam = {r["scope"]: r for r in d["records"] if r["family"]}
assert "signed_permutation" not in d["alignment"], "no shared tokens: no embedding alignment"
assert d["alignment"]["layer_rotation"]["mean_gram_agreement"] > 0.99, d["alignment"]["layer_rotation"]
best = min(fam["alignment=layer_rotation"]["log10_p_adjusted"], fam["alignment=layer_rotation_negated"]["log10_p_adjusted"])
assert best < -10, best
PYEOF
# ... and against an unrelated model the same recovery finds nothing.
[ "$(verdict independent disguised-rotated)" = independent ]
# The matched tests' second stage. Shared initialisation only, against a rotated copy: z 4.3 after the 39
# first draws, none reaching the observation, so the draws go on (here to 79; by default to 1999, which makes
# the pair `derived`); within a budget of draws x elements, which 1 forbids (a warning says so); and not at
# all where another family test already rejects (disguised vs fine-tuned: layer_signed_permutation, z 3.7 after
# 19 draws, chosen for its margin above 3; the verdict comes from the embedding alignment).
"$F" weights compare "$fam/same-init" "$fam/disguised-rotated" --json --quiet --matched-draws-max 79 > "$work/s79.json"
"$F" weights compare "$fam/same-init" "$fam/disguised-rotated" --json --quiet --matched-draws-max 79 \
  --matched-budget 1 > "$work/sb.json"
"$F" weights compare "$fam/disguised" "$fam/fine-tuned" --json --quiet --matched-draws 19 > "$work/sd.json"
$PY - "$work/s79.json" "$work/sb.json" "$work/sd.json" <<'PYEOF'
import json, sys
rot = lambda d: [r for r in d["records"] if r["scope"] == "alignment=rotation"][0]
s79, sb, sd = (json.load(open(f)) for f in sys.argv[1:4])
r = rot(s79)
assert r["null_draws"] == 79 and "drawn on to 79" in r["note"], r
r = rot(sb)
assert r["null_draws"] == 39 and "budget is 1" in r["note"], r
assert any("second stage" in w and "not run" in w for w in sb["warnings"]), sb["warnings"]
assert sd["verdict"] == "derived"
skipped = [r for r in sd["records"] if "a family test already rejects" in r.get("note", "")]
assert skipped and all(r["null_draws"] == 19 for r in skipped), [r.get("note") for r in sd["records"]]
PYEOF
expect_rc 2 "$F" weights compare a b --matched-budget -1
# Norm vectors copied byte for byte, every matrix independent: derived, with the evidence in the norms only.
verdict base norm-only > /dev/null
$PY - "$work/last.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "derived" and d["evidence_components"] == ["norms"], d["evidence_components"]
PYEOF
# Depth pruning: the layer map pairs the kept layers, not layer i with layer i.
verdict base depth-pruned > /dev/null
$PY - "$work/last.json" "$fam/truth.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
m = [x for x in t["members"] if x["name"] == "depth-pruned"][0]
kept = m["description"]["params"].get("kept_layers") or m["description"]["params"].get("layers_kept")
lm = d["layer_maps"]["input_norm"]
pairs = {b: a for a, b in lm["assignment"]}
if kept:
    for j, src in enumerate(kept):
        assert pairs.get(j) == src, (j, src, lm["assignment"])
PYEOF
# Upcycling: parent-free test separates the upcycled member from the from-scratch one.
"$F" weights upcycling "$fam/upcycled" --json --quiet > "$work/up.json"
"$F" weights upcycling "$fam/base" --json --quiet > "$work/base.json"
$PY - "$work/up.json" "$work/base.json" <<'PYEOF'
import json, sys
up = json.load(open(sys.argv[1])); base = json.load(open(sys.argv[2]))
assert up["verdict"] == "upcycled", up["reason"]
assert base["verdict"] == "not_upcycled", base["reason"]
PYEOF

# ---- outputs and bad input ----
"$F" weights compare "$fam/base" "$fam/fine-tuned" --quiet --no-alignment --h5 "$work/r.h5" > /dev/null
expect_rc 2 "$F" weights compare "$fam/base" "$fam/fine-tuned" --quiet --h5 "$work/r.h5"
h5dump -A "$work/r.h5" > "$work/r.txt"; grep -q "ATTRIBUTE \"verdict\"" "$work/r.txt"; grep -q "derived" "$work/r.txt"
# Incomparable models (a dense parent vs a MoE at another width) compare what they can and say what not.
"$F" synth family --template mixtral --scale tiny --seed 3 --members base --out "$work/mx" > /dev/null
"$F" weights compare "$fam/base" "$work/mx/base" --json --quiet --matched-draws 9 > "$work/x.json"
$PY - "$work/x.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] in ("independent", "inconclusive"), d["verdict"]
assert len(d["not_compared"]) > 0
PYEOF
# A corrupt checkpoint is a clear error (exit 1) naming the file.
printf 'garbage' > "$work/bad.safetensors"
expect_rc 1 "$F" weights compare "$work/bad.safetensors" "$fam/base"
grep -q "bad.safetensors" "$work/err.txt"
# NaN and Inf are counted and reported, never inside a statistic.
$PY - "$fam/base/model.safetensors" "$work/nan.safetensors" <<'PYEOF'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
b = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
name = sorted(k for k in h if k.endswith("layers.0.self_attn.k_proj.weight"))[0]
off = 8 + n + h[name]["data_offsets"][0]
b[off:off + 2] = b"\xc0\x7f"   # BF16 NaN
b[off + 2:off + 4] = b"\x80\x7f"  # BF16 +Inf
open(dst, "wb").write(bytes(b))
PYEOF
cp "$fam/base/config.json" "$work/"
"$F" weights compare "$work/nan.safetensors" "$fam/fine-tuned" --json --quiet --matched-draws 9 > "$work/nan.json"
$PY - "$work/nan.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "derived"
assert sum(d["nonfinite"]["a"].values()) == 2, d["nonfinite"]
assert any("non-finite" in w for w in d["warnings"])
PYEOF
echo "weights compare: all checks passed"
