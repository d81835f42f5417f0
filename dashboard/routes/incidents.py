"""/api/v1/incidents — list (scoped, filtered, paged), read, acknowledge, resolve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, Field
from sqlalchemy import select

from alerts import lifecycle
from alerts.models import Incident
from dashboard.deps import CurrentUser, SessionDep, SettingsDep, local_time, parse_plate
from dashboard.routes.registry_api import BigId, Limit, Offset, found, matching
from dashboard.scope import incidents_visible, may_act_on_incident, scoped
from keywatch.errors import Forbidden

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


class IncidentOut(BaseModel):
    id: int
    rule: str
    severity: str
    status: str
    plate: str
    vehicle_class: str
    device_id: str | None
    company: str | None
    district: str | None
    officer: str | None
    started_at: datetime
    ended_at: datetime | None
    lon: float | None
    lat: float | None
    details: dict[str, Any]
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    outcome: str | None = None


def incident_out(incident: Incident, tz: Any) -> IncidentOut:
    point = to_shape(incident.geom) if incident.geom is not None else None

    def local(t: datetime | None) -> datetime | None:
        return t.astimezone(tz) if t else None

    return IncidentOut(
        id=incident.id, rule=incident.rule, severity=incident.severity, status=incident.status,
        plate=incident.plate, vehicle_class=incident.vehicle_class, device_id=incident.device_id,
        company=incident.company, district=incident.district, officer=incident.officer,
        started_at=local(incident.started_at), ended_at=local(incident.ended_at),
        lon=point.x if point else None, lat=point.y if point else None,
        details=incident.details or {}, acknowledged_by=incident.acknowledged_by,
        acknowledged_at=local(incident.acknowledged_at), resolved_by=incident.resolved_by,
        resolved_at=local(incident.resolved_at), outcome=incident.outcome,
    )


@router.get("", response_model=list[IncidentOut])
def list_incidents(
    session: SessionDep, user: CurrentUser, settings: SettingsDep,
    rule: str | None = None, plate: str | None = None, district: str | None = None,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|escalated|resolved)$")]
    = None,
    since: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[IncidentOut]:
    query = matching(scoped(select(Incident), incidents_visible(user)),
                     (Incident.rule, rule),
                     (Incident.plate, parse_plate(plate) if plate else None),
                     (Incident.district, district), (Incident.status, status))
    if since:
        query = query.where(Incident.started_at >= local_time(since, settings.zone))
    query = query.order_by(Incident.started_at.desc(), Incident.id.desc())
    rows = session.scalars(query.limit(limit).offset(offset))
    return [incident_out(i, settings.zone) for i in rows]


def _visible_incident(session: SessionDep, user: CurrentUser, incident_id: int) -> Incident:
    query = scoped(select(Incident).where(Incident.id == incident_id), incidents_visible(user))
    return found(session.scalar(query), f"incident {incident_id}")


@router.get("/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: BigId, session: SessionDep, user: CurrentUser,
                 settings: SettingsDep) -> IncidentOut:
    return incident_out(_visible_incident(session, user, incident_id), settings.zone)


class AckIn(BaseModel):
    model_config = {"extra": "forbid"}
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    model_config = {"extra": "forbid"}
    outcome: str = Field(pattern="^(confirmed|false_alarm|handled)$")
    note: str | None = Field(default=None, max_length=2000)


@router.post("/{incident_id}/ack", response_model=IncidentOut)
def ack_incident(incident_id: BigId, session: SessionDep, user: CurrentUser,
                 settings: SettingsDep, body: AckIn | None = None) -> IncidentOut:
    incident = _visible_incident(session, user, incident_id)
    if not may_act_on_incident(user, incident):
        raise Forbidden("only the district's officers and supervisors acknowledge incidents")
    lifecycle.acknowledge(session, incident, actor=user.username, now=datetime.now(UTC),
                          note=body.note if body else None)
    session.commit()
    return incident_out(incident, settings.zone)


@router.post("/{incident_id}/resolve", response_model=IncidentOut)
def resolve_incident(incident_id: BigId, body: ResolveIn, session: SessionDep,
                     user: CurrentUser, settings: SettingsDep) -> IncidentOut:
    incident = _visible_incident(session, user, incident_id)
    if not may_act_on_incident(user, incident):
        raise Forbidden("only the district's officers and supervisors resolve incidents")
    lifecycle.resolve(session, incident, actor=user.username, now=datetime.now(UTC),
                      outcome=body.outcome, note=body.note)
    session.commit()
    return incident_out(incident, settings.zone)
