"""Model folders: the checkpoint format, the model card it carries, and where a model name points.

Checkpoints
-----------
Checkpoints: a model folder in the Hugging Face shape, written atomically, read with checks.

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
      README.md           model card with the Hub's YAML header (Model cards, below)

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

Model cards
-----------
Model cards: the README.md of a model folder, in the shape the Hugging Face Hub reads.

    ---                                    YAML header the Hub indexes (license, library, tags,
    license: apache-2.0                    datasets, pipeline_tag)
    library_name: tilelli
    tags: [tilelli, byte-level, routed, ...]
    pipeline_tag: text-generation
    ---
    # v4                                   body: architecture and parameter count, training data
    ...                                    and steps, validation bits/byte, files and sha256, usage,
                                           and (full card only) the claim verdicts for this model

`render_card(doc)` is a pure function of the checkpoint's config.json (as read by
read_config above) and of what the caller adds: a display name, Hub dataset ids
and claim verdicts. `save_pretrained` writes the basic card (no verdicts: those exist only after
the `verify` stage, and a DVC-tracked model folder is never rewritten after its stage);
`tilelli card --model models/base/v4-s0` and `push_to_hub` render the full one (tilelli.hub). Nothing
in a card depends on the clock, so a re-run that gives the same weights gives the same bytes.

Names and Hub ids
-----------------
Where a model name points: a local folder, or a Hugging Face Hub id resolved through its cache.

    resolve("models/base/v4-s0")                           -> Path("models/base/v4-s0")
    resolve("TilelliLab/tilelli-v4", revision="v1.0")      -> ~/.cache/huggingface/hub/models--.../snapshots/<commit>

A name is a Hub id when it is a str `org/name`, no such path exists here, and `org` is not a local
directory either: a missing `models/base/v4-s0` (while models/ exists) stays a local path and fails with
"run `dvc pull`" (read_config) instead of sending a request to the Hub. Hub ids go
through `huggingface_hub.snapshot_download` (cache: HF_HUB_CACHE; HF_HUB_OFFLINE=1 reads only the
cache; revision = branch, tag or commit), fetching only config.json, model.safetensors and
README.md: safetensors only, no code from the repository is ever run (no trust_remote_code). The
folder is then checked like any local one (size and sha256 from config.json).

This lives in model/ (not tilelli.hub, the sharing side) because every stage that loads a model
imports it: dvc.yaml's `src/tilelli/model` dependency covers it, and edits to the card or push
code in tilelli.hub re-run nothing.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tilelli import paths
from tilelli.io import TilelliError, atomic_dir, read_json, sha256_file
from tilelli.model.config import config_from_dict


# ---- Checkpoints ---------------------------------------------------------------------------------
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


# ---- Model cards ---------------------------------------------------------------------------------
LICENSE = "apache-2.0"
VERDICT_NOTE = ("Claim verdicts are not part of this folder: they exist after the pipeline's `verify` "
                "stage. `tilelli card --model <this folder>` prints the card with them.")


def model_name(model_dir) -> str:
    """models/metacog/v7-s0 -> 'metacog/v7-s0' (the name claims.yaml and metrics use)."""
    parts = Path(model_dir).parts
    if paths.MODELS in parts:
        i = len(parts) - 1 - parts[::-1].index(paths.MODELS)
        if i + 1 < len(parts):
            return "/".join(parts[i + 1:])
    return Path(model_dir).name


def _dict(x) -> dict:
    return x if isinstance(x, dict) else {}


def _architecture(cfg: dict) -> str:
    if cfg.get("arch") == "vanilla":
        return "pre-norm transformer (the parameter-matched vanilla baseline)"
    narrow = cfg.get("path_dim") and cfg["path_dim"] != cfg.get("d_model")
    path = f" at path width {cfg['path_dim']} (down/up projected)" if narrow else ""
    return f"routed block: pathways {', '.join(cfg.get('pathways', []))} mixed per token by a router{path}"


def header(doc: dict, datasets: list[str] | None = None) -> dict:
    cfg = doc["config"]
    tags = ["tilelli", "byte-level", "routed" if cfg.get("arch") == "routed" else "transformer"]
    tags += ["ternary"] if cfg.get("quantize") else []
    stage = _dict(doc.get("metadata")).get("stage")
    tags += [f"tilelli-{stage}".replace("_", "-")] if stage else []
    out = {"license": LICENSE, "library_name": "tilelli", "tags": tags}
    if datasets:
        out["datasets"] = list(datasets)
    out["pipeline_tag"] = "text-generation"
    return out


def _table(rows: list[tuple[str, str]]) -> list[str]:
    return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows if v not in (None, "")]


def _fmt(x, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if isinstance(x, float) else "" if x is None else f"{x:,}" if isinstance(x, int) else str(x)


def training_rows(meta: dict, corpus: str | None = None) -> list[tuple[str, str]]:
    summary, train = _dict(meta.get("summary")), _dict(meta.get("train"))
    files = meta.get("files") if isinstance(meta.get("files"), list) else None
    data = (", ".join(paths.sft_file(f, "train") for f in files) if files
            else corpus or (f"{paths.PACKED_DIR} (the pretraining corpus)" if meta.get("stage") in ("pretrain", "ab") else ""))
    steps = _fmt(summary.get("steps"))
    if steps and isinstance(summary.get("tokens"), int):
        steps += f" ({summary['tokens']:,} tokens; batch {train.get('batch_size')} x {train.get('seq_len')} bytes)"
    recipe = _dict(meta.get("recipe"))     # a metacog model's recipe (train/recipes.py): its weight lives here
    return [("stage", f"`{meta['stage']}`" if meta.get("stage") else ""),
            ("initialised from", f"`{paths.model_path(meta['init'])}`" if meta.get("init") else "random init"),
            ("variant", f"{meta['variant']} (metacog weight {recipe.get('weight')}, seed {meta.get('seed')})"
             if meta.get("variant") else ""),
            ("data", data),
            ("steps", steps),
            ("peak learning rate", f"{train['lr']:g}" if isinstance(train.get("lr"), (int, float)) else ""),
            ("final training loss", _fmt(summary.get("final_loss"))),
            ("validation bits/byte", _fmt(summary.get("val_bpb"))),
            ("validation loss (nats/byte)", _fmt(summary.get("val_loss")))]


def claims_section(claims: list[dict], profile: str | None) -> list[str]:
    """claims: [{id, statement, verdict, expected, measured}] (tilelli.hub.claims_for_model)."""
    lines = ["## Claim verdicts", ""]
    if not claims:
        return lines + ["No claim in claims.yaml reads this model directly.", ""]
    lines += [f"From `{paths.CLAIMS_JSON}` ({profile or 'unknown'} profile), claims whose metrics read this model:",
              "", "| claim | statement | measured | verdict | expected |", "|---|---|---|---|---|"]
    for c in claims:
        statement = str(c.get("statement", "")).replace("|", "\\|")
        lines.append(f"| {c['id']} | {statement} | {c.get('measured', '')} | **{c.get('verdict')}** "
                     f"| {c.get('expected') or ''} |")
    return lines + [""]


def render_card(doc: dict, name: str | None = None, datasets: list[str] | None = None,
                corpus: str | None = None, claims: list[dict] | None = None,
                profile: str | None = None, ref: str | None = None) -> str:
    """The README.md text. claims=None: the basic card (a note says how to get the verdicts)."""
    cfg, meta, weights = doc["config"], _dict(doc.get("metadata")), doc["weights"]
    title = name or meta.get("stage") or cfg.get("name", "tilelli model")
    ref = ref or "path/to/this/folder"
    quant = "ternary {-a, 0, +a} projections (FP32 latent weights stored)" if cfg.get("quantize") else "FP32"
    arch = [("config", f"`{cfg.get('name')}`"), ("block", _architecture(cfg)),
            ("width / layers / heads", f"d = {cfg.get('d_model')}, {cfg.get('n_layers')} layers, {cfg.get('n_heads')} heads"),
            ("context", f"{cfg.get('max_seq')} bytes (byte-level, vocabulary {cfg.get('vocab_size')})"),
            ("weights", quant), ("parameters", f"{doc['num_params']:,}")]
    lines = ["---", yaml.safe_dump(header(doc, datasets), sort_keys=False).rstrip(), "---", "",
             f"# {title}", "",
             f"A Tilelli byte-level language model with {doc['num_params']:,} parameters, built by the "
             "Tilelli reproducibility pipeline (a re-derivation of the Tilelli study of routed "
             "multi-pathway blocks and abstain-aware chat).", "",
             "## Architecture", "", *_table(arch), "",
             "## Training", "", *_table(training_rows(meta, corpus)), ""]
    lines += claims_section(claims, profile) if claims is not None else ["## Claim verdicts", "", VERDICT_NOTE, ""]
    lines += ["## Use", "", "```python", "from tilelli import TilelliLM, ByteTokenizer",
              f'lm = TilelliLM.from_pretrained("{ref}")      # a folder, or a Hub id with revision=',
              "tok = ByteTokenizer()",
              'print(tok.decode(lm.generate(tok.encode("USER: What is the capital of France?\\nTILELLI:"), max_new=48, stop=[b"\\n"])))',
              "```", "", f'    tilelli chat --model {ref} "What is the capital of France?"', "",
              "## Files", "",
              f"- `{weights['file']}`: {weights['bytes']:,} bytes, sha256 `{weights['sha256']}` "
              "(checked on every load against `config.json`)",
              "- `config.json`: flat config (`model_type: tilelli`, Hugging Face field names where they exist), "
              "the weights' size and sha256 under `weights`, training metadata under `metadata`",
              "- safetensors only: loading never unpickles and never runs code from the folder", ""]
    return "\n".join(lines)


# ---- Names and Hub ids ---------------------------------------------------------------------------
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
