"""Re-play dead letters into the pipeline once their cause is fixed (e.g. after an
unknown device was registered). The original row is kept and marked replayed; a
message that still fails becomes a new dead letter with the current reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from ingest.messages import InboundMessage
from ingest.models import DeadLetter
from ingest.pipeline import Pipeline


def replay(pipeline: Pipeline, ids: Sequence[int], now: datetime) -> dict[str, int]:
    """Feed the chosen MQTT dead letters through the pipeline again, in id order."""
    with pipeline.factory() as session:
        rows = session.scalars(select(DeadLetter).where(
            DeadLetter.id.in_(ids), DeadLetter.replayed_at.is_(None),
            DeadLetter.topic.is_not(None)).order_by(DeadLetter.id)).all()
    messages = [InboundMessage(topic=r.topic, payload=r.payload, received_at=now,
                               source="replay") for r in rows]  # type: ignore[arg-type]
    if not messages:
        return {"replayed": 0, "stored": 0, "rejected": 0}
    batch = pipeline.process(messages, now)
    with pipeline.factory() as session, session.begin():
        session.execute(update(DeadLetter).where(DeadLetter.id.in_([r.id for r in rows]))
                        .values(replayed_at=now))
    return {"replayed": len(rows), "stored": batch.stored, "rejected": len(batch.rejections)}
