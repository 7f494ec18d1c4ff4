#!/usr/bin/env bash
# Hashing throughput against the physical limits and the Python way, side by side in one run.
#
# Writes (once) a real-width Solar-Open checkpoint with `fromscratch synth` (1 decoder layer + embeddings +
# lm_head = 7.43 GB, in 2 GB shards), then measures, on the same files:
#   page cache: sha256sum (one process), cat (raw read), fromscratch hash with 1 and 2 threads, the Python way
#   cold:       dd (raw sequential read; also two dd streams at once), fromscratch hash with 2 threads, sha256sum
# Cold means the shards were evicted from the page cache (posix_fadvise DONTNEED, checked with fincore).
# Prints a table and writes bench/out/hash_bench.json. Not a test: timings on shared machines are noisy.
# Usage: bench/hash_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
FS=$BUILD/src/cli/fromscratch
OUT=bench/out
CK=$OUT/solar-open-full-1layer
PY=/usr/bin/python3
mkdir -p "$OUT"
if [ ! -f "$CK/model.safetensors.index.json" ]; then
  "$FS" synth model --template solar-open --scale full --layers 1 --seed 1 --shard-size 2GB --out "$CK" --force
fi
mapfile -t files < <(ls "$CK"/model-*.safetensors)
bytes=$(cat "${files[@]}" | wc -c)

evict() { $PY -c 'import os,sys
for p in sys.argv[1:]:
    fd=os.open(p,os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)' "${files[@]}"; }
warm() { cat "${files[@]}" > /dev/null; }
cached_pct() { fincore -b -n -o RES,SIZE "${files[@]}" | awk '{r+=$1; s+=$2} END {printf "%.0f", 100*r/s}'; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }

declare -A t
warm
t[sha256sum]=$(seconds sha256sum "${files[@]}")
warm
t[cat_cached]=$(seconds cat "${files[@]}")
t[fs1]=$(seconds "$FS" hash "$CK" --threads 1)
t[fs2]=$(seconds "$FS" hash "$CK" --threads 2)
t[python]=$(seconds $PY bench/python_hash_baseline.py "${files[@]}")
evict; cold1=$(cached_pct)
t[dd_cold]=$(seconds sh -c "for f in ${files[*]}; do dd if=\$f of=/dev/null bs=8M status=none; done")
# The same files read by two dd streams at once (half the shards each): the device's rate at queue depth 2,
# which is what two hashing threads can reach.
evict; t[dd_cold_2streams]=$(seconds sh -c "(for f in ${files[*]:0:${#files[@]}/2}; do dd if=\$f of=/dev/null bs=8M status=none; done) &
  (for f in ${files[*]:${#files[@]}/2}; do dd if=\$f of=/dev/null bs=8M status=none; done) & wait")
evict; cold2=$(cached_pct)
t[fs2_cold]=$(seconds "$FS" hash "$CK" --threads 2)
evict
t[sha256sum_cold]=$(seconds sha256sum "${files[@]}")

rate() { echo "$bytes / ${t[$1]} / 1000000000" | bc -l; }
ratio() { echo "${t[$2]} / ${t[$1]}" | bc -l; }
printf '# %s bytes (%s shards) of real-width Solar-Open BF16 tensors; cache after eviction: %s%% / %s%%\n' \
  "$bytes" "${#files[@]}" "$cold1" "$cold2"
printf '%-34s %8s %8s\n' "measurement" "seconds" "GB/s"
for k in sha256sum cat_cached fs1 fs2 python dd_cold dd_cold_2streams fs2_cold sha256sum_cold; do
  printf '%-34s %8.2f %8.2f\n' "$k" "${t[$k]}" "$(rate "$k")"
done
printf '\nratios\n'
printf '  fromscratch 2 threads / sha256sum (page cache):      %.2fx  (goal >= 1.8x)\n' "$(ratio fs2 sha256sum)"
printf '  fromscratch 1 thread  / sha256sum (page cache):      %.2fx\n' "$(ratio fs1 sha256sum)"
printf '  fromscratch 2 threads / Python hashlib+xxhash:       %.2fx\n' "$(ratio fs2 python)"
printf '  fromscratch 2 threads cold / dd cold (read limit):   %.2f   (goal >= 0.90)\n' "$(ratio fs2_cold dd_cold)"
printf '  fromscratch 2 threads cold / 2 dd streams cold:      %.2f\n' "$(ratio fs2_cold dd_cold_2streams)"
printf '  fromscratch 2 threads cached / cat cached:           %.2f\n' "$(ratio fs2 cat_cached)"
{
  echo "{\"bytes\": $bytes, \"shards\": ${#files[@]}, \"cache_after_eviction_pct\": [$cold1, $cold2], \"seconds\": {"
  first=1; for k in "${!t[@]}"; do [ $first -eq 1 ] || echo ","; first=0; printf '"%s": %s' "$k" "${t[$k]}"; done
  echo "}, \"cpu\": \"$(lscpu | sed -n 's/Model name: *//p' | head -1)\", \"cores\": $(nproc), \"date\": \"$(date -u +%FT%TZ)\"}"
} > "$OUT/hash_bench.json"
echo "# wrote $OUT/hash_bench.json"
