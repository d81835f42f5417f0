"""Retention: drop daily fix partitions older than ``KEYWATCH_RETENTION_DAYS``.

Fixes within ``EVIDENCE_MARGIN`` of an incident of the same vehicle are copied
to ``evidence_fixes`` first, so an incident's track survives its partition.
Takes ``now`` explicitly.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
EVIDENCE_MARGIN = timedelta(minutes=10)
_PARTITION = re.compile(r"^fixes_(\d{8})$")

_KEEP_EVIDENCE = text("""
INSERT INTO evidence_fixes
SELECT f.* FROM {partition} f
WHERE EXISTS (
    SELECT 1 FROM incidents i
    WHERE i.vehicle_id = f.vehicle_id
      AND f.ts BETWEEN i.started_at - :margin AND coalesce(i.ended_at, i.started_at) + :margin)
ON CONFLICT DO NOTHING
""")


def expired_partitions(session: Session, *, keep_days: int, now: datetime) -> list[str]:
    cutoff = (now.astimezone(UTC) - timedelta(days=keep_days)).date()
    names = session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'fixes'")).scalars()
    expired = []
    for name in names:
        match = _PARTITION.match(name)
        if match and date(int(match[1][:4]), int(match[1][4:6]), int(match[1][6:])) < cutoff:
            expired.append(name)
    return sorted(expired)


def drop_expired(session: Session, *, keep_days: int, now: datetime) -> list[str]:
    """Keep evidence, then detach and drop each expired day; returns the dropped names."""
    dropped = []
    for name in expired_partitions(session, keep_days=keep_days, now=now):
        kept = session.execute(text(_KEEP_EVIDENCE.text.format(partition=name)),
                               {"margin": EVIDENCE_MARGIN}).rowcount
        session.execute(text(f"ALTER TABLE fixes DETACH PARTITION {name}"))
        session.execute(text(f"DROP TABLE {name}"))
        log.info("retention: dropped %s, kept %d evidence fixes", name, kept)
        dropped.append(name)
    return dropped
