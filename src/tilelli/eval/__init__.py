"""Evaluation: uncertainty signals, generation labels, AUROC statistics, reports and claim gates.

    probe.py        signals from one batched forward pass + greedy generation + labels for a list
                    of prompts; routing KL and chat bits per byte against each model's base (claim
                    N4: router shift) (torch)
    regimes.py      the fixed regimes, baselines and signal orientation (positive = OOD); refusal /
                    answer / loop labels for a generated continuation; read and validate prompt and
                    probe-row JSONL (no torch)
    controls.py     the prompt-only controls: the surface baseline, nn_char4 and ngram_lr
    stats.py        AUROC, bootstrap CIs, paired DeLong, Holm, Welch, risk-coverage
    auroc_report.py model x signal x regime AUROCs, paired tests, the pre-registered win rule,
                    behaviour rates (the numbers of metrics/auroc.json and metrics/behaviour.json);
                    markdown pages for results/auroc/; PNG heatmaps, ROC and risk-coverage
                    figures and DVC plot data (CSV), matplotlib loaded only to draw them
    ab_report.py    the Lite-vs-vanilla A/B: lr choice and report (no torch)
    claims.py       claims.yaml gates: rules, profiles, PASS/FAIL report
    paper.py        PAPER_OUTLINE.md from metrics/

The two reports that draw (auroc_report, ab_report) share `pyplot` and `save_png` below: matplotlib
on the Agg backend (offline), imported on first draw only, so the tables and the paper never load
it; PNGs written atomically without a version string, so a run writes the same bytes again.
"""
from tilelli.io import atomic_path

_PNG_META = {"Software": None}   # no version string: identical bytes across runs


def pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path) -> None:
    """Write `fig` to `path` as a PNG (atomically: temp file + rename) and close it."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", metadata=_PNG_META)
    pyplot().close(fig)
