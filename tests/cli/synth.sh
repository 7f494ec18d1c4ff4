#!/usr/bin/env bash
# labels: cli
# `fromscratch synth` end to end: help and exit codes, a tiny family of each template checked by an
# independent NumPy reader (header layout, BF16 values, the relations truth.json claims), `arch params`
# agreement of every member's config.json with its tensors, no overwrite without --force, identical bytes
# for any --threads (and any number of MPI ranks), sharding with an index, dry runs that write nothing.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"

expect_rc() {  # expect_rc CODE command...
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

# ---- help and usage errors ----
"$F" synth --help | grep -q "family      write a base model and members"
for action in family model templates; do
  "$F" synth $action --help > "$work/help.txt"   # not piped into grep -q: a help over 4 KB would get SIGPIPE
  grep -q "usage: fromscratch synth $action" "$work/help.txt"
done
expect_rc 2 "$F" synth
expect_rc 2 "$F" synth frobnicate
expect_rc 2 "$F" synth family --template solar-open            # --out missing
expect_rc 2 "$F" synth family --out "$work/x" --template gpt-5
grep -q "known: solar-open" "$work/err.txt"
expect_rc 2 "$F" synth family --out "$work/x" --scale huge
expect_rc 2 "$F" synth family --out "$work/x" --seed -3
expect_rc 2 "$F" synth family --out "$work/x" --shard-size 0
expect_rc 2 "$F" synth family --out "$work/x" --shard-size 2XB
expect_rc 2 "$F" synth family --out "$work/x" --members fine-tuned,distilled
expect_rc 2 "$F" synth family --out "$work/x" --kv-heads 5
expect_rc 2 "$F" synth family --out "$work/x" --template llama --members upcycled
expect_rc 2 "$F" synth family --out "$work/x" --same-init-rho 1.5
expect_rc 2 "$F" synth family --out "$work/x" --rotated-dtype f16
expect_rc 2 "$F" synth family --out "$work/x" --prune-neurons 0
expect_rc 2 "$F" synth family --out "$work/x" --members depth-pruned --depth-drop 3   # tiny: 2 droppable of 4
grep -q "droppable" "$work/err.txt"
expect_rc 2 "$F" synth model --out "$work/x" --scale full --layers 2000   # ~8 TB: more than the disk holds
grep -q "available" "$work/err.txt"
test ! -e "$work/x"   # refused before anything was written

# ---- templates ----
"$F" synth templates --json > "$work/templates.json"
$PY - "$work/templates.json" <<'PYEOF'
import json, sys
t = {(e["template"], e["scale"]): e for e in json.load(open(sys.argv[1]))["templates"]}
s = t[("solar-open", "full")]
assert (s["hidden_size"], s["num_hidden_layers"], s["n_routed_experts"], s["vocab_size"]) == (4096, 48, 128, 196608)
assert 102.6e9 <= s["parameters"] < 102.7e9, s["parameters"]
g = t[("glm4-moe", "full")]
assert (g["num_attention_heads"], g["first_k_dense_replace"], g["num_nextn_predict_layers"]) == (96, 1, 1)
assert t[("mixtral", "full")]["tensor_bytes"] == 93405585408  # the real index's total_size
PYEOF

# ---- dry run: the plan, no files ----
"$F" synth family --template glm4-moe --out "$work/dry" --dry-run --json > "$work/dry.json"
test ! -e "$work/dry"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d['members'])==14 and d['tensor_bytes']>0" "$work/dry.json"

# ---- a tiny family per template; an independent reader checks what truth.json claims ----
for t in solar-open glm4-moe mixtral; do
  "$F" synth family --template $t --scale tiny --seed 7 --out "$work/$t" --threads 2 --json > "$work/$t.json"
  test -s "$work/$t/disguised-rotated.rotation.safetensors"
  for m in base independent fine-tuned continued-pretraining expert-permuted dense upcycled re-tokenized norm-only same-init \
           disguised disguised-rotated width-pruned depth-pruned; do
    test -s "$work/$t/$m/config.json"
    test -s "$work/$t/$m/model.safetensors"
    "$F" arch params "$work/$t/$m" --json > "$work/params.json"
    $PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['checkpoint']['agreement']['agrees'], d['checkpoint']['agreement']" "$work/params.json"
  done
  $PY - "$work/$t" <<'PYEOF'
import json, struct, sys
import numpy as np
root = sys.argv[1]
truth = json.load(open(f"{root}/truth.json"))

def read(member):
    """safetensors parsed by hand: header rules of the format, then BF16/F32 decoded with NumPy."""
    path = f"{root}/{member}/model.safetensors"
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    assert n % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(data[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    end = 0
    for name, e in entries:  # contiguous, no gap, ending at the end of the file
        assert e["data_offsets"][0] == end, name
        end = e["data_offsets"][1]
    assert 8 + n + end == len(data)
    ranks = {"F32": 15, "BF16": 12}  # reference order: dtype descending, then name
    order = sorted(header, key=lambda k: (-ranks[header[k]["dtype"]], k))
    assert [k for k, _ in entries] == order
    out = {}
    for name, e in header.items():
        b, ee = e["data_offsets"]
        raw = np.frombuffer(data[8 + n + b:8 + n + ee], dtype=np.uint16 if e["dtype"] == "BF16" else np.float32)
        vals = (raw.astype(np.uint32) << 16).view(np.float32) if e["dtype"] == "BF16" else raw
        out[name] = (raw.reshape(e["shape"]), vals.reshape(e["shape"]).astype(np.float64))
    return out

M = {m["name"]: read(m["name"]) for m in truth["members"]}
cfg = json.load(open(f"{root}/base/config.json"))
L = cfg["num_hidden_layers"]
pear = lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
cos = lambda a, b: float(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b))
base, ind = M["base"], M["independent"]
for l in range(1, L):
    for k in ("input_layernorm", "post_attention_layernorm"):
        x, y = base[f"model.layers.{l}.{k}.weight"][1], ind[f"model.layers.{l}.{k}.weight"][1]
        assert cos(x, y) > 0.9 and abs(pear(x, y)) < 4 / np.sqrt(x.size), (l, k, cos(x, y), pear(x, y))
# fine-tuned: deep values bit-identical
deep = f"model.layers.{L - 1}.self_attn.q_proj.weight"
assert (base[deep][0] == M["fine-tuned"][deep][0]).mean() > 0.99
# norm-only: norms byte-identical, matrices unrelated
for name in base:
    if name.endswith("norm.weight"):
        assert (base[name][0] == M["norm-only"][name][0]).all(), name
k = "model.layers.1.self_attn.k_proj.weight"
assert abs(pear(base[k][1], M["norm-only"][k][1])) < 0.1
# expert-permuted: the arrays in truth.json reproduce the member from base exactly
perm = next(m for m in truth["members"] if m["name"] == "expert-permuted")["description"]["params"]["layers"]
P = M["expert-permuted"]
mix = cfg["model_type"] == "mixtral"
for l in perm:
    i = l["layer"]
    if "experts" not in l:  # a dense layer: neurons permuted
        nperm = l["dense_neurons"]
        g = f"model.layers.{i}.mlp.gate_proj.weight"
        assert (P[g][0] == base[g][0][nperm]).all()
        continue
    router = f"model.layers.{i}.block_sparse_moe.gate.weight" if mix else f"model.layers.{i}.mlp.gate.weight"
    assert (P[router][0] == base[router][0][l["experts"]]).all()
    for e, src in enumerate(l["experts"]):
        nperm = l["expert_neurons"][e]
        pre = f"model.layers.{i}.block_sparse_moe.experts." if mix else f"model.layers.{i}.mlp.experts."
        gate, down = ("w1", "w2") if mix else ("gate_proj", "down_proj")
        assert (P[f"{pre}{e}.{gate}.weight"][0] == base[f"{pre}{src}.{gate}.weight"][0][nperm]).all()
        assert (P[f"{pre}{e}.{down}.weight"][0] == base[f"{pre}{src}.{down}.weight"][0][:, nperm]).all()
# pairs: the expected verdicts
v = {(p["a"], p["b"]): p["expected_verdict"] for p in truth["pairs"]}
assert v[("base", "independent")] == "independent" and v[("base", "fine-tuned")] == "derived"
assert v[("base", "norm-only")] == "norms-only" and v[("dense", "upcycled")] == "derived"
for m in ("disguised", "disguised-rotated", "width-pruned", "depth-pruned"):
    assert v[("base", m)] == "derived" and v[("independent", m)] == "independent", m
# disguised: the hidden permutation and signs in truth.json map fine-tuned's embeddings onto the member's
dg = next(m for m in truth["members"] if m["name"] == "disguised")
assert dg["parent"] == "fine-tuned" and dg["relation"] == "disguised"
pi, sg = np.array(dg["description"]["params"]["hidden_permutation"]), np.array(dg["description"]["params"]["hidden_signs"])
e0, e1 = M["fine-tuned"]["model.embed_tokens.weight"][1], M["disguised"]["model.embed_tokens.weight"][1]
assert (e1 == e0[:, pi] * sg[None, :]).all()
# disguised-rotated: F32, gains 1, embeddings = fine-tuned's times the stored rotation (transposed)
rot = json.load(open(f"{root}/disguised-rotated/config.json"))["torch_dtype"]
assert rot == "float32", rot
q = open(f"{root}/disguised-rotated.rotation.safetensors", "rb").read()
n = struct.unpack("<Q", q[:8])[0]
hq = json.loads(q[8:8 + n])
d = cfg["hidden_size"]
assert hq["rotation"]["dtype"] == "F64" and hq["rotation"]["shape"] == [d, d]
Q = np.frombuffer(q[8 + n:], dtype="<f8").reshape(d, d)
assert np.abs(Q @ Q.T - np.eye(d)).max() < 1e-12
R = M["disguised-rotated"]
assert (R["model.norm.weight"][1] == 1).all()
assert np.abs(R["model.embed_tokens.weight"][1] - e0 @ Q.T).max() < 1e-5
# width-pruned and depth-pruned: smaller configs, kept indices recorded
wp = json.load(open(f"{root}/width-pruned/config.json"))
assert wp["num_attention_heads"] < cfg["num_attention_heads"]
dp = json.load(open(f"{root}/depth-pruned/config.json"))
assert dp["num_hidden_layers"] == L - 2
dpp = next(m for m in truth["members"] if m["name"] == "depth-pruned")["description"]["params"]
assert len(dpp["dropped_layers"]) == 2 and 0 not in dpp["dropped_layers"] and L - 1 not in dpp["dropped_layers"]
PYEOF
done

# ---- no overwrite without --force; with --force the same bytes ----
(cd "$work/solar-open" && sha256sum */* truth.json) > "$work/sums.txt"
expect_rc 2 "$F" synth family --template solar-open --seed 7 --out "$work/solar-open"
grep -q -- "--force" "$work/err.txt"
"$F" synth family --template solar-open --seed 7 --out "$work/solar-open" --force --threads 1 > /dev/null
(cd "$work/solar-open" && sha256sum -c --quiet "$work/sums.txt")

# ---- another seed, other bytes; shards with an index; readable by hash ----
"$F" synth family --template solar-open --seed 8 --members fine-tuned --shard-size 1MB --out "$work/s8" > /dev/null
test -s "$work/s8/base/model.safetensors.index.json"
$PY - "$work/s8/base" <<'PYEOF'
import glob, json, os, sys
d = sys.argv[1]
index = json.load(open(f"{d}/model.safetensors.index.json"))
shards = sorted(os.path.basename(p) for p in glob.glob(f"{d}/model-*-of-*.safetensors"))
assert len(shards) > 1 and sorted(set(index["weight_map"].values())) == shards, shards
assert all(os.path.getsize(f"{d}/{s}") <= 1_000_000 + 100_000 for s in shards)  # 1MB of data + header
n = len(shards)
assert shards == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
PYEOF
test ! -e "$work/s8/independent"
"$F" hash "$work/s8/fine-tuned" > /dev/null
base7=$(cd "$work/solar-open/base" && cat model.safetensors | sha256sum)
base8=$(cd "$work/s8/base" && cat model-*.safetensors | sha256sum)
test "$base7" != "$base8"

# ---- synth model ----
"$F" synth model --template mixtral --scale tiny --layers 2 --seed 3 --out "$work/model" --json > "$work/model.json"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['checkpoint']['files']==['model.safetensors']" "$work/model.json"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['architecture']['num_hidden_layers']==2 and d['seed']==3" "$work/model/synth.json"
expect_rc 2 "$F" synth model --template mixtral --scale tiny --layers 2 --seed 3 --out "$work/model"

# ---- the same bytes from any number of MPI ranks ----
if [ -n "${MPIEXEC:-}" ] && command -v "$MPIEXEC" > /dev/null; then
  "$MPIEXEC" -n 3 --oversubscribe "$F" synth family --template solar-open --seed 7 --out "$work/mpi" --threads 1 > /dev/null
  (cd "$work/mpi" && sha256sum -c --quiet "$work/sums.txt")
fi
echo "synth cli: ok"
