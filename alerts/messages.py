"""Claimed outbox rows → channel ``Message``s (addresses and content read at send
time; a notice's text was fixed when the incident was written)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.channels.base import DeliveryError, Message
from alerts.models import Delivery, Incident, Notice
from alerts.render import digest_text, incident_dict, officer_text
from registry.models import Company, Officer

_ADDRESS = {  # channel → (officer attribute, company attribute)
    "webhook": (None, "webhook_url"), "email": ("email", "email"), "sms": ("phone", "sms"),
}


def build(session: Session, row: Any, tz: tzinfo) -> Message:
    """One message for a claimed row; ``DeliveryError`` (permanent) if it cannot be made."""
    who = (session.get(Company, row.recipient) if row.recipient_kind == "company"
           else session.get(Officer, row.recipient))
    if who is None:
        raise DeliveryError(f"{row.recipient_kind} {row.recipient} no longer exists",
                            permanent=True)
    attribute = _ADDRESS.get(row.channel, (None, None))[row.recipient_kind == "company"]
    address = getattr(who, attribute) if attribute else None
    subject, text, body = _content(session, row, tz)
    body = {"delivery_id": row.id, "purpose": row.purpose, **body}
    return Message(delivery_id=row.id, channel=row.channel, recipient=row.recipient,
                   address=address, subject=subject, text=text, body=body,
                   secret=getattr(who, "webhook_secret", None))


def _content(session: Session, row: Any, tz: tzinfo) -> tuple[str, str, dict[str, Any]]:
    if row.purpose == "digest":
        ids = session.scalars(select(Delivery.incident_id).where(Delivery.digest_id == row.id)
                              .order_by(Delivery.incident_id)).all()
        docs = [incident_dict(i, tz) for i in
                session.scalars(select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id))]
        subject, text = digest_text(docs)
        return subject, text, {"incidents": docs}
    incident = session.get(Incident, row.incident_id)
    if incident is None:
        raise DeliveryError(f"incident {row.incident_id} is gone", permanent=True)
    doc = incident_dict(incident, tz)
    if row.purpose == "notice":
        notice = session.scalar(select(Notice).where(Notice.incident_id == row.incident_id))
        if notice is None:
            raise DeliveryError(f"no notice for incident {row.incident_id}", permanent=True)
        return notice.title, f"{notice.title}\n{notice.text}", {
            "notice": {"id": notice.id, "title": notice.title, "text": notice.text,
                       **notice.body}, "incident": doc}
    subject, text = officer_text(row.purpose, doc)
    return subject, text, {"incident": doc}
