#!/usr/bin/python3
"""Calibration of the weight tests under the null: N independent pairs (synth families with fresh seeds:
`base` against `independent`, same recipe, nothing shared), every family test's raw p-value collected, and a
one-sample Kolmogorov-Smirnov test against Uniform(0, 1) per test. Also the parent-free upcycling test on the
from-scratch `base` of each replicate (one expert pair per layer: the first tested, so replicates stay
independent).

usage: weights_calibration.py FROMSCRATCH --replicates N --out RESULT.json [--template solar-open] [--work DIR]
       [--extra "compare args"] [--synth-args "synth family args"]
Prints a Markdown table (test, replicates, KS statistic, KS p, share of p < 0.05, share of p < 0.01). Rows marked
"(reported)" are not verdict tests: localisation records and descriptive tests, pooled over layers and experts.
"""
import json
import math
import os
import shutil
import re
import subprocess
import sys
import tempfile


def ks_uniform(ps):
    ps = sorted(min(max(p, 0.0), 1.0) for p in ps)
    n = len(ps)
    if n == 0:
        return 0.0, 1.0
    d = max(max((i + 1) / n - p, p - i / n) for i, p in enumerate(ps))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    p = 0.0
    for k in range(1, 101):
        t = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        p += t
        if abs(t) < 1e-12:
            break
    return d, (1.0 if lam < 0.2 else min(max(p, 0.0), 1.0))


def fixed_point_pmf(n):
    """P(F = j), j = 0..n, for F the fixed points of a uniformly random permutation of n (the upcycling null)."""
    pmf = []
    for j in range(n + 1):
        s, term = 0.0, 1.0
        for i in range(n - j + 1):
            if i > 0:
                term /= -i
            s += term
        pmf.append(s / math.factorial(j))
    return pmf


def randomized_pit(counts, seed=12345):
    """Randomised probability integral transform of discrete statistics (f, n): P(F > f) + U P(F = f), U
    uniform. Exactly Uniform(0, 1) under the null, so KS checks the null distribution itself, which the
    super-uniform one-sided p-values of a discrete test cannot show."""
    import random
    rng = random.Random(seed)
    cache = {}
    out = []
    for f, n in counts:
        if n not in cache:
            cache[n] = fixed_point_pmf(n)
        pmf = cache[n]
        f = int(round(f))
        above = sum(pmf[f + 1:])
        out.append(min(1.0, max(0.0, above + rng.random() * pmf[f])))
    return out


def main():
    a = sys.argv[1:]
    exe = a[0]
    n, out, template, work, extra = 200, None, "solar-open", None, []
    synth_args = []
    i = 1
    while i < len(a):
        if a[i] == "--replicates":
            n = int(a[i + 1])
        elif a[i] == "--out":
            out = a[i + 1]
        elif a[i] == "--template":
            template = a[i + 1]
        elif a[i] == "--work":
            work = a[i + 1]
        elif a[i] == "--extra":
            extra = a[i + 1].split()
        elif a[i] == "--synth-args":
            synth_args = a[i + 1].split()
        else:
            print("unknown argument " + a[i])
            return 2
        i += 2
    work = work or tempfile.mkdtemp(prefix="fs-calib-")
    pvals = {}
    upc = []
    upc_counts = []  # (agreeing neurons, neurons) of the same records, for the randomised PIT
    verdicts = {}
    for s in range(n):
        fam = os.path.join(work, "f%d" % s)
        shutil.rmtree(fam, ignore_errors=True)
        subprocess.run([exe, "synth", "family", "--template", template, "--scale", "tiny", "--seed", str(1000 + s),
                        "--members", "base,independent", "--out", fam] + synth_args, check=True, capture_output=True)
        r = subprocess.run([exe, "weights", "compare", os.path.join(fam, "base"), os.path.join(fam, "independent"),
                            "--json", "--quiet", "--seed", str(77 + s)] + extra, capture_output=True, text=True, check=True)
        doc = json.loads(r.stdout)
        verdicts[doc["verdict"]] = verdicts.get(doc["verdict"], 0) + 1
        for rec in doc["records"]:
            # Family tests decide the verdict; the others are reported (localisation maps, descriptive tests):
            # they are pooled over layers and experts (marginally uniform under the null, but dependent within
            # one pair, so their KS p is approximate) and marked as such.
            if rec["family"]:
                key = rec["test"] + " / " + rec["scope"]
            else:
                key = "(reported) " + rec["test"] + " / " + re.sub(r"(layer|expert)=\d+", r"\1=*", rec["scope"])
            lp = rec["log10_p"]
            pvals.setdefault(key, []).append(10 ** lp if isinstance(lp, (int, float)) else 0.0)
        u = subprocess.run([exe, "weights", "upcycling", os.path.join(fam, "base"), "--json", "--quiet", "--seed", str(5 + s)],
                           capture_output=True, text=True, check=True)
        ud = json.loads(u.stdout)
        seen = set()
        for rec in ud["records"]:
            if rec["layer"] in seen:
                continue
            seen.add(rec["layer"])
            upc.append(10 ** rec["log10_p"])
            upc_counts.append((rec["statistic"], rec["n"]))
        shutil.rmtree(fam, ignore_errors=True)
        print("replicate %d: %s" % (s, doc["verdict"]), file=sys.stderr)
    pvals["expert_neuron_agreement / one pair per layer (upcycling, from-scratch base)"] = upc
    pvals["expert_neuron_agreement / randomised PIT of the same records (exact null, so uniform)"] = randomized_pit(upc_counts)
    rows = []
    for key in sorted(pvals):
        ps = pvals[key]
        d, p = ks_uniform(ps)
        rows.append({"test": key, "replicates": len(ps), "ks_statistic": d, "ks_p": p,
                     "share_p_below_0.05": sum(x < 0.05 for x in ps) / len(ps),
                     "share_p_below_0.01": sum(x < 0.01 for x in ps) / len(ps)})
    print("| test | p-values | KS D | KS p | P(p<0.05) | P(p<0.01) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.4f | %.3g | %.3f | %.3f |" % (r["test"], r["replicates"], r["ks_statistic"], r["ks_p"],
                                                            r["share_p_below_0.05"], r["share_p_below_0.01"]))
    print("\nverdicts over %d independent pairs: %s" % (n, verdicts))
    if out:
        json.dump({"template": template, "replicates": n, "extra_args": extra, "synth_args": synth_args, "tests": rows, "verdicts": verdicts,
                   "pvalues": pvals}, open(out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
