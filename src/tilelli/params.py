"""Compose params.yaml from conf/ exactly as `dvc exp run` does (DVC's Hydra integration).

    tilelli params                      # rewrite params.yaml from conf/ (tiny profile)
    tilelli params profile=paper        # the paper profile, e.g. for a GPU box without dvc
    tilelli params profile=paper pretrain.steps=7 --output /tmp/params.yaml

conf/config.yaml picks a profile (conf/profile/{tiny,paper}.yaml, both `@package _global_`),
interpolations such as `${metacog_weight}` are resolved, and the result is written with DVC's
own YAML dumper, so the committed params.yaml is byte-identical to what `dvc exp run -S ...`
writes (a test checks that params.yaml equals the composed tiny profile).
"""
from __future__ import annotations

from pathlib import Path

from tilelli.errors import TilelliError

CONF_DIR = "conf"


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
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp{output.suffix}")
    try:
        compose_and_dump(tmp, str(conf_dir), None, "config", None, list(overrides or []))
        tmp.replace(output)
    except (HydraException, OmegaConfBaseException) as e:
        raise TilelliError(f"cannot compose params: {str(e).splitlines()[0]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return output
