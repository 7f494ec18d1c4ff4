#!/usr/bin/python3
"""Reference forward pass of `fromscratch synth` checkpoints, in PyTorch (Debian's python3-torch).

Reads a checkpoint folder (config.json, model.safetensors or an index with shards) with plain Python
(struct + json + numpy; no `safetensors` package), and runs the forward pass its config describes:

  * RMSNorm  y = g * x / sqrt(mean(x^2) + eps)
  * attention: q/k/v projections (+ bias where present: glm4_moe, qwen2), grouped-query attention
    (q head h reads kv head h // (heads / kv_heads)), RoPE on the first partial_rotary_factor x head_dim
    dimensions of each head in rotate-half form (llama, mistral, mixtral, qwen2, glm4_moe, solar_open),
    YaRN frequencies and attention factor when rope_scaling says "yarn", causal softmax, o_proj
  * MLP: down(silu(gate x) * up x)
  * MoE, solar_open / glm4_moe (DeepSeek-V3 style): scores = sigmoid(router x); experts chosen by top-k of
    scores + e_score_correction_bias (group-limited when n_group > 1), weights = the chosen scores (without
    the bias), normalised when norm_topk_prob, times routed_scaling_factor; + shared experts; the first
    first_k_dense_replace layers dense
  * MoE, mixtral: softmax over router logits, top-k, weights renormalised
  * final norm, lm_head (untied)
  The multi-token-prediction block (glm4_moe layer num_hidden_layers) is not part of next-token logits.

Usage:
  synth_forward.py logits CKPT [--seqs N] [--len T] [--seed S] [--dtype float64|float32] [--out FILE.npy]
  synth_forward.py compare A B [--seqs N] [--len T] [--seed S] [--dtype ...] [--expect same|differ] [--rtol R]
      prints JSON: max_abs_diff, max_abs_logit, rel_diff = max_abs_diff / max_abs_logit, argmax_agreement;
      with --expect same: exit 1 unless rel_diff <= rtol; --expect differ: exit 1 unless rel_diff > rtol.
  synth_forward.py family DIR [--seqs N] [--len T] [--seed S]
      the checks a family's truth.json implies, for the members present, one JSON line each (exit 1 if any
      fails): disguised = fine-tuned (rel_diff <= 1e-9), disguised-rotated = fine-tuned (<= 1e-5 when stored
      F32; BF16 storage is measured, not judged), expert-permuted = base (<= 1e-9), fine-tuned != base
      (> 1e-3: the control), and width-pruned / depth-pruned logits finite and not constant.
Token sequences are drawn from torch.Generator(seed) over the smaller vocabulary of the two models.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

DTYPES = {"BF16": None, "F16": np.float16, "F32": np.float32, "F64": np.float64}


def read_safetensors(path, wanted=None):
    out = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > 100_000_000:
            raise ValueError(f"{path}: header of {n} bytes")
        header = json.loads(f.read(n))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__" or (wanted is not None and name not in wanted):
                continue
            dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
            if dt not in DTYPES:
                raise ValueError(f"{path}: tensor {name}: dtype {dt} not supported")
            f.seek(base + b)
            raw = f.read(e - b)
            if dt == "BF16":
                a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                a = np.frombuffer(raw, dtype=np.dtype(DTYPES[dt]).newbyteorder("<"))
            out[name] = a.reshape(shape)
    return out


def load_checkpoint(folder, dtype):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(folder, shard)))
    else:
        tensors = read_safetensors(os.path.join(folder, "model.safetensors"))
    return config, {k: torch.from_numpy(np.array(v, dtype=np.float64)).to(dtype) for k, v in tensors.items()}


def rope_tables(config, head_dim, positions, dtype):
    rot = int(head_dim * config.get("partial_rotary_factor", 1.0))
    rot -= rot % 2
    base = float(config.get("rope_theta", 10000.0))
    inv_freq = 1.0 / (base ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    attention_factor = 1.0
    rs = config.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "yarn":  # transformers' _compute_yarn_parameters
        factor = float(rs["factor"])
        orig = rs.get("original_max_position_embeddings", config.get("max_position_embeddings"))
        attention_factor = rs.get("attention_factor") or (0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0)
        beta_fast, beta_slow = rs.get("beta_fast", 32), rs.get("beta_slow", 1)

        def correction_dim(n_rot):
            return (rot * math.log(orig / (n_rot * 2 * math.pi))) / (2 * math.log(base))

        low = max(math.floor(correction_dim(beta_fast)), 0)
        high = min(math.ceil(correction_dim(beta_slow)), rot - 1)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(rot // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        extrapolation = 1.0 - ramp
        inv_freq = (inv_freq / factor) * (1 - extrapolation) + inv_freq * extrapolation
    elif kind not in (None, "default"):
        raise ValueError(f"rope_scaling type {kind} not implemented")
    freqs = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return (emb.cos() * attention_factor).to(dtype), (emb.sin() * attention_factor).to(dtype), rot


def apply_rope(x, cos, sin, rot):  # x [T, heads, head_dim]
    xr, xp = x[..., :rot], x[..., rot:]
    half = rot // 2
    rotated = torch.cat([-xr[..., half:], xr[..., :half]], dim=-1)
    xr = xr * cos[:, None, :] + rotated * sin[:, None, :]
    return torch.cat([xr, xp], dim=-1)


def rms_norm(x, g, eps):
    return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def mlp(x, W, prefix, names=("gate_proj", "up_proj", "down_proj")):
    g, u, d = (W[f"{prefix}{n}.weight"] for n in names)
    return torch.nn.functional.silu(x @ g.T) * (x @ u.T) @ d.T


class Forward:
    def __init__(self, folder, dtype=torch.float64):
        self.config, self.W = load_checkpoint(folder, dtype)
        self.dtype = dtype
        c = self.config
        self.type = c["model_type"]
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.layers = c["num_hidden_layers"]

    def layer_kind(self, L):
        c = self.config
        if self.type == "mixtral":
            return "mixtral"
        if self.type in ("solar_open", "glm4_moe") and L >= c.get("first_k_dense_replace", 0):
            return "sigmoid-moe"
        return "dense"

    def moe_sigmoid(self, x, p):
        c, W = self.config, self.W
        E, k = c["n_routed_experts"], c["num_experts_per_tok"]
        logits = x @ W[p + "gate.weight"].T
        scores = torch.sigmoid(logits)
        choice = scores + W[p + "gate.e_score_correction_bias"][None, :]
        n_group, topk_group = c.get("n_group", 1) or 1, c.get("topk_group", 1) or 1
        if n_group > 1:
            g = choice.view(-1, n_group, E // n_group).topk(2, dim=-1)[0].sum(-1)
            keep = torch.zeros_like(g).scatter_(1, g.topk(topk_group, dim=-1)[1], 1)
            mask = keep[:, :, None].expand(-1, n_group, E // n_group).reshape(-1, E)
            choice = choice.masked_fill(mask == 0, 0.0)
        idx = choice.topk(k, dim=-1, sorted=False)[1]
        w = scores.gather(1, idx)
        if c.get("norm_topk_prob", True):
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * c.get("routed_scaling_factor", 1.0)
        out = torch.zeros_like(x)
        for e in range(E):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel():
                out[rows] += w[rows, slot][:, None] * mlp(x[rows], W, f"{p}experts.{e}.")
        if c.get("n_shared_experts", 0):
            out = out + mlp(x, W, p + "shared_experts.")
        return out

    def moe_mixtral(self, x, p):
        c, W = self.config, self.W
        E, k = c["num_local_experts"], c["num_experts_per_tok"]
        probs = torch.softmax(x @ W[p + "gate.weight"].T, dim=-1)
        w, idx = probs.topk(k, dim=-1)
        w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e in range(E):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel():
                out[rows] += w[rows, slot][:, None] * mlp(x[rows], W, f"{p}experts.{e}.", ("w1", "w3", "w2"))
        return out

    def attention(self, x, p, cos, sin, rot):
        W = self.W
        T = x.shape[0]

        def proj(n):
            y = x @ W[f"{p}{n}_proj.weight"].T
            b = W.get(f"{p}{n}_proj.bias")
            return y if b is None else y + b

        q = proj("q").view(T, self.heads, self.head_dim)
        k = proj("k").view(T, self.kv_heads, self.head_dim)
        v = proj("v").view(T, self.kv_heads, self.head_dim)
        q, k = apply_rope(q, cos, sin, rot), apply_rope(k, cos, sin, rot)
        rep = self.heads // self.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(self.head_dim)
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1)[None], float("-inf"))
        a = torch.einsum("hts,shd->thd", torch.softmax(s, dim=-1), v).reshape(T, self.heads * self.head_dim)
        return a @ W[f"{p}o_proj.weight"].T

    def logits(self, tokens):  # tokens: 1-D LongTensor
        W = self.W
        x = W["model.embed_tokens.weight"][tokens]
        cos, sin, rot = rope_tables(self.config, self.head_dim, torch.arange(len(tokens)), self.dtype)
        for L in range(self.layers):
            p = f"model.layers.{L}."
            x = x + self.attention(rms_norm(x, W[p + "input_layernorm.weight"], self.eps), p + "self_attn.", cos, sin, rot)
            h = rms_norm(x, W[p + "post_attention_layernorm.weight"], self.eps)
            kind = self.layer_kind(L)
            if kind == "sigmoid-moe":
                x = x + self.moe_sigmoid(h, p + "mlp.")
            elif kind == "mixtral":
                x = x + self.moe_mixtral(h, p + "block_sparse_moe.")
            else:
                x = x + mlp(h, W, p + "mlp.")
        return rms_norm(x, W["model.norm.weight"], self.eps) @ W["lm_head.weight"].T


def sequences(vocab, n, length, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (length,), generator=g) for _ in range(n)]


def all_logits(model, seqs):
    with torch.no_grad():
        return torch.stack([model.logits(s) for s in seqs])


def compare(za, zb):
    diff = (za - zb).abs().max().item()
    scale = za.abs().max().item()
    return {"max_abs_diff": diff, "max_abs_logit": scale, "rel_diff": diff / scale if scale > 0 else float("inf"),
            "argmax_agreement": (za.argmax(-1) == zb.argmax(-1)).double().mean().item()}


def check_family(root, a, dtype):
    with open(os.path.join(root, "truth.json")) as f:
        truth = json.load(f)
    members = {m["name"]: m for m in truth["members"]}
    cache = {}

    def logits(name):
        if name not in cache:
            m = Forward(os.path.join(root, members[name]["path"]), dtype)
            cache[name] = all_logits(m, sequences(truth["architecture"]["vocab_size"], a.seqs, a.len, a.seed))
        return cache[name]

    checks = [("fine-tuned", "disguised", "same", 1e-9), ("base", "expert-permuted", "same", 1e-9),
              ("base", "fine-tuned", "differ", 1e-3)]
    if "disguised-rotated" in members:
        stored = members["disguised-rotated"]["description"]["params"]["dtype"]
        checks.insert(1, ("fine-tuned", "disguised-rotated", "same" if stored == "F32" else None, 1e-5))
    failed = 0
    for x, y, expect, rtol in checks:
        if x not in members or y not in members:
            continue
        r = {"family": root, "a": x, "b": y, "dtype": str(dtype).replace("torch.", ""), **compare(logits(x), logits(y)),
             "expect": expect, "rtol": rtol}
        r["ok"] = expect is None or (r["rel_diff"] <= rtol if expect == "same" else r["rel_diff"] > rtol)
        failed += not r["ok"]
        print(json.dumps(r), flush=True)
    for name in ("width-pruned", "depth-pruned"):
        if name in members:
            z = logits(name)
            ok = bool(torch.isfinite(z).all()) and z.std().item() > 0
            failed += not ok
            print(json.dumps({"family": root, "member": name, "shape": list(z.shape), "max_abs_logit": z.abs().max().item(),
                              "std": z.std().item(), "ok": ok}), flush=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["logits", "compare", "family"])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--seqs", type=int, default=3)
    ap.add_argument("--len", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--out")
    ap.add_argument("--expect", choices=["same", "differ"])
    ap.add_argument("--rtol", type=float, default=1e-9)
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    torch.set_num_threads(1)
    if a.action == "logits":
        if len(a.paths) != 1:
            ap.error("logits takes one checkpoint")
        m = Forward(a.paths[0], dtype)
        z = all_logits(m, sequences(m.config["vocab_size"], a.seqs, a.len, a.seed))
        if a.out:
            np.save(a.out, z.numpy())
        print(json.dumps({"checkpoint": a.paths[0], "shape": list(z.shape), "max_abs_logit": z.abs().max().item(),
                          "mean": z.mean().item(), "std": z.std().item()}))
        return 0
    if a.action == "family":
        if len(a.paths) != 1:
            ap.error("family takes one family folder")
        return check_family(a.paths[0], a, dtype)
    if len(a.paths) != 2:
        ap.error("compare takes two checkpoints")
    A, B = Forward(a.paths[0], dtype), Forward(a.paths[1], dtype)
    seqs = sequences(min(A.config["vocab_size"], B.config["vocab_size"]), a.seqs, a.len, a.seed)
    za, zb = all_logits(A, seqs), all_logits(B, seqs)
    if za.shape != zb.shape:
        print(json.dumps({"a": a.paths[0], "b": a.paths[1], "error": f"logit shapes {list(za.shape)} vs {list(zb.shape)}"}))
        return 1
    result = {"a": a.paths[0], "b": a.paths[1], "dtype": a.dtype, "tokens": a.seqs * a.len, **compare(za, zb)}
    rel = result["rel_diff"]
    ok = True
    if a.expect == "same":
        ok = rel <= a.rtol
    elif a.expect == "differ":
        ok = rel > a.rtol
    result["expect"], result["rtol"], result["ok"] = a.expect, a.rtol, ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
