"""Claim verdicts: evaluate every claim in claims.yaml on metrics/*.json; compare with the expectation.

    python -m stages.verify          # exit 0: every verdict is the one pre-registered for this profile
    dvc repro verify                 # the CI gate

Each claim gets REPRODUCED / NOT REPRODUCED / INCONCLUSIVE by the rule claims.yaml takes from the
publication. Exit 1, with one line per claim, when a verdict differs from the expected verdict
of the active profile (params `profile`) or a metric it needs is missing. results/claims.md
and metrics/claims.json are written BEFORE exiting, so a failing run still shows what moved.

Experiments: the expectations are registered for the profile AS COMMITTED. When params.yaml
differs from it (`dvc exp run -S metacog_weight=0`, `tilelli params k=v`), a moved verdict is the
experiment's result, not a regression: the table and metrics/claims.json say which params changed
and which verdicts moved, and the stage exits 0 so DVC keeps the experiment (a failed experiment
keeps no metrics, and `dvc exp show` would show it with its baseline's). CI runs the committed
params, where the gate is strict. A MISSING metric fails either way: that is a broken run.

Another CPU: verify first measures this machine's floats (tilelli.train.fingerprint.measure: three
AdamW steps hashed, a few seconds) into metrics/numerics.json. Measured here rather than by a stage of
its own, so `dvc status` on an up-to-date clone has nothing to re-run: verify runs whenever a metric it
reads was recomputed, i.e. on the machine whose floats made it. When the fingerprint
differs from the committed run's (metrics/numerics.json at git HEAD), the models here are not the
committed ones, so a verdict that already flips between seeds (the "each seed alone" column, from
metrics/by_seed/) may move without any change: it is logged HARDWARE-SENSITIVE and does not fail.
A verdict every seed agrees on that moves still fails, as does any move on the committed floats.

Preflight (params `profile: preflight`, conf/profile/preflight.yaml: the paper profile cut to a few
steps on CPU): the profile itself tells verify (study.PREFLIGHT_OF maps it to `paper`). Its verdicts mean nothing after 4 training steps, so
none is judged; verify evaluates every claim against the PAPER expectations (a claim without one is
an error, as for any profile), writes the table and metrics/claims.json as usual, and exits 1 only
when a metric a claim needs is MISSING: the preflight proves that every stage ran and wrote every
metric the paper run's verdicts will read.
"""
import sys

from tilelli.eval.claims import (MISSING, claims_json, claims_markdown, fragile_claims, headline, judge_study,
                                 load_claims, mismatches)
from tilelli.io import TilelliError, write_json, write_text
from tilelli.stage import changed_from_profile, describe_keys, log, run
from tilelli.provenance import committed_json, provenance, provenance_markdown
from tilelli.paths import CLAIMS_JSON, CLAIMS_MD, NUMERICS
from tilelli.train.fingerprint import measure

CLAIMS = "claims.yaml"
METRICS_ROOT = "."  # metric refs in claims.yaml are relative to the repository root


def main(params: dict) -> None:
    profile = params.get("profile")
    if not profile:
        raise TilelliError("params.yaml: missing top-level 'profile' (tiny | paper)")
    results, of = judge_study(load_claims(CLAIMS), params, METRICS_ROOT)
    here = measure()
    log(f"[verify] numerics fingerprint {here['fingerprint']} ({here['settings']['mode']}, "
        f"ATen {here['settings']['cpu_capability']}, {here['settings']['threads']} threads) on {here['cpu']}")
    write_json(NUMERICS, here)
    judged = of == profile   # a preflight profile (study.PREFLIGHT_OF) is checked against `of`, never judged
    changed = changed_from_profile(params)
    prov = provenance(params_changed=changed)
    numerics = prov["numerics"]
    write_text(CLAIMS_MD, claims_markdown(results, profile, provenance_markdown(prov), judged_as=of))
    record = {**claims_json(results, of), "params_as_committed": not changed,
              "numerics": {k: numerics[k] for k in ("fingerprint", "committed", "same_floats")}}
    if not judged:
        record.update(profile=profile, verdicts_judged=False)
    write_json(CLAIMS_JSON, record)
    if not judged:
        return preflight(results, profile, of)
    for r in results:
        log(f"[verify] {r.word():<15} (expected {r.word(r.expected)}) {r.id}")
    log(f"[verify] {headline(results, profile)}")
    bad = mismatches(results)
    if changed and not any(r.verdict == MISSING for r in results):
        for line in bad:
            log(f"[verify] MOVED: {line}")
        log(f"[verify] experiment: params differ from the committed {profile} profile at {describe_keys(changed)}; "
            f"the expectations are for the committed params, so {len(bad)} moved verdict(s) are its result (exit 0)")
        return
    if not numerics["same_floats"] and not any(r.verdict == MISSING for r in results):
        # Another CPU's floats: its models are not the committed ones (a new trajectory, like a new
        # seed). A verdict that already flips between seeds (this run's or the committed run's) may
        # move here without any change of code or params: reported, not a failure. A verdict every
        # seed agrees on that moves anyway still fails.
        fragile = {r.id for r in results if r.fragile} | fragile_claims(committed_json(CLAIMS_JSON) or {})
        moved = [r for r in results if not r.as_expected]
        for line in mismatches([r for r in moved if r.id in fragile]):
            log(f"[verify] HARDWARE-SENSITIVE: {line} (a verdict that flips with the seed; this machine's floats "
                f"differ from the committed run's)")
        bad = mismatches([r for r in moved if r.id not in fragile])
        log(f"[verify] numerics fingerprint {numerics['fingerprint']} differs from the committed run's "
            f"{numerics['committed']}: this CPU rounds differently (README, Determinism); "
            f"{len(moved) - len(bad)} seed-fragile verdict(s) moved, {len(bad)} stable one(s) moved")
    for line in bad:
        log(f"[verify] NOT AS EXPECTED: {line}")
    if bad:
        log("[verify] a verdict moved: fix the change; or, if the run is right and the prediction wrong, revise "
            "the expectation in claims.yaml in a commit of its own, keeping the prediction beside it "
            "(original: {verdict, reason}; revised: \"what came out\")")
        sys.exit(1)


def preflight(results: list, profile: str, of: str) -> None:
    """A preflight's check: every claim has an expectation for `of` (judge_study raises otherwise)
    and every metric it reads exists; the verdicts themselves are not judged."""
    for r in results:
        log(f"[verify] {r.word():<15} (not judged: {profile}) {r.id}")
    missing = [line for line in mismatches(results) if ": metric missing: " in line]
    if missing:
        raise TilelliError(f"{profile}: {len(missing)} claim(s) miss a metric the {of} run needs; first: {missing[0]}")
    log(f"[verify] {profile}: all {len(results)} claims have a {of} expectation and every metric they read")


if __name__ == "__main__":
    run(main)
