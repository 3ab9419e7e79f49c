"""Stage `surface`: the prompt-only baselines, fitted on training prompts, scored on the probe.

    python -m stages.surface                   # reads params.yaml (probe.prompts)
    dvc repro surface

Fits the surface baseline of tilelli.eval.controls (13 trivial features) and its distance-to-training
baselines (nn_char4: nearest-neighbour character-4-gram similarity to the
chat_train prompts; ngram_lr: logistic regression on hashed character 1-4-grams) on
data/sft/chat_train.jsonl (in-domain) vs data/sft/ood_train.jsonl (OOD) prompts, refuses to run
if a probe prompt occurs in them, and writes data/probe/surface.jsonl ({"id", "regime", "surface",
"byte_length", "nn_char4", "ngram_lr"} per probe prompt) and metrics/surface.json (surface's
features, coefficients, training sizes and 5-fold CV AUROC; `familiarity`: each distance
baseline's set-up; probe AUROC per contrast of every column). No torch; a few seconds.
"""
from __future__ import annotations

from tilelli import io
from tilelli.eval.controls import DECIMALS, probe_familiarity, probe_surface
from tilelli.eval.regimes import read_prompts
from tilelli.stage import log, run, param
from tilelli.paths import SURFACE as METRICS, SURFACE_ROWS as OUT, sft_file


def main(params: dict) -> None:
    probe = read_prompts(param(params, "probe.prompts"))
    prompts_in = [r["prompt"] for r in io.read_jsonl(sft_file("chat", "train"), required=("prompt",))]
    prompts_ood = [r["prompt"] for r in io.read_jsonl(sft_file("ood", "train"), required=("prompt",))]
    rows, metrics = probe_surface(probe, prompts_in, prompts_ood)
    # numpy's OpenBLAS picks its kernel per CPU, so the fit's last bits differ between CPUs (README,
    # Determinism): what is written is rounded far above that noise, as the familiarity baselines are
    rows = [{**r, "surface": round(r["surface"], DECIMALS)} for r in rows]
    metrics["coef"] = {k: round(v, DECIMALS) for k, v in metrics["coef"].items()}
    metrics["intercept"] = round(metrics["intercept"], DECIMALS)
    cols, fam = probe_familiarity(probe, prompts_in, prompts_ood)
    rows = [{**r, **{k: float(v[i]) for k, v in cols.items()}} for i, r in enumerate(rows)]
    metrics["probe_auroc"].update(fam.pop("probe_auroc"))
    metrics["familiarity"] = fam
    io.write_jsonl(OUT, rows)
    io.write_json(METRICS, metrics)
    auc = metrics["probe_auroc"]
    log(f"[surface] fit on {len(prompts_in)} in-domain + {len(prompts_ood)} OOD training prompts, "
        f"CV AUROC {metrics['train']['cv_auroc']:.3f}; probe AUROC "
        + "; ".join(f"{b}: " + ", ".join(f"{c} {a:.3f}" for c, a in auc[b].items()) for b in auc)
        + f" -> {OUT}, {METRICS}")


if __name__ == "__main__":
    run(main)
