"""Markdown tables for results/auroc/: one page per model and a cross-model summary.

Cells read "0.62 [0.48, 0.75]" (AUROC and its bootstrap CI). In the comparison tables a
pre-registered win is marked **W**; Holm-adjusted DeLong p-values sit beside it so a reader sees
both the rule and the test. Numbers come straight from the metrics dicts: nothing is recomputed.
"""
from __future__ import annotations

from tilelli.eval.auroc_report import REFERENCES
from tilelli.eval.regimes import CANDIDATES, CONTRASTS, ROUTER_FAMILY, SIGNALS


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


def _rate(r: dict) -> str:
    return f"{r['hits']}/{r['n']} = {fmt(r['rate'])} [{fmt(r['lo'])}, {fmt(r['hi'])}]"


def model_page(name: str, metrics: dict, tests: dict, behaviour: dict, n_boot: int) -> str:
    out = [f"# AUROC report: {name}\n",
           "Positive class = OOD; signals oriented so higher = more OOD (no post-hoc flipping). "
           f"95% stratified bootstrap CIs, {n_boot} resamples. Written by `stages/auroc.py`.\n",
           "## AUROC by signal and contrast (in_domain vs regime)\n",
           md_table(["signal"] + list(CONTRASTS),
                  [[s] + [auroc_cell(metrics[s].get(k)) for k in CONTRASTS] for s in SIGNALS])]
    for ref in REFERENCES:
        title = "the best baseline of each contrast" if ref == "best_baseline" else ref
        out.append(f"\n## Paired comparisons against {title}\n")
        out.append("Cell: delta AUROC [paired bootstrap CI], Holm-adjusted DeLong p; **W** = "
                   "pre-registered win (delta >= min_gain and CI excludes 0).\n")
        rows = []
        for c in CANDIDATES:
            cells = []
            for k in CONTRASTS:
                t = tests[ref][c][k]
                if t["delta"] is None:
                    cells.append("n/a")
                    continue
                mark = " **W**" if t["win"] else ""
                cells.append(f"{t['delta']:+.2f} [{fmt(t['lo'])}, {fmt(t['hi'])}] p={fmt(t['p_holm'], 3)}{mark}")
            rows.append([c] + cells)
        if ref == "best_baseline":
            rows.append(["(best baseline)"] + [str(tests[ref][CANDIDATES[0]][k]["baseline"]) for k in CONTRASTS])
        out.append(md_table(["signal"] + list(CONTRASTS), rows))
    rf = metrics["router_family"]
    out.append("\n## Router-entropy family (" + ", ".join(ROUTER_FAMILY) + ")\n")
    out.append(md_table(["reference", "contrasts won", "which", "proven"],
                      [[ref, f"{rf[f'wins_vs_{ref}']}/7", ", ".join(rf[f"regimes_won_vs_{ref}"]) or "-",
                        str(rf[f"proven_vs_{ref}"])] for ref in REFERENCES]))
    out.append("\n## Behaviour (Wilson 95% CI)\n")
    rows = [[k, _rate(v)] for k, v in behaviour["probe"].items()]
    for g, v in behaviour["gates"].items():
        rows += [[f"{g}: abstained (template)", _rate(v["abstained"])], [f"{g}: refused", _rate(v["refused"])]]
    out.append(md_table(["measure", "value"], rows))
    return "\n".join(out)


def summary_page(metrics: dict, behaviour: dict, models: list[str]) -> str:
    out = ["# AUROC summary across models\n",
           "Cross-regime AUROC (in_domain vs all 6 OOD regimes pooled) with 95% bootstrap CI.\n",
           md_table(["model"] + list(SIGNALS), [[m] + [auroc_cell(metrics[m][s]["cross"]) for s in SIGNALS] for m in models]),
           "\n## Pre-registered wins (of 7 contrasts) and router family\n",
           md_table(["model"] + [f"{c} vs best" for c in CANDIDATES] + ["router family vs best", "vs max_softmax_mean", "proven"],
                  [[m] + [str(metrics[m]["wins"]["best_baseline"][c]) for c in CANDIDATES]
                   + [str(metrics[m]["router_family"]["wins_vs_best_baseline"]),
                      str(metrics[m]["router_family"]["wins_vs_max_softmax_mean"]),
                      str(metrics[m]["router_family"]["proven"])] for m in models])]
    best = metrics["summary"]["best_abstain_p"]
    out.append(f"\nBest cross-regime abstain_p AUROC: **{best['model']}** {auroc_cell(best) if best['model'] else 'n/a'}\n")
    groups = metrics["summary"]["abstain_p_by_group"]
    if groups:
        out.append("\n## abstain_p cross AUROC by variant (over its seeds)\n")
        out.append(md_table(["variant", "mean", "min", "max", "seeds"],
                          [[g, fmt(v["mean"]), fmt(v["min"]), fmt(v["max"]), str(v["n"])] for g, v in groups.items()]))
        out.append(f"\nBest variant: **{metrics['summary']['best_abstain_p_group']['group']}**\n")
    if metrics["summary"]["contrasts"]:
        out.append("\n## Paired contrasts between models (same prompts)\n")
        out.append(md_table(["contrast", "a", "b", "signal", "regime", "AUROC a", "AUROC b", "delta [CI]", "DeLong p"],
                          [[n, c["a"], c["b"], c["signal"], c["regime"], fmt(c["auroc_a"]), fmt(c["auroc_b"]),
                            f"{fmt(c['delta'])} [{fmt(c['lo'])}, {fmt(c['hi'])}]", fmt(c["p"], 3)]
                           for n, c in metrics["summary"]["contrasts"].items()]))
    out.append("\n## Behaviour\n")
    out.append(md_table(["model", "refusal on answerable", "IDK on abstain", "loop"],
                      [[m] + [_rate(behaviour[m]["probe"][k]) for k in ("refusal_on_answerable", "idk_on_abstain", "loop")]
                       for m in models]))
    return "\n".join(out)
