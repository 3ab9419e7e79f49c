"""What every stage script shares: params, logging of the resolved config, one-line errors.

    from tilelli.stage import run, load_params
    def main(params): ...
    if __name__ == "__main__":
        run(main)

A stage runs under `dvc repro` or on its own (`python -m stages.pretrain`), reading params.yaml
from the repository root (or $TILELLI_PARAMS). `TilelliError` and a missing file become
`error: <message>` on stderr and exit code 2; other exceptions keep their traceback (bugs).
"""
from __future__ import annotations

import json
import os
import sys
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
