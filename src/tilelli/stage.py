"""What every stage script shares: params, logging of the resolved config, one-line errors.

    from tilelli.stage import run, load_params
    def main(params): ...
    if __name__ == "__main__":
        run(main)

A stage runs under `dvc repro` or on its own (`python -m stages.pretrain`), reading params.yaml
from the repository root (or $TILELLI_PARAMS). `TilelliError` and a missing file become
`error: <message>` on stderr and exit code 2; other exceptions keep their traceback (bugs).

Params: composed from conf/
---------------------------
Compose params.yaml from conf/ exactly as `dvc exp run` does (DVC's Hydra integration).

    tilelli params                      # rewrite params.yaml from conf/ (tiny profile)
    tilelli params profile=paper        # the paper profile, e.g. for a GPU box without dvc
    tilelli params profile=paper pretrain.steps=7 --output /tmp/params.yaml
    tilelli params --check              # exit 2 unless params.yaml is conf/ composed (the drift check)

conf/config.yaml picks a profile (conf/profile/{tiny,paper}.yaml, both `@package _global_`),
interpolations such as `${metacog_weight}` are resolved, and the result is written with DVC's
own YAML dumper, so the committed params.yaml is byte-identical to what `dvc exp run -S ...`
writes (a test checks that params.yaml equals the composed tiny profile). Overrides given to
`tilelli params` are recorded at the end of the file as a top-level `overrides:` list (none:
no key, so the default file stays identical to DVC's), which is what lets the check replay them.

Drift: an edit to conf/ that was never recomposed leaves `dvc repro` running on stale params.
`check_composed` composes conf/ again (with the recorded overrides) and compares the parsed
result with params.yaml; any difference is one TilelliError line naming up to three differing
keys and the command that recomposes. It is skipped inside `dvc exp run`, which sets
DVC_EXP_NAME / DVC_EXP_BASELINE_REV for its stages (dvc/repo/experiments/queue/base.py) and
recomposes params.yaml itself when given -S; Hydra composition takes about a second.

Experiments: `changed_from_profile` compares loaded params with their profile as committed (conf/
composed with only `profile=<profile>`), ignoring the recorded `overrides:` list. An empty answer
means the committed study; otherwise the keys a `dvc exp run -S ...` (or `tilelli params k=v`)
changed. `verify` gates on the pre-registered verdicts only in the first case. `launcher` and
`device` say how a run executes (torchrun on 8 GPUs, cuda) and never make it an experiment.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

import yaml

from tilelli.io import TilelliError


def load_params(path: str | os.PathLike | None = None) -> dict:
    path = Path(path or os.environ.get("TILELLI_PARAMS", "params.yaml"))
    if not path.is_file():
        raise TilelliError(f"{path}: params file not found (run from the repository root)")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise TilelliError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise TilelliError(f"{path}: expected a mapping at the top level")
    return params


def param(params: dict, key: str):
    """params[key] for a dotted key (a section or a scalar), or a clear error naming the missing key."""
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise TilelliError(f"params.yaml: missing key '{key}'")
        value = value[part]
    return value


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def quiet() -> bool:
    """Progress bars off on CI (CI=true): stages then log one line per evaluation instead."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _numerics_for(params: dict) -> None:
    """Params `deterministic` (default true) chooses pinned or native numerics (tilelli/numerics.py).
    The pinned variables must be set before torch starts, so a stage whose params ask for the other
    mode than its environment gives is re-executed once with TILELLI_NUMERICS set accordingly."""
    from tilelli import numerics
    want = params.get("deterministic", True)
    if not isinstance(want, bool):
        raise TilelliError(f"params.yaml: deterministic={want!r}: expected true or false")
    if want != numerics.pinned():
        if os.environ.get("TILELLI_REEXEC"):
            raise TilelliError(f"params deterministic={want} but {numerics.MODE_VAR} is "
                               f"{os.environ.get(numerics.MODE_VAR)!r}: unset it")
        env = dict(numerics.environ_for("pinned" if want else "native"), TILELLI_REEXEC="1")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    numerics.check(torch_loaded="torch" in sys.modules)


def run(main, params_path: str | None = None) -> None:
    """Load params, log the stage name, argv and its params, call main(params); one-line errors."""
    try:
        params = load_params(params_path)
        _numerics_for(params)
        log(f"[{Path(sys.argv[0]).stem}] argv={sys.argv[1:]} profile={params.get('profile')} "
            f"numerics={os.environ.get('TILELLI_NUMERICS', 'pinned')}")
        main(params)
    except TilelliError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as e:
        print(f"error: {e.filename or e}: file not found (did the upstream stage run?)", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


def dump_config(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)


# ---------------------------------------------------------------------------------------------
# Params: compose params.yaml from conf/, check it, and say what an experiment changed
# ---------------------------------------------------------------------------------------------
CONF_DIR = "conf"
OVERRIDES_KEY = "overrides"
EXPERIMENT_ENV = ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV")
EXECUTION_KEYS = ("launcher", "device")   # how a run executes, not what it computes: never an "experiment"


def compose(overrides: list[str] | None = None, output: str | Path = "params.yaml",
            conf_dir: str | Path = CONF_DIR) -> Path:
    try:
        from dvc.utils.hydra import compose_and_dump
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException
    except ImportError as e:  # pragma: no cover - dvc is a pinned dependency
        raise TilelliError(f"composing params needs dvc and hydra-core ({e.name} missing)") from None
    conf_dir = Path(conf_dir).resolve()
    if not (conf_dir / "config.yaml").is_file():
        raise TilelliError(f"{conf_dir}/config.yaml not found (run from the repository root)")
    overrides = [str(o) for o in overrides or []]
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp{output.suffix}")
    try:
        compose_and_dump(tmp, str(conf_dir), None, "config", None, overrides)
        if overrides:
            with open(tmp, "a", encoding="utf-8") as f:
                f.write(yaml.safe_dump({OVERRIDES_KEY: overrides}, sort_keys=False))
        tmp.replace(output)
    except (HydraException, OmegaConfBaseException) as e:
        raise TilelliError(f"cannot compose params: {str(e).splitlines()[0]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return output


def _diff(a, b, prefix: str = "") -> list[str]:
    """Dotted keys where two parsed YAML trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b), key=str)
                for k in _diff(a.get(key), b.get(key), f"{prefix}{key}.")] if a != b else []
    return [prefix.rstrip(".") or "(root)"] if a != b else []


def describe_keys(keys: list[str], shown: int = 3) -> str:
    """'a, b, c and 2 more'."""
    return ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _compose_loaded(overrides: list[str], conf_dir) -> dict:
    with tempfile.TemporaryDirectory(prefix="tilelli-params-") as tmp:
        return load_params(compose(overrides, Path(tmp) / "params.yaml", conf_dir))


def changed_from_profile(params: dict, conf_dir: str | Path = CONF_DIR) -> list[str]:
    """Dotted keys where the loaded params differ from their profile as committed ([] for the committed study)."""
    profile = params.get("profile")
    if not profile:
        raise TilelliError("params: missing top-level 'profile' (tiny | paper)")
    current = {k: v for k, v in params.items() if k != OVERRIDES_KEY}
    committed = _compose_loaded([f"profile={profile}"], conf_dir)
    committed.pop(OVERRIDES_KEY, None)
    return [k for k in _diff(committed, current) if k.split(".")[0] not in EXECUTION_KEYS]


def check_composed(params_path: str | Path = "params.yaml", conf_dir: str | Path = CONF_DIR) -> bool:
    """Raise TilelliError unless params_path equals conf/ composed with its recorded overrides.

    Returns True when checked, False when skipped inside `dvc exp run` (which composes
    params.yaml from conf/ itself when given -S; a plain `dvc exp run` uses params.yaml as is).
    """
    if any(os.environ.get(k) for k in EXPERIMENT_ENV):
        return False
    current = load_params(params_path)
    overrides = current.get(OVERRIDES_KEY) or []
    if not isinstance(overrides, list):
        raise TilelliError(f"{params_path}: '{OVERRIDES_KEY}' must be a list of Hydra overrides")
    keys = _diff(_compose_loaded(overrides, conf_dir), current)
    if keys:
        shown = describe_keys(keys)
        cmd = shlex.join(["tilelli", "params", *overrides])
        raise TilelliError(f"{params_path} is out of date with {conf_dir}/ (differs at {shown}): run `{cmd}` "
                           f"to recompose it (or `dvc exp run -S ...`), then commit it")
    return True
