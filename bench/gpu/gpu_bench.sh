#!/usr/bin/env bash
# GPU throughput benchmark (issue 8, item 5), for a machine with a CUDA device: one full-width synthetic
# Solar-Open layer (128 experts x 3 matrices 1280x4096 BF16, attention, norms, router; --vocab 2048), page
# cache warm, measured side by side in one run:
#   dd bs=8M of the shard files               the page-cache read rate
#   fromscratch device --bench                read, decode, moments, sketch (k x rows times W, cuBLAS) on the
#                                             device, and with --cpu-baseline the CPU twin on the same tensors
#   bench/gpu/torch_bench.py                  PyTorch doing the same on the same files (on the GPU when torch
#                                             sees one): decode (.float()), moments in float64, S @ W in float32
# and prints GB/s of stored bytes and the ratios fromscratch / PyTorch. Not runnable without a GPU (the
# device path is then the CPU twin: the script still runs, and says so).
#
# usage: bench/gpu/gpu_bench.sh [FROMSCRATCH_BINARY] [WORK_DIR] [SKETCH_DIM]
set -euo pipefail
cd "$(dirname "$0")/../.."
F=${1:-build/src/cli/fromscratch}
W=${2:-$(mktemp -d /tmp/gpu-bench.XXXXXX)}
K=${3:-64}
PY=${PYTHON:-/usr/bin/python3}
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

echo "# $(date -u +%FT%TZ)  $(uname -n)  $(nproc) cores  $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GB"}')"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/# gpu: /'
"$F" device | sed 's/^/# /'
"$F" synth model --template solar-open --scale full --layers 1 --vocab 2048 --seed 1 --shard-size 2GB \
     --out "$W/m" > /dev/null 2>&1
files=$(ls "$W"/m/*.safetensors)
bytes=$(stat -c %s $files | awk '{s += $1} END {print s}')
echo "# files: $(echo $files | wc -w) shards, $bytes bytes"
cat $files > /dev/null; cat $files > /dev/null   # warm the page cache

t0=$(date +%s.%N)
for f in $files; do dd if="$f" of=/dev/null bs=8M 2> /dev/null; done
t1=$(date +%s.%N)
dd_gbps=$(echo "$bytes $t0 $t1" | awk '{printf "%.3f", $1 / ($3 - $2) / 1e9}')
echo "dd (page cache)        read $dd_gbps GB/s"

"$F" device --bench "$W/m" --cpu-baseline --sketch-dim "$K" --repeats 3 --json > "$W/fs.json"
"$PY" bench/gpu/torch_bench.py "$W/m" --sketch-dim "$K" --repeats 3 > "$W/torch.json"
"$PY" - "$W/fs.json" "$W/torch.json" "$dd_gbps" <<'PY'
import json, sys
fs = json.load(open(sys.argv[1]))
th = json.load(open(sys.argv[2]))
dd = float(sys.argv[3])
ops = ("read", "decode", "moments", "sketch")
for b in fs["bench"]:
    print(f"fromscratch {b['accelerator'][:40]:40s} " + "  ".join(f"{k} {b['gbps'][k]:.2f}" for k in ops) + "  GB/s")
print(f"pytorch     {th['device'][:40]:40s} " + "  ".join(f"{k} {th['gbps'][k]:.2f}" for k in ops) + "  GB/s")
dev = fs["bench"][0]
print("ratio fromscratch / pytorch: " + "  ".join(f"{k} {dev['gbps'][k] / th['gbps'][k]:.2f}" for k in ops if th['gbps'][k] > 0))
print(f"ratio fromscratch read / dd page cache: {dev['gbps']['read'] / dd:.2f}")
if not fs["device"]:
    print("NOTE: no CUDA device here: the 'device' figures are the CPU twin's (" + fs["message"] + ")")
PY
