#!/usr/bin/env bash
# Statistics pass benchmark (issue 7, Performance): two full-width synthetic Solar-Open layers (128 experts x 3
# matrices 1280x4096 BF16 per model), page cache warm, measured side by side in one run:
#   dd bs=8M and cat of the shard files   (the page-cache read rate)
#   fromscratch weights stats --read-only (the same chunked read loop, computing nothing)
#   fromscratch weights stats, 1 and 2 threads (every statistic, row/column norms, bit histograms)
#   bench/weights/stats_numpy.py          (NumPy, the same statistics over the same files)
#   build/bench/weights_histogram_floor   (pread + the exact 16-bit histogram alone, 2 threads: the floor
#                                          under the pass, since every element needs one counter increment)
# and prints GB/s and the ratios. The generated files (~8.5 GB) are deleted at the end.
#
# usage: bench/weights/stats_bench.sh [FROMSCRATCH_BINARY] [WORK_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
F=${1:-build/src/cli/fromscratch}
FLOOR=$(dirname "$F")/../../bench/weights_histogram_floor
W=${2:-$(mktemp -d /work/stats-bench.XXXXXX)}
ROUNDS=${3:-2}
PY=/usr/bin/python3
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

avail_kb=$(df -k --output=avail "$W" | tail -1)
if [ "$avail_kb" -lt $((12 * 1024 * 1024)) ]; then echo "need 12 GB free under $W (have $((avail_kb / 1024)) MB)"; exit 1; fi
echo "# $(date -u +%FT%TZ)  $(uname -n)  $(nproc) cores  $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GB"}')"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"

for s in 1 2; do
  "$F" synth model --template solar-open --scale full --layers 1 --vocab 2048 --seed $s --shard-size 2GB \
       --threads 2 --out "$W/m$s" > /dev/null 2>&1
done
files=$(ls "$W"/m1/*.safetensors "$W"/m2/*.safetensors)
bytes=$(stat -c %s $files | awk '{s += $1} END {print s}')
echo "# files: $(echo $files | wc -w) shards, $bytes bytes; $("$F" inspect "$W/m1" --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["totals"]["tensors"], "tensors per model")')"
cat $files > /dev/null; cat $files > /dev/null   # warm the page cache
if command -v fincore > /dev/null; then
  echo "# resident in the page cache: $(fincore -b -n -o RES $files | awk '{r += $1} END {print r}') of $bytes bytes"
fi

declare -A best cpu
# measure KEY BYTES command...: wall and CPU (user + sys, children included) seconds; keeps the best wall rate.
measure() {
  local key=$1 nbytes=$2; shift 2
  local TIMEFORMAT='%R %U %S'
  { time "$@" > /dev/null 2>&1; } 2> "$W/time.txt"
  read -r real user sys < "$W/time.txt"
  local gbps cgbps
  gbps=$(awk -v b="$nbytes" -v t="$real" 'BEGIN {printf "%.3f", b / t / 1e9}')
  cgbps=$(awk -v b="$nbytes" -v u="$user" -v s="$sys" 'BEGIN {printf "%.3f", b / (u + s) / 1e9}')
  printf '  %-32s %7.2f s wall %6s GB/s   %7.2f CPU-s %6s GB per CPU-s\n' "$key" "$real" "$gbps" "$(echo "$user + $sys" | bc -l)" "$cgbps"
  if [ -z "${best[$key]:-}" ] || awk -v a="$gbps" -v b="${best[$key]}" 'BEGIN {exit !(a > b)}'; then best[$key]=$gbps; cpu[$key]=$cgbps; fi
}
run_dd() { for f in $files; do dd if="$f" of=/dev/null bs=8M status=none; done; }
run_cat() { cat $files; }
run_stats() { for m in m1 m2; do "$F" weights stats "$W/$m" "$@"; done; }
m1files=$(ls "$W"/m1/*.safetensors)
m1bytes=$(stat -c %s $m1files | awk '{s += $1} END {print s}')

for round in $(seq 1 "$ROUNDS"); do
  echo "# round $round (load $(cut -d' ' -f1 /proc/loadavg))"
  measure "dd bs=8M (page cache)" "$bytes" run_dd
  measure "cat (page cache)" "$bytes" run_cat
  measure "stats --read-only, 2 threads" "$bytes" run_stats --read-only --threads 2
  measure "stats, 1 thread" "$bytes" run_stats --threads 1 --json
  measure "stats, 2 threads" "$bytes" run_stats --threads 2 --json
  if [ -x "$FLOOR" ]; then measure "histogram alone, 2 threads" "$bytes" "$FLOOR" --threads 2 $files; fi
  if [ "$round" -eq 1 ]; then  # NumPy is slow: once, over the first model's shards
    measure "NumPy (model 1 only)" "$m1bytes" $PY bench/weights/stats_numpy.py $m1files
  fi
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# best of $ROUNDS (NumPy: one run)"
r() { awk -v a="${best[$1]}" -v b="${best[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
rc() { awk -v a="${cpu[$1]}" -v b="${cpu[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
echo "stats 2 threads / dd page cache      = $(r "stats, 2 threads" "dd bs=8M (page cache)")   (goal >= 0.80)"
echo "stats 2 threads / cat page cache     = $(r "stats, 2 threads" "cat (page cache)")"
echo "stats 2 threads / own read loop      = $(r "stats, 2 threads" "stats --read-only, 2 threads")"
echo "stats 2 threads / NumPy              = $(r "stats, 2 threads" "NumPy (model 1 only)")x   (goal >= 10)"
echo "stats 2 threads / 1 thread           = $(r "stats, 2 threads" "stats, 1 thread")x"
if [ -n "${best["histogram alone, 2 threads"]:-}" ]; then
  echo "histogram alone / dd page cache      = $(r "histogram alone, 2 threads" "dd bs=8M (page cache)")   (the floor: no pass can exceed it)"
  echo "stats 2 threads / histogram alone    = $(r "stats, 2 threads" "histogram alone, 2 threads")"
fi
echo "per CPU-second: stats / dd = $(rc "stats, 2 threads" "dd bs=8M (page cache)"), stats / NumPy = $(rc "stats, 2 threads" "NumPy (model 1 only)")x"
