"""First stage: params.yaml must be conf/ composed (plus the overrides `tilelli params` recorded).

    python -m stages.params_check        # exit 2 with one line naming the recompose command on drift

An edit to conf/ that was never recomposed into params.yaml would otherwise run the pipeline on
stale params without a word. Skipped inside `dvc exp run` (DVC composes params.yaml itself).
Writes results/params_check.txt, whose text does not change between passing runs, so the root
stages that depend on it (download, sft_data, prompts) do not re-run after a mere recompose.
"""
from tilelli.io import write_text
from tilelli.stage import check_composed, log, run
from tilelli.paths import PARAMS_CHECK as OUT


def main(params: dict) -> None:
    checked = check_composed("params.yaml")
    log("[params_check] params.yaml matches conf/" if checked else "[params_check] skipped inside `dvc exp run`")
    write_text(OUT, "params.yaml is conf/ composed with its recorded overrides\n")


if __name__ == "__main__":
    run(main)
