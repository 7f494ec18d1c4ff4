#!/usr/bin/env bash
# labels: cli mpi
# Job files run through slurm/run-job.sh (mpiexec outside Slurm) give the same result as the direct command,
# and malformed job files are refused with a message naming the file and field.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
export FROMSCRATCH
run="$FROMSCRATCH_SOURCE_DIR/slurm/run-job.sh"
/usr/bin/python3 "$FROMSCRATCH_SOURCE_DIR/tests/support/write_test_checkpoint.py" "$work/ck"
echo "{\"command\": \"hash\", \"args\": [\"$work/ck\", \"--json\"], \"ranks\": 3, \"threads\": 1}" > "$work/job.json"
"$run" "$work/job.json" --dry-run | grep -q "mpiexec -n 3"
"$run" "$work/job.json" > "$work/via_job.json" 2>/dev/null
"$FROMSCRATCH" hash "$work/ck" --json > "$work/direct.json" 2>/dev/null
cmp "$work/via_job.json" "$work/direct.json"
for bad in '{"command": "hash; rm -rf /", "args": []}' '{"command": "hash", "args": "x"}' '{"command": "hash", "ranks": 0}' \
           '{"command": "hash", "bogus": 1}' '{"command": '; do
  echo "$bad" > "$work/bad.json"
  if "$run" "$work/bad.json" > "$work/msg.txt" 2>&1; then echo "accepted: $bad"; exit 1; fi
  grep -q "bad.json" "$work/msg.txt" || { cat "$work/msg.txt"; exit 1; }
done
"$run" "$FROMSCRATCH_SOURCE_DIR/jobs/demo.json" --dry-run | grep -q "demo"

# Sweep jobs (models, candidate, references, archive): every committed job file is valid, names a hub
# repository, a revision and a path template, and expands to the fingerprint and compare steps.
spec="$FROMSCRATCH_SOURCE_DIR/slurm/jobspec.py"
for j in "$FROMSCRATCH_SOURCE_DIR"/jobs/*.json; do /usr/bin/python3 "$spec" check "$j" > /dev/null; done
solar="$FROMSCRATCH_SOURCE_DIR/jobs/solar-open-vs-glm-4.5-air.json"
/usr/bin/python3 "$spec" models "$solar" | tr '\n' ' ' | grep -q "^solar-open-100b glm-4.5-air $"
grep -q '"repo": "upstage/Solar-Open-100B"' "$solar"
grep -q '"repo": "PrimeIntellect/INTELLECT-3"' "$FROMSCRATCH_SOURCE_DIR/jobs/control-glm-4.5-air-vs-intellect-3.json"
/usr/bin/python3 "$spec" expect "$FROMSCRATCH_SOURCE_DIR/jobs/control-glm-4.5-air-vs-intellect-3.json" | grep -qx "glm-4.5-air derived"
FROMSCRATCH_MODELS=/site/models FROMSCRATCH_ARCHIVE=/site/archive "$run" "$solar" --fingerprint 1 --dry-run > "$work/fp.txt"
grep -q "mpiexec -n 8 --oversubscribe .* fingerprint /site/models/zai-org/GLM-4.5-Air --out /site/archive/glm-4.5-air.h5 --name glm-4.5-air" "$work/fp.txt"
FROMSCRATCH_MODELS=/site/models FROMSCRATCH_ARCHIVE=/site/archive "$run" "$solar" --compare --dry-run > "$work/cmp.txt"
grep -q "compare /site/archive/solar-open-100b.h5 --archive /site/archive --json.* > /site/archive/compare-solar-open-100b.json" "$work/cmp.txt"
FROMSCRATCH_SOURCE=hub FROMSCRATCH_ARCHIVE=/a FROMSCRATCH_LAUNCH=srun "$run" "$solar" --fingerprint 0 --dry-run | grep -q "srun --mpi=pmix --ntasks=8 .* fingerprint hf://upstage/Solar-Open-100B@main"
FROMSCRATCH_RANKS=32 FROMSCRATCH_MODELS=/m FROMSCRATCH_ARCHIVE=/a "$run" "$solar" --fingerprint 0 --dry-run | grep -q "mpiexec -n 32 "
# An unset path variable, an index out of range, a sweep step on a command job: refused, naming file and field.
if env -u FROMSCRATCH_MODELS FROMSCRATCH_ARCHIVE=/a "$run" "$solar" --fingerprint 0 --dry-run > "$work/msg.txt" 2>&1; then exit 1; fi
grep -q "models\[0\].path.*FROMSCRATCH_MODELS is not set" "$work/msg.txt"
if FROMSCRATCH_MODELS=/m FROMSCRATCH_ARCHIVE=/a "$run" "$solar" --fingerprint 2 --dry-run > "$work/msg.txt" 2>&1; then exit 1; fi
grep -q "model index 2 out of range" "$work/msg.txt"
if "$run" "$FROMSCRATCH_SOURCE_DIR/jobs/demo.json" --compare --dry-run > "$work/msg.txt" 2>&1; then exit 1; fi
grep -q "needs a sweep job" "$work/msg.txt"
m='{"name": "a", "repo": "o/a", "revision": "main", "path": "/x/a"}, {"name": "b", "repo": "o/b", "revision": "main", "path": "/x/b"}'
for bad in "{\"name\": \"s\", \"models\": [$m], \"candidate\": \"c\", \"references\": [\"b\"], \"archive\": \"/a\"}" \
           "{\"name\": \"s\", \"models\": [$m], \"candidate\": \"a\", \"references\": [\"a\"], \"archive\": \"/a\"}" \
           "{\"name\": \"s\", \"models\": [$m, $m], \"candidate\": \"a\", \"references\": [\"b\"], \"archive\": \"/a\"}" \
           "{\"name\": \"s\", \"models\": [$m], \"candidate\": \"a\", \"references\": [\"b\"], \"archive\": \"/a\", \"expect\": {\"b\": \"same\"}}" \
           "{\"name\": \"s\", \"models\": [{\"name\": \"a\", \"repo\": \"no-slash\", \"revision\": \"main\", \"path\": \"/x\"}], \"candidate\": \"a\", \"references\": [], \"archive\": \"/a\"}" \
           "{\"name\": \"s\", \"models\": [{\"name\": \"a\", \"repo\": \"o/a\", \"revision\": \"main\", \"path\": \"/x\", \"sha\": 1}], \"candidate\": \"a\", \"references\": [], \"archive\": \"/a\"}" \
           "{\"name\": \"s\", \"name\": \"t\", \"models\": []}"; do
  echo "$bad" > "$work/bad.json"
  if /usr/bin/python3 "$spec" check "$work/bad.json" > "$work/msg.txt" 2>&1; then echo "accepted: $bad"; exit 1; fi
  grep -q "bad.json" "$work/msg.txt" || { cat "$work/msg.txt"; exit 1; }
done
# The compare step checks a control's expected verdicts: a mismatch or a result without them fails it.
ctl="$FROMSCRATCH_SOURCE_DIR/jobs/control-glm-4.5-air-vs-intellect-3.json"
echo '{"results": [{"reference": "glm-4.5-air", "verdict": "derived"}]}' > "$work/res.json"
/usr/bin/python3 "$spec" verify "$ctl" "$work/res.json" | grep -q "got derived: ok"
echo '{"results": [{"reference": "glm-4.5-air", "verdict": "inconclusive"}]}' > "$work/res.json"
if /usr/bin/python3 "$spec" verify "$ctl" "$work/res.json" > "$work/msg.txt"; then exit 1; fi
grep -q "MISMATCH" "$work/msg.txt"
echo '{"results": []}' > "$work/res.json"
if /usr/bin/python3 "$spec" verify "$ctl" "$work/res.json" > "$work/msg.txt"; then exit 1; fi
echo "jobs: ok"
