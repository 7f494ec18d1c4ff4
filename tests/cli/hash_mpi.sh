#!/usr/bin/env bash
# labels: cli mpi
# `fromscratch hash` gives byte-identical output for 1, 2 and 3 MPI ranks and 1 or 2 threads, its digests agree
# with sha256sum / hashlib / python-xxhash, and its parallel HDF5 file reads back with h5dump and h5py.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
$PY "$FROMSCRATCH_SOURCE_DIR/tests/support/write_test_checkpoint.py" "$work/ck"

for ranks in 1 2 3; do
  for threads in 1 2; do
    "$MPIEXEC" -n $ranks --oversubscribe "$FROMSCRATCH" hash "$work/ck" --threads $threads --buffer-mib 1 \
      > "$work/out.$ranks.$threads.txt" 2> "$work/err.$ranks.$threads.txt"
    "$MPIEXEC" -n $ranks --oversubscribe "$FROMSCRATCH" hash "$work/ck" --json --threads $threads \
      > "$work/out.$ranks.$threads.json" 2>/dev/null
    cmp "$work/out.1.1.txt" "$work/out.$ranks.$threads.txt"
    cmp "$work/out.1.1.json" "$work/out.$ranks.$threads.json"
  done
done
# Without mpiexec the same binary runs as one rank with the same output.
"$FROMSCRATCH" hash "$work/ck" > "$work/plain.txt" 2>/dev/null
cmp "$work/out.1.1.txt" "$work/plain.txt"
grep -q "on 3 rank(s) x 2 thread(s)" "$work/err.3.2.txt"

# sha256sum of the byte range (dd) equals the printed digest, for one tensor.
read -r off len < <($PY - "$work/ck" <<'PYEOF'
import json, struct, sys, os
p = os.path.join(sys.argv[1], "model-00001-of-00002.safetensors")
f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
b, e = h["model.embed_tokens.weight"]["data_offsets"]; print(8 + n + b, e - b)
PYEOF
)
want=$(dd if="$work/ck/model-00001-of-00002.safetensors" bs=1 skip="$off" count="$len" status=none | sha256sum | cut -d' ' -f1)
grep -q "^$want .*model.embed_tokens.weight$" "$work/out.1.1.txt"

# Parallel HDF5 written by 3 ranks: h5dump reads it; h5py + hashlib + xxhash agree with every digest.
"$MPIEXEC" -n 3 --oversubscribe "$FROMSCRATCH" hash "$work/ck" --h5 "$work/h.h5" > /dev/null 2> "$work/h5err.txt"
grep -q "collective MPI-IO write" "$work/h5err.txt"
h5dump -d /row_digests "$work/h.h5" > /dev/null
$PY "$FROMSCRATCH_SOURCE_DIR/tests/support/check_hash_output.py" "$work/ck" "$work/out.1.1.json" "$work/h.h5"

# No overwrite without --force; usage errors exit 2.
set +e
"$FROMSCRATCH" hash "$work/ck" --h5 "$work/h.h5" > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "expected exit 2 without --force, got $rc"; exit 1; }
"$FROMSCRATCH" hash "$work/ck" --threads -3 > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "expected exit 2 for --threads -3, got $rc"; exit 1; }
"$FROMSCRATCH" hash "$work/nonexistent" > /dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || { echo "expected exit 1 for a missing checkpoint, got $rc"; exit 1; }
set -e
"$FROMSCRATCH" hash "$work/ck" --h5 "$work/h.h5" --force > /dev/null 2>&1
echo "hash_mpi: ok"
