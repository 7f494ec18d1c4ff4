#!/usr/bin/env bash
# labels: cli mpi
# Faults of a fingerprint sweep, for real: kill -9 of one rank, then of every rank, mid-run (each tensor made
# slow by FROMSCRATCH_TEST_SLEEP_MS_PER_TENSOR): no file at --out, the journal keeps the finished tensors,
# --resume ends with datasets bit-identical to an uninterrupted run; a shard missing on one rank, or cut short
# mid-run, fails every rank with exit 1 and a message from rank 0; a full disk (file-size limit) fails cleanly.
set -euo pipefail
work=$(mktemp -d)
pids=()
cleanup() { for p in $(jobs -p); do kill -9 "$p" 2> /dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
PY=/usr/bin/python3
CHECK="$FROMSCRATCH_SOURCE_DIR/tests/support/check_fingerprint.py"
"$FROMSCRATCH" synth model --template solar-open --scale tiny --layers 2 --experts 4 --seed 5 --shard-size 1MB \
  --out "$work/m" > /dev/null 2>&1
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/ref.h5" --quiet

records() {  # finished tensors in the journal (bytes of the rank files as a cheap proxy: > 0 once one is in)
  cat "$1"/rank-*.bin 2> /dev/null | wc -c
}
wait_for_records() {  # $1 journal, [$2 a stderr file that must show a progress line first]
  for _ in $(seq 1 600); do
    if [ "$(records "$1")" -gt 20000 ] && { [ -z "${2:-}" ] || grep -q "^# fingerprint: " "$2"; }; then return 0; fi
    sleep 0.1
  done
  echo "no journal records (or progress) appeared in $1"; return 1
}

# 1. kill -9 of one rank: mpiexec ends the job, nothing at --out, --resume completes it identically.
FROMSCRATCH_TEST_SLEEP_MS_PER_TENSOR=200 "$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" \
  --out "$work/a.h5" --threads 1 --progress 0.5 > /dev/null 2> "$work/a.err" &
mpi=$!; pids+=($mpi)
wait_for_records "$work/a.h5.journal" "$work/a.err"
rank=$(pgrep -P $mpi | tail -1)   # not rank 0: the one that prints
kill -9 "$rank"
set +e; wait $mpi; rc=$?; set -e
[ $rc -ne 0 ] || { echo "killed run exited 0"; exit 1; }
test ! -e "$work/a.h5"
grep -q "^# fingerprint: .* / .* (.*%), .*/s over 2 rank(s), ETA " "$work/a.err" || { echo "no progress line"; cat "$work/a.err"; exit 1; }
set +e
"$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" --out "$work/a.h5" 2> "$work/e"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "unfinished sweep: pass --resume" "$work/e" || { echo "journal without --resume: rc $rc"; cat "$work/e"; exit 1; }
"$MPIEXEC" -n 3 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" --out "$work/a.h5" --resume --json \
  > "$work/a.json" 2> "$work/a2.err"
grep -q "# resuming: [1-9][0-9]* of 49 tensors" "$work/a2.err" || { cat "$work/a2.err"; exit 1; }
$PY "$CHECK" "$work/ref.h5" --same "$work/a.h5"
test ! -e "$work/a.h5.journal"

# 2. kill -9 of every rank and mpiexec at once; resume on one process.
FROMSCRATCH_TEST_SLEEP_MS_PER_TENSOR=150 "$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" \
  --out "$work/b.h5" --threads 2 --quiet &
mpi=$!; pids+=($mpi)
wait_for_records "$work/b.h5.journal"
kill -9 $mpi $(pgrep -P $mpi) 2> /dev/null || true
set +e; wait $mpi; set -e
sleep 0.5
test ! -e "$work/b.h5"
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/b.h5" --resume --quiet
$PY "$CHECK" "$work/ref.h5" --same "$work/b.h5"
# --resume on a finished file does nothing.
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/b.h5" --resume 2>&1 | grep -q "already complete"

# 3a. A shard missing on one node only: rank 1 sees a copy of the folder without its last shard (MPMD launch).
#     Every rank exits 1; rank 0 prints rank 1's error naming the shard.
mkdir "$work/m-node2"
for f in "$work/m"/*; do ln "$f" "$work/m-node2/"; done
shard=$(ls "$work/m"/*.safetensors | tail -1)
rm "$work/m-node2/$(basename "$shard")"
set +e
"$MPIEXEC" -n 1 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" --out "$work/c.h5" : \
  -n 1 "$FROMSCRATCH" fingerprint "$work/m-node2" --out "$work/c.h5" > /dev/null 2> "$work/c.err"; rc=$?
set -e
[ $rc -ne 0 ] || { echo "missing shard on one rank: exit 0"; exit 1; }
grep -q "rank 1: .*$(basename "$shard")" "$work/c.err" || { echo "rank 0 does not report rank 1's missing shard"; cat "$work/c.err"; exit 1; }
test ! -e "$work/c.h5"

# 3b. The shards cut short mid-run (the remaining tensors' reads fail): exit 1 naming a shard; restored,
#     --resume completes.
cp -r "$work/m" "$work/m.bak"
FROMSCRATCH_TEST_SLEEP_MS_PER_TENSOR=100 "$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" \
  --out "$work/c.h5" --threads 1 --force > /dev/null 2> "$work/c.err" &
mpi=$!; pids+=($mpi)
wait_for_records "$work/c.h5.journal"
for f in "$work/m"/*.safetensors; do truncate -s 1000 "$f"; done
set +e; wait $mpi; rc=$?; set -e
cp "$work/m.bak"/*.safetensors "$work/m/"
[ $rc -eq 1 ] || { echo "truncated shards: rc $rc"; cat "$work/c.err"; exit 1; }
grep -q "model-0000[1-5]-of-00005.safetensors" "$work/c.err" || { echo "error does not name a shard"; cat "$work/c.err"; exit 1; }
test ! -e "$work/c.h5"
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/c.h5" --resume 2> "$work/c2.err" > /dev/null
grep -q "# resuming: [1-9][0-9]* of 49 tensors" "$work/c2.err" || { cat "$work/c2.err"; exit 1; }
$PY "$CHECK" "$work/ref.h5" --same "$work/c.h5"

# 4. A full disk: a 64 KiB file-size limit (SIGXFSZ ignored, so write() fails with EFBIG).
set +e
( trap '' XFSZ; ulimit -f 64; exec "$FROMSCRATCH" fingerprint "$work/m" --out "$work/d.h5" --quiet ) 2> "$work/d.err"; rc=$?
set -e
[ $rc -eq 1 ] || { echo "full disk: rc $rc"; cat "$work/d.err"; exit 1; }
grep -qi "too large\|no space" "$work/d.err" || { echo "full disk: unclear message"; cat "$work/d.err"; exit 1; }
test ! -e "$work/d.h5"
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/d.h5" --resume --quiet
$PY "$CHECK" "$work/ref.h5" --same "$work/d.h5"
echo "fingerprint_resume: ok"
