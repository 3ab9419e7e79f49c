"""AUROC tables, paired tests, the pre-registered win rule, seed-pooled groups, behaviour, figures.

    python -m stages.auroc

Reads, for the EXPLICIT model list of tilelli.study.probe_groups(params) (base/v4-s<seed>,
splice/<main>-s<seed>, metacog/<variant>-s<seed>; never a glob: a removed sweep entry leaves its
old file on disk):
    data/probe/<model>.jsonl, data/probe/<model>.gates.jsonl   the probe's rows
    data/probe/surface.jsonl   {id, regime, surface, byte_length, nn_char4, ngram_lr}: the prompt-only controls, merged
                               into every model's rows by id (ids must match exactly)
Writes
    metrics/auroc.json      {<model>: {<signal>: {<contrast>: {auroc, lo, hi, n_pos, n_neg}},   the 7 published contrasts
                                       abstain_vs_answer: {<signal>: {auroc, lo, hi, n_pos, n_neg}},  beyond the paper
                                       wins, wins_holm, vs_surface, router_family},
                             groups: {<group>: {members, <signal>: {<contrast>: {auroc, lo, hi, n_seeds, per_seed}},
                                                abstain_vs_answer: {<signal>: {auroc, lo, hi, n_seeds, per_seed}},
                                                vs_surface: {<signal>: {<contrast>: {delta, lo, hi, p, n_seeds, per_seed}}},
                                                abstain_flags_in_domain: {rate, lo, hi, hits, n, n_seeds, per_seed, threshold},
                                                wins, wins_holm, router_family (seed-pooled tests)}},
                             summary: {contrasts: {<name>: {...}}, best_variant: {...},
                                       familiarity: {baseline: {name, chosen_by, cross, regimes, best_per_regime},
                                                     alpha, controls: {<head>: {delta, lo, hi, p, p_holm, ...}}},
                                       abstain_vs_answer: {question, references, baselines: {<control>: {auroc, lo, hi, ...}},
                                                           <head>: {group, signal, auroc: {auroc, lo, hi, ...},
                                                                    vs: {<control>: {delta, lo, hi, p, n_seeds}}}}}}
                            <contrast>: the 7 published ("is this prompt in-domain?"); abstain_vs_answer: expected
                            abstain vs expected answer ("should the model abstain?"), outside Holm and the win counts.
                            router_family gains wins_vs_byte_length and wins_vs_max_softmax_mean_and_byte_length.
    metrics/by_seed/s<seed>/metrics/{auroc,behaviour}.json   the same, on that seed's models alone
    metrics/behaviour.json  {model: {probe: {...}, abstain_p_aurc: {...}, gates: {set: {abstained, refused}}},
                             groups: {<group>: {members, the same pooled over seeds (seed-mean rate, n = prompts, seed-aware CI; per_seed)}}}
    results/auroc/          <model>.md, summary.md, tests.json (every paired comparison)
    plots/auroc/            <model>/{heatmap.png, roc.png, roc/<signal>.csv, risk_coverage.csv}, risk_coverage.png
Params: auroc.{bootstrap, ci, seed, min_gain, alpha, proven_min_wins, ceiling, flag_threshold, contrasts};
seeds; metacog.{variants, ranked, main, weight0_variant (default "v8b")}.
"""
import time
from pathlib import Path

from tilelli import paths, study
from tilelli.eval.auroc_report import (ReportConfig, behaviour, build_report, group_behaviour, merge_controls,
                                       model_page, summary_page, write_figures)
from tilelli.eval.regimes import read_gate_rows, read_jsonl, read_probe_rows
from tilelli.io import atomic_dir, write_json
from tilelli.stage import log, run, param


def main(params: dict) -> None:
    t0 = time.perf_counter()
    a = param(params, "auroc")
    param(params, "auroc.ceiling")   # required here: ReportConfig's default is for library callers only
    cfg = ReportConfig.from_params(a)
    groups = study.probe_groups(params)
    models = [m for members in groups.values() for m in members]
    controls = read_jsonl(paths.SURFACE_ROWS)
    rows = {m: merge_controls(read_probe_rows(paths.probe_rows(m)), controls, m) for m in models}
    gates = {m: read_gate_rows(paths.probe_gates(m)) for m in models}
    log(f"[auroc] {len(models)} models in {len(groups)} groups, {cfg.bootstrap} bootstrap resamples")

    reference = study.weight0_variant(params)
    main_variant = param(params, "metacog.main")
    beh = {m: behaviour(rows[m], gates[m], cfg.ci) for m in models}

    def report(groups: dict[str, list[str]]) -> tuple[dict, dict, dict]:
        """(auroc metrics, tests, behaviour) of the models in `groups`, pooled over their seeds."""
        used = [m for ms in groups.values() for m in ms]
        metrics, tests = build_report({m: rows[m] for m in used}, cfg, a.get("contrasts") or [], groups,
                                      study.ranked_variants(params), reference,
                                      heads={g: g for g in dict.fromkeys([main_variant, reference])})
        beh_groups = {g: {"members": list(ms), **group_behaviour([(rows[m], gates[m]) for m in ms], cfg.ci,
                                                                 cfg.bootstrap, cfg.seed)}
                      for g, ms in groups.items()}
        return metrics, tests, {**{m: beh[m] for m in used}, "groups": beh_groups}

    metrics, tests, behaviour_json = report(groups)
    log(f"[auroc] statistics: {time.perf_counter() - t0:.1f} s")
    write_json(paths.AUROC, metrics)
    write_json(paths.BEHAVIOUR, behaviour_json)
    # Each seed alone (one whole replication): the same report on that seed's models, so verify can
    # say which verdicts hold on every seed and which flip with it (results/claims.md, "by seed").
    with atomic_dir(paths.SEED_METRICS) as d:
        for i, seed in enumerate(study.study_seeds(params)):
            one, _, one_beh = report(study.seed_groups(groups, i))
            root = Path(d) / Path(paths.seed_metrics_root(seed)).relative_to(paths.SEED_METRICS)
            write_json(root / paths.AUROC, one)   # the same metric paths, under the seed's root
            write_json(root / paths.BEHAVIOUR, one_beh)
    log(f"[auroc] per-seed reports ({len(study.study_seeds(params))} seeds): {time.perf_counter() - t0:.1f} s")
    with atomic_dir(paths.AUROC_TABLES) as d:
        for m in models:
            (Path(d) / m).parent.mkdir(parents=True, exist_ok=True)
            (Path(d) / f"{m}.md").write_text(model_page(m, metrics[m], tests[m], beh[m], cfg.bootstrap))
        (Path(d) / "summary.md").write_text(summary_page(metrics, beh, models))
        write_json(Path(d) / "tests.json", tests)
    with atomic_dir(paths.AUROC_PLOTS) as d:
        write_figures(Path(d), rows, metrics)
    for g, v in metrics["groups"].items():
        log(f"[auroc] {g} ({len(v['members'])} seeds): cross abstain_p {v['abstain_p']['cross']['auroc']}, "
            f"max_softmax_mean {v['max_softmax_mean']['cross']['auroc']}, surface {v['surface']['cross']['auroc']}")
    bv = metrics["summary"]["best_variant"]
    fam = metrics["summary"]["familiarity"]
    log(f"[auroc] familiarity baseline (fixed in advance): {fam['baseline']['name']} "
        f"(cross, every prompt-only baseline: {fam['baseline']['cross']}); "
        + ", ".join(f"{k} minus it {c['delta']}" for k, c in fam["controls"].items()))
    log(f"[auroc] best abstain head: {bv['best']} (at ceiling: {bv['ceiling']}); "
        f"{time.perf_counter() - t0:.1f} s in all")


if __name__ == "__main__":
    run(main)
