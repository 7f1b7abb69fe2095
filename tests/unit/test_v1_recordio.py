"""RecordIO framing as Mesos writes and reads it: records split anywhere
across chunks, empty records, and malformed headers failing for good."""

from __future__ import annotations

import pytest

from pyactors.api.v1 import recordio
from pyactors.api.v1.recordio import Decoder, RecordIOError


def test_encode_prefixes_the_length_in_bytes() -> None:
    assert recordio.encode(b"hello") == b"5\nhello"
    assert recordio.encode("é".encode()) == b"2\n\xc3\xa9"
    assert recordio.encode_all([b"a", b"", b"bc"]) == b"1\na0\n2\nbc"


def test_records_split_at_every_byte_come_out_whole_and_in_order() -> None:
    records = [b'{"type":"HEARTBEAT"}', b"", b"x" * 300, b"line\nbreak"]
    stream = recordio.encode_all(records)
    decoder = Decoder()
    out = []
    for index in range(len(stream)):
        out += decoder.decode(stream[index : index + 1])
    assert out == records
    assert not decoder.pending


def test_a_stream_that_stops_mid_record_is_pending() -> None:
    decoder = Decoder()
    assert decoder.decode(b"10\nabc") == []
    assert decoder.pending
    assert decoder.decode(b"defghij3\nxy") == [b"abcdefghij"]
    assert decoder.pending


@pytest.mark.parametrize(
    "stream",
    [b"abc\nxyz", b"-1\nx", b" 5\nhello", b"5x\nhello", b"\n", b"9" * 21, b"1e3\n"],
)
def test_a_bad_length_header_fails_and_keeps_failing(stream: bytes) -> None:
    decoder = Decoder()
    with pytest.raises(RecordIOError):
        decoder.decode(stream)
    with pytest.raises(RecordIOError, match="failed earlier"):
        decoder.decode(b"1\na")


def test_a_record_over_the_limit_is_refused_before_it_is_buffered() -> None:
    decoder = Decoder(max_record_bytes=8)
    assert decoder.decode(b"8\n12345678") == [b"12345678"]
    with pytest.raises(RecordIOError, match="over the limit"):
        decoder.decode(b"9\n")
