"""Opening incidents the way the ingest pipeline does (``apply_events`` in one
transaction), and reading the outbox back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from alerts.incidents import apply_events
from alerts.routing import Router
from keywatch.db import make_sessionmaker, transaction
from registry.lookup import load_districts, vehicles_for_devices
from rules.types import RuleEvent
from tests.city import INSIDE

TZ_NAME = "Asia/Shanghai"


def open_incident(engine: Engine, *, device: str = "t-0001", rule: str = "terminal_alarm",
                  severity: str = "critical", key: str = "sos", action: str = "open",
                  at: tuple[float, float] | None = INSIDE, ts: datetime | None = None,
                  cooldown_s: float = 300.0, **details: Any) -> int | None:
    """One rule event through ``apply_events``; the new incident's id (None if absorbed)."""
    from zoneinfo import ZoneInfo

    ts = ts or datetime.now(UTC)
    lat, lon = at if at else (None, None)
    event = RuleEvent(rule=rule, action=action, ts=ts, severity=severity, key=key, lat=lat,
                      lon=lon, details=details)  # type: ignore[arg-type]
    with transaction(make_sessionmaker(engine)) as session:
        router = Router(load_districts(session), tz=ZoneInfo(TZ_NAME), cooldown_s=cooldown_s)
        vehicle = vehicles_for_devices(session, [device])[device]
        opened = apply_events(session, vehicle=vehicle, events=[event], district=None,
                              router=router, now=datetime.now(UTC))
    return opened[0] if opened else None


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def deliveries(engine: Engine, incident_id: int | None = None) -> dict[tuple[str, str, str], Any]:
    """(purpose, recipient, channel) → row."""
    where = "" if incident_id is None else " WHERE incident_id = :id"
    return {(r.purpose, r.recipient, r.channel): r
            for r in rows(engine, "SELECT * FROM deliveries" + where, id=incident_id)}
