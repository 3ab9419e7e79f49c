"""Figures and DVC plot data for the AUROC stage (matplotlib Agg: offline PNGs).

Layout under the output directory (model names may contain "/", e.g. metacog/v7-s0):
    <model>/roc/<signal>.csv       fpr,tpr,threshold   cross contrast (30 in_domain vs 180 OOD);
                                   DVC plot data with explicit x/y columns
    <model>/risk_coverage.csv      coverage,risk,threshold   auroc_report.abstain_risk_coverage (the
                                   AURC metric's own function): answer the lowest abstain_p first;
                                   risk = share of answered prompts whose expected behaviour is "abstain"
    <model>/heatmap.png            signal x contrast AUROC (signals and controls), each cell with its CI
    <model>/roc.png                cross-contrast ROC of every signal
    risk_coverage.png              abstain_p risk-coverage of every model, AURC in the legend
"""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tilelli.eval import stats  # noqa: E402
from tilelli.eval.auroc_report import abstain_risk_coverage  # noqa: E402  (the AURC metric's definition)
from tilelli.eval.regimes import CONTRASTS, CROSS, REPORTED, contrast_rows, oriented  # noqa: E402

_PNG_META = {"Software": None}  # no version string: identical bytes across runs


def _write_csv(path: Path, header: list[str], cols: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in zip(*cols):
            w.writerow([f"{v:.6g}" for v in row])


def roc_curves(rows: list[dict], contrast: str = CROSS) -> dict[str, tuple]:
    keep, y = contrast_rows(rows, contrast)
    out = {}
    for s in REPORTED:
        scores = oriented(keep, s)
        if not np.isnan(scores).any():
            out[s] = stats.roc_points(y, scores)
    return out


def write_plot_data(out_dir: Path, rows_by_model: dict[str, list[dict]]) -> None:
    for m, rows in rows_by_model.items():
        for s, (fpr, tpr, thr) in roc_curves(rows).items():
            _write_csv(out_dir / m / "roc" / f"{s}.csv", ["fpr", "tpr", "threshold"], [fpr, tpr, thr])
        cov, risk, thr, _ = abstain_risk_coverage(rows)
        if not np.isnan(cov).any():
            _write_csv(out_dir / m / "risk_coverage.csv", ["coverage", "risk", "threshold"], [cov, risk, thr])


def heatmap(path: Path, name: str, metrics: dict) -> None:
    grid = np.array([[np.nan if metrics[s][k]["auroc"] is None else metrics[s][k]["auroc"]
                      for k in CONTRASTS] for s in REPORTED])
    fig, ax = plt.subplots(figsize=(11, 6.5), dpi=100)
    im = ax.imshow(grid, cmap="RdBu_r", vmin=0.0, vmax=1.0, aspect="auto")
    for i, s in enumerate(REPORTED):
        for j, k in enumerate(CONTRASTS):
            cell = metrics[s][k]
            text = "n/a" if cell["auroc"] is None else f"{cell['auroc']:.2f}\n[{cell['lo']:.2f},{cell['hi']:.2f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(CONTRASTS)), CONTRASTS, rotation=30, ha="right")
    ax.set_yticks(range(len(REPORTED)), REPORTED)
    ax.set_title(f"{name}: AUROC in_domain vs regime (95% bootstrap CI); 0.5 = chance")
    fig.colorbar(im, ax=ax, label="AUROC")
    fig.tight_layout()
    fig.savefig(path, metadata=_PNG_META)
    plt.close(fig)


def roc_figure(path: Path, name: str, rows: list[dict], metrics: dict) -> None:
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    for s, (fpr, tpr, _) in roc_curves(rows).items():
        ax.step(fpr, tpr, where="post", label=f"{s} ({metrics[s][CROSS]['auroc']:.2f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate (in_domain flagged)")
    ax.set_ylabel("true positive rate (OOD flagged)")
    ax.set_title(f"{name}: ROC, in_domain vs all OOD")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, metadata=_PNG_META)
    plt.close(fig)


def risk_coverage_figure(path: Path, rows_by_model: dict[str, list[dict]]) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for m, rows in rows_by_model.items():
        cov, risk, _, aurc = abstain_risk_coverage(rows)
        if not np.isnan(aurc):
            ax.step(cov, risk, where="post", label=f"{m} (AURC {aurc:.3f})")
    ax.set_xlabel("coverage (share of prompts answered, lowest abstain_p first)")
    ax.set_ylabel("risk (answered prompts that expected abstain)")
    ax.set_title("abstain_p risk-coverage")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata=_PNG_META)
    plt.close(fig)


def write_figures(out_dir: Path, rows_by_model: dict[str, list[dict]], metrics: dict) -> None:
    """All plot data and PNGs under out_dir."""
    write_plot_data(out_dir, rows_by_model)
    for m, rows in rows_by_model.items():
        (out_dir / m).mkdir(parents=True, exist_ok=True)
        heatmap(out_dir / m / "heatmap.png", m, metrics[m])
        roc_figure(out_dir / m / "roc.png", m, rows, metrics[m])
    risk_coverage_figure(out_dir / "risk_coverage.png", rows_by_model)
