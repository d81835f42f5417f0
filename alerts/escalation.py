"""Escalation (contract §6): serious/critical incidents not acknowledged in time go
to the district's supervisor. Takes ``now`` so tests replay time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Delivery, Incident, IncidentTransition
from alerts.outbox import NOTIFY_CHANNEL


def escalate_due(session: Session, *, now: datetime,
                 timeouts_s: Mapping[str, float]) -> list[int]:
    """Escalate every open incident whose acknowledgement deadline has passed."""
    escalated: list[int] = []
    for severity, timeout in timeouts_s.items():
        due = session.scalars(
            select(Incident)
            .where(Incident.status == "open", Incident.severity == severity,
                   Incident.created_at <= now - timedelta(seconds=timeout))
            .with_for_update(skip_locked=True)
        ).all()
        for incident in due:
            session.add(IncidentTransition(incident_id=incident.id, at=now, actor="system",
                                           from_status="open", to_status="escalated",
                                           note=f"not acknowledged within {timeout:.0f} s"))
            incident.status, incident.escalated_at, incident.updated_at = "escalated", now, now
            if incident.supervisor:
                session.add(Delivery(incident_id=incident.id, purpose="escalation",
                                     recipient_kind="supervisor", recipient=incident.supervisor,
                                     channel="live", status="pending", attempts=0,
                                     next_attempt_at=now))
            escalated.append(incident.id)
    if escalated:
        session.flush()
        from sqlalchemy import text

        for incident_id in escalated:
            session.execute(text("SELECT pg_notify(:c, :p)"),
                            {"c": NOTIFY_CHANNEL, "p": str(incident_id)})
    return escalated
