"""/api/v1/dead-letters — rejected messages with their reason and raw bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from dashboard.deps import CurrentUser, SessionDep, require_roles
from dashboard.routes.registry_api import BigId, Limit, Offset, matching
from ingest.dead_letters import replay as dead_letter_replay
from ingest.models import DeadLetter

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"],
                   dependencies=[require_roles("admin", "supervisor")])


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    source: str
    topic: str | None
    device_id: str | None
    reason: str
    detail: str
    payload_base64: str
    payload_text: str | None
    replayed_at: datetime | None


@router.get("", response_model=list[DeadLetterOut])
def list_dead_letters(
    session: SessionDep, user: CurrentUser, reason: str | None = None,
    device_id: str | None = None, since: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DeadLetterOut]:
    query = matching(select(DeadLetter), (DeadLetter.reason, reason),
                     (DeadLetter.device_id, device_id))
    if since:
        query = query.where(DeadLetter.received_at >= since)
    rows = session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit).offset(offset))
    return [_out(row) for row in rows]


def _out(row: DeadLetter) -> DeadLetterOut:
    try:
        text = row.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return DeadLetterOut(
        id=row.id, received_at=row.received_at, source=row.source, topic=row.topic,
        device_id=row.device_id, reason=row.reason, detail=row.detail,
        payload_base64=base64.b64encode(row.payload).decode(), payload_text=text,
        replayed_at=row.replayed_at,
    )


class ReplayIn(BaseModel):
    model_config = {"extra": "forbid"}
    ids: list[BigId] = Field(min_length=1, max_length=10000)


class ReplayOut(BaseModel):
    replayed: int
    stored: int
    rejected: int


@router.post("/replay", response_model=ReplayOut,
             dependencies=[require_roles("admin")])
def replay_dead_letters(body: ReplayIn, request: Request) -> ReplayOut:
    """Re-play MQTT dead letters (e.g. after registering an unknown device).

    Each is marked replayed; one that still fails is dead-lettered again with
    the current reason. Fixes already stored are not stored twice.
    """
    pipeline = request.app.state.pipeline()
    return ReplayOut(**dead_letter_replay(pipeline, body.ids, datetime.now(UTC)))
