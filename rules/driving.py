"""Driving-time arithmetic shared by the fatigue, daily-limit, stop and night rules.

Time between two fixes counts as driving when the earlier fix was moving and
the gap is at most ``max_gap_s`` (a longer silence is unknown, and unknown time
is never counted against a driver). Everything is numpy over the batch.
"""

from __future__ import annotations

import numpy as np

from rules.batch import Batch


def shifted(first: object, values: np.ndarray) -> np.ndarray:
    """``[first, values[0], ..., values[-2]]``: each element's predecessor.

    (``np.r_`` does the same but costs ~30 us a call, too much per vehicle.)"""
    out = np.empty_like(values)
    if values.size:
        out[0] = first
        out[1:] = values[:-1]
    return out


def gaps(batch: Batch) -> np.ndarray:
    """Seconds since the previous fix (0 for the first fix ever)."""
    return batch.cache["gaps"]


def drive_credit(batch: Batch, max_gap_s: float) -> np.ndarray:
    """Driving seconds credited to each fix (the interval that ends at it)."""
    return batch.derived(("credit", max_gap_s), lambda a: np.where(
        a["before_moving"] & (a["gaps"] <= max_gap_s), a["gaps"], 0.0))


def gap_at_least(batch: Batch, seconds: float) -> np.ndarray:
    """Fixes that come ``seconds`` or more after the previous one."""
    return batch.derived(("gap>=", seconds), lambda a: a["gaps"] >= seconds)


def any_gap_at_least(batch: Batch, seconds: float) -> bool:
    """``gap_at_least(batch, seconds).any()``, without numpy per vehicle."""
    return batch.any_derived(("gap>=", seconds), lambda a: a["gaps"] >= seconds)


def stop_starts(ts: np.ndarray, moving: np.ndarray, carried: float | None) -> np.ndarray:
    """For each stationary fix, when its stop began (NaN for moving fixes).

    ``carried`` is the start of a stop still running at the end of the previous
    batch; it applies to the leading stationary run.
    """
    n = ts.size
    if n == 0:
        return np.zeros(0)
    idx = np.arange(n)
    change = moving != shifted(not moving[0], moving)
    run_first = np.maximum.accumulate(np.where(change, idx, 0))
    start = ts[run_first]
    if carried is not None and not moving[0]:
        start = np.where(run_first == 0, carried, start)
    return np.where(moving, np.nan, start)


def driver_segments(batch: Batch, current: str) -> tuple[list[tuple[int, int, str]], str]:
    """Split the batch at driver log-ins/-outs: ``[(start, end, driver key)]``.

    The key is the licence number after ``driver_login`` and ``""`` (the
    vehicle) when nobody is logged in; an event at a fix's time applies to it.
    """
    segments: list[tuple[int, int, str]] = []
    start = 0
    for e in batch.tacho:
        if e.event not in ("driver_login", "driver_logout"):
            continue
        at = int(np.searchsorted(batch.ts, e.ts.timestamp(), side="left"))
        if at > start:
            segments.append((start, at, current))
            start = at
        current = (e.driver or "") if e.event == "driver_login" else ""
    segments.append((start, batch.n, current))
    return [s for s in segments if s[0] < s[1]], current
