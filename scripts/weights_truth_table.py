#!/usr/bin/python3
"""Runs `fromscratch weights compare` on every pair of a family with a truth.json and `weights upcycling` on
every MoE member, and prints the pairs x verdict table against the truth (Markdown), plus a JSON summary.

usage: weights_truth_table.py FROMSCRATCH FAMILY_DIR [--out SUMMARY.json] [--pairs base-only|all] [--extra ARGS]

Expected verdicts: truth.json's expected_verdict "derived", "norms-only" and "init-only" all mean that B shares
something with A that independent training would not give, so the tool must say "derived" (and name the
component: norms only, init only); "independent" must never be called "derived". Exit status 1 when any pair
or member disagrees with the truth.
"""
import itertools
import json
import os
import subprocess
import sys


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        return 2
    exe, fam = args[0], args[1]
    out = None
    scope = "all"
    extra = []
    i = 2
    while i < len(args):
        if args[i] == "--out":
            out = args[i + 1]; i += 2
        elif args[i] == "--pairs":
            scope = args[i + 1]; i += 2
        elif args[i] == "--extra":
            extra = args[i + 1].split(); i += 2
        else:
            print("unknown argument " + args[i]); return 2
    truth = json.load(open(os.path.join(fam, "truth.json")))
    members = {m["name"]: m for m in truth["members"]}
    pairs = truth.get("pairs", [])
    rows = []
    bad = 0
    for p in pairs:
        a, b = p.get("a") or p.get("members", [None, None])[0], p.get("b") or p.get("members", [None, None])[1]
        if scope == "base-only" and "base" not in (a, b):
            continue
        expected = p.get("expected_verdict")
        pa = os.path.join(fam, members[a].get("path", a)) if a in members else os.path.join(fam, a)
        pb = os.path.join(fam, members[b].get("path", b)) if b in members else os.path.join(fam, b)
        r = subprocess.run([exe, "weights", "compare", pa, pb, "--json", "--quiet"] + extra, capture_output=True, text=True)
        if r.returncode != 0:
            rows.append((a, b, expected, "ERROR", r.stderr.strip()[:120], "", ""))
            bad += 1
            continue
        doc = json.loads(r.stdout)
        fam_recs = [x for x in doc["records"] if x["family"]]
        fam_recs.sort(key=lambda x: x["log10_p_adjusted"] if isinstance(x["log10_p_adjusted"], (int, float)) else -1e300)
        best = fam_recs[0] if fam_recs else None
        verdict = doc["verdict"]
        want_derived = expected in ("derived", "norms-only", "init-only")
        ok = (verdict == "derived") if want_derived else (verdict != "derived")
        strict_ok = ok and (want_derived or verdict == "independent")
        if not ok:
            bad += 1
        rows.append((a, b, expected, verdict, ",".join(doc.get("evidence_components", [])),
                     "%s %s" % (best["test"], best["scope"]) if best else "", "%.4g" % best["log10_p_adjusted"] if best else "",
                     "ok" if strict_ok else ("ok (inconclusive)" if ok else "WRONG")))
    print("| A | B | truth | verdict | evidence in | strongest family test | log10 p (Holm) | |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    # Upcycling test on every member with routed experts.
    up_rows = []
    for name, m in members.items():
        path = os.path.join(fam, m.get("path", name))
        r = subprocess.run([exe, "weights", "upcycling", path, "--json", "--quiet"], capture_output=True, text=True)
        if r.returncode != 0:
            up_rows.append((name, m.get("relation"), "ERROR", r.stderr.strip()[:100]))
            bad += 1
            continue
        doc = json.loads(r.stdout)
        if doc["verdict"] == "inconclusive" and not doc["layers"]:
            continue  # dense member
        want = "upcycled" if m.get("relation") == "upcycled" or m.get("upcycled") else None
        verdict = doc["verdict"]
        # Members derived from an upcycled model inherit its experts; everything else must not be "upcycled".
        parent = m.get("parent")
        inherited = False
        while parent:
            if members.get(parent, {}).get("relation") == "upcycled":
                inherited = True
            parent = members.get(parent, {}).get("parent")
        if want or inherited:
            ok = verdict == "upcycled"
        else:
            ok = verdict != "upcycled"
        bad += 0 if ok else 1
        up_rows.append((name, m.get("relation"), verdict, "ok" if ok else "WRONG"))
    print()
    print("| member | relation | upcycling verdict | |")
    print("|---|---|---|---|")
    for row in up_rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    if out:
        json.dump({"pairs": rows, "upcycling": up_rows, "wrong": bad}, open(out, "w"), indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
