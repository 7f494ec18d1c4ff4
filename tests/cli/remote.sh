#!/usr/bin/env bash
# labels: cli
# Remote checkpoints end to end against a real HTTP server on 127.0.0.1 (tests/support/hub/hub_server.py)
# serving a generated family laid out like the hub: hf:// results equal the local ones (inspect, hash, arch
# compare, tokenizer compare), the cache makes a second run fetch nothing, the token goes to the endpoint
# only, the local Hugging Face cache layout is read, and every fault and hostile answer either leaves the
# result right or fails with an error naming the URL, with nothing cached as valid.
set -euo pipefail
work=$(mktemp -d)
# start_hub runs inside $(...), a subshell, so the servers' pids go to a file the EXIT trap can read (an array
# filled there would stay empty here, and the servers would outlive the test).
cleanup() {
  if [ -f "$work/pids" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done < "$work/pids"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"
SRC="$FROMSCRATCH_SOURCE_DIR"
export FROMSCRATCH_HTTP_BACKOFF_MS=20   # fast retries against the local server
unset HF_TOKEN HF_HUB_CACHE HF_HOME

expect_rc() {  # expect_rc CODE command...
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

absent() {  # absent GREP-ARGS...: fails when grep finds the pattern (a bare `! grep` does not stop set -e)
  if grep -q "$@"; then echo "unexpected match: grep $*"; exit 1; fi
}

start_hub() {  # start_hub NAME FAULT -> prints the endpoint URL; the server logs to $work/NAME.log
  local name=$1 fault=$2
  rm -f "$work/$name.port"
  "$PY" "$SRC/tests/support/hub/hub_server.py" --root "$work/hub" --port-file "$work/$name.port" \
    --fault "$fault" --log "$work/$name.log" --storage-port-file "$work/$name.sport" > "$work/$name.server.txt" 2>&1 &
  echo $! >> "$work/pids"
  for _ in $(seq 1 200); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  [ -s "$work/$name.port" ] || { echo "hub server $name did not start"; cat "$work/$name.server.txt"; exit 1; }
  echo "http://127.0.0.1:$(cat "$work/$name.port")"
}

# ---- a family served like the hub ----
"$F" synth family --template solar-open --scale tiny --seed 7 --out "$work/fam" > /dev/null 2>&1
"$F" synth model --template solar-open --scale tiny --seed 7 --shard-size 2MB --out "$work/sharded" > /dev/null 2>&1
mkdir -p "$work/hub/test"
for m in base fine-tuned; do cp -r "$work/fam/$m" "$work/hub/test/$m"; done
cp -r "$work/sharded" "$work/hub/test/sharded"
# models with tokenizers (the tiny trained family)
for m in moe-a moe-a-reembed; do cp -r "$SRC/tests/data/trained/$m" "$work/hub/test/$m"; done

URL=$(start_hub main none)
export HF_ENDPOINT="$URL" FROMSCRATCH_CACHE="$work/cache"

# help and usage
"$F" remote --help | grep -q "plan"
"$F" remote plan --help | grep -q "usage: fromscratch remote plan"
expect_rc 2 "$F" remote
expect_rc 2 "$F" remote nonsense
expect_rc 2 "$F" inspect "hf://bad name/x"
expect_rc 2 "$F" inspect "hf://a/b/c"

# ---- inspect: same inventory, header-only fetch ----
"$F" inspect "$work/fam/base" --json > "$work/local.json"
"$F" inspect hf://test/base --json > "$work/remote.json" 2> "$work/remote.err"
grep -q "fetched" "$work/remote.err"
"$PY" - "$work/local.json" "$work/remote.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if k not in ("source", "root", "index", "path", "config")}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
assert strip(a) == strip(b), "inventory differs between local and hf://"
PYEOF

# ---- hash: identical output; the second run fetches nothing; whole shards verified against LFS sha256 ----
"$F" hash "$work/fam/base" > "$work/hash.local"
"$F" hash hf://test/base > "$work/hash.remote" 2> "$work/hash.err"
cmp "$work/hash.local" "$work/hash.remote"
grep -q "files verified whole" "$work/hash.err"
absent "read in part" "$work/hash.err"
"$F" hash hf://test/base > "$work/hash.remote2" 2> "$work/hash2.err"
cmp "$work/hash.local" "$work/hash.remote2"
grep -q "fetched 0 bytes" "$work/hash2.err"
# pinned to the commit sha: no request at all
sha=$("$F" remote info hf://test/base --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["commit"])')
[ ${#sha} -eq 40 ]
"$F" hash "hf://test/base@$sha" --json > "$work/hash.json" 2> "$work/hash3.err"
grep -q "fetched 0 bytes" "$work/hash3.err"
grep -q " 0 HTTP requests" "$work/hash3.err"
grep -q "hf://test/base@$sha" "$work/hash.json"   # the commit is recorded in the result

# a sharded checkpoint (index + 5 shards): same inventory and digests; header-only inspect fetches a part
"$F" hash "$work/sharded" > "$work/hs.local"
"$F" inspect hf://test/sharded > /dev/null 2> "$work/ins.err"
grep -q "5 read in part (unverified against the LFS digest)" "$work/ins.err"
"$F" hash hf://test/sharded > "$work/hs.remote" 2>/dev/null
cmp "$work/hs.local" "$work/hs.remote"

# --index-only on the hub: the index and config alone, no shard byte
"$F" inspect "$work/sharded" --index-only --json > "$work/idx.local"
"$F" inspect hf://test/sharded --index-only --json > "$work/idx.remote" 2> "$work/idx.err"
absent "read in part" "$work/idx.err"   # no shard byte was touched
"$PY" - "$work/idx.local" "$work/idx.remote" <<'PYEOF'
import json, sys
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if k not in ("source", "index", "root", "config", "path")}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
assert a == b, "index-only inventory differs between local and hf://"
PYEOF

# ---- arch compare and tokenizer compare on hub references equal the local ones ----
"$F" arch compare "$work/fam/base" "$work/fam/fine-tuned" --json > "$work/arch.local"
"$F" arch compare hf://test/base hf://test/fine-tuned --json > "$work/arch.remote" 2>/dev/null
"$F" tokenizer compare "$SRC/tests/data/trained/moe-a" "$SRC/tests/data/trained/moe-a-reembed" --json > "$work/tok.local"
"$F" tokenizer compare hf://test/moe-a hf://test/moe-a-reembed --json > "$work/tok.remote" 2>/dev/null
"$PY" - "$work" "$SRC" <<'PYEOF'
import json, sys
w, src = sys.argv[1:3]
names = {"arch": [(f"{w}/fam/base/config.json", "hf://test/base", "A"), (f"{w}/fam/fine-tuned/config.json", "hf://test/fine-tuned", "B")],
         "tok": [(f"{src}/tests/data/trained/moe-a-reembed", "hf://test/moe-a-reembed", "B"), (f"{src}/tests/data/trained/moe-a", "hf://test/moe-a", "A")]}
for kind, subst in names.items():
    a = open(f"{w}/{kind}.local").read(); b = open(f"{w}/{kind}.remote").read()
    for local, remote, label in subst:
        a = a.replace(local, label); b = b.replace(remote, label)
    ja, jb = json.loads(a), json.loads(b)
    assert ja == jb, f"{kind} compare differs between local and hf://:\n{a[:2000]}\n---\n{b[:2000]}"
PYEOF

# ---- remote info and plan ----
"$F" remote info hf://test/fine-tuned > "$work/info.txt" 2>/dev/null
grep -q "commit " "$work/info.txt"
"$F" remote plan hf://test/base hf://test/fine-tuned --json > "$work/plan.json" 2>/dev/null
"$PY" - "$work/plan.json" <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1]))
t = {x["id"]: x for x in p["tests"]}
assert p["exact_headers"]["a"] and p["exact_headers"]["b"]
assert t["full"]["bytes_a"] == p["checkpoint_bytes"]["a"] > 0
assert 0 < t["headers"]["bytes"] < t["full"]["bytes"]
assert t["norms"]["bytes"] <= t["comparable"]["bytes"] + t["full"]["bytes"]
PYEOF
"$F" remote plan hf://test/base hf://test/fine-tuned --max-download 1K > "$work/plan.txt" 2>/dev/null
grep -q "not run" "$work/plan.txt"

# the Solar-Open-100B vs GLM-4.5-Air budget from the catalog's real shapes (no network): the full test is
# twice the parameters (BF16) that arch params counts, the header-only test under 0.01% of it
"$F" remote plan upstage/Solar-Open-100B zai-org/GLM-4.5-Air --json > "$work/solar.json"
"$F" arch params upstage/Solar-Open-100B --json > "$work/solar-params.json"
"$PY" - "$work/solar.json" "$work/solar-params.json" <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1])); n = json.load(open(sys.argv[2]))["total_with_mtp"]
t = {x["id"]: x for x in p["tests"]}
assert t["full"]["bytes_a"] == 2 * n, (t["full"]["bytes_a"], n)
assert t["headers"]["bytes"] < 1e-4 * t["full"]["bytes"]
assert 0 < t["comparable"]["bytes_a"] < 0.01 * t["full"]["bytes_a"]
PYEOF

# ---- several ranks: each fetches its share, the output equals the local one ----
if [ -n "${MPIEXEC:-}" ]; then
  FROMSCRATCH_CACHE="$work/cache-mpi" "$MPIEXEC" -n 2 --oversubscribe "$F" hash hf://test/sharded > "$work/hs.mpi" 2>/dev/null
  cmp "$work/hs.local" "$work/hs.mpi"
fi

# ---- --max-download (environment form for every command): a cap below the data fails clearly ----
expect_rc 1 env FROMSCRATCH_CACHE="$work/cache-cap" FROMSCRATCH_MAX_DOWNLOAD=100K "$F" hash hf://test/fine-tuned
grep -q "max-download" "$work/err.txt"
expect_rc 1 env FROMSCRATCH_CACHE="$work/cache-cap2" "$F" hash hf://test/sharded --max-download 1M
grep -q "max-download 1000000 bytes reached" "$work/err.txt"
FROMSCRATCH_CACHE="$work/cache-cap2" "$F" inspect hf://test/sharded --max-download 2M > /dev/null 2>&1   # headers fit
expect_rc 2 "$F" hash hf://test/sharded --max-download 12Q

# ---- not found ----
expect_rc 1 "$F" inspect hf://test/nonexistent
grep -q "HTTP 404" "$work/err.txt"
expect_rc 1 env HF_HUB_CACHE="$work/nocache" "$F" inspect test/absent
grep -q "models--test--absent" "$work/err.txt"

# ---- the token goes to the endpoint only, and is never printed ----
URL_OH=$(start_hub otherhost other-host)
HF_ENDPOINT="$URL_OH" FROMSCRATCH_CACHE="$work/cache-oh" HF_TOKEN=sekrit-token-123 "$F" hash hf://test/base > "$work/hash.oh" 2> "$work/oh.err"
cmp "$work/hash.local" "$work/hash.oh"
absent -r "sekrit-token-123" "$work/oh.err" "$work/hash.oh" "$work/cache-oh"
"$PY" - "$work/otherhost.log" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hub = [r for r in rows if not r["storage"]]; storage = [r for r in rows if r["storage"]]
assert hub and storage, "expected requests to both hosts"
assert all(r["authorization"] for r in hub), "token missing on the endpoint"
assert not any(r["authorization"] for r in storage), "token sent to the storage host"
PYEOF

# ---- the local Hugging Face cache layout (refs, snapshots -> ../../blobs) ----
"$PY" - "$work/fam/base" "$work/hfcache/models--test--base" <<'PYEOF'
import hashlib, os, sys
src, repo = sys.argv[1:3]
commit = "0123456789abcdef0123456789abcdef01234567"
snap = os.path.join(repo, "snapshots", commit); os.makedirs(snap); os.makedirs(os.path.join(repo, "blobs")); os.makedirs(os.path.join(repo, "refs"))
open(os.path.join(repo, "refs", "main"), "w").write(commit)
for fn in os.listdir(src):
    data = open(os.path.join(src, fn), "rb").read()
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(repo, "blobs", h), "wb").write(data)
    os.symlink(os.path.join("..", "..", "blobs", h), os.path.join(snap, fn))
PYEOF
HF_HUB_CACHE="$work/hfcache" "$F" hash test/base > "$work/hash.hfc"
cmp "$work/hash.local" "$work/hash.hfc"
HF_HOME="$work/hfhome" expect_rc 1 "$F" hash test/base   # HF_HOME/hub has no such repository
mkdir -p "$work/hfhome" && ln -s "$work/hfcache" "$work/hfhome/hub"
HF_HOME="$work/hfhome" "$F" hash test/base@0123456789abcdef0123456789abcdef01234567 > "$work/hash.hfh"
cmp "$work/hash.local" "$work/hash.hfh"
# verify takes hub and cache references like folders: hf://test/fine-tuned (served) against test/base (cache)
HF_HUB_CACHE="$work/hfcache" "$F" verify hf://test/fine-tuned --against test/base "$work/hub/test/moe-a" --out "$work/vr" \
  --json --null-draws 19 --matched-draws 19 --threads 2 --quiet > "$work/vr.json"
"$PY" - "$work/vr.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"]["by_reference"]["base"] == "derived", d["verdict"]
assert d["verdict"]["by_reference"]["moe-a"] in ("independent", "inconclusive"), d["verdict"]
PYEOF
grep -q "hf://test/fine-tuned" "$work/vr/report.md"
# a snapshot link leading out of the repository is refused
shard=$(ls "$work/fam/base" | grep safetensors | grep -v index | head -1)
ln -sf "$work/fam/base/$shard" "$work/hfcache/models--test--base/snapshots/0123456789abcdef0123456789abcdef01234567/$shard"
expect_rc 1 env HF_HUB_CACHE="$work/hfcache" "$F" inspect test/base
grep -q "outside the cached repository" "$work/err.txt"

# ---- faults the results survive: a renamed repository (relative redirects), dropped connections, 429, 503,
# truncated bodies, Range ignored, an expired signed storage URL ----
U=$(start_hub renamed renamed)
HF_ENDPOINT="$U" FROMSCRATCH_CACHE="$work/cache-renamed" "$F" hash hf://test/renamed > "$work/hash.renamed" 2>/dev/null
cmp "$work/hash.local" "$work/hash.renamed"
for fault in drop 429 503 truncate ignore-range expire; do
  U=$(start_hub "f-$fault" "$fault")
  HF_ENDPOINT="$U" FROMSCRATCH_CACHE="$work/cache-$fault" "$F" hash hf://test/base > "$work/hash.$fault" 2> "$work/$fault.err" \
    || { echo "fault $fault: hash failed"; cat "$work/$fault.err"; exit 1; }
  cmp "$work/hash.local" "$work/hash.$fault"
done
grep -q "retries" "$work/drop.err"
grep -q "ignored Range" "$work/ignore-range.err"

# ---- hostile answers: a clear error naming the URL, nothing cached as valid ----
hostile() {  # hostile FAULT PATTERN [env...]
  local fault=$1 pattern=$2; shift 2
  local U; U=$(start_hub "h-$fault" "$fault")
  expect_rc 1 env HF_ENDPOINT="$U" FROMSCRATCH_CACHE="$work/cache-h-$fault" "$@" "$F" hash hf://test/base
  grep -q -- "$pattern" "$work/err.txt" || { echo "fault $fault: expected '$pattern' in:"; cat "$work/err.txt"; exit 1; }
  grep -q "127.0.0.1" "$work/err.txt" || { echo "fault $fault: the error does not name the URL"; cat "$work/err.txt"; exit 1; }
  if [ -d "$work/cache-h-$fault" ]; then
    ! find "$work/cache-h-$fault" -path '*verified*' -type f | grep -q . || { echo "fault $fault: a file was marked verified"; exit 1; }
  fi
}
hostile redirect-loop "redirect loop"
hostile big-headers "response headers exceed"
hostile content-range "Content-Range"
hostile size-mismatch "disagrees"
hostile escape "rfilename"
hostile slow "giving up" FROMSCRATCH_HTTP_TIMEOUT=1 FROMSCRATCH_HTTP_RETRIES=1
[ -z "$(find "$work/cache-h-content-range" -path '*chunks*' -type f 2>/dev/null)" ]
[ -z "$(find "$work/cache-h-slow" -path '*chunks*' -type f 2>/dev/null)" ]
hostile corrupt "LFS sha256"
[ -z "$(find "$work/cache-h-corrupt" -path '*chunks*' -type f 2>/dev/null)" ]

echo "remote.sh: all checks passed"
