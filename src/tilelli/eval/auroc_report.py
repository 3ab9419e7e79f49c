"""The AUROC report: its numbers (metrics/auroc.json, metrics/behaviour.json) and its markdown pages (results/auroc/).

Report
------
The AUROC report: model x signal x contrast tables, paired tests, the pre-registered win rule,
seed-pooled variants, paired contrasts between groups and the best-variant comparison.

For each model (its probe rows, with the prompt-only controls merged in by id) and each of the 7
contrasts (in_domain vs each OOD regime, and "cross" = in_domain vs all 6 pooled):
- every reported signal (the 7 model signals and the 2 controls): AUROC of its oriented score +
  stratified bootstrap percentile CI;
- paired comparisons against four references, each with the paired bootstrap CI of the AUROC
  difference and the paired DeLong p-value, Holm-adjusted per model and reference (each reference
  is a Holm family of its own: adding one changes no other family's p_holm):
    "best_baseline":    the baseline (max_softmax_last, max_softmax_mean, abstain_p) with the
                        highest AUROC in THIS contrast (pre-registered); the 4 candidates x 7
                        contrasts = 28 tests;
    "max_softmax_mean": the fixed reference of the published N1 claim; the same 28 tests;
    "surface":          the prompt-only control: every baseline and candidate, 7 x 7 = 49 tests
                        (a signal that does not beat it reads no more than the prompt's surface).
    "byte_length":      the prompt's length (beyond the paper): the 4 candidates x 7 contrasts,
                        so that an N1 "win" can be required to beat prompt length too.
- win rule (pre-registered): delta >= min_gain (0.02) AND the CI of delta excludes 0 (lo > 0);
  `win_holm` additionally requires the Holm-adjusted DeLong p < alpha.
- router family (router_conf, router_entropy_var) wins a contrast iff some member has `win_holm`
  (the raw rule over 2 members x 7 contrasts would find chance wins); "proven" iff it wins
  >= proven_min_wins (4) of the 7 contrasts including at least one of gibberish,
  factual_misleading, neo_false_inability. `wins_vs_max_softmax_mean` is the published N1 count;
  `wins_vs_max_softmax_mean_and_byte_length` (beyond the paper) counts the contrasts where ONE
  member wins after Holm against max_softmax_mean AND against byte_length.

Two questions. The 7 contrasts answer the published one, "is this prompt in-domain?"; but half
of the pooled OOD prompts (ood_style, long_input, neo_false_inability) should be answered, and
prompt length alone separates some regimes. `abstain_vs_answer` (regimes.ABSTAIN, beyond the
paper) answers "should the model abstain on this prompt?": expected abstain (positive) against
expected answer, all prompts, which is what the heads are trained to flag. It is scored for every
reported signal as a table of its own (<model>.abstain_vs_answer.<signal>,
groups.<group>.abstain_vs_answer.<signal>), never inside a signal's table of the 7 contrasts and
never in a Holm family or a win count. summary.abstain_vs_answer holds each head fixed in advance
(abstain_heads: the main and weight-0 variants, the best variant, the splice and v4's abstain_p,
v4's router_conf, router_entropy_var and max_softmax_mean) against every prompt-only control,
read against the fixed references byte_length and nn_char4 (no maximum over the controls).

Groups (v4's seeds = one base chain each, the splice's seeds, a variant's seeds): the AUROC is the
mean over seeds with the small-sample-corrected cluster bootstrap CI (stats.pooled: seed training
variance at n - 1 df + prompt sampling), every signal is compared with
`surface`, and the whole per-model analysis (paired tests against the four references, Holm, the
win counts and the router family) is repeated on the seed-pooled draws (stats.pool; there each
paired p inverts the same corrected interval instead of DeLong, which would hold the seeds fixed), so a group's
`wins`, `wins_holm` and `router_family` are those of the seeds pooled, never of seed 0 alone. Paired
contrasts between groups pair the seeds by position and the prompts by id (params auroc.contrasts;
e.g. splice_vs_joint, and splice_vs_untrained: the splice against v4's own never-trained head,
without which "the splice drops to about 0.54" cannot be told from "there is no head"). Each group
also gets `abstain_flags_in_domain`: its head's false-positive rate on the in-domain prompts at
abstain_p >= flag_threshold (0.5), pooled over seeds (the published splice: 27%). The best variant is the
ranked group with the highest pooled cross abstain_p; the weight-0 variant is compared with every
other ranked variant, and "ceiling" says every ranked variant's CI lies above `ceiling` (0.95), where
no ranking is possible. Every quantity is computed from stats.Draws scored once per (model, signal,
contrast): ~20 models x 11 signals x 7 contrasts x 2,000 resamples take seconds.

Familiarity controls (summary.familiarity): the baseline is regimes.FAMILIARITY_BASELINE (nn_char4,
the measure of "have I seen this phrasing?"), fixed in advance, not chosen on the probe; the other
prompt-only baselines (regimes.PROMPT_BASELINES: surface, ngram_lr) are reported beside it,
descriptive only. Each head is compared with it on the same prompts: seed-pooled paired difference,
its p (the inversion of the same corrected interval: p <= alpha exactly when the CI at 1 - alpha
excludes 0), Holm across the distinct comparisons. The heads are fixed in advance too (abstain_p of
the main and the weight-0 variants and of the splice, v4's regimes.V4_FAMILIARITY_SIGNAL,
max_softmax_mean), except "best_variant": the ranked group with the highest pooled cross abstain_p,
chosen on the probe, which favours the head. So for best_variant a DOES NOT HOLD is a fortiori
(even the head the probe favours does not beat the baseline) and a HOLDS is not; every other
verdict is as strong as its CI says. The decision CI follows Holm's step-down: ordered by p, the
j-th (from 0) gets the paired bootstrap CI at level 1 - alpha / (m - j) until the first CI that
includes 0; that one and every later one get that step's level. A CI excluding 0 is then a
rejection of a procedure that controls the familywise error at alpha (the first true null in any
order is tested at level <= alpha / m0, every later one at most at that level).

Tables
------
Markdown tables for results/auroc/: one page per model and a cross-model summary.

Cells read "0.62 [0.48, 0.75]" (AUROC and its bootstrap CI). In the comparison tables a win
(pre-registered rule and Holm-adjusted DeLong p < alpha) is marked **W**, the rule alone (w);
Holm-adjusted p-values sit beside it so a reader sees both the rule and the test. Numbers come
straight from the metrics dicts: nothing is recomputed.

Figures and DVC plot data (write_figures, for stages/auroc.py)
--------------------------------------------------------------
Figures and DVC plot data for the AUROC stage (matplotlib Agg: offline PNGs).

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
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from tilelli.io import TilelliError
from tilelli.paths import AUROC
from tilelli.eval import pyplot, save_png, stats
from tilelli.eval.regimes import (ABSTAIN, ABSTAIN_ORIENTATION, BASELINES, CANDIDATES, CONTRASTS, CONTROLS, CROSS,
                                  FAMILIARITY_BASELINE, HARD_REGIMES, IN_DOMAIN, N1_REFERENCE, OOD_REGIMES,
                                  PROMPT_BASELINES, REPORTED, ROUTER_FAMILY, SIGNALS, SURFACE,
                                  V4_FAMILIARITY_SIGNAL, contrast_rows, nan_to_none, oriented)


# ---- Report --------------------------------------------------------------------------------------
RESERVED = ("summary", "groups")
LENGTH = "byte_length"  # the prompt-length control: a reference of its own (N1 must beat it too)
REFERENCES = ("best_baseline", N1_REFERENCE, SURFACE, LENGTH)
# The fixed references of summary.abstain_vs_answer's reading (chosen before any data, no maximum):
# prompt length and the distance to the training prompts. Every control is reported beside them.
ABSTAIN_REFERENCES = (LENGTH, "nn_char4")
ABSTAIN_QUESTION = "should the model abstain on this prompt? (expected abstain vs expected answer, beyond the paper)"
CROSS_QUESTION = "is this prompt in-domain? (in_domain vs the 6 other regimes pooled, as published)"


@dataclass(frozen=True)
class ReportConfig:
    """params `auroc.<field>`, same names: bootstrap resamples, CI level, win rule, Holm alpha."""
    bootstrap: int = 2000
    ci: float = 0.95
    min_gain: float = 0.02
    seed: int = 0
    alpha: float = 0.05
    proven_min_wins: int = 4
    ceiling: float = 0.95  # every ranked variant's pooled CI lower bound >= this: "at ceiling"
    flag_threshold: float = 0.5  # abstain_p >= this flags a prompt (the head's sigmoid decision point)

    @classmethod
    def from_params(cls, section: dict) -> "ReportConfig":
        try:
            cfg = cls(**{f.name: type(f.default)(section[f.name]) for f in fields(cls) if f.name in section})
        except (TypeError, ValueError) as e:
            raise TilelliError(f"params.yaml: auroc: {e}") from None
        if cfg.bootstrap < 100 or not 0 < cfg.ci < 1 or not 0 < cfg.alpha < 1:
            raise TilelliError(f"params.yaml: auroc needs bootstrap >= 100 and ci, alpha in (0, 1) (got {cfg})")
        return cfg


def compared(ref: str) -> tuple[str, ...]:
    """The signals tested against a reference: candidates, or every model signal against surface."""
    return SIGNALS if ref == SURFACE else CANDIDATES


# ---------------------------------------------------------------------------------------------
# Inputs: controls merged by id, every model aligned to one prompt order
# ---------------------------------------------------------------------------------------------
def merge_controls(rows: list[dict], controls: list[dict], name: str) -> list[dict]:
    """The model's rows with `surface` and `byte_length` copied in from the controls by id.

    Error if the prompt ids differ or a prompt's regime disagrees (a stale probe or controls file).
    """
    by_id = {c["id"]: c for c in controls}
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids) or set(ids) != set(by_id):
        missing, extra = set(by_id) - set(ids), set(ids) - set(by_id)
        raise TilelliError(f"{name}: probe ids differ from the controls' ({len(missing)} missing, "
                           f"{len(extra)} extra, {len(ids) - len(set(ids))} duplicated)")
    out = []
    for r in rows:
        c = by_id[r["id"]]
        if c["regime"] != r["regime"]:
            raise TilelliError(f"{name}: prompt {r['id']!r} is {r['regime']} in the probe, {c['regime']} in the controls")
        for k in CONTROLS:
            if isinstance(c.get(k), bool) or not isinstance(c.get(k), (int, float)):
                raise TilelliError(f"controls: prompt {c['id']!r} field '{k}' must be a number (got {c.get(k)!r})")
        out.append({**r, **{k: float(c[k]) for k in CONTROLS}})
    return out


def _align(rows_by_model: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Every model's rows in the first model's prompt order (pairs prompts across models by id)."""
    first, ref = next(iter(rows_by_model.items()))
    regime = {r["id"]: r["regime"] for r in ref}
    out = {}
    for m, rows in rows_by_model.items():
        by_id = {r["id"]: r for r in rows}
        if len(by_id) != len(rows) or set(by_id) != set(regime):
            raise TilelliError(f"models '{m}' and '{first}' were probed on different prompt ids")
        if any(by_id[i]["regime"] != g for i, g in regime.items()):
            raise TilelliError(f"models '{m}' and '{first}' disagree on a prompt's regime")
        out[m] = [by_id[r["id"]] for r in ref]
    return out


def score(rows: list[dict], cfg: ReportConfig) -> dict[str, dict[str, stats.Draws]]:
    """{contrast: {signal: Draws}} for every reported signal: the one place AUROCs are computed.

    The 7 CONTRASTS and ABSTAIN ("abstain_vs_answer": expected abstain vs expected answer)."""
    out = {}
    for contrast in CONTRASTS + (ABSTAIN,):
        keep, y = contrast_rows(rows, contrast)
        if y.sum() == 0 or (1 - y).sum() == 0:
            need = "expected abstain and answer" if contrast == ABSTAIN else "in_domain and OOD"
            raise TilelliError(f"contrast '{contrast}' needs {need} rows in the probe file")
        out[contrast] = {s: stats.draws(y, oriented(keep, s), cfg.bootstrap, cfg.seed) for s in REPORTED}
    return out


# ---------------------------------------------------------------------------------------------
# One model
# ---------------------------------------------------------------------------------------------
def _best_baseline(aurocs: dict[str, float]) -> str | None:
    finite = [b for b in BASELINES if not math.isnan(aurocs[b])]
    return max(finite, key=lambda b: aurocs[b]) if finite else None  # ties -> BASELINES order


def _compare(cand: stats.Draws, ref: stats.Draws, cfg: ReportConfig) -> dict:
    """Paired comparison on the same prompts: delta, bootstrap CI, DeLong z/p, the raw win rule."""
    r = stats.pooled([cand], [ref], cfg.ci, cfg.seed)
    delta = r["estimate"]
    win = bool(not math.isnan(delta) and delta >= cfg.min_gain - 1e-12 and r["lo"] > 0)
    return {"delta": delta, "lo": r["lo"], "hi": r["hi"], "z": r["z"], "p": r["p"], "win": win}


def _nan_draws(like: stats.Draws) -> stats.Draws:
    return stats.Draws(math.nan, np.full_like(like.boot, np.nan), np.full_like(like.v10, np.nan),
                       np.full_like(like.v01, np.nan))


def _holm(cells: list[dict], cfg: ReportConfig) -> None:
    for cell, p_adj in zip(cells, stats.holm([cell["p"] for cell in cells])):
        cell["p_holm"] = float(p_adj)
        cell["win_holm"] = bool(cell["win"] and p_adj < cfg.alpha)


def model_report(scored: dict[str, dict[str, stats.Draws]], cfg: ReportConfig = ReportConfig()) -> tuple[dict, dict]:
    """(metrics, tests) for one model's scored rows (see `score`).

    metrics = {signal: {contrast: {auroc, lo, hi, n_pos, n_neg}},  for every signal in REPORTED
               abstain_vs_answer: {signal: {auroc, lo, hi, n_pos, n_neg}},  (if scored; no tests)
               wins: {ref: {signal: n}}, wins_holm: {ref: {signal: n}},
               vs_surface: {signal: {contrast: {delta, lo, hi, p, p_holm, win, win_holm}}},
               router_family: {...}}
    tests   = {ref: {signal: {contrast: {baseline, delta, lo, hi, z, p, p_holm, win, win_holm}}}}
    """
    metrics: dict = {s: {} for s in REPORTED}
    tests: dict = {ref: {c: {} for c in compared(ref)} for ref in REFERENCES}
    for contrast, by_signal in scored.items():
        cells = {}
        for s, d in by_signal.items():
            lo, hi = stats.interval(d, cfg.ci)
            cells[s] = {"auroc": d.auroc, "lo": lo, "hi": hi, "n_pos": d.n_pos, "n_neg": d.n_neg}
        if contrast not in CONTRASTS:  # abstain_vs_answer: its own table, outside the tests, Holm and wins
            metrics[contrast] = cells
            continue
        for s, cell in cells.items():
            metrics[s][contrast] = cell
        best = _best_baseline({b: by_signal[b].auroc for b in BASELINES})
        for ref in REFERENCES:
            ref_signal = best if ref == "best_baseline" else ref
            ref_draws = by_signal[ref_signal] if ref_signal else _nan_draws(by_signal[SURFACE])
            for c in compared(ref):
                tests[ref][c][contrast] = {"baseline": ref_signal, **_compare(by_signal[c], ref_draws, cfg)}
    for ref in REFERENCES:  # Holm across each reference's family (signals x 7 contrasts)
        _holm([tests[ref][c][k] for c in compared(ref) for k in CONTRASTS], cfg)
    for key, rule in (("wins", "win"), ("wins_holm", "win_holm")):
        metrics[key] = {ref: {c: sum(tests[ref][c][k][rule] for k in CONTRASTS) for c in compared(ref)}
                        for ref in REFERENCES}
    metrics["vs_surface"] = {c: {k: {f: v for f, v in cell.items() if f not in ("baseline", "z")}
                                 for k, cell in by_k.items()} for c, by_k in tests[SURFACE].items()}
    metrics["router_family"] = _router_family(tests, cfg)
    return metrics, tests


def _router_family(tests: dict, cfg: ReportConfig) -> dict:
    """A contrast is won iff some member wins it after Holm (`win_holm`), per reference."""
    out = {}
    for ref in REFERENCES:
        won = [k for k in CONTRASTS if any(tests[ref][c][k]["win_holm"] for c in ROUTER_FAMILY)]
        out[f"wins_vs_{ref}"] = len(won)
        out[f"regimes_won_vs_{ref}"] = won
        out[f"proven_vs_{ref}"] = bool(len(won) >= cfg.proven_min_wins and set(won) & set(HARD_REGIMES))
    out["proven"] = out["proven_vs_best_baseline"]
    # N1 held to prompt length too (beyond the paper; wins_vs_max_softmax_mean stays the published
    # count): a contrast counts when ONE member wins it after Holm against max_softmax_mean AND
    # against byte_length, each test in its own reference's Holm family (both must reject).
    both = [k for k in CONTRASTS if any(tests[N1_REFERENCE][c][k]["win_holm"] and tests[LENGTH][c][k]["win_holm"]
                                        for c in ROUTER_FAMILY)]
    out["wins_vs_max_softmax_mean_and_byte_length"] = len(both)
    out["regimes_won_vs_max_softmax_mean_and_byte_length"] = both
    return out


# ---------------------------------------------------------------------------------------------
# Groups: seeds pooled
# ---------------------------------------------------------------------------------------------
def _pooled_cell(members: list[stats.Draws], cfg: ReportConfig) -> dict:
    r = stats.pooled(members, None, cfg.ci, cfg.seed)
    return {"auroc": r["estimate"], "lo": r["lo"], "hi": r["hi"], "n_seeds": r["n_seeds"],
            "per_seed": [d.auroc for d in members]}


def paired_cell(a: list[stats.Draws], b: list[stats.Draws], cfg: ReportConfig, per_seed: bool = True) -> dict:
    """Seed-combined paired comparison of a_s vs b_s: {delta, lo, hi, p, n_seeds[, per_seed: [{delta, lo, hi, p}]]}."""
    r = stats.pooled(a, b, cfg.ci, cfg.seed)
    out = {"delta": r["estimate"], "lo": r["lo"], "hi": r["hi"], "p": r["p"], "n_seeds": r["n_seeds"]}
    if per_seed:
        out["per_seed"] = []
        for x, y in zip(a, b):
            s = stats.pooled([x], [y], cfg.ci, cfg.seed)
            out["per_seed"].append({"delta": s["estimate"], "lo": s["lo"], "hi": s["hi"], "p": s["p"]})
    return out


def group_report(members: list[dict[str, dict[str, stats.Draws]]], cfg: ReportConfig) -> dict:
    """{signal: {contrast: pooled cell}, abstain_vs_answer: {signal: pooled cell},
    vs_surface: {signal: {contrast: paired cell}}} over the seeds.

    The vs_surface cells carry no per_seed list: each seed's comparison is <model>.vs_surface.
    abstain_vs_answer (expected abstain vs expected answer, beyond the paper) is a table of its own,
    so a signal's table keeps exactly the 7 published contrasts (claims read every key of it).
    """
    out: dict = {s: {k: _pooled_cell([m[k][s] for m in members], cfg) for k in CONTRASTS} for s in REPORTED}
    if all(ABSTAIN in m for m in members):  # its own table: a signal's table stays the 7 published contrasts
        out[ABSTAIN] = {s: _pooled_cell([m[ABSTAIN][s] for m in members], cfg) for s in REPORTED}
    out["vs_surface"] = {s: {k: paired_cell([m[k][s] for m in members], [m[k][SURFACE] for m in members], cfg,
                                            per_seed=False) for k in CONTRASTS} for s in SIGNALS}
    return out


def in_domain_flag_rate(members: list[list[dict]], cfg: ReportConfig) -> dict | None:
    """The head's false-positive rate: the share of in-domain (answerable) prompts whose abstain_p
    >= cfg.flag_threshold, pooled over the group's seeds (stats.pooled_rate); None without a head.

    {rate, lo, hi, hits, n, n_seeds, per_seed, threshold}: the published splice flags 27%.
    """
    flags = []
    for rows in members:
        p = [r.get("abstain_p") for r in rows if r["regime"] == IN_DOMAIN]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in p):
            return None
        flags.append([float(v >= cfg.flag_threshold) for v in p])
    return {**stats.pooled_rate(flags, cfg.ci, cfg.bootstrap, cfg.seed), "threshold": cfg.flag_threshold}


def pooled_tests(members: list[dict[str, dict[str, stats.Draws]]], cfg: ReportConfig) -> dict:
    """{wins, wins_holm, router_family} of model_report run on the seed-pooled draws (stats.pool):
    each paired test is `pooled`'s corrected cluster bootstrap, its p the inversion of that interval, Holm per reference."""
    scored = {k: {s: stats.pool([m[k][s] for m in members], cfg.seed) for s in REPORTED} for k in CONTRASTS}
    metrics, _ = model_report(scored, cfg)
    return {key: metrics[key] for key in ("wins", "wins_holm", "router_family")}


def _members(name: str, groups: dict[str, list[str]], spec: str) -> list[str]:
    if name in groups:
        return groups[name]
    if any(name in ms for ms in groups.values()):
        return [name]
    raise TilelliError(f"auroc.contrasts '{spec}': '{name}' is neither a probe group "
                       f"({', '.join(groups)}) nor a probed model")


def _pair_up(a: list[str], b: list[str], spec: str) -> tuple[list[str], list[str]]:
    """Seeds pair by position; a single model pairs with every seed of the other side."""
    if len(a) == len(b):
        return a, b
    if len(a) == 1 or len(b) == 1:
        return a * len(b) if len(a) == 1 else a, b * len(a) if len(b) == 1 else b
    raise TilelliError(f"auroc.contrasts '{spec}': {len(a)} seeds against {len(b)}; pairing needs equal counts")


def group_contrast(spec: dict, scored: dict, groups: dict[str, list[str]], cfg: ReportConfig) -> dict:
    """{a, b, signal, regime, auroc_a, auroc_b, delta, lo, hi, p, n_seeds, per_seed} for one params entry."""
    a, b, signal, regime = _contrast_members(spec, groups)
    da, db = [scored[m][regime][signal] for m in a], [scored[m][regime][signal] for m in b]
    return {"a": spec["a"], "b": spec["b"], "signal": signal, "regime": regime,
            "auroc_a": float(np.mean([d.auroc for d in da])), "auroc_b": float(np.mean([d.auroc for d in db])),
            **paired_cell(da, db, cfg)}


def best_variant(group_metrics: dict, scored: dict, groups: dict[str, list[str]], ranked: list[str],
                 reference: str | None, cfg: ReportConfig) -> dict:
    """The ranked variant with the best pooled cross abstain_p, the ceiling flag, reference vs each other.

    {reference, best, best_auroc: {auroc, lo, hi, n_seeds}, ceiling, ceiling_at,
     vs_<reference>: {variant: paired cell of reference minus variant}}
    """
    cells = {v: group_metrics[v]["abstain_p"][CROSS] for v in ranked}
    finite = [v for v in ranked if not math.isnan(cells[v]["auroc"])]
    best = max(finite, key=lambda v: cells[v]["auroc"]) if finite else None  # ties -> params order
    out = {"reference": reference, "best": best,
           "best_auroc": {k: cells[best][k] for k in ("auroc", "lo", "hi", "n_seeds")} if best else None,
           "ceiling": bool(finite and len(finite) == len(ranked) and all(cells[v]["lo"] >= cfg.ceiling for v in ranked)),
           "ceiling_at": cfg.ceiling}
    if reference:
        out[f"vs_{reference}"] = {}
        for v in ranked:
            if v != reference:
                a, b = _pair_up(groups[reference], groups[v], f"vs_{reference}.{v}")
                out[f"vs_{reference}"][v] = paired_cell([scored[m][CROSS]["abstain_p"] for m in a],
                                                        [scored[m][CROSS]["abstain_p"] for m in b], cfg)
    return out


# ---------------------------------------------------------------------------------------------
# Familiarity controls: every head against the fixed prompt-only baseline (FAMILIARITY_BASELINE)
# ---------------------------------------------------------------------------------------------
def _cell(d: stats.Draws, cfg: ReportConfig) -> dict:
    lo, hi = stats.interval(d, cfg.ci)
    return {"auroc": d.auroc, "lo": lo, "hi": hi}


def familiarity_baseline(scored_one: dict[str, dict[str, stats.Draws]], cfg: ReportConfig) -> dict:
    """The familiarity controls' reference: FAMILIARITY_BASELINE, fixed in advance (regimes).

    {name, chosen_by, cross: {baseline: AUROC}, regimes: {contrast: {auroc, lo, hi}} of the fixed
    one, best_per_regime: {regime: {baseline, auroc, lo, hi}} (the best baseline of each regime)}.
    `cross` and best_per_regime are every PROMPT_BASELINE's, descriptive only: nothing is chosen on
    them. Prompt-only, so any one model's scored rows give it. A NaN cross AUROC -> TilelliError.
    """
    name = FAMILIARITY_BASELINE
    cross = {b: scored_one[CROSS][b].auroc for b in PROMPT_BASELINES}
    if math.isnan(cross[name]):
        raise TilelliError(f"familiarity controls: the fixed baseline {name} has no cross AUROC (NaN control values?)")
    best_per_regime = {}
    for k in OOD_REGIMES:
        by_b = {b: scored_one[k][b] for b in PROMPT_BASELINES if not math.isnan(scored_one[k][b].auroc)}
        if by_b:
            b = max(by_b, key=lambda x: by_b[x].auroc)
            best_per_regime[k] = {"baseline": b, **_cell(by_b[b], cfg)}
    return {"name": name, "chosen_by": "fixed in advance (regimes.FAMILIARITY_BASELINE), not chosen on the probe",
            "cross": cross, "regimes": {k: _cell(scored_one[k][name], cfg) for k in CONTRASTS},
            "best_per_regime": best_per_regime}


def familiarity_heads(heads: dict[str, str], group_metrics: dict, best: str | None) -> dict[str, tuple[str, str]]:
    """{label: (group, signal)}: abstain_p of the given heads, of the best variant and of the splice,
    and v4's V4_FAMILIARITY_SIGNAL (max_softmax_mean). All fixed in advance but the best variant
    (chosen on the probe: a DOES NOT HOLD of it is a fortiori, a HOLDS is not)."""
    out = {label: (g, "abstain_p") for label, g in heads.items() if g in group_metrics}
    if best:
        out["best_variant"] = (best, "abstain_p")
    if "v4" in group_metrics:
        out["v4"] = ("v4", V4_FAMILIARITY_SIGNAL)
    if "splice" in group_metrics:
        out["splice"] = ("splice", "abstain_p")
    return out


def familiarity_controls(heads: dict[str, tuple[str, str]], scored: dict, groups: dict[str, list[str]],
                         baseline: str | None, cfg: ReportConfig) -> dict:
    """{label: {group, signal, baseline, auroc_head, auroc_baseline, delta, lo, hi, ci_level, lo_95, hi_95,
    p, p_holm, n_seeds}}: head minus baseline (cross), seeds pooled, Holm-stepped CI (module doc).

    Heads naming the same (group, signal) share one comparison (counted once in the Holm family).
    """
    if baseline is None:
        return {}
    pairs = {gs: ([scored[m][CROSS][gs[1]] for m in groups[gs[0]]], [scored[m][CROSS][baseline] for m in groups[gs[0]]])
             for gs in dict.fromkeys(heads.values())}
    base = {gs: stats.pooled(a, b, cfg.ci, cfg.seed) for gs, (a, b) in pairs.items()}
    p_holm = dict(zip(base, stats.holm([base[gs]["p"] for gs in base])))
    finite = sorted([gs for gs in base if not math.isnan(base[gs]["p"])], key=lambda gs: base[gs]["p"])
    level, stopped, cells = {}, None, {}
    for j, gs in enumerate(finite):
        alpha = stopped if stopped is not None else cfg.alpha / (len(finite) - j)
        r = stats.pooled(*pairs[gs], 1 - alpha, cfg.seed)
        level[gs] = (1 - alpha, r["lo"], r["hi"])
        if stopped is None and not (r["lo"] > 0 or r["hi"] < 0):
            stopped = alpha
    for gs, r in base.items():
        a, b = pairs[gs]
        ci_level, lo, hi = level.get(gs, (math.nan, math.nan, math.nan))
        cells[gs] = {"group": gs[0], "signal": gs[1], "baseline": baseline,
                     "auroc_head": float(np.mean([d.auroc for d in a])),
                     "auroc_baseline": float(np.mean([d.auroc for d in b])),
                     "delta": r["estimate"], "lo": lo, "hi": hi, "ci_level": ci_level,
                     "lo_95": r["lo"], "hi_95": r["hi"],
                     "p": r["p"], "p_holm": float(p_holm[gs]), "n_seeds": r["n_seeds"]}
    return {label: dict(cells[gs]) for label, gs in heads.items()}


# ---------------------------------------------------------------------------------------------
# Should the model abstain? Every head on expected abstain vs expected answer (beyond the paper)
# ---------------------------------------------------------------------------------------------
V4_ABSTAIN_SIGNALS = ("router_conf", "router_entropy_var", "max_softmax_mean")


def abstain_heads(heads: dict[str, str], groups: dict[str, list[str]], best: str | None) -> dict[str, tuple[str, str]]:
    """{label: (group, signal)}, fixed in advance (nothing chosen on the probe but the best ranked
    variant, chosen on the published cross contrast): abstain_p of the given heads ({label: group}:
    the main and the weight-0 variant), of the best ranked variant ("best_variant"), of the splice
    and of v4 ("splice", "v4": v4's head is never trained), and v4's router_conf, router_entropy_var
    and max_softmax_mean ("v4_<signal>")."""
    out = {label: (g, "abstain_p") for label, g in heads.items() if g in groups}
    if best:
        out["best_variant"] = (best, "abstain_p")
    for g in ("splice", "v4"):
        if g in groups:
            out[g] = (g, "abstain_p")
    if "v4" in groups:
        out.update({f"v4_{s}": ("v4", s) for s in V4_ABSTAIN_SIGNALS})
    return out


def abstain_vs_answer(heads: dict[str, tuple[str, str]], scored: dict, groups: dict[str, list[str]],
                      cfg: ReportConfig) -> dict:
    """summary.abstain_vs_answer: "should the model abstain on this prompt?" (module doc).

    {question, references: [byte_length, nn_char4],
     baselines: {control: {auroc, lo, hi, n_seeds, per_seed}},
     <label>: {group, signal, auroc: {auroc, lo, hi, n_seeds, per_seed},
               vs: {control: {delta, lo, hi, p, n_seeds}}}}     one entry per head (abstain_heads)

    Every cell is on ABSTAIN (expected abstain = positive, expected answer = negative, all 210
    prompts). auroc: the head's seed-pooled AUROC; vs: head minus each prompt-only control, seeds
    paired by position (each seed's control draws are the same prompts'), p that of paired_cell,
    unadjusted. The reading uses the fixed ABSTAIN_REFERENCES (byte_length and nn_char4), never the
    maximum over the controls; every control is reported beside them.

    Each control enters with its sign of regimes.ABSTAIN_ORIENTATION (`orientation` -1: reversed,
    stats.reversed_draws; +1, the published sign, for every control it does not name), fixed from
    the design, never chosen on the probe. The published signs were set for the other question
    ("longer / less familiar = more OOD"); on should-abstain vs should-answer the answerable set
    holds long_input, the longest prompts by construction, and the abstain regimes are short
    questions, so byte length enters reversed (shorter = should abstain): a head held against
    length in a direction wrong by construction would "beat" a control that predicts abstention well.
    """
    order = tuple(dict.fromkeys(ABSTAIN_REFERENCES + CONTROLS))
    sign = {b: ABSTAIN_ORIENTATION.get(b, +1) for b in order}

    def control(m: str, b: str) -> stats.Draws:
        d = scored[m][ABSTAIN][b]
        return d if sign[b] > 0 else stats.reversed_draws(d)

    out = {"question": ABSTAIN_QUESTION, "references": list(ABSTAIN_REFERENCES),
           "baselines": {b: {**_pooled_cell([control(next(iter(scored)), b)], cfg), "orientation": sign[b]}
                         for b in order}}
    clash = [label for label in heads if label in out]
    if clash:
        raise TilelliError(f"abstain_vs_answer: head label(s) {', '.join(clash)} clash with its own keys; rename")
    for label, (g, s) in heads.items():
        head = [scored[m][ABSTAIN][s] for m in groups[g]]
        out[label] = {
            "group": g, "signal": s, "auroc": _pooled_cell(head, cfg),
            "vs": {b: paired_cell(head, [control(m, b) for m in groups[g]], cfg, per_seed=False)
                   for b in order}}
    return out


# ---------------------------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------------------------
def build_report(rows_by_model: dict[str, list[dict]], cfg: ReportConfig, contrasts: list[dict] = (),
                 groups: dict[str, list[str]] | None = None, ranked: list[str] | None = None,
                 reference: str | None = None, heads: dict[str, str] | None = None) -> tuple[dict, dict]:
    """(metrics/auroc.json content, per-model tests) with NaN written as null.

    metrics = {<model>: model_report metrics, groups: {<group>: {members, ...group_report, ...pooled_tests}},
               summary: {contrasts: {name: group_contrast}, best_variant: best_variant or None,
                         familiarity: {baseline: familiarity_baseline, alpha, controls: familiarity_controls},
                         abstain_vs_answer: abstain_vs_answer of abstain_heads}}
    `groups` defaults to each model alone; `ranked` (the variants compared for the best abstain
    head) and `reference` (the weight-0 variant) name groups; `heads` ({label: group}) the abstain
    heads held against the fixed familiarity baseline (and, on abstain_vs_answer, against the controls)
    besides the best variant, v4 and the splice.
    """
    groups = groups or {m: [m] for m in rows_by_model}
    _check_inputs(rows_by_model, groups, contrasts, list(ranked or []), reference)
    unknown_heads = [g for g in (heads or {}).values() if g not in groups]
    if unknown_heads:
        raise TilelliError(f"head(s) {', '.join(unknown_heads)} to hold against the baselines are not probe groups")
    rows_by_model = _align(rows_by_model)
    scored = {m: score(rows, cfg) for m, rows in rows_by_model.items()}
    metrics, tests = {}, {}
    for m in rows_by_model:
        metrics[m], tests[m] = model_report(scored[m], cfg)
    metrics["groups"] = {g: {"members": list(ms), **group_report([scored[m] for m in ms], cfg),
                             "abstain_flags_in_domain": in_domain_flag_rate([rows_by_model[m] for m in ms], cfg),
                             **pooled_tests([scored[m] for m in ms], cfg)} for g, ms in groups.items()}
    metrics["summary"] = {
        "contrasts": {spec["name"]: group_contrast(spec, scored, groups, cfg) for spec in contrasts},
        "best_variant": best_variant(metrics["groups"], scored, groups, list(ranked), reference, cfg)
        if ranked else None,
    }
    baseline = familiarity_baseline(next(iter(scored.values())), cfg)
    best = (metrics["summary"]["best_variant"] or {}).get("best")
    compared_heads = familiarity_heads(dict(heads or {}), metrics["groups"], best)
    metrics["summary"]["familiarity"] = {
        "baseline": baseline, "alpha": cfg.alpha,
        "controls": familiarity_controls(compared_heads, scored, groups, baseline["name"], cfg)}
    metrics["summary"]["abstain_vs_answer"] = abstain_vs_answer(abstain_heads(dict(heads or {}), groups, best),
                                                                scored, groups, cfg)
    return nan_to_none(metrics), nan_to_none(tests)


def _check_inputs(rows_by_model: dict, groups: dict, contrasts, ranked: list[str], reference: str | None) -> None:
    """Every naming error before any statistics: reserved names, groups, ranked variants, contrasts."""
    if not rows_by_model:
        raise TilelliError("no models to report")
    reserved = [m for m in list(rows_by_model) + list(groups) if m in RESERVED]
    if reserved:
        raise TilelliError(f"name '{reserved[0]}' is reserved in {AUROC}; rename it")
    unknown = sorted({m for ms in groups.values() for m in ms} - set(rows_by_model))
    if unknown:
        raise TilelliError(f"group member(s) {', '.join(unknown)} were not probed")
    missing = [g for g in ranked + ([reference] if reference and ranked else []) if g not in groups]
    if missing:
        raise TilelliError(f"variant(s) {', '.join(missing)} to rank are not probe groups ({', '.join(groups)})")
    for v in ranked if reference else []:
        _pair_up(groups[reference], groups[v], f"vs_{reference}.{v}")
    names = [spec.get("name") for spec in contrasts]
    if len(set(names)) != len(names):
        raise TilelliError("auroc.contrasts: names must be unique")
    for spec in contrasts:
        _contrast_members(spec, groups)


def _contrast_members(spec: dict, groups: dict[str, list[str]]) -> tuple[list[str], list[str], str, str]:
    """(a members, b members paired by position, signal, regime) of one auroc.contrasts entry."""
    name = spec.get("name")
    if not name or "a" not in spec or "b" not in spec:
        raise TilelliError(f"auroc.contrasts: every entry needs name, a and b (got {spec})")
    signal, regime = spec.get("signal", "abstain_p"), spec.get("regime", CROSS)
    if signal not in REPORTED or regime not in CONTRASTS:
        raise TilelliError(f"auroc.contrasts '{name}': unknown signal '{signal}' or regime '{regime}'")
    a, b = _pair_up(_members(spec["a"], groups, name), _members(spec["b"], groups, name), name)
    return a, b, signal, regime


# ---------------------------------------------------------------------------------------------
# Behaviour rates
# ---------------------------------------------------------------------------------------------
def _rate(flags: list[int], ci: float) -> dict:
    """One model's rate leaf from its 0/1 flags: {hits, n, rate, lo, hi}, Wilson CI (prompts only)."""
    hits, n = int(sum(flags)), len(flags)
    lo, hi = stats.wilson_ci(hits, n, ci)
    return {"hits": hits, "n": n, "rate": hits / n if n else math.nan, "lo": lo, "hi": hi}


def abstain_risk_coverage(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """stats.risk_coverage of abstain_p: answer the lowest abstain_p first; error = expected abstain.

    The one definition the AURC metric (`behaviour`) and the risk-coverage figure both use.
    """
    score = np.array([math.nan if r.get("abstain_p") is None else r["abstain_p"] for r in rows], dtype=float)
    error = np.array([r["expected"] == "abstain" for r in rows], dtype=float)
    return stats.risk_coverage(score, error)


def behaviour_flags(rows: list[dict], gate_rows: list[dict] | None = None) -> dict:
    """The one definition of what each behaviour leaf counts: {"probe": {leaf: [0/1 per item]},
    "gates": {set: {leaf: [0/1 per item]}}}, items in the rows' order, gate sets sorted by name.

    probe.refusal_on_answerable  label == "refusal", among the rows with expected == "answer"
    probe.idk_on_abstain         label == "refusal", among the rows with expected == "abstain"
    probe.loop                   label == "loop", all rows: a loop within the model's own turn
    probe.collapse               row["collapsed"], all rows: the trigram loop anywhere in the generated
                                 bytes, including after the turn (never the turn's label)
    gates.<set>.abstained        g["abstained"]: the abstain template itself (the held-out IDK gate)
    gates.<set>.refused          label == "refusal": any refusal (the false-inability rate)
    """
    answerable = [r for r in rows if r["expected"] == "answer"]
    abstain = [r for r in rows if r["expected"] == "abstain"]
    out = {"probe": {"refusal_on_answerable": [int(r["label"] == "refusal") for r in answerable],
                     "idk_on_abstain": [int(r["label"] == "refusal") for r in abstain],
                     "loop": [int(r["label"] == "loop") for r in rows],
                     "collapse": [int(bool(r["collapsed"])) for r in rows]},
           "gates": {}}
    for name in sorted({g["set"] for g in gate_rows or []}):
        g_rows = [g for g in gate_rows if g["set"] == name]
        out["gates"][name] = {"abstained": [int(bool(g["abstained"])) for g in g_rows],
                              "refused": [int(g["label"] == "refusal") for g in g_rows]}
    return out


def behaviour(rows: list[dict], gate_rows: list[dict] | None = None, ci: float = 0.95) -> dict:
    """One model's behaviour: the rates of `behaviour_flags` and the abstain_p AURC.

    {probe: {refusal_on_answerable, idk_on_abstain, loop, collapse}, abstain_p_aurc: {aurc, random},
     gates: {set: {abstained, refused}}}, each rate leaf {hits, n, rate, lo, hi} with a Wilson CI
    (one seed: the prompts are the only sampling). The random-order AURC equals the share of
    prompts that expect abstention.
    """
    flags = behaviour_flags(rows, gate_rows)
    out = {"probe": {k: _rate(f, ci) for k, f in flags["probe"].items()},
           "abstain_p_aurc": {"aurc": abstain_risk_coverage(rows)[3],
                              "random": len(flags["probe"]["idk_on_abstain"]) / len(rows)},
           "gates": {s: {k: _rate(f, ci) for k, f in leaves.items()} for s, leaves in flags["gates"].items()}}
    return nan_to_none(out)


def group_behaviour(members: list[tuple[list[dict], list[dict] | None]], ci: float = 0.95,
                    n_boot: int = 2000, seed: int = 0) -> dict:
    """`behaviour` pooled over a group's seeds; members = each seed's (rows, gate_rows), in seed order.

    Every rate leaf is stats.pooled_rate of the seeds' `behaviour_flags` [n_seeds, n_items], the
    items aligned across seeds by id: {rate, lo, hi, hits, n, n_seeds, per_seed} with rate = the
    mean over seeds of each seed's rate, hits = the mean count over seeds (a seed mean, e.g. 8.4),
    n = n_items (the same prompts under every seed are not new trials), per_seed = each seed's
    rate, and a CI that covers the seeds' training variance and the prompt sampling (hulled with
    Wilson at n_items). A gate "k of n" is judged on that interval (claims: count with `of`). The
    AURC is the seed mean, with per_seed. Gate sets some seed lacks are left out; seeds probed on
    other items (ids differ) -> TilelliError.
    """
    if not members:
        raise TilelliError("group_behaviour: no members")
    key = lambda r: str(r["id"])  # noqa: E731
    flags, ids = [], []
    for rows, gate_rows in members:
        rows, gate_rows = sorted(rows, key=key), sorted(gate_rows or [], key=key)
        flags.append(behaviour_flags(rows, gate_rows))
        ids.append({"probe": [r["id"] for r in rows],
                    **{s: [g["id"] for g in gate_rows if g["set"] == s] for s in {g["set"] for g in gate_rows}}})
    sets = [s for s in flags[0]["gates"] if all(s in f["gates"] for f in flags)]
    for i, m in enumerate(ids[1:], 1):
        if bad := [k for k in ("probe", *sets) if m[k] != ids[0][k]]:
            raise TilelliError(f"group_behaviour: seed {i} was probed on other {bad[0]} items than seed 0 (ids differ)")

    def pool(leaf: list[list[int]]) -> dict:
        if not leaf[0]:
            return {**_rate([], ci), "n_seeds": len(leaf), "per_seed": [math.nan] * len(leaf)}
        return stats.pooled_rate(leaf, ci, n_boot, seed)

    aurc = [abstain_risk_coverage(rows)[3] for rows, _ in members]
    out = {"probe": {k: pool([f["probe"][k] for f in flags]) for k in flags[0]["probe"]},
           "abstain_p_aurc": {"aurc": float(np.mean(aurc)),   # NaN (no head) in any seed -> null
                              "random": float(np.mean([len(f["probe"]["idk_on_abstain"]) / len(f["probe"]["loop"])
                                                       for f in flags])),
                              "per_seed": aurc},
           "gates": {s: {k: pool([f["gates"][s][k] for f in flags]) for k in flags[0]["gates"][s]} for s in sets}}
    return nan_to_none(out)


# ---- Tables --------------------------------------------------------------------------------------
def fmt(x, nd: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def auroc_cell(m: dict | None) -> str:
    if not m or m.get("auroc") is None:
        return "n/a"
    return f"{m['auroc']:.2f} [{fmt(m['lo'])}, {fmt(m['hi'])}]"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _rate_cell(r: dict) -> str:
    return f"{r['hits']}/{r['n']} = {fmt(r['rate'])} [{fmt(r['lo'])}, {fmt(r['hi'])}]"


def _label(s: str) -> str:
    return f"{s} (control)" if s in CONTROLS else s


def auroc_table(cells: dict) -> str:
    """Reported signal x contrast AUROC table from {signal: {contrast: cell}} (a model page's, and
    PAPER_OUTLINE's v4 table); a reported signal absent from `cells` has no row. With an
    abstain_vs_answer table in `cells`, a last column answers the other question (beyond the paper)."""
    extra = cells.get(ABSTAIN)
    header = ["signal"] + list(CONTRASTS) + ([f"{ABSTAIN} (should abstain? beyond the paper)"] if extra else [])
    return md_table(header, [[_label(s)] + [auroc_cell(cells[s].get(k)) for k in CONTRASTS]
                             + ([auroc_cell(extra.get(s))] if extra else []) for s in REPORTED if s in cells])


def _diff_cell(t: dict, p_key: str = "p_holm") -> str:
    if t.get("delta") is None:
        return "n/a"
    mark = " **W**" if t.get("win_holm") else (" (w)" if t.get("win") else "")
    return f"{t['delta']:+.2f} [{fmt(t['lo'])}, {fmt(t['hi'])}] p={fmt(t[p_key], 3)}{mark}"


def model_page(name: str, metrics: dict, tests: dict, behaviour: dict, bootstrap: int) -> str:
    out = [f"# AUROC report: {name}\n",
           "Positive class = OOD; signals oriented so higher = more OOD (no post-hoc flipping). "
           f"95% stratified bootstrap CIs, {bootstrap} resamples. Controls are prompt-only (the same for "
           "every model): `surface` = logistic regression on trivial prompt features fitted on the "
           "training prompts, `byte_length` = prompt length, `nn_char4` = 1 - largest character-4-gram "
           "cosine to a chat training prompt, `ngram_lr` = logistic regression on hashed character "
           "1-4-grams fitted on the training prompts. Written by `stages/auroc.py`.\n",
           "## AUROC by signal and contrast (in_domain vs regime)\n",
           f"The 7 contrasts (the regimes and `cross`) answer the published question, {CROSS_QUESTION}; "
           f"`{ABSTAIN}` answers {ABSTAIN_QUESTION}: every prompt expected to be abstained on against every "
           "prompt expected to be answered, whatever its regime.\n", auroc_table(metrics)]
    for ref in REFERENCES:
        title = {"best_baseline": "the best baseline of each contrast",
                 SURFACE: "the surface-feature control",
                 LENGTH: "the byte-length control (beyond the paper: N1 must beat prompt length too)"}.get(ref, ref)
        out.append(f"\n## Paired comparisons against {title}\n")
        out.append("Cell: delta AUROC [paired bootstrap CI], Holm-adjusted DeLong p; **W** = win: the "
                   "pre-registered rule (delta >= min_gain, CI excludes 0) and Holm p < alpha; "
                   "(w) = the rule without Holm.\n")
        rows = [[c] + [_diff_cell(tests[ref][c][k]) for k in CONTRASTS] for c in compared(ref)]
        if ref == "best_baseline":
            rows.append(["(best baseline)"] + [str(tests[ref][CANDIDATES[0]][k]["baseline"]) for k in CONTRASTS])
        out.append(md_table(["signal"] + list(CONTRASTS), rows))
    rf = metrics["router_family"]
    out.append("\n## Router family (" + ", ".join(ROUTER_FAMILY) + "): a contrast is won when a member wins after Holm\n")
    out.append(md_table(["reference", "contrasts won", "which", "proven"],
                        [[ref, f"{rf[f'wins_vs_{ref}']}/7", ", ".join(rf[f"regimes_won_vs_{ref}"]) or "-",
                          str(rf[f"proven_vs_{ref}"])] for ref in REFERENCES]))
    out.append("\n## Behaviour (Wilson 95% CI)\n")
    rows = [[k, _rate_cell(v)] for k, v in behaviour["probe"].items()]
    for g, v in behaviour["gates"].items():
        rows += [[f"{g}: abstained (template)", _rate_cell(v["abstained"])], [f"{g}: refused", _rate_cell(v["refused"])]]
    out.append(md_table(["measure", "value"], rows))
    return "\n".join(out)


def _controls_section(metrics: dict, models: list[str]) -> list[str]:
    m = metrics[models[0]]  # prompt-only: the same for every model
    return ["\n## Prompt-only controls per regime\n",
            "AUROC of the controls alone (identical for every model). A regime the byte length "
            "separates (AUROC near 1) is length-defined: a signal's AUROC there says little about "
            "uncertainty (long_input is long by design).\n",
            md_table(["control"] + list(CONTRASTS), [[c] + [auroc_cell(m[c][k]) for k in CONTRASTS] for c in CONTROLS])]


def familiarity_section(fam: dict | None) -> str:
    """The fixed familiarity baseline and every head against it (summary.familiarity), as markdown."""
    if not fam or not fam.get("baseline") or not fam["baseline"].get("name"):
        return f"_No familiarity controls in {AUROC}._\n"
    base, controls = fam["baseline"], fam.get("controls") or {}
    cross = ", ".join(f"{b} {fmt(v, 3)}" for b, v in (base.get("cross") or {}).items()) or "n/a"
    rows = [[label, f"{c.get('group', 'n/a')} {c.get('signal', '')}", fmt(c.get("auroc_head"), 3),
             fmt(c.get("auroc_baseline"), 3),
             "n/a" if c.get("delta") is None else f"{c['delta']:+.3f} [{fmt(c.get('lo'), 3)}, {fmt(c.get('hi'), 3)}]",
             fmt(c.get("ci_level"), 4), fmt(c.get("p"), 3), fmt(c.get("p_holm"), 3)]
            for label, c in controls.items()]
    best_per_regime = base.get("best_per_regime") or {}
    per_regime = md_table(["", *CONTRASTS],
                          [[f"{base['name']} (fixed in advance)", *[auroc_cell((base.get("regimes") or {}).get(k))
                                                                  for k in CONTRASTS]],
                           ["best baseline of the regime", *[
                               f"{c['baseline']} {auroc_cell(c)}" if (c := best_per_regime.get(k)) else "-"
                               for k in CONTRASTS]]])
    return (f"Familiarity baseline: **{base['name']}**, fixed in advance (distance to the chat training prompts: "
            "\"have I seen this phrasing?\"), not chosen on the probe; pooled cross AUROC of every prompt-only "
            f"baseline, for reference: {cross}. Every head is fixed in advance but best_variant, the ranked "
            "variant the probe favours: for it a CI below 0 is a fortiori, a CI above 0 is not.\n\n"
            + per_regime
            + "\nEach head minus that baseline (cross, seeds pooled, paired over the same prompts). The CI is "
              "at the level of its Holm step (ordered by p, alpha "
              f"{fmt(fam.get('alpha'))}); a CI above 0 = the head beats the baseline after Holm.\n\n"
            + md_table(["head", "group, signal", "AUROC head", "AUROC baseline", "delta [Holm-level CI]", "CI level",
                        "p", "p (Holm)"], rows))


def abstain_section(av: dict | None) -> str:
    """summary.abstain_vs_answer as markdown: each head's AUROC and its margin over the fixed references."""
    heads = {k: v for k, v in (av or {}).items() if isinstance(v, dict) and "vs" in v}
    if not heads:
        return f"_No abstain-vs-answer heads in {AUROC}._\n"
    refs = av.get("references") or list(ABSTAIN_REFERENCES)

    def minus(c: dict | None) -> str:
        if not c or c.get("delta") is None:
            return "n/a"
        return f"{c['delta']:+.3f} [{fmt(c.get('lo'), 3)}, {fmt(c.get('hi'), 3)}] p={fmt(c.get('p'), 3)}"

    rows = [[label, f"{h['group']} {h['signal']}", auroc_cell(h.get("auroc"))]
            + [minus((h.get("vs") or {}).get(b)) for b in refs] for label, h in heads.items()]
    base = ", ".join(f"{b}{' (reversed)' if c.get('orientation') == -1 else ''} {auroc_cell(c)}"
                     for b, c in (av.get("baselines") or {}).items())
    return (f"Question: {av.get('question', ABSTAIN_QUESTION)}. Positive = every prompt expected to be abstained "
            "on, negative = every prompt expected to be answered (in_domain and the answerable OOD regimes "
            f"alike); the published cross AUROC answers another question, {CROSS_QUESTION}. "
            f"Prompt-only controls on this question: {base or 'n/a'}. Each head is held against the fixed "
            f"references {', '.join(refs)} (chosen in advance, no maximum over the controls; each control with "
            "its sign fixed from the design, byte length reversed: the answerable set holds long_input, the "
            "longest prompts by construction, so shorter = should abstain): delta = head minus "
            "reference, seeds pooled and paired over the same prompts, unadjusted p.\n\n"
            + md_table(["head", "group, signal", "AUROC [CI]"] + [f"minus {b} [CI]" for b in refs], rows))


def _groups_section(groups: dict) -> list[str]:
    out = ["\n## Seed-pooled groups: cross AUROC, mean over seeds [cluster bootstrap CI, seeds at n - 1 df]\n",
           md_table(["group", "seeds"] + [_label(s) for s in REPORTED],
                    [[g, str(len(v["members"]))] + [auroc_cell(v[s][CROSS]) for s in REPORTED] for g, v in groups.items()]),
           "\n## Seed-pooled groups against the surface control (cross): delta [CI], p (inverts the same CI)\n",
           md_table(["group"] + list(SIGNALS),
                    [[g] + [_diff_cell(v["vs_surface"][s][CROSS], "p") for s in SIGNALS] for g, v in groups.items()])]
    return out


def _best_variant_section(bv: dict | None) -> list[str]:
    if not bv:
        return []
    ref = bv["reference"]
    best = f"**{bv['best']}** {auroc_cell(bv['best_auroc'])}" if bv["best"] else "n/a"
    out = ["\n## Best abstain head among the ranked variants\n",
           f"Best pooled cross abstain_p: {best}. At ceiling (every ranked variant's CI above "
           f"{fmt(bv['ceiling_at'])}, no ranking possible): **{bv['ceiling']}**.\n"]
    if ref:
        out.append(f"\n{ref} minus each variant (cross abstain_p, seeds paired by position):\n")
        out.append(md_table(["variant", "delta [CI]", "p", "per seed"],
                            [[v, f"{fmt(c['delta'], 3)} [{fmt(c['lo'], 3)}, {fmt(c['hi'], 3)}]", fmt(c["p"], 3),
                              ", ".join(fmt(s["delta"], 3) for s in c["per_seed"])]
                             for v, c in bv[f"vs_{ref}"].items()]))
    return out


def summary_page(metrics: dict, behaviour: dict, models: list[str]) -> str:
    out = ["# AUROC summary across models\n",
           "Cross-regime AUROC (in_domain vs all 6 OOD regimes pooled) with 95% bootstrap CI: the "
           f"published question, {CROSS_QUESTION}. The other question, {ABSTAIN_QUESTION}, has its own "
           "section below.\n",
           md_table(["model"] + [_label(s) for s in REPORTED],
                    [[m] + [auroc_cell(metrics[m][s][CROSS]) for s in REPORTED] for m in models])]
    out += _controls_section(metrics, models)
    out += ["\n## Wins (of 7 contrasts, pre-registered rule and Holm) and the router family\n",
            "The router family wins a contrast when a member wins it after Holm; `vs byte_length` and the "
            "column after it are beyond the paper (the same member must beat max_softmax_mean and byte "
            "length).\n",
            md_table(["model"] + [f"{c} vs best" for c in CANDIDATES]
                     + ["router family vs best"] + [f"vs {ref}" for ref in REFERENCES[1:]]
                     + ["vs max_softmax_mean and byte_length", "proven"],
                     [[m] + [str(metrics[m]["wins_holm"]["best_baseline"][c]) for c in CANDIDATES]
                      + [str(metrics[m]["router_family"][f"wins_vs_{ref}"]) for ref in REFERENCES]
                      + [str(metrics[m]["router_family"]["wins_vs_max_softmax_mean_and_byte_length"]),
                         str(metrics[m]["router_family"]["proven"])] for m in models])]
    out += _groups_section(metrics["groups"])
    out += _best_variant_section(metrics["summary"]["best_variant"])
    out += [f"\n## Familiarity controls: every head against the distance-to-training baseline {FAMILIARITY_BASELINE} "
            "(fixed in advance)\n",
            familiarity_section(metrics["summary"].get("familiarity"))]
    out += ["\n## Should the model abstain? (abstain-vs-answer AUROC, beyond the paper)\n",
            abstain_section(metrics["summary"].get("abstain_vs_answer"))]
    if metrics["summary"]["contrasts"]:
        out.append("\n## Paired contrasts between groups (same prompts, seeds paired by position)\n")
        out.append(md_table(["contrast", "a", "b", "signal", "regime", "seeds", "AUROC a", "AUROC b", "delta [CI]", "p"],
                            [[n, c["a"], c["b"], c["signal"], c["regime"], str(c["n_seeds"]), fmt(c["auroc_a"]),
                              fmt(c["auroc_b"]), f"{fmt(c['delta'])} [{fmt(c['lo'])}, {fmt(c['hi'])}]", fmt(c["p"], 3)]
                             for n, c in metrics["summary"]["contrasts"].items()]))
    out.append("\n## Behaviour\n")
    out.append(md_table(["model", "refusal on answerable", "IDK on abstain", "loop"],
                        [[m] + [_rate_cell(behaviour[m]["probe"][k]) for k in ("refusal_on_answerable", "idk_on_abstain", "loop")]
                         for m in models]))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Figures and DVC plot data for the AUROC stage (matplotlib Agg: offline PNGs)
# ---------------------------------------------------------------------------------------------
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
    plt = pyplot()
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
    save_png(fig, path)


def roc_figure(path: Path, name: str, rows: list[dict], metrics: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    for s, (fpr, tpr, _) in roc_curves(rows).items():
        ax.step(fpr, tpr, where="post", label=f"{s} ({metrics[s][CROSS]['auroc']:.2f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate (in_domain flagged)")
    ax.set_ylabel("true positive rate (OOD flagged)")
    ax.set_title(f"{name}: ROC, in_domain vs all OOD")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_png(fig, path)


def risk_coverage_figure(path: Path, rows_by_model: dict[str, list[dict]]) -> None:
    plt = pyplot()
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
    save_png(fig, path)


def write_figures(out_dir: Path, rows_by_model: dict[str, list[dict]], metrics: dict) -> None:
    """All plot data and PNGs under out_dir."""
    write_plot_data(out_dir, rows_by_model)
    for m, rows in rows_by_model.items():
        (out_dir / m).mkdir(parents=True, exist_ok=True)
        heatmap(out_dir / m / "heatmap.png", m, metrics[m])
        roc_figure(out_dir / m / "roc.png", m, rows, metrics[m])
    risk_coverage_figure(out_dir / "risk_coverage.png", rows_by_model)
