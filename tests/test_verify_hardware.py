"""verify on another CPU's floats (stages/verify.py): a moved verdict that flips with the seed (in this
run or the committed one) is reported HARDWARE-SENSITIVE and passes; a moved verdict every seed agrees
on fails; on the committed run's floats every move fails, fragile or not; MISSING always fails."""

import pytest

from tilelli.eval.claims import INCONCLUSIVE, MISSING, NOT_REPRODUCED, REPRODUCED, ClaimResult
from conftest import ROOT



def result(cid, verdict, expected, by_seed):
    return ClaimResult(cid, "a statement", "positive", "0.5", {"test": "above", "bound": 0}, "why", [],
                       verdict, expected, "a reason", by_seed=dict(by_seed))


FRAGILE = {0: REPRODUCED, 1: INCONCLUSIVE}         # seed 1 alone gives another verdict
STABLE = {0: NOT_REPRODUCED, 1: NOT_REPRODUCED}


@pytest.fixture
def verify(monkeypatch, chdir_tmp, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    import stages.verify as v

    def run(results, same_floats, committed_claims=None):
        monkeypatch.setattr(v, "load_claims", lambda path: [])
        monkeypatch.setattr(v, "judge_study", lambda claims, params, root: (results, params["profile"]))
        monkeypatch.setattr(v, "changed_from_profile", lambda params: [])
        monkeypatch.setattr(v, "provenance", lambda **k: {"numerics": {
            "fingerprint": "here", "committed": "here" if same_floats else "there", "same_floats": same_floats}})
        monkeypatch.setattr(v, "provenance_markdown", lambda p: "")
        monkeypatch.setattr(v, "measure", lambda: {"fingerprint": "here", "cpu": "a CPU", "settings": {
            "mode": "pinned", "cpu_capability": "AVX2", "threads": 2}})
        monkeypatch.setattr(v, "committed_json", lambda rel: committed_claims)
        try:
            v.main({"profile": "tiny", "seeds": [0, 1]})
            code = 0
        except SystemExit as e:
            code = e.code
        return code, capsys.readouterr().err
    return run


def test_on_the_committed_floats_every_move_fails(verify):
    code, err = verify([result("a", REPRODUCED, NOT_REPRODUCED, FRAGILE)], same_floats=True)
    assert code == 1 and "NOT AS EXPECTED: a" in err and "HARDWARE" not in err


def test_another_cpu_may_move_a_seed_fragile_verdict(verify):
    code, err = verify([result("a", REPRODUCED, NOT_REPRODUCED, FRAGILE),
                        result("b", NOT_REPRODUCED, NOT_REPRODUCED, STABLE)], same_floats=False)
    assert code == 0 and "HARDWARE-SENSITIVE: a" in err and "1 seed-fragile verdict(s) moved, 0 stable" in err


def test_another_cpu_fails_when_a_verdict_every_seed_agrees_on_moves(verify):
    code, err = verify([result("a", REPRODUCED, NOT_REPRODUCED, FRAGILE),
                        result("b", NOT_REPRODUCED, INCONCLUSIVE, STABLE)], same_floats=False)
    assert code == 1 and "HARDWARE-SENSITIVE: a" in err and "NOT AS EXPECTED: b" in err


def test_fragile_in_the_committed_run_counts_too(verify):
    committed = {"claims": {"b": {"verdict": "REPRODUCED", "by_seed": {"s0": "REPRODUCED", "s1": "INCONCLUSIVE"},
                                "seeds_agreeing": 1}}}
    code, err = verify([result("b", NOT_REPRODUCED, INCONCLUSIVE, STABLE)], same_floats=False,
                       committed_claims=committed)
    assert code == 0 and "HARDWARE-SENSITIVE: b" in err


def test_a_missing_metric_fails_on_any_cpu(verify):
    missing = result("a", MISSING, REPRODUCED, {})
    assert verify([missing], same_floats=False)[0] == 1


def test_fragile_read_back_from_claims_json_is_claim_result_fragile():
    """verify reads the committed run's fragile claims from metrics/claims.json: fragile_claims must
    give what ClaimResult.fragile gave before claims_json wrote the record (one rule, two inputs)."""
    from tilelli.eval.claims import claims_json, fragile_claims

    results = [result("a", REPRODUCED, REPRODUCED, FRAGILE), result("b", NOT_REPRODUCED, NOT_REPRODUCED, STABLE),
               result("c", INCONCLUSIVE, INCONCLUSIVE, {0: INCONCLUSIVE, 1: None}),   # n/a on a seed: not a flip
               result("d", INCONCLUSIVE, INCONCLUSIVE, {})]
    assert fragile_claims(claims_json(results, "tiny")) == {r.id for r in results if r.fragile} == {"a"}
    assert fragile_claims({}) == set()
