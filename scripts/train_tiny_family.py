#!/usr/bin/python3
"""Trains a family of tiny MoE (Mixtral layout) and dense (Llama layout) language models whose history is known,
on text found on every Debian machine, and writes them as Hugging Face checkpoints plus a truth.json.

    /usr/bin/python3 scripts/train_tiny_family.py --out DIR [--force]   train every member (about 10 minutes, 1 thread)
    /usr/bin/python3 scripts/train_tiny_family.py --check DIR           verify a written family (seconds)

The committed family lives in tests/data/trained/ (see docs/trained-family.md). Everything is CPU-only, one
thread, fixed seeds, torch deterministic algorithms: a rerun on the same machine and torch build reproduces the
bytes. Weights are trained in float32 and stored as BF16 (round to nearest even); a child starts from its
parent's stored BF16 weights, as a real fine-tune starts from a published checkpoint.

Members (relations; `truth.json` has every parameter, permutation array and the expected verdict of every pair):
  moe-a            MoE from scratch, seed 1, licenses text
  moe-b            MoE from scratch, seed 2, licenses text (same text and tokenizer as moe-a)
  moe-c            MoE from scratch, seed 3, changelog text (other files)
  moe-a-ft         short fine-tune of moe-a on copyright text
  moe-a-cpt        long continued pre-training of moe-a on changelog text, higher learning rate
  moe-a-perm       moe-a with experts permuted per layer and neurons permuted per expert (same function)
  moe-a-disguised  moe-a-ft with a signed permutation of the hidden basis, KV groups and query heads within
                   groups permuted, experts and neurons permuted (same function)
  moe-a-reembed    moe-a's layers under a new tokenizer (other merges, other ids), new embeddings, trained further
  dense-a, dense-b dense Llama-style models from scratch (seeds 11, 12)
  moe-up           MoE upcycled from dense-a (each expert one half of dense-a's FFN neurons + noise, fresh router),
                   trained further
"""
import argparse
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

FORMAT = "fromscratch-trained-truth"
VERSION = 1

# ---------------------------------------------------------------------------------------------------------------
# Corpora: fixed file lists (never a glob: installing a package must not change the corpus). Every file's sha256
# is recorded; changelogs are gunzipped and each file is cut at CAP bytes.
LICENSES = ["Apache-2.0", "Artistic", "BSD", "CC0-1.0", "GFDL-1.2", "GFDL-1.3", "GPL-1", "GPL-2", "GPL-3",
            "LGPL-2", "LGPL-2.1", "LGPL-3", "MPL-1.1", "MPL-2.0"]
CHANGELOG_PACKAGES = ["bash", "coreutils", "dash", "debianutils", "diffutils", "e2fsprogs", "findutils", "grep",
                      "gzip", "libc6", "libpam-modules", "login", "ncurses-base", "perl-base", "procps", "sed",
                      "sysvinit-utils", "tar", "util-linux", "xz-utils", "zlib1g"]
COPYRIGHT_PACKAGES = ["apt", "base-files", "bash", "coreutils", "dash", "debianutils", "diffutils", "dpkg",
                      "e2fsprogs", "findutils", "grep", "gzip", "hostname", "libc6", "login", "ncurses-base", "procps",
                      "sed", "sysvinit-utils", "tar", "util-linux", "xz-utils", "zlib1g"]
CAP = 32768


def corpus_files(name):
    if name == "licenses":
        return ["/usr/share/common-licenses/" + f for f in LICENSES]
    if name == "changelogs":
        return ["/usr/share/doc/%s/changelog.Debian.gz" % p for p in CHANGELOG_PACKAGES]
    if name == "copyrights":
        return ["/usr/share/doc/%s/copyright" % p for p in COPYRIGHT_PACKAGES]
    raise ValueError(name)


def load_corpus(name):
    """Returns (text bytes, [file records]). Files are joined with a blank line."""
    parts, records = [], []
    for path in corpus_files(name):
        with open(path, "rb") as f:
            raw = f.read()
        data = gzip.decompress(raw) if path.endswith(".gz") else raw
        data = data[:CAP]
        # cut at the last newline inside the cap so no UTF-8 sequence is split
        if len(data) == CAP and b"\n" in data:
            data = data[:data.rindex(b"\n") + 1]
        parts.append(data)
        records.append({"path": path, "sha256": hashlib.sha256(raw).hexdigest(), "file_bytes": len(raw),
                        "bytes_used": len(data)})
    text = b"\n".join(parts)
    return text, records


# ---------------------------------------------------------------------------------------------------------------
# Byte-level BPE (GPT-2 byte mapping and pre-tokenizer), trained here, written as a Hugging Face tokenizer.json.

def byte_level_map():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


BL = byte_level_map()
# GPT-2's pattern with Python's re: \p{L} -> [^\W\d_], \p{N} -> \d (they differ only on rare non-decimal digits
# such as superscripts; the corpora's tokenization is cross-checked against `fromscratch tokenizer encode`).
PRETOK = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def pretokenize(text):
    s = text.decode("utf-8", errors="replace")
    return ["".join(BL[b] for b in w.encode("utf-8")) for w in PRETOK.findall(s)]


def train_bpe(text, n_merges):
    """Classic BPE on word counts: repeatedly merge the most frequent adjacent pair (ties: smallest pair)."""
    counts = {}
    for w in pretokenize(text):
        counts[w] = counts.get(w, 0) + 1
    words = [list(w) for w in sorted(counts)]
    freq = [counts[w] for w in sorted(counts)]
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for sym, c in zip(words, freq):
            for i in range(len(sym) - 1):
                p = (sym[i], sym[i + 1])
                pairs[p] = pairs.get(p, 0) + c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        a, b = best
        ab = a + b
        for sym in words:
            i = 0
            while i < len(sym) - 1:
                if sym[i] == a and sym[i + 1] == b:
                    sym[i:i + 2] = [ab]
                i += 1
    return merges


class Bpe:
    def __init__(self, vocab, merges):
        self.vocab = vocab  # token string -> id
        self.rank = {m: i for i, m in enumerate(merges)}
        self.cache = {}

    def word(self, w):
        if w in self.cache:
            return self.cache[w]
        sym = list(w)
        while len(sym) > 1:
            best, bi = None, -1
            for i in range(len(sym) - 1):
                r = self.rank.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            a, b = sym[bi], sym[bi + 1]
            out, i = [], 0
            while i < len(sym):
                if i < len(sym) - 1 and sym[i] == a and sym[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            sym = out
        ids = [self.vocab[s] for s in sym]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for w in pretokenize(text):
            out.extend(self.word(w))
        return out


def build_tokenizer(text, vocab_size, specials, bytes_order):
    """specials: added tokens placed first (ids 0..); bytes_order 'gpt2' (byte value order) or 'sorted' (by the
    byte-level character). Returns (tokenizer.json object, Bpe)."""
    n_merges = vocab_size - len(specials) - 256
    merges = train_bpe(text, n_merges)
    vocab = {}
    for s in specials:
        vocab[s] = len(vocab)
    chars = [BL[b] for b in range(256)]
    if bytes_order == "sorted":
        chars = sorted(chars)
    for c in chars:
        vocab[c] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tj = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for s in specials],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    return tj, Bpe(vocab, merges)


def bpe_from_json(tj):
    merges = [tuple(m.split(" ")) for m in tj["model"]["merges"]]
    return Bpe(tj["model"]["vocab"], merges)


# ---------------------------------------------------------------------------------------------------------------
# Safetensors: a minimal writer and reader (8-byte little-endian header length, JSON header, data).

DT = {"F32": (torch.float32, 4), "BF16": (torch.bfloat16, 2)}


def tensor_bytes(t, dtype):
    t = t.detach().contiguous()
    if dtype == "F32":
        return t.to(torch.float32).numpy().tobytes()
    return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def write_safetensors(path, tensors, dtype):
    names = sorted(tensors)
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for n in names:
        b = tensor_bytes(tensors[n], dtype)
        header[n] = {"dtype": dtype, "shape": list(tensors[n].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = data[base + a:base + b]
        if e["dtype"] == "F32":
            t = torch.from_numpy(np.frombuffer(buf, dtype=np.float32).copy())
        elif e["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(buf, dtype=np.int16).copy()).view(torch.bfloat16).float()
        else:
            raise ValueError("%s: tensor %s: dtype %s" % (path, name, e["dtype"]))
        out[name] = t.reshape(e["shape"])
    return out


# ---------------------------------------------------------------------------------------------------------------
# The model: Hugging Face Mixtral / Llama semantics (RMSNorm, RoPE with rotate_half, GQA, SwiGLU experts, softmax
# router over all experts, top-k renormalised), parameters named exactly as in the HF checkpoints.

def moe_config(vocab):
    return {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 64,
            "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 16, "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": vocab,
            "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
            "tie_word_embeddings": False, "sliding_window": None, "router_aux_loss_coef": 0.01,
            "output_router_logits": False, "attention_dropout": 0.0, "initializer_range": 0.02,
            "torch_dtype": "bfloat16", "bos_token_id": None, "eos_token_id": None}


def dense_config(vocab):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 16, "vocab_size": vocab, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False,
            "mlp_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02, "torch_dtype": "bfloat16",
            "bos_token_id": None, "eos_token_id": None}


def is_moe(cfg):
    return cfg["model_type"] == "mixtral"


def param_shapes(cfg):
    H, L, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    hd, nh, kv = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    I = cfg["intermediate_size"]
    s = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,), "lm_head.weight": (V, H)}
    for l in range(L):
        p = "model.layers.%d." % l
        s[p + "input_layernorm.weight"] = (H,)
        s[p + "post_attention_layernorm.weight"] = (H,)
        s[p + "self_attn.q_proj.weight"] = (nh * hd, H)
        s[p + "self_attn.k_proj.weight"] = (kv * hd, H)
        s[p + "self_attn.v_proj.weight"] = (kv * hd, H)
        s[p + "self_attn.o_proj.weight"] = (H, nh * hd)
        if is_moe(cfg):
            E = cfg["num_local_experts"]
            s[p + "block_sparse_moe.gate.weight"] = (E, H)
            for e in range(E):
                q = p + "block_sparse_moe.experts.%d." % e
                s[q + "w1.weight"] = (I, H)
                s[q + "w2.weight"] = (H, I)
                s[q + "w3.weight"] = (I, H)
        else:
            s[p + "mlp.gate_proj.weight"] = (I, H)
            s[p + "mlp.up_proj.weight"] = (I, H)
            s[p + "mlp.down_proj.weight"] = (H, I)
    return s


def init_params(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    std = cfg["initializer_range"]
    out = {}
    for name, shape in sorted(param_shapes(cfg).items()):
        if name.endswith("norm.weight"):
            out[name] = torch.ones(shape)
        else:
            out[name] = torch.randn(shape, generator=g) * std
    return out


def rms_norm(x, w, eps):
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, P, ids, aux=None):
    """ids [B, T] -> logits [B, T, V]. aux: a list that receives the router load-balancing terms."""
    B, T = ids.shape
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    hd, nh, kv = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    eps = cfg["rms_norm_eps"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    fr = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    emb = torch.cat((fr, fr), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    x = F.embedding(ids, P["model.embed_tokens.weight"])
    for l in range(L):
        p = "model.layers.%d." % l
        h = rms_norm(x, P[p + "input_layernorm.weight"], eps)
        q = F.linear(h, P[p + "self_attn.q_proj.weight"]).view(B, T, nh, hd).transpose(1, 2)
        k = F.linear(h, P[p + "self_attn.k_proj.weight"]).view(B, T, kv, hd).transpose(1, 2)
        v = F.linear(h, P[p + "self_attn.v_proj.weight"]).view(B, T, kv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // kv  # query head j uses KV head j // rep (HF repeat_kv)
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)).float() / math.sqrt(hd) + mask
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + F.linear(o, P[p + "self_attn.o_proj.weight"])
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], eps)
        if is_moe(cfg):
            x = x + moe_block(cfg, P, p, h.reshape(B * T, H), aux).view(B, T, H)
        else:
            a = F.silu(F.linear(h, P[p + "mlp.gate_proj.weight"])) * F.linear(h, P[p + "mlp.up_proj.weight"])
            x = x + F.linear(a, P[p + "mlp.down_proj.weight"])
    x = rms_norm(x, P["model.norm.weight"], eps)
    return F.linear(x, P["lm_head.weight"]).float()


def moe_block(cfg, P, p, h, aux):
    E, k = cfg["num_local_experts"], cfg["num_experts_per_tok"]
    logits = F.linear(h, P[p + "block_sparse_moe.gate.weight"]).float()
    probs = logits.softmax(-1)
    w, idx = probs.topk(k, dim=-1)
    w = w / w.sum(-1, keepdim=True)
    if aux is not None:  # Switch-style balance: E * sum_e (share of routed slots) * (mean router probability)
        share = F.one_hot(idx, E).float().sum(1).mean(0) / k
        aux.append(E * (share * probs.mean(0)).sum())
    out = torch.zeros(h.shape, dtype=torch.float32)
    for e in range(E):
        tok, slot = (idx == e).nonzero(as_tuple=True)
        if tok.numel() == 0:
            continue
        q = p + "block_sparse_moe.experts.%d." % e
        xe = h[tok]
        ye = F.linear(F.silu(F.linear(xe, P[q + "w1.weight"])) * F.linear(xe, P[q + "w3.weight"]), P[q + "w2.weight"])
        out = out.index_add(0, tok, ye.float() * w[tok, slot].unsqueeze(-1))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Training

SEQ, BATCH = 64, 8
STEPS = {"scratch": 400, "ft": 200, "cpt": 800, "reembed_emb": 100, "reembed": 300, "dense": 400, "up": 300}


def split_ids(ids):
    n = len(ids)
    cut = n - max(n // 20, SEQ * 8 + 1)
    return torch.tensor(ids[:cut], dtype=torch.long), torch.tensor(ids[cut:], dtype=torch.long)


def eval_loss(cfg, P, val):
    """Mean next-token loss over consecutive non-overlapping windows of the held-out tail (at most 8)."""
    n = min(8, (len(val) - 1) // SEQ)
    x = torch.stack([val[i * SEQ:(i + 1) * SEQ] for i in range(n)])
    y = torch.stack([val[i * SEQ + 1:(i + 1) * SEQ + 1] for i in range(n)])
    with torch.no_grad():
        return float(F.cross_entropy(forward(cfg, P, x).reshape(-1, cfg["vocab_size"]), y.reshape(-1)))


def train(cfg, P, train_ids, steps, lr, seed, warmup=50, trainable=None, log=None):
    """AdamW (0.9, 0.95), weight decay 0.1 on matrices, clip 1.0, linear warmup then cosine to 10%.
    Returns (P with float32 tensors, record)."""
    g = torch.Generator().manual_seed(seed)
    names = sorted(P)
    params = {n: P[n].clone().float().requires_grad_(trainable is None or trainable(n)) for n in names}
    decay = [params[n] for n in names if params[n].requires_grad and params[n].dim() == 2]
    nodecay = [params[n] for n in names if params[n].requires_grad and params[n].dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    coef = cfg.get("router_aux_loss_coef", 0.0)
    curve, tail = [], []
    n = len(train_ids) - SEQ - 1
    for step in range(steps):
        f = (step + 1) / warmup if step < warmup else \
            0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for grp in opt.param_groups:
            grp["lr"] = lr * f
        starts = torch.randint(0, n, (BATCH,), generator=g)
        x = torch.stack([train_ids[s:s + SEQ] for s in starts.tolist()])
        y = torch.stack([train_ids[s + 1:s + SEQ + 1] for s in starts.tolist()])
        aux = []
        with torch.autocast("cpu", dtype=torch.bfloat16):  # matmuls in BF16 (oneDNN), the rest in float32
            logits = forward(cfg, params, x, aux)
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), y.reshape(-1))
        total = loss + coef * sum(aux) / len(aux) if aux else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.requires_grad], 1.0)
        opt.step()
        lv = float(loss)
        tail.append(lv)
        if (step + 1) % 50 == 0 or step == 0:
            curve.append([step + 1, round(lv, 4)])
            if log:
                log("    step %5d  loss %.4f" % (step + 1, lv))
    final = sum(tail[-50:]) / len(tail[-50:])
    out = {n: params[n].detach() for n in names}
    return out, {"steps": steps, "lr_peak": lr, "warmup": warmup, "schedule": "linear warmup, cosine to 10%",
                 "optimizer": "AdamW betas (0.9,0.95) eps 1e-8, weight decay 0.1 on matrices, clip 1.0",
                 "batch": BATCH, "seq": SEQ, "data_seed": seed, "final_train_loss_mean_last50": round(final, 4),
                 "loss_curve": curve}


def bf16_round(P):
    return {n: t.to(torch.bfloat16).float() for n, t in P.items()}


# ---------------------------------------------------------------------------------------------------------------
# Function-preserving transforms

def perm_list(g, n):
    return torch.randperm(n, generator=g).tolist()


def permute_experts(cfg, P, g):
    """child expert e = parent expert experts[e]; child neuron n of expert e = parent neuron expert_neurons[e][n]."""
    Q = dict(P)
    E, I = cfg["num_local_experts"], cfg["intermediate_size"]
    layers = []
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d.block_sparse_moe." % l
        ex = perm_list(g, E)
        neu = [perm_list(g, I) for _ in range(E)]
        Q[p + "gate.weight"] = P[p + "gate.weight"][ex]
        for e in range(E):
            src, dst = p + "experts.%d." % ex[e], p + "experts.%d." % e
            nn_ = torch.tensor(neu[e])
            Q[dst + "w1.weight"] = P[src + "w1.weight"][nn_]
            Q[dst + "w3.weight"] = P[src + "w3.weight"][nn_]
            Q[dst + "w2.weight"] = P[src + "w2.weight"][:, nn_]
        layers.append({"experts": ex, "expert_neurons": neu})
    return Q, layers


def disguise(cfg, P, g):
    """Signed permutation of the hidden basis (new dim i = sign[i] * old dim hidden_perm[i]), KV groups and query
    heads within each group permuted, then experts and neurons permuted. Norm gains are permuted (never signed)."""
    H, hd = cfg["hidden_size"], cfg["head_dim"]
    nh, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    rep = nh // kv
    hp = torch.tensor(perm_list(g, H))
    sg = (torch.randint(0, 2, (H,), generator=g) * 2 - 1).float()
    Q = {}
    for n, t in P.items():
        if n.endswith("norm.weight"):
            Q[n] = t[hp]
        elif n in ("model.embed_tokens.weight", "lm_head.weight") or n.endswith(
                ("q_proj.weight", "k_proj.weight", "v_proj.weight", "gate.weight", "w1.weight", "w3.weight",
                 "gate_proj.weight", "up_proj.weight")):
            Q[n] = t[:, hp] * sg  # input side (or embedding columns)
        elif n.endswith(("o_proj.weight", "w2.weight", "down_proj.weight")):
            Q[n] = t[hp] * sg.unsqueeze(1)  # output side
        else:
            raise ValueError(n)
    heads = []
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d.self_attn." % l
        groups = perm_list(g, kv)
        within = [perm_list(g, rep) for _ in range(kv)]
        qheads = [groups[j // rep] * rep + within[j // rep][j % rep] for j in range(nh)]
        qrows = torch.tensor([h * hd + d for h in qheads for d in range(hd)])
        kvrows = torch.tensor([h * hd + d for h in groups for d in range(hd)])
        Q[p + "q_proj.weight"] = Q[p + "q_proj.weight"][qrows]
        Q[p + "o_proj.weight"] = Q[p + "o_proj.weight"][:, qrows]
        Q[p + "k_proj.weight"] = Q[p + "k_proj.weight"][kvrows]
        Q[p + "v_proj.weight"] = Q[p + "v_proj.weight"][kvrows]
        heads.append({"kv_groups": groups, "query_heads": qheads})
    Q, experts = permute_experts(cfg, Q, g)
    return Q, {"hidden_perm": hp.tolist(), "hidden_sign": [int(s) for s in sg.tolist()], "heads": heads,
               "moe": experts}


# ---------------------------------------------------------------------------------------------------------------
# Writing members and truth

def write_member(out, name, cfg, P, tok_json, dtype):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok_json, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), P, dtype)
    files = {}
    for fn in ("config.json", "model.safetensors", "tokenizer.json"):
        with open(os.path.join(d, fn), "rb") as f:
            b = f.read()
        files[fn] = {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
    return files


def training_machine():
    """What decides whether a rerun can reproduce the bytes: torch's version and the CPU's BF16 matrix ISA."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags |= set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"torch": torch.__version__, "threads": 1,
            "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni"})}


def corpus_matches(out):
    with open(os.path.join(out, "truth.json")) as f:
        truth = json.load(f)
    ok = True
    for c, rec in truth["corpora"].items():
        for r in rec["files"]:
            try:
                with open(r["path"], "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                h = None
            if h != r["sha256"]:
                print("corpus %s: %s %s" % (c, r["path"], "missing" if h is None else "has other content"))
                ok = False
    return ok


def count_params(P):
    return int(sum(t.numel() for t in P.values()))


def run(out, force, scale=1.0):
    t0 = time.time()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if os.path.exists(os.path.join(out, "truth.json")) and not force:
        sys.exit("%s: truth.json exists (use --force to overwrite)" % out)
    os.makedirs(out, exist_ok=True)

    def log(msg):
        print("[%6.1fs] %s" % (time.time() - t0, msg), flush=True)

    corpora = {}
    for c in ("licenses", "changelogs", "copyrights"):
        text, recs = load_corpus(c)
        corpora[c] = {"text": text, "files": recs}
        log("corpus %s: %d files, %d bytes" % (c, len(recs), len(text)))

    # tokenizer A (every member but moe-a-reembed): 512 ids, bytes in GPT-2 order, trained on licenses+changelogs
    tok_a, bpe_a = build_tokenizer(corpora["licenses"]["text"] + b"\n" + corpora["changelogs"]["text"], 512, [],
                                   "gpt2")
    # tokenizer B (moe-a-reembed): 448 ids, 4 special tokens first, bytes sorted by character, trained on copyrights
    specials_b = ["<|pad|>", "<|bos|>", "<|eos|>", "<|unk|>"]
    tok_b, bpe_b = build_tokenizer(corpora["copyrights"]["text"], 448, specials_b, "sorted")
    log("tokenizers trained")
    ids = {}
    for c in corpora:
        ids[("A", c)] = split_ids(bpe_a.encode(corpora[c]["text"]))
    ids[("B", "changelogs")] = split_ids(bpe_b.encode(corpora["changelogs"]["text"]))
    for (t, c), (tr, va) in sorted(ids.items()):
        log("tokens %s/%s: train %d, held-out %d" % (t, c, len(tr), len(va)))

    dtype = "BF16"
    members, stored = [], {}
    toks = {"A": tok_a, "B": tok_b}

    def finish(name, cfg, P, tok, corpus, relation, parent, extra):
        P = bf16_round(P)  # what is stored is what children start from and what is evaluated
        stored[name] = (cfg, P, tok, corpus)
        files = write_member(out, name, cfg, P, toks[tok], dtype)
        ev = eval_loss(cfg, P, ids[(tok, corpus)][1]) if corpus else None
        rec = {"name": name, "path": name, "relation": relation, "parent": parent,
               "model_type": cfg["model_type"], "tokenizer": tok, "params": count_params(P), "dtype": dtype,
               "eval_corpus": corpus, "eval_loss_heldout": None if ev is None else round(ev, 4),
               "ln_vocab": round(math.log(cfg["vocab_size"]), 4), "files": files}
        rec.update(extra)
        members.append(rec)
        log("%s written: held-out loss %s (ln V = %.3f)" % (name, rec["eval_loss_heldout"], rec["ln_vocab"]))

    S = {k: max(2, int(round(v * scale))) for k, v in STEPS.items()}

    # ---- from scratch ----
    for name, seed, corpus in (("moe-a", 1, "licenses"), ("moe-b", 2, "licenses"), ("moe-c", 3, "changelogs")):
        cfg = moe_config(512)
        log("%s: from scratch, seed %d, %s" % (name, seed, corpus))
        P, tr = train(cfg, init_params(cfg, seed), ids[("A", corpus)][0], S["scratch"], 3e-3, 100 + seed, log=log)
        finish(name, cfg, P, "A", corpus, "from_scratch", None,
               {"init_seed": seed, "init": "normal(0, 0.02), norms 1", "data": corpus, "training": tr})

    cfg_a, Pa, _, _ = stored["moe-a"]
    log("moe-a-ft: fine-tune of moe-a on copyrights")
    P, tr = train(cfg_a, Pa, ids[("A", "copyrights")][0], S["ft"], 3e-4, 201, warmup=20, log=log)
    finish("moe-a-ft", cfg_a, P, "A", "copyrights", "fine_tune", "moe-a", {"data": "copyrights", "training": tr})

    log("moe-a-cpt: continued pre-training of moe-a on changelogs")
    P, tr = train(cfg_a, Pa, ids[("A", "changelogs")][0], S["cpt"], 1e-3, 202, log=log)
    finish("moe-a-cpt", cfg_a, P, "A", "changelogs", "continued_pretraining", "moe-a",
           {"data": "changelogs", "training": tr})

    g = torch.Generator().manual_seed(301)
    P, layers = permute_experts(cfg_a, Pa, g)
    finish("moe-a-perm", cfg_a, P, "A", "licenses", "expert_permuted", "moe-a",
           {"transform": {"seed": 301, "layers": layers,
                          "convention": "child expert e = parent expert experts[e]; child neuron n of expert e = "
                                        "parent neuron expert_neurons[e][n] (w1/w3 row n, w2 column n)"}})

    cfg_ft, Pft, _, _ = stored["moe-a-ft"]
    g = torch.Generator().manual_seed(302)
    P, tf = disguise(cfg_ft, Pft, g)
    tf["seed"] = 302
    tf["convention"] = ("new hidden dim i = hidden_sign[i] * old dim hidden_perm[i]: norm gains w'[i] = w[perm[i]]; "
                        "input-side matrices (q,k,v, router, w1, w3, embed_tokens, lm_head) W'[:, i] = sign[i] * "
                        "W[:, perm[i]]; output-side (o_proj, w2) W'[i, :] = sign[i] * W[perm[i], :]. Heads: child "
                        "KV head j = parent KV head kv_groups[j]; child query head j = parent query head "
                        "query_heads[j] (q rows, o columns), which stays in its KV group. Then experts/neurons as in "
                        "moe-a-perm (arrays in moe).")
    finish("moe-a-disguised", cfg_ft, P, "A", "copyrights", "disguised", "moe-a-ft", {"transform": tf})

    # ---- re-embedded: new tokenizer, new embeddings and lm_head, layers transplanted, trained further ----
    cfg_r = moe_config(len(tok_b["model"]["vocab"]))
    init = init_params(cfg_r, 401)
    for n in init:
        if n not in ("model.embed_tokens.weight", "lm_head.weight"):
            init[n] = Pa[n].clone()
    log("moe-a-reembed: embeddings only, then everything, on changelogs with tokenizer B")
    P, tr1 = train(cfg_r, init, ids[("B", "changelogs")][0], S["reembed_emb"], 3e-3, 402, warmup=20,
                   trainable=lambda n: n in ("model.embed_tokens.weight", "lm_head.weight"), log=log)
    P, tr2 = train(cfg_r, P, ids[("B", "changelogs")][0], S["reembed"], 1e-3, 403, log=log)
    finish("moe-a-reembed", cfg_r, P, "B", "changelogs", "re_embedded", "moe-a",
           {"init_seed": 401, "data": "changelogs", "transplanted": "every tensor but embed_tokens and lm_head",
            "training": [dict(tr1, phase="embed_tokens and lm_head only"), dict(tr2, phase="all parameters")]})

    # ---- dense and upcycled ----
    for name, seed in (("dense-a", 11), ("dense-b", 12)):
        cfg = dense_config(512)
        log("%s: dense from scratch, seed %d" % (name, seed))
        P, tr = train(cfg, init_params(cfg, seed), ids[("A", "licenses")][0], S["dense"], 3e-3, 100 + seed, log=log)
        finish(name, cfg, P, "A", "licenses", "from_scratch", None,
               {"init_seed": seed, "init": "normal(0, 0.02), norms 1", "data": "licenses", "training": tr})

    cfg_d, Pd, _, _ = stored["dense-a"]
    cfg_u = moe_config(512)
    g = torch.Generator().manual_seed(501)
    half = cfg_u["intermediate_size"]
    init = {}
    noise = 0.01
    for n, t in Pd.items():
        if ".mlp." not in n:
            init[n] = t.clone()
    for l in range(cfg_u["num_hidden_layers"]):
        p = "model.layers.%d." % l
        gate, up, down = (Pd[p + "mlp.%s_proj.weight" % m] for m in ("gate", "up", "down"))
        init[p + "block_sparse_moe.gate.weight"] = torch.randn(cfg_u["num_local_experts"], 64, generator=g) * 0.02
        for e in range(cfg_u["num_local_experts"]):
            s = slice((e % 2) * half, (e % 2 + 1) * half)
            q = p + "block_sparse_moe.experts.%d." % e
            for key, src in (("w1", gate[s]), ("w3", up[s]), ("w2", 2.0 * down[:, s])):
                init[q + key + ".weight"] = src + torch.randn(src.shape, generator=g) * noise * float(src.std())
    log("moe-up: upcycled from dense-a, trained further on licenses")
    P, tr = train(cfg_u, init, ids[("A", "licenses")][0], S["up"], 1e-3, 502, log=log)
    finish("moe-up", cfg_u, P, "A", "licenses", "upcycled", "dense-a",
           {"upcycling": {"seed": 501, "expert_source": "expert e = dense-a FFN neurons [64*(e%2), 64*(e%2)+64): "
                                                         "w1 = gate_proj rows, w3 = up_proj rows, w2 = 2 * down_proj "
                                                         "columns; each + normal noise 0.01 * std of its source",
                          "router": "fresh normal(0, 0.02)", "copied": "embeddings, attention, norms, lm_head"},
            "data": "licenses", "training": tr})

    # ---- pairs and verdicts ----
    parent = {m["name"]: m["parent"] for m in members}

    def root(n):
        while parent[n]:
            n = parent[n]
        return n

    def ancestors(n):
        out = []
        while parent[n]:
            n = parent[n]
            out.append(n)
        return out

    pairs = []
    names = [m["name"] for m in members]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = names[i], names[j]
            if parent[a] == b or parent[b] == a:
                lin = "parent-child"
            elif a in ancestors(b) or b in ancestors(a):
                lin = "ancestor-descendant"
            elif root(a) == root(b):
                lin = "siblings"
            else:
                lin = "unrelated"
            pairs.append({"a": a, "b": b, "lineage": lin,
                          "common_ancestor": root(a) if root(a) == root(b) else None,
                          "expected_verdict": "independent" if lin == "unrelated" else "derived"})
    upcycling = {m["name"]: ("upcycled" if m["relation"] == "upcycled" else "not_upcycled")
                 for m in members if m["model_type"] == "mixtral"}
    truth = {
        "format": FORMAT, "version": VERSION,
        "generator": "scripts/train_tiny_family.py",
        "torch": torch.__version__, "numpy": np.__version__, "threads": 1, "deterministic_algorithms": True,
        "training_machine": training_machine(),
        "storage_dtype": dtype, "steps_scale": scale,
        "training_precision": "float32 master weights, matmuls under torch.autocast(cpu, bfloat16) (oneDNN)",
        "corpora": {c: {"files": v["files"], "bytes": len(v["text"]), "cap_per_file": CAP,
                        "sha256": hashlib.sha256(v["text"]).hexdigest()} for c, v in corpora.items()},
        "tokenizers": {
            "A": {"vocab_size": len(tok_a["model"]["vocab"]), "merges": len(tok_a["model"]["merges"]),
                  "trained_on": ["licenses", "changelogs"], "layout": "256 bytes in byte order at ids 0..255, "
                                                                    "then merges", "members": [m["name"] for m in members if m["tokenizer"] == "A"]},
            "B": {"vocab_size": len(tok_b["model"]["vocab"]), "merges": len(tok_b["model"]["merges"]),
                  "trained_on": ["copyrights"], "layout": "4 special tokens at ids 0..3, the 256 byte characters "
                                                          "sorted by code point at ids 4..259, then merges",
                  "members": [m["name"] for m in members if m["tokenizer"] == "B"]},
        },
        "architectures": {"moe": moe_config(512), "dense": dense_config(512)},
        "members": members, "pairs": pairs, "upcycling": upcycling,
    }
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=False)
        f.write("\n")
    log("done: %d members, %d pairs, %s" % (len(members), len(pairs), out))
    return time.time() - t0


# ---------------------------------------------------------------------------------------------------------------
# --check: re-read a written family and verify it

def check(out):
    torch.set_num_threads(1)
    with open(os.path.join(out, "truth.json")) as f:
        truth = json.load(f)
    assert truth["format"] == FORMAT and truth["version"] == VERSION, "truth.json: wrong format/version"
    ok = True
    loaded = {}
    for m in truth["members"]:
        d = os.path.join(out, m["path"])
        for fn, rec in m["files"].items():
            with open(os.path.join(d, fn), "rb") as f:
                b = f.read()
            if hashlib.sha256(b).hexdigest() != rec["sha256"]:
                print("FAIL %s/%s: sha256 differs from truth.json" % (m["name"], fn))
                ok = False
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        P = read_safetensors(os.path.join(d, "model.safetensors"))
        if sorted(P) != sorted(param_shapes(cfg)) or any(tuple(P[n].shape) != s for n, s in param_shapes(cfg).items()):
            print("FAIL %s: tensor names/shapes differ from the %s layout" % (m["name"], cfg["model_type"]))
            ok = False
            continue
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        if len(tj["model"]["vocab"]) != cfg["vocab_size"]:
            print("FAIL %s: tokenizer has %d ids, config vocab_size %d" % (m["name"], len(tj["model"]["vocab"]),
                                                                          cfg["vocab_size"]))
            ok = False
        loaded[m["name"]] = (cfg, P, tj)
    # held-out loss recomputed from the stored weights on the recorded corpus (proves they learned)
    texts = {}
    for m in truth["members"]:
        cfg, P, tj = loaded[m["name"]]
        c = m["eval_corpus"]
        if c not in texts:
            text, recs = load_corpus(c)
            if [r["sha256"] for r in recs] != [r["sha256"] for r in truth["corpora"][c]["files"]]:
                print("SKIP loss of %s: corpus %s differs on this machine" % (m["name"], c))
                texts[c] = None
            else:
                texts[c] = text
        if texts[c] is None:
            continue
        val = split_ids(bpe_from_json(tj).encode(texts[c]))[1]
        ev = eval_loss(cfg, P, val)
        good = abs(ev - m["eval_loss_heldout"]) < 2e-3 and ev < 0.75 * m["ln_vocab"]
        print("%s %-16s held-out loss %.4f (truth %.4f, ln V %.3f)" % ("ok  " if good else "FAIL", m["name"], ev,
                                                                       m["eval_loss_heldout"], m["ln_vocab"]))
        ok &= good
    # same function: permuted and disguised members against their source, on a fixed batch
    g = torch.Generator().manual_seed(7)
    for m in truth["members"]:
        if m["relation"] not in ("expert_permuted", "disguised"):
            continue
        cfg, P, _ = loaded[m["name"]]
        cfgp, Pp, _ = loaded[m["parent"]]
        x = torch.randint(0, cfg["vocab_size"], (4, SEQ), generator=g)
        with torch.no_grad():
            a, b = forward(cfg, P, x), forward(cfgp, Pp, x)
        diff = float((a - b).abs().max())
        scale = float(b.abs().max())
        good = diff <= 1e-4 * max(1.0, scale)
        print("%s %-16s vs %-10s max |logit diff| %.2e (max |logit| %.2f)" % ("ok  " if good else "FAIL", m["name"],
                                                                             m["parent"], diff, scale))
        ok &= good
        # and the stored permutation arrays reproduce the child exactly from the parent
        if m["relation"] == "expert_permuted":
            Q, _ = permute_experts(cfgp, Pp, torch.Generator().manual_seed(m["transform"]["seed"]))
        else:
            Q, _ = disguise(cfgp, Pp, torch.Generator().manual_seed(m["transform"]["seed"]))
        same = all(torch.equal(Q[n], P[n]) for n in P)
        print("%s %-16s recomputed from %s with seed %d: %s" % ("ok  " if same else "FAIL", m["name"], m["parent"],
                                                              m["transform"]["seed"], "bit-identical" if same else
                                                              "differs"))
        ok &= same
    print("check: %s" % ("passed" if ok else "FAILED"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder to write the family into")
    ap.add_argument("--force", action="store_true", help="overwrite an existing family")
    ap.add_argument("--check", metavar="DIR", help="verify a written family and exit")
    ap.add_argument("--steps-scale", type=float, default=1.0, help="multiply every step count (smoke tests only)")
    ap.add_argument("--corpus-matches", metavar="DIR", help="exit 0 when this machine's corpus files are the ones "
                                                            "DIR/truth.json records")
    a = ap.parse_args()
    if a.corpus_matches:
        sys.exit(0 if corpus_matches(a.corpus_matches) else 1)
    if a.check:
        sys.exit(0 if check(a.check) else 1)
    if not a.out:
        ap.error("--out DIR or --check DIR is required")
    secs = run(a.out, a.force, a.steps_scale)
    print("total wall time %.1f s" % secs)


if __name__ == "__main__":
    main()
