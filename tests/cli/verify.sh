#!/usr/bin/env bash
# labels: cli
# `fromscratch verify` on local folders: verdicts that match a synthetic family's truth, the four output files,
# numbers that name the results.h5 entry holding them, refusal to overwrite without --force, a job file under
# mpiexec -n 2, and bad inputs (no weights, no tokenizer, no config, a config that disagrees with its
# checkpoint, an output path that cannot be created, no gnuplot) that are findings or clear errors, not crashes.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
F="$FROMSCRATCH"
TOK="$FROMSCRATCH_SOURCE_DIR/tests/data/trained/moe-b/tokenizer.json"
TOK2="$FROMSCRATCH_SOURCE_DIR/tests/data/trained/moe-a-reembed/tokenizer.json"
FAST=(--null-draws 19 --matched-draws 9 --threads 2 --quiet)

"$F" verify --help | grep -q -- "--against"
"$F" synth family --template solar-open --seed 11 --out "$work/fam" --members base,independent,fine-tuned \
  --hidden 64 --layers 2 --experts 4 --vocab 512 > /dev/null
cp "$TOK" "$work/fam/base/"; cp "$TOK" "$work/fam/fine-tuned/"; cp "$TOK2" "$work/fam/independent/"

# 1. Local folders.
"$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" "$work/fam/independent" --out "$work/o1" \
  --tokens 1e9 --json "${FAST[@]}" > "$work/s1.json"
for f in report.html report.md summary.json results.h5; do test -s "$work/o1/$f"; done
cmp <($PY -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$work/s1.json") \
    <($PY -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$work/o1/summary.json")
$PY - "$work/o1" <<'PYEOF'
import json, sys, h5py, re
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
assert s["verdict"]["overall"] == "derived", s["verdict"]
assert s["verdict"]["by_reference"] == {"base": "derived", "independent": "independent"}, s["verdict"]
pairs = {p["reference"]: p for p in s["pairs"]}
assert pairs["base"]["channels"]["weights"]["status"] == "run"
assert pairs["base"]["channels"]["tokenizer"]["verdict"] == "identical"
assert pairs["independent"]["channels"]["tokenizer"]["verdict"] == "independent"
assert pairs["base"]["channels"]["architecture"]["status"] == "run"
assert s["compute"]["status"] == "run"
# The strongest evidence names the HDF5 attribute that holds it, and the value there is the same.
ev = pairs["base"]["strongest_evidence"]
group, attr = ev["results_h5"].split("@")
with h5py.File(d + "/results.h5", "r") as f:
    assert abs(float(f[group].attrs[attr]) - ev["log10_p_adjusted"]) <= 1e-9 * max(1, abs(ev["log10_p_adjusted"]))
    assert f["verdict"].attrs["overall"] in (b"derived", "derived")
    # Every locator printed in report.md resolves.
    md = open(d + "/report.md").read()
    locs = re.findall(r"`(/[^`@\[]+)(@[^`]+|\[[0-9,]+\])`", md)
    assert len(locs) > 10, len(locs)
    for g, tail in locs:
        if tail.startswith("@"):
            assert tail[1:] in f[g].attrs, (g, tail)
        else:
            idx = tuple(int(x) for x in tail[1:-1].split(","))
            f[g][idx]
html = open(d + "/report.html").read()
assert html.count("<svg") >= 4, html.count("<svg")
assert "http://" not in html.replace("http://www.w3.org/", "") and "https://" not in html
assert "Channels not run" not in html, "every channel ran"
print("verify local folders: ok")
PYEOF

# 2. No overwrite without --force; --force replaces.
set +e; "$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/o1" "${FAST[@]}" > /dev/null 2> "$work/err"; rc=$?; set -e
[ $rc -eq 2 ] || { echo "expected exit 2 on an existing report, got $rc"; exit 1; }
grep -q -- "--force" "$work/err"
"$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/o1" --force "${FAST[@]}" > /dev/null
$PY -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["references"]==["base"], s["references"]' "$work/o1/summary.json"
ls -a "$work" | grep -q '\.o1\.' && { echo "temporary folder left behind"; exit 1; }

# 3. A job file under mpiexec -n 2: the same verdicts.
cat > "$work/job.json" <<EOF
{"command": "verify", "args": ["$work/fam/independent", "--against", "$work/fam/base", "--null-draws", "19",
 "--matched-draws", "9", "--threads", "1"], "ranks": 2}
EOF
"$MPIEXEC" -n 2 --oversubscribe "$F" verify --job "$work/job.json" --out "$work/o2" --json --quiet > "$work/s2.json"
$PY -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["verdict"]["overall"]=="independent", s["verdict"]' "$work/s2.json"
set +e; "$F" verify "$work/fam/base" --against "$work/fam/fine-tuned" --out "$work/o4" --matched-draws-max 5 > /dev/null 2> "$work/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "matched-draws-max 5" "$work/err" || { echo "--matched-draws-max below --matched-draws must be a usage error, got $rc"; exit 1; }
set +e; "$F" verify --job "$work/fam/base/config.json" --out "$work/o3" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { echo "a job that is not a verify job must be a usage error, got $rc"; exit 1; }

# 4. Bad inputs: no weights / no tokenizer / no config / a config that disagrees with its checkpoint.
mkdir -p "$work/cfgonly" "$work/noconfig" "$work/bad"
cp "$work/fam/fine-tuned/config.json" "$work/cfgonly/"
cp "$work/fam/fine-tuned/model.safetensors" "$work/noconfig/"
cp "$work/fam/fine-tuned/model.safetensors" "$work/bad/"
$PY - "$work/fam/fine-tuned/config.json" "$work/bad/config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1])); c["num_hidden_layers"] += 1
json.dump(c, open(sys.argv[2], "w"))
PYEOF
"$F" verify "$work/cfgonly" --against "$work/fam/base" --out "$work/o4" --json "${FAST[@]}" > "$work/s4.json"
"$F" verify "$work/noconfig" --against "$work/fam/base" --out "$work/o5" --json "${FAST[@]}" > "$work/s5.json"
"$F" verify "$work/bad" --against "$work/fam/base" --out "$work/o6" --json "${FAST[@]}" > "$work/s6.json"
$PY - "$work" <<'PYEOF'
import json, sys
w = sys.argv[1]
s4, s5, s6 = (json.load(open(f"{w}/s{i}.json")) for i in (4, 5, 6))
c4 = s4["pairs"][0]["channels"]
assert c4["weights"]["status"] == "not_run" and "safetensors" in c4["weights"]["reason"], c4["weights"]
assert c4["tokenizer"]["status"] == "not_run" and "tokenizer" in c4["tokenizer"]["reason"], c4["tokenizer"]
assert c4["architecture"]["status"] == "run"
assert s4["verdict"]["overall"] == "inconclusive", s4["verdict"]
c5 = s5["pairs"][0]["channels"]
assert c5["architecture"]["status"] == "not_run" and "config.json" in c5["architecture"]["reason"], c5["architecture"]
assert c5["weights"]["status"] in ("run", "failed"), c5["weights"]
assert any("disagree" in f and "3 layers" in f for f in s6["findings"]), s6["findings"]
for i in (4, 5, 6):
    html = open(f"{w}/o{i}/report.html").read()
    assert "</html>" in html
assert "Channels not run" in open(f"{w}/o4/report.html").read()
print("verify bad inputs: ok")
PYEOF

# 5. An output folder that cannot be created: exit 1, a clear error, nothing left.
echo x > "$work/afile"
set +e; "$F" verify "$work/fam/base" --against "$work/fam/independent" --out "$work/afile/sub" "${FAST[@]}" > /dev/null 2> "$work/err"; rc=$?; set -e
[ $rc -eq 1 ] || { echo "expected exit 1 for an unwritable output, got $rc"; cat "$work/err"; exit 1; }
grep -q "afile" "$work/err"
# Missing inputs and missing options are usage errors.
set +e; "$F" verify "$work/fam/base" --out "$work/o7" > /dev/null 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || { echo "expected exit 2 without --against, got $rc"; exit 1; }

# 6. Without gnuplot the report still renders, with a note per figure.
FROMSCRATCH_GNUPLOT=/nonexistent/gnuplot "$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/o8" \
  "${FAST[@]}" > /dev/null 2> "$work/err8"
grep -q "figure not drawn" "$work/o8/report.html"
grep -q "</html>" "$work/o8/report.html"
! grep -q "<svg" "$work/o8/report.html"
# 9. Fingerprints in place of folders (the references swept once, then deleted): same verdicts as in 1.
mkdir -p "$work/fp"
"$F" fingerprint "$work/fam/base" --out "$work/fp/base.h5" --name base --quiet --full-max-elements 0 --sketch-dim 32
"$F" fingerprint "$work/fam/independent" --out "$work/fp/independent.h5" --name independent --quiet --full-max-elements 0 --sketch-dim 32
"$F" verify "$work/fam/fine-tuned" --against "$work/fp/base.h5" "$work/fp/independent.h5" --out "$work/o9" \
  --json "${FAST[@]}" > "$work/s9.json"
$PY - "$work/s1.json" "$work/s9.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
va = sorted(a["verdict"]["by_reference"].values())
vb = b["verdict"]["by_reference"]
assert vb == {"base.h5": "derived", "independent.h5": "independent"}, vb
assert b["verdict"]["overall"] == a["verdict"]["overall"] == "derived"
PYEOF
grep -q "fingerprint" "$work/o9/report.md"
echo "verify: ok"
