// The reference encoder, Hugging Face tokenizers.js (npm @huggingface/tokenizers@0.2.0, the version that produced
// ../shared/data/golden/tokenizer-encodings.jsonl), driven the same way as `fromscratch tokenizer encode`.
//
//   node tokenizersjs.mjs encode DIR INPUT.jsonl          one JSON array of ids per input line (no special tokens)
//   node tokenizersjs.mjs bench  DIR INPUT.jsonl PASSES   {"load_s", "encode_s", "bytes", "tokens"} on stdout
//
// INPUT.jsonl holds one {"text": ...} object per line. The file is read as UTF-8 (ill-formed bytes become
// U+FFFD), as the C++ tool does. Timing covers the encode calls only, single-threaded, all passes together.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [mode, dir, input, passesArg] = process.argv.slice(2);
if (!mode || !dir || !input || (mode !== "encode" && mode !== "bench")) {
  console.error("usage: node tokenizersjs.mjs encode|bench DIR INPUT.jsonl [PASSES]");
  process.exit(2);
}

const t0 = process.hrtime.bigint();
const tokenizerJson = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
let config = {};
try {
  config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
} catch (e) {
  if (e.code !== "ENOENT") throw e;
}
const tokenizer = new Tokenizer(tokenizerJson, config);
const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

const texts = readFileSync(input, "utf8")
  .split("\n")
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line).text);

if (mode === "encode") {
  const out = [];
  for (const text of texts) out.push(JSON.stringify(tokenizer.encode(text, { add_special_tokens: false }).ids));
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
} else {
  const passes = Number(passesArg ?? "1");
  const encoder = new TextEncoder();
  let bytes = 0;
  for (const text of texts) bytes += encoder.encode(text).length;
  let tokens = 0;
  const start = process.hrtime.bigint();
  for (let p = 0; p < passes; ++p)
    for (const text of texts) tokens += tokenizer.encode(text, { add_special_tokens: false }).ids.length;
  const encodeSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ load_s: loadSeconds, encode_s: encodeSeconds, bytes: bytes * passes, tokens }));
}
