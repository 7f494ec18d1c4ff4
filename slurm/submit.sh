#!/usr/bin/env bash
# sbatch a job file with the resources it names.
#   slurm/submit.sh JOB.json [sbatch options]
# A command job: one job (slurm/fromscratch.sbatch). A sweep job: an array job fingerprinting every model
# (slurm/fingerprint-array.sbatch, one task per model) and a compare job that starts when every array task
# succeeded (--dependency=afterok). Prints "fingerprint JOBID" / "compare JOBID" / "job JOBID" lines.
set -euo pipefail
job=${1:?usage: submit.sh JOB.json [sbatch options]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
export FROMSCRATCH_HOME=${FROMSCRATCH_HOME:-$here}
read -r ranks threads time partition nodes array gpus < <(/usr/bin/python3 "$here/slurm/jobspec.py" resources "$job")
opts=(--parsable --ntasks="$ranks" --cpus-per-task="$threads" --time="$time")
[ "$partition" != "-" ] && opts+=(--partition="$partition")
[ "$nodes" != "0" ] && opts+=(--nodes="$nodes")
[ "$gpus" != "0" ] && opts+=(--gpus-per-task="$gpus")
if [ "$array" = 0 ]; then
  id=$(sbatch "${opts[@]}" "$@" "$here/slurm/fromscratch.sbatch" "$job")
  echo "job ${id%%;*}"
  exit 0
fi
fp=$(sbatch "${opts[@]}" --array="0-$((array - 1))" "$@" "$here/slurm/fingerprint-array.sbatch" "$job")
fp=${fp%%;*}
echo "fingerprint $fp"
cmp=$(sbatch "${opts[@]}" --dependency="afterok:$fp" --kill-on-invalid-dep=yes "$@" "$here/slurm/compare.sbatch" "$job")
echo "compare ${cmp%%;*}"
