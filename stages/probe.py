"""Probe one model on the 210 prompts (+ the held-out gate sets) -> data/probe/<model>.jsonl.

    python -m stages.probe --model base/v4-s0
    python -m stages.probe --model metacog/v7-s0        # dvc.yaml runs every model of the study

Per prompt: 8 uncertainty signals from one batched forward pass, 48 greedy bytes, a label
(refusal / answer / loop; tilelli.eval.regimes). The gate sets (params probe.gate_sets: the 10
held-out IDK prompts, the 20 near-miss prompts) get generation + label only ->
data/probe/<model>.gates.jsonl. Wall time goes to the log and data/probe_timing/<model>.json,
which is not a DVC output and lies outside data/probe/ (a dependency of the auroc stage): the
probe outputs must hash the same on every re-run.
"""
import argparse

from tilelli.eval.probe import probe_model
from tilelli.eval.regimes import nan_to_none, read_jsonl, read_prompts
from tilelli.io import write_json, write_jsonl
from tilelli.stage import log, run, param
from tilelli.paths import MODELS, model_path, probe_gates, probe_rows, probe_timing


def main(params: dict, name: str) -> None:
    from tilelli.model import TilelliLM

    p = param(params, "probe")
    template = param(params, "sft.abstain_template")
    lm = TilelliLM.from_pretrained(model_path(name))
    settings = dict(batch_size=int(p["batch_size"]), gen_bytes=int(p["gen_bytes"]), seed=int(p.get("seed", 0)),
                    temperature=float(p.get("temperature", 0.0)), abstain_template=template)

    rows, timing = probe_model(lm, read_prompts(p["prompts"]), **settings)
    gate_rows, gate_timing = [], {}
    for set_name, path in (p.get("gate_sets") or {}).items():
        gate_prompts = [{"set": set_name, "id": r.get("id", i), "prompt": r["prompt"]}
                        for i, r in enumerate(read_jsonl(path))]
        g_rows, gate_timing[set_name] = probe_model(lm, gate_prompts, with_signals=False, **settings)
        gate_rows += g_rows

    write_jsonl(probe_rows(name), [nan_to_none(r) for r in rows])
    write_jsonl(probe_gates(name), gate_rows)
    write_json(probe_timing(name), {"probe": timing, "gates": gate_timing})
    labels = {k: sum(r["label"] == k for r in rows) for k in ("answer", "refusal", "loop")}
    log(f"[probe] {name}: {len(rows)} prompts in {timing['total_s']:.1f}s "
        f"(signals {timing['signals_s']:.1f}s, generation {timing['generate_s']:.1f}s); labels {labels}; "
        f"{len(gate_rows)} gate prompts")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help=f"a directory under {MODELS}/, e.g. base/v4-s0 or metacog/v7-s0")
    args = ap.parse_args()
    run(lambda params: main(params, args.model))
