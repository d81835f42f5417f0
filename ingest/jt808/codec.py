"""JT/T 808 framing: 0x7e flags, 0x7d escapes, XOR checksum, 2013/2019 header.

A frame on the wire is ``7e <escaped: header body checksum> 7e``. Inside the
flags 0x7e is sent as ``7d 02`` and 0x7d as ``7d 01``; the checksum is the XOR
of header and body before escaping. The 2013 header has a 6-byte BCD phone;
2019 sets bit 14 of the body properties and adds a protocol-version byte and a
10-byte BCD phone.

Real terminals bend the standard, so the header is read the way established
decoders (Traccar's ``Jt808ProtocolDecoder``) read it: the edition is decided
by *length consistency* (some 2013 firmware sets the 2019 flag, some 2019
firmware forgets it), and the device id is the phone with leading zeros
removed so a terminal keeps its id across editions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Any

from ingest.jt808.binary import ChecksumError, DecodeError, Reader

FLAG = 0x7E
ESC = 0x7D
MAX_BODY = 0x3FF
EDITIONS = (2013, 2019)
_PHONE_BYTES = {2013: 6, 2019: 10}


@dataclass(frozen=True, slots=True)
class Header:
    """A decoded message header; ``phone`` is the BCD digits exactly as sent."""

    msg_id: int
    body_length: int
    encryption: int
    subpackage: bool
    version_flag: bool
    edition: int
    protocol_version: int | None
    phone: str
    serial: int
    packet_total: int | None = None
    packet_index: int | None = None

    @property
    def device_id(self) -> str:
        """Contract §3: the BCD phone without leading zeros ("0" if all zeros)."""
        return self.phone.lstrip("0") or "0"

    @property
    def length(self) -> int:
        return header_length(self.edition, self.subpackage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "msg_id": f"0x{self.msg_id:04X}",
            "edition": self.edition,
            "protocol_version": self.protocol_version,
            "version_flag": self.version_flag,
            "phone": self.phone,
            "device_id": self.device_id,
            "serial": self.serial,
            "body_length": self.body_length,
            "encryption": self.encryption,
            "subpackage": self.subpackage,
            "packet_total": self.packet_total,
            "packet_index": self.packet_index,
        }


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: header, unescaped body, and the raw bytes received."""

    header: Header
    body: bytes
    raw: bytes

    def escaped_offset(self, index: int) -> int:
        """Map an offset in the unescaped frame (flag = 0) to the raw bytes."""
        return escaped_offset(self.raw, index)


def header_length(edition: int, subpackage: bool) -> int:
    base = 12 if edition == 2013 else 17
    return base + (4 if subpackage else 0)


def checksum(data: bytes) -> int:
    """XOR of all bytes (header + body, unescaped)."""
    return reduce(xor, data, 0)


def escape(data: bytes) -> bytes:
    """Escape 0x7d first, so the 0x7d bytes introduced for 0x7e stay single."""
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(inner: bytes, base: int = 1) -> bytes:
    """Undo escaping of the bytes between the flags; ``base`` anchors offsets."""
    if ESC not in inner:
        return inner
    out = bytearray()
    pos = 0
    while (found := inner.find(ESC, pos)) >= 0:
        out += inner[pos:found]
        nxt = inner[found + 1] if found + 1 < len(inner) else None
        if nxt not in (0x01, 0x02):
            shown = "end of frame" if nxt is None else f"0x{nxt:02x}"
            raise DecodeError(f"invalid escape 0x7d followed by {shown}", base + found)
        out.append(ESC if nxt == 0x01 else FLAG)
        pos = found + 2
    out += inner[pos:]
    return bytes(out)


def escaped_offset(raw: bytes, index: int) -> int:
    """Position in ``raw`` of byte ``index`` of the unescaped frame."""
    pos, seen = 0, 0
    while seen < index and pos < len(raw):
        pos += 2 if raw[pos] == ESC and 0 < pos < len(raw) - 1 else 1
        seen += 1
    return pos


def decode_frame(raw: bytes) -> Frame:
    """Decode one whole frame (with both 0x7e flags) or raise DecodeError.

    The checksum is checked before the header is trusted; on a mismatch the
    header is still parsed when possible and attached to the error so the
    gateway can answer "bad message" in the terminal's own edition.
    """
    raw = bytes(raw)
    if len(raw) < 2 or raw[0] != FLAG:
        raise DecodeError("frame must start with the 0x7e flag", 0)
    if raw[-1] != FLAG:
        raise DecodeError("frame must end with the 0x7e flag (truncated?)", len(raw) - 1)
    inner = raw[1:-1]
    if (stray := inner.find(FLAG)) >= 0:
        raise DecodeError("unexpected 0x7e inside the frame", stray + 1)
    content = unescape(inner)
    if len(content) < 5:
        raise DecodeError(f"frame too short: {len(content)} bytes between the flags", 1)
    message, expected = content[:-1], content[-1]
    actual = checksum(message)
    if actual != expected:
        header = _header_or_none(message)
        at = len(raw) - 2 - (1 if raw[-3] == ESC and len(raw) > 3 else 0)
        raise ChecksumError(
            f"checksum 0x{expected:02x} does not match computed 0x{actual:02x}", at, header
        )
    try:
        header = parse_header(message)
    except DecodeError as exc:
        where = None if exc.offset is None else escaped_offset(raw, exc.offset + 1)
        raise exc.moved(where) from exc
    return Frame(header, message[header.length :], raw)


def _header_or_none(message: bytes) -> Header | None:
    try:
        return parse_header(message)
    except DecodeError as exc:
        return exc.header


def parse_header(message: bytes) -> Header:
    """Parse the header of unescaped ``header + body`` (no flags, no checksum).

    Offsets in errors are relative to ``message``; :func:`decode_frame` maps
    them to the raw frame.
    """
    reader = Reader(message)
    msg_id = reader.u16("message id")
    props = reader.u16("body properties")
    length = props & MAX_BODY
    subpackage = bool(props >> 13 & 1)
    flagged = bool(props >> 14 & 1)
    preferred = (2019, 2013) if flagged else (2013, 2019)
    for edition in preferred:
        if header_length(edition, subpackage) + length == len(message):
            return _read_header(message, msg_id, props, edition)
    edition = preferred[0]
    header = None
    if len(message) >= header_length(edition, subpackage):
        header = _read_header(message, msg_id, props, edition)
    found = len(message) - header_length(edition, subpackage)
    raise DecodeError(
        f"body length {length} in the header does not match the {max(found, 0)} bytes"
        f" after a {edition} header",
        2,
        header,
    )


def _read_header(message: bytes, msg_id: int, props: int, edition: int) -> Header:
    reader = Reader(message, 4)
    version = reader.u8("protocol version") if edition == 2019 else None
    phone = reader.bcd(_PHONE_BYTES[edition], "terminal phone")
    serial = reader.u16("serial number")
    total = index = None
    if props >> 13 & 1:
        total, index = reader.u16("packet total"), reader.u16("packet index")
    return Header(
        msg_id=msg_id,
        body_length=props & MAX_BODY,
        encryption=props >> 10 & 0b111,
        subpackage=bool(props >> 13 & 1),
        version_flag=bool(props >> 14 & 1),
        edition=edition,
        protocol_version=version,
        phone=phone,
        serial=serial,
        packet_total=total,
        packet_index=index,
    )


def encode_frame(
    msg_id: int,
    body: bytes,
    *,
    phone: str,
    serial: int,
    edition: int = 2013,
    protocol_version: int = 1,
    packet: tuple[int, int] | None = None,
    encryption: int = 0,
    version_flag: bool | None = None,
) -> bytes:
    """Build an escaped frame with flags and checksum.

    ``version_flag`` overrides bit 14 (default: set for 2019) so tests can
    build the quirky frames real terminals send.
    """
    if edition not in EDITIONS:
        raise ValueError(f"edition must be 2013 or 2019, not {edition}")
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes exceeds {MAX_BODY}; use subpackages")
    digits = _PHONE_BYTES[edition] * 2
    if len(phone) > digits or not phone.isalnum():
        raise ValueError(f"phone {phone!r} does not fit BCD[{digits // 2}]")
    flag = edition == 2019 if version_flag is None else version_flag
    props = len(body) | (encryption & 0b111) << 10 | flag << 14 | (packet is not None) << 13
    head = msg_id.to_bytes(2, "big") + props.to_bytes(2, "big")
    if edition == 2019:
        head += bytes([protocol_version])
    head += bytes.fromhex(phone.rjust(digits, "0")) + (serial & 0xFFFF).to_bytes(2, "big")
    if packet is not None:
        head += packet[0].to_bytes(2, "big") + packet[1].to_bytes(2, "big")
    message = head + body
    return b"\x7e" + escape(message + bytes([checksum(message)])) + b"\x7e"


def reply_frame(request: Header, msg_id: int, body: bytes, serial: int) -> bytes:
    """A platform message to the terminal in the request's edition and phone."""
    return encode_frame(
        msg_id,
        body,
        phone=request.phone,
        serial=serial,
        edition=request.edition,
        protocol_version=1 if request.protocol_version is None else request.protocol_version,
    )
