"""JSON Lines: errors name the file and the line; writes are atomic."""
import pytest

from tilelli.io import TilelliError, iter_jsonl, read_jsonl, write_jsonl


def test_round_trip_and_blank_lines(tmp_path):
    rows = [{"prompt": "Où est Paris?", "response": "En France.", "kind": "chat"}, {"a": [1, 2]}]
    write_jsonl(tmp_path / "x.jsonl", rows)
    assert read_jsonl(tmp_path / "x.jsonl") == rows
    (tmp_path / "y.jsonl").write_text('\n{"a": 1}\n\n{"a": 2}\n')
    assert [r["a"] for r in iter_jsonl(tmp_path / "y.jsonl")] == [1, 2]


@pytest.mark.parametrize("content,line,why", [
    ('{"prompt": "q", "response": "a"}\n{"prompt": \n', 2, "not valid JSON"),
    ('{"prompt": "q", "response": "a"}\n\n[1, 2]\n', 3, "expected a JSON object"),
    ('{"prompt": "q", "response": "a"}\n{"prompt": "q"}\n', 2, "missing field(s) response"),
])
def test_errors_name_file_and_line(tmp_path, content, line, why):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TilelliError) as e:
        read_jsonl(path, required=("prompt", "response"))
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}: ") and why in msg and "\n" not in msg


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff\xfe"}\n')
    with pytest.raises(TilelliError, match=r"bin\.jsonl:2: not valid UTF-8 \(invalid start byte at byte 7\)$"):
        read_jsonl(path)


def test_missing_file(tmp_path):
    with pytest.raises(TilelliError, match="not found"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert read_jsonl(path) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["x.jsonl"]
