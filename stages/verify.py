"""Claim gates: check every claim in claims.yaml against metrics/*.json for this profile.

    python -m stages.verify          # exit 0: all claims hold; exit 1: a claim failed or a metric is missing
    dvc repro verify                 # the CI gate

Writes results/claims.md (claim, expected, measured with CI, PASS/FAIL) and metrics/claims.json
BEFORE exiting, so a failing run still shows which claim moved and why. The profile is the
top-level `profile` param (tiny | paper): each claim states its expectation per profile.
"""
import sys

from tilelli.errors import TilelliError
from tilelli.eval.claims import claims_json, claims_markdown, load_claims, verify_claims
from tilelli.io import write_json, write_text
from tilelli.stage import log, run

CLAIMS = "claims.yaml"
METRICS_ROOT = "."  # metric refs in claims.yaml are relative to the repository root


def main(params: dict) -> None:
    profile = params.get("profile")
    if not profile:
        raise TilelliError("params.yaml: missing top-level 'profile' (tiny | paper)")
    results = verify_claims(load_claims(CLAIMS), METRICS_ROOT, profile)
    write_text("results/claims.md", claims_markdown(results, profile))
    write_json("metrics/claims.json", claims_json(results, profile))
    for r in results:
        log(f"[verify] {'PASS' if r.passed else 'FAIL'} {r.id}" + ("" if r.passed else f": {r.reason}"))
    failed = sum(not r.passed for r in results)
    log(f"[verify] {len(results) - failed}/{len(results)} claims hold ({profile} profile)")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    run(main)
