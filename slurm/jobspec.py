#!/usr/bin/python3
"""Reads a job file (jobs/*.json) strictly and prints the argument vector of one step (NUL-separated), so that
the shell scripts in slurm/ never parse JSON or evaluate a string.

Two kinds of job (jobs/README.md):
  command job   {"command": "hash", "args": [...], "ranks": 4, ...}: one fromscratch subcommand
  sweep job     {"models": [...], "candidate": NAME, "references": [...], "archive": DIR, ...}: fingerprint every
                model into an archive (one Slurm array task per model), then compare the candidate with the
                archive

Usage (every error names the job file and the field, exit 1; usage errors exit 2):
  jobspec.py check JOB                     validates; prints a one-line summary
  jobspec.py command JOB                   command job: RANKS THREADS SUBCOMMAND ARGS...
  jobspec.py models JOB                    sweep job: one model name per line (array task i = line i)
  jobspec.py fingerprint JOB I             sweep job: RANKS THREADS fingerprint MODEL --out ARCHIVE/NAME.h5 ...
  jobspec.py compare JOB                   sweep job: RANKS THREADS OUTFILE compare ARCHIVE/CAND.h5 --archive ...
  jobspec.py expect JOB                    sweep job: "REFERENCE VERDICT" lines (the expected verdicts, if any)
  jobspec.py verify JOB RESULT.json        sweep job: the compare result against "expect"; exit 1 on a mismatch
  jobspec.py resources JOB                 RANKS THREADS TIME PARTITION NODES ARRAY_SIZE (for submit.sh)

Model paths are templates: ${VAR} / $VAR are replaced from the environment (FROMSCRATCH_MODELS,
FROMSCRATCH_ARCHIVE, ...); an unset variable is an error naming it. With FROMSCRATCH_SOURCE=hub a model is
read from the hub instead (hf://REPO@REVISION, see docs/remote.md).
"""
import json
import os
import re
import sys

COMMAND_FIELDS = {"command", "args", "ranks", "threads", "time", "partition", "nodes"}
SWEEP_FIELDS = {"name", "description", "models", "candidate", "references", "archive", "expect",
                "fingerprint_args", "compare_args", "ranks", "threads", "time", "partition", "nodes",
                "gpus_per_rank"}
MODEL_FIELDS = {"name", "repo", "revision", "revision_note", "path", "note"}
VERDICTS = {"derived", "independent", "inconclusive"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
REV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


class JobError(Exception):
    pass


def load(path):
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
            if f.read(1):
                raise JobError(f"{path}: larger than 1 MiB (limit)")
        job = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except JobError:
        raise
    except Exception as e:
        raise JobError(f"{path}: not a valid job file: {e}")
    if not isinstance(job, dict):
        raise JobError(f"{path}: not a valid job file: the top level must be an object")
    return job


def no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"duplicate key {k!r}")
        seen[k] = v
    return seen


def check_int(path, job, field, lo, hi, default):
    v = job.get(field, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise JobError(f"{path}: field '{field}' = {v!r} out of range (limit: {lo}..{hi})")
    return v


def check_str(path, job, field, default=None, pattern=None):
    v = job.get(field, default)
    if not isinstance(v, str) or (pattern is not None and not pattern.match(v)):
        raise JobError(f"{path}: field '{field}' = {v!r} is not a valid value")
    return v


def check_strlist(path, job, field):
    v = job.get(field, [])
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        raise JobError(f"{path}: field '{field}' must be a list of strings")
    return v


def is_sweep(job):
    return "models" in job


def validate(path, job):
    if is_sweep(job):
        unknown = set(job) - SWEEP_FIELDS
        if unknown:
            raise JobError(f"{path}: unknown field(s) {sorted(unknown)} (allowed in a sweep job: {sorted(SWEEP_FIELDS)})")
        check_str(path, job, "name", pattern=NAME_RE)
        models = job["models"]
        if not isinstance(models, list) or not 1 <= len(models) <= 1000:
            raise JobError(f"{path}: field 'models' must be a list of 1..1000 models")
        names = []
        for i, m in enumerate(models):
            where = f"models[{i}]"
            if not isinstance(m, dict):
                raise JobError(f"{path}: field '{where}' must be an object")
            unknown = set(m) - MODEL_FIELDS
            if unknown:
                raise JobError(f"{path}: field '{where}': unknown field(s) {sorted(unknown)} (allowed: {sorted(MODEL_FIELDS)})")
            for f, pat in (("name", NAME_RE), ("repo", REPO_RE), ("revision", REV_RE)):
                v = m.get(f)
                if not isinstance(v, str) or not pat.match(v):
                    raise JobError(f"{path}: field '{where}.{f}' = {v!r} is not a valid value")
            if not isinstance(m.get("path"), str) or not m["path"]:
                raise JobError(f"{path}: field '{where}.path' must be a non-empty path template")
            if m["name"] in names:
                raise JobError(f"{path}: field '{where}.name' = {m['name']!r} names two models")
            names.append(m["name"])
        cand = check_str(path, job, "candidate")
        if cand not in names:
            raise JobError(f"{path}: field 'candidate' = {cand!r} is not one of the models {names}")
        refs = check_strlist(path, job, "references")
        if not refs:
            raise JobError(f"{path}: field 'references' must name at least one model")
        for r in refs:
            if r not in names or r == cand:
                raise JobError(f"{path}: field 'references': {r!r} is not one of the models other than the candidate")
        check_str(path, job, "archive")
        expect = job.get("expect", {})
        if not isinstance(expect, dict):
            raise JobError(f"{path}: field 'expect' must be an object {{reference: verdict}}")
        for r, v in expect.items():
            if r not in refs or v not in VERDICTS:
                raise JobError(f"{path}: field 'expect': {r!r}: {v!r} (need a reference and one of {sorted(VERDICTS)})")
        check_strlist(path, job, "fingerprint_args")
        check_strlist(path, job, "compare_args")
        check_int(path, job, "gpus_per_rank", 0, 16, 0)
    else:
        unknown = set(job) - COMMAND_FIELDS
        if unknown:
            raise JobError(f"{path}: unknown field(s) {sorted(unknown)} (allowed: {sorted(COMMAND_FIELDS)})")
        cmd = job.get("command")
        if not isinstance(cmd, str) or not cmd.isidentifier():
            raise JobError(f"{path}: field 'command' must be a subcommand name, got {cmd!r}")
        check_strlist(path, job, "args")
    check_int(path, job, "ranks", 1, 100000, 1)
    check_int(path, job, "threads", 0, 1024, 0)
    check_int(path, job, "nodes", 0, 100000, 0)
    check_str(path, job, "time", "01:00:00", re.compile(r"^(\d+-)?\d{1,3}:\d\d(:\d\d)?$"))
    check_str(path, job, "partition", "-", re.compile(r"^[A-Za-z0-9_,-]{1,64}$"))


def expand(path, field, template):
    def sub(mt):
        var = mt.group(1) or mt.group(2)
        val = os.environ.get(var)
        if val is None or val == "":
            raise JobError(f"{path}: field '{field}' = {template!r}: environment variable {var} is not set")
        return val
    out = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, template)
    if "$" in out:
        raise JobError(f"{path}: field '{field}' = {template!r}: a '$' that is not ${{VAR}}")
    return out


def model_source(path, job, i):
    m = job["models"][i]
    if os.environ.get("FROMSCRATCH_SOURCE", "") == "hub":
        return f"hf://{m['repo']}@{m['revision']}"
    return expand(path, f"models[{i}].path", m["path"])


def archive_dir(path, job):
    return expand(path, "archive", job["archive"])


def emit(items):
    sys.stdout.write("\0".join(str(x) for x in items) + "\0")


def main(argv):
    if len(argv) < 3 or argv[1] not in {"check", "command", "models", "fingerprint", "compare", "expect", "verify", "resources"}:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    op, path = argv[1], argv[2]
    job = load(path)
    validate(path, job)
    ranks, threads = job.get("ranks", 1), job.get("threads", 0)
    if op == "check":
        kind = "sweep" if is_sweep(job) else "command"
        extra = f", {len(job['models'])} models" if is_sweep(job) else f", {job['command']}"
        print(f"{path}: ok ({kind} job{extra})")
        return 0
    if op == "resources":
        array = len(job["models"]) if is_sweep(job) else 0
        print(ranks, max(1, threads), job.get("time", "01:00:00"), job.get("partition", "-"), job.get("nodes", 0),
              array, job.get("gpus_per_rank", 0))
        return 0
    if op == "command":
        if is_sweep(job):
            raise JobError(f"{path}: a sweep job has steps (fingerprint I, compare), not one command")
        emit([ranks, threads, job["command"]] + job.get("args", []))
        return 0
    if not is_sweep(job):
        raise JobError(f"{path}: '{op}' needs a sweep job (a 'models' field)")
    if op == "models":
        for m in job["models"]:
            print(m["name"])
        return 0
    if op == "expect":
        for r, v in job.get("expect", {}).items():
            print(r, v)
        return 0
    if op == "verify":
        if len(argv) != 4:
            raise JobError(f"{path}: verify needs the compare result file")
        try:
            res = json.load(open(argv[3]))
            got = {r["reference"]: r["verdict"] for r in res["results"]}
        except Exception as e:
            raise JobError(f"{argv[3]}: not a compare result ({{\"results\": [{{\"reference\", \"verdict\"}}]}}): {e}")
        bad = 0
        for r, want in job.get("expect", {}).items():
            v = got.get(r, "(missing)")
            ok = v == want
            bad += not ok
            print(f"expect {job['candidate']} vs {r}: {want}, got {v}: {'ok' if ok else 'MISMATCH'}")
        return 1 if bad else 0
    archive = archive_dir(path, job)
    if op == "fingerprint":
        if len(argv) != 4 or not argv[3].isdigit():
            raise JobError(f"{path}: fingerprint needs a model index (the array task id), got {argv[3:]!r}")
        i = int(argv[3])
        if i >= len(job["models"]):
            raise JobError(f"{path}: model index {i} out of range (limit: 0..{len(job['models']) - 1})")
        m = job["models"][i]
        src = model_source(path, job, i)
        emit([ranks, threads, "fingerprint", src, "--out", os.path.join(archive, m["name"] + ".h5"),
              "--name", m["name"]] + job.get("fingerprint_args", []))
        return 0
    if op == "compare":
        cand = job["candidate"]
        out = os.path.join(archive, "compare-" + cand + ".json")
        emit([ranks, threads, out, "compare", os.path.join(archive, cand + ".h5"), "--archive", archive, "--json"]
             + job.get("compare_args", []))
        return 0
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except JobError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
