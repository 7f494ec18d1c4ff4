#!/usr/bin/env bash
# labels: cli long
# `fromscratch compare CANDIDATE --archive DIR` end to end: six members of a small synthetic family (truth
# known) are fingerprinted with forced sketching (every matrix sketched; norms and routers kept in full), the
# archived models are DELETED, and a disguised copy of the base and an independent model are compared with the
# archive. Each verdict must equal the full comparison of the same two models' tensors (`weights compare`, run
# before the deletion) and the truth; the same under mpiexec -n 2 (references split across ranks); a
# fingerprint given as the candidate; bad archives refused with clear messages.
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

"$F" compare --help | grep -q "usage: fromscratch compare CANDIDATE --archive DIR"
expect_rc 2 "$F" compare
expect_rc 2 "$F" compare "$work" --archive "$work/missing"
mkdir -p "$work/empty"
expect_rc 2 "$F" compare "$work" --archive "$work/empty"
grep -q "no fingerprint files" "$work/err.txt"
expect_rc 2 "$F" compare "$work" --archive "$work/empty" --matched-draws-max 5   # usage, before the archive is read: below --matched-draws (39)
grep -q "matched-draws-max 5" "$work/err.txt"

fam="$work/fam"
"$F" synth family --template solar-open --scale tiny --seed 7 --hidden 128 --layers 2 --experts 4 --vocab 512 \
  --out "$fam" --members base,independent,fine-tuned,expert-permuted,continued-pretraining,upcycled,disguised > /dev/null
draws=(--null-draws 100 --matched-draws 19)
sketch=(--full-max-elements 0 --sketch-dim 32)

# Full comparisons first (the models are deleted below).
declare -A full
for ref in base independent fine-tuned expert-permuted continued-pretraining upcycled; do
  for cand in disguised independent; do
    [ "$ref" = "$cand" ] && continue
    "$F" weights compare "$fam/$cand" "$fam/$ref" --json --quiet "${draws[@]}" > "$work/full.json"
    full[$cand/$ref]=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$work/full.json")
  done
done

mkdir -p "$work/archive"
for ref in base independent fine-tuned expert-permuted continued-pretraining upcycled; do
  "$F" fingerprint "$fam/$ref" --out "$work/archive/$ref.h5" --name "$ref" --quiet "${sketch[@]}"
done
"$F" fingerprint "$fam/independent" --out "$work/cand-independent.h5" --name independent-candidate --quiet "${sketch[@]}"
cp -r "$fam/disguised" "$work/disguised"
cp -r "$fam/independent" "$work/independent"
rm -rf "$fam"  # the archived models are gone

check() {  # check RESULT.json CANDIDATE: every verdict equals the full comparison and the truth
  $PY - "$1" "$2" "$work/full.tsv" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
cand = sys.argv[2]
full = dict(line.split("\t") for line in open(sys.argv[3]).read().splitlines())
truth_derived = {"base", "fine-tuned", "expert-permuted", "continued-pretraining"}
res = doc["results"]
assert len(res) == (6 if cand == "disguised" else 5), len(res)
if cand == "independent":  # its own fingerprint is in the archive: skipped, not compared
    assert [s["reference"] for s in doc["skipped"]] == ["independent"], doc["skipped"]
scores = [r["evidence_score"] for r in res]
assert scores == sorted(scores, reverse=True), scores
for r in res:
    ref = r["reference"]
    want_full = full[f"{cand}/{ref}"]
    assert r["verdict"] == want_full, (cand, ref, r["verdict"], want_full)
    truth = "derived" if (cand == "disguised" and ref in truth_derived) else "independent"
    assert r["verdict"] == truth, (cand, ref, r["verdict"], truth)
    print(f"{cand:12s} {ref:24s} {r['verdict']:12s} (full: {want_full}) score {r['evidence_score']:.1f}")
assert doc["fingerprints"] == 6
assert doc["sketch"]["sketch_dim"] == 32 and doc["sketch"]["full_max_elements"] == 0
EOF
}
for k in "${!full[@]}"; do printf '%s\t%s\n' "$k" "${full[$k]}"; done > "$work/full.tsv"

"$F" compare "$work/disguised" --archive "$work/archive" --json --quiet "${draws[@]}" --archive-null off > "$work/d.json"
check "$work/d.json" disguised
# The archive's independent pairs as an empirical null (base/independent/upcycled are mutually independent).
"$F" compare "$work/cand-independent.h5" --archive "$work/archive" --json --quiet "${draws[@]}" --archive-null on > "$work/i.json"
check "$work/i.json" independent
$PY - "$work/i.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
n = doc["archive_null"]
assert n["used"] and len(n["pairs"]) == 15, n
assert n["independent_pairs"] >= 3, n
for r in doc["results"]:
    assert 0 < r["empirical_p_vs_archive"] <= 1
EOF
# Same verdicts and scores with the references split over two ranks.
if command -v mpiexec > /dev/null; then
  mpi=(mpiexec -n 2)
  [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root --oversubscribe)
  "${mpi[@]}" "$F" compare "$work/disguised" --archive "$work/archive" --json --quiet "${draws[@]}" --archive-null off > "$work/d2.json"
  $PY - "$work/d.json" "$work/d2.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert b["ranks"] == 2
ka = [(r["reference"], r["verdict"], r["evidence_score"]) for r in a["results"]]
kb = [(r["reference"], r["verdict"], r["evidence_score"]) for r in b["results"]]
assert ka == kb, (ka, kb)
EOF
fi
# `weights compare` takes a fingerprint in place of a folder (the folder side is fingerprinted alike).
"$F" weights compare "$work/disguised" "$work/archive/base.h5" --json --quiet "${draws[@]}" > "$work/w.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verdict"] == "derived" and d["fingerprints"]["b"], d["verdict"]' "$work/w.json"
"$F" weights compare "$work/archive/independent.h5" "$work/archive/base.h5" --json --quiet "${draws[@]}" > "$work/w.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verdict"] == "independent", d["verdict"]' "$work/w.json"
# Plain text output names every reference.
"$F" compare "$work/disguised" --archive "$work/archive" --quiet "${draws[@]}" --archive-null off > "$work/text.txt"
for ref in base independent fine-tuned expert-permuted continued-pretraining upcycled; do grep -q "$ref" "$work/text.txt"; done

# Bad archives: a corrupt fingerprint named in the error; mixed sketch options refused.
cp "$work/archive/base.h5" "$work/bad.h5"
mkdir -p "$work/corrupt" && cp "$work/archive/upcycled.h5" "$work/corrupt/" && head -c 5000 "$work/bad.h5" > "$work/corrupt/zz.h5"
set +e; "$F" compare "$work/disguised" --archive "$work/corrupt" --quiet > "$work/out.txt" 2> "$work/err.txt"; rc=$?; set -e
# A truncated file no longer looks like a fingerprint (skipped) or is named in the error: never a crash.
[ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && grep -q "zz.h5" "$work/err.txt"; }
mkdir -p "$work/mixed" && cp "$work/archive/base.h5" "$work/mixed/"
"$F" fingerprint "$work/independent" --out "$work/mixed/other.h5" --quiet --sketch-dim 16
expect_rc 2 "$F" compare "$work/disguised" --archive "$work/mixed" --quiet
grep -q "other sketch options" "$work/err.txt"
echo "compare --archive: all checks passed"
