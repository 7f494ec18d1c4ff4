#!/usr/bin/env bash
# labels: cli
# Runs every shell block of README.md that follows an <!-- example --> marker, line by line, with the built
# fromscratch first on PATH, in a fresh folder next to which ../shared/data is reachable.
set -euo pipefail
readme="$FROMSCRATCH_SOURCE_DIR/README.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/run"
ln -s "$FROMSCRATCH" "$work/bin/fromscratch"
export PATH="$work/bin:$PATH"
shared="${FROMSCRATCH_SHARED_DATA:-$FROMSCRATCH_SHARED_DATA_DEFAULT}"
# ../shared/data as the README writes it (relative to the run folder) points at the real metadata.
mkdir -p "$work/shared"
if [ -d "$shared" ]; then ln -s "$shared" "$work/shared/data"; fi
blocks=$(awk '/<!-- example -->/{want=1; next} want && /^```/{if (inblock) {inblock=0; want=0} else inblock=1; next} inblock' "$readme")
[ -n "$blocks" ] || { echo "no example blocks found in README.md"; exit 1; }
cd "$work/run"
n=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  if [[ "$line" == *"../shared/data"* ]] && [ ! -d "$shared/models" ]; then
    echo "skipped (../shared/data absent): $line"; continue
  fi
  echo "+ $line"
  bash -o pipefail -c "$line" < /dev/null > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "README example failed: $line"; exit 1; }
  n=$((n + 1))
done <<< "$blocks"
want=$(grep -c . <<< "$blocks")
[ "$n" -eq "$want" ] || [ ! -d "$shared/models" ] || { echo "only $n of $want example commands ran"; exit 1; }
echo "readme_examples: $n commands ran"
