#!/usr/bin/python3
"""Fingerprint files read with h5py: every dataset of the schema (results/SCHEMA.md, "fingerprint") exists with
its type and size, and (with --same) two fingerprints hold bit-identical datasets and attributes outside
/provenance.

usage: check_fingerprint.py FP.h5 [--same OTHER.h5 ...] [--model CHECKPOINT]
With --model, the stored SHA-256 of every tensor is checked against hashlib over the checkpoint's bytes.
"""
import hashlib
import json
import os
import struct
import sys

import h5py
import numpy as np

SCHEMA = {
    "/config_json": ("u", 1), "/vocab/ids": ("u", 4), "/vocab/byte_offset": ("u", 8), "/vocab/bytes": ("u", 1),
    "/tensors/name": ("S", 0), "/tensors/role_kind": ("S", 0), "/tensors/layer": ("i", 4),
    "/tensors/expert": ("i", 4), "/tensors/mtp": ("i", 4), "/tensors/dtype": ("S", 0), "/tensors/ndim": ("i", 4),
    "/tensors/shape": ("u", 8), "/tensors/sha256": ("S", 0), "/tensors/row_multiset": ("S", 0),
    "/tensors/kept": ("S", 0), "/tensors/value_rows": ("u", 8), "/tensors/value_cols": ("u", 8),
    "/tensors/nonfinite": ("u", 8), "/tensors/row_digest_offset": ("u", 8), "/tensors/row_digests": ("u", 8),
    "/tensors/value_offset": ("u", 8), "/tensors/values": ("f", 4), "/tensors/token_offset": ("u", 8),
    "/tensors/token_ids": ("u", 4),
}
for f in ["rows", "cols", "count", "nan", "pos_inf", "neg_inf", "zeros", "n"]:
    SCHEMA["/tensors/stats/" + f] = ("u", 8)
for f in ["mean", "m2", "m3", "m4", "min", "max"]:
    SCHEMA["/tensors/stats/" + f] = ("f", 8)
ROOT_ATTRS = ["format", "version", "name", "source", "tensor_count", "complete"]


def fail(msg):
    sys.exit(f"check_fingerprint: {msg}")


def check_schema(path):
    with h5py.File(path, "r") as f:
        for a in ROOT_ATTRS:
            if a not in f.attrs:
                fail(f"{path}: root attribute {a} missing")
        if f.attrs["format"] != b"fromscratch-fingerprint" and f.attrs["format"] != "fromscratch-fingerprint":
            fail(f"{path}: format {f.attrs['format']!r}")
        n = int(f.attrs["tensor_count"])
        for p, (kind, size) in SCHEMA.items():
            if p not in f:
                fail(f"{path}: dataset {p} missing")
            d = f[p]
            if d.dtype.kind != kind or (size and d.dtype.itemsize != size):
                fail(f"{path}: {p} has type {d.dtype}, want {kind}{size}")
            d[()]  # read it all
        for p in SCHEMA:
            if p.startswith("/tensors/") and not p.endswith(("_offset", "row_digests", "values", "token_ids")):
                if f[p].shape[0] != n:
                    fail(f"{path}: {p} has {f[p].shape[0]} rows for {n} tensors")
        for p in ["/tensors/row_digest_offset", "/tensors/value_offset", "/tensors/token_offset"]:
            if f[p].shape[0] != n + 1:
                fail(f"{path}: {p} has {f[p].shape[0]} entries, want {n + 1}")
        for a in ["seed", "sketch_dim", "full_max_elements", "max_tokens"]:
            if a not in f["/options"].attrs:
                fail(f"{path}: /options@{a} missing")
        for g in f.get("/pca", {}).values():
            if g["gram"].shape != (g.attrs["dim"], g.attrs["dim"]):
                fail(f"{path}: {g.name}/gram shape {g['gram'].shape}")
        return n


def datasets(f):
    out = {}
    def visit(name, obj):
        if name.startswith("provenance"):
            return
        if isinstance(obj, h5py.Dataset):
            out["/" + name] = obj[()]
        out["@/" + name] = {k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}
    f.visititems(visit)
    out["@/"] = dict(f.attrs.items())
    return out


def same(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        da, db = datasets(fa), datasets(fb)
    if sorted(da) != sorted(db):
        fail(f"{a} and {b} hold different objects: {sorted(set(da) ^ set(db))}")
    for k in da:
        x, y = da[k], db[k]
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                fail(f"{a} and {b} differ in {k}")
        elif x != y:
            fail(f"{a} and {b} differ in {k}: {x!r} vs {y!r}")
    return len(da)


def check_sha(path, model):
    # Every tensor's stored sha256 against hashlib over its byte range.
    ranges = {}
    for fn in sorted(os.listdir(model)):
        if not fn.endswith(".safetensors"):
            continue
        p = os.path.join(model, fn)
        with open(p, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            h = json.loads(fh.read(n))
        for k, v in h.items():
            if k != "__metadata__":
                ranges[k] = (p, 8 + n + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0])
    with h5py.File(path, "r") as f:
        names = [x.decode() for x in f["/tensors/name"][()]]
        shas = [x.decode() for x in f["/tensors/sha256"][()]]
    for name, sha in zip(names, shas):
        p, off, ln = ranges[name]
        with open(p, "rb") as fh:
            fh.seek(off)
            if hashlib.sha256(fh.read(ln)).hexdigest() != sha:
                fail(f"{path}: sha256 of {name} differs from hashlib")
    return len(names)


def main():
    args = sys.argv[1:]
    if not args:
        fail(__doc__)
    first = args.pop(0)
    n = check_schema(first)
    msg = [f"{first}: {n} tensors, every schema dataset read"]
    while args:
        opt = args.pop(0)
        if opt == "--same":
            other = args.pop(0)
            check_schema(other)
            k = same(first, other)
            msg.append(f"{k} objects identical to {other}")
        elif opt == "--model":
            k = check_sha(first, args.pop(0))
            msg.append(f"{k} sha256 equal to hashlib")
        else:
            fail(f"unknown option {opt}")
    print("; ".join(msg))


if __name__ == "__main__":
    main()
