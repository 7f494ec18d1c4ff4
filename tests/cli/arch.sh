#!/usr/bin/env bash
# labels: cli
# `fromscratch arch` end to end: help and exit codes of every verb, params of real configs and of synth
# checkpoints (config count == sum of tensor shapes, also for an unknown family), compare verdicts, the
# catalog from any folder, add with --force, JSON / Markdown / HDF5 outputs.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"
DATA="${FROMSCRATCH_SHARED_DATA:-$FROMSCRATCH_SHARED_DATA_DEFAULT}"
export FROMSCRATCH_CATALOG="$work/catalog"

expect_rc() {  # expect_rc CODE command...
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

# ---- help and usage ----
for verb in params show compare catalog add; do
  "$F" arch "$verb" --help > "$work/pipe.txt"
  grep -q "usage: fromscratch arch $verb" "$work/pipe.txt"
done
"$F" arch --help > "$work/pipe.txt"
grep -q "shape-compatibility map" "$work/pipe.txt"
expect_rc 2 "$F" arch
expect_rc 2 "$F" arch frobnicate
expect_rc 2 "$F" arch params
expect_rc 2 "$F" arch params mixtral-8x7b-v0.1 --json --markdown
expect_rc 2 "$F" arch params no-such-model-anywhere
grep -q "neither a file nor a catalog name" "$work/err.txt"
expect_rc 2 "$F" arch catalog --top 0

# ---- bad configs: exit 1, the message names the file and the key ----
expect_rc 1 "$F" arch params "$FROMSCRATCH_SOURCE_DIR/tests/data/arch/bad_heads.json"
grep -q "bad_heads.json: key 'num_attention_heads': value 5: does not divide hidden_size" "$work/err.txt"

# ---- the catalog works from any folder (compiled in) ----
(cd "$work" && "$F" arch catalog) > "$work/catalog.txt"
grep -q "upstage/Solar-Open-100B" "$work/catalog.txt"
grep -q "zai-org/GLM-4.5-Air" "$work/catalog.txt"
"$F" arch catalog --near upstage/Solar-Open-100B --top 2 --json > "$work/near.json"
$PY - "$work/near.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
names = [e["name"] for e in d["entries"]]
assert names == ["upstage/Solar-Open-100B", "zai-org/GLM-4.5-Air"], names
assert d["entries"][0]["distance"] == 0 and d["entries"][1]["distance"] > 0
PYEOF

# ---- params: published totals, with definitions stated ----
"$F" arch params upstage/Solar-Open-100B --json > "$work/solar.json"
$PY - "$work/solar.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert abs(d["total_params"] - 102.6e9) / 102.6e9 < 0.005, d["total_params"]
assert abs(d["active_params"] - 12e9) / 12e9 < 0.005, d["active_params"]
assert set(d["definitions"]) >= {"total_params", "active_params", "active_excluding_input_embedding"}
assert sum(d["breakdown_total"].values()) == d["total_with_mtp"]
PYEOF
"$F" arch params upstage/Solar-Open-100B --markdown > "$work/pipe.txt"
grep -q "| routed_experts |" "$work/pipe.txt"

if [ -d "$DATA/models" ]; then
  # A folder with config.json and a shard index but no shards: names and total_size are checked.
  "$F" arch params "$DATA/models/mistralai_Mixtral-8x7B-v0.1" > "$work/mixtral.txt"
  grep -q "tensor names agree with the config (995 listed" "$work/mixtral.txt"
  grep -q "total_size 93,405,585,408 = 93,405,585,408 bytes expected at bfloat16" "$work/mixtral.txt"
  # Identical configs and the metadata-only difference.
  "$F" arch compare "$DATA/models/mistralai_Mixtral-8x7B-v0.1/config.json" \
      "$DATA/models/mistralai_Mixtral-8x7B-Instruct-v0.1/config.json" > "$work/pipe.txt"
      grep -q "verdict: identical" "$work/pipe.txt"
  "$F" arch compare "$DATA/models/deepseek-ai_DeepSeek-V3-Base" "$DATA/models/deepseek-ai_DeepSeek-R1" > "$work/pipe.txt"
  grep -q "verdict: same_architecture: identical architecture; the files differ only in: transformers_version" "$work/pipe.txt"
  # A renamed copy.
  $PY - "$DATA/models/mistralai_Mixtral-8x7B-v0.1/config.json" "$work/renamed.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["model_type"] = "acme_moe"; d["architectures"] = ["AcmeMoeForCausalLM"]
json.dump(d, open(sys.argv[2], "w"), indent=2)
PYEOF
  "$F" arch compare "$DATA/models/mistralai_Mixtral-8x7B-v0.1/config.json" "$work/renamed.json" > "$work/pipe.txt"
  grep -q "verdict: renamed_copy" "$work/pipe.txt"
fi

# ---- compare: the dispute pair, all output formats ----
"$F" arch compare upstage/Solar-Open-100B zai-org/GLM-4.5-Air > "$work/cmp.txt"
grep -q "attn_q .*related:extra_heads .*64 vs 96 query heads" "$work/cmp.txt"
grep -q "attn_k .*equal" "$work/cmp.txt"
"$F" arch compare upstage/Solar-Open-100B zai-org/GLM-4.5-Air --markdown > "$work/pipe.txt"
grep -q "^| attn_k | equal |" "$work/pipe.txt"
"$F" arch compare upstage/Solar-Open-100B zai-org/GLM-4.5-Air --json --h5 "$work/cmp.h5" > "$work/cmp.json"
expect_rc 2 "$F" arch compare upstage/Solar-Open-100B zai-org/GLM-4.5-Air --h5 "$work/cmp.h5"
grep -q -- "--force" "$work/err.txt"
"$F" arch compare upstage/Solar-Open-100B zai-org/GLM-4.5-Air --h5 "$work/cmp.h5" --force > /dev/null
$PY - "$work/cmp.json" "$work/cmp.h5" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "different"
roles = {r["role"]: r for r in d["shape_map"]["roles"] if not r["mtp"]}
assert roles["attn_k"]["status"] == "equal" and roles["attn_q"]["relation"] == "extra_heads"
try:
    import h5py
except ImportError:
    print("h5py absent: HDF5 content not checked"); sys.exit(0)
with h5py.File(sys.argv[2], "r") as h:
    assert h.attrs["verdict"] in (b"different", "different"), h.attrs["verdict"]
    assert "shape_map" in h
PYEOF

# ---- show: canonical fields, defaults and unknown keys ----
$PY - "$work/odd.json" <<'PYEOF'
import json, sys
json.dump({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 128, "vocab_size": 100, "secret_knob": 7}, open(sys.argv[1], "w"))
PYEOF
"$F" arch show "$work/odd.json" > "$work/show.txt"
grep -q "unknown key: secret_knob = 7" "$work/show.txt"
grep -q "default: num_key_value_heads = 4" "$work/show.txt"

# ---- synth checkpoints: the config's count equals the sum of tensor shapes, for every MoE template ----
for t in solar-open glm4-moe mixtral; do
  "$F" synth model --template "$t" --scale tiny --out "$work/synth-$t" > /dev/null 2>&1
  "$F" arch params "$work/synth-$t" --json > "$work/p-$t.json"
  $PY - "$work/p-$t.json" "$t" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ck = d["checkpoint"]
assert ck["agreement"]["agrees"], (sys.argv[2], ck["agreement"])
assert ck["params_match"] and ck["count"]["total_with_mtp"] == d["total_with_mtp"], sys.argv[2]
assert ck["count"]["active_params"] == d["active_params"], (sys.argv[2], ck["count"]["active_params"], d["active_params"])
PYEOF
done
# An unknown family falls back to the shapes and says so.
cp -r "$work/synth-glm4-moe" "$work/acme"
$PY - "$work/acme/config.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1])); d["model_type"] = "acme"; d["architectures"] = ["AcmeForCausalLM"]
json.dump(d, open(sys.argv[1], "w"))
PYEOF
"$F" arch params "$work/acme" --json > "$work/acme.json"
$PY - "$work/acme.json" "$work/p-glm4-moe.json" <<'PYEOF'
import json, sys
a, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["method"].startswith("checkpoint tensor shapes"), a["method"]
assert a["total_with_mtp"] == g["total_with_mtp"] and a["total_params"] == g["total_params"]
assert a["active_params"] == g["active_params"]
PYEOF
expect_rc 1 "$F" arch params "$work/acme/config.json" --index /dev/null
# Without a checkpoint an unknown family is an error that says how to proceed.
mkdir "$work/acme-config-only" && cp "$work/acme/config.json" "$work/acme-config-only/"
expect_rc 1 "$F" arch params "$work/acme-config-only"
grep -q "pass --checkpoint PATH" "$work/err.txt"

# ---- add: writes to the user catalog, refuses to overwrite without --force ----
"$F" arch add "$work/synth-solar-open/config.json" --name acme/tiny-solar > /dev/null
test -f "$work/catalog/acme_tiny-solar.json"
"$F" arch catalog > "$work/pipe.txt"
grep -q "acme/tiny-solar" "$work/pipe.txt"
"$F" arch params acme/tiny-solar > /dev/null
expect_rc 2 "$F" arch add "$work/synth-solar-open/config.json" --name acme/tiny-solar
"$F" arch add "$work/synth-solar-open/config.json" --name acme/tiny-solar --force > /dev/null
expect_rc 2 "$F" arch add "$work/synth-solar-open/config.json" --name upstage/Solar-Open-100B
expect_rc 1 "$F" arch add "$FROMSCRATCH_SOURCE_DIR/tests/data/arch/bad_heads.json" --name bad
test ! -f "$work/catalog/bad.json"
echo "arch: ok"
