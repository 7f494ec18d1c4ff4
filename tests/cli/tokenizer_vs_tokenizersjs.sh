#!/usr/bin/env bash
# labels: cli long
# `fromscratch tokenizer encode` agrees with the reference, tokenizers.js 0.2.0, id for id on 300 random texts
# per tokenizer (15 real tokenizers): mixed scripts, every kind of whitespace, contractions, digits, emoji with
# joiners and skin tones, combining marks, special-token strings with spaces around them, long runs, and
# ill-formed UTF-8 bytes. The texts come from a fixed seed, so a failure reproduces.
# Needs node and the package installed under bench/tokenizer (npm ci there); skips (77) when either is missing.
set -euo pipefail
bench="$FROMSCRATCH_SOURCE_DIR/bench/tokenizer"
models="${FROMSCRATCH_SHARED_DATA:-$FROMSCRATCH_SHARED_DATA_DEFAULT}/models"
if ! command -v node >/dev/null || [ ! -d "$bench/node_modules/@huggingface/tokenizers" ]; then
  echo "skipped: node or bench/tokenizer/node_modules (npm ci in bench/tokenizer) is missing"; exit 77
fi
if [ ! -d "$models" ]; then
  if [ "${FROMSCRATCH_REQUIRE_SHARED_DATA:-0}" = 1 ]; then echo "../shared/data is required but absent"; exit 1; fi
  echo "skipped: ../shared/data is absent"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$work/texts.jsonl" <<'PY'
import json, random, sys
rng = random.Random(20260104)
pieces = [
    "Hello", "world", "THE", "quick", "naïve", "Straße", "façade", "don't", "IT'S", "we'LL", "they've", "I'm",
    "토큰화", "테스트입니다", "한국어", "中文", "分词器", "大型语言模型", "日本語", "カタカナ", "ひらがな",
    "Русский", "العربية", "हिन्दी", "ελληνικά", "ΟΔΟΣ", "e\u0301", "a\u0308", "\u1100\u1161\u11a8",
    "123", "4567890", "3.14159", "1,000,000", "0x1F", "2026-01-04", "①②", "٣٤٥", "½", "²",
    "🚀", "🔥🔥", "👨\u200d👩\u200d👧\u200d👦", "👍🏽", "🇰🇷🇺🇸", "❤️", "\u200b", "\u2028",
    "def f(x):", "return x @ y", "{\"k\": [1, 2]}", "<div>", "a_b_c", "kebab-case", "camelCase", "...", "—", "''",
    "<|endoftext|>", "<|im_start|>", "<s>", "</s>", "<unk>", "<start_of_turn>", "<|begin_of_text|>", "<pad>",
    "<｜begin▁of▁sentence｜>", "▁", "Ġ", "<0x41>",
]
spaces = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\n\n", "\u3000", "\u00a0", "\u0085", "\ufeff", "   ", ""]
with open(sys.argv[1], "wb") as out:
    for i in range(300):
        n = rng.randint(1, 25)
        text = ""
        for _ in range(n):
            r = rng.random()
            if r < 0.05:
                text += rng.choice("ab ") * rng.randint(20, 300)  # long runs: one BPE word of hundreds of symbols
            else:
                text += rng.choice(pieces)
            text += rng.choice(spaces)
        line = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
        if i % 10 == 0:  # ill-formed UTF-8 inside the string: both sides must see U+FFFD
            cut = line.index(b'"text": "') + 9
            line = line[:cut] + rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x80"]) + line[cut:]
        out.write(line + b"\n")
PY

status=0
for dir in "$models"/*/; do
  name=$(basename "$dir")
  [ -f "$dir/tokenizer.json" ] || continue
  node "$bench/tokenizersjs.mjs" encode "$dir" "$work/texts.jsonl" > "$work/expected_$name.txt"
  "$FROMSCRATCH" tokenizer encode "$dir" --jsonl < "$work/texts.jsonl" > "$work/got_$name.txt"
  if ! cmp -s "$work/expected_$name.txt" "$work/got_$name.txt"; then
    echo "MISMATCH $name:"
    diff <(nl "$work/expected_$name.txt") <(nl "$work/got_$name.txt") | head -6
    status=1
  else
    echo "ok $name ($(wc -l < "$work/got_$name.txt") texts)"
  fi
done
exit $status
