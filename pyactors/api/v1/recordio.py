"""Mesos's RecordIO framing: each record is its length in bytes as base-10
ASCII digits, a newline, then the record (`5\nhello6\nworld!`), as stout's
`recordio::encode` writes and its `Decoder` reads (src/common/recordio.hpp).

The decoder is incremental (records may arrive split across chunks) and,
like Mesos's, fails for good at the first bad length header: after one,
nothing tells where the next record starts.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyactors.errors import InvalidArgumentError

# Longer than any digits a sane length has: a header this long without a
# newline is not a RecordIO stream (and must not grow without bound).
MAX_HEADER_BYTES = 20
# The largest record a decoder accepts unless told otherwise (Mesos bounds
# none; a peer must not make us buffer gigabytes on its word).
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024


class RecordIOError(InvalidArgumentError):
    """The bytes are not RecordIO: a length header that is no number, or one
    beyond the decoder's bound."""


def encode(record: bytes) -> bytes:
    """One record, framed."""
    return b"%d\n%s" % (len(record), record)


def encode_all(records: Iterable[bytes]) -> bytes:
    """Several records, framed one after the other (one write for a batch)."""
    return b"".join(encode(record) for record in records)


class Decoder:
    """Records out of a stream of chunks, in order."""

    def __init__(self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.max_record_bytes = max_record_bytes
        self._buffer = bytearray()
        self._length: int | None = None
        self._failure: str | None = None

    def decode(self, chunk: bytes) -> list[bytes]:
        """The records `chunk` completes. RecordIOError at a bad header, and
        at every call after one."""
        if self._failure is not None:
            raise RecordIOError(f"the decoder failed earlier: {self._failure}")
        self._buffer += chunk
        records: list[bytes] = []
        while True:
            if self._length is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        self._fail(f"no newline in the first {MAX_HEADER_BYTES} bytes of a header")
                    return records
                self._length = self._parse_header(bytes(self._buffer[:newline]))
                del self._buffer[: newline + 1]
            if len(self._buffer) < self._length:
                return records
            records.append(bytes(self._buffer[: self._length]))
            del self._buffer[: self._length]
            self._length = None

    @property
    def pending(self) -> bool:
        """Whether a record has begun and not ended (the stream stopped
        mid-record if it ends now)."""
        return self._length is not None or bool(self._buffer)

    def _parse_header(self, header: bytes) -> int:
        if not header.isdigit() or len(header) > MAX_HEADER_BYTES:
            self._fail(f"failed to decode length {header[:MAX_HEADER_BYTES]!r}: not a number")
        length = int(header)
        if length > self.max_record_bytes:
            self._fail(f"record length {length} is over the limit of {self.max_record_bytes}")
        return length

    def _fail(self, message: str) -> None:
        self._failure = message
        raise RecordIOError(message)
