#!/usr/bin/env bash
# Encoding throughput of `fromscratch tokenizer encode` against the reference, tokenizers.js 0.2.0 under Node.js,
# side by side in one run, on the same tokenizers and the same corpus; plus the load time of the largest
# tokenizer.json (Gemma-3, 33 MB) in both.
#
# Tokenizers: two byte-level (Qwen2.5, Llama-3) and two SentencePiece-style (Llama-2, Gemma-3).
# Corpus: every non-empty line of ../shared/docs/*.md and ../shared/data/MANIFEST.md (English prose, tables,
# hashes, paths), the 27 multilingual golden texts and the built-in corpus (Korean, Chinese, Japanese, code,
# numbers, emoji), encoded PASSES times in one process by each side. Both sides run single-threaded, keep
# their per-word cache, and time the encode calls only (not loading, not reading input, not writing ids).
# Before timing, the ids of one pass are compared line by line: the speed of a wrong encoder is not reported.
#
# Prints a table and writes bench/out/tokenizer_bench.json. Not a test: timings on shared machines are noisy.
# Usage: bench/tokenizer/bench.sh [BUILD_DIR] [PASSES]      (npm ci in bench/tokenizer first)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
PASSES=${2:-10}
FS=$BUILD/src/cli/fromscratch
SHARED=${FROMSCRATCH_SHARED_DATA:-../shared/data}
DOCS=$(dirname "$SHARED")/docs
OUT=bench/out
PY=/usr/bin/python3
JS=bench/tokenizer/tokenizersjs.mjs
mkdir -p "$OUT"
[ -d bench/tokenizer/node_modules/@huggingface/tokenizers ] || { echo "run: (cd bench/tokenizer && npm ci)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$FS" tokenizer corpus > "$work/builtin.jsonl"
$PY - "$work/corpus.jsonl" "$SHARED/golden/tokenizer-encodings.jsonl" "$work/builtin.jsonl" "$DOCS"/*.md "$SHARED/MANIFEST.md" <<'PY'
import json, sys
out, golden, builtin, *texts = sys.argv[1:]
lines, seen = [], set()
for l in open(golden, encoding="utf-8"):
    t = json.loads(l)["text"]
    if t not in seen:
        seen.add(t)
        lines.append(t)
lines += [json.loads(l)["text"] for l in open(builtin, encoding="utf-8")]
for path in texts:
    lines += [l.rstrip("\n") for l in open(path, encoding="utf-8") if l.strip()]
with open(out, "w", encoding="utf-8") as f:
    for t in lines:
        f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
PY
for _ in $(seq "$PASSES"); do cat "$work/corpus.jsonl"; done > "$work/passes.jsonl"
corpus_bytes=$($PY -c 'import json,sys; print(sum(len(json.loads(l)["text"].encode()) for l in open(sys.argv[1])))' "$work/corpus.jsonl")
corpus_lines=$(wc -l < "$work/corpus.jsonl")

# "# load L s, pipeline P s, encode N texts, B bytes, T tokens in S s (R MB/s)" -> JSON
cpp_timing() {
  sed -E 's/^# load ([^ ]+) s, pipeline ([^ ]+) s, encode ([0-9]+) texts, ([0-9]+) bytes, ([0-9]+) tokens in ([^ ]+) s.*/{"load_s": \1, "pipeline_s": \2, "bytes": \4, "tokens": \5, "encode_s": \6}/'
}

echo "# corpus: $corpus_lines lines, $corpus_bytes bytes, encoded $PASSES times per side; single thread"
printf '%-34s %12s %12s %10s %10s %8s\n' tokenizer "C++ MB/s" "JS MB/s" "C++/JS" "tokens" "ids"
results="[]"
for name in Qwen_Qwen2.5-tokenizer meta-llama_Meta-Llama-3-8B meta-llama_Llama-2-7b-chat-hf \
            google_gemma-3-tokenizer_via-unsloth-gemma-3-1b-it; do
  dir="$SHARED/models/$name"
  "$FS" tokenizer encode "$dir" --jsonl < "$work/corpus.jsonl" > "$work/cpp_ids.txt"
  node "$JS" encode "$dir" "$work/corpus.jsonl" > "$work/js_ids.txt"
  if cmp -s "$work/cpp_ids.txt" "$work/js_ids.txt"; then same=identical; else same=DIFFERENT; fi
  cpp=$("$FS" tokenizer encode "$dir" --jsonl --timing < "$work/passes.jsonl" 2>&1 >/dev/null | grep '^# load' | cpp_timing)
  js=$(node "$JS" bench "$dir" "$work/corpus.jsonl" "$PASSES")
  row=$($PY -c 'import json,sys
c, j = json.loads(sys.argv[1]), json.loads(sys.argv[2])
cm, jm = c["bytes"] / c["encode_s"] / 1e6, j["bytes"] / j["encode_s"] / 1e6
print(json.dumps({"tokenizer": sys.argv[3], "ids": sys.argv[4], "cpp": c, "js": j, "cpp_mb_s": cm, "js_mb_s": jm,
                  "ratio": cm / jm, "tokens_equal": c["tokens"] == j["tokens"]}))' "$cpp" "$js" "$name" "$same")
  $PY -c 'import json,sys; r=json.loads(sys.argv[1])
print("%-34s %12.2f %12.2f %9.1fx %10d %8s" % (r["tokenizer"][:34], r["cpp_mb_s"], r["js_mb_s"], r["ratio"], r["cpp"]["tokens"], r["ids"]))' "$row"
  results=$($PY -c 'import json,sys; a=json.loads(sys.argv[1]); a.append(json.loads(sys.argv[2])); print(json.dumps(a))' "$results" "$row")
done

# Load time of the largest tokenizer.json (33 MB): parse + validate (+ building the encoder), best of 3.
gemma="$SHARED/models/google_gemma-3-tokenizer_via-unsloth-gemma-3-1b-it"
echo '{"text":"x"}' > "$work/one.jsonl"
cpp_load=$(for _ in 1 2 3; do "$FS" tokenizer encode "$gemma" --jsonl --timing < "$work/one.jsonl" 2>&1 >/dev/null | grep '^# load' | cpp_timing; done \
  | $PY -c 'import json,sys; print(min(json.loads(l)["load_s"] + json.loads(l)["pipeline_s"] for l in sys.stdin))')
js_load=$(for _ in 1 2 3; do node "$JS" bench "$gemma" "$work/one.jsonl" 1; done \
  | $PY -c 'import json,sys; print(min(json.loads(l)["load_s"] for l in sys.stdin))')
printf '\nload Gemma-3 tokenizer.json (33 MB), best of 3:  C++ %.3f s   JS %.3f s\n' "$cpp_load" "$js_load"

$PY -c 'import json,sys
print(json.dumps({"passes": int(sys.argv[1]), "corpus_lines": int(sys.argv[2]), "corpus_bytes": int(sys.argv[3]),
                  "throughput": json.loads(sys.argv[4]), "gemma3_load_s": {"cpp": float(sys.argv[5]), "js": float(sys.argv[6])}}, indent=1))' \
  "$PASSES" "$corpus_lines" "$corpus_bytes" "$results" "$cpp_load" "$js_load" > "$OUT/tokenizer_bench.json"
echo "wrote $OUT/tokenizer_bench.json"
