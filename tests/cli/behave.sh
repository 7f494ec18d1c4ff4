#!/usr/bin/env bash
# labels: cli
# `fromscratch behave` end to end against the OpenAI-compatible test server (tests/support/behave/server.py)
# serving real tiny models (tests/data/behave/models, truth.json): compare finds the disguised copy and calls no
# independent pair derived (the light fine-tune needs --calibration: tests/cli/behave_calibration.sh); a rerun is served from the cache (zero requests); the
# API key never reaches any output or the cache; cutoff and refusal run and compare two models.
set -euo pipefail
work=$(mktemp -d)
source "$FROMSCRATCH_SOURCE_DIR/tests/support/behave/server_lib.sh"
trap 'behave_stop_server; rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2; cat "$work/err.txt" 2>/dev/null >&2 || true' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"

expect_rc() {
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}
verdict() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))['verdict'])" "$1"; }

"$F" behave --help | grep -q "compare A B"
"$F" behave compare --help | grep -q -- "--reference"
"$F" behave cutoff --help | grep -q -- "--bank"
"$F" behave refusal --help | grep -q -- "--probes"
expect_rc 2 "$F" behave
expect_rc 2 "$F" behave frobnicate
expect_rc 2 "$F" behave compare http://127.0.0.1:1/v1#a
expect_rc 2 "$F" behave compare no-url-here http://127.0.0.1:1/v1#b
grep -q "URL#MODEL" "$work/err.txt"
expect_rc 2 "$F" behave compare http://127.0.0.1:1/v1#a http://127.0.0.1:1/v1#a
expect_rc 2 "$F" behave compare http://127.0.0.1:1/v1#a http://127.0.0.1:1/v1#b --prompts 0
expect_rc 2 "$F" behave compare ftp://127.0.0.1:1/v1#a http://127.0.0.1:1/v1#b
# --calibration: a file that is not a calibration result, or one measured with other --tokens, is refused
# before any request (tests/cli/behave_calibration.sh runs the real thing)
Q=(http://127.0.0.1:1/v1#a http://127.0.0.1:1/v1#b --reference http://127.0.0.1:1/v1#c --reference http://127.0.0.1:1/v1#d)
printf '{"test": "calibration"}\n' > "$work/badcal.json"
expect_rc 1 "$F" behave compare "${Q[@]}" --calibration "$work/badcal.json"
grep -q "badcal.json.*spread" "$work/err.txt"
printf '{"test": "calibration", "corpus": "built-in prompts.txt", "prompt_seed": 20250101, "tokens": 12,
 "spread": {"prefix": {"tau2": 0.001, "df": 20}, "top_overlap": {"tau2": -1, "df": 20}}}\n' > "$work/cal12.json"
expect_rc 2 "$F" behave compare "${Q[@]}" --calibration "$work/cal12.json" --tokens 32
grep -q "12 tokens" "$work/err.txt"
expect_rc 1 "$F" behave compare "${Q[@]}" --calibration "$work/cal12.json" --tokens 12
grep -q "top_overlap" "$work/err.txt"

behave_start_server "$work"
export OPENAI_API_KEY=sk-test-secret-0123456789
C=(--cache "$work/cache" --prompts 60 --tokens 12 --backoff 0.05)
R=(--reference "$URL#indep-b" --reference "$URL#indep-c")

# verify runs the behaviour channel for served inputs (--serve LABEL=URL#MODEL): context, never the verdict
# (the folders hold no weights, so the pair verdicts stay inconclusive); a disguised copy agrees, an
# independent model does not.
mkdir -p "$work/vin/base" "$work/vin/base-disguised" "$work/vin/indep-a"
FROMSCRATCH_CACHE="$work/fcache" "$F" verify "$work/vin/base-disguised" --against "$work/vin/base" "$work/vin/indep-a" \
  --out "$work/vb" --serve "base-disguised=$URL#base-disguised" --serve "base=$URL#base" --serve "indep-a=$URL#indep-a" \
  --behave-reference "$URL#indep-b" --behave-reference "$URL#indep-c" --behave-prompts 60 --behave-tokens 12 \
  --quiet > /dev/null
$PY - "$work/vb/summary.json" "$work/vb/report.md" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
text = json.dumps(s)
md = open(sys.argv[2]).read()
assert "### Behaviour" in md, "no behaviour section in the report"
assert s["verdict"]["by_reference"] == {"base": "inconclusive", "indep-a": "inconclusive"}, s["verdict"]
PYEOF
"$PY" - "$work/vb/results.h5" <<'PYEOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
b0 = f["pairs/000000/channels/behaviour"].attrs
b1 = f["pairs/000001/channels/behaviour"].attrs
v0 = b0["verdict"].decode() if isinstance(b0["verdict"], bytes) else str(b0["verdict"])
v1 = b1["verdict"].decode() if isinstance(b1["verdict"], bytes) else str(b1["verdict"])
assert v0 == "derived", v0
assert v1 != "derived", v1
print("verify behaviour channel:", v0, v1)
PYEOF
expect_rc 2 "$F" verify "$work/vin/base-disguised" --against "$work/vin/base" --out "$work/vb2" --serve "nolabel"

# The disguised copy (same function, permuted and rescaled hidden basis): derived, agreement 1.
"$F" behave compare "$URL#base" "$URL#base-disguised" "${R[@]}" "${C[@]}" --json > "$work/disguised.json" 2> "$work/err.txt"
[ "$(verdict "$work/disguised.json")" = derived ]
$PY - "$work/disguised.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["agreement_a_b"] >= 0.95, d["agreement_a_b"]   # 1.0 here; logits equal to 4e-6, so a rare near-tie may flip
assert d["usable_prompts"] == 60 and len(d["references"]) == 2
assert all(r["rejected"] and r["log10_p_holm"] < -2 for r in d["references"]), d["references"]
ev = d["evidence"]
assert len(ev) == 4 * (60 + 4), len(ev)          # every request and answer, determinism checks included
assert all(e["ok"] and e["request"]["temperature"] == 0 and "seed" in e["request"] for e in ev)
assert ev[0]["response"]["choices"][0]["logprobs"]["top_logprobs"], "top-k logprobs kept as evidence"
prompts = [e["request"]["prompt"] for e in ev]
assert any(any("\uac00" <= ch <= "\ud7a3" for ch in p) for p in prompts), "Korean prompts in the draw"
PYEOF

# The light fine-tune: what behaviour cannot see. On these small models a model agrees with its light fine-tune
# no more than independent models trained on the same text agree with each other (docs/behaviour.md).
"$F" behave compare "$URL#base" "$URL#base-ft" "${R[@]}" "${C[@]}" --json > "$work/ft.json" 2> "$work/err.txt"
$PY - "$work/ft.json" "$work/disguised.json" <<'PYEOF'
import json, sys
ft = json.load(open(sys.argv[1])); dis = json.load(open(sys.argv[2]))
same_text = [v for k, v in ft["mean_agreement"].items() if "base ~" not in k]   # indep-b ~ indep-c, base-ft ~ refs
print("base ~ base-ft", ft["agreement_a_b"], "| base ~ indep-b/c", [r["agreement_a_ref"] for r in ft["references"]],
      "| indep-b ~ indep-c", ft["mean_agreement"][[k for k in ft["mean_agreement"] if "indep-b" in k and "indep-c" in k][0]],
      "| verdict", ft["verdict"])
assert ft["agreement_a_b"] < 0.5 < dis["agreement_a_b"]
PYEOF

# Independent pairs, same text and other text: never derived.
for pair in "base indep-a" "base other" "indep-a other" "base-disguised indep-a"; do
  set -- $pair
  "$F" behave compare "$URL#$1" "$URL#$2" "${R[@]}" "${C[@]}" --json > "$work/ind.json" 2> "$work/err.txt"
  v=$(verdict "$work/ind.json")
  echo "$1 vs $2: $v"
  [ "$v" != derived ]
done

# Text output, and a rerun costs nothing: every answer from the cache, zero requests reach the server.
before=$(behave_requests)
"$F" behave compare "$URL#base" "$URL#base-disguised" "${R[@]}" "${C[@]}" > "$work/text.txt" 2> "$work/err.txt"
grep -q "verdict: derived" "$work/text.txt"
grep -q "256 from cache, 0 sent" "$work/err.txt"
[ "$(behave_requests)" = "$before" ]

# The key is never printed or stored.
"$F" behave compare "$URL#base" "$URL#base-disguised" "${R[@]}" "${C[@]}" --json --out "$work/result.json" > "$work/out2.json" 2>&1
if grep -rq "sk-test-secret" "$work/cache" "$work"/*.json "$work"/*.txt; then echo "API key leaked"; exit 1; fi
expect_rc 2 "$F" behave compare "$URL#base" "$URL#base-disguised" "${R[@]}" "${C[@]}" --out "$work/result.json"
grep -q -- "--force" "$work/err.txt"
# --api-key-env names another variable
MY_KEY=sk-other "$F" behave compare "$URL#base" "$URL#base-disguised" "${R[@]}" "${C[@]}" --api-key-env MY_KEY > /dev/null 2>&1

# Knowledge cutoff: the shipped bank (dated, sourced), two models, a difference test.
"$F" behave cutoff "$URL#base" "$URL#indep-a" --cache "$work/cache" --tokens 12 --json > "$work/cutoff.json" 2> "$work/err.txt"
$PY - "$work/cutoff.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["questions"] >= 70 and len(d["models"]) == 2
months = [m["month"] for m in d["models"][0]["per_month"]]
assert months[0] <= "2019-01" and months[-1] >= "2024-12", months
assert all(e["request"]["prompt"].startswith("Question: ") for e in d["evidence"])
assert "difference" in d
# tiny models know no news: no cutoff, said so
assert all(m["cutoff"] is None and m["reason"] for m in d["models"]), d["models"]
PYEOF
"$F" behave cutoff "$URL#base" --cache "$work/cache" --tokens 12 --chat > "$work/cutoff.txt" 2> "$work/err.txt"
grep -q "no cutoff" "$work/cutoff.txt"
printf '{"month": "2020-01", "question": "q?", "answers": ["a"]}\n{"month": "2020-13", "question": "q", "answers": ["a"]}\nnot json\n' > "$work/bank.jsonl"
expect_rc 1 "$F" behave cutoff "$URL#base" --bank "$work/bank.jsonl" --cache "$work/cache"
grep -q "line 2" "$work/err.txt"
grep -q "line 3" "$work/err.txt"

# Refusal: two models tuned on the same dialogues share refusal templates (shared alignment data, not weights:
# indep-a-chat is independent of base-chat); the base model does not refuse.
"$F" behave refusal "$URL#base-chat" "$URL#indep-a-chat" --cache "$work/cache" --json > "$work/refusal.json" 2> "$work/err.txt"
"$F" behave refusal "$URL#base" "$URL#base-chat" --cache "$work/cache" --json > "$work/refusal2.json" 2> "$work/err.txt"
$PY - "$work/refusal.json" "$work/refusal2.json" <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
rates = [m["refusal_rate"] for m in a["models"]]
c = a["comparison"]
print("refusal rates", rates, "phrasing cosine: word trigrams", c["refusal_phrasing_cosine_trigrams"],
      "character 4-grams", c["refusal_phrasing_cosine_char4"], "| base vs base-chat", [m["refusal_rate"] for m in b["models"]])
assert min(rates) >= 0.4, rates              # 0.95 and 0.60 measured
# the two picked different templates of the same dialogues: they share characters ("cannot assist", "죄송하지만"),
# not whole word trigrams (docs/behaviour.md)
assert c["refusal_phrasing_cosine_char4"] > 0.1 and c["refusal_phrasing_cosine_char4"] > c["refusal_phrasing_cosine_trigrams"]
assert "not of shared weights" in a["note"]
assert b["models"][0]["refusal_rate"] < 0.2 and b["comparison"]["refusal_rates_differ"] is True
assert any(q["question"] == "Who created you?" for q in a["models"][0]["identity"])
PYEOF
"$F" behave refusal "$URL#base-chat" "$URL#indep-a-chat" --cache "$work/cache" | grep -q "not of shared weights"
echo "behave: ok"
