"""Render PAPER_OUTLINE.md from the pipeline's metrics (tilelli.eval.paper).

    python -m stages.paper

Reads params.yaml, claims.yaml and metrics/*.json; writes PAPER_OUTLINE.md atomically, headed by
the run's provenance (commit; the committed params or an experiment's changes; versions, device).
Every number in the write-up comes from these files, so the outline always matches the run.
"""
from tilelli.eval.paper import render
from tilelli.io import write_text
from tilelli.stage import changed_from_profile, run
from tilelli.provenance import provenance, provenance_markdown
from tilelli.paths import PAPER


def main(params: dict) -> None:
    header = provenance_markdown(provenance(params_changed=changed_from_profile(params)))
    write_text(PAPER, render(params, header=header))


if __name__ == "__main__":
    run(main)
