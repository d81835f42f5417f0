"""Rule events → incidents (one per episode) and their outbox rows, in the
caller's transaction (ARCHITECTURE.md: one transaction per batch).

Noise control: an episode that opens again (same vehicle, rule and zone) within
``router.cooldown_s`` of the last one ending reopens that incident and counts
the repeat in ``details.repeats`` — nobody is notified a second time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.notices import notice_body, write_notice
from alerts.outbox import Pending, enqueue_for_incident, pending
from alerts.routing import Route, Router
from registry.lookup import VehicleRecord
from rules.types import SEVERITIES, RuleEvent

log = logging.getLogger(__name__)
_POINT = "CASE WHEN :lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END"
_WORSE = """CASE WHEN array_position(CAST(:order AS text[]), severity)
                 < array_position(CAST(:order AS text[]), CAST(:severity AS text))
            THEN :severity ELSE severity END"""

_UPDATE_SQL = text(f"""
UPDATE incidents SET severity = {_WORSE},
    details = details || CAST(:details AS jsonb),
    geom = COALESCE({_POINT}, geom),
    updated_at = :now,
    ended_at = CASE WHEN :close THEN :ts ELSE ended_at END
WHERE vehicle_id = :vehicle_id AND rule = :rule AND episode_key = :key AND ended_at IS NULL
RETURNING id
""")

_TRANSITION = text("INSERT INTO incident_transitions (incident_id, at, actor, from_status,"
                   " to_status) VALUES (:id, :now, 'system', NULL, 'open')")

# One round trip per opening. ``reopened``: an episode of the same key that ended within
# the cooldown (and is not resolved) takes the event back -- only when no episode of
# the key is open (the unique index allows one open per key). Otherwise ``opened``
# inserts the incident, or finds the open one (ON CONFLICT: not ``inserted``).
_OPEN_SQL = text(f"""
WITH reopened AS (
    UPDATE incidents SET severity = {_WORSE},
        details = details || CAST(:details AS jsonb) || jsonb_build_object('repeats',
                  COALESCE((details->>'repeats')::int, 0) + 1),
        geom = COALESCE({_POINT}, geom), updated_at = :now, ended_at = :ended_at
    WHERE id = (SELECT id FROM incidents
                WHERE vehicle_id = :vehicle_id AND rule = :rule AND episode_key = :key
                  AND ended_at IS NOT NULL AND ended_at >= :since AND status <> 'resolved'
                ORDER BY ended_at DESC LIMIT 1)
      AND NOT EXISTS (SELECT 1 FROM incidents WHERE vehicle_id = :vehicle_id AND rule = :rule
                      AND episode_key = :key AND ended_at IS NULL)
    RETURNING id
), opened AS (
    INSERT INTO incidents (rule, episode_key, severity, status, vehicle_id, plate,
        vehicle_class, device_id, company, district, officer, supervisor, responsible_officer,
        started_at, ended_at, updated_at, geom, details)
    SELECT :rule, :key, :severity, 'open', :vehicle_id, :plate, :vehicle_class, :device_id,
        :company, :district, :officer, :supervisor, :responsible, :ts, :ended_at, :now,
        {_POINT}, CAST(:details AS jsonb)
    WHERE NOT EXISTS (SELECT 1 FROM reopened)
    ON CONFLICT (vehicle_id, rule, episode_key) WHERE ended_at IS NULL
    DO UPDATE SET updated_at = EXCLUDED.updated_at
    RETURNING id, (xmax = 0) AS inserted
)
SELECT id, inserted FROM opened
""")


def apply_events(session: Session, *, vehicle: VehicleRecord, events: Sequence[RuleEvent],
                 district: str | None, router: Router, now: datetime,
                 queue: Pending | None = None) -> list[int]:
    """Write incidents for one vehicle's events; returns ids of incidents opened.

    What nothing reads back in the transaction (updates of open episodes,
    transitions, notices, deliveries, NOTIFYs) goes into ``queue``, which the
    caller flushes before its commit -- one per batch, for many vehicles; without
    one, it is flushed here."""
    if queue is None:
        with pending(session) as own:
            return apply_events(session, vehicle=vehicle, events=events, district=district,
                                router=router, now=now, queue=own)
    opened: list[int] = []
    for event in events:
        params = {
            "rule": event.rule, "key": event.key, "severity": event.severity,
            "vehicle_id": vehicle.vehicle_id, "ts": event.ts, "now": now,
            "lon": event.lon, "lat": event.lat, "order": list(SEVERITIES),
            "details": json.dumps(event.details, ensure_ascii=False, default=str),
        }
        episode = (vehicle.vehicle_id, event.rule, event.key)
        if event.action in ("open", "instant"):
            # reads the episode's incidents: its queued updates (a close) go first
            queue.flush_for(episode)
            incident_id = _open(session, vehicle, event, district, router, params, queue)
            if incident_id is not None:
                opened.append(incident_id)
        else:
            params["close"] = event.action == "close"
            queue.add(_UPDATE_SQL, params, key=episode)
    return opened


def _open(session: Session, vehicle: VehicleRecord, event: RuleEvent, fallback: str | None,
          router: Router, params: dict, queue: Pending) -> int | None:
    """The new incident's id, or None when an open or recent one absorbed the event."""
    from datetime import timedelta

    params["ended_at"] = event.ts if event.action == "instant" else None
    params["since"] = event.ts - timedelta(seconds=router.cooldown_s)
    route = router.route(_district_of(router, event, fallback), vehicle, session=session,
                         at=event.ts, rosters=queue.cached(("rosters",), dict))
    params.update(plate=vehicle.plate, vehicle_class=vehicle.vehicle_class,
                  device_id=vehicle.device_id, company=vehicle.company, district=route.district,
                  officer=route.officer, supervisor=route.supervisor,
                  responsible=vehicle.officer)
    row = session.execute(_OPEN_SQL, params).first()
    if row is None or not row.inserted:  # reopened, or absorbed by the open episode
        return None
    _record_opening(queue, row.id, event, vehicle, route, router, params["now"])
    # the caller's transaction commits it (a rolled-back batch is redone under a new id)
    log.info("incident %s: %s (%s) for %s in district %s, officer %s", row.id, event.rule,
             event.severity, vehicle.plate, route.district, route.officer,
             extra={"incident_id": row.id, "vehicle_id": vehicle.vehicle_id,
                    "plate": vehicle.plate, "rule": event.rule})
    return row.id


def _district_of(router: Router, event: RuleEvent, fallback: str | None) -> str | None:
    if event.lon is None or event.lat is None:
        return fallback
    found = router.district_at(np.array([event.lon]), np.array([event.lat]))[0]
    return found or fallback


def _record_opening(queue: Pending, incident_id: int, event: RuleEvent,
                    vehicle: VehicleRecord, route: Route, router: Router,
                    now: datetime) -> None:
    queue.add(_TRANSITION, {"id": incident_id, "now": now})
    if vehicle.company:
        write_notice(queue, company=vehicle.company, body=notice_body(
            incident_id=incident_id, plate=vehicle.plate, vehicle_class=vehicle.vehicle_class,
            rule=event.rule, severity=event.severity, at=event.ts, district=route.district,
            district_name=route.district_name, lon=event.lon, lat=event.lat,
            details=dict(event.details), tz=router.tz))
    enqueue_for_incident(queue, incident_id=incident_id, severity=event.severity, route=route,
                         company=vehicle.company, local=event.ts.astimezone(router.tz), now=now)
