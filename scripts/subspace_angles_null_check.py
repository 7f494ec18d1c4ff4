#!/usr/bin/python3
"""Why expert_subspace_angles is reported but not a verdict test: an independent NumPy implementation of the
statistic (top-k eigenvectors of each model's Gram matrix of expert gate rows, sum over layers of
||U_A^T U_B||_F^2, null: 200 permutations of B's hidden axis) on N synthetic base/independent pairs, once as
the models come and once after B's hidden axis is shuffled by a fixed random permutation (which makes the
null hold exactly, whatever the generator shares by position). Prints the share of p below 0.05 and 0.01
for both.

usage: subspace_angles_null_check.py FROMSCRATCH N [WORK_DIR]
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    kinds = {"BF16": None, "F32": np.float32, "F64": np.float64, "F16": np.float16}
    for name, v in head.items():
        if name == "__metadata__":
            continue
        s, e = v["data_offsets"]
        b = raw[8 + n + s:8 + n + e]
        if v["dtype"] == "BF16":
            a = (np.frombuffer(b, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(b, kinds[v["dtype"]])
        out[name] = a.reshape(v["shape"]).astype(np.float64)
    return out


def gate_blocks(model_dir):
    m = {}
    for f in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        m.update(load(f))
    blocks = []
    for layer in range(10000):
        rows = [m[k] for k in sorted(m) if k.startswith("model.layers.%d.mlp.experts." % layer) and k.endswith("gate_proj.weight")]
        if not any(k.startswith("model.layers.%d." % layer) for k in m):
            break
        if len(rows) >= 2:
            blocks.append(np.vstack(rows))
    return blocks


def top(x, k):
    _, v = np.linalg.eigh(x.T @ x)
    return v[:, -k:]


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, n = sys.argv[1], int(sys.argv[2])
    work = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="fs-subspace-")
    rng = np.random.default_rng(5)
    rates = {"as generated": [], "B's hidden axis shuffled": []}
    for s in range(n):
        fam = os.path.join(work, "f%d" % s)
        if not os.path.isdir(fam):
            subprocess.run([exe, "synth", "family", "--template", "solar-open", "--scale", "tiny", "--seed", str(1000 + s),
                            "--members", "base,independent", "--out", fam, "--hidden", "128", "--layers", "3",
                            "--experts", "6", "--vocab", "512"], check=True, capture_output=True)
        ga, gb = gate_blocks(os.path.join(fam, "base")), gate_blocks(os.path.join(fam, "independent"))
        d = ga[0].shape[1]
        k = max(1, min(16, d // 8))
        perms = [rng.permutation(d) for _ in range(200)]
        shuffle = np.random.default_rng(1000 + s).permutation(d)
        for label, blocks_b in (("as generated", gb), ("B's hidden axis shuffled", [x[:, shuffle] for x in gb])):
            ua, ub = [top(x, k) for x in ga], [top(x, k) for x in blocks_b]
            obs = sum(np.sum((a.T @ b) ** 2) for a, b in zip(ua, ub))
            draws = np.array([sum(np.sum((a.T @ b[p]) ** 2) for a, b in zip(ua, ub)) for p in perms])
            rates[label].append((1 + np.sum(draws >= obs)) / (1 + len(perms)))
    for label, ps in rates.items():
        ps = np.array(ps)
        print("%-26s pairs %d  P(p<0.05) %.3f  P(p<0.01) %.3f" % (label, len(ps), np.mean(ps < 0.05), np.mean(ps < 0.01)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
