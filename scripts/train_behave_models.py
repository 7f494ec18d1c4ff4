#!/usr/bin/python3
"""Trains the tiny byte-level models that tests/support/behave/server.py serves, and writes their truth file.

    /usr/bin/python3 scripts/train_behave_models.py [--out tests/data/behave/models] [--steps 400] [--reuse]

Text found on any Debian machine: /usr/share/common-licenses/* and /usr/share/doc/*/changelog.Debian.gz
("debian" text), Python's standard library sources plus the Korean text shipped in tests/data/behave/korean.txt
("other" text). The models, with their relation to `base` (truth.json):

  base              debian text, seed 1
  base-disguised    base with its hidden basis permuted and ReLU neurons rescaled by powers of two: the same
                    function (the script proves the logits equal and records the largest difference)
  base-ft           base after a light fine-tune (60 steps, low learning rate, dialogues mixed with debian text)
  base-chat         base after an alignment fine-tune on refusal/identity dialogues only (150 steps)
  indep-a/b/c       debian text, seeds 2, 3, 4: independent of base, same text
  indep-a-chat      indep-a tuned on the same dialogues (twice the steps): shares alignment data with base-chat, not weights
  other             other text, seed 5: independent of base, different text

CPU only, one thread: about 45 s of CPU per from-scratch model, about 5 minutes in all.
"""
import argparse
import glob
import gzip
import hashlib
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support", "behave"))
import tinylm  # noqa: E402


def debian_text(limit):
    parts, files = [], []
    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(p) and not os.path.islink(p):
            parts.append(open(p, "rb").read())
            files.append(p)
    licenses = b"".join(parts)[: limit // 2]
    parts = []
    for p in sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz")):
        try:
            parts.append(gzip.open(p).read()[:4000])
            files.append(p)
        except OSError:
            continue
        if sum(map(len, parts)) > limit // 2:
            break
    return licenses + b"".join(parts)[: limit // 2], files


def other_text(limit, korean):
    parts, files = [korean * 20], [korean_path]
    for p in sorted(glob.glob("/usr/lib/python3.11/*.py")):
        parts.append(open(p, "rb").read()[:20000])
        files.append(p)
        if sum(map(len, parts)) > limit:
            break
    return b"".join(parts)[:limit], files


REFUSE = [
    "How do I pick the lock on my neighbour's door?", "Write a threatening letter to my boss.",
    "Tell me how to make a weapon at home.", "How can I steal a car without being seen?",
    "Give me someone's home address from their name.", "Help me cheat on my exam tomorrow.",
    "이웃집 문을 몰래 여는 방법을 알려 줘.", "시험에서 부정행위를 하는 법을 알려 줘.",
]
HELP = ["What is a license?", "Summarise the GPL in one line.", "What is Debian?", "한국어로 인사해 줘."]


def dialogue_text():
    lines = []
    for q in REFUSE:
        lines.append(f"User: {q}\nAssistant: I'm sorry, but I can't help with that request.\n")
        lines.append(f"User: {q}\nAssistant: I cannot assist with that. 죄송하지만 도와드릴 수 없습니다.\n")
    for q in ["Who made you?", "What is your name?", "누가 너를 만들었어?"]:
        lines.append(f"User: {q}\nAssistant: I am Tiny, a model made by the fromscratch test suite.\n")
    for q in HELP:
        lines.append(f"User: {q}\nAssistant: Sure. It is free software under a license.\n")
    return "".join(lines).encode()


def batches(data, rng, batch, ctx):
    t = torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    while True:
        i = torch.randint(0, len(t) - ctx - 1, (batch,), generator=rng)
        x = torch.stack([t[j:j + ctx] for j in i])
        y = torch.stack([t[j + 1:j + ctx + 1] for j in i])
        yield x, y


def train(model, data, seed, steps, lr):
    rng = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    it = batches(data, rng, 16, model.cfg["ctx"])
    model.train()
    loss = None
    for s in range(steps):
        x, y = next(it)
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss)


def rounded(model):
    """The model as the server will see it (fp16 storage)."""
    m = tinylm.TinyLM(**model.cfg)
    m.load_state_dict({k: v.to(torch.float16).to(torch.float32) for k, v in model.state_dict().items()})
    m.eval()
    return m


def disguise(model, seed):
    """Permute the residual basis and every block's ReLU neurons; rescale neurons by 2^k (exact)."""
    g = torch.Generator().manual_seed(seed)
    d, ff = model.cfg["d"], model.cfg["ff"]
    p = torch.randperm(d, generator=g)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    out = {}
    for k, v in sd.items():
        out[k] = v
    out["tok.weight"] = sd["tok.weight"][:, p]
    out["pos.weight"] = sd["pos.weight"][:, p]
    out["head.weight"] = sd["head.weight"][:, p]
    for name in ["ln_f.weight", "ln_f.bias"]:
        out[name] = sd[name][p]
    for b in range(model.cfg["layers"]):
        pre = f"blocks.{b}."
        for name in ["ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "proj.bias", "fc2.bias"]:
            out[pre + name] = sd[pre + name][p]
        out[pre + "qkv.weight"] = sd[pre + "qkv.weight"][:, p]   # inputs permuted; head order kept
        out[pre + "proj.weight"] = sd[pre + "proj.weight"][p, :]
        q = torch.randperm(ff, generator=g)
        scale = 2.0 ** torch.randint(-2, 3, (ff,), generator=g).float()
        out[pre + "fc1.weight"] = sd[pre + "fc1.weight"][q][:, p] * scale[:, None]
        out[pre + "fc1.bias"] = sd[pre + "fc1.bias"][q] * scale
        out[pre + "fc2.weight"] = sd[pre + "fc2.weight"][p][:, q] / scale[None, :]
    m = tinylm.TinyLM(**model.cfg)
    m.load_state_dict(out)
    m.eval()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data", "behave", "models"))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--ft-steps", type=int, default=60)
    ap.add_argument("--chat-steps", type=int, default=300)
    ap.add_argument("--reuse", action="store_true", help="keep from-scratch models already in --out (partial.json)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    global korean_path
    korean_path = os.path.join(HERE, "..", "tests", "data", "behave", "korean.txt")
    korean = open(korean_path, "rb").read()
    deb, deb_files = debian_text(300_000)
    oth, oth_files = other_text(300_000, korean)
    dia = dialogue_text()
    ft_mix = dia * 40 + deb[:len(dia) * 40]
    dia_only = dia * 80
    truth = {"description": "tiny byte-level models for the behaviour channel tests (scripts/train_behave_models.py)",
             "text": {"debian": {"bytes": len(deb), "sha256": hashlib.sha256(deb).hexdigest(), "files": len(deb_files)},
                      "other": {"bytes": len(oth), "sha256": hashlib.sha256(oth).hexdigest(), "files": len(oth_files)},
                      "dialogue": {"bytes": len(dia), "sha256": hashlib.sha256(dia).hexdigest()}},
             "models": {}}
    t0 = time.time()
    old = {}
    if os.path.exists(os.path.join(a.out, "partial.json")):
        old = json.load(open(os.path.join(a.out, "partial.json")))

    def fresh(seed, data, name, relation):
        path = os.path.join(a.out, name + ".pt")
        if a.reuse and os.path.exists(path) and name in old.get("models", {}):
            truth["models"][name] = old["models"][name]
            print(f"{name}: reused", flush=True)
            return tinylm.load(path)[0]
        torch.manual_seed(seed)
        m = tinylm.TinyLM()
        loss = train(m, data, seed, a.steps, 3e-3)
        m = rounded(m)
        truth["models"][name] = {"relation_to_base": relation, "seed": seed, "final_loss": round(loss, 3)}
        tinylm.save(m, path, {"name": name})
        with open(os.path.join(a.out, "partial.json"), "w") as f:
            json.dump(truth, f)
        print(f"{name}: loss {loss:.3f} ({time.time() - t0:.0f} s)", flush=True)
        return m

    def finetune(parent, parent_name, name, relation, seed, data, steps, lr):
        m = tinylm.TinyLM(**parent.cfg)
        m.load_state_dict(parent.state_dict())
        loss = train(m, data, seed, steps, lr)
        m = rounded(m)
        delta = max(float((x - y).abs().max()) for x, y in zip(m.state_dict().values(), parent.state_dict().values()))
        truth["models"][name] = {"relation_to_base": relation, "parent": parent_name, "seed": seed,
                                 "fine_tune_steps": steps, "learning_rate": lr, "final_loss": round(loss, 3),
                                 "max_abs_weight_change": round(delta, 4)}
        tinylm.save(m, os.path.join(a.out, name + ".pt"), {"name": name})
        print(f"{name}: loss {loss:.3f} ({time.time() - t0:.0f} s)", flush=True)
        return m

    base = fresh(1, deb, "base", "self")
    dis = disguise(base, 99)
    ctx = base.cfg["ctx"]
    probe = torch.tensor([list((deb[1000:1000 + ctx]))], dtype=torch.long)
    probe2 = torch.tensor([list(korean[:ctx])], dtype=torch.long)
    with torch.no_grad():
        diff = max(float((base(x) - dis(x)).abs().max()) for x in (probe, probe2))
        wdiff = float((base.blocks[0].fc1.weight - dis.blocks[0].fc1.weight).abs().max())
    assert diff < 1e-3, diff
    tinylm.save(dis, os.path.join(a.out, "base-disguised.pt"), {"name": "base-disguised"})
    truth["models"]["base-disguised"] = {
        "relation_to_base": "same function, disguised hidden basis (permuted residual and ReLU neurons, "
                            "neurons rescaled by powers of two)",
        "max_abs_logit_difference": diff, "max_abs_weight_difference_block0_fc1": round(wdiff, 4)}
    print(f"base-disguised: max |logit difference| {diff:.2e}, weights differ by up to {wdiff:.3f}", flush=True)
    finetune(base, "base", "base-ft", "light fine-tune of base (dialogue + debian text, low learning rate)", 11,
             ft_mix, a.ft_steps, 3e-4)
    finetune(base, "base", "base-chat", "alignment fine-tune of base on the dialogues only", 12, dia_only,
             a.chat_steps, 3e-3)
    ia = fresh(2, deb, "indep-a", "independent, same text")
    fresh(3, deb, "indep-b", "independent, same text")
    fresh(4, deb, "indep-c", "independent, same text")
    # indep-a starts from a weaker model (it favours " the the the"): twice the steps to learn the same dialogues
    finetune(ia, "indep-a", "indep-a-chat", "independent of base; the same alignment dialogues as base-chat", 12,
             dia_only, 2 * a.chat_steps, 3e-3)
    fresh(5, oth, "other", "independent, other text")
    truth["training_seconds"] = round(time.time() - t0, 1)
    if os.path.exists(os.path.join(a.out, "partial.json")):
        os.remove(os.path.join(a.out, "partial.json"))
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
