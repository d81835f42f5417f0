"""Who is on duty: Officer.roster shifts ``[{days: [1..7], start: "HH:MM", end: "HH:MM"}]``
in local time (KEYWATCH_TZ). ``end`` at or before ``start`` crosses midnight; the
hours after midnight belong to the shift of the day it started."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_CANDIDATES = text("""
SELECT o.badge, o.roster FROM officers o
JOIN officer_districts od ON od.badge = o.badge
WHERE od.district = :district AND o.active AND o.role = 'officer' AND o.roster IS NOT NULL
ORDER BY o.badge
""")


def minutes(hhmm: str) -> int:
    hours, _, mins = str(hhmm).partition(":")
    return int(hours) * 60 + int(mins or 0)


def in_window(start: str, end: str, local: datetime, days: Iterable[int] | None = None) -> bool:
    """Whether ``local`` falls in [start, end) on one of ``days`` (all days when None)."""
    day_set = set(days) if days is not None else set(range(1, 8))
    lo, hi, now = minutes(start), minutes(end), local.hour * 60 + local.minute
    if lo < hi:
        return local.isoweekday() in day_set and lo <= now < hi
    yesterday = (local - timedelta(days=1)).isoweekday()
    return (local.isoweekday() in day_set and now >= lo) or (yesterday in day_set and now < hi)


def on_duty(roster: list[dict[str, Any]] | None, local: datetime) -> bool:
    for shift in roster or []:
        try:
            if in_window(shift["start"], shift["end"], local, shift.get("days")):
                return True
        except (KeyError, TypeError, ValueError):
            continue  # a malformed shift is ignored, not fatal to routing
    return False


def on_duty_officer(session: Session, *, district: str, local: datetime,
                    cache: dict[str, list] | None = None) -> str | None:
    """The first (by badge) officer of ``district`` whose roster covers ``local``;
    ``cache`` keeps each district's candidates for the rest of the transaction."""
    if cache is None:
        cache = {}
    if district not in cache:
        cache[district] = session.execute(_CANDIDATES, {"district": district}).all()
    for badge, roster in cache[district]:
        if on_duty(roster, local):
            return badge
    return None
