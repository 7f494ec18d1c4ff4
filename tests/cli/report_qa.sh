#!/usr/bin/env bash
# labels: cli
# The Q&A record end to end, through `fromscratch qa append/scan` and `fromscratch verify --qa`: a new record is
# created with a marker, entries are numbered in turn in both languages, a second append or run appends (the
# first entry stays byte for byte), a file with earlier entries and a marker with trailing text, exit codes,
# only rank 0 writes under mpiexec, and docs/tutorial.md is a record the next append fits.
set -euo pipefail
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"

expect_rc() {
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

"$F" qa --help | grep -q "TUTORIAL_MARKER"
"$F" qa append --help | grep -q -- "--answer-file"
"$F" qa scan --help | grep -q -- "--json"
expect_rc 2 "$F" qa
expect_rc 2 "$F" qa frobnicate
expect_rc 2 "$F" qa append "$work/x.md" --answer a                           # no --question
expect_rc 2 "$F" qa append "$work/x.md" --question q                         # no answer
expect_rc 2 "$F" qa append "$work/x.md" --question q --answer a --answer-file "$work/a.md"
expect_rc 2 "$F" qa append "$work/x.md" --question q --answer a --lang kr
expect_rc 2 "$F" qa append "$work/x.md" --question q --answer a --date 2026-02-30
expect_rc 2 "$F" qa append "$work/x.md" --question "$(printf 'two\nlines')" --answer a
expect_rc 2 "$F" qa append "$work/x.md" --question q --answer "$(printf 'x\n<!-- TUTORIAL_MARKER -->')"
grep -q "marker" "$work/err.txt"
test ! -e "$work/x.md"                                                       # nothing written on a refusal
expect_rc 1 "$F" qa append "$work/x.md" --question q --answer-file "$work/missing.md"
test ! -e "$work/x.md"
expect_rc 1 "$F" qa append "$work/no/such/folder/x.md" --question q --answer a
expect_rc 1 "$F" qa scan "$work/missing.md"
mkfifo "$work/fifo.md"                                                       # refused at once, never waited on
expect_rc 1 "$F" qa scan "$work/fifo.md"
expect_rc 1 "$F" qa append "$work/fifo.md" --question q --answer a
expect_rc 1 "$F" qa append "$work/x.md" --question q --answer-file "$work/fifo.md"

# A new record (Korean by default): title, Q1, marker.
printf '**판정**: derived (log10 p = -70)\n\n```sh\nfromscratch verify fam/disguised --against fam/base --out r\n```\n' > "$work/a1.md"
"$F" qa append "$work/qa.md" --question "disguised: 처음부터 학습한(from scratch) 모델인가?" \
  --answer-file "$work/a1.md" --date 2026-11-30 > "$work/out.txt"
grep -q "^Q1 appended to $work/qa.md" "$work/out.txt"
grep -q "^# 질의응답 기록" "$work/qa.md"
grep -q "^### Q1: disguised: 처음부터 학습한(from scratch) 모델인가?$" "$work/qa.md"
grep -q '^\*\*질문 시각\*\*: 2026-11-30$' "$work/qa.md"
grep -q '^\*\*답변\*\*:$' "$work/qa.md"
grep -q '^<!-- TUTORIAL_MARKER' "$work/qa.md"
cp "$work/qa.md" "$work/qa.v1.md"

# A second append (English, answer from stdin, JSON) appends: Q2 above the marker, Q1 untouched.
printf 'independent\n' | "$F" qa append "$work/qa.md" --question "Was c trained from scratch?" --answer-file - \
  --lang en --date 2026-12-01 --json > "$work/out.json"
$PY - "$work/qa.v1.md" "$work/qa.md" "$work/out.json" <<'PYEOF'
import json, sys
old = open(sys.argv[1], "rb").read()
new = open(sys.argv[2], "rb").read()
r = json.load(open(sys.argv[3]))
assert r["number"] == 2 and r["lang"] == "en" and not r["created"] and not r["marker_added"], r
at, n = r["inserted_at"], r["inserted_bytes"]
assert new[:at] == old[:at] and new[at + n:] == old[at:], "bytes outside the insertion changed"
ins = new[at:at + n].decode()
assert ins == "### Q2: Was c trained from scratch?\n\n**Asked**: 2026-12-01\n\n**Answer**:\n\nindependent\n\n---\n\n", repr(ins)
assert new.index(b"### Q1:") < new.index(b"### Q2:") < new.index(b"<!-- TUTORIAL_MARKER")
PYEOF
"$F" qa scan "$work/qa.md" --json > "$work/scan.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["entries"]==2 and d["next_number"]==3 and d["marker"], d' "$work/scan.json"

# A file with earlier entries (Q5, Q9) and a marker with text after it, CRLF: Q10, CRLF, rest unchanged.
printf '# Notes\r\n\r\n### Q5: a\r\n\r\nx\r\n\r\n---\r\n\r\n### Q9: b\r\n\r\ny\r\n\r\n---\r\n\r\n<!-- TUTORIAL_MARKER: keep me -->\r\nfooter\r\n' > "$work/old.md"
cp "$work/old.md" "$work/old.v1.md"
"$F" qa append "$work/old.md" --question q --answer a --lang en --json > "$work/out.json"
$PY - "$work/old.v1.md" "$work/old.md" "$work/out.json" <<'PYEOF'
import json, sys
old = open(sys.argv[1], "rb").read(); new = open(sys.argv[2], "rb").read(); r = json.load(open(sys.argv[3]))
assert r["number"] == 10, r
at, n = r["inserted_at"], r["inserted_bytes"]
assert new[:at] == old[:at] and new[at + n:] == old[at:]
ins = new[at:at + n]
assert ins.startswith(b"### Q10: q\r\n") and b"\n" not in ins.replace(b"\r\n", b""), ins
PYEOF

# A file without a marker: the entry and a marker go at the end; the next append lands above that marker.
printf 'just notes' > "$work/plain.md"
"$F" qa append "$work/plain.md" --question q --answer a --lang en > "$work/out.txt"
grep -q "marker added at the end" "$work/out.txt"
head -c 10 "$work/plain.md" | grep -q "^just notes$"
"$F" qa append "$work/plain.md" --question q2 --answer b --lang en > /dev/null
test "$(grep -c '^<!-- TUTORIAL_MARKER' "$work/plain.md")" -eq 1
tail -n 1 "$work/plain.md" | grep -q '^<!-- TUTORIAL_MARKER'

# docs/tutorial.md is itself a record: its numbering continues and its marker is found.
if [ -f "$FROMSCRATCH_SOURCE_DIR/docs/tutorial.md" ]; then
  cp "$FROMSCRATCH_SOURCE_DIR/docs/tutorial.md" "$work/tutorial.md"
  "$F" qa scan "$work/tutorial.md" --json > "$work/scan.json"
  $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["marker"] and d["marker_lines"]==1 and d["entries"]>=8, d' "$work/scan.json"
  "$F" qa append "$work/tutorial.md" --question q --answer a --json > "$work/out.json"
  $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); s=json.load(open(sys.argv[2])); assert d["number"]==s["next_number"] and not d["marker_added"], (d, s)' "$work/out.json" "$work/scan.json"
fi

# verify --qa: the run's findings as numbered entries, Korean then English, a second run appends (the first entry
# stays byte for byte), numbering continues a record with earlier entries, a refused run appends nothing.
"$F" synth family --template solar-open --scale tiny --seed 3 --hidden 64 --layers 2 --experts 4 --vocab 256 \
  --members fine-tuned --out "$work/fam" --threads 1 > /dev/null
FAST=(--null-draws 19 --matched-draws 9 --threads 1 --quiet)
"$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/v1" --qa "$work/rec.md" "${FAST[@]}" > /dev/null
grep -q "^### Q1: fine-tuned: 처음부터 학습한(from scratch) 모델인가, 아니면 base에서 파생된 모델인가?$" "$work/rec.md"
grep -q '^\*\*판정\*\*: derived' "$work/rec.md"
grep -q '^\*\*재현 명령\*\*: `fromscratch verify ' "$work/rec.md"
cp "$work/rec.md" "$work/rec.v1.md"
"$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/v2" --qa "$work/rec.md" --lang en "${FAST[@]}" > /dev/null
grep -q "^### Q2: Was fine-tuned trained from scratch, or derived from base?$" "$work/rec.md"
grep -q '^\*\*Asked\*\*: ' "$work/rec.md"
grep -q '^\*\*Verdict\*\*: derived' "$work/rec.md"
$PY - "$work/rec.v1.md" "$work/rec.md" <<'PYEOF'
import sys
old = open(sys.argv[1], "rb").read(); new = open(sys.argv[2], "rb").read()
m = old.index(b"<!-- TUTORIAL_MARKER")
assert new.startswith(old[:m]) and new.endswith(old[m:]), "the second run rewrote more than its entry"
assert new.count(b"<!-- TUTORIAL_MARKER") == 1
PYEOF
cp "$work/rec.md" "$work/rec.v2.md"
expect_rc 2 "$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/v2" --qa "$work/rec.md" "${FAST[@]}"
cmp "$work/rec.md" "$work/rec.v2.md"                                          # refused: nothing appended
printf '# Findings\n\n### Q5: earlier\n\n**질문 시각**: 2026-01-02\n\n**답변**:\n\nold\n\n---\n\n<!-- TUTORIAL_MARKER (keep) -->\nafter\n' > "$work/old-rec.md"
"$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/v3" --qa "$work/old-rec.md" "${FAST[@]}" > /dev/null
grep -q "^### Q6: fine-tuned" "$work/old-rec.md"
tail -n 2 "$work/old-rec.md" | head -n 1 | grep -q '^<!-- TUTORIAL_MARKER (keep) -->$'
tail -n 1 "$work/old-rec.md" | grep -q '^after$'

# Only rank 0 writes under mpiexec.
if [ -n "${MPIEXEC:-}" ] && command -v "$MPIEXEC" > /dev/null; then
  "$MPIEXEC" -n 2 "$F" qa append "$work/mpi.md" --question q --answer a > "$work/out.txt"
  test "$(grep -c '^### Q' "$work/mpi.md")" -eq 1
  test "$(grep -c 'appended' "$work/out.txt")" -eq 1
  "$MPIEXEC" -n 2 "$F" verify "$work/fam/fine-tuned" --against "$work/fam/base" --out "$work/v4" --qa "$work/mpi.md" "${FAST[@]}" > /dev/null
  test "$(grep -c '^### Q' "$work/mpi.md")" -eq 2
fi
echo "qa: all checks passed"
