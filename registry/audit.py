"""The audit log: who did what, when, from where, with what outcome. Append-only — this
module only inserts and reads; a trigger refuses UPDATE and DELETE (migration 0400)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import AuditEntry

log = logging.getLogger(__name__)


def record(sessions: Callable[[], Session], **fields: Any) -> None:
    """Writes one entry in its own transaction, so it stays even when the request's
    transaction rolls back. A failure to audit is logged, never raised into the request."""
    try:
        with sessions() as session:
            session.add(AuditEntry(**fields))
            session.commit()
    except Exception:  # noqa: BLE001 - the request's own outcome must not change
        log.exception("could not write the audit entry %s", fields)


def search(session: Session, *, actor: str | None = None, action: str | None = None,
           outcome: str | None = None, method: str | None = None, path: str | None = None,
           address: str | None = None, since: datetime | None = None,
           until: datetime | None = None, limit: int = 100, offset: int = 0
           ) -> tuple[int, list[AuditEntry]]:
    """Newest first; ``path`` matches a prefix."""
    query = select(AuditEntry)
    for column, value in ((AuditEntry.actor, actor), (AuditEntry.action, action),
                          (AuditEntry.outcome, outcome), (AuditEntry.method, method),
                          (AuditEntry.address, address)):
        if value is not None:
            query = query.where(column == value)
    if path:
        query = query.where(AuditEntry.path.startswith(path, autoescape=True))
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return total, list(rows)
