"""Generation labels: loop, refusal, answer, by the documented rules."""
import pytest

from tilelli.eval.regimes import contains_template, is_loop, label_generation


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


def test_template_detection_is_case_and_apostrophe_insensitive():
    assert contains_template(" i DON\u2019T know", "I don't know.")
    assert not contains_template(" I know.", "I don't know.")
    assert label_generation(" Pas de réponse.".encode(), "Pas de réponse.") == "refusal"
