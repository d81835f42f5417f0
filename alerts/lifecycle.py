"""Incident lifecycle: open → acknowledged → resolved; every transition recorded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from alerts.models import Incident, IncidentTransition
from keywatch.errors import Conflict, Invalid

OUTCOMES = ("confirmed", "false_alarm", "handled")


def _transition(session: Session, incident: Incident, *, to: str, actor: str, now: datetime,
                note: str | None) -> None:
    session.add(IncidentTransition(incident_id=incident.id, at=now, actor=actor,
                                   from_status=incident.status, to_status=to, note=note))
    incident.status = to
    incident.updated_at = now


def acknowledge(session: Session, incident: Incident, *, actor: str, now: datetime,
                note: str | None = None) -> Incident:
    if incident.status not in ("open", "escalated"):
        raise Conflict(f"incident {incident.id} is {incident.status}; only open or escalated "
                       "incidents can be acknowledged")
    _transition(session, incident, to="acknowledged", actor=actor, now=now, note=note)
    incident.acknowledged_by, incident.acknowledged_at = actor, now
    return incident


def resolve(session: Session, incident: Incident, *, actor: str, now: datetime, outcome: str,
            note: str | None = None) -> Incident:
    if outcome not in OUTCOMES:
        raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}")
    if incident.status == "resolved":
        raise Conflict(f"incident {incident.id} is already resolved")
    _transition(session, incident, to="resolved", actor=actor, now=now, note=note)
    incident.resolved_by, incident.resolved_at, incident.outcome = actor, now, outcome
    return incident
