"""Checkpoints: a directory with `model.safetensors` and `config.json`, written atomically.

    models/v4/
      model.safetensors   every parameter, FP32 latent weights (no pickle; safetensors format)
      config.json         {"format": "tilelli-checkpoint", "format_version": 1,
                           "config": {...ModelConfig, incl. quantize...}, "num_params": N,
                           "weights": {"file": "model.safetensors", "bytes": n, "sha256": hex},
                           "metadata": {...training metadata: stage, steps, params, argv...}}

`save_pretrained` writes both files into a temporary sibling directory and renames it over the
target (tilelli.io.atomic_dir), so a crash never leaves a half checkpoint that looks complete.
`load_pretrained` checks, in order: the directory, config.json (JSON, format, version), the
weights file size (truncation) and its sha256 (tampering or corruption), then rebuilds the model
from the stored config and loads the tensors with strict key and shape checks. Every failure is
one TilelliError line naming the file and what to do. Nothing here unpickles: safetensors
holds only raw tensors and a JSON header.

The LM head is untied from the byte embedding, so no two parameters share storage (safetensors
refuses shared tensors). The abstain head lives under `abstain.` (abstain.weight [1, d],
abstain.bias [1]) so it can be grafted onto another base with `load_state_dict(strict=False)`.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tilelli.errors import TilelliError
from tilelli.io import atomic_dir, sha256_file
from tilelli.model.config import config_from_dict

FORMAT = "tilelli-checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_pretrained(lm, path, metadata: dict | None = None) -> None:
    metadata = dict(metadata or {})
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise TilelliError(f"checkpoint metadata must be JSON-serialisable: {e}") from None
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in lm.state_dict().items()}
    with atomic_dir(path) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt"})
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": asdict(lm.config),
            "num_params": lm.num_params(),
            "weights": {"file": WEIGHTS, "bytes": (tmp / WEIGHTS).stat().st_size,
                        "sha256": sha256_file(tmp / WEIGHTS)},
            "metadata": metadata,
        }
        (tmp / CONFIG).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def read_config(path) -> dict:
    """The parsed, format-checked config.json of a checkpoint directory."""
    path = Path(path)
    if not path.exists():
        raise TilelliError(f"{path}: model directory not found")
    if not path.is_dir():
        raise TilelliError(f"{path}: not a directory; expected a checkpoint directory written by save_pretrained")
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise TilelliError(f"{cfg_path}: missing; {path} is not a checkpoint written by save_pretrained")
    try:
        doc = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TilelliError(f"{cfg_path}: not valid JSON ({e}); the checkpoint is corrupt") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "config" not in doc:
        raise TilelliError(f"{cfg_path}: not a {FORMAT} config (missing 'format' or 'config')")
    if doc.get("format_version") != FORMAT_VERSION:
        raise TilelliError(f"{cfg_path}: format_version {doc.get('format_version')!r} is not supported "
                           f"(this tilelli reads version {FORMAT_VERSION})")
    if not isinstance(doc.get("weights"), dict) or "sha256" not in doc["weights"]:
        raise TilelliError(f"{cfg_path}: missing the weights sha256; the checkpoint is incomplete")
    return doc


def load_pretrained(path):
    from tilelli.model.lm import TilelliLM

    path = Path(path)
    doc = read_config(path)
    weights = path / doc["weights"].get("file", WEIGHTS)
    if not weights.is_file():
        raise TilelliError(f"{weights}: weights file missing")
    size = weights.stat().st_size
    if "bytes" in doc["weights"] and size != doc["weights"]["bytes"]:
        raise TilelliError(f"{weights}: {size} bytes, config.json says {doc['weights']['bytes']}; "
                           "the file is truncated or was replaced")
    if sha256_file(weights) != doc["weights"]["sha256"]:
        raise TilelliError(f"{weights}: sha256 does not match config.json; the file is corrupt or tampered")
    config = config_from_dict(doc["config"])
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise TilelliError(f"{weights}: cannot read safetensors ({e})") from None
    lm = TilelliLM(config)
    missing = sorted(set(lm.state_dict()) - set(tensors))
    unexpected = sorted(set(tensors) - set(lm.state_dict()))
    if missing or unexpected:
        raise TilelliError(f"{weights}: tensors do not match config {config.name!r} "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    try:
        with torch.no_grad():
            lm.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise TilelliError(f"{weights}: tensor shapes do not match the config ({str(e).splitlines()[-1].strip()})") from None
    lm.metadata = doc.get("metadata", {})
    lm.eval()
    return lm
