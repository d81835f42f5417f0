"""Sign-in throttling: after ``login_max_failures`` failures for one username from one
address within ``login_window``, that pair is locked for ``login_lockout``.

The counters live in PostgreSQL (``login_throttle``), so a lockout survives restarts and
holds across web processes; each failure is one atomic upsert.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from keywatch.settings import Settings
from registry.models import LoginThrottle

_FAIL = text("""
INSERT INTO login_throttle (username, address, failures, window_start, locked_until)
VALUES (:username, :address, 1, :now, CASE WHEN :max <= 1 THEN :until END)
ON CONFLICT (username, address) DO UPDATE SET
    failures = CASE WHEN login_throttle.window_start > :window_from
                    THEN login_throttle.failures + 1 ELSE 1 END,
    window_start = CASE WHEN login_throttle.window_start > :window_from
                        THEN login_throttle.window_start ELSE :now END,
    locked_until = CASE WHEN login_throttle.window_start > :window_from
                             AND login_throttle.failures + 1 >= :max
                        THEN :until ELSE login_throttle.locked_until END
RETURNING locked_until
""")


def _key(username: str, address: str) -> dict[str, str]:
    return {"username": username[:50], "address": address[:45]}


def locked_for(session: Session, *, username: str, address: str,
               now: datetime | None = None) -> int | None:
    """Seconds until the pair may try again, or None when it is not locked."""
    now = now or datetime.now(UTC)
    key = _key(username, address)
    until = session.scalar(select(LoginThrottle.locked_until).where(
        LoginThrottle.username == key["username"], LoginThrottle.address == key["address"]))
    if until is None or until <= now:
        return None
    return max(1, math.ceil((until - now).total_seconds()))


def record_failure(session: Session, settings: Settings, *, username: str, address: str,
                   now: datetime | None = None) -> int | None:
    """Counts one failure; returns the lockout in seconds if this failure started one."""
    now = now or datetime.now(UTC)
    until = now + timedelta(seconds=settings.login_lockout)
    locked = session.scalar(_FAIL, {
        **_key(username, address), "now": now, "until": until,
        "window_from": now - timedelta(seconds=settings.login_window),
        "max": settings.login_max_failures})
    if locked is not None and locked > now:
        return max(1, math.ceil((locked - now).total_seconds()))
    return None


def record_success(session: Session, *, username: str, address: str) -> None:
    key = _key(username, address)
    session.execute(delete(LoginThrottle).where(
        LoginThrottle.username == key["username"], LoginThrottle.address == key["address"]))
