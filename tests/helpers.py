"""Small test helpers: running a real ingest worker, publishing, waiting."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ingest.mqtt import BrokerAddress, Publisher
from keywatch.settings import Settings
from keywatch.wiring import build_ingest_worker


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition",
             poll_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def wait_for_count(engine: Engine, sql: str, expected: int, timeout_s: float = 30.0,
                   what: str = "the count", poll_s: float = 0.05, **params: Any) -> None:
    """Until ``sql`` counts exactly ``expected``. A count above it fails at once (something
    stored twice, or a leftover from another test); a timeout says where the count stood."""
    counts: list[int] = []

    def reached() -> bool:
        counts.append(scalar(engine, sql, **params))
        if counts[-1] > expected:
            raise AssertionError(f"{what}: counted {counts[-1]}, more than the {expected} "
                                 "expected")
        return counts[-1] == expected

    try:
        wait_for(reached, timeout_s, what, poll_s)
    except AssertionError as exc:
        if counts and counts[-1] < expected:  # the timeout, not an overshoot
            raise AssertionError(f"{exc}: counted {counts[-1]} of {expected}") from None
        raise


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    """One value from the database (counts, reasons) for a test's assertions."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


@contextmanager
def running_worker(settings: Settings, client_id: str | None = None) -> Iterator[Any]:
    """A real ingest worker (MQTT + PostGIS) in a thread, stopped on exit."""
    worker = build_ingest_worker(settings, client_id=client_id or f"kw-test-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:  # stopped even when it never connects: a leaked worker would eat later tests' fixes
        wait_for(worker.consumer.connected.is_set, 10, "the worker's MQTT connection")
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=10)


@contextmanager
def publisher(settings: Settings) -> Iterator[Publisher]:
    pub = Publisher(BrokerAddress.parse(settings.mqtt_url)).start()
    try:
        yield pub
    finally:
        pub.stop()


def fix(ts: datetime, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    return {"ts": ts.isoformat(), "lat": lat, "lon": lon, **extra}


def publish_json(pub: Publisher, device_id: str, kind: str, payload: Any) -> None:
    pub.publish_and_wait(f"kw/v1/dev/{device_id}/{kind}", json.dumps(payload))


def now_local(settings: Settings, minutes_ago: float = 0) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(settings.zone)


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


__all__ = ["fix", "now_local", "publish_json", "publisher", "replace", "running_worker",
           "scalar", "wait_for", "with_settings"]
