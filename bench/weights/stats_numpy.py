#!/usr/bin/python3
"""NumPy baseline for bench/weights/stats_bench.sh: the statistics of `fromscratch weights stats` over the
same safetensors files, the way one would write them in NumPy (vectorised, float64, one thread).

Per tensor: count, NaN / +Inf / -Inf, exact zeros, mean, centred M2/M3/M4 (two-pass), finite min/max,
per-row and per-column sums of squares, and the bit-pattern histogram (np.bincount over the raw 16-bit
patterns, or over the raw bytes of 8-bit dtypes). Prints one JSON line: bytes, seconds, GB/s, tensors.
"""
import json
import struct
import sys
import time

import numpy as np


def decode(raw, dtype):
    if dtype == "BF16":
        bits = raw.view(np.uint16)
        return bits, (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if dtype == "F16":
        bits = raw.view(np.uint16)
        return bits, bits.view(np.float16).astype(np.float64)
    if dtype == "F32":
        return None, raw.view(np.float32).astype(np.float64)
    if dtype == "F64":
        return None, raw.view(np.float64).copy()
    return None, None


def tensor_stats(raw, dtype, shape):
    bits, x = decode(raw, dtype)
    if x is None:
        return None
    out = {"count": int(x.size)}
    if bits is not None:
        out["histogram_nonzero"] = int(np.count_nonzero(np.bincount(bits, minlength=65536)))
    finite = np.isfinite(x)
    out["nan"] = int(np.isnan(x).sum())
    out["inf"] = int(x.size - finite.sum() - out["nan"])
    xf = x if out["nan"] + out["inf"] == 0 else np.where(finite, x, 0.0)
    n = int(finite.sum())
    out["zeros"] = int((x == 0).sum())
    if n:
        xs = x[finite] if n != x.size else x
        mean = xs.mean()
        d = xs - mean
        d2 = d * d
        out.update(mean=float(mean), m2=float(d2.sum()), m3=float((d2 * d).sum()), m4=float((d2 * d2).sum()),
                   min=float(xs.min()), max=float(xs.max()))
    rows = shape[0] if shape else 1
    sq = (xf * xf).reshape(rows, -1) if rows else xf.reshape(0, 0)
    out["row_sumsq0"] = float(sq.sum(axis=1)[0]) if rows else 0.0
    out["col_sumsq0"] = float(sq.sum(axis=0)[0]) if rows else 0.0
    return out


def main(paths):
    total = 0
    tensors = 0
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            raw = np.array(data[b:e])  # one read of the tensor's bytes
            if tensor_stats(raw, info["dtype"], info["shape"]) is not None:
                tensors += 1
                total += e - b
    seconds = time.perf_counter() - start
    print(json.dumps({"bytes": total, "seconds": seconds, "gbps": total / seconds / 1e9, "tensors": tensors}))


if __name__ == "__main__":
    main(sys.argv[1:])
