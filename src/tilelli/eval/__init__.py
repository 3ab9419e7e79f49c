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
"""
