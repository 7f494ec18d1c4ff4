#!/usr/bin/env bash
# Runs one job file (jobs/*.json), or one step of a sweep job: srun inside a Slurm allocation, mpiexec outside.
#
#   slurm/run-job.sh JOB.json [--dry-run]                   a command job: its one subcommand
#   slurm/run-job.sh JOB.json --fingerprint I [--dry-run]   a sweep job: fingerprint model I into the archive
#   slurm/run-job.sh JOB.json --compare [--dry-run]         a sweep job: compare the candidate with the archive
#
# FROMSCRATCH_RANKS / FROMSCRATCH_THREADS override the job's "ranks" / "threads".
# FROMSCRATCH overrides the binary (default build/src/cli/fromscratch). FROMSCRATCH_LAUNCH picks the launcher:
# mpiexec (default; inside an allocation Open MPI reads it from Slurm), srun (direct launch,
# srun --mpi=$FROMSCRATCH_SRUN_MPI, default pmix: what the site's Slurm and MPI agree on), none (one process). slurm/jobspec.py reads the JSON (strictly) and
# hands back a NUL-separated argument vector: nothing here parses JSON or evaluates a string.
set -euo pipefail
job=${1:?usage: run-job.sh JOB.json [--fingerprint I | --compare] [--dry-run]}
shift
step=command index="" dry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fingerprint) step=fingerprint; index=${2:?--fingerprint needs a model index}; shift 2 ;;
    --compare) step=compare; shift ;;
    --dry-run) dry=1; shift ;;
    *) echo "run-job.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${FROMSCRATCH:-$here/build/src/cli/fromscratch}

spec_file=$(mktemp)
trap 'rm -f "$spec_file"' EXIT
if [ "$step" = fingerprint ]; then
  /usr/bin/python3 "$here/slurm/jobspec.py" fingerprint "$job" "$index" > "$spec_file"
else
  /usr/bin/python3 "$here/slurm/jobspec.py" "$step" "$job" > "$spec_file"
fi
mapfile -d '' -t spec < "$spec_file"
# An allocation may override the job's ranks and threads (slurm/multinode.sbatch does).
ranks=${FROMSCRATCH_RANKS:-${spec[0]}}; threads=${FROMSCRATCH_THREADS:-${spec[1]}}
out=""
if [ "$step" = compare ]; then out=${spec[2]}; rest=("${spec[@]:3}"); else rest=("${spec[@]:2}"); fi

# --threads only for the subcommands that take it.
if "$bin" "${rest[0]}" --help 2>/dev/null | grep -q -- "--threads"; then rest+=(--threads "$threads"); fi
launcher=${FROMSCRATCH_LAUNCH:-mpiexec}
case "$launcher" in
  srun) launch=(srun --mpi="${FROMSCRATCH_SRUN_MPI:-pmix}" --ntasks="$ranks" --cpus-per-task="${threads/#0/1}") ;;
  mpiexec) launch=(mpiexec -n "$ranks" --oversubscribe) ;;
  none) launch=() ;;
  *) echo "run-job.sh: FROMSCRATCH_LAUNCH=$launcher (allowed: srun, mpiexec, none)" >&2; exit 2 ;;
esac
if [ -n "$dry" ]; then
  printf '%q ' "${launch[@]}" "$bin" "${rest[@]}"
  [ -n "$out" ] && printf '> %q' "$out"
  echo
  exit 0
fi
if [ "$step" = fingerprint ]; then
  # The archive is the cache of sweeps: a model already in it is not read again (FROMSCRATCH_FORCE=1 redoes it).
  # The archive folder is the one thing a step creates besides what the command writes.
  fp=""
  for ((i = 0; i < ${#rest[@]}; i++)); do
    if [ "${rest[$i]}" = --out ]; then fp=${rest[$((i + 1))]}; fi
  done
  if [ -e "$fp" ]; then
    if [ "${FROMSCRATCH_FORCE:-0}" != 1 ]; then
      echo "run-job.sh: $fp exists: model already in the archive, skipped (FROMSCRATCH_FORCE=1 to sweep it again)" >&2
      exit 0
    fi
    rest+=(--force)
  elif [ -e "$fp.journal" ]; then
    # An unfinished sweep (a task killed at its time limit, a node lost): continue it from its journal.
    echo "run-job.sh: $fp.journal exists: resuming the unfinished sweep" >&2
    rest+=(--resume)
  fi
  mkdir -p "$(dirname "$fp")"
fi
if [ -n "$out" ]; then
  if [ -e "$out" ] && [ "${FROMSCRATCH_FORCE:-0}" != 1 ]; then
    echo "run-job.sh: $out exists (set FROMSCRATCH_FORCE=1 to overwrite)" >&2; exit 1
  fi
  "${launch[@]}" "$bin" "${rest[@]}" > "$out.partial"
  mv "$out.partial" "$out"
  echo "run-job.sh: wrote $out" >&2
  # A control with a known answer ("expect"): a wrong verdict fails the step.
  exec /usr/bin/python3 "$here/slurm/jobspec.py" verify "$job" "$out"
fi
exec "${launch[@]}" "$bin" "${rest[@]}"
