"""The transactional outbox: delivery rows written in the incident's transaction,
sent later by the dispatcher. The unique index (incident, purpose, recipient,
channel) means none is sent twice for the same incident and recipient.

``live`` and ``portal`` rows are written already ``sent``: the live SSE hub pushes
the incident when the NOTIFY below commits (with this very transaction), and the
portal is ``GET /api/v1/notices`` — nothing is left for the dispatcher to do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.preferences import company_channels, officer_channels
from alerts.routing import Route

NOTIFY_CHANNEL = "keywatch_outbox"
DONE_AT_COMMIT = ("live", "portal")

_INSERT = text("""
INSERT INTO deliveries (incident_id, purpose, recipient_kind, recipient, channel, status,
                        attempts, next_attempt_at, last_error, sent_at)
VALUES (:incident_id, :purpose, :kind, :recipient, :channel, :status, 0, :now, :error, :sent_at)
ON CONFLICT DO NOTHING
""")
_OFFICERS = text("SELECT badge, phone, preferences, active FROM officers"
                 " WHERE badge = ANY(:badges)")
_COMPANY = text("SELECT webhook_url, email, sms, active FROM companies WHERE code = :code")


def notify(session: Session, incident_id: int) -> None:
    """Wake the dispatcher and the live hubs once this transaction commits."""
    session.execute(text("SELECT pg_notify(:c, :p)"),
                    {"c": NOTIFY_CHANNEL, "p": str(incident_id)})


def add_delivery(session: Session, *, incident_id: int, purpose: str, kind: str,
                 recipient: str, channel: str, now: datetime, error: str | None = None) -> None:
    status = "skipped" if error else "sent" if channel in DONE_AT_COMMIT else "pending"
    session.execute(_INSERT, {
        "incident_id": incident_id, "purpose": purpose, "kind": kind, "recipient": recipient,
        "channel": channel, "status": status, "now": now, "error": error,
        "sent_at": now if status == "sent" else None})


def officer_deliveries(session: Session, *, incident_id: int, purpose: str,
                       recipients: list[tuple[str, str]], severity: str, local: datetime,
                       now: datetime) -> None:
    """One row per (recipient, preferred channel); a recipient with none is recorded too."""
    badges = [badge for _, badge in recipients]
    found = {r.badge: r for r in session.execute(_OFFICERS, {"badges": badges})}
    for kind, badge in recipients:
        officer = found.get(badge)
        common: dict[str, Any] = {"incident_id": incident_id, "purpose": purpose,
                                  "kind": kind, "recipient": badge, "now": now}
        if officer is None or not officer.active:
            add_delivery(session, channel="none", error=f"officer {badge} is unknown or inactive",
                         **common)
            continue
        channels = officer_channels(preferences=officer.preferences, phone=officer.phone,
                                    severity=severity, local=local)
        if not channels:
            add_delivery(session, channel="none", error=f"officer {badge} has no channel for "
                         f"{severity} incidents", **common)
        for channel in channels:
            add_delivery(session, channel=channel, **common)


def company_deliveries(session: Session, *, incident_id: int, company: str,
                       now: datetime) -> None:
    row = session.execute(_COMPANY, {"code": company}).one_or_none()
    if row is None or not row.active:
        return
    for channel in company_channels(webhook_url=row.webhook_url, email=row.email, sms=row.sms):
        add_delivery(session, incident_id=incident_id, purpose="notice", kind="company",
                     recipient=company, channel=channel, now=now)


def enqueue_for_incident(session: Session, *, incident_id: int, severity: str, route: Route,
                         company: str | None, local: datetime, now: datetime) -> None:
    """The district's (and the vehicle's) officer; the supervisor at once for ``critical``;
    the company's notice on every channel it registered."""
    recipients = [("officer", badge) for badge in route.officers()]
    if route.supervisor and severity == "critical" and route.supervisor not in route.officers():
        recipients.append(("supervisor", route.supervisor))
    if recipients:
        officer_deliveries(session, incident_id=incident_id, purpose="incident",
                           recipients=recipients, severity=severity, local=local, now=now)
    if company:
        company_deliveries(session, incident_id=incident_id, company=company, now=now)
    notify(session, incident_id)
