"""PAPER_OUTLINE.md rendering: numbers come from metrics files, missing ones say so."""
import json
import shutil
from pathlib import Path

import yaml

from tilelli.eval.paper import render

ROOT = Path(__file__).resolve().parents[1]


def test_outline_renders_measured_numbers_and_marks_missing_ones(chdir_tmp):
    shutil.copy(ROOT / "claims.yaml", "claims.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    Path("metrics/train").mkdir(parents=True)
    Path("metrics/train/pretrain.json").write_text(json.dumps({"steps": 7, "tokens": 1234, "val_bpb": 1.23456}))
    Path("metrics/ab.json").write_text(json.dumps({
        "lite_params": 100, "vanilla_params": 101, "lite_bpb": [1.0, 1.1, 1.2], "vanilla_bpb": [1.3, 1.4, 1.5],
        "mean_a": 1.1, "mean_b": 1.4, "lite_std": 0.1, "vanilla_std": 0.1, "t": -3.67, "df": 4.0, "p": 0.0213,
        "hedges_g": -2.4, "param_ratio": 0.99, "n_a": 3, "n_b": 3}))
    text = render(params)
    assert "| pretrain | 7 | 1,234 | 1.235 |" in text
    assert "p = 0.0213" in text and "Hedges' g = -2.40" in text
    assert "metrics/auroc.json has no v4 entry yet" in text
    # with auroc/behaviour metrics missing, those claims fail and the outline says so
    assert "MISSING" in text and "| FAIL |" in text
