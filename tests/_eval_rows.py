"""Synthetic probe rows for the evaluation tests: 7 regimes x n prompts, controllable effects."""
import numpy as np

from tilelli.eval.regimes import CONTROLS, ORIENTATION, REGIMES, SIGNALS


def synthetic_rows(seed=0, n=30, effects=None, router=True, labels=None):
    """Rows as stages/probe.py writes them. effects = {signal: {regime: shift of the ORIENTED score}}:
    a positive shift makes the regime look more OOD to that signal than in_domain. The probe also
    writes router_entropy_mean, which the report ignores (router_conf is a transform of it)."""
    rng = np.random.default_rng(seed)
    effects = effects or {}
    rows = []
    for regime in REGIMES:
        for i in range(n):
            row = {"id": f"{regime}-{i}", "regime": regime,
                   "expected": "abstain" if regime in ("factual_misleading", "gibberish") else "answer"}
            for s in SIGNALS:
                z = rng.normal(effects.get(s, {}).get(regime, 0.0), 1.0)
                row[s] = None if (not router and s.startswith("router")) else float(ORIENTATION[s] * z)
            row["router_entropy_mean"] = None if not router else float(rng.normal())
            row["generation"] = " text"
            row["label"] = (labels or {}).get(regime, "answer")
            row["collapsed"] = row["label"] == "loop"   # a loop in the turn is a loop in all the bytes
            rows.append(row)
    return rows


def synthetic_controls(seed=100, n=30, effects=None):
    """data/probe/surface.jsonl rows: {id, regime, <every control>}, same ids as synthetic_rows.

    surface and byte_length are drawn first from `seed` (their values do not depend on the later
    controls), the distance-to-training baselines from a stream of their own."""
    rng, rng_later = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    effects = effects or {}
    first = ("surface", "byte_length")

    def draw(r, c, regime):
        return float(r.normal(effects.get(c, {}).get(regime, 0.0), 1.0))

    rows = [{"id": f"{regime}-{i}", "regime": regime, **{c: draw(rng, c, regime) for c in first}}
            for regime in REGIMES for i in range(n)]
    for row in rows:
        row.update({c: draw(rng_later, c, row["regime"]) for c in CONTROLS if c not in first})
    return rows


def with_controls(rows, controls=None):
    """The rows with the controls merged in, as the auroc stage does."""
    from tilelli.eval.auroc_report import merge_controls

    return merge_controls(rows, controls or synthetic_controls(n=len(rows) // len(REGIMES)), "synthetic")
