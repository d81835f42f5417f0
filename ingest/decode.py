"""Decode and validate: raw messages → fixes, tachograph events, rejections.

Pure: no database, no broker. Every failure becomes a ``Rejection`` carrying
the raw bytes, so nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

import orjson

from ingest import validate
from ingest.messages import TOPIC, Decoded, InboundMessage, Rejection
from ingest.validate import ItemError


class Limits:
    """Acceptance limits (contract §3), from settings."""

    def __init__(self, *, max_payload_bytes: int, max_items: int, max_age_s: float,
                 max_future_s: float) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.max_items = max_items
        self.max_age_s = max_age_s
        self.max_future_s = max_future_s


def decode_batch(messages: Iterable[InboundMessage], limits: Limits, now: datetime) -> Decoded:
    out = Decoded()
    for message in messages:
        try:
            _decode_one(message, limits, now, out)
        except Exception as exc:  # a decoder bug must not stop the worker
            out.rejections.append(_reject(message, "internal_error", repr(exc)))
    return out


def _reject(message: InboundMessage, reason: str, detail: str, device_id: str | None = None,
            payload: bytes | None = None) -> Rejection:
    return Rejection(reason=reason, detail=detail, payload=message.payload if payload is None
                     else payload, topic=message.topic, device_id=device_id,
                     source=message.source)


def _decode_one(message: InboundMessage, limits: Limits, now: datetime, out: Decoded) -> None:
    match = TOPIC.match(message.topic)
    if not match:
        out.rejections.append(_reject(message, "bad_topic", f"topic {message.topic!r} is not "
                                      "kw/v1/dev/{device_id}/pos|tacho|jt808"))
        return
    device_id, kind = match.groups()
    if message.sender is not None and message.sender != device_id:
        out.rejections.append(_reject(message, "wrong_device", f"credentials of {message.sender!r}"
                                      f" cannot publish for {device_id!r}", device_id))
        return
    if len(message.payload) > limits.max_payload_bytes:
        out.rejections.append(_reject(message, "oversized", f"payload of {len(message.payload)} "
                                      f"bytes exceeds {limits.max_payload_bytes} bytes",
                                      device_id))
        return
    if kind == "jt808":
        positions, events = _jt808_items(message, device_id, out)
    else:
        items = _json_items(message, device_id, limits, out)
        if items is None:
            return
        positions, events = (items, []) if kind == "pos" else ([], items)
    if positions is None:
        return
    _validate_items(message, device_id, positions, events, limits, now, out)


def _json_items(message: InboundMessage, device_id: str, limits: Limits,
                out: Decoded) -> list | None:
    try:
        document = orjson.loads(message.payload)
    except orjson.JSONDecodeError:
        # orjson refuses what the stdlib takes (NaN, Infinity, lone surrogates, huge
        # integers): the stdlib decides, so such an item is judged by the validator
        # (e.g. NaN is "out_of_range") exactly as before
        try:
            document = json.loads(message.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            out.rejections.append(_reject(message, "bad_json", f"not UTF-8 JSON: {exc}",
                                          device_id))
            return None
    items = document if isinstance(document, list) else [document]
    if len(items) > limits.max_items:
        out.rejections.append(_reject(message, "too_many_items", f"{len(items)} items in one "
                                      f"message; the limit is {limits.max_items}", device_id))
        return None
    return items


def _jt808_items(message: InboundMessage, device_id: str,
                 out: Decoded) -> tuple[list | None, list]:
    """Whole JT/T 808 frames; each bad frame (or batch item) is its own dead letter."""
    from ingest.jt808 import decode_payload

    positions: list = []
    events: list = []
    frames = decode_payload(message.payload)
    if not frames:
        out.rejections.append(_reject(message, "bad_jt808", "no JT/T 808 frame (0x7e … 0x7e) "
                                      "in the payload", device_id))
    for frame in frames:
        raw = frame.raw or message.payload
        if frame.error is not None:
            out.rejections.append(_reject(message, "bad_jt808", frame.error, device_id, raw))
            continue
        if frame.device_id != device_id:
            out.rejections.append(_reject(
                message, "wrong_device", f"frame of terminal {frame.device_id!r} published on "
                f"the topic of {device_id!r}", device_id, raw))
            continue
        for error in frame.records.errors:
            out.rejections.append(_reject(message, "bad_jt808", error, device_id, raw))
        positions += frame.records.fixes
        events += frame.records.events
    return positions, events


def _validate_items(message: InboundMessage, device_id: str, positions: list, events: list,
                    limits: Limits, now: datetime, out: Decoded) -> None:
    earliest = now - timedelta(seconds=limits.max_age_s)
    latest = now + timedelta(seconds=limits.max_future_s)
    for items, parse, accepted in ((positions, validate.position, out.fixes),
                                   (events, validate.tacho_event, out.tacho)):
        for item in items:
            try:
                value = parse(item, device_id)
                if not earliest <= value.ts <= latest:
                    validate.check_age(value.ts, now, limits.max_age_s, limits.max_future_s)
            except ItemError as exc:
                out.rejections.append(_reject(message, exc.reason, str(exc), device_id,
                                              _item_bytes(item, message)))
                continue
            accepted.append(value)


def _item_bytes(item: object, message: InboundMessage) -> bytes:
    """The rejected item alone, so the rest of a batch can go in and this can be replayed."""
    if message.topic.endswith("/jt808"):
        return message.payload
    try:
        return json.dumps(item, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return message.payload
