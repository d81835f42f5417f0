"""The ingest worker: take a batch from the broker, run the pipeline, commit, ack."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ingest import metrics
from ingest.clock import tick_silent_vehicles
from ingest.gaps import GapScanner
from ingest.pipeline import Pipeline
from ingest.retention import drop_expired
from ingest.slots import IDLE_S, SETTLE_S, IngestGroup, event_time
from keywatch.errors import database_read_only, database_unavailable
from keywatch.process import release_free_memory

log = logging.getLogger(__name__)
_PARTITIONS_LOCK = zlib.crc32(b"keywatch:fix-partitions")
TRIM_EVERY_S = 60.0  # free C-heap pages handed back to the system (keywatch.process)


def one_worker_at_a_time(session: Session) -> None:
    """Several workers start together: partitions are created (and dropped) by one at a
    time, until its commit; the others then find them there (no DuplicateTable)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITIONS_LOCK})


def ensure_partitions(pipeline: Pipeline, today: date, back_days: int, ahead_days: int) -> None:
    """Daily fix partitions covering every timestamp ingest can accept."""
    with pipeline.factory() as session, session.begin():
        one_worker_at_a_time(session)
        for offset in range(-back_days, ahead_days + 1):
            session.execute(text("SELECT keywatch_ensure_fix_partition(:d)"),
                            {"d": today + timedelta(days=offset)})


class IngestWorker:
    def __init__(self, pipeline: Pipeline, consumer: IngestGroup, *, batch_size: int,
                 batch_ms: int, max_age_days: int, retention_days: int = 90,
                 gaps: GapScanner | None = None, name: str = "ingest") -> None:
        self.pipeline = pipeline
        self.consumer = consumer
        self.batch_size = batch_size
        self.batch_wait_s = batch_ms / 1000
        self.max_age_days = max_age_days
        self.retention_days = max(retention_days, max_age_days + 1)
        self.stopping = threading.Event()
        self._partitions_day: date | None = None
        self._next_tick = 0.0
        self._next_trim = time.monotonic() + TRIM_EVERY_S
        self.tick_every_s = 10.0
        self._watermark: datetime | None = None  # newest fix time committed so far
        self._idle_since: float | None = None  # monotonic time input last ran dry
        self._started = time.monotonic()
        self.gaps = gaps  # the periodic sequence-gap scan (its own thread)
        self.name = name  # its health samples (ingest.metrics, /readyz) carry this label

    def run(self) -> None:
        self.consumer.start()
        metrics.INGEST_READY.labels(self.name).set(1)
        while not self.stopping.is_set():
            metrics.INGEST_HEARTBEAT.labels(self.name).set_to_current_time()
            self._maintain()
            messages = self.consumer.take(self.batch_size, self.batch_wait_s)
            metrics.QUEUE_DEPTH.set(len(self.consumer.queue))
            if messages:
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = time.monotonic()
            if messages:
                self._process_until_committed(messages)
        self.consumer.stop()
        self.pipeline.close()
        metrics.forget_worker(self.name)  # stopped on purpose: no longer a readiness concern

    def stop(self) -> None:
        self.stopping.set()
        with self.consumer.ready:
            self.consumer.ready.notify_all()

    def _maintain(self) -> None:
        # first: claiming sessions needs no writable database (advisory locks), and a
        # worker that receives while the database refuses writes reports not-ready
        self.consumer.maintain()  # claims and subscriptions (ingest.slots)
        today = datetime.now(UTC).date()
        if self._partitions_day != today:
            self._retry(lambda: ensure_partitions(self.pipeline, today, self.max_age_days + 1, 2))
            self._retry(self._apply_retention)
            self._partitions_day = today
        if time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + self.tick_every_s
            self._tick()
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + TRIM_EVERY_S
            release_free_memory()
        if self.gaps is not None and self.consumer.leads():
            # one scan for the whole group: every worker scanning every device would
            # repeat the heaviest query and count each missing fix once per worker
            self.gaps.maybe_run()

    def _tick(self) -> None:
        """Only the vehicles of the sessions this worker owns, each on its own clock."""
        wall = datetime.now(UTC)
        for devices, clock in self.consumer.tick_scopes():
            now = self._tick_time() if clock is None else clock.now(wall)
            if now is not None:
                self._retry(lambda d=devices, n=now: tick_silent_vehicles(self.pipeline, n,
                                                                          devices=d))

    def _tick_time(self) -> datetime | None:
        """The clock for "silent" rules: wall time once input has been dry for a while;
        while messages keep coming (e.g. draining a backlog after a restart) the newest
        fix time committed, so a vehicle whose next fixes are still queued is not
        declared silent (event time, as when replaying at 100×); None (no tick) while
        busy with nothing committed yet (``ingest.slots.event_time``)."""
        wall, now = datetime.now(UTC), time.monotonic()
        idle = self._idle_since is not None and now - self._idle_since >= IDLE_S
        unsettled = self._watermark is None and now - self._started >= SETTLE_S
        return event_time(wall, self._watermark, idle or unsettled)

    def _apply_retention(self) -> None:
        with self.pipeline.factory() as session, session.begin():
            one_worker_at_a_time(session)
            drop_expired(session, keep_days=self.retention_days, now=datetime.now(UTC))

    def _process_until_committed(self, messages: list) -> None:
        """Never ack what was not stored: on a lost database wait and retry the batch.

        Any other error is data-dependent: the batch is split until the one
        message that causes it is found, and that one becomes a dead letter.
        """
        started = time.perf_counter()
        try:
            batch = self._retry(lambda: self.pipeline.process(messages, datetime.now(UTC)))
        except Exception as exc:  # noqa: BLE001 - isolate the poison message, keep running
            if len(messages) > 1:
                half = len(messages) // 2
                self._process_until_committed(messages[:half])
                self._process_until_committed(messages[half:])
                return
            log.exception("message on %s could not be processed", messages[0].topic)
            detail = repr(exc)
            batch = self._retry(lambda: self.pipeline.dead_letter(messages[0], detail))
        if batch is None:
            return
        self.consumer.ack(messages)
        self.consumer.committed(batch.fixes)
        if batch.fixes:
            newest = max(f.ts for group in batch.fixes.values() for f in group)
            if self._watermark is None or newest > self._watermark:
                self._watermark = newest
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        oldest = min(m.received_at for m in messages)
        metrics.LAG_SECONDS.observe((datetime.now(UTC) - oldest).total_seconds())
        for events in batch.events.values():
            for event in events:
                if event.action in ("open", "instant"):
                    metrics.INCIDENTS_OPENED.labels(event.rule).inc()
        metrics.FIXES_STORED.inc(batch.stored)
        metrics.FIXES_DUPLICATE.inc(batch.duplicates)
        reasons: dict[str, int] = {}
        for rejection in batch.rejections:
            metrics.DEAD_LETTERS.labels(rejection.reason).inc()
            reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1
            log.debug("dead letter %s from %s: %s", rejection.reason, rejection.device_id,
                      rejection.detail)
        if reasons:  # one line per batch, not per message: a flood must not flood the log
            log.info("batch of %d messages: %d fixes stored, %d duplicates, dead letters %s",
                     len(messages), batch.stored, batch.duplicates,
                     ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))

    def _retry(self, action):  # type: ignore[no-untyped-def]
        delay = 0.5
        while not self.stopping.is_set():
            try:
                result = action()
            except (DBAPIError, psycopg.Error) as exc:  # lost, down, disk full, read-only: wait
                if not database_unavailable(exc):
                    raise
                metrics.INGEST_READY.labels(self.name).set(0)
                if database_read_only(exc):
                    # a session stays read-only once connected so: retry on fresh ones
                    self.pipeline.factory.kw["bind"].dispose()
                log.error("database unavailable, batch not acknowledged; retrying in %.1f s: %s",
                          delay, str(exc).splitlines()[0][:300])
                self.stopping.wait(delay)
                delay = min(delay * 2, 10.0)
            else:
                metrics.INGEST_READY.labels(self.name).set(1)
                return result
        return None
