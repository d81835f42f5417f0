"""Per-device sequence gaps: fixes a terminal numbered but the platform never stored.

A terminal numbers its fixes (``seq``, contract §3); a missing number between two
stored fixes is a fix lost somewhere between the terminal and the database (the
terminal's buffer, the network, a broker that died before saving its queue). The
scan is one SQL statement: ``lag(seq)`` over each device's fixes ordered by
``(ts, seq)``; every forward step larger than one counts ``step - 1`` missing. The
devices are the registry's (current and, for the window, past bindings).

* The contract gives ``seq`` no range, so by default a step backwards is counted
  as a counter *restart* (a terminal that rebooted, or a counter of unknown width
  that wrapped), never as missing fixes. A terminal whose counter is known to wrap
  at ``modulus`` (e.g. 65536 for a 16-bit counter) is scanned with serial-number
  arithmetic (RFC 1982): a step of ``d = (seq - prev) mod modulus`` is forward when
  ``0 < d < modulus / 2``, backwards (a restart or a reordering) otherwise.
* Fixes without ``seq`` (stored as -1) are skipped, and so are JT/T 808 fixes
  (their ``extras`` carry the terminal's ``status``): their ``seq`` is the frame
  serial number, which heartbeats and other messages use too (ingest.jt808.canonical).
* Gaps are counted between fixes inside ``[since, until)``; the fix before
  ``since`` is looked for at most ``lookback`` earlier, so a gap across the
  start of the window is seen once and consecutive windows add up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ingest import metrics
from keywatch.settings import parse_duration

log = logging.getLogger(__name__)
DEFAULT_LOOKBACK = timedelta(minutes=10)

# One index range scan per device (the primary key is (device_id, ts, seq)): fixes has
# no index that starts with ts, and a day's partition at city scale is too big to read.
_KNOWN = """
    SELECT device_id FROM vehicles WHERE device_id IS NOT NULL
    UNION
    SELECT device_id FROM device_bindings
    WHERE unbound_at IS NULL OR unbound_at >= :since - :lookback
"""
# a fix the scan counts: numbered by its terminal, not a JT/T 808 frame serial
_NUMBERED = "seq >= 0 AND NOT coalesce(extras ? 'status', false)"
_STEPS = """
WITH devices AS (
    SELECT device_id FROM (""" + _KNOWN + """) known
    WHERE CAST(:only AS text[]) IS NULL OR device_id = ANY(CAST(:only AS text[]))
), ordered AS (
    SELECT f.* FROM devices d CROSS JOIN LATERAL (
        SELECT device_id, vehicle_id, ts, seq,
               lag(seq) OVER w AS prev_seq, lag(ts) OVER w AS prev_ts
        FROM (
            -- the one fix before the window (not the whole lookback: at a fix every
            -- 10 s that was 60 rows per device read to use one)
            (SELECT device_id, vehicle_id, ts, seq FROM fixes
             WHERE device_id = d.device_id AND ts >= :since - :lookback AND ts < :since
               AND """ + _NUMBERED + """
             ORDER BY ts DESC, seq DESC LIMIT 1)
            UNION ALL
            SELECT device_id, vehicle_id, ts, seq FROM fixes
            WHERE device_id = d.device_id AND ts >= :since AND ts < :until
              AND """ + _NUMBERED + """
        ) rows
        WINDOW w AS (ORDER BY ts, seq)) f
), steps AS (
    SELECT device_id, vehicle_id, ts, seq, prev_seq, prev_ts,
           CASE WHEN prev_seq IS NULL THEN NULL
                WHEN :modulus > 0 THEN mod(mod(seq - prev_seq, :modulus) + :modulus, :modulus)
                ELSE seq - prev_seq END AS step
    FROM ordered WHERE ts >= :since
), classified AS (
    SELECT *, CASE WHEN step IS NULL OR step = 0 THEN 'first_or_repeat'
                   WHEN step < 0 OR (:modulus > 0 AND step * 2 >= :modulus) THEN 'restart'
                   ELSE 'forward' END AS kind
    FROM steps
)
"""

_DEVICE_IDS = text("SELECT device_id FROM (" + _KNOWN + ") known ORDER BY device_id")
SCAN_CHUNK = 2000  # devices per statement of the periodic scan

_GAPS = text(_STEPS + """
SELECT device_id, prev_seq, seq, step - 1 AS missing, prev_ts, ts
FROM classified WHERE kind = 'forward' AND step > 1
ORDER BY device_id, ts
""")

_DEVICES = text(_STEPS + """, per_device AS (
    SELECT device_id, max(vehicle_id) AS vehicle_id, count(*) AS fixes,
           coalesce(sum(step - 1) FILTER (WHERE kind = 'forward'), 0)::bigint AS missing,
           count(*) FILTER (WHERE kind = 'forward' AND step > 1) AS gaps,
           count(*) FILTER (WHERE kind = 'restart') AS restarts
    FROM classified GROUP BY device_id
)
SELECT d.device_id, v.plate, d.fixes, d.missing, d.gaps, d.restarts
FROM per_device d LEFT JOIN vehicles v ON v.id = d.vehicle_id
WHERE d.gaps > 0 OR d.restarts > 0
ORDER BY d.missing DESC, d.device_id
""")


@dataclass(frozen=True, slots=True)
class Gap:
    """``missing`` numbers between two stored fixes of one device."""

    device_id: str
    after_seq: int  # the last seq stored before the gap
    before_seq: int  # the first seq stored after it
    missing: int
    after_ts: datetime
    before_ts: datetime

    def missing_seqs(self, modulus: int | None = None) -> list[int]:
        numbers = range(self.after_seq + 1, self.after_seq + 1 + self.missing)
        return [n % modulus for n in numbers] if modulus else list(numbers)


@dataclass(frozen=True, slots=True)
class DeviceGaps:
    """One device's summary for a window: what ``keywatch gaps`` prints."""

    device_id: str
    plate: str | None
    fixes: int
    missing: int
    gaps: int
    restarts: int


def parse_when(value: str, *, now: datetime, tz: tzinfo) -> datetime:
    """``--since``/``--until``: RFC 3339 (no offset: local time), or a duration ago."""
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not a time: {value!r} (use RFC 3339, e.g. 2026-11-26T08:00+08:00, "
                         "or a duration ago such as 90m or 1d)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _params(since: datetime, until: datetime, modulus: int | None,
            lookback: timedelta, only: list[str] | None = None) -> dict[str, object]:
    if until <= since:
        raise ValueError(f"--until ({until.isoformat()}) must be after --since "
                         f"({since.isoformat()})")
    if modulus is not None and modulus < 2:
        raise ValueError(f"modulus must be at least 2, got {modulus}")
    return {"since": since, "until": until, "modulus": modulus or 0, "lookback": lookback,
            "only": only}


def find_gaps(conn: Connection, *, since: datetime, until: datetime,
              modulus: int | None = None, lookback: timedelta = DEFAULT_LOOKBACK) -> list[Gap]:
    """Every gap whose later fix lies in ``[since, until)``, by device then time."""
    rows = conn.execute(_GAPS, _params(since, until, modulus, lookback))
    return [Gap(*row) for row in rows]


def devices_with_gaps(conn: Connection, *, since: datetime, until: datetime,
                      modulus: int | None = None, lookback: timedelta = DEFAULT_LOOKBACK,
                      only: list[str] | None = None) -> list[DeviceGaps]:
    """Devices with missing fixes or counter restarts in the window, most missing first
    (of the ``only`` devices, when given)."""
    rows = conn.execute(_DEVICES, _params(since, until, modulus, lookback, only))
    return [DeviceGaps(*row) for row in rows]


def devices_with_gaps_paced(engine: Engine, *, since: datetime, until: datetime,
                            chunk: int = SCAN_CHUNK, idle_share: float = 0.5,
                            sleep: Callable[[float], None] = time.sleep) -> list[DeviceGaps]:
    """``devices_with_gaps`` for every device, ``chunk`` devices per statement, resting
    after each as long as ``idle_share`` asks (0.5: the scan takes at most about half
    of one database core). At city scale the whole scan at once is seconds of one core's
    work arriving together, and ingest lags behind it; paced, it is spread over its
    interval. Each device's answer depends on its own fixes only: the chunks add up."""
    with engine.connect() as conn:
        params = _params(since, until, None, DEFAULT_LOOKBACK)
        devices = [d for (d,) in conn.execute(_DEVICE_IDS, params)]
    found: list[DeviceGaps] = []
    for start in range(0, len(devices), chunk):
        began = time.perf_counter()
        with engine.connect() as conn:
            found += devices_with_gaps(conn, since=since, until=until,
                                       only=devices[start:start + chunk])
        if start + chunk < len(devices) and idle_share > 0:
            sleep((time.perf_counter() - began) * idle_share / (1 - idle_share))
    return sorted(found, key=lambda d: (-d.missing, d.device_id))


def record_scan(devices: list[DeviceGaps]) -> None:
    """Publish one window's result to Prometheus (ingest.metrics)."""
    metrics.SEQ_MISSING.inc(sum(d.missing for d in devices))
    metrics.SEQ_GAP_DEVICES.set(sum(1 for d in devices if d.missing))
    metrics.SEQ_GAP_SCANS.inc()


class GapScanner:
    """Scans consecutive windows ``[t0, t0 + every)`` once each is ``delay`` old (late
    fixes may still fill a gap until then), in its own thread so a slow scan never
    holds up ingest. ``maybe_run`` is the worker's hook; nothing runs when ``every``
    is 0."""

    def __init__(self, engine: Engine, *, every_s: float, delay_s: float,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.every = timedelta(seconds=every_s)
        self.delay = timedelta(seconds=delay_s)
        self.clock = clock
        self._next: datetime | None = None
        self._thread: threading.Thread | None = None

    def maybe_run(self) -> None:
        if not self.every or (self._thread is not None and self._thread.is_alive()):
            return
        now = self.clock()
        if self._next is None:  # start with the window that has just become due
            self._next = now - self.delay - self.every
        if now - self.delay < self._next + self.every:
            return
        since, self._next = self._next, self._next + self.every
        self._thread = threading.Thread(target=self._scan, args=(since, self._next),
                                        name="gap-scan", daemon=True)
        self._thread.start()

    def _scan(self, since: datetime, until: datetime) -> None:
        started = time.perf_counter()
        try:
            devices = devices_with_gaps_paced(self.engine, since=since, until=until)
            record_scan(devices)
        except Exception as exc:  # noqa: BLE001 - a failed scan is logged, ingest goes on
            log.warning("sequence-gap scan %s..%s failed: %s", since.isoformat(),
                        until.isoformat(), str(exc).splitlines()[0][:300])
            return
        missing, took = sum(d.missing for d in devices), time.perf_counter() - started
        log.info("sequence-gap scan %s..%s took %.1f s", since.isoformat(), until.isoformat(),
                 took)
        if missing:
            log.warning("sequence gaps %s..%s: %d fixes missing from %d devices (%.1f s)",
                        since.isoformat(), until.isoformat(), missing,
                        sum(1 for d in devices if d.missing), took)
