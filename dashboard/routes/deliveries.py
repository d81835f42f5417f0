"""/api/v1/deliveries — the outbox as admins and supervisors see it: every delivery
with its attempts, and the channel/recipient pairs marked failing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from alerts.models import Delivery, DeliveryAttempt, DeliveryTarget, Incident
from dashboard.deps import CurrentUser, SessionDep, require_roles
from dashboard.routes.registry_api import BigId, Limit, Offset, found
from dashboard.scope import incidents_visible, scoped

router = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"],
                   dependencies=[require_roles("admin", "supervisor")])


class AttemptOut(BaseModel):
    at: datetime
    ok: bool
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    incident_id: int
    purpose: str
    recipient_kind: str
    recipient: str
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    digest_id: int | None
    history: list[AttemptOut] | None = None


class TargetOut(BaseModel):
    channel: str
    recipient: str
    failing: bool
    consecutive_failures: int
    last_error: str | None
    last_success_at: datetime | None
    last_failure_at: datetime | None


def _scoped(user: CurrentUser):  # type: ignore[no-untyped-def]
    query = select(Delivery).join(Incident, Incident.id == Delivery.incident_id)
    return scoped(query, incidents_visible(user))


def _out(row: Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row, from_attributes=True)


@router.get("", response_model=list[DeliveryOut])
def list_deliveries(
    session: SessionDep, user: CurrentUser,
    status: Annotated[str | None, Query(
        pattern="^(pending|sending|sent|failed|folded|digested|skipped)$")] = None,
    channel: str | None = None, recipient: str | None = None, incident_id: BigId | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DeliveryOut]:
    query = _scoped(user)
    for column, value in ((Delivery.status, status), (Delivery.channel, channel),
                          (Delivery.recipient, recipient), (Delivery.incident_id, incident_id)):
        if value is not None:
            query = query.where(column == value)
    rows = session.scalars(query.order_by(Delivery.id.desc()).limit(limit).offset(offset))
    return [_out(row) for row in rows]


@router.get("/targets", response_model=list[TargetOut])
def list_targets(session: SessionDep, failing: bool | None = None) -> list[TargetOut]:
    """Channel/recipient health; ``failing=true`` lists those marked failing."""
    query = select(DeliveryTarget)
    if failing is not None:
        query = query.where(DeliveryTarget.failing == failing)
    rows = session.scalars(query.order_by(DeliveryTarget.channel, DeliveryTarget.recipient))
    return [TargetOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/stats")
def delivery_stats(session: SessionDep) -> dict[str, dict[str, int]]:
    """Counts by channel and status (the same across processes, unlike the metric)."""
    out: dict[str, dict[str, int]] = {}
    for channel, status, count in session.execute(
            select(Delivery.channel, Delivery.status, func.count()).group_by(
                Delivery.channel, Delivery.status)):
        out.setdefault(channel, {})[status] = count
    return out


@router.get("/{delivery_id}", response_model=DeliveryOut)
def get_delivery(delivery_id: BigId, session: SessionDep, user: CurrentUser) -> DeliveryOut:
    row = found(session.scalar(_scoped(user).where(Delivery.id == delivery_id)),
                f"delivery {delivery_id}")
    out = _out(row)
    out.history = [AttemptOut(at=a.at, ok=a.ok, error=a.error) for a in session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == row.id)
        .order_by(DeliveryAttempt.id))]
    return out
