"""Read and validate the probe's inputs and outputs (no torch import: the auroc stage is light).

    data/prompts/probe_210.jsonl   {"id", "regime", "prompt", "expected": "answer"|"abstain"}
    data/probe/<model>.jsonl       one row per prompt: id, regime, expected, the 8 signals
                                   (float, or null when the model has no router), generation,
                                   label in {refusal, answer, loop}, abstained, prompt_bytes, truncated
    data/probe/<model>.gates.jsonl the held-out gate sets: set, id, generation, label, abstained

Every error names the file and the line so a bad row is found in seconds.
"""
from __future__ import annotations

import math

from tilelli.io import read_jsonl as _read_jsonl
from tilelli.errors import TilelliError
from tilelli.eval.labels import LABELS
from tilelli.eval.regimes import REGIMES, SIGNALS

EXPECTED = ("answer", "abstain")


def read_jsonl(path, allow_empty: bool = False) -> list[dict]:
    """tilelli.io.read_jsonl (file:line errors), refusing an empty file unless allowed."""
    rows = _read_jsonl(path)
    if not rows and not allow_empty:
        raise TilelliError(f"{path}: no rows")
    return rows


def _check(path, n, row, field, ok, want) -> None:
    if field not in row or not ok(row[field]):
        raise TilelliError(f"{path}:{n}: field '{field}' must be {want} (got {row.get(field)!r})")


def read_prompts(path) -> list[dict]:
    """The probe prompts, validated: known regime, expected answer|abstain, unique ids."""
    rows = read_jsonl(path)
    seen = set()
    for n, r in enumerate(rows, 1):
        _check(path, n, r, "id", lambda v: isinstance(v, (str, int)), "a string or int")
        _check(path, n, r, "regime", lambda v: v in REGIMES, f"one of {', '.join(REGIMES)}")
        _check(path, n, r, "prompt", lambda v: isinstance(v, str) and v.strip(), "a non-empty string")
        _check(path, n, r, "expected", lambda v: v in EXPECTED, "'answer' or 'abstain'")
        if r["id"] in seen:
            raise TilelliError(f"{path}:{n}: duplicate id {r['id']!r}")
        seen.add(r["id"])
    return rows


def _is_signal(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def read_probe_rows(path) -> list[dict]:
    """A model's probe rows, validated against the contract (docs/CONTRACTS.md)."""
    rows = read_jsonl(path)
    for n, r in enumerate(rows, 1):
        _check(path, n, r, "id", lambda v: isinstance(v, (str, int)), "a string or int")
        _check(path, n, r, "regime", lambda v: v in REGIMES, f"one of {', '.join(REGIMES)}")
        _check(path, n, r, "expected", lambda v: v in EXPECTED, "'answer' or 'abstain'")
        _check(path, n, r, "label", lambda v: v in LABELS, f"one of {', '.join(LABELS)}")
        for s in SIGNALS:
            _check(path, n, r, s, _is_signal, "a number or null")
            if r[s] is not None and math.isnan(r[s]):
                r[s] = None
    return rows


def read_gate_rows(path) -> list[dict]:
    """Gate-set rows; the file may be empty (no gate sets configured)."""
    rows = read_jsonl(path, allow_empty=True)
    for n, r in enumerate(rows, 1):
        _check(path, n, r, "set", lambda v: isinstance(v, str), "a string")
        _check(path, n, r, "label", lambda v: v in LABELS, f"one of {', '.join(LABELS)}")
        _check(path, n, r, "abstained", lambda v: isinstance(v, bool), "true or false")
    return rows


def nan_to_none(x):
    """JSON has no NaN: non-finite floats (e.g. router signals of a model without a router) -> null."""
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
