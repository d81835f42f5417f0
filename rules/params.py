"""Rule parameters: regulation defaults from ``rules.toml``, overridable per
vehicle class, per zone and per vehicle.

Each rule module declares its parameter model (a frozen dataclass whose field
defaults are the code's fallbacks); ``rules.toml`` holds the regulation values
and ``overrides`` (a plain dict the API can store) refines them::

    {"class": {"coach": {"speeding": {"night_factor": 0.8}}},
     "zone": {"17": {"membership": {"confirm_s": 30}}},
     "vehicle": {"42": {"fatigue_driving": {"limit_s": 10800}}}}

Precedence: defaults < class < zone < vehicle. Mappings (e.g. speed limits per
class) merge key by key. Everything is validated at load so that a typo fails
at start-up, not in the hot path.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

DEFAULT_PATH = Path(__file__).with_name("rules.toml")
_SCOPES = ("class", "zone", "vehicle")


class RuleConfigError(ValueError):
    """A bad rule parameter or override (maps to HTTP 422 like GeoError)."""


class _Vehicle(Protocol):
    vehicle_id: int
    vehicle_class: str


def build_model(model: type, values: Mapping[str, Any], *, where: str) -> Any:
    """Build a parameter dataclass, checking names and types against its defaults."""
    known = {f.name: f for f in fields(model)}
    unknown = set(values) - known.keys()
    if unknown:
        raise RuleConfigError(f"{where}: unknown parameters {sorted(unknown)}")
    kwargs = {name: _coerce(_default(known[name]), value, f"{where}.{name}")
              for name, value in values.items()}
    return model(**kwargs)


def _default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _coerce(default: Any, value: Any, where: str) -> Any:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RuleConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int | float):
        if not number(value):
            raise RuleConfigError(f"{where} must be a number, got {value!r}")
        return type(default)(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise RuleConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise RuleConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if isinstance(value, Mapping) and all(number(v) or isinstance(v, str)
                                          for v in value.values()):
        return dict(value)
    raise RuleConfigError(f"{where} must be a table of values, got {value!r}")


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _default_models() -> dict[str, type]:
    # Imported here: the registry imports every rule module, which import this one.
    from rules.registry import PARAM_MODELS

    return dict(PARAM_MODELS)


@dataclass(frozen=True)
class RuleParams:
    """Immutable parameter set; ``with_overrides`` returns a new one."""

    defaults: dict[str, dict[str, Any]]
    overrides: dict[str, dict[str, dict[str, dict[str, Any]]]]
    models: dict[str, type]
    _cache: dict[tuple, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None,
             overrides: Mapping[str, Any] | None = None) -> RuleParams:
        """Read ``rules.toml`` (its ``[class.<cls>.<rule>]`` tables are class overrides)."""
        try:
            raw = tomllib.loads(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RuleConfigError(f"cannot read rule parameters {path}: {exc}") from exc
        file_overrides = {"class": raw.pop("class", {})}
        params = cls(defaults=raw, overrides={}, models=_default_models())
        return params.with_overrides(file_overrides).with_overrides(overrides or {})

    @classmethod
    def defaults_only(cls) -> RuleParams:
        """Code defaults without any file (for tests that state every value)."""
        return cls(defaults={}, overrides={}, models=_default_models())

    def with_overrides(self, overrides: Mapping[str, Any]) -> RuleParams:
        merged: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
            s: {k: dict(v) for k, v in self.overrides.get(s, {}).items()} for s in _SCOPES}
        for scope, targets in overrides.items():
            if scope not in _SCOPES or not isinstance(targets, Mapping):
                raise RuleConfigError(f"override scope must be one of {_SCOPES}, got {scope!r}")
            for target, rules in targets.items():
                if not isinstance(rules, Mapping):
                    raise RuleConfigError(f"overrides.{scope}.{target} must be a table")
                slot = merged[scope].setdefault(str(target), {})
                for rule, values in rules.items():
                    slot[rule] = _merge(slot.get(rule, {}), values)
        new = RuleParams(self.defaults, merged, self.models)
        new.validate()
        return new

    def validate(self) -> None:
        """Build every model in every scope once so that errors surface now."""
        for rule in self.defaults:
            if rule not in self.models:
                raise RuleConfigError(f"rules.toml: unknown rule {rule!r}")
        for scope, targets in self.overrides.items():
            for target, rules in targets.items():
                for rule, values in rules.items():
                    where = f"overrides.{scope}.{target}.{rule}"
                    if rule not in self.models:
                        raise RuleConfigError(f"{where}: unknown rule")
                    build_model(self.models[rule],
                                _merge(self.defaults.get(rule, {}), values), where=where)

    def for_vehicle(self, vehicle: _Vehicle, rule: str) -> Any:
        """The rule's parameter model for this vehicle (class and vehicle overrides)."""
        # Hot path (every rule, every batch): most vehicles have no overrides of their own.
        overridden = self.overrides.get("vehicle")
        if not overridden or str(vehicle.vehicle_id) not in overridden:
            key = ("class", rule, vehicle.vehicle_class)
            model = self._cache.get(key)
            if model is None:
                model = self._cache[key] = self.for_zone(vehicle, rule, None)
            return model
        return self.for_zone(vehicle, rule, None)

    def for_zone(self, vehicle: _Vehicle, rule: str, zone_id: int | None) -> Any:
        """As ``for_vehicle``, with the zone's overrides between class and vehicle."""
        vid = str(vehicle.vehicle_id)
        zone = str(zone_id) if zone_id is not None else None
        has_vehicle = rule in self.overrides.get("vehicle", {}).get(vid, {})
        has_zone = zone is not None and rule in self.overrides.get("zone", {}).get(zone, {})
        key = (rule, vehicle.vehicle_class, zone if has_zone else None,
               vid if has_vehicle else None)
        model = self._cache.get(key)
        if model is None:
            values = self.defaults.get(rule, {})
            for scope, target in (("class", vehicle.vehicle_class), ("zone", key[2]),
                                  ("vehicle", key[3])):
                if target is not None:
                    values = _merge(values, self.overrides[scope].get(target, {}).get(rule, {}))
            model = build_model(self.models[rule], values, where=rule)
            self._cache[key] = model
        return model

    def zones_with(self, rule: str) -> frozenset[int]:
        """Zone ids that override ``rule`` (lets hot paths skip per-zone lookups)."""
        key = ("zones_with", rule)
        zones = self._cache.get(key)
        if zones is None:
            zones = frozenset(int(z) for z, rules in self.overrides.get("zone", {}).items()
                              if rule in rules)
            self._cache[key] = zones
        return zones
