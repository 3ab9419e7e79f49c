"""PAPER_OUTLINE.md rendering: numbers come from metrics files; the claim table is verify's table;
the figures are the pipeline's own plot files."""
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tilelli import paths, study
from tilelli.eval.paper import render
from tilelli.io import TilelliError
from conftest import ROOT

sys.path.insert(0, str(Path(__file__).parent))
from test_eval_claims import PUBLISHED, write_set  # noqa: E402

AB = {"lite_params": 100, "vanilla_params": 101, "lite_bpb": [1.0, 1.1, 1.2], "vanilla_bpb": [1.3, 1.4, 1.5],
      "mean_a": 1.1, "mean_b": 1.4, "lite_std": 0.1, "vanilla_std": 0.1, "t": -3.67, "df": 4.0, "p": 0.0213,
      "hedges_g": -2.4, "param_ratio": 0.99, "n_a": 3, "n_b": 3, "steps": 400,
      "sweep": {"lite": {"0.001": 1.3, "0.01": 1.1}, "vanilla": {"0.001": 1.6, "0.01": 1.9}},
      "chosen_lr": {"lite": 0.01, "vanilla": 0.001}, "lr_at_edge": {"lite": True, "vanilla": True}}
PNG = b"\x89PNG\r\n\x1a\n"


def outline_figures(params: dict) -> set[str]:
    """One figure per kind, from the registry: v4's heatmap and ROC, the main head's and its splice's
    ROC (the first seed's models), the risk-coverage of every model, the A/B curve."""
    v4, main = study.base_models(params)[0], params["metacog"]["main"]
    return {paths.heatmap_png(v4), paths.roc_png(v4), paths.roc_png(study.metacog_groups(params)[main][0]),
            paths.roc_png(study.splice_models(params)[0]), paths.RISK_COVERAGE_PNG, paths.AB_PNG}


@pytest.fixture
def metrics_dir(chdir_tmp):
    shutil.copy(ROOT / "claims.yaml", "claims.yaml")
    files = {**PUBLISHED, "metrics/ab.json": {**PUBLISHED["metrics/ab.json"], **AB},
             "metrics/data_manifest.json": {"source": "builtin", "documents": 3, "bytes": 1000, "sha256": "ab" * 32},
             "metrics/surface.json": {"train": {"cv_auroc": 0.987}}}
    seeds = yaml.safe_load((ROOT / "params.yaml").read_text())["seeds"]   # the committed params' seeds
    for s, bpb in zip(seeds, (1.23456, 1.5, 1.5, 1.5, 1.5, 1.5)):     # one base chain each
        for name in ("pretrain", "chat", "v4"):
            files[f"metrics/train/base/{name}-s{s}.json"] = {"steps": 7, "tokens": 1234, "val_bpb": bpb}
    write_set(Path("."), files)
    for fig in outline_figures(yaml.safe_load((ROOT / "params.yaml").read_text())):
        Path(fig).parent.mkdir(parents=True, exist_ok=True)
        Path(fig).write_bytes(PNG)
    return Path(".")


def test_outline_renders_measured_numbers_and_the_verdict_table(metrics_dir):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = "paper"
    text = render(params, header="PROVENANCE\n\n")
    assert "| pretrain | 7 | 1,234 | 1.235, 1.500, 1.500, 1.500, 1.500 |" in text
    assert "validation bits/byte (seeds 0, 1, 2, 3, 4)" in text
    assert "p = 0.0213" in text and "Hedges' g = -2.40" in text
    assert "Chosen at the edge of the grid for lite, vanilla" in text
    assert "CV AUROC there 0.987" in text and "PROVENANCE" in text
    assert "Still improving over the last quarter" in text and "lite: 0.002 from step" in text
    # the headline: the fixture's converged arms differ (Welch p = 0.0213), contradicting N2, said plainly
    assert "paper: 14 reproduced, 1 not reproduced, 1 inconclusive of 16 published claims" in text
    # the familiarity controls: the fixed baseline named, every head against it, the plain sentence
    assert "Familiarity baseline: **nn_char4**, fixed in advance" in text and "| splice | " in text
    assert "nn_char4 (fixed in advance)" in text and "strongest" not in text.lower()
    assert "3 of 5 heads separate in-domain from pooled OOD better than `nn_char4` (v7, v8b, best_variant)" in text
    assert "2 do worse (v4, splice)" in text
    assert all(f"| {c} |" in text for c in ("nn_char4", "ngram_lr", "surface", "byte_length"))
    assert "1 NOT as expected: n2_lite_vs_vanilla_not_established" in text
    assert "| claim | published | this run (95% CI) | rule | verdict |" in text
    assert "PASS" not in text and "FAIL" not in text


def test_outline_needs_every_metric_file(metrics_dir):
    Path("metrics/router_shift.json").unlink()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    with pytest.raises(TilelliError, match="router_shift.json"):
        render(params)


def test_outline_shows_each_seed_alone_like_the_claim_table(metrics_dir):
    """The outline's claim table has the same "each seed alone" column as results/claims.md: seed 0's
    metrics agree with the pooled ones, seed 1's are the null set, so its verdicts flip."""
    from test_eval_claims import NULL
    for seed, source in ((0, PUBLISHED), (1, NULL)):
        write_set(Path(f"metrics/by_seed/s{seed}"), {k: v for k, v in source.items()
                                                     if k in ("metrics/auroc.json", "metrics/behaviour.json")})
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = "paper"
    text = render(params)
    assert "| each seed alone |" in text and "1/2 seeds (**flips**: s1: " in text
    assert "n/a (needs every seed)" in text            # N2 and N4 have no per-seed metrics


def test_outline_embeds_each_figure_beside_the_numbers_it_supports(metrics_dir):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    text = render(params)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(outline_figures(params))       # each kind once, each a registry path
    v4, splice = study.base_models(params)[0], study.splice_models(params)[0]
    head = study.metacog_groups(params)[params["metacog"]["main"]][0]
    where = {paths.RISK_COVERAGE_PNG: ("## 3.", "## 4."), paths.AB_PNG: ("### 4.5", "## 5."),
             paths.heatmap_png(v4): ("### 4.1", "### 4.2"), paths.roc_png(v4): ("### 4.1", "### 4.2"),
             paths.roc_png(head): ("### 4.3", "### 4.4"), paths.roc_png(splice): ("### 4.3", "### 4.4")}
    for fig, (start, end) in where.items():                      # each in the section whose numbers it shows
        assert text.index(start) < text.index(f"]({fig})") < text.index(end), fig


def test_a_missing_figure_is_an_error_not_a_broken_link(metrics_dir):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    render(params)                                                # every figure there
    for fig in sorted(outline_figures(params)):
        Path(fig).unlink()
        with pytest.raises(TilelliError, match=re.escape(f"{fig}: figure not found")) as e:
            render(params)
        assert "\n" not in str(e.value)
        Path(fig).write_bytes(PNG)
    assert render(params)


def test_outline_reports_loop_in_the_turn_and_generation_collapse_apart(metrics_dir):
    """The loop column is the label (the model's turn); generation collapse is behaviour's probe.collapse
    (every generated byte, incl. after the turn), in a column of its own."""
    import json
    beh = json.loads(Path("metrics/behaviour.json").read_text())
    beh["groups"]["v4"]["probe"] = {"collapse": {"hits": 26.6, "n": 210, "rate": 26.6 / 210, "lo": 0.0, "hi": 0.57,
                                                 "n_seeds": 5}}
    Path("metrics/behaviour.json").write_text(json.dumps(beh))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    text = render(params)
    gen = params["probe"]["gen_bytes"]
    header = next(line for line in text.splitlines() if line.startswith("| model | metacog weight"))
    assert header.endswith(f"| loop in its turn (rate, mean ± std) | generation collapse (all {gen} bytes, "
                           "incl. after the turn; pooled seeds) |")
    v4 = next(line for line in text.splitlines() if line.startswith("| v4 (base) |"))
    assert v4.endswith("| 26.6/210 (0.13 [0.00, 0.57], mean of 5 seeds) |")
    assert "labelled refusal, answer or loop on the model's own turn only" in text
