#!/usr/bin/python3
"""PyTorch baseline for bench/gpu/gpu_bench.sh: the same operations on the same safetensors files as
`fromscratch device --bench`: read the stored bytes, decode to float32, moments of the finite values in float64
(mean, M2, M3, M4), and the sketch S @ W (float32, S k x rows) for 2-D tensors. On the GPU when torch sees one
(torch.cuda.is_available()), else on the CPU; prints JSON with GB/s of stored bytes."""
import argparse
import glob
import json
import os
import struct
import time

import numpy as np
import torch

DTYPES = {"BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2), "F32": (torch.float32, 4)}
if hasattr(torch, "float8_e4m3fn"):
    DTYPES["F8_E4M3"] = (torch.float8_e4m3fn, 1)
    DTYPES["F8_E5M2"] = (torch.float8_e5m2, 1)


def tensors(folder):
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        base = 8 + n
        for name, t in sorted(header.items()):
            if name == "__metadata__" or t["dtype"] not in DTYPES:
                continue
            b, e = t["data_offsets"]
            yield path, base + b, e - b, t["dtype"], t["shape"]


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--sketch-dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t = {"read": 0.0, "decode": 0.0, "moments": 0.0, "sketch": 0.0}
    nbytes = sketch_bytes = 0
    count = 0
    sketches = {}
    for path, off, size, dtype, shape in tensors(a.folder):
        tdt, w = DTYPES[dtype]
        count += 1
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            f.seek(off)
            raw = f.read(size)
        t["read"] += time.perf_counter() - t0
        host = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        for _ in range(a.repeats):
            nbytes += size
            sync(dev)
            t0 = time.perf_counter()
            x = host.to(dev, non_blocking=False).view(tdt).float()
            sync(dev)
            t["decode"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            d = host.to(dev).view(tdt).double()
            d = d[torch.isfinite(d)]
            mean = d.mean()
            c = d - mean
            c2 = c * c
            m = torch.stack([c2.sum(), (c2 * c).sum(), (c2 * c2).sum()])
            m.cpu()
            t["moments"] += time.perf_counter() - t0
            if len(shape) == 2:
                rows = shape[0]
                if rows not in sketches:
                    g = torch.Generator().manual_seed(rows)
                    sketches[rows] = (torch.randn(a.sketch_dim, rows, generator=g) / a.sketch_dim ** 0.5).to(dev)
                sync(dev)
                t0 = time.perf_counter()
                wmat = host.to(dev).view(tdt).float().reshape(shape)
                wmat = torch.nan_to_num(wmat, nan=0.0, posinf=0.0, neginf=0.0)
                s = sketches[rows] @ wmat
                s.cpu()
                t["sketch"] += time.perf_counter() - t0
                sketch_bytes += size
    read_bytes = nbytes / a.repeats if a.repeats else 0
    rate = lambda b, s: b / s / 1e9 if s > 0 else 0.0
    print(json.dumps({"device": f"torch {torch.__version__} {dev.type}" + (f" ({torch.cuda.get_device_name(0)})" if dev.type == "cuda" else ""),
                      "tensors": count, "bytes": read_bytes,
                      "gbps": {"read": rate(read_bytes, t["read"]), "decode": rate(nbytes, t["decode"]),
                               "moments": rate(nbytes, t["moments"]), "sketch": rate(sketch_bytes, t["sketch"])},
                      "seconds": t}, indent=2))


if __name__ == "__main__":
    main()
