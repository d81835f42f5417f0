"""Digests: info/warning deliveries folded during a burst (more than
``digest_per_minute`` to one officer on one channel) go out as one message when
the first folded row's minute is over."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

_FOLDED = text("""
SELECT id, incident_id, recipient_kind, recipient, channel FROM deliveries
WHERE status = 'folded' AND (recipient, channel) IN (
    SELECT recipient, channel FROM deliveries WHERE status = 'folded' AND next_attempt_at <= :now)
ORDER BY id FOR UPDATE SKIP LOCKED
""")
_DIGEST = text("""
INSERT INTO deliveries (incident_id, purpose, recipient_kind, recipient, channel, status,
                        attempts, next_attempt_at)
VALUES (:incident_id, 'digest', :kind, :recipient, :channel, 'pending', 0, :now)
ON CONFLICT DO NOTHING RETURNING id
""")
_CARRIED = text("UPDATE deliveries SET status = 'digested', digest_id = :digest"
                " WHERE id = ANY(:ids)")


def flush_digests(session: Session, *, now: datetime) -> list[int]:
    """One pending digest per (recipient, channel) whose window closed; returns their ids."""
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for row in session.execute(_FOLDED, {"now": now}):
        groups[(row.recipient_kind, row.recipient, row.channel)].append(row)
    digests = []
    for (kind, recipient, channel), rows in groups.items():
        digest_id = session.execute(_DIGEST, {
            "incident_id": min(r.incident_id for r in rows), "kind": kind,
            "recipient": recipient, "channel": channel, "now": now}).scalar()
        if digest_id is not None:
            session.execute(_CARRIED, {"digest": digest_id, "ids": [r.id for r in rows]})
            digests.append(digest_id)
    return digests
