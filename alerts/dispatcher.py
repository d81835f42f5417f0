"""The dispatcher (``keywatch run --only dispatch``): escalation timers, digests and
channel delivery from the outbox, with retries and exponential backoff.

Woken by ``LISTEN keywatch_outbox`` (every incident's transaction NOTIFYs it) and
at least every ``interval_s``. ``tick(now)`` does one full round synchronously,
so tests drive it with a controlled clock. Several dispatchers may run: rows
are claimed with ``FOR UPDATE SKIP LOCKED`` (see ``alerts.queue``).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from alerts import messages, queue
from alerts.channels import DeliveryError, build_channels
from alerts.channels.base import ChannelDisabled
from alerts.digest import flush_digests
from alerts.escalation import escalate_due
from alerts.outbox import DONE_AT_COMMIT, NOTIFY_CHANNEL
from alerts.overdue import raise_overdue
from alerts.routing import Router
from keywatch.db import make_sessionmaker, psycopg_url, transaction
from keywatch.errors import database_unavailable
from keywatch.settings import Settings
from registry.lookup import load_districts

log = logging.getLogger(__name__)
OVERDUE_EVERY = timedelta(minutes=5)


@dataclass
class TickReport:
    escalated: list[int] = field(default_factory=list)
    digests: list[int] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)  # sent / retry / failed


class Dispatcher:
    def __init__(self, engine: Engine, settings: Settings, interval_s: float = 1.0,
                 batch: int = 50, workers: int = 8) -> None:
        self.sessions = make_sessionmaker(engine)
        self.url = psycopg_url(engine.url.render_as_string(hide_password=False))
        self.tz = settings.zone
        self.timeouts = {s: t for s in ("info", "warning", "serious", "critical")
                         if (t := settings.ack_timeout_for(s)) is not None}
        self.policy = queue.Policy(
            lease_s=settings.delivery_lease, max_attempts=settings.delivery_max_attempts,
            backoff_s=settings.delivery_backoff, backoff_max_s=settings.delivery_backoff_max,
            failing_after=settings.delivery_failing_after,
            digest_per_minute=settings.digest_per_minute)
        self.channels = build_channels(settings)
        self.interval_s, self.batch = interval_s, batch
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="kw-send")
        self.stopping = threading.Event()
        self.deadline_day = settings.inspection_deadline_day
        self.cooldown_s = settings.incident_cooldown
        self._inspections_checked: datetime | None = None

    def tick(self, now: datetime) -> TickReport:
        report = TickReport()
        with transaction(self.sessions) as session:
            report.escalated = escalate_due(session, now=now, timeouts_s=self.timeouts,
                                            tz=self.tz)
            report.digests = flush_digests(session, now=now)
        for incident_id in report.escalated:
            log.info("incident %s escalated to the supervisor", incident_id,
                     extra={"incident_id": incident_id})
        while True:
            with transaction(self.sessions) as session:  # committed before any send
                rows = queue.claim(session, now=now, limit=self.batch, policy=self.policy)
            errors = list(self.pool.map(self._send, rows))
            with transaction(self.sessions) as session:
                for row, error in zip(rows, errors, strict=True):
                    outcome = queue.record(session, row, error, now=now, policy=self.policy)
                    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
            if len(rows) < self.batch:
                return report

    def check_inspections(self, now: datetime) -> list[int]:
        """At most every 5 minutes: ``inspection_overdue`` for muck trucks whose month's
        inspection deadline has passed (this month's and last month's)."""
        if self._inspections_checked and now - self._inspections_checked < OVERDUE_EVERY:
            return []
        self._inspections_checked = now
        local = now.astimezone(self.tz)
        previous = (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        opened: list[int] = []
        with transaction(self.sessions) as session:
            router = Router(load_districts(session), tz=self.tz, cooldown_s=self.cooldown_s)
            for month in (previous, local.strftime("%Y-%m")):
                opened += raise_overdue(session, month=month, now=now, router=router,
                                        tz=self.tz, deadline_day=self.deadline_day)
        return opened

    def _send(self, row: Any) -> DeliveryError | None:
        channel = self.channels.get(row.channel)
        if channel is None:
            return None if row.channel in DONE_AT_COMMIT else DeliveryError(
                f"unknown channel {row.channel!r}", permanent=True)
        try:
            with self.sessions() as session:
                message = messages.build(session, row, self.tz)
            channel.send(message)
        except DeliveryError as exc:
            level = logging.DEBUG if isinstance(exc, ChannelDisabled) else logging.WARNING
            log.log(level, "delivery %s (%s to %s) not made: %s", row.id, row.channel,
                    row.recipient, exc, extra=_context(row))
            return exc
        except Exception as exc:  # noqa: BLE001 - one bad delivery must not stop the rest
            log.exception("delivery %s: unexpected error", row.id, extra=_context(row))
            return DeliveryError(f"internal error: {exc.__class__.__name__}: {exc}"[:300])
        return None

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as listen:
                    listen.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._serve(listen)
            except (DBAPIError, psycopg.Error) as exc:  # read-only too: wait, don't die
                if not database_unavailable(exc):
                    raise
                log.error("dispatcher: database unavailable: %s", str(exc).splitlines()[0][:300])
                self.sessions.kw["bind"].dispose()  # a session stays read-only once connected so
                self.stopping.wait(self.interval_s)
        self.close()

    def _serve(self, listen: psycopg.Connection) -> None:
        """Tick on every NOTIFY and at least every ``interval_s``; notice stop() quickly."""
        woken, next_tick = True, 0.0
        while not self.stopping.is_set():
            if woken or time.monotonic() >= next_tick:
                now = datetime.now(UTC)
                self.check_inspections(now)
                self.tick(now)
                next_tick = time.monotonic() + self.interval_s
            woken = any(True for _ in listen.notifies(timeout=0.5, stop_after=1))

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for channel in self.channels.values():
            channel.close()


def _context(row: Any) -> dict[str, Any]:
    """A delivery's ids for structured logs (keywatch.logs)."""
    return {"incident_id": row.incident_id, "delivery_id": row.id, "channel": row.channel,
            "recipient": row.recipient}
