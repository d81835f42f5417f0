"""Reassignment: a supervisor or admin hands an incident to another officer; the
transition is recorded and the new officer is told on their channels."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from alerts.models import Incident, IncidentTransition
from alerts.outbox import officer_deliveries, pending
from keywatch.errors import Conflict, Invalid
from registry.models import Officer


def reassign(session: Session, incident: Incident, *, officer: str, actor: str, now: datetime,
             tz: tzinfo | None = None, note: str | None = None) -> Incident:
    if incident.status == "resolved":
        raise Conflict(f"incident {incident.id} is resolved; it cannot be reassigned")
    target = session.get(Officer, officer)
    if target is None or not target.active:
        raise Invalid(f"officer: no active officer with badge {officer!r}")
    if incident.officer == officer:
        raise Conflict(f"incident {incident.id} is already assigned to {officer}")
    previous = incident.officer
    session.add(IncidentTransition(
        incident_id=incident.id, at=now, actor=actor, from_status=incident.status,
        to_status=incident.status,
        note=f"assigned from {previous or '-'} to {officer}" + (f": {note}" if note else "")))
    incident.officer, incident.updated_at = officer, now
    session.flush()
    with pending(session) as queue:
        officer_deliveries(queue, incident_id=incident.id, purpose="assignment",
                           recipients=[("officer", officer)], severity=incident.severity,
                           local=now.astimezone(tz), now=now)
        queue.notify(incident.id)
    return incident
