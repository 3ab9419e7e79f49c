"""The AUROC report: model x signal x contrast tables, paired tests, the pre-registered win rule.

For each model (its probe rows) and each of the 7 contrasts (in_domain vs each OOD regime, and
"cross" = in_domain vs all 6 pooled):
- every signal: AUROC of its oriented score + stratified bootstrap percentile CI;
- every candidate (non-baseline) signal against two references:
    "best_baseline": the baseline (max_softmax_last, max_softmax_mean, abstain_p) with the
                     highest AUROC in THIS contrast (the pre-registered comparison);
    "max_softmax_mean": the fixed reference of the published N1 claim;
  the paired bootstrap CI of the AUROC difference and the paired DeLong p-value, with Holm
  applied per model and reference across the 5 candidates x 7 contrasts = 35 tests.
- win rule (pre-registered): delta >= min_gain (0.02) AND the CI of delta excludes 0 (lo > 0).
  `win_holm` additionally requires Holm-adjusted DeLong p < alpha (reported, not the rule).
- router family (router_conf, router_entropy_mean, router_entropy_var) wins a contrast if any
  member wins it; "proven" iff it wins >= proven_min_wins (4) of the 7 contrasts including at
  least one of gibberish, factual_misleading, neo_false_inability.

Cross-model summary: which model (and which variant, averaged over its seeds) has the best
cross abstain_p AUROC, and paired contrasts
between models on the same prompts (e.g. splice vs the joint head v7: same 210 prompts, so the
bootstrap of the difference resamples prompts, not models).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tilelli.errors import TilelliError
from tilelli.eval import stats
from tilelli.eval.probe_io import nan_to_none
from tilelli.eval.regimes import (BASELINES, CANDIDATES, CONTRASTS, HARD_REGIMES, N1_REFERENCE,
                                  ROUTER_FAMILY, SIGNALS, contrast_rows, oriented)

RESERVED = ("summary",)
REFERENCES = ("best_baseline", N1_REFERENCE)


@dataclass(frozen=True)
class ReportConfig:
    n_boot: int = 2000
    ci: float = 0.95
    min_gain: float = 0.02
    seed: int = 0
    alpha: float = 0.05
    proven_min_wins: int = 4

    @classmethod
    def from_params(cls, section: dict) -> "ReportConfig":
        known = {k: section[k] for k in ("ci", "min_gain", "seed", "alpha", "proven_min_wins") if k in section}
        return cls(n_boot=int(section.get("bootstrap", cls.n_boot)), **known)


def _best_baseline(aurocs: dict[str, float]) -> str | None:
    finite = [b for b in BASELINES if not math.isnan(aurocs[b])]
    return max(finite, key=lambda b: aurocs[b]) if finite else None  # ties -> BASELINES order


def _compare(y, cand, ref, cfg: ReportConfig) -> dict:
    delta, lo, hi = stats.bootstrap_auroc_diff(y, cand, ref, cfg.n_boot, cfg.ci, cfg.seed)
    dl = stats.delong_paired(y, cand, ref)
    win = bool(not math.isnan(delta) and delta >= cfg.min_gain - 1e-12 and lo > 0)
    return {"delta": delta, "lo": lo, "hi": hi, "z": dl["z"], "p": dl["p"], "win": win}


def model_report(rows: list[dict], cfg: ReportConfig = ReportConfig()) -> tuple[dict, dict]:
    """(metrics, tests) for one model's probe rows.

    metrics = {signal: {contrast: {auroc, lo, hi, n_pos, n_neg}}, "wins": {...}, "router_family": {...}}
    tests   = {reference: {candidate: {contrast: {baseline, delta, lo, hi, z, p, p_holm, win, win_holm}}}}
    """
    metrics: dict = {s: {} for s in SIGNALS}
    tests: dict = {ref: {c: {} for c in CANDIDATES} for ref in REFERENCES}
    for contrast in CONTRASTS:
        keep, y = contrast_rows(rows, contrast)
        if y.sum() == 0 or (1 - y).sum() == 0:
            raise TilelliError(f"contrast '{contrast}' needs in_domain and OOD rows in the probe file")
        scores = {s: oriented(keep, s) for s in SIGNALS}
        for s in SIGNALS:
            lo, hi = stats.bootstrap_auroc_ci(y, scores[s], cfg.n_boot, cfg.ci, cfg.seed)
            metrics[s][contrast] = {"auroc": stats.auroc(y, scores[s]), "lo": lo, "hi": hi,
                                    "n_pos": int(y.sum()), "n_neg": int((1 - y).sum())}
        best = _best_baseline({b: metrics[b][contrast]["auroc"] for b in BASELINES})
        for ref in REFERENCES:
            ref_signal = best if ref == "best_baseline" else ref
            for c in CANDIDATES:
                ref_scores = scores[ref_signal] if ref_signal else np.full(len(y), np.nan)
                tests[ref][c][contrast] = {"baseline": ref_signal, **_compare(y, scores[c], ref_scores, cfg)}
    for ref in REFERENCES:  # Holm across the family of 5 candidates x 7 contrasts
        cells = [tests[ref][c][k] for c in CANDIDATES for k in CONTRASTS]
        for cell, p_adj in zip(cells, stats.holm([cell["p"] for cell in cells])):
            cell["p_holm"] = float(p_adj)
            cell["win_holm"] = bool(cell["win"] and p_adj < cfg.alpha)
    metrics["wins"] = {ref: {c: sum(tests[ref][c][k]["win"] for k in CONTRASTS) for c in CANDIDATES}
                       for ref in REFERENCES}
    metrics["router_family"] = _router_family(tests, cfg)
    return metrics, tests


def _router_family(tests: dict, cfg: ReportConfig) -> dict:
    out = {}
    for ref in REFERENCES:
        won = [k for k in CONTRASTS if any(tests[ref][c][k]["win"] for c in ROUTER_FAMILY)]
        out[f"wins_vs_{ref}"] = len(won)
        out[f"regimes_won_vs_{ref}"] = won
        out[f"proven_vs_{ref}"] = bool(len(won) >= cfg.proven_min_wins and set(won) & set(HARD_REGIMES))
    out["proven"] = out["proven_vs_best_baseline"]
    return out


def _aligned(rows_a: list[dict], rows_b: list[dict], name: str) -> tuple[list[dict], list[dict]]:
    by_id = {r["id"]: r for r in rows_b}
    if set(by_id) != {r["id"] for r in rows_a}:
        raise TilelliError(f"contrast '{name}': the two models were probed on different prompt ids")
    return rows_a, [by_id[r["id"]] for r in rows_a]


def cross_model_summary(rows_by_model: dict[str, list[dict]], metrics_by_model: dict,
                        contrasts: list[dict], cfg: ReportConfig,
                        groups: dict[str, list[str]] | None = None, ranked: list[str] | None = None) -> dict:
    """Which model / group has the best cross abstain_p AUROC; paired contrasts between models.

    {best_abstain_p: {model, auroc, lo, hi},
     abstain_p_by_group: {group: {mean, min, max, n, gap_to_best}},  # a group = a variant's seeds
     best_abstain_p_group: {group, mean},     # best among `ranked` groups (the metacog variants)
     contrasts: {name: {a, b, signal, regime, auroc_a, auroc_b, delta, lo, hi, p}}}
    """
    cross = {m: metrics_by_model[m]["abstain_p"]["cross"] for m in metrics_by_model}
    finite = [m for m in cross if not math.isnan(cross[m]["auroc"])]
    best = max(finite, key=lambda m: cross[m]["auroc"]) if finite else None
    summary = {"best_abstain_p": {"model": best, **({k: cross[best][k] for k in ("auroc", "lo", "hi")}
                                                     if best else {"auroc": math.nan})},
               "abstain_p_by_group": {}, "contrasts": {}}
    for g, members in (groups or {m: [m] for m in metrics_by_model}).items():
        unknown = [m for m in members if m not in cross]
        if unknown:
            raise TilelliError(f"group '{g}': model(s) {', '.join(unknown)} were not probed")
        vals = [cross[m]["auroc"] for m in members if not math.isnan(cross[m]["auroc"])]
        summary["abstain_p_by_group"][g] = {"mean": float(np.mean(vals)) if vals else math.nan,
                                            "min": min(vals, default=math.nan),
                                            "max": max(vals, default=math.nan), "n": len(vals)}
    by_group = {g: v["mean"] for g, v in summary["abstain_p_by_group"].items()
                if not math.isnan(v["mean"]) and (ranked is None or g in ranked)}
    best_g = max(by_group, key=by_group.get) if by_group else None
    summary["best_abstain_p_group"] = {"group": best_g, "mean": by_group.get(best_g, math.nan)}
    for g, v in summary["abstain_p_by_group"].items():  # how far each group is from the best one
        v["gap_to_best"] = by_group[best_g] - v["mean"] if best_g and not math.isnan(v["mean"]) else math.nan
    for spec in contrasts:
        name, a, b = spec["name"], spec["a"], spec["b"]
        signal, regime = spec.get("signal", "abstain_p"), spec.get("regime", "cross")
        for m in (a, b):
            if m not in rows_by_model:
                raise TilelliError(f"auroc.contrasts '{name}': model '{m}' is not in probe.models")
        rows_a, rows_b = _aligned(rows_by_model[a], rows_by_model[b], name)
        keep_a, y = contrast_rows(rows_a, regime)
        keep_b, _ = contrast_rows(rows_b, regime)
        sa, sb = oriented(keep_a, signal), oriented(keep_b, signal)
        comp = _compare(y, sa, sb, cfg)
        summary["contrasts"][name] = {"a": a, "b": b, "signal": signal, "regime": regime,
                                      "auroc_a": stats.auroc(y, sa), "auroc_b": stats.auroc(y, sb),
                                      **{k: comp[k] for k in ("delta", "lo", "hi", "p")}}
    return summary


def build_report(rows_by_model: dict[str, list[dict]], cfg: ReportConfig,
                 contrasts: list[dict] = (), groups: dict[str, list[str]] | None = None,
                 ranked: list[str] | None = None) -> tuple[dict, dict]:
    """(metrics/auroc.json content, per-model tests) with NaN written as null."""
    for m in rows_by_model:
        if m in RESERVED:
            raise TilelliError(f"model name '{m}' is reserved in metrics/auroc.json; rename it")
    metrics, tests = {}, {}
    for m, rows in rows_by_model.items():
        metrics[m], tests[m] = model_report(rows, cfg)
    metrics["summary"] = cross_model_summary(rows_by_model, metrics, list(contrasts), cfg, groups, ranked)
    return nan_to_none(metrics), nan_to_none(tests)


# ---------------------------------------------------------------------------------------------
# Behaviour rates
# ---------------------------------------------------------------------------------------------
def _rate(hits: int, n: int, ci: float) -> dict:
    lo, hi = stats.wilson_ci(hits, n, ci)
    return {"hits": int(hits), "n": int(n), "rate": hits / n if n else math.nan, "lo": lo, "hi": hi}


def _aurc(rows: list[dict]) -> dict:
    """AURC of abstain_p (answer lowest first; error = expected abstain) and the random-order AURC."""
    score = np.array([math.nan if r["abstain_p"] is None else r["abstain_p"] for r in rows], dtype=float)
    error = np.array([r["expected"] == "abstain" for r in rows], dtype=float)
    return {"aurc": stats.risk_coverage(score, error)[3], "random": float(error.mean())}


def behaviour(rows: list[dict], gate_rows: list[dict] | None = None, ci: float = 0.95) -> dict:
    """Refusal on answerable prompts, IDK on abstain prompts, loop rate; the held-out gate sets.

    {probe: {refusal_on_answerable, idk_on_abstain, loop}, abstain_p_aurc: {aurc, random},
     gates: {set: {abstained, refused}}}, each rate leaf {hits, n, rate, lo, hi} with a Wilson CI. The held-out IDK gate counts
    `abstained` (the template itself); the false-inability rate counts `refused` (any refusal).
    """
    answerable = [r for r in rows if r["expected"] == "answer"]
    abstain = [r for r in rows if r["expected"] == "abstain"]
    out = {"probe": {
        "refusal_on_answerable": _rate(sum(r["label"] == "refusal" for r in answerable), len(answerable), ci),
        "idk_on_abstain": _rate(sum(r["label"] == "refusal" for r in abstain), len(abstain), ci),
        "loop": _rate(sum(r["label"] == "loop" for r in rows), len(rows), ci),
    }, "abstain_p_aurc": _aurc(rows), "gates": {}}
    for name in sorted({g["set"] for g in gate_rows or []}):
        g_rows = [g for g in gate_rows if g["set"] == name]
        out["gates"][name] = {
            "abstained": _rate(sum(g["abstained"] for g in g_rows), len(g_rows), ci),
            "refused": _rate(sum(g["label"] == "refusal" for g in g_rows), len(g_rows), ci),
        }
    return nan_to_none(out)
