"""Stage `surface`: the surface-feature baseline, fitted on training prompts, scored on the probe.

    python -m stages.surface                   # reads params.yaml (probe.prompts)
    dvc repro surface

Fits tilelli.eval.surface on data/sft/chat_train.jsonl (in-domain) vs data/sft/ood_train.jsonl
(OOD) prompts, refuses to run if a probe prompt occurs in them, and writes
data/probe/surface.jsonl ({"id", "regime", "surface", "byte_length"} per probe prompt) and
metrics/surface.json (features, coefficients, training sizes and 5-fold CV AUROC, probe AUROC
per contrast of `surface` and `byte_length`). No torch; a few seconds.
"""
from __future__ import annotations

from tilelli import io
from tilelli.eval.probe_io import read_prompts
from tilelli.eval.surface import probe_surface
from tilelli.stage import log, run, param

SFT = "data/sft"
OUT = "data/probe/surface.jsonl"
METRICS = "metrics/surface.json"


def main(params: dict) -> None:
    probe = read_prompts(param(params, "probe.prompts"))
    prompts_in = [r["prompt"] for r in io.read_jsonl(f"{SFT}/chat_train.jsonl", required=("prompt",))]
    prompts_ood = [r["prompt"] for r in io.read_jsonl(f"{SFT}/ood_train.jsonl", required=("prompt",))]
    rows, metrics = probe_surface(probe, prompts_in, prompts_ood)
    io.write_jsonl(OUT, rows)
    io.write_json(METRICS, metrics)
    auc = metrics["probe_auroc"]
    log(f"[surface] fit on {len(prompts_in)} in-domain + {len(prompts_ood)} OOD training prompts, "
        f"CV AUROC {metrics['train']['cv_auroc']:.3f}; probe AUROC "
        + ", ".join(f"{c} {a:.3f}" for c, a in auc["surface"].items()) + f" -> {OUT}, {METRICS}")


if __name__ == "__main__":
    run(main)
