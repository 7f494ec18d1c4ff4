#!/usr/bin/env python3
"""Checks `fromscratch hash --json` and its --h5 file against independent implementations:
hashlib.sha256 over each tensor's byte range, python-xxhash's XXH3-64 per row and XXH3-128 of the sorted
row digests, and h5py reading the HDF5 file. Usage: check_hash_output.py CHECKPOINT_DIR HASH_JSON H5_FILE
"""
import hashlib
import json
import os
import struct
import sys

import h5py
import numpy as np
import xxhash


def tensors_of(ckpt):
    index = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))
    out = {}
    for shard in sorted(set(index["weight_map"].values())):
        path = os.path.join(ckpt, shard)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            for name, t in header.items():
                if name == "__metadata__":
                    continue
                b, e = t["data_offsets"]
                f.seek(8 + n + b)
                out[name] = (t, f.read(e - b))
    return out


def rows_of(t, data):
    shape = t["shape"]
    rows = 1 if not shape else shape[0]
    if rows == 0:
        return []
    size = len(data) // rows
    return [data[i * size:(i + 1) * size] for i in range(rows)]


def main():
    ckpt, hash_json, h5_path = sys.argv[1:4]
    doc = json.load(open(hash_json))
    truth = tensors_of(ckpt)
    assert len(doc["tensors"]) == len(truth), (len(doc["tensors"]), len(truth))
    names = [t["name"] for t in doc["tensors"]]
    assert names == sorted(names), "tensors must be listed in name order"
    for entry in doc["tensors"]:
        t, data = truth[entry["name"]]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), entry["name"]
        digests = [xxhash.xxh3_64_intdigest(r) for r in rows_of(t, data)]
        assert entry["rows"] == len(digests), entry["name"]
        packed = struct.pack("<%dQ" % len(digests), *sorted(digests))
        assert entry["row_multiset"] == xxhash.xxh3_128_hexdigest(packed), entry["name"]
    e0 = next(t for t in doc["tensors"] if t["name"].endswith("experts.0.gate_proj.weight"))
    e1 = next(t for t in doc["tensors"] if t["name"].endswith("experts.1.gate_proj.weight"))
    assert e0["row_multiset"] == e1["row_multiset"] and e0["sha256"] != e1["sha256"], "permuted rows"

    with h5py.File(h5_path, "r") as f:
        h5_names = [s.decode() for s in f["tensors/name"][:]]
        assert h5_names == names
        offsets = f["tensors/row_offset"][:]
        rows = f["tensors/rows"][:]
        all_rows = f["row_digests"][:]
        assert all_rows.dtype == np.uint64 and len(all_rows) == int(rows.sum())
        for i, name in enumerate(h5_names):
            t, data = truth[name]
            want = [xxhash.xxh3_64_intdigest(r) for r in rows_of(t, data)]
            got = [int(x) for x in all_rows[offsets[i]:offsets[i] + rows[i]]]
            assert got == want, name
            assert f["tensors/sha256"][i].decode() == doc["tensors"][i]["sha256"]
        assert f["provenance"].attrs["tool"].decode() == "fromscratch"
    print("ok: %d tensors, %d rows checked against hashlib, python-xxhash and h5py" % (len(names), len(all_rows)))


if __name__ == "__main__":
    main()
