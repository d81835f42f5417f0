"""The value types every stage shares: fixes, tachograph events and rule events.

They live in ``rules`` because rules are the innermost consumer (``rules`` may
only use ``geo``); ``ingest`` and ``alerts`` import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

VEHICLE_CLASSES: tuple[str, ...] = (
    "muck_truck",
    "school_bus",
    "hazmat",
    "coach",
    "freight",
    "rural_van",
    "low_speed_truck",
)

SEVERITIES: tuple[str, ...] = ("info", "warning", "serious", "critical")

TACHO_EVENTS: tuple[str, ...] = (
    "driver_login",
    "driver_logout",
    "accident_suspect",
    "body_lift",
    "body_lower",
    "cover_open",
    "cover_close",
    "power_on",
    "power_off",
    "overload",
)


@dataclass(frozen=True, slots=True)
class Fix:
    """One validated GPS fix (contract §3), optionally annotated by enrichers.

    ``ts`` is timezone-aware. Enrichers fill ``district``, ``zones`` (ids of the
    geofences whose area contains the fix) and ``flags`` (e.g. ``"jump"`` for an
    impossible jump, ``"poor_acc"``, ``"late"``) with ``dataclasses.replace``;
    a rule never changes a fix.
    """

    device_id: str
    ts: datetime
    lat: float
    lon: float
    speed: float | None = None
    heading: float | None = None
    alt: float | None = None
    acc: float | None = None
    ign: bool | None = None
    seq: int | None = None
    alarms: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    vehicle_id: int | None = None
    district: str | None = None
    zones: tuple[int, ...] = ()
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TachoEvent:
    """One tachograph/sensor event (contract §3)."""

    device_id: str
    ts: datetime
    event: str
    driver: str | None = None
    lat: float | None = None
    lon: float | None = None
    speed: float | None = None
    vehicle_id: int | None = None


EventAction = Literal["open", "update", "close", "instant"]


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """What a rule emits. ``alerts`` turns these into incidents.

    An episode is identified by (vehicle, ``rule``, ``key``): ``key`` is the zone
    id as a string for zone rules, a driver id for per-driver rules, else ``""``.
    ``open`` starts an episode, ``update`` refreshes it (worse severity, max
    speed, last position), ``close`` ends it at ``ts``; ``instant`` is a
    one-off incident (e.g. ``illegal_unloading``) that opens and ends at once.
    """

    rule: str
    action: EventAction
    ts: datetime
    severity: str = "warning"
    key: str = ""
    lat: float | None = None
    lon: float | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
