#!/usr/bin/env bash
# labels: cli
# `fromscratch qa append/scan` end to end: a new record is created with a marker, entries are numbered in
# turn in both languages, a second append appends (the first entry stays byte for byte), a file with earlier
# entries and a marker with trailing text, exit codes, and docs/tutorial.md is a record the next append fits.
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

# Only rank 0 writes under mpiexec.
if [ -n "${MPIEXEC:-}" ] && command -v "$MPIEXEC" > /dev/null; then
  "$MPIEXEC" -n 2 "$F" qa append "$work/mpi.md" --question q --answer a > "$work/out.txt"
  test "$(grep -c '^### Q' "$work/mpi.md")" -eq 1
  test "$(grep -c 'appended' "$work/out.txt")" -eq 1
fi
echo "qa: all checks passed"
