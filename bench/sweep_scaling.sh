#!/usr/bin/env bash
# Strong scaling of `fromscratch fingerprint` from 1 to 2 MPI ranks on full-width synthetic layers, against
# the baselines measured in the same run: `cat` of the shards (page-cache read rate) and `fromscratch hash`
# (read + SHA-256 + row digests) at the same rank counts.
#
# Writes (once) a Solar-Open-width checkpoint with `fromscratch synth`: hidden 4096, expert width 1280, real
# vocabulary (196,608 x 4096 embeddings and lm_head), LAYERS decoder layers of EXPERTS experts (defaults 1 and
# 32: about 3.7 GB; the real model has 48 layers of 128). Every run reads from the page cache (warmed first),
# one thread per rank, so the ratio shows how the work splits, not the disk. On a shared machine wall times
# follow the other tenants' load; the CPU seconds of each rank (from the fingerprint's --json) show the split.
# Prints a table and writes bench/out/sweep_scaling.json. Not a test: timings on shared machines are noisy.
# Usage: bench/sweep_scaling.sh [BUILD_DIR] [EXPERTS] [LAYERS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
EXPERTS=${2:-32}
LAYERS=${3:-1}
FS=$(realpath "$BUILD/src/cli/fromscratch")
OUT=bench/out
CK=$OUT/solar-open-full-${LAYERS}layer-${EXPERTS}experts
mkdir -p "$OUT"
if [ ! -f "$CK/model.safetensors.index.json" ]; then
  "$FS" synth model --template solar-open --scale full --layers "$LAYERS" --experts "$EXPERTS" --seed 1 \
    --shard-size 1GB --out "$CK" --force > /dev/null
fi
mapfile -t files < <(ls "$CK"/model-*.safetensors)
bytes=$(cat "${files[@]}" | wc -c)
MPIEXEC=${MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
warm() { cat "${files[@]}" > /dev/null; }

declare -A t
warm
t[cat]=$(seconds cat "${files[@]}")
for n in 1 2; do
  warm
  t[hash$n]=$(seconds "$MPIEXEC" -n $n --oversubscribe "$FS" hash "$CK" --threads 1)
  rm -f "$OUT/sweep.$n.h5"
  warm
  t0=$(date +%s.%N)
  "$MPIEXEC" -n $n --oversubscribe "$FS" fingerprint "$CK" --out "$OUT/sweep.$n.h5" --threads 1 --force --json \
    --progress 0 > "$OUT/sweep.$n.json" 2> /dev/null
  t[fp$n]=$(echo "$(date +%s.%N) - $t0" | bc -l)
done
# The fingerprints of both runs must be the same (the checker compares every dataset outside /provenance).
/usr/bin/python3 tests/support/check_fingerprint.py "$OUT/sweep.1.h5" --same "$OUT/sweep.2.h5" > /dev/null
load=$(cut -d' ' -f1 /proc/loadavg)
gbs() { echo "scale=3; $bytes / $1 / 1000000000" | bc -l; }
printf "# sweep scaling: %s, %.2f GB, %s core(s), load %s\n" "$CK" "$(echo "$bytes/1000000000" | bc -l)" "$(nproc)" "$load"
printf "%-36s %8s %8s\n" "measurement" "seconds" "GB/s"
printf "%-36s %8.2f %8.3f\n" "cat (page cache)" "${t[cat]}" "$(gbs "${t[cat]}")"
for n in 1 2; do
  printf "%-36s %8.2f %8.3f\n" "hash, $n rank(s) x 1 thread" "${t[hash$n]}" "$(gbs "${t[hash$n]}")"
  printf "%-36s %8.2f %8.3f\n" "fingerprint, $n rank(s) x 1 thread" "${t[fp$n]}" "$(gbs "${t[fp$n]}")"
done
# CPU seconds per rank (start-up and compute): on a loaded machine wall time follows the other tenants, but the
# split of the work shows in CPU time: total CPU / the busiest rank's CPU is the speed-up with dedicated cores.
cpu() { /usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["rank_cpu_seconds"]; print(sys.argv[2] == "max" and max(c) or sum(c))' "$OUT/sweep.$1.json" "$2"; }
cpu1=$(cpu 1 sum); cpu2sum=$(cpu 2 sum); cpu2max=$(cpu 2 max)
sp_cpu=$(echo "$cpu2sum / $cpu2max" | bc -l)
sp_fp=$(echo "${t[fp1]} / ${t[fp2]}" | bc -l)
sp_hash=$(echo "${t[hash1]} / ${t[hash2]}" | bc -l)
printf "speed-up 1 -> 2 ranks (wall): fingerprint %.2fx, hash %.2fx (ideal 2.00x; %s cores)\n" "$sp_fp" "$sp_hash" "$(nproc)"
printf "fingerprint CPU: 1 rank %.1f s; 2 ranks %.1f s in all, busiest rank %.1f s: work-split speed-up %.2fx\n" \
  "$cpu1" "$cpu2sum" "$cpu2max" "$sp_cpu"
cat > "$OUT/sweep_scaling.json" <<EOF
{"checkpoint": "$CK", "bytes": $bytes, "cores": $(nproc), "load": $load,
 "seconds": {"cat": ${t[cat]}, "hash1": ${t[hash1]}, "hash2": ${t[hash2]}, "fingerprint1": ${t[fp1]}, "fingerprint2": ${t[fp2]}},
 "cpu": {"fingerprint1": $cpu1, "fingerprint2_total": $cpu2sum, "fingerprint2_busiest_rank": $cpu2max},
 "speedup": {"fingerprint": $sp_fp, "hash": $sp_hash, "fingerprint_cpu_split": $sp_cpu}}
EOF
