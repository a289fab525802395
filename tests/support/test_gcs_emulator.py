"""The emulator launcher's multipart parser: byte-exact for both framings clients use."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.gcs_emulator import split_related

CT = 'multipart/related; boundary="==0=="'


def body(content: bytes, newline: bytes) -> bytes:
    """Frame metadata and content the way gcsfs (LF) or google-cloud-storage (CRLF) do."""
    n = newline
    return (
        b"--==0==" + n + b"Content-Type: application/json" + n + n + b'{"name": "k"}' + n
        + b"--==0==" + n + b"Content-Type: application/octet-stream" + n + n + content + n
        + b"--==0==--"
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300).filter(lambda b: b"--==0==" not in b)
    | st.sampled_from([b"\r", b"x\r", b"\r\n"]),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_contents_come_back_byte_for_byte(content: bytes, newline: bytes) -> None:
    (meta_headers, meta), (headers, got) = split_related(CT, body(content, newline))
    assert meta == b'{"name": "k"}' and meta_headers["content-type"] == "application/json"
    assert headers["content-type"] == "application/octet-stream"
    assert got == content


def test_the_email_parser_loses_a_trailing_cr() -> None:
    """The bug the launcher works around (pitfall 2 of tests/support/gcs_emulator.py)."""
    from email.parser import BytesParser

    msg = BytesParser().parsebytes(b"Content-Type: " + CT.encode() + b"\r\n" + body(b"x\r", b"\n"))
    parts: Any = msg.get_payload()
    assert parts[1].get_payload(decode=True) == b"x"
    assert split_related(CT, body(b"x\r", b"\n"))[1][1] == b"x\r"


def test_a_body_without_its_boundary_is_refused() -> None:
    with pytest.raises(ValueError, match="does not contain its boundary"):
        split_related(CT, b"nothing here")
    with pytest.raises(ValueError, match="names no boundary"):
        split_related("multipart/related", b"")
