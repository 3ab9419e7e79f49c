"""CI: a fresh clone that pulls the committed outputs is up to date, and an experiment re-runs only
what its knob touches.

    python .ci/fresh_clone.py        # after `dvc repro` (and same_as_committed.py), in the repository root
                                     # (a few minutes: it runs one experiment in the clone)

What a collaborator does, on this repository (not a toy):
1. the outputs CI just built (the committed ones when the floats are the committed run's: the
   determinism gate) go to a local-directory remote with `dvc push`;
2. `git clone` of HEAD (no outputs, no Python cache), `dvc pull` from that remote, then the Python
   cache a first import writes (`compileall` over src/ and stages/), as on any machine that ran code;
3. `dvc status` must say up to date and `dvc repro --dry` must run no stage;
4. the check can fail: with DVC's empty .dvcignore template (as before this check existed) the same
   clone reports changed code deps, because the lock then hashes __pycache__/;
5. `dvc exp run -S metacog_weight=0` (run for real, a few minutes: `--dry` lists only the stages
   whose own params change, not what their new outputs re-run) must run exactly the stages that
   knob reaches, derived from the study registry (the metacog runs whose recipe the override
   changes, the splices and probes of those models, and the stages that read every model or all
   of params.yaml), not written by hand; nothing upstream (no base model) is retrained.
On another CPU (fingerprint not the committed run's) this machine's outputs are not the committed
ones, so there is nothing to pull against the committed dvc.lock: the check says so and passes.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tilelli import study
from tilelli.provenance import NUMERICS, committed_json
from tilelli.stage import compose, load_params

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")
KNOB = "metacog_weight=0"
RAN = re.compile(r"Running stage '([^']+)'")


def sh(cwd: Path, *cmd: str, ok: bool = True) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if (cwd / "src" / "tilelli").is_dir():
        env["PYTHONPATH"] = str(cwd / "src")    # the clone's own code, not the editable install's
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if ok and out.returncode != 0:
        sys.exit(f"fresh clone: FAIL: `{' '.join(cmd)}` exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout + out.stderr


def status(clone: Path) -> dict:
    return json.loads(sh(clone, DVC, "status", "--json").strip() or "{}")


def expected_stages(params: dict, override: dict) -> set[str]:
    """The DVC stages `-S metacog_weight=0` reaches, from the study registry: every metacog run
    whose recipe the override changes, the splice of each seed whose main variant changed, the
    probe of each changed model, and the stages that read every model (auroc, router_shift) or the
    whole params.yaml (params_check, verify, paper)."""
    seeds = study.study_seeds(params)
    old, new = params["metacog"]["recipes"], override["metacog"]["recipes"]
    variants = [v for v in study.metacog_variants(params) if old.get(v) != new.get(v)]
    stages = {f"metacog@{v}-{s}" for v in variants for s in seeds}
    stages |= {f"probe_metacog@{v}-{s}" for v in variants for s in seeds}
    if params["metacog"]["main"] in variants:
        stages |= {f"splice@{s}" for s in seeds} | {f"probe_splice@{s}" for s in seeds}
    return stages | {"params_check", "auroc", "router_shift", "verify", "paper"}


def main() -> None:
    ref = (committed_json(NUMERICS) or {}).get("fingerprint")
    now = json.loads((ROOT / NUMERICS).read_text(encoding="utf-8")).get("fingerprint")
    if ref != now:
        print(f"fresh clone: skipped: this machine's floats ({now}) are not the committed run's ({ref}), so its "
              "outputs are not the ones the committed dvc.lock names (README, Determinism)")
        return
    with tempfile.TemporaryDirectory(prefix="tilelli-fresh-") as tmp:
        remote, clone = Path(tmp) / "remote", Path(tmp) / "clone"
        sh(ROOT, DVC, "remote", "add", "-f", "--local", "ci-fresh", str(remote))
        try:
            sh(ROOT, DVC, "push", "-q", "-r", "ci-fresh")
        finally:
            sh(ROOT, DVC, "remote", "remove", "--local", "ci-fresh", ok=False)
        sh(Path(tmp), "git", "clone", "-q", str(ROOT), str(clone))
        sh(clone, DVC, "remote", "add", "--local", "-d", "ci-fresh", str(remote))
        sh(clone, DVC, "pull", "-q")
        sh(clone, sys.executable, "-m", "compileall", "-q", "src", "stages")   # the cache any first import leaves
        left = status(clone)
        if left:
            sys.exit(f"fresh clone: FAIL: after `dvc pull`, `dvc status` is not up to date: {json.dumps(left)[:2000]}")
        ran = RAN.findall(sh(clone, DVC, "repro", "--dry"))
        if ran:
            sys.exit(f"fresh clone: FAIL: `dvc repro` on an up-to-date clone would run {ran}")
        print("fresh clone: after `dvc pull`, `dvc status` is up to date and `dvc repro` runs no stage")

        (clone / ".dvcignore").rename(clone / ".dvcignore.kept")
        (clone / ".dvcignore").write_text("# DVC's template: ignores nothing\n")
        stale = [s for s, changes in status(clone).items()
                 if any("changed deps" in c for c in changes if isinstance(c, dict))]
        (clone / ".dvcignore.kept").replace(clone / ".dvcignore")
        if not stale:
            sys.exit("fresh clone: FAIL: with an empty .dvcignore the clone still looks up to date: this check "
                     "cannot see __pycache__/ in a dep's hash")
        print(f"fresh clone: and the check can fail: without .dvcignore's __pycache__ lines {len(stale)} stages "
              "see changed code deps")

        params = load_params(clone / "params.yaml")
        want = expected_stages(params, load_params(compose([KNOB], Path(tmp) / "knob.yaml", clone / "conf")))
        got = set(RAN.findall(sh(clone, DVC, "exp", "run", "-S", KNOB)))
        if got != want:
            sys.exit(f"fresh clone: FAIL: `dvc exp run -S {KNOB}` ran {sorted(got)}; the study registry says "
                     f"{sorted(want)} (extra: {sorted(got - want)}, missing: {sorted(want - got)})")
        print(f"fresh clone: `dvc exp run -S {KNOB}` ran exactly the {len(want)} stages that depend on it")


if __name__ == "__main__":
    main()
