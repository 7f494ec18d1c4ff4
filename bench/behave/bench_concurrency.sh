#!/usr/bin/env bash
# Requests per second of `fromscratch behave probe` at --concurrency 1, 2, 4, 8 against the test server,
# each as a ratio to the server's own serial rate measured in the same run (one client, one request at a
# time, no cache). The server waits --latency seconds before each generation (a network and queueing delay a
# real deployment has) and generates up to --parallel answers at once.
#
#   bench/behave/bench_concurrency.sh [BUILD_DIR] [LATENCY_S] [PROMPTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
export FROMSCRATCH_SOURCE_DIR=$PWD
F=${1:-build}/src/cli/fromscratch
LAT=${2:-0.05}
N=${3:-48}
work=$(mktemp -d)
source tests/support/behave/server_lib.sh
trap 'behave_stop_server; rm -rf "$work"' EXIT
behave_start_server "$work" --latency "$LAT" --parallel 2
rate() { "$F" behave probe "$URL#base" --prompts "$N" --tokens 8 --no-cache --concurrency "$1" --json 2>/dev/null |
  /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['requests_per_second'])"; }
rate 1 > /dev/null  # warm-up
base=$(rate 1)
echo "server latency ${LAT}s, ${N} prompts x 8 tokens, serial rate ${base} requests/s"
printf "%-12s %-14s %s\n" concurrency requests/s ratio
for c in 1 2 4 8; do
  r=$(rate "$c")
  printf "%-12s %-14.2f %.2fx\n" "$c" "$r" "$(echo "$r / $base" | bc -l)"
done
