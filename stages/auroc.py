"""AUROC tables, paired tests, the pre-registered win rule, behaviour rates, figures.

    python -m stages.auroc

Reads data/probe/<model>.jsonl (+ .gates.jsonl) for the EXPLICIT model list: params
probe.models, plus every metacog variant x seed when probe.include_metacog (never a glob: a
removed sweep entry leaves its old file on disk). Writes
    metrics/auroc.json      {model: {signal: {contrast: {auroc, lo, hi, n_pos, n_neg}}, wins, router_family},
                             summary: {best_abstain_p, abstain_p_by_group, best_abstain_p_group, contrasts}}
    metrics/behaviour.json  {model: {probe: {...}, abstain_p_aurc: {...}, gates: {set: {abstained, refused}}}}
    results/auroc/          <model>.md, summary.md, tests.json (every paired comparison)
    plots/auroc/            <model>/{heatmap.png, roc.png, roc/<signal>.csv, risk_coverage.csv}, risk_coverage.png
"""
from pathlib import Path

from tilelli.eval.auroc_report import ReportConfig, behaviour, build_report
from tilelli.eval.figures import write_figures
from tilelli.eval.probe_io import read_gate_rows, read_probe_rows
from tilelli.eval.tables import model_page, summary_page
from tilelli.io import atomic_dir, write_json
from tilelli.stage import log, run, section


def model_groups(params: dict) -> dict[str, list[str]]:
    """{group: [model, ...]}: each listed model alone, each metacog variant with its seeds."""
    p = section(params, "probe")
    groups = {m: [m] for m in p["models"]}
    if p.get("include_metacog"):
        from tilelli.train.experiments import metacog_groups

        groups.update(metacog_groups(params))
    return groups


def main(params: dict) -> None:
    a = section(params, "auroc")
    cfg = ReportConfig.from_params(a)
    groups = model_groups(params)
    models = [m for members in groups.values() for m in members]
    rows = {m: read_probe_rows(f"data/probe/{m}.jsonl") for m in models}
    gates = {m: read_gate_rows(f"data/probe/{m}.gates.jsonl") for m in models}
    log(f"[auroc] {len(models)} models, {cfg.n_boot} bootstrap resamples")

    ranked = [g for g in groups if g not in section(params, "probe.models")] or None  # the metacog variants
    metrics, tests = build_report(rows, cfg, a.get("contrasts") or [], groups, ranked)
    beh = {m: behaviour(rows[m], gates[m], cfg.ci) for m in models}
    write_json("metrics/auroc.json", metrics)
    write_json("metrics/behaviour.json", beh)
    with atomic_dir("results/auroc") as d:
        for m in models:
            (Path(d) / m).parent.mkdir(parents=True, exist_ok=True)
            (Path(d) / f"{m}.md").write_text(model_page(m, metrics[m], tests[m], beh[m], cfg.n_boot))
        (Path(d) / "summary.md").write_text(summary_page(metrics, beh, models))
        write_json(Path(d) / "tests.json", tests)
    with atomic_dir("plots/auroc") as d:
        write_figures(Path(d), rows, metrics)
    for m in models:
        rf = metrics[m]["router_family"]
        log(f"[auroc] {m}: cross max_softmax_mean {metrics[m]['max_softmax_mean']['cross']['auroc']}, "
            f"abstain_p {metrics[m]['abstain_p']['cross']['auroc']}; router family wins "
            f"{rf['wins_vs_best_baseline']}/7 (vs max_softmax_mean {rf['wins_vs_max_softmax_mean']}/7)")


if __name__ == "__main__":
    run(main)
