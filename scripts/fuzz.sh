#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600
# Findings (crash-*, leak-*, timeout-*) land in build-fuzz/findings/<target>/; the run exits non-zero if any.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_safetensors_header fuzz_shard_index)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFROMSCRATCH_FUZZ=ON \
  -DFROMSCRATCH_BUILD_TESTS=OFF -DFROMSCRATCH_ENABLE_CUDA=OFF \
  "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" >/dev/null
cmake --build build-fuzz -j "${JOBS:-$(nproc)}" --target "${targets[@]}"
status=0
for t in "${targets[@]}"; do
  seeds=tests/fuzz/seeds/${t#fuzz_}
  [ "$t" = fuzz_safetensors_header ] && seeds=tests/fuzz/seeds/safetensors
  [ "$t" = fuzz_shard_index ] && seeds=tests/fuzz/seeds/index
  corpus=build-fuzz/corpus/$t
  findings=build-fuzz/findings/$t
  mkdir -p "$corpus" "$findings"
  echo "# fuzzing $t for $seconds s (seeds: $seeds)"
  if ! build-fuzz/tests/fuzz/$t "$corpus" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 2> "build-fuzz/$t.log"; then
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added|^#[0-9]+.*DONE|ERROR" "build-fuzz/$t.log" | tail -4
  ls "$findings"
done
exit $status
