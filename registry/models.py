"""Registry tables: districts, officers, companies, drivers, vehicles, devices,
geofences, inspections and accounts. Geometry types stop at the repository."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keywatch.db import Base


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Officer(Base):
    __tablename__ = "officers"
    badge: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="officer")
    roster: Mapped[list[Any] | None] = mapped_column(JSONB)
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class District(Base):
    __tablename__ = "districts"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    officer_badge: Mapped[str | None] = mapped_column(ForeignKey("officers.badge"))
    supervisor_badge: Mapped[str | None] = mapped_column(ForeignKey("officers.badge"))


class OfficerDistrict(Base):
    __tablename__ = "officer_districts"
    badge: Mapped[str] = mapped_column(ForeignKey("officers.badge"), primary_key=True)
    district: Mapped[str] = mapped_column(ForeignKey("districts.code"), primary_key=True)


class Company(Base):
    __tablename__ = "companies"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    licence_no: Mapped[str | None] = mapped_column(String(18))
    contact: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    sms: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Driver(Base):
    __tablename__ = "drivers"
    licence_no: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))
    company_code: Mapped[str | None] = mapped_column(ForeignKey("companies.code"), index=True)
    qualifications: Mapped[list[Any] | None] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Geofence(Base):
    __tablename__ = "geofences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    classes: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    plates: Mapped[list[str]] = mapped_column(ARRAY(String(12)), default=list)
    schedule: Mapped[list[Any] | None] = mapped_column(JSONB)
    speed_limit: Mapped[Any | None] = mapped_column(JSONB)
    buffer_m: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=True), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    updated_at: Mapped[datetime] = _now_column()


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate: Mapped[str] = mapped_column(String(12), unique=True)
    vin: Mapped[str | None] = mapped_column(String(17))
    vehicle_class: Mapped[str] = mapped_column(String(20), index=True)
    company_code: Mapped[str | None] = mapped_column(ForeignKey("companies.code"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(32))
    home_district: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    officer_badge: Mapped[str | None] = mapped_column(ForeignKey("officers.badge"))
    driver_licence: Mapped[str | None] = mapped_column(ForeignKey("drivers.licence_no"))
    permit_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_at: Mapped[datetime] = _now_column()
    __table_args__ = (
        Index(
            "uq_vehicles_active_device",
            "device_id",
            unique=True,
            postgresql_where=text("status = 'active' AND device_id IS NOT NULL"),
        ),
    )


class VehicleGrant(Base):
    """Approved routes and sites of a vehicle (geofence references)."""

    __tablename__ = "vehicle_grants"
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), primary_key=True)
    geofence_id: Mapped[int] = mapped_column(ForeignKey("geofences.id"), primary_key=True)


class DeviceBinding(Base):
    """Which vehicle a terminal spoke for, and when (history is never lost)."""

    __tablename__ = "device_bindings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    bound_at: Mapped[datetime] = _now_column()
    unbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Inspection(Base):
    """One muck truck's monthly hazard inspection (每月隐患排查); re-uploads supersede."""

    __tablename__ = "inspections"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    month: Mapped[str] = mapped_column(String(7))
    inspected_on: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(50))
    items: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hazards: Mapped[str | None] = mapped_column(Text)
    rectification_deadline: Mapped[date | None] = mapped_column(Date)
    rectification_status: Mapped[str | None] = mapped_column(String(12))
    photos: Mapped[list[str] | None] = mapped_column(JSONB)
    uploaded_by: Mapped[str | None] = mapped_column(String(50))
    uploaded_at: Mapped[datetime] = _now_column()
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index(
            "uq_inspections_current",
            "vehicle_id",
            "month",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    company_code: Mapped[str | None] = mapped_column(ForeignKey("companies.code"))
    officer_badge: Mapped[str | None] = mapped_column(ForeignKey("officers.badge"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = _now_column()


# --- security (issue 8): refresh tokens, login throttling, the audit log ---

class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256; one ``family`` per sign-in so reuse
    of a rotated token revokes the whole chain."""

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = _now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Failed sign-ins per username and address; in PostgreSQL so a lockout survives
    restarts and holds across web processes."""

    __tablename__ = "login_throttle"
    username: Mapped[str] = mapped_column(String(50), primary_key=True)
    address: Mapped[str] = mapped_column(String(45), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Append-only: a trigger refuses UPDATE and DELETE (migration 0400)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                         nullable=False, index=True)
    actor: Mapped[str | None] = mapped_column(String(50), index=True)
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20), index=True)
    method: Mapped[str | None] = mapped_column(String(10))
    path: Mapped[str | None] = mapped_column(Text)
    route: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
