#!/usr/bin/env bash
# Runs one job file (jobs/*.json): srun inside a Slurm allocation, mpiexec outside one.
# Usage: slurm/run-job.sh JOB.json [--dry-run]      FROMSCRATCH overrides the binary (default build/src/cli/fromscratch)
set -euo pipefail
job=${1:?usage: run-job.sh JOB.json [--dry-run]}
dry=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${FROMSCRATCH:-$here/build/src/cli/fromscratch}
# Parse the job with Python's json module (strict), emit a NUL-separated argument vector: no shell evaluation.
mapfile -d '' -t spec < <(/usr/bin/python3 - "$job" <<'PY'
import json, sys
path = sys.argv[1]
try:
    job = json.load(open(path))
except Exception as e:
    sys.exit(f"{path}: not a valid job file: {e}")
allowed = {"command", "args", "ranks", "threads", "time", "partition", "nodes"}
unknown = set(job) - allowed
if unknown:
    sys.exit(f"{path}: unknown field(s) {sorted(unknown)} (allowed: {sorted(allowed)})")
cmd = job.get("command")
if not isinstance(cmd, str) or not cmd.isidentifier():
    sys.exit(f"{path}: field 'command' must be a subcommand name, got {cmd!r}")
args = job.get("args", [])
if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
    sys.exit(f"{path}: field 'args' must be a list of strings")
ranks, threads = job.get("ranks", 1), job.get("threads", 0)
if not isinstance(ranks, int) or not 1 <= ranks <= 100000:
    sys.exit(f"{path}: field 'ranks' = {ranks!r} out of range (limit: 1..100000)")
if not isinstance(threads, int) or not 0 <= threads <= 1024:
    sys.exit(f"{path}: field 'threads' = {threads!r} out of range (limit: 0..1024)")
out = [str(ranks), str(threads), cmd] + args
sys.stdout.write("\0".join(out) + "\0")
PY
)
ranks=${spec[0]}; threads=${spec[1]}; rest=("${spec[@]:2}")
# --threads only for the subcommands that take it.
if "$bin" "${rest[0]}" --help 2>/dev/null | grep -q -- "--threads"; then rest+=(--threads "$threads"); fi
if [ -n "${SLURM_JOB_ID:-}" ]; then
  launch=(srun --ntasks="$ranks" --cpus-per-task="${threads/#0/1}")
else
  launch=(mpiexec -n "$ranks" --oversubscribe)
fi
if [ "$dry" = "--dry-run" ]; then printf '%q ' "${launch[@]}" "$bin" "${rest[@]}"; echo; exit 0; fi
exec "${launch[@]}" "$bin" "${rest[@]}"
