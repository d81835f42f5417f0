"""Escalation (contract §6): serious/critical incidents not acknowledged in time go
to the district's supervisor. Takes ``now`` so tests replay time.

A supervisor who was already told of a ``critical`` incident at once is not
sent it a second time: the escalation is then a status change on the live map.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from alerts.models import Delivery, Incident, IncidentTransition
from alerts.outbox import officer_deliveries, pending


def escalate_due(session: Session, *, now: datetime, timeouts_s: Mapping[str, float],
                 tz: tzinfo | None = None) -> list[int]:
    """Escalate every open incident whose acknowledgement deadline has passed."""
    escalated: list[int] = []
    for severity, timeout in timeouts_s.items():
        due = session.scalars(
            select(Incident)
            .where(Incident.status == "open", Incident.severity == severity,
                   Incident.created_at <= now - timedelta(seconds=timeout))
            .order_by(Incident.id)
            .with_for_update(skip_locked=True)
        ).all()
        for incident in due:
            _escalate(session, incident, now=now, timeout=timeout, tz=tz)
            escalated.append(incident.id)
    return escalated


def _escalate(session: Session, incident: Incident, *, now: datetime, timeout: float,
              tz: tzinfo | None) -> None:
    session.add(IncidentTransition(incident_id=incident.id, at=now, actor="system",
                                   from_status="open", to_status="escalated",
                                   note=f"not acknowledged within {timeout:.0f} s"))
    incident.status, incident.escalated_at, incident.updated_at = "escalated", now, now
    session.flush()
    with pending(session) as queue:
        if incident.supervisor and not _already_told(session, incident):
            officer_deliveries(queue, incident_id=incident.id, purpose="escalation",
                               recipients=[("supervisor", incident.supervisor)],
                               severity=incident.severity, local=now.astimezone(tz), now=now)
        queue.notify(incident.id)


def _already_told(session: Session, incident: Incident) -> bool:
    return bool(session.scalar(select(exists().where(
        Delivery.incident_id == incident.id, Delivery.recipient == incident.supervisor,
        Delivery.purpose == "incident"))))
