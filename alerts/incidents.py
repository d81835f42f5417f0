"""Rule events → incidents (one per episode) and their outbox rows, in the
caller's transaction (ARCHITECTURE.md: one transaction per batch)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.outbox import enqueue_for_incident
from alerts.routing import Router
from registry.lookup import VehicleRecord
from rules.types import SEVERITIES, RuleEvent

_OPEN_SQL = text("""
INSERT INTO incidents (rule, episode_key, severity, status, vehicle_id, plate, vehicle_class,
    device_id, company, district, officer, supervisor, started_at, ended_at, updated_at, geom,
    details)
VALUES (:rule, :key, :severity, 'open', :vehicle_id, :plate, :vehicle_class, :device_id,
    :company, :district, :officer, :supervisor, :ts, :ended_at, :now,
    CASE WHEN :lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
    CAST(:details AS jsonb))
ON CONFLICT (vehicle_id, rule, episode_key) WHERE ended_at IS NULL
DO UPDATE SET updated_at = EXCLUDED.updated_at
RETURNING id, (xmax = 0) AS inserted
""")

_UPDATE_SQL = text("""
UPDATE incidents SET
    severity = CASE WHEN array_position(CAST(:order AS text[]), severity)
                         < array_position(CAST(:order AS text[]), CAST(:severity AS text))
               THEN :severity ELSE severity END,
    details = details || CAST(:details AS jsonb),
    geom = COALESCE(CASE WHEN :lon IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END, geom),
    updated_at = :now,
    ended_at = CASE WHEN :close THEN :ts ELSE ended_at END
WHERE vehicle_id = :vehicle_id AND rule = :rule AND episode_key = :key AND ended_at IS NULL
RETURNING id
""")


def apply_events(session: Session, *, vehicle: VehicleRecord, events: Sequence[RuleEvent],
                 district: str | None, router: Router, now: datetime) -> list[int]:
    """Write incidents for one vehicle's events; returns ids of incidents opened."""
    import json

    opened: list[int] = []
    for event in events:
        params = {
            "rule": event.rule, "key": event.key, "severity": event.severity,
            "vehicle_id": vehicle.vehicle_id, "ts": event.ts, "now": now,
            "lon": event.lon, "lat": event.lat,
            "details": json.dumps(event.details, ensure_ascii=False, default=str),
        }
        if event.action in ("open", "instant"):
            where = _district_of(router, event, district)
            route = router.route(where, vehicle)
            params.update(
                plate=vehicle.plate, vehicle_class=vehicle.vehicle_class,
                device_id=vehicle.device_id, company=vehicle.company, district=route.district,
                officer=route.officer, supervisor=route.supervisor,
                ended_at=event.ts if event.action == "instant" else None,
            )
            row = session.execute(_OPEN_SQL, params).one()
            if row.inserted:
                _record_opening(session, row.id, event, vehicle, route, now)
                opened.append(row.id)
        else:
            params.update(order=list(SEVERITIES), close=event.action == "close")
            session.execute(_UPDATE_SQL, params)
    return opened


def _district_of(router: Router, event: RuleEvent, fallback: str | None) -> str | None:
    if event.lon is None or event.lat is None:
        return fallback
    import numpy as np

    found = router.district_at(np.array([event.lon]), np.array([event.lat]))[0]
    return found or fallback


def _record_opening(session: Session, incident_id: int, event: RuleEvent,
                    vehicle: VehicleRecord, route, now: datetime) -> None:  # type: ignore[no-untyped-def]
    session.execute(
        text("INSERT INTO incident_transitions (incident_id, at, actor, from_status, to_status)"
             " VALUES (:id, :now, 'system', NULL, 'open')"),
        {"id": incident_id, "now": now},
    )
    enqueue_for_incident(session, incident_id=incident_id, severity=event.severity,
                         officer=route.officer, supervisor=route.supervisor,
                         company=vehicle.company, now=now)
