"""Evaluation: uncertainty signals, generation labels, AUROC statistics, reports and claim gates.

    signals.py      one batched forward pass -> per-prompt uncertainty signals
    labels.py       refusal / answer / loop labels for a generated continuation
    probe.py        signals + greedy generation + labels for a list of prompts (torch)
    probe_io.py     read and validate prompt and probe-row JSONL (no torch)
    regimes.py      the fixed regimes, baselines and signal orientation (positive = OOD)
    stats.py        AUROC, bootstrap CIs, paired DeLong, Holm, Welch, risk-coverage
    auroc_report.py model x signal x regime AUROCs, paired tests, the pre-registered win rule,
                    behaviour rates (the numbers of metrics/auroc.json and metrics/behaviour.json)
    tables.py       markdown pages for results/auroc/
    figures.py      PNG heatmaps, ROC and risk-coverage figures; DVC plot data (CSV)
    claims.py       claims.yaml gates: rules, profiles, PASS/FAIL report
"""
