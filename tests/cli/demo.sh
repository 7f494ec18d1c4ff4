#!/usr/bin/env bash
# labels: cli
# `fromscratch demo` runs on its embedded default, at 1 and 2 ranks with the same findings, and its findings
# match the family's truth: exact reuse where the truth says bytes were kept, none for independent members.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
"$FROMSCRATCH" demo --help | grep -q -- "--template"
"$FROMSCRATCH" demo > "$work/demo.txt"
grep -q "exact reuse by tensor digests" "$work/demo.txt"
"$FROMSCRATCH" demo --json --out "$work/fam" > "$work/d1.json"
"$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" demo --json > "$work/d2.json"
test -f "$work/fam/truth.json"
# --out is kept and not overwritten without --force.
set +e; "$FROMSCRATCH" demo --out "$work/fam" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { echo "expected exit 2 when --out exists, got $rc"; exit 1; }
$PY - "$work/d1.json" "$work/d2.json" "$work/fam/truth.json" <<'PYEOF'
import json, sys
d1, d2, truth = (json.load(open(p)) for p in sys.argv[1:4])
strip = lambda d: [{k: v for k, v in m.items()} for m in d["members"]]
assert strip(d1) == strip(d2), "1 and 2 ranks disagree"
m = {r["member"]: r for r in d1["members"]}
relations = {x["name"]: x["relation"] for x in truth["members"]}
for name, r in m.items():
    assert r["relation"] == relations[name], name
exact = lambda r: r["identical"] + r["rows_permuted"] + r["rows_elsewhere"]
for name in ("independent", "same-init", "continued-pretraining", "upcycled", "dense"):
    assert exact(m[name]) == 0, (name, m[name])
assert m["expert-permuted"]["rows_elsewhere"] > 0 and m["expert-permuted"]["identical"] > 0
norms = sum(v["tensors"] for k, v in d1["base_inventory"]["by_role_group"].items() if k == "norm")
assert m["norm-only"]["small_identical"] == norms, (m["norm-only"]["small_identical"], norms)
assert m["independent"]["small_identical"] == 0
print("demo: ok")
PYEOF
