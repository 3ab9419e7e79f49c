"""Model cards: the README.md of a model folder, in the shape the Hugging Face Hub reads.

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
tilelli.model.checkpoint.read_config) and of what the caller adds: a display name, Hub dataset ids
and claim verdicts. `save_pretrained` writes the basic card (no verdicts: those exist only after
the `verify` stage, and a DVC-tracked model folder is never rewritten after its stage);
`tilelli card --model models/base/v4-s0` and `push_to_hub` render the full one (tilelli.hub). Nothing
in a card depends on the clock, so a re-run that gives the same weights gives the same bytes.
"""
from __future__ import annotations

from pathlib import Path

import yaml

LICENSE = "apache-2.0"
VERDICT_NOTE = ("Claim verdicts are not part of this folder: they exist after the pipeline's `verify` "
                "stage. `tilelli card --model <this folder>` prints the card with them.")


def model_name(model_dir) -> str:
    """models/metacog/v7-s0 -> 'metacog/v7-s0' (the name claims.yaml and metrics use)."""
    parts = Path(model_dir).parts
    if "models" in parts:
        i = len(parts) - 1 - parts[::-1].index("models")
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
    data = (", ".join(f"data/sft/{f}_train.jsonl" for f in files) if files
            else corpus or ("data/packed (the pretraining corpus)" if meta.get("stage") in ("pretrain", "ab") else ""))
    steps = _fmt(summary.get("steps"))
    if steps and isinstance(summary.get("tokens"), int):
        steps += f" ({summary['tokens']:,} tokens; batch {train.get('batch_size')} x {train.get('seq_len')} bytes)"
    recipe = _dict(meta.get("recipe"))     # a metacog model's recipe (train/experiments.py): its weight lives here
    return [("stage", f"`{meta['stage']}`" if meta.get("stage") else ""),
            ("initialised from", f"`models/{meta['init']}`" if meta.get("init") else "random init"),
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
    lines += [f"From `metrics/claims.json` ({profile or 'unknown'} profile), claims whose metrics read this model:",
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
