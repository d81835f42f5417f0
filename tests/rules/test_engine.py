import json
import logging

from rules.base import Rule
from rules.engine import RuleEngine
from rules.registry import RULES, rule_codes
from tests.rules.helpers import context, fix, run, tacho


def test_every_contract_rule_is_registered():
    assert set(rule_codes()) == {
        "speeding", "forbidden_zone", "route_deviation", "fatigue_driving",
        "daily_driving_limit", "night_driving", "illegal_stop", "illegal_unloading",
        "cover_open_moving", "signal_lost", "accident_suspect", "terminal_alarm",
        "geofence_enter", "geofence_exit"}


def test_a_failing_rule_is_logged_and_the_others_still_run(caplog):
    def broken(state, batch, ctx):
        raise RuntimeError("boom")

    engine = RuleEngine({"broken": Rule(broken, RULES["terminal_alarm"].params),
                         "terminal_alarm": RULES["terminal_alarm"]})
    ctx = context()
    with caplog.at_level(logging.ERROR, logger="rules.engine"):
        st, ev = engine.process({}, [fix(ctx, 0, alarms=("sos",))], [], ctx)
    assert [(e.rule, e.action, e.severity) for e in ev] == [("terminal_alarm", "open",
                                                           "critical")]
    assert "broken" in caplog.text and "vehicle 1" in caplog.text


def test_input_state_is_never_mutated():
    ctx = context()
    engine = RuleEngine()
    st, _ = engine.process({}, [fix(ctx, 0, speed=90.0)], [], ctx)
    frozen = json.dumps(st, sort_keys=True)
    engine.process(st, [fix(ctx, 40, speed=120.0), fix(ctx, 80, speed=130.0)], [], ctx)
    assert json.dumps(st, sort_keys=True) == frozen


def test_duplicates_and_late_fixes_never_double_count():
    ctx = context()
    batch = [fix(ctx, 0, speed=100.0), fix(ctx, 20, speed=100.0), fix(ctx, 40, speed=100.0)]
    st, (ev1, ev2, ev3) = run(ctx, [batch, batch, list(reversed(batch)) + batch],
                              only="speeding")
    assert [e.action for e in ev1] == ["open"]
    assert ev2 == [] and ev3 == []
    assert st["last"]["ts"] == batch[-1].ts.timestamp()


def test_unsorted_batch_is_processed_in_time_order():
    ctx = context()
    batch = [fix(ctx, 40, speed=100.0), fix(ctx, 0, speed=100.0), fix(ctx, 20, speed=100.0)]
    _, (ev,) = run(ctx, [batch], only="speeding")
    assert [(e.action, e.ts) for e in ev] == [("open", batch[1].ts)]


def test_repeated_tacho_event_is_ignored():
    ctx = context("muck_truck")
    lift = tacho(5, "body_lift", lon=120.30, lat=36.10)
    _, (ev1, ev2) = run(ctx, [([fix(ctx, 0)], [lift]), ([fix(ctx, 10)], [lift])],
                        only="illegal_unloading")
    assert len(ev1) == 1 and ev2 == []


def test_empty_batch_changes_nothing():
    ctx = context()
    assert RuleEngine().process({}, [], [], ctx) == ({"v": 1}, [])
