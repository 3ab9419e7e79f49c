"""The one strict JSON reader: a missing or malformed file is one line naming the file and line."""
import pytest

from tilelli.io import TilelliError, read_json, write_json


def test_round_trip(tmp_path):
    doc = {"a": [1, 2.5, None], "b": "é"}
    write_json(tmp_path / "x.json", doc)
    assert read_json(tmp_path / "x.json") == doc


def test_missing_file_is_an_error_not_an_empty_dict(tmp_path):
    with pytest.raises(TilelliError, match=r"nope\.json: file not found"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(TilelliError, match="file not found"):
        read_json(tmp_path)                                   # a directory is not a file


@pytest.mark.parametrize("content,line", [('{"a": 1,\n "b": }\n', 2), ("", 1), ('{"a": 1}\n{"b": 2}\n', 2)])
def test_malformed_file_names_file_and_line(tmp_path, content, line):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TilelliError) as e:
        read_json(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}: not valid JSON") and "\n" not in msg


def test_invalid_utf8(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(TilelliError, match=r"bin\.json: not valid UTF-8"):
        read_json(path)
