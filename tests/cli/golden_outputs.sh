#!/usr/bin/env bash
# labels: cli
# `hash` and `inspect` on the committed tiny checkpoint match their golden files byte for byte.
# FROMSCRATCH_UPDATE_GOLDENS=1 rewrites the goldens instead (review the diff before committing).
set -euo pipefail
ck="$FROMSCRATCH_SOURCE_DIR/tests/data/checkpoints/tiny-moe"
golden="$FROMSCRATCH_SOURCE_DIR/tests/data/golden"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Paths in outputs are made relative so the goldens do not depend on where the repository lives.
(cd "$ck/.." && "$FROMSCRATCH" hash tiny-moe > "$work/hash_tiny-moe.txt" 2>/dev/null)
(cd "$ck/.." && "$FROMSCRATCH" hash tiny-moe --json > "$work/hash_tiny-moe.json" 2>/dev/null)
(cd "$ck/.." && "$FROMSCRATCH" inspect tiny-moe --json --tensors > "$work/inspect_tiny-moe.json" 2>/dev/null)
(cd "$ck/.." && "$FROMSCRATCH" inspect tiny-moe > "$work/inspect_tiny-moe.txt" 2>/dev/null)
sed -i "s|$(cd "$ck/.." && pwd)|<checkpoints>|g" "$work"/*
status=0
for f in hash_tiny-moe.txt hash_tiny-moe.json inspect_tiny-moe.json inspect_tiny-moe.txt; do
  if [ "${FROMSCRATCH_UPDATE_GOLDENS:-0}" = 1 ]; then cp "$work/$f" "$golden/$f"; echo "updated $golden/$f"; continue; fi
  if ! diff -u "$golden/$f" "$work/$f"; then
    echo "$f differs from its golden (FROMSCRATCH_UPDATE_GOLDENS=1 to accept an intended change)"; status=1
  fi
done
exit $status
