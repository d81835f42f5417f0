"""Weekly schedules of geofences (contract section 4), in local time.

A window whose ``end`` is before its ``start`` crosses midnight; the part after
midnight belongs to the day the window *started* on, so "Friday 22:00-06:00"
is active on Saturday at 03:00 but not on Friday at 03:00. ``start == end``
means the whole day (24 h from ``start``); ``end`` may be ``"24:00"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geo.errors import GeoError

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_DAY_MINUTES = 24 * 60


def parse_hhmm(text: Any, *, field: str = "time") -> int:
    """``"HH:MM"`` -> minutes after midnight; ``"24:00"`` is allowed as an end."""
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise GeoError(f"{field} must be a 'HH:MM' string, got {text!r}")
    minutes = int(match[1]) * 60 + int(match[2])
    if minutes > _DAY_MINUTES:
        raise GeoError(f"{field} {text!r} is after 24:00")
    return minutes


@dataclass(frozen=True, slots=True)
class Window:
    """One weekly window: ISO weekdays (1 = Monday) and minutes after midnight."""

    days: frozenset[int]
    start: int
    end: int

    def active(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # Crosses midnight (or a full day when start == end): the tail after
        # midnight belongs to the previous day's window.
        previous = 7 if weekday == 1 else weekday - 1
        return (weekday in self.days and minute >= self.start) or (
            previous in self.days and minute < self.end
        )

    def to_json(self) -> dict[str, Any]:
        return {"days": sorted(self.days), "start": _fmt(self.start), "end": _fmt(self.end)}


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_window(item: Any, position: int) -> Window:
    where = f"schedule[{position}]"
    if not isinstance(item, Mapping):
        raise GeoError(f"{where} must be an object with days, start and end")
    unknown = set(item) - {"days", "start", "end"}
    if unknown:
        raise GeoError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    days = item.get("days", [1, 2, 3, 4, 5, 6, 7])
    if (not isinstance(days, list) or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7
                       for d in days)):
        raise GeoError(f"{where}.days must be a non-empty list of ISO weekdays 1..7, got {days!r}")
    start = parse_hhmm(item.get("start"), field=f"{where}.start")
    end = parse_hhmm(item.get("end"), field=f"{where}.end")
    if start == _DAY_MINUTES:
        raise GeoError(f"{where}.start cannot be 24:00")
    if end == _DAY_MINUTES:
        end = 0 if start == 0 else _DAY_MINUTES
    return Window(frozenset(days), start, end)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A union of weekly windows; ``active`` takes a *local* (wall-clock) datetime."""

    windows: tuple[Window, ...]

    @classmethod
    def parse(cls, items: Iterable[Any] | None) -> Schedule | None:
        """Parse the contract's list; ``None`` (absent) means always active."""
        if items is None:
            return None
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
            raise GeoError("schedule must be a list of {days, start, end} objects")
        windows = tuple(_parse_window(item, i) for i, item in enumerate(items))
        if not windows:
            raise GeoError("schedule must not be empty (omit it for 'always')")
        return cls(windows)

    def active(self, local_dt: datetime) -> bool:
        minute = local_dt.hour * 60 + local_dt.minute
        weekday = local_dt.isoweekday()
        return any(w.active(weekday, minute) for w in self.windows)

    def to_json(self) -> list[dict[str, Any]]:
        return [w.to_json() for w in self.windows]
