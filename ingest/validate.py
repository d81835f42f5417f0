"""Contract §3 position and tachograph objects → ``Fix`` / ``TachoEvent``.

Each function raises ``ValueError`` with a message naming the field; the
pipeline turns that into a dead letter for that item only.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.types import TACHO_EVENTS, Fix, TachoEvent

MAX_SEQ = 2**63 - 1  # fixes.seq is a bigint


class ItemError(ValueError):
    """One item is unacceptable; ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_ts(value: Any) -> datetime:
    """RFC 3339 with an offset, or integer epoch milliseconds."""
    if isinstance(value, bool):
        raise ItemError("bad_ts", "ts must be RFC 3339 with offset or epoch milliseconds")
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ItemError("bad_ts", f"ts {value} is out of range") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ItemError("bad_ts", f"ts {value!r} is not RFC 3339") from exc
        if parsed.tzinfo is None:
            raise ItemError("bad_ts", f"ts {value!r} has no UTC offset")
        return parsed
    raise ItemError("bad_ts", "ts must be RFC 3339 with offset or epoch milliseconds")


def _number(item: dict, key: str, low: float, high: float, required: bool = False) -> float | None:
    value = item.get(key)
    if (type(value) is float or type(value) is int) and low <= value <= high:
        return float(value)  # the usual case; NaN fails the comparison and goes below
    if value is None:
        if required:
            raise ItemError("missing_field", f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ItemError("bad_field", f"{key} must be a number, got {value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number) or not low <= number <= high:
        raise ItemError("out_of_range", f"{key}={value} is outside [{low}, {high}]")
    return number


def check_age(ts: datetime, now: datetime, max_age_s: float, max_future_s: float) -> None:
    if ts > now + timedelta(seconds=max_future_s):
        raise ItemError("future_ts", f"ts {ts.isoformat()} is more than {max_future_s:.0f} s ahead")
    if ts < now - timedelta(seconds=max_age_s):
        raise ItemError("too_old", f"ts {ts.isoformat()} is older than {max_age_s:.0f} s")


def _required_ts(item: dict) -> datetime:
    if "ts" not in item:
        raise ItemError("missing_field", "ts is required")
    return parse_ts(item["ts"])


def position(item: Any, device_id: str) -> Fix:
    if not isinstance(item, dict):
        raise ItemError("bad_item", "a position must be a JSON object")
    ts = _required_ts(item)
    lat = _number(item, "lat", -90, 90, required=True)
    lon = _number(item, "lon", -180, 180, required=True)
    seq = item.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise ItemError("bad_field", f"seq must be a non-negative integer, got {seq!r}")
    if seq is not None and seq > MAX_SEQ:
        raise ItemError("out_of_range", f"seq={seq} is above {MAX_SEQ} (a 64-bit integer)")
    ign = item.get("ign")
    if ign is not None and not isinstance(ign, bool):
        raise ItemError("bad_field", f"ign must be true or false, got {ign!r}")
    alarms = item.get("alarms") or []
    if not isinstance(alarms, list) or not all(isinstance(a, str) for a in alarms):
        raise ItemError("bad_field", "alarms must be a list of alarm names")
    extras = item.get("extras") or {}
    if isinstance(extras, dict) and extras.get("located") is False:
        raise ItemError("not_located", "the terminal reports no satellite fix (JT/T 808 status)")
    return Fix(
        device_id=device_id,
        ts=ts,
        lat=lat,  # type: ignore[arg-type]
        lon=lon,  # type: ignore[arg-type]
        speed=_number(item, "speed", 0, 400),
        heading=_number(item, "heading", 0, 360),
        alt=_number(item, "alt", -1000, 10000),
        acc=_number(item, "acc", 0, 100000),
        ign=ign,
        seq=seq,
        alarms=tuple(alarms),
        extras=extras if isinstance(extras, dict) else {},
    )


def tacho_event(item: Any, device_id: str) -> TachoEvent:
    if not isinstance(item, dict):
        raise ItemError("bad_item", "a tachograph event must be a JSON object")
    ts = _required_ts(item)
    event = item.get("event")
    if event not in TACHO_EVENTS:
        raise ItemError("bad_field", f"event must be one of {', '.join(TACHO_EVENTS)}")
    driver = item.get("driver")
    if driver is not None and (not isinstance(driver, str) or len(driver) > 30):
        raise ItemError("bad_field", "driver must be a licence number string")
    if event in ("driver_login", "driver_logout") and not driver:
        raise ItemError("missing_field", f"{event} needs driver")
    return TachoEvent(
        device_id=device_id,
        ts=ts,
        event=event,
        driver=driver,
        lat=_number(item, "lat", -90, 90),
        lon=_number(item, "lon", -180, 180),
        speed=_number(item, "speed", 0, 400),
    )
