#!/usr/bin/python3
"""Trains a population of tiny byte-level models independent of each other (same text, seeds 101, 102, ...) for the
calibration of the output-agreement test (tests/cli/behave_calibration.sh, docs/behaviour.md).

    /usr/bin/python3 scripts/train_behave_population.py [--out tests/data/behave/population] [--count 8] [--steps 400]

Same architecture, text, optimiser and step count as `indep-a/b/c` in scripts/train_behave_models.py, so together
with base and indep-a/b/c they are draws from one population of "unrelated models of the same kind": the null
the test must hold on. About 45 s of CPU per model (one thread).
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support", "behave"))
import tinylm  # noqa: E402
import train_behave_models as tbm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data", "behave", "population"))
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=101)
    ap.add_argument("--steps", type=int, default=400)
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    deb, files = tbm.debian_text(300_000)
    import hashlib
    truth_path = os.path.join(a.out, "truth.json")
    truth = json.load(open(truth_path)) if os.path.exists(truth_path) else {
        "description": "independent tiny models, same text as base and indep-a/b/c "
                       "(scripts/train_behave_population.py)",
        "text": {"debian": {"bytes": len(deb), "sha256": hashlib.sha256(deb).hexdigest(), "files": len(files)}},
        "models": {}}
    t0 = time.time()
    for k in range(a.count):
        seed = a.first_seed + k
        name = f"pop-{seed}"
        if name in truth["models"] and os.path.exists(os.path.join(a.out, name + ".pt")):
            continue
        torch.manual_seed(seed)
        m = tinylm.TinyLM()
        loss = tbm.train(m, deb, seed, a.steps, 3e-3)
        m = tbm.rounded(m)
        tinylm.save(m, os.path.join(a.out, name + ".pt"), {"name": name})
        truth["models"][name] = {"relation_to_base": "independent, same text", "seed": seed,
                                 "final_loss": round(loss, 3)}
        with open(truth_path, "w") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
        print(f"{name}: loss {loss:.3f} ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
