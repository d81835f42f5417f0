"""Decoded JT/T 808 frames -> contract §3 position and tachograph objects.

``seq`` choice (the idempotency key is (device, ts, seq)):

* 0x0200: ``seq`` = the frame's serial number (0..65535).
* 0x0704: ``seq`` = ``serial * 1000 + index`` (index 0-based within the
  batch). An unsplit 0x0704 body is at most 1023 bytes and each item takes at
  least 30, so index < 1000 always and two items of one batch never share a
  key; the value stays below 2**26. A terminal that *re-sends* a batch with a
  new serial produces new keys, exactly as it would for a re-sent 0x0200 with
  a new serial; the standard has retransmissions reuse the serial.

Times stay in GMT+8 as the terminal sent them (RFC 3339 with ``+08:00``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.jt808.binary import DecodeError
from ingest.jt808.codec import Frame, Header, decode_frame
from ingest.jt808.messages import BATCH, DRIVER, LOCATION, body_name, decode_body
from ingest.jt808.splitter import FrameSplitter

BATCH_SEQ_FACTOR = 1000


def location_fix(location: dict[str, Any], seq: int) -> dict[str, Any]:
    """One decoded 0x0200 body -> one contract §3 position object."""
    extras = dict(location["items"])
    extras["status"] = location["status"]
    extras["load"] = location["load"]
    extras["located"] = "located" in location["status"]
    return {
        "ts": location["time"],
        "lat": location["lat"],
        "lon": location["lon"],
        "speed": location["speed"],
        "heading": location["heading"],
        "alt": location["alt"],
        "ign": "acc" in location["status"],
        "seq": seq,
        "alarms": location["alarms"],
        "extras": extras,
    }


def driver_event(driver: dict[str, Any]) -> dict[str, Any] | None:
    """0x0702 -> a driver_login / driver_logout tacho event (None if neither).

    ``driver`` is the ID number (2019) when present, else the qualification
    certificate number, which is what 2013 cards carry; a login whose card
    could not be read has no ``driver``.
    """
    kind = {"card_inserted": "driver_login", "card_removed": "driver_logout"}
    event_name = kind.get(driver["status"])
    if event_name is None:
        return None
    event: dict[str, Any] = {"ts": driver["time"], "event": event_name}
    licence = driver.get("id_number") or driver.get("certificate")
    if licence:
        event["driver"] = licence
    return event


@dataclass(slots=True)
class Records:
    """What one frame contributes to the platform."""

    fixes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def frame_records(header: Header, body: dict[str, Any]) -> Records:
    """Fixes and events of a decoded frame; bad batch items become errors."""
    out = Records()
    if "raw" in body:
        return out
    if header.msg_id == LOCATION:
        out.fixes.append(location_fix(body, header.serial))
    elif header.msg_id == BATCH:
        for index, item in enumerate(body["items"]):
            if "error" in item:
                out.errors.append(f"batch item {index}: {item['error']}")
            else:
                out.fixes.append(location_fix(item, header.serial * BATCH_SEQ_FACTOR + index))
    elif header.msg_id == DRIVER:
        event = driver_event(body)
        if event is None:
            out.errors.append(f"driver identity status {body['status']} is not a login/logout")
        else:
            out.events.append(event)
    return out


@dataclass(slots=True)
class Decoded:
    """One frame of a payload: either decoded, or ``error`` with its raw bytes."""

    raw: bytes
    frame: Frame | None = None
    body: dict[str, Any] | None = None
    records: Records = field(default_factory=Records)
    error: str | None = None

    @property
    def device_id(self) -> str | None:
        return self.frame.header.device_id if self.frame else None

    def to_dict(self) -> dict[str, Any]:
        header = self.frame.header if self.frame else None
        return {
            "header": header.to_dict() if header else None,
            "message": body_name(header) if header else None,
            "body": self.body,
            "fixes": self.records.fixes,
            "events": self.records.events,
            "errors": self.records.errors,
        }


def decode_raw(raw: bytes) -> Decoded:
    """Decode one whole frame; raises DecodeError (header attached if readable)."""
    frame = decode_frame(raw)
    body = decode_body(frame)
    return Decoded(raw, frame, body, frame_records(frame.header, body))


def decode_payload(data: bytes) -> list[Decoded]:
    """An MQTT ``.../jt808`` payload (one or more frames) -> one entry per frame.

    Garbage between frames and frames that fail to decode come back as entries
    with ``error`` set and their raw bytes, ready to be dead-lettered; the
    rest of the payload still goes in.
    """
    splitter = FrameSplitter()
    split = splitter.feed(data)
    out = [Decoded(b"", error=message) for message in split.errors]
    for raw in split.frames:
        try:
            out.append(decode_raw(raw))
        except DecodeError as exc:
            out.append(Decoded(raw, error=str(exc)))
    if splitter.buffered:
        out.append(Decoded(data[-splitter.buffered :], error="incomplete frame at the end"))
    return out


def decode_hex(hex_str: str) -> dict[str, Any]:
    """``keywatch jt808 decode HEX``: one frame as a JSON-serialisable dict.

    Whitespace, ``:`` / ``-`` separators and a ``0x`` prefix are accepted.
    Raises DecodeError naming what is wrong and at which byte offset.
    """
    text = "".join(hex_str.split()).replace(":", "").replace("-", "")
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise DecodeError(f"not a hex string ({exc})") from exc
    if not raw:
        raise DecodeError("empty input: expected one frame as hex")
    return decode_raw(raw).to_dict()
