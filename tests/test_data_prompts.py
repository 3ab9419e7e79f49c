"""The 210-prompt probe: counts, uniqueness, regimes, lengths, and the committed file."""
import collections
import json
from pathlib import Path

import pytest
import yaml

from tilelli.data.chat_format import format_prompt
from tilelli.data.facts import QUESTIONS, place_index
from tilelli.data.prompts import EXPECTED, LONG_MAX, LONG_MIN, REGIMES, build_probe
from tilelli.data.splits import split_plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rows():
    return build_probe(0)


def test_counts_and_fields(rows):
    assert len(rows) == 210
    assert collections.Counter(r["regime"] for r in rows) == {r: 30 for r in REGIMES}
    assert len(REGIMES) == 7
    for r in rows:
        assert set(r) == {"id", "regime", "prompt", "expected"}
        assert r["expected"] == EXPECTED[r["regime"]] and r["expected"] in ("answer", "abstain")


def test_ids_and_prompts_unique(rows):
    assert len({r["id"] for r in rows}) == 210
    assert len({r["prompt"] for r in rows}) == 210


def test_lengths_fit_the_context(rows):
    for r in rows:
        n = len(r["prompt"].encode())
        assert "\n" not in r["prompt"]
        if r["regime"] == "long_input":
            assert LONG_MIN <= n <= LONG_MAX and len(format_prompt(r["prompt"]).encode()) <= 240
        else:
            assert 0 < n < 150, r


def test_in_domain_looks_like_chat_training(rows):
    patterns = [t for ts in QUESTIONS.values() for t in ts]
    names = list(place_index())
    caps = [p.capital for p in place_index().values()]
    phrased = {t.format(name=n) for t in patterns if "{capital}" not in t for n in names}
    phrased |= {t.format(capital=c) for t in patterns if "{capital}" in t for c in caps}
    assert all(r["prompt"] in phrased for r in rows if r["regime"] == "in_domain")


def test_answerable_regimes_ask_about_held_out_facts(rows):
    plan = split_plan(0)
    for regime, keys in (("in_domain", plan.in_domain), ("ood_style", plan.ood_style),
                         ("long_input", plan.long_input), ("neo_false_inability", plan.neo_false_inability)):
        prompts = [r["prompt"] for r in rows if r["regime"] == regime]
        for p, k in zip(prompts, keys):
            place = place_index()[k.place]
            assert k.place.lower() in p.lower() or place.capital in p, (regime, p, k)


def test_deterministic(rows):
    assert build_probe(0) == rows
    assert build_probe(1) != rows


def test_committed_probe_file_matches_the_code():
    path = ROOT / "data" / "prompts" / "probe_210.jsonl"
    if not path.exists():
        pytest.skip("data/prompts/probe_210.jsonl not built yet (dvc repro prompts)")
    params = ROOT / "params.yaml"
    seed = yaml.safe_load(params.read_text())["sft"]["seed"] if params.exists() else 0
    committed = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert committed == build_probe(seed), "run `dvc repro prompts` and commit data/prompts/probe_210.jsonl"
