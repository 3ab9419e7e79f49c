"""Synthetic probe rows for the evaluation tests: 7 regimes x n prompts, controllable effects."""
import numpy as np

from tilelli.eval.regimes import ORIENTATION, REGIMES


def synthetic_rows(seed=0, n=30, effects=None, router=True, labels=None):
    """Rows as stages/probe.py writes them. effects = {signal: {regime: shift of the ORIENTED score}}:
    a positive shift makes the regime look more OOD to that signal than in_domain."""
    rng = np.random.default_rng(seed)
    effects = effects or {}
    rows = []
    for regime in REGIMES:
        for i in range(n):
            row = {"id": f"{regime}-{i}", "regime": regime,
                   "expected": "abstain" if regime in ("factual_misleading", "gibberish") else "answer"}
            for s, sign in ORIENTATION.items():
                z = rng.normal(effects.get(s, {}).get(regime, 0.0), 1.0)
                row[s] = None if (not router and s.startswith("router")) else float(sign * z)
            row["generation"] = " text"
            row["label"] = (labels or {}).get(regime, "answer")
            rows.append(row)
    return rows
