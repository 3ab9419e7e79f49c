"""Resume state: model + optimizer tensors in safetensors, the rest in JSON, written atomically.

Layout of `state_dir` (checkpoints/<run>: git-ignored and outside DVC, so DVC never deletes it):
    state.safetensors   model.<name> and optim.<param index>.<key> tensors
    state.json          step, fingerprint, optimizer param_groups, the training log so far

The fingerprint hashes everything that defines the run (training config, model config, the
init checkpoint's sha256), so a run with other params never resumes from stale state. A
finished run deletes its state: a later forced re-run starts fresh. No pickle is involved.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tilelli.errors import TilelliError
from tilelli.io import atomic_dir, read_json
from tilelli.model.checkpoint import tensor_bytes


def fingerprint(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_state(state_dir, model, optimizer, step: int, fp: str, log_rows: list[dict]) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, pstate in opt["state"].items():
        for key, value in pstate.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{idx}.{key}"] = t.detach().cpu().contiguous()
    meta = {"step": step, "fingerprint": fp, "param_groups": opt["param_groups"], "log": log_rows}
    with atomic_dir(state_dir, need=tensor_bytes(tensors)) as tmp:      # a full disk: one line
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps(meta, default=list))


def load_state(state_dir, model, optimizer, fp: str):
    """Restore in place; return (step, log_rows), or None when there is nothing to resume."""
    state_dir = Path(state_dir)
    meta_path, tensor_path = state_dir / "state.json", state_dir / "state.safetensors"
    if not meta_path.is_file() or not tensor_path.is_file():
        return None
    try:
        meta = read_json(meta_path)
        tensors = load_file(str(tensor_path))
    except (TilelliError, SafetensorError, OSError) as e:
        raise TilelliError(f"{state_dir}: resume state is corrupt ({e}); delete the folder to start fresh") from None
    if meta.get("fingerprint") != fp:
        return None  # another configuration: not ours to resume
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), list(meta["log"])


def clear_state(state_dir) -> None:
    shutil.rmtree(state_dir, ignore_errors=True)
