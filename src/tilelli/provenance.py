"""Provenance: which code, versions and hardware produced a result, as a dict and a short header.

    from tilelli.provenance import provenance, provenance_markdown
    text = provenance_markdown(provenance()) + body      # results/claims.md, PAPER_OUTLINE.md

    {"git_commit": "76dff76...", "git_dirty": False, "dvc_experiment": None,
     "python": "3.11.9", "torch": "2.13.0", "dvc": "3.67.1",
     "device": "Intel(R) Xeon(R) ... (2 CPUs)", "torch_threads": 2,
     "train_wall_s": 925.4, "train_runs": 23}

`git_dirty` looks only at what can change a result: `git status --porcelain -- src stages conf
params.yaml claims.yaml dvc.yaml` (a stray notes file does not make a run dirty; an uncommitted
edit to a stage or a param does). Results are usually committed after the run that wrote them, so
the commit is the code the run started from; dirty says it also had uncommitted changes.
Inside `dvc exp run` the experiment name is recorded too (DVC sets DVC_EXP_NAME for the stages).

`train_wall_s` is the sum of the `wall_s` of every metrics/timing/**/*.json, written by the
training stages (tilelli.train.recipes) and git-ignored: it is the training time of the runs
in THIS workspace, labelled as such; a workspace whose models came from `dvc pull` has none
(None, shown as "not recorded here"). Versions come from package metadata, so nothing here
imports dvc; torch is imported only for the device name and thread count.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from tilelli.io import TilelliError
from tilelli.stage import describe_keys
from tilelli.paths import NUMERICS, TIMING_DIR

RESULT_PATHS = ("src", "stages", "conf", "params.yaml", "claims.yaml", "dvc.yaml")


def git(root: Path, *args: str, check: bool = False, timeout: float = 30) -> str | None:
    """`git -C root args...`'s stdout; on failure None, or with check=True a TilelliError naming the
    command and git's last error line (provenance tolerates no git; the preflight needs it, and
    gives its copies and commits of a whole workspace a longer timeout)."""
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        if check:
            raise TilelliError(f"git {' '.join(args)} failed in {root}: {e}") from None
        return None
    if out.returncode and check:
        raise TilelliError(f"git {' '.join(args)} failed in {root}: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout if out.returncode == 0 else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor(), plus the core count."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name} ({os.cpu_count()} CPUs)"


def device_and_threads() -> tuple[str, int | None]:
    try:
        import torch
    except ImportError:
        return cpu_name(), None
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"{torch.cuda.get_device_name(0)}" + (f" x{n}" if n > 1 else "") + f"; host {cpu_name()}", \
            torch.get_num_threads()
    return cpu_name(), torch.get_num_threads()


def committed_text(rel: str, root: str | os.PathLike = ".") -> str | None:
    """The file `rel` as committed at git HEAD (None outside git, or where HEAD lacks it)."""
    return git(Path(root), "show", f"HEAD:{rel}")


def committed_json(rel: str, root: str | os.PathLike = ".") -> dict | None:
    """The JSON object `rel` as committed at git HEAD (None outside git, where HEAD lacks it, or
    where it is not a JSON object)."""
    text = committed_text(rel, root)
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def numerics_state(root: str | os.PathLike = ".") -> dict:
    """This run's numerics (metrics/numerics.json) against the committed run's: {"fingerprint",
    "committed", "same_floats", "settings"}. same_floats is True when the fingerprints agree and
    when there is nothing to compare with (no committed file: the first run is the reference)."""
    path = Path(root) / NUMERICS
    try:
        here = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        here = {}
    committed = committed_json(NUMERICS, root) or {}
    fp, ref = here.get("fingerprint"), committed.get("fingerprint")
    return {"fingerprint": fp, "committed": ref, "same_floats": ref is None or fp == ref,
            "settings": here.get("settings"), "cpu": here.get("cpu"), "committed_cpu": committed.get("cpu")}


def training_wall_time(timing_dir: str | os.PathLike = TIMING_DIR) -> tuple[float | None, int]:
    """(sum of wall_s over timing_dir/**/*.json, number of files); (None, 0) when there are none."""
    total, runs = 0.0, 0
    for path in sorted(Path(timing_dir).rglob("*.json")):
        try:
            wall = json.loads(path.read_text(encoding="utf-8")).get("wall_s")
        except (OSError, ValueError, AttributeError):
            continue                       # a half-written or foreign file is not a run
        if isinstance(wall, (int, float)):
            total, runs = total + float(wall), runs + 1
    return (round(total, 1) if runs else None), runs


def provenance(root: str | os.PathLike = ".", timing_dir: str | os.PathLike | None = None,
               params_changed: list[str] | None = None) -> dict:
    """params_changed: keys where params.yaml differs from its profile as committed
    (tilelli.stage.changed_from_profile; [] = the committed study, None = not checked)."""
    root = Path(root)
    commit = git(root, "rev-parse", "HEAD")
    status = git(root, "status", "--porcelain", "--", *RESULT_PATHS)
    device, threads = device_and_threads()
    wall, runs = training_wall_time(root / TIMING_DIR if timing_dir is None else timing_dir)
    return {
        "git_commit": commit.strip() if commit else None,
        "git_dirty": None if status is None else bool(status.strip()),
        "dvc_experiment": os.environ.get("DVC_EXP_NAME"),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "dvc": _version("dvc"),
        "device": device,
        "torch_threads": threads,
        "train_wall_s": wall,
        "train_runs": runs,
        "params_changed": params_changed,
        "numerics": numerics_state(root),
    }


def _duration(seconds: float) -> str:
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def _numerics_line(n: dict | None) -> str:
    if not n or not n.get("fingerprint"):
        return ""
    s = n.get("settings") or {}
    how = (f"pinned ({', '.join(f'{k}={v}' for k, v in (s.get('env') or {}).items())}, oneDNN off, "
           f"{s.get('threads')} threads)" if s.get("mode") == "pinned" else
           f"native (unpinned: ATen {s.get('cpu_capability')}, {s.get('threads')} threads; depends on the CPU)")
    same = ("the committed run's" if n.get("committed") and n.get("same_floats") else
            "no committed run to compare" if not n.get("committed") else
            f"**differs** from the committed run's `{n['committed']}` ({n.get('committed_cpu')}): this machine "
            "rounds differently, so its models are not the committed ones")
    return f"- Numerics: {how}; fingerprint `{n['fingerprint']}` = {same}\n"


def provenance_markdown(p: dict) -> str:
    """A short block to put under a document's title (ends with a blank line)."""
    if p.get("git_commit"):
        code = f"commit `{p['git_commit'][:12]}`" + (
            " + uncommitted changes" if p.get("git_dirty") else " (clean)" if p.get("git_dirty") is False else "")
    else:
        code = "not a git checkout"
    if p.get("dvc_experiment"):
        code += f", DVC experiment `{p['dvc_experiment']}`"
    threads = f", {p['torch_threads']} torch threads" if p.get("torch_threads") else ""
    wall = (f"{_duration(p['train_wall_s'])} (sum of {p['train_runs']} training runs in {TIMING_DIR}/)"
            if p.get("train_wall_s") is not None else f"not recorded here (no {TIMING_DIR}/: models pulled or trained elsewhere)")
    changed = p.get("params_changed")
    params = "" if changed is None else "- Params: the committed profile\n" if not changed else (
        f"- Params: **an experiment**, differing from the committed profile at {describe_keys(changed, 4)}. The "
        "expected verdicts were registered for the committed params, so a verdict not as expected is what "
        "this experiment moved, not a failure\n")
    return (f"- Code: {code}\n{params}{_numerics_line(p.get('numerics'))}"
            f"- Versions: Python {p.get('python')}, torch {p.get('torch')}, DVC {p.get('dvc')}\n"
            f"- Device: {p.get('device')}{threads}\n"
            f"- Training wall time: {wall}\n\n")
