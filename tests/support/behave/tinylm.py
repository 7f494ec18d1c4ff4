"""A byte-level tiny transformer (the test server's model) and its loader.

Bytes are tokens (vocabulary 256), so Korean text costs 3 tokens a character and a continuation can end in the
middle of a UTF-8 sequence, as a real BPE model's can. ReLU MLPs and LayerNorm: a permutation of the hidden
basis and power-of-two rescaling of the ReLU neurons leave the function unchanged (the disguised copy).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(d, dim=2)
        hd = d // self.heads
        q = q.view(b, t, self.heads, hd).transpose(1, 2)
        k = k.view(b, t, self.heads, hd).transpose(1, 2)
        v = v.view(b, t, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc2(F.relu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self, d=48, layers=2, heads=4, ff=192, ctx=48):
        super().__init__()
        self.cfg = dict(d=d, layers=layers, heads=heads, ff=ff, ctx=ctx)
        self.tok = nn.Embedding(256, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, heads, ff) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, 256, bias=False)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


def save(model, path, meta):
    sd = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg, "state": sd, "meta": meta}, path)


def load(path):
    blob = torch.load(path, map_location="cpu")
    m = TinyLM(**blob["config"])
    m.load_state_dict({k: v.to(torch.float32) for k, v in blob["state"].items()})
    m.eval()
    return m, blob.get("meta", {})


def load_dir(folder):
    models = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pt"):
            models[name[:-3]] = load(os.path.join(folder, name))[0]
    return models


@torch.no_grad()
def generate(model, prompt_bytes, max_tokens, top_k=0, sample_rng=None, stop=None):
    """Greedy continuation (or sampling when sample_rng is given). Returns (bytes list, logprob list, tops)."""
    ctx = model.cfg["ctx"]
    seq = list(prompt_bytes) or [10]
    out, lps, tops = [], [], []
    for _ in range(max_tokens):
        idx = torch.tensor([seq[-ctx:]], dtype=torch.long)
        logp = model(idx)[0, -1].log_softmax(-1)
        if sample_rng is not None:
            nxt = int(torch.multinomial(logp.exp(), 1, generator=sample_rng)[0])
        else:
            nxt = int(logp.argmax())
        out.append(nxt)
        lps.append(float(logp[nxt]))
        if top_k > 0:
            v, i = logp.topk(top_k)
            tops.append([(int(a), float(b)) for a, b in zip(i, v)])
        seq.append(nxt)
        if stop is not None and nxt == stop:
            break
    return out, lps, tops
