"""Incidents, their transitions, and the delivery outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keywatch.db import Base


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule: Mapped[str] = mapped_column(String(30), index=True)
    episode_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    plate: Mapped[str] = mapped_column(String(12))
    vehicle_class: Mapped[str] = mapped_column(String(20))
    device_id: Mapped[str | None] = mapped_column(String(32))
    company: Mapped[str | None] = mapped_column(String(40), index=True)
    district: Mapped[str | None] = mapped_column(String(6), index=True)
    officer: Mapped[str | None] = mapped_column(String(20), index=True)
    supervisor: Mapped[str | None] = mapped_column(String(20))
    # the vehicle's own responsible officer (责任到人), told too when not ``officer``
    responsible_officer: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    acknowledged_by: Mapped[str | None] = mapped_column(String(50))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(50))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        # one open episode per (vehicle, rule, key): "one episode is one incident"
        Index(
            "uq_incidents_open_episode",
            "vehicle_id",
            "rule",
            "episode_key",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
    )


class IncidentTransition(Base):
    __tablename__ = "incident_transitions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """Outbox row: one message to one recipient on one channel, sent at most once."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(12))  # incident | escalation | notice
    recipient_kind: Mapped[str] = mapped_column(String(12))  # officer | supervisor | company
    recipient: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))  # live | webhook | email | sms
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # a folded info/warning delivery points at the digest that carried it
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    __table_args__ = (
        Index(
            "uq_deliveries_once",
            "incident_id",
            "purpose",
            "recipient",
            "channel",
            unique=True,
        ),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending', 'folded')"),
        ),
        Index("ix_deliveries_recipient_sent", "recipient", "sent_at"),  # digest windows
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class DeliveryTarget(Base):
    """Health of one (channel, recipient): marked failing after repeated errors."""

    __tablename__ = "delivery_targets"
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(40), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notice(Base):
    """A company notice (抄告): one per incident of the company's vehicle, in Chinese."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    company: Mapped[str] = mapped_column(String(40), index=True)
    plate: Mapped[str] = mapped_column(String(12))
    rule: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    district: Mapped[str | None] = mapped_column(String(6))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (Index("uq_notices_incident", "incident_id", unique=True),)
