#!/usr/bin/env python3
"""Writes a small two-shard safetensors checkpoint with NumPy alone (independent of fromscratch's writer).

It covers the cases the hasher must get right: BF16/F32/I8 tensors, a 1-D vector, a scalar, a zero-size
tensor, rows larger than a 1 MiB read buffer, and a tensor whose rows are a permutation of another's.
Usage: write_test_checkpoint.py OUT_DIR
"""
import json
import os
import struct
import sys

import numpy as np


def write_shard(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr, dtype in tensors:
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261127)
    bf16 = lambda *shape: rng.integers(0, 1 << 16, size=shape, dtype=np.uint16)  # raw BF16 bit patterns
    experts = bf16(16, 96)
    perm = rng.permutation(16)
    shard1 = [
        ("model.embed_tokens.weight", bf16(500, 96), "BF16"),
        ("model.layers.0.input_layernorm.weight", rng.standard_normal(96).astype(np.float32), "F32"),
        ("model.layers.0.mlp.experts.0.gate_proj.weight", experts, "BF16"),
        ("model.layers.0.mlp.experts.1.gate_proj.weight", experts[perm], "BF16"),  # same rows, permuted
        ("model.layers.0.self_attn.q_proj.weight", rng.integers(-128, 128, size=(96, 96), dtype=np.int8), "I8"),
    ]
    shard2 = [
        ("lm_head.weight", bf16(3, 1 << 20), "BF16"),  # 2 MiB rows: larger than a 1 MiB buffer
        ("model.norm.weight", np.array(1.5, dtype=np.float32), "F32"),  # scalar
        ("model.layers.0.empty", np.zeros((0, 4), dtype=np.float32), "F32"),  # zero-size
    ]
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    write_shard(os.path.join(out, names[0]), shard1)
    write_shard(os.path.join(out, names[1]), shard2)
    weight_map = {n: names[0] for n, _, _ in shard1}
    weight_map.update({n: names[1] for n, _, _ in shard2})
    total = sum(a.nbytes for _, a, _ in shard1 + shard2)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)


if __name__ == "__main__":
    main()
