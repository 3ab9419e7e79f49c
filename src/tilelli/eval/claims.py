"""Claim gates: every published claim (positive or negative) as a rule on a measured metric.

claims.yaml holds a list under `claims:`; each entry

    id: n3_not_liftable
    statement: "The abstain head is not liftable: spliced onto v4 its AUROC drops."
    kind: negative                                 # positive | negative (what the study says)
    metric: metrics/auroc.json:summary.contrasts.splice_vs_joint.delta   # or a list of such refs
    expected:
      paper: {rule: ["< 0", "ci_excludes 0"], published: "0.76 -> 0.54"}
      tiny:  {rule: "< 0"}

A metric ref is `<file relative to the metrics root>:<dotted key path>`. With a list of refs,
every value must satisfy every rule. Rules (a string, or a list that must all hold):

    >= x   > x   <= x   < x   == x   != x     numeric comparison
    between [lo, hi]                           lo <= value <= hi
    equals v                                   equality with a YAML scalar (v8b, true, 0, ...)
    ci_includes x   /   ci_excludes x          on the value's CI: sibling keys lo and hi of a
                                               point key (auroc, delta, rate, value, mean)
    p_value < a   /   p_value >= a   (<=, >)    the value must be a probability in [0, 1]

A claim FAILS when its rule is false, and also when any metric it needs is missing, null
(not computable, e.g. NaN) or of the wrong type: a gate must never pass on missing evidence.
The "published" column shows the paper figure under every profile, so a tiny report says plainly
where it differs. `verify_claims` returns one result per claim; `claims_markdown` and `claims_json` render
results/claims.md and metrics/claims.json.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tilelli.errors import TilelliError

POINT_KEYS = ("auroc", "delta", "rate", "value", "mean")
KINDS = ("positive", "negative")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULES = {
    "compare": re.compile(rf"^(>=|<=|==|!=|>|<)\s*({_NUM})$"),
    "between": re.compile(rf"^between\s*\[\s*({_NUM})\s*,\s*({_NUM})\s*\]$"),
    "equals": re.compile(r"^equals\s+(.+)$"),
    "ci": re.compile(rf"^ci_(includes|excludes)\s+({_NUM})$"),
    "p_value": re.compile(rf"^p_value\s*(>=|<=|>|<)\s*({_NUM})$"),
}
_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@dataclass
class Measured:
    ref: str
    value: object = None
    lo: float | None = None
    hi: float | None = None
    missing: str | None = None  # why the value could not be read

    def text(self) -> str:
        if self.missing:
            return f"MISSING ({self.missing})"
        v = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return v + (f" [{self.lo:.3g}, {self.hi:.3g}]" if self.lo is not None else "")


@dataclass
class ClaimResult:
    id: str
    statement: str
    kind: str
    rules: list[str]
    measured: list[Measured]
    passed: bool
    reason: str
    published: object = None
    note: str = ""


def parse_rule(rule: str) -> tuple[str, tuple]:
    """('compare'|'between'|'equals'|'ci'|'p_value', args); TilelliError on unknown syntax."""
    text = str(rule).strip()
    for kind, rx in _RULES.items():
        m = rx.match(text)
        if m:
            if kind == "equals":
                return kind, (yaml.safe_load(m.group(1)),)
            if kind in ("compare", "p_value"):
                return kind, (m.group(1), float(m.group(2)))
            if kind == "ci":
                return kind, (m.group(1), float(m.group(2)))
            lo, hi = float(m.group(1)), float(m.group(2))
            if lo > hi:
                raise TilelliError(f"rule '{text}': lower bound above upper bound")
            return kind, (lo, hi)
    raise TilelliError(f"unknown rule '{text}' (see tilelli/eval/claims.py for the grammar)")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_rule(rule: str, m: Measured) -> tuple[bool, str]:
    """(holds, reason) for one rule against one measured value."""
    if m.missing:
        return False, f"{m.ref}: {m.missing}"
    kind, args = parse_rule(rule)
    v = m.value
    if kind == "equals":
        ok = v == args[0] and isinstance(v, bool) == isinstance(args[0], bool)  # true is not 1
        return ok, "" if ok else f"{v!r} is not {args[0]!r}"
    if not _is_number(v):
        return False, f"{m.ref}: {v!r} is not a number"
    if kind == "compare":
        ok = _OPS[args[0]](v, args[1])
    elif kind == "between":
        ok = args[0] <= v <= args[1]
    elif kind == "p_value":
        if not 0.0 <= v <= 1.0:
            return False, f"{m.ref}: {v} is not a p-value"
        ok = _OPS[args[0]](v, args[1])
    else:  # ci
        if m.lo is None or m.hi is None:
            return False, f"{m.ref}: no confidence interval (sibling lo/hi) next to this value"
        inside = m.lo <= args[1] <= m.hi
        ok = inside if args[0] == "includes" else not inside
    return ok, "" if ok else f"{m.text()} fails '{rule}'"


class MetricStore:
    """Reads `file:dotted.path` refs under a root, caching each JSON file."""

    def __init__(self, root):
        self.root = Path(root)
        self._files: dict[str, object] = {}

    def _load(self, rel: str):
        if rel not in self._files:
            path = self.root / rel
            if not path.is_file():
                self._files[rel] = TilelliError(f"{rel} not found (did its stage run?)")
            else:
                try:
                    self._files[rel] = json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError as e:
                    self._files[rel] = TilelliError(f"{rel} is not valid JSON ({e.msg})")
        return self._files[rel]

    def read(self, ref: str) -> Measured:
        if ":" not in ref:
            raise TilelliError(f"metric ref '{ref}' must look like 'metrics/file.json:key.path'")
        rel, dotted = ref.split(":", 1)
        node = self._load(rel)
        if isinstance(node, TilelliError):
            return Measured(ref, missing=str(node))
        parent, keys = None, dotted.split(".")
        for i, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                where = ".".join(keys[:i]) or "<top>"
                have = ", ".join(sorted(node)[:8]) if isinstance(node, dict) else type(node).__name__
                return Measured(ref, missing=f"key '{k}' not found under {where} in {rel} (has: {have})")
            parent, node = node, node[k]
        if node is None:
            return Measured(ref, missing="value is null (not computed)")
        if isinstance(node, (dict, list)):
            return Measured(ref, missing="points at a table, not a value")
        lo = hi = None
        if keys[-1] in POINT_KEYS and _is_number(parent.get("lo")) and _is_number(parent.get("hi")):
            lo, hi = float(parent["lo"]), float(parent["hi"])
        return Measured(ref, node, lo, hi)


def load_claims(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise TilelliError(f"{path}: claims file not found")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    claims = doc.get("claims") if isinstance(doc, dict) else None
    if not isinstance(claims, list) or not claims:
        raise TilelliError(f"{path}: expected a non-empty list under 'claims:'")
    seen = set()
    for c in claims:
        cid = c.get("id") if isinstance(c, dict) else None
        if not cid or cid in seen:
            raise TilelliError(f"{path}: every claim needs a unique id (problem at {cid!r})")
        seen.add(cid)
        for key in ("statement", "kind", "metric", "expected"):
            if key not in c:
                raise TilelliError(f"{path}: claim '{cid}' has no '{key}'")
        if c["kind"] not in KINDS:
            raise TilelliError(f"{path}: claim '{cid}': kind must be positive or negative")
        for prof, exp in c["expected"].items():
            if not isinstance(exp, dict) or "rule" not in exp:
                raise TilelliError(f"{path}: claim '{cid}', profile '{prof}': needs a 'rule'")
            for r in _as_list(exp["rule"]):
                parse_rule(r)  # syntax errors surface at load time, naming nothing silently
    return claims


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def verify_claims(claims: list[dict], metrics_root, profile: str) -> list[ClaimResult]:
    store = MetricStore(metrics_root)
    results = []
    for c in claims:
        if profile not in c["expected"]:
            raise TilelliError(f"claim '{c['id']}' has no expectation for profile '{profile}'")
        exp = c["expected"][profile]
        rules = [str(r) for r in _as_list(exp["rule"])]
        measured = [store.read(ref) for ref in _as_list(c["metric"])]
        reasons = []
        for m in measured:
            for r in rules:
                ok, why = check_rule(r, m)
                if not ok:
                    reasons.append(why)
        results.append(ClaimResult(c["id"], c["statement"], c["kind"], rules, measured,
                                   passed=not reasons, reason="; ".join(dict.fromkeys(reasons)),
                                   published=exp.get("published", c["expected"].get("paper", {}).get("published")),
                                   note=str(exp.get("note", ""))))
    return results


def claims_json(results: list[ClaimResult], profile: str) -> dict:
    out = {"profile": profile, "n_claims": len(results), "n_pass": sum(r.passed for r in results),
           "n_fail": sum(not r.passed for r in results), "all_pass": all(r.passed for r in results),
           "claims": {}}
    for r in results:
        entry = {"pass": r.passed}
        if len(r.measured) == 1 and _is_number(r.measured[0].value):
            m = r.measured[0]
            entry.update({"value": m.value, **({"lo": m.lo, "hi": m.hi} if m.lo is not None else {})})
        else:
            entry["measured"] = [m.text() for m in r.measured]
        if r.reason:
            entry["reason"] = r.reason
        out["claims"][r.id] = entry
    return out


def claims_markdown(results: list[ClaimResult], profile: str) -> str:
    n_pass = sum(r.passed for r in results)
    lines = [f"# Claim gates ({profile} profile): {n_pass}/{len(results)} pass\n",
             "Written by `stages/verify.py` from `claims.yaml` and `metrics/*.json`. "
             "Measured values show their 95% CI in brackets where one exists.\n",
             "| claim | kind | statement | expected | published | measured | result |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        measured = "<br>".join(f"`{m.ref.split(':', 1)[1]}` = {m.text()}" for m in r.measured)
        verdict = "PASS" if r.passed else f"**FAIL**: {r.reason}"
        expected = " and ".join(f"`{x}`" for x in r.rules) + (f" ({r.note})" if r.note else "")
        lines.append(f"| {r.id} | {r.kind} | {r.statement} | {expected} | "
                     f"{'' if r.published is None else r.published} | {measured} | {verdict} |")
    return "\n".join(lines) + "\n"
