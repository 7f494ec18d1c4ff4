#!/usr/bin/env bash
# labels: cli long
# Re-runs scripts/train_tiny_family.py (about 10 minutes on one thread) and compares with the committed family in
# tests/data/trained. Always required: the same corpus (else skipped), the same members, relations, parents,
# transforms (permutation arrays, signs), pairs and verdicts. Required only where the machine matches the one
# that trained the committed family (same torch version and the same BF16 matrix instructions, recorded in
# truth.json "training_machine"): the same bytes of every file, truth.json included. Elsewhere the byte
# comparison is printed, not asserted (oneDNN's BF16 kernels differ between instruction sets).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
D="$FROMSCRATCH_SOURCE_DIR/tests/data/trained"
S="$FROMSCRATCH_SOURCE_DIR/scripts/train_tiny_family.py"

if ! $PY -c "import torch" 2>/dev/null; then
  echo "python3-torch is not installed: skipped"
  exit 77
fi
# the corpus must be the recorded one (Debian files differ between releases)
if ! $PY "$S" --corpus-matches "$D"; then
  echo "the corpus files on this machine differ from truth.json: skipped"
  exit 77
fi

$PY "$S" --out "$work/fam" > "$work/log.txt"
tail -n 3 "$work/log.txt"
$PY - "$D" "$work/fam" <<'PYEOF'
import hashlib, json, os, sys
old, new = sys.argv[1], sys.argv[2]
a = json.load(open(os.path.join(old, "truth.json")))
b = json.load(open(os.path.join(new, "truth.json")))

def structure(t):
    keep = ("name", "relation", "parent", "model_type", "tokenizer", "params", "init_seed", "data", "transform",
            "upcycling", "transplanted")
    return {"corpora": t["corpora"], "tokenizers": t["tokenizers"], "pairs": t["pairs"], "upcycling": t["upcycling"],
            "members": [{k: m[k] for k in keep if k in m} for m in t["members"]]}

assert structure(a) == structure(b), "members, transforms, pairs or verdicts differ from the committed truth.json"
print("structure (members, transforms, pairs, verdicts): identical")

same_machine = a.get("training_machine") == b.get("training_machine")
diff = []
for m in a["members"]:
    for fn in m["files"]:
        h = [hashlib.sha256(open(os.path.join(d, m["path"], fn), "rb").read()).hexdigest() for d in (old, new)]
        if h[0] != h[1]:
            diff.append(m["name"] + "/" + fn)
truth_same = open(os.path.join(old, "truth.json"), "rb").read() == open(os.path.join(new, "truth.json"), "rb").read()
print("files differing from the committed ones: %s; truth.json %s" % (diff or "none",
                                                                       "identical" if truth_same else "differs"))
for m, n in zip(a["members"], b["members"]):
    print("  %-16s held-out loss committed %.4f, rerun %.4f" % (m["name"], m["eval_loss_heldout"],
                                                               n["eval_loss_heldout"]))
if same_machine:
    assert not diff and truth_same, "same machine type, yet the bytes differ"
    print("bytes: identical (same torch and instruction set as the committed run)")
else:
    print("bytes not asserted: this machine %s, committed run %s" % (b.get("training_machine"),
                                                                      a.get("training_machine")))
PYEOF
