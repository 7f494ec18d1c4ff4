#!/usr/bin/env bash
# labels: cli mpi
# `fromscratch fingerprint` writes the same datasets at 1, 2, 3 and 4 MPI ranks and 1 or 2 threads (h5py compares
# every dataset and attribute outside /provenance bit for bit), every schema dataset reads with h5py and
# h5dump, the stored SHA-256 equal hashlib's, --show validates, no overwrite without --force, and a corrupt,
# unfinished or foreign fingerprint is refused with a message naming the file and the field.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
CHECK="$FROMSCRATCH_SOURCE_DIR/tests/support/check_fingerprint.py"
"$FROMSCRATCH" synth model --template solar-open --scale tiny --layers 2 --experts 4 --seed 3 --shard-size 1MB \
  --out "$work/m" > /dev/null 2>&1

"$FROMSCRATCH" fingerprint "$work/m" --out "$work/fp.plain.h5" --threads 1 --quiet
for ranks in 1 2 3 4; do
  threads=$(( ranks % 2 + 1 ))
  "$MPIEXEC" -n $ranks --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" --out "$work/fp.$ranks.h5" \
    --threads $threads --json > "$work/out.$ranks.json" 2> "$work/err.$ranks.txt"
  $PY "$CHECK" "$work/fp.plain.h5" --same "$work/fp.$ranks.h5"
  test ! -e "$work/fp.$ranks.h5.journal"   # the journal is gone once the file is complete
  test ! -e "$work/fp.$ranks.h5.tmp"
done
grep -q '"ranks": 4' "$work/out.4.json"
# The large tables written in many collective rounds (one tensor's data per round: partial compressed chunks
# completed by later rounds): still identical.
FROMSCRATCH_TEST_WRITE_ROUND_BYTES=1 "$MPIEXEC" -n 3 --oversubscribe "$FROMSCRATCH" fingerprint "$work/m" \
  --out "$work/fp.rounds.h5" --threads 1 --quiet
$PY "$CHECK" "$work/fp.plain.h5" --same "$work/fp.rounds.h5"
$PY "$CHECK" "$work/fp.plain.h5" --model "$work/m"
h5dump -H "$work/fp.3.h5" > /dev/null
h5dump -d /tensors/values -d /tensors/row_digests -d /tensors/sha256 "$work/fp.3.h5" > /dev/null
h5dump -a /complete "$work/fp.3.h5" | grep -q "(0): 1"

# --show reads and validates.
"$FROMSCRATCH" fingerprint --show "$work/fp.2.h5" --json > "$work/show.json"
$PY - "$work/show.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "fingerprint" and d["tensors"] == 49, d
assert sum(d["kept"].values()) == 49, d
PYEOF

set +e
# No overwrite without --force (usage: 2); --force and --resume exclude each other.
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/fp.1.h5" --quiet 2> "$work/e"; rc=$?
[ $rc -eq 2 ] && grep -q "exists; pass --force" "$work/e" || { echo "overwrite: rc $rc"; cat "$work/e"; exit 1; }
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/x.h5" --force --resume 2> /dev/null; rc=$?
[ $rc -eq 2 ] || { echo "--force --resume: rc $rc"; exit 1; }
"$FROMSCRATCH" fingerprint "$work/nonexistent" --out "$work/x.h5" 2> /dev/null; rc=$?
[ $rc -eq 1 ] || { echo "missing model: rc $rc"; exit 1; }

# Broken fingerprints: each refused by every rank with exit 1 and a message naming the file and the field.
cp "$work/fp.1.h5" "$work/unfinished.h5"
cp "$work/fp.1.h5" "$work/offsets.h5"
cp "$work/fp.1.h5" "$work/foreign.h5"
$PY - "$work" <<'PYEOF'
import h5py, sys
w = sys.argv[1]
with h5py.File(w + "/unfinished.h5", "r+") as f:
    del f.attrs["complete"]
with h5py.File(w + "/offsets.h5", "r+") as f:
    d = f["/tensors/value_offset"]
    v = d[()]; v[5] = v[4] + 10**9; d[...] = v
with h5py.File(w + "/foreign.h5", "r+") as f:
    f.attrs["format"] = "something-else"
PYEOF
head -c 3000 "$work/fp.1.h5" > "$work/truncated.h5"
for bad in unfinished offsets foreign truncated; do
  "$MPIEXEC" -n 2 --oversubscribe "$FROMSCRATCH" fingerprint --show "$work/$bad.h5" > /dev/null 2> "$work/e.$bad"; rc=$?
  [ $rc -eq 1 ] || { echo "$bad: rc $rc"; cat "$work/e.$bad"; exit 1; }
  grep -q "$work/$bad.h5" "$work/e.$bad" || { echo "$bad: message does not name the file"; cat "$work/e.$bad"; exit 1; }
done
grep -q "unfinished" "$work/e.unfinished"
grep -q "value_offset" "$work/e.offsets"
grep -q "not a fingerprint" "$work/e.foreign"
set -e
"$FROMSCRATCH" fingerprint "$work/m" --out "$work/fp.1.h5" --force --quiet
$PY "$CHECK" "$work/fp.plain.h5" --same "$work/fp.1.h5"
echo "fingerprint_mpi: ok"
