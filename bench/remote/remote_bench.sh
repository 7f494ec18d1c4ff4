#!/usr/bin/env bash
# Many small ranges in flight against one whole-file download of the same bytes, side by side in one run.
#
# Serves a generated checkpoint like the hub: the API and resolve/ answers from tests/support/hub/hub_server.py,
# the LFS storage host from nginx (a real static server with Range support, as the hub's CDN is) when nginx is
# installed, else from the same Python server. Then, on the same shards:
#   baseline  curl: one whole-file GET per shard, sequential (what `huggingface-cli download` amounts to)
#   ranges    fromscratch remote fetch --discard: every shard as 256 KiB ranges, FROMSCRATCH_HTTP_IN_FLIGHT (16)
#             in flight, into memory (rate = bytes / time with transfers running); then the same into a
#             fresh byte cache; then hash hf://... from the warm cache must fetch 0 bytes
#   headers   fromscratch inspect hf://...: bytes fetched for a header-only test, as % of the checkpoint
# Prints a table and writes bench/out/remote_bench.json. Not a test: timings on shared machines are noisy.
# Usage: bench/remote/remote_bench.sh [BUILD_DIR] [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SIZE_MB=${2:-512}
FS=$(realpath "$BUILD/src/cli/fromscratch")
PY=/usr/bin/python3
OUT=bench/out/remote
mkdir -p "$OUT"
work=$(mktemp -d)
chmod 755 "$work"   # nginx workers (user nobody when started as root) must reach the links
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A checkpoint of ~SIZE_MB: real safetensors shards of 64 MiB, random-valued BF16 tensors.
CK=$OUT/model-${SIZE_MB}mb
if [ ! -f "$CK/model.safetensors.index.json" ]; then
  rm -rf "$CK"; mkdir -p "$CK"
  "$PY" - "$CK" "$SIZE_MB" <<'PYEOF'
import json, os, struct, sys
out, size_mb = sys.argv[1], int(sys.argv[2])
tensor_bytes = 8 << 20            # 8 MiB tensors (4096 x 1024 BF16)
per_shard = 8                     # 64 MiB shards
n = max(1, size_mb * (1 << 20) // tensor_bytes)
weight_map = {}
for s in range((n + per_shard - 1) // per_shard):
    names = [f"model.layers.{i}.mlp.down_proj.weight" for i in range(s * per_shard, min(n, (s + 1) * per_shard))]
    header, off = {}, 0
    for nm in names:
        header[nm] = {"dtype": "BF16", "shape": [4096, 1024], "data_offsets": [off, off + tensor_bytes]}
        off += tensor_bytes
    h = json.dumps(header).encode()
    fn = f"model-{s + 1:05d}.safetensors"
    with open(os.path.join(out, fn), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _ in names:
            f.write(os.urandom(tensor_bytes))
    for nm in names:
        weight_map[nm] = fn
json.dump({"metadata": {"total_size": n * tensor_bytes}, "weight_map": weight_map}, open(os.path.join(out, "model.safetensors.index.json"), "w"))
json.dump({"model_type": "llama", "hidden_size": 1024, "num_hidden_layers": n, "vocab_size": 32000}, open(os.path.join(out, "config.json"), "w"))
PYEOF
fi
mkdir -p "$work/hub/bench"
ln -s "$(realpath "$CK")" "$work/hub/bench/model"
mapfile -t shards < <(cd "$CK" && ls model-*.safetensors)
bytes=$(cat "$CK"/model-*.safetensors | wc -c)

# storage host: nginx when present
storage=""
if command -v nginx > /dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/nginx/logs" "$work/lfsroot"
  cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fcgi;
  uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$port; root $work/lfsroot; disable_symlinks off; }
}
NGX
  "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  pids+=($!)
  storage="http://127.0.0.1:$port"
fi
"$PY" tests/support/hub/hub_server.py --root "$work/hub" --port-file "$work/port" \
  ${storage:+--storage-origin "$storage" --lfs-dir "$work/lfsroot"} &
pids+=($!)
for _ in $(seq 1 400); do [ -s "$work/port" ] && break; sleep 0.05; done
export HF_ENDPOINT="http://127.0.0.1:$(cat "$work/port")"
server_kind=${storage:+nginx}
server_kind=${server_kind:-python}
sleep 0.5

# baseline: curl, one whole-file download per shard (redirect followed, like a plain download); and
# fromscratch remote fetch --discard: 256 KiB ranges, 16 in flight, into memory (as curl writes to /dev/null),
# its report giving the rate over the time with transfers running. Alternated, 3 rounds; medians reported.
export FROMSCRATCH_CACHE="$work/cache"
rate_of() { echo "$1" | sed -E 's/.* at ([0-9.]+ [KMG]iB)\/s.*/\1/' | awk '{v=$1; u=$2; m=(u=="KiB")?1024:(u=="MiB")?1048576:(u=="GiB")?1073741824:1; printf "%.0f", v*m}'; }
median() { printf "%s\n" "$@" | sort -g | sed -n 2p; }
curl_rates=(); range_rates=(); ratios=()
for round in 1 2 3; do
  t0=$(date +%s.%N)
  for s in "${shards[@]}"; do curl -sfL -o /dev/null "$HF_ENDPOINT/bench/model/resolve/main/$s"; done
  t1=$(date +%s.%N)
  c=$(echo "$bytes / ($t1 - $t0)" | bc -l)
  "$FS" remote fetch hf://bench/model --discard > "$work/discard.out" 2>&1
  line=$(grep "fetched" "$work/discard.out")
  r=$(rate_of "$line")
  curl_rates+=("$c"); range_rates+=("$r"); ratios+=("$(echo "$r / $c" | bc -l)")
done
fetched=$(echo "$line" | sed -E 's/.*fetched ([0-9]+) bytes.*/\1/')
curl_rate=$(median "${curl_rates[@]}")
ranges_rate=$(median "${range_rates[@]}")
echo "# rounds: curl ${curl_rates[*]} B/s; ranges ${range_rates[*]} B/s; ratios ${ratios[*]}" >&2
# the same into the byte cache (chunk files written as they arrive, then each shard checked against its LFS sha256)
rm -rf "$work/cache"
t0=$(date +%s.%N)
"$FS" remote fetch hf://bench/model > "$work/fetch.out" 2> "$work/fetch.err"
t1=$(date +%s.%N)
fetch_s=$(echo "$t1 - $t0" | bc -l)
cached_rate=$(rate_of "$(grep fetched "$work/fetch.out")")
# hash from the warm byte cache (nothing fetched)
t0=$(date +%s.%N)
"$FS" hash hf://bench/model > /dev/null 2> "$work/hash.err"
t1=$(date +%s.%N)
hash_s=$(echo "$t1 - $t0" | bc -l)
grep -q "fetched 0 bytes" "$work/hash.err" || { echo "second run fetched bytes"; cat "$work/hash.err"; exit 1; }

# header-only test
rm -rf "$work/cache2"
FROMSCRATCH_CACHE="$work/cache2" "$FS" inspect hf://bench/model > /dev/null 2> "$work/inspect.err"
hdr=$(grep "fetched" "$work/inspect.err" | sed -E 's/.*fetched ([0-9]+) bytes.*/\1/')

ratio=$(median "${ratios[@]}")
pct=$(echo "100 * $hdr / $bytes" | bc -l)
printf "storage server: %s; checkpoint %d bytes in %d shards\n" "$server_kind" "$bytes" "${#shards[@]}"
printf "%-58s %12s\n" "measurement" "MB/s"
printf "%-58s %12.1f\n" "curl, one whole-file GET per shard (baseline)" "$(echo "$curl_rate / 1000000" | bc -l)"
printf "%-58s %12.1f\n" "fromscratch, 256 KiB ranges, 16 in flight, into memory" "$(echo "$ranges_rate / 1000000" | bc -l)"
printf "%-58s %12.1f\n" "  the same into the byte cache (transfers + chunk writes)" "$(echo "$cached_rate / 1000000" | bc -l)"
printf "%-58s %12.1f\n" "  remote fetch wall time (+ open, LFS sha256 check)" "$(echo "$bytes / $fetch_s / 1000000" | bc -l)"
printf "%-58s %12.1f\n" "fromscratch hash hf:// from the warm cache (0 bytes fetched)" "$(echo "$bytes / $hash_s / 1000000" | bc -l)"
printf "ranges / curl = %.2f (median of 3 alternated rounds; goal >= 0.80); into the cache / curl = %.2f\n" "$ratio" "$(echo "$cached_rate / $curl_rate" | bc -l)"
printf "header-only (inspect): %d bytes fetched = %.4f%% of the checkpoint (goal < 1%%)\n" "$hdr" "$pct"
cat > bench/out/remote_bench.json <<JSON
{"server": "$server_kind", "bytes": $bytes, "shards": ${#shards[@]}, "fetched": $fetched,
 "curl_bytes_per_s": $curl_rate, "ranges_bytes_per_s": $ranges_rate, "cached_bytes_per_s": $cached_rate, "fetch_wall_s": $fetch_s, "hash_warm_cache_s": $hash_s,
 "ratio_ranges_over_curl": $ratio, "header_only_bytes": $hdr, "header_only_percent": $pct}
JSON
