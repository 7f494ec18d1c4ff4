#!/usr/bin/env bash
# labels: cli mpi
# `fromscratch plan`: the same plan from 1 or 2 ranks (headers read in parallel), every tensor of a unit on one
# rank, the real Solar-Open-100B + GLM-4.5-Air job balanced within 5% at 8, 64 and 256 ranks by tensor, and
# clear errors for a job naming an unknown model or no model.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
"$FROMSCRATCH" synth model --template solar-open --scale tiny --layers 2 --experts 4 --seed 3 --out "$work/a" > /dev/null 2>&1
"$FROMSCRATCH" synth model --template solar-open --scale tiny --layers 2 --experts 4 --seed 4 --out "$work/b" > /dev/null 2>&1
cat > "$work/job.json" <<EOF
{"name": "pair", "models": [{"name": "a", "path": "$work/a"}, {"name": "b", "path": "$work/b"}]}
EOF
"$FROMSCRATCH" plan "$work/job.json" --ranks 3 --unit layer_experts --tensors --json > "$work/p1.json"
"$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" plan "$work/job.json" --ranks 3 --unit layer_experts --tensors --json > "$work/p2.json"
cmp "$work/p1.json" "$work/p2.json"
$PY - "$work/p1.json" <<'PYEOF'
import json, sys, collections
d = json.load(open(sys.argv[1]))
assert d["tensors"] == 98 and len(d["models"]) == 2 and d["models"][0]["from"] == "headers", d["models"]
ranks = collections.defaultdict(set)
for a in d["assignment"]:
    ranks[a["unit"]].add(a["rank"])
assert all(len(r) == 1 for r in ranks.values()), "a unit was split over ranks"
models = collections.defaultdict(set)
for a in d["assignment"]:
    models[a["unit"]].add(a["model"])
experts = [u for u in ranks if u.startswith("experts layer=")]
assert experts and all(models[u] == {0, 1} for u in experts), experts  # both models' experts of a layer: one unit
assert sum(d["rank_bytes"]) == d["bytes"]
PYEOF
"$FROMSCRATCH" plan "$work/a" --ranks 2 | grep -q "^imbalance (max/mean - 1): "

# The real job (catalog architectures when the site paths are absent): balanced by tensor at 8/64/256 ranks.
job="$FROMSCRATCH_SOURCE_DIR/jobs/solar-open-vs-glm-4.5-air.json"
if [ -f "$job" ]; then
  for r in 8 64 256; do
    env -u FROMSCRATCH_MODELS "$FROMSCRATCH" plan "$job" --ranks $r --unit tensor --json > "$work/real.$r.json"
    $PY - "$work/real.$r.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tensors"] == 37151, d["tensors"]
assert d["imbalance"] <= 0.05, (d["ranks"], d["imbalance"])
PYEOF
  done
fi

set +e
echo '{"models": [{"name": "x", "repo": "nobody/no-such-model"}]}' > "$work/bad.json"
"$FROMSCRATCH" plan "$work/bad.json" --ranks 2 2> "$work/e"; rc=$?
[ $rc -eq 2 ] && grep -q "no-such-model" "$work/e" || { echo "unknown model: rc $rc"; cat "$work/e"; exit 1; }
echo '{"command": "demo", "args": []}' > "$work/none.json"
"$FROMSCRATCH" plan "$work/none.json" 2> "$work/e"; rc=$?
[ $rc -eq 1 ] && grep -q "names no model" "$work/e" || { echo "no model: rc $rc"; cat "$work/e"; exit 1; }
"$FROMSCRATCH" plan "$work/a" --ranks -1 2> /dev/null; rc=$?
[ $rc -eq 2 ] || { echo "--ranks -1: rc $rc"; exit 1; }
set -e
echo "plan: ok"
