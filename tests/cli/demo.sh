#!/usr/bin/env bash
# labels: cli
# `fromscratch demo` runs on its embedded default (no download): it generates the families, verifies both
# candidates against both references, and every verdict matches the family's truth (the disguised copy is
# found derived from reference-A; everything else is independent). It writes one report per candidate and
# refuses to replace a folder it did not make without --force.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
"$FROMSCRATCH" demo --help | grep -q -- "--out"
"$FROMSCRATCH" demo --out "$work/demo" --json > "$work/d.json" 2> "$work/progress.txt"
$PY - "$work/d.json" "$work/demo" <<'PYEOF'
import json, os, sys
d = json.load(open(sys.argv[1])); root = sys.argv[2]
rows = {(r["candidate"], r["reference"]): r for r in d["rows"]}
assert len(rows) == 4, rows.keys()
assert rows[("candidate-1", "reference-A")]["verdict"] == "derived", rows[("candidate-1", "reference-A")]
for k in (("candidate-1", "reference-B"), ("candidate-2", "reference-A"), ("candidate-2", "reference-B")):
    assert rows[k]["verdict"] == "independent", rows[k]
assert d["all_agree"] is True
assert rows[("candidate-1", "reference-A")]["tokenizer"] == "identical"
assert rows[("candidate-2", "reference-A")]["tokenizer"] == "independent"
truth = json.load(open(os.path.join(root, "family", "truth.json")))
rel = {m["name"]: m["relation"] for m in truth["members"]}
assert rel["disguised"] == "disguised" and rel["independent"] == "independent", rel
for p in d["reports"]:
    assert os.path.getsize(p) > 10000, p
    s = json.load(open(os.path.join(os.path.dirname(p), "summary.json")))
    assert s["verdict"]["overall"] in ("derived", "independent")
print("demo: ok")
PYEOF
# The text form prints the verdicts next to the truth and the report paths.
"$FROMSCRATCH" demo --out "$work/demo" --force > "$work/d.txt" 2> /dev/null
grep -q "Every verdict matches the truth" "$work/d.txt"
grep -q "verify-candidate-1/report.html" "$work/d.txt"
# An existing folder is not replaced without --force.
mkdir "$work/other"; echo keep > "$work/other/file"
set +e; "$FROMSCRATCH" demo --out "$work/other" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { echo "expected exit 2 when --out exists, got $rc"; exit 1; }
grep -q keep "$work/other/file"
