"""ByteTokenizer: identity over UTF-8 bytes, vocabulary 256, decode never raises."""
import pytest

from tilelli import ByteTokenizer, TilelliError


def test_roundtrip_ascii_and_unicode():
    tok = ByteTokenizer()
    for text in ["Once upon a time", "héllo wörld ⵜⵉⵍⵍⵉ 🌍", "USER: hi\nTILELLI:", ""]:
        ids = tok.encode(text)
        assert ids == list(text.encode("utf-8"))
        assert all(0 <= i < 256 for i in ids)
        assert tok.decode(ids) == text
    assert tok.vocab_size == len(tok) == 256


def test_invalid_utf8_decodes_with_replacement():
    tok = ByteTokenizer()
    assert tok.decode([0xFF, 0x68, 0xC3]) == "\ufffdh\ufffd"
    assert tok.decode(list(range(256)))          # every byte value, no exception


def test_encode_rejects_non_text():
    with pytest.raises(TilelliError):
        ByteTokenizer().encode(b"bytes")
    with pytest.raises(TilelliError):
        ByteTokenizer().decode([300])
