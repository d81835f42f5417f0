"""The rule table: every rule by name, in the order the engine runs them.

Adding a rule = one module with ``Params`` and ``evaluate`` (and optionally
``tick``) plus one line here; ``rules.toml`` holds its regulation defaults.
"""

from __future__ import annotations

from rules import (
    accident_suspect,
    cover_open_moving,
    daily_driving_limit,
    fatigue_driving,
    forbidden_zone,
    geofence_watch,
    illegal_stop,
    illegal_unloading,
    night_driving,
    route_deviation,
    signal_lost,
    speeding,
    terminal_alarm,
)
from rules.base import Rule
from rules.membership import MembershipParams

RULES: dict[str, Rule] = {
    "speeding": Rule(speeding.evaluate, speeding.Params),
    "forbidden_zone": Rule(forbidden_zone.evaluate, forbidden_zone.Params),
    "route_deviation": Rule(route_deviation.evaluate, route_deviation.Params),
    "fatigue_driving": Rule(fatigue_driving.evaluate, fatigue_driving.Params,
                            tick=fatigue_driving.tick),
    "daily_driving_limit": Rule(daily_driving_limit.evaluate, daily_driving_limit.Params),
    "night_driving": Rule(night_driving.evaluate, night_driving.Params),
    "illegal_stop": Rule(illegal_stop.evaluate, illegal_stop.Params, tick=illegal_stop.tick),
    "illegal_unloading": Rule(illegal_unloading.evaluate, illegal_unloading.Params),
    "cover_open_moving": Rule(cover_open_moving.evaluate, cover_open_moving.Params),
    "signal_lost": Rule(signal_lost.evaluate, signal_lost.Params, tick=signal_lost.tick),
    "accident_suspect": Rule(accident_suspect.evaluate, accident_suspect.Params),
    "terminal_alarm": Rule(terminal_alarm.evaluate, terminal_alarm.Params),
    "geofence_watch": Rule(geofence_watch.evaluate, geofence_watch.Params,
                           codes=geofence_watch.CODES),
}

# Parameter models by section name: every rule plus the shared membership guard.
PARAM_MODELS: dict[str, type] = {
    "membership": MembershipParams,
    **{name: rule.params for name, rule in RULES.items()},
}


def rule_codes() -> tuple[str, ...]:
    """The incident ``rule`` codes this pack can emit (contract section 5)."""
    return tuple(code for name, rule in RULES.items() for code in (rule.codes or (name,)))
