"""The ingest worker: take a batch from the broker, run the pipeline, commit, ack."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError

from ingest import metrics
from ingest.clock import tick_silent_vehicles
from ingest.mqtt import Consumer
from ingest.pipeline import Pipeline
from ingest.retention import drop_expired

log = logging.getLogger(__name__)
IDLE_S = 5.0  # input dry this long: the worker has caught up with the broker


def ensure_partitions(pipeline: Pipeline, today: date, back_days: int, ahead_days: int) -> None:
    """Daily fix partitions covering every timestamp ingest can accept."""
    with pipeline.factory() as session, session.begin():
        for offset in range(-back_days, ahead_days + 1):
            session.execute(text("SELECT keywatch_ensure_fix_partition(:d)"),
                            {"d": today + timedelta(days=offset)})


class IngestWorker:
    def __init__(self, pipeline: Pipeline, consumer: Consumer, *, batch_size: int,
                 batch_ms: int, max_age_days: int, retention_days: int = 90) -> None:
        self.pipeline = pipeline
        self.consumer = consumer
        self.batch_size = batch_size
        self.batch_wait_s = batch_ms / 1000
        self.max_age_days = max_age_days
        self.retention_days = max(retention_days, max_age_days + 1)
        self.stopping = threading.Event()
        self._partitions_day: date | None = None
        self._next_tick = 0.0
        self.tick_every_s = 10.0
        self._watermark: datetime | None = None  # newest fix time committed so far
        self._idle_since: float | None = None  # monotonic time input last ran dry

    def run(self) -> None:
        self.consumer.start()
        while not self.stopping.is_set():
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

    def stop(self) -> None:
        self.stopping.set()
        with self.consumer.ready:
            self.consumer.ready.notify_all()

    def _maintain(self) -> None:
        today = datetime.now(UTC).date()
        if self._partitions_day != today:
            self._retry(lambda: ensure_partitions(self.pipeline, today, self.max_age_days + 1, 2))
            self._retry(self._apply_retention)
            self._partitions_day = today
        if time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + self.tick_every_s
            now = self._tick_time()
            self._retry(lambda: tick_silent_vehicles(self.pipeline, now))

    def _tick_time(self) -> datetime:
        """The clock for "silent" rules: wall time once input has been dry for a while;
        while messages keep coming (e.g. draining a backlog after a restart) the newest
        fix time committed, so a vehicle whose next fixes are still queued is not
        declared silent (event time, as when replaying at 100×)."""
        wall = datetime.now(UTC)
        idle = self._idle_since is not None and time.monotonic() - self._idle_since >= IDLE_S
        if idle or self._watermark is None:
            return wall
        return min(wall, self._watermark)

    def _apply_retention(self) -> None:
        with self.pipeline.factory() as session, session.begin():
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
                return action()
            except (OperationalError, InterfaceError) as exc:
                log.error("database unavailable, batch not acknowledged; retrying in %.1f s: %s",
                          delay, str(exc).splitlines()[0][:300])
                self.stopping.wait(delay)
                delay = min(delay * 2, 10.0)
        return None
