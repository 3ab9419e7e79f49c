"""JSON Lines in and out: one object per line; errors name the file and the line.

    rows = read_jsonl("data/sft/chat_train.jsonl", required=("prompt", "response"))
    write_jsonl("data/sft/chat_train.jsonl", rows)      # atomic (tilelli.io)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from tilelli import io
from tilelli.errors import TilelliError


def iter_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> Iterator[dict]:
    """Yield one dict per non-blank line; a bad line raises TilelliError('file:line: why')."""
    path = Path(path)
    required = tuple(required)
    if not path.is_file():
        raise TilelliError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        lineno = 0
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError as e:
                raise TilelliError(f"{path}:{lineno + 1}: not valid UTF-8 ({e.reason})") from None
            if not line:
                return
            lineno += 1
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise TilelliError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise TilelliError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in required if k not in row]
            if missing:
                raise TilelliError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            yield row


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    return list(iter_jsonl(path, required))


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    io.write_jsonl(path, rows)
