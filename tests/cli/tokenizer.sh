#!/usr/bin/env bash
# labels: cli
# `fromscratch tokenizer` end to end on the committed fixtures (tests/data/tokenizer): help and exit codes,
# encode (JSON lines, --text, ill-formed input), info, compare and matrix in every output form, HDF5 output
# that is never overwritten without --force, and malformed tokenizers failing with the file and entry named.
set -uo pipefail
fx="$FROMSCRATCH_SOURCE_DIR/tests/data/tokenizer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }
# expect RC COMMAND...: runs the command, keeps stdout/stderr in $work/out, $work/err
expect() {
  local want=$1; shift
  "$@" > "$work/out" 2> "$work/err"
  local rc=$?
  [ "$rc" = "$want" ] || fail "exit $rc (wanted $want): $* -- $(head -c 300 "$work/err")"
}
contains() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2': $(head -c 300 "$1")"; }

# Help on the command and on every verb; usage errors exit 2.
expect 0 "$FROMSCRATCH" tokenizer --help
contains "$work/out" "matrix"
for verb in info encode compare matrix; do
  expect 0 "$FROMSCRATCH" tokenizer $verb --help
  contains "$work/out" "usage: fromscratch tokenizer $verb"
done
expect 2 "$FROMSCRATCH" tokenizer
expect 2 "$FROMSCRATCH" tokenizer frobnicate
contains "$work/err" "unknown verb"
expect 2 "$FROMSCRATCH" tokenizer compare "$fx/tiny-bytelevel"
contains "$work/err" "expected two tokenizers"
expect 2 "$FROMSCRATCH" tokenizer encode "$fx/tiny-bytelevel" --jsonl --text x
expect 2 "$FROMSCRATCH" tokenizer encode "$fx/only-config" --text x
contains "$work/err" "no vocabulary file, only tokenizer_config.json"

# encode: ids derived by hand in make_fixtures.py's vocabularies (and identical to tokenizers.js).
printf '%s\n' '{"text":"hello world<|end|> hello"}' '{"text":"hello \u20ac"}' > "$work/in.jsonl"
expect 0 "$FROMSCRATCH" tokenizer encode "$fx/tiny-bytelevel" --jsonl < "$work/in.jsonl"
printf '[259,264,300,32,259]\n[259,32,226,130,172]\n' | cmp -s - "$work/out" || fail "byte-level ids: $(cat "$work/out")"
expect 0 "$FROMSCRATCH" tokenizer encode "$fx/tiny-sentencepiece" --text "hello €"
[ "$(cat "$work/out")" = "[268,259,229,133,175]" ] || fail "sentencepiece ids: $(cat "$work/out")"
# Ill-formed UTF-8 is replaced by U+FFFD before encoding, as Node.js does for the reference.
printf '{"text":"a\xffb"}\n{"text":"a\xef\xbf\xbdb"}\n' > "$work/bad-utf8.jsonl"
expect 0 "$FROMSCRATCH" tokenizer encode "$fx/tiny-bytelevel" --jsonl < "$work/bad-utf8.jsonl"
[ "$(sed -n 1p "$work/out")" = "$(sed -n 2p "$work/out")" ] || fail "ill-formed UTF-8 not replaced: $(cat "$work/out")"
printf '{"text":"ok"}\n{"txt":1}\n' > "$work/missing.jsonl"
expect 1 "$FROMSCRATCH" tokenizer encode "$fx/tiny-bytelevel" --jsonl < "$work/missing.jsonl"
contains "$work/err" "input 'line 2'"
printf '{"text":"ok"\n' > "$work/cut.jsonl"
expect 1 "$FROMSCRATCH" tokenizer encode "$fx/tiny-bytelevel" --jsonl < "$work/cut.jsonl"
contains "$work/err" "malformed JSON"
expect 1 "$FROMSCRATCH" tokenizer encode "$fx/tiny-tiktoken" --text x
contains "$work/err" "tiktoken files carry no pre-tokenizer pattern"

# Malformed tokenizer files: exit 1, file and entry named.
expect 1 "$FROMSCRATCH" tokenizer info "$fx/bad-merges"
contains "$work/err" "bad-merges/tokenizer.json: entry 'model.merges[1]'"
contains "$work/err" "merge names token 'zz' which is not in the vocabulary"

# info
expect 0 "$FROMSCRATCH" tokenizer info "$fx/tiny-tiktoken" --json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format"]=="tiktoken" and d["vocab_size"]==265 and d["merges"]==9, d' "$work/out" \
  || fail "info --json"

# compare: the tiktoken file and the tokenizer.json hold the same vocabulary and merges.
expect 0 "$FROMSCRATCH" tokenizer compare "$fx/tiny-tiktoken" "$fx/tiny-bytelevel" --json
/usr/bin/python3 - "$work/out" <<'PY' || fail "compare --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["class"] == "identical", d["class"]
assert d["vocabulary"]["intersection"] == 265 and d["same_id"]["matches"] == 265
assert d["merges"]["common_prefix"] == 9 and d["merges"]["sha256_a"] == d["merges"]["sha256_b"]
assert "not weight reuse" in d["caveat"]
PY
expect 0 "$FROMSCRATCH" tokenizer compare "$fx/tiny-bytelevel" "$fx/tiny-sentencepiece"
contains "$work/out" "class              independent"
contains "$work/out" "does not show independence"
expect 0 "$FROMSCRATCH" tokenizer compare "$fx/tiny-bytelevel" "$fx/tiny-sentencepiece" --markdown
contains "$work/out" "| merges in common |"
expect 2 "$FROMSCRATCH" tokenizer compare "$fx/tiny-bytelevel" "$fx/tiny-sentencepiece" --markdown --json

# matrix: every readable input, the others listed as skipped with the reason; HDF5 never overwritten silently.
expect 0 "$FROMSCRATCH" tokenizer matrix "$fx"/* --json --h5 "$work/m.h5"
/usr/bin/python3 - "$work/out" <<'PY' || fail "matrix --json"
import json, sys
d = json.load(open(sys.argv[1]))
names = [t["name"] for t in d["tokenizers"]]
assert names == ["tiny-bytelevel", "tiny-sentencepiece", "tiny-tiktoken"], names
skipped = {s["path"].rstrip("/").split("/")[-1]: s["reason"] for s in d["skipped"]}
assert "merge names token 'zz'" in skipped["bad-merges"], skipped
assert "only tokenizer_config.json" in skipped["only-config"], skipped
assert "make_fixtures.py" in skipped
assert len(d["pairs"]) == 3 and len(d["matrices"]["jaccard"]) == 3
classes = {(p["a"], p["b"]): p["class"] for p in d["pairs"]}
assert classes[("tiny-bytelevel", "tiny-tiktoken")] == "identical", classes
PY
[ -s "$work/m.h5" ] || fail "no HDF5 file written"
expect 2 "$FROMSCRATCH" tokenizer matrix "$fx"/* --h5 "$work/m.h5"
contains "$work/err" "--force"
expect 0 "$FROMSCRATCH" tokenizer matrix "$fx"/* --markdown --h5 "$work/m.h5" --force
contains "$work/out" "| A | B | class |"
expect 0 "$FROMSCRATCH" tokenizer matrix "$fx"/tiny-*
contains "$work/out" "independent-pair distribution"
contains "$work/out" "not weight reuse"
expect 2 "$FROMSCRATCH" tokenizer matrix "$fx/only-config" "$fx/bad-merges"
contains "$work/err" "fewer than two readable tokenizers"
exit $status
