"""Deduplication for one-off (``instant``) incidents.

Late and redelivered events reach the one-off rules too (a collision uploaded
after a signal gap must still be reported), so those rules remember what they
reported recently: ``[ts, name]`` pairs within ``keep_s`` of the newest one.
"""

from __future__ import annotations

KEEP_S = 3600.0


def seen(recent: list, ts: float, name: str, within_s: float = 0.0) -> bool:
    return any(n == name and abs(t - ts) <= within_s for t, n in recent)


def remember(recent: list, ts: float, name: str) -> list:
    newest = max([ts, *(t for t, _ in recent)])
    return [[t, n] for t, n in [*recent, [ts, name]] if t >= newest - KEEP_S][-64:]
