"""The surface-feature baseline: features, a deterministic fit, training data disjoint from the probe."""
import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tilelli.data.chat import format_prompt, write_sft_sets
from tilelli.data.prompts import build_probe
from tilelli.eval import controls
from tilelli.eval.regimes import CONTROLS
from tilelli.eval.stats import auroc
from tilelli.eval.controls import FEATURES, check_probe_disjoint, cv_auroc, features, fit_surface
from tilelli.io import TilelliError
from conftest import ROOT, run_stage

@pytest.fixture(scope="module")
def training(sets):
    return [r["prompt"] for r in sets["chat_train"]], [r["prompt"] for r in sets["ood_train"]]


def _words(r: random.Random, n: int) -> list[str]:
    return [" ".join("".join(r.choice("abcdefghij") for _ in range(r.randint(2, 7)))
                     for _ in range(r.randint(2, 6))) for _ in range(n)]


def test_every_feature_is_documented_and_computed():
    doc = controls.features.__doc__
    assert all(f"\n    {name} " in doc for name in FEATURES)
    f = dict(zip(FEATURES, features("What is the capital of France?")))
    assert len(features("x")) == len(FEATURES)
    assert (f["bytes"], f["words"], f["ends_question"], f["starts_upper"], f["has_place"]) == (30, 6, 1, 1, 1)
    assert f["frac_digit"] == 0 and f["frac_upper"] == pytest.approx(2 / 30)
    assert features("yo whats the capital of peru lol")[FEATURES.index("has_place")] == 1  # any case
    assert features("a parisian cafe")[FEATURES.index("has_place")] == 0  # whole words only
    assert features("äb 1")[FEATURES.index("frac_nonascii")] == pytest.approx(2 / 5)


def test_fit_is_deterministic(training):
    a, b = fit_surface(*training), fit_surface(*training)
    assert np.array_equal(a.coef, b.coef) and a.intercept == b.intercept
    assert cv_auroc(*training) == cv_auroc(*training)
    assert np.isfinite(a.coef).all() and a.coef_dict().keys() == set(FEATURES)


def test_training_prompts_are_disjoint_from_the_probe(training):
    probe = [r["prompt"] for r in build_probe(0)]
    check_probe_disjoint(probe, set(training[0]) | set(training[1]))  # no error
    with pytest.raises(TilelliError) as e:
        check_probe_disjoint(probe, set(training[0]) | {probe[7]})
    assert "probe" in str(e.value) and "\n" not in str(e.value)


def test_separates_a_trivially_separable_set():
    r = random.Random(0)
    ins = [f"What is the capital of place {w}?" for w in _words(r, 200)]
    ood = ["".join(r.choice("0123456789#%&") for _ in range(r.randint(5, 30))) for _ in range(200)]
    assert cv_auroc(ins, ood) > 0.99
    model = fit_surface(ins, ood)
    fresh_in = [f"What is the capital of place {w}?" for w in _words(r, 50)]
    fresh_ood = ["".join(r.choice("0123456789#%&") for _ in range(r.randint(5, 30))) for _ in range(50)]
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    assert auroc(y, model.score(fresh_in + fresh_ood)) > 0.99


def test_is_at_chance_on_feature_identical_classes():
    """Same generator for both classes: cross-validation must not find structure (~0.5)."""
    r = random.Random(1)
    assert abs(cv_auroc(_words(r, 300), _words(r, 300)) - 0.5) < 0.1
    ins = _words(r, 100)
    model = fit_surface(ins, [w[::-1] for w in ins])  # reversed strings: every feature identical
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    assert auroc(y, model.score(ins + [w[::-1] for w in ins])) == 0.5


def test_fit_needs_both_classes():
    with pytest.raises(TilelliError, match="both classes"):
        fit_surface(["What is the capital of Peru?"], [])


@pytest.fixture
def stage_dir(tmp_path, sets):
    write_sft_sets(sets, tmp_path / "data/sft")
    shutil.copy(ROOT / "data" / "prompts" / "probe_210.jsonl", tmp_path / "probe.jsonl")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile": "test", "probe": {"prompts": "probe.jsonl"}}))
    return tmp_path


def _run_stage(cwd: Path) -> subprocess.CompletedProcess:
    return run_stage(cwd, "surface", timeout=120)


def test_stage_writes_one_row_per_probe_id(stage_dir):
    assert _run_stage(stage_dir).returncode == 0
    probe = [json.loads(line) for line in (stage_dir / "probe.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (stage_dir / "data/probe/surface.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [p["id"] for p in probe] and len(rows) == 210
    for r, p in zip(rows, probe):
        assert set(r) == {"id", "regime", *CONTROLS} and r["regime"] == p["regime"]
        assert all(np.isfinite(r[k]) for k in CONTROLS)
        assert r["byte_length"] == len(format_prompt(p["prompt"]).encode()) and np.isfinite(r["surface"])
    m = json.loads((stage_dir / "metrics/surface.json").read_text())
    assert m["features"] == list(FEATURES) and set(m["coef"]) == set(FEATURES)
    assert m["train"]["n_in"] == 3000 and m["train"]["n_ood"] == 600 and 0.5 < m["train"]["cv_auroc"] <= 1
    assert m["probe_overlap"] == 0 and m["probe_auroc"]["byte_length"]["long_input"] == 1.0
    assert set(m["probe_auroc"]) == set(CONTROLS) and m["familiarity"]["ngram_lr"]["n_ood"] == 600


def test_stage_refuses_a_probe_prompt_in_the_training_set(stage_dir):
    leaked = json.loads((stage_dir / "probe.jsonl").read_text().splitlines()[0])["prompt"]
    with open(stage_dir / "data/sft/ood_train.jsonl", "a") as f:
        f.write(json.dumps({"prompt": leaked, "response": "I don't know.", "kind": "ood"}) + "\n")
    out = _run_stage(stage_dir)
    assert out.returncode == 2 and not (stage_dir / "data/probe/surface.jsonl").exists()
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "probe prompt" in errors[0] and "Traceback" not in out.stderr
