#!/usr/bin/python3
"""Why `weights compare` has no test for norm vectors under an unknown hidden-basis permutation: the two nulls one
would reach for are measured here on pairs whose truth is known, and both reject independent pairs.

A copy that shares only its norm gains with another model, in a permuted hidden basis (synthetic `norm-only` vs
`disguised`), could be found by matching hidden dimensions by their gain profiles across layers. The matching
must then be tested against a null, and a valid null has to keep what independent models share: within one
model, a dimension's gains are coupled across layers (measured below as the mean correlation of centred gain
vectors between layers). Two candidates:

  split:  match dimensions by the input-norm profiles, test the post-attention norms under that matching;
          null: B's dimensions permuted at random in the post-attention norms.
  layers: match dimensions by their whole profiles (every norm vector, standardised), statistic = mean matched
          profile correlation; null: B's norm vectors shuffled among themselves (layer order permuted), then
          matched again.

Both keep within-model structure only partly, so independent models that share the coupling (not the values)
are flagged. The script prints, per pair: the within-model coupling, and z and p of both tests. A greedy
matching stands in for the optimal assignment: any matching shows the point.

usage: norm_profile_null_check.py A_DIR B_DIR [A_DIR B_DIR ...]   (folders holding one .safetensors with BF16,
       F32 or F64 tensors named model.layers.L.{input,post_attention}_layernorm.weight and model.norm.weight)
"""
import glob
import json
import struct
import sys

import numpy as np


def load_norms(folder):
    path = sorted(glob.glob(folder + "/*.safetensors"))[0]
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, v in header.items():
        if name == "__metadata__" or not name.endswith("norm.weight") or len(v["shape"]) != 1:
            continue
        if not ("layernorm" in name or name == "model.norm.weight"):
            continue
        a, b = v["data_offsets"]
        raw = data[base + a:base + b]
        if v["dtype"] == "BF16":
            x = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif v["dtype"] == "F32":
            x = np.frombuffer(raw, dtype=np.float32)
        elif v["dtype"] == "F64":
            x = np.frombuffer(raw, dtype=np.float64)
        else:
            raise SystemExit(f"{path}: tensor {name}: dtype {v['dtype']} not handled")
        out[name] = x.astype(np.float64)
    return out


def standardise(rows):
    g = np.array(rows)
    sd = g.std(1, keepdims=True)
    sd[sd == 0] = 1
    return (g - g.mean(1, keepdims=True)) / sd


def greedy_matching(similarity):
    n = similarity.shape[0]
    order = np.dstack(np.unravel_index(np.argsort(-similarity, axis=None), similarity.shape))[0]
    perm = -np.ones(n, dtype=int)
    used_a, used_b = set(), set()
    for i, j in order:
        if i in used_a or j in used_b:
            continue
        perm[i] = j
        used_a.add(i)
        used_b.add(j)
        if len(used_a) == n:
            break
    return perm


def layers_of(norms, kind):
    keys = sorted((k for k in norms if k.endswith(kind + "_layernorm.weight")), key=lambda k: int(k.split(".")[2]))
    return [norms[k] for k in keys]


def coupling(profile):
    c = np.corrcoef(profile)
    return c[~np.eye(len(c), dtype=bool)].mean()


def check(a_dir, b_dir, draws=999, seed=1):
    na, nb = load_norms(a_dir), load_norms(b_dir)
    rng = np.random.default_rng(seed)
    ia, pa = standardise(layers_of(na, "input")), standardise(layers_of(na, "post_attention"))
    ib, pb = standardise(layers_of(nb, "input")), standardise(layers_of(nb, "post_attention"))
    # split: choose on input norms, test on post-attention norms
    perm = greedy_matching(ia.T @ ib)
    stat = lambda pbm: np.mean([np.corrcoef(pa[l], pbm[l])[0, 1] for l in range(len(pa))])
    obs = stat(pb[:, perm])
    null = np.array([stat(pb[:, rng.permutation(pb.shape[1])]) for _ in range(draws)])
    split = ((obs - null.mean()) / null.std(), (1 + (null >= obs).sum()) / (1 + draws), obs)
    # layers: whole profiles, B's norm vectors shuffled among themselves
    fa = standardise([na[k] for k in sorted(na)])
    fb = standardise([nb[k] for k in sorted(nb)])

    def matched(b):
        s = fa.T @ b / fa.shape[0]
        p = greedy_matching(s)
        return s[np.arange(len(p)), p].mean()

    obs2 = matched(fb)
    null2 = np.array([matched(fb[rng.permutation(fb.shape[0])]) for _ in range(min(draws, 199))])
    lay = ((obs2 - null2.mean()) / null2.std(), (1 + (null2 >= obs2).sum()) / (1 + len(null2)), obs2)
    return coupling(fa), coupling(fb), split, lay


def main():
    args = sys.argv[1:]
    if len(args) < 2 or len(args) % 2:
        raise SystemExit(__doc__)
    print("| A | B | coupling A | coupling B | split: r, z, p | layers: r, z, p |")
    print("|---|---|---|---|---|---|")
    for a, b in zip(args[::2], args[1::2]):
        ca, cb, s, l = check(a, b)
        print(f"| {a.rstrip('/').split('/')[-1]} | {b.rstrip('/').split('/')[-1]} | {ca:.2f} | {cb:.2f} | "
              f"{s[2]:.3f}, {s[0]:.1f}, {s[1]:.3g} | {l[2]:.3f}, {l[0]:.1f}, {l[1]:.3g} |")


if __name__ == "__main__":
    main()
