"""CI's determinism gate: on the committed params and the committed run's floats, a fresh `dvc repro`
must reproduce the committed outputs exactly.

    python .ci/same_as_committed.py        # after `dvc repro`, in the repository root

- metrics/numerics.json's fingerprint against the committed one (git HEAD). Different: this CPU
  rounds differently (README, Determinism), so its models cannot be the committed ones; the
  differences are printed and the gate passes (verify has already judged the verdicts).
- Same fingerprint: every git-tracked metrics/**/*.json must equal the committed file value for value
  (metrics/numerics.json's `cpu` and metrics/claims.json's `numerics` excepted: IGNORED), and
  every model and probe output in dvc.lock (models/, data/probe/) must have the committed hash.
  Anything else is a machine- or run-dependence that a code change introduced: exit 1.
"""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from tilelli.provenance import NUMERICS, committed_json, committed_text

# the same floats may come from another CPU model (`cpu`), and verify records which fingerprint it
# compared with (`numerics`: the committed run itself had none to compare with)
IGNORED = {NUMERICS: ("cpu",), "metrics/claims.json": ("numerics",)}
LOCKED = ("models/", "data/probe/")


def git(*args: str) -> str | None:
    out = subprocess.run(["git", *args], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def committed(path: str):
    if not path.endswith(".lock"):
        return committed_json(path)
    text = committed_text(path)
    return None if text is None else yaml.safe_load(text)


def here(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) if path.endswith(".lock") else json.load(f)
    except (OSError, ValueError):
        return None


def flat(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flat(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from flat(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def metric_differences() -> list[str]:
    out = []
    for path in (git("ls-files", "metrics") or "").split():
        if not path.endswith(".json"):
            continue
        a, b = committed(path), here(path)
        if b is None:
            out.append(f"{path}: missing after the run")
            continue
        skip = IGNORED.get(path, ())
        fa = {k: v for k, v in flat(a) if k.split(".")[0] not in skip}
        fb = {k: v for k, v in flat(b) if k.split(".")[0] not in skip}
        for key in sorted(set(fa) | set(fb)):
            if fa.get(key, "<absent>") != fb.get(key, "<absent>"):
                out.append(f"{path}: {key}: committed {fa.get(key, '<absent>')!r}, this run {fb.get(key, '<absent>')!r}")
    return out


def lock_differences() -> list[str]:
    def hashes(lock) -> dict[str, str]:
        got = {}
        for stage in (lock or {}).get("stages", {}).values():
            for out in stage.get("outs", []):
                if str(out.get("path", "")).startswith(LOCKED):
                    got[out["path"]] = out.get("md5")
        return got
    a, b = hashes(committed("dvc.lock")), hashes(here("dvc.lock"))
    return [f"dvc.lock: {p}: committed {a.get(p)}, this run {b.get(p)}" for p in sorted(set(a) | set(b))
            if a.get(p) != b.get(p)]


def main() -> int:
    ref, now = (committed(NUMERICS) or {}).get("fingerprint"), (here(NUMERICS) or {}).get("fingerprint")
    diffs = metric_differences() + lock_differences()
    if ref is None or now is None:
        print(f"determinism: no fingerprint to compare (committed {ref}, this run {now}): FAIL")
        return 1
    if ref != now:
        print(f"determinism: this machine's numerics fingerprint {now} differs from the committed {ref}: "
              f"its floats differ, so {len(diffs)} difference(s) from the committed outputs are expected "
              f"(not a failure; see README, Determinism)")
        for line in diffs[:40]:
            print(f"  {line}")
        return 0
    if diffs:
        print(f"determinism: FAIL: same numerics fingerprint {now}, yet {len(diffs)} output(s) differ from the committed run:")
        for line in diffs[:80]:
            print(f"  {line}")
        return 1
    print(f"determinism: every committed metric and model hash reproduced exactly (fingerprint {now})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
