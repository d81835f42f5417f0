"""The transactional outbox: delivery rows written with the incident, sent later
by the dispatcher. The unique index (incident, purpose, recipient, channel)
means none is sent twice for the same incident and recipient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

_INSERT = text("""
INSERT INTO deliveries (incident_id, purpose, recipient_kind, recipient, channel, status,
                        attempts, next_attempt_at)
VALUES (:incident_id, :purpose, :kind, :recipient, :channel, 'pending', 0, :now)
ON CONFLICT DO NOTHING
""")

NOTIFY_CHANNEL = "keywatch_outbox"


def enqueue_for_incident(session: Session, *, incident_id: int, severity: str,
                         officer: str | None, supervisor: str | None, company: str | None,
                         now: datetime) -> None:
    """Officer (live), the supervisor at once for ``critical``, the company's notice."""
    rows = []
    if officer:
        rows.append(("incident", "officer", officer, "live"))
    if supervisor and severity == "critical":
        rows.append(("incident", "supervisor", supervisor, "live"))
    if company:
        rows.append(("notice", "company", company, "portal"))
    for purpose, kind, recipient, channel in rows:
        session.execute(_INSERT, {"incident_id": incident_id, "purpose": purpose, "kind": kind,
                                  "recipient": recipient, "channel": channel, "now": now})
    session.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": str(incident_id)})
