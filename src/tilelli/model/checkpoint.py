"""Checkpoints: a model folder in the Hugging Face shape, written atomically, read with checks.

    models/base/v4-s0/
      model.safetensors   every parameter, FP32 latent weights (no pickle; safetensors format)
      config.json         flat, Hugging Face field names where one exists:
                          {"model_type": "tilelli", "architectures": ["TilelliLM"],
                           "torch_dtype": "float32", "vocab_size": 256, "hidden_size": d,
                           "num_hidden_layers": L, "num_attention_heads": h,
                           "max_position_embeddings": T, ...the other ModelConfig fields by name
                           (name, arch, pathways, path_dim, top_k, quantize, ...),
                           "num_parameters": N, "tilelli_format": "tilelli-checkpoint",
                           "tilelli_format_version": 2, "tilelli_version": "0.1.0",
                           "weights": {"file": "model.safetensors", "bytes": n, "sha256": hex},
                           "metadata": {...training metadata: stage, steps, summary, ...}}
      README.md           model card with the Hub's YAML header (tilelli.model.card)

Format 1 (the layout before the Hugging Face shape: {"format", "format_version": 1, "config":
{...}, "num_params", "weights", "metadata"}, no card) still loads; `tilelli convert DIR`
rewrites such a folder as format 2 without touching the weights. A folder from a newer tilelli
fails with one line saying so.

`save_pretrained` writes all files into a temporary sibling directory and renames it over the
target (tilelli.io.atomic_dir), so a crash never leaves a half checkpoint that looks complete;
a full disk removes the temporary and is one TilelliError line naming the folder, the bytes the
tensors need and the bytes free, and the earlier complete folder stays.
`load_pretrained` checks, in order: the directory, config.json (JSON, model_type, format, version,
known keys), the weights file size (truncation) and its sha256 (tampering or corruption), then
rebuilds the model from the stored config and loads the tensors with strict key and shape checks.
Every failure is one TilelliError line naming the file and what to do. Nothing here unpickles:
safetensors holds only raw tensors and a JSON header.

The LM head is untied from the byte embedding, so no two parameters share storage (safetensors
refuses shared tensors). The abstain head lives under `abstain.` (abstain.weight [1, d],
abstain.bias [1]) so it can be grafted onto another base with `load_state_dict(strict=False)`.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tilelli.errors import TilelliError
from tilelli.io import atomic_dir, read_json, sha256_file
from tilelli.model.config import config_from_dict

FORMAT = "tilelli-checkpoint"
FORMAT_VERSION = 2
READS = (1, 2)
MODEL_TYPE = "tilelli"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "README.md"
# ModelConfig field -> Hugging Face config name (the rest keep their own names).
HF_NAMES = {"d_model": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
            "max_seq": "max_position_embeddings"}
RESERVED = ("model_type", "architectures", "torch_dtype", "num_parameters", "tilelli_format",
            "tilelli_format_version", "tilelli_version", "weights", "metadata")


def config_json(config: dict, num_params: int, weights: dict, metadata: dict) -> dict:
    """The flat format-2 config.json for a ModelConfig dict (asdict) and its weights record."""
    from tilelli import __version__

    return {"model_type": MODEL_TYPE, "architectures": ["TilelliLM"], "torch_dtype": "float32",
            **{HF_NAMES.get(k, k): v for k, v in config.items()},
            "num_parameters": num_params, "tilelli_format": FORMAT, "tilelli_format_version": FORMAT_VERSION,
            "tilelli_version": __version__, "weights": weights, "metadata": metadata}


def _write_folder(tmp: Path, config: dict, num_params: int, metadata: dict, path) -> None:
    """config.json + README.md (the basic card for the folder's final `path`) next to tmp/model.safetensors."""
    from tilelli.model.card import model_name, render_card

    weights = {"file": WEIGHTS, "bytes": (tmp / WEIGHTS).stat().st_size, "sha256": sha256_file(tmp / WEIGHTS)}
    doc = config_json(config, num_params, weights, metadata)
    (tmp / CONFIG).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    card = render_card(normalise(doc, tmp / CONFIG), name=model_name(path), ref=str(path))
    (tmp / CARD).write_text(card, encoding="utf-8")


def tensor_bytes(tensors: dict) -> int:
    """The bytes of the tensors' data (what a safetensors file of them needs, less its header)."""
    return sum(t.numel() * t.element_size() for t in tensors.values())


def save_pretrained(lm, path, metadata: dict | None = None) -> None:
    metadata = dict(metadata or {})
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise TilelliError(f"checkpoint metadata must be JSON-serialisable: {e}") from None
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in lm.state_dict().items()}
    # A full disk is one line naming the folder, these bytes and the free space (tilelli.io).
    with atomic_dir(path, need=tensor_bytes(tensors)) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt"})
        _write_folder(tmp, asdict(lm.config), lm.num_params(), metadata, path)


def normalise(doc: dict, where: Path) -> dict:
    """Any readable config.json -> {"format_version", "config", "num_params", "weights", "metadata"}."""
    if not isinstance(doc, dict):
        raise TilelliError(f"{where}: expected a JSON object")
    if doc.get("format") == FORMAT:                                  # format 1: nested config
        version, config, num_params = doc.get("format_version"), doc.get("config"), doc.get("num_params")
    elif doc.get("model_type") == MODEL_TYPE:                        # format 2: flat
        version, num_params = doc.get("tilelli_format_version"), doc.get("num_parameters")
        back = {v: k for k, v in HF_NAMES.items()}
        config = {back.get(k, k): v for k, v in doc.items() if k not in RESERVED}
    elif "model_type" in doc:
        raise TilelliError(f"{where}: model_type {doc['model_type']!r} is not a Tilelli model; "
                           "tilelli loads folders written by save_pretrained (model_type 'tilelli')")
    else:
        raise TilelliError(f"{where}: not a Tilelli config (no model_type 'tilelli' or format '{FORMAT}')")
    if version not in READS:
        raise TilelliError(f"{where}: format version {version!r} is not readable by this tilelli (reads "
                           f"{', '.join(map(str, READS))}); upgrade tilelli, or re-save the model with this one")
    if not isinstance(config, dict):
        raise TilelliError(f"{where}: missing the model config")
    if not isinstance(doc.get("weights"), dict) or "sha256" not in doc["weights"]:
        raise TilelliError(f"{where}: missing the weights sha256; the checkpoint is incomplete")
    return {"format_version": version, "config": config, "num_params": num_params,
            "weights": doc["weights"], "metadata": doc.get("metadata", {})}


def read_config(path) -> dict:
    """The parsed, format-checked config.json of a checkpoint directory (normalised, see above)."""
    path = Path(path)
    if not path.exists():
        raise TilelliError(f"{path}: model directory not found (`dvc pull` or `dvc repro` builds the "
                           "pipeline's models; a Hub id is org/name)")
    if not path.is_dir():
        raise TilelliError(f"{path}: not a directory; expected a checkpoint directory written by save_pretrained")
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise TilelliError(f"{cfg_path}: missing; {path} is not a checkpoint written by save_pretrained")
    try:
        doc = read_json(cfg_path)
    except TilelliError as e:
        raise TilelliError(f"{e}; the checkpoint is corrupt") from None
    return normalise(doc, cfg_path)


def verified_weights(path: Path, doc: dict) -> Path:
    """The weights file after the size and sha256 checks against config.json."""
    weights = path / doc["weights"].get("file", WEIGHTS)
    if not weights.is_file():
        raise TilelliError(f"{weights}: weights file missing")
    size = weights.stat().st_size
    if "bytes" in doc["weights"] and size != doc["weights"]["bytes"]:
        raise TilelliError(f"{weights}: {size} bytes, config.json says {doc['weights']['bytes']}; "
                           "the file is truncated or was replaced")
    if sha256_file(weights) != doc["weights"]["sha256"]:
        raise TilelliError(f"{weights}: sha256 does not match config.json; the file is corrupt or tampered")
    return weights


def load_pretrained(path, model_cls):
    """The model in folder `path`: model_cls(config) (TilelliLM, passed in so that this module never
    imports the model it stores) with the checked tensors loaded, in eval mode, `.metadata` set."""
    path = Path(path)
    doc = read_config(path)
    weights = verified_weights(path, doc)
    config = config_from_dict(doc["config"])
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise TilelliError(f"{weights}: cannot read safetensors ({e})") from None
    lm = model_cls(config)
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


def export_folder(src, dst, card: str | None = None) -> Path:
    """Copy a verified checkpoint to `dst` in format 2 (weights byte-identical), with `card` as README.md.

    `tilelli convert` (format 1 -> 2, card = the basic card) and `push_to_hub` (card = the full
    card with verdicts) both go through here; dst is written atomically and may equal src.
    """
    src, dst = Path(src), Path(dst)
    doc = read_config(src)
    weights = verified_weights(src, doc)
    config = asdict(config_from_dict(doc["config"]))   # validated; fills fields added since
    with atomic_dir(dst) as tmp:
        shutil.copyfile(weights, tmp / WEIGHTS)
        _write_folder(tmp, config, doc["num_params"], doc["metadata"], dst)
        if card is not None:
            (tmp / CARD).write_text(card, encoding="utf-8")
    return dst
