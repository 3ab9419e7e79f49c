"""Which floats this machine computes: the numerics fingerprint and the pinned settings.

    python -m stages.numerics            # writes metrics/numerics.json (a few seconds)

Three AdamW steps of a tiny Lite and a tiny vanilla model on fixed bytes, hashed
(tilelli.train.fingerprint). Two machines with the same fingerprint compute the same floats for
every op family the study trains with, so they must produce the same models and metrics; `verify`
compares this run's fingerprint with the committed run's (metrics/numerics.json at git HEAD) to
tell "a change moved a verdict" (a failure) from "this CPU rounds differently" (reported).
"""
from tilelli import numerics
from tilelli.io import write_json
from tilelli.provenance import cpu_name
from tilelli.train.fingerprint import fingerprint
from tilelli.stage import log, run
from tilelli.paths import NUMERICS as OUT


def main(params: dict) -> None:
    out = {"fingerprint": fingerprint(), "settings": numerics.settings(), "cpu": cpu_name()}
    log(f"[numerics] fingerprint {out['fingerprint']} ({out['settings']['mode']}, "
        f"ATen {out['settings']['cpu_capability']}, {out['settings']['threads']} threads) on {out['cpu']}")
    write_json(OUT, out)


if __name__ == "__main__":
    run(main)
