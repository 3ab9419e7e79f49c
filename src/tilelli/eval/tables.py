"""Markdown tables for results/auroc/: one page per model and a cross-model summary.

Cells read "0.62 [0.48, 0.75]" (AUROC and its bootstrap CI). In the comparison tables a win
(pre-registered rule and Holm-adjusted DeLong p < alpha) is marked **W**, the rule alone (w);
Holm-adjusted p-values sit beside it so a reader sees both the rule and the test. Numbers come
straight from the metrics dicts: nothing is recomputed.
"""
from __future__ import annotations

from tilelli.eval.auroc_report import REFERENCES, compared
from tilelli.eval.regimes import (CANDIDATES, CONTRASTS, CONTROLS, CROSS, REPORTED, ROUTER_FAMILY, SIGNALS,
                                  SURFACE)


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


def _label(s: str) -> str:
    return f"{s} (control)" if s in CONTROLS else s


def auroc_table(cells: dict) -> str:
    """Reported signal x contrast AUROC table from {signal: {contrast: cell}} (a model page's, and
    PAPER_OUTLINE's v4 table); a reported signal absent from `cells` has no row."""
    return md_table(["signal"] + list(CONTRASTS),
                    [[_label(s)] + [auroc_cell(cells[s].get(k)) for k in CONTRASTS] for s in REPORTED if s in cells])


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
           "## AUROC by signal and contrast (in_domain vs regime)\n", auroc_table(metrics)]
    for ref in REFERENCES:
        title = {"best_baseline": "the best baseline of each contrast",
                 SURFACE: "the surface-feature control"}.get(ref, ref)
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
    rows = [[k, _rate(v)] for k, v in behaviour["probe"].items()]
    for g, v in behaviour["gates"].items():
        rows += [[f"{g}: abstained (template)", _rate(v["abstained"])], [f"{g}: refused", _rate(v["refused"])]]
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
    """The strongest prompt-only baseline and every head against it (summary.familiarity), as markdown."""
    if not fam or not fam.get("baseline") or not fam["baseline"].get("name"):
        return "_No familiarity controls in metrics/auroc.json._\n"
    base, controls = fam["baseline"], fam.get("controls") or {}
    cross = ", ".join(f"{b} {fmt(v, 3)}" for b, v in (base.get("cross") or {}).items()) or "n/a"
    rows = [[label, f"{c.get('group', 'n/a')} {c.get('signal', '')}", fmt(c.get("auroc_head"), 3),
             fmt(c.get("auroc_baseline"), 3),
             "n/a" if c.get("delta") is None else f"{c['delta']:+.3f} [{fmt(c.get('lo'), 3)}, {fmt(c.get('hi'), 3)}]",
             fmt(c.get("ci_level"), 4), fmt(c.get("p"), 3), fmt(c.get("p_holm"), 3)]
            for label, c in controls.items()]
    best_per_regime = base.get("best_per_regime") or {}
    per_regime = md_table(["", *CONTRASTS],
                          [[f"{base['name']} (strongest pooled)", *[auroc_cell((base.get("regimes") or {}).get(k))
                                                                  for k in CONTRASTS]],
                           ["best baseline of the regime", *[
                               f"{c['baseline']} {auroc_cell(c)}" if (c := best_per_regime.get(k)) else "-"
                               for k in CONTRASTS]]])
    return (f"Strongest prompt-only baseline: **{base['name']}** (pooled cross AUROC: {cross}); chosen as the "
            "maximum on the probe itself, which favours the baseline: conservative for the heads.\n\n"
            + per_regime
            + "\nEach head minus that baseline (cross, seeds pooled, paired over the same prompts). The CI is "
              "at the level of its Holm step (ordered by paired DeLong p, alpha "
              f"{fmt(fam.get('alpha'))}); a CI above 0 = the head beats the baseline after Holm.\n\n"
            + md_table(["head", "group, signal", "AUROC head", "AUROC baseline", "delta [Holm-level CI]", "CI level",
                        "p", "p (Holm)"], rows))


def _groups_section(groups: dict) -> list[str]:
    out = ["\n## Seed-pooled groups: cross AUROC, mean over seeds [two-level bootstrap CI]\n",
           md_table(["group", "seeds"] + [_label(s) for s in REPORTED],
                    [[g, str(len(v["members"]))] + [auroc_cell(v[s][CROSS]) for s in REPORTED] for g, v in groups.items()]),
           "\n## Seed-pooled groups against the surface control (cross): delta [CI], paired DeLong p\n",
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
           "Cross-regime AUROC (in_domain vs all 6 OOD regimes pooled) with 95% bootstrap CI.\n",
           md_table(["model"] + [_label(s) for s in REPORTED],
                    [[m] + [auroc_cell(metrics[m][s][CROSS]) for s in REPORTED] for m in models])]
    out += _controls_section(metrics, models)
    out += ["\n## Wins (of 7 contrasts, pre-registered rule and Holm) and the router family\n",
            md_table(["model"] + [f"{c} vs best" for c in CANDIDATES]
                     + ["router family vs best", "vs max_softmax_mean", "vs surface", "proven"],
                     [[m] + [str(metrics[m]["wins_holm"]["best_baseline"][c]) for c in CANDIDATES]
                      + [str(metrics[m]["router_family"][f"wins_vs_{ref}"]) for ref in REFERENCES]
                      + [str(metrics[m]["router_family"]["proven"])] for m in models])]
    out += _groups_section(metrics["groups"])
    out += _best_variant_section(metrics["summary"]["best_variant"])
    out += ["\n## Familiarity controls: every head against the strongest distance-to-training baseline\n",
            familiarity_section(metrics["summary"].get("familiarity"))]
    if metrics["summary"]["contrasts"]:
        out.append("\n## Paired contrasts between groups (same prompts, seeds paired by position)\n")
        out.append(md_table(["contrast", "a", "b", "signal", "regime", "seeds", "AUROC a", "AUROC b", "delta [CI]", "p"],
                            [[n, c["a"], c["b"], c["signal"], c["regime"], str(c["n_seeds"]), fmt(c["auroc_a"]),
                              fmt(c["auroc_b"]), f"{fmt(c['delta'])} [{fmt(c['lo'])}, {fmt(c['hi'])}]", fmt(c["p"], 3)]
                             for n, c in metrics["summary"]["contrasts"].items()]))
    out.append("\n## Behaviour\n")
    out.append(md_table(["model", "refusal on answerable", "IDK on abstain", "loop"],
                        [[m] + [_rate(behaviour[m]["probe"][k]) for k in ("refusal_on_answerable", "idk_on_abstain", "loop")]
                         for m in models]))
    return "\n".join(out)
