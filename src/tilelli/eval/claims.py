"""Claim verdicts: each published claim, one rule from the publication, three possible verdicts.

claims.yaml holds a list under `claims:`; each entry

    id: splice_head_auroc
    statement: "Spliced onto v4's base, the same head drops to about 0.54."
    kind: positive                      # positive | negative (what the study says) | control (ours)
    published: "0.54"                   # the published figure, as the publication states it
    metric: metrics/auroc.json:groups.splice.abstain_p.cross  # a node, or a list of nodes
    computed_by: tilelli.eval.auroc_report.group_report   # the function that computes that number
    rule: {test: equivalence, target: 0.54, margin: 0.15}
    why: "about X: ..."                 # where the rule and its margin come from
    read_with: ctrl_splice_beats_untrained_head   # optional: a claim whose verdict says nothing
                                        # alone is shown with this one's verdict and evidence
    expected:                           # the pre-registered verdict per profile, with its reason
      paper: {verdict: REPRODUCED, reason: "the published figure"}
      tiny:  {verdict: NOT REPRODUCED, reason: "..."}

The rule is the same for every profile: it comes from the publication, never from a run. What
differs per profile is only the expected verdict. `verify` exits non-zero when any verdict differs
from its expectation or any metric is missing, so CI goes red exactly when a change moves a
claim across a verdict boundary.

A revision after a run keeps the prediction it replaces: the expectation gains
`original: {verdict, reason}` (the prediction as first committed, never edited again) and
`revised: "<commit or run>: what came out"`; results/claims.md shows both, and its lead counts
how many verdicts are the ones predicted before any run (`prediction_record`).

Verdicts: REPRODUCED, NOT REPRODUCED, INCONCLUSIVE (the evidence straddles the rule's boundary),
and MISSING (a metric could not be read: never an acceptable verdict). Tests (each on a metric
node {point, lo, hi}; the point is the first of auroc/delta/rate/value/mean, or `field:`):

    equivalence {target, margin[, refute_target]}
                                   CI inside [t-m, t+m] -> R; CI disjoint from it -> N; else I.
                                   With refute_target: true, also N when the CI is not inside the
                                   band and excludes t itself (a two-sided test rejects the published
                                   figure): a count on 20 prompts cannot otherwise fail below (0/20
                                   has Wilson CI [0, 0.16], never disjoint from [0.10, 0.60]).
                                   Every band must lie inside the metric's range with room on both
                                   sides, or the claim is written as the one-sided `above`/`below`.
    above {bound}                  lo > bound -> R; hi < bound -> N; else I       (CI bounds)
    below {bound}                  hi < bound -> R; lo > bound -> N; else I
    count {op, n}                  exact comparison of an integer (a count on a fixed prompt set)
    count {op, n, of}              node {rate, lo, hi, hits, n}: the rate's CI against q = n/of, three-valued
                                   like above/below: op >= -> R if lo >= q, N if hi < q, else I (> and
                                   the mirrored <=, < alike; "==" is refused with `of`). "9 of 10" on
                                   the seed-mean rate (hits may be a seed mean, e.g. 8.4 of 10)
    equals {value}                 exact equality (e.g. proven == false)
    not_significant {alpha, min_n} node {p, n_a, n_b}: n < min_n -> I; p >= alpha -> R; else N
    equivalent_arms {arms, margin, alpha, min_n, epsilon}
                                   node {<arm>_bpb: [final value per seed], convergence: {<arm>:
                                   {drop_last_quarter}}}: fewer than min_n seeds per arm, or an arm
                                   still improving by more than epsilon over its last quarter ->
                                   I ("not converged"); TOST (two one-sided Welch tests) p < alpha
                                   within +-margin -> R; else Welch p < alpha -> N; else I
    near_chance {margin, regime_margin, signals, exempt}
                                   node = one model's AUROC table: every signal's cross CI inside
                                   [0.5-m, 0.5+m] and (with regime_margin) no regime's CI disjoint
                                   from [0.5-rm, 0.5+rm] (exempt: {signal: [regime]}) -> R;
                                   any of them disjoint -> N; else I
    dominates {field, ceiling}     node {field: {name: {delta, lo, hi}}, ceiling: bool}: every
                                   delta CI above 0 -> R; any below 0 -> N; at ceiling or else -> I

With a list of metrics, the verdicts combine: any N -> N, all R -> R, otherwise I.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tilelli import paths, study
from tilelli.eval.stats import tost_welch, welch_test
from tilelli.io import TilelliError, is_number, read_json

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, MISSING = "REPRODUCED", "NOT REPRODUCED", "INCONCLUSIVE", "MISSING"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
CODE = {REPRODUCED: 1, INCONCLUSIVE: 0, NOT_REPRODUCED: -1}   # numeric, so `dvc metrics diff` shows moves
# A control (beyond the publication) "holds" rather than "reproduces".
CONTROL_WORDS = {REPRODUCED: "HOLDS", NOT_REPRODUCED: "DOES NOT HOLD", INCONCLUSIVE: "INCONCLUSIVE", MISSING: MISSING}
KINDS = ("positive", "negative", "control")
POINT_KEYS = ("auroc", "delta", "rate", "value", "mean")
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
TESTS = {  # test -> required rule keys
    "equivalence": ("target", "margin"), "above": ("bound",), "below": ("bound",), "count": ("op", "n"),
    "equals": ("value",), "not_significant": ("alpha", "min_n"), "near_chance": ("margin", "signals"),
    "dominates": ("field",), "equivalent_arms": ("arms", "margin", "alpha", "min_n", "epsilon"),
}


class Missing(Exception):
    """A metric the rule needs is absent, null or of the wrong type."""


@dataclass
class Evidence:
    """One metric's verdict and what the report shows of it."""
    ref: str
    verdict: str
    text: str           # "0.512 [0.41, 0.62]" or "MISSING (...)"
    why: str = ""       # why it is not REPRODUCED, one phrase
    point: float | None = None
    lo: float | None = None
    hi: float | None = None


def seed_agreement(verdict: str, by_seed: dict) -> tuple[int, int]:
    """(seeds whose verdict alone equals `verdict`, seeds with a verdict of their own (None = n/a))."""
    alone = [v for v in by_seed.values() if v is not None]
    return sum(v == verdict for v in alone), len(alone)


def flips_with_seed(verdict: str, by_seed: dict) -> bool:
    """Some seed alone gives another verdict: a verdict that flips with the seed is not a finding."""
    agree, n = seed_agreement(verdict, by_seed)
    return agree < n


@dataclass
class ClaimResult:
    id: str
    statement: str
    kind: str
    published: str
    rule: dict
    why_rule: str
    evidence: list[Evidence]
    verdict: str
    expected: str
    reason: str                       # the pre-registered reason for the expected verdict
    notes: list[str] = field(default_factory=list)   # shown beside the verdict (e.g. `read_with`)
    by_seed: dict = field(default_factory=dict)   # {seed: the verdict on that seed's models alone, None = n/a}
    original: str | None = None       # the prediction before any run, where the expectation was revised after one
    revised: str | None = None        # which run revised it, and what came out

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    @property
    def as_predicted(self) -> bool:
        """The verdict is the one predicted before any run (the original prediction where revised)."""
        return self.verdict == (self.original or self.expected)

    @property
    def seed_agreement(self) -> tuple[int, int]:
        """(seeds whose verdict alone equals the pooled verdict, seeds with a verdict of their own)."""
        return seed_agreement(self.verdict, self.by_seed)

    @property
    def fragile(self) -> bool:
        return flips_with_seed(self.verdict, self.by_seed)

    def stability(self) -> str:
        agree, n = self.seed_agreement
        if not n:
            return "n/a (needs every seed)"
        flips = ", ".join(f"s{s}: {self.word(v)}" for s, v in self.by_seed.items() if v is not None and v != self.verdict)
        return f"{agree}/{n} seeds" + (f" (**flips**: {flips})" if flips else "")

    def word(self, verdict: str | None = None) -> str:
        v = verdict or self.verdict
        return CONTROL_WORDS[v] if self.kind == "control" else v


# ---------------------------------------------------------------------------------------------
# Reading metrics
# ---------------------------------------------------------------------------------------------
class MetricStore:
    """Reads `file:dotted.path` refs under a root, caching each JSON file. Raises Missing."""

    def __init__(self, root):
        self.root = Path(root)
        self._files: dict[str, object] = {}

    def _load(self, rel: str):
        if rel not in self._files:
            path = self.root / rel
            try:
                self._files[rel] = read_json(path)
            except TilelliError as e:  # missing or malformed: the claim's verdict is MISSING
                self._files[rel] = Missing(f"{e} (did its stage run?)")
        return self._files[rel]

    def read(self, ref: str):
        if ":" not in ref:
            raise TilelliError(f"metric ref '{ref}' must look like '{paths.AUROC}:key.path'")
        rel, dotted = ref.split(":", 1)
        node = self._load(rel)
        if isinstance(node, Missing):
            raise node
        keys = [k for k in dotted.split(".") if k]
        for i, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                where = ".".join(keys[:i]) or "<top>"
                raise Missing(f"key '{'.'.join(keys[:i + 1])}' not found in {rel} (under {where})")
            node = node[k]
        if node is None:
            raise Missing(f"{ref}: value is null (not computed)")
        return node


def _num(node: dict, key: str, ref: str) -> float:
    v = node.get(key) if isinstance(node, dict) else None
    if not is_number(v):
        raise Missing(f"{ref}: '{key}' is {'absent' if v is None else repr(v)}, not a number")
    return float(v)


def _interval(node, ref: str, key: str | None = None) -> tuple[float, float, float]:
    """(point, lo, hi) of a metric node {auroc|delta|rate|value|mean, lo, hi}."""
    if not isinstance(node, dict):
        raise Missing(f"{ref}: expected a node with a value and its CI (lo, hi), got {node!r}")
    key = key or next((k for k in POINT_KEYS if k in node), None)
    if key is None:
        raise Missing(f"{ref}: no value key ({', '.join(POINT_KEYS)}) in this node")
    return _num(node, key, ref), _num(node, "lo", ref), _num(node, "hi", ref)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 0.001 or x == 0 else f"{x:.2e}"


def _ci_text(p, lo, hi) -> str:
    return f"{_fmt(p)} [{_fmt(lo)}, {_fmt(hi)}]"


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
def _band(lo: float, hi: float, a: float, b: float) -> str:
    """Verdict of a CI [lo, hi] against the band [a, b]: inside R, disjoint N, straddling I."""
    if a <= lo and hi <= b:
        return REPRODUCED
    if hi < a or lo > b:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _ev(ref, verdict, text, why="", p=None, lo=None, hi=None) -> Evidence:
    return Evidence(ref, verdict, text, "" if verdict == REPRODUCED else why, p, lo, hi)


def _equivalence(node, ref, rule) -> list[Evidence]:
    p, lo, hi = _interval(node, ref, rule.get("field"))
    t, m = float(rule["target"]), float(rule["margin"])
    v = _band(lo, hi, t - m, t + m)
    why = {NOT_REPRODUCED: f"CI outside [{t - m:.2f}, {t + m:.2f}]",
           INCONCLUSIVE: f"CI straddles the band [{t - m:.2f}, {t + m:.2f}]"}.get(v, "")
    if v == INCONCLUSIVE and rule.get("refute_target") and not lo <= t <= hi:
        v, why = NOT_REPRODUCED, f"CI excludes the published {t:g} and is not inside [{t - m:.2f}, {t + m:.2f}]"
    return [_ev(ref, v, _ci_text(p, lo, hi), why, p, lo, hi)]


def _above(node, ref, rule, sign=+1) -> list[Evidence]:
    p, lo, hi = _interval(node, ref, rule.get("field"))
    b = float(rule["bound"])
    if sign > 0:
        v = REPRODUCED if lo > b else NOT_REPRODUCED if hi < b else INCONCLUSIVE
        why = {NOT_REPRODUCED: f"CI below {b:g}", INCONCLUSIVE: f"CI includes {b:g}"}.get(v, "")
    else:
        v = REPRODUCED if hi < b else NOT_REPRODUCED if lo > b else INCONCLUSIVE
        why = {NOT_REPRODUCED: f"CI above {b:g}", INCONCLUSIVE: f"CI includes {b:g}"}.get(v, "")
    return [_ev(ref, v, _ci_text(p, lo, hi), why, p, lo, hi)]


def _count(node, ref, rule) -> list[Evidence]:
    if "of" in rule:   # "k of n": a rate on a fixed prompt set, judged on its CI against k/n
        p, lo, hi = _interval(node, ref, "rate")
        hits, total = _num(node, "hits", ref), _num(node, "n", ref)
        if total <= 0:
            raise Missing(f"{ref}: n = {total:g} is not a prompt count")
        q, op = int(rule["n"]) / int(rule["of"]), rule["op"]
        if op in (">=", ">"):
            v = REPRODUCED if _OPS[op](lo, q) else NOT_REPRODUCED if not _OPS[op](hi, q) else INCONCLUSIVE
        else:
            v = REPRODUCED if _OPS[op](hi, q) else NOT_REPRODUCED if not _OPS[op](lo, q) else INCONCLUSIVE
        why = {NOT_REPRODUCED: f"CI {'below' if op in ('>=', '>') else 'above'} {rule['n']}/{rule['of']} = {q:g}",
               INCONCLUSIVE: f"CI straddles {rule['n']}/{rule['of']} = {q:g}"}.get(v, "")
        text = f"{_fmt(hits)}/{_fmt(total)} = {p:.2f} [{lo:.2f}, {hi:.2f}]"
        return [_ev(ref, v, text, why, p, lo, hi)]
    if not isinstance(node, int) or isinstance(node, bool):
        raise Missing(f"{ref}: {node!r} is not a count")
    ok = _OPS[rule["op"]](node, rule["n"])
    return [_ev(ref, REPRODUCED if ok else NOT_REPRODUCED, str(node), f"not {rule['op']} {rule['n']}", float(node))]


def _equals(node, ref, rule) -> list[Evidence]:
    want = rule["value"]
    ok = node == want and isinstance(node, bool) == isinstance(want, bool)  # true is not 1
    return [_ev(ref, REPRODUCED if ok else NOT_REPRODUCED, str(node).lower() if isinstance(node, bool) else str(node),
                f"is not {want!r}")]


def _not_significant(node, ref, rule) -> list[Evidence]:
    p = _num(node, "p", ref)
    if not 0.0 <= p <= 1.0:
        raise Missing(f"{ref}: p = {p} is not a probability")
    n = min(int(_num(node, "n_a", ref)), int(_num(node, "n_b", ref)))
    text = f"p = {_fmt(p)} (n = {int(node['n_a'])} vs {int(node['n_b'])})"
    if n < int(rule["min_n"]):
        return [_ev(ref, INCONCLUSIVE, text, f"fewer than {rule['min_n']} seeds per arm", p)]
    alpha = float(rule["alpha"])
    v = REPRODUCED if p >= alpha else NOT_REPRODUCED
    return [_ev(ref, v, text, f"significant at {alpha:g}", p)]


def _samples(node, ref: str, key: str) -> list[float]:
    v = node.get(key) if isinstance(node, dict) else None
    if not isinstance(v, list) or not all(is_number(x) for x in v):
        raise Missing(f"{ref}: '{key}' is {'absent' if v is None else 'not a list of finite numbers'}")
    return [float(x) for x in v]


def _equivalent_arms(node, ref, rule) -> list[Evidence]:
    """Converged arms, then TOST within +-margin (R), else Welch significant (N), else I."""
    arm_a, arm_b = rule["arms"]
    a, b = _samples(node, ref, f"{arm_a}_bpb"), _samples(node, ref, f"{arm_b}_bpb")
    drops = {arm: _num((node.get("convergence") or {}).get(arm), "drop_last_quarter", f"{ref}convergence.{arm}")
             for arm in (arm_a, arm_b)}
    m, alpha, eps = float(rule["margin"]), float(rule["alpha"]), float(rule["epsilon"])
    drift = ", ".join(f"{arm} {_fmt(d)}" for arm, d in drops.items())
    if min(len(a), len(b)) < int(rule["min_n"]):
        text = f"n = {len(a)} vs {len(b)}"
        return [_ev(ref, INCONCLUSIVE, text, f"fewer than {rule['min_n']} seeds per arm")]
    tost, welch = tost_welch(a, b, m, alpha), welch_test(a, b)
    text = (f"{arm_a} - {arm_b} {_ci_text(tost['diff'], tost['lo'], tost['hi'])} ({1 - 2 * alpha:.0%} CI); "
            f"TOST p = {_fmt(tost['p'])}, Welch p = {_fmt(welch['p'])}; last-quarter drop {drift}")
    ev = lambda v, why="": _ev(ref, v, text, why, tost["diff"], tost["lo"], tost["hi"])  # noqa: E731
    unconverged = [arm for arm, d in drops.items() if not d <= eps]
    if unconverged:
        return [ev(INCONCLUSIVE, f"not converged: {', '.join(unconverged)} still improves by more than "
                                 f"{eps:g} over its last quarter")]
    if tost["equivalent"]:
        return [ev(REPRODUCED)]
    if welch["p"] < alpha:
        return [ev(NOT_REPRODUCED, f"Welch p < {alpha:g}: the arms differ")]
    return [ev(INCONCLUSIVE, f"neither equivalent within +-{m:g} (TOST) nor different (Welch)")]


def _near_chance(node, ref, rule) -> list[Evidence]:
    """Pooled ("cross") CI inside [0.5 - m, 0.5 + m]; per regime, no CI disjoint from the wider band."""
    if not isinstance(node, dict):
        raise Missing(f"{ref}: expected a model's AUROC table")
    m, rm = float(rule["margin"]), rule.get("regime_margin")
    exempt = rule.get("exempt") or {}
    out = []
    for s in rule["signals"]:
        table = node.get(s)
        if not isinstance(table, dict):
            raise Missing(f"{ref}.{s}: no AUROC table for this signal")
        p, lo, hi = _interval(table.get("cross"), f"{ref}.{s}.cross", "auroc")
        v = _band(lo, hi, 0.5 - m, 0.5 + m)
        why = f"{s} pooled CI {'outside' if v == NOT_REPRODUCED else 'straddles'} [{0.5 - m:.2f}, {0.5 + m:.2f}]"
        text = f"{s} {_ci_text(p, lo, hi)}"
        if rm is not None:
            separating = []
            for regime in rule.get("regimes") or [k for k in table if k != "cross"]:
                if regime in exempt.get(s, ()):
                    continue
                rp, rlo, rhi = _interval(table.get(regime), f"{ref}.{s}.{regime}", "auroc")
                if _band(rlo, rhi, 0.5 - float(rm), 0.5 + float(rm)) == NOT_REPRODUCED:
                    separating.append(f"{regime} {_ci_text(rp, rlo, rhi)}")
            if separating:
                v = NOT_REPRODUCED
                why = f"{s} separates a regime (CI outside [{0.5 - rm:.2f}, {0.5 + rm:.2f}]): " + "; ".join(separating)
                text += "; separates " + "; ".join(separating)
        out.append(_ev(f"{ref}.{s}", v, text, why, p, lo, hi))
    return out


def _dominates(node, ref, rule) -> list[Evidence]:
    """Every delta (reference minus other) has its CI above 0; INCONCLUSIVE at ceiling."""
    table = node.get(rule["field"]) if isinstance(node, dict) else None
    if not isinstance(table, dict) or not table:
        raise Missing(f"{ref}.{rule['field']}: no comparisons")
    out = []
    for name, cell in table.items():
        p, lo, hi = _interval(cell, f"{ref}.{rule['field']}.{name}", "delta")
        v = REPRODUCED if lo > 0 else NOT_REPRODUCED if hi < 0 else INCONCLUSIVE
        why = {NOT_REPRODUCED: f"{name} is better", INCONCLUSIVE: f"no significant difference from {name}"}.get(v, "")
        out.append(_ev(f"{ref}.{name}", v, f"vs {name}: {_ci_text(p, lo, hi)}", why, p, lo, hi))
    ceiling = rule.get("ceiling")
    if ceiling and node.get(ceiling) is True:
        for e in out:
            if e.verdict != NOT_REPRODUCED:
                e.verdict, e.why = INCONCLUSIVE, "at ceiling: every variant's CI lower bound >= 0.95"
    return out


_RUN = {"equivalence": _equivalence, "above": _above, "below": lambda n, r, x: _above(n, r, x, -1),
        "count": _count, "equals": _equals, "not_significant": _not_significant,
        "near_chance": _near_chance, "dominates": _dominates, "equivalent_arms": _equivalent_arms}


def combine(verdicts: list[str]) -> str:
    if not verdicts or MISSING in verdicts:
        return MISSING
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def evaluate(rule: dict, refs: list[str], store: MetricStore) -> tuple[str, list[Evidence]]:
    """(verdict, evidence) of one rule over its metric refs."""
    evidence = []
    for ref in refs:
        try:
            evidence += _RUN[rule["test"]](store.read(ref), ref, rule)
        except Missing as e:
            evidence.append(Evidence(ref, MISSING, f"MISSING ({e})", str(e)))
    return combine([e.verdict for e in evidence]), evidence


# ---------------------------------------------------------------------------------------------
# claims.yaml
# ---------------------------------------------------------------------------------------------
def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_rule(cid: str, rule) -> None:
    if not isinstance(rule, dict) or rule.get("test") not in TESTS:
        raise TilelliError(f"claim '{cid}': rule needs test: one of {', '.join(TESTS)}")
    missing = [k for k in TESTS[rule["test"]] if k not in rule]
    if missing:
        raise TilelliError(f"claim '{cid}': rule '{rule['test']}' needs {', '.join(missing)}")
    if rule["test"] == "count" and rule["op"] not in _OPS:
        raise TilelliError(f"claim '{cid}': count op must be one of {', '.join(_OPS)}")
    if rule["test"] == "count" and "of" in rule and not (isinstance(rule["of"], int) and rule["of"] > 0
                                                         and isinstance(rule["n"], int)):
        raise TilelliError(f"claim '{cid}': count 'of' and 'n' must be integers, of > 0")
    if rule["test"] == "count" and "of" in rule and rule["op"] == "==":
        raise TilelliError(f"claim '{cid}': a count with 'of' is judged on its CI: op must be >=, >, <= or <")
    if rule["test"] in ("equivalence", "near_chance", "equivalent_arms") and not float(rule["margin"]) > 0:
        raise TilelliError(f"claim '{cid}': margin must be > 0")
    if rule["test"] == "equivalent_arms" and (not isinstance(rule["arms"], list) or len(rule["arms"]) != 2):
        raise TilelliError(f"claim '{cid}': equivalent_arms needs arms: [a, b]")


# claims.yaml `computed_by`: the function that computes the claim's metric (tests/test_eval_claims.py
# checks that it exists and writes the key the claim reads); the loader checks only its shape, so
# that verify imports nothing beyond this module.
COMPUTED_BY = re.compile(r"tilelli\.eval\.[a-z_]+\.[A-Za-z_][A-Za-z0-9_]*")


def load_claims(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise TilelliError(f"{path}: claims file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise TilelliError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    claims = doc.get("claims") if isinstance(doc, dict) else None
    if not isinstance(claims, list) or not claims:
        raise TilelliError(f"{path}: expected a non-empty list under 'claims:'")
    seen = set()
    for c in claims:
        cid = c.get("id") if isinstance(c, dict) else None
        if not cid or cid in seen:
            raise TilelliError(f"{path}: every claim needs a unique id (problem at {cid!r})")
        seen.add(cid)
        for key in ("statement", "kind", "published", "metric", "computed_by", "rule", "why", "expected"):
            if key not in c:
                raise TilelliError(f"{path}: claim '{cid}' has no '{key}'")
        if not isinstance(c["computed_by"], str) or not COMPUTED_BY.fullmatch(c["computed_by"]):
            raise TilelliError(f"{path}: claim '{cid}': computed_by must name the function that computes its "
                               f"metric, tilelli.eval.<module>.<function> (got {c['computed_by']!r})")
        if c["kind"] not in KINDS:
            raise TilelliError(f"{path}: claim '{cid}': kind must be one of {', '.join(KINDS)}")
        _check_rule(cid, c["rule"])
        if "read_with" in c and c["read_with"] not in {x.get("id") for x in claims if isinstance(x, dict)} - {cid}:
            raise TilelliError(f"{path}: claim '{cid}': read_with must name another claim (got {c['read_with']!r})")
        for prof, exp in c["expected"].items():
            if not isinstance(exp, dict) or exp.get("verdict") not in VERDICTS or not exp.get("reason"):
                raise TilelliError(f"{path}: claim '{cid}', profile '{prof}': needs verdict "
                                   f"({' | '.join(VERDICTS)}) and a one-line reason")
            orig = exp.get("original")
            if ("original" in exp or "revised" in exp) and not (
                    isinstance(orig, dict) and orig.get("verdict") in VERDICTS and orig.get("reason")
                    and isinstance(exp.get("revised"), str) and exp["revised"].strip()):
                raise TilelliError(f"{path}: claim '{cid}', profile '{prof}': a revised expectation keeps "
                                   f"original: {{verdict, reason}} (the first prediction) and revised: \"what came out\"")
    return claims


def verify_claims(claims: list[dict], metrics_root, profile: str) -> list[ClaimResult]:
    store = MetricStore(metrics_root)
    results = []
    for c in claims:
        if profile not in c["expected"]:
            raise TilelliError(f"claim '{c['id']}' has no expected verdict for profile '{profile}'")
        exp = c["expected"][profile]
        verdict, evidence = evaluate(c["rule"], _as_list(c["metric"]), store)
        results.append(ClaimResult(c["id"], c["statement"], c["kind"], str(c["published"]), c["rule"],
                                   str(c["why"]), evidence, verdict, exp["verdict"], str(exp["reason"]),
                                   original=(exp.get("original") or {}).get("verdict"), revised=exp.get("revised")))
    by_id = {r.id: r for r in results}
    for c, r in zip(claims, results):   # a verdict that says nothing alone is shown with the one it needs
        other = by_id.get(c.get("read_with"))
        if other is not None:
            r.notes.append(f"read with {other.id}: {other.word()} ({'; '.join(e.text for e in other.evidence)})")
    return results


def judge_study(claims: list[dict], params: dict, metrics_root=".") -> tuple[list[ClaimResult], str]:
    """The one judgement of the study's claims, read by verify (results/claims.md, metrics/claims.json)
    and the paper: every claim on the pooled metrics, and again on each seed's alone (by_seed),
    against the expectations of study.expectations_of(params profile); returns (results, that profile)."""
    of = study.expectations_of(params["profile"])
    results = verify_claims(claims, metrics_root, of)
    add_seed_verdicts(results, claims, {s: paths.seed_metrics_root(s) for s in study.study_seeds(params)}, of)
    return results, of


def add_seed_verdicts(results: list[ClaimResult], claims: list[dict], seed_roots: dict, profile: str) -> None:
    """Judge every claim again on each seed's metrics alone ({seed: metrics root}, written by the
    auroc stage) and record it in `by_seed`; a claim whose metrics exist only for all seeds together
    (the A/B, N4's pairs) is None there (n/a)."""
    for seed, root in seed_roots.items():
        for r, alone in zip(results, verify_claims(claims, root, profile)):
            r.by_seed[seed] = None if alone.verdict == MISSING else alone.verdict


def mismatches(results: list[ClaimResult]) -> list[str]:
    """One line per claim whose verdict is not the pre-registered one (MISSING never is)."""
    lines = []
    for r in results:
        if r.as_expected:
            continue
        missing = [e.why for e in r.evidence if e.verdict == MISSING]
        if missing:
            lines.append(f"{r.id}: metric missing: {missing[0]}")
        else:
            why = "; ".join(dict.fromkeys(e.why for e in r.evidence if e.why))
            word = CONTROL_WORDS.get if r.kind == "control" else (lambda v: v)   # a control HOLDS or not
            lines.append(f"{r.id}: verdict {word(r.verdict)}, expected {word(r.expected)}" + (f" ({why})" if why else ""))
    return lines


def counts(results: list[ClaimResult]) -> dict[str, int]:
    out = {v: 0 for v in VERDICTS + (MISSING,)}
    for r in results:
        out[r.verdict] += 1
    return out


def headline(results: list[ClaimResult], profile: str, judged_as: str | None = None) -> str:
    """One line of verdict counts. judged_as: the profile whose expectations a preflight profile's
    claims were read against (study.expectations_of), when it is not `profile`: nothing is judged."""
    if judged_as and judged_as != profile:
        return (f"{profile}: verdicts not judged (a few training steps); against the {judged_as} expectations: "
                f"{headline(results, judged_as)}")
    published = [r for r in results if r.kind != "control"]
    n = counts(published)
    parts = [f"{n[REPRODUCED]} reproduced", f"{n[NOT_REPRODUCED]} not reproduced", f"{n[INCONCLUSIVE]} inconclusive"]
    if n[MISSING]:
        parts.append(f"{n[MISSING]} missing")
    controls = [r for r in results if r.kind == "control"]
    ctrl = ""
    if controls:
        c = counts(controls)
        ctrl = (f"; controls beyond the paper: {c[REPRODUCED]} hold, {c[NOT_REPRODUCED]} do not, "
                f"{c[INCONCLUSIVE]} inconclusive")
    bad = [r.id for r in results if not r.as_expected]
    tail = "all as expected" if not bad else f"{len(bad)} NOT as expected: {', '.join(bad)}"
    return f"{profile}: {', '.join(parts)} of {len(published)} published claims{ctrl}; {tail}"


def prediction_record(results: list[ClaimResult]) -> str:
    """'N of M verdicts as predicted before any run; K expectations revised after one (ids)'."""
    hit = sum(r.as_predicted for r in results)
    revised = [r.id for r in results if r.original]
    return (f"{hit} of {len(results)} verdicts as predicted before any run; "
            + (f"{len(revised)} expectation(s) revised after a run, each beside its original prediction: "
               f"{', '.join(revised)}" if revised else "no expectation revised after a run"))


def claims_json(results: list[ClaimResult], profile: str) -> dict:
    out = {"profile": profile, "n_claims": len(results), "counts": counts(results),
           "all_as_expected": all(r.as_expected for r in results),
           "as_predicted_before_any_run": sum(r.as_predicted for r in results),
           "expectations_revised": sum(bool(r.original) for r in results), "claims": {}}
    for r in results:
        entry = {"verdict": r.verdict, "expected": r.expected, "as_expected": r.as_expected,
                 "verdict_code": CODE.get(r.verdict)}
        if r.seed_agreement[1]:
            entry["by_seed"] = {f"s{k}": v for k, v in r.by_seed.items()}
            entry["seeds_agreeing"] = r.seed_agreement[0]   # numeric: `dvc metrics diff` shows a new flip
        if len(r.evidence) == 1 and r.evidence[0].point is not None:
            e = r.evidence[0]
            entry["value"] = e.point
            if e.lo is not None:
                entry.update(lo=e.lo, hi=e.hi)
        else:
            entry["evidence"] = [e.text for e in r.evidence]
        out["claims"][r.id] = entry
    return out


def fragile_claims(record: dict) -> set[str]:
    """Ids of the claims whose verdict flips with the seed in a claims_json() record (such as
    metrics/claims.json at git HEAD): ClaimResult.fragile, read back from what claims_json wrote."""
    entries = record.get("claims") or {}
    return {cid for cid, e in entries.items() if flips_with_seed(e.get("verdict"), e.get("by_seed") or {})}


def rule_text(rule: dict) -> str:
    t = rule["test"]
    if t == "equivalence":
        extra = f"; N if the CI excludes {rule['target']}" if rule.get("refute_target") else ""
        return f"CI within {rule['target']} ± {rule['margin']}{extra}"
    if t == "equivalent_arms":
        return (f"converged (last-quarter drop ≤ {rule['epsilon']}), then TOST within ± {rule['margin']} "
                f"(R) / Welch p < {rule['alpha']} (N), ≥ {rule['min_n']} seeds per arm")
    if t in ("above", "below"):
        return f"CI {t} {rule['bound']}"
    if t == "count":
        if "of" in rule:
            return (f"{rule['op']} {rule['n']} of {rule['of']}: the seed-mean rate's CI against "
                    f"{rule['n']}/{rule['of']} (on its side R, across it N, straddling I)")
        return f"{rule['op']} {rule['n']}"
    if t == "equals":
        return f"= {str(rule['value']).lower()}"
    if t == "not_significant":
        return f"p ≥ {rule['alpha']} with ≥ {rule['min_n']} seeds per arm"
    if t == "near_chance":
        extra = f"; no regime CI outside 0.5 ± {rule['regime_margin']}" if rule.get("regime_margin") is not None else ""
        return f"pooled CI within 0.5 ± {rule['margin']}{extra}"
    return "every delta CI above 0 (inconclusive at ceiling)"


def _revision(r: ClaimResult) -> str:
    if not r.original:
        return ""
    return f"<br>*Revised after a run* ({r.revised}); predicted before it: {r.word(r.original)}".replace("|", "/")


def claims_table(results: list[ClaimResult]) -> str:
    """claim | published | this run (CI) | rule | verdict | expected for this profile | as expected?"""
    lines = ["| claim | published | this run (95% CI) | rule | verdict | each seed alone | expected (reason) | as expected? |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        run = "<br>".join(e.text for e in r.evidence).replace("|", "\\|")
        verdict = f"**{r.word()}**"
        why = "; ".join(dict.fromkeys(e.why for e in r.evidence if e.why))
        if why and r.verdict != REPRODUCED:
            verdict += f": {why}"
        verdict += "".join(f"<br>*{n}*" for n in r.notes)
        name = f"{r.id} ({r.kind})<br>{r.statement}"
        lines.append(f"| {name} | {r.published} | {run} | {rule_text(r.rule)} | {verdict.replace('|', '/')} | "
                     f"{r.stability()} | {r.word(r.expected)}: {r.reason}{_revision(r)} | "
                     f"{'yes' if r.as_expected else '**NO**'} |")
    return "\n".join(lines) + "\n"


def claims_markdown(results: list[ClaimResult], profile: str, header: str = "", judged_as: str | None = None) -> str:
    """results/claims.md. judged_as: the profile whose expectations a preflight profile's claims were
    read against (study.expectations_of), when it is not `profile`: then no verdict is judged."""
    title = (f"{profile} profile: {judged_as} expectations, verdicts not judged" if judged_as and judged_as != profile
             else f"{profile} profile")
    lead = headline(results, profile, judged_as)
    return (f"# Claim verdicts ({title})\n\n{header}"
            f"**{lead}.**\n\n"
            + ("" if judged_as and judged_as != profile else f"Pre-registration: {prediction_record(results)}.\n\n")
            + f"Written by `stages/verify.py` from `claims.yaml` and `{paths.METRICS_DIR}/*.json`. Each rule comes from "
            "the publication and is the same for every profile; REPRODUCED / NOT REPRODUCED / "
            "INCONCLUSIVE is decided by the 95% CI against the rule's boundary; the expected verdict per "
            "profile is pre-registered in `claims.yaml` with its reason. Controls (kind `control`) go "
            "beyond the published study. *Each seed alone*: the same rule on one seed's models only "
            "(each seed is a whole replication: its own base chain, variants and splice); a verdict that "
            "some seed alone does not give **flips** with the seed and is not a finding at this scale. "
            "n/a: the metric exists only for all seeds together (the A/B, N4's pairs).\n\n"
            + claims_table(results))
