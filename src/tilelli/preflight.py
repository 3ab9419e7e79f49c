"""The preflight: the paper profile's whole DAG on CPU, at paper shapes with a handful of steps.

    make preflight                                  # = python -m tilelli.preflight
    python -m tilelli.preflight --keep              # keep the scratch copy even on success
    python -m tilelli.preflight --target pretrain@0 --skip-checks -o pretrain.precision=fp16

Why. The users' real run is `dvc exp run -S profile=paper` on a rented GPU; before this, nothing
ran that path (compile, bf16 autocast, 10M models at seq 256, the paper expectations of verify).
Here conf/profile/preflight.yaml (paper.yaml with step counts, batches, cadence, corpus size and
device cut; tests/test_preflight.py pins which keys may differ) runs every stage with `dvc repro`:

1. copy the working tree (git-tracked files and untracked, not ignored ones: local edits count)
   into a scratch directory (a temp dir, or --dir), `git init` + commit there (provenance reads
   git), so the workspace's params.yaml, dvc.lock, outputs and DVC cache are never touched;
2. compose params.yaml there for `profile=preflight` (+ any -o Hydra overrides, recorded in
   params.yaml as `tilelli params` does, so the params_check stage passes);
3. `dvc repro` (or `dvc repro TARGET...`) there, with this interpreter's bin/ first on PATH and
   the copy's src/ on PYTHONPATH, so the stages run the copied code;
4. the paper-path checks that no stage makes (`checks()`, in a fresh process in the copy):
   checkpoint save/resume of a bf16 + compiled run at paper size gives the uninterrupted run's
   weights, and cached generation equals recompute at seq 256 in fp32 and under bf16 autocast.

Success: one summary line, the scratch copy is deleted (kept with --keep), exit 0. Failure: one
line `preflight: stage '<stage>' failed: <its last error line> (workspace kept: <dir>)` on
stderr, exit 1; the stage's full output is above it and the copy is kept for inspection.

Cost: the summary line gives the run's wall time (measured runs: docs/LOG.md); CI runs it (.ci/run).
torch.compile's inductor cache (TORCHINDUCTOR_CACHE_DIR, default <scratch parent>/tilelli-
preflight-inductor-<ATEN_CPU_CAPABILITY or native>) is kept between runs and shared by every
training process: a compile from the on-disk cache takes a fraction of a cold one.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from tilelli import paths
from tilelli.io import TilelliError
from tilelli.provenance import git
from tilelli.study import PREFLIGHT as PROFILE
FAILED = re.compile(r"failed to reproduce '([^']+)'")


class StepFailed(TilelliError):
    """A preflight step failed; str() is the one line to print."""


def copy_tree(root: Path, dest: Path) -> int:
    """Copy git-tracked and untracked-but-not-ignored files of `root` into `dest` (the tree a fresh
    clone plus local edits would have; no .venv, data/ outputs, DVC cache or checkpoints)."""
    names = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                check=True, timeout=120).split("\0")
    n = 0
    for name in filter(None, dict.fromkeys(names)):
        src = root / name
        if not src.is_file():          # deleted in the work tree, or a submodule
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
        n += 1
    return n


def _env(scratch: Path, inductor_cache: Path, bin_dir: Path | None = None) -> dict:
    """The stages' environment: the machine's own, NOT this process's. Importing tilelli pinned
    ATEN_CPU_CAPABILITY=avx2 here (tilelli.numerics), and a child inherits it as if the machine had
    set it, so a `deterministic: false` stage stayed on AVX2 kernels. On this AVX-512/AMX VM that
    crashed the first preflight in the vanilla A/B arm (compiled bf16 SDPA on CPU: "pack_vnni2 is
    only supported when avx512 is supported"). Each stage pins or not from its own params."""
    from tilelli import numerics

    env = numerics.environ_for("native")
    if numerics.MODE_VAR in os.environ:
        env[numerics.MODE_VAR] = os.environ[numerics.MODE_VAR]
    else:
        env.pop(numerics.MODE_VAR, None)
    env["PATH"] = f"{bin_dir or Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(scratch / "src"), *filter(None, [env.get("PYTHONPATH")])])
    # inductor's cache key ignores ATEN_CPU_CAPABILITY: a graph compiled under the pinned AVX2
    # capability and loaded by a native process crashed it (malloc: unaligned tcache chunk)
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", f"{inductor_cache}-{env.get('ATEN_CPU_CAPABILITY', 'native')}")
    for key in ("TILELLI_PARAMS", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"):   # the copy's own params.yaml
        env.pop(key, None)
    return env


def _stream(cmd: list[str], cwd: Path, env: dict, log_path: Path) -> tuple[int, list[str], int]:
    """Run `cmd`, echo its output, keep it in `log_path`; returns (exit code, the last 400 lines,
    the number of DVC "Running stage" lines in the whole output)."""
    tail: deque[str] = deque(maxlen=400)
    stages = 0
    with open(log_path, "a", encoding="utf-8") as log, subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", bufsize=1) as proc:
        for line in proc.stdout:
            sys.stderr.write(line)
            log.write(line)
            tail.append(line.rstrip("\n"))
            stages += line.startswith("Running stage '")
    return proc.returncode, list(tail), stages


def _error_line(lines: list[str]) -> str:
    """The stage's own one-line error (`error: ...`, tilelli.stage.run), else the last line of a
    traceback, else DVC's last ERROR line."""
    for pattern in (r"^error: ", r"^\w*(Error|Exception)\b.*: ", r"^ERROR: "):
        hits = [line for line in lines if re.match(pattern, line)]
        if hits:
            return hits[-1].strip()
    return (lines[-1].strip() if lines else "no output")


def reproduce(scratch: Path, env: dict, targets: list[str], log_path: Path) -> int:
    """`dvc repro [targets]` in the copy; returns the number of stages run, or raises StepFailed
    naming the stage DVC reports as failed (`ERROR: failed to reproduce '<stage>'`)."""
    code, lines, stages = _stream([sys.executable, "-m", "dvc", "repro", *targets], scratch, env, log_path)
    if code:
        stage = next((m.group(1) for line in reversed(lines) for m in [FAILED.search(line)] if m), None)
        running = [m.group(1) for line in lines for m in [re.search(r"Running stage '([^']+)'", line)] if m]
        stage = stage or (running[-1] if running else "dvc repro")
        raise StepFailed(f"stage '{stage}' failed: {_error_line(lines)}")
    return stages


def preflight(root: Path, *, targets: list[str], overrides: list[str], scratch_dir: Path | None,
              keep: bool, skip_checks: bool, bin_dir: Path | None = None) -> str:
    """Run the preflight; return the summary line (raises StepFailed with the failure line)."""
    from tilelli.stage import compose

    start = time.monotonic()
    base = Path(scratch_dir) if scratch_dir else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="tilelli-preflight-", dir=base))
    env = _env(scratch, base / "tilelli-preflight-inductor", bin_dir)
    log_path = scratch / "preflight.log"
    ok = False
    try:
        n = copy_tree(root, scratch)
        for args in (["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=preflight", "-c", "user.email=preflight@localhost",
                      "commit", "-q", "--no-verify", "-m", "preflight copy"]):
            git(scratch, *args, check=True, timeout=120)
        print(f"preflight: {n} files copied to {scratch}", file=sys.stderr, flush=True)
        try:
            compose([f"profile={PROFILE}", *overrides], scratch / "params.yaml", scratch / "conf")
        except TilelliError as e:
            raise StepFailed(f"stage 'params' failed: {e}") from None
        stages = reproduce(scratch, env, targets, log_path)
        if not skip_checks:
            code, lines, _ = _stream(["python", "-m", "tilelli.preflight", "--checks"], scratch, env, log_path)
            if code:
                raise StepFailed(f"stage 'checks' failed: {_error_line(lines)}")
        ok = True
        minutes = (time.monotonic() - start) / 60
        return (f"preflight: {stages} stages of the {PROFILE} profile ran "
                f"{'and the paper-path checks passed ' if not skip_checks else ''}in {minutes:.1f} min")
    except StepFailed as e:
        raise StepFailed(f"{e} (workspace kept: {scratch})") from None
    finally:
        if ok and not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        elif ok:
            print(f"preflight: workspace kept: {scratch}", file=sys.stderr)


# --- the paper-path checks no stage makes (run in the scratch copy by `--checks`) -----------------

GEN_TOL = {"fp32": 1e-4, "bf16": 5e-2}   # max |cached - recompute| of a logit (atol = rtol), per precision


class _Interrupt(Exception):
    pass


def check_resume(params: dict) -> str:
    """A compiled bf16 pretrain of the paper model, interrupted after its first checkpoint and
    resumed, ends with exactly the weights of an uninterrupted run (same process, same kernels)."""
    import torch

    from tilelli.model import TilelliLM
    from tilelli.train import TrainConfig
    from tilelli.train.loop import train

    section = {**params["pretrain"], "steps": 4, "ckpt_every": 2, "eval_every": 4}
    cfg = TrainConfig.from_params(section, "pretrain")
    if not (cfg.compile and cfg.precision == "bf16"):
        raise TilelliError(f"params pretrain: expected compile: true and precision: bf16 (the paper path), "
                           f"got compile={cfg.compile}, precision={cfg.precision}")

    def batch_fn(step, micro, rank, world, stop_at=None):
        if step == stop_at:
            raise _Interrupt
        g = torch.Generator().manual_seed(1000 + step)
        x = torch.randint(0, 256, (cfg.batch_size, cfg.seq_len + 1), generator=g)
        return {"x": x[:, :-1], "y": x[:, 1:]}

    from tilelli.train.loop import lm_loss
    runs = {}
    # One thread. At 2 threads this check failed on its first run: 2 tensors differed after resume,
    # the first embed.weight, all others bit-identical (so the optimizer and step state were
    # restored). The likely cause, not yet isolated: inductor's CPU backward of the embedding is a
    # parallel scatter-add whose summation order follows the threads. At 1 thread it passes; resume
    # is what is checked here, so the order is fixed.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="preflight-resume-") as tmp:
            for name, stop_at in (("straight", None), ("resumed", 2)):
                kw = dict(out_dir=f"{tmp}/{name}/out", state_dir=f"{tmp}/{name}/state",
                          log_dir=f"{tmp}/{name}/log", device="cpu")
                model = TilelliLM.from_config(params["model"]["name"], seed=0)
                if stop_at is not None:
                    try:
                        train(model, cfg, lambda *a: batch_fn(*a, stop_at=stop_at), lm_loss, **kw)
                    except _Interrupt:
                        pass
                    else:
                        raise TilelliError("resume check: the interrupted run was not interrupted")
                    if not (Path(kw["state_dir"]) / "state.json").is_file():
                        raise TilelliError("resume check: no checkpoint was written at step 2")
                    model = TilelliLM.from_config(params["model"]["name"], seed=0)
                summary = train(model, cfg, batch_fn, lm_loss, **kw)
                runs[name] = TilelliLM.from_pretrained(kw["out_dir"]).state_dict()
            resumed_from = summary["timing"]["resumed_from"]
    finally:
        torch.set_num_threads(threads)
    if resumed_from != 2:
        raise TilelliError(f"resume check: the second call resumed from step {resumed_from}, expected 2")
    differ = [k for k in runs["straight"] if not torch.equal(runs["straight"][k], runs["resumed"][k])]
    if differ:
        raise TilelliError(f"resume check: {len(differ)} tensors differ after resume (first: {differ[0]})")
    n = sum(t.numel() for t in runs["straight"].values())
    return f"resume: {params['model']['name']} ({n:,} weights), compile + bf16, resumed at step 2 of 4: bit-identical (1 thread)"


def check_generation(params: dict, model_dir: str) -> str:
    """Greedy decoding past the paper context (seq 256: a 220-byte prompt + 48 bytes, so the cache
    window slides): with the KV/conv caches, every step's logits equal a full recompute within
    GEN_TOL, in fp32 and under CPU bf16 autocast (bf16 keeps 8 mantissa bits: logits of size ~5
    round at ~0.02, so 5e-2 absolute + relative is the bf16 tolerance)."""
    import torch

    from tilelli.model import TilelliLM
    from tilelli.model.lm import IncrementalDecoder

    lm = TilelliLM.from_pretrained(model_dir).eval()
    seq_len = params["pretrain"]["seq_len"]
    if lm.config.max_seq != seq_len:
        raise TilelliError(f"generation check: {model_dir} has max_seq {lm.config.max_seq}, params seq_len {seq_len}")
    prompt = list((b"USER: " + b"Where does the river meet the sea, and why? " * 8)[:seq_len - 36])
    steps = params["probe"]["gen_bytes"]
    worst = {}
    for precision, tol in GEN_TOL.items():
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cpu", enabled=False)
        seqs = {}
        logits = {}
        for use_cache in (True, False):
            dec, seq, last, out = IncrementalDecoder(lm, use_cache), list(prompt), None, []
            with torch.no_grad(), ctx:
                for i in range(steps):
                    step = dec.next_logits([seq], last).float()
                    out.append(step)
                    # teacher-forced on the cached path's choice, so both see the same bytes
                    nxt = seqs[True][len(prompt) + i] if not use_cache else int(step.argmax(-1))
                    last = [nxt]
                    seq.append(nxt)
            seqs[use_cache], logits[use_cache] = seq, out
        worst[precision] = max(float((a - b).abs().max()) for a, b in zip(logits[True], logits[False]))
        for i, (a, b) in enumerate(zip(logits[True], logits[False])):
            if not torch.allclose(a, b, atol=tol, rtol=tol):
                raise TilelliError(f"generation check ({precision}): cached and recomputed logits differ at step {i} "
                                   f"(position {len(prompt) + i}) by {float((a - b).abs().max()):.3g} > {tol}")
    return (f"generation: cache == recompute over positions {len(prompt)}..{len(prompt) + steps - 1} (window "
            f"{seq_len}); max |diff| fp32 {worst['fp32']:.2g} (tol {GEN_TOL['fp32']}), "
            f"bf16 {worst['bf16']:.2g} (tol {GEN_TOL['bf16']})")


def checks() -> None:
    from tilelli import study
    from tilelli.stage import load_params, log

    params = load_params()
    seed = study.study_seeds(params)[0]
    log(f"[checks] {check_resume(params)}")
    log(f"[checks] {check_generation(params, paths.model_path(study.v4_dir(seed)))}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tilelli.preflight", description=__doc__.split("\n")[0])
    ap.add_argument("--target", action="append", default=[], help="dvc repro only this stage and its upstream")
    ap.add_argument("-o", "--override", action="append", default=[], help="a Hydra override after profile=preflight")
    ap.add_argument("--dir", type=Path, help="where to make the scratch copy (default: the temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy on success too")
    ap.add_argument("--skip-checks", action="store_true", help="skip the resume and generation checks")
    ap.add_argument("--bin-dir", type=Path, help="put this bin/ (with a `python`) first on PATH for the stage "
                    "commands instead of this interpreter's (e.g. a wrapper that takes a lock)")
    ap.add_argument("--checks", action="store_true", help=argparse.SUPPRESS)   # step 4, inside the copy
    args = ap.parse_args(argv)
    if args.checks:
        from tilelli.stage import run
        sys.argv = [sys.argv[0]]
        run(lambda params: checks())
        return
    try:
        root = Path(git(Path.cwd(), "rev-parse", "--show-toplevel", check=True).strip())
        line = preflight(root, targets=args.target, overrides=args.override, scratch_dir=args.dir,
                         keep=args.keep, skip_checks=args.skip_checks, bin_dir=args.bin_dir)
    except TilelliError as e:
        print(f"preflight: {e}", file=sys.stderr)
        sys.exit(1)
    print(line, file=sys.stderr)


if __name__ == "__main__":
    main()
