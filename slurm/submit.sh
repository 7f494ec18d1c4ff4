#!/usr/bin/env bash
# sbatch a job file with the resources it names. Usage: slurm/submit.sh JOB.json [extra sbatch options]
set -euo pipefail
job=${1:?usage: submit.sh JOB.json [sbatch options]}
shift
read -r ranks threads time partition nodes < <(/usr/bin/python3 -c '
import json, sys; j = json.load(open(sys.argv[1]))
print(j.get("ranks", 1), max(1, j.get("threads", 1)), j.get("time", "01:00:00"), j.get("partition", "-"), j.get("nodes", 0))' "$job")
opts=(--ntasks="$ranks" --cpus-per-task="$threads" --time="$time")
[ "$partition" != "-" ] && opts+=(--partition="$partition")
[ "$nodes" != "0" ] && opts+=(--nodes="$nodes")
exec sbatch "${opts[@]}" "$@" "$(dirname "$0")/fromscratch.sbatch" "$job"
