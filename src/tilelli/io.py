"""File input and output: one strict JSON / JSON Lines reader, atomic writers; the one exception type.

    doc = read_json("metrics/behaviour.json")          # dict, list, ... (any JSON value)
    rows = read_jsonl("data/sft/chat_train.jsonl", required=("prompt", "response"))
    write_json("metrics/auroc.json", doc)              # atomic

Reading: a missing, unreadable or malformed file raises TilelliError with ONE line naming the
file and the line ("data/x.jsonl:2: not valid JSON (...)"); a missing file is an error, never
an empty dict, so a stage cannot silently run on absent inputs.
Writing: to a temporary sibling, fsync, then rename over the target. A crash mid-write leaves
the old file (or nothing), never a half file that looks complete. A full disk during the write
removes the temporary and raises one TilelliError line naming the target, the bytes the write
needed and the bytes free (see disk_full); the previous output stays.

Errors: TilelliError, the one exception type for every user-facing failure. It lives here because
io imports nothing else of tilelli (and no torch), so any module, the earliest included (numerics,
params, stage), can import it without a cycle.

Library code raises `TilelliError("one clear line")` for bad input (unknown model name, corrupt
shard, malformed JSONL, out-of-range param). Entry points (`tilelli.stage.run`, the CLI) print
`error: <message>` on stderr and exit 2, with no traceback wall.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator


class TilelliError(Exception):
    """A user-facing error whose message is one line that says what to do."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 16 MiB chunks (shards can be GBs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _open_text(path: Path):
    if not path.is_file():
        raise TilelliError(f"{path}: file not found")
    return open(path, encoding="utf-8")


def read_json(path: str | os.PathLike):
    """The JSON value in `path`; a missing or malformed file is one TilelliError line."""
    path = Path(path)
    with _open_text(path) as f:
        try:
            text = f.read()
        except UnicodeDecodeError as e:
            raise TilelliError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TilelliError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None


def is_number(v) -> bool:
    """A finite int or float, not a bool: what a metric or a numeric param read back must be (a NaN
    that json wrote as null, a diverged run's inf and True/False are none of them)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def iter_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> Iterator[dict]:
    """Yield one dict per non-blank line; a bad line raises TilelliError('file:line: why')."""
    path = Path(path)
    required = tuple(required)
    if not path.is_file():
        raise TilelliError(f"{path}: file not found")
    # Bytes, decoded line by line: a text reader decodes 8 KB blocks ahead, so its error would
    # name the line being read, not the one holding the bad byte.
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise TilelliError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if line.strip():
                yield _jsonl_row(path, lineno, line, required)


def _jsonl_row(path: Path, lineno: int, line: str, required: tuple) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise TilelliError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise TilelliError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
    missing = [k for k in required if k not in row]
    if missing:
        raise TilelliError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
    return row


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> list[dict]:
    """Every row of a JSON Lines file (see iter_jsonl); an empty file gives []."""
    return list(iter_jsonl(path, required))


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC (or EDQUOT) from the OS, or a writer that wraps it in its own error (safetensors'
    SafetensorError says "I/O error: No space left on device")."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def disk_full(path: str | os.PathLike, need: int | None) -> TilelliError:
    """The one-line error for a write to `path` that ran out of space (measured after cleanup)."""
    path = Path(path)
    where = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    free = shutil.disk_usage(where).free
    needed = f"needs {need:,} bytes" if need is not None else "needs more space"
    return TilelliError(f"{path}: no space left on device: the write {needed}, {free:,} bytes free; "
                        "free some space and re-run (the previous output, if any, is unchanged)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "", need: int | None = None):
    """Yield a temporary path next to `path`; on success rename it over `path`.

    `need`: the bytes the write takes, for the one-line error when the disk is full."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    full = False
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except Exception as e:
        full = is_disk_full(e)
        if not full:
            raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if full:
        raise disk_full(path, need) from None


def write_text(path, text: str) -> None:
    data = text.encode("utf-8")
    with atomic_path(path, need=len(data)) as tmp:
        Path(tmp).write_bytes(data)


def write_json(path, obj, indent: int = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def write_jsonl(path, rows) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@contextmanager
def atomic_dir(path: str | os.PathLike, need: int | None = None):
    """Yield a temporary directory next to `path`; on success it replaces `path` whole.

    `need`: the bytes the folder takes, for the one-line error when the disk is full."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    full = False
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # put the previous output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except Exception as e:
        full = is_disk_full(e)
        if not full:
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if full:
        raise disk_full(path, need) from None
