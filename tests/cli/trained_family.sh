#!/usr/bin/env bash
# labels: cli
# The committed tiny trained family (tests/data/trained, made by scripts/train_tiny_family.py): truth.json is
# complete (every member, every unordered pair with a verdict, upcycling truth per MoE), every member opens with
# `inspect`, `arch show`, `arch params` (config count == tensors) and `tokenizer info`, and the Python check
# re-reads the weights: file hashes, held-out losses well below ln(vocab), permuted / disguised members give the
# logits of their source and are reproduced bit for bit from the recorded permutations and signs.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"
D="$FROMSCRATCH_SOURCE_DIR/tests/data/trained"

# ---- truth.json: members, pairs, verdicts ----
$PY - "$D" > "$work/members.txt" <<'PYEOF'
import itertools, json, os, sys
d = sys.argv[1]
t = json.load(open(os.path.join(d, "truth.json")))
assert t["format"] == "fromscratch-trained-truth" and t["version"] == 1
names = [m["name"] for m in t["members"]]
need = {"moe-a", "moe-b", "moe-c", "moe-a-ft", "moe-a-cpt", "moe-a-perm", "moe-a-disguised", "moe-a-reembed",
        "dense-a", "moe-up"}
assert need <= set(names), need - set(names)
assert len(set(names)) == len(names)
pairs = {frozenset((p["a"], p["b"])): p for p in t["pairs"]}
assert len(pairs) == len(t["pairs"]) == len(names) * (len(names) - 1) // 2
for a, b in itertools.combinations(names, 2):
    assert pairs[frozenset((a, b))]["expected_verdict"] in ("derived", "independent")
v = lambda a, b: pairs[frozenset((a, b))]["expected_verdict"]
for a, b in [("moe-a", "moe-a-ft"), ("moe-a", "moe-a-cpt"), ("moe-a", "moe-a-perm"), ("moe-a", "moe-a-disguised"),
             ("moe-a-ft", "moe-a-disguised"), ("moe-a", "moe-a-reembed"), ("moe-a-ft", "moe-a-cpt"),
             ("dense-a", "moe-up")]:
    assert v(a, b) == "derived", (a, b)
for a, b in [("moe-a", "moe-b"), ("moe-a", "moe-c"), ("moe-b", "moe-c"), ("moe-a", "dense-a"), ("moe-up", "moe-a"),
             ("moe-a-disguised", "moe-b")]:
    assert v(a, b) == "independent", (a, b)
up = t["upcycling"]
assert up["moe-up"] == "upcycled" and up["moe-a"] == up["moe-b"] == up["moe-c"] == "not_upcycled"
for m in t["members"]:
    assert m["files"]["model.safetensors"]["bytes"] > 0
    tr = m.get("training")
    if tr is not None:  # every trained member learned: held-out loss well below ln(vocab)
        assert m["eval_loss_heldout"] < 0.75 * m["ln_vocab"], (m["name"], m["eval_loss_heldout"])
for c in t["corpora"].values():
    assert c["files"] and all(len(f["sha256"]) == 64 for f in c["files"])
total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
assert total < 9_000_000, total  # committed size budget
for m in t["members"]:
    print(m["name"], m["model_type"], m["tokenizer"])
PYEOF
test "$(wc -l < "$work/members.txt")" -ge 10

# ---- every member through the C++ readers ----
while read -r name type tok; do
  m="$D/$name"
  "$F" inspect "$m" --json > "$work/inv.json"
  "$F" arch show "$m/config.json" --json > "$work/show.json"
  "$F" arch params "$m" --json > "$work/params.json"
  "$F" tokenizer info "$m" --json > "$work/tok.json"
  $PY - "$work" "$name" "$type" <<'PYEOF'
import json, sys
w, name, mtype = sys.argv[1:4]
inv = json.load(open(f"{w}/inv.json"))
s = inv["structure"]
assert inv["model"]["model_type"] == mtype, (name, inv["model"])
assert s["decoder_layers"] == 3 and s["tensors_without_role"] == 0, (name, s)
if mtype == "mixtral":
    assert s["moe_layers"] == 3 and s["experts_per_layer_min"] == s["experts_per_layer_max"] == 8, (name, s)
else:
    assert s["moe_layers"] == 0, (name, s)
p = json.load(open(f"{w}/params.json"))
assert p["checkpoint"]["agreement"]["agrees"], (name, p["checkpoint"]["agreement"])
show = json.dumps(json.load(open(f"{w}/show.json")))
assert ("mixtral" if mtype == "mixtral" else "llama") in show.lower()
json.load(open(f"{w}/tok.json"))
PYEOF
done < "$work/members.txt"

# the re-embedded member has another vocabulary: other ids for the same bytes
"$F" tokenizer info "$D/moe-a" > "$work/ta.txt"
"$F" tokenizer info "$D/moe-a-reembed" > "$work/tb.txt"
! cmp -s "$D/moe-a/tokenizer.json" "$D/moe-a-reembed/tokenizer.json"

# ---- weights: hashes, losses, same function, permutations reproduced (needs Debian's python3-torch) ----
if ! $PY -c "import torch" 2>/dev/null; then
  echo "python3-torch is not installed: the weight check is skipped"
  exit 77
fi
$PY "$FROMSCRATCH_SOURCE_DIR/scripts/train_tiny_family.py" --check "$D" | tee "$work/check.txt"
grep -q "check: passed" "$work/check.txt"
test "$(grep -c "max |logit diff|" "$work/check.txt")" -eq 2

# the ids the models were trained on are the ids `fromscratch tokenizer encode` gives (both tokenizers, every
# corpus, paragraph by paragraph); only where this machine has the recorded text
if $PY "$FROMSCRATCH_SOURCE_DIR/scripts/train_tiny_family.py" --corpus-matches "$D" > /dev/null; then
  $PY - "$F" "$D" "$FROMSCRATCH_SOURCE_DIR/scripts" <<'PYEOF'
import json, subprocess, sys
F, D = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
import train_tiny_family as T
for member, corpus in (("moe-a", "licenses"), ("moe-a", "changelogs"), ("moe-a", "copyrights"),
                       ("moe-a-reembed", "changelogs"), ("moe-a-reembed", "licenses")):
    bpe = T.bpe_from_json(json.load(open(f"{D}/{member}/tokenizer.json", encoding="utf-8")))
    chunks = T.load_corpus(corpus)[0].decode("utf-8", errors="replace").split("\n\n")
    inp = "".join(json.dumps({"text": c}) + "\n" for c in chunks).encode()
    out = subprocess.run([F, "tokenizer", "encode", f"{D}/{member}", "--jsonl"], input=inp, capture_output=True,
                         check=True).stdout.decode().splitlines()
    assert len(out) == len(chunks), (member, corpus, len(out), len(chunks))
    bad = sum(bpe.encode(c.encode()) != json.loads(o) for c, o in zip(chunks, out))
    assert bad == 0, f"{member} on {corpus}: {bad} of {len(chunks)} paragraphs encode differently"
    print(f"{member} on {corpus}: {len(chunks)} paragraphs, same ids as fromscratch tokenizer encode")
PYEOF
else
  echo "corpus files differ from truth.json on this machine: encoder cross-check not run"
fi
echo "trained family: ok"
