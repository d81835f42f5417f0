"""``inspection_overdue`` (contract §5): at the month's deadline each active muck truck
still missing its hazard inspection gets one incident, routed like any other."""

from __future__ import annotations

from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import exists, text
from sqlalchemy.orm import Session

from alerts.incidents import apply_events
from alerts.models import Incident
from alerts.outbox import Pending, pending
from alerts.routing import Router
from registry.inspections import deadline, missing_query, parse_month
from registry.lookup import VehicleRecord
from registry.models import Vehicle
from rules.types import RuleEvent

RULE = "inspection_overdue"
_LOCK = 7_808_300  # advisory lock: one raise_overdue at a time


def raise_overdue(session: Session, *, month: str, now: datetime, router: Router,
                  tz: ZoneInfo | None = None, deadline_day: int = 0) -> list[int]:
    """One ``inspection_overdue`` incident per active muck truck missing ``month``'s
    inspection, once the deadline has passed at ``now``; ids of incidents opened.
    Idempotent: a truck that already has the month's incident gets no second one."""
    month = parse_month(month)
    due = deadline(month, tz=tz or ZoneInfo("Asia/Shanghai"), deadline_day=deadline_day)
    if now < due:
        return []
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    already = exists().where(Incident.vehicle_id == Vehicle.id, Incident.rule == RULE,
                             Incident.episode_key == month)
    query = missing_query(month).where(~already)
    opened: list[int] = []
    with pending(session) as queue:
        for vehicle in session.scalars(query.order_by(Vehicle.plate)).all():
            opened += _raise_for(session, vehicle, router, month, due, now, queue)
    return opened


def _raise_for(session: Session, vehicle: Vehicle, router: Router, month: str, due: datetime,
               now: datetime, queue: Pending) -> list[int]:
    record = VehicleRecord(
        vehicle_id=vehicle.id, plate=vehicle.plate, vehicle_class=vehicle.vehicle_class,
        device_id=cast(str, vehicle.device_id), company=vehicle.company_code,
        home_district=vehicle.home_district, officer=vehicle.officer_badge,
        granted=frozenset())
    lon, lat = _home_point(router, vehicle.home_district)
    event = RuleEvent(rule=RULE, action="instant", ts=due, severity="warning", key=month,
                      lon=lon, lat=lat, details={"month": month, "deadline": due.isoformat()})
    return apply_events(session, vehicle=record, events=[event],
                        district=vehicle.home_district, router=router, now=now, queue=queue)


def _home_point(router: Router, district: str | None) -> tuple[float | None, float | None]:
    """A point inside the truck's home district: the incident is not at a place, but it
    is routed to (and drawn in) the district responsible for the truck."""
    record = router.districts.get(district) if district else None
    if record is None:
        return None, None
    point = record.geometry.representative_point()  # type: ignore[attr-defined]
    return point.x, point.y
