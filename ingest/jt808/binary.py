"""Byte-level helpers shared by the JT/T 808 codec and the body decoders.

Every read is bounds-checked and fails with :class:`DecodeError` naming the
field and the offset, because a frame from the road is untrusted input and the
CLI must say *what* is wrong *where*, never raise ``IndexError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.jt808.codec import Header

#: JT/T 808 times are BCD local time in GMT+8 (the standard fixes the zone).
GMT8 = timezone(timedelta(hours=8))


class DecodeError(ValueError):
    """A frame or body that does not follow JT/T 808.

    ``offset`` is the byte offset of the problem: in the escaped frame as
    received once :func:`ingest.jt808.codec.decode_frame` or
    :func:`ingest.jt808.messages.decode_body` has mapped it, else relative to
    the buffer being read. ``header`` is set when the header could be read, so
    the gateway can still answer 0x8001 "bad message" to the right terminal.
    """

    def __init__(
        self, message: str, offset: int | None = None, header: Header | None = None
    ) -> None:
        self.message = message
        self.offset = offset
        self.header = header
        text = message if offset is None else f"{message} at byte offset {offset}"
        super().__init__(text)

    def moved(self, offset: int | None, header: Header | None = None) -> DecodeError:
        """The same error re-anchored to another offset (and header)."""
        return type(self)(self.message, offset, header or self.header)


class ChecksumError(DecodeError):
    """The XOR checksum does not match; the header may still be readable."""


class Reader:
    """A cursor over a bytes object with checked big-endian reads."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining:
            raise DecodeError(f"truncated {what}: needs {n} bytes, {self.remaining} left", self.pos)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def i16(self, what: str) -> int:
        return int(struct.unpack(">h", self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "big")

    def bcd(self, n: int, what: str) -> str:
        return self.take(n, what).hex()

    def text(self, n: int, what: str) -> str:
        return gbk_text(self.take(n, what))

    def rest(self) -> bytes:
        return self.take(self.remaining, "rest")


def gbk_text(raw: bytes) -> str:
    """GBK text as terminals send it: NUL/space padded, never fatal."""
    return raw.split(b"\x00", 1)[0].decode("gbk", errors="replace").strip()


def gbk_bytes(text: str, width: int | None = None) -> bytes:
    """Encode ``text`` in GBK, NUL-padded to ``width`` when given (truncating)."""
    raw = text.encode("gbk")
    if width is None:
        return raw
    return raw[:width].ljust(width, b"\x00")


def read_time(reader: Reader, what: str = "time") -> datetime:
    """BCD[6] YYMMDDhhmmss in GMT+8 -> aware datetime; bad digits are an error."""
    start = reader.pos
    digits = reader.bcd(6, what)
    try:
        return datetime(
            2000 + int(digits[0:2]),
            int(digits[2:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            tzinfo=GMT8,
        )
    except ValueError as exc:
        raise DecodeError(f"invalid BCD {what} {digits!r}", start) from exc


def time_bcd(ts: datetime) -> bytes:
    """Aware (or GMT+8 naive) datetime -> BCD[6] in GMT+8."""
    local = ts.astimezone(GMT8) if ts.tzinfo else ts
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))


def read_date(reader: Reader, what: str) -> str | None:
    """BCD[4] YYYYMMDD -> ISO date string, None for an all-zero/invalid date."""
    digits = reader.bcd(4, what)
    try:
        return datetime.strptime(digits, "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def bitnames(value: int, names: tuple[str | None, ...]) -> list[str]:
    """Names of the set bits of ``value``; ``None`` marks a reserved bit."""
    return [name for bit, name in enumerate(names) if name and value >> bit & 1]


def bitmask(names: Iterable[str], table: tuple[str | None, ...], what: str) -> int:
    """Inverse of :func:`bitnames`; unknown names are a programming error."""
    value = 0
    for name in names:
        if name not in table:
            raise ValueError(f"unknown {what} {name!r}")
        value |= 1 << table.index(name)
    return value
