"""Generation labels: loop, refusal, answer, by the documented rules."""
import pytest

from tilelli.eval.regimes import (contains_template, is_collapsed, is_loop, label_generation, read_gate_rows,
                                  read_probe_rows)
from tilelli.io import TilelliError, write_jsonl


@pytest.mark.parametrize("text,label", [
    (" I don't know.\nUSER: what", "refusal"),
    (" i can't answer that. facts like that are beyond a 10m model", "refusal"),
    (" I\u2019m not sure about that.", "refusal"),
    (" I cannot help with that.\n", "refusal"),
    (" Paris is the capital of France.\nUSER: I don't know", "answer"),  # refusal only in a later turn
    (" The moon orbits the earth once a month.\n", "answer"),
    (" no no no no no no no no no", "loop"),
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "loop"),
    (" I don't know. I don't know. I don't know. I don", "refusal"),  # 3.5 repeats: trigram count 4
])
def test_labels(text, label):
    assert label_generation(text.encode(), "I don't know.") == label


def test_loop_threshold_is_five_repeats():
    assert not is_loop(b"ababcdefghij")
    assert is_loop(b"abcabcabcabcabc")       # "abc" x5
    assert not is_loop(b"abcabcabcabc")      # x4
    assert not is_loop(b"")


def test_white_space_alone_is_no_loop():
    """Blank lines after a finished turn are padding, not collapse (the old rule counted them)."""
    assert not is_loop(b"\n\n\n\n\n\n\n\n") and not is_loop(b"          ")
    g = b" I don't know.\n\n\n\n\n\n\n\n\n\n\n\n"
    assert label_generation(g, "I don't know.") == "refusal" and not is_collapsed(g)
    assert is_collapsed(b" Angola.\n\nAngola.\n\nAngola.\n\nAngola.\n\nAngola.\n")  # words repeat: collapse
    assert is_loop(b" L L L L L L")  # a trigram with one non-space byte still counts


def test_template_detection_is_case_and_apostrophe_insensitive():
    assert contains_template(" i DON\u2019T know", "I don't know.")
    assert not contains_template(" I know.", "I don't know.")
    assert label_generation(" Pas de réponse.".encode(), "Pas de réponse.") == "refusal"


def test_refuse_then_ramble_is_a_refusal_and_collapsed():
    """The label is the model's turn; what it writes after the turn is reported apart, as collapse."""
    g = b"I don't know.\nUSER: no no no no no no no no no"
    assert label_generation(g, "I don't know.") == "refusal"
    assert is_collapsed(g)
    assert not is_collapsed(b"I don't know.\nUSER: what")


def test_a_loop_inside_the_turn_is_a_loop_and_collapsed():
    g = b" no no no no no no no no no\nUSER: hi"
    assert label_generation(g, "I don't know.") == "loop" and is_collapsed(g)
    assert label_generation(b"I don't know. no no no no no no", "I don't know.") == "loop"  # loop wins in the turn


def test_an_answer_followed_by_a_looping_continuation_is_an_answer_and_collapsed():
    g = b" Paris is the capital of France.\naaaaaaaaaaaaaa"
    assert label_generation(g, "I don't know.") == "answer" and is_collapsed(g)
    empty_turn = b"\nno no no no no no no"                     # nothing in the turn: an answer, collapsed
    assert label_generation(empty_turn, "I don't know.") == "answer" and is_collapsed(empty_turn)


def _probe_row(**kw):
    row = {"id": 0, "regime": "in_domain", "expected": "answer", "label": "answer", "collapsed": False,
           "max_softmax_last": -0.1, "max_softmax_mean": -0.2, "entropy_mean": 1.0, "energy": -3.0,
           "router_conf": None, "router_entropy_var": None, "abstain_p": 0.5}
    return {**row, **kw}


def test_probe_and_gate_rows_must_say_whether_the_generation_collapsed(tmp_path):
    good, bad = _probe_row(), _probe_row(id=1)
    del bad["collapsed"]
    write_jsonl(tmp_path / "m.jsonl", [good, bad])
    with pytest.raises(TilelliError, match=r"m\.jsonl:2: field 'collapsed' must be true or false") as e:
        read_probe_rows(tmp_path / "m.jsonl")
    assert "\n" not in str(e.value)
    write_jsonl(tmp_path / "m.jsonl", [good, _probe_row(id=1, collapsed="yes")])
    with pytest.raises(TilelliError, match=r"m\.jsonl:2: field 'collapsed'"):
        read_probe_rows(tmp_path / "m.jsonl")
    write_jsonl(tmp_path / "m.jsonl", [good])
    assert read_probe_rows(tmp_path / "m.jsonl")[0]["collapsed"] is False
    gate = {"set": "idk_heldout", "id": 0, "label": "refusal", "abstained": True}
    write_jsonl(tmp_path / "m.gates.jsonl", [gate])
    with pytest.raises(TilelliError, match=r"m\.gates\.jsonl:1: field 'collapsed' must be true or false"):
        read_gate_rows(tmp_path / "m.gates.jsonl")
    write_jsonl(tmp_path / "m.gates.jsonl", [{**gate, "collapsed": True}])
    assert read_gate_rows(tmp_path / "m.gates.jsonl")[0]["collapsed"] is True
