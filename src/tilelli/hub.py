"""Sharing models: full model cards with the claim verdicts, and push_to_hub.

    tilelli card --model models/base/v4-s0 [--output card.md]                  card with the claim verdicts
    tilelli push --model models/base/v4-s0 --repo TilelliLab/tilelli-v4        upload folder + full card
    push_to_hub("models/base/v4-s0", "TilelliLab/tilelli-v4")                  the same from Python
    push_to_hub(lm, "TilelliLab/tilelli-v4")                           a TilelliLM: saved first

Loading by Hub id is tilelli.model.checkpoint.resolve (TilelliLM.from_pretrained("org/name", revision=...)).
The full card (`full_card`) adds what the pipeline knows after `verify`: the corpus from
metrics/data_manifest.json and the verdicts of the claims in claims.yaml whose metric nodes name
this model (`claims_for_model`). The pipeline never calls `push_to_hub` and no stage imports this
module: save_pretrained writes the basic card, and DVC-tracked folders stay as their stage wrote them.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import yaml

from tilelli.data.corpus import HUB_SOURCES   # data.source values whose `dataset` is a Hub id
from tilelli import paths
from tilelli.io import TilelliError, read_json
from tilelli.model.checkpoint import REPO_ID, model_name, one_line


# ---- full card -----------------------------------------------------------------------------
def _names(model: str) -> set[str]:
    """The metric-key components that denote this model: its name, and the group its seeds are
    pooled in (metrics/auroc.json `groups.<variant>` for metacog/<variant>-s<seed>,
    `groups.v4` for base/v4-s<seed>, `groups.splice` for splice/<donor>-s<seed>)."""
    names = {model}
    m = re.fullmatch(r"(\w+)/(\w+)-s\d+", model)
    if m:
        names.add(m.group(1) if m.group(1) == "splice" else m.group(2))
    return names


def reads_model(metric_refs, model: str) -> bool:
    """True when a metric node 'file.json:a.b.c' has a dotted component naming the model."""
    refs = metric_refs if isinstance(metric_refs, list) else [metric_refs]
    names = _names(model)
    return any(names & set(str(ref).split(":", 1)[-1].split(".")) for ref in refs)


def _measured(entry: dict) -> str:
    if "value" in entry:
        v = entry["value"]
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        return text + (f" [{entry['lo']:.3g}, {entry['hi']:.3g}]" if entry.get("lo") is not None else "")
    return "<br>".join(map(str, entry.get("evidence", entry.get("measured", []))))


def _verdict(entry: dict) -> str:
    if "verdict" in entry:
        return str(entry["verdict"])
    return "PASS" if entry.get("pass") else "FAIL"


def claims_for_model(model: str, claims_yaml, claims_json) -> tuple[list[dict], str | None]:
    """([{id, statement, measured, verdict, expected}] for the claims reading `model`, profile)."""
    for path in (claims_yaml, claims_json):
        if not Path(path).is_file():
            raise TilelliError(f"{path}: not found; the verdicts exist after `dvc repro verify` (or `dvc pull`)")
    try:
        spec = yaml.safe_load(Path(claims_yaml).read_text(encoding="utf-8")) or {}
        results = read_json(claims_json)
    except (yaml.YAMLError, TilelliError) as e:
        raise TilelliError(f"cannot read the claims ({one_line(e)})") from None
    profile = results.get("profile")
    out = []
    for c in spec.get("claims", []):
        entry = results.get("claims", {}).get(c.get("id"))
        if entry is None or not reads_model(c.get("metric", []), model):
            continue
        expected = (c.get("expected") or {}).get(profile) or {}
        out.append({"id": c["id"], "statement": c.get("statement", ""), "measured": _measured(entry),
                    "verdict": _verdict(entry), "expected": expected.get("verdict") or expected.get("rule")})
    return out, profile


def _corpus(manifest_path: Path) -> tuple[list[str], str | None]:
    """(Hub dataset ids, description) of the pretraining corpus from metrics/data_manifest.json."""
    if not manifest_path.is_file():
        return [], None
    m = read_json(manifest_path)
    ds = m.get("dataset")
    desc = f"{ds if isinstance(ds, str) else m.get('source')}: {m.get('documents', 0):,} documents, {m.get('bytes', 0):,} bytes"
    return ([ds] if m.get("source") in HUB_SOURCES and isinstance(ds, str) else []), desc


def full_card(model_dir, name: str | None = None, root=".", ref: str | None = None) -> str:
    """The model card with the verdicts from metrics/claims.json (needs the `verify` outputs)."""
    from tilelli.model.checkpoint import read_config, render_card

    root = Path(root)
    doc = read_config(model_dir)
    name = name or model_name(model_dir)
    claims, profile = claims_for_model(name, root / "claims.yaml", root / paths.CLAIMS_JSON)
    datasets, corpus = _corpus(root / paths.MANIFEST)
    pretrained = doc["metadata"].get("stage") in ("pretrain", None) or doc["metadata"].get("arch")
    return render_card(doc, name=name, datasets=datasets, corpus=corpus if pretrained else None,
                       claims=claims, profile=profile, ref=ref or str(model_dir))


# ---- push ----------------------------------------------------------------------------------
def push_to_hub(model, repo_id: str, *, revision: str | None = None, private: bool | None = None,
                token=None, commit_message: str | None = None, card: str | None = None,
                metadata: dict | None = None, root=".", api=None) -> str:
    """Upload a model with its card to the Hub repo `repo_id` (created if missing); returns the commit.

    `model` is a folder written by save_pretrained (checked, then uploaded with the full card:
    needs metrics/claims.json under `root`) or a TilelliLM (saved first with `metadata`, default
    its own, and uploaded with the basic card). `card` replaces either card. `api` is a
    huggingface_hub.HfApi (default) or any object with create_repo and upload_folder; tests pass
    a local fake, the pipeline never calls this.
    """
    from tilelli.model.checkpoint import export_folder, read_config, render_card

    if not REPO_ID.match(str(repo_id)):
        raise TilelliError(f"{repo_id!r} is not a Hub repo id (org/name)")
    with tempfile.TemporaryDirectory(prefix="tilelli-push-") as tmp:
        if isinstance(model, (str, os.PathLike)):
            folder, name = Path(model), model_name(model)
            card = card if card is not None else full_card(folder, ref=repo_id, root=root)
        else:
            folder, name = Path(tmp) / "saved", repo_id.split("/")[1]
            model.save_pretrained(folder, getattr(model, "metadata", {}) if metadata is None else metadata)
            card = card if card is not None else render_card(read_config(folder), name=name, ref=repo_id)
        staged = export_folder(folder, Path(tmp) / "model", card)
        if api is None:
            try:
                from huggingface_hub import HfApi
            except ImportError:
                raise TilelliError("push_to_hub needs huggingface_hub (pip install 'tilelli[hub]')") from None
            api = HfApi(token=token)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=str(staged), revision=revision,
                                     commit_message=commit_message or f"Upload {name} from the Tilelli pipeline")
        except (OSError, ValueError) as e:           # HfHubHTTPError is an OSError subclass
            raise TilelliError(f"push to {repo_id} failed ({one_line(e)})") from None
    return str(getattr(info, "oid", None) or info)
