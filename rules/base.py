"""What every rule shares: the vehicle, the context, the rule record, events.

Kept apart from ``engine`` so rule modules can import it without a cycle
(the engine imports the registry, which imports every rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from geo.fences import fence_applies
from geo.index import FenceIndex
from rules.types import RuleEvent

if TYPE_CHECKING:
    from rules.batch import Batch
    from rules.params import RuleParams

State = dict[str, Any]
_NONE: frozenset[int] = frozenset()
Result = tuple[State, list[RuleEvent]]


@dataclass(frozen=True, slots=True)
class VehicleInfo:
    """The registry facts rules need about one vehicle."""

    vehicle_id: int
    plate: str
    vehicle_class: str
    company: str | None = None
    home_district: str | None = None
    granted: frozenset[int] = frozenset()  # approved route/site fence ids


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may read besides its state and the batch."""

    vehicle: VehicleInfo
    index: FenceIndex
    params: RuleParams
    tz: ZoneInfo

    @cached_property
    def approved_routes(self) -> frozenset[int]:
        """The route fences this vehicle is approved to drive (granted or by plate);
        computed once per context (the pipeline keeps a vehicle's context while
        its record and the fence index stay the same)."""
        v, fences = self.vehicle, self.index.fences
        candidates = (*v.granted, *self.index.by_plate.get(v.plate, ()))
        return frozenset(r for r in candidates if (f := fences.get(r)) and f.kind == "route")

    def applicable(self, kind: str, among: Iterable[int]) -> frozenset[int]:
        """The ids in ``among`` (e.g. the zones a batch touched) that are fences
        of ``kind`` applying to this vehicle. Filtering the few zones at hand is
        far cheaper than precomputing applicability over every fence per vehicle."""
        if not among:
            return _NONE
        fences, v = self.index.fences, self.vehicle
        return frozenset(
            i for i in among
            if (f := fences.get(i)) is not None and f.kind == kind
            and fence_applies(f, vehicle_class=v.vehicle_class, plate=v.plate,
                              granted=v.granted))


@dataclass(frozen=True, slots=True)
class Rule:
    """One registered rule: a pure ``evaluate`` and optionally a clock ``tick``."""

    evaluate: Callable[[State, Batch, RuleContext], Result]
    params: type
    tick: Callable[[State, datetime, dict[str, Any], RuleContext], Result] | None = None
    codes: tuple[str, ...] = field(default=())


def event(rule: str, action: str, ts: datetime, *, severity: str = "warning", key: str = "",
          lon: float | None = None, lat: float | None = None, **details: Any) -> RuleEvent:
    """A ``RuleEvent`` with details given as keywords (JSON-friendly values only)."""
    return RuleEvent(rule=rule, action=action, ts=ts, severity=severity, key=key,  # type: ignore[arg-type]
                     lat=lat, lon=lon, details=details)


def from_epoch(ts: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, tz)


SEVERITY_RANK = {"info": 0, "warning": 1, "serious": 2, "critical": 3}
