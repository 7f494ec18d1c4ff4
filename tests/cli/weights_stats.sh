#!/usr/bin/env bash
# labels: cli
# `fromscratch weights stats` end to end on a tiny synth model: help and exit codes, the text table, --json
# fields against NumPy on the same bytes, identical output for 1 and 2 threads, --tensor, --rows-cols,
# --histograms, --h5 with and without --force, and a hand-made file with NaN/Inf.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
PY=/usr/bin/python3
F="$FROMSCRATCH"

expect_rc() {  # expect_rc CODE command...
  local want=$1; shift
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local rc=$?; set -e
  if [ "$rc" -ne "$want" ]; then
    echo "expected exit $want, got $rc: $*"; cat "$work/out.txt" "$work/err.txt"; exit 1
  fi
}

# ---- help and usage ----
"$F" weights stats --help > "$work/help.txt"
grep -q "usage: fromscratch weights stats" "$work/help.txt"
grep -q -- "--rows-cols" "$work/help.txt"
grep -q "stats" <("$F" weights --help)
expect_rc 2 "$F" weights stats
expect_rc 2 "$F" weights stats "$work" --no-such-option
expect_rc 2 "$F" weights stats "$work" --threads 0x
expect_rc 1 "$F" weights stats "$work/absent"

# ---- a tiny synthetic Solar-Open model ----
"$F" synth model --template solar-open --scale tiny --layers 1 --seed 3 --out "$work/m" > /dev/null 2>&1
expect_rc 2 "$F" weights stats "$work/m" --tensor no.such.tensor
grep -q "no such tensor" "$work/err.txt"

"$F" weights stats "$work/m" --threads 2 > "$work/table.txt"
head -2 "$work/table.txt" | grep -q "^# name  role  dtype  shape  mean  sd  min  max  kurtosis  zeros  nan/inf"
ntensors=$("$F" inspect "$work/m" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["totals"]["tensors"])')
test "$(grep -vc '^#' "$work/table.txt")" -eq "$ntensors"
grep -q "expert_gate" "$work/table.txt"

"$F" weights stats "$work/m" --json --threads 1 > "$work/t1.json"
"$F" weights stats "$work/m" --json --threads 2 > "$work/t2.json"
cmp "$work/t1.json" "$work/t2.json"   # same numbers, bit for bit, for 1 and 2 threads

# Every field, and the values of every tensor against NumPy over the same bytes.
$PY - "$work/t1.json" "$work/m" <<'EOF'
import json, sys, os, glob, struct
import numpy as np
doc = json.load(open(sys.argv[1]))
assert doc["kind"] == "weights_stats"
assert "sd_population" in doc["definitions"] and "sd_sample" in doc["definitions"]
fields = ["name", "role", "dtype", "shape", "rows", "cols", "count", "finite", "nan", "pos_inf", "neg_inf", "zeros",
          "zero_share", "mean", "sd_population", "sd_sample", "variance_population", "min", "max", "l2", "skewness",
          "excess_kurtosis", "moments", "histogram_kind"]
stats = {t["name"]: t for t in doc["tensors"]}
for t in doc["tensors"]:
    missing = [f for f in fields if f not in t]
    assert not missing, (t["name"], missing)
    assert "histogram" not in t and "row_l2" not in t
checked = 0
for shard in sorted(glob.glob(os.path.join(sys.argv[2], "*.safetensors"))):
    raw = open(shard, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    for name, info in header.items():
        if name == "__metadata__": continue
        b, e = info["data_offsets"]
        buf = raw[8 + n + b: 8 + n + e]
        if info["dtype"] == "BF16":
            x = (np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif info["dtype"] == "F32":
            x = np.frombuffer(buf, dtype=np.float32).astype(np.float64)
        else:
            continue
        s = stats[name]
        assert s["count"] == x.size, name
        m = x.mean(); d = x - m
        m2 = (d * d).sum()
        assert abs(s["mean"] - m) <= 1e-12 * (abs(m) + x.std() + 1e-300), (name, s["mean"], m)
        assert abs(s["sd_population"] - x.std()) <= 1e-10 * x.std() + 1e-300, name
        if x.size > 1:
            assert abs(s["sd_sample"] - x.std(ddof=1)) <= 1e-10 * x.std(ddof=1) + 1e-300, name
        if m2 > 0:
            k = x.size * (d ** 4).sum() / m2 ** 2 - 3
            assert abs(s["excess_kurtosis"] - k) <= 1e-8 * (3 + abs(k)), (name, s["excess_kurtosis"], k)
        assert s["min"] == x.min() and s["max"] == x.max(), name
        assert s["zeros"] == int((x == 0).sum()), name
        assert abs(s["l2"] - np.sqrt((x * x).sum())) <= 1e-12 * np.sqrt((x * x).sum()) + 1e-300, name
        checked += 1
assert checked == len(stats), (checked, len(stats))
print("numpy agrees on", checked, "tensors")
EOF

# --tensor, --rows-cols, --histograms
name=$($PY -c 'import json,sys; print([t["name"] for t in json.load(open(sys.argv[1]))["tensors"] if t["role"] == "expert_up"][0])' "$work/t1.json")
"$F" weights stats "$work/m" --json --tensor "$name" --rows-cols --histograms > "$work/one.json"
$PY - "$work/one.json" "$work/t1.json" "$name" <<'EOF'
import json, sys, math
one = json.load(open(sys.argv[1])); full = json.load(open(sys.argv[2]))
assert len(one["tensors"]) == 1
t = one["tensors"][0]
assert t["name"] == sys.argv[3]
assert len(t["row_l2"]) == t["shape"][0] and len(t["col_l2"]) == t["count"] // t["shape"][0]
assert abs(math.sqrt(sum(v * v for v in t["row_l2"])) - t["l2"]) < 1e-9 * t["l2"]
assert abs(math.sqrt(sum(v * v for v in t["col_l2"])) - t["l2"]) < 1e-9 * t["l2"]
h = t["histogram"]
assert h["kind"] == "bit_patterns" and h["bins"] == 65536 and sum(h["counts"]) == t["count"]
same = [u for u in full["tensors"] if u["name"] == t["name"]][0]
assert same["mean"] == t["mean"] and same["moments"] == t["moments"]
EOF

# --h5: written, refused without --force, replaced with it
if command -v h5dump > /dev/null 2>&1 || $PY -c 'import h5py' 2> /dev/null; then
  "$F" weights stats "$work/m" --h5 "$work/s.h5" > /dev/null
  test -s "$work/s.h5"
  expect_rc 2 "$F" weights stats "$work/m" --h5 "$work/s.h5"
  grep -q -- "--force" "$work/err.txt"
  expect_rc 0 "$F" weights stats "$work/m" --h5 "$work/s.h5" --force
fi

# ---- NaN and Inf: counted, reported, outside every statistic ----
$PY - "$work/nan.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, 3.0], dtype=np.float32)
h = json.dumps({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, x.nbytes]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + x.tobytes())
EOF
"$F" weights stats "$work/nan.safetensors" --json > "$work/nan.json" 2> "$work/nan.err"
grep -q "1 NaN and 2 infinite values" "$work/nan.err"
$PY - "$work/nan.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["tensors"][0]
assert (t["nan"], t["pos_inf"], t["neg_inf"], t["zeros"], t["finite"], t["count"]) == (1, 1, 1, 1, 3, 6), t
assert abs(t["mean"] - 4 / 3) < 1e-15 and t["min"] == 0 and t["max"] == 3
EOF
echo "weights stats: ok"
