"""Geofences (contract section 4): validation of GeoJSON Features and applicability.

Validation happens once, when a fence is created, so that the hot path (the
index and the rules) can trust every ``Fence`` it sees. Every refusal is a
``GeoError`` with a message an operator can act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.errors import GeoError
from geo.schedule import Schedule

# Contract section 2. Duplicated from rules.types because geo imports nothing of
# ours; a test asserts both tuples stay equal.
VEHICLE_CLASSES: frozenset[str] = frozenset(
    {"muck_truck", "school_bus", "hazmat", "coach", "freight", "rural_van", "low_speed_truck"}
)
KINDS: frozenset[str] = frozenset({"restricted", "speed", "route", "site", "watch"})
# Route and site fences are permits: a vehicle may be granted them by id.
GRANTABLE_KINDS: frozenset[str] = frozenset({"route", "site"})
_LINEAR = ("LineString", "MultiLineString")
_AREAL = ("Polygon", "MultiPolygon")


@dataclass(frozen=True, slots=True)
class Fence:
    """A validated geofence; ``geometry`` is WGS-84 (lon, lat)."""

    id: int
    name: str
    kind: str
    geometry: BaseGeometry
    classes: frozenset[str] = frozenset()
    plates: frozenset[str] = frozenset()
    schedule: Schedule | None = None
    speed_limit: float | dict[str, float] | None = None
    buffer_m: float | None = None
    ref: str | None = None

    def limit_for(self, vehicle_class: str) -> float | None:
        """The zone's speed limit for a class, or ``None`` when it sets none."""
        if isinstance(self.speed_limit, dict):
            return self.speed_limit.get(vehicle_class)
        return self.speed_limit


def fence_applies(fence: Fence, *, vehicle_class: str, plate: str,
                  granted: frozenset[int]) -> bool:
    """Whether a fence concerns a vehicle.

    Empty ``classes`` means every class; non-empty ``plates`` restricts the
    fence to those plates. A route or site is also the vehicle's when its id is
    in the vehicle's permits (``granted``), whatever its classes say.
    """
    if fence.kind in GRANTABLE_KINDS and fence.id in granted:
        return True
    if fence.classes and vehicle_class not in fence.classes:
        return False
    return not fence.plates or plate in fence.plates


def fence_from_feature(feature: Mapping[str, Any], *, id: int) -> Fence:
    """Validate a GeoJSON Feature (contract section 4) and build a ``Fence``."""
    if not isinstance(feature, Mapping) or feature.get("type", "Feature") != "Feature":
        raise GeoError("a geofence must be a GeoJSON Feature object")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        raise GeoError("a geofence Feature needs a 'properties' object")
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        raise GeoError("properties.name must be a non-empty string")
    kind = props.get("kind")
    if kind not in KINDS:
        raise GeoError(f"properties.kind must be one of {sorted(KINDS)}, got {kind!r}")
    buffer_m = _positive(props.get("buffer_m"), "properties.buffer_m")
    if kind == "route" and buffer_m is None:
        raise GeoError("a route needs properties.buffer_m > 0 (corridor half-width in metres)")
    speed_limit = _speed_limit(props.get("speed_limit"))
    if kind == "speed" and speed_limit is None:
        raise GeoError("a speed zone needs properties.speed_limit (km/h or {class: km/h})")
    ref = props.get("ref")
    if ref is not None and not isinstance(ref, str):
        raise GeoError("properties.ref must be a string")
    return Fence(
        id=int(id), name=name.strip(), kind=kind,
        geometry=_geometry(feature.get("geometry"), kind),
        classes=_classes(props.get("classes")),
        plates=_strings(props.get("plates"), "properties.plates"),
        schedule=Schedule.parse(props.get("schedule")),
        speed_limit=speed_limit, buffer_m=buffer_m, ref=ref,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if not _number(value) or value <= 0:
        raise GeoError(f"{field} must be a number > 0, got {value!r}")
    return float(value)


def _strings(value: Any, field: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GeoError(f"{field} must be a list of non-empty strings")
    return frozenset(value)


def _classes(value: Any) -> frozenset[str]:
    classes = _strings(value, "properties.classes")
    unknown = classes - VEHICLE_CLASSES
    if unknown:
        raise GeoError(
            f"unknown vehicle classes {sorted(unknown)}; known: {sorted(VEHICLE_CLASSES)}"
        )
    return classes


def _speed_limit(value: Any) -> float | dict[str, float] | None:
    if value is None or _number(value):
        return _positive(value, "properties.speed_limit")
    if not isinstance(value, Mapping) or not value:
        raise GeoError("properties.speed_limit must be km/h or a non-empty {class: km/h} object")
    unknown = set(value) - VEHICLE_CLASSES
    if unknown:
        raise GeoError(f"speed_limit names unknown vehicle classes {sorted(unknown)}")
    return {cls: _positive(v, f"properties.speed_limit.{cls}") for cls, v in value.items()}


def _geometry(raw: Any, kind: str) -> BaseGeometry:
    if not isinstance(raw, Mapping):
        raise GeoError("a geofence Feature needs a 'geometry' object")
    try:
        geom = shapely.force_2d(shape(raw))
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise GeoError(f"invalid GeoJSON geometry: {exc}") from exc
    wanted = _LINEAR if kind == "route" else _AREAL
    if geom.geom_type not in wanted:
        raise GeoError(f"a {kind} fence needs a {' or '.join(wanted)}, got {geom.geom_type}")
    if geom.is_empty:
        raise GeoError("the geometry is empty")
    coords = shapely.get_coordinates(geom)
    lon, lat = coords[:, 0], coords[:, 1]
    if not (((lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)).all()):
        raise GeoError("coordinates must be [lon, lat] in WGS-84 degrees (lon -180..180, "
                       "lat -90..90)")
    if kind == "route":
        if geom.length <= 0:
            raise GeoError("a route must have at least two distinct points")
        return geom
    return _valid_area(geom)


def _valid_area(geom: BaseGeometry) -> BaseGeometry:
    """Repair an invalid polygon (e.g. a bow-tie) if a polygonal area survives."""
    if geom.is_valid and geom.area > 0:
        return geom
    reason = shapely.is_valid_reason(geom)
    repaired = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(repaired) if p.geom_type in _AREAL]
    area = shapely.union_all(parts) if parts else None
    if area is None or area.is_empty or area.area <= 0:
        raise GeoError(f"the polygon is invalid ({reason}) and encloses no area after repair")
    return area
