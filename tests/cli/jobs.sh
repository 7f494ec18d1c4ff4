#!/usr/bin/env bash
# labels: cli mpi
# Job files run through slurm/run-job.sh (mpiexec outside Slurm) give the same result as the direct command,
# and malformed job files are refused with a message naming the file and field.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
echo "jobs: ok"
