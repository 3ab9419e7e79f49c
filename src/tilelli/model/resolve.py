"""Where a model name points: a local folder, or a Hugging Face Hub id resolved through its cache.

    resolve("models/base/v4-s0")                           -> Path("models/base/v4-s0")
    resolve("TilelliLab/tilelli-v4", revision="v1.0")      -> ~/.cache/huggingface/hub/models--.../snapshots/<commit>

A name is a Hub id when it is a str `org/name`, no such path exists here, and `org` is not a local
directory either: a missing `models/base/v4-s0` (while models/ exists) stays a local path and fails with
"run `dvc pull`" (checkpoint.read_config) instead of sending a request to the Hub. Hub ids go
through `huggingface_hub.snapshot_download` (cache: HF_HUB_CACHE; HF_HUB_OFFLINE=1 reads only the
cache; revision = branch, tag or commit), fetching only config.json, model.safetensors and
README.md: safetensors only, no code from the repository is ever run (no trust_remote_code). The
folder is then checked like any local one (size and sha256 from config.json).

This lives in model/ (not tilelli.hub, the sharing side) because every stage that loads a model
imports it: dvc.yaml's `src/tilelli/model` dependency covers it, and edits to the card or push
code in tilelli.hub re-run nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

from tilelli.errors import TilelliError

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")
HUB_FILES = ["config.json", "model.safetensors", "README.md"]


def is_hub_id(name) -> bool:
    """True for a str `org/name` that is not a local path (a pathlib.Path is always local)."""
    if not isinstance(name, str):
        return False
    return (bool(REPO_ID.match(name)) and ".." not in name and not Path(name).exists()
            and not Path(name.split("/")[0]).is_dir())


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def resolve(name, revision: str | None = None, cache_dir=None, local_files_only: bool | None = None,
            token=None) -> Path:
    """The local folder for a path or a Hub id (downloaded into, or read from, the Hub cache)."""
    if not is_hub_id(name):
        if revision is not None:
            raise TilelliError(f"{name}: revision={revision!r} applies to Hub ids (org/name), not to a local folder")
        return Path(name)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise TilelliError(f"{name}: loading a Hub id needs huggingface_hub (pip install 'tilelli[hub]')") from None
    kwargs = {} if local_files_only is None else {"local_files_only": local_files_only}
    try:
        return Path(snapshot_download(name, revision=revision, cache_dir=cache_dir, token=token,
                                      allow_patterns=HUB_FILES, **kwargs))
    except (OSError, ValueError) as e:        # the Hub's errors subclass these (offline, not found)
        raise TilelliError(f"{name}: no such local folder (a pipeline model? `dvc pull` or `dvc repro` builds it), "
                           f"and as a Hub id at revision {revision or 'main'} not loadable ({one_line(e)})") from None
