"""The chat byte format of the published kit, and completion-only SFT examples.

    format_prompt("What is the capital of France?")  -> "USER: What is the capital of France?\\nTILELLI:"
    format_completion("The capital of France is Paris.") -> " The capital of France is Paris.\\n"
    x, y = encode_pair(question, answer, seq_len=128)   # y = -100 on prompt positions

SFT rows (data/sft/*.jsonl) and probe rows store the *raw* user text in "prompt" and the raw
answer in "response"; these functions add the framing. A turn ends at "\\n" (END_OF_TURN), so
chat generation stops at STOP_SEQUENCES.

Truncation (an example longer than seq_len + 1 bytes): the completion is kept and the prompt
is cut from the left, so the model always sees "...\\nTILELLI:" right before its answer; a
completion longer than the window is cut on the right.
"""
from __future__ import annotations

from tilelli.model.quantities import IGNORE_INDEX  # -100; one definition, shared with the loss

USER_PREFIX = "USER: "
ASSISTANT_TAG = "\nTILELLI:"
END_OF_TURN = "\n"
STOP_SEQUENCES = [list(b"\nUSER:"), list(END_OF_TURN.encode())]


def format_prompt(question: str) -> str:
    return f"{USER_PREFIX}{question}{ASSISTANT_TAG}"


def format_completion(response: str) -> str:
    return f" {response}{END_OF_TURN}"


def encode_pair(prompt: str, response: str, seq_len: int) -> tuple[list[int], list[int]]:
    """(x, y) byte ids of one chat example, length <= seq_len, loss on the completion only.

    `prompt` is the raw question, `response` the raw answer. y[i] is the byte after x[i];
    every y position whose target is a prompt byte is IGNORE_INDEX (-100).
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    p = list(format_prompt(prompt).encode("utf-8"))
    c = list(format_completion(response).encode("utf-8"))
    if len(p) + len(c) > seq_len + 1:
        p = p[-max(1, seq_len + 1 - len(c)):]
    ids = (p + c)[: seq_len + 1]
    x, y = ids[:-1], ids[1:]
    n_masked = len(p) - 1
    y[:n_masked] = [IGNORE_INDEX] * n_masked
    return x, y
