"""Ingest tables: fixes (partitioned by day), tachograph events, dead letters
and the per-vehicle checkpoint (rule state + latest position)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keywatch.db import Base

# The idempotency key (device, ts, seq) is the primary key; seq -1 means "absent"
# so the key needs no nullable column. Partitioned by day on ts.
fixes = Table(
    "fixes",
    Base.metadata,
    Column("device_id", String(32), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("seq", BigInteger, nullable=False, server_default="-1"),
    Column("vehicle_id", Integer, nullable=False),
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("speed", Float),
    Column("heading", Float),
    Column("alt", Float),
    Column("acc", Float),
    Column("ign", Boolean),
    Column("alarms", ARRAY(Text)),
    Column("flags", ARRAY(Text)),
    Column("district", String(6)),
    Column("extras", JSONB),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("device_id", "ts", "seq", name="pk_fixes"),
    Index("ix_fixes_vehicle_ts", "vehicle_id", "ts"),
    postgresql_partition_by="RANGE (ts)",
)


class TachoEventRow(Base):
    __tablename__ = "tacho_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32))
    vehicle_id: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(30))
    driver: Mapped[str | None] = mapped_column(String(30))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (
        Index("uq_tacho_events_key", "device_id", "ts", "event", unique=True),
        Index("ix_tacho_events_vehicle_ts", "vehicle_id", "ts"),
    )


class DeadLetter(Base):
    """A message that could not be accepted, with its raw bytes and the reason."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    source: Mapped[str] = mapped_column(String(20))  # mqtt | jt808-tcp | api
    topic: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VehicleState(Base):
    """Checkpoint per vehicle, written in the same transaction as its fixes."""

    __tablename__ = "vehicle_state"
    # updated in place (HOT): no index on a column every update changes, and half of
    # each page left free for the new row version (migration 0520)
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    last_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    ign: Mapped[bool | None] = mapped_column(Boolean)
    district: Mapped[str | None] = mapped_column(String(6))
    fixes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    seq_gaps: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # bumped by every write: the ingest worker's cached copy is valid while equal
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


# Fixes around incidents, kept when their daily partition is dropped by retention.
evidence_fixes = Table(
    "evidence_fixes",
    Base.metadata,
    *(Column(c.name, c.type, nullable=c.nullable) for c in fixes.columns),
    PrimaryKeyConstraint("device_id", "ts", "seq", name="pk_evidence_fixes"),
    Index("ix_evidence_fixes_vehicle_ts", "vehicle_id", "ts"),
)
