"""The receiver reads a request's headers as http.server reads them, whatever a client sends."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_telemetry_cli.receiver.server import _read_headers

NAMES = ["Content-Type", "content-length", "Content-Encoding", "X-Token", "Connection", "Expect", "From"]
name_text = st.sampled_from(NAMES) | st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=8
)
value_text = st.text(st.characters(min_codepoint=0x00, max_codepoint=0xFF), max_size=12)
line_ends = st.sampled_from([b"\r\n", b"\n", b"\r", b""])


@st.composite
def header_blocks(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["plain", "plain", "plain", "folded", "junk", "spaced"]))
        name, value = draw(name_text), draw(value_text)
        if kind == "plain":
            line = f"{name}:{draw(st.sampled_from(['', ' ', '  ', chr(9)]))}{value}"
        elif kind == "folded":
            line = f" {value}"
        elif kind == "spaced":
            line = f"{name} : {value}"
        else:
            line = value
        lines.append(line.encode("latin-1") + draw(line_ends))
    return b"".join(lines) + draw(st.sampled_from([b"\r\n", b"\n", b""]))


def _both(block: bytes):
    ours = _read_headers(io.BytesIO(block))
    theirs = http.client.parse_headers(io.BytesIO(block))
    return ours, theirs


@settings(max_examples=500, deadline=None)
@given(header_blocks())
def test_headers_read_as_http_server_reads_them(block):
    ours, theirs = _both(block)
    assert ours.items() == theirs.items()
    for name in [*NAMES, "x-token", "missing"]:
        assert ours.get(name) == theirs.get(name)
        assert ours.get(name, "default") == theirs.get(name, "default")
        assert ours.get_all(name) == theirs.get_all(name)
        assert (name in ours) == (name in theirs)


def test_plain_headers_keep_their_values_exactly():
    block = b"Content-Type: application/x-protobuf\r\nX-Token:  two  spaces \r\nx-token: again\r\n\r\n"
    ours, _ = _both(block)
    assert ours.get("content-type") == "application/x-protobuf"
    assert ours.get("X-TOKEN") == "two  spaces "
    assert ours.get_all("X-Token") == ["two  spaces ", "again"]


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (b"X: " + b"a" * 70_000 + b"\r\n\r\n", http.client.LineTooLong),
        (b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", http.client.HTTPException),
    ],
)
def test_the_limits_are_http_clients(block, error):
    with pytest.raises(error):
        _read_headers(io.BytesIO(block))
    with pytest.raises(error):
        http.client.parse_headers(io.BytesIO(block))
